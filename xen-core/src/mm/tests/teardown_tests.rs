//! Domain teardown returns every frame with all counts back at zero.

use super::world::*;
use crate::mm::teardown::Teardown;

#[test]
fn teardown_frees_every_frame_of_a_domain_with_pinned_tables_and_roots() {
    let mut w = World::new(64);
    let c = w.build_chain(D1, 1);
    w.pin(D1, 4, c.l4).unwrap();
    w.baseptr(D1, c.l4).unwrap();
    let extra = w.give(D1, 3);
    w.update(D1, c.l1, 2, extra[0].to_maddr() | FLAGS).unwrap();
    w.update(D1, c.l1, 3, c.l2.to_maddr() | RO).unwrap();
    w.pin(D1, 1, extra[1]).unwrap();
    let other = w.build_chain(D2, 2);
    w.pin(D2, 4, other.l4).unwrap();
    w.check();

    let report = Teardown::new(&w.mm(), D1).run(&mut w.mm());
    assert_eq!(report.frames_freed, 8);
    assert_eq!(report.still_referenced, 0);
    assert_eq!(w.doms[1].tot_pages, 0);
    assert!(w.frames.iter().all(|f| f.owner() != D1));
    assert_eq!(w.hooks.freed.len(), 8);
    w.check();
    // The other domain is untouched.
    assert_eq!(w.doms[2].tot_pages, 5);
    assert!(w.info(other.l4).pinned());
}

#[test]
fn teardown_in_small_steps_gives_the_same_result() {
    let mut w = World::new(64);
    let c = w.build_chain(D1, 7);
    w.pin(D1, 4, c.l4).unwrap();
    let mut t = Teardown::new(&w.mm(), D1);
    let mut steps = 0;
    let report = loop {
        steps += 1;
        if let Some(r) = t.step(&mut w.mm(), 3) {
            break r;
        }
    };
    assert!(steps > 10, "the work was split");
    assert_eq!(report.frames_freed, 5);
    w.check();
}

#[test]
fn frames_mapped_by_a_privileged_domain_survive_teardown_as_zombies() {
    let mut w = World::new(64);
    let c0 = w.build_chain(D0, 1);
    w.pin(D0, 4, c0.l4).unwrap();
    let target = w.give(D1, 1)[0];
    // dom0 maps a dom1 frame through an explicit foreign FD.
    let req = [abi::mmu::MmuUpdate { ptr: c0.l1.to_maddr() + 16, val: target.to_maddr() | RO }];
    assert_eq!(w.mmu_batch(D0, &req, 1).result, Ok(()));
    let report = Teardown::new(&w.mm(), D1).run(&mut w.mm());
    assert_eq!((report.frames_freed, report.still_referenced), (0, 1));
    w.check();
    w.update(D0, c0.l1, 2, 0).unwrap();
    assert_eq!(w.doms[1].tot_pages, 0);
    assert_eq!(w.hooks.freed, vec![target]);
    w.check();
}
