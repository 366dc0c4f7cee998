//! The 2-level ABI's bits, set and cleared in Xen's order (platform §2.3).

use super::*;

const D0: DomId = DomId(0);
const D1: DomId = DomId(1);
const SELF: DomId = DomId::SELF;

#[test]
fn a_send_sets_pending_then_selector_then_upcall_pending_and_kicks_once() {
    let (mut ev, mut env) = world(1);
    let p = ev.bind_ipi(D0, 0).unwrap();
    ev.send(&mut env, D0, p).unwrap();
    assert!(env.pending(0, p));
    assert_eq!(env.vcpu_info(0), (1, 0, 1), "selector bit 0 and upcall_pending");
    assert_eq!(ev.take_kicks(), 1);
    assert_eq!(ev.take_port_kicks(), 1);
    ev.send(&mut env, D0, p).unwrap();
    assert_eq!(ev.take_kicks(), 0, "already pending: nothing more");
    assert_eq!(ev.take_port_kicks(), 0, "already pending: pollers not woken");
}

#[test]
fn a_port_in_word_1_sets_selector_bit_1() {
    let (mut ev, mut env) = world(1);
    for _ in 0..64 {
        ev.bind_ipi(D0, 0).unwrap();
    }
    ev.send(&mut env, D0, 64).unwrap();
    assert_eq!(env.vcpu_info(0).2, 2);
}

#[test]
fn a_masked_port_is_pending_but_raises_nothing_until_unmasked() {
    let (mut ev, mut env) = world(1);
    let p = ev.bind_ipi(D0, 0).unwrap();
    env.mask(0, p, true);
    ev.send(&mut env, D0, p).unwrap();
    assert!(env.pending(0, p));
    assert_eq!(env.vcpu_info(0), (0, 0, 0));
    assert_eq!(ev.take_kicks(), 0);
    assert_eq!(ev.take_port_kicks(), 1, "pollers see masked ports");
    ev.unmask(&mut env, D0, p).unwrap();
    assert!(!env.masked(0, p));
    assert_eq!(env.vcpu_info(0), (1, 0, 1));
    assert_eq!(ev.take_kicks(), 1);
}

#[test]
fn unmasking_an_unmasked_pending_port_raises_nothing() {
    let (mut ev, mut env) = world(1);
    let p = ev.bind_ipi(D0, 0).unwrap();
    ev.send(&mut env, D0, p).unwrap();
    // The guest consumed the selector and upcall flag but left the port pending.
    env.mem.insert(si(0).to_maddr(), 0);
    env.mem.insert(si(0).to_maddr() + 8, 0);
    ev.unmask(&mut env, D0, p).unwrap();
    assert_eq!(env.vcpu_info(0), (0, 0, 0));
}

#[test]
fn an_unmask_with_the_selector_already_set_does_not_mark_again() {
    let (mut ev, mut env) = world(1);
    let p = ev.bind_ipi(D0, 0).unwrap();
    env.mask(0, p, true);
    ev.send(&mut env, D0, p).unwrap();
    env.set_bit(si(0), 8, 0, true);
    ev.unmask(&mut env, D0, p).unwrap();
    assert_eq!(env.vcpu_info(0).0, 0);
}

#[test]
fn upcall_pending_already_set_is_no_new_kick() {
    let (mut ev, mut env) = world(1);
    env.set_upcall(0, 1, 1);
    let p = ev.bind_ipi(D0, 0).unwrap();
    ev.send(&mut env, D0, p).unwrap();
    assert_eq!(ev.take_kicks(), 0);
    assert!(ev.upcall_pending(&env, D0));
    assert!(!ev.upcall_deliverable(&env, D0), "masked");
    env.set_upcall(0, 1, 0);
    assert!(ev.upcall_deliverable(&env, D0));
}

#[test]
fn interdomain_send_reaches_the_peer_only() {
    let (mut ev, mut env) = world(2);
    let u = ev.alloc_unbound(D1, SELF, D0).unwrap();
    let l = ev.bind_interdomain(&mut env, D0, D1, u).unwrap();
    let _ = ev.take_kicks();
    env.mem.clear();
    env.writes.clear();
    ev.send(&mut env, D0, l).unwrap();
    assert!(env.pending(1, u) && !env.pending(0, l));
    assert_eq!(ev.take_kicks(), 2, "domain 1 kicked");
    assert!(env.writes.iter().all(|&a| a >> 12 == si(1).0), "only domain 1's shared_info written");
}

#[test]
fn send_virq_reaches_a_bound_virq_and_reports_it_pending() {
    let (mut ev, mut env) = world(2);
    assert!(!ev.send_virq(&mut env, D1, abi::event_channel::virq::TIMER), "not bound");
    let p = ev.bind_virq(D1, abi::event_channel::virq::TIMER, 0).unwrap();
    assert!(ev.send_virq(&mut env, D1, abi::event_channel::virq::TIMER));
    assert!(env.pending(1, p));
    let c = ev.bind_virq(D0, abi::event_channel::virq::DOM_EXC, 0).unwrap();
    assert!(ev.send_global_virq(&mut env, abi::event_channel::virq::DOM_EXC));
    assert!(env.pending(0, c));
    assert_eq!(ev.port_pending(&env, D0, c), Ok(true));
    assert_eq!(ev.port_pending(&env, D0, 40), Err(abi::Errno::EINVAL));
}

#[test]
fn a_moved_vcpu_info_gets_the_selector_and_upcall_pending() {
    let (mut ev, mut env) = world(1);
    let moved = PhysAddr(Mfn(frame(0, 5)).to_maddr() + 64);
    ev.set_vcpu_info(D0, moved);
    let p = ev.bind_ipi(D0, 0).unwrap();
    ev.send(&mut env, D0, p).unwrap();
    assert!(env.pending(0, p), "the bitmaps stay in shared_info");
    assert_eq!(env.vcpu_info(0), (0, 0, 0), "the old slot is not used");
    assert_eq!(env.mem.get(&moved.0), Some(&1), "upcall_pending at the new place");
    assert_eq!(env.mem.get(&(moved.0 + 8)), Some(&1), "selector at the new place");
    assert!(ev.upcall_pending(&env, D0));
}

#[test]
fn forgetting_the_senders_kicks_keeps_the_other_domains_kicks() {
    let (mut ev, mut env) = world(2);
    let own = ev.bind_ipi(D0, 0).unwrap();
    let unbound = ev.alloc_unbound(D1, SELF, D0).unwrap();
    let to_d1 = ev.bind_interdomain(&mut env, D0, D1, unbound).unwrap();
    let _ = (ev.take_kicks(), ev.take_port_kicks());
    ev.send(&mut env, D0, own).unwrap();
    ev.send(&mut env, D0, to_d1).unwrap();
    ev.forget_kicks_of(DomId(9));
    ev.forget_kicks_of(D0);
    assert_eq!(ev.take_kicks(), 0b10, "domain 1's upcall kick stays");
    assert_eq!(ev.take_port_kicks(), 0b10, "domain 1's port kick stays");
}
