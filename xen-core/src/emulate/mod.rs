//! The PV privileged-instruction emulator (fact sheet §5, Xen 4.17's
//! emul-priv-op policy): on a #GP(0) or #UD from a PV guest, the bytes at
//! RIP are fetched through the guest's own mappings, decoded
//! ([`decoder`]), checked against the guest's privileges and performed on
//! the vCPU's virtual state ([`EmulState`]) and the [`Platform`].
//!
//! * [`decoder`]: prefixes, REX and the handful of opcodes emulated.
//! * [`msr_policy`]: one row per MSR.
//! * [`cr`]: virtual CR0.TS, CR4, CR2.
//! * [`dr`]: the virtual debug registers (also `set_debugreg`).
//! * [`ports`]: I/O permission and what each port does.
//! * [`store`], [`pte_write`]: decoding a store, and emulating it into a
//!   page table the guest maps read-only (writable page tables).
//!
//! Pure: everything the machine holds comes through [`Platform`], so the
//! whole emulator runs on the host in unit tests and under cargo-fuzz.

pub mod cr;
pub mod decoder;
pub mod dr;
pub mod msr_policy;
pub mod ports;
pub mod pte_write;
pub mod store;

#[cfg(test)]
mod tests;

use crate::domain::emulate::{read_reg, write_reg};
use crate::domain::vcpu::{reg, GuestContext};
use decoder::{DecodeError, Insn, Op, Port, Seg, MAX_LEN};
use msr_policy::{Read, Write};
use ports::Access;

/// A segment base a vCPU keeps (numbered as `set_segment_base`'s
/// SEGBASE_FS, SEGBASE_GS_USER, SEGBASE_GS_KERNEL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegBase {
    /// FS base.
    Fs,
    /// The kernel's GS base (MSR_GS_BASE in kernel mode).
    GsKernel,
    /// The user GS base (MSR_SHADOW_GS_BASE in kernel mode).
    GsUser,
}

/// The vCPU's virtual state the emulator owns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EmulState {
    /// Debug registers.
    pub dr: dr::DebugRegs,
    /// The CR4 bits the guest chose ([`cr::CR4_GUEST_MASK`]).
    pub cr4: u64,
    /// Virtual CR2.
    pub cr2: u64,
    /// I/O permissions.
    pub io: ports::IoPerms,
    /// Latched PCI configuration address.
    pub cf8: u32,
    /// Latched CMOS index.
    pub cmos_index: u8,
    /// Virtual TSC_AUX.
    pub tsc_aux: u32,
    /// Virtual MCG_STATUS (the guest's to write; no machine check is ever
    /// forwarded).
    pub mcg_status: u64,
}

/// Everything outside the emulator: guest memory through the guest's
/// mappings, the real registers and devices, the vCPU's other state.
pub trait Platform {
    /// Copies guest memory at `va` into `buf` (false on any fault).
    fn read(&mut self, va: u64, buf: &mut [u8]) -> bool;
    /// Copies `buf` to guest memory at `va` (false on any fault).
    fn write(&mut self, va: u64, buf: &[u8]) -> bool;
    /// The real CR0.
    fn real_cr0(&self) -> u64;
    /// The host EFER.
    fn host_efer(&self) -> u64;
    /// The host MISC_ENABLE, if the CPU has it (Intel).
    fn host_misc_enable(&self) -> Option<u64>;
    /// The TSC.
    fn tsc(&mut self) -> u64;
    /// The guest's CR3 (its kernel root).
    fn cr3(&self) -> u64;
    /// Loads a new kernel root (as MMUEXT_NEW_BASEPTR).
    ///
    /// # Errors
    /// Its errno; `ERESTART` if the validation was preempted, so the
    /// instruction runs again to continue it.
    fn set_cr3(&mut self, value: u64) -> Result<(), abi::Errno>;
    /// The vCPU's virtual CR0.TS.
    fn virtual_ts(&self) -> bool;
    /// `fpu_taskswitch(set)`.
    fn fpu_taskswitch(&mut self, set: bool);
    /// A segment base.
    fn segment_base(&self, which: SegBase) -> u64;
    /// Loads a segment base (already checked canonical).
    fn set_segment_base(&mut self, which: SegBase, base: u64);
    /// CPUID as the guest's policy answers it.
    fn cpuid(&mut self, leaf: u32, subleaf: u32) -> [u32; 4];
    /// A real port read (only for accesses [`ports::access`] allows).
    fn port_in(&mut self, port: u16, size: u8) -> u32;
    /// A real port write.
    fn port_out(&mut self, port: u16, size: u8, value: u32);
    /// The guest has a #GP handler in its trap table.
    fn has_gp_handler(&self) -> bool;
    /// The vCPU's number.
    fn vcpu_id(&self) -> u32;
    /// The domain is the hardware domain (domain 0).
    fn hardware_domain(&self) -> bool;
}

/// What the caller does after [`emulate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done; RIP is past the instruction (or, for an unfinished `rep`,
    /// still at it, to run again).
    Done,
    /// Reflect the original fault: #GP(0) (or the #UD that brought us here).
    Reflect,
    /// Deliver #UD.
    InvalidOpcode,
    /// Done, then deliver #DB: the guest had EFLAGS.TF set (a single step
    /// over the emulated instruction, DR6.BS) or an I/O breakpoint matched
    /// (its B0–B3 bit), as the hardware or Xen would raise it. The bits are
    /// already in the virtual DR6.
    Debug {
        /// The DR6 bits the #DB reports.
        dr6: u64,
    },
    /// Deliver #PF at `va` with `error_code`.
    PageFault {
        /// The faulting address (the guest's CR2).
        va: u64,
        /// The page-fault error code.
        error_code: u64,
    },
}

/// Page-fault error code bits.
const PF_WRITE: u64 = 1 << 1;
const PF_INSN: u64 = 1 << 4;
/// `rep ins`/`rep outs` iterations per emulation; the instruction is
/// restarted for the rest, so a huge RCX cannot hold the CPU.
pub const REP_BATCH: u64 = 256;
/// RFLAGS.DF.
const FLAG_DF: u64 = 1 << 10;
/// RFLAGS.TF.
const FLAG_TF: u64 = 1 << 8;

/// Fetches up to 15 instruction bytes at `rip` through `p`, stopping at the
/// first byte that cannot be read. Returns the bytes and how many there are.
pub fn fetch<P: Platform>(p: &mut P, rip: u64) -> ([u8; MAX_LEN], usize) {
    let mut buf = [0u8; MAX_LEN];
    let first = MAX_LEN.min(4096 - (rip & 0xFFF) as usize);
    if !p.read(rip, &mut buf[..first]) {
        // Byte by byte: the instruction may end before the bad byte.
        let n = (0..first).take_while(|&k| p.read(rip.wrapping_add(k as u64), &mut buf[k..=k])).count();
        return (buf, n);
    }
    if first < MAX_LEN && !p.read(rip.wrapping_add(first as u64), &mut buf[first..]) {
        return (buf, first);
    }
    (buf, MAX_LEN)
}

/// Emulates the instruction at `ctx.rip` after exception `vector` (6 or 13)
/// from the guest, in kernel mode or not.
pub fn emulate<P: Platform>(
    p: &mut P,
    st: &mut EmulState,
    ctx: &mut GuestContext,
    vector: u8,
    kernel_mode: bool,
) -> Outcome {
    let (buf, n) = fetch(p, ctx.rip);
    let insn = match decoder::decode(&buf[..n]) {
        Ok(insn) => insn,
        Err(DecodeError::Truncated) if n < MAX_LEN => {
            return Outcome::PageFault { va: ctx.rip.wrapping_add(n as u64), error_code: PF_INSN }
        }
        Err(_) => return Outcome::Reflect,
    };
    // #UD is only for the forced-emulation prefix, #GP for everything else.
    if (vector == 6) != (insn.op == Op::ForcedCpuid) {
        return Outcome::Reflect;
    }
    let tf = ctx.rflags & FLAG_TF != 0;
    let out = perform(p, st, ctx, &insn, kernel_mode);
    match out {
        Step::Next => {
            ctx.rip = ctx.rip.wrapping_add(u64::from(insn.len));
            let dr6 = debug_bits(st, ctx, &insn, tf);
            if dr6 == 0 {
                return Outcome::Done;
            }
            st.dr.note_emulated_debug(dr6);
            Outcome::Debug { dr6 }
        }
        Step::Again => Outcome::Done,
        Step::Out(o) => o,
    }
}

/// The #DB a completed instruction raises: DR6.BS if the guest single-steps
/// (TF was set when it started), and the I/O breakpoints a port access hit.
fn debug_bits(st: &EmulState, ctx: &GuestContext, insn: &Insn, tf: bool) -> u64 {
    let step = if tf { dr::DR6_BS } else { 0 };
    let io = match insn.op {
        Op::In { port, size } | Op::Out { port, size } => Some((port_of(ctx, port), size)),
        Op::Ins { size } | Op::Outs { size } => Some((ctx.gpr[reg::RDX] as u16, size)),
        _ => None,
    };
    step | io.map_or(0, |(port, size)| st.dr.io_breakpoints(port, size, cr::guest_cr4(st.cr4)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Next,
    Again,
    Out(Outcome),
}

const GP: Step = Step::Out(Outcome::Reflect);

fn set_edx_eax(ctx: &mut GuestContext, v: u64) {
    ctx.gpr[reg::RAX] = v & 0xFFFF_FFFF;
    ctx.gpr[reg::RDX] = v >> 32;
}

fn perform<P: Platform>(p: &mut P, st: &mut EmulState, ctx: &mut GuestContext, insn: &Insn, kernel: bool) -> Step {
    // In user mode only port I/O may pass (by IOPL or bitmap), and the
    // forced CPUID.
    let io = matches!(insn.op, Op::In { .. } | Op::Out { .. } | Op::Ins { .. } | Op::Outs { .. });
    if !kernel && !io && insn.op != Op::ForcedCpuid {
        return GP;
    }
    match insn.op {
        Op::ForcedCpuid => {
            let (leaf, sub) = (ctx.gpr[reg::RAX] as u32, ctx.gpr[reg::RCX] as u32);
            let r = p.cpuid(leaf, sub);
            for (slot, v) in [reg::RAX, reg::RBX, reg::RCX, reg::RDX].into_iter().zip(r) {
                ctx.gpr[slot] = u64::from(v);
            }
        }
        Op::Rdmsr => {
            let m = ctx.gpr[reg::RCX] as u32;
            match rdmsr(p, st, m) {
                Some(v) => set_edx_eax(ctx, v),
                None if !p.has_gp_handler() && msr_policy::fake_read_without_handler(m) => set_edx_eax(ctx, 0),
                None => return GP,
            }
        }
        Op::Wrmsr => {
            let m = ctx.gpr[reg::RCX] as u32;
            let v = (ctx.gpr[reg::RDX] << 32) | (ctx.gpr[reg::RAX] & 0xFFFF_FFFF);
            if !wrmsr(p, st, m, v) {
                return GP;
            }
        }
        Op::Rdtsc => set_edx_eax(ctx, p.tsc()),
        Op::Rdtscp => {
            set_edx_eax(ctx, p.tsc());
            ctx.gpr[reg::RCX] = u64::from(st.tsc_aux);
        }
        Op::Clts => p.fpu_taskswitch(false),
        // No cache-flush permission is given to any domain: a no-op, as Xen.
        Op::Wbinvd => {}
        Op::Invd | Op::Hlt => return GP,
        // With enough virtual IOPL, a no-op (the event mask is untouched).
        Op::Cli | Op::Sti => {
            if !st.io.iopl_allows(true) {
                return GP;
            }
        }
        Op::MovFromCr { cr, gpr } => {
            let v = match cr {
                0 => cr::guest_cr0(p.real_cr0(), p.virtual_ts()),
                2 => st.cr2,
                3 => p.cr3(),
                4 => cr::guest_cr4(st.cr4),
                _ => return GP,
            };
            write_reg(ctx, gpr, v);
        }
        Op::MovToCr { cr, gpr } => {
            let v = read_reg(ctx, gpr);
            match cr {
                0 => match cr::cr0_write(p.real_cr0(), v) {
                    Some(ts) => p.fpu_taskswitch(ts),
                    None => return GP,
                },
                2 => st.cr2 = v,
                3 => match p.set_cr3(v) {
                    Ok(()) => {}
                    Err(e) if e == abi::Errno::ERESTART => return Step::Again,
                    Err(_) => return GP,
                },
                4 => st.cr4 = cr::cr4_write(v),
                _ => return GP,
            }
        }
        Op::MovFromDr { dr, gpr } => match st.dr.get(u64::from(dr), cr::guest_cr4(st.cr4)) {
            Ok(v) => write_reg(ctx, gpr, v),
            Err(_) => return Step::Out(Outcome::InvalidOpcode),
        },
        Op::MovToDr { dr, gpr } => match st.dr.set(u64::from(dr), read_reg(ctx, gpr), cr::guest_cr4(st.cr4)) {
            Ok(()) => {}
            Err(e) if e == abi::Errno::ENODEV => return Step::Out(Outcome::InvalidOpcode),
            Err(_) => return GP,
        },
        Op::In { port, size } => {
            let port = port_of(ctx, port);
            if let Some(s) = io_check(p, st, port, size, kernel) {
                return s;
            }
            let v = port_read(p, st, port, size);
            let rax = &mut ctx.gpr[reg::RAX];
            *rax = match size {
                1 => (*rax & !0xFF) | u64::from(v),
                2 => (*rax & !0xFFFF) | u64::from(v),
                _ => u64::from(v),
            };
        }
        Op::Out { port, size } => {
            let port = port_of(ctx, port);
            if let Some(s) = io_check(p, st, port, size, kernel) {
                return s;
            }
            port_write(p, st, port, size, ctx.gpr[reg::RAX] as u32 & ports::ones(size));
        }
        Op::Ins { size } | Op::Outs { size } => return string_io(p, st, ctx, insn, size, kernel),
    }
    Step::Next
}

fn port_of(ctx: &GuestContext, port: Port) -> u16 {
    match port {
        Port::Imm(n) => u16::from(n),
        Port::Dx => ctx.gpr[reg::RDX] as u16,
    }
}

/// The guest-level I/O check: `None` if allowed, else what to deliver.
fn io_check<P: Platform>(p: &mut P, st: &EmulState, port: u16, size: u8, kernel: bool) -> Option<Step> {
    if st.io.iopl_allows(kernel) {
        return None;
    }
    // Outside the bitmap (or none): #GP.
    let Some(va) = st.io.bitmap_bytes(port, size) else { return Some(GP) };
    let mut b = [0u8; 2];
    if !p.read(va, &mut b) {
        return Some(Step::Out(Outcome::PageFault { va, error_code: 0 }));
    }
    if ports::bitmap_allows(u16::from_le_bytes(b), port, size) {
        None
    } else {
        Some(GP)
    }
}

/// Reads `size` bytes from `port` for a guest allowed to.
pub fn port_read<P: Platform>(p: &mut P, st: &mut EmulState, port: u16, size: u8) -> u32 {
    match ports::access(port, size, p.hardware_domain()) {
        Access::Hardware => p.port_in(port, size) & ports::ones(size),
        Access::PciAddress => st.cf8,
        Access::PciData if p.hardware_domain() && st.cf8 & (1 << 31) != 0 => {
            // Through the latched address, the real latch set just before.
            p.port_out(ports::PCI_CF8, 4, st.cf8);
            p.port_in(port, size) & ports::ones(size)
        }
        Access::CmosIndex => u32::from(st.cmos_index & 0x7F),
        Access::PciData | Access::Absent => ports::ones(size),
    }
}

/// Writes `size` bytes to `port` for a guest allowed to.
pub fn port_write<P: Platform>(p: &mut P, st: &mut EmulState, port: u16, size: u8, v: u32) {
    match ports::access(port, size, p.hardware_domain()) {
        Access::Hardware => p.port_out(port, size, v),
        Access::PciAddress => st.cf8 = v,
        Access::CmosIndex => st.cmos_index = v as u8 & 0x7F,
        Access::PciData | Access::Absent => {}
    }
}

fn string_io<P: Platform>(
    p: &mut P,
    st: &mut EmulState,
    ctx: &mut GuestContext,
    insn: &Insn,
    size: u8,
    kernel: bool,
) -> Step {
    let port = ctx.gpr[reg::RDX] as u16;
    if let Some(s) = io_check(p, st, port, size, kernel) {
        return s;
    }
    let mask = if insn.addr32 { 0xFFFF_FFFF } else { u64::MAX };
    let mut count = if insn.rep { ctx.gpr[reg::RCX] & mask } else { 1 };
    let step = if ctx.rflags & FLAG_DF != 0 { 0u64.wrapping_sub(u64::from(size)) } else { u64::from(size) };
    let ins = matches!(insn.op, Op::Ins { .. });
    let base = match insn.seg {
        Some(Seg::Fs) if !ins => p.segment_base(SegBase::Fs),
        Some(Seg::Gs) if !ins => p.segment_base(SegBase::GsKernel),
        _ => 0,
    };
    let idx = if ins { reg::RDI } else { reg::RSI };
    let mut done = 0;
    while count > 0 {
        if done == REP_BATCH {
            return Step::Again;
        }
        let off = ctx.gpr[idx] & mask;
        let va = base.wrapping_add(off);
        let n = usize::from(size);
        if ins {
            let v = port_read(p, st, port, size).to_le_bytes();
            if !p.write(va, &v[..n]) {
                return Step::Out(Outcome::PageFault { va, error_code: PF_WRITE });
            }
        } else {
            let mut b = [0u8; 4];
            if !p.read(va, &mut b[..n]) {
                return Step::Out(Outcome::PageFault { va, error_code: 0 });
            }
            port_write(p, st, port, size, u32::from_le_bytes(b));
        }
        ctx.gpr[idx] = (ctx.gpr[idx] & !mask) | (off.wrapping_add(step) & mask);
        count -= 1;
        done += 1;
        if insn.rep {
            ctx.gpr[reg::RCX] = (ctx.gpr[reg::RCX] & !mask) | count;
        }
    }
    Step::Next
}

/// An emulated `rdmsr`: `None` is #GP.
pub fn rdmsr<P: Platform>(p: &mut P, st: &EmulState, m: u32) -> Option<u64> {
    Some(match msr_policy::rule(m).0 {
        Read::Fixed(v) => v,
        Read::Efer => p.host_efer() & msr_policy::EFER_VISIBLE,
        Read::ApicBase => {
            if p.vcpu_id() == 0 {
                msr_policy::APIC_BASE_BSP
            } else {
                msr_policy::APIC_BASE_AP
            }
        }
        Read::MiscEnable => (p.host_misc_enable()? & !msr_policy::MISC_ENABLE_HIDDEN) | msr_policy::MISC_ENABLE_FORCED,
        Read::Tsc => p.tsc(),
        Read::Base(b) => p.segment_base(b),
        Read::TscAux => u64::from(st.tsc_aux),
        Read::McgCap => {
            // "GenuineIntel" in leaf 0.
            if p.cpuid(0, 0)[1] == 0x756E_6547 {
                msr_policy::MCG_CAP_INTEL
            } else {
                msr_policy::MCG_CAP_AMD
            }
        }
        Read::McgStatus => st.mcg_status,
        Read::Fault => return None,
    })
}

/// An emulated `wrmsr`: false is #GP.
pub fn wrmsr<P: Platform>(p: &mut P, st: &mut EmulState, m: u32, v: u64) -> bool {
    match msr_policy::rule(m).1 {
        Write::Ignore => true,
        Write::OnlyCurrent => rdmsr(p, st, m) == Some(v),
        Write::OnlyZero => v == 0,
        Write::Base(b) => {
            let canonical = ((v as i64) << 16 >> 16) as u64 == v;
            if canonical {
                p.set_segment_base(b, v);
            }
            canonical
        }
        Write::TscAux => {
            let ok = v >> 32 == 0;
            if ok {
                st.tsc_aux = v as u32;
            }
            ok
        }
        Write::McgStatus => {
            st.mcg_status = v;
            true
        }
        Write::Fault => false,
    }
}
