//! The runtime's hardware glue, its only `unsafe` code: `_start`, the
//! fixed Xen notes, the stack, the panic handler, the console ring's
//! volatile accesses, and ([`start_of_day`]) the raw reads and writes of
//! start-of-day memory and the raw page-table hypercalls, behind the proof
//! types [`crate::boot`] and [`crate::mm`] use.

pub mod start_of_day;

#[cfg(target_os = "none")]
use abi::start_info::StartInfo;

#[cfg(target_os = "none")]
core::arch::global_asm!(
    r#"
    .section .note.Xen, "a"
    .balign 4
    .long 4, 8, 5
    .asciz "Xen"
    .asciz "xen-3.0"
    .balign 4
    .long 4, 8, 8
    .asciz "Xen"
    .asciz "generic"
    .balign 4
    .long 4, 8, 3
    .asciz "Xen"
    .quad VIRT_BASE
    .long 4, 8, 4
    .asciz "Xen"
    .quad 0
    .long 4, 8, 1
    .asciz "Xen"
    .quad _start
    .long 4, 8, 2
    .asciz "Xen"
    .quad hypercall_page

    .section .text.entry, "ax"
    .global _start
_start:
    // The TSC first: under QEMU -icount it counts every instruction since
    // reset, so boot benchmarks can start from here (see entry_tsc).
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [rip + __GUEST_RT_ENTRY_TSC], rax
    // RSI = start_info. The boot stack is one page: move to ours.
    mov rdi, rsi
    lea rsp, [rip + __guest_rt_stack_top]
    xor ebp, ebp
    call __guest_rt_start
    ud2

    .section .bss.guest_rt_stack, "aw", @nobits
    .balign 16
__guest_rt_stack:
    .skip {stack}
__guest_rt_stack_top:
"#,
    stack = const crate::STACK_SIZE,
);

/// The TSC at `_start`'s first instruction.
#[no_mangle]
static __GUEST_RT_ENTRY_TSC: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The TSC at `_start`'s first instruction.
pub fn entry_tsc() -> u64 {
    __GUEST_RT_ENTRY_TSC.load(core::sync::atomic::Ordering::Relaxed)
}

#[cfg(target_os = "none")]
extern "Rust" {
    /// The guest's main, defined by `guest!`.
    fn __guest_rt_main(boot: crate::Boot) -> !;
}

#[cfg(target_os = "none")]
#[no_mangle]
extern "C" fn __guest_rt_start(si: *const StartInfo) -> ! {
    // SAFETY: the domain builder passes the virtual address of start_info
    // in RSI; the page is mapped (read-write) for the domain's lifetime
    // unless the guest itself unmaps it.
    let si: &'static StartInfo = unsafe { &*si };
    if !si.magic_ok() {
        crate::fail(format_args!("guest-rt: start_info magic is not xen-3.0-x86_64"));
    }
    let layout = crate::boot::Layout::of(si);
    // SAFETY: `si` is the builder's start_info (above), `layout` its
    // layout, and this entry runs once.
    let memory = unsafe { start_of_day::StartOfDay::new(si, &layout) };
    // SAFETY: `__guest_rt_main` is defined by the binary's `guest!`; it is
    // called once, so the Boot (and the frames it hands out) is unique.
    unsafe { __guest_rt_main(crate::Boot::new(si, layout, memory)) }
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::println!("panic: {info}");
    crate::println!("Test result: ERROR");
    abi::guest::shutdown(abi::sched::SHUTDOWN_CRASH)
}

/// Reads the u64 at `va`.
///
/// # Safety
/// `va` must be mapped and readable (its contents may change under the
/// reader: page tables and the M2P are written by the hypervisor).
unsafe fn read_u64(va: u64) -> u64 {
    // SAFETY: guaranteed by the caller.
    unsafe { (va as *const u64).read_volatile() }
}

/// Writes the u64 at `va`.
///
/// # Safety
/// `va` must be mapped writable and not in use by anything else.
unsafe fn write_u64(va: u64, v: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe { (va as *mut u64).write_volatile(v) }
}

/// The 4096 bytes at `va` as a mutable array.
///
/// # Safety
/// `va` must be page aligned, mapped writable, and not otherwise accessed
/// while the borrow lives.
unsafe fn page_mut<'a>(va: u64) -> &'a mut [u8; 4096] {
    // SAFETY: guaranteed by the caller.
    unsafe { &mut *(va as *mut [u8; 4096]) }
}

/// CR3 as the hypervisor reports it to a PV kernel (emulated `mov`): the
/// machine address of the current L4.
pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: a PV kernel's `mov r, cr3` traps and is emulated; it only
    // writes the output register.
    unsafe { core::arch::asm!("mov {}, cr3", out(reg) v, options(nostack)) };
    v
}

/// The console ring page mapped at this address (see
/// `console_ring::use_ring`, which found it in the initial mapping).
pub struct MappedRing(pub u64);

impl crate::console_ring::RingPage for MappedRing {
    fn out_cons(&self) -> u32 {
        // SAFETY: the ring page is mapped read-write at `self.0` for the
        // domain's life (use_ring's rule); the hypervisor writes out_cons
        // at any time, which a volatile read tolerates.
        unsafe { ((self.0 + abi::console::OUT_CONS_OFFSET as u64) as *const u32).read_volatile() }
    }
    fn out_prod(&self) -> u32 {
        // SAFETY: as in `out_cons`.
        unsafe { ((self.0 + abi::console::OUT_PROD_OFFSET as u64) as *const u32).read_volatile() }
    }
    fn put(&mut self, slot: usize, b: u8) {
        let at = self.0 + (abi::console::OUT_OFFSET + slot % abi::console::OUT_RING) as u64;
        // SAFETY: as in `out_cons`; the slot is inside `out`.
        unsafe { (at as *mut u8).write_volatile(b) }
    }
    fn publish(&mut self, prod: u32) {
        // The data first: the consumer may look as soon as out_prod moves.
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        // SAFETY: as in `out_cons`.
        unsafe { ((self.0 + abi::console::OUT_PROD_OFFSET as u64) as *mut u32).write_volatile(prod) }
    }
}

/// A console sink stored as a pointer (see `console::set_sink`).
pub fn sink_to_ptr(f: fn(&[u8])) -> *mut () {
    f as *mut ()
}

/// The sink stored by [`sink_to_ptr`].
pub fn sink_from_ptr(p: *mut ()) -> fn(&[u8]) {
    // SAFETY: the console only ever stores pointers made by `sink_to_ptr`,
    // so `p` is a `fn(&[u8])`.
    unsafe { core::mem::transmute::<*mut (), fn(&[u8])>(p) }
}
