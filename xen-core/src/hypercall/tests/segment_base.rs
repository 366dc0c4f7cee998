//! `set_segment_base` through the hypercall layer: the decision reaches
//! the hardware in the same hypercall (before issue 9 it was only stored).

use super::*;
use crate::domain::guest_segs::SegLoad;
use crate::mm::tests::world::D0;
use abi::hypercall::HypercallNr as N;
use abi::Errno;

#[test]
fn set_segment_base_loads_the_hardware_in_the_same_hypercall() {
    let mut w = World::new(64);
    let g = FakeGuest::new(4096);
    let mut out = Sink::default();
    for (which, base, load) in [
        (0, 0x1000, SegLoad::Fs(0x1000)),
        (1, 0x2000, SegLoad::ShadowGs(0x2000)),
        (2, 0x3000, SegLoad::ActiveGs(0x3000)),
        (3, 0xE02B, SegLoad::UserGsSelector { selector: 0xE02B, base: 0 }),
    ] {
        let (rax, _) = run(&mut w, D0, &g, &mut out, N::SET_SEGMENT_BASE.0, &[which, base]);
        assert_eq!(rax, 0, "sub-op {which}");
        assert_eq!(g.segment_loads.borrow().last(), Some(&load), "sub-op {which}");
    }
    let (rax, _) = run(&mut w, D0, &g, &mut out, N::SET_SEGMENT_BASE.0, &[0, 1 << 47]);
    assert_eq!(rax, Errno::EINVAL.to_rax() as u64);
    assert_eq!(g.segment_loads.borrow().len(), 4, "a refused base loads nothing");
}
