//! Random operation sequences from three domains (domain 0 privileged),
//! with deaths and re-creations, checked after every step: the tables'
//! invariants ([`EventChannels::check`]), frame references (held exactly
//! for registered FIFO frames, none for dead domains), writes only into
//! shared_info or referenced frames, and an unprivileged domain changing
//! another domain's ports only through their shared channel.

use super::*;
use abi::event_channel::virq;
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Alloc(u16, u16, u16),
    BindInter(u16, u16, u32),
    BindVirq(u16, u32, u32),
    BindIpi(u16, u32),
    Close(u16, u32),
    Send(u16, u32),
    Status(u16, u16, u32),
    BindVcpu(u16, u32, u32),
    Unmask(u16, u32),
    Reset(u16, u16, bool),
    InitControl(u16, u64, u32, u32),
    Expand(u16, u64),
    SetPriority(u16, u32, u32),
    GuestMask(u16, u32, bool),
    GuestClearUpcall(u16),
    GuestConsumeFifo(u16, u32),
    Die(u16),
    Revive(u16),
}

const N: u16 = 3;

fn dom() -> impl Strategy<Value = u16> {
    prop_oneof![8 => 0..N, 1 => Just(DomId::SELF.0), 1 => Just(5u16)]
}

fn port() -> impl Strategy<Value = u32> {
    prop_oneof![6 => 0u32..8, 2 => 60u32..70, 1 => Just(1023u32), 1 => any::<u32>()]
}

fn gfn() -> impl Strategy<Value = u64> {
    prop_oneof![4 => (0..N, 0u64..4).prop_map(|(d, k)| frame(d, k)), 1 => (0..N).prop_map(|d| si(d).0), 1 => any::<u64>()]
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..N;
    let a = prop_oneof![
        (c.clone(), dom(), dom()).prop_map(|(a, b, r)| Op::Alloc(a, b, r)),
        (c.clone(), dom(), port()).prop_map(|(a, b, p)| Op::BindInter(a, b, p)),
        (c.clone(), prop_oneof![0u32..5, Just(24), any::<u32>()], 0u32..2).prop_map(|(a, v, c)| Op::BindVirq(a, v, c)),
        (c.clone(), 0u32..2).prop_map(|(a, v)| Op::BindIpi(a, v)),
        (c.clone(), port()).prop_map(|(a, p)| Op::Close(a, p)),
        (c.clone(), port()).prop_map(|(a, p)| Op::Send(a, p)),
        (c.clone(), port()).prop_map(|(a, p)| Op::Send(a, p)),
    ];
    let b = prop_oneof![
        (c.clone(), dom(), port()).prop_map(|(a, b, p)| Op::Status(a, b, p)),
        (c.clone(), port(), 0u32..2).prop_map(|(a, p, v)| Op::BindVcpu(a, p, v)),
        (c.clone(), port()).prop_map(|(a, p)| Op::Unmask(a, p)),
        (c.clone(), dom(), any::<bool>()).prop_map(|(a, b, k)| Op::Reset(a, b, k)),
        (c.clone(), gfn(), prop_oneof![Just(0u32), Just(64), Just(4), Just(4024), Just(4096)], 0u32..2)
            .prop_map(|(a, g, o, v)| Op::InitControl(a, g, o, v)),
        (c.clone(), gfn()).prop_map(|(a, g)| Op::Expand(a, g)),
        (c.clone(), port(), 0u32..18).prop_map(|(a, p, q)| Op::SetPriority(a, p, q)),
        (c.clone(), port(), any::<bool>()).prop_map(|(a, p, m)| Op::GuestMask(a, p, m)),
        (c.clone()).prop_map(Op::GuestClearUpcall),
        (c.clone(), port()).prop_map(|(a, p)| Op::GuestConsumeFifo(a, p)),
        (1..N).prop_map(Op::Die),
        (1..N).prop_map(Op::Revive),
    ];
    prop_oneof![a, b]
}

fn run(ev: &mut EventChannels, env: &mut FakeEnv, op: &Op) {
    use Op::*;
    let d = DomId;
    match *op {
        Alloc(a, b, r) => drop(ev.alloc_unbound(d(a), d(b), d(r))),
        BindInter(a, b, p) => drop(ev.bind_interdomain(env, d(a), d(b), p)),
        BindVirq(a, v, c) => drop(ev.bind_virq(d(a), v, c)),
        BindIpi(a, v) => drop(ev.bind_ipi(d(a), v)),
        Close(a, p) => drop(ev.close(env, d(a), p)),
        Send(a, p) => drop(ev.send(env, d(a), p)),
        Status(a, b, p) => drop(ev.status(d(a), d(b), p)),
        BindVcpu(a, p, v) => drop(ev.bind_vcpu(d(a), p, v)),
        Unmask(a, p) => drop(ev.unmask(env, d(a), p)),
        Reset(a, b, k) => drop(ev.reset(env, d(a), d(b), k)),
        InitControl(a, g, o, v) => drop(ev.init_control(env, d(a), g, o, v)),
        Expand(a, g) => drop(ev.expand_array(env, d(a), g)),
        SetPriority(a, p, q) => drop(ev.set_priority(d(a), p, q)),
        GuestMask(a, p, m) => {
            if p < 4096 {
                env.mask(a, p, m)
            }
        }
        GuestClearUpcall(a) => env.set_upcall(a, 0, 0),
        GuestConsumeFifo(a, p) => {
            // The guest may clear LINKED, LINK and PENDING of its words.
            if let Some(f) = ev.doms[a as usize].fifo.as_ref() {
                if p < f.num_ports() {
                    let at = f.array[(p / 1024) as usize].to_maddr() + u64::from(p % 1024) * 4;
                    let w = env.u32_at(at);
                    env.set_u32(at, w & abi::event_channel::FIFO_MASKED);
                }
            }
        }
        Die(a) => ev.destroy_domain(env, d(a)),
        Revive(a) => {
            if !ev.live(d(a)) {
                ev.create_domain(d(a), si(a), false)
            }
        }
    }
}

/// Frame → references the tables say are held.
fn expected_refs(ev: &EventChannels) -> std::collections::HashMap<u64, u32> {
    let mut m = std::collections::HashMap::new();
    for d in ev.doms.iter().filter(|d| d.live) {
        if let Some(f) = &d.fifo {
            if let Some((cb, _)) = f.control {
                *m.entry(cb.0).or_default() += 1;
            }
            for a in &f.array[..f.pages as usize] {
                *m.entry(a.0).or_default() += 1;
            }
        }
    }
    m
}

/// Whether a change to another domain's port made by an unprivileged
/// `actor` went through a channel the two share.
fn allowed_change(actor: DomId, before: Binding, after: Binding) -> bool {
    matches!(
        (before, after),
        (Binding::Unbound(a), Binding::Interdomain(b, _)) if a == actor && b == actor
    ) || matches!(
        (before, after),
        (Binding::Interdomain(a, _), Binding::Unbound(b)) if a == actor && b == actor
    )
}

fn actor(op: &Op) -> Option<u16> {
    use Op::*;
    match *op {
        Alloc(a, ..) | BindInter(a, ..) | BindVirq(a, ..) | BindIpi(a, _) | Close(a, _) | Send(a, _) => Some(a),
        Status(a, ..) | BindVcpu(a, ..) | Unmask(a, _) | Reset(a, ..) | InitControl(a, ..) => Some(a),
        Expand(a, _) | SetPriority(a, ..) => Some(a),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_from_three_domains_keep_every_invariant(ops in proptest::collection::vec(op(), 1..120)) {
        let (mut ev, mut env) = world(N);
        for (step, op) in ops.iter().enumerate() {
            let before: Vec<Vec<Binding>> = ev.doms.iter().map(|d| d.ports.iter().map(|p| p.binding).collect()).collect();
            let live_before: Vec<bool> = ev.doms.iter().map(|d| d.live).collect();
            env.writes.clear();
            let refs_before = env.refs.clone();
            run(&mut ev, &mut env, op);
            if let Err(why) = ev.check() {
                panic!("step {step} {op:?}: {why}");
            }
            let want = expected_refs(&ev);
            prop_assert_eq!(&env.refs, &want, "step {} {:?}: frame references", step, op);
            for &a in &env.writes {
                let f = a >> 12;
                let si_of_live = (0..N).any(|d| live_before[d as usize] && si(d).0 == f);
                let held = env.refs.contains_key(&f) || refs_before.contains_key(&f);
                prop_assert!(si_of_live || held, "step {} {:?}: write to {:#x}", step, op, a);
            }
            if let Some(a) = actor(op) {
                if a != 0 {
                    for (o, ports) in before.iter().enumerate() {
                        if o == a as usize || !live_before[o] {
                            continue;
                        }
                        for (n, &b) in ports.iter().enumerate() {
                            let now = ev.doms[o].ports[n].binding;
                            prop_assert!(b == now || allowed_change(DomId(a), b, now),
                                "step {} {:?}: domain {} port {} changed {:?} -> {:?}", step, op, o, n, b, now);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_checker_sees_a_broken_peer_link() {
    let (mut ev, mut env) = world(2);
    let u = ev.alloc_unbound(DomId(1), DomId::SELF, DomId(0)).unwrap();
    let l = ev.bind_interdomain(&mut env, DomId(0), DomId(1), u).unwrap();
    assert_eq!(ev.check(), Ok(()));
    ev.doms[1].ports[u as usize].binding = Binding::Unbound(DomId(0));
    assert!(ev.check().is_err());
    ev.doms[1].ports[u as usize].binding = Binding::Interdomain(DomId(0), l);
    ev.doms[0].virq[virq::TIMER as usize] = 5;
    assert!(ev.check().is_err());
}
