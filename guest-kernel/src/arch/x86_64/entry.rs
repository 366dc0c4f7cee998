//! `_start`, the Xen ELF notes and the panic handler.

use abi::start_info::StartInfo;

core::arch::global_asm!(
    r#"
    .section .note.Xen, "a"
    .balign 4
    .long 4, 8, 3
    .asciz "Xen"
    .quad 0xFFFFFFFF80000000
    .long 4, 8, 1
    .asciz "Xen"
    .quad _start
    .long 4, 8, 2
    .asciz "Xen"
    .quad hypercall_page
    .long 4, 13, 6
    .asciz "Xen"
    .asciz "guest-kernel"
    .balign 4
    .long 4, 8, 5
    .asciz "Xen"
    .asciz "xen-3.0"
    .balign 4
    .long 4, 8, 8
    .asciz "Xen"
    .asciz "generic"
    .balign 4

    .section .text.entry, "ax"
    .global _start
_start:
    // The boot stack is one page; switch to our own.
    mov rdi, rsi
    lea rsp, [rip + guest_stack_top]
    call guest_main
    ud2

    .section .bss.guest_stack, "aw", @nobits
    .balign 16
guest_stack:
    .skip 65536
guest_stack_top:
"#
);

extern "Rust" {
    /// The binary's main function.
    fn pv_main(si: &'static StartInfo) -> !;
}

#[no_mangle]
extern "C" fn guest_main(start_info: *const StartInfo) -> ! {
    // SAFETY: the domain builder passes the virtual address of start_info,
    // mapped for the guest's lifetime, in RSI (ABI §8.5); `pv_main` is
    // defined by the binary linking this runtime.
    unsafe { pv_main(&*start_info) }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    crate::say!("guest: panic: {info}");
    crate::say!("Test result: ERROR");
    abi::guest::shutdown(abi::sched::SHUTDOWN_CRASH)
}
