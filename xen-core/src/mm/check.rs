//! The invariant checker: recomputes every count from scratch by walking
//! all live tables, pins and roots, and compares with the frame table
//! ([`check_invariants`]), and checks what the TLB may still hold against
//! the frame table ([`check_tlb`]). Used by the property tests, the
//! exhaustive search and the fuzzer; O(frames × 512), not for production
//! paths. Both are single functions over plain data, so a proof harness
//! can call them as they are.

use super::model::{Mm, MmHooks};
use super::page_info::PageType;
use super::pte::Pte;
use super::test_modes::table_entries;
use super::validate::{is_hv_slot, HV_SLOTS};
use super::PhysMemory;
use abi::mmu::pte::ACCESSED;
use abi::{DomId, Mfn};

extern crate alloc;
use alloc::format;
use alloc::string::String;
use alloc::vec;

/// References held outside the page tables, pins, roots and GDTs: grant
/// mappings ([`crate::grant::check`]).
pub trait ExternalRefs {
    /// General and writable-type references on `mfn` held elsewhere.
    fn refs(&self, mfn: Mfn) -> (u64, u64);
    /// Whether an L1 entry of `l1_owner` may map `target`, a frame of
    /// another domain (a grant host mapping).
    fn foreign_map_allowed(&self, l1_owner: DomId, target: Mfn) -> bool;
}

/// No references outside the memory model.
pub struct NoExternal;

impl ExternalRefs for NoExternal {
    fn refs(&self, _: Mfn) -> (u64, u64) {
        (0, 0)
    }
    fn foreign_map_allowed(&self, _: DomId, _: Mfn) -> bool {
        false
    }
}

/// Checks every invariant; returns a description of the first violation.
pub fn check_invariants<M: PhysMemory, H: MmHooks>(mm: &Mm<'_, M, H>) -> Result<(), String> {
    check_invariants_with(mm, &NoExternal)
}

/// [`check_invariants`], counting the references `ext` holds.
pub fn check_invariants_with<M: PhysMemory, H: MmHooks>(
    mm: &Mm<'_, M, H>,
    ext: &impl ExternalRefs,
) -> Result<(), String> {
    let n = mm.frames.len();
    let mut count = vec![0u64; n];
    let mut type_count = vec![0u64; n];
    let mut holds = vec![0i64; n];
    let mut held = vec![0i64; n];
    let mut owned = vec![0u64; mm.domains.len()];

    for (i, info) in mm.frames.iter().enumerate() {
        let m = Mfn(i as u64);
        if info.count() == 0 {
            let io = info.owner() == DomId::IO;
            if (info.owner() != DomId::INVALID && !io) || info.pinned() || info.type_count() != 0 || info.allocated() {
                return Err(format!("free frame {m:?} has state {info:?}"));
            }
            if ext.refs(m) != (0, 0) {
                return Err(format!("free frame {m:?} is still referenced by a grant mapping"));
            }
            continue;
        }
        if let Some(o) = owned.get_mut(info.owner().0 as usize).filter(|_| !info.xen_heap()) {
            *o += 1;
        }
        if info.allocated() {
            count[i] += 1;
        }
        let (refs, types) = ext.refs(m);
        count[i] += refs;
        type_count[i] += types;
        if info.pinned() {
            if info.page_type().level().is_none() || info.type_count() == 0 {
                return Err(format!("pinned frame {m:?} is not a live page table: {info:?}"));
            }
            count[i] += 1;
            type_count[i] += 1;
        }
        if info.type_count() > 0 && info.page_type().level().is_some() && !info.validated() && !info.partial() {
            return Err(format!("typed page table {m:?} is neither validated nor partial: {info:?}"));
        }
        if info.partial() && (info.validated() || info.type_count() != 1 || info.pinned()) {
            return Err(format!("partial table {m:?} in an impossible state: {info:?}"));
        }
        if info.partial_root() {
            // The preempted operation's general and type references.
            count[i] += 1;
            type_count[i] += 1;
        }
        if info.deval() {
            // The owner's queue holds a general reference.
            if info.type_count() != 0 || !info.validated() {
                return Err(format!("queued table {m:?} in an impossible state: {info:?}"));
            }
            let queued = mm
                .domain(info.owner())
                .is_some_and(|d| d.deferred[..d.deferred_len].iter().filter(|&&q| q == m).count() == 1);
            if !queued {
                return Err(format!("{m:?} waits for devalidation but is not queued once on its owner"));
            }
            count[i] += 1;
        }
    }
    for (i, d) in mm.domains.iter().enumerate() {
        // A slot's id is its index, and only a built domain holds a root
        // (`update_va_mapping`'s fast path reads a root without `Mm::domain`).
        if d.id.0 as usize != i {
            return Err(format!("domain slot {i} holds id {:?}", d.id));
        }
        if !d.exists && (d.kernel_root.is_some() || d.user_root.is_some()) {
            return Err(format!("{:?} does not exist but holds a root", d.id));
        }
        for &g in &d.gdt[..d.gdt_frames as usize] {
            let info = mm.info(g);
            if info.page_type() != PageType::SegDesc || info.type_count() == 0 || info.owner() != d.id {
                return Err(format!("GDT frame {g:?} of {:?} is not a descriptor page it owns: {info:?}", d.id));
            }
            count[g.0 as usize] += 1;
            type_count[g.0 as usize] += 1;
        }
        for &l in d.ldt_frames.iter().flatten() {
            let info = mm.info(l);
            if info.page_type() != PageType::SegDesc || info.type_count() == 0 || info.owner() != d.id {
                return Err(format!("LDT frame {l:?} of {:?} is not a descriptor page it owns: {info:?}", d.id));
            }
            count[l.0 as usize] += 1;
            type_count[l.0 as usize] += 1;
        }
        for root in [d.kernel_root, d.user_root].into_iter().flatten() {
            let info = mm.info(root);
            if info.page_type() != PageType::L4 || info.type_count() == 0 || info.owner() != d.id {
                return Err(format!("root {root:?} of {:?} is not a live L4 it owns: {info:?}", d.id));
            }
            count[root.0 as usize] += 1;
            type_count[root.0 as usize] += 1;
        }
    }

    for (i, info) in mm.frames.iter().enumerate() {
        let table = Mfn(i as u64);
        let Some(level) = info.page_type().level() else { continue };
        if (info.type_count() == 0 && !info.deval()) || info.count() == 0 {
            continue;
        }
        // A partial table holds the references of the entries before its
        // progress index, and of the entry at it if that leads to the
        // partial table below.
        let entries = table_entries() as usize;
        let start = if info.deval() { info.progress() as usize } else { 0 };
        let end = if info.partial() {
            let p = info.progress() as usize;
            if info.partial_child() {
                let child = Pte(mm.read_entry(table, p.min(entries - 1))).mfn();
                if p >= entries || !mm.is_ram(child) || !mm.info(child).partial() || mm.info(child).partial_root() {
                    return Err(format!(
                        "partial {table:?} waits for {child:?}, which is not a partial table below it"
                    ));
                }
            }
            p + usize::from(info.partial_child())
        } else {
            entries
        };
        for index in start..end {
            let e = Pte(mm.read_entry(table, index));
            if is_hv_slot(level, index) {
                if info.partial() || info.deval() {
                    continue;
                }
                // The CPU sets Accessed in the copy it walks through.
                if e.0 & !ACCESSED != mm.l4_template[index - HV_SLOTS.start()] & !ACCESSED {
                    return Err(format!("L4 {table:?} slot {index} is {e:?}, not the hypervisor's entry"));
                }
                continue;
            }
            if !e.present() {
                continue;
            }
            // An oracle independent of `pte`: PWT, PCD, PAT/PS (bits 3, 4, 7)
            // at every level unless an L1 of a domain with I/O resources; G
            // (bit 8) above L1.
            let cache_attrs = level == 1 && mm.domain(info.owner()).is_some_and(|d| d.io_caps);
            let forbidden = if cache_attrs { 0 } else { 0x98 } | if level > 1 { 0x100 } else { 0 };
            if e.0 & forbidden != 0 {
                return Err(format!("L{level} {table:?}[{index}] holds disallowed flags: {e:?}"));
            }
            if e.adjusted(level) != e {
                return Err(format!("L{level} {table:?}[{index}] lacks the guest-visible adjustments: {e:?}"));
            }
            let target = e.mfn();
            if level == 1 && mm.is_mmio(target) {
                continue;
            }
            if !mm.is_ram(target) {
                return Err(format!("L{level} {table:?}[{index}] points outside RAM"));
            }
            let t = mm.info(target);
            let t_idx = target.0 as usize;
            if level == 1 {
                count[t_idx] += 1;
                if t.owner() != info.owner()
                    && !mm.domain(info.owner()).is_some_and(|d| d.privileged)
                    && !ext.foreign_map_allowed(info.owner(), target)
                {
                    return Err(format!(
                        "L1 {table:?}[{index}] of {:?} maps {target:?} of {:?}",
                        info.owner(),
                        t.owner()
                    ));
                }
                if e.writable() {
                    if t.page_type() != PageType::Writable {
                        return Err(format!(
                            "L1 {table:?}[{index}] maps {:?} frame {target:?} writable",
                            t.page_type()
                        ));
                    }
                    type_count[t_idx] += 1;
                }
                continue;
            }
            if target == table {
                if e.writable() {
                    return Err(format!("writable self map in {table:?}[{index}]"));
                }
                continue;
            }
            if t.owner() != info.owner() {
                return Err(format!("L{level} {table:?}[{index}] references {target:?} of another domain"));
            }
            count[t_idx] += 1;
            type_count[t_idx] += 1;
            if t.page_type() == PageType::table(level) {
                if e.writable() {
                    return Err(format!("writable linear entry {table:?}[{index}]"));
                }
                holds[i] += 1;
                held[t_idx] += 1;
            } else if t.page_type() != PageType::table(level - 1) {
                return Err(format!("L{level} {table:?}[{index}] references a {:?} frame", t.page_type()));
            }
        }
    }

    for (i, info) in mm.frames.iter().enumerate() {
        let m = Mfn(i as u64);
        if info.count() == 0 {
            continue;
        }
        // General references beyond those recomputed may exist only for
        // frames mapped by other domains' L1s, which the walk counted.
        if u64::from(info.count()) != count[i] {
            return Err(format!("{m:?}: general count {} but {} references exist ({info:?})", info.count(), count[i]));
        }
        let tracked =
            info.page_type().level().is_some() || matches!(info.page_type(), PageType::Writable | PageType::SegDesc);
        if tracked && u64::from(info.type_count()) != type_count[i] {
            return Err(format!(
                "{m:?}: type count {} but {} type references exist ({info:?})",
                info.type_count(),
                type_count[i]
            ));
        }
        if i64::from(info.linear()) != holds[i] - held[i] {
            return Err(format!("{m:?}: linear balance {} but {} held, {} holding", info.linear(), holds[i], held[i]));
        }
        if holds[i] > 0 && held[i] > 0 {
            return Err(format!("{m:?} both holds and is held by same-level entries (XSA-240)"));
        }
    }
    for d in mm.domains.iter() {
        for &q in &d.deferred[..d.deferred_len] {
            if !mm.is_ram(q) || !mm.info(q).deval() || mm.info(q).owner() != d.id {
                return Err(format!("{:?} queues {q:?}, which does not wait for devalidation", d.id));
            }
        }
        if d.tot_pages != owned[d.id.0 as usize] {
            return Err(format!("{:?}: tot_pages {} but owns {} frames", d.id, d.tot_pages, owned[d.id.0 as usize]));
        }
    }
    Ok(())
}

/// A translation a TLB may hold. Tests simulate the TLB with these; a proof
/// harness can build them the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CachedTranslation {
    /// The domain whose page tables gave it.
    pub dom: DomId,
    /// The guest virtual page.
    pub va: u64,
    /// The frame it leads to.
    pub mfn: Mfn,
    /// Writes allowed (every level writable).
    pub writable: bool,
    /// Global: survives a CR3 reload.
    pub global: bool,
    /// Owner of the frame when the translation was cached.
    pub owner: DomId,
    /// The frame was freed while this translation was still cached.
    pub outlived_frame: bool,
}

/// Checks what the TLB may hold (fact sheet §10): no translation of a free
/// frame, of a frame freed since it was cached, or of a frame that changed
/// owner; and no writable translation, stale or not, of a frame typed as a
/// page table or descriptor page (or one still holding a table's references).
/// A stale writable translation of the domain's own plain data frame is
/// harmless: it grants nothing a mapping would not.
pub fn check_tlb<M: PhysMemory, H: MmHooks>(mm: &Mm<'_, M, H>, tlb: &[CachedTranslation]) -> Result<(), String> {
    for t in tlb {
        let (dom, va, mfn) = (t.dom, t.va, t.mfn);
        if !mm.is_ram(mfn) || (t.owner == DomId::IO && mm.info(mfn).owner() == DomId::IO) {
            continue;
        }
        let info = mm.info(mfn);
        if t.outlived_frame {
            return Err(format!("{dom:?}'s translation {va:#x} -> {mfn:?} survived the frame being freed"));
        }
        if info.count() == 0 {
            return Err(format!("{dom:?}'s translation {va:#x} -> {mfn:?} leads to a free frame"));
        }
        if info.owner() != t.owner {
            return Err(format!(
                "{dom:?}'s translation {va:#x} -> {mfn:?} was cached when {:?} owned it; {:?} owns it now",
                t.owner,
                info.owner()
            ));
        }
        let special =
            info.page_type() != PageType::Writable && (info.type_count() > 0 || info.partial() || info.deval());
        if t.writable && special {
            return Err(format!(
                "{dom:?} may still write {mfn:?} through {va:#x}, but it is a {:?} frame: {info:?}",
                info.page_type()
            ));
        }
    }
    Ok(())
}
