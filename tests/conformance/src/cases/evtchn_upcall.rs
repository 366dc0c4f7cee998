//! `EVTCHNOP_send` seen from the guest's registers: on a loopback channel
//! with upcalls masked, and unmasked, where the send's own exit enters the
//! event callback. The argument registers come back as they went in
//! (Xen's release build preserves them), RAX is 0, and the callback gets
//! the 7-word frame (RCX, R11, RIP, CS with the saved mask, RFLAGS, RSP,
//! SS) of the SYSCALL in the hypercall page's stub, with events masked and
//! the hypercall's registers live.

use super::{alloc_self, bind_self, port_op, Si, EVTCHNOP_CLOSE};
use crate::arch::upcall::{install, probe, Seen, MAGIC};
use crate::cases::Suite;

/// After a send: RAX 0 and the argument registers as they went in.
fn after_ok(s: &mut Suite, what: &str, seen: &Seen) {
    let want = [0, 4, seen.arg, MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3]];
    for (k, reg) in
        ["RAX is 0", "RDI kept", "RSI kept", "RDX kept", "R8 kept", "R9 kept", "R10 kept"].iter().enumerate()
    {
        let mut label = [0u8; 64];
        let n = crate::cases::fmt_into(&mut label, format_args!("{what}: {reg}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or(reg), want[k] as i64, seen.after[k] as i64);
    }
}

pub(super) fn send_upcall(s: &mut Suite, si: &Si) {
    s.check("evtchn upcall: register the event callback", 0, install(si.0));
    let (_, a) = alloc_self();
    let (r, b) = bind_self(a);
    s.check("evtchn upcall: bind a loopback channel", 0, r);
    si.quiet();
    si.mask(a, false);
    si.mask(b, false);

    // Masked: nothing delivered, the registers kept.
    let seen = probe(b);
    s.check("evtchn upcall: a masked send delivers nothing", 0, seen.upcalls as i64);
    s.truth("evtchn upcall: a masked send leaves the port pending", si.pending(a));
    s.check("evtchn upcall: a masked send raises upcall_pending", 1, si.upcall_pending() as i64);
    after_ok(s, "evtchn masked send", &seen);

    // Unmasked: the send's exit enters the callback, which clears what
    // the send set.
    si.quiet();
    si.set_word(0, 0);
    let seen = probe(b);
    si.quiet();
    let cb = seen.cb;
    s.check("evtchn upcall: the send enters the callback once", 1, seen.upcalls as i64);
    let stub_end = (seen.page + 32 * 32 + 10) as i64;
    s.check("evtchn upcall frame: RCX is the SYSCALL's RIP", stub_end, cb[0] as i64);
    s.check("evtchn upcall frame: R11 is the SYSCALL's RFLAGS", seen.rflags as i64, cb[1] as i64);
    s.check("evtchn upcall frame: RIP after the stub's SYSCALL", stub_end, cb[2] as i64);
    s.check("evtchn upcall frame: CS selector, any RPL", 0xE030, (cb[3] & 0xFFFC) as i64);
    s.check("evtchn upcall frame: CS carries the saved mask 0", 0, (cb[3] >> 32) as i64);
    s.truth("evtchn upcall frame: RFLAGS.IF from the mask", cb[4] & 0x200 != 0);
    s.check("evtchn upcall frame: RSP in the stub (its two pushes)", (seen.rsp - 24) as i64, cb[5] as i64);
    s.check("evtchn upcall frame: SS", 0xE02B, (cb[6] & 0xFFFF) as i64);
    let want = [0, 4, seen.arg, MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3]];
    let regs = ["RAX is the send's 0", "RDI", "RSI", "RDX", "R8", "R9", "R10"];
    for (k, reg) in regs.iter().enumerate() {
        let mut label = [0u8; 64];
        let n = crate::cases::fmt_into(&mut label, format_args!("evtchn upcall callback: {reg}"));
        s.check(core::str::from_utf8(&label[..n]).unwrap_or(reg), want[k] as i64, cb[7 + k] as i64);
    }
    s.check("evtchn upcall callback: events masked", 1, cb[14] as i64);
    after_ok(s, "evtchn send with its upcall", &seen);
    s.check("evtchn upcall: close one end", 0, port_op(EVTCHNOP_CLOSE, b));
    s.check("evtchn upcall: close the other", 0, port_op(EVTCHNOP_CLOSE, a));
}
