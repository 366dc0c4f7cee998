//! set_gdt: descriptor-page typing of GDT frames, refusals that change
//! nothing, and release on replacement and teardown.

use super::world::*;
use abi::{Errno, Mfn};

#[test]
fn set_gdt_types_its_frames_as_descriptor_pages_and_releases_the_old_ones() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let f = w.give(D1, 2);
    assert_eq!(w.mm().set_gdt(D1, &[f[0]], 16), Ok(()));
    assert_eq!((w.info(f[0]).page_type(), w.info(f[0]).type_count()), (crate::mm::PageType::SegDesc, 1));
    w.check();
    refused(&mut w, Errno::EBUSY, |w| w.update(D1, c.l1, 5, f[0].to_maddr() | FLAGS));
    refused(&mut w, Errno::EINVAL, |w| w.update(D1, f[0], 1, 0x00CF_F200_0000_FFFF));
    assert_eq!(w.mm().set_gdt(D1, &[f[1]], 600), Err(Errno::EINVAL), "600 entries need two frames");
    assert_eq!(w.mm().set_gdt(D1, &[f[1]], 16), Ok(()));
    assert_eq!(w.info(f[0]).type_count(), 0, "the old frame is released");
    assert_eq!(w.update(D1, c.l1, 5, f[0].to_maddr() | FLAGS), Ok(()));
    w.check();
}

#[test]
fn set_gdt_refuses_bad_frames_and_descriptors_and_changes_nothing() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let f = w.give(D1, 2);
    let theirs = w.give(D2, 1)[0];
    w.poke(f[1], 7, 0x0000_8900_0000_0067);
    for (frames, entries) in [
        (vec![theirs], 16),
        (vec![c.data], 16),
        (vec![c.l2], 16),
        (vec![Mfn(9999)], 16),
        (vec![f[0], f[1]], 1000),
        (vec![f[0]], 7169),
    ] {
        let before = w.snapshot();
        assert_eq!(w.mm().set_gdt(D1, &frames, entries), Err(Errno::EINVAL), "{frames:?} {entries}");
        assert!(w.snapshot() == before, "{frames:?}");
    }
    w.check();
}

#[test]
fn teardown_releases_gdt_frames() {
    let mut w = World::new(64);
    let f = w.give(D1, 1);
    w.mm().set_gdt(D1, &f, 512).unwrap();
    let report = crate::mm::teardown::Teardown::new(&w.mm(), D1).run(&mut w.mm());
    assert_eq!((report.frames_freed, report.still_referenced), (1, 0));
    w.check();
}
