//! Breakpoints and single steps (fact sheet §4.4): DR0–3/DR7 set with
//! `set_debugreg` or an emulated `mov drN` fire in the guest as #DB
//! (trap 1) with DR6 telling which; a breakpoint hit by the hypervisor's
//! own access to guest memory is not delivered; an instruction the
//! hypervisor emulates under TF raises the single-step #DB after it.

use super::{call, Suite};
use crate::arch::debug::*;
use crate::arch::priv_insn::write_dr7;
use abi::guest;
use abi::hypercall::HypercallNr as N;
use core::sync::atomic::Ordering::SeqCst;
use guest_kernel::arch::x86_64::traps::{DB_COUNT, LAST_DB_RIP, LAST_DR6};

/// #DB taken while `f` ran.
fn traps_during(f: impl FnOnce()) -> i64 {
    let before = DB_COUNT.load(SeqCst);
    f();
    (DB_COUNT.load(SeqCst) - before) as i64
}

/// DR7: breakpoint 0 on writes of 8 bytes (R/W 01, LEN 10), L0.
const DR7_WRITE_8: u64 = 0x0009_0001;

pub(super) fn debug(s: &mut Suite) {
    s.check("dbg: no #DB without a breakpoint", 0, traps_during(|| write_watched(1)));
    s.check("dbg: set_debugreg(0) to the watched word", 0, call(N::SET_DEBUGREG, &[0, watched()]));
    s.check("dbg: set_debugreg(7) arms a write breakpoint", 0, call(N::SET_DEBUGREG, &[7, DR7_WRITE_8]));
    s.check("dbg: a write to the watched word raises #DB", 1, traps_during(|| write_watched(2)));
    s.check("dbg: the write happened before the #DB (a trap)", 2, read_watched() as i64);
    s.check("dbg: DR6 at the #DB names breakpoint 0", 0xFFFF_0FF1, LAST_DR6.load(SeqCst) as i64);
    s.check("dbg: DR6 reads back as the handler reset it", 0xFFFF_0FF0, call(N::GET_DEBUGREG, &[6]));
    s.check("dbg: a read of the watched word raises nothing", 0, traps_during(|| _ = read_watched()));
    s.check(
        "dbg: the breakpoint still fires after a yield",
        1,
        traps_during(|| {
            guest::yield_now();
            write_watched(3);
        }),
    );
    // The hypervisor writing the watched word (get_features' output) hits
    // the breakpoint in the hypervisor: ignored there, never delivered.
    let mut r = 0;
    let n = traps_during(|| {
        write_watched(0);
        r = call(N::XEN_VERSION, &[6, watched()]);
    });
    s.check("dbg: a hypercall writing the watched word succeeds", 0, r);
    s.check("dbg: the hypervisor's write raises no #DB in the guest (only the guest's own write)", 1, n);
    s.check("dbg: the hypervisor's write leaves DR6 alone", 0xFFFF_0FF0, call(N::GET_DEBUGREG, &[6]));
    s.check("dbg: set_debugreg(7) disarms it", 0, call(N::SET_DEBUGREG, &[7, 0]));
    s.check("dbg: no #DB once disarmed", 0, traps_during(|| write_watched(4)));
    s.check("dbg: mov to dr7 arms it again", 0, write_dr7(DR7_WRITE_8) as i64);
    s.check("dbg: the emulated mov's breakpoint fires", 1, traps_during(|| write_watched(5)));
    s.check("dbg: mov to dr7 disarms it", 0, write_dr7(0) as i64);
    let _ = call(N::SET_DEBUGREG, &[6, 0]);

    // An instruction breakpoint is a fault: the handler returns with RF
    // set (the guest's iret keeps it), so the function then runs.
    s.check("dbg: set_debugreg(0) to a function", 0, call(N::SET_DEBUGREG, &[0, bp_target_addr()]));
    s.check("dbg: set_debugreg(7) arms an instruction breakpoint", 0, call(N::SET_DEBUGREG, &[7, 1]));
    let mut r = 0;
    s.check("dbg: calling the function raises #DB once", 1, traps_during(|| r = bp_target()));
    s.truth("dbg: the instruction breakpoint's #DB is at the function", LAST_DB_RIP.load(SeqCst) == bp_target_addr());
    s.check("dbg: the function then runs (RF kept by iret)", 0x5EED, r as i64);
    s.check("dbg: the instruction breakpoint's DR6", 0xFFFF_0FF1, LAST_DR6.load(SeqCst) as i64);
    s.check("dbg: a second call raises #DB again", 1, traps_during(|| r = bp_target()));
    let _ = call(N::SET_DEBUGREG, &[7, 0]);
    let _ = call(N::SET_DEBUGREG, &[6, 0]);

    let mut after = 0;
    s.check("dbg: a single step over a nop raises one #DB", 1, traps_during(|| after = step_nop()));
    s.truth("dbg: the nop's step #DB comes after it", LAST_DB_RIP.load(SeqCst) == after);
    s.check("dbg: the nop's step #DB sets DR6.BS", 0xFFFF_4FF0, LAST_DR6.load(SeqCst) as i64);
    s.check(
        "dbg: a single step over an emulated rdmsr raises one #DB",
        1,
        traps_during(|| after = step_rdmsr(0xC000_0080)),
    );
    s.truth("dbg: the rdmsr's step #DB comes after it", LAST_DB_RIP.load(SeqCst) == after);
    s.check("dbg: the rdmsr's step #DB sets DR6.BS", 0xFFFF_4FF0, LAST_DR6.load(SeqCst) as i64);
}
