//! The emulator end to end over a fake platform: guest memory is a map of
//! pages, ports and registers are recorded.

use super::*;
use std::collections::BTreeMap;

/// A fake machine: code and data in `mem` (byte-addressed, absent = fault).
#[derive(Default)]
pub struct Fake {
    pub mem: BTreeMap<u64, u8>,
    pub ts: bool,
    pub cr3: u64,
    pub bases: [u64; 3],
    pub port_log: Vec<(bool, u16, u8, u32)>,
    pub no_gp_handler: bool,
    pub domu: bool,
}

impl Fake {
    pub fn with_code(code: &[u8]) -> (Fake, GuestContext) {
        let mut f = Fake::default();
        f.load(0x1000, code);
        (f, GuestContext { rip: 0x1000, ..GuestContext::default() })
    }
    pub fn load(&mut self, va: u64, bytes: &[u8]) {
        for (k, &b) in bytes.iter().enumerate() {
            self.mem.insert(va + k as u64, b);
        }
    }
}

fn base_index(b: SegBase) -> usize {
    match b {
        SegBase::Fs => 0,
        SegBase::GsKernel => 1,
        SegBase::GsUser => 2,
    }
}

impl Platform for Fake {
    fn read(&mut self, va: u64, buf: &mut [u8]) -> bool {
        for (k, slot) in buf.iter_mut().enumerate() {
            match self.mem.get(&va.wrapping_add(k as u64)) {
                Some(&b) => *slot = b,
                None => return false,
            }
        }
        true
    }
    fn write(&mut self, va: u64, buf: &[u8]) -> bool {
        if (0..buf.len()).any(|k| !self.mem.contains_key(&va.wrapping_add(k as u64))) {
            return false;
        }
        self.load(va, buf);
        true
    }
    fn real_cr0(&self) -> u64 {
        0x8005_0033
    }
    fn host_efer(&self) -> u64 {
        0xD01 | (1 << 12)
    }
    fn host_misc_enable(&self) -> Option<u64> {
        Some(0x0085_0089)
    }
    fn tsc(&mut self) -> u64 {
        0x1234_5678_9ABC_DEF0
    }
    fn cr3(&self) -> u64 {
        self.cr3
    }
    fn set_cr3(&mut self, value: u64) -> Result<(), abi::Errno> {
        match value & 0xFFF {
            0 => {
                self.cr3 = value;
                Ok(())
            }
            0xFFF => Err(abi::Errno::ERESTART),
            _ => Err(abi::Errno::EINVAL),
        }
    }
    fn virtual_ts(&self) -> bool {
        self.ts
    }
    fn fpu_taskswitch(&mut self, set: bool) {
        self.ts = set;
    }
    fn segment_base(&self, which: SegBase) -> u64 {
        self.bases[base_index(which)]
    }
    fn set_segment_base(&mut self, which: SegBase, base: u64) {
        self.bases[base_index(which)] = base;
    }
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4] {
        [leaf, subleaf, 7, 8]
    }
    fn port_in(&mut self, port: u16, size: u8) -> u32 {
        self.port_log.push((false, port, size, 0));
        0x1234_5678
    }
    fn port_out(&mut self, port: u16, size: u8, value: u32) {
        self.port_log.push((true, port, size, value));
    }
    fn has_gp_handler(&self) -> bool {
        !self.no_gp_handler
    }
    fn vcpu_id(&self) -> u32 {
        0
    }
    fn hardware_domain(&self) -> bool {
        !self.domu
    }
}

/// Runs `code` from kernel mode after #GP with `setup` applied first.
fn run(
    code: &[u8],
    setup: impl FnOnce(&mut Fake, &mut EmulState, &mut GuestContext),
) -> (Outcome, Fake, EmulState, GuestContext) {
    let (mut f, mut ctx) = Fake::with_code(code);
    let mut st = EmulState { io: ports::IoPerms { iopl: 1, ..Default::default() }, ..EmulState::default() };
    setup(&mut f, &mut st, &mut ctx);
    let out = emulate(&mut f, &mut st, &mut ctx, 13, true);
    (out, f, st, ctx)
}

fn rdmsr_of(m: u32) -> (Outcome, u64) {
    let (out, _, _, ctx) = run(&[0x0F, 0x32], |_, _, c| c.gpr[reg::RCX] = u64::from(m));
    (out, (ctx.gpr[reg::RDX] << 32) | ctx.gpr[reg::RAX])
}

fn wrmsr_of(m: u32, v: u64) -> (Outcome, Fake) {
    let (out, f, _, _) = run(&[0x0F, 0x30], |_, _, c| {
        c.gpr[reg::RCX] = u64::from(m);
        c.gpr[reg::RAX] = v & 0xFFFF_FFFF;
        c.gpr[reg::RDX] = v >> 32;
    });
    (out, f)
}

#[test]
fn rdmsr_returns_the_policy_values_and_advances_rip() {
    use msr_policy::msr::*;
    assert_eq!(rdmsr_of(EFER), (Outcome::Done, 0xD01), "SVME and friends hidden");
    assert_eq!(rdmsr_of(PAT), (Outcome::Done, 0x0000_0501_0007_0406));
    assert_eq!(rdmsr_of(APIC_BASE), (Outcome::Done, 0xFEE0_0900));
    assert_eq!(rdmsr_of(MISC_ENABLE), (Outcome::Done, (0x0085_0089 & !0x4_0080) | 0x80_1800));
    assert_eq!(rdmsr_of(TSC), (Outcome::Done, 0x1234_5678_9ABC_DEF0));
    assert_eq!(rdmsr_of(LSTAR).0, Outcome::Reflect);
    assert_eq!(rdmsr_of(0xDEAD).0, Outcome::Reflect);
    let (_, _, _, ctx) = run(&[0x0F, 0x32], |_, _, c| c.gpr[reg::RCX] = u64::from(PAT));
    assert_eq!(ctx.rip, 0x1002);
}

#[test]
fn a_failing_rdmsr_reads_zero_before_the_guest_has_a_gp_handler() {
    let (out, _, _, ctx) = run(&[0x0F, 0x32], |f, _, c| {
        f.no_gp_handler = true;
        c.gpr[reg::RCX] = 0xDEAD;
        c.gpr[reg::RAX] = 5;
    });
    assert_eq!((out, ctx.gpr[reg::RAX], ctx.rip), (Outcome::Done, 0, 0x1002));
    let (out, _, _, _) = run(&[0x0F, 0x32], |f, _, c| {
        f.no_gp_handler = true;
        c.gpr[reg::RCX] = 0x4000_0001;
    });
    assert_eq!(out, Outcome::Reflect, "Xen's own MSRs are never faked");
}

#[test]
fn wrmsr_loads_segment_bases_and_refuses_non_canonical_ones() {
    use msr_policy::msr::*;
    let (out, f) = wrmsr_of(GS_BASE, 0xFFFF_8880_0000_1000);
    assert_eq!((out, f.bases[1]), (Outcome::Done, 0xFFFF_8880_0000_1000));
    let (out, f) = wrmsr_of(FS_BASE, 0x7000);
    assert_eq!((out, f.bases[0]), (Outcome::Done, 0x7000));
    let (out, f) = wrmsr_of(SHADOW_GS_BASE, 0x8000_0000_0000);
    assert_eq!((out, f.bases[2]), (Outcome::Reflect, 0));
}

#[test]
fn wrmsr_drops_faults_or_insists_on_the_current_value() {
    use msr_policy::msr::*;
    assert_eq!(wrmsr_of(MISC_ENABLE, 0).0, Outcome::Done);
    assert_eq!(wrmsr_of(EFER, 0xD01).0, Outcome::Done);
    assert_eq!(wrmsr_of(EFER, 0x501).0, Outcome::Reflect, "clearing NXE");
    assert_eq!(wrmsr_of(PAT, 0x0007_0406_0007_0406).0, Outcome::Reflect);
    assert_eq!(wrmsr_of(LSTAR, 0xFFFF_8000_0000_0000).0, Outcome::Reflect);
    assert_eq!(wrmsr_of(MISC_FEATURES_ENABLES, 0).0, Outcome::Done);
    assert_eq!(wrmsr_of(MISC_FEATURES_ENABLES, 1).0, Outcome::Reflect);
    assert_eq!(wrmsr_of(TSC_AUX, 1 << 32).0, Outcome::Reflect);
}

#[test]
fn tsc_aux_round_trips_and_rdtscp_returns_it() {
    let (_, _, st, _) = run(&[0x0F, 0x30], |_, _, c| {
        c.gpr[reg::RCX] = u64::from(msr_policy::msr::TSC_AUX);
        c.gpr[reg::RAX] = 42;
    });
    assert_eq!(st.tsc_aux, 42);
    let (out, _, _, ctx) = run(&[0x0F, 0x01, 0xF9], |_, s, _| s.tsc_aux = 42);
    assert_eq!(
        (out, ctx.gpr[reg::RCX], ctx.gpr[reg::RAX], ctx.gpr[reg::RDX]),
        (Outcome::Done, 42, 0x9ABC_DEF0, 0x1234_5678)
    );
}

#[test]
fn cr0_reads_the_virtual_ts_and_writes_are_taskswitches() {
    let (_, _, _, ctx) = run(&[0x0F, 0x20, 0xC3], |f, _, _| f.ts = true);
    assert_eq!(ctx.gpr[reg::RBX], 0x8005_003B);
    let (out, f, _, _) = run(&[0x0F, 0x22, 0xC0], |_, _, c| c.gpr[reg::RAX] = 0x8005_003B);
    assert_eq!((out, f.ts), (Outcome::Done, true));
    let (out, f, _, _) = run(&[0x0F, 0x22, 0xC0], |f, _, c| {
        f.ts = true;
        c.gpr[reg::RAX] = 0x8004_0033;
    });
    assert_eq!((out, f.ts), (Outcome::Reflect, true), "clearing WP is refused, TS untouched");
    let (out, f, _, ctx) = run(&[0x0F, 0x06], |f, _, _| f.ts = true);
    assert_eq!((out, f.ts, ctx.rip), (Outcome::Done, false, 0x1002));
}

#[test]
fn cr4_cr2_cr3_and_cr8() {
    let (_, _, _, ctx) = run(&[0x0F, 0x20, 0xE0], |_, _, _| {});
    assert_eq!(ctx.gpr[reg::RAX], 0x660);
    let (out, _, st, _) = run(&[0x0F, 0x22, 0xE0], |_, _, c| c.gpr[reg::RAX] = u64::MAX);
    assert_eq!((out, st.cr4), (Outcome::Done, cr::CR4_DE), "never faults");
    let (_, _, st, _) = run(&[0x0F, 0x22, 0xD1], |_, _, c| c.gpr[reg::RCX] = 0xBAD0);
    assert_eq!(st.cr2, 0xBAD0);
    let (_, _, _, ctx) = run(&[0x0F, 0x20, 0xD2], |_, s, _| s.cr2 = 77);
    assert_eq!(ctx.gpr[reg::RDX], 77);
    let (out, f, _, _) = run(&[0x0F, 0x22, 0xD8], |_, _, c| c.gpr[reg::RAX] = 0x5000);
    assert_eq!((out, f.cr3), (Outcome::Done, 0x5000));
    assert_eq!(run(&[0x0F, 0x22, 0xD8], |_, _, c| c.gpr[reg::RAX] = 0x5001).0, Outcome::Reflect);
    let (out, _, _, ctx) = run(&[0x0F, 0x22, 0xD8], |_, _, c| c.gpr[reg::RAX] = 0x5FFF);
    assert_eq!((out, ctx.rip), (Outcome::Done, 0x1000), "a preempted validation runs the move again");
    assert_eq!(run(&[0x44, 0x0F, 0x20, 0xC0], |_, _, _| {}).0, Outcome::Reflect, "CR8");
    assert_eq!(run(&[0x0F, 0x20, 0xE8], |_, _, _| {}).0, Outcome::Reflect, "CR5");
}

#[test]
fn debug_register_moves_follow_set_debugreg() {
    let (out, _, st, _) = run(&[0x0F, 0x23, 0xF8], |_, _, c| c.gpr[reg::RAX] = 0x1);
    assert_eq!((out, st.dr.dr7), (Outcome::Done, 0x401));
    let (_, _, _, ctx) = run(&[0x0F, 0x21, 0xF9], |_, _, _| {});
    assert_eq!(ctx.gpr[reg::RCX], 0x400);
    assert_eq!(run(&[0x0F, 0x23, 0xF8], |_, _, c| c.gpr[reg::RAX] = 1 << 13).0, Outcome::Reflect, "GD");
    assert_eq!(run(&[0x0F, 0x23, 0xC0], |_, _, c| c.gpr[reg::RAX] = 1 << 47).0, Outcome::Reflect);
    assert_eq!(run(&[0x0F, 0x21, 0xE0], |_, s, _| s.cr4 = cr::CR4_DE).0, Outcome::InvalidOpcode, "DR4 under DE");
    assert_eq!(run(&[0x0F, 0x21, 0xE0], |_, _, _| {}).0, Outcome::Done, "DR4 aliases DR6");
    assert_eq!(run(&[0x44, 0x0F, 0x21, 0xC0], |_, _, _| {}).0, Outcome::InvalidOpcode, "DR8");
}

#[test]
fn port_io_by_domain_zero_reaches_the_hardware_except_reserved_ports() {
    let (out, f, _, ctx) = run(&[0xE4, 0x80], |_, _, c| c.gpr[reg::RAX] = 0xFFFF_FF00);
    assert_eq!((out, ctx.gpr[reg::RAX], f.port_log.len()), (Outcome::Done, 0xFFFF_FF78, 1));
    let (_, f, _, ctx) = run(&[0xEC], |_, _, c| c.gpr[reg::RDX] = 0x3F8);
    assert_eq!((ctx.gpr[reg::RAX], f.port_log.len()), (0xFF, 0), "the serial port is the hypervisor's");
    let (_, f, _, _) = run(&[0xEE], |_, _, c| c.gpr[reg::RDX] = 0xF4);
    assert!(f.port_log.is_empty(), "never the debug-exit port");
}

#[test]
fn pci_config_goes_through_the_latched_address() {
    let (_, f, st, _) = run(&[0xEF], |_, _, c| {
        c.gpr[reg::RDX] = 0xCF8;
        c.gpr[reg::RAX] = 0x8000_0000;
    });
    assert_eq!((st.cf8, f.port_log.len()), (0x8000_0000, 0));
    let (_, f, _, ctx) = run(&[0xED], |_, s, c| {
        s.cf8 = 0x8000_0000;
        c.gpr[reg::RDX] = 0xCFC;
    });
    assert_eq!(ctx.gpr[reg::RAX], 0x1234_5678);
    assert_eq!(f.port_log, [(true, 0xCF8, 4, 0x8000_0000), (false, 0xCFC, 4, 0)]);
    let (_, f, _, ctx) = run(&[0xED], |f, s, c| {
        f.domu = true;
        s.cf8 = 0x8000_0000;
        c.gpr[reg::RDX] = 0xCFC;
    });
    assert_eq!((ctx.gpr[reg::RAX], f.port_log.len()), (0xFFFF_FFFF, 0), "a domU reads all-ones");
    let (_, f, _, _) = run(&[0xEF], |_, s, c| {
        s.cf8 = 0x8000_0000;
        c.gpr[reg::RDX] = 0xCFC;
    });
    assert!(f.port_log.is_empty(), "configuration writes are dropped");
}

#[test]
fn port_io_needs_iopl_or_the_bitmap() {
    assert_eq!(run(&[0xE4, 0x80], |_, s, _| s.io.iopl = 0).0, Outcome::Reflect);
    let (out, _, _, _) = run(&[0xE4, 0x80], |f, s, _| {
        s.io = ports::IoPerms { iopl: 0, bitmap: 0x8000, nr_ports: 0x100 };
        f.load(0x8010, &[0x00, 0xFF]);
    });
    assert_eq!(out, Outcome::Done);
    let (out, _, _, _) = run(&[0xE4, 0x80], |f, s, _| {
        s.io = ports::IoPerms { iopl: 0, bitmap: 0x8000, nr_ports: 0x100 };
        f.load(0x8010, &[0x01, 0x00]);
    });
    assert_eq!(out, Outcome::Reflect);
    let (out, _, _, _) =
        run(&[0xE4, 0x80], |_, s, _| s.io = ports::IoPerms { iopl: 0, bitmap: 0x8000, nr_ports: 0x100 });
    assert_eq!(out, Outcome::PageFault { va: 0x8010, error_code: 0 }, "an unmapped bitmap");
    let (mut f, mut ctx) = Fake::with_code(&[0xE4, 0x80]);
    let mut st = EmulState { io: ports::IoPerms { iopl: 1, ..Default::default() }, ..EmulState::default() };
    assert_eq!(emulate(&mut f, &mut st, &mut ctx, 13, false), Outcome::Reflect, "IOPL 1 is not enough for user mode");
}

#[test]
fn rep_ins_and_outs_move_memory_in_batches() {
    let (out, f, _, ctx) = run(&[0xF3, 0x6C], |f, _, c| {
        f.load(0x9000, &[0; 4]);
        f.domu = true;
        c.gpr[reg::RCX] = 3;
        c.gpr[reg::RDI] = 0x9000;
        c.gpr[reg::RDX] = 0x80;
    });
    assert_eq!((out, ctx.gpr[reg::RCX], ctx.gpr[reg::RDI], ctx.rip), (Outcome::Done, 0, 0x9003, 0x1002));
    assert_eq!(f.mem[&0x9002], 0xFF);
    assert_eq!(f.mem[&0x9003], 0);
    let (out, f, _, ctx) = run(&[0x6F], |f, _, c| {
        f.load(0x9000, &[1, 2, 3, 4]);
        c.gpr[reg::RSI] = 0x9000;
        c.gpr[reg::RDX] = 0x80;
    });
    assert_eq!((out, ctx.gpr[reg::RSI]), (Outcome::Done, 0x9004));
    assert_eq!(f.port_log, [(true, 0x80, 4, 0x0403_0201)]);
    let (out, _, _, ctx) = run(&[0xF3, 0x6E], |f, _, c| {
        f.load(0x9000, &[0; 4096]);
        c.gpr[reg::RCX] = 1000;
        c.gpr[reg::RSI] = 0x9000;
        c.gpr[reg::RDX] = 0x80;
    });
    assert_eq!((out, ctx.gpr[reg::RCX], ctx.rip), (Outcome::Done, 1000 - REP_BATCH, 0x1000), "restarted");
    let (out, _, _, _) = run(&[0x6C], |_, _, c| c.gpr[reg::RDI] = 0x7_0000);
    assert_eq!(out, Outcome::PageFault { va: 0x7_0000, error_code: PF_WRITE });
}

#[test]
fn cli_sti_wbinvd_are_no_ops_and_hlt_invd_are_refused() {
    for code in [&[0xFA][..], &[0xFB], &[0x0F, 0x09]] {
        let (out, _, _, ctx) = run(code, |_, _, _| {});
        assert_eq!((out, ctx.rip), (Outcome::Done, 0x1000 + code.len() as u64), "{code:02x?}");
    }
    assert_eq!(run(&[0xFA], |_, s, _| s.io.iopl = 0).0, Outcome::Reflect, "cli without IOPL");
    assert_eq!(run(&[0xF4], |_, _, _| {}).0, Outcome::Reflect);
    assert_eq!(run(&[0x0F, 0x08], |_, _, _| {}).0, Outcome::Reflect);
}

#[test]
fn privileged_instructions_from_user_mode_are_refused() {
    let (mut f, mut ctx) = Fake::with_code(&[0x0F, 0x32]);
    let mut st = EmulState::default();
    assert_eq!(emulate(&mut f, &mut st, &mut ctx, 13, false), Outcome::Reflect);
    assert_eq!(ctx.rip, 0x1000);
}

#[test]
fn forced_cpuid_only_on_ud_and_other_instructions_only_on_gp() {
    let (mut f, mut ctx) = Fake::with_code(&decoder::FORCED_CPUID);
    ctx.gpr[reg::RAX] = 0x4000_0000;
    let mut st = EmulState::default();
    assert_eq!(emulate(&mut f, &mut st, &mut ctx, 13, true), Outcome::Reflect);
    assert_eq!(emulate(&mut f, &mut st, &mut ctx, 6, false), Outcome::Done, "from user mode too");
    assert_eq!((ctx.gpr[reg::RAX], ctx.rip), (0x4000_0000, 0x1007));
    let (mut f, mut ctx) = Fake::with_code(&[0x0F, 0x32]);
    assert_eq!(emulate(&mut f, &mut st, &mut ctx, 6, true), Outcome::Reflect);
}

#[test]
fn an_instruction_running_into_an_unmapped_page_faults_there() {
    let mut f = Fake::default();
    f.load(0x1FFF, &[0x0F]);
    let mut ctx = GuestContext { rip: 0x1FFF, ..GuestContext::default() };
    let out = emulate(&mut f, &mut EmulState::default(), &mut ctx, 13, true);
    assert_eq!(out, Outcome::PageFault { va: 0x2000, error_code: PF_INSN });
    f.load(0x1FFE, &[0xFA]);
    ctx.rip = 0x1FFE;
    let mut st = EmulState { io: ports::IoPerms { iopl: 1, ..Default::default() }, ..EmulState::default() };
    assert_eq!(emulate(&mut f, &mut st, &mut ctx, 13, true), Outcome::Done, "a short instruction needs no more");
}

#[test]
fn an_emulated_instruction_under_tf_raises_the_single_step_debug_trap() {
    let (out, _, st, ctx) = run(&[0x0F, 0x31], |_, _, c| c.rflags |= 1 << 8);
    assert_eq!(out, Outcome::Debug { dr6: dr::DR6_BS }, "rdtsc with TF");
    assert_eq!(ctx.rip, 0x1002, "the trap comes after the instruction");
    assert_eq!(st.dr.get(6, 0), Ok(0xFFFF_4FF0), "DR6.BS is set in the virtual DR6");
    assert_eq!(run(&[0x0F, 0x31], |_, _, _| {}).0, Outcome::Done, "no TF: no trap");
    let (out, _, _, ctx) = run(&[0x0F, 0x32], |_, _, c| {
        c.rflags |= 1 << 8;
        c.gpr[reg::RCX] = 0xC000_0082;
    });
    assert_eq!((out, ctx.rip), (Outcome::Reflect, 0x1000), "a refused instruction is a #GP, not a step");
}

#[test]
fn emulated_port_io_matching_an_io_breakpoint_raises_debug_with_its_bit() {
    let setup = |s: &mut EmulState| {
        s.cr4 = cr::CR4_DE;
        assert_eq!(s.dr.set(1, 0x80, cr::CR4_DE), Ok(()));
        // DR1: I/O (RW 10), 1 byte; L1.
        assert_eq!(s.dr.set(7, 0x0020_0004, cr::CR4_DE), Ok(()));
    };
    let (out, _, st, _) = run(&[0xE4, 0x80], |_, s, _| setup(s));
    assert_eq!(out, Outcome::Debug { dr6: 0b10 });
    assert_eq!(st.dr.get(6, 0), Ok(0xFFFF_0FF2));
    assert_eq!(run(&[0xE4, 0x81], |_, s, _| setup(s)).0, Outcome::Done, "another port");
    let (out, _, _, _) = run(&[0xEE], |_, s, c| {
        setup(s);
        c.gpr[reg::RDX] = 0x80;
        c.rflags |= 1 << 8;
    });
    assert_eq!(out, Outcome::Debug { dr6: dr::DR6_BS | 0b10 }, "out to it under TF: both");
}

#[test]
fn machine_check_msrs_are_xens_virtual_mce() {
    // The fake's CPUID leaf 0 is no "GenuineIntel": the AMD capabilities.
    assert_eq!(rdmsr_of(msr_policy::msr::MCG_CAP), (Outcome::Done, 2));
    assert_eq!(rdmsr_of(msr_policy::msr::MCG_CTL), (Outcome::Done, 0));
    assert_eq!(rdmsr_of(0x400), (Outcome::Done, u64::MAX), "MC0_CTL");
    assert_eq!(rdmsr_of(0x405), (Outcome::Done, 0), "MC1_STATUS");
    assert_eq!(rdmsr_of(0x441), (Outcome::Done, 0), "MC16_STATUS, beyond the banks");
    assert_eq!(rdmsr_of(msr_policy::msr::MCG_EXT_CTL).0, Outcome::Reflect);
    assert_eq!(wrmsr_of(msr_policy::msr::MCG_CAP, 0).0, Outcome::Done, "dropped");
    assert_eq!(wrmsr_of(0x405, 0).0, Outcome::Done);
    assert_eq!(wrmsr_of(0x405, 1).0, Outcome::Reflect, "only 0 into MCi_STATUS");
    assert_eq!(wrmsr_of(0x400, 0).0, Outcome::Done, "MCi_CTL writes are dropped");
    let (out, _, st, _) = run(&[0x0F, 0x30], |_, _, c| {
        c.gpr[reg::RCX] = u64::from(msr_policy::msr::MCG_STATUS);
        c.gpr[reg::RAX] = 5;
    });
    assert_eq!((out, st.mcg_status), (Outcome::Done, 5));
    let (out, _, _, ctx) = run(&[0x0F, 0x32], |_, s, c| {
        s.mcg_status = 5;
        c.gpr[reg::RCX] = u64::from(msr_policy::msr::MCG_STATUS);
    });
    assert_eq!((out, ctx.gpr[reg::RAX]), (Outcome::Done, 5));
}
