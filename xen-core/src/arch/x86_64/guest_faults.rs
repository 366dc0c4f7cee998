//! Exceptions raised by guests: privileged-instruction emulation
//! ([`crate::emulate`], forced CPUID included), the extension hypercall
//! entries, `int $n`, #NM under the virtual CR0.TS, kernel stores into
//! read-only L1 tables (writable page tables), and bouncing the rest to
//! the guest's trap table.

use super::cpu;
use super::emul_platform::ArchPlatform;
use super::fpu::Fpu;
use super::hooks::ArchGuest;
use super::paging::DirectMap;
use super::run::{d_mut, hypercall, Hypervisor};
use crate::domain::bounce::{bounce, has_error_code, Roots};
use crate::domain::fpu::{DeviceNotAvailable, FpuHardware};
use crate::domain::native_iret::{complete_iretq, is_spurious_iretq_fault, Completed};
use crate::domain::segments::domain_gdt;
use crate::domain::vcpu::{reg, GuestContext, VCPU_INFO_CR2};
use crate::emulate::pte_write::{self, NotEmulated, SegBases};
use crate::emulate::{emulate, Outcome};
use crate::hypercall::{Action, GuestMemory};
use crate::mm::ptwr::GuestL1s;
use crate::mm::{PhysAddr, PhysMemory};
use crate::sched::Domain;
use abi::GuestVa;

/// Reads guest instruction bytes at `rip` (one word load); zeros and
/// `false` if they cannot all be read.
fn insn_bytes(rip: u64) -> ([u8; 8], bool) {
    match super::entry::read_u64_from_guest(rip) {
        Some(w) => (w.to_le_bytes(), true),
        None => ([0; 8], false),
    }
}

/// Whether the emulator may take this #UD: only the forced-emulation
/// prefix is emulated, so a #UD whose first bytes are readable and are not
/// the prefix is reflected without decoding. (Unreadable bytes go to the
/// emulator, which answers a prefix cut by a page boundary with #PF, as
/// Xen does.)
fn may_be_forced_emulation(code: &[u8; 8], read: bool) -> bool {
    !read || code[..5] == crate::emulate::decoder::FORCED_CPUID[..5]
}

/// An exception raised by guest `i`. Only #UD, #NM, #GP and #PF need a
/// closer look (emulation, the extension entries, `int $n`, lazy LDT
/// pages, the virtual CR0.TS and CR2); every other vector is bounced at
/// once, without reading the instruction.
pub(super) fn guest_exception(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, vector: u8) -> Action {
    if vector == 6 {
        match invalid_opcode(d_mut(i), ctx.rip) {
            Ud::Bounce => {}
            Ud::Vmcall => return vmcall(hv, i, ctx),
            Ud::Other => return special_exception(hv, i, ctx, vector),
        }
    }
    if matches!(vector, 7 | 13 | 14) {
        return special_exception(hv, i, ctx, vector);
    }
    let roots = Roots::of(&hv.mm.domains[i]);
    let err = has_error_code(vector).then_some(ctx.error_code);
    deliver(d_mut(i), &roots, ctx, vector, err)
}

/// What a #UD is, from its first bytes.
enum Ud {
    /// Bounced to the guest's handler.
    Bounce,
    /// The `vmcall` extension entry.
    Vmcall,
    /// Unreadable or the forced-emulation prefix: [`special_exception`].
    Other,
}

/// Reads the bytes of a #UD at `rip` once and classifies it as
/// [`special_exception`] would, so the common cases skip its frame.
#[inline(always)]
fn invalid_opcode(d: &Domain, rip: u64) -> Ud {
    let (code, read) = insn_bytes(rip);
    if d.vmcall && !d.vcpu.user_mode && code[..3] == [0x0F, 0x01, 0xC1] {
        Ud::Vmcall
    } else if read && !may_be_forced_emulation(&code, read) {
        Ud::Bounce
    } else {
        Ud::Other
    }
}

/// A #UD in guest kernel mode whose bytes are `vmcall`: the extension
/// hypercall if domain `i` has it, else whatever [`guest_exception`]
/// makes of the #UD.
pub(super) fn vmcall_seen(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext) -> Action {
    if d_mut(i).vmcall && !d_mut(i).vcpu.user_mode {
        return vmcall(hv, i, ctx);
    }
    guest_exception(hv, i, ctx, 6)
}

/// `vmcall` as a hypercall (a documented extension, guest kernel only).
#[inline(never)]
fn vmcall(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext) -> Action {
    ctx.rip += 3;
    hypercall(hv, i, ctx, 3)
}

#[inline(never)]
fn special_exception(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, vector: u8) -> Action {
    let d = d_mut(i);
    let roots = Roots::of(&hv.mm.domains[i]);
    let user = d.vcpu.user_mode;
    let rip = ctx.rip;
    let (code, read) = insn_bytes(rip);
    // `vmcall` (0F 01 C1) as a hypercall: a documented extension, for the
    // guest kernel only. Tested before the emulator, which would only
    // reflect it, so the extension entry stays short.
    if vector == 6 && d.vmcall && !user && code[..3] == [0x0F, 0x01, 0xC1] {
        ctx.rip = rip + 3;
        return hypercall(hv, i, ctx, 3);
    }
    // #UD (forced CPUID) and #GP(0) go to the emulator first; what it does
    // not take is handled below as before (vmcall, `int $n`, bouncing).
    // From user mode it takes only port I/O (by IOPL/bitmap) and CPUID.
    if (vector == 6 && may_be_forced_emulation(&code, read)) || (vector == 13 && ctx.error_code == 0) {
        let mut st = d.vcpu.emul;
        let out = emulate(&mut ArchPlatform { hv, i }, &mut st, ctx, vector, !user);
        let d = d_mut(i);
        if st.dr != d.vcpu.emul.dr {
            hv.mm.hooks.pending |= super::hooks::PENDING_DEBUGREG;
        }
        d.vcpu.emul = st;
        match out {
            Outcome::Done => return Action::Continue,
            Outcome::Debug { .. } => return deliver(d, &roots, ctx, 1, None),
            Outcome::Reflect => {}
            Outcome::InvalidOpcode => return deliver(d, &roots, ctx, 6, None),
            Outcome::PageFault { va, error_code } => {
                d.vcpu.emul.cr2 = va;
                DirectMap.write_u64(PhysAddr(d.vcpu.vcpu_info_location().0 + VCPU_INFO_CR2), va);
                let code = if user { error_code | 4 } else { error_code };
                return deliver(d, &roots, ctx, 14, Some(code));
            }
        }
    }
    // A selector into an LDT page not mapped yet: map it and retry, or give
    // the guest Xen's page fault at the LDT address.
    if vector == 13 && ctx.error_code & 7 == 4 {
        if let Some(action) = ldt_fault(hv, i, ctx, &roots) {
            return action;
        }
    }
    let d = d_mut(i);
    match vector {
        13 if code[0] == 0xCD => {
            let n = code[1];
            if n == 0x82 && d.int82 && !user {
                ctx.rip = rip + 2;
                return hypercall(hv, i, ctx, 2);
            }
            // A software interrupt: allowed by the trap table's DPL (guest
            // kernel counts as privilege 1, user mode as 3), else #GP like
            // the hardware.
            let entry = d.vcpu.traps[n as usize];
            let privilege = if user { 3 } else { 1 };
            if entry.address != 0 && entry.flags & 3 >= privilege {
                ctx.rip = rip + 2;
                return deliver(d, &roots, ctx, n, None);
            }
            return deliver(d, &roots, ctx, 13, Some((u64::from(n) << 3) | 2));
        }
        7 => return device_not_available(d, &roots, ctx),
        14 => {
            let cr2 = cpu::cr2();
            if is_spurious_iretq_fault(ctx.error_code, &code, cr2, ctx.rsp) {
                return native_iretq(hv, i, ctx, cr2);
            }
            if !user && is_ptwr_candidate(ctx.error_code) {
                if let Some(action) = ptwr(hv, i, ctx, cr2, &roots) {
                    return action;
                }
            }
            let d = d_mut(i);
            d.vcpu.emul.cr2 = cr2;
            DirectMap.write_u64(PhysAddr(d.vcpu.vcpu_info_location().0 + VCPU_INFO_CR2), cr2);
            // Both guest modes run in ring 3; Xen's U/S bit says which
            // guest mode faulted.
            let code = if user { ctx.error_code | 4 } else { ctx.error_code & !4 };
            return deliver(d, &roots, ctx, 14, Some(code));
        }
        _ => {}
    }
    let err = has_error_code(vector).then_some(ctx.error_code);
    deliver(d, &roots, ctx, vector, err)
}

/// Whether a kernel-mode #PF may be a write to a page table the guest
/// maps read-only, to emulate: a write to a present page (no reserved
/// bit, no fetch). Xen 4.17 emulates these whether or not the guest
/// enabled `VMASST_TYPE_writable_pagetables` (the conformance suite shows
/// it), so the assist is not consulted.
fn is_ptwr_candidate(error_code: u64) -> bool {
    const P: u64 = 1;
    const W: u64 = 2;
    const RSVD: u64 = 8;
    const FETCH: u64 = 16;
    error_code & (P | W | RSVD | FETCH) == P | W
}

/// Emulates the kernel's store at `cr2` into one of its L1 tables
/// ([`crate::emulate::pte_write`]); `None` if it is not one, and the guest
/// gets its page fault.
fn ptwr(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, cr2: u64, roots: &Roots) -> Option<Action> {
    let (code, n) = crate::emulate::fetch(&mut ArchPlatform { hv, i }, ctx.rip);
    let v = &d_mut(i).vcpu;
    let seg = SegBases { fs: v.fs_base, gs: v.gs_base_kernel };
    let single_step = ctx.rflags & (1 << 8) != 0;
    let mut l1s = GuestL1s { mm: &mut hv.mm, dom: abi::DomId(i as u16) };
    if let Err(why) = pte_write::emulate(&code[..n], ctx, cr2, seg, &mut l1s) {
        if why != NotEmulated::NotATable {
            log::debug!("domain {i}: write to {cr2:#x} at {:#x} not emulated: {why:?}", ctx.rip);
        }
        return None;
    }
    if !single_step {
        return Some(Action::Continue);
    }
    // As after any emulated instruction: the single step's #DB.
    let d = d_mut(i);
    d.vcpu.emul.dr.note_emulated_debug(crate::emulate::dr::DR6_BS);
    hv.mm.hooks.pending |= super::hooks::PENDING_DEBUGREG;
    Some(deliver(d, roots, ctx, 1, None))
}

/// A #GP naming LDT selector `ctx.error_code` (TI set, not IDT/EXT) whose
/// page is not mapped yet: Xen's lazy LDT mapping. `None` if the fault is
/// an ordinary one (beyond the LDT, or the page is mapped: the descriptor
/// itself is at fault), to be bounced as it is.
fn ldt_fault(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, roots: &Roots) -> Option<Action> {
    let dom = abi::DomId(i as u16);
    let index = (ctx.error_code >> 3) as usize;
    let ldt = hv.mm.domains[i].ldt;
    if index >= ldt.entries as usize || hv.mm.domains[i].ldt_frames[index / 512].is_some() {
        return None;
    }
    if hv.mm.map_ldt_page(dom, index / 512).is_ok() {
        // Retried: the instruction runs again with the page in the LDT.
        super::run::load_guest_gdt(hv, i);
        return Some(Action::Continue);
    }
    let va = ldt.base + index as u64 * 8;
    let d = d_mut(i);
    if !abi::GuestVa(va).is_guest_accessible() {
        return Some(deliver(d, roots, ctx, 13, Some((ctx.error_code & !3) | 4)));
    }
    // A read of a not-present page, from the guest mode that faulted.
    d.vcpu.emul.cr2 = va;
    DirectMap.write_u64(PhysAddr(d.vcpu.vcpu_info_location().0 + VCPU_INFO_CR2), va);
    let code = if d.vcpu.user_mode { 4 } else { 0 };
    Some(deliver(d, roots, ctx, 14, Some(code)))
}

/// Completes a guest `iretq` that QEMU faulted spuriously
/// ([`crate::domain::native_iret`]).
#[cold]
fn native_iretq(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, cr2: u64) -> Action {
    let d = d_mut(i);
    let dm = &hv.mm.domains[i];
    let roots = Roots::of(dm);
    let gdt = domain_gdt(&*hv.mm.mem, dm);
    match complete_iretq(ctx, &mut d.vcpu, &ArchGuest, &roots, &gdt, cr2) {
        Ok(Completed::Returned(_)) => Action::Continue,
        Ok(Completed::PageFault { va, error_code }) => {
            d.vcpu.emul.cr2 = va;
            DirectMap.write_u64(PhysAddr(d.vcpu.vcpu_info_location().0 + VCPU_INFO_CR2), va);
            deliver(d, &roots, ctx, 14, Some(error_code))
        }
        Err(why) => {
            log::error!("domain {} ({}): {why}", d.id.0, d.name());
            Action::Crash(why)
        }
    }
}

/// An #NM: Xen clears TS, virtual and hardware, before delivering it.
#[cold]
fn device_not_available(d: &mut Domain, roots: &Roots, ctx: &mut GuestContext) -> Action {
    if d.vcpu.fpu.device_not_available() == DeviceNotAvailable::Unexpected {
        log::error!("domain {} ({}): #NM with its virtual CR0.TS clear", d.id.0, d.name());
        return Action::Crash(&"#NM without a virtual CR0.TS");
    }
    Fpu.set_ts(false);
    deliver(d, roots, ctx, 7, None)
}

/// A SYSCALL from compatibility mode (the CSTAR entry) by domain `i`.
pub(super) fn compat_syscall(hv: &Hypervisor, i: usize, ctx: &mut GuestContext) -> Action {
    let d = d_mut(i);
    let roots = Roots::of(&hv.mm.domains[i]);
    match crate::domain::bounce::compat_syscall(ctx, &mut d.vcpu, &ArchGuest, &roots) {
        Ok(()) => Action::Continue,
        Err(why) => {
            log::error!("domain {} ({}): SYSCALL in compatibility mode: {why}", d.id.0, d.name());
            Action::Crash(why)
        }
    }
}

fn deliver(d: &mut Domain, roots: &Roots, ctx: &mut GuestContext, vector: u8, error_code: Option<u64>) -> Action {
    match bounce(ctx, &mut d.vcpu, &ArchGuest, roots, vector, error_code) {
        Ok(()) => Action::Continue,
        Err(why) => {
            let (m, w) = super::exception::vector_name(u64::from(vector));
            log::error!("domain {} ({}): unhandled {m} ({w}), error code {:?}", d.id.0, d.name(), error_code);
            log_guest_stack(ctx);
            Action::Crash(why)
        }
    }
}

/// The top of the guest's stack, at debug level, for a post-mortem of a
/// domain crashed by an exception it could not take.
#[cold]
fn log_guest_stack(ctx: &GuestContext) {
    if !log::log_enabled!(log::Level::Debug) {
        return;
    }
    log::debug!(
        "  rsp {:#x} rax {:#x} rbx {:#x} rcx {:#x} rdx {:#x}",
        ctx.rsp,
        ctx.gpr[reg::RAX],
        ctx.gpr[reg::RBX],
        ctx.gpr[reg::RCX],
        ctx.gpr[reg::RDX]
    );
    for row in 0..16u64 {
        let mut w = [0u64; 4];
        for (k, word) in w.iter_mut().enumerate() {
            let mut b = [0u8; 8];
            let va = ctx.rsp.wrapping_add((row * 4 + k as u64) * 8);
            if GuestVa(va).range_is_guest_accessible(8) && ArchGuest.copy_from(GuestVa(va), &mut b) {
                *word = u64::from_le_bytes(b);
            }
        }
        log::debug!("  stack+{:#04x}: {:016x} {:016x} {:016x} {:016x}", row * 32, w[0], w[1], w[2], w[3]);
    }
}
