//! `set_debugreg`/`get_debugreg` and `physdev_op` through the dispatcher:
//! the vCPU state they leave and Xen's errno.

use super::*;
use crate::mm::tests::world::D1;
use abi::hypercall::HypercallNr as N;
use abi::physdev;

/// Runs hypercall `nr(args)` on `vcpu` with guest memory `g`; returns RAX.
fn call(vcpu: &mut Vcpu, g: &FakeGuest, nr: N, args: &[u64]) -> i64 {
    let mut w = World::new(16);
    let mut ctx = regs(nr.0, args);
    let caller = Caller {
        dom: D1,
        vcpu,
        guest: g,
        console: &mut Sink::default(),

        host: &HOST,
        events: &mut crate::event::EventChannels::new(),
    };
    assert_eq!(caller.dispatch_fresh(&mut w, &mut ctx), Action::Continue);
    ctx.gpr[reg::RAX] as i64
}

#[test]
fn set_debugreg_checks_and_get_debugreg_reads_back() {
    let g = FakeGuest::new(16);
    let mut v = Vcpu::new(GuestContext::default());
    assert_eq!(call(&mut v, &g, N::SET_DEBUGREG, &[0, 0x1000]), 0);
    assert_eq!(call(&mut v, &g, N::GET_DEBUGREG, &[0]), 0x1000);
    assert_eq!(call(&mut v, &g, N::SET_DEBUGREG, &[1, 0xFFFF_8000_0000_0000]), -1, "EPERM");
    assert_eq!(call(&mut v, &g, N::SET_DEBUGREG, &[7, 1 << 13]), -1, "GD: EPERM");
    assert_eq!(call(&mut v, &g, N::SET_DEBUGREG, &[6, 1 << 32]), -22);
    assert_eq!(call(&mut v, &g, N::SET_DEBUGREG, &[7, 0]), 0);
    assert_eq!(call(&mut v, &g, N::GET_DEBUGREG, &[7]), 0x400);
    assert_eq!(call(&mut v, &g, N::GET_DEBUGREG, &[6]), 0xFFFF_0FF0);
    assert_eq!(call(&mut v, &g, N::GET_DEBUGREG, &[8]), -19);
    assert_eq!(call(&mut v, &g, N::SET_DEBUGREG, &[(1 << 32) | 7, 1]), 0, "reg is an int");
    assert_eq!(v.emul.dr.dr7, 0x401);
    assert_eq!(call(&mut v, &g, N::GET_DEBUGREG, &[u64::MAX]), -19, "(int)-1");
}

#[test]
fn set_iopl_stores_the_virtual_iopl_and_refuses_above_3() {
    let g = FakeGuest::new(64);
    let mut v = Vcpu::new(GuestContext::default());
    g.put(BASE, &1u32.to_le_bytes());
    assert_eq!(call(&mut v, &g, N::PHYSDEV_OP, &[physdev::SET_IOPL, BASE]), 0);
    assert_eq!(v.emul.io.iopl, 1);
    g.put(BASE, &4u32.to_le_bytes());
    assert_eq!(call(&mut v, &g, N::PHYSDEV_OP, &[physdev::SET_IOPL, BASE]), -22);
    assert_eq!(v.emul.io.iopl, 1, "unchanged by a refused call");
    assert_eq!(call(&mut v, &g, N::PHYSDEV_OP, &[physdev::SET_IOPL, 0x10]), -14);
    assert_eq!(call(&mut v, &g, N::PHYSDEV_OP, &[99, BASE]), -38);
}

#[test]
fn set_iobitmap_checks_the_range_and_the_port_count() {
    let g = FakeGuest::new(64);
    let mut v = Vcpu::new(GuestContext::default());
    let put = |bitmap: u64, n: u32| {
        g.put(BASE, &bitmap.to_le_bytes());
        g.put(BASE + 8, &n.to_le_bytes());
    };
    put(0x2000, 1024);
    assert_eq!(call(&mut v, &g, N::PHYSDEV_OP, &[physdev::SET_IOBITMAP, BASE]), 0);
    assert_eq!((v.emul.io.bitmap, v.emul.io.nr_ports), (0x2000, 1024));
    put(0x2000, 65537);
    assert_eq!(call(&mut v, &g, N::PHYSDEV_OP, &[physdev::SET_IOBITMAP, BASE]), -22);
    put(0xFFFF_8000_0000_0000, 8);
    assert_eq!(call(&mut v, &g, N::PHYSDEV_OP, &[physdev::SET_IOBITMAP, BASE]), -22, "hypervisor range");
    put(0x7FFF_FFFF_F000, 8);
    assert_eq!(call(&mut v, &g, N::PHYSDEV_OP, &[physdev::SET_IOBITMAP, BASE]), -22, "runs off the lower half");
    put(0, 65536);
    assert_eq!(call(&mut v, &g, N::PHYSDEV_OP, &[physdev::SET_IOBITMAP, BASE]), 0);
}
