//! `event_channel_op` (32): decodes each `EVTCHNOP_*` argument struct from
//! guest memory (a fault is `-EFAULT` before acting), runs the pure
//! operation in [`crate::event`], and writes the OUT fields back (a fault
//! then is `-EFAULT` after the action, as on Xen: nothing is rolled back).
//! Guest frames the event code touches are reached through the page-type
//! model ([`EventEnv`] for [`Mm`]), whose references keep a registered FIFO
//! frame from being freed or retyped under the hypervisor.

use super::{Call, ConsoleSink, GuestMemory};
use crate::event::EventEnv;
use crate::mm::{Mm, MmHooks, PageType, PhysAddr, PhysMemory};
use abi::event_channel::*;
use abi::{DomId, Errno, Mfn};

impl<M: PhysMemory, H: MmHooks> EventEnv for Mm<'_, M, H> {
    fn read_u64(&self, addr: PhysAddr) -> u64 {
        self.mem.read_u64(addr)
    }
    fn write_u64(&mut self, addr: PhysAddr, value: u64) {
        self.mem.write_u64(addr, value);
    }
    fn take_writable(&mut self, dom: DomId, mfn: Mfn) -> bool {
        if self.get_page(mfn, dom).is_err() {
            return false;
        }
        if self.get_simple_type(mfn, PageType::Writable).is_err() {
            self.put_page(mfn);
            return false;
        }
        true
    }
    fn put_writable(&mut self, mfn: Mfn) {
        self.put_page_and_type(mfn);
    }
}

/// The size of `EVTCHNOP_*` `cmd`'s argument structure (PV and PVH read
/// the same structures); `None` for a command Xen does not have.
pub(crate) const fn arg_len(cmd: u64) -> Option<usize> {
    Some(match cmd {
        EVTCHNOP_BIND_INTERDOMAIN | EVTCHNOP_BIND_VIRQ | EVTCHNOP_BIND_PIRQ => 12,
        EVTCHNOP_CLOSE | EVTCHNOP_SEND | EVTCHNOP_UNMASK => 4,
        EVTCHNOP_STATUS | EVTCHNOP_INIT_CONTROL => 24,
        EVTCHNOP_ALLOC_UNBOUND | EVTCHNOP_BIND_IPI | EVTCHNOP_BIND_VCPU => 8,
        EVTCHNOP_EXPAND_ARRAY | EVTCHNOP_SET_PRIORITY => 8,
        EVTCHNOP_RESET | EVTCHNOP_RESET_CONT => 2,
        _ => return None,
    })
}

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `event_channel_op(cmd, arg)`.
    pub(super) fn event_channel_op(&mut self, cmd: u64, arg: u64) -> Result<u64, Errno> {
        let r = if cmd == EVTCHNOP_SEND { self.send_op(arg) } else { self.evtchn(cmd, arg) };
        self.events.forget_kicks_of(self.dom);
        if self.events.kicked() {
            self.hv.mm.hooks.event_kicked();
        }
        r
    }

    /// `EVTCHNOP_send`, the common one, without the general decoder: its
    /// whole struct (the port, 4 bytes) read first, the send, the console
    /// ring's notification; it has no OUT field. The same steps in the same
    /// order as [`Self::evtchn`] takes them.
    #[inline(always)]
    fn send_op(&mut self, arg: u64) -> Result<u64, Errno> {
        let port = self.mem().read_u32(arg)?;
        let me = self.dom;
        self.events.send(&mut self.hv.mm, me, port)?;
        self.hv.console.notified(&mut self.hv.mm, me, port);
        Ok(0)
    }

    fn evtchn(&mut self, cmd: u64, arg: u64) -> Result<u64, Errno> {
        let me = self.dom;
        let g = self.mem();
        let Some(len) = arg_len(cmd) else { return Err(Errno::ENOSYS) };
        // The whole struct is copied in before anything is done, as on Xen.
        let mut b = [0u8; 24];
        g.read(arg, &mut b[..len])?;
        let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| u64::from(u32_at(o)) | u64::from(u32_at(o + 4)) << 32;
        let (ev, mm) = (&mut *self.events, &mut self.hv.mm);
        // OUT fields: (offset, value), copied back with the whole struct.
        let mut out: [(usize, u32); 4] = [(0, 0); 4];
        let mut n_out = 0;
        let mut put = |o: usize, v: u32| {
            out[n_out] = (o, v);
            n_out += 1;
        };
        match cmd {
            EVTCHNOP_BIND_INTERDOMAIN => put(8, ev.bind_interdomain(mm, me, DomId(u16_at(0)), u32_at(4))?),
            EVTCHNOP_BIND_VIRQ => put(8, ev.bind_virq(me, u32_at(0), u32_at(4))?),
            EVTCHNOP_BIND_PIRQ => put(8, ev.bind_pirq(me, u32_at(0), u32_at(4))?),
            EVTCHNOP_CLOSE => ev.close(mm, me, u32_at(0))?,
            EVTCHNOP_SEND => {
                ev.send(mm, me, u32_at(0))?;
                self.hv.console.notified(mm, me, u32_at(0));
            }
            EVTCHNOP_STATUS => {
                let s = ev.status(me, DomId(u16_at(0)), u32_at(4))?;
                for (i, v) in [s.status, s.vcpu, s.u[0], s.u[1]].into_iter().enumerate() {
                    put(8 + i * 4, v);
                }
            }
            EVTCHNOP_ALLOC_UNBOUND => put(4, ev.alloc_unbound(me, DomId(u16_at(0)), DomId(u16_at(2)))?),
            EVTCHNOP_BIND_IPI => put(4, ev.bind_ipi(me, u32_at(0))?),
            EVTCHNOP_BIND_VCPU => ev.bind_vcpu(me, u32_at(0), u32_at(4))?,
            EVTCHNOP_UNMASK => ev.unmask(mm, me, u32_at(0))?,
            EVTCHNOP_RESET | EVTCHNOP_RESET_CONT => ev.reset(mm, me, DomId(u16_at(0)), cmd == EVTCHNOP_RESET_CONT)?,
            EVTCHNOP_INIT_CONTROL => {
                ev.init_control(mm, me, u64_at(0), u32_at(8), u32_at(12))?;
                // link_bits is a byte at 16; the padding after it is kept.
                let w = (u32_at(16) & !0xFF) | u32::from(FIFO_LINK_BITS);
                put(16, w);
            }
            EVTCHNOP_EXPAND_ARRAY => ev.expand_array(mm, me, u64_at(0))?,
            _ => ev.set_priority(me, u32_at(0), u32_at(4))?,
        }
        if n_out > 0 {
            for &(o, v) in &out[..n_out] {
                b[o..o + 4].copy_from_slice(&v.to_le_bytes());
            }
            g.write(arg, &b[..len])?;
        }
        Ok(0)
    }
}
