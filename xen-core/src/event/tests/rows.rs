//! One test per errno row of each operation (fact sheet §9.4, platform
//! §2.2), in Xen 4.17's order of checks.

use super::*;
use abi::event_channel::*;
use abi::Errno;

const D0: DomId = DomId(0);
const D1: DomId = DomId(1);
const SELF: DomId = DomId::SELF;

#[test]
fn ports_are_the_lowest_free_from_1_and_port_0_is_reserved() {
    let (mut ev, mut env) = world(1);
    assert_eq!(ev.alloc_unbound(D0, SELF, SELF), Ok(1));
    assert_eq!(ev.alloc_unbound(D0, SELF, SELF), Ok(2));
    assert_eq!(ev.close(&mut env, D0, 1), Ok(()));
    assert_eq!(ev.alloc_unbound(D0, SELF, SELF), Ok(1));
    assert_eq!(ev.close(&mut env, D0, 0), Err(Errno::EINVAL));
    assert_eq!(ev.status(D0, SELF, 0).map(|s| s.status), Ok(EVTCHNSTAT_CLOSED));
}

#[test]
fn alloc_unbound_rows() {
    let (mut ev, _env) = world(2);
    assert_eq!(ev.alloc_unbound(D0, DomId(5), SELF), Err(Errno::ESRCH), "unknown domain");
    assert_eq!(ev.alloc_unbound(D0, DomId::IO, SELF), Err(Errno::ESRCH), "reserved id");
    assert_eq!(ev.alloc_unbound(D1, D0, SELF), Err(Errno::EPERM), "unprivileged naming another");
    assert_eq!(ev.alloc_unbound(D1, D1, D0), Ok(1), "own id by number");
    assert_eq!(ev.alloc_unbound(D0, D1, D0), Ok(2), "privileged names another domain");
    assert_eq!(ev.status(D1, SELF, 2).unwrap().u[0], 0, "accepts domain 0");
    assert_eq!(ev.alloc_unbound(D0, SELF, DomId(9)), Ok(1), "the remote domain is not checked");
}

#[test]
fn alloc_unbound_runs_out_of_ports_with_enospc_and_never_grows_past_the_table() {
    let (mut ev, _env) = world(1);
    for p in 1..MAX_PORTS {
        assert_eq!(ev.alloc_unbound(D0, SELF, SELF), Ok(p));
    }
    assert_eq!(ev.alloc_unbound(D0, SELF, SELF), Err(Errno::ENOSPC));
    assert_eq!(ev.bind_ipi(D0, 0), Err(Errno::ENOSPC));
    assert_eq!(ev.bind_virq(D0, virq::TIMER, 0), Err(Errno::ENOSPC));
    assert_eq!(ev.doms[0].valid, MAX_PORTS);
}

#[test]
fn valid_ports_grow_by_bucket_so_status_past_the_bucket_is_einval() {
    let (mut ev, _env) = world(1);
    assert_eq!(ev.status(D0, SELF, BUCKET - 1).map(|s| s.status), Ok(EVTCHNSTAT_CLOSED));
    assert_eq!(ev.status(D0, SELF, BUCKET), Err(Errno::EINVAL));
    for _ in 1..BUCKET {
        ev.bind_ipi(D0, 0).unwrap();
    }
    assert_eq!(ev.bind_ipi(D0, 0), Ok(BUCKET));
    assert_eq!(ev.status(D0, SELF, 2 * BUCKET - 1).map(|s| s.status), Ok(EVTCHNSTAT_CLOSED));
}

#[test]
fn bind_interdomain_rows() {
    let (mut ev, mut env) = world(2);
    assert_eq!(ev.bind_interdomain(&mut env, D0, DomId(7), 1), Err(Errno::ESRCH));
    assert_eq!(ev.bind_interdomain(&mut env, D0, D1, 1), Err(Errno::EINVAL), "free remote port");
    assert_eq!(ev.bind_interdomain(&mut env, D0, D1, 0), Err(Errno::EINVAL), "reserved remote port");
    assert_eq!(ev.bind_interdomain(&mut env, D0, D1, 5000), Err(Errno::EINVAL), "invalid remote port");
    let p = ev.alloc_unbound(D1, SELF, DomId(3)).unwrap();
    assert_eq!(ev.bind_interdomain(&mut env, D0, D1, p), Err(Errno::EINVAL), "accepts another domain");
    let p = ev.alloc_unbound(D1, SELF, D0).unwrap();
    assert_eq!(ev.bind_interdomain(&mut env, D0, D1, p), Ok(1));
    assert_eq!(ev.bind_interdomain(&mut env, D0, D1, p), Err(Errno::EINVAL), "already bound");
    assert_eq!(ev.status(D1, SELF, p).unwrap(), StatusOut { status: EVTCHNSTAT_INTERDOMAIN, vcpu: 0, u: [0, 1] });
    assert!(env.pending(0, 1), "the local port is pending once at bind");
}

#[test]
fn a_failed_bind_leaves_no_local_port_behind() {
    let (mut ev, mut env) = world(1);
    assert_eq!(ev.bind_interdomain(&mut env, D0, SELF, 3), Err(Errno::EINVAL));
    assert_eq!(ev.alloc_unbound(D0, SELF, SELF), Ok(1));
}

#[test]
fn loopback_interdomain_to_self_connects_two_ports_of_one_domain() {
    let (mut ev, mut env) = world(1);
    let a = ev.alloc_unbound(D0, SELF, SELF).unwrap();
    let b = ev.bind_interdomain(&mut env, D0, SELF, a).unwrap();
    assert_eq!((a, b), (1, 2));
    env.mem.clear();
    ev.send(&mut env, D0, b).unwrap();
    assert!(env.pending(0, a) && !env.pending(0, b));
    ev.send(&mut env, D0, a).unwrap();
    assert!(env.pending(0, b));
    ev.close(&mut env, D0, a).unwrap();
    assert_eq!(ev.status(D0, SELF, b).unwrap().status, EVTCHNSTAT_UNBOUND);
    assert!(!env.pending(0, a), "closing clears the pending bit");
    assert_eq!(ev.bind_interdomain(&mut env, D0, SELF, b), Ok(1), "the peer accepts the closer again");
}

#[test]
fn bind_virq_rows() {
    let (mut ev, _env) = world(2);
    assert_eq!(ev.bind_virq(D0, 24, 0), Err(Errno::EINVAL), "virq >= 24");
    assert_eq!(ev.bind_virq(D0, u32::MAX, 0), Err(Errno::EINVAL), "negative virq");
    assert_eq!(ev.bind_virq(D0, virq::CONSOLE, 1), Err(Errno::EINVAL), "global virq on vcpu 1");
    assert_eq!(ev.bind_virq(D0, virq::TIMER, 1), Err(Errno::ENOENT), "no vcpu 1");
    assert_eq!(ev.bind_virq(D0, virq::TIMER, u32::MAX), Err(Errno::ENOENT));
    assert_eq!(ev.bind_virq(D1, virq::DOM_EXC, 0), Err(Errno::EBUSY), "global virq belongs to dom0");
    assert_eq!(ev.bind_virq(D0, virq::TIMER, 0), Ok(1));
    assert_eq!(ev.bind_virq(D0, virq::TIMER, 0), Err(Errno::EEXIST));
    assert_eq!(ev.bind_virq(D0, virq::DOM_EXC, 0), Ok(2));
    assert_eq!(ev.bind_virq(D1, virq::TIMER, 0), Ok(1), "per-vcpu virqs are every domain's");
    assert_eq!(ev.status(D0, SELF, 2).unwrap(), StatusOut { status: EVTCHNSTAT_VIRQ, vcpu: 0, u: [3, 0] });
}

#[test]
fn bind_ipi_rows() {
    let (mut ev, _env) = world(1);
    assert_eq!(ev.bind_ipi(D0, 1), Err(Errno::ENOENT));
    assert_eq!(ev.bind_ipi(D0, 0), Ok(1));
    assert_eq!(ev.status(D0, SELF, 1).unwrap().status, EVTCHNSTAT_IPI);
}

#[test]
fn bind_pirq_rows() {
    let (mut ev, _env) = world(1);
    assert_eq!(ev.bind_pirq(D0, NR_PIRQS, 0), Err(Errno::EINVAL));
    assert_eq!(ev.bind_pirq(D0, u32::MAX, 0), Err(Errno::EINVAL));
    assert_eq!(ev.bind_pirq(D0, 1, 0), Err(Errno::EPERM), "no pirq is mapped");
}

#[test]
fn close_rows() {
    let (mut ev, mut env) = world(1);
    assert_eq!(ev.close(&mut env, D0, 0), Err(Errno::EINVAL), "reserved");
    assert_eq!(ev.close(&mut env, D0, 3), Err(Errno::EINVAL), "free");
    assert_eq!(ev.close(&mut env, D0, 100_000), Err(Errno::EINVAL), "invalid");
    let v = ev.bind_virq(D0, virq::TIMER, 0).unwrap();
    assert_eq!(ev.close(&mut env, D0, v), Ok(()));
    assert_eq!(ev.bind_virq(D0, virq::TIMER, 0), Ok(v), "closing a virq unbinds it");
    assert_eq!(ev.close(&mut env, D0, v), Ok(()));
    assert_eq!(ev.close(&mut env, D0, v), Err(Errno::EINVAL), "closed twice");
}

#[test]
fn send_rows() {
    let (mut ev, mut env) = world(1);
    assert_eq!(ev.send(&mut env, D0, 0), Err(Errno::EINVAL), "reserved");
    assert_eq!(ev.send(&mut env, D0, 2), Err(Errno::EINVAL), "free");
    assert_eq!(ev.send(&mut env, D0, 9999), Err(Errno::EINVAL), "invalid");
    let u = ev.alloc_unbound(D0, SELF, SELF).unwrap();
    assert_eq!(ev.send(&mut env, D0, u), Ok(()), "unbound: dropped");
    assert!(!env.pending(0, u));
    let v = ev.bind_virq(D0, virq::TIMER, 0).unwrap();
    assert_eq!(ev.send(&mut env, D0, v), Err(Errno::EINVAL), "virq");
    let i = ev.bind_ipi(D0, 0).unwrap();
    assert_eq!(ev.send(&mut env, D0, i), Ok(()));
    assert!(env.pending(0, i), "ipi: own port pending");
}

#[test]
fn status_rows() {
    let (mut ev, _env) = world(2);
    assert_eq!(ev.status(D0, DomId(6), 1), Err(Errno::ESRCH));
    assert_eq!(ev.status(D1, SELF, 64), Err(Errno::EINVAL));
    assert_eq!(ev.status(D1, D0, 1), Err(Errno::EPERM), "unprivileged, another domain");
    assert_eq!(ev.status(D1, D0, 64), Err(Errno::EINVAL), "the port is checked before permission");
    assert_eq!(ev.status(D0, D1, 1).map(|s| s.status), Ok(EVTCHNSTAT_CLOSED), "privileged");
    ev.alloc_unbound(D1, SELF, D0).unwrap();
    assert_eq!(ev.status(D1, SELF, 1).unwrap(), StatusOut { status: EVTCHNSTAT_UNBOUND, vcpu: 0, u: [0, 0] });
}

#[test]
fn bind_vcpu_rows() {
    let (mut ev, mut env) = world(1);
    assert_eq!(ev.bind_vcpu(D0, 1, 1), Err(Errno::ENOENT), "vcpu first");
    assert_eq!(ev.bind_vcpu(D0, 9999, 0), Err(Errno::EINVAL), "invalid port");
    assert_eq!(ev.bind_vcpu(D0, 5, 0), Err(Errno::EINVAL), "free port");
    assert_eq!(ev.bind_vcpu(D0, 0, 0), Err(Errno::EINVAL), "reserved port");
    let u = ev.alloc_unbound(D0, SELF, SELF).unwrap();
    assert_eq!(ev.bind_vcpu(D0, u, 0), Ok(()), "unbound");
    let l = ev.bind_interdomain(&mut env, D0, SELF, u).unwrap();
    assert_eq!(ev.bind_vcpu(D0, l, 0), Ok(()), "interdomain");
    let t = ev.bind_virq(D0, virq::TIMER, 0).unwrap();
    assert_eq!(ev.bind_vcpu(D0, t, 0), Err(Errno::EINVAL), "per-vcpu virq");
    let c = ev.bind_virq(D0, virq::CONSOLE, 0).unwrap();
    assert_eq!(ev.bind_vcpu(D0, c, 0), Ok(()), "global virq");
    let i = ev.bind_ipi(D0, 0).unwrap();
    assert_eq!(ev.bind_vcpu(D0, i, 0), Err(Errno::EINVAL), "ipi");
}

#[test]
fn unmask_rows() {
    let (mut ev, mut env) = world(1);
    assert_eq!(ev.unmask(&mut env, D0, 64), Err(Errno::EINVAL));
    assert_eq!(ev.unmask(&mut env, D0, 0), Ok(()), "any valid port, even reserved");
    assert_eq!(ev.unmask(&mut env, D0, 17), Ok(()), "free port");
}

#[test]
fn reset_rows() {
    let (mut ev, mut env) = world(2);
    assert_eq!(ev.reset(&mut env, D0, DomId(5), false), Err(Errno::ESRCH));
    assert_eq!(ev.reset(&mut env, D1, D0, false), Err(Errno::EPERM));
    assert_eq!(ev.reset(&mut env, D0, D1, false), Err(Errno::EINVAL), "not paused by its controller");
    assert_eq!(ev.reset(&mut env, D0, SELF, true), Err(Errno::EBUSY), "reset_cont with none in progress");
    let u = ev.alloc_unbound(D0, SELF, D1).unwrap();
    let l = ev.bind_interdomain(&mut env, D1, D0, u).unwrap();
    ev.bind_virq(D0, virq::TIMER, 0).unwrap();
    assert_eq!(ev.reset(&mut env, D0, SELF, false), Ok(()));
    assert_eq!(ev.doms[0].active(), 0);
    assert_eq!(ev.status(D1, SELF, l).unwrap().status, EVTCHNSTAT_UNBOUND, "the peer is unbound again");
    assert_eq!(ev.bind_virq(D0, virq::TIMER, 0), Ok(1));
}

#[test]
fn init_control_rows() {
    let (mut ev, mut env) = world(2);
    let f = frame(0, 1);
    assert_eq!(ev.init_control(&mut env, D0, f, 0, 1), Err(Errno::ENOENT));
    assert_eq!(ev.init_control(&mut env, D0, f, 4096 - 64, 0), Err(Errno::EINVAL), "crosses the page");
    assert_eq!(ev.init_control(&mut env, D0, f, 4, 0), Err(Errno::EINVAL), "not 8-aligned");
    assert_eq!(ev.init_control(&mut env, D0, frame(1, 1), 0, 0), Err(Errno::EINVAL), "another domain's frame");
    assert_eq!(ev.init_control(&mut env, D0, 0xdead_0000, 0, 0), Err(Errno::EINVAL), "not RAM");
    assert_eq!(ev.init_control(&mut env, D0, u64::MAX, 0, 0), Err(Errno::EINVAL), "huge gfn");
    env.typed.push(frame(0, 2));
    assert_eq!(ev.init_control(&mut env, D0, frame(0, 2), 0, 0), Err(Errno::EINVAL), "not writable");
    assert!(ev.doms[0].fifo.is_none(), "failures leave the domain on 2-level");
    assert_eq!(ev.init_control(&mut env, D0, f, 4096 - 72, 0), Ok(()));
    assert_eq!(env.refs.get(&f), Some(&1), "the control frame is referenced");
    assert_eq!(ev.init_control(&mut env, D0, f, 0, 0), Err(Errno::EINVAL), "already registered");
    assert_eq!(env.refs.get(&f), Some(&1));
}

#[test]
fn expand_array_rows() {
    let (mut ev, mut env) = world(1);
    assert_eq!(ev.expand_array(&mut env, D0, frame(0, 3)), Err(Errno::EOPNOTSUPP));
    ev.init_control(&mut env, D0, frame(0, 1), 0, 0).unwrap();
    assert_eq!(ev.expand_array(&mut env, D0, 0xdead_0000), Err(Errno::EINVAL));
    for _ in 0..FIFO_MAX_ARRAY_PAGES {
        assert_eq!(ev.expand_array(&mut env, D0, frame(0, 3)), Ok(()), "a frame may be added again");
    }
    assert_eq!(ev.expand_array(&mut env, D0, frame(0, 3)), Err(Errno::ENOSPC));
    assert_eq!(env.refs.get(&frame(0, 3)), Some(&FIFO_MAX_ARRAY_PAGES));
    ev.reset(&mut env, D0, SELF, false).unwrap();
    assert!(env.refs.is_empty(), "reset drops every frame");
    assert!(ev.doms[0].fifo.is_none(), "reset goes back to 2-level");
}

#[test]
fn set_priority_rows() {
    let (mut ev, mut env) = world(1);
    assert_eq!(ev.set_priority(D0, 64, 0), Err(Errno::EINVAL), "invalid port first");
    assert_eq!(ev.set_priority(D0, 1, 0), Err(Errno::ENOSYS), "2-level");
    ev.init_control(&mut env, D0, frame(0, 1), 0, 0).unwrap();
    assert_eq!(ev.set_priority(D0, 1, 0), Err(Errno::EACCES), "unused port");
    assert_eq!(ev.set_priority(D0, 0, 0), Err(Errno::EACCES), "reserved port");
    ev.bind_ipi(D0, 0).unwrap();
    assert_eq!(ev.set_priority(D0, 1, 16), Err(Errno::EINVAL));
    assert_eq!(ev.set_priority(D0, 1, 15), Ok(()));
}

#[test]
fn a_dead_domain_is_esrch_its_frames_are_released_and_peers_unbound() {
    let (mut ev, mut env) = world(2);
    let u = ev.alloc_unbound(D1, SELF, D0).unwrap();
    let l = ev.bind_interdomain(&mut env, D0, D1, u).unwrap();
    ev.init_control(&mut env, D1, frame(1, 1), 0, 0).unwrap();
    ev.expand_array(&mut env, D1, frame(1, 2)).unwrap();
    ev.destroy_domain(&mut env, D1);
    assert!(env.refs.is_empty());
    assert_eq!(ev.status(D0, SELF, l).unwrap(), StatusOut { status: EVTCHNSTAT_UNBOUND, vcpu: 0, u: [1, 0] });
    assert_eq!(ev.status(D0, D1, 1), Err(Errno::ESRCH));
    assert_eq!(ev.bind_interdomain(&mut env, D0, D1, u), Err(Errno::ESRCH));
    assert_eq!(ev.send(&mut env, D0, l), Ok(()), "unbound: dropped");
}

#[test]
fn a_caller_that_is_not_live_gets_esrch_and_takes_nothing() {
    let (mut ev, mut env) = world(2);
    ev.destroy_domain(&mut env, D1);
    assert_eq!(ev.init_control(&mut env, D1, frame(1, 1), 0, 0), Err(Errno::ESRCH));
    assert_eq!(ev.alloc_unbound(D1, SELF, SELF), Err(Errno::ESRCH));
    assert_eq!(ev.alloc_unbound(DomId(200), SELF, SELF), Err(Errno::ESRCH), "out of the table");
    assert!(env.refs.is_empty());
}
