//! The multiboot1 and multiboot2 headers, the 32-bit entry and the switch to
//! long mode.
//!
//! GRUB (multiboot2) or QEMU's `-kernel` loader (multiboot1) enters
//! `_start32` in 32-bit protected mode with paging off, EAX = the protocol's
//! magic and EBX = physical address of its boot information; both are handed
//! to Rust, which tells the two apart. The multiboot1 header carries the
//! address fields ("a.out kludge"): QEMU loads an ELF64 only that way, as one
//! flat copy of the file from `load_addr` (the linker script keeps the file's
//! layout equal to the memory layout; `xen-run` checks it). The
//! image is linked in L4 slot 261, so until paging is on this code uses the
//! `_phys_*` symbols from the linker script. Boot page tables map:
//! * the first 4 GiB 1:1 (only for the jump into 64-bit code; dropped when
//!   the final tables are loaded),
//! * the same 4 GiB at the direct-map base 0xFFFF830000000000 (slot 262),
//! * 32 MiB from physical 2 MiB at the image base 0xFFFF82D080000000.
//!
//! All with 2 MiB pages. Then EFER.LME (and NXE when available), CR4.PAE and
//! CR0.PG|WP are set and control passes to `xen_core_kmain(magic, mbi)`.

core::arch::global_asm!(
    r#"
    .section .multiboot2, "a"
    .balign 8
    // Multiboot1: flags = align modules to 4 KiB (0), memory info (1),
    // address fields valid (16).
    .global mb1_header
mb1_header:
    .long 0x1BADB002
    .long 0x00010003
    .long 0x100000000 - (0x1BADB002 + 0x00010003)
    .long _phys_mb1_header
    .long _phys_image_start
    .long _phys_data_end
    .long _phys_image_end
    .long _phys_start32

    .balign 8
mb2_header:
    .long 0xE85250D6
    .long 0
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (0xE85250D6 + (mb2_header_end - mb2_header))
    .short 0
    .short 0
    .long 8
mb2_header_end:

    .section .text.boot32, "ax"
    .code32
    .global _start32
_start32:
    cli
    cld
    mov ebp, eax
    mov esi, ebx
    // The boot figure's zero point: instructions retired before the
    // hypervisor runs are the firmware's and the loader's (under -icount
    // the TSC counts instructions). .data, so the BSS clear keeps it.
    rdtsc
    mov dword ptr [_phys_boot_entry_tsc], eax
    mov dword ptr [_phys_boot_entry_tsc + 4], edx
    mov esp, offset _phys_boot_stack_top

    // Dwords: the BSS is page-aligned at both ends (and a rep stosb would
    // be 487 K instructions under -icount).
    mov edi, offset _phys_bss_start
    mov ecx, offset _phys_bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd

    cmp ebp, 0x36D76289
    je 7f
    cmp ebp, 0x2BADB002
    jne .Lno_multiboot
7:

    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb .Lno_long_mode
    mov eax, 0x80000001
    cpuid
    test edx, (1 << 29)
    jz .Lno_long_mode
    mov edi, edx

    mov eax, offset _phys_boot_pdpt_low
    or eax, 3
    mov dword ptr [_phys_boot_pml4 + 0 * 8], eax
    mov dword ptr [_phys_boot_pml4 + 262 * 8], eax
    mov eax, offset _phys_boot_pdpt_img
    or eax, 3
    mov dword ptr [_phys_boot_pml4 + 261 * 8], eax

    mov eax, offset _phys_boot_pd_low
    or eax, 3
    xor ecx, ecx
1:
    mov dword ptr [_phys_boot_pdpt_low + ecx * 8], eax
    add eax, 4096
    inc ecx
    cmp ecx, 4
    jb 1b

    xor ecx, ecx
2:
    mov eax, ecx
    shl eax, 21
    or eax, 0x83
    mov dword ptr [_phys_boot_pd_low + ecx * 8], eax
    mov eax, ecx
    shr eax, 11
    mov dword ptr [_phys_boot_pd_low + ecx * 8 + 4], eax
    inc ecx
    cmp ecx, 2048
    jb 2b

    mov eax, offset _phys_boot_pd_img
    or eax, 3
    mov dword ptr [_phys_boot_pdpt_img + 322 * 8], eax
    mov eax, offset _phys_image_start
    or eax, 0x83
    xor ecx, ecx
3:
    mov dword ptr [_phys_boot_pd_img + ecx * 8], eax
    add eax, 0x200000
    inc ecx
    cmp ecx, 16
    jb 3b

    mov eax, cr4
    or eax, (1 << 5)
    mov cr4, eax
    mov eax, offset _phys_boot_pml4
    mov cr3, eax
    mov ecx, 0xC0000080
    rdmsr
    or eax, (1 << 8)
    test edi, (1 << 20)
    jz 4f
    or eax, (1 << 11)
4:
    wrmsr
    mov eax, cr0
    or eax, 0x80010001
    mov cr0, eax

    lgdt [_phys_boot_gdt_ptr]
    push 0x08
    mov eax, offset _phys_start64
    push eax
    retf

.Lno_multiboot:
    mov al, 'M'
    jmp .Lfail32
.Lno_long_mode:
    mov al, 'L'
.Lfail32:
    mov dx, 0x3F8
    out dx, al
5:
    hlt
    jmp 5b

    .balign 8
    .global boot_gdt
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
boot_gdt_end:
    .global boot_gdt_ptr
boot_gdt_ptr:
    .short boot_gdt_end - boot_gdt - 1
    .long _phys_boot_gdt

    .code64
    .global start64
start64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    movabs rax, offset .Lstart64_high
    jmp rax
.Lstart64_high:
    movabs rsp, offset boot_stack_top
    mov edi, ebp
    mov esi, esi
    xor ebp, ebp
    movabs rax, offset xen_core_kmain
    call rax
6:
    hlt
    jmp 6b

    .section .data.boot_entry_tsc, "aw"
    .balign 8
    .global boot_entry_tsc
boot_entry_tsc:
    .quad 0

    .section .bss.boot_tables, "aw", @nobits
    .balign 4096
    .global boot_pml4
boot_pml4:
    .skip 4096
    .global boot_pdpt_low
boot_pdpt_low:
    .skip 4096
    .global boot_pdpt_img
boot_pdpt_img:
    .skip 4096
    .global boot_pd_low
boot_pd_low:
    .skip 4 * 4096
    .global boot_pd_img
boot_pd_img:
    .skip 4096

    .section .bss.boot_stack, "aw", @nobits
    .balign 4096
    .global boot_stack_bottom
boot_stack_bottom:
    // 256 KiB (the lowest page is the unmapped guard): domain building
    // decompresses bzImage payloads, and the xz and inflate decoders' state
    // (about 30 KiB and 10 KiB) is built on the stack before it is boxed.
    .skip 262144
    .global boot_stack_top
boot_stack_top:
"#
);
