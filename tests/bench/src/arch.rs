//! The bench guest's only `unsafe` code: the trap stubs, the timed
//! regions, the user-mode round trip and raw memory access.
//!
//! Every timed region has the same shape (see [`region!`]): RDTSC into R12,
//! two register moves that load the last hypercall argument and the
//! hypercall number, the operation's one instruction, then RDTSC again.
//! [`empty`] is that region without the instruction; its cost is what
//! `ops` subtracts. The same binary runs on both hypervisors, so the
//! regions are identical there by construction.

use abi::traps::{TrapInfo, FLAT_KERNEL_CS64};

// The notes, `_start`, the stack and the panic handler are guest-rt's
// (main.rs); only the kernel stack for the user-mode round trip is ours.
core::arch::global_asm!(
    r#"
    .section .bss.bench_kstack, "aw", @nobits
    .balign 16
    .skip 16384
bench_kstack_top:
"#
);

/// The TSC at the guest's first instruction (the runtime's `_start`).
pub fn entry_tsc() -> u64 {
    guest_rt::entry_tsc()
}

core::arch::global_asm!(
    r#"
    .section .text.bench_traps, "ax"
    // #UD (frame RCX, R11, RIP, CS, RFLAGS, RSP, SS): the bounce benchmark's
    // handler steps over the 2-byte ud2 and returns through iret.
    .global bench_trap_ud
bench_trap_ud:
    add qword ptr [rsp + 16], 2
    pop rcx
    pop r11
    push 0
    jmp hypercall_page + 23 * 32

    // #BP: the saved RIP is already past the int3.
    .global bench_trap_bp
bench_trap_bp:
    pop rcx
    pop r11
    push 0
    jmp hypercall_page + 23 * 32

    // #GP and #PF (frame RCX, R11, error, RIP, ...) are never expected.
    .global bench_trap_gp
bench_trap_gp:
    mov edi, 13
    mov rsi, rsp
    call bench_fatal_trap
    .global bench_trap_pf
bench_trap_pf:
    mov edi, 14
    mov rsi, rsp
    call bench_fatal_trap
"#
);

extern "C" {
    fn bench_trap_ud();
    fn bench_trap_bp();
    fn bench_trap_gp();
    fn bench_trap_pf();
    static hypercall_page: u8;
}

#[no_mangle]
extern "C" fn bench_fatal_trap(vector: u64, frame: *const u64) -> ! {
    // SAFETY: the frame the hypervisor built: RCX, R11, error code, RIP.
    let (error, rip) = unsafe { (*frame.add(2), *frame.add(3)) };
    crate::say!("bench: unexpected exception {vector} (error {error:#x}) at {rip:#x}");
    crate::say!("Test result: FAILURE");
    abi::guest::shutdown(abi::sched::SHUTDOWN_CRASH)
}

/// Installs the trap table: #UD and #BP (the bounce benchmark; `int3` is
/// allowed from every ring, as a PV kernel runs in ring 3), #GP and #PF.
pub fn install_traps() -> Result<(), abi::Errno> {
    let e = |vector: u8, flags: u8, f: unsafe extern "C" fn()| TrapInfo {
        vector,
        flags,
        cs: FLAT_KERNEL_CS64,
        pad: 0,
        address: f as *const () as u64,
    };
    let table = [
        e(3, 3, bench_trap_bp),
        e(6, 0, bench_trap_ud),
        e(13, 0, bench_trap_gp),
        e(14, 0, bench_trap_pf),
        TrapInfo::default(),
    ];
    // SAFETY: every entry points at a stub above.
    unsafe { abi::guest::set_trap_table(&table) }
}

/// One timed region: its RDTSC delta and RAX after the operation.
#[derive(Clone, Copy, Debug)]
pub struct Timed {
    /// TSC ticks (instructions under `-icount shift=0`), region included.
    pub ticks: u64,
    /// RAX after the operation (a hypercall's return value).
    pub rax: i64,
}

/// The timed region around the instructions given (none: the empty one).
macro_rules! region {
    ($($op:literal)?) => {
        concat!(
            "rdtsc\n shl rdx, 32\n or rax, rdx\n mov r12, rax\n",
            "mov rdx, r15\n mov eax, r9d\n",
            $($op, "\n",)?
            "mov r14, rax\n",
            "rdtsc\n shl rdx, 32\n or rax, rdx\n sub rax, r12\n"
        )
    };
}

/// Defines a timed function `$name(nr, a, r13)` running one region with
/// `$op`: R9 holds `nr`, RDI, RSI, R15 (moved to RDX inside the region),
/// R10, R8 hold `a`, R13 holds `r13`, ECX holds `a[4]` as well (the MSR
/// for `rdmsr`).
macro_rules! timed_fn {
    ($(#[$m:meta])* $name:ident, $($op:literal)?) => {
        $(#[$m])*
        #[inline(never)]
        unsafe fn $name(nr: u64, a: [u64; 5], r13: u64) -> Timed {
            let (ticks, rax): (u64, i64);
            // SAFETY: the caller vouches for the operation's arguments; all
            // clobbered registers are declared and memory may change.
            unsafe {
                core::arch::asm!(
                    region!($($op)?),
                    inout("r9") nr => _, inout("rdi") a[0] => _, inout("rsi") a[1] => _,
                    inout("r15") a[2] => _, inout("r10") a[3] => _, inout("r8") a[4] => _,
                    inout("r13") r13 => _, inout("rcx") a[4] => _,
                    out("rax") ticks, out("rdx") _, out("r11") _, out("r12") _, out("r14") rax,
                );
            }
            Timed { ticks, rax }
        }
    };
}

timed_fn!(
    /// The empty region.
    region_empty,
);
timed_fn!(
    /// A call into the hypercall page's stub at R13.
    region_call,
    "call r13"
);
timed_fn!(
    /// A hypercall by SYSCALL, number in RAX.
    region_syscall,
    "syscall"
);
timed_fn!(
    /// A hypercall by `int 0x82` (xen-core extension).
    region_int82,
    "int 0x82"
);
timed_fn!(
    /// A hypercall by `vmcall` (xen-core extension).
    region_vmcall,
    "vmcall"
);
timed_fn!(
    /// `rdmsr` of ECX: #GP, emulation, return.
    region_rdmsr,
    "rdmsr"
);
timed_fn!(
    /// `ud2`: #UD bounced to [`bench_trap_ud`], which returns past it.
    region_ud2,
    "ud2"
);
timed_fn!(
    /// `int3`: #BP bounced to [`bench_trap_bp`].
    region_int3,
    "int3"
);

timed_fn!(
    /// `set_timer_op(RDI)` through the stub at R13, then `SCHEDOP_block`
    /// (1), which returns once the timer's upcall has been taken.
    region_timer_block,
    "call r13\n mov edi, 1\n xor esi, esi\n call hypercall_page + 29 * 32"
);

/// `set_timer_op(deadline)` then `SCHEDOP_block`, timed as one region
/// through to the return after the wake-up.
pub fn timer_block(deadline: u64) -> Timed {
    let stub = &raw const hypercall_page as u64 + abi::hypercall::HypercallNr::SET_TIMER_OP.0 * 32;
    // SAFETY: value arguments only; the block returns once an event is
    // pending, and the timer armed just before is one.
    unsafe { region_timer_block(abi::hypercall::HypercallNr::SET_TIMER_OP.0, [deadline, 0, 0, 0, 0], stub) }
}

/// The empty region: what every measurement subtracts.
pub fn empty() -> Timed {
    // SAFETY: register moves and RDTSC only.
    unsafe { region_empty(0, [0; 5], 0) }
}

/// Hypercall `nr` through the hypercall page, timed.
pub fn page_call(nr: u64, a: [u64; 5]) -> Timed {
    let stub = &raw const hypercall_page as u64 + nr * 32;
    // SAFETY: the bench passes pointers only to its own live buffers, and
    // its page-table calls only change its own bench and user tables,
    // which map nothing the guest's code, data or stack live in.
    unsafe { region_call(nr, a, stub) }
}

/// Which instruction enters the hypervisor directly.
#[derive(Clone, Copy, Debug)]
pub enum Entry {
    /// SYSCALL (the ABI's own).
    Syscall,
    /// `int 0x82` (xen-core extension `hcall-ext=int82`).
    Int82,
    /// `vmcall` (xen-core extension `hcall-ext=vmcall`).
    Vmcall,
}

/// Hypercall `nr` without pointer arguments, entered by `entry`.
pub fn direct_call(entry: Entry, nr: u64, a0: u64) -> Timed {
    let a = [a0, 0, 0, 0, 0];
    // SAFETY: the callers pass only value arguments (xen_version(0)).
    unsafe {
        match entry {
            Entry::Syscall => region_syscall(nr, a, 0),
            Entry::Int82 => region_int82(nr, a, 0),
            Entry::Vmcall => region_vmcall(nr, a, 0),
        }
    }
}

/// `rdmsr` of `msr`, emulated by the hypervisor.
pub fn rdmsr(msr: u32) -> Timed {
    // SAFETY: rdmsr from the guest kernel traps to the hypervisor, which
    // emulates it (an MSR it refuses raises #GP, which ends the run).
    unsafe { region_rdmsr(0, [0, 0, 0, 0, u64::from(msr)], 0) }
}

/// `ud2` bounced to the guest's handler and back.
pub fn bounce_ud2() -> Timed {
    // SAFETY: the #UD handler returns past the instruction.
    unsafe { region_ud2(0, [0; 5], 0) }
}

/// `int3` bounced to the guest's handler and back.
pub fn bounce_int3() -> Timed {
    // SAFETY: the #BP handler returns to the next instruction.
    unsafe { region_int3(0, [0; 5], 0) }
}

core::arch::global_asm!(
    r#"
    .section .text.bench_user, "ax"
    // Copied to a user page: the timed region (as region! writes it) around
    // a SYSCALL the kernel answers at once with iret (R13 = 1), then the
    // delta handed to the kernel by a second SYSCALL (R13 = 0).
    .global bench_user_start
bench_user_start:
    mov r13, 1
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov r12, rax
    mov rdx, r15
    mov eax, r9d
    syscall
    mov r14, rax
    rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, r12
    mov rdi, rax
    xor r13d, r13d
    syscall
    ud2
    .global bench_user_end
bench_user_end:

    .section .text.bench_user_kernel, "ax"
    // The syscall callback (frame RCX, R11, RIP, CS, RFLAGS, RSP, SS):
    // straight back to user mode, or the result and back to the kernel.
    .global bench_user_cb
bench_user_cb:
    test r13, r13
    jz 1f
    pop rcx
    pop r11
    push 0
    jmp hypercall_page + 23 * 32
1:
    mov [rip + BENCH_USER_RESULT], rdi
    mov rsp, [rip + BENCH_USER_RSP]
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    ret

    // bench_user_enter(rip, rsp): iret to user mode at 0xE033:rip on
    // 0xE02B:rsp; comes back through the callback above.
    .global bench_user_enter
bench_user_enter:
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov [rip + BENCH_USER_RSP], rsp
    push 0xE02B
    push rsi
    push 0x202
    push 0xE033
    push rdi
    push 0
    jmp hypercall_page + 23 * 32
"#
);

core::arch::global_asm!(
    r#"
    .section .text.bench_event, "ax"
    // The event callback (frame RCX, R11, RIP, CS, RFLAGS, RSP, SS; events
    // masked): clears vCPU 0's upcall_pending and pending selector and the
    // first word of pending ports (the bench binds only ports below 64),
    // sends the pong if one is armed (EVTCHNOP_send = 4 on
    // BENCH_PONG_PORT), then iret, whose RFLAGS.IF unmasks events again.
    .global bench_event_cb
bench_event_cb:
    push rax
    mov rax, [rip + BENCH_SHARED_INFO]
    mov byte ptr [rax], 0
    mov qword ptr [rax + 8], 0
    mov qword ptr [rax + 2048], 0
    // The ping-pong row: answer once on the channel's other end; that
    // event's upcall is then delivered again at this callback's iret.
    cmp dword ptr [rip + BENCH_PONG_ARMED], 0
    je 1f
    mov dword ptr [rip + BENCH_PONG_ARMED], 0
    push rdi
    push rsi
    mov edi, 4
    lea rsi, [rip + BENCH_PONG_PORT]
    call hypercall_page + 32 * 32
    pop rsi
    pop rdi
1:
    pop rax
    pop rcx
    pop r11
    push 0
    jmp hypercall_page + 23 * 32
"#
);

/// Where the bench maps shared_info (for the event callback).
#[no_mangle]
static BENCH_SHARED_INFO: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The port the callback answers on while [`BENCH_PONG_ARMED`] is set
/// (an `evtchn_send` struct: the port alone).
#[no_mangle]
static BENCH_PONG_PORT: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);
/// Nonzero: the next upcall sends one pong on [`BENCH_PONG_PORT`].
#[no_mangle]
static BENCH_PONG_ARMED: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

extern "C" {
    fn bench_event_cb();
}

/// Makes the next upcall answer with one `EVTCHNOP_send` on `port`.
pub fn arm_pong(port: u32) {
    BENCH_PONG_PORT.store(port, core::sync::atomic::Ordering::SeqCst);
    BENCH_PONG_ARMED.store(1, core::sync::atomic::Ordering::SeqCst);
}

/// Whether the armed pong is still unsent.
pub fn pong_armed() -> bool {
    BENCH_PONG_ARMED.load(core::sync::atomic::Ordering::SeqCst) != 0
}

/// Registers the event callback, which clears what the bench's sends set;
/// `shared_info` is where the guest mapped shared_info.
pub fn event_setup(shared_info: u64) -> Result<(), abi::Errno> {
    BENCH_SHARED_INFO.store(shared_info, core::sync::atomic::Ordering::SeqCst);
    let cb = abi::traps::CallbackRegister {
        kind: abi::traps::CALLBACKTYPE_EVENT,
        flags: abi::traps::CALLBACKF_MASK_EVENTS,
        pad: 0,
        address: bench_event_cb as *const () as u64,
    };
    // SAFETY: the callback is the stub above; it touches only the
    // shared_info mapping stored just before.
    unsafe { abi::guest::register_callback(&cb) }
}

#[no_mangle]
static BENCH_USER_RSP: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
#[no_mangle]
static BENCH_USER_RESULT: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

extern "C" {
    fn bench_user_cb();
    fn bench_user_enter(rip: u64, rsp: u64);
    static bench_user_start: u8;
    static bench_user_end: u8;
    static bench_kstack_top: u8;
}

/// The user code to copy into a user page.
pub fn user_code() -> &'static [u8] {
    // SAFETY: the two labels delimit the code in this image.
    unsafe {
        let start = &raw const bench_user_start;
        let len = (&raw const bench_user_end as usize) - (start as usize);
        core::slice::from_raw_parts(start, len)
    }
}

/// `stack_switch` to the kernel stack for user-mode entries and the
/// syscall callback.
pub fn user_setup() -> Result<(), abi::Errno> {
    let cb = abi::traps::CallbackRegister {
        kind: abi::traps::CALLBACKTYPE_SYSCALL,
        flags: 0,
        pad: 0,
        address: bench_user_cb as *const () as u64,
    };
    // SAFETY: the stack is this image's and used for nothing else; the
    // callback is the stub above.
    unsafe {
        abi::guest::stack_switch(abi::traps::FLAT_KERNEL_SS64, &raw const bench_kstack_top as u64)?;
        abi::guest::register_callback(&cb)
    }
}

/// One user `syscall` → guest kernel → `iret` to user, timed in user mode
/// by [`user_code`] copied at `code` (stack top `stack`).
pub fn user_round_trip(code: u64, stack: u64) -> Timed {
    // SAFETY: the user code comes back through the callback, which restores
    // RSP and the callee-saved registers; the caller mapped code and stack.
    unsafe { bench_user_enter(code, stack) };
    Timed { ticks: BENCH_USER_RESULT.load(core::sync::atomic::Ordering::SeqCst), rax: 0 }
}

/// The TSC now.
pub fn rdtsc() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDTSC has no side effects.
    unsafe { core::arch::asm!("rdtsc", out("eax") lo, out("edx") hi, options(nomem, nostack)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Reads a u64 at `va`, which the caller has mapped.
pub fn read(va: u64) -> u64 {
    // SAFETY: callers pass addresses of the initial mapping (the p2m list)
    // or of pages they mapped.
    unsafe { (va as *const u64).read_volatile() }
}

/// Writes a u64 at `va`, a page of the guest's own user region.
pub fn write(va: u64, v: u64) {
    // SAFETY: callers pass addresses of pages they mapped writable and use
    // for nothing else.
    unsafe { (va as *mut u64).write_volatile(v) }
}

/// An untimed hypercall (set-up and clean-up between regions).
pub fn hypercall(nr: u64, a: [u64; 5]) -> i64 {
    // SAFETY: as for `page_call`.
    unsafe { abi::raw::hypercall5(nr, a[0], a[1], a[2], a[3], a[4]) }
}
