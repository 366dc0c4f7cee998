//! Privileged instructions from the guest kernel (fact sheet §5): the
//! MSRs, control and debug registers and ports the hypervisor emulates,
//! what it refuses with #GP, and `set_debugreg`/`get_debugreg` (§4.4) and
//! `physdev_op` `set_iopl`/`set_iobitmap` (§8.3).

use super::{call, Suite, EFAULT, EINVAL, EPERM};
use crate::arch::fs_word;
use crate::arch::priv_insn::*;
use abi::hypercall::HypercallNr as N;
use abi::physdev;
use core::sync::atomic::{AtomicU8, Ordering::SeqCst};

/// A word for `%fs:0` to read.
static FS_WORD: u64 = 0x4653_5f42_4153_4521;

const ENODEV: i64 = -19;
const GP: i64 = 13;
const UD: i64 = 6;

fn fault(v: u64) -> i64 {
    v as i64
}

fn msrs(s: &mut Suite) {
    let read = |m: u32| {
        let (v, f) = rdmsr(m);
        if f != 0 {
            -(f as i64)
        } else {
            v as i64
        }
    };
    s.check("emul: rdmsr EFER shows SCE|LME|LMA|NXE", 0xD01, read(0xC000_0080));
    s.check("emul: rdmsr PAT is Xen's fixed PAT", 0x0000_0501_0007_0406, read(0x277));
    s.check("emul: rdmsr APIC_BASE on vCPU 0 (enabled, BSP)", 0xFEE0_0900, read(0x1B));
    s.truth("emul: rdmsr TSC reads a running counter", read(0x10) > 0);
    s.check("emul: rdmsr LSTAR raises #GP", GP, fault(rdmsr(0xC000_0082).1));
    s.check("emul: rdmsr SYSENTER_EIP raises #GP", GP, fault(rdmsr(0x176).1));
    s.check("emul: rdmsr of an unknown MSR raises #GP", GP, fault(rdmsr(0x1234_5678).1));
    s.check("emul: rdmsr PERF_CAPABILITIES reads 0", 0, read(0x345));
    s.check("emul: wrmsr EFER of its own value is accepted", 0, fault(wrmsr(0xC000_0080, 0xD01)));
    s.check("emul: wrmsr EFER without NXE raises #GP", GP, fault(wrmsr(0xC000_0080, 0x501)));
    s.check("emul: wrmsr APIC_BASE raises #GP", GP, fault(wrmsr(0x1B, 0xFEE0_0900)));
    s.check("emul: wrmsr LSTAR raises #GP", GP, fault(wrmsr(0xC000_0082, 0xFFFF_8000_0000_0000)));
    s.check("emul: wrmsr FS_BASE", 0, fault(wrmsr(0xC000_0100, 0x1234_5000)));
    s.check("emul: rdmsr FS_BASE reads it back", 0x1234_5000, read(0xC000_0100));
    s.check("emul: wrmsr FS_BASE non-canonical raises #GP", GP, fault(wrmsr(0xC000_0100, 1 << 47)));
    // The written base is the one the CPU uses, at once and after the
    // vCPU has been descheduled (its bases are read back from the CPU then).
    let word = &FS_WORD as *const u64 as u64;
    s.check("emul: wrmsr FS_BASE to a kernel word", 0, fault(wrmsr(0xC000_0100, word)));
    s.check("emul: %fs:0 reads through the written FS base", FS_WORD as i64, fs_word() as i64);
    abi::guest::yield_now();
    s.check("emul: the written FS base survives a yield", FS_WORD as i64, fs_word() as i64);
    let _ = wrmsr(0xC000_0100, 0);
    s.check("emul: wrmsr SHADOW_GS_BASE", 0, fault(wrmsr(0xC000_0102, 0x5000)));
    s.check("emul: rdmsr SHADOW_GS_BASE reads it back", 0x5000, read(0xC000_0102));
    let _ = wrmsr(0xC000_0102, 0);
}

fn control_registers(s: &mut Suite) {
    let (cr0, f) = read_cr0();
    s.check("emul: mov from cr0 is emulated", 0, fault(f));
    s.check("emul: cr0 is the real CR0 (PG|AM|WP|NE|ET|MP|PE) without TS", 0x8005_0033, cr0 as i64);
    let _ = call(N::FPU_TASKSWITCH, &[1]);
    s.check("emul: cr0 shows TS after fpu_taskswitch(1)", 8, (read_cr0().0 & 8) as i64);
    s.check("emul: clts is emulated", 0, fault(clts()));
    s.check("emul: cr0 shows TS clear after clts", 0, (read_cr0().0 & 8) as i64);
    s.check("emul: mov to cr0 of the value read is accepted", 0, fault(write_cr0(cr0)));
    s.check("emul: mov to cr0 setting TS is accepted", 0, fault(write_cr0(cr0 | 8)));
    s.check("emul: cr0 shows TS after mov to cr0", 8, (read_cr0().0 & 8) as i64);
    let _ = clts();
    s.check("emul: mov to cr0 clearing WP raises #GP", GP, fault(write_cr0(cr0 & !(1 << 16))));
    s.check("emul: cr4 shows PAE|MCE|OSFXSR|OSXMMEXCPT", 0x660, read_cr4().0 as i64);
    s.check("emul: mov to cr4 with DE is accepted", 0, fault(write_cr4(0x668)));
    s.check("emul: cr4 shows DE after setting it", 0x668, read_cr4().0 as i64);
    s.check("emul: dr4 under CR4.DE raises #UD", UD, fault(read_dr4().1));
    s.check("emul: get_debugreg(4) under CR4.DE is -ENODEV", ENODEV, call(N::GET_DEBUGREG, &[4]));
    s.check("emul: mov to cr4 of PGE is dropped without a fault", 0, fault(write_cr4(0x660 | (1 << 7))));
    s.check("emul: cr4 without PGE and DE after that", 0x660, read_cr4().0 as i64);
    s.check("emul: mov to cr2", 0, fault(write_cr2(0x1234_5000)));
    s.check("emul: mov from cr2 reads it back", 0x1234_5000, read_cr2().0 as i64);
    s.check("emul: mov from cr8 raises #GP", GP, fault(read_cr8().1));
}

fn debug_registers(s: &mut Suite) {
    s.check("emul: dr7 at start is 0x400", 0x400, read_dr7().0 as i64);
    s.check("emul: dr6 at start is 0xffff0ff0", 0xFFFF_0FF0, read_dr6().0 as i64);
    s.check("emul: dr4 aliases dr6 without CR4.DE", 0xFFFF_0FF0, read_dr4().0 as i64);
    s.check("emul: mov to dr7 enabling L0", 0, fault(write_dr7(1)));
    s.check("emul: dr7 reads 0x401 back", 0x401, read_dr7().0 as i64);
    s.check("emul: mov to dr7 with GD raises #GP", GP, fault(write_dr7(1 << 13)));
    s.check("emul: mov to dr7 of 0", 0, fault(write_dr7(0)));
    s.check("emul: mov to dr0 of a hypervisor address raises #GP", GP, fault(write_dr0(0xFFFF_8000_0000_0000)));
    s.check("emul: mov to dr0 of a guest address", 0, fault(write_dr0(0x1000)));
    s.check("emul: dr0 reads it back", 0x1000, read_dr0().0 as i64);
    s.check("set_debugreg(0, guest address)", 0, call(N::SET_DEBUGREG, &[0, 0x2000]));
    s.check("get_debugreg(0)", 0x2000, call(N::GET_DEBUGREG, &[0]));
    s.check("set_debugreg(1, 1 << 47)", EPERM, call(N::SET_DEBUGREG, &[1, 1 << 47]));
    s.check("set_debugreg(2, top of the address space)", 0, call(N::SET_DEBUGREG, &[2, 0xFFFF_FFFF_FFFF_F000]));
    s.check("set_debugreg(6, upper bits)", EINVAL, call(N::SET_DEBUGREG, &[6, 1 << 32]));
    s.check("set_debugreg(6, 0)", 0, call(N::SET_DEBUGREG, &[6, 0]));
    s.check("get_debugreg(6) forces the reserved ones", 0xFFFF_0FF0, call(N::GET_DEBUGREG, &[6]));
    s.check("set_debugreg(7, GD)", EPERM, call(N::SET_DEBUGREG, &[7, 1 << 13]));
    s.check("set_debugreg(7, upper bits)", EINVAL, call(N::SET_DEBUGREG, &[7, 1 << 32]));
    s.check("set_debugreg(7, enabled I/O breakpoint without CR4.DE)", EPERM, call(N::SET_DEBUGREG, &[7, 0x2_0001]));
    s.check("set_debugreg(7, reserved bits)", 0, call(N::SET_DEBUGREG, &[7, 0xD800]));
    s.check("get_debugreg(7) with reserved bits forced", 0x400, call(N::GET_DEBUGREG, &[7]));
    s.check("set_debugreg(5) aliases dr7 without CR4.DE", 0, call(N::SET_DEBUGREG, &[5, 0x4]));
    s.check("get_debugreg(7) after set_debugreg(5)", 0x404, call(N::GET_DEBUGREG, &[7]));
    s.check("set_debugreg(8)", ENODEV, call(N::SET_DEBUGREG, &[8, 0]));
    s.check("get_debugreg(8)", ENODEV, call(N::GET_DEBUGREG, &[8]));
    s.check("get_debugreg(-1)", ENODEV, call(N::GET_DEBUGREG, &[u64::MAX]));
    for r in [0, 1, 2, 3, 6, 7] {
        let _ = call(N::SET_DEBUGREG, &[r, 0]);
    }
}

/// An I/O bitmap the suite owns (a set bit denies the port).
static BITMAP: [AtomicU8; 8192] = [const { AtomicU8::new(0) }; 8192];

fn set_iopl(iopl: u32) -> i64 {
    call(N::PHYSDEV_OP, &[physdev::SET_IOPL, &iopl as *const u32 as u64])
}

fn set_iobitmap(bitmap: u64, nr_ports: u32) -> i64 {
    let arg = physdev::SetIobitmap { bitmap, nr_ports, pad: 0 };
    call(N::PHYSDEV_OP, &[physdev::SET_IOBITMAP, &arg as *const _ as u64])
}

fn ports(s: &mut Suite) {
    s.check("physdev_op set_iopl(0)", 0, set_iopl(0));
    s.check("emul: in at IOPL 0 without a bitmap raises #GP", GP, fault(inp(0xCF8, 4).1));
    s.check("emul: cli at IOPL 0 raises #GP", GP, fault(simple("cli")));
    s.check("physdev_op set_iopl(4)", EINVAL, set_iopl(4));
    s.check("physdev_op set_iopl bad pointer", EFAULT, call(N::PHYSDEV_OP, &[physdev::SET_IOPL, 0x10]));
    s.check("physdev_op set_iopl(1)", 0, set_iopl(1));
    s.check("emul: cli at IOPL 1 is a no-op", 0, fault(simple("cli")));
    s.check("emul: sti at IOPL 1 is a no-op", 0, fault(simple("sti")));
    s.check("emul: wbinvd is a no-op", 0, fault(simple("wbinvd")));
    s.check("emul: hlt raises #GP", GP, fault(simple("hlt")));
    s.check("emul: invd raises #GP", GP, fault(simple("invd")));
    s.check("emul: out to 0xcf8 latches the PCI address", 0, fault(outp(0xCF8, 4, 0x8000_0000)));
    s.check("emul: in from 0xcf8 reads the latched address", 0x8000_0000, inp(0xCF8, 4).0 as i64);
    let (id, f) = inp(0xCFC, 4);
    s.check("emul: in from 0xcfc", 0, fault(f));
    s.by_privilege(
        "emul: 0xcfc reads the host bridge's vendor (dom0) or all-ones",
        0x8086,
        0xFFFF,
        (id & 0xFFFF) as i64,
    );
    s.check("emul: in from the hypervisor's serial port reads all-ones", 0x5A5A_5AFF, inp(0x3FD, 1).0 as i64);
    let _ = outp(0xCF8, 4, 0);
    s.check("physdev_op set_iobitmap over 65536 ports", EINVAL, set_iobitmap(0x1000, 65537));
    s.check("physdev_op set_iobitmap in the hypervisor's range", EINVAL, set_iobitmap(0xFFFF_8000_0000_0000, 16));
    BITMAP[0xCF8 / 8].store(0xF0, SeqCst);
    s.check("physdev_op set_iobitmap", 0, set_iobitmap(BITMAP.as_ptr() as u64, 0x1000));
    let _ = set_iopl(0);
    s.check("emul: in at IOPL 0 allowed by the bitmap", 0, fault(inp(0xCF8, 4).1));
    s.check("emul: in at IOPL 0 denied by the bitmap raises #GP", GP, fault(inp(0xCFC, 4).1));
    s.check("emul: in past nr_ports raises #GP", GP, fault(inp(0x1000, 1).1));
    s.check("physdev_op set_iobitmap of no ports", 0, set_iobitmap(0, 0));
    let _ = set_iopl(1);
}

pub(super) fn emulation(s: &mut Suite) {
    msrs(s);
    control_registers(s);
    debug_registers(s);
    ports(s);
}
