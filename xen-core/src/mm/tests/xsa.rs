//! Regression tests named after the Xen security advisories of fact sheet
//! §11 that apply to the page-type model. Each says what went wrong in Xen
//! and how the test detects it here.

use super::world::*;
use crate::mm::requests::NoGuestMemory;
use crate::mm::PageType;
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::{Errno, Mfn};

/// XSA-45: validating and tearing down a maximally fanned-out tree ran
/// unpreemptibly with deep recursion. Here: one L2 holding 512 L1 tables,
/// each with 512 entries; pin and unpin must complete on the iterative
/// walkers and return every count to where it was.
#[test]
fn xsa_45_full_fan_out_tree_validates_and_devalidates_iteratively() {
    let mut w = World::new(600);
    let f = w.give(D1, 514);
    let (l2, data, l1s) = (f[0], f[1], &f[2..]);
    for (i, &l1) in l1s.iter().enumerate() {
        for j in 0..512 {
            w.poke(l1, j, data.to_maddr() | RO);
        }
        w.poke(l2, i, l1.to_maddr() | FLAGS);
    }
    let before = w.frames.clone();
    w.pin(D1, 2, l2).unwrap();
    assert_eq!(w.info(data).count(), 1 + 512 * 512);
    assert!(l1s.iter().all(|&l1| w.info(l1).page_type() == PageType::L1 && w.info(l1).validated()));
    w.unpin(D1, l2).unwrap();
    // Adjusted entries (USER/GLOBAL) stay; counts and types are back.
    for (i, info) in w.frames.iter().enumerate() {
        let was = before[i];
        assert_eq!((info.count(), info.type_count(), info.pinned()), (was.count(), was.type_count(), was.pinned()));
    }
    w.check();
}

/// XSA-58: reference counts were mishandled when a pin failed part-way.
/// Pin an L4 whose very last L1 entry is invalid: everything must return
/// to the pre-pin state.
#[test]
fn xsa_58_failed_pin_deep_in_the_tree_restores_every_count() {
    let mut w = World::new(64);
    let c = w.build_chain(D1, 0);
    let extra = w.give(D1, 2);
    w.poke(c.l1, 300, extra[0].to_maddr() | FLAGS);
    w.poke(c.l2, 7, extra[1].to_maddr() | FLAGS);
    let theirs = w.give(D2, 1)[0];
    w.poke(extra[1], 511, theirs.to_maddr() | RO);
    let before = w.snapshot();
    assert_eq!(w.pin(D1, 4, c.l4), Err(Errno::EBUSY));
    let after = w.snapshot();
    assert!(
        after.same_modulo_adjustments(&before),
        "a failed pin left counts or types behind:\n{}",
        before.frame_diff(&after) + &before.mem_diff(&after)
    );
    w.check();
}

/// XSA-148: the L2 fast path ignored PS, letting a guest turn an L2 entry
/// into a writable 2 MiB mapping over its own page tables. Setting PS (with
/// or without RW) on a live L2 entry must be refused.
#[test]
fn xsa_148_setting_ps_on_a_live_l2_entry_is_refused() {
    let mut w = World::new(64);
    let c = w.build_chain(D1, 1);
    w.pin(D1, 4, c.l4).unwrap();
    let old = w.read(c.l2, 1);
    for val in [old | PAT_PSE, (old | PAT_PSE) & !RW, old | PAT_PSE | RW] {
        assert_eq!(w.update(D1, c.l2, 1, val), Err(Errno::EINVAL));
        assert_eq!(w.read(c.l2, 1), old);
    }
    w.check();
}

/// XSA-182: the fast path let a guest set RW on a read-only recursive
/// L4/L3 entry without revalidation, giving it writable access to its own
/// page tables. RW on a self map must be -EINVAL.
#[test]
fn xsa_182_rw_on_a_read_only_self_map_is_refused() {
    let mut w = World::new(64);
    let c = w.build_chain(D1, 1);
    w.pin(D1, 4, c.l4).unwrap();
    w.update(D1, c.l4, 300, c.l4.to_maddr() | RO).unwrap();
    w.update(D1, c.l3, 300, c.l3.to_maddr() | RO).unwrap();
    for (t, level) in [(c.l4, 4), (c.l3, 3)] {
        let old = w.read(t, 300);
        assert_eq!(w.update(D1, t, 300, old | RW), Err(Errno::EINVAL), "L{level}");
        assert_eq!(w.read(t, 300), old);
        // Harmless bits still take the fast path.
        assert_eq!(w.update(D1, t, 300, old | DIRTY), Ok(()));
    }
    w.check();
}

/// XSA-240: unlimited chains of same-level page tables allowed unbounded
/// recursion. A table may hold same-level entries or be referenced by
/// them, never both, and never across domains.
#[test]
fn xsa_240_linear_chains_and_cross_domain_linear_references_are_refused() {
    let mut w = World::new(64);
    let f = w.give(D1, 3);
    let (a, b, c) = (f[0], f[1], f[2]);
    for t in [a, b, c] {
        w.pin(D1, 2, t).unwrap();
    }
    // A → B is fine.
    w.update(D1, a, 1, b.to_maddr() | RO).unwrap();
    // B is referenced, so it may not hold: B → C refused.
    assert_eq!(w.update(D1, b, 1, c.to_maddr() | RO), Err(Errno::EINVAL));
    // A holds, so it may not be referenced: C → A refused; B → A refused.
    assert_eq!(w.update(D1, c, 1, a.to_maddr() | RO), Err(Errno::EINVAL));
    assert_eq!(w.update(D1, b, 2, a.to_maddr() | RO), Err(Errno::EINVAL));
    // Writable linear entries are refused.
    assert_eq!(w.update(D1, c, 1, b.to_maddr() | FLAGS), Err(Errno::EINVAL));
    // Cross-domain linear references are refused.
    let theirs = w.give(D2, 1)[0];
    w.pin(D2, 2, theirs).unwrap();
    assert_eq!(w.update(D1, c, 1, theirs.to_maddr() | RO), Err(Errno::EINVAL));
    w.check();
    // Unpinning everything releases the linear reference cleanly.
    for t in [a, b, c] {
        w.unpin(D1, t).unwrap();
    }
    assert!([a, b, c].iter().all(|&t| w.info(t).type_count() == 0 && w.info(t).linear() == 0));
    w.check();
}

/// XSA-252: decrease_reservation used to unpin tables implicitly. Releasing
/// a pinned L4 that is also the current root must leave it alive, typed and
/// counted until the guest drops the last reference itself.
#[test]
fn xsa_252_releasing_a_pinned_root_does_not_unpin_it() {
    let mut w = World::new(64);
    let c = w.build_chain(D1, 1);
    w.pin(D1, 4, c.l4).unwrap();
    w.baseptr(D1, c.l4).unwrap();
    let pages = w.doms[1].tot_pages;
    w.mm().release_frame(D1, c.l4).unwrap();
    assert!(w.info(c.l4).pinned());
    assert_eq!(w.info(c.l4).type_count(), 2);
    assert_eq!(w.doms[1].tot_pages, pages, "a zombie still counts");
    assert_eq!(w.mm().release_frame(D1, c.l4), Err(Errno::ENXIO), "released twice");
    w.check();
    let e = w.give(D1, 1)[0];
    w.baseptr(D1, e).unwrap();
    w.unpin(D1, c.l4).unwrap();
    assert_eq!(w.info(c.l4).count(), 0, "the last reference freed it");
    assert!(w.hooks.freed.contains(&c.l4));
    w.check();
}

/// XSA-279: after a *failed* update_va_mapping Xen still flushed using the
/// unaudited address (non-canonical → #GP in the hypervisor). A failed
/// update must not flush at all.
#[test]
fn xsa_279_failed_update_va_mapping_does_not_flush() {
    let mut w = World::new(64);
    let c = w.build_chain(D1, 1);
    w.pin(D1, 4, c.l4).unwrap();
    w.baseptr(D1, c.l4).unwrap();
    let theirs = w.give(D2, 1)[0];
    for (va, val) in [(0x8000_0000_0000_0000u64, 0), (0xFFFF_8100_0000_0000, 0), (Chain::va(1), theirs.to_maddr() | RO)]
    {
        for flags in [UVMF_INVLPG, UVMF_TLB_FLUSH, UVMF_INVLPG | UVMF_ALL] {
            assert!(w.uvm(D1, va, val, flags, &mut NoGuestMemory).is_err());
        }
    }
    assert!(w.hooks.invlpgs.is_empty());
    assert_eq!(w.hooks.local_flushes, 0);
}

/// XSA-286: changes to L2+ entries left stale translations the hypervisor
/// relied on. Every successful L2+ change must flush the owner's TLB.
#[test]
fn xsa_286_every_upper_level_change_requests_a_tlb_flush() {
    let mut w = World::new(64);
    let c = w.build_chain(D1, 1);
    w.pin(D1, 4, c.l4).unwrap();
    w.hooks.domain_flushes.clear();
    w.update(D1, c.l1, 7, c.data.to_maddr() | RO).unwrap();
    assert!(w.hooks.domain_flushes.is_empty(), "L1 changes are flushed by the guest");
    for (t, idx, val) in [(c.l2, 5, 0), (c.l3, 1, 0), (c.l4, 1, 0)] {
        w.hooks.domain_flushes.clear();
        w.update(D1, t, idx, val).unwrap();
        assert_eq!(w.hooks.domain_flushes, vec![D1]);
    }
}

/// XSA-290: recursive L3/L4 tables made one (de)validation iterate up to
/// 512^3 entries. Self maps hold no references, so unpinning a table full
/// of self maps touches each entry once.
#[test]
fn xsa_290_self_maps_at_l3_and_l4_devalidate_in_one_pass() {
    let mut w = World::new(64);
    let f = w.give(D1, 2);
    for i in 0..512 {
        if !(256..272).contains(&i) {
            w.poke(f[0], i, f[0].to_maddr() | RO);
        }
        w.poke(f[1], i, f[1].to_maddr() | RO);
    }
    w.pin(D1, 4, f[0]).unwrap();
    w.pin(D1, 3, f[1]).unwrap();
    w.check();
    let reads_before = w.mem.writes;
    w.unpin(D1, f[0]).unwrap();
    w.unpin(D1, f[1]).unwrap();
    assert_eq!(w.mem.writes, reads_before, "devalidation writes nothing");
    assert_eq!(w.info(f[0]).type_count() + w.info(f[1]).type_count(), 0);
    w.check();
}

/// XSA-214 / XSA-248: a frame that leaves a domain must not keep its old
/// type, and hypervisor-internal frames are never guest-owned or mappable.
#[test]
fn xsa_214_248_freed_tables_come_back_untyped_and_hypervisor_frames_stay_unmappable() {
    let mut w = World::new(64);
    let c = w.build_chain(D1, 1);
    w.pin(D1, 4, c.l4).unwrap();
    crate::mm::teardown::Teardown::new(&w.mm(), D1).run(&mut w.mm());
    w.mm().assign_frame(c.l3, D2);
    assert_eq!(w.info(c.l3).type_count(), 0);
    assert!(!w.info(c.l3).validated() && !w.info(c.l3).pinned());
    let d2 = w.build_chain(D2, 1);
    w.pin(D2, 4, d2.l4).unwrap();
    assert_eq!(w.update(D2, d2.l1, 9, c.l3.to_maddr() | FLAGS), Ok(()), "usable as plain data");
    assert_eq!(w.update(D2, d2.l1, 10, XEN_FRAME.to_maddr() | RO), Err(Errno::EBUSY));
    assert_eq!(w.info(XEN_FRAME).owner(), abi::DomId::XEN);
    let _ = Mfn(0);
    w.check();
}

/// XSA-240: the same-level counters saturate instead of wrapping.
#[test]
fn xsa_240_linear_counters_refuse_to_overflow() {
    let mut w = World::new(64);
    let f = w.give(D1, 3);
    for t in &f {
        w.pin(D1, 2, *t).unwrap();
    }
    let set = |w: &mut World, m: Mfn, v: i16| w.frames[m.0 as usize].set_linear(v);
    // A holder at the maximum may not hold one more.
    set(&mut w, f[0], i16::MAX);
    assert_eq!(w.update(D1, f[0], 1, f[1].to_maddr() | RO), Err(Errno::EINVAL));
    set(&mut w, f[0], i16::MAX - 1);
    assert_eq!(w.update(D1, f[0], 1, f[1].to_maddr() | RO), Ok(()));
    assert_eq!(w.info(f[0]).linear(), i16::MAX);
    assert_eq!(w.update(D1, f[0], 1, 0), Ok(()));
    // A target referenced the most times possible may not be referenced again.
    set(&mut w, f[2], i16::MIN);
    assert_eq!(w.update(D1, f[0], 2, f[2].to_maddr() | RO), Err(Errno::EINVAL));
    set(&mut w, f[2], i16::MIN + 1);
    assert_eq!(w.update(D1, f[0], 2, f[2].to_maddr() | RO), Ok(()));
    assert_eq!(w.info(f[2]).linear(), i16::MIN);
}

/// Type counts saturate at `MAX_COUNT` for every way of taking one: a
/// writable mapping, a lower-level table reference, a same-level (linear)
/// reference and a new base pointer. At `MAX_COUNT - 1` one more fits.
#[test]
fn type_counts_refuse_to_pass_their_maximum() {
    use crate::mm::page_info::MAX_COUNT;
    let mut w = World::new(64);
    let c = w.build_chain(D1, 1);
    w.pin(D1, 4, c.l4).unwrap();
    let other_l4 = w.give(D1, 1)[0];
    w.pin(D1, 4, other_l4).unwrap();
    let set = |w: &mut World, m: Mfn, v: u32| w.frames[m.0 as usize].set_type_count(v);
    type Take<'a> = &'a dyn Fn(&mut World) -> Result<(), Errno>;
    let cases: [(Mfn, Take); 4] = [
        (c.data, &|w| w.update(D1, c.l1, 2, c.data.to_maddr() | FLAGS)),
        (c.l1, &|w| w.update(D1, c.l2, 2, c.l1.to_maddr() | FLAGS)),
        (c.l4, &|w| w.update(D1, other_l4, 2, c.l4.to_maddr() | RO)),
        (c.l4, &|w| w.baseptr(D1, c.l4)),
    ];
    for (i, (target, take)) in cases.iter().enumerate() {
        let old = w.info(*target).type_count();
        set(&mut w, *target, MAX_COUNT);
        assert!(take(&mut w).is_err(), "case {i}: one past the maximum");
        set(&mut w, *target, MAX_COUNT - 1);
        assert_eq!(take(&mut w), Ok(()), "case {i}: up to the maximum");
        assert_eq!(w.info(*target).type_count(), MAX_COUNT, "case {i}");
        set(&mut w, *target, old + 1);
    }
}
