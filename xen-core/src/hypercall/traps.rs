//! The virtual IDT and callbacks: `set_trap_table` (0), `set_callbacks`
//! (4), `callback_op` (30), `stack_switch` (3), `set_segment_base` (25) and
//! `iret` (23).

use super::{canonical, Action, Call, ConsoleSink, Guest, GuestMemory};
use crate::domain::bounce::Roots;
use crate::domain::iret::{iret, IretFrame};
use crate::domain::segments::domain_gdt;
use crate::domain::vcpu::{GuestContext, TrapEntry, Vcpu};
use crate::mm::{DomainMm, MmHooks, PhysMemory};
use abi::traps::*;
use abi::Errno;

/// Most trap-table entries read in one call (vectors are 8 bits, so a
/// longer table only rewrites entries; the bound keeps the call short).
const MAX_TRAP_ENTRIES: u64 = 1024;

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `set_trap_table(table)`.
    #[inline(never)]
    pub(super) fn set_trap_table(&mut self, table: u64) -> Result<u64, Errno> {
        if table == 0 {
            self.vcpu.traps = [TrapEntry::default(); 256];
            return Ok(0);
        }
        for i in 0..MAX_TRAP_ENTRIES {
            let mut e = [0u8; 16];
            self.mem().read(table + i * 16, &mut e)?;
            let address = u64::from_le_bytes(e[8..16].try_into().unwrap_or([0; 8]));
            if address == 0 {
                break;
            }
            if !canonical(address) {
                return Err(Errno::EINVAL);
            }
            let cs = u16::from_le_bytes([e[2], e[3]]) | 3;
            self.vcpu.traps[e[0] as usize] = TrapEntry { address, cs, flags: e[1] };
        }
        Ok(0)
    }

    /// `set_callbacks(event, failsafe, syscall)`: non-canonical addresses
    /// are silently not installed, as on Xen.
    #[inline(never)]
    pub(super) fn set_callbacks(&mut self, event: u64, failsafe: u64, syscall: u64) -> Result<u64, Errno> {
        for (kind, address) in
            [(CALLBACKTYPE_EVENT, event), (CALLBACKTYPE_FAILSAFE, failsafe), (CALLBACKTYPE_SYSCALL, syscall)]
        {
            if canonical(address) {
                self.vcpu.callbacks[kind as usize] = (address, 0);
            }
        }
        Ok(0)
    }

    /// `callback_op(cmd, arg)`.
    pub(super) fn callback_op(&mut self, cmd: u64, arg: u64) -> Result<u64, Errno> {
        let kind = self.mem().read_u16(arg)?;
        // Type 3 (sysenter_deprecated) exists only for 32-bit guests.
        let known = matches!(kind, 0..=2 | 4 | 5 | 7);
        match cmd {
            CALLBACKOP_REGISTER => {
                let flags = self.mem().read_u16(arg + 2)?;
                let address = self.mem().read_u64(arg + 8)?;
                if !known {
                    return Err(Errno::ENOSYS);
                }
                if !canonical(address) {
                    return Err(Errno::EINVAL);
                }
                // Event and NMI callbacks always mask events.
                let flags = if kind == CALLBACKTYPE_EVENT || kind == CALLBACKTYPE_NMI {
                    flags | CALLBACKF_MASK_EVENTS
                } else {
                    flags
                };
                self.vcpu.callbacks[kind as usize] = (address, flags);
                Ok(0)
            }
            CALLBACKOP_UNREGISTER if kind == CALLBACKTYPE_NMI => {
                self.vcpu.callbacks[kind as usize] = (0, 0);
                Ok(0)
            }
            CALLBACKOP_UNREGISTER if known => Err(Errno::EINVAL),
            CALLBACKOP_UNREGISTER => Err(Errno::ENOSYS),
            _ => Err(Errno::ENOSYS),
        }
    }

    /// `set_gdt(frame_list, entries)`.
    pub(super) fn set_gdt(&mut self, list: u64, entries: u64) -> Result<u64, Errno> {
        if entries > FIRST_RESERVED_GDT_ENTRY as u64 {
            return Err(Errno::EINVAL);
        }
        let n = entries.div_ceil(512) as usize;
        let mut frames = [abi::Mfn(0); crate::mm::gdt::MAX_GDT_FRAMES];
        for (i, slot) in frames[..n].iter_mut().enumerate() {
            *slot = abi::Mfn(self.mem().read_u64(list.wrapping_add(i as u64 * 8))?);
        }
        let dom = self.dom;
        self.hv.mm.set_gdt(dom, &frames[..n], entries).map(|()| 0)
    }

    /// `stack_switch(ss, sp)`.
    #[inline(never)]
    pub(super) fn stack_switch(&mut self, ss: u64, sp: u64) -> Result<u64, Errno> {
        self.vcpu.kernel_ss = (ss & 0xFFFF) | 3;
        self.vcpu.kernel_sp = sp;
        Ok(0)
    }

    /// `set_segment_base(which, base)`: the decision is
    /// [`crate::domain::guest_segs::set_segment_base`]; the hardware is
    /// loaded at once, so the next guest instruction sees the base.
    pub(super) fn set_segment_base(&mut self, which: u64, base: u64) -> Result<u64, Errno> {
        let Some(d) = self.hv.mm.domain(self.dom) else { return Err(Errno::EINVAL) };
        let gdt = domain_gdt(&*self.hv.mm.mem, d);
        let load = crate::domain::guest_segs::set_segment_base(self.vcpu, which, base, &gdt)?;
        self.guest.load_segment(load);
        Ok(0)
    }

    /// `iret`: see [`iret_hypercall`]. Out of line: the SYSCALL entry
    /// takes `iret` before dispatch, so this arm serves only `int 0x82`,
    /// `vmcall` and multicall entries, and inlined, its frame read and
    /// its `Action` held across calls make the dispatch functions save
    /// four more callee-saved registers on every hypercall (xen_version
    /// 114 -> 123 when `Action` came back in registers).
    #[inline(never)]
    pub(super) fn iret(&mut self) -> Action {
        let Some(d) = self.hv.mm.domain(self.dom) else { return Action::Crash(&"iret from a domain with no memory") };
        iret_hypercall(self.ctx, self.vcpu, self.guest, &*self.hv.mm.mem, d)
    }
}

/// `iret`: restore the frame the hypercall-page stub left on the guest
/// stack (fact sheet §1.3), read in one guest access, then settle the
/// return as Xen's faulting exit would ([`crate::domain::iret`]). A frame
/// that cannot be read, or a fault that cannot be delivered, crashes the
/// domain. A free function over domain `d`'s memory, so the SYSCALL entry
/// runs it without assembling a [`Call`].
#[inline(always)]
pub fn iret_hypercall<M: PhysMemory, G: GuestMemory>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    mem: &M,
    d: &DomainMm,
) -> Action {
    let mut w = [0u64; 9];
    if Guest(guest).read_words(ctx.rsp, &mut w).is_err() {
        return Action::Crash(&"iret frame unreadable");
    }
    iret_words(ctx, vcpu, guest, mem, d, &w)
}

/// `iret` with its frame already read: the words restored and the return
/// settled ([`crate::domain::iret::iret`]); for the arch fast path's
/// frames that [`crate::domain::iret::iret_flat`] does not take.
#[inline(never)]
pub fn iret_words<M: PhysMemory, G: GuestMemory>(
    ctx: &mut GuestContext,
    vcpu: &mut Vcpu,
    guest: &G,
    mem: &M,
    d: &DomainMm,
    w: &[u64; 9],
) -> Action {
    let frame = IretFrame::from_words(*w);
    let roots = Roots::of(d);
    let gdt = domain_gdt(mem, d);
    match iret(ctx, vcpu, guest, &roots, &frame, &gdt) {
        Ok(_) => Action::Continue,
        Err(why) => Action::Crash(why),
    }
}
