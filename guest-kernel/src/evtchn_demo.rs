//! An interdomain event-channel ping-pong. Until a store exists, the two
//! domains learn the port from their command lines: the answering domain
//! (`pong=DOM,N`) allocates an unbound port for domain DOM, which is port 2
//! in a fresh domain other than domain 0 (ports are handed out lowest
//! first, and port 1 is its console ring's); the asking domain
//! (`ping=DOM:PORT,N`) binds to that port (retrying, yielding, while the
//! other side has not allocated it yet) and sends N pings, each answered
//! before the next. Events arrive through the event callback
//! ([`guest_kernel::arch::x86_64::events`]); the waits yield until
//! `SCHEDOP_block` exists.

use crate::story::{fail, fail_errno};
use abi::{evtchn, guest, DomId, Errno};
use guest_kernel::arch::x86_64::events;
use guest_kernel::say;

/// Most yields spent waiting for the other side before giving up.
const PATIENCE: u32 = 100_000;

fn parse(spec: &str) -> Option<(&str, u32)> {
    let (a, n) = spec.split_once(',')?;
    Some((a, n.parse().ok()?))
}

/// Waits (yielding) until `port` has seen more than `seen` events.
fn wait_for(port: u32, seen: u32) {
    for _ in 0..PATIENCE {
        if events::count(port) > seen {
            return;
        }
        guest::yield_now();
    }
    fail("no event from the other domain");
}

/// `ping=DOM:PORT,N`.
pub fn ping(spec: &str) {
    let Some((target, rounds)) = parse(spec) else { fail("ping= wants DOM:PORT,N") };
    let Some((dom, port)) = target.split_once(':').and_then(|(d, p)| Some((d.parse().ok()?, p.parse().ok()?))) else {
        fail("ping= wants DOM:PORT,N")
    };
    let mut tries = 0;
    let local = loop {
        match evtchn::bind_interdomain(DomId(dom), port) {
            Ok(l) => break l,
            // Not allocated yet on the other side.
            Err(Errno::EINVAL) | Err(Errno::ESRCH) if tries < PATIENCE => {
                tries += 1;
                guest::yield_now()
            }
            Err(e) => fail_errno("bind_interdomain", e),
        }
    };
    say!("evtchn: bound local port {local} to domain {dom} port {port}; {rounds} pings");
    // The bind marks the local port pending once; taken by the first upcall.
    events::set_mask(false);
    wait_for(local, 0);
    let mut seen = events::count(local);
    for round in 1..=rounds {
        if let Err(e) = evtchn::send(local) {
            fail_errno("send", e);
        }
        wait_for(local, seen);
        seen = events::count(local);
        say!("evtchn: ping {round}: pong received on port {local}");
    }
    events::set_mask(true);
    say!(
        "evtchn: ping-pong done: {rounds} round trips, {} upcalls",
        events::UPCALLS.load(core::sync::atomic::Ordering::SeqCst)
    );
}

/// `pong=DOM,N`.
pub fn pong(spec: &str) {
    let Some((dom, rounds)) = parse(spec) else { fail("pong= wants DOM,N") };
    let Ok(dom) = dom.parse::<u16>() else { fail("pong= wants DOM,N") };
    let port = match evtchn::alloc_unbound(DomId::SELF, DomId(dom)) {
        Ok(p) => p,
        Err(e) => fail_errno("alloc_unbound", e),
    };
    say!("evtchn: port {port} open for domain {dom}; answering {rounds} pings");
    events::set_mask(false);
    for round in 1..=rounds {
        wait_for(port, round - 1);
        if let Err(e) = evtchn::send(port) {
            fail_errno("send", e);
        }
        say!("evtchn: pong {round} sent on port {port}");
    }
    events::set_mask(true);
}

/// `wait-dom-exc` (domain 0): binds `VIRQ_DOM_EXC` and waits, yielding,
/// until the hypervisor reports that another domain shut down or crashed.
pub fn wait_dom_exc() {
    let port = match evtchn::bind_virq(abi::event_channel::virq::DOM_EXC, 0) {
        Ok(p) => p,
        Err(e) => fail_errno("bind_virq(VIRQ_DOM_EXC)", e),
    };
    say!("evtchn: VIRQ_DOM_EXC bound to port {port}; waiting for another domain to end");
    events::set_mask(false);
    wait_for(port, 0);
    events::set_mask(true);
    say!("evtchn: VIRQ_DOM_EXC received on port {port}: a domain ended");
    let _ = evtchn::close(port);
}
