//! `fpu_taskswitch` through the dispatcher: the virtual TS it leaves.

use super::*;
use crate::mm::tests::world::D1;
use abi::hypercall::HypercallNr as N;

/// Runs `fpu_taskswitch(arg)` on `vcpu`; returns RAX and the action.
fn taskswitch(w: &mut World, vcpu: &mut Vcpu, arg: u64) -> (u64, Action) {
    let g = FakeGuest::new(16);
    let mut ctx = regs(N::FPU_TASKSWITCH.0, &[arg]);
    let caller = Caller {
        dom: D1,
        vcpu,
        guest: &g,
        console: &mut Sink::default(),

        host: &HOST,
        events: &mut crate::event::EventChannels::new(),
    };
    let action = caller.dispatch_fresh(w, &mut ctx);
    (ctx.gpr[reg::RAX], action)
}

#[test]
fn fpu_taskswitch_sets_and_clears_the_virtual_ts_and_returns_0() {
    let mut w = World::new(16);
    let mut vcpu = Vcpu::new(GuestContext::default());
    assert_eq!(taskswitch(&mut w, &mut vcpu, 1), (0, Action::Continue));
    assert!(vcpu.fpu.virtual_ts());
    assert_eq!(taskswitch(&mut w, &mut vcpu, 1), (0, Action::Continue), "setting it twice is fine");
    assert!(vcpu.fpu.virtual_ts());
    assert_eq!(taskswitch(&mut w, &mut vcpu, 0), (0, Action::Continue));
    assert!(!vcpu.fpu.virtual_ts());
}

#[test]
fn only_the_low_32_bits_of_the_argument_count_as_in_xens_int_parameter() {
    let mut w = World::new(16);
    let mut vcpu = Vcpu::new(GuestContext::default());
    taskswitch(&mut w, &mut vcpu, 0x8000_0000);
    assert!(vcpu.fpu.virtual_ts(), "any non-zero int sets it, negative ones too");
    taskswitch(&mut w, &mut vcpu, 1 << 32);
    assert!(!vcpu.fpu.virtual_ts(), "(int)0x100000000 is 0: clears it");
}
