//! Dead domains through the hypercall layer (issue 8, F6): what domain 0
//! sees when it names a domain that was torn down or never built.

use super::*;
use crate::mm::teardown::Teardown;
use crate::mm::tests::world::{D0, D1, D2};
use crate::mm::DomainMm;
use abi::hypercall::HypercallNr as N;
use abi::memory::*;
use abi::Errno;

fn errno(e: Errno) -> u64 {
    e.to_rax() as u64
}

#[test]
fn domain_0_naming_a_dead_or_never_built_domain_gets_esrch_or_nothing_done() {
    let mut w = World::new(256);
    w.hooks.pool = (100..200).map(Mfn).collect();
    let _ = w.give(D1, 4);
    let _ = Teardown::new(&w.mm(), D1).run(&mut w.mm());
    w.doms[2] = DomainMm::empty(D2);
    let g = FakeGuest::new(4096);
    let mut out = Sink::default();
    for dead in [D1, D2] {
        g.put(BASE, &dead.0.to_le_bytes());
        for op in [XENMEM_CURRENT_RESERVATION, XENMEM_MAXIMUM_RESERVATION] {
            let (rax, _) = run(&mut w, D0, &g, &mut out, N::MEMORY_OP.0, &[op, BASE]);
            assert_eq!(rax, errno(Errno::ESRCH), "{dead:?} sub-op {op}");
        }
        // increase_reservation of 8 extents with no array, for the dead domain.
        g.put_u64s(BASE + 64, &[0, 8, 0, u64::from(dead.0)]);
        let (rax, _) = run(&mut w, D0, &g, &mut out, N::MEMORY_OP.0, &[XENMEM_INCREASE_RESERVATION, BASE + 64]);
        assert_eq!(rax, 0, "no extent given to {dead:?}");
        // exchange naming it.
        g.put_u64s(BASE + 128, &[BASE + 512, 1, 0, u64::from(dead.0), BASE + 520, 1, 0, u64::from(dead.0), 0]);
        let (rax, _) = run(&mut w, D0, &g, &mut out, N::MEMORY_OP.0, &[XENMEM_EXCHANGE, BASE + 128]);
        assert_eq!(rax, errno(Errno::ESRCH));
        let (rax, _) = run(&mut w, D0, &g, &mut out, N::MMU_UPDATE.0, &[BASE + 512, 1, 0, u64::from(dead.0)]);
        assert_eq!(rax, errno(Errno::ESRCH), "mmu_update foreigndom");
        let (rax, _) = run(&mut w, D0, &g, &mut out, N::MMUEXT_OP.0, &[BASE + 512, 1, 0, u64::from(dead.0)]);
        assert_eq!(rax, errno(Errno::ESRCH), "mmuext_op foreigndom");
    }
    assert_eq!(w.hooks.pool.len(), 100, "no frame was handed out");
    assert_eq!((w.doms[1].given, w.doms[1].returned), (4, 4));
    w.check();
}
