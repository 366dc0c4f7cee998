//! The hostile guest's hardware glue, its only `unsafe` code: raw
//! hypercalls with arbitrary arguments, raw loads and stores, trap stubs
//! that turn any fault into a recovered one, and the instruction sequences
//! the attacks need (far call, far jump to compatibility mode, raw `iret`).
//!
//! Fault recovery works like setjmp/longjmp: [`catch`] saves the
//! callee-saved registers and the stack pointer, then runs a closure. A
//! fault bounced to one of the stubs below is recorded and, if a `catch` is
//! active, the stub's `iret` returns to `hg_landing` instead of the faulting
//! instruction, which restores the saved registers and makes `catch` return
//! the fault. A fault with no active `catch` ends the run with FAILURE.

use abi::traps::{CallbackRegister, TrapInfo, FLAT_KERNEL_CS64};
use core::sync::atomic::{AtomicU64, Ordering};

core::arch::global_asm!(
    r#"
    .section .bss.hostile, "aw", @nobits
    .balign 8
    .global HG_RECOVER_RSP
HG_RECOVER_RSP:
    .skip 8
    .global HG_CALLBACK_HIT
HG_CALLBACK_HIT:
    .skip 8
    .global HG_VCPU_INFO
HG_VCPU_INFO:
    .skip 8
    .global HG_UPCALLS
HG_UPCALLS:
    .skip 8

    .section .text.hostile, "ax"
    // catch(f, arg): rdi = extern "C" fn(*mut u8), rsi = arg; returns 0,
    // or 1 when a fault (or a callback) came back through hg_landing.
    .global hg_catch
hg_catch:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rip + HG_RECOVER_RSP], rsp
    sub rsp, 8
    mov rax, rdi
    mov rdi, rsi
    call rax
    add rsp, 8
    mov qword ptr [rip + HG_RECOVER_RSP], 0
    xor eax, eax
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    .global hg_landing
hg_landing:
    mov rsp, [rip + HG_RECOVER_RSP]
    mov qword ptr [rip + HG_RECOVER_RSP], 0
    // Back to plain flags (IF set, DF and AC clear): what ran before the
    // fault may have popped random ones.
    push 0x202
    popfq
    mov eax, 1
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    // Callback entries (failsafe, syscall, syscall32, sysenter): note which
    // one ran, then leave through the landing.
    .macro HG_CALLBACK n
    .global hg_callback_\n
hg_callback_\n:
    mov qword ptr [rip + HG_CALLBACK_HIT], \n + 1
    jmp hg_landing
    .endm
    HG_CALLBACK 1
    HG_CALLBACK 2
    HG_CALLBACK 5
    HG_CALLBACK 7

    // The event callback (frame RCX, R11, RIP, CS, RFLAGS, RSP, SS):
    // counts the upcall, clears evtchn_upcall_pending where shared_info's
    // vcpu_info is mapped, and returns with IF clear in the frame, so the
    // iret leaves events masked: the fuzzer may have moved vcpu_info
    // (register_vcpu_info) where this stub cannot clear it, and an unmask
    // would redeliver the same upcall forever.
    .global hg_event
hg_event:
    push rax
    and qword ptr [rsp + 40], ~0x200
    lock inc qword ptr [rip + HG_UPCALLS]
    mov rax, [rip + HG_VCPU_INFO]
    test rax, rax
    jz 1f
    mov byte ptr [rax], 0
1:
    pop rax
    pop rcx
    pop r11
    push 0
    jmp hypercall_page + 23 * 32

    // Trap stubs. The frame from RSP up is RCX, R11, [error code], RIP, CS,
    // RFLAGS, RSP, SS; hg_trap may rewrite it, then Xen's iret returns.
    .macro HG_TRAP n, err
    .global hg_trap_\n
hg_trap_\n:
    .if \err == 0
    sub rsp, 8
    .endif
    push rax
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    push rbx
    mov edi, \n
    .if \err == 0
    lea rsi, [rsp + 72]
    .else
    lea rsi, [rsp + 64]
    .endif
    mov rdx, rsp
    // The faulting context may have had DF set (random iret flags): the
    // ABI wants it clear in Rust code. The frame keeps the guest's flags.
    cld
    call hg_trap
    pop rbx
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rax
    .if \err == 0
    add rsp, 8
    .endif
    pop rcx
    pop r11
    .if \err != 0
    add rsp, 8
    .endif
    push 0
    jmp hypercall_page + 23 * 32
    .endm

    HG_TRAP 0, 0
    HG_TRAP 1, 0
    HG_TRAP 3, 0
    HG_TRAP 4, 0
    HG_TRAP 5, 0
    HG_TRAP 6, 0
    HG_TRAP 7, 0
    HG_TRAP 10, 1
    HG_TRAP 11, 1
    HG_TRAP 12, 1
    HG_TRAP 13, 1
    HG_TRAP 14, 1
    HG_TRAP 16, 0
    HG_TRAP 17, 1
    HG_TRAP 19, 0

    // Raw iret: rdi points at the 9-word frame Xen's iret reads (RAX, R11,
    // RCX, flags, RIP, CS, RFLAGS, RSP, SS). Returns only through a fault
    // or a callback; hg_iret_returned marks the hypercall returning at all.
    .global hg_raw_iret
hg_raw_iret:
    mov rsp, rdi
    mov eax, 23
    syscall
    // A native iretq with its frame at RDI (the guest's own, not the
    // hypercall): returns only through a fault or the target's ud2.
    .global hg_native_iretq
hg_native_iretq:
    mov rsp, rdi
    iretq
    .global hg_iret_returned
hg_iret_returned:
    ud2
    .global hg_iret_target
hg_iret_target:
    ud2
"#
);

extern "C" {
    fn hg_catch(f: extern "C" fn(*mut u8), arg: *mut u8) -> u64;
    fn hg_landing();
    fn hg_raw_iret(frame: *const u64) -> !;
    fn hg_native_iretq(frame: *const u64) -> !;
    fn hg_iret_returned();
    fn hg_iret_target();
    fn hg_callback_1();
    fn hg_event();
    fn hg_callback_2();
    fn hg_callback_5();
    fn hg_callback_7();
    fn hg_trap_0();
    fn hg_trap_1();
    fn hg_trap_3();
    fn hg_trap_4();
    fn hg_trap_5();
    fn hg_trap_6();
    fn hg_trap_7();
    fn hg_trap_10();
    fn hg_trap_11();
    fn hg_trap_12();
    fn hg_trap_13();
    fn hg_trap_14();
    fn hg_trap_16();
    fn hg_trap_17();
    fn hg_trap_19();
    static mut HG_RECOVER_RSP: u64;
    static mut HG_CALLBACK_HIT: u64;
    static mut HG_VCPU_INFO: u64;
    static mut HG_UPCALLS: u64;
}

/// Tells the event callback where vcpu_info is mapped (0: not mapped).
pub fn set_vcpu_info_va(va: u64) {
    // SAFETY: a plain word read by the event stub; one vCPU.
    unsafe { core::ptr::addr_of_mut!(HG_VCPU_INFO).write_volatile(va) };
}

/// Where the event callback believes vcpu_info is mapped (0: not mapped).
pub fn vcpu_info_va() -> u64 {
    // SAFETY: a plain word; one vCPU.
    unsafe { core::ptr::addr_of!(HG_VCPU_INFO).read_volatile() }
}

/// Upcalls the event callback has taken.
pub fn upcalls() -> u64 {
    // SAFETY: a plain word written by the event stub.
    unsafe { core::ptr::addr_of!(HG_UPCALLS).read_volatile() }
}

/// A fault that came back to [`catch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Exception vector, or 256 + callback type when a callback ran instead.
    pub vector: u64,
    /// Error code (0 for vectors without one).
    pub error: u64,
    /// Faulting RIP.
    pub rip: u64,
    /// CS of the faulting context as the bounce frame shows it.
    pub cs: u64,
    /// RAX at the fault.
    pub rax: u64,
}

static LAST: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// [`upcalls`] as the last trap found it: an upcall the trap's return (the
/// landing's events-unmasking flags) lets in comes after this count.
static UPCALLS_AT_TRAP: AtomicU64 = AtomicU64::new(0);

/// The upcall count when the last trap stub ran.
pub fn upcalls_at_last_trap() -> u64 {
    UPCALLS_AT_TRAP.load(Ordering::SeqCst)
}
/// Faults recovered so far, by vector (0–31).
pub static FAULTS: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];

/// Runs `f`; returns the fault (or callback) that ended it early, if any.
pub fn catch<F: FnMut()>(mut f: F) -> Option<Fault> {
    extern "C" fn tramp<F: FnMut()>(p: *mut u8) {
        // SAFETY: `p` is the `&mut F` passed below, alive for the call.
        unsafe { (*p.cast::<F>())() }
    }
    // SAFETY: callbacks are cleared, so a stale one is not reported.
    unsafe { core::ptr::addr_of_mut!(HG_CALLBACK_HIT).write_volatile(0) };
    // SAFETY: hg_catch saves and restores every callee-saved register on
    // both ways out; the closure's frame is plain data, so leaving it early
    // through hg_landing skips no destructor that matters.
    let r = unsafe { hg_catch(tramp::<F>, (&mut f as *mut F).cast()) };
    if r == 0 {
        return None;
    }
    // SAFETY: written only by the callback stubs above.
    let cb = unsafe { core::ptr::addr_of!(HG_CALLBACK_HIT).read_volatile() };
    if cb != 0 {
        return Some(Fault { vector: 256 + cb - 1, error: 0, rip: 0, cs: 0, rax: 0 });
    }
    let l = |i: usize| LAST[i].load(Ordering::SeqCst);
    Some(Fault { vector: l(0), error: l(1), rip: l(2), cs: l(3), rax: l(4) })
}

/// Rust side of the trap stubs. `frame` points at the saved RCX, `regs`
/// at the registers the stub pushed (RBX, R10, R9, R8, RDI, RSI, RDX, RAX).
#[no_mangle]
extern "C" fn hg_trap(vector: u64, frame: *mut u64, regs: *const u64) {
    let err = matches!(vector, 8 | 10..=14 | 17);
    let base = if err { 3 } else { 2 };
    // SAFETY: the hypervisor built this frame on our stack (8 or 7 words)
    // and the stub pushed 8 registers below it.
    let (rip, cs, rax, code) =
        unsafe { (*frame.add(base), *frame.add(base + 1), *regs.add(7), if err { *frame.add(2) } else { 0 }) };
    UPCALLS_AT_TRAP.store(upcalls(), Ordering::SeqCst);
    for (slot, v) in LAST.iter().zip([vector, code, rip, cs, rax]) {
        slot.store(v, Ordering::SeqCst);
    }
    if let Some(c) = FAULTS.get(vector as usize) {
        c.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: set by hg_catch while a catch is active, else 0.
    let recover = unsafe { core::ptr::addr_of!(HG_RECOVER_RSP).read_volatile() };
    if recover == 0 {
        guest_kernel::say!("hostile: unexpected fault: vector {vector} error {code:#x} at rip {rip:#x} cs {cs:#x}");
        guest_kernel::say!("Test result: FAILURE");
        abi::guest::shutdown(abi::sched::SHUTDOWN_CRASH);
    }
    // SAFETY: rewriting the saved RIP/CS/RFLAGS/RSP/SS of our own frame so
    // the iret lands in hg_landing in 64-bit kernel mode on a valid stack.
    unsafe {
        *frame.add(base) = hg_landing as *const () as u64;
        *frame.add(base + 1) = u64::from(FLAT_KERNEL_CS64);
        *frame.add(base + 2) = 0x202;
        *frame.add(base + 3) = recover;
        *frame.add(base + 4) = u64::from(abi::traps::FLAT_RING3_SS64);
    }
}

/// The trap table: every vector a guest can cause, all recovered.
pub fn trap_table() -> [TrapInfo; 16] {
    let e = |vector: u8, f: unsafe extern "C" fn()| TrapInfo {
        vector,
        flags: 0,
        cs: FLAT_KERNEL_CS64,
        pad: 0,
        address: f as *const () as u64,
    };
    [
        e(0, hg_trap_0),
        e(1, hg_trap_1),
        e(3, hg_trap_3),
        e(4, hg_trap_4),
        e(5, hg_trap_5),
        e(6, hg_trap_6),
        e(7, hg_trap_7),
        e(10, hg_trap_10),
        e(11, hg_trap_11),
        e(12, hg_trap_12),
        e(13, hg_trap_13),
        e(14, hg_trap_14),
        e(16, hg_trap_16),
        e(17, hg_trap_17),
        e(19, hg_trap_19),
        TrapInfo::default(),
    ]
}

/// Installs the trap table and the failsafe/syscall/sysenter callbacks.
pub fn install_traps() {
    let t = trap_table();
    let _ = hc(0, [t.as_ptr() as u64, 0, 0, 0, 0]);
    for (kind, f) in [
        (0u16, hg_event as unsafe extern "C" fn()),
        (1, hg_callback_1),
        (2, hg_callback_2),
        (5, hg_callback_5),
        (7, hg_callback_7),
    ] {
        let cb = CallbackRegister { kind, flags: 0, pad: 0, address: f as *const () as u64 };
        let _ = hc(30, [0, &cb as *const CallbackRegister as u64, 0, 0, 0]);
    }
}

/// Addresses the attacks need.
pub fn iret_target() -> u64 {
    hg_iret_target as *const () as u64
}

/// Where a raw iret returns if the hypercall itself returns.
pub fn iret_returned() -> u64 {
    hg_iret_returned as *const () as u64
}

/// Issues hypercall `nr` and returns RAX.
pub fn hc(nr: u64, a: [u64; 5]) -> i64 {
    // SAFETY: the hostile guest passes hostile values on purpose; the
    // hypervisor must validate them. Its own code, stack, data and boot
    // page tables are never the target of a mapping change it makes
    // (generators only touch its arena), and a fault is recovered.
    unsafe { abi::raw::hypercall5(nr, a[0], a[1], a[2], a[3], a[4]) }
}

/// Reads a u64 at `va` (may fault; use inside [`catch`]).
pub fn read(va: u64) -> u64 {
    // SAFETY: a fault is bounced to the stubs and recovered by `catch`.
    unsafe { (va as *const u64).read_volatile() }
}

/// Writes a u64 at `va` (may fault; use inside [`catch`]).
pub fn write(va: u64, v: u64) {
    // SAFETY: as for `read`; callers write only what the attack needs.
    unsafe { (va as *mut u64).write_volatile(v) }
}

/// Loads `selector` into FS (may fault; use inside [`catch`]), then FS
/// back to the null selector.
pub fn load_fs(selector: u16) {
    // SAFETY: the hypervisor never uses FS; a refused selector faults into
    // the stubs and is recovered by `catch`.
    unsafe {
        core::arch::asm!("mov fs, {0:x}", "xor {0:e}, {0:e}", "mov fs, {0:x}", inout(reg) u64::from(selector) => _)
    };
}

/// `pushfq; or TF; popfq; nop; nop`: the single-step #DB after the first
/// `nop` ends it (use inside [`catch`]; the recovery leaves TF behind in
/// the trap frame only).
pub fn step_nop() {
    // SAFETY: only RFLAGS.TF changes, and the #DB it raises is recovered
    // by `catch`, which resumes with the flags of its own frame.
    unsafe { core::arch::asm!("pushfq", "or qword ptr [rsp], 0x100", "popfq", "nop", "nop") };
}

/// Far call through `selector` (any offset: a call gate ignores it).
pub fn far_call(selector: u16) {
    let target: [u32; 2] = [0, u32::from(selector)];
    // SAFETY: either faults (recovered by `catch`) or, on a hypervisor that
    // let a call gate through, runs whatever the gate names.
    unsafe { core::arch::asm!("lcall *({0})", in(reg) target.as_ptr(), options(att_syntax)) };
}

/// Far jump to `selector:offset` (offset below 4 GiB). Never returns
/// normally: the code there must end in a fault.
pub fn far_jump(selector: u16, offset: u32) {
    let target: [u32; 2] = [offset, u32::from(selector)];
    // SAFETY: as for `far_call`; `catch` recovers the fault that ends it.
    unsafe { core::arch::asm!("ljmpl *({0})", in(reg) target.as_ptr(), options(att_syntax)) };
}

/// Raises `ud2` (or `int3`) with RSP = `rsp`: for a stack no bounce frame
/// fits on, so the hypervisor crashes the domain and this never returns.
pub fn trap_on_stack(rsp: u64, ud2: bool) -> ! {
    // SAFETY: deliberately hostile; nothing of this domain runs after the
    // instruction (the exception cannot be delivered).
    unsafe {
        if ud2 {
            core::arch::asm!("mov rsp, {0}", "ud2", in(reg) rsp, options(noreturn));
        } else {
            core::arch::asm!("mov rsp, {0}", "int3", in(reg) rsp, options(noreturn));
        }
    }
}

/// Issues `EVTCHNOP_send` on `port` by a bare SYSCALL with RSP = `rsp`
/// (events unmasked: the send makes an upcall due, whose frame goes
/// below RSP).
pub fn send_on_stack(rsp: u64, port: u32) -> ! {
    static PORT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
    PORT.store(port, core::sync::atomic::Ordering::SeqCst);
    // SAFETY: deliberately hostile; nothing of this domain runs after the
    // hypercall (its upcall frame cannot be written), and if it did, the
    // ud2 on the hostile stack crashes it too.
    unsafe {
        core::arch::asm!(
            "mov rsp, {rsp}",
            "syscall",
            "ud2",
            rsp = in(reg) rsp,
            in("eax") 32,
            in("rdi") abi::event_channel::EVTCHNOP_SEND,
            in("rsi") PORT.as_ptr(),
            options(noreturn),
        )
    }
}

/// Issues the `iret` hypercall with RSP (its frame) at `rsp`.
pub fn iret_on_stack(rsp: u64) -> ! {
    // SAFETY: deliberately hostile; nothing of this domain runs after the
    // hypercall (its frame cannot be read).
    unsafe { hg_raw_iret(rsp as *const u64) }
}

/// Issues `iret` with the 9-word frame at `frame` as its stack.
pub fn raw_iret(frame: &[u64; 9]) {
    // SAFETY: returns only through a fault or callback into `catch`; the
    // frame is read by the hypervisor and never used afterwards.
    unsafe { hg_raw_iret(frame.as_ptr()) }
}

/// Issues a native `iretq` with its 5-word frame (RIP, CS, RFLAGS, RSP,
/// SS) at `frame`, which must have writable stack below it for a fault's
/// bounce frame.
pub fn native_iretq(frame: u64) {
    // SAFETY: returns only through a fault or callback into `catch` (the
    // frame's RIP is the target's ud2, or IRETQ faults on the frame).
    unsafe { hg_native_iretq(frame as *const u64) }
}

/// guest-kernel's trap stubs call this on #PF; our trap table never routes here.
#[no_mangle]
fn pv_page_fault() -> bool {
    false
}

static mut ORACLE: crate::oracle::State = crate::oracle::State::new();

/// The oracle's walk storage (one walk at a time, never re-entered).
pub fn oracle_state() -> &'static mut crate::oracle::State {
    // SAFETY: one vCPU; `oracle::check` is the only caller and never nests.
    unsafe { &mut *core::ptr::addr_of_mut!(ORACLE) }
}

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC is allowed in ring 3 and has no side effects.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

static mut IRET_STACK: [u64; 512] = [0; 512];

/// Top of a stack the fuzzer's `iret` frames return onto (the fault that
/// follows is bounced there, away from live frames).
pub fn iret_stack_top() -> u64 {
    (core::ptr::addr_of!(IRET_STACK) as u64 + 511 * 8) & !15
}

/// Where the fuzzer assembles one privileged instruction and a `ret`
/// (image pages are mapped writable and executable).
static mut INSN_BUF: [u8; 32] = [0xC3; 32];
/// A scratch area for `ins`/`outs`.
static mut STRING_BUF: [u8; 256] = [0; 256];

/// Runs `code` (at most 31 bytes: one instruction the hypervisor
/// emulates, or refuses) followed by `ret`, with RAX, RCX, RDX, R8–R11 set
/// from `regs` and RSI/RDI at a scratch buffer (RCX below 64 if `string`).
/// The instruction may only write caller-saved registers, which the
/// fuzzer's generator guarantees; any fault it raises is caught.
pub fn run_insn(code: &[u8], regs: [u64; 7], string: bool) -> Option<Fault> {
    let n = code.len().min(31);
    // SAFETY: one vCPU; the buffer is only written here, between runs.
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(INSN_BUF) };
    buf[..n].copy_from_slice(&code[..n]);
    buf[n] = 0xC3;
    let entry = buf.as_ptr() as u64;
    let scratch = core::ptr::addr_of_mut!(STRING_BUF) as u64 + 64;
    catch(|| {
        // SAFETY: the buffer holds one emulated instruction and `ret`;
        // every register it may write is declared clobbered, RSI/RDI point
        // at a 256-byte scratch buffer with RCX below 64 and DF clear.
        unsafe {
            core::arch::asm!(
                "cld",
                "call {entry}",
                entry = in(reg) entry,
                inout("rax") regs[0] => _,
                inout("rcx") if string { regs[1] & 63 } else { regs[1] } => _,
                inout("rdx") regs[2] => _,
                inout("rsi") scratch => _,
                inout("rdi") scratch => _,
                inout("r8") regs[3] => _,
                inout("r9") regs[4] => _,
                inout("r10") regs[5] => _,
                inout("r11") regs[6] => _,
                clobber_abi("C"),
            )
        }
    })
}

/// One of the stores a kernel writes page-table entries with, at `va`
/// (may fault; use inside [`catch`]): by `form`, a 64/32/16/8-bit `mov`,
/// `xchg`, `lock cmpxchg` (RAX = `v`, so it stores when the entry is `v`),
/// `lock and`/`or` of the low byte, `lock bts`/`btr` of bit `v & 63`.
pub fn pte_store(form: u64, va: u64, v: u64) {
    // SAFETY: as for `write`; every form touches only the operand at `va`
    // (the bit forms take their bit number modulo 64 from an immediate or
    // a register masked to 0..63) and the registers named.
    unsafe {
        match form % 10 {
            0 => core::arch::asm!("mov [rdi], rax", in("rdi") va, in("rax") v, options(nostack)),
            1 => core::arch::asm!("mov [rdi], eax", in("rdi") va, in("eax") v as u32, options(nostack)),
            2 => core::arch::asm!("mov [rdi], ax", in("rdi") va, in("ax") v as u16, options(nostack)),
            3 => core::arch::asm!("mov [rdi], al", in("rdi") va, in("al") v as u8, options(nostack)),
            4 => core::arch::asm!("xchg [rdi], rax", in("rdi") va, inout("rax") v => _, options(nostack)),
            5 => {
                core::arch::asm!("lock cmpxchg [rdi], rcx", in("rdi") va, in("rcx") v, inout("rax") v => _, options(nostack))
            }
            6 => core::arch::asm!("lock and [rdi], al", in("rdi") va, in("al") v as u8, options(nostack)),
            7 => core::arch::asm!("lock or [rdi], al", in("rdi") va, in("al") v as u8, options(nostack)),
            8 => core::arch::asm!("lock bts [rdi], rax", in("rdi") va, in("rax") v & 63, options(nostack)),
            _ => core::arch::asm!("lock btr qword ptr [rdi], 1", in("rdi") va, options(nostack)),
        }
    }
}
