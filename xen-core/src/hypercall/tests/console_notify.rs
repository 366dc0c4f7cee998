//! `EVTCHNOP_send` on a domain's console port reaches the console sink
//! ([`ConsoleSink::notified`]), which drains the ring through
//! [`crate::console::ConsoleRings`]: the glue between the event-channel
//! hypercall and the hypervisor's console server.

use super::*;
use crate::console::ConsoleRings;
use crate::event::{EventChannels, EventEnv};
use crate::mm::tests::world::D1;
use crate::mm::{PhysAddr, PhysMemory};
use abi::console::{OUT_CONS_OFFSET, OUT_OFFSET};
use abi::event_channel::*;
use abi::hypercall::HypercallNr as N;
use abi::Errno;

/// A console sink serving the rings as the arch one does.
#[derive(Default)]
struct RingSink {
    rings: ConsoleRings,
    out: Vec<u8>,
    notified: Vec<(DomId, u32)>,
}

impl ConsoleSink for RingSink {
    fn write(&mut self, _: DomId, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn notified(&mut self, mem: &mut dyn EventEnv, dom: DomId, port: u32) {
        self.notified.push((dom, port));
        let out = &mut self.out;
        self.rings.notified(mem, dom, port, &mut |l| out.extend_from_slice(l));
    }
}

fn send(w: &mut World, ev: &mut EventChannels, console: &mut RingSink, port: u32) -> i64 {
    let guest = FakeGuest::new(4096);
    guest.put(BASE, &port.to_le_bytes());
    let mut vcpu = Vcpu::new(GuestContext::default());
    let mut ctx = regs(N::EVENT_CHANNEL_OP.0, &[EVTCHNOP_SEND, BASE]);
    let caller = Caller { dom: D1, vcpu: &mut vcpu, guest: &guest, console, host: &HOST, events: ev };
    assert_eq!(with_grants(|g| caller.dispatch(w, g, &mut ctx)), Action::Continue);
    ctx.gpr[reg::RAX] as i64
}

#[test]
fn a_send_on_the_console_port_drains_the_ring_and_other_sends_do_not() {
    let mut w = World::new(64);
    let mut ev = Box::new(EventChannels::new());
    let si = w.give(D1, 1)[0];
    ev.create_domain(D1, si, false);
    let ring = w.give(D1, 1)[0];
    // As the builder does: an unbound port whose remote end is the hypervisor.
    let port = ev.alloc_unbound(D1, D1, DomId::XEN).unwrap();
    let other = ev.alloc_unbound(D1, D1, D1).unwrap();
    let mut console = RingSink::default();
    assert!(console.rings.attach(&mut w.mm(), D1, ring, port));
    let text = b"hi\n";
    w.mem.write_bytes(PhysAddr(ring.to_maddr() + OUT_OFFSET as u64), text);
    w.mem.write_u64(PhysAddr(ring.to_maddr() + OUT_CONS_OFFSET as u64), (text.len() as u64) << 32);
    assert_eq!(send(&mut w, &mut ev, &mut console, other), 0);
    assert!(console.out.is_empty(), "another port's send is not the console's");
    assert_eq!(send(&mut w, &mut ev, &mut console, 9), Errno::EINVAL.to_rax());
    assert_eq!(console.notified, [(D1, other)], "a failed send notifies nothing");
    assert_eq!(send(&mut w, &mut ev, &mut console, port), 0);
    assert_eq!(console.out, b"hi\n");
    let idx = w.mem.read_u64(PhysAddr(ring.to_maddr() + OUT_CONS_OFFSET as u64));
    assert_eq!((idx as u32, (idx >> 32) as u32), (3, 3));
    // The port reads as unbound, its remote end DOMID_XEN.
    let st = ev.status(D1, D1, port).unwrap();
    assert_eq!((st.status, st.u[0]), (EVTCHNSTAT_UNBOUND, 0x7FF2));
}
