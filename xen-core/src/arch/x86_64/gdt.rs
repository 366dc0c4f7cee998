//! The GDT, laid out as Xen's: the hypervisor owns entries 7168 and up
//! (GDT page 14), where the flat selectors every PV guest uses live:
//! 0xE008 hypervisor code, 0xE010 hypervisor data, 0xE023/0xE02B/0xE033
//! guest 32-bit code, data and 64-bit code (all DPL 3), then the TSS.
//! The order of 0xE020..0xE030 is what SYSRET requires.
//!
//! The TSS holds RSP0 (the stack for entries from ring 3) and separate IST
//! stacks for #DF, NMI, #MC and #DB, so those are reported even when the
//! faulting stack is unusable.

use crate::domain::segments::{hardware_descriptor, GDT_ENTRIES, RESERVED_DESCRIPTORS};
use abi::traps::FIRST_RESERVED_GDT_ENTRY;
use core::arch::asm;
use core::mem::size_of;

/// IST slot (1-based, as in the IDT) for #DF.
pub const IST_DOUBLE_FAULT: u8 = 1;
/// IST slot for NMI.
pub const IST_NMI: u8 = 2;
/// IST slot for #MC.
pub const IST_MACHINE_CHECK: u8 = 3;
/// IST slot for #DB: a #DB held back by a guest's `mov ss` is taken at the
/// first instruction of the SYSCALL entry, still on the guest's stack.
pub const IST_DEBUG: u8 = 4;
const IST_COUNT: usize = 4;

/// Hypervisor code selector.
pub const HV_CS: u16 = 0xE008;
/// Hypervisor data selector.
pub const HV_DS: u16 = 0xE010;
/// TSS selector.
pub const TSS_SEL: u16 = 0xE040;
/// Base selector for SYSRET (CS = base + 16, SS = base + 8).
pub const SYSRET_BASE: u16 = 0xE020;
/// LDT descriptor selector (Xen's LDT_ENTRY: two entries after the TSS).
pub const LDT_SEL: u16 = 0xE050;
/// Most LDT entries.
const LDT_ENTRIES: usize = crate::mm::ldt::MAX_LDT_ENTRIES as usize;

const ENTRIES: usize = GDT_ENTRIES;
const IST_STACK_SIZE: usize = 16 * 1024;
/// Stack used for every entry from a guest (syscall, exceptions).
pub const GUEST_ENTRY_STACK_SIZE: usize = 64 * 1024;

#[repr(C, packed(4))]
struct Tss {
    reserved0: u32,
    rsp: [u64; 3],
    reserved1: u64,
    ist: [u64; 7],
    reserved2: u64,
    reserved3: u16,
    iomap_base: u16,
}

#[repr(C, align(4096))]
struct Gdt([u64; ENTRIES]);

#[repr(C, align(16))]
struct Stacks([[u8; IST_STACK_SIZE]; IST_COUNT]);

#[repr(C, align(4096))]
struct EntryStack([u8; GUEST_ENTRY_STACK_SIZE]);

static mut GDT: Gdt = Gdt([0; ENTRIES]);
static mut TSS: Tss = Tss {
    reserved0: 0,
    rsp: [0; 3],
    reserved1: 0,
    ist: [0; 7],
    reserved2: 0,
    reserved3: 0,
    iomap_base: size_of::<Tss>() as u16,
};
static mut IST_STACKS: Stacks = Stacks([[0; IST_STACK_SIZE]; IST_COUNT]);
// Named for the #DB stub, which moves a guest's #DB frame to its top.
#[export_name = "guest_entry_stack"]
static mut ENTRY_STACK: EntryStack = EntryStack([0; GUEST_ENTRY_STACK_SIZE]);
const _: () = assert!(GUEST_ENTRY_STACK_SIZE == 0x10000, "the #DB stub in idt.rs uses the size");

/// Top of the stack entries from guests land on (TSS.RSP0).
pub fn guest_entry_stack_top() -> u64 {
    (&raw const ENTRY_STACK) as u64 + GUEST_ENTRY_STACK_SIZE as u64
}

const fn index(sel: u16) -> usize {
    (sel >> 3) as usize
}

/// The hypervisor's code selector.
pub fn kernel_cs() -> u16 {
    HV_CS
}

/// Builds and loads the GDT and TSS, and reloads every segment register.
pub fn init() {
    let tss = &raw mut TSS;
    let stacks = (&raw const IST_STACKS) as u64;
    // SAFETY: runs once on the boot CPU before anything else uses the TSS
    // or GDT; the raw pointers are to 'static data.
    unsafe {
        for i in 0..IST_COUNT {
            (*tss).ist[i] = stacks + ((i + 1) * IST_STACK_SIZE) as u64;
        }
        (*tss).rsp[0] = guest_entry_stack_top();
        let gdt = &mut (*core::ptr::addr_of_mut!(GDT)).0;
        // The flat selectors, from the table the return checks read.
        for (sel, d) in RESERVED_DESCRIPTORS {
            gdt[index(sel)] = d;
        }
        let base = tss as u64;
        let limit = (size_of::<Tss>() - 1) as u64;
        gdt[index(TSS_SEL)] = limit | ((base & 0xFF_FFFF) << 16) | (0x89 << 40) | (((base >> 24) & 0xFF) << 56);
        gdt[index(TSS_SEL) + 1] = base >> 32;
        let ptr = x86_64::structures::DescriptorTablePointer {
            limit: (size_of::<Gdt>() - 1) as u16,
            base: x86_64::VirtAddr::new(gdt.as_ptr() as u64),
        };
        x86_64::instructions::tables::lgdt(&ptr);
        asm!(
            "push {cs}",
            "lea {tmp}, [rip + 2f]",
            "push {tmp}",
            "retfq",
            "2:",
            "mov ss, {ds:x}",
            "mov ds, {ds:x}",
            "mov es, {ds:x}",
            "ltr {tss:x}",
            // No LDT until a guest's is loaded (`load_ldt`).
            "lldt {null:x}",
            cs = in(reg) u64::from(HV_CS),
            ds = in(reg) u64::from(HV_DS),
            tss = in(reg) u64::from(TSS_SEL),
            null = in(reg) 0u64,
            // Written before the other operands are read: not `lateout`.
            tmp = out(reg) _,
        );
    }
}

/// The hardware LDT: the running domain's LDT descriptors, each as
/// [`hardware_descriptor`] checks it, null for pages not mapped yet. A copy
/// like the guest GDT entries, so a guest can never have the CPU use a
/// descriptor it wrote without the checks.
#[repr(C, align(4096))]
struct LdtTable([u64; LDT_ENTRIES]);
static mut LDT: LdtTable = LdtTable([0; LDT_ENTRIES]);
static LDT_LOADED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Loads an LDT of `entries` descriptors (0: none, LDTR null); `read(i)`
/// gives descriptor `i` as the guest wrote it, `None` if its page is not
/// mapped. Cheap when neither the old nor the new LDT has entries.
pub fn load_ldt(entries: usize, read: impl Fn(usize) -> Option<u64>) {
    let entries = entries.min(LDT_ENTRIES);
    let previous = LDT_LOADED.swap(entries, core::sync::atomic::Ordering::Relaxed);
    if entries == 0 && previous == 0 {
        return;
    }
    // SAFETY: one CPU; the table is only read by the CPU through LDTR,
    // which is reloaded below, and by segment loads after this returns.
    let ldt = unsafe { &mut (*core::ptr::addr_of_mut!(LDT)).0 };
    for (i, slot) in ldt[..entries].iter_mut().enumerate() {
        *slot = read(i).map_or(0, hardware_descriptor);
    }
    for slot in ldt.iter_mut().take(previous.max(entries)).skip(entries) {
        *slot = 0;
    }
    let selector = if entries == 0 {
        0u16
    } else {
        let base = ldt.as_ptr() as u64;
        let limit = (entries * 8 - 1) as u64;
        // SAFETY: entries 7178/7179 are the hypervisor's (no guest
        // descriptor reaches them); LDTR is loaded from them just below.
        let gdt = unsafe { &mut (*core::ptr::addr_of_mut!(GDT)).0 };
        gdt[index(LDT_SEL)] = (limit & 0xFFFF)
            | ((base & 0xFF_FFFF) << 16)
            | (0x82 << 40)
            | (((limit >> 16) & 0xF) << 48)
            | (((base >> 24) & 0xFF) << 56);
        gdt[index(LDT_SEL) + 1] = base >> 32;
        LDT_SEL
    };
    // SAFETY: a present LDT descriptor in the GDT (or null): LLDT cannot
    // fault, and the guest's LDT selectors now name checked descriptors.
    unsafe { asm!("lldt {0:x}", in(reg) selector, options(nostack, preserves_flags)) };
}

/// Writes guest descriptor `index` of the loaded GDT (`ldt` false) or LDT
/// into the hardware copy, checked as a full load checks it; an index
/// beyond what is loaded is ignored (the next load sees the frame anyway).
pub fn write_entry(ldt: bool, index: usize, desc: u64) {
    let d = hardware_descriptor(desc);
    // SAFETY: one CPU; the guest area of the GDT and the LDT table are
    // only read by the CPU on segment loads, which come after this.
    unsafe {
        if ldt {
            if index < LDT_LOADED.load(core::sync::atomic::Ordering::Relaxed) {
                (*core::ptr::addr_of_mut!(LDT)).0[index] = d;
            }
        } else if index < GUEST_ENTRIES.load(core::sync::atomic::Ordering::Relaxed) {
            (*core::ptr::addr_of_mut!(GDT)).0[index] = d;
        }
    }
}

/// Descriptor `i` of the LDT loaded now (0 beyond it).
pub fn loaded_ldt_entry(i: usize) -> u64 {
    if i >= LDT_LOADED.load(core::sync::atomic::Ordering::Relaxed) {
        return 0;
    }
    // SAFETY: a read of the static table; only `load_ldt` writes it.
    unsafe { (*core::ptr::addr_of!(LDT)).0[i] }
}

static GUEST_ENTRIES: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Loads a guest's descriptors into GDT entries 0.. (the rest of its area
/// becomes null), each as [`hardware_descriptor`] validates it: never
/// verbatim, so a descriptor frame changed behind the page-type model's
/// back cannot put a gate or TSS into the GDT (it is loaded null instead,
/// and any use of it faults in the guest). `read(i)` gives descriptor `i`.
pub fn load_guest(entries: usize, read: impl Fn(usize) -> u64) {
    let entries = entries.min(FIRST_RESERVED_GDT_ENTRY);
    let previous = GUEST_ENTRIES.swap(entries, core::sync::atomic::Ordering::Relaxed);
    // SAFETY: one CPU; the guest area (entries below 7168) is never used by
    // the hypervisor's own selectors, and the GDT is reloaded by the CPU
    // only when a selector is loaded, after this returns.
    let gdt = unsafe { &mut (*core::ptr::addr_of_mut!(GDT)).0 };
    let mut refused = 0usize;
    for (i, slot) in gdt[..entries].iter_mut().enumerate() {
        let d = read(i);
        *slot = hardware_descriptor(d);
        refused += usize::from(*slot == 0 && d != 0);
    }
    for slot in gdt.iter_mut().take(previous.max(entries)).skip(entries) {
        *slot = 0;
    }
    if refused > 0 {
        log::warn!("guest GDT: {refused} descriptors changed since set_gdt checked them; loaded as null");
    }
}
