//! The bare-metal guest: entry, hypercalls, the checks.

use abi::console::CONSOLEIO_WRITE;
use abi::hvm::{callback, param, HVMOP_GET_PARAM, HVMOP_SET_PARAM};
use abi::hvm_start_info::{memmap_type, XEN_HVM_START_MAGIC_VALUE};
use abi::hypercall::HypercallNr;
use abi::memory::{XENMEM_CURRENT_RESERVATION, XENMEM_DECREASE_RESERVATION, XENMEM_POPULATE_PHYSMAP};
use abi::sched::{SCHEDOP_SHUTDOWN, SHUTDOWN_CRASH, SHUTDOWN_POWEROFF};
use abi::DomId;
use core::fmt::Write;

// The Xen notes: the PVH entry (what the builder needs), the OS and the
// interface version.
core::arch::global_asm!(
    ".pushsection .note.Xen, \"a\"",
    ".balign 4",
    ".long 4, 4, 18",
    ".asciz \"Xen\"",
    ".long pvh_start",
    ".balign 4",
    ".long 4, 10, 6",
    ".asciz \"Xen\"",
    ".asciz \"pvh-hello\"",
    ".balign 4",
    ".long 4, 8, 5",
    ".asciz \"Xen\"",
    ".asciz \"xen-3.0\"",
    ".balign 4",
    ".popsection",
);

// The 32-bit entry: EBX = start info (kept in ESI). Builds the tables
// (PML4 → PDPT → one PD of 512 2 MiB pages: the first GiB 1:1), turns on
// PAE, LME and paging, loads a GDT with a 64-bit code segment and jumps
// to long mode, which calls `pvh_main(start_info)`.
core::arch::global_asm!(
    ".pushsection .text.entry, \"ax\"",
    ".code32",
    ".global pvh_start",
    "pvh_start:",
    "mov esi, ebx",
    "mov esp, offset stack_top",
    // Still 32-bit with paging off: the hypercall page (MSR 0x40000000, as
    // Xen's leaf 0x40000002 names it) and one console_io with the 32-bit
    // convention (EBX, ECX, EDX), its result kept for the 64-bit part.
    "mov ecx, 0x40000000",
    "mov eax, offset pvh_hypercall_page",
    "xor edx, edx",
    "wrmsr",
    "xor ebx, ebx",
    "mov ecx, offset pvh_msg32_end",
    "sub ecx, offset pvh_msg32",
    "mov edx, offset pvh_msg32",
    "mov eax, offset pvh_hypercall_page + 18 * 32",
    "call eax",
    "mov [pvh_rc32], eax",
    "mov edi, offset pvh_pd",
    "xor ecx, ecx",
    "2:",
    "mov eax, ecx",
    "shl eax, 21",
    "or eax, 0x83",
    "mov [edi + ecx*8], eax",
    "mov dword ptr [edi + ecx*8 + 4], 0",
    "inc ecx",
    "cmp ecx, 512",
    "jne 2b",
    "mov eax, offset pvh_pd",
    "or eax, 3",
    "mov [pvh_pdpt], eax",
    "mov eax, offset pvh_pdpt",
    "or eax, 3",
    "mov [pvh_pml4], eax",
    "mov eax, cr4",
    "or eax, 0x20",
    "mov cr4, eax",
    "mov eax, offset pvh_pml4",
    "mov cr3, eax",
    "mov ecx, 0xC0000080",
    "rdmsr",
    "or eax, 0x100",
    "wrmsr",
    "mov eax, cr0",
    "or eax, 0x80000001",
    "mov cr0, eax",
    "lgdt [pvh_gdt_ptr]",
    "push 0x08",
    "mov eax, offset pvh_long",
    "push eax",
    "retf",
    ".code64",
    "pvh_long:",
    "mov ax, 0x10",
    "mov ds, ax",
    "mov es, ax",
    "mov ss, ax",
    "mov edi, esi",
    "call pvh_main",
    "ud2",
    ".balign 8",
    "pvh_gdt:",
    ".quad 0",
    ".quad 0x00AF9A000000FFFF",
    ".quad 0x00CF92000000FFFF",
    "pvh_gdt_ptr:",
    ".word 23",
    ".long pvh_gdt",
    "pvh_msg32:",
    ".ascii \"pvh-hello: a hypercall from 32-bit protected mode, paging off\\n\"",
    "pvh_msg32_end:",
    ".balign 4",
    ".global pvh_rc32",
    "pvh_rc32: .long 1",
    ".popsection",
    ".pushsection .bss.pages, \"aw\", @nobits",
    ".balign 4096",
    ".global pvh_pml4",
    "pvh_pml4: .skip 4096",
    "pvh_pdpt: .skip 4096",
    ".global pvh_pd",
    "pvh_pd: .skip 4096",
    ".global pvh_hypercall_page",
    "pvh_hypercall_page: .skip 4096",
    ".global pvh_pml4b",
    "pvh_pml4b: .skip 4096",
    "pvh_scratch: .skip 4096",
    ".global pvh_scratch",
    ".global pvh_shinfo",
    "pvh_shinfo: .skip 4096",
    ".global pvh_vcpu_page",
    "pvh_vcpu_page: .skip 4096",
    ".global pvh_grant_pages",
    "pvh_grant_pages: .skip 12288",
    "pvh_stack: .skip 16384",
    "stack_top:",
    ".popsection",
);

// A #PF handler of its own (64-bit interrupt gate): records the error
// code and CR2, and resumes at `pvh_pf_resume` (the probe's return).
core::arch::global_asm!(
    ".pushsection .text, \"ax\"",
    ".code64",
    ".global pvh_pf_handler",
    "pvh_pf_handler:",
    "pop rax",
    "mov [rip + pvh_pf_ec], rax",
    "mov rax, cr2",
    "mov [rip + pvh_pf_cr2], rax",
    "lea rax, [rip + pvh_pf_resume]",
    "mov [rsp], rax",
    "iretq",
    // pvh_pf_read(va), pvh_pf_write(va): one access that may fault.
    ".global pvh_pf_read",
    "pvh_pf_read:",
    "mov rax, [rdi]",
    "jmp pvh_pf_resume",
    ".global pvh_pf_write",
    "pvh_pf_write:",
    "mov qword ptr [rdi], 0",
    "pvh_pf_resume:",
    "ret",
    // The event-channel upcall (HVM_PARAM_CALLBACK_IRQ's vector): the
    // caller-saved registers around `pvh_upcall`, then back.
    ".global pvh_upcall_entry",
    "pvh_upcall_entry:",
    "push rax",
    "push rcx",
    "push rdx",
    "push rsi",
    "push rdi",
    "push r8",
    "push r9",
    "push r10",
    "push r11",
    "cld",
    "call pvh_upcall",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rdi",
    "pop rsi",
    "pop rdx",
    "pop rcx",
    "pop rax",
    "iretq",
    ".popsection",
    ".pushsection .data, \"aw\"",
    ".balign 8",
    ".global pvh_pf_ec",
    "pvh_pf_ec: .quad 0",
    ".global pvh_pf_cr2",
    "pvh_pf_cr2: .quad 0",
    ".balign 16",
    "pvh_idt: .skip 256 * 16",
    ".global pvh_idt",
    ".popsection",
);

extern "C" {
    static pvh_pf_ec: u64;
    static pvh_pf_cr2: u64;
    static pvh_idt: u8;
    fn pvh_pf_handler();
    fn pvh_upcall_entry();
    static pvh_shinfo: u8;
    static pvh_vcpu_page: u8;
    static pvh_grant_pages: u8;
    fn pvh_pf_read(va: u64);
    fn pvh_pf_write(va: u64);
    static pvh_hypercall_page: u8;
    static pvh_scratch: u8;
    static pvh_pd: u8;
    static pvh_pml4: u8;
    static pvh_pml4b: u8;
    /// What the 32-bit console_io returned (EAX).
    static pvh_rc32: u32;
}

/// Hypercall `nr` through the hypercall page: stub `nr` at 32 × `nr`.
pub(crate) fn hypercall(nr: HypercallNr, a1: u64, a2: u64, a3: u64) -> i64 {
    // SAFETY: the page was filled by the hypervisor (asked for first in
    // `pvh_main`); each stub is `mov eax, nr; vmmcall; ret`, and the
    // hypervisor changes only RAX.
    unsafe {
        let stub = (&raw const pvh_hypercall_page) as u64 + nr.0 * 32;
        let r: i64;
        core::arch::asm!("call {s}", s = in(reg) stub, inout("rdi") a1 => _, inout("rsi") a2 => _,
            inout("rdx") a3 => _, lateout("rax") r);
        r
    }
}

pub(crate) fn upcall_gate() -> u64 {
    pvh_upcall_entry as *const () as u64
}

pub(crate) fn idt_base() -> u64 {
    (&raw const pvh_idt) as u64
}

pub(crate) fn shinfo_page() -> u64 {
    (&raw const pvh_shinfo) as u64
}

pub(crate) fn vcpu_page() -> u64 {
    (&raw const pvh_vcpu_page) as u64
}

/// Three pages for [`crate::grants`]: the grant frame's place, a copy
/// source and a copy destination.
pub(crate) fn grant_pages() -> u64 {
    (&raw const pvh_grant_pages) as u64
}

fn console(bytes: &[u8]) -> i64 {
    hypercall(HypercallNr::CONSOLE_IO, CONSOLEIO_WRITE, bytes.len() as u64, bytes.as_ptr() as u64)
}

pub(crate) struct Out;

impl Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        console(s.as_bytes());
        Ok(())
    }
}

macro_rules! say {
    ($($t:tt)*) => {{ let _ = writeln!($crate::pvh::Out, $($t)*); }};
}
pub(crate) use say;

/// Reads guest-physical (= virtual, 1:1) memory.
pub(crate) fn peek<T: Copy>(addr: u64) -> T {
    // SAFETY: the caller names memory of this guest's RAM, mapped 1:1.
    unsafe { core::ptr::read_volatile(addr as *const T) }
}

pub(crate) fn poke<T: Copy>(addr: u64, v: T) {
    // SAFETY: as for `peek`.
    unsafe { core::ptr::write_volatile(addr as *mut T, v) }
}

fn invlpg(va: u64) {
    // SAFETY: only drops a TLB entry of this guest's own.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) va, options(nostack)) };
}

fn set_cr3(root: u64) {
    // SAFETY: `root` is one of this guest's own PML4s, each mapping this
    // code, its stack and data at the same addresses.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) root, options(nostack)) };
}

pub(crate) fn cpuid(leaf: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid(leaf);
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// `SCHEDOP_yield`.
pub(crate) fn yield_now() {
    hypercall(HypercallNr::SCHED_OP, abi::sched::SCHEDOP_YIELD, 0, 0);
}

pub(crate) fn shutdown(reason: u32) -> ! {
    let r = reason;
    hypercall(HypercallNr::SCHED_OP, SCHEDOP_SHUTDOWN, (&raw const r) as u64, 0);
    loop {
        core::hint::spin_loop();
    }
}

pub(crate) fn fail(what: &str) -> ! {
    say!("pvh-hello: FAILED: {what}");
    say!("Test result: FAILURE");
    shutdown(SHUTDOWN_CRASH)
}

pub(crate) fn check(ok: bool, what: &str) {
    if !ok {
        fail(what);
    }
}

/// A reservation op on `gfns` (at most 8) of this domain.
pub(crate) fn reservation(op: u64, gfns: &[u64]) -> i64 {
    // The scratch page is this guest's own, used by nothing else.
    let scratch = (&raw const pvh_scratch) as u64;
    for (i, g) in gfns.iter().enumerate() {
        poke(scratch + 64 + 8 * i as u64, *g);
    }
    poke(scratch, scratch + 64);
    poke(scratch + 8, gfns.len() as u64);
    poke(scratch + 16, 0u64); // extent_order 0, mem_flags 0
    poke(scratch + 24, u64::from(DomId::SELF.0));
    hypercall(HypercallNr::MEMORY_OP, op, scratch, 0)
}

fn current_reservation() -> i64 {
    let d = DomId::SELF.0;
    hypercall(HypercallNr::MEMORY_OP, XENMEM_CURRENT_RESERVATION, (&raw const d) as u64, 0)
}

pub(crate) fn hvm_param(op: u64, index: u32, value: u64) -> (i64, u64) {
    let mut p = [0u64; 2];
    p[0] = u64::from(DomId::SELF.0) | (u64::from(index) << 32);
    p[1] = value;
    let r = hypercall(HypercallNr::HVM_OP, op, (&raw mut p) as u64, 0);
    (r, p[1])
}

#[no_mangle]
extern "C" fn pvh_main(start_info: u64) -> ! {
    // The hypercall page first: nothing can be said before it.
    let sig = cpuid(0x4000_0000);
    let leaf2 = cpuid(0x4000_0002);
    if [sig[1], sig[2], sig[3]] != [0x566E_6558, 0x6558_4D4D, 0x4D4D_566E] || leaf2[0] < 1 {
        shutdown(SHUTDOWN_CRASH);
    }
    // SAFETY: the page is this guest's own; the MSR is the one leaf
    // 0x40000002 names, and the hypervisor fills the page it is given.
    unsafe {
        let page = (&raw const pvh_hypercall_page) as u64;
        core::arch::asm!("wrmsr", in("ecx") leaf2[1], in("eax") page as u32, in("edx") (page >> 32) as u32);
    }
    let v = hypercall(HypercallNr::XEN_VERSION, 0, 0, 0);
    say!(
        "pvh-hello: hello from a PVH guest in long mode on Xen {}.{} (hypercall page via MSR {:#x})",
        v >> 16,
        v & 0xFFFF,
        leaf2[1]
    );

    let rc32 = peek::<u32>((&raw const pvh_rc32) as u64);
    say!("pvh-hello: the 32-bit console_io returned {}", rc32 as i32);
    check(rc32 == 0, "console_io from 32-bit mode");

    // The start info.
    check(peek::<u32>(start_info) == XEN_HVM_START_MAGIC_VALUE, "start info magic");
    let version: u32 = peek(start_info + 4);
    let cmdline: u64 = peek(start_info + 24);
    let (memmap, entries): (u64, u32) = (peek(start_info + 40), peek(start_info + 48));
    let mut line = [0u8; 128];
    let mut n = 0;
    while n < line.len() && cmdline != 0 && peek::<u8>(cmdline + n as u64) != 0 {
        line[n] = peek(cmdline + n as u64);
        n += 1;
    }
    let cmd = core::str::from_utf8(&line[..n]).unwrap_or("?");
    say!("pvh-hello: start info v{version} at {start_info:#x}, cmdline '{cmd}', {entries} memory map entries");
    let mut ram_end = 0;
    for i in 0..u64::from(entries) {
        let e = memmap + i * 24;
        let (addr, size, ty): (u64, u64, u32) = (peek(e), peek(e + 8), peek(e + 16));
        say!(
            "pvh-hello:   {addr:#010x}-{:#010x} {}",
            addr + size,
            if ty == memmap_type::RAM { "RAM" } else { "reserved" }
        );
        if ty == memmap_type::RAM {
            ram_end = ram_end.max(addr + size);
        }
    }
    check(ram_end >= 2 << 20, "a RAM entry above 2 MiB");

    // A pointer outside its memory: the legacy hole (mapped by its own
    // tables, not by its p2m), and an address its tables do not map.
    let efault = -i64::from(abi::Errno::EFAULT.0);
    let r1 = hypercall(HypercallNr::CONSOLE_IO, CONSOLEIO_WRITE, 16, 0xA_0000);
    let r2 = hypercall(HypercallNr::CONSOLE_IO, CONSOLEIO_WRITE, 16, 0x8000_0000);
    say!("pvh-hello: console_io from gpa 0xa0000 -> {r1}, from unmapped va 0x80000000 -> {r2}");
    check(r1 == efault && r2 == efault, "-EFAULT for pointers outside the guest");

    // The event-channel callback: vector type, stored and read back.
    let want = callback::vector(0xF3);
    let (set, _) = hvm_param(HVMOP_SET_PARAM, param::CALLBACK_IRQ, want);
    let (get, got) = hvm_param(HVMOP_GET_PARAM, param::CALLBACK_IRQ, 0);
    let (bad, _) = hvm_param(HVMOP_SET_PARAM, param::STORE_PFN, 1);
    say!("pvh-hello: HVM_PARAM_CALLBACK_IRQ set {set}, get {get} = {got:#x}; STORE_PFN set {bad}");
    check(set == 0 && get == 0 && got == want, "CALLBACK_IRQ round trip");
    check(bad == -i64::from(abi::Errno::EPERM.0), "STORE_PFN is not the guest's to set");

    // The balloon: four pages near the end of RAM, out and back in.
    let top = ram_end / 4096;
    let gfns = [top - 8, top - 7, top - 6, top - 5];
    for g in gfns {
        poke(g * 4096, 0x5A5A_5A5A_u64);
    }
    let before = current_reservation();
    let out = reservation(XENMEM_DECREASE_RESERVATION, &gfns);
    let during = current_reservation();
    let again = reservation(XENMEM_DECREASE_RESERVATION, &gfns[..1]);
    let back = reservation(XENMEM_POPULATE_PHYSMAP, &gfns);
    let after = current_reservation();
    say!("pvh-hello: balloon: {before} pages, out {out} -> {during}, out again {again}, in {back} -> {after}");
    check(out == 4 && during == before - 4, "decrease_reservation of 4 pages");
    check(again == 0, "a page already given back cannot be given again");
    check(back == 4 && after == before, "populate_physmap of 4 pages");
    for g in gfns {
        check(peek::<u64>(g * 4096) == 0, "a repopulated page is zeroed");
        poke(g * 4096 + 8, g);
        check(peek::<u64>(g * 4096 + 8) == g, "a repopulated page is writable");
    }
    say!("pvh-hello: the repopulated pages are fresh and writable");

    // Its own page tables, written directly: a 2 MiB alias of guest
    // frames 0–511 at 0x3fc00000 (PD entry 510), flushed with INVLPG, then
    // written through the alias and read directly. Under shadow paging the
    // PD write traps and is emulated, the INVLPG exits.
    let pd = (&raw const pvh_pd) as u64;
    let alias = 510u64 << 21;
    poke(pd + 510 * 8, 0x83u64);
    invlpg(alias);
    let scratch = (&raw const pvh_scratch) as u64;
    poke(alias + scratch + 128, 0x1234_5678_9ABC_DEF0u64);
    check(peek::<u64>(scratch + 128) == 0x1234_5678_9ABC_DEF0, "a write through a new alias");
    poke(pd + 510 * 8, 0u64);
    invlpg(alias);
    say!("pvh-hello: page-table update: an alias at {alias:#x} wrote through, and is gone again");

    // A second address space: its own PML4 (the first GiB as before, and
    // the same GiB again at 512 GiB), switched to and back twice. Under
    // shadow paging each `mov cr3` exits; the second visit of each root
    // finds its shadow in the cache.
    let pml4 = (&raw const pvh_pml4) as u64;
    let pml4b = (&raw const pvh_pml4b) as u64;
    let high = 1u64 << 39;
    poke(pml4b, peek::<u64>(pml4));
    poke(pml4b + 8, peek::<u64>(pml4));
    poke(scratch + 136, 0xC3C3_u64);
    let mut seen = 0;
    for _ in 0..2 {
        set_cr3(pml4b);
        seen += peek::<u64>(high + scratch + 136);
        set_cr3(pml4);
    }
    check(seen == 2 * 0xC3C3, "the second address space's own mapping");
    say!("pvh-hello: a second address space: CR3 there and back twice, its mapping at {high:#x} reads my page");

    // Its own #PF handler: a read and a write of an address its tables do
    // not map are delivered to it with the hardware's CR2 and error code
    // (under shadow paging: reflected by the hypervisor).
    let idt = (&raw const pvh_idt) as u64;
    let h = pvh_pf_handler as *const () as u64;
    poke(idt + 14 * 16, (h & 0xFFFF) | (0x08 << 16) | (0x8E << 40) | (((h >> 16) & 0xFFFF) << 48));
    poke(idt + 14 * 16 + 8, h >> 32);
    let idtr: [u16; 5] = [15 * 16 - 1, idt as u16, (idt >> 16) as u16, (idt >> 32) as u16, (idt >> 48) as u16];
    // SAFETY: the IDT is this guest's own, with one valid gate (14, its last
    // within the limit).
    unsafe { core::arch::asm!("lidt [{}]", in(reg) &idtr, options(nostack)) };
    let fault = |write: bool| {
        poke((&raw const pvh_pf_cr2) as u64, 0u64);
        // SAFETY: the access faults (unmapped) and the handler resumes
        // at the probe's return.
        unsafe {
            if write {
                pvh_pf_write(0x8000_0000)
            } else {
                pvh_pf_read(0x8000_0000)
            }
        };
        (peek::<u64>((&raw const pvh_pf_cr2) as u64), peek::<u64>((&raw const pvh_pf_ec) as u64))
    };
    let (rc, re) = fault(false);
    let (wc, we) = fault(true);
    say!("pvh-hello: #PF to my handler: read cr2 {rc:#x} error code {re:#x}, write cr2 {wc:#x} error code {we:#x}");
    check(rc == 0x8000_0000 && re == 0 && wc == 0x8000_0000 && we == 2, "the #PF the hardware would give");

    let ptforeign = cmd.split(' ').any(|t| t == "ptforeign");
    if ptforeign || cmd.split(' ').any(|t| t == "ptpast") {
        // Its own PD entry 509 names a guest frame far past its memory (a
        // huge gfn), or the first 2 MiB past its RAM: no translation may
        // reach any frame for it.
        let va = 509u64 << 21;
        let gfn = if ptforeign { 0xF_FFFF_FE00u64 } else { ram_end.div_ceil(2 << 20) * 512 };
        say!("pvh-hello: hostile: my PD maps gfn {gfn:#x} at va {va:#x}; reading it");
        poke(pd + 509 * 8, (gfn << 12) | 0x83);
        invlpg(va);
        let v: u64 = peek(va);
        say!("pvh-hello: hostile: read {v:#x} and was not stopped");
        fail("a mapping of a frame outside the p2m went through");
    }
    crate::events::run(cmd);
    if cmd.split(' ').any(|t| t == "vcpuops") {
        crate::vcpu::run();
    }
    if cmd.split(' ').any(|t| t == "grants") {
        crate::grants::run();
    }
    crate::gmap::run(cmd, ram_end);
    if cmd.split(' ').any(|t| t == "spin") {
        say!("pvh-hello: spin: looping without an exit");
        loop {
            core::hint::spin_loop();
        }
    }
    if cmd.split(' ').any(|t| t == "hostile") {
        say!("pvh-hello: hostile: reading gpa 0xa0000, outside my p2m");
        let v: u64 = peek(0xA_0000);
        say!("pvh-hello: hostile: read {v:#x} and was not stopped");
        fail("an access outside the p2m went through");
    }
    say!("Test result: SUCCESS");
    shutdown(SHUTDOWN_POWEROFF)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    fail("panic")
}
