//! The ring server over the memory model: references on the ring page,
//! the line filter, notifications, corrupt rings and the last drain.

use super::*;
use crate::mm::check::{check_invariants_with, NoExternal};
use crate::mm::requests::NoGuestMemory;
use crate::mm::tests::world::{World, D1, D2};
use crate::mm::{PageType, PhysAddr, PhysMemory};
use abi::console::{out_slot, OUT_CONS_OFFSET, OUT_OFFSET, OUT_PROD_OFFSET};
use abi::mmu::{MmuextOp, MMUEXT_PIN_L1_TABLE};

const PORT: u32 = 1;

/// The guest side, by raw writes to the page (as a guest's mapping does).
fn produce(w: &mut World, ring: Mfn, bytes: &[u8]) {
    let prod = w.mem.read_u64(PhysAddr(ring.to_maddr() + OUT_CONS_OFFSET as u64)) >> 32;
    for (i, &b) in bytes.iter().enumerate() {
        let slot = out_slot(prod as u32 + i as u32);
        w.mem.write_bytes(PhysAddr(ring.to_maddr() + (OUT_OFFSET + slot) as u64), &[b]);
    }
    let new = (prod as u32).wrapping_add(bytes.len() as u32);
    w.mem.write_bytes(PhysAddr(ring.to_maddr() + OUT_PROD_OFFSET as u64), &new.to_le_bytes());
}

fn set_indices(w: &mut World, ring: Mfn, cons: u32, prod: u32) {
    let v = u64::from(cons) | u64::from(prod) << 32;
    w.mem.write_u64(PhysAddr(ring.to_maddr() + OUT_CONS_OFFSET as u64), v);
}

/// What reached the serial console, lines joined.
fn printed(out: &[Vec<u8>]) -> String {
    out.iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect()
}

fn setup() -> (World, ConsoleRings, Mfn) {
    let mut w = World::new(64);
    let ring = w.give(D1, 1)[0];
    let mut rings = ConsoleRings::new();
    assert!(rings.attach(&mut w.mm(), D1, ring, PORT));
    (w, rings, ring)
}

#[test]
fn the_ring_page_is_held_writable_so_it_cannot_become_a_page_table_or_be_freed() {
    let (mut w, mut rings, ring) = setup();
    let info = w.info(ring);
    assert_eq!((info.count(), info.page_type(), info.type_count()), (2, PageType::Writable, 1));
    check_invariants_with(&w.mm(), &WithRings(&NoExternal, &rings)).unwrap();
    // Pinning it as an L1 needs the type: refused while the hypervisor holds it.
    let pin = MmuextOp { cmd: MMUEXT_PIN_L1_TABLE, pad: 0, arg1: ring.0, arg2: 0 };
    assert!(w.mm().mmuext_one(D1, D1, pin, &mut NoGuestMemory).is_err());
    // Given back, it stays allocated until the ring lets go of it.
    w.mm().release_frame(D1, ring).unwrap();
    assert_eq!(w.info(ring).count(), 1, "the ring's reference keeps the frame");
    let mut out = Vec::new();
    rings.detach(&mut w.mm(), D1, &mut |l| out.push(l.to_vec()));
    assert_eq!(w.info(ring).count(), 0);
    assert!(rings.get(D1).is_none());
    check_invariants_with(&w.mm(), &WithRings(&NoExternal, &rings)).unwrap();
}

#[test]
fn a_frame_the_domain_does_not_own_or_a_second_ring_is_refused() {
    let (mut w, mut rings, ring) = setup();
    let other = w.give(D2, 1)[0];
    assert!(!rings.attach(&mut w.mm(), D1, other, 2), "a second ring for one domain");
    assert!(!rings.attach(&mut w.mm(), D2, ring, 2), "another domain's frame");
    assert!(!rings.attach(&mut w.mm(), D2, Mfn(1 << 40), 2), "not RAM");
    assert_eq!(w.info(other).count(), 1);
    assert!(rings.get(D2).is_none());
}

#[test]
fn a_notification_on_the_console_port_prints_whole_filtered_lines() {
    let (mut w, mut rings, ring) = setup();
    produce(&mut w, ring, b"hello\r\n\x1b[1mbold\x07 and\ttab\npart");
    let mut out = Vec::new();
    assert_eq!(rings.notified(&mut w.mm(), D1, PORT, &mut |l| out.push(l.to_vec())), Event::Quiet);
    assert_eq!(printed(&out), "hello\n[1mbold and\ttab\n");
    // The partial line waits for its end.
    out.clear();
    produce(&mut w, ring, b"ial\n");
    rings.notified(&mut w.mm(), D1, PORT, &mut |l| out.push(l.to_vec()));
    assert_eq!(printed(&out), "partial\n");
    let r = rings.get(D1).unwrap();
    assert_eq!((r.bytes, r.drains), (33, 2));
}

#[test]
fn other_ports_and_other_domains_do_not_drain_the_ring() {
    let (mut w, mut rings, ring) = setup();
    produce(&mut w, ring, b"x\n");
    let mut out = Vec::new();
    rings.notified(&mut w.mm(), D1, PORT + 1, &mut |l| out.push(l.to_vec()));
    rings.notified(&mut w.mm(), D2, PORT, &mut |l| out.push(l.to_vec()));
    assert!(out.is_empty());
    // The poll finds it.
    for d in rings.attached().collect::<Vec<_>>() {
        rings.drain(&mut w.mm(), d, &mut |l| out.push(l.to_vec()));
    }
    assert_eq!(printed(&out), "x\n");
}

#[test]
fn a_line_of_300_characters_is_printed_whole() {
    // Regression: lines used to be cut at 127 characters, mid-word.
    let (mut w, mut rings, ring) = setup();
    let mut text = vec![b'a'; 300];
    text.push(b'\n');
    produce(&mut w, ring, &text);
    let mut out = Vec::new();
    rings.drain(&mut w.mm(), D1, &mut |l| out.push(l.to_vec()));
    assert_eq!(printed(&out), String::from_utf8(text).unwrap());
}

#[test]
fn a_line_longer_than_line_max_breaks_there_and_the_rest_comes_out_at_death() {
    let (mut w, mut rings, ring) = setup();
    produce(&mut w, ring, &[b'a'; LINE_MAX + 88]);
    let mut out = Vec::new();
    rings.drain(&mut w.mm(), D1, &mut |l| out.push(l.to_vec()));
    let lines: Vec<_> = out.iter().filter(|l| l.as_slice() != b"\n").map(|l| l.len()).collect();
    assert_eq!(lines, [LINE_MAX]);
    let mut last = Vec::new();
    rings.detach(&mut w.mm(), D1, &mut |l| last.push(l.to_vec()));
    assert_eq!(printed(&last), format!("{}\n", "a".repeat(88)), "the rest comes out at the end");
}

#[test]
fn corrupt_indices_are_reported_once_per_episode_and_leave_the_domain_served() {
    let (mut w, mut rings, ring) = setup();
    let mut out = Vec::new();
    set_indices(&mut w, ring, 10, 10 + 5000);
    assert_eq!(rings.drain(&mut w.mm(), D1, &mut |l| out.push(l.to_vec())), Event::BecameCorrupt(5000));
    assert_eq!(rings.drain(&mut w.mm(), D1, &mut |l| out.push(l.to_vec())), Event::Quiet, "logged once");
    set_indices(&mut w, ring, 7, 3);
    assert_eq!(rings.drain(&mut w.mm(), D1, &mut |l| out.push(l.to_vec())), Event::Quiet, "still the same episode");
    assert!(out.is_empty());
    set_indices(&mut w, ring, 3, 3);
    produce(&mut w, ring, b"fine\n");
    assert_eq!(rings.drain(&mut w.mm(), D1, &mut |l| out.push(l.to_vec())), Event::Quiet);
    assert_eq!(printed(&out), "fine\n");
    set_indices(&mut w, ring, 0, u32::MAX);
    assert_eq!(rings.drain(&mut w.mm(), D1, &mut |l| out.push(l.to_vec())), Event::BecameCorrupt(u32::MAX));
    // Detaching with corrupt indices still lets go of the page.
    rings.detach(&mut w.mm(), D1, &mut |l| out.push(l.to_vec()));
    assert_eq!(w.info(ring).count(), 1);
}

#[test]
fn random_hostile_index_sequences_never_take_more_than_a_ring_and_keep_the_references_right() {
    // xorshift: deterministic, no dependency.
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for _ in 0..200 {
        let (mut w, mut rings, ring) = setup();
        for _ in 0..50 {
            let r = next();
            let cons = r as u32;
            let prod = match r >> 62 {
                0 => cons.wrapping_add((r >> 32) as u32 % 2049),
                1 => cons.wrapping_add((r >> 32) as u32),
                2 => cons.wrapping_sub(1),
                _ => (r >> 32) as u32,
            };
            set_indices(&mut w, ring, cons, prod);
            let mut taken = 0usize;
            rings.drain(&mut w.mm(), D1, &mut |l| taken += l.len());
            let waiting = prod.wrapping_sub(cons) as usize;
            assert!(taken <= waiting.min(2048) + LINE_MAX + 2048 / LINE_MAX + 1);
            let (c, p) = {
                let v = w.mem.read_u64(PhysAddr(ring.to_maddr() + OUT_CONS_OFFSET as u64));
                (v as u32, (v >> 32) as u32)
            };
            assert_eq!(p, prod, "out_prod is never written");
            assert_eq!(c, if waiting <= 2048 { prod } else { cons }, "out_cons catches up or stays");
        }
        check_invariants_with(&w.mm(), &WithRings(&NoExternal, &rings)).unwrap();
        rings.detach(&mut w.mm(), D1, &mut |_| {});
        assert_eq!(w.info(ring).count(), 1);
    }
}
