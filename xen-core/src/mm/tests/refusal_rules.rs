//! Refusals name their rule for the debug log (issue 8): two mistakes with
//! the same errno are told apart, a nested failure keeps the innermost
//! rule, and success leaves nothing behind.

use super::world::*;
use abi::{Errno, Mfn};

/// Runs a request that must fail; returns its errno and the rule named.
fn refusal(w: &mut World, f: impl FnOnce(&mut World) -> Result<(), Errno>) -> (Errno, Option<&'static str>) {
    let _ = w.hooks.refusals.take();
    let e = f(w).expect_err("the request must be refused");
    (e, w.hooks.refusals.take().rule)
}

#[test]
fn the_two_ebusy_mistakes_of_an_l1_entry_name_different_rules() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let theirs = w.give(D2, 1)[0];
    let foreign = refusal(&mut w, |w| w.update(D1, c.l1, 3, theirs.to_maddr() | RO));
    let own_table_writable = refusal(&mut w, |w| w.update(D1, c.l1, 3, c.l2.to_maddr() | FLAGS));
    assert_eq!(foreign, (Errno::EBUSY, Some("L1 entry maps a frame the domain does not own")));
    assert_eq!(own_table_writable, (Errno::EBUSY, Some("L1 entry maps a page table or descriptor page writable")));
    w.check();
}

#[test]
fn a_failure_inside_a_nested_validation_reports_the_innermost_rule() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let l1 = w.give(D1, 1)[0];
    let theirs = w.give(D2, 1)[0];
    w.poke(l1, 9, theirs.to_maddr() | FLAGS);
    let r = refusal(&mut w, |w| w.update(D1, c.l2, 3, l1.to_maddr() | FLAGS));
    assert_eq!(r, (Errno::EBUSY, Some("L1 entry maps a frame the domain does not own")));
    let pin = refusal(&mut w, |w| w.pin(D1, 1, l1));
    assert_eq!(pin, (Errno::EBUSY, Some("L1 entry maps a frame the domain does not own")));
}

#[test]
fn einval_rows_of_different_causes_name_different_rules() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let slot = abi::HYPERVISOR_L4_FIRST_SLOT;
    let hv_slot = refusal(&mut w, |w| w.update(D1, c.l4, slot, c.l3.to_maddr() | RO));
    let not_ram = refusal(&mut w, |w| w.update(D1, c.l2, 3, 10_000 << 12 | FLAGS));
    let self_map = refusal(&mut w, |w| w.update(D1, c.l4, 300, c.l4.to_maddr() | FLAGS));
    let pinned_twice = refusal(&mut w, |w| w.pin(D1, 4, c.l4));
    assert_eq!(hv_slot, (Errno::EINVAL, Some("hypervisor L4 slot")));
    assert_eq!(not_ram, (Errno::EINVAL, Some("upper entry maps a frame that is not RAM")));
    assert_eq!(self_map, (Errno::EINVAL, Some("writable self-map")));
    assert_eq!(pinned_twice, (Errno::EINVAL, Some("table already pinned")));
}

#[test]
fn successful_requests_leave_no_rule_behind() {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    w.update(D1, c.l1, 3, c.data.to_maddr() | FLAGS).unwrap();
    w.update(D1, c.l1, 3, 0).unwrap();
    let fresh: Mfn = w.give(D1, 1)[0];
    w.pin(D1, 1, fresh).unwrap();
    assert_eq!(w.hooks.refusals.take(), crate::mm::refusal::Refusal { rule: None, entry: None });
}

proptest::proptest! {
    /// Over random operation sequences: a single request that succeeds
    /// leaves no rule behind (no refusal site fires on a path whose error
    /// is later swallowed), and one the model refuses names its rule.
    #[test]
    fn random_requests_name_a_rule_exactly_when_refused(ops in proptest::collection::vec(super::properties::op(), 1..60)) {
        use super::properties::{apply, world, Op};
        let mut w = world();
        for (step, op) in ops.iter().enumerate() {
            let _ = w.hooks.refusals.take();
            let failed = apply(&mut w, op);
            let rule = w.hooks.refusals.take().rule;
            // Several requests, some of which may fail on purpose.
            if matches!(op, Op::Chain { .. } | Op::Linear { .. }) {
                continue;
            }
            // The balloon's refusals (release, populate) name no rules yet.
            let balloon = matches!(op, Op::Release { .. } | Op::Populate { .. } | Op::Reuse { how: 5.., .. });
            if failed && !balloon {
                proptest::prop_assert!(rule.is_some(), "step {step} {op:?} was refused without a rule");
            } else {
                proptest::prop_assert_eq!(rule, None, "step {} {:?} succeeded", step, op);
            }
        }
    }
}
