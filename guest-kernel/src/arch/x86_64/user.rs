//! Guest user mode: a tiny round-robin scheduler for user tasks running in
//! ring 3 on the user page table, entered and left the PV way.
//!
//! * Into user mode: the task's saved registers are put back and the
//!   `iret` hypercall-page stub returns to its RIP with CS 0xE033 (RPL 3
//!   means user mode).
//! * Out of user mode: a SYSCALL reaches [`user_syscall_cb`] (the syscall
//!   callback) and a fault the trap stubs, both on the kernel stack given
//!   with `stack_switch`, with Xen's frame (RCX, R11, [error], RIP, CS,
//!   RFLAGS, RSP, SS). Every entry starts at the top of that stack, so the
//!   22-word save area (15 registers, then the frame) is always at the
//!   same place, and switching tasks is copying it.
//!
//! System calls: 1 = "ran step RDI" (logged), 2 = exit.
//!
//! Preemption: the kernel's own tick is VIRQ_TIMER (the periodic vCPU
//! timer). An upcall taken in user mode arrives, like a system call, at the
//! top of the kernel stack with Xen's 7-word frame ([`user_event_cb`]);
//! the events are taken as in kernel mode, and if the tick came, the task's
//! registers are saved and the next task runs. Task C never makes a system
//! call, it only spins: only the tick takes the CPU back from it, and the
//! kernel ends it once it is the only task left.

use abi::traps::{CallbackRegister, CALLBACKTYPE_SYSCALL, FLAT_KERNEL_SS64, FLAT_RING3_CS64, FLAT_RING3_SS64};
use core::ptr::addr_of_mut;

core::arch::global_asm!(
    r#"
    .section .text.user_task, "ax"
    // The user task (copied to a user page, so position-independent): three
    // "ran step n" system calls, then exit (R12 = 0) or ud2 (R12 != 0).
    .global user_task_start
user_task_start:
    xor ebx, ebx
2:
    inc ebx
    mov eax, 1
    mov rdi, rbx
    syscall
    cmp ebx, 3
    jne 2b
    test r12, r12
    jnz 3f
    mov eax, 2
    syscall
3:
    ud2
    // Task C: spins, counting in RBX, never entering the kernel.
    .global user_spin_start
user_spin_start:
    inc rbx
    jmp user_spin_start
    .global user_task_end
user_task_end:

    .section .text.user_entry, "ax"
    .global user_syscall_cb
user_syscall_cb:
    push r15
    push r14
    push r13
    push r12
    push r11
    push r10
    push r9
    push r8
    push rbp
    push rdi
    push rsi
    push rdx
    push rcx
    push rbx
    push rax
    mov rdi, rsp
    call user_syscall_rust
    ud2

    // An upcall from user mode (the event callback sends it here): the
    // same save area as a system call.
    .global user_event_cb
user_event_cb:
    push r15
    push r14
    push r13
    push r12
    push r11
    push r10
    push r9
    push r8
    push rbp
    push rdi
    push rsi
    push rdx
    push rcx
    push rbx
    push rax
    mov rdi, rsp
    call user_event_rust
    ud2

    // rdi = a save area at the top of the kernel stack: restore it and
    // return to user mode through the iret stub.
    .global user_resume
user_resume:
    mov rsp, rdi
    pop rax
    pop rbx
    pop rcx
    pop rdx
    pop rsi
    pop rdi
    pop rbp
    pop r8
    pop r9
    pop r10
    pop r11
    pop r12
    pop r13
    pop r14
    pop r15
    pop rcx
    pop r11
    push 0
    jmp hypercall_page + 23 * 32
"#
);

extern "C" {
    fn user_syscall_cb();
    fn user_resume(area: *const u64) -> !;
    static user_task_start: u8;
    static user_spin_start: u8;
    static user_task_end: u8;
}

/// Registers, then Xen's frame: RCX, R11, RIP, CS, RFLAGS, RSP, SS.
const AREA: usize = 22;
const RAX: usize = 0;
const RBX: usize = 1;
const RDI: usize = 5;
const R12: usize = 11;
const F_RIP: usize = 17;
const TASKS: usize = 3;
/// Task C, the spinner.
const SPINNER: usize = 2;

/// Nonzero while the user tasks run: the event callback then sends
/// upcalls from user mode to [`user_event_cb`].
#[no_mangle]
static GK_USER_TASKS: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

#[repr(C, align(16))]
struct KernelStack([u8; 16384]);

static mut KSTACK: KernelStack = KernelStack([0; 16384]);
static mut SAVED: [[u64; AREA]; TASKS] = [[0; AREA]; TASKS];
static mut STATE: State =
    State { current: 0, done: [false; TASKS], report: Report::new(), finish: None, tick_port: 0, after_spin: false };

struct State {
    current: usize,
    done: [bool; TASKS],
    report: Report,
    finish: Option<fn(&Report) -> !>,
    /// VIRQ_TIMER's port: its events are the ticks.
    tick_port: u32,
    /// The spinner was just preempted: the next system call shows another
    /// task running after it.
    after_spin: bool,
}

/// What the tasks did, for the story.
pub struct Report {
    /// "A1 B1 A2 …": each "ran step n" call, in the order the kernel ran them.
    log: [u8; 48],
    len: usize,
    /// System calls taken.
    pub syscalls: u32,
    /// The user fault: vector, RIP and CS from its frame, and whether the
    /// frame was on the kernel stack.
    pub fault: Option<(u64, u64, u64, bool)>,
    /// Ticks that preempted a task, and how many of them preempted C.
    pub preemptions: u32,
    /// See `preemptions`.
    pub spinner_preempted: u32,
    /// Times another task made a system call right after C was preempted.
    pub ran_after_spinner: u32,
    /// C's loop count (RBX) when the kernel ended it, if it did.
    pub spinner_ended: Option<u64>,
}

impl Report {
    const fn new() -> Report {
        Report {
            log: [0; 48],
            len: 0,
            syscalls: 0,
            fault: None,
            preemptions: 0,
            spinner_preempted: 0,
            ran_after_spinner: 0,
            spinner_ended: None,
        }
    }
    /// The order the steps ran in.
    pub fn log(&self) -> &str {
        core::str::from_utf8(&self.log[..self.len]).unwrap_or("?")
    }
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len < self.log.len() {
                self.log[self.len] = b;
                self.len += 1;
            }
        }
    }
}

/// Where task C starts in [`task_code`].
pub fn spinner_offset() -> u64 {
    // Both labels are in this image, C's after the start.
    (&raw const user_spin_start as u64) - (&raw const user_task_start as u64)
}

/// The user tasks' code, to be copied into a user page.
pub fn task_code() -> &'static [u8] {
    // SAFETY: the two labels delimit the task's code in this image.
    unsafe {
        let start = &raw const user_task_start;
        let len = (&raw const user_task_end as usize) - (start as usize);
        core::slice::from_raw_parts(start, len)
    }
}

fn kstack_top() -> u64 {
    addr_of_mut!(KSTACK) as u64 + 16384
}

/// Runs three user tasks at `code` (user mode, user page table already set
/// with `MMUEXT_NEW_USER_BASEPTR`) on the stacks `stack_tops`, task 0
/// exiting, task 1 ending with `ud2` and task 2 spinning until the kernel
/// ends it, preempted by the ticks on `tick_port` (VIRQ_TIMER, whose timer
/// the caller runs); then calls `finish` in kernel mode on the kernel
/// stack.
pub fn run_tasks(code: u64, stack_tops: [u64; TASKS], tick_port: u32, finish: fn(&Report) -> !) -> ! {
    let cb =
        CallbackRegister { kind: CALLBACKTYPE_SYSCALL, flags: 0, pad: 0, address: user_syscall_cb as *const () as u64 };
    // SAFETY: the stack is ours and unused; the callback is the entry stub.
    unsafe {
        if abi::guest::stack_switch(FLAT_KERNEL_SS64, kstack_top()).is_err()
            || abi::guest::register_callback(&cb).is_err()
        {
            crate::say!("guest-kernel: stack_switch or the syscall callback refused");
            abi::guest::shutdown(abi::sched::SHUTDOWN_CRASH);
        }
        let saved = &mut *addr_of_mut!(SAVED);
        for (i, area) in saved.iter_mut().enumerate() {
            *area = [0; AREA];
            area[R12] = i as u64;
            let rip = if i == SPINNER { code + spinner_offset() } else { code };
            area[F_RIP..].copy_from_slice(&[
                rip,
                u64::from(FLAT_RING3_CS64),
                0x202,
                stack_tops[i],
                u64::from(FLAT_RING3_SS64),
            ]);
        }
        (*addr_of_mut!(STATE)).finish = Some(finish);
        (*addr_of_mut!(STATE)).tick_port = tick_port;
        // No tick, nothing could take the CPU back from the spinner.
        (*addr_of_mut!(STATE)).done[SPINNER] = tick_port == 0;
    }
    GK_USER_TASKS.store(1, core::sync::atomic::Ordering::SeqCst);
    resume(0)
}

fn resume(i: usize) -> ! {
    let area = (kstack_top() - AREA as u64 * 8) as *mut u64;
    // SAFETY: entries never nest; the area is the top of the kernel stack,
    // which nothing else uses now.
    unsafe {
        (*addr_of_mut!(STATE)).current = i;
        core::ptr::copy_nonoverlapping((*addr_of_mut!(SAVED))[i].as_ptr(), area, AREA);
        user_resume(area)
    }
}

/// Whether the user tasks are running (faults from user mode are theirs).
pub fn active() -> bool {
    // SAFETY: entries never nest; a plain read of the state.
    unsafe { (*addr_of_mut!(STATE)).finish.is_some() }
}

/// The next task that has not finished, round robin, or the end.
fn schedule() -> ! {
    // SAFETY: entries never nest, so the state has one user at a time.
    let s = unsafe { &mut *addr_of_mut!(STATE) };
    let next = (1..=TASKS).map(|k| (s.current + k) % TASKS).find(|&j| !s.done[j]);
    match next {
        Some(j) => resume(j),
        None => {
            GK_USER_TASKS.store(0, core::sync::atomic::Ordering::SeqCst);
            match s.finish {
                Some(f) => f(&s.report),
                None => abi::guest::shutdown(abi::sched::SHUTDOWN_CRASH),
            }
        }
    }
}

#[no_mangle]
extern "C" fn user_syscall_rust(area: *const [u64; AREA]) -> ! {
    // SAFETY: `area` is the save area the callback stub just pushed; entries
    // never nest.
    let (s, a) = unsafe { (&mut *addr_of_mut!(STATE), *area) };
    s.report.syscalls += 1;
    if core::mem::take(&mut s.after_spin) {
        s.report.ran_after_spinner += 1;
    }
    match a[RAX] {
        1 => {
            let step = b'0' + (a[RDI] % 10) as u8;
            s.report.push(&[b'A' + s.current as u8, step, b' ']);
            // SAFETY: as above.
            unsafe { (*addr_of_mut!(SAVED))[s.current] = a };
        }
        _ => s.done[s.current] = true,
    }
    schedule()
}

/// A fault taken in user mode, with the address of Xen's frame (its saved
/// RCX) and the RIP and CS words from it: the task ends, the next one runs.
pub fn user_fault(vector: u64, frame: u64, rip: u64, cs: u64) -> ! {
    // SAFETY: entries never nest, so the state has one user at a time.
    let s = unsafe { &mut *addr_of_mut!(STATE) };
    let top = kstack_top();
    let on_kstack = (top - 16384..top).contains(&frame);
    s.report.fault = Some((vector, rip, cs, on_kstack));
    s.done[s.current] = true;
    schedule()
}

/// An upcall taken in user mode, with the save area its stub pushed: the
/// events are taken; without a tick the task goes on, with one it is
/// preempted and the next task runs (C, the spinner, is ended instead
/// once no other task is left).
#[no_mangle]
extern "C" fn user_event_rust(area: *const [u64; AREA]) -> ! {
    // SAFETY: entries never nest; the events are masked until the iret.
    let s = unsafe { &mut *addr_of_mut!(STATE) };
    let ticks = super::events::count(s.tick_port);
    super::events::guest_event();
    if super::events::count(s.tick_port) == ticks {
        // SAFETY: the save area at the top of the kernel stack, as pushed.
        unsafe { user_resume(area.cast()) }
    }
    // SAFETY: as above.
    let a = unsafe { *area };
    s.report.preemptions += 1;
    if s.current == SPINNER {
        s.report.spinner_preempted += 1;
        s.after_spin = true;
        if (0..TASKS).all(|j| j == SPINNER || s.done[j]) {
            s.report.spinner_ended = Some(a[RBX]);
            s.done[SPINNER] = true;
        }
    }
    // SAFETY: entries never nest.
    unsafe { (*addr_of_mut!(SAVED))[s.current] = a };
    schedule()
}
