//! One test per IRETQ rule and per load rule: the flat selectors, then
//! each refusal with the exception the hardware would raise, then guest
//! GDT descriptors.

use super::*;

const CODE64_DPL0: u64 = 0x00AF_9A00_0000_FFFF;
const CODE32_DPL0: u64 = 0x00CF_9A00_0000_FFFF;
const CODE16_DPL3: u64 = 0x0000_FA00_0000_FFFF; // byte granular, limit 0xFFFF
const DATA_DPL0: u64 = 0x00CF_9200_0000_FFFF;
const DATA_READ_ONLY: u64 = 0x00CF_F000_0000_FFFF;
const CALL_GATE: u64 = 0x0000_EC00_E008_1000;
const TSS: u64 = 0x0000_8900_0000_0067;
const NOT_PRESENT: u64 = 1 << 47;
const DPL3: u64 = 3 << 45;

/// A guest GDT with these descriptors at indices 0.. (selector = i * 8).
fn guest(descs: &[u64]) -> GdtView<impl Fn(usize) -> u64 + '_> {
    GdtView { guest_entries: descs.len(), ldt_entries: 0, read: move |i| descs[i] }
}

fn no_guest() -> GdtView<impl Fn(usize) -> u64> {
    GdtView { guest_entries: 0, ldt_entries: 0, read: |_| unreachable!("no guest descriptors") }
}

fn gp(code: u64) -> (u8, u64) {
    (13, code)
}

fn fault(r: Result<Mode, Fault>) -> (u8, u64) {
    let f = r.expect_err("the return must be refused");
    (f.vector, f.error_code)
}

#[test]
fn the_flat_selector_shortcut_gives_the_descriptor_tables_answer() {
    let rips = [0, 0x40_0000, 0x7FFF_FFFF_FFFF, 0x8000_0000_0000, 0xFFFF_8000_0000_0000, 0xFFFF_FFFF_8000_0000];
    for cs in 0xE030..=0xE033u16 {
        for ss in 0xE028..=0xE02Bu16 {
            for rip in rips {
                let tables = check_return_in_tables(cs, ss, rip, &no_guest());
                assert_eq!(check_return(cs, ss, rip, &no_guest()), tables, "{cs:#x} {ss:#x} {rip:#x}");
            }
        }
    }
}

#[test]
fn flat_64bit_selectors_return_to_long_mode() {
    assert_eq!(check_return(0xE033, 0xE02B, 0xFFFF_FFFF_8000_0000, &no_guest()), Ok(Mode::Long));
    assert_eq!(check_return(0xE033, 0xE02B, 0x40_0000, &no_guest()), Ok(Mode::Long));
}

#[test]
fn flat_32bit_code_selector_returns_to_compatibility_mode() {
    assert_eq!(check_return(0xE023, 0xE02B, 0xFFFF_F000, &no_guest()), Ok(Mode::Compat));
}

#[test]
fn null_code_selector_raises_gp_zero() {
    assert_eq!(fault(check_return(0x0003, 0xE02B, 0x1000, &no_guest())), gp(0));
}

#[test]
fn hypervisor_code_selector_raises_gp_with_the_selector() {
    assert_eq!(fault(check_return(0xE00B, 0xE02B, 0x1000, &no_guest())), gp(0xE008));
}

#[test]
fn hypervisor_data_selector_as_stack_raises_gp_with_the_selector() {
    assert_eq!(fault(check_return(0xE033, 0xE013, 0x1000, &no_guest())), gp(0xE010));
}

#[test]
fn null_stack_selector_raises_gp_zero() {
    assert_eq!(fault(check_return(0xE033, 0x0003, 0x1000, &no_guest())), gp(0));
}

#[test]
fn data_segment_as_code_raises_gp() {
    assert_eq!(fault(check_return(0xE02B, 0xE02B, 0x1000, &no_guest())), gp(0xE028));
}

#[test]
fn code_segment_as_stack_raises_gp() {
    assert_eq!(fault(check_return(0xE033, 0xE033, 0x1000, &no_guest())), gp(0xE030));
}

#[test]
fn tss_is_neither_code_nor_stack() {
    assert_eq!(fault(check_return(0xE043, 0xE02B, 0x1000, &no_guest())), gp(0xE040));
    assert_eq!(fault(check_return(0xE033, 0xE043, 0x1000, &no_guest())), gp(0xE040));
}

#[test]
fn unused_reserved_entries_are_null() {
    for sel in [0xE003u16, 0xE01B, 0xE03B, 0xE04B, 0xFFFB - 0x1000] {
        assert_eq!(fault(check_return(sel, 0xE02B, 0x1000, &no_guest())), gp(u64::from(sel & !3)), "{sel:#x}");
    }
}

#[test]
fn ldt_selectors_are_refused_without_an_ldt() {
    let g = [0, CODE64_DPL0, DATA_DPL0];
    assert_eq!(fault(check_return(0x000F, 0x0013, 0x1000, &guest(&g))), gp(0x000C));
    assert_eq!(fault(check_return(0x000B, 0x0017, 0x1000, &guest(&g))), gp(0x0014));
}

#[test]
fn ldt_selectors_name_the_ldt_as_loaded_up_to_its_limit() {
    // LDT entry 0: 64-bit code (DPL 0, loaded with DPL 3), 1: data, 2: a
    // page not mapped yet (reads 0).
    let ldt = [CODE64_DPL0, DATA_DPL0, 0];
    let view = GdtView {
        guest_entries: 0,
        ldt_entries: 3,
        read: |i: usize| ldt[i.checked_sub(LDT_INDEX).expect("only the LDT is read")],
    };
    assert_eq!(view.descriptor(0x0007), Some(CODE64_DPL0 | (3 << 45)));
    assert_eq!(view.descriptor(0x000F), Some(DATA_DPL0 | (3 << 45)));
    assert_eq!(view.descriptor(0x0017), Some(0), "not mapped: null");
    assert_eq!(view.descriptor(0x001F), None, "beyond the LDT limit");
    assert_eq!(check_return(0x0007, 0x000F, 0x1000, &view), Ok(Mode::Long), "iret to LDT code and stack");
    assert_eq!(fault(check_return(0x0017 | 3, 0x000F, 0x1000, &view)), gp(0x0014));
}

#[test]
fn selectors_beyond_the_gdt_limit_are_refused() {
    let last = (GDT_ENTRIES as u16) << 3;
    assert_eq!(fault(check_return(last | 3, 0xE02B, 0x1000, &no_guest())), gp(u64::from(last)));
    assert_eq!(fault(check_return(0xFFFB, 0xE02B, 0x1000, &no_guest())), gp(0xFFF8));
}

#[test]
fn guest_code_and_data_of_any_dpl_are_loaded_with_dpl_3_and_accepted() {
    let g = [0, CODE64_DPL0, DATA_DPL0, CODE32_DPL0];
    assert_eq!(check_return(0x000B, 0x0013, 0x1000, &guest(&g)), Ok(Mode::Long));
    assert_eq!(check_return(0x001B, 0x0013, 0x1000, &guest(&g)), Ok(Mode::Compat));
}

#[test]
fn guest_selectors_past_the_domains_entries_are_null() {
    let g = [0, CODE64_DPL0, DATA_DPL0];
    assert_eq!(fault(check_return(0x001B, 0xE02B, 0x1000, &guest(&g))), gp(0x0018));
    assert_eq!(fault(check_return(0xE033, 0x001B, 0x1000, &guest(&g))), gp(0x0018));
}

#[test]
fn not_present_dpl_3_code_segment_raises_np() {
    let g = [0, (CODE64_DPL0 | DPL3) & !NOT_PRESENT];
    assert_eq!(fault(check_return(0x000B, 0xE02B, 0x1000, &guest(&g))), (11, 0x0008));
}

#[test]
fn not_present_dpl_3_stack_segment_raises_ss() {
    let g = [0, (DATA_DPL0 | DPL3) & !NOT_PRESENT];
    assert_eq!(fault(check_return(0xE033, 0x000B, 0x1000, &guest(&g))), (12, 0x0008));
}

#[test]
fn not_present_descriptors_keep_their_dpl_so_dpl_0_raises_gp_first() {
    // As on Xen, DPL is raised only for present descriptors, and IRETQ
    // checks DPL before presence.
    let g = [0, CODE64_DPL0 & !NOT_PRESENT, DATA_DPL0 & !NOT_PRESENT];
    assert_eq!(fault(check_return(0x000B, 0xE02B, 0x1000, &guest(&g))), gp(0x0008));
    assert_eq!(fault(check_return(0xE033, 0x0013, 0x1000, &guest(&g))), gp(0x0010));
}

#[test]
fn read_only_data_segment_as_stack_raises_gp() {
    let g = [0, DATA_READ_ONLY];
    assert_eq!(fault(check_return(0xE033, 0x000B, 0x1000, &guest(&g))), gp(0x0008));
}

#[test]
fn code_segment_with_long_and_default_size_both_set_is_refused() {
    let g = [0, CODE64_DPL0 | 1 << 54];
    assert_eq!(fault(check_return(0x000B, 0xE02B, 0x1000, &guest(&g))), gp(0x0008));
}

#[test]
fn non_canonical_rip_in_long_mode_raises_gp_zero() {
    for rip in [0x0000_8000_0000_0000u64, 0xFFFF_7FFF_FFFF_FFFF, 0x8000_0000_0000_0000] {
        assert_eq!(fault(check_return(0xE033, 0xE02B, rip, &no_guest())), gp(0), "{rip:#x}");
    }
    assert_eq!(check_return(0xE033, 0xE02B, 0x0000_7FFF_FFFF_FFFF, &no_guest()), Ok(Mode::Long));
    assert_eq!(check_return(0xE033, 0xE02B, 0xFFFF_8000_0000_0000, &no_guest()), Ok(Mode::Long));
}

#[test]
fn compatibility_mode_rip_beyond_the_segment_limit_raises_gp_zero() {
    assert_eq!(fault(check_return(0xE023, 0xE02B, 0x1_0000_0000, &no_guest())), gp(0));
    assert_eq!(check_return(0xE023, 0xE02B, 0xFFFF_FFFF, &no_guest()), Ok(Mode::Compat));
    let g = [0, CODE16_DPL3];
    assert_eq!(check_return(0x000B, 0xE02B, 0xFFFF, &guest(&g)), Ok(Mode::Compat));
    assert_eq!(fault(check_return(0x000B, 0xE02B, 0x1_0000, &guest(&g))), gp(0));
}

#[test]
fn code_selector_is_checked_before_stack_and_rip() {
    assert_eq!(fault(check_return(0xE00B, 0x0003, 0x8000_0000_0000_0000, &no_guest())), gp(0xE008));
    assert_eq!(fault(check_return(0xE033, 0x0003, 0x8000_0000_0000_0000, &no_guest())), gp(0));
}

#[test]
fn refused_guest_descriptors_are_loaded_null() {
    assert_eq!(hardware_descriptor(CALL_GATE), 0, "call gate");
    assert_eq!(hardware_descriptor(TSS), 0, "TSS");
    assert_eq!(hardware_descriptor(0x0000_8200_0000_0000), 0, "LDT");
    let g = [0, CALL_GATE];
    assert_eq!(fault(check_return(0x000B, 0xE02B, 0x1000, &guest(&g))), gp(0x0008));
}

#[test]
fn present_code_and_data_are_loaded_with_dpl_3() {
    assert_eq!(hardware_descriptor(CODE64_DPL0), 0x00AF_FA00_0000_FFFF);
    assert_eq!(hardware_descriptor(DATA_DPL0), 0x00CF_F200_0000_FFFF);
}

#[test]
fn not_present_descriptors_are_loaded_unchanged() {
    assert_eq!(hardware_descriptor(0), 0);
    assert_eq!(hardware_descriptor(TSS & !NOT_PRESENT), TSS & !NOT_PRESENT);
}

#[test]
fn reserved_descriptors_match_the_flat_selectors() {
    use abi::traps::*;
    let view = no_guest();
    assert_eq!(check_return(FLAT_RING3_CS64, FLAT_RING3_SS64, 0, &view), Ok(Mode::Long));
    assert_eq!(check_return(FLAT_RING3_CS32, FLAT_RING3_DS32, 0, &view), Ok(Mode::Compat));
    assert_eq!(view.descriptor(HYPERVISOR_CS), Some(CODE64_DPL0));
}
