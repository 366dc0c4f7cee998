//! guest-kernel's PVH entry, beside its PV one in the same ELF (as Linux
//! has both): `XEN_ELFNOTE_PHYS32_ENTRY` names `gk_pvh32`, which a PVH
//! loader enters in 32-bit protected mode with paging off and EBX = the
//! `hvm_start_info`. The image's physical addresses start at 0 (guest-rt's
//! linker script), so the entry runs from low memory and addresses its
//! symbols as `symbol - VIRT_BASE`. It writes its own page tables directly
//! (no `mmu_update`: one PD of 2 MiB pages mapping the first GiB both 1:1,
//! for the switch, and at `VIRT_BASE`, where the kernel is linked), enters
//! long mode and jumps up to the kernel's addresses.
//!
//! What runs then is a PVH story of its own, not the PV one (which needs
//! the PV MMU, trap table and event channels): the hypercall page through
//! the Xen CPUID leaves' MSR (the same page the PV loader fills with
//! SYSCALL stubs; here the hypervisor fills it with VMMCALL ones), the
//! console through `console_io`, the start info, a balloon of four pages
//! out and back in on guest frames, and a clean shutdown.

use abi::console::CONSOLEIO_WRITE;
use abi::hvm::{XEN_CORE_EXIT_COUNT_LEAF, XEN_CORE_EXIT_COUNT_MAGIC};
use abi::hvm_start_info::{memmap_type, XEN_HVM_START_MAGIC_VALUE};
use abi::hypercall::HypercallNr;
use abi::memory::{
    MemoryMap, XENMEM_CURRENT_RESERVATION, XENMEM_DECREASE_RESERVATION, XENMEM_MEMORY_MAP, XENMEM_POPULATE_PHYSMAP,
};
use abi::sched::{SCHEDOP_SHUTDOWN, SHUTDOWN_CRASH, SHUTDOWN_POWEROFF};
use abi::DomId;
use core::sync::atomic::{AtomicU64, Ordering};
use guest_kernel::arch::x86_64::{mem, pvh as raw};
use guest_rt::{println, VIRT_BASE};

core::arch::global_asm!(
    ".pushsection .note.Xen, \"a\"",
    ".balign 4",
    ".long 4, 4, 18",
    ".asciz \"Xen\"",
    ".long gk_pvh32 - 0xFFFFFFFF80000000",
    ".balign 4",
    ".popsection",
    ".pushsection .text.gk_pvh, \"ax\"",
    ".code32",
    "gk_pvh32:",
    "mov esi, ebx",
    "mov esp, offset gk_pvh_stack_top - 0xFFFFFFFF80000000",
    "mov edi, offset gk_pvh_pd - 0xFFFFFFFF80000000",
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
    "mov eax, offset gk_pvh_pd - 0xFFFFFFFF80000000",
    "or eax, 3",
    "mov edi, offset gk_pvh_pdpt - 0xFFFFFFFF80000000",
    "mov [edi], eax",
    "mov [edi + 510*8], eax",
    "mov eax, offset gk_pvh_pdpt - 0xFFFFFFFF80000000",
    "or eax, 3",
    "mov edi, offset gk_pvh_pml4 - 0xFFFFFFFF80000000",
    "mov [edi], eax",
    "mov [edi + 511*8], eax",
    "mov eax, cr4",
    "or eax, 0x20",
    "mov cr4, eax",
    "mov cr3, edi",
    "mov ecx, 0xC0000080",
    "rdmsr",
    "or eax, 0x100",
    "wrmsr",
    "mov eax, cr0",
    "or eax, 0x80000001",
    "mov cr0, eax",
    "mov eax, offset gk_pvh_gdtp - 0xFFFFFFFF80000000",
    "lgdt [eax]",
    "push 0x08",
    "mov eax, offset gk_pvh64 - 0xFFFFFFFF80000000",
    "push eax",
    "retf",
    ".code64",
    "gk_pvh64:",
    "mov rax, offset gk_pvh_high",
    "jmp rax",
    "gk_pvh_high:",
    "mov ax, 0x10",
    "mov ds, ax",
    "mov es, ax",
    "mov ss, ax",
    "lea rsp, [rip + gk_pvh_stack_top]",
    "mov edi, esi",
    "call gk_pvh_main",
    "ud2",
    ".balign 8",
    "gk_pvh_gdt:",
    ".quad 0",
    ".quad 0x00AF9A000000FFFF",
    ".quad 0x00CF92000000FFFF",
    "gk_pvh_gdtp:",
    ".word 23",
    ".long gk_pvh_gdt - 0xFFFFFFFF80000000",
    ".popsection",
    // `make modes`' page fault: the kernel's own #PF handler (vector 14,
    // error code pushed), the caller-saved registers kept around the Rust
    // fix-up, RSP 16-aligned at the call.
    ".pushsection .text.gk_pvh_pf, \"ax\"",
    ".global gk_pvh_pf",
    "gk_pvh_pf:",
    "push rax",
    "push rcx",
    "push rdx",
    "push rsi",
    "push rdi",
    "push r8",
    "push r9",
    "push r10",
    "push r11",
    "sub rsp, 8",
    "mov rdi, cr2",
    "call gk_pvh_fault",
    "add rsp, 8",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rdi",
    "pop rsi",
    "pop rdx",
    "pop rcx",
    "pop rax",
    "add rsp, 8",
    "iretq",
    ".popsection",
    ".pushsection .bss.gk_pvh, \"aw\", @nobits",
    ".balign 4096",
    "gk_pvh_pml4: .skip 4096",
    "gk_pvh_pdpt: .skip 4096",
    "gk_pvh_pd: .skip 4096",
    "gk_pvh_scratch: .skip 4096",
    "gk_pvh_idt: .skip 4096",
    // `make modes`' second address space: its root, and each space's own
    // PDPT and PD for the one 2 MiB mapping in which they differ.
    "gk_pvh_pml4b: .skip 4096",
    "gk_pvh_pdpt_a: .skip 4096",
    "gk_pvh_pd_a: .skip 4096",
    "gk_pvh_pdpt_b: .skip 4096",
    "gk_pvh_pd_b: .skip 4096",
    "gk_pvh_stack: .skip 16384",
    "gk_pvh_stack_top:",
    ".popsection",
);

extern "C" {
    /// guest-rt's hypercall page (its linker script's symbol).
    static hypercall_page: u8;
    static gk_pvh_scratch: u8;
    static gk_pvh_pd: u8;
    static gk_pvh_idt: u8;
    static gk_pvh_pml4: u8;
    static gk_pvh_pml4b: u8;
    static gk_pvh_pdpt_a: u8;
    static gk_pvh_pd_a: u8;
    static gk_pvh_pdpt_b: u8;
    static gk_pvh_pd_b: u8;
    fn gk_pvh_pf();
}

/// The modes L1 (guest-physical), the frames it maps, and its window's VA.
const MODES_L1: u64 = 16 << 20;
const MODES_FRAMES: u64 = 17 << 20;
const MODES_VA: u64 = VIRT_BASE + (511 << 21);

/// The #PF handler's fix-up: a not-present page in the modes window gets
/// its frame mapped again; anything else is a bug of this kernel.
#[no_mangle]
extern "C" fn gk_pvh_fault(cr2: u64) {
    if !(MODES_VA..MODES_VA + (2 << 20)).contains(&cr2) {
        println!("guest-kernel: PVH: unexpected page fault at {cr2:#x}");
        println!("Test result: FAILURE");
        shutdown(SHUTDOWN_CRASH);
    }
    let i = (cr2 - MODES_VA) >> 12;
    poke::<u64>(MODES_L1 + i * 8, (MODES_FRAMES + i * 4096) | 3);
}

/// Loads an IDT with only the #PF gate (vector 14, interrupt gate, ring 0).
fn install_pf_handler() {
    let idt = (&raw const gk_pvh_idt) as u64;
    let h = gk_pvh_pf as *const () as u64;
    raw::load_pf_idt(idt, h);
}

/// Hypercalls made so far (`make modes` counts them where the hypervisor
/// does not count its exits for the guest: on Xen).
static HYPERCALLS: AtomicU64 = AtomicU64::new(0);

/// Hypercall `nr` through the hypercall page (VMMCALL stubs under PVH).
fn hypercall(nr: HypercallNr, a1: u64, a2: u64, a3: u64) -> i64 {
    HYPERCALLS.fetch_add(1, Ordering::Relaxed);
    // `gk_pvh_main` asked the hypervisor to fill the page before any call.
    raw::hypercall((&raw const hypercall_page) as u64 + nr.0 * 32, a1, a2, a3)
}

/// The runtime's console sink under PVH.
fn console(bytes: &[u8]) {
    hypercall(HypercallNr::CONSOLE_IO, CONSOLEIO_WRITE, bytes.len() as u64, bytes.as_ptr() as u64);
}

/// Guest-physical `addr`, read through the kernel's mapping of the first GiB.
fn peek<T: Copy>(addr: u64) -> T {
    // The caller names this guest's RAM below 1 GiB, mapped at VIRT_BASE.
    raw::read(VIRT_BASE + addr)
}

fn poke<T: Copy>(addr: u64, v: T) {
    raw::write(VIRT_BASE + addr, v)
}

/// The u64 at virtual address `va`.
fn read_va(va: u64) -> u64 {
    raw::read(va)
}

fn shutdown(reason: u32) -> ! {
    hypercall(HypercallNr::SCHED_OP, SCHEDOP_SHUTDOWN, (&raw const reason) as u64, 0);
    loop {
        core::hint::spin_loop();
    }
}

fn check(ok: bool, what: &str) {
    if !ok {
        println!("guest-kernel: PVH: FAILED: {what}");
        println!("Test result: FAILURE");
        shutdown(SHUTDOWN_CRASH);
    }
}

/// A reservation op of this domain on `gfns` (at most 8).
fn reservation(op: u64, gfns: &[u64]) -> i64 {
    let scratch = (&raw const gk_pvh_scratch) as u64;
    // The scratch page is this kernel's own, used by nothing else.
    for (i, g) in gfns.iter().enumerate() {
        raw::write(scratch + 64 + 8 * i as u64, *g);
    }
    raw::write(scratch, scratch + 64);
    raw::write(scratch + 8, gfns.len() as u64);
    raw::write(scratch + 16, 0u64);
    raw::write(scratch + 24, u64::from(DomId::SELF.0));
    hypercall(HypercallNr::MEMORY_OP, op, scratch, 0)
}

/// The end of the highest RAM range of `XENMEM_memory_map` (0 if refused);
/// at most 128 entries are read, into the scratch page.
fn e820_ram_end() -> u64 {
    let scratch = (&raw const gk_pvh_scratch) as u64;
    let buf = scratch + 64;
    let map = MemoryMap { nr_entries: 128, pad: 0, buffer: buf };
    raw::write(scratch, map);
    if hypercall(HypercallNr::MEMORY_OP, XENMEM_MEMORY_MAP, scratch, 0) != 0 {
        return 0;
    }
    let n = u64::from(raw::read::<MemoryMap>(scratch).nr_entries.min(128));
    (0..n)
        .map(|i| {
            // Packed 20-byte records: every field is 4-aligned only.
            let e = buf + i * 20;
            let u64_at = |a: u64| u64::from(raw::read::<u32>(a)) | u64::from(raw::read::<u32>(a + 4)) << 32;
            (u64_at(e), u64_at(e + 8), raw::read::<u32>(e + 16))
        })
        .filter(|&(_, _, ty)| ty == abi::memory::E820_RAM)
        .map(|(addr, size, _)| addr + size)
        .max()
        .unwrap_or(0)
}

fn current_reservation() -> i64 {
    let d = DomId::SELF.0;
    hypercall(HypercallNr::MEMORY_OP, XENMEM_CURRENT_RESERVATION, (&raw const d) as u64, 0)
}

#[no_mangle]
extern "C" fn gk_pvh_main(start_info: u64) -> ! {
    let leaf2 = core::arch::x86_64::__cpuid(0x4000_0002);
    let page = (&raw const hypercall_page) as u64 - VIRT_BASE;
    // The MSR CPUID leaf 0x40000002 names, given the guest-physical
    // address of this kernel's own hypercall page.
    raw::wrmsr(leaf2.ebx, page);
    guest_rt::console::set_sink(console);
    let v = hypercall(HypercallNr::XEN_VERSION, 0, 0, 0);
    println!(
        "guest-kernel: PVH entry (32-bit, paging off) to long mode with its own page tables, on Xen {}.{}",
        v >> 16,
        v & 0xFFFF
    );
    check(peek::<u32>(start_info) == XEN_HVM_START_MAGIC_VALUE, "start info magic");
    let (memmap, entries): (u64, u32) = (peek(start_info + 40), peek(start_info + 48));
    let mut ram_end = 0;
    for i in 0..u64::from(entries) {
        let e = memmap + i * 24;
        let (addr, size, ty): (u64, u64, u32) = (peek(e), peek(e + 8), peek(e + 16));
        if ty == memmap_type::RAM {
            ram_end = ram_end.max(addr + size);
        }
    }
    let mut from = "start info";
    if entries == 0 {
        // A start info without a map (version 0, or Xen's PVH dom0, which
        // gives its map through XENMEM_memory_map instead).
        ram_end = e820_ram_end();
        from = "XENMEM_memory_map";
    }
    println!(
        "guest-kernel: PVH start info at {start_info:#x}, {entries} memory map entries, RAM up to {ram_end:#x} (from {from})"
    );
    check((4 << 20..=1 << 30).contains(&ram_end), "RAM between 4 MiB and 1 GiB");

    let cmdline_at: u64 = peek(start_info + 24);
    let mut cmdline = [0u8; 128];
    for (i, b) in cmdline.iter_mut().enumerate() {
        *b = if cmdline_at == 0 { 0 } else { peek(cmdline_at + i as u64) };
        if *b == 0 {
            break;
        }
    }
    let len = cmdline.iter().position(|&b| b == 0).unwrap_or(cmdline.len());
    let words = || core::str::from_utf8(&cmdline[..len]).unwrap_or("").split_ascii_whitespace();
    if words().any(|t| t == "modes") {
        modes(ram_end);
    }
    if words().any(|t| t == "vcpuprobe") {
        crate::pvh_probe::run(hypercall);
    }

    let top = ram_end / 4096;
    let gfns = [top - 8, top - 7, top - 6, top - 5];
    let before = current_reservation();
    let out = reservation(XENMEM_DECREASE_RESERVATION, &gfns);
    let back = reservation(XENMEM_POPULATE_PHYSMAP, &gfns);
    let after = current_reservation();
    println!("guest-kernel: PVH balloon: {before} pages, 4 out ({out}), 4 in ({back}), {after} pages");
    check(out == 4 && back == 4 && after == before, "balloon out and in");
    for g in gfns {
        check(peek::<u64>(g * 4096) == 0, "a repopulated page is zeroed");
        poke(g * 4096, g);
        check(peek::<u64>(g * 4096) == g, "a repopulated page is writable");
    }
    println!("Test result: SUCCESS");
    shutdown(SHUTDOWN_POWEROFF)
}

/// `make modes`' second address space: one 2 MiB page at PML4 slot 510
/// maps a different frame in each (a marker in each), the rest is shared.
const SPACE_VA: u64 = 0xFFFF_FF00_0000_0000;
const SPACE_FRAMES: [u64; 2] = [18 << 20, 20 << 20];
const SPACE_MARK: u64 = 0x5A5A_0000;

/// The VM-exit kinds of xen-core's CPUID leaf, in subleaf order.
const EXIT_KINDS: [&str; 10] = ["vmmcall", "cpuid", "msr", "io", "npf", "pf", "cr", "invlpg", "host", "other"];

/// xen-core's count of this domain's exits of each kind so far.
fn read_exits(c: &mut [u64; crate::modes::MAX_COUNTERS]) {
    for (k, v) in c.iter_mut().enumerate() {
        let r = core::arch::x86_64::__cpuid_count(XEN_CORE_EXIT_COUNT_LEAF, k as u32);
        *v = u64::from(r.ebx) | u64::from(r.ecx) << 32;
    }
}

fn read_hypercalls(c: &mut [u64; crate::modes::MAX_COUNTERS]) {
    c[0] = HYPERCALLS.load(Ordering::Relaxed);
}

/// `make modes` under PVH (shadow or nested: the guest cannot tell, so the
/// tool names the mode): its own tables written directly, switches between
/// two roots of its own, a walk over 8 MiB of its RAM from 4 MiB up (its
/// own 2 MiB mappings), and one page ballooned out and in per sample.
fn modes(ram_end: u64) -> ! {
    check(ram_end >= 22 << 20, "modes needs 22 MiB of RAM");
    let gpa = |sym: *const u8| sym as u64 - VIRT_BASE;
    // Two roots: the boot one and a copy, which share every table but the
    // PDPT and PD of SPACE_VA.
    let roots = [gpa(&raw const gk_pvh_pml4), gpa(&raw const gk_pvh_pml4b)];
    let pdpts = [gpa(&raw const gk_pvh_pdpt_a), gpa(&raw const gk_pvh_pdpt_b)];
    let pds = [gpa(&raw const gk_pvh_pd_a), gpa(&raw const gk_pvh_pd_b)];
    for i in 0..512u64 {
        poke::<u64>(roots[1] + i * 8, peek::<u64>(roots[0] + i * 8));
    }
    for s in 0..2 {
        poke::<u64>(SPACE_FRAMES[s], SPACE_MARK + s as u64);
        poke::<u64>(pds[s], SPACE_FRAMES[s] | 0x83);
        poke::<u64>(pdpts[s], pds[s] | 3);
        poke::<u64>(roots[s] + 510 * 8, pdpts[s] | 3);
    }
    let mut space = 0;
    // To the other root, and the translation that tells them apart.
    let mut switch = || {
        space ^= 1;
        mem::write_cr3(roots[space]);
        check(read_va(SPACE_VA) == SPACE_MARK + space as u64, "the other address space's own mapping");
    };
    let touch = |i: u64| peek::<u64>((4 << 20) + i * 4096);
    // Its own 4 KiB mappings for the table rows: the PD's last slot (1 GiB
    // - 2 MiB, nothing there) points at an L1 at 16 MiB, whose entries map
    // frames from 17 MiB; written directly, no mmu_update. Both roots
    // share that PD.
    const L1: u64 = MODES_L1;
    const FRAMES: u64 = MODES_FRAMES;
    const BUILD: u64 = 64;
    let va = MODES_VA;
    for i in 0..512u64 {
        poke::<u64>(L1 + i * 8, 0);
    }
    let pd = (&raw const gk_pvh_pd) as u64 - VIRT_BASE;
    poke::<u64>(pd + 511 * 8, L1 | 3);
    mem::write_cr3(roots[0]);
    check(read_va(SPACE_VA) == SPACE_MARK, "the first address space's own mapping");
    let invlpg = raw::invlpg;
    let mut build = || {
        for i in 0..BUILD {
            poke::<u64>(L1 + i * 8, (FRAMES + i * 4096) | 3);
        }
        // Emptied again inside the sample for the next one: the row is per
        // entry written, mapping and unmapping.
        for i in 0..BUILD {
            poke::<u64>(L1 + i * 8, 0);
            invlpg(va + i * 4096);
        }
    };
    poke::<u64>(L1, FRAMES | 3);
    check(peek::<u64>(FRAMES) == read_va(va), "the L1 maps its first frame");
    let mut update = || {
        poke::<u64>(L1, 0);
        invlpg(va);
        poke::<u64>(L1, FRAMES | 3);
        invlpg(va);
    };
    // A fault its own #PF handler fixes: the window's second page unmapped
    // and read (the handler maps its frame again; the read retries).
    install_pf_handler();
    let mut fault = || {
        poke::<u64>(L1 + 8, 0);
        invlpg(va + 4096);
        read_va(va + 4096);
    };
    let gfn = ram_end / 4096 - 8;
    let mut balloon =
        || reservation(XENMEM_DECREASE_RESERVATION, &[gfn]) == 1 && reservation(XENMEM_POPULATE_PHYSMAP, &[gfn]) == 1;
    // The hypervisor's own count of exits where it gives it (xen-core),
    // else the hypercalls this kernel makes (the exits Xen takes for its
    // table writes, faults and CR3 loads, if any, are not seen).
    let xen_core = core::arch::x86_64::__cpuid_count(XEN_CORE_EXIT_COUNT_LEAF, 0).eax == XEN_CORE_EXIT_COUNT_MAGIC;
    let counter = if xen_core {
        let mut overhead = [0; crate::modes::MAX_COUNTERS];
        // Between the CPUID-kind reads of two snapshots: ten CPUIDs.
        overhead[1] = EXIT_KINDS.len() as u64;
        crate::modes::Counter { what: "exits", names: &EXIT_KINDS, read: &read_exits, overhead }
    } else {
        let overhead = [0; crate::modes::MAX_COUNTERS];
        crate::modes::Counter { what: "hcalls", names: &["hcall"], read: &read_hypercalls, overhead }
    };
    crate::modes::run(crate::modes::Ops {
        mode: "pvh",
        pt_build: crate::modes::Timed { run: &mut build, per: 2 * BUILD },
        pt_update: crate::modes::Timed { run: &mut update, per: 1 },
        fault: crate::modes::Timed { run: &mut fault, per: 1 },
        switch: &mut switch,
        touch: &touch,
        pages: 2048,
        balloon: &mut balloon,
        counter,
    });
    println!("Test result: SUCCESS");
    shutdown(SHUTDOWN_POWEROFF)
}
