//! Hypercall numbers without a handler: the entries answer them from
//! [`crate::hypercall::implemented`] before building a `Call`, so that
//! table must name exactly the numbers the dispatcher handles.

use super::*;
use crate::hypercall::{implemented, refusal_log::refuse, IMPLEMENTED};
use crate::mm::refusal::{Refusal, Refusals};
use crate::mm::tests::world::D1;
use abi::Errno;

#[test]
fn every_number_outside_the_table_answers_enosys_through_the_dispatcher_too() {
    let g = FakeGuest::new(4096);
    for nr in 0..300u64 {
        if implemented(nr) {
            continue;
        }
        let mut w = World::new(64);
        let mut ctx = regs(nr, &[BASE, 1, 0, 0, 0]);
        assert_eq!(enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx), Action::Continue, "hypercall {nr}");
        assert_eq!(ctx.gpr[reg::RAX] as i64, Errno::ENOSYS.to_rax(), "hypercall {nr}");
    }
}

#[test]
fn every_number_in_the_table_reaches_a_handler() {
    // The dispatcher's fallback asserts (in debug builds) that it never
    // sees a number of the table: each one is dispatched once here.
    let g = FakeGuest::new(4096);
    for nr in IMPLEMENTED {
        assert!(implemented(nr.0), "{nr:?}");
        let mut w = World::new(64);
        let mut ctx = regs(nr.0, &[0, 0, 0, 0, 0]);
        let _ = enter(&mut w, D1, &g, &mut Sink::default(), &mut ctx);
    }
    assert_eq!((0..64).filter(|&nr| implemented(nr)).count(), IMPLEMENTED.len(), "no duplicates");
    assert!(!implemented(64) && !implemented(127) && !implemented(u64::MAX));
}

#[test]
fn a_refusal_below_debug_level_clears_what_was_noted() {
    let r = Refusals::new();
    r.note_rule("a rule of an earlier call");
    r.note_entry(7);
    assert_eq!(refuse(Some(&r), D1, 11, Errno::ENOSYS) as i64, Errno::ENOSYS.to_rax());
    assert_eq!(r.take(), Refusal { rule: None, entry: None }, "nothing is left for the next refusal");
    assert_eq!(refuse(None, D1, 11, Errno::ENOSYS) as i64, Errno::ENOSYS.to_rax());
}
