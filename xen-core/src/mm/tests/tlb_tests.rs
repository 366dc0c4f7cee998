//! TLB coherence (fact sheet §10) with the simulated TLB: the attacks F1
//! and F2 of issue 8, the flush points one by one, and the checker's TLB
//! rules.

use super::world::*;
use crate::mm::check::{check_tlb, CachedTranslation};
use crate::mm::requests::NoGuestMemory;
use crate::mm::reservation::{ExtentArray, Reservation};
use crate::mm::test_modes::{plant, Fault};
use abi::mmu::pte::*;
use abi::{DomId, Errno, Mfn};

struct Array(Vec<u64>);

impl ExtentArray for Array {
    fn read(&mut self, i: u64) -> Result<u64, Errno> {
        self.0.get(i as usize).copied().ok_or(Errno::EFAULT)
    }
    fn write(&mut self, i: u64, v: u64) -> Result<(), Errno> {
        *self.0.get_mut(i as usize).ok_or(Errno::EFAULT)? = v;
        Ok(())
    }
}

const ONE: Reservation = Reservation { nr_extents: 1, extent_order: 0, start: 0 };
/// A DPL-3 call gate to 0xE008:0x1000 (what F2 writes).
const CALL_GATE: u64 = 0x0000_EC00_E008_1000;

/// D1 with a pinned chain mapping its frame F writable at `va(1)`, D2 with
/// a victim frame; the CPU has cached the translation of `va(1)` and the
/// guest has written through it.
fn attacker() -> (World, Chain, Mfn) {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let victim = w.give(D2, 1)[0];
    w.baseptr(D1, c.l4).unwrap();
    w.exit();
    w.touch(D1, &[Chain::va(1)]);
    assert!(w.write_through_tlb(D1, Chain::va(1), 0, 0x1234));
    w.check();
    (w, c, victim)
}

/// F1, steps 2–6: unmap without a flush, balloon the frame out and back
/// in (the allocator is LIFO), pin it as an L1, write PTEs through the old
/// translation, hook it under an L2. Returns whether the stale write hit,
/// and what the TLB checker said just after it.
fn f1(w: &mut World, c: Chain, victim: Mfn) -> (bool, Result<(), String>) {
    let f = c.data;
    w.uvm(D1, Chain::va(1), 0, 0, &mut NoGuestMemory).unwrap();
    w.exit();
    assert_eq!(w.mm().decrease_reservation(D1, ONE, &mut Array(vec![f.0])).done, 1);
    w.exit();
    w.hooks.pool.insert(0, f);
    let mut back = Array(vec![7]);
    assert_eq!(w.mm().populate_physmap(D1, ONE, &mut back).done, 1);
    assert_eq!(back.0[0], f.0, "the allocator hands the frame back");
    w.exit();
    w.pin(D1, 1, f).unwrap();
    w.exit();
    let hit = w.write_through_tlb(D1, Chain::va(1), 5, victim.to_maddr() | FLAGS);
    let tlb = w.hooks.tlb.entries.clone();
    let verdict = check_tlb(&w.mm(), &tlb);
    let _ = w.update(D1, c.l2, 2, f.to_maddr() | FLAGS);
    w.exit();
    (hit, verdict)
}

#[test]
fn stale_writable_translation_cannot_make_a_reallocated_frame_a_page_table() {
    let (mut w, c, victim) = attacker();
    assert_eq!(f1(&mut w, c, victim), (false, Ok(())), "the translation is flushed before the frame is freed");
    assert_eq!(w.read(c.data, 5), 0);
    w.check();
    // Mapped through the new L2 entry, the pinned L1 maps nothing of D2.
    assert!(!w.frames.iter().any(|f| f.owner() == D2 && f.count() > 1));
}

#[test]
fn without_the_flushes_f1_writes_a_validated_l1_and_the_checker_says_so() {
    let (mut w, c, victim) = attacker();
    plant(&[Fault::NoFreeFlush, Fault::NoTypeChangeFlush]);
    let (hit, verdict) = f1(&mut w, c, victim);
    plant(&[]);
    assert!(hit, "the planted break lets the stale write through");
    assert_eq!(w.read(c.data, 5), victim.to_maddr() | FLAGS);
    let e = verdict.unwrap_err();
    assert!(e.contains("survived the frame being freed"), "{e}");
    assert!(crate::mm::check::check_invariants(&w.mm()).is_err(), "a validated L1 changed behind the model's back");
}

/// F2: unmap without a flush, make the frame a GDT frame, write a DPL-3
/// call gate through the old translation, load it again.
fn f2(w: &mut World, c: Chain) -> bool {
    w.uvm(D1, Chain::va(1), 0, 0, &mut NoGuestMemory).unwrap();
    w.exit();
    w.mm().set_gdt(D1, &[c.data], 16).unwrap();
    w.exit();
    let hit = w.write_through_tlb(D1, Chain::va(1), 2, CALL_GATE);
    w.mm().set_gdt(D1, &[c.data], 16).unwrap();
    w.exit();
    hit
}

#[test]
fn stale_writable_translation_cannot_write_a_descriptor_page() {
    let (mut w, c, _) = attacker();
    assert!(!f2(&mut w, c), "the translation is flushed before the frame becomes a descriptor page");
    assert_eq!(w.read(c.data, 2), 0);
    w.check();
}

#[test]
fn without_the_flush_f2_plants_a_call_gate_and_the_checker_says_so() {
    let (mut w, c, _) = attacker();
    plant(&[Fault::NoTypeChangeFlush]);
    let hit = f2(&mut w, c);
    plant(&[]);
    assert!(hit);
    assert_eq!(w.read(c.data, 2), CALL_GATE);
    let e = w.check_all().unwrap_err();
    assert!(e.contains("SegDesc"), "{e}");
}

#[test]
fn a_frame_is_flushed_for_only_when_a_translation_may_remain_since_the_last_flush() {
    let (mut w, c, _) = attacker();
    let other = w.give(D1, 1)[0];
    w.pin(D1, 1, other).unwrap();
    assert_eq!(w.hooks.now_flushes, 0, "never mapped: nothing to flush");
    w.uvm(D1, Chain::va(1), 0, abi::mmu::UVMF_TLB_FLUSH, &mut NoGuestMemory).unwrap();
    w.exit();
    w.pin(D1, 1, c.data).unwrap();
    assert_eq!(w.hooks.now_flushes, 0, "the guest's own flush came after the unmapping");
    w.check();
}

#[test]
fn invlpg_and_cr3_reloads_do_not_move_the_flush_clock() {
    let (mut w, c, _) = attacker();
    let time = w.clock.time();
    w.uvm(D1, Chain::va(1), 0, abi::mmu::UVMF_INVLPG, &mut NoGuestMemory).unwrap();
    w.baseptr(D1, c.l4).unwrap();
    w.exit();
    assert_eq!(w.clock.time(), time);
    assert!(w.hooks.tlb.entries.is_empty(), "INVLPG removed the global entry");
    // Other addresses cached before may remain, so the pin still flushes.
    w.pin(D1, 1, c.data).unwrap();
    assert_eq!(w.hooks.now_flushes, 1);
}

#[test]
fn guest_user_mappings_are_global_and_survive_a_cr3_reload() {
    let (mut w, c, _) = attacker();
    assert!(w.hooks.tlb.entries[0].global, "user mappings are made global (§3.5)");
    w.baseptr(D1, c.l4).unwrap();
    w.exit();
    assert_eq!(w.hooks.tlb.entries.len(), 1, "a CR3 reload keeps global entries");
}

#[test]
fn unpin_then_pin_after_a_writable_mapping_flushes_before_revalidating() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let t = w.give(D1, 1)[0];
    w.baseptr(D1, c.l4).unwrap();
    w.exit();
    w.pin(D1, 1, t).unwrap();
    w.unpin(D1, t).unwrap();
    w.update(D1, c.l1, 3, t.to_maddr() | FLAGS).unwrap();
    w.touch(D1, &[Chain::va(1) - (1 << 12) + (3 << 12)]);
    w.update(D1, c.l1, 3, 0).unwrap();
    w.exit();
    assert_eq!(w.hooks.tlb.entries.len(), 1, "the writable translation of t is stale now");
    w.pin(D1, 1, t).unwrap();
    assert_eq!(w.hooks.now_flushes, 1);
    assert!(w.hooks.tlb.entries.is_empty());
    w.check();
}

#[test]
fn a_frame_still_mapped_when_ballooned_out_is_flushed_for_when_its_last_mapping_goes() {
    let (mut w, c, _) = attacker();
    assert_eq!(w.mm().decrease_reservation(D1, ONE, &mut Array(vec![c.data.0])).done, 1);
    assert_eq!(w.hooks.now_flushes, 0, "still mapped: not freed yet");
    w.uvm(D1, Chain::va(1), 0, 0, &mut NoGuestMemory).unwrap();
    assert_eq!(w.hooks.freed, vec![c.data]);
    assert_eq!(w.hooks.now_flushes, 1, "flushed before it went back to the allocator");
    w.check();
}

#[test]
fn teardown_flushes_once_before_freeing_a_domain_whose_tables_were_loaded() {
    let (mut w, _, _) = attacker();
    crate::mm::teardown::Teardown::new(&w.mm(), D1).run(&mut w.mm());
    assert_eq!(w.hooks.now_flushes, 1);
    w.check();
}

fn translation(mfn: Mfn, writable: bool, owner: DomId) -> CachedTranslation {
    CachedTranslation { dom: D1, va: 0x1000, mfn, writable, global: true, owner, outlived_frame: false }
}

#[test]
fn the_checker_refuses_writable_translations_of_tables_and_any_of_free_or_reassigned_frames() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let free = Mfn(40);
    let theirs = w.give(D2, 1)[0];
    let ok = [translation(c.data, true, D1), translation(c.l1, false, D1), translation(Mfn(1000), true, DomId::IO)];
    assert_eq!(check_tlb(&w.mm(), &ok), Ok(()));
    for bad in [
        translation(c.l1, true, D1),
        translation(c.l4, true, D1),
        translation(free, false, DomId::INVALID),
        translation(theirs, false, D1),
        CachedTranslation { outlived_frame: true, ..translation(c.data, false, D1) },
    ] {
        assert!(check_tlb(&w.mm(), &[bad]).is_err(), "{bad:?} passed");
    }
    let g = w.give(D1, 1)[0];
    w.mm().set_gdt(D1, &[g], 1).unwrap();
    let gdt = w.doms[1].gdt[0];
    assert!(check_tlb(&w.mm(), &[translation(gdt, true, D1)]).is_err());
}

#[test]
fn the_accessed_bit_the_cpu_sets_in_a_hypervisor_l4_slot_is_not_a_violation() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let slot = abi::HYPERVISOR_L4_FIRST_SLOT;
    let e = w.read(c.l4, slot);
    w.poke(c.l4, slot, e | ACCESSED);
    w.check();
    w.poke(c.l4, slot, e ^ RW);
    assert!(w.check_all().is_err(), "other changes still are");
}

#[test]
fn a_frame_exchanged_away_with_a_stale_translation_is_flushed_for_before_it_is_freed() {
    use crate::mm::exchange::{Exchange, ExchangeArrays, ExchangeSide};
    let (mut w, c, _) = attacker();
    w.uvm(D1, Chain::va(1), 0, 0, &mut NoGuestMemory).unwrap();
    w.exit();
    w.hooks.pool = vec![Mfn(50)];
    let side =
        |extent_start| ExchangeSide { extent_start, nr_extents: 1, extent_order: 0, mem_flags: 0, domid: DomId::SELF };
    let x = Exchange { input: side(0x1000), output: side(0x2000), nr_exchanged: 0 };
    let (mut input, mut output) = (Array(vec![c.data.0]), Array(vec![1000]));
    let done = w.mm().exchange(D1, &x, &mut ExchangeArrays { input: &mut input, output: &mut output });
    assert_eq!(done.result, Ok(()));
    assert_eq!(w.hooks.freed, vec![c.data]);
    assert_eq!(w.hooks.now_flushes, 1, "the stale translation went before the frame did");
    w.check();
}
