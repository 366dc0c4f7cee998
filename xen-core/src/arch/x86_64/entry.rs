//! Guest entry and exit: SYSCALL (the hypercall instruction), the common
//! return path to ring 3, and copies to and from guest memory that turn a
//! fault into an error instead of a hypervisor crash.
//!
//! Every entry from a guest — SYSCALL or an exception in ring 3 — builds
//! the same [`TrapFrame`] at the top of the guest entry stack (TSS.RSP0),
//! so switching domains is rewriting that frame and CR3.

use super::cpu;
use super::exception::TrapFrame;
use super::gdt;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Pseudo-vector recorded in the frame for SYSCALL entries.
pub const VECTOR_SYSCALL: u64 = 0x100;
/// Pseudo-vector recorded for SYSCALL from compatibility mode (the CSTAR
/// entry).
pub const VECTOR_SYSCALL32: u64 = 0x101;
/// Pseudo-vector recorded for a 64-bit SYSCALL in guest user mode: never a
/// hypercall, it goes to the guest kernel's syscall callback.
pub const VECTOR_USER_SYSCALL: u64 = 0x102;

const MSR_STAR: u32 = 0xC000_0081;
const MSR_LSTAR: u32 = 0xC000_0082;
const MSR_CSTAR: u32 = 0xC000_0083;
const MSR_FMASK: u32 = 0xC000_0084;
const MSR_SYSENTER_CS: u32 = 0x174;
const MSR_SYSENTER_ESP: u32 = 0x175;
const MSR_SYSENTER_EIP: u32 = 0x176;
/// CPUID.1:EDX.SEP: SYSENTER and its MSRs exist.
const CPUID_SEP: u32 = 1 << 11;
const EFER_SCE: u64 = 1;
/// Flags cleared on SYSCALL entry: TF, IF, DF, NT, AC.
const FMASK: u64 = 0x0100 | 0x0200 | 0x0400 | 0x4000 | 0x4_0000;

#[no_mangle]
static ENTRY_STACK_TOP: AtomicU64 = AtomicU64::new(0);
#[no_mangle]
static GUEST_RSP_SCRATCH: AtomicU64 = AtomicU64::new(0);
static SMAP: AtomicBool = AtomicBool::new(false);

core::arch::global_asm!(
    r#"
    .section .text.guest_entry, "ax"
    .global syscall_entry
syscall_entry:
    mov [rip + GUEST_RSP_SCRATCH], rsp
    mov rsp, [rip + ENTRY_STACK_TOP]
    push 0xE02B
    push [rip + GUEST_RSP_SCRATCH]
    push r11
    push 0xE033
    push rcx
    // `iret` and the numbers without a handler: `syscall_special` (in
    // `syscall_fast`), which takes the general path (`xen_core_syscall`)
    // for anything unusual; every other number `xen_core_syscall_handled`.
    cmp rax, 63
    ja syscall_special
    bt qword ptr [rip + SYSCALL_SPECIAL], rax
    jc syscall_special
    push 0
    push 0x100
    jmp syscall_common

    // SYSCALL from compatibility mode (AMD; Intel raises #UD in the guest).
    // Not a hypercall on Xen either: the frame is the one Xen's CSTAR entry
    // builds (CS 0xE023, SS 0xE02B, RIP = RCX, RFLAGS = R11), handled by
    // `run::compat_syscall_entry`; the exception path is not touched.
    .global cstar_entry
cstar_entry:
    mov [rip + GUEST_RSP_SCRATCH], rsp
    mov rsp, [rip + ENTRY_STACK_TOP]
    push 0xE02B
    push [rip + GUEST_RSP_SCRATCH]
    push r11
    push 0xE023
    push rcx
    push 0
    push 0x101
    jmp cstar_common

    // SYSCALL in guest user mode (LSTAR points here while the vCPU is in
    // user mode, so the hypercall entry above never tests the mode): the
    // same frame as a hypercall, for `user_syscall_fast` (syscall_fast.rs)
    // or, when it declines, `run::user_syscall_entry`.
    .global user_syscall_entry
user_syscall_entry:
    mov [rip + GUEST_RSP_SCRATCH], rsp
    mov rsp, [rip + ENTRY_STACK_TOP]
    push 0xE02B
    push [rip + GUEST_RSP_SCRATCH]
    push r11
    push 0xE033
    push rcx
    jmp user_syscall_fast

    // Benchmark floor (module option `bench-null`): hypercall 127 returns at
    // once with SYSRET; anything else takes the normal path. SYSRET is used
    // only with a canonical return address (the SYSRET #GP erratum).
    .global syscall_null_entry
syscall_null_entry:
    cmp rax, 127
    jne syscall_entry
    mov rax, rcx
    shl rax, 16
    sar rax, 16
    cmp rax, rcx
    mov eax, 127
    jne syscall_entry
    xor eax, eax
    sysretq

    .global enter_frame
enter_frame:
    mov rsp, rdi
    jmp trap_return

    // Words first, then the odd bytes: a string instruction's path length
    // is per element, so a 72-byte iret frame is 9 moves rather than 72.
    .global guest_copy_smap
guest_copy_smap:
    mov rcx, rdx
    shr rcx, 3
    and edx, 7
    stac
    .global guest_copy_smap_insn
guest_copy_smap_insn:
    rep movsq
    mov ecx, edx
    .global guest_copy_smap_insn_tail
guest_copy_smap_insn_tail:
    rep movsb
    clac
    xor eax, eax
    ret
    .global guest_copy_smap_fixup
guest_copy_smap_fixup:
    clac
    mov eax, 1
    ret

    .global guest_copy_plain
guest_copy_plain:
    mov rcx, rdx
    shr rcx, 3
    and edx, 7
    .global guest_copy_plain_insn
guest_copy_plain_insn:
    rep movsq
    mov ecx, edx
    .global guest_copy_plain_insn_tail
guest_copy_plain_insn_tail:
    rep movsb
    xor eax, eax
    ret
    .global guest_copy_plain_fixup
guest_copy_plain_fixup:
    mov eax, 1
    ret

    // Whole words: one string move for a bounce frame or an iret frame
    // (a REP iteration is one instruction to -icount, so 9 words are 10
    // counts), no byte tail. Faults land on the fixups above.
    .global guest_words_smap
guest_words_smap:
    mov rcx, rdx
    stac
    .global guest_words_smap_insn
guest_words_smap_insn:
    rep movsq
    clac
    xor eax, eax
    ret

    .global guest_words_plain
guest_words_plain:
    mov rcx, rdx
    .global guest_words_plain_insn
guest_words_plain_insn:
    rep movsq
    xor eax, eax
    ret

    // One word read (a #UD's instruction bytes): a single move.
    .global guest_read_u64_smap
guest_read_u64_smap:
    stac
    .global guest_read_u64_smap_insn
guest_read_u64_smap_insn:
    mov rax, [rsi]
    clac
    mov [rdi], rax
    xor eax, eax
    ret

    .global guest_read_u64_plain
guest_read_u64_plain:
    .global guest_read_u64_plain_insn
guest_read_u64_plain_insn:
    mov rax, [rsi]
    mov [rdi], rax
    xor eax, eax
    ret

    // gs_load_checked(selector): 0, or 1 with GS null if the load faulted.
    .global gs_load_checked
gs_load_checked:
    .global gs_load_insn
gs_load_insn:
    mov gs, di
    xor eax, eax
    ret
    .global gs_load_fixup
gs_load_fixup:
    xor eax, eax
    mov gs, ax
    mov eax, 1
    ret
"#
);

extern "C" {
    fn syscall_entry();
    fn syscall_null_entry();
    fn cstar_entry();
    fn user_syscall_entry();
    fn enter_frame(frame: *const TrapFrame) -> !;
    fn guest_copy_smap(dst: *mut u8, src: *const u8, len: usize) -> u32;
    fn guest_copy_plain(dst: *mut u8, src: *const u8, len: usize) -> u32;
    static guest_copy_smap_insn: u8;
    static guest_copy_smap_insn_tail: u8;
    static guest_copy_smap_fixup: u8;
    static guest_copy_plain_insn: u8;
    static guest_copy_plain_insn_tail: u8;
    static guest_copy_plain_fixup: u8;
    fn guest_words_smap(dst: *mut u64, src: *const u64, words: usize) -> u32;
    fn guest_words_plain(dst: *mut u64, src: *const u64, words: usize) -> u32;
    static guest_words_smap_insn: u8;
    static guest_words_plain_insn: u8;
    fn guest_read_u64_smap(dst: *mut u64, src: *const u64) -> u32;
    fn guest_read_u64_plain(dst: *mut u64, src: *const u64) -> u32;
    static guest_read_u64_smap_insn: u8;
    static guest_read_u64_plain_insn: u8;
    fn gs_load_checked(selector: u64) -> u32;
    static gs_load_insn: u8;
    static gs_load_fixup: u8;
}

/// Loads GS with `selector` in ring 0; `false` (GS null) if the CPU
/// refused it. The checks decide from the descriptors in guest memory,
/// which a batch may have changed before the hardware copies are reloaded
/// at its end (`update_descriptor` or `set_gdt` then `set_segment_base`
/// in one multicall): a refusal then must not be a fault in the hypervisor.
pub fn load_gs(selector: u16) -> bool {
    // SAFETY: the hypervisor does not use GS; a #GP/#NP of the load is
    // redirected by the exception handler to the fixup, which loads null.
    unsafe { gs_load_checked(u64::from(selector)) == 0 }
}

/// Rust side of the CSTAR entry (a guest in compatibility mode) and of
/// SYSCALL in guest user mode, told apart by the pseudo-vector.
#[no_mangle]
extern "C" fn xen_core_cstar(frame: &mut TrapFrame) {
    if frame.vector == VECTOR_USER_SYSCALL {
        super::run::user_syscall_entry(frame);
    } else {
        super::run::compat_syscall_entry(frame);
    }
}

/// Rust side of SYSCALL: always a guest entry. `iret` and numbers without
/// a handler come here only when their short path declined.
#[no_mangle]
extern "C" fn xen_core_syscall(frame: &mut TrapFrame) {
    super::run::syscall_entry(frame);
}

/// Rust side of SYSCALL for every other number.
#[no_mangle]
extern "C" fn xen_core_syscall_handled(frame: &mut TrapFrame) {
    super::run::syscall_entry_handled(frame);
}

/// Sets up SYSCALL from every guest mode, SYSENTER, and the entry stack.
pub fn init(smap: bool) {
    SMAP.store(smap, Ordering::Relaxed);
    ENTRY_STACK_TOP.store(gdt::guest_entry_stack_top(), Ordering::Relaxed);
    let star = (u64::from(gdt::SYSRET_BASE) << 48) | (u64::from(gdt::HV_CS) << 32);
    // SAFETY: the selectors match the GDT loaded by `gdt::init`, LSTAR and
    // CSTAR are the entry stubs above, and FMASK keeps interrupts off on
    // entry.
    unsafe {
        cpu::wrmsr(MSR_STAR, star);
        cpu::wrmsr(MSR_LSTAR, syscall_entry as *const () as u64);
        cpu::wrmsr(MSR_CSTAR, cstar_entry as *const () as u64);
        cpu::wrmsr(MSR_FMASK, FMASK);
        cpu::wrmsr(cpu::MSR_EFER, cpu::rdmsr(cpu::MSR_EFER) | EFER_SCE);
    }
    // SYSENTER never enters the hypervisor: with a null SYSENTER_CS it
    // raises #GP(0) in the guest (AMD CPUs raise #UD in long mode), which
    // is bounced like any guest #GP. Xen answers the same when the guest
    // registered no sysenter callback. Set explicitly, whatever firmware
    // left there.
    if cpu::cpuid(1, 0).edx & CPUID_SEP != 0 {
        // SAFETY: a null SYSENTER_CS only makes SYSENTER fault.
        unsafe {
            cpu::wrmsr(MSR_SYSENTER_CS, 0);
            cpu::wrmsr(MSR_SYSENTER_ESP, 0);
            cpu::wrmsr(MSR_SYSENTER_EIP, 0);
        }
    }
}

/// The 64-bit SYSCALL entry for guest kernel mode of the running domain
/// (also read by `user_syscall_fast`).
#[no_mangle]
static KERNEL_LSTAR: AtomicU64 = AtomicU64::new(0);

/// Selects the SYSCALL entry for the domain about to run: the normal one
/// or the benchmark floor entry in kernel mode, the user-mode one in user
/// mode.
pub fn select_syscall_entry(bench_null: bool, user_mode: bool) {
    let target = if bench_null { syscall_null_entry as *const () as u64 } else { syscall_entry as *const () as u64 };
    KERNEL_LSTAR.store(target, Ordering::Relaxed);
    route_syscall(user_mode);
}

/// Points SYSCALL at the entry for guest user or kernel mode.
pub fn route_syscall(user_mode: bool) {
    let target = if user_mode { user_syscall_entry as *const () as u64 } else { KERNEL_LSTAR.load(Ordering::Relaxed) };
    // SAFETY: every target is a SYSCALL entry stub above.
    unsafe { cpu::wrmsr(MSR_LSTAR, target) };
}

/// Where the frame of the next guest entry lives.
pub fn frame_slot() -> *mut TrapFrame {
    (gdt::guest_entry_stack_top() as usize - core::mem::size_of::<TrapFrame>()) as *mut TrapFrame
}

/// Enters a guest for the first time with `frame`.
pub fn enter(frame: &TrapFrame) -> ! {
    let slot = frame_slot();
    // SAFETY: the slot is the top of the entry stack, unused now: nothing
    // runs on it until the guest enters the hypervisor again. The frame is
    // a ring-3 context built by the caller.
    unsafe {
        core::ptr::copy_nonoverlapping(frame, slot, 1);
        enter_frame(slot)
    }
}

fn copy(dst: *mut u8, src: *const u8, len: usize) -> bool {
    // SAFETY: callers pass a hypervisor buffer of `len` bytes they borrow
    // and a range checked to lie in guest address space, whose faults the
    // #PF/#GP handlers redirect to the fixup label.
    unsafe {
        if SMAP.load(Ordering::Relaxed) {
            guest_copy_smap(dst, src, len) == 0
        } else {
            guest_copy_plain(dst, src, len) == 0
        }
    }
}

/// Copies guest memory at `va` into `buf`; `false` if the range is not
/// guest address space or faults.
pub fn copy_from_guest(va: u64, buf: &mut [u8]) -> bool {
    abi::GuestVa(va).range_is_guest_accessible(buf.len() as u64) && copy(buf.as_mut_ptr(), va as *const u8, buf.len())
}

/// Copies `buf` to guest memory at `va`; `false` if the range is not guest
/// address space or faults.
pub fn copy_to_guest(va: u64, buf: &[u8]) -> bool {
    abi::GuestVa(va).range_is_guest_accessible(buf.len() as u64) && copy(va as *mut u8, buf.as_ptr(), buf.len())
}

pub(super) fn copy_words(dst: *mut u64, src: *const u64, words: usize) -> bool {
    // SAFETY: as in `copy`: a hypervisor buffer of `words` words and a
    // checked guest range whose faults go to the fixup label.
    unsafe {
        if SMAP.load(Ordering::Relaxed) {
            guest_words_smap(dst, src, words) == 0
        } else {
            guest_words_plain(dst, src, words) == 0
        }
    }
}

/// Copies `words.len()` words of guest memory at `va` into `words` with
/// one string move; `false` if the range is not guest address space or
/// faults.
#[inline(always)]
pub fn copy_words_from_guest(va: u64, words: &mut [u64]) -> bool {
    abi::GuestVa(va).range_is_guest_accessible(words.len() as u64 * 8)
        && copy_words(words.as_mut_ptr(), va as *const u64, words.len())
}

/// Copies `words` to guest memory at `va` with one string move; `false`
/// if the range is not guest address space or faults.
#[inline(always)]
pub fn copy_words_to_guest(va: u64, words: &[u64]) -> bool {
    abi::GuestVa(va).range_is_guest_accessible(words.len() as u64 * 8)
        && copy_words(va as *mut u64, words.as_ptr(), words.len())
}

/// `N` words of guest memory at `va`, read with one string move into the
/// caller's uninitialised buffer (no zeroing first, no copy after);
/// `None` if the range is not guest address space or faults.
#[inline(always)]
pub fn read_words_from_guest<const N: usize>(va: u64, buf: &mut MaybeUninit<[u64; N]>) -> Option<&[u64; N]> {
    if !abi::GuestVa(va).range_is_guest_accessible(N as u64 * 8)
        || !copy_words(buf.as_mut_ptr().cast(), va as *const u64, N)
    {
        return None;
    }
    // SAFETY: the string move wrote all N words (it returned success).
    Some(unsafe { buf.assume_init_ref() })
}

/// The guest word at `va` (little endian); `None` if the range is not
/// guest address space or faults.
#[inline(always)]
pub fn read_u64_from_guest(va: u64) -> Option<u64> {
    if !abi::GuestVa(va).range_is_guest_accessible(8) {
        return None;
    }
    let mut w = 0u64;
    // SAFETY: `w` is a local word; the range was checked to lie in guest
    // space, and a fault of the one load goes to the fixup label.
    let ok = unsafe {
        if SMAP.load(Ordering::Relaxed) {
            guest_read_u64_smap(&mut w, va as *const u64) == 0
        } else {
            guest_read_u64_plain(&mut w, va as *const u64) == 0
        }
    };
    ok.then_some(w)
}

/// The guest-copy routines for the assembly fast paths, for this CPU's
/// SMAP setting: the word copy (RDI destination, RSI source, RDX words)
/// and the one-word read (RDI destination, RSI source). Both return 0, or
/// 1 if the guest access faulted, and clobber only RAX, RCX, RSI, RDI.
pub(super) fn fast_copy_routines() -> (u64, u64) {
    if SMAP.load(Ordering::Relaxed) {
        (guest_words_smap as *const () as u64, guest_read_u64_smap as *const () as u64)
    } else {
        (guest_words_plain as *const () as u64, guest_read_u64_plain as *const () as u64)
    }
}

/// Whether guest accesses need STAC/CLAC.
pub(super) fn smap() -> bool {
    SMAP.load(Ordering::Relaxed)
}

/// If `rip` is one of the guest-copy instructions, the address to resume at.
pub fn copy_fixup(rip: u64) -> Option<u64> {
    let pairs = [
        (&raw const guest_copy_smap_insn as u64, &raw const guest_copy_smap_fixup as u64),
        (&raw const guest_copy_smap_insn_tail as u64, &raw const guest_copy_smap_fixup as u64),
        (&raw const guest_copy_plain_insn as u64, &raw const guest_copy_plain_fixup as u64),
        (&raw const guest_copy_plain_insn_tail as u64, &raw const guest_copy_plain_fixup as u64),
        (&raw const guest_words_smap_insn as u64, &raw const guest_copy_smap_fixup as u64),
        (&raw const guest_words_plain_insn as u64, &raw const guest_copy_plain_fixup as u64),
        (&raw const guest_read_u64_smap_insn as u64, &raw const guest_copy_smap_fixup as u64),
        (&raw const guest_read_u64_plain_insn as u64, &raw const guest_copy_plain_fixup as u64),
        (&raw const gs_load_insn as u64, &raw const gs_load_fixup as u64),
    ];
    let iret = super::syscall_fast::fixups();
    let upcall = super::evtchn_fast::fixups();
    pairs
        .iter()
        .chain(iret.iter())
        .chain(upcall.iter())
        .find(|(insn, _)| *insn == rip)
        .map(|(_, fix)| *fix)
        .or_else(|| super::guest_small::fixup(rip))
}
