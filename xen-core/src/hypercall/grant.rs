//! `grant_table_op(cmd, uop, count)` (20): decoding and copying of the
//! argument structs (abi `grant_table`); the rules are in [`crate::grant`].
//!
//! As on Xen (fact sheet §6.2): `count` above `INT_MAX` → `-EINVAL`; bits
//! above the sub-op in `cmd` → `-EINVAL`; unknown, debug or unsupported
//! sub-ops (dump_table, transfer, cache_flush) → `-ENOSYS`. Batches (map,
//! unmap, unmap_and_replace, copy, swap_grant_ref) check the whole
//! array's range first (`-EFAULT`), report a status per element and return
//! 0; a long batch is preempted between elements and continued
//! transparently (the arguments are rewritten to the remaining elements).

use super::guest_mem::{CheckedU16, CheckedWords};
use super::{Action, Args, Call, ConsoleSink, Guest, GuestMemory};
use crate::domain::vcpu::reg;
use crate::grant::unmap::Unmap;
use crate::mm::{MmHooks, PhysMemory};
use abi::grant_table::*;
use abi::hypercall::HypercallNr;
use abi::{DomId, Errno, GuestVa};

/// Preemption cost of one element, in page-table entries' worth of work.
const ELEMENT_COST: u32 = 4;

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

impl<M: PhysMemory, H: MmHooks, G: GuestMemory, C: ConsoleSink> Call<'_, '_, M, H, G, C> {
    /// `grant_table_op`.
    pub(super) fn grant_table_op(&mut self, a: &mut Args) -> Result<u64, Errno> {
        let [cmd, uop, count, ..] = *a;
        let (op, count) = crate::grant::decode_cmd(cmd, count)?;
        match op {
            GNTTABOP_MAP_GRANT_REF => self.grant_batch(a, 32, Self::map_one),
            GNTTABOP_UNMAP_GRANT_REF => self.grant_batch(a, 24, |c, va| c.unmap_one(va, false)),
            GNTTABOP_UNMAP_AND_REPLACE => self.grant_batch(a, 24, |c, va| c.unmap_one(va, true)),
            GNTTABOP_COPY => self.grant_batch(a, 40, Self::copy_one),
            GNTTABOP_SWAP_GRANT_REF => self.grant_batch(a, 12, Self::swap_one),
            GNTTABOP_SETUP_TABLE => self.setup_table(uop, count),
            GNTTABOP_QUERY_SIZE => self.query_size(uop, count),
            GNTTABOP_SET_VERSION => self.set_version(uop),
            GNTTABOP_GET_VERSION => self.get_version(uop),
            GNTTABOP_GET_STATUS_FRAMES => self.get_status_frames(uop, count),
            _ => Err(Errno::ENOSYS),
        }
    }

    /// `grant_table_op` from the registers (its arm of the dispatch): one
    /// map, unmap or copy is done where it is, with no continuation to
    /// write (a single element is never preempted); anything else is
    /// [`Self::dispatch_continuable`]. The statuses and errors are the
    /// batch path's: for one element the array's range is the element's,
    /// which its read checks (`-EFAULT`).
    #[inline(never)]
    pub(super) fn grant_registers(&mut self) -> Action {
        let [cmd, uop, count, ..] = self.ctx.hypercall_args();
        let r = match crate::grant::decode_cmd(cmd, count) {
            Ok((GNTTABOP_MAP_GRANT_REF, 1)) => self.map_one(uop),
            Ok((GNTTABOP_UNMAP_GRANT_REF, 1)) => {
                let r = self.unmap_one(uop, false);
                self.hv.mm.flush_waiting_now();
                r
            }
            Ok((GNTTABOP_COPY, 1)) => self.copy_one(uop),
            _ => return self.dispatch_continuable(HypercallNr::GRANT_TABLE_OP.0),
        };
        match r {
            Ok(()) => self.ctx.gpr[reg::RAX] = 0,
            Err(e) => self.store_error(HypercallNr::GRANT_TABLE_OP.0, e),
        }
        Action::Continue
    }

    /// Runs `one` on each `size`-byte element; preempted between elements.
    fn grant_batch(
        &mut self,
        a: &mut Args,
        size: u64,
        mut one: impl FnMut(&mut Self, u64) -> Result<(), Errno>,
    ) -> Result<u64, Errno> {
        let (uop, count) = (a[1], a[2] as u32);
        if !GuestVa(uop).range_is_guest_accessible(u64::from(count) * size) {
            return Err(Errno::EFAULT);
        }
        let mut r = Ok(0);
        for i in 0..count {
            if i != 0 && self.hv.mm.hooks.preempt_batch(ELEMENT_COST) {
                a[1] = uop + u64::from(i) * size;
                a[2] = u64::from(count - i);
                r = Err(Errno::ERESTART);
                break;
            }
            if let Err(e) = one(self, uop + u64::from(i) * size) {
                r = Err(e);
                break;
            }
        }
        // The unmaps' TLB flush, once for the call, here rather than on
        // the exit's slow path: before the caller, or any granter, runs.
        self.hv.mm.flush_waiting_now();
        r
    }

    // The per-element structs are read (and map's written back) as whole
    // words: a byte copy costs one count per byte under icount, and the
    // three structs are whole numbers of words (abi; the hypervisor's own
    // accesses need no alignment). The bytes moved are the same as before.
    #[inline(always)]
    fn map_one(&mut self, va: u64) -> Result<(), Errno> {
        let at = CheckedWords::<4>::new(va).ok_or(Errno::EFAULT)?;
        let mut w = self.guest.load(at).ok_or(Errno::EFAULT)?;
        let mut op = MapGrantRef {
            host_addr: w[0],
            flags: w[1] as u32,
            ref_: (w[1] >> 32) as u32,
            dom: DomId(w[2] as u16),
            status: 0,
            handle: (w[2] >> 32) as u32,
            dev_bus_addr: w[3],
        };
        let dom = self.dom;
        self.hv.grants.map(&mut self.hv.mm, dom, &mut op);
        // The whole struct back, as on Xen: `dom` as read, then status,
        // handle and dev_bus_addr.
        w[2] = (w[2] & 0xFFFF) | u64::from(op.status as u16) << 16 | u64::from(op.handle) << 32;
        w[3] = op.dev_bus_addr;
        // The range read is the range written: checked once.
        if self.guest.store(at, &w) {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    #[inline(always)]
    fn unmap_one(&mut self, va: u64, replace: bool) -> Result<(), Errno> {
        let at = CheckedWords::<3>::new(va).ok_or(Errno::EFAULT)?;
        let w = self.guest.load(at).ok_or(Errno::EFAULT)?;
        let (second, handle) = (w[1], w[2] as u32);
        let u = if replace {
            Unmap { host_addr: w[0], dev_bus_addr: 0, new_addr: second, handle }
        } else {
            Unmap { host_addr: w[0], dev_bus_addr: second, new_addr: 0, handle }
        };
        let dom = self.dom;
        let status = self.hv.grants.unmap(&mut self.hv.mm, dom, u);
        Self::put_status(self.guest, at.u16_at::<20>(), status)
    }

    #[inline(always)]
    fn copy_one(&mut self, va: u64) -> Result<(), Errno> {
        let at = CheckedWords::<5>::new(va).ok_or(Errno::EFAULT)?;
        let w = self.guest.load(at).ok_or(Errno::EFAULT)?;
        let side = |a: u64, b: u64| CopyPtr { u: a, domid: DomId(b as u16), offset: (b >> 16) as u16, pad: 0 };
        let op = GnttabCopy {
            source: side(w[0], w[1]),
            dest: side(w[2], w[3]),
            len: w[4] as u16,
            flags: (w[4] >> 16) as u16,
            status: 0,
            pad: 0,
        };
        let dom = self.dom;
        let status = self.hv.grants.copy(&mut self.hv.mm, dom, &op);
        Self::put_status(self.guest, at.u16_at::<36>(), status)
    }

    /// Writes an element's status inside the struct its read checked.
    #[inline(always)]
    fn put_status(guest: &G, at: CheckedU16, status: i16) -> Result<(), Errno> {
        if guest.store_u16(at, status as u16) {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    fn swap_one(&mut self, va: u64) -> Result<(), Errno> {
        let mut b = [0u8; 12];
        self.mem().read(va, &mut b)?;
        let dom = self.dom;
        let status = self.hv.grants.swap(&mut self.hv.mm, dom, u32_at(&b, 0), u32_at(&b, 4));
        self.mem().write(va + 8, &status.to_le_bytes())
    }

    fn setup_table(&mut self, uop: u64, count: u32) -> Result<u64, Errno> {
        if count != 1 {
            return Err(Errno::EINVAL);
        }
        let mut b = [0u8; 24];
        self.mem().read(uop, &mut b)?;
        let (dom, nr, list) = (DomId(u16_at(&b, 0)), u32_at(&b, 4), u64_at(&b, 16));
        if !GuestVa(list).range_is_guest_accessible(u64::from(nr) * 8) {
            return Err(Errno::EFAULT);
        }
        let caller = self.dom;
        let status = match self.hv.grants.setup_table(&mut self.hv.mm, caller, dom, nr) {
            Ok(d) => {
                let t = self.hv.grants.tables[d.0 as usize];
                let mut s = status::OKAY;
                for (i, f) in t.shared[..nr as usize].iter().enumerate() {
                    if Guest(self.guest).write_u64(list + i as u64 * 8, f.0).is_err() {
                        s = status::BAD_VIRT_ADDR;
                    }
                }
                s
            }
            Err(s) => s,
        };
        self.mem().write(uop + 8, &status.to_le_bytes()).map(|()| 0)
    }

    fn query_size(&mut self, uop: u64, count: u32) -> Result<u64, Errno> {
        if count != 1 {
            return Err(Errno::EINVAL);
        }
        let mut b = [0u8; 16];
        self.mem().read(uop, &mut b)?;
        match self.hv.grants.query_size(&self.hv.mm, self.dom, DomId(u16_at(&b, 0))) {
            Ok((nr, max)) => {
                b[4..8].copy_from_slice(&nr.to_le_bytes());
                b[8..12].copy_from_slice(&max.to_le_bytes());
                b[12..14].copy_from_slice(&status::OKAY.to_le_bytes());
            }
            Err(s) => b[12..14].copy_from_slice(&s.to_le_bytes()),
        }
        self.mem().write(uop, &b).map(|()| 0)
    }

    fn set_version(&mut self, uop: u64) -> Result<u64, Errno> {
        let v = self.mem().read_u32(uop)?;
        let dom = self.dom;
        let (r, now) = self.hv.grants.set_version(&mut self.hv.mm, dom, v);
        self.mem().write_u32(uop, now)?;
        r.map(|()| 0)
    }

    fn get_version(&mut self, uop: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.mem().read(uop, &mut b)?;
        let v = self.hv.grants.get_version(&self.hv.mm, self.dom, DomId(u16_at(&b, 0)))?;
        self.mem().write_u32(uop + 4, v).map(|()| 0)
    }

    fn get_status_frames(&mut self, uop: u64, count: u32) -> Result<u64, Errno> {
        if count != 1 {
            return Err(Errno::EINVAL);
        }
        let mut b = [0u8; 16];
        self.mem().read(uop, &mut b)?;
        let (nr, dom, list) = (u32_at(&b, 0), DomId(u16_at(&b, 4)), u64_at(&b, 8));
        let status = match self.hv.grants.get_status_frames(&self.hv.mm, self.dom, dom, nr) {
            Ok(d) => {
                let t = self.hv.grants.tables[d.0 as usize];
                let mut s = status::OKAY;
                for (i, f) in t.status[..nr as usize].iter().enumerate() {
                    if Guest(self.guest).write_u64(list.wrapping_add(i as u64 * 8), f.0).is_err() {
                        s = status::BAD_VIRT_ADDR;
                    }
                }
                s
            }
            Err(s) => s,
        };
        self.mem().write(uop + 6, &status.to_le_bytes()).map(|()| 0)
    }
}
