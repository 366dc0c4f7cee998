//! `GNTTABOP_swap_grant_ref` (fact sheet §6.2 op 11): exchanges two of
//! the caller's own entries (and, under v2, their status words), as Linux's
//! grant-reference allocator may. Entries in use refuse (`GNTST_eagain`).

use super::Grants;
use crate::mm::{Mm, MmHooks, PhysAddr, PhysMemory};
use abi::grant_table::status;
use abi::DomId;

impl Grants<'_> {
    /// Swaps entries `a` and `b` of `dom`'s table; returns a `GNTST_*`.
    pub fn swap<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, dom: DomId, a: u32, b: u32) -> i16 {
        let Some(t) = self.table(dom).copied() else { return status::BAD_DOMAIN };
        if a >= t.nr_entries() || b >= t.nr_entries() {
            return status::BAD_GNTREF;
        }
        if a == b {
            return status::OKAY;
        }
        if self.active(dom, a).pin != 0 || self.active(dom, b).pin != 0 {
            return status::EAGAIN;
        }
        let words = if t.version == 2 { 2 } else { 1 };
        let (ea, eb) = (t.entry_addr(a), t.entry_addr(b));
        for w in 0..words {
            let (pa, pb) = (PhysAddr(ea.0 + w * 8), PhysAddr(eb.0 + w * 8));
            let (va, vb) = (mm.mem.read_u64(pa), mm.mem.read_u64(pb));
            mm.mem.write_u64(pa, vb);
            mm.mem.write_u64(pb, va);
        }
        if t.version == 2 {
            let (sa, sb) = (t.status_flags(mm.mem, a), t.status_flags(mm.mem, b));
            let all = u16::MAX;
            t.clear_status(mm.mem, a, all);
            t.set_status(mm.mem, a, sb);
            t.clear_status(mm.mem, b, all);
            t.set_status(mm.mem, b, sa);
        }
        status::OKAY
    }
}
