//! The IDT: one 16-byte entry stub per vector, all funnelled into
//! `exception::dispatch`. Vectors 0–31 are CPU exceptions; the rest report
//! an unexpected interrupt.

use super::gdt;
use super::gpr_save::{restore_gprs, save_gprs};
use spin::Once;
use x86_64::instructions::tables::lidt;
use x86_64::structures::DescriptorTablePointer;
use x86_64::VirtAddr;

core::arch::global_asm!(
    r#"
    .section .text.exception_stubs, "ax"
    .balign 16
    .global exception_stubs
exception_stubs:
    .set vector, 0
    .rept 256
    .balign 16
    .if (vector == 8) || ((vector >= 10) && (vector <= 14)) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
    .else
    push 0
    .endif
    push vector
    .if vector == 1
    jmp debug_entry
    .elseif (vector == 3) || (vector == 6)
    jmp fast_bounce_entry
    .else
    jmp exception_common
    .endif
    .set vector, vector + 1
    .endr

    // #DB arrives on its IST stack. From the guest it moves to the top of
    // the entry stack, where every other guest entry is (the return path
    // and its fault handling expect it there, and the IST stack is free
    // again at once); from the hypervisor it stays on the IST stack.
debug_entry:
    test byte ptr [rsp + 24], 3
    jz exception_common
    push rax
    push rbx
    lea rax, [rip + guest_entry_stack + 0x10000]
    .set dbg_off, 8
    .rept 9
    mov rbx, [rsp + 72 - dbg_off]
    mov [rax - dbg_off], rbx
    .set dbg_off, dbg_off + 8
    .endr
    lea rsp, [rax - 72]
    pop rbx
    pop rax
    jmp exception_common

    .global exception_common
exception_common:
"#,
    save_gprs!(),
    r#"
    mov rdi, rsp
    cld
    call xen_core_exception
    jmp trap_return

    // SYSCALL from compatibility mode, once `cstar_entry` has built the
    // hardware-like part.
    .global cstar_common
cstar_common:
"#,
    save_gprs!(),
    r#"
    mov rdi, rsp
    cld
    call xen_core_cstar
    jmp trap_return

    // SYSCALL entries, once `syscall_entry` has built the hardware-like
    // part and found the number handled and not `iret`.
    .global syscall_common
syscall_common:
"#,
    save_gprs!(),
    r#"
    mov rdi, rsp
    call xen_core_syscall_handled
    .global trap_return
trap_return:
"#,
    restore_gprs!(),
    r#"
    add rsp, 16
    // A fault here is the guest's (its CS, SS or RIP): see
    // `exception::return_fault`.
    .global trap_return_iretq
trap_return_iretq:
    iretq
"#
);

extern "C" {
    static exception_stubs: u8;
}

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static IDT: Once<Idt> = Once::new();

/// Builds and loads the IDT.
pub fn init() {
    let idt = IDT.call_once(|| {
        let base = &raw const exception_stubs as u64;
        let cs = gdt::kernel_cs();
        let mut gates = [Gate::default(); 256];
        for (vector, gate) in gates.iter_mut().enumerate() {
            let handler = base + vector as u64 * 16;
            let ist = match vector {
                2 => gdt::IST_NMI,
                8 => gdt::IST_DOUBLE_FAULT,
                18 => gdt::IST_MACHINE_CHECK,
                1 => gdt::IST_DEBUG,
                _ => 0,
            };
            *gate = Gate {
                offset_low: handler as u16,
                selector: cs,
                ist,
                // Present 64-bit interrupt gates; #BP and #OF may be raised
                // by guests with int3/into (DPL 3), everything else DPL 0.
                type_attr: if vector == 3 || vector == 4 { 0xEE } else { 0x8E },
                offset_mid: (handler >> 16) as u16,
                offset_high: (handler >> 32) as u32,
                reserved: 0,
            };
        }
        Idt(gates)
    });
    let ptr = DescriptorTablePointer { limit: (size_of::<Idt>() - 1) as u16, base: VirtAddr::from_ptr(idt) };
    // SAFETY: the IDT is 'static and every gate points at a valid stub.
    unsafe { lidt(&ptr) };
}

/// Loads an empty IDT: the next exception triple-faults the CPU. Used only
/// by the `selftest=triple-fault` harness check.
pub fn load_empty() {
    let ptr = DescriptorTablePointer { limit: 0, base: VirtAddr::zero() };
    // SAFETY: deliberately makes every exception fatal to the machine.
    unsafe { lidt(&ptr) };
}
