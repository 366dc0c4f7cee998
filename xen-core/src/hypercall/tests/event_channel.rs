//! `event_channel_op` through the dispatcher: struct decoding, OUT fields,
//! `-EFAULT` before and after acting, and FIFO frames referenced in the
//! page-type model.

use super::*;
use crate::event::EventChannels;
use crate::mm::tests::world::{D1, D2};
use abi::event_channel::*;
use abi::hypercall::HypercallNr as N;

struct Ev {
    w: World,
    ev: Box<EventChannels>,
    g: FakeGuest,
}

impl Ev {
    fn new() -> Ev {
        let mut w = World::new(64);
        let mut ev = Box::new(EventChannels::new());
        let si = w.give(D1, 1)[0];
        ev.create_domain(D1, si, false);
        let si2 = w.give(D2, 1)[0];
        ev.create_domain(D2, si2, false);
        Ev { w, ev, g: FakeGuest::new(4096) }
    }

    fn op(&mut self, dom: DomId, cmd: u64, arg: u64) -> i64 {
        let mut vcpu = Vcpu::new(GuestContext::default());
        let mut ctx = regs(N::EVENT_CHANNEL_OP.0, &[cmd, arg]);
        let caller = Caller {
            dom,
            vcpu: &mut vcpu,
            guest: &self.g,
            console: &mut Sink::default(),

            host: &HOST,
            events: &mut self.ev,
        };
        assert_eq!(caller.dispatch_fresh(&mut self.w, &mut ctx), Action::Continue);
        ctx.gpr[reg::RAX] as i64
    }
}

const SELF: u64 = 0x7FF0;

#[test]
fn alloc_unbound_writes_the_port_and_status_the_whole_out_struct() {
    let mut e = Ev::new();
    e.g.put(BASE, &[0xF0, 0x7F, 0x02, 0x00, 0xAA, 0xAA, 0xAA, 0xAA]);
    assert_eq!(e.op(D1, EVTCHNOP_ALLOC_UNBOUND, BASE), 0);
    assert_eq!(e.g.u32_at(BASE + 4), 1, "port");
    e.g.put_u64s(BASE + 64, &[SELF | 1 << 32, u64::MAX, u64::MAX]);
    assert_eq!(e.op(D1, EVTCHNOP_STATUS, BASE + 64), 0);
    assert_eq!(e.g.u64_at(BASE + 72), u64::from(EVTCHNSTAT_UNBOUND), "status unbound, vcpu 0");
    assert_eq!(e.g.u64_at(BASE + 80), 2, "remote domain 2, upper word cleared");
}

#[test]
fn a_struct_that_cannot_be_read_is_efault_before_acting() {
    let mut e = Ev::new();
    // The last 4 bytes of the guest: an 8-byte alloc_unbound does not fit.
    assert_eq!(e.op(D1, EVTCHNOP_ALLOC_UNBOUND, BASE + 4096 - 4), -14);
    assert_eq!(e.ev.domain(D1).unwrap().active(), 0, "nothing allocated");
    assert_eq!(e.op(D1, EVTCHNOP_SEND, 0xFFFF_8000_0000_0000), -14);
}

#[test]
fn unknown_commands_are_enosys_without_reading_memory() {
    let mut e = Ev::new();
    assert_eq!(e.op(D1, 15, 0), -38);
    assert_eq!(e.op(D1, 1 << 40, 0), -38);
}

#[test]
fn init_control_reports_link_bits_and_holds_a_writable_reference_until_reset() {
    let mut e = Ev::new();
    let cb = e.w.give(D1, 1)[0];
    e.g.put_u64s(BASE, &[cb.0, 0, u64::MAX]);
    assert_eq!(e.op(D1, EVTCHNOP_INIT_CONTROL, BASE), 0);
    assert_eq!(e.g.u64_at(BASE + 16), 0xFFFF_FFFF_FFFF_FF00 | 17, "link_bits byte, padding kept");
    let info = *e.w.mm().info(cb);
    assert_eq!((info.count(), info.type_count()), (2, 1), "allocation + event reference, writable type");
    assert_eq!(info.page_type(), crate::mm::PageType::Writable);
    // Domain 2's frame is refused.
    let other = e.w.give(D2, 1)[0];
    e.g.put_u64s(BASE + 64, &[other.0]);
    assert_eq!(e.op(D1, EVTCHNOP_EXPAND_ARRAY, BASE + 64), -22);
    e.g.put(BASE + 128, &[0xF0, 0x7F]);
    assert_eq!(e.op(D1, EVTCHNOP_RESET, BASE + 128), 0);
    let info = *e.w.mm().info(cb);
    assert_eq!((info.count(), info.type_count()), (1, 0), "reset dropped it");
}

#[test]
fn the_memory_checker_counts_fifo_frame_references_as_held_by_the_event_channels() {
    let mut e = Ev::new();
    let cb = e.w.give(D1, 1)[0];
    e.g.put_u64s(BASE, &[cb.0, 0, 0]);
    assert_eq!(e.op(D1, EVTCHNOP_INIT_CONTROL, BASE), 0);
    let mm = e.w.mm();
    assert!(crate::mm::check::check_invariants(&mm).is_err(), "without them the count looks wrong");
    assert_eq!(crate::mm::check::check_invariants_with(&mm, &e.ev.frame_refs()), Ok(()));
}

#[test]
fn send_reads_only_its_4_byte_struct_then_checks_the_port() {
    let mut e = Ev::new();
    // The last 4 bytes of the guest: readable, so the answer is the port's.
    e.g.put(BASE + 4096 - 4, &77u32.to_le_bytes());
    assert_eq!(e.op(D1, EVTCHNOP_SEND, BASE + 4096 - 4), -22, "port 77 is not in use: -EINVAL");
    assert_eq!(e.op(D1, EVTCHNOP_SEND, BASE + 4096 - 3), -14, "the struct crosses the end: -EFAULT");
}
