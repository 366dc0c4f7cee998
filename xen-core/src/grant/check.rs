//! The grant invariant checker, spanning the frame table and the grant and
//! maptrack tables: used by the property tests and the hypervisor's
//! `check=N` schedule; O(domains × (refs + maptrack)) plus the memory
//! model's own walk, not for production paths.
//!
//! * Every pin is explained by maptrack slots: the pins of (granter, ref)
//!   are exactly the sum over the grantee's live slots naming it, and the
//!   grantee is the one recorded in the active entry (copies hold no pin
//!   across a hypercall).
//! * A pinned entry of a live v2 table shows `reading`, and `writing`
//!   exactly while a writable mapping exists (except the reserved entries,
//!   whose status a version switch takes from the guest's v1 flags; v1
//!   keeps the bits in the guest-written entry, so nothing is required).
//! * Frame references: device mappings hold one general (and, writable, one
//!   type) reference each; host mappings' references are their PTEs', which
//!   the memory model's walk counts, and a foreign frame appears in a
//!   non-privileged domain's L1 only where that domain holds a host mapping
//!   of it ([`check_invariants_with`]); a translated mapper's host mapping
//!   is a p2m entry holding the general reference (the caller counts p2m
//!   references) and its slot the writable type reference.
//! * Table frames: shared and status frames are live Xen-heap frames of
//!   their domain, with the status frames v2 needs and none under v1.

use super::map::pins_of;
use super::table::status_frames_for;
use super::{Grants, MAX_MAPTRACK};
use crate::mm::check::{check_invariants_with, ExternalRefs};
use crate::mm::{Mm, MmHooks, PhysMemory};
use abi::grant_table::{gntmap, gtf};
use abi::{DomId, Mfn};

extern crate alloc;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;

/// The references grant mappings hold, for the memory model's checker.
struct GrantRefs {
    /// Device mappings: frame → (general, type) references.
    device: BTreeMap<u64, (u64, u64)>,
    /// Host mappings: (mapping domain, frame).
    host: BTreeMap<(u16, u64), u32>,
}

impl ExternalRefs for GrantRefs {
    fn refs(&self, mfn: Mfn) -> (u64, u64) {
        self.device.get(&mfn.0).copied().unwrap_or((0, 0))
    }
    fn foreign_map_allowed(&self, l1_owner: DomId, target: Mfn) -> bool {
        self.host.contains_key(&(l1_owner.0, target.0))
    }
}

/// Checks the memory model's invariants and the grant tables'; returns a
/// description of the first violation.
pub fn check_all<M: PhysMemory, H: MmHooks>(mm: &Mm<'_, M, H>, g: &Grants<'_>) -> Result<(), String> {
    check_all_with(mm, g, &crate::mm::check::NoExternal)
}

/// [`check_all`], also counting the references `extra` holds (the event
/// channels' FIFO frames).
pub fn check_all_with<M: PhysMemory, H: MmHooks>(
    mm: &Mm<'_, M, H>,
    g: &Grants<'_>,
    extra: &impl ExternalRefs,
) -> Result<(), String> {
    let refs = check_grants(mm, g)?;
    check_invariants_with(mm, &Both(&refs, extra))
}

/// Two holders of references outside the memory model, counted together.
struct Both<'a, A, B>(&'a A, &'a B);

impl<A: ExternalRefs, B: ExternalRefs> ExternalRefs for Both<'_, A, B> {
    fn refs(&self, mfn: Mfn) -> (u64, u64) {
        let (a, b) = (self.0.refs(mfn), self.1.refs(mfn));
        (a.0 + b.0, a.1 + b.1)
    }
    fn foreign_map_allowed(&self, l1_owner: DomId, target: Mfn) -> bool {
        self.0.foreign_map_allowed(l1_owner, target) || self.1.foreign_map_allowed(l1_owner, target)
    }
}

fn check_grants<M: PhysMemory, H: MmHooks>(mm: &Mm<'_, M, H>, g: &Grants<'_>) -> Result<GrantRefs, String> {
    let mut pins: BTreeMap<(u16, u32), u32> = BTreeMap::new();
    let mut refs = GrantRefs { device: BTreeMap::new(), host: BTreeMap::new() };
    for (d, t) in g.tables.iter().enumerate() {
        let dom = DomId(d as u16);
        if t.version != 0 {
            if t.nr_frames > t.max_frames || t.nr_frames == 0 {
                return Err(format!("{dom:?} has {} grant frames (max {})", t.nr_frames, t.max_frames));
            }
            let want_status = if t.version == 2 { status_frames_for(t.nr_frames as usize) } else { 0 };
            if t.nr_status as usize != want_status {
                return Err(format!("{dom:?} v{} has {} status frames, not {want_status}", t.version, t.nr_status));
            }
            let frames = t.shared[..t.nr_frames as usize].iter().chain(&t.status[..t.nr_status as usize]);
            for (k, &f) in frames.clone().enumerate() {
                let info = mm.info(f);
                if !info.xen_heap() || !info.allocated() || info.owner() != dom {
                    return Err(format!("grant table frame {f:?} of {dom:?} is not its Xen-heap frame: {info:?}"));
                }
                if frames.clone().skip(k + 1).any(|&o| o == f) {
                    return Err(format!("grant table frame {f:?} of {dom:?} is used twice"));
                }
            }
        }
        for h in 0..MAX_MAPTRACK as u32 {
            let m = *g.maptrack(dom, h).expect("in range");
            if m.flags == 0 {
                continue;
            }
            if m.flags & (gntmap::HOST_MAP | gntmap::DEVICE_MAP) == 0 {
                return Err(format!("{dom:?} handle {h} maps nothing: {m:?}"));
            }
            let a = g.active(m.dom, m.ref_);
            if a.domid != dom || a.pin == 0 {
                return Err(format!("{dom:?} handle {h} names {:?} ref {} pinned by {:?}", m.dom, m.ref_, a.domid));
            }
            *pins.entry((m.dom.0, m.ref_)).or_default() += pins_of(m.flags);
            if m.flags & gntmap::DEVICE_MAP != 0 {
                let e = refs.device.entry(a.mfn.0).or_default();
                e.0 += 1;
                e.1 += u64::from(m.flags & gntmap::READONLY == 0);
            }
            if m.flags & gntmap::HOST_MAP != 0 && t.translated {
                // A p2m entry: its general reference is the p2m's (counted
                // by the caller's `extra`), its type reference the slot's.
                refs.device.entry(a.mfn.0).or_default().1 += u64::from(m.flags & gntmap::READONLY == 0);
            } else if m.flags & gntmap::HOST_MAP != 0 {
                *refs.host.entry((dom.0, a.mfn.0)).or_default() += 1;
            }
        }
    }
    for (d, t) in g.tables.iter().enumerate() {
        let dom = DomId(d as u16);
        for r in 0..super::MAX_REFS as u32 {
            let a = g.active(dom, r);
            let want = pins.get(&(dom.0, r)).copied().unwrap_or(0);
            if a.pin != want {
                return Err(format!("{dom:?} ref {r}: pin {:#x} but its mappings need {want:#x}", a.pin));
            }
            if a.pin == 0 {
                continue;
            }
            // The frame itself may be gone: a host mapping's references are
            // its PTE's, and a guest may drop that PTE (and the granter then
            // free the frame) while the pin stays, as on Xen. Device
            // mappings' references are counted exactly by `GrantRefs`.
            if t.version == 0 {
                continue;
            }
            if r >= t.nr_entries() {
                return Err(format!("{dom:?} ref {r} is pinned beyond its table"));
            }
            // What the guest may write: v1 keeps these bits in the entry's
            // flags, which are the guest's; and a switch to v2 carries a
            // reserved entry's v1 bits into its status word, as Xen does,
            // so those are the guest's too.
            if t.version == 1 || r < abi::grant_table::NR_RESERVED_ENTRIES {
                continue;
            }
            let flags = t.status_flags(mm.mem, r);
            let writing = super::table::pinned_writable(a);
            if flags & gtf::READING == 0 || (flags & gtf::WRITING != 0) != writing {
                return Err(format!("{dom:?} ref {r}: status {flags:#x} but pin {:#x}", a.pin));
            }
        }
    }
    Ok(refs)
}
