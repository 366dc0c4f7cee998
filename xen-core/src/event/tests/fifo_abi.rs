//! The FIFO ABI's words, queues and control block (platform §2.4).

use super::*;
use abi::event_channel::*;

const D0: DomId = DomId(0);

/// Domain 0 on FIFO: control block at frame 1 offset 64, array frame 2
/// with every word MASKED (as Linux fills it) except those in `unmasked`.
fn fifo(unmasked: &[u32]) -> (Box<EventChannels>, FakeEnv) {
    let (mut ev, mut env) = world(1);
    ev.init_control(&mut env, D0, frame(0, 1), 64, 0).unwrap();
    for p in 0..1024 {
        let w = if unmasked.contains(&p) { 0 } else { FIFO_MASKED };
        env.set_u32(word(p), w);
    }
    ev.expand_array(&mut env, D0, frame(0, 2)).unwrap();
    (ev, env)
}

fn word(p: u32) -> u64 {
    Mfn(frame(0, 2)).to_maddr() + u64::from(p) * 4
}

fn cb(field: u64) -> u64 {
    Mfn(frame(0, 1)).to_maddr() + 64 + field
}

#[test]
fn a_send_links_the_port_sets_head_and_ready_and_marks_the_vcpu() {
    let (mut ev, mut env) = fifo(&[1]);
    let p = ev.bind_ipi(D0, 0).unwrap();
    assert_eq!(p, 1);
    ev.send(&mut env, D0, p).unwrap();
    assert_eq!(env.u32_at(word(p)), FIFO_PENDING | FIFO_LINKED);
    assert_eq!(env.u32_at(cb(8 + 7 * 4)), p, "head of the default priority's queue");
    assert_eq!(env.u32_at(cb(0)), 1 << 7, "ready bit 7");
    assert_eq!(env.vcpu_info(0).0, 1);
    assert_eq!(ev.take_kicks(), 1);
}

#[test]
fn a_second_port_is_linked_after_the_tail_without_a_new_mark() {
    let (mut ev, mut env) = fifo(&[1, 2]);
    let a = ev.bind_ipi(D0, 0).unwrap();
    let b = ev.bind_ipi(D0, 0).unwrap();
    ev.send(&mut env, D0, a).unwrap();
    let _ = ev.take_kicks();
    env.set_upcall(0, 0, 0);
    ev.send(&mut env, D0, b).unwrap();
    assert_eq!(env.u32_at(word(a)) & FIFO_LINK_MASK, b, "a links to b");
    assert_eq!(env.u32_at(cb(8 + 7 * 4)), a, "head unchanged");
    assert_eq!(env.vcpu_info(0).0, 0, "queue already ready: no mark");
}

#[test]
fn after_the_guest_consumes_the_tail_the_next_event_becomes_head_again() {
    let (mut ev, mut env) = fifo(&[1, 2]);
    let a = ev.bind_ipi(D0, 0).unwrap();
    let b = ev.bind_ipi(D0, 0).unwrap();
    ev.send(&mut env, D0, a).unwrap();
    // The guest takes `a`: clears LINKED|LINK and PENDING, and the ready bit.
    env.set_u32(word(a), 0);
    env.set_u32(cb(0), 0);
    ev.send(&mut env, D0, b).unwrap();
    assert_eq!(env.u32_at(cb(8 + 7 * 4)), b);
    assert_eq!(env.u32_at(cb(0)), 1 << 7);
}

#[test]
fn a_masked_word_is_pending_but_not_linked_until_unmask() {
    let (mut ev, mut env) = fifo(&[]);
    let p = ev.bind_ipi(D0, 0).unwrap();
    ev.send(&mut env, D0, p).unwrap();
    assert_eq!(env.u32_at(word(p)), FIFO_MASKED | FIFO_PENDING);
    assert_eq!(ev.take_kicks(), 0);
    ev.unmask(&mut env, D0, p).unwrap();
    assert_eq!(env.u32_at(word(p)), FIFO_PENDING | FIFO_LINKED);
    assert_eq!(ev.take_kicks(), 1);
}

#[test]
fn priorities_use_their_own_queue() {
    let (mut ev, mut env) = fifo(&[1]);
    let p = ev.bind_ipi(D0, 0).unwrap();
    ev.set_priority(D0, p, 0).unwrap();
    ev.send(&mut env, D0, p).unwrap();
    assert_eq!(env.u32_at(cb(8)), p);
    assert_eq!(env.u32_at(cb(0)), 1);
}

#[test]
fn ports_without_an_array_frame_are_latched_and_raised_by_expand_array() {
    let (mut ev, mut env) = world(1);
    let p = ev.bind_ipi(D0, 0).unwrap();
    ev.send(&mut env, D0, p).unwrap(); // 2-level pending
    env.set_upcall(0, 0, 0);
    ev.init_control(&mut env, D0, frame(0, 1), 0, 0).unwrap();
    assert!(ev.doms[0].ports[p as usize].latched, "2-level pending latched by init_control");
    let q = ev.bind_ipi(D0, 0).unwrap();
    ev.send(&mut env, D0, q).unwrap();
    assert!(ev.doms[0].ports[q as usize].latched, "no frame yet");
    ev.expand_array(&mut env, D0, frame(0, 2)).unwrap();
    assert_eq!(env.u32_at(word(p)), FIFO_PENDING | FIFO_LINKED | q, "p first, linked to q");
    assert_eq!(env.u32_at(word(q)), FIFO_PENDING | FIFO_LINKED);
    assert_eq!(env.u32_at(Mfn(frame(0, 1)).to_maddr() + 8 + 7 * 4), p);
}

#[test]
fn closing_a_fifo_port_clears_pending_only() {
    let (mut ev, mut env) = fifo(&[]);
    let p = ev.bind_ipi(D0, 0).unwrap();
    ev.send(&mut env, D0, p).unwrap();
    ev.close(&mut env, D0, p).unwrap();
    assert_eq!(env.u32_at(word(p)), FIFO_MASKED);
}

#[test]
fn every_fifo_write_lands_in_a_referenced_frame_or_shared_info() {
    let (mut ev, mut env) = fifo(&[1, 2, 3]);
    env.writes.clear();
    for _ in 0..3 {
        let p = ev.bind_ipi(D0, 0).unwrap();
        ev.set_priority(D0, p, p).unwrap();
        ev.send(&mut env, D0, p).unwrap();
        ev.unmask(&mut env, D0, p).unwrap();
    }
    for a in &env.writes {
        let f = a >> 12;
        assert!(env.refs.contains_key(&f) || f == si(0).0, "write to {a:#x}");
    }
}
