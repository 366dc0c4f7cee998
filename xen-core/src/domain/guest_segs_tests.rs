//! Which bases the hardware holds per guest mode, what a deschedule saves,
//! which selectors a restore may load, and each `set_segment_base` sub-op.

use super::*;
use crate::domain::vcpu::GuestContext;

const DATA_DPL3_BASE: u64 = 0x12CF_F234_5678_FFFF; // base 0x1234_5678
const DATA_DPL0: u64 = 0x00CF_9200_0000_FFFF;
const CODE_EXEC_ONLY_DPL3: u64 = 0x00AF_F800_0000_FFFF;
const NOT_PRESENT_DATA: u64 = 0x00CF_7200_0000_FFFF;

fn guest(descs: &[u64]) -> GdtView<impl Fn(usize) -> u64 + '_> {
    GdtView { guest_entries: descs.len(), ldt_entries: 0, read: move |i| descs[i] }
}

fn vcpu() -> Vcpu {
    let mut v = Vcpu::new(GuestContext::default());
    (v.fs_base, v.gs_base_kernel, v.gs_base_user) = (0xF5, 0x6C, 0x60);
    v
}

#[test]
fn kernel_mode_has_the_kernel_gs_base_active_and_the_user_one_shadowed() {
    assert_eq!(hardware_bases(&vcpu()), HwBases { fs: 0xF5, gs: 0x6C, shadow_gs: 0x60 });
}

#[test]
fn user_mode_has_the_user_gs_base_active_and_fs_unchanged() {
    let mut v = vcpu();
    v.user_mode = true;
    assert_eq!(hardware_bases(&v), HwBases { fs: 0xF5, gs: 0x60, shadow_gs: 0x6C });
}

#[test]
fn a_deschedule_in_user_mode_saves_the_active_gs_as_the_user_base() {
    let mut v = vcpu();
    v.user_mode = true;
    let sel = Selectors { ds: 0x2B, es: 0, fs: 0x13, gs: 0x2B };
    record_live(&mut v, sel, HwBases { fs: 1, gs: 2, shadow_gs: 3 });
    assert_eq!((v.fs_base, v.gs_base_user, v.gs_base_kernel, v.selectors), (1, 2, 3, sel));
    assert_eq!(hardware_bases(&v), HwBases { fs: 1, gs: 2, shadow_gs: 3 }, "restored as saved");
}

#[test]
fn a_deschedule_in_kernel_mode_saves_the_active_gs_as_the_kernel_base() {
    let mut v = vcpu();
    record_live(&mut v, Selectors::default(), HwBases { fs: 1, gs: 2, shadow_gs: 3 });
    assert_eq!((v.gs_base_kernel, v.gs_base_user), (2, 3));
}

#[test]
fn restore_loads_null_and_flat_selectors() {
    let mut v = vcpu();
    v.selectors = Selectors { ds: 0xE02B, es: 0, fs: 3, gs: 0xE02B };
    assert_eq!(restore_selectors(&v, &guest(&[])), (v.selectors, false));
}

#[test]
fn restore_refuses_hypervisor_missing_and_unreadable_selectors_and_ldt_ones_without_an_ldt() {
    let descs = [0, DATA_DPL3_BASE, DATA_DPL0, CODE_EXEC_ONLY_DPL3, NOT_PRESENT_DATA];
    let g = guest(&descs);
    assert!(data_selector_loadable(0x0B, &g), "DPL 3 data");
    // A present guest descriptor is loaded with DPL 3, so it loads.
    assert!(data_selector_loadable(0x13, &g), "guest DPL 0 data, raised to DPL 3");
    assert!(!data_selector_loadable(0xE010, &g), "hypervisor data is DPL 0");
    assert!(!data_selector_loadable(0xE040, &g), "the TSS is a system descriptor");
    assert!(!data_selector_loadable(0x0F, &g), "no LDT");
    assert!(!data_selector_loadable(0x1B, &g), "execute-only code cannot be read through DS");
    assert!(!data_selector_loadable(0x23, &g), "not present");
    assert!(!data_selector_loadable(0x2B, &g), "beyond the guest's entries");
}

#[test]
fn restore_nulls_a_selector_that_no_longer_loads_and_asks_for_the_failsafe() {
    let mut v = vcpu();
    v.selectors = Selectors { ds: 0xE02B, es: 0x0B, fs: 0x23, gs: 0 };
    let descs = [0, DATA_DPL3_BASE, 0, 0, NOT_PRESENT_DATA];
    let (load, failed) = restore_selectors(&v, &guest(&descs));
    assert_eq!(load, Selectors { ds: 0xE02B, es: 0x0B, fs: 0, gs: 0 });
    assert!(failed);
}

#[test]
fn set_segment_base_fs_and_both_gs_bases_load_their_register() {
    let (mut v, g) = (vcpu(), guest(&[]));
    assert_eq!(set_segment_base(&mut v, SEGBASE_FS, 0x1000, &g), Ok(SegLoad::Fs(0x1000)));
    assert_eq!(set_segment_base(&mut v, SEGBASE_GS_USER, 0x2000, &g), Ok(SegLoad::ShadowGs(0x2000)));
    assert_eq!(set_segment_base(&mut v, SEGBASE_GS_KERNEL, 0x3000, &g), Ok(SegLoad::ActiveGs(0x3000)));
    assert_eq!((v.fs_base, v.gs_base_user, v.gs_base_kernel), (0x1000, 0x2000, 0x3000));
}

#[test]
fn set_segment_base_refuses_a_non_canonical_base_and_keeps_the_old_one() {
    let (mut v, g) = (vcpu(), guest(&[]));
    for which in [SEGBASE_FS, SEGBASE_GS_USER, SEGBASE_GS_KERNEL] {
        assert_eq!(set_segment_base(&mut v, which, 0x8000_0000_0000, &g), Err(Errno::EINVAL));
    }
    assert_eq!((v.fs_base, v.gs_base_user, v.gs_base_kernel), (0xF5, 0x60, 0x6C));
    assert_eq!(set_segment_base(&mut v, 4, 0, &g), Err(Errno::EINVAL));
}

#[test]
fn set_segment_base_user_selector_loads_the_descriptor_base_with_rpl_3() {
    let descs = [0, DATA_DPL3_BASE];
    let (mut v, g) = (vcpu(), guest(&descs));
    let load = set_segment_base(&mut v, SEGBASE_GS_USER_SEL, 0xDEAD_0008, &g);
    assert_eq!(load, Ok(SegLoad::UserGsSelector { selector: 0x0B, base: 0x1234_5678 }));
    assert_eq!((v.selectors.gs, v.gs_base_user, v.gs_base_kernel), (0x0B, 0x1234_5678, 0x6C));
}

#[test]
fn set_segment_base_user_selector_that_faults_loads_null_and_succeeds() {
    let (mut v, g) = (vcpu(), guest(&[]));
    let load = set_segment_base(&mut v, SEGBASE_GS_USER_SEL, 0xE010, &g);
    assert_eq!(load, Ok(SegLoad::UserGsSelector { selector: 0, base: 0 }));
    assert_eq!(
        set_segment_base(&mut v, SEGBASE_GS_USER_SEL, 2, &g),
        Ok(SegLoad::UserGsSelector { selector: 2, base: 0 })
    );
}
