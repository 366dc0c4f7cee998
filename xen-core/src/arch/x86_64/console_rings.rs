//! The arch side of the console rings ([`crate::console`]): the one table
//! of every domain's ring, set up when a domain is built, drained when the
//! guest notifies, on timer interrupts and idle wake-ups, and a last time
//! when the domain dies; output goes to the serial console with the
//! domain's `(dN)` prefix.

use super::hooks::Console;
use super::run::Hypervisor;
use crate::console::{ConsoleRings, Event};
use crate::event::EventEnv;
use crate::hypercall::ConsoleSink;
use crate::mm::{PhysAddr, PhysMemory};
use abi::{DomId, Mfn};

/// Every domain's ring. Static, like the event-channel tables, so the
/// console sink, the invariant checker and the scheduler reach it alike.
static mut RINGS: ConsoleRings = ConsoleRings::new();

/// The rings, for the one guest entry being handled.
pub(super) fn rings() -> &'static mut ConsoleRings {
    // SAFETY: one CPU, interrupts off in the hypervisor, and only code
    // handling a guest entry (or boot code before guests run) calls this,
    // as for `events::events`.
    unsafe { &mut *core::ptr::addr_of_mut!(RINGS) }
}

/// Domain `dom` (just built, its event channels set up) gets its ring:
/// an unbound port whose remote end is the hypervisor (`DOMID_XEN`), the
/// writable reference on `ring`, and the port in start_info's
/// `console.domU.evtchn`. On failure the domain runs without one (its
/// start_info then names none).
pub(super) fn attach(hv: &mut Hypervisor, dom: DomId, ring: Mfn, start_info: Mfn) {
    let si = PhysAddr(start_info.to_maddr());
    let port = super::events::events().alloc_unbound(dom, dom, DomId::XEN);
    let ok = match port {
        Ok(p) => rings().attach(&mut hv.mm, dom, ring, p),
        Err(_) => false,
    };
    if !ok {
        log::error!("domain {}: no console ring ({port:?}); it has console_io only", dom.0);
        hv.mm.mem.write_u64(PhysAddr(si.0 + 72), 0);
        return;
    }
    let port = port.unwrap_or(0);
    let at = PhysAddr(si.0 + crate::domain::builder::CONSOLE_EVTCHN_OFFSET);
    let w = hv.mm.mem.read_u64(at);
    hv.mm.mem.write_u64(at, (w & !0xFFFF_FFFF) | u64::from(port));
    log::info!("domain {}: console ring at mfn {:#x}, event channel {port}", dom.0, ring.0);
}

/// What one drain means for the log.
fn report(dom: DomId, e: Event) {
    if let Event::BecameCorrupt(waiting) = e {
        log::warn!(
            "domain {}: console ring indices claim {waiting} bytes waiting (the ring holds 2048); ignored until they are put right",
            dom.0
        );
    }
}

impl Console {
    /// Drains domain `dom`'s ring to the serial console.
    #[cold]
    #[inline(never)]
    fn drain(&mut self, mem: &mut dyn EventEnv, dom: DomId) {
        let e = rings().drain(mem, dom, &mut |line| self.write(dom, line));
        report(dom, e);
    }
}

/// Whether `port` is domain `dom`'s console-ring port (a send on it
/// drains the ring, [`notified`]).
#[inline(always)]
pub(super) fn is_ring_port(dom: DomId, port: u32) -> bool {
    rings().get(dom).is_some_and(|r| r.port == port)
}

/// The notify half of [`ConsoleSink::notified`]: on every successful
/// `EVTCHNOP_send`, so the test is inline and the drain out of line.
#[inline(always)]
pub(super) fn notified(console: &mut Console, mem: &mut dyn EventEnv, dom: DomId, port: u32) {
    if is_ring_port(dom, port) {
        console.drain(mem, dom);
    }
}

/// Drains every ring (a timer interrupt or an idle wake-up): output of a
/// guest that never notifies still comes out.
pub(super) fn poll(hv: &mut Hypervisor) {
    for i in 0..crate::sched::MAX_DOMAINS {
        let dom = DomId(i as u16);
        if rings().get(dom).is_some() {
            hv.core.console.drain(&mut hv.core.mm, dom);
        }
    }
}

/// Domain `i` is dying: its partial `console_io` line is written out, its
/// ring drained a last time, then the ring page's references go, before
/// its memory is torn down.
pub(super) fn domain_died(hv: &mut Hypervisor, i: usize) {
    let dom = DomId(i as u16);
    let console = &mut hv.core.console;
    if let Some(Some(d)) = super::run::domains().get_mut(i) {
        d.line.flush(&mut |line| console.write(dom, line));
    }
    if let Some(r) = rings().detach(&mut hv.core.mm, dom, &mut |line| console.write(dom, line)) {
        log::info!("domain {i}: console ring: {} bytes in {} drains", r.bytes, r.drains);
    }
}
