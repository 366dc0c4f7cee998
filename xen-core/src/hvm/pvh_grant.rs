//! A PVH guest's `grant_table_op` on the shared grant core
//! ([`crate::grant`]): the PV argument structures, the core's checks and
//! statuses, frame numbers as GUEST frames (Xen's translated-guest rules).
//!
//! | sub-op | PVH here |
//! |---|---|
//! | `setup_table`, `get_status_frames` | the table grows as for PV; each frame's entry in the list is the guest frame it is mapped at (the M2P, as Xen's `gnttab_shared_gfn`), or `INVALID_GFN` (all ones) while it is not mapped; the guest maps them with `XENMEM_add_to_physmap(XENMAPSPACE_grant_table)` |
//! | `query_size`, `set_version`, `get_version` | as for PV |
//! | `copy` | a frame side (`DOMID_SELF`, no `GNTCOPY_*_gref`) is one of the caller's guest frames (not its RAM → `GNTST_bad_page`); a reference side as for PV; at most [`COPY_BATCH`] elements a call (`-E2BIG` beyond: no continuation for PVH yet) |
//! | `map_grant_ref` | `GNTMAP_host_map` (optionally `readonly`) at the guest frame `host_addr >> 12`: a p2m grant entry, the nested tables (and shadows) following; `device_map`, `application_map`, `contains_pte` → `GNTST_general_error` (Xen's translated-guest rules, [`crate::grant::translate`]); `dev_bus_addr` comes back 0 |
//! | `unmap_grant_ref` | removes the p2m grant entry at `host_addr >> 12` (a hole after), flushed before the grant's reference drops; not the grant's frame there → `GNTST_general_error` |
//! | `unmap_and_replace` | as `unmap_grant_ref` with `new_addr` 0; a `new_addr` → `GNTST_general_error`, as on Xen |
//! | `swap_grant_ref` | as for PV (the caller's own entries) |
//! | others | `-ENOSYS` |
//!
//! The batches (map, unmap, unmap_and_replace, copy, swap) take at most
//! [`COPY_BATCH`] elements a call (`-E2BIG` beyond).
//!
//! A PVH domain's table is created at its first `grant_table_op` (or
//! `add_to_physmap` of a grant frame) and marked translated: its entries
//! name guest frames, which the core looks up in its p2m when another
//! domain maps or copies them ([`crate::grant::translate`]).

use super::pvh_call::{Outcome, PvhCall};
use crate::grant::translate::P2mSide;
use crate::grant::unmap::Unmap;
use crate::mm::{MmHooks, PhysMemory};
use abi::grant_table::*;
use abi::memory::XENMAPIDX_GRANT_TABLE_STATUS;
use abi::{DomId, Errno, Gfn, Mfn};

/// Most `GNTTABOP_copy` elements one PVH call may carry.
pub const COPY_BATCH: u32 = 512;

/// `INVALID_GFN`: a table frame not in the guest's physical map.
const INVALID_GFN: u64 = u64::MAX;

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from(u32_at(b, o)) | u64::from(u32_at(b, o + 4)) << 32
}

impl<M: PhysMemory, H: MmHooks> PvhCall<'_, '_, '_, '_, M, H> {
    /// The caller's table, created (v1, one frame, translated) if it has
    /// none yet.
    pub(super) fn own_grant_table(&mut self) -> Result<(), Errno> {
        if self.grants.table(self.dom).is_some() {
            return Ok(());
        }
        self.grants.init_domain(self.mm, self.dom)?;
        self.grants.tables[self.dom.0 as usize].translated = true;
        Ok(())
    }

    /// The guest frame `mfn` is mapped at in the caller's p2m, or
    /// `INVALID_GFN`.
    fn gfn_of(&self, mfn: Mfn) -> u64 {
        let Some(&g) = self.mm.m2p.get(mfn.0 as usize) else { return INVALID_GFN };
        let mapped = self.p2m.in_range(Gfn(g), 1) && self.p2m.get(Gfn(g)).is_some_and(|(e, _)| e.mfn == mfn);
        if mapped {
            g
        } else {
            INVALID_GFN
        }
    }

    /// `grant_table_op(cmd, uop, count)`, and whether the domain must be
    /// crashed (its nested tables could not follow a grant mapping).
    pub(super) fn grant_table_op(&mut self, cmd: u64, uop: u64, count: u64) -> (Result<u64, Errno>, Outcome) {
        let mut failed = false;
        let r = self.grant_op(cmd, uop, count, &mut failed);
        (r, if failed { Outcome::Crash } else { Outcome::Continue })
    }

    fn grant_op(&mut self, cmd: u64, uop: u64, count: u64, failed: &mut bool) -> Result<u64, Errno> {
        let (op, count) = crate::grant::decode_cmd(cmd, count)?;
        match op {
            GNTTABOP_SETUP_TABLE
            | GNTTABOP_QUERY_SIZE
            | GNTTABOP_SET_VERSION
            | GNTTABOP_GET_VERSION
            | GNTTABOP_GET_STATUS_FRAMES
            | GNTTABOP_MAP_GRANT_REF
            | GNTTABOP_UNMAP_GRANT_REF
            | GNTTABOP_UNMAP_AND_REPLACE
            | GNTTABOP_SWAP_GRANT_REF
            | GNTTABOP_COPY => self.own_grant_table()?,
            _ => return Err(Errno::ENOSYS),
        }
        match op {
            GNTTABOP_MAP_GRANT_REF => self.map_batch(uop, count, failed),
            GNTTABOP_UNMAP_GRANT_REF => self.unmap_batch(uop, count, false, failed),
            GNTTABOP_UNMAP_AND_REPLACE => self.unmap_batch(uop, count, true, failed),
            GNTTABOP_SWAP_GRANT_REF => self.swap_batch(uop, count),
            GNTTABOP_SETUP_TABLE => self.frames_op(uop, count, false),
            GNTTABOP_GET_STATUS_FRAMES => self.frames_op(uop, count, true),
            GNTTABOP_QUERY_SIZE => {
                if count != 1 {
                    return Err(Errno::EINVAL);
                }
                let mut b = [0u8; 16];
                self.view(|v| v.read(uop, &mut b))?;
                match self.grants.query_size(self.mm, self.dom, DomId(u16_at(&b, 0))) {
                    Ok((nr, max)) => {
                        b[4..8].copy_from_slice(&nr.to_le_bytes());
                        b[8..12].copy_from_slice(&max.to_le_bytes());
                        b[12..14].copy_from_slice(&status::OKAY.to_le_bytes());
                    }
                    Err(s) => b[12..14].copy_from_slice(&s.to_le_bytes()),
                }
                self.view(|v| v.write(uop, &b)).map(|()| 0)
            }
            GNTTABOP_SET_VERSION => {
                let v = self.view(|g| g.read_u32(uop))?;
                let (r, now) = self.grants.set_version(self.mm, self.dom, v);
                self.view(|g| g.write(uop, &now.to_le_bytes()))?;
                r.map(|()| 0)
            }
            GNTTABOP_GET_VERSION => {
                let mut b = [0u8; 8];
                self.view(|v| v.read(uop, &mut b))?;
                let v = self.grants.get_version(self.mm, self.dom, DomId(u16_at(&b, 0)))?;
                self.view(|g| g.write(uop + 4, &v.to_le_bytes())).map(|()| 0)
            }
            _ => self.copy_batch(uop, count),
        }
    }

    /// `setup_table` (`status` false) or `get_status_frames`: the core's
    /// rules, then the frames' guest frame numbers into the list.
    fn frames_op(&mut self, uop: u64, count: u32, status_frames: bool) -> Result<u64, Errno> {
        if count != 1 {
            return Err(Errno::EINVAL);
        }
        let mut b = [0u8; 24];
        let len = if status_frames { 16 } else { 24 };
        self.view(|v| v.read(uop, &mut b[..len]))?;
        // setup_table {dom u16, pad, nr u32, status i16 @8, list @16};
        // get_status_frames {nr u32, dom u16, status i16 @6, list @8}.
        let (dom, nr, list, status_at) = if status_frames {
            (DomId(u16_at(&b, 4)), u32_at(&b, 0), u64_at(&b, 8), 6)
        } else {
            (DomId(u16_at(&b, 0)), u32_at(&b, 4), u64_at(&b, 16), 8)
        };
        let caller = self.dom;
        let r = if status_frames {
            self.grants.get_status_frames(self.mm, caller, dom, nr)
        } else {
            self.grants.setup_table(self.mm, caller, dom, nr)
        };
        let st = match r {
            Ok(d) => {
                let t = self.grants.tables[d.0 as usize];
                let frames = if status_frames { &t.status[..] } else { &t.shared[..] };
                let mut s = status::OKAY;
                for (i, &f) in frames[..nr as usize].iter().enumerate() {
                    // Another domain's frames are not in this p2m.
                    let g = if d == caller { self.gfn_of(f) } else { INVALID_GFN };
                    let at = list.wrapping_add(i as u64 * 8);
                    if self.view(|v| v.write(at, &g.to_le_bytes())).is_err() {
                        s = status::BAD_VIRT_ADDR;
                    }
                }
                s
            }
            Err(s) => s,
        };
        self.view(|v| v.write(uop + status_at, &st.to_le_bytes())).map(|()| 0)
    }

    /// `GNTTABOP_copy`: each element's status written back; returns 0.
    fn copy_batch(&mut self, uop: u64, count: u32) -> Result<u64, Errno> {
        if count > COPY_BATCH {
            return Err(Errno::E2BIG);
        }
        for i in 0..u64::from(count) {
            let at = uop.checked_add(i * 40).ok_or(Errno::EFAULT)?;
            let mut b = [0u8; 40];
            self.view(|v| v.read(at, &mut b))?;
            let side = |o: usize| CopyPtr {
                u: u64_at(&b, o),
                domid: DomId(u16_at(&b, o + 8)),
                offset: u16_at(&b, o + 10),
                pad: 0,
            };
            let mut op = GnttabCopy {
                source: side(0),
                dest: side(16),
                len: u16_at(&b, 32),
                flags: u16_at(&b, 34),
                status: 0,
                pad: 0,
            };
            let st = match self.translate_side(&mut op.source, op.flags & gntcopy::SOURCE_GREF != 0) {
                Err(s) => s,
                Ok(()) => match self.translate_side(&mut op.dest, op.flags & gntcopy::DEST_GREF != 0) {
                    Err(s) => s,
                    Ok(()) => self.grants.copy_translated(self.mm, self.dom, &op, self.p2m),
                },
            };
            self.view(|v| v.write(at + 36, &st.to_le_bytes()))?;
        }
        Ok(0)
    }

    /// `GNTTABOP_map_grant_ref`: each element's status, handle and
    /// `dev_bus_addr` written back; returns 0.
    fn map_batch(&mut self, uop: u64, count: u32, failed: &mut bool) -> Result<u64, Errno> {
        if count > COPY_BATCH {
            return Err(Errno::E2BIG);
        }
        for i in 0..u64::from(count) {
            let at = uop.checked_add(i * 32).ok_or(Errno::EFAULT)?;
            let mut b = [0u8; 32];
            self.view(|v| v.read(at, &mut b))?;
            let mut op = MapGrantRef {
                host_addr: u64_at(&b, 0),
                flags: u32_at(&b, 8),
                ref_: u32_at(&b, 12),
                dom: DomId(u16_at(&b, 16)),
                status: 0,
                handle: u32_at(&b, 20),
                dev_bus_addr: u64_at(&b, 24),
            };
            let mut side = P2mSide { p2m: &mut *self.p2m, npt: &mut *self.npt, failed: false };
            self.grants.map_translated(self.mm, self.dom, &mut op, &mut side);
            *failed |= side.failed;
            b[18..20].copy_from_slice(&op.status.to_le_bytes());
            b[20..24].copy_from_slice(&op.handle.to_le_bytes());
            b[24..32].copy_from_slice(&op.dev_bus_addr.to_le_bytes());
            self.view(|v| v.write(at, &b))?;
        }
        Ok(0)
    }

    /// `GNTTABOP_unmap_grant_ref` (`replace`: `unmap_and_replace`, whose
    /// second word is `new_addr`): each element's status written back.
    fn unmap_batch(&mut self, uop: u64, count: u32, replace: bool, failed: &mut bool) -> Result<u64, Errno> {
        if count > COPY_BATCH {
            return Err(Errno::E2BIG);
        }
        for i in 0..u64::from(count) {
            let at = uop.checked_add(i * 24).ok_or(Errno::EFAULT)?;
            let mut b = [0u8; 24];
            self.view(|v| v.read(at, &mut b))?;
            let (host_addr, second, handle) = (u64_at(&b, 0), u64_at(&b, 8), u32_at(&b, 16));
            let u = if replace {
                Unmap { host_addr, dev_bus_addr: 0, new_addr: second, handle }
            } else {
                Unmap { host_addr, dev_bus_addr: second, new_addr: 0, handle }
            };
            let mut side = P2mSide { p2m: &mut *self.p2m, npt: &mut *self.npt, failed: false };
            let st = self.grants.unmap_translated(self.mm, self.dom, u, &mut side);
            *failed |= side.failed;
            self.view(|v| v.write(at + 20, &st.to_le_bytes()))?;
        }
        Ok(0)
    }

    /// `GNTTABOP_swap_grant_ref`: the caller's own entries, as for PV.
    fn swap_batch(&mut self, uop: u64, count: u32) -> Result<u64, Errno> {
        if count > COPY_BATCH {
            return Err(Errno::E2BIG);
        }
        for i in 0..u64::from(count) {
            let at = uop.checked_add(i * 12).ok_or(Errno::EFAULT)?;
            let mut b = [0u8; 12];
            self.view(|v| v.read(at, &mut b))?;
            let st = self.grants.swap(self.mm, self.dom, u32_at(&b, 0), u32_at(&b, 4));
            self.view(|v| v.write(at + 8, &st.to_le_bytes()))?;
        }
        Ok(0)
    }

    /// A frame side named `DOMID_SELF` holds a guest frame: its machine
    /// frame for the core (not the caller's RAM → `GNTST_bad_page`). The
    /// core refuses any other frame side itself.
    fn translate_side(&self, p: &mut CopyPtr, is_gref: bool) -> Result<(), i16> {
        if is_gref || p.domid != DomId::SELF {
            return Ok(());
        }
        p.u = self.ram_frame(p.u).ok_or(status::BAD_PAGE)?.0;
        Ok(())
    }
}

impl<M: PhysMemory, H: MmHooks> PvhCall<'_, '_, '_, '_, M, H> {
    /// The machine frame of `XENMAPSPACE_grant_table` index `idx` (Xen's
    /// `gnttab_map_frame`): a shared frame, the table grown to hold it if
    /// needed; with `XENMAPIDX_grant_table_status` a v2 status frame.
    ///
    /// # Errors
    /// `EINVAL`: beyond the table's limit (or no memory to grow), a status
    /// frame under v1 or beyond those the table has.
    pub(super) fn grant_frame(&mut self, idx: u64) -> Result<Mfn, Errno> {
        self.own_grant_table()?;
        let dom = self.dom;
        if idx & XENMAPIDX_GRANT_TABLE_STATUS != 0 {
            let i = idx & !XENMAPIDX_GRANT_TABLE_STATUS;
            let t = self.grants.tables[dom.0 as usize];
            if t.version != 2 || i >= u64::from(t.nr_status) {
                return Err(Errno::EINVAL);
            }
            return Ok(t.status[i as usize]);
        }
        let nr = idx.checked_add(1).and_then(|n| u32::try_from(n).ok()).ok_or(Errno::EINVAL)?;
        self.grants.setup_table(self.mm, dom, dom, nr).map_err(|_| Errno::EINVAL)?;
        Ok(self.grants.tables[dom.0 as usize].shared[idx as usize])
    }
}
