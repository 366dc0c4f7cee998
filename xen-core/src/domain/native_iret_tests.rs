//! The spurious-fault test and the completed `iretq`: each outcome a
//! guest can reach, and the faults a correct CPU would raise instead.

use super::*;
use crate::domain::iret::Returned;
use crate::domain::segments::Mode;
use crate::domain::test_stack::{stack, word, Stack, BASE, TOP};
use crate::domain::vcpu::TrapEntry;

const IRETQ: [u8; 8] = [0x48, 0xCF, 0xE9, 0, 0, 0, 0, 0];
const SP: u64 = TOP - 0x100;
const TARGET: u64 = 0xFFFF_8000_0000_5000;
const GP_HANDLER: u64 = 0xFFFF_8000_0000_1300;
const IRETQ_RIP: u64 = 0xFFFF_8000_0000_4000;
const ROOTS: Roots = Roots { kernel: 0x1000, user: 0x2000 };

fn no_guest() -> GdtView<impl Fn(usize) -> u64> {
    GdtView { guest_entries: 0, ldt_entries: 0, read: |_| unreachable!("no guest descriptors") }
}

fn vcpu() -> Vcpu {
    let mut v = Vcpu::new(GuestContext::default());
    v.traps[13] = TrapEntry { address: GP_HANDLER, cs: 0xE033, flags: 0 };
    v
}

/// A stack holding the IRETQ frame at `SP`, and a context at the iretq.
fn setup(rip: u64, cs: u64, rflags: u64, rsp: u64, ss: u64) -> (Stack, GuestContext) {
    let s = stack();
    for (i, w) in [rip, cs, rflags, rsp, ss].into_iter().enumerate() {
        let off = (SP - BASE) as usize + i * 8;
        s.0.borrow_mut()[off..off + 8].copy_from_slice(&w.to_le_bytes());
    }
    let mut c = GuestContext::kernel(IRETQ_RIP, SP, 0);
    c.rflags = 0x202;
    (s, c)
}

#[test]
fn supervisor_read_fault_on_the_frame_of_an_iretq_is_spurious() {
    assert!(is_spurious_iretq_fault(1, &IRETQ, SP, SP));
    assert!(is_spurious_iretq_fault(1, &IRETQ, SP + 39, SP), "any word of the frame");
    assert!(is_spurious_iretq_fault(1, &[0x4F, 0xCF], SP, SP), "any REX.W prefix");
}

#[test]
fn genuine_faults_are_not_taken_for_spurious_ones() {
    assert!(!is_spurious_iretq_fault(1 | 4, &IRETQ, SP, SP), "U/S set: a real ring-3 fault");
    assert!(!is_spurious_iretq_fault(0, &IRETQ, SP, SP), "page not present");
    assert!(!is_spurious_iretq_fault(1 | 2, &IRETQ, SP, SP), "a write");
    assert!(!is_spurious_iretq_fault(1 | 16, &IRETQ, SP, SP), "an instruction fetch");
    assert!(!is_spurious_iretq_fault(1, &IRETQ, SP + 40, SP), "beyond the frame");
    assert!(!is_spurious_iretq_fault(1, &IRETQ, SP - 1, SP), "below the frame");
    assert!(!is_spurious_iretq_fault(1, &[0xCF, 0], SP, SP), "32-bit iret");
    assert!(!is_spurious_iretq_fault(1, &[0x40, 0xCF], SP, SP), "REX without W");
    assert!(!is_spurious_iretq_fault(1, &[0x48, 0x8B], SP, SP), "another instruction");
    assert!(!is_spurious_iretq_fault(1, &[0x48], SP, SP), "too short to tell");
}

#[test]
fn completed_iretq_loads_the_frame_and_keeps_if_set() {
    let (s, mut c) = setup(TARGET, 0xE033, 0x0000_0000_0000_0ED7 & !0x200, SP + 0x40, 0xE02B);
    let mut v = vcpu();
    let r = complete_iretq(&mut c, &mut v, &s, &ROOTS, &no_guest(), SP);
    assert_eq!(r, Ok(Completed::Returned(Returned::Resumed(Mode::Long))));
    assert_eq!((c.rip, c.cs, c.rsp, c.ss), (TARGET, 0xE033, SP + 0x40, 0xE02B));
    assert_eq!(c.rflags & 0x200, 0x200, "IF stays set: the virtual IF is in vcpu_info");
    assert_eq!(c.rflags & 0xCD5, 0xCD5 & 0xED7, "arithmetic flags, DF and OF are popped");
    assert!(!v.user_mode && s.1.borrow().is_empty(), "a native iretq never switches guest mode");
}

#[test]
fn popped_iopl_and_nt_are_ignored_in_ring_3() {
    let (s, mut c) = setup(TARGET, 0xE033, 0x3000 | 0x4000 | 0x2, SP + 0x40, 0xE02B);
    complete_iretq(&mut c, &mut vcpu(), &s, &ROOTS, &no_guest(), SP).expect("resumes");
    assert_eq!(c.rflags & 0x7000, 0, "ring 3 cannot raise IOPL or set NT through iretq");
}

/// The #GP frame bounced on the guest stack: RCX, R11, error code, RIP.
fn gp_error_and_rip(s: &Stack, c: &GuestContext) -> (u64, u64) {
    (word(s, c.rsp + 16), word(s, c.rsp + 24))
}

#[test]
fn iretq_to_a_more_privileged_cs_raises_gp_at_the_iretq() {
    let (s, mut c) = setup(TARGET, 0xE030, 0x202, SP + 0x40, 0xE02B);
    let r = complete_iretq(&mut c, &mut vcpu(), &s, &ROOTS, &no_guest(), SP);
    assert!(matches!(r, Ok(Completed::Returned(Returned::Faulted(Fault { vector: 13, error_code: 0xE030, .. })))));
    assert_eq!(c.rip, GP_HANDLER);
    assert_eq!(gp_error_and_rip(&s, &c), (0xE030, IRETQ_RIP), "raised at the iretq, nothing popped");
}

#[test]
fn iretq_with_a_bad_stack_rpl_raises_gp_with_the_selector() {
    let (s, mut c) = setup(TARGET, 0xE033, 0x202, SP + 0x40, 0xE028);
    let r = complete_iretq(&mut c, &mut vcpu(), &s, &ROOTS, &no_guest(), SP);
    assert!(matches!(r, Ok(Completed::Returned(Returned::Faulted(Fault { vector: 13, error_code: 0xE028, .. })))));
}

#[test]
fn iretq_to_the_hypervisor_code_selector_raises_gp() {
    let (s, mut c) = setup(TARGET, 0xE00B, 0x202, SP + 0x40, 0xE02B);
    let r = complete_iretq(&mut c, &mut vcpu(), &s, &ROOTS, &no_guest(), SP);
    assert!(matches!(r, Ok(Completed::Returned(Returned::Faulted(Fault { vector: 13, .. })))));
    assert_eq!(gp_error_and_rip(&s, &c).1, IRETQ_RIP);
}

#[test]
fn iretq_to_a_non_canonical_rip_raises_gp_at_the_iretq() {
    let (s, mut c) = setup(0x8000_0000_0000, 0xE033, 0x202, SP + 0x40, 0xE02B);
    let r = complete_iretq(&mut c, &mut vcpu(), &s, &ROOTS, &no_guest(), SP);
    assert!(matches!(r, Ok(Completed::Returned(Returned::Faulted(Fault { vector: 13, error_code: 0, .. })))));
    assert_eq!(gp_error_and_rip(&s, &c).1, IRETQ_RIP);
}

#[test]
fn iretq_with_nt_set_raises_gp_zero() {
    let (s, mut c) = setup(TARGET, 0xE033, 0x202, SP + 0x40, 0xE02B);
    c.rflags |= 0x4000;
    let r = complete_iretq(&mut c, &mut vcpu(), &s, &ROOTS, &no_guest(), SP);
    assert!(matches!(r, Ok(Completed::Returned(Returned::Faulted(Fault { vector: 13, error_code: 0, .. })))));
}

#[test]
fn frame_the_guest_cannot_read_is_its_own_page_fault_with_us_set() {
    let (s, mut c) = setup(TARGET, 0xE033, 0x202, SP + 0x40, 0xE02B);
    c.rsp = TOP - 16;
    let before = c;
    let r = complete_iretq(&mut c, &mut vcpu(), &s, &ROOTS, &no_guest(), TOP - 16);
    assert_eq!(r, Ok(Completed::PageFault { va: TOP, error_code: 4 }), "the next page: absent");
    let r = complete_iretq(&mut c, &mut vcpu(), &s, &ROOTS, &no_guest(), TOP);
    assert_eq!(r, Ok(Completed::PageFault { va: TOP, error_code: 5 }), "the page that faulted: present");
    assert_eq!(c, before, "nothing changed; the caller delivers the #PF");
}

#[test]
fn fault_with_no_handler_crashes_the_domain() {
    let (s, mut c) = setup(TARGET, 0xE030, 0x202, SP + 0x40, 0xE02B);
    let r = complete_iretq(&mut c, &mut Vcpu::new(GuestContext::default()), &s, &ROOTS, &no_guest(), SP);
    assert!(r.is_err());
}
