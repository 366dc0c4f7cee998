//! The worked example of fact sheet §7.3, step by step, checking every count.

use super::world::*;
use crate::mm::PageType;
use abi::mmu::pte::*;
use abi::Errno;

#[test]
fn guest_builds_pins_loads_and_tears_down_a_four_level_table() {
    let mut w = World::new(64);
    let f = w.give(D1, 7);
    let (a, b, c, d, x, m, d2) = (f[0], f[1], f[2], f[3], f[4], f[5], f[6]);
    let (h, i, j, k) = (3usize, 4usize, 5usize, 6usize);

    // The guest's direct map: L1 `m` maps A..D writable (slots 0..3).
    for (slot, t) in [a, b, c, d].into_iter().enumerate() {
        w.poke(m, slot, t.to_maddr() | FLAGS);
    }
    w.pin(D1, 1, m).unwrap();
    for t in [a, b, c, d] {
        assert_eq!((w.info(t).page_type(), w.info(t).type_count()), (PageType::Writable, 1));
    }

    // Step 1: contents written while the frames are writable.
    w.update(D1, d, k, x.to_maddr() | FLAGS).unwrap();
    w.update(D1, c, j, d.to_maddr() | FLAGS).unwrap();
    w.update(D1, b, i, c.to_maddr() | FLAGS).unwrap();
    w.update(D1, a, h, b.to_maddr() | FLAGS).unwrap();
    w.update(D1, a, 260, 0xdead_0000_0003).unwrap();

    // Step 2: drop the RW mappings of A, B, C; while D stays RW the pin fails.
    for (slot, t) in [a, b, c].into_iter().enumerate() {
        w.update(D1, m, slot, t.to_maddr() | RO).unwrap();
        assert_eq!(w.info(t).type_count(), 0);
    }
    let before = w.snapshot();
    assert_eq!(w.pin(D1, 4, a), Err(Errno::EINVAL));
    assert!(w.snapshot().same_modulo_adjustments(&before), "failed pin left traces");
    w.update(D1, m, 3, d.to_maddr() | RO).unwrap();
    w.check();

    // Step 3: pin A; the whole tree is validated.
    w.pin(D1, 4, a).unwrap();
    w.check();
    let types: Vec<_> = [a, b, c, d, x].iter().map(|&t| (w.info(t).page_type(), w.info(t).type_count())).collect();
    assert_eq!(
        types,
        vec![(PageType::L4, 1), (PageType::L3, 1), (PageType::L2, 1), (PageType::L1, 1), (PageType::Writable, 1)]
    );
    // General: allocation + referencing entry (or pin) + the RO mapping in `m`.
    for t in [a, b, c, d] {
        assert_eq!(w.info(t).count(), 3, "{t:?}");
        assert!(w.info(t).validated());
    }
    assert_eq!(w.info(x).count(), 2);
    assert!(w.info(a).pinned());
    assert_eq!(w.read(d, k), x.to_maddr() | FLAGS | GLOBAL, "user mappings are made global");
    assert_eq!(w.read(a, 260), w.template[4], "hypervisor slots are overwritten");

    // Step 4: load it.
    w.baseptr(D1, a).unwrap();
    assert_eq!((w.info(a).type_count(), w.info(a).count()), (2, 4));
    assert_eq!(w.hooks.root_changes, 1);

    // Step 5: RO mapping of A is fine, RW is -EBUSY; replacing C[j]
    // devalidates the old L1 and releases X.
    assert_eq!(w.update(D1, m, 0, a.to_maddr() | FLAGS), Err(Errno::EBUSY));
    w.update(D1, c, j, d2.to_maddr() | FLAGS).unwrap();
    assert_eq!(w.info(d).type_count(), 0);
    assert!(!w.info(d).validated());
    assert_eq!((w.info(x).type_count(), w.info(x).count()), (0, 1));
    assert_eq!(w.info(d2).page_type(), PageType::L1);
    w.check();

    // Step 6: switch away, unpin, and everything is untyped again.
    let e = w.give(D1, 1)[0];
    w.baseptr(D1, e).unwrap();
    w.unpin(D1, a).unwrap();
    for t in [a, b, c, d2] {
        assert_eq!(w.info(t).type_count(), 0, "{t:?}");
        assert_eq!(w.info(t).count(), if t == d2 { 1 } else { 2 });
    }
    for (slot, t) in [a, b, c, d].into_iter().enumerate() {
        w.update(D1, m, slot, t.to_maddr() | FLAGS).unwrap();
    }
    w.check();
}
