//! `fpu_taskswitch` through the dispatcher: the virtual TS it leaves.

use super::*;
use crate::mm::tests::world::D1;
use abi::hypercall::HypercallNr as N;

/// Runs `fpu_taskswitch(arg)` on `vcpu`; returns RAX and the action.
fn taskswitch(w: &mut World, vcpu: &mut Vcpu, arg: u64) -> (u64, Action) {
    let g = FakeGuest::new(16);
    let mut out = Sink::default();
    let mut line = crate::console::LineBuf::new();
    let mut mm = w.mm();
    let mut ctx = regs(N::FPU_TASKSWITCH.0, &[arg]);
    let (t, a, m) = crate::grant::storage_for(3);
    let (mut t, mut a, mut m) = (
        vec![crate::grant::GrantTable::NONE; t],
        vec![crate::grant::Active::FREE; a],
        vec![crate::grant::MapTrack::FREE; m],
    );
    let mut g_grants = crate::grant::Grants { tables: &mut t, active: &mut a, maptrack: &mut m, nx: true };
    let mut call = Call {
        dom: D1,
        ctx: &mut ctx,
        vcpu,
        mm: &mut mm,
        guest: &g,
        console: &mut out,
        shared_info: Mfn(0),
        line: &mut line,
        entry_len: 2,
        host: &HOST,
        grants: &mut g_grants,
        events: &mut crate::event::EventChannels::new(),
    };
    let action = call.dispatch(N::FPU_TASKSWITCH.0);
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
