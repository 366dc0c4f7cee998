//! What an `iret` frame leads to: a resume, a fault bounced to the guest
//! with Xen's frame, or a crash. One test per outcome the hostile guest
//! can provoke.

use super::*;
use crate::domain::test_stack::{stack, word, Stack, TOP};
use crate::domain::vcpu::TrapEntry;

const GP_HANDLER: u64 = 0xFFFF_8000_0000_1300;
const NP_HANDLER: u64 = 0xFFFF_8000_0000_1100;
const SS_HANDLER: u64 = 0xFFFF_8000_0000_1200;
const RET_RIP: u64 = 0xFFFF_8000_0000_5000;
const RET_SP: u64 = TOP - 0x100;

fn no_guest() -> GdtView<impl Fn(usize) -> u64> {
    GdtView { guest_entries: 0, ldt_entries: 0, read: |_| unreachable!("no guest descriptors") }
}

fn vcpu_with_handlers() -> Vcpu {
    let mut v = Vcpu::new(GuestContext::default());
    for (vector, address) in [(13, GP_HANDLER), (11, NP_HANDLER), (12, SS_HANDLER)] {
        v.traps[vector] = TrapEntry { address, cs: 0xE033, flags: 0 };
    }
    v
}

/// A kernel-mode frame (CS RPL 0, as bounce frames carry it).
fn frame(cs: u64, ss: u64, rip: u64) -> IretFrame {
    IretFrame { rax: 7, r11: 0x11, rcx: 0xC, flags: 0, rip, cs, rflags: 0x246, rsp: RET_SP, ss }
}

const ROOTS: Roots = Roots { kernel: 0x1000, user: 0x2000 };

fn run(f: IretFrame, v: &Vcpu, s: &Stack) -> (Result<Returned, Crash>, GuestContext) {
    let mut ctx = GuestContext::kernel(0x1234, 0x5678, 0);
    let r = iret(&mut ctx, &mut v.clone(), s, &ROOTS, &f, &no_guest());
    (r, ctx)
}

#[test]
fn kernel_frame_resumes_with_rax_rcx_r11_and_rpl_3() {
    let (s, v) = (stack(), vcpu_with_handlers());
    let (r, c) = run(frame(0xE030, 0xE02B, RET_RIP), &v, &s);
    assert_eq!(r, Ok(Returned::Resumed(Mode::Long)));
    assert_eq!((c.rip, c.cs, c.ss, c.rsp), (RET_RIP, 0xE033, 0xE02B, RET_SP));
    assert_eq!((c.gpr[reg::RAX], c.gpr[reg::RCX], c.gpr[reg::R11]), (7, 0xC, 0x11));
}

#[test]
fn in_syscall_frame_returns_as_sysret_with_rcx_rip_and_r11_flags() {
    let (s, v) = (stack(), vcpu_with_handlers());
    let mut f = frame(0xE030, 0xE02B, RET_RIP);
    f.flags = VGCF_IN_SYSCALL;
    let (_, c) = run(f, &v, &s);
    assert_eq!((c.gpr[reg::RCX], c.gpr[reg::R11]), (RET_RIP, 0x246), "the frame's 0xC and 0x11 are ignored");
}

#[test]
fn in_syscall_frame_meeting_an_upcall_keeps_the_syscalls_rcx_and_r11_as_xen_does() {
    let (s, v) = (stack(), vcpu_with_handlers());
    s.4.set(true);
    let mut f = frame(0xE030, 0xE02B, RET_RIP);
    f.flags = VGCF_IN_SYSCALL;
    // RCX and R11 as the hypercall's SYSCALL left them.
    let entry = || {
        let mut c = GuestContext::kernel(0x1234, 0x5678, 0);
        c.gpr[reg::RCX] = 0xFFFF_8000_0000_0A0B;
        c.gpr[reg::R11] = 0x282;
        c
    };
    let mut c = entry();
    let _ = iret(&mut c, &mut v.clone(), &s, &ROOTS, &f, &no_guest());
    assert_eq!((c.gpr[reg::RCX], c.gpr[reg::R11]), (0xFFFF_8000_0000_0A0B, 0x282), "IF set, upcall pending");
    f.rflags &= !0x200;
    let mut c = entry();
    let _ = iret(&mut c, &mut v.clone(), &s, &ROOTS, &f, &no_guest());
    assert_eq!((c.gpr[reg::RCX], c.gpr[reg::R11]), (RET_RIP, 0x246), "IF clear: nothing due, a plain SYSRET");
}

#[test]
fn rf_is_kept_and_iopl_nt_vm_dropped_as_xen_does() {
    let (s, v) = (stack(), vcpu_with_handlers());
    let mut f = frame(0xE030, 0xE02B, RET_RIP);
    // RF, VM, NT, IOPL 3, TF, IF clear.
    f.rflags = (1 << 16) | (1 << 17) | (1 << 14) | (3 << 12) | (1 << 8) | 0x2;
    let (_, mut c) = run(f, &v, &s);
    c.sanitize_for_exit();
    assert_eq!(c.rflags, (1 << 16) | (1 << 8) | (1 << 9) | 0x2, "RF and TF kept, IF forced");
}

#[test]
fn upper_selector_bits_are_dropped() {
    let (s, v) = (stack(), vcpu_with_handlers());
    let (r, c) = run(frame(0xFF_0000_E030, 0x1_0000_E02B, RET_RIP), &v, &s);
    assert_eq!(r, Ok(Returned::Resumed(Mode::Long)));
    assert_eq!((c.cs, c.ss), (0xE033, 0xE02B));
}

const USER_RIP: u64 = 0x40_1000;
const KERNEL_SP: u64 = TOP - 0x200;

#[test]
fn user_frame_enters_user_mode_on_the_user_root() {
    let (s, mut v) = (stack(), vcpu_with_handlers());
    let mut c = GuestContext::kernel(0x1234, 0x5678, 0);
    let r = iret(&mut c, &mut v, &s, &ROOTS, &frame(0xE033, 0xE02B, USER_RIP), &no_guest());
    assert_eq!(r, Ok(Returned::Resumed(Mode::Long)));
    assert!(v.user_mode);
    assert_eq!(*s.1.borrow(), [(true, ROOTS.user)], "user root loaded, GS swapped, once");
    assert_eq!((c.rip, c.cs, c.ss, c.rsp, c.gpr[reg::RAX]), (USER_RIP, 0xE033, 0xE02B, RET_SP, 7));
}

#[test]
fn user_frame_without_a_user_root_crashes_the_domain() {
    let (s, mut v) = (stack(), vcpu_with_handlers());
    let mut c = GuestContext::kernel(0, 0, 0);
    let roots = Roots { kernel: 0x1000, user: 0 };
    assert!(iret(&mut c, &mut v, &s, &roots, &frame(0xE033, 0xE02B, USER_RIP), &no_guest()).is_err());
    assert!(!v.user_mode && s.1.borrow().is_empty());
}

#[test]
fn user_frame_that_faults_is_bounced_from_user_mode_on_the_kernel_stack() {
    let (s, mut v) = (stack(), vcpu_with_handlers());
    v.kernel_sp = KERNEL_SP;
    let mut c = GuestContext::kernel(0, 0, 0);
    let r = iret(&mut c, &mut v, &s, &ROOTS, &frame(0xE033, 0xE02B, 0x8000_0000_0000), &no_guest());
    assert!(matches!(r, Ok(Returned::Faulted(_))));
    assert!(!v.user_mode, "the bounce switched back to kernel mode");
    assert_eq!(*s.1.borrow(), [(true, ROOTS.user), (false, ROOTS.kernel)]);
    // RCX, R11, error code, RIP, CS (user: RPL 3 kept), RFLAGS, RSP, SS.
    assert_eq!(c.rsp, KERNEL_SP - 8 * 8);
    assert_eq!((c.rip, word(&s, c.rsp + 24), word(&s, c.rsp + 32)), (GP_HANDLER, 0x8000_0000_0000, 0xE033));
}

#[test]
fn flat_32bit_code_selector_resumes_in_compatibility_mode() {
    let (s, v) = (stack(), vcpu_with_handlers());
    let (r, c) = run(frame(0xE020, 0xE02B, 0x40_0000), &v, &s);
    assert_eq!(r, Ok(Returned::Resumed(Mode::Compat)));
    assert_eq!(c.cs, 0xE023);
}

/// The #GP frame on the frame's stack: RCX, R11, error, RIP, CS, RFLAGS, RSP, SS.
fn fault_frame(s: &Stack, c: &GuestContext) -> Vec<u64> {
    (0..8).map(|i| word(s, c.rsp + i * 8)).collect()
}

#[test]
fn hypervisor_code_selector_bounces_gp_with_the_selector_and_the_bad_frame() {
    let (s, v) = (stack(), vcpu_with_handlers());
    let (r, c) = run(frame(0xE008, 0xE02B, RET_RIP), &v, &s);
    assert_eq!(r.map(|r| matches!(r, Returned::Faulted(Fault { vector: 13, error_code: 0xE008, .. }))), Ok(true));
    assert_eq!((c.rip, c.cs, c.ss), (GP_HANDLER, 0xE033, 0xE02B));
    assert_eq!(c.rsp, (RET_SP & !15) - 64, "pushed on the frame's stack");
    assert_eq!(fault_frame(&s, &c), [0xC, 0x11, 0xE008, RET_RIP, 0xE008, 0x246, RET_SP, 0xE02B]);
}

#[test]
fn null_code_selector_bounces_gp_zero() {
    let (s, v) = (stack(), vcpu_with_handlers());
    let (_, c) = run(frame(0, 0xE02B, RET_RIP), &v, &s);
    assert_eq!(c.rip, GP_HANDLER);
    assert_eq!(word(&s, c.rsp + 16), 0);
}

#[test]
fn null_and_hypervisor_stack_selectors_bounce_gp() {
    for (ss, code) in [(0u64, 0u64), (0xE010, 0xE010)] {
        let (s, v) = (stack(), vcpu_with_handlers());
        let (_, c) = run(frame(0xE030, ss, RET_RIP), &v, &s);
        assert_eq!((c.rip, word(&s, c.rsp + 16)), (GP_HANDLER, code), "ss {ss:#x}");
        assert_eq!(word(&s, c.rsp + 56), ss | 3, "the frame shows the refused SS");
    }
}

#[test]
fn non_canonical_rip_bounces_gp_zero() {
    let (s, v) = (stack(), vcpu_with_handlers());
    let (_, c) = run(frame(0xE030, 0xE02B, 0x8000_0000_0000), &v, &s);
    assert_eq!((c.rip, word(&s, c.rsp + 16), word(&s, c.rsp + 24)), (GP_HANDLER, 0, 0x8000_0000_0000));
}

#[test]
fn compat_rip_above_4g_bounces_gp_zero() {
    let (s, v) = (stack(), vcpu_with_handlers());
    let (_, c) = run(frame(0xE020, 0xE02B, 0x1_0000_0000), &v, &s);
    assert_eq!((c.rip, word(&s, c.rsp + 16)), (GP_HANDLER, 0));
}

#[test]
fn not_present_guest_segments_bounce_np_and_ss() {
    let gdt_descs = [0u64, 0x00AF_7A00_0000_FFFF, 0x00CF_7200_0000_FFFF]; // DPL 3, P clear
    let gdt = GdtView { guest_entries: 3, ldt_entries: 0, read: |i| gdt_descs[i] };
    for (cs, ss, handler, code) in [(0x08, 0xE02B, NP_HANDLER, 0x08), (0xE030, 0x10, SS_HANDLER, 0x10)] {
        let (s, v) = (stack(), vcpu_with_handlers());
        let mut c = GuestContext::kernel(0, 0, 0);
        iret(&mut c, &mut v.clone(), &s, &ROOTS, &frame(cs, ss, RET_RIP), &gdt).unwrap();
        assert_eq!((c.rip, word(&s, c.rsp + 16)), (handler, code));
    }
}

#[test]
fn bad_frame_without_a_handler_crashes_the_domain() {
    let s = stack();
    let v = Vcpu::new(GuestContext::default());
    assert!(run(frame(0xE008, 0xE02B, RET_RIP), &v, &s).0.is_err());
}

#[test]
fn bad_frame_whose_stack_cannot_take_the_fault_crashes_the_domain() {
    let (s, v) = (stack(), vcpu_with_handlers());
    let mut f = frame(0xE008, 0xE02B, RET_RIP);
    f.rsp = 0x8000_0000_0000_0000;
    assert!(run(f, &v, &s).0.is_err());
}

#[test]
fn settled_fault_context_passes_the_checks() {
    let (s, v) = (stack(), vcpu_with_handlers());
    let (_, mut c) = run(frame(0xE008, 0xE010, 0x8000_0000_0000), &v, &s);
    assert_eq!(settle_return(&mut c, &mut v.clone(), &s, &ROOTS, &no_guest()), Ok(Returned::Resumed(Mode::Long)));
}

#[test]
fn iret_sets_the_upcall_mask_from_the_frames_if() {
    let (s, v) = (stack(), vcpu_with_handlers());
    s.2.set(1);
    let _ = run(frame(0xE030, 0xE02B, RET_RIP), &v, &s);
    assert_eq!(s.2.get(), 0, "IF set: events unmasked");
    let mut f = frame(0xE030, 0xE02B, RET_RIP);
    f.rflags &= !0x200;
    let _ = run(f, &v, &s);
    assert_eq!(s.2.get(), 1, "IF clear: events masked");
}

/// Selectors, RIPs and flags the fast path must tell apart: the flat
/// ones with either RPL, their neighbours, 32-bit and garbage in the high
/// bits, canonical and not.
fn fast_path_frames() -> impl proptest::strategy::Strategy<Value = (IretFrame, bool, u8)> {
    use proptest::prelude::*;
    let sel = prop_oneof![
        Just(0xE030u64),
        Just(0xE033),
        Just(0xE02B),
        Just(0xE028),
        Just(0xE023),
        Just(0x1_0000_E033),
        Just(0xE008),
        any::<u64>()
    ];
    let rip = prop_oneof![
        Just(RET_RIP),
        Just(0x4000u64),
        Just(0x7FFF_FFFF_FFFF),
        Just(0x8000_0000_0000),
        Just(0xFFFF_7FFF_FFFF_FFFF),
        any::<u64>()
    ];
    let flags = prop_oneof![Just(0u64), Just(VGCF_IN_SYSCALL), any::<u64>()];
    (sel.clone(), sel, rip, flags, any::<u64>(), any::<bool>(), any::<u8>()).prop_map(
        |(cs, ss, rip, flags, rflags, user_root, mask)| {
            let f = IretFrame { rax: 7, r11: 0x11, rcx: 0xC, flags, rip, cs, rflags, rsp: RET_SP, ss };
            (f, user_root, mask)
        },
    )
}

proptest::proptest! {
    /// `iret_flat` (the arch fast path's restore) either declines with
    /// nothing changed, or leaves the context, vCPU, mask and mode
    /// switches exactly as the general `iret` does, and only for returns
    /// the general path resumes without a fault.
    #[test]
    fn the_flat_fast_path_agrees_with_iret_or_declines((f, has_user_root, mask) in fast_path_frames()) {
        let roots = Roots { kernel: 0x1000, user: if has_user_root { 0x2000 } else { 0 } };
        let words = [f.rax, f.r11, f.rcx, f.flags, f.rip, f.cs, f.rflags, f.rsp, f.ss];
        let entry = GuestContext::kernel(0x1234, 0x5678, 0);
        let (fast_s, slow_s) = (stack(), stack());
        fast_s.2.set(mask);
        slow_s.2.set(mask);
        // An upcall pending or not (with VGCF_in_syscall it decides RCX
        // and R11), from the mask's low bit.
        fast_s.4.set(mask & 1 != 0);
        slow_s.4.set(mask & 1 != 0);
        let v = vcpu_with_handlers();
        let (mut fast_ctx, mut fast_v) = (entry, v.clone());
        let took = iret_flat(&mut fast_ctx, &mut fast_v, &fast_s, &words, || roots.user);
        if !took {
            proptest::prop_assert_eq!(fast_ctx, entry);
            proptest::prop_assert_eq!(fast_v.user_mode, false);
            proptest::prop_assert_eq!(fast_s.2.get(), mask);
            proptest::prop_assert!(fast_s.1.borrow().is_empty());
        } else {
            let (mut slow_ctx, mut slow_v) = (entry, v.clone());
            let r = iret(&mut slow_ctx, &mut slow_v, &slow_s, &roots, &f, &no_guest());
            proptest::prop_assert_eq!(r, Ok(Returned::Resumed(Mode::Long)));
            proptest::prop_assert_eq!(fast_ctx, slow_ctx);
            proptest::prop_assert_eq!(fast_v.user_mode, slow_v.user_mode);
            proptest::prop_assert_eq!(fast_s.2.get(), slow_s.2.get());
            proptest::prop_assert_eq!(&*fast_s.1.borrow(), &*slow_s.1.borrow());
        }
    }
}

#[test]
fn the_flat_fast_path_takes_the_bounce_frames_return() {
    let (s, mut v) = (stack(), vcpu_with_handlers());
    let mut c = GuestContext::kernel(0x1234, 0x5678, 0);
    let w = [7, 0x11, 0xC, 0, RET_RIP, 0xE030, 0x246, RET_SP, 0xE02B];
    assert!(iret_flat(&mut c, &mut v, &s, &w, || unreachable!("a kernel return needs no user root")));
    assert_eq!((c.rip, c.cs, c.ss, c.rsp, c.gpr[reg::RAX]), (RET_RIP, 0xE033, 0xE02B, RET_SP, 7));
}
