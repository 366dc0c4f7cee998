//! Host tests of exit decoding, the exit policy and the walk counters.

use super::exit::{code, decode, Exit, IoExit, NpfError, RawExit};
use super::policy::{npf_action, policy, Action, CrashCause, Paging};
use super::walk::{one_d, replay_one_d, replay_two_d, two_d};
use crate::mm::tests::world::D2;
use crate::mm::PhysAddr;
use crate::mm::PhysMemory;
use crate::p2m::npt;
use crate::p2m::tests::world::{Bump, P2mWorld};
use crate::p2m::{Order, P2m, P2mEntry, P2mType, Rights};
use abi::mmu::pte::*;
use abi::{Gfn, Mfn};

fn raw(code: u64, info1: u64, info2: u64) -> RawExit {
    RawExit { code, info1, info2, decode_assists: false }
}

#[test]
fn simple_exits_decode_by_code() {
    assert_eq!(decode(&raw(code::VMMCALL, 0, 0)), Exit::Vmmcall);
    assert_eq!(decode(&raw(code::CPUID, 0, 0)), Exit::Cpuid);
    assert_eq!(decode(&raw(code::HLT, 0, 0)), Exit::Hlt);
    assert_eq!(decode(&raw(code::INTR, 0, 0)), Exit::Intr);
    assert_eq!(decode(&raw(code::NMI, 0, 0)), Exit::Nmi);
    assert_eq!(decode(&raw(code::SHUTDOWN, 0, 0)), Exit::Shutdown);
    assert_eq!(decode(&raw(code::INVALID, 0, 0)), Exit::Invalid);
    assert_eq!(decode(&raw(0x8E, 0, 0)), Exit::Unknown(0x8E));
    assert_eq!(decode(&raw(code::MSR, 0, 0)), Exit::Msr { write: false });
    assert_eq!(decode(&raw(code::MSR, 1, 0)), Exit::Msr { write: true });
    assert_eq!(decode(&raw(code::MSR, 2, 0)), Exit::Malformed(code::MSR));
}

#[test]
fn ioio_exitinfo1_gives_port_size_direction_and_string_form() {
    // in al, 0x60: IN, 8-bit, port 0x60.
    let e = decode(&raw(code::IOIO, 0x0060_0011, 0x1002));
    let io = IoExit {
        port: 0x60,
        size: 1,
        input: true,
        string: false,
        rep: false,
        addr_size: 0,
        segment: 0,
        next_rip: 0x1002,
    };
    assert_eq!(e, Exit::Io(io));
    // rep outsw to port 0x3F8 with 64-bit addresses from DS (3).
    let info = (0x3F8 << 16) | (3 << 10) | (1 << 9) | (1 << 5) | (1 << 3) | (1 << 2);
    let Exit::Io(io) = decode(&raw(code::IOIO, info, 7)) else { panic!() };
    assert_eq!(
        (io.port, io.size, io.input, io.string, io.rep, io.addr_size, io.segment),
        (0x3F8, 2, false, true, true, 8, 3)
    );
    // out dx, eax.
    let Exit::Io(io) = decode(&raw(code::IOIO, (0xCF8 << 16) | (1 << 6), 0)) else { panic!() };
    assert_eq!((io.port, io.size), (0xCF8, 4));
}

#[test]
fn ioio_with_no_or_two_sizes_is_malformed() {
    assert_eq!(decode(&raw(code::IOIO, 0x0060_0001, 0)), Exit::Malformed(code::IOIO));
    assert_eq!(decode(&raw(code::IOIO, 0x0060_0031, 0)), Exit::Malformed(code::IOIO));
    // A string instruction must have an address size.
    assert_eq!(decode(&raw(code::IOIO, 0x0060_0015, 0)), Exit::Malformed(code::IOIO));
}

#[test]
fn npf_exitinfo_gives_the_error_bits_and_the_gpa() {
    let e = decode(&raw(code::NPF, (1 << 32) | 0b10111, 0xABC_D123));
    let error = NpfError {
        present: true,
        write: true,
        user: true,
        rsvd: false,
        fetch: true,
        final_gpa: true,
        guest_table: false,
    };
    assert_eq!(e, Exit::Npf { gpa: 0xABC_D123, error });
    let Exit::Npf { error, .. } = decode(&raw(code::NPF, (1 << 33) | 4, 0)) else { panic!() };
    assert!(error.guest_table && !error.final_gpa && !error.present && error.user);
}

#[test]
fn cr3_and_invlpg_name_their_operand_only_with_decode_assists() {
    assert_eq!(decode(&raw(code::CR3_WRITE, (1 << 63) | 5, 0)), Exit::Cr3Write { gpr: None });
    let assisted = RawExit { decode_assists: true, ..raw(code::CR3_WRITE, (1 << 63) | 5, 0) };
    assert_eq!(decode(&assisted), Exit::Cr3Write { gpr: Some(5) });
    let inv = RawExit { decode_assists: true, ..raw(code::INVLPG, 0xFFFF_8000_0000_1000, 0) };
    assert_eq!(decode(&inv), Exit::Invlpg { linear: Some(0xFFFF_8000_0000_1000) });
    assert_eq!(decode(&raw(code::INVLPG, 0x1000, 0)), Exit::Invlpg { linear: None });
}

#[test]
fn exception_intercepts_decode_with_vector_and_error_code() {
    assert_eq!(decode(&raw(code::EXCEPTION_PF, 6, 0xdead_0000)), Exit::PageFault { error_code: 6, cr2: 0xdead_0000 });
    assert_eq!(decode(&raw(code::EXCEPTION_BASE + 13, 0x10, 0)), Exit::Exception { vector: 13, error_code: 0x10 });
}

#[test]
fn policy_is_the_same_for_the_common_exits_in_both_modes() {
    for paging in [Paging::Nested, Paging::Shadow] {
        assert_eq!(policy(&Exit::Vmmcall, paging), Action::Hypercall { insn_len: 3 });
        assert_eq!(policy(&Exit::Cpuid, paging), Action::Cpuid { insn_len: 2 });
        assert_eq!(policy(&Exit::Msr { write: true }, paging), Action::Msr { write: true, insn_len: 2 });
        assert_eq!(policy(&Exit::Hlt, paging), Action::Block { insn_len: 1 });
        assert_eq!(policy(&Exit::Intr, paging), Action::HostInterrupt);
        assert_eq!(policy(&Exit::Nmi, paging), Action::HostNmi);
        assert_eq!(policy(&Exit::Shutdown, paging), Action::Crash(CrashCause::TripleFault));
        assert_eq!(policy(&Exit::Unknown(0x8E), paging), Action::Crash(CrashCause::UnexpectedExit(0x8E)));
        let Exit::Io(io) = decode(&raw(code::IOIO, 0x0060_0011, 9)) else { panic!() };
        assert_eq!(policy(&Exit::Io(io), paging), Action::NullIo(io));
    }
}

#[test]
fn paging_exits_go_to_their_own_mode_and_crash_the_domain_in_the_other() {
    let npf = Exit::Npf {
        gpa: 0x5000,
        error: NpfError {
            present: false,
            write: false,
            user: true,
            rsvd: false,
            fetch: false,
            final_gpa: true,
            guest_table: false,
        },
    };
    assert!(matches!(policy(&npf, Paging::Nested), Action::NestedFault { gpa: 0x5000, .. }));
    assert_eq!(policy(&npf, Paging::Shadow), Action::Crash(CrashCause::UnexpectedExit(code::NPF)));
    let pf = Exit::PageFault { error_code: 2, cr2: 0x7000 };
    assert_eq!(policy(&pf, Paging::Shadow), Action::ShadowFault { va: 0x7000, error_code: 2 });
    assert_eq!(policy(&pf, Paging::Nested), Action::Crash(CrashCause::UnexpectedExit(code::EXCEPTION_PF)));
    assert_eq!(policy(&Exit::Cr3Write { gpr: None }, Paging::Shadow), Action::ShadowCr3 { gpr: None });
    assert_eq!(
        policy(&Exit::Cr3Write { gpr: Some(1) }, Paging::Nested),
        Action::Crash(CrashCause::UnexpectedExit(code::CR3_WRITE))
    );
    assert_eq!(policy(&Exit::Invlpg { linear: Some(8) }, Paging::Shadow), Action::ShadowInvlpg { va: Some(8) });
    assert_eq!(
        policy(&Exit::Invlpg { linear: None }, Paging::Nested),
        Action::Crash(CrashCause::UnexpectedExit(code::INVLPG))
    );
}

#[test]
fn nested_faults_are_stale_tlb_entries_or_crash_the_domain() {
    let mut t = P2mWorld::new();
    t.with(|p, mm| p.populate(mm, Gfn(3), Order::Page4K)).unwrap();
    let foreign = t.w.give(D2, 1)[0];
    let ro = P2mEntry { mfn: foreign, ty: P2mType::Grant, rights: Rights::R };
    t.with(|p, mm| p.set_entry(mm, Gfn(4), Order::Page4K, Some(ro))).unwrap();
    let err = |write: bool, fetch: bool, rsvd: bool| NpfError {
        present: true,
        write,
        user: true,
        rsvd,
        fetch,
        final_gpa: true,
        guest_table: false,
    };
    let p = P2m::reopen(crate::mm::tests::world::D1, &mut t.slots, &mut t.supers);
    assert_eq!(npf_action(&p, 0x3010, err(true, false, false)), Action::FlushAndRetry);
    assert_eq!(npf_action(&p, 0x9000, err(false, false, false)), Action::Crash(CrashCause::Unmapped(Gfn(9))));
    assert_eq!(npf_action(&p, 0x4000, err(true, false, false)), Action::Crash(CrashCause::ReadOnly(Gfn(4))));
    assert_eq!(npf_action(&p, 0x4000, err(false, true, false)), Action::Crash(CrashCause::NoExecute(Gfn(4))));
    assert_eq!(npf_action(&p, 0x4000, err(false, false, false)), Action::FlushAndRetry);
    assert_eq!(npf_action(&p, 0x3000, err(false, false, true)), Action::Crash(CrashCause::NestedTableCorrupt(Gfn(3))));
}

#[test]
fn walk_formulas_give_n_and_n_plus_1_times_m_plus_1_minus_1() {
    assert_eq!(one_d(4), 4);
    assert_eq!(two_d(4, 4), 24);
    assert_eq!(two_d(4, 3), 19);
    assert_eq!(two_d(3, 4), 19);
    assert_eq!(two_d(2, 2), 8);
}

/// Guest tables in guest frames `base..base+4` (L4, L3, L2, L1) mapping VA
/// 5 pages to guest frame `base + 4`, optionally as a 2 MiB page instead.
fn guest_tables(t: &mut P2mWorld, base: u64, big: bool) {
    let upper = PRESENT | RW | USER | ACCESSED;
    let put = |t: &mut P2mWorld, g: u64, i: u64, v: u64| {
        let m = t.get(g).unwrap().0.mfn;
        t.w.mem.write_u64(PhysAddr(m.to_maddr() + i * 8), v);
    };
    put(t, base, 0, ((base + 1) << 12) | upper);
    put(t, base + 1, 0, ((base + 2) << 12) | upper);
    if big {
        put(t, base + 2, 0, PAT_PSE | upper);
    } else {
        put(t, base + 2, 0, ((base + 3) << 12) | upper);
        put(t, base + 3, 5, ((base + 4) << 12) | upper);
    }
}

fn npt_of(t: &mut P2mWorld) -> Mfn {
    let p = P2m::reopen(crate::mm::tests::world::D1, &mut t.slots, &mut t.supers);
    npt::build(&p, &mut t.w.mem, &mut Bump(1 << 22)).unwrap()
}

#[test]
fn replayed_nested_walk_of_4k_tables_on_4k_nested_entries_is_24_references() {
    let mut t = P2mWorld::new();
    for g in 0..5 {
        t.with(|p, mm| p.populate(mm, Gfn(g), Order::Page4K)).unwrap();
    }
    guest_tables(&mut t, 0, false);
    let root = npt_of(&mut t);
    assert_eq!(replay_two_d(&t.w.mem, root, Gfn(0), 5 << 12), Some(two_d(4, 4)));
    assert_eq!(replay_two_d(&t.w.mem, root, Gfn(0), 6 << 12), None, "not mapped by the guest");
}

#[test]
fn replayed_nested_walk_counts_large_pages_in_either_dimension() {
    let mut t = P2mWorld::new();
    // 2 MiB nested entries: 3 references per host walk.
    t.w.hooks.pool = (512..1024).map(Mfn).collect();
    t.with(|p, mm| p.populate(mm, Gfn(512), Order::Page2M)).unwrap();
    guest_tables(&mut t, 512, false);
    let root = npt_of(&mut t);
    assert_eq!(replay_two_d(&t.w.mem, root, Gfn(512), 5 << 12), Some(two_d(4, 3)));
    // A guest 2 MiB page (based at guest frame 0, which is not mapped)
    // faults in the nested dimension.
    guest_tables(&mut t, 512, true);
    assert_eq!(replay_two_d(&t.w.mem, root, Gfn(512), 5 << 12), None);
}

#[test]
fn replayed_nested_walk_with_a_guest_2m_page_is_19_references() {
    let mut t = P2mWorld::new();
    for g in 0..16 {
        t.with(|p, mm| p.populate(mm, Gfn(g), Order::Page4K)).unwrap();
    }
    guest_tables(&mut t, 0, true);
    let root = npt_of(&mut t);
    assert_eq!(replay_two_d(&t.w.mem, root, Gfn(0), 5 << 12), Some(two_d(3, 4)));
}

#[test]
fn replayed_one_d_walk_counts_levels() {
    let mut mem = crate::mm::phys_mem::fake::FakeMemory::default();
    let e = |m: u64| (m << 12) | PRESENT | RW;
    mem.write_u64(PhysAddr(0x10_000), e(0x11));
    mem.write_u64(PhysAddr(0x11_000), e(0x12));
    mem.write_u64(PhysAddr(0x12_000), e(0x13));
    mem.write_u64(PhysAddr(0x13_000 + 5 * 8), e(0x99));
    assert_eq!(replay_one_d(&mem, Mfn(0x10), 5 << 12), Some(one_d(4)));
    mem.write_u64(PhysAddr(0x12_000), e(0x200) | PAT_PSE);
    assert_eq!(replay_one_d(&mem, Mfn(0x10), 5 << 12), Some(3));
    assert_eq!(replay_one_d(&mem, Mfn(0x10), 1 << 39), None);
}

proptest::proptest! {
    /// Whatever the VMCB holds, decoding and policy answer (no panic), and
    /// a mode never gets the other mode's paging actions.
    #[test]
    fn any_exit_decodes_to_an_action_of_its_own_mode(code in proptest::prop_oneof![0u64..0x500, proptest::prelude::any::<u64>()], info1: u64, info2: u64, assists: bool) {
        let e = decode(&RawExit { code, info1, info2, decode_assists: assists });
        let nested = policy(&e, Paging::Nested);
        let shadow = policy(&e, Paging::Shadow);
        let nested_shadowish = matches!(nested, Action::ShadowFault { .. } | Action::ShadowCr3 { .. } | Action::ShadowInvlpg { .. });
        let shadow_nestedish = matches!(shadow, Action::NestedFault { .. });
        proptest::prop_assert!(!nested_shadowish, "nested got {:?}", nested);
        proptest::prop_assert!(!shadow_nestedish, "shadow got {:?}", shadow);
        if let Exit::Io(io) = e {
            proptest::prop_assert!(matches!(io.size, 1 | 2 | 4));
        }
    }
}

#[test]
fn cr0_and_cr4_accesses_and_cr3_reads_decode_and_go_to_shadow_mode_only() {
    for (c, cr, write) in [
        (code::CR0_READ, 0, false),
        (code::CR3_READ, 3, false),
        (code::CR4_READ, 4, false),
        (code::CR0_WRITE, 0, true),
        (code::CR4_WRITE, 4, true),
    ] {
        let e = decode(&raw(c, (1 << 63) | 2, 0));
        assert_eq!(e, Exit::CrAccess { cr, write, gpr: None }, "no decode assists: decode at RIP");
        let assisted = RawExit { decode_assists: true, ..raw(c, (1 << 63) | 2, 0) };
        assert_eq!(decode(&assisted), Exit::CrAccess { cr, write, gpr: Some(2) });
        assert_eq!(policy(&e, Paging::Shadow), Action::ShadowCr { cr, write, gpr: None });
        assert_eq!(policy(&e, Paging::Nested), Action::Crash(CrashCause::UnexpectedExit(c)));
    }
}

#[test]
fn the_interrupt_window_exit_decodes_and_lets_a_held_upcall_in() {
    assert_eq!(decode(&raw(code::VINTR, 0, 0)), Exit::Vintr);
    for paging in [Paging::Nested, Paging::Shadow] {
        assert_eq!(policy(&Exit::Vintr, paging), Action::InterruptWindow);
    }
}

#[test]
fn opening_the_interrupt_window_sets_v_irq_and_the_vintr_intercept_and_closing_clears_only_those() {
    use crate::hvm::vmcb::{intercept, VmcbControl, V_IGN_TPR, V_IRQ};
    let mut c = VmcbControl::zeroed();
    c.set_pvh_intercepts(Paging::Nested);
    c.int_ctl = 1 << 24;
    let before = c;
    c.interrupt_window(true);
    assert!(c.intercepted(intercept::VINTR));
    assert_eq!(c.int_ctl, (1 << 24) | V_IRQ | V_IGN_TPR);
    assert!(c.intercepted(intercept::INTR) && c.intercepted(intercept::HLT), "the others stay");
    c.interrupt_window(false);
    assert!(!c.intercepted(intercept::VINTR));
    assert_eq!(c.int_ctl, before.int_ctl);
    assert_eq!(c.intercepts, before.intercepts);
}
