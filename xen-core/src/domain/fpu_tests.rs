use super::*;

/// A CPU's FPU as the switch sees it: the live registers and CR0.TS. An
/// FXSAVE or FXRSTOR with TS set would be an #NM in the hypervisor.
struct SimCpu {
    regs: FxsaveArea,
    ts: bool,
    ts_writes: usize,
}

impl SimCpu {
    /// Registers a previous domain left behind.
    fn dirty() -> SimCpu {
        SimCpu { regs: FxsaveArea([0xA5; 512]), ts: false, ts_writes: 0 }
    }

    /// The running guest executes an FPU instruction that writes `byte`
    /// into ST(0): #NM if TS is set, as the CPU does.
    fn guest_fpu_write(&mut self, byte: u8) -> Result<(), &'static str> {
        if self.ts {
            return Err("#NM");
        }
        self.regs.0[FxsaveArea::ST0_OFFSET] = byte;
        Ok(())
    }
}

impl FpuHardware for SimCpu {
    fn save(&mut self, area: &mut FxsaveArea) {
        assert!(!self.ts, "FXSAVE with TS set: #NM in the hypervisor");
        *area = self.regs;
    }
    fn restore(&mut self, area: &FxsaveArea) {
        assert!(!self.ts, "FXRSTOR with TS set: #NM in the hypervisor");
        self.regs = *area;
    }
    fn set_ts(&mut self, ts: bool) {
        self.ts = ts;
        self.ts_writes += 1;
    }
}

#[test]
fn the_init_image_is_fninit_with_mxcsr_1f80_and_every_register_zero() {
    let a = FxsaveArea::init();
    assert_eq!(a.fcw(), 0x037F);
    assert_eq!(a.mxcsr(), 0x1F80);
    let mut rest = a.0.iter().enumerate().filter(|&(i, _)| !(0..2).contains(&i) && !(24..28).contains(&i));
    assert!(rest.all(|(_, &b)| b == 0), "FSW, tags, pointers, ST and XMM registers are all zero");
}

#[test]
fn a_new_vcpu_starts_from_the_init_state_not_from_what_the_previous_domain_left() {
    let mut cpu = SimCpu::dirty();
    let fresh = FpuState::new();
    fresh.switch_in(&mut cpu);
    assert_eq!(cpu.regs, FxsaveArea::init());
    assert!(!cpu.ts);
}

#[test]
fn registers_survive_another_domain_running_in_between_and_never_cross() {
    let mut cpu = SimCpu::dirty();
    let (mut a, mut b) = (FpuState::new(), FpuState::new());
    a.switch_in(&mut cpu);
    cpu.guest_fpu_write(0x11).unwrap();
    a.switch_out(&mut cpu);
    b.switch_in(&mut cpu);
    assert_eq!(cpu.regs.0[FxsaveArea::ST0_OFFSET], 0, "b sees the init state, not a's value");
    cpu.guest_fpu_write(0x22).unwrap();
    b.switch_out(&mut cpu);
    a.switch_in(&mut cpu);
    assert_eq!(cpu.regs.0[FxsaveArea::ST0_OFFSET], 0x11, "a's value survived b");
    a.switch_out(&mut cpu);
    b.switch_in(&mut cpu);
    assert_eq!(cpu.regs.0[FxsaveArea::ST0_OFFSET], 0x22);
}

#[test]
fn taskswitch_set_makes_the_next_fpu_instruction_raise_nm_which_clears_ts_for_the_retry() {
    let mut cpu = SimCpu::dirty();
    let mut v = FpuState::new();
    v.switch_in(&mut cpu);
    let hw = v.taskswitch(true);
    cpu.set_ts(hw);
    assert_eq!(cpu.guest_fpu_write(1), Err("#NM"));
    assert_eq!(v.device_not_available(), DeviceNotAvailable::Deliver);
    assert!(!v.virtual_ts(), "Xen clears the virtual TS when it delivers #NM");
    cpu.set_ts(v.virtual_ts());
    assert_eq!(cpu.guest_fpu_write(1), Ok(()), "the handler's retry runs");
    assert_eq!(v.device_not_available(), DeviceNotAvailable::Unexpected, "a second #NM has no cause");
}

#[test]
fn taskswitch_clear_undoes_set_without_any_nm() {
    let mut cpu = SimCpu::dirty();
    let mut v = FpuState::new();
    v.switch_in(&mut cpu);
    cpu.set_ts(v.taskswitch(true));
    cpu.set_ts(v.taskswitch(false));
    assert_eq!(cpu.guest_fpu_write(1), Ok(()));
    assert!(!v.virtual_ts());
}

#[test]
fn virtual_ts_is_per_vcpu_and_reapplied_at_switch_in() {
    let mut cpu = SimCpu::dirty();
    let (mut a, mut b) = (FpuState::new(), FpuState::new());
    a.switch_in(&mut cpu);
    cpu.set_ts(a.taskswitch(true));
    a.switch_out(&mut cpu);
    assert!(!cpu.ts, "saving cleared TS first");
    b.switch_in(&mut cpu);
    assert_eq!(cpu.guest_fpu_write(2), Ok(()), "a's TS does not follow into b");
    b.switch_out(&mut cpu);
    a.switch_in(&mut cpu);
    assert!(cpu.ts, "a's TS is set again when it runs");
    assert_eq!(cpu.guest_fpu_write(3), Err("#NM"));
}

#[test]
fn a_save_while_ts_is_set_clears_ts_first() {
    let mut cpu = SimCpu::dirty();
    let mut v = FpuState::new();
    v.switch_in(&mut cpu);
    cpu.set_ts(v.taskswitch(true));
    // Would panic in `save` if the switch did not clear TS first.
    v.switch_out(&mut cpu);
    assert!(v.virtual_ts(), "the virtual TS is kept across the save");
}

#[test]
fn amd_cpus_without_rstr_fp_err_ptrs_leak_the_x87_pointers() {
    let amd = [0x6874_7541, 0x6974_6E65, 0x444D_4163];
    let hygon = [0x6F67_7948, 0x6E65_476E, 0x656E_6975];
    let intel = [0x756E_6547, 0x4965_6E69, 0x6C65_746E];
    assert!(leaks_fpu_pointers(amd, Some(0)));
    assert!(leaks_fpu_pointers(amd, None), "no leaf 0x80000008: not fixed");
    assert!(leaks_fpu_pointers(hygon, Some(0)));
    assert!(!leaks_fpu_pointers(amd, Some(1 << 2)), "RSTR_FP_ERR_PTRS");
    assert!(!leaks_fpu_pointers(intel, Some(0)));
}

#[test]
fn pointers_are_scrubbed_unless_an_unmasked_exception_is_pending() {
    let mut a = FxsaveArea::init();
    assert!(a.needs_pointer_scrub(), "init image: all masked, none pending");
    a.0[2] = 0x01; // FSW.IE pending, but masked by FCW 0x037F
    assert!(a.needs_pointer_scrub());
    a.0[0] = 0x7E; // IE unmasked: FXRSTOR loads the pointers itself
    assert!(!a.needs_pointer_scrub());
}
