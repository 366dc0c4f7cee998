//! The table itself: creation, growth (`setup_table`), `query_size`,
//! `set_version`/`get_version` and `get_status_frames` (fact sheet §6.2).
//!
//! Shared and status frames come from the frame allocator and are given to
//! the domain as Xen-heap frames (owned, mappable read-write, not counted in
//! its pages), which is Xen's PV model: the guest maps the MFNs
//! `setup_table` returns with ordinary L1 entries. They only grow; a v2→v1
//! switch gives the status frames back, unless the guest still maps one
//! (XSA-255: `-EBUSY`, nothing changed).

use super::{pin, Active, GrantTable, Grants, MAX_REFS, MAX_STATUS_FRAMES, STATUS_PER_FRAME, V2_PER_FRAME};
use crate::mm::{Mm, MmHooks, PhysAddr, PhysMemory};
use abi::grant_table::{gtf, status, NR_RESERVED_ENTRIES};
use abi::{DomId, Errno, Mfn};

/// Status frames v2 needs for `frames` shared frames.
pub const fn status_frames_for(frames: usize) -> usize {
    (frames * V2_PER_FRAME).div_ceil(STATUS_PER_FRAME)
}

/// Resolves a domain id as Xen's `rcu_lock_domain_by_any_id`: `DOMID_SELF`
/// is the caller (running, so it exists: not looked up, as on Xen);
/// otherwise the domain must exist.
#[inline(always)]
pub(crate) fn by_any_id<M: PhysMemory, H: MmHooks>(mm: &Mm<'_, M, H>, caller: DomId, raw: DomId) -> Option<DomId> {
    if raw == DomId::SELF {
        return Some(caller);
    }
    mm.domain(raw).map(|_| raw)
}

/// Xen's dummy XSM `XSM_TARGET` rule: a domain may act on itself; the
/// control domain on anyone.
pub(crate) fn may_target<M: PhysMemory, H: MmHooks>(mm: &Mm<'_, M, H>, caller: DomId, target: DomId) -> bool {
    caller == target || mm.domain(caller).is_some_and(|d| d.privileged)
}

impl Grants<'_> {
    /// Gives `dom` a version 1 table of one frame, as Xen does at domain
    /// creation.
    ///
    /// # Errors
    /// `ENOMEM` without a free frame.
    pub fn init_domain<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, dom: DomId) -> Result<(), Errno> {
        let i = dom.0 as usize;
        self.tables[i] = GrantTable { version: 1, ..GrantTable::NONE };
        for a in &mut self.active[i * MAX_REFS..(i + 1) * MAX_REFS] {
            *a = Active::FREE;
        }
        let base = i * super::MAX_MAPTRACK;
        for m in &mut self.maptrack[base..base + super::MAX_MAPTRACK] {
            *m = super::MapTrack::FREE;
        }
        if self.grow(mm, dom, 1) {
            Ok(())
        } else {
            Err(Errno::ENOMEM)
        }
    }

    /// One fresh, zeroed Xen-heap frame shared with `dom`.
    fn new_frame<M: PhysMemory, H: MmHooks>(mm: &mut Mm<'_, M, H>, dom: DomId) -> Option<Mfn> {
        let mfn = mm.hooks.alloc_extent(0)?;
        mm.mem.zero_frame(mfn);
        mm.assign_xen_heap_frame(mfn, dom);
        Some(mfn)
    }

    /// Grows `dom`'s table to `frames` shared frames (and the status frames
    /// v2 needs). False if the limit or memory is short; frames already
    /// added stay (as on Xen).
    fn grow<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, dom: DomId, frames: usize) -> bool {
        let t = &mut self.tables[dom.0 as usize];
        if frames > t.max_frames as usize {
            return false;
        }
        while (t.nr_frames as usize) < frames {
            let Some(mfn) = Self::new_frame(mm, dom) else { return false };
            t.shared[t.nr_frames as usize] = mfn;
            t.nr_frames += 1;
        }
        if t.version == 2 {
            return Self::populate_status(mm, t, dom);
        }
        true
    }

    /// Adds the status frames the current size needs under v2.
    fn populate_status<M: PhysMemory, H: MmHooks>(mm: &mut Mm<'_, M, H>, t: &mut GrantTable, dom: DomId) -> bool {
        let want = status_frames_for(t.nr_frames as usize).min(MAX_STATUS_FRAMES);
        while (t.nr_status as usize) < want {
            let Some(mfn) = Self::new_frame(mm, dom) else { return false };
            t.status[t.nr_status as usize] = mfn;
            t.nr_status += 1;
        }
        true
    }

    /// `GNTTABOP_setup_table` after the argument was read and the frame
    /// list's range checked: grows the table to `nr_frames`. The caller
    /// then writes `shared[..nr_frames]` of the returned domain's table.
    ///
    /// # Errors
    /// A `GNTST_*`: `bad_domain`, `permission_denied` (another domain, by
    /// an unprivileged caller), `general_error` (beyond the limit, or no memory).
    pub fn setup_table<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        caller: DomId,
        dom: DomId,
        nr_frames: u32,
    ) -> Result<DomId, i16> {
        let d = by_any_id(mm, caller, dom).filter(|&d| self.table(d).is_some()).ok_or(status::BAD_DOMAIN)?;
        if !may_target(mm, caller, d) {
            return Err(status::PERMISSION_DENIED);
        }
        let t = self.tables[d.0 as usize];
        if nr_frames > u32::from(t.max_frames) {
            return Err(status::GENERAL_ERROR);
        }
        let needs_status = t.version == 2 && status_frames_for(nr_frames as usize) > t.nr_status as usize;
        if (nr_frames > u32::from(t.nr_frames) || needs_status) && !self.grow(mm, d, nr_frames as usize) {
            return Err(status::GENERAL_ERROR);
        }
        Ok(d)
    }

    /// `GNTTABOP_query_size`: (current frames, most frames).
    ///
    /// # Errors
    /// `GNTST_bad_domain`, `GNTST_permission_denied`.
    pub fn query_size<M: PhysMemory, H: MmHooks>(
        &self,
        mm: &Mm<'_, M, H>,
        caller: DomId,
        dom: DomId,
    ) -> Result<(u32, u32), i16> {
        let d = by_any_id(mm, caller, dom).filter(|&d| self.table(d).is_some()).ok_or(status::BAD_DOMAIN)?;
        if !may_target(mm, caller, d) {
            return Err(status::PERMISSION_DENIED);
        }
        let t = &self.tables[d.0 as usize];
        Ok((u32::from(t.nr_frames), u32::from(t.max_frames)))
    }

    /// `GNTTABOP_get_version`.
    ///
    /// # Errors
    /// `ESRCH` for an unknown domain, `EPERM` for another domain by an
    /// unprivileged caller (return values, not statuses).
    pub fn get_version<M: PhysMemory, H: MmHooks>(
        &self,
        mm: &Mm<'_, M, H>,
        caller: DomId,
        dom: DomId,
    ) -> Result<u32, Errno> {
        let d = by_any_id(mm, caller, dom).filter(|&d| self.table(d).is_some()).ok_or(Errno::ESRCH)?;
        if !may_target(mm, caller, d) {
            return Err(Errno::EPERM);
        }
        Ok(u32::from(self.tables[d.0 as usize].version))
    }

    /// `GNTTABOP_get_status_frames` after the argument was read: the
    /// domain whose `status[..nr_frames]` the caller writes out.
    ///
    /// # Errors
    /// `GNTST_bad_domain`, `GNTST_permission_denied`, `GNTST_general_error`
    /// (more frames than the domain has: none under v1).
    pub fn get_status_frames<M: PhysMemory, H: MmHooks>(
        &self,
        mm: &Mm<'_, M, H>,
        caller: DomId,
        dom: DomId,
        nr_frames: u32,
    ) -> Result<DomId, i16> {
        let d = by_any_id(mm, caller, dom).filter(|&d| self.table(d).is_some()).ok_or(status::BAD_DOMAIN)?;
        if !may_target(mm, caller, d) {
            return Err(status::PERMISSION_DENIED);
        }
        if nr_frames > u32::from(self.tables[d.0 as usize].nr_status) {
            return Err(status::GENERAL_ERROR);
        }
        Ok(d)
    }

    /// `GNTTABOP_set_version` for the caller's own table. Returns the
    /// result and the version in force afterwards (copied back either way).
    pub fn set_version<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        dom: DomId,
        version: u32,
    ) -> (Result<(), Errno>, u32) {
        let r = self.switch_version(mm, dom, version);
        (r, u32::from(self.tables[dom.0 as usize].version))
    }

    fn switch_version<M: PhysMemory, H: MmHooks>(
        &mut self,
        mm: &mut Mm<'_, M, H>,
        dom: DomId,
        version: u32,
    ) -> Result<(), Errno> {
        if version != 1 && version != 2 {
            return Err(Errno::EINVAL);
        }
        let t = self.tables[dom.0 as usize];
        if u32::from(t.version) == version {
            return Ok(());
        }
        // Only the toolstack's reserved entries may be in use.
        if (NR_RESERVED_ENTRIES..t.nr_entries()).any(|r| self.active(dom, r).pin != 0) {
            return Err(Errno::EBUSY);
        }
        let mut saved = [(0u16, DomId(0), 0u64); NR_RESERVED_ENTRIES as usize];
        for (r, s) in saved.iter_mut().enumerate() {
            let r = r as u32;
            let h = t.header(mm.mem, r);
            let frame = t.frame(mm.mem, r);
            *s = match (t.version, h.flags & gtf::TYPE_MASK) {
                (1, _) => (h.flags, h.domid, frame),
                (_, gtf::PERMIT_ACCESS) if frame >> 32 != 0 => return Err(Errno::ERANGE),
                (_, gtf::TRANSITIVE) => return Err(Errno::ERANGE),
                (_, gtf::PERMIT_ACCESS) => (h.flags | t.status_flags(mm.mem, r), h.domid, frame),
                _ => (0, DomId(0), 0),
            };
        }
        if version == 2 {
            let t = &mut self.tables[dom.0 as usize];
            t.version = 2;
            let ok = Self::populate_status(mm, t, dom);
            t.version = 1;
            if !ok {
                return Err(Errno::ENOMEM);
            }
        } else {
            self.unpopulate_status(mm, dom)?;
        }
        let t = &mut self.tables[dom.0 as usize];
        for &f in &t.shared[..t.nr_frames as usize] {
            mm.mem.zero_frame(f);
        }
        t.version = version as u8;
        let t = *t;
        let busy = gtf::READING | gtf::WRITING;
        for (r, &(flags, domid, frame)) in saved.iter().enumerate() {
            let a = t.entry_addr(r as u32);
            if version == 1 {
                mm.mem.write_u64(a, u64::from(flags) | (u64::from(domid.0) << 16) | (frame << 32));
            } else {
                mm.mem.write_u64(a, u64::from(flags & !busy) | (u64::from(domid.0) << 16));
                mm.mem.write_u64(PhysAddr(a.0 + 8), frame);
                t.clear_status(mm.mem, r as u32, busy);
                t.set_status(mm.mem, r as u32, flags & busy);
            }
        }
        Ok(())
    }

    /// Gives the status frames back on a v2→v1 switch. A frame the guest
    /// still maps keeps everything as it was (XSA-255).
    fn unpopulate_status<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, dom: DomId) -> Result<(), Errno> {
        let t = &mut self.tables[dom.0 as usize];
        let frames = &t.status[..t.nr_status as usize];
        if frames.iter().any(|&f| mm.info(f).count() != 1) {
            return Err(Errno::EBUSY);
        }
        for &f in frames {
            mm.release_xen_heap_frame(f);
        }
        t.nr_status = 0;
        Ok(())
    }
}

/// Whether (`dom`, `r`) is pinned for writing by anyone.
pub(crate) fn pinned_writable(a: &Active) -> bool {
    a.pin & (pin::HSTW_MASK | pin::DEVW_MASK) != 0
}
