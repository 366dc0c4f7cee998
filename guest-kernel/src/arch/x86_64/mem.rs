//! Raw access to the guest's own memory and page-table hypercalls.

use abi::mmu::{MmuUpdate, MmuextOp};
use abi::{guest, DomId, Errno};
use core::sync::atomic::{AtomicU64, Ordering};

/// Hypercalls made through `mmu_update`, `mmuext`, `update_va`,
/// `decrease` and `populate` (`make modes` counts them per operation).
pub static HYPERCALLS: AtomicU64 = AtomicU64::new(0);

fn counted() {
    HYPERCALLS.fetch_add(1, Ordering::Relaxed);
}

/// Reads a u64 at `va` (mapped).
pub fn read(va: u64) -> u64 {
    // SAFETY: callers pass addresses inside the guest's mapped region.
    unsafe { (va as *const u64).read_volatile() }
}

/// Writes a u64 at `va`; faults if unmapped (used on purpose).
pub fn write(va: u64, v: u64) {
    // SAFETY: callers pass pages they own; an unmapped one faults into the
    // guest's own #PF handler, which maps it.
    unsafe { (va as *mut u64).write_volatile(v) }
}

/// `mmu_update` on the guest's own tables.
pub fn mmu_update(reqs: &[MmuUpdate]) -> Result<(), guest::BatchError> {
    counted();
    // SAFETY: the story only writes entries of tables that are not in use
    // yet, or the one demand-fault entry.
    unsafe { guest::mmu_update(reqs, DomId::SELF) }
}

/// `mmu_update` of `count` requests at guest address `reqs` (which may be
/// an alias of one frame over a huge range), progress in `done`.
pub fn mmu_update_raw(reqs: u64, count: u64, done: &mut u32) -> i64 {
    // SAFETY: used only with requests that write a data frame the guest
    // does not use for anything else; `done` is a valid u32.
    unsafe {
        abi::raw::hypercall5(
            abi::hypercall::HypercallNr::MMU_UPDATE.0,
            reqs,
            count,
            done as *mut u32 as u64,
            u64::from(DomId::SELF.0),
            0,
        )
    }
}

/// `memory_op(cmd, arg)` whose argument names a domain that is gone (test
/// modes): nothing of this guest changes.
pub fn memory_op_on_dead_domain(cmd: u64, arg: u64) -> i64 {
    // SAFETY: the argument names another domain, which does not exist, so
    // the call changes nothing; `arg` points at a valid structure.
    unsafe { abi::raw::hypercall5(abi::hypercall::HypercallNr::MEMORY_OP.0, cmd, arg, 0, 0, 0) }
}

/// `mmu_update` and `mmuext_op` naming a domain that is gone (test modes).
pub fn batches_on_dead_domain(dom: DomId) -> (Result<(), Errno>, Result<(), Errno>) {
    let req = [MmuUpdate { ptr: 0, val: 0 }];
    let op = [MmuextOp { cmd: abi::mmu::MMUEXT_TLB_FLUSH_LOCAL, pad: 0, arg1: 0, arg2: 0 }];
    // SAFETY: `dom` does not exist, so neither call changes anything.
    unsafe { (guest::mmu_update(&req, dom).map_err(|e| e.errno), guest::mmuext_op(&op, dom).map_err(|e| e.errno)) }
}

/// `mmuext_op` on the guest's own tables.
pub fn mmuext(ops: &[MmuextOp]) -> Result<(), guest::BatchError> {
    counted();
    // SAFETY: the new tables map everything the old ones did before the
    // switch, so code, stack and data stay mapped.
    unsafe { guest::mmuext_op(ops, DomId::SELF) }
}

/// `update_va_mapping`.
pub fn update_va(va: u64, val: u64, flags: u64) -> Result<(), Errno> {
    counted();
    // SAFETY: only pages the story owns are remapped.
    unsafe { guest::update_va_mapping(abi::GuestVa(va), abi::pagetable::Pte(val), flags) }
}

/// Executes a hypercall through `int 0x82` (xen-core extension) and returns RAX.
pub fn hypercall_int82(nr: u64, a1: u64, a2: u64) -> i64 {
    let ret: i64;
    // SAFETY: a hypercall without pointer arguments; without the extension
    // the guest's #GP handler skips the instruction and RAX keeps `nr`.
    unsafe {
        core::arch::asm!("int 0x82", inlateout("rax") nr as i64 => ret, in("rdi") a1, in("rsi") a2, lateout("rcx") _, lateout("r11") _);
    }
    ret
}

/// Executes a hypercall through `vmcall` (xen-core extension) and returns RAX.
pub fn hypercall_vmcall(nr: u64, a1: u64, a2: u64) -> i64 {
    let ret: i64;
    // SAFETY: as for `hypercall_int82`; without the extension #UD is
    // delivered and the handler skips the instruction.
    unsafe {
        core::arch::asm!("vmcall", inlateout("rax") nr as i64 => ret, in("rdi") a1, in("rsi") a2, lateout("rcx") _, lateout("r11") _);
    }
    ret
}

/// Executes `ud2` (an exception with no handler, on purpose).
pub fn ud2() {
    // SAFETY: raises #UD; used to show the hypervisor crashing a guest that
    // has no handler.
    unsafe { core::arch::asm!("ud2") };
}

/// CPUID through Xen's forced-emulation prefix (`ud2; .ascii "xen"; cpuid`).
pub fn xen_cpuid(leaf: u32) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    // SAFETY: the prefix makes the hypervisor emulate CPUID; no memory is touched.
    unsafe {
        core::arch::asm!(
            "mov {tmp:r}, rbx",
            "ud2",
            ".ascii \"xen\"",
            "cpuid",
            "xchg {tmp:r}, rbx",
            tmp = out(reg) b,
            inlateout("eax") leaf => a,
            inlateout("ecx") 0 => c,
            lateout("edx") d,
        );
    }
    [a, b, c, d]
}

/// Reads CR3 (emulated for PV kernels).
pub fn read_cr3() -> u64 {
    let v: u64;
    // SAFETY: the hypervisor emulates the privileged move.
    unsafe { core::arch::asm!("mov {}, cr3", out(reg) v) };
    v
}

/// Writes CR3 (emulated as NEW_BASEPTR for PV kernels).
pub fn write_cr3(v: u64) {
    // SAFETY: callers pass the current root again, or (PVH `make modes`)
    // a root of their own that maps the kernel, its stack and data as the
    // current one does.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) v) };
}

/// Gives frames back (`decrease_reservation`); returns how many went.
pub fn decrease(mfns: &mut [abi::Mfn]) -> u64 {
    counted();
    // SAFETY: the balloon only gives back frames above the story's free
    // cursor, which are never mapped or used, and drops them from the p2m.
    unsafe { guest::decrease_reservation(mfns) }
}

/// Takes frames back at `pfns` (`populate_physmap`), their MFNs into
/// `mfns`; returns how many came.
pub fn populate(pfns: &[abi::Pfn], mfns: &mut [abi::Mfn]) -> u64 {
    counted();
    guest::populate_physmap(pfns, mfns)
}

/// `grant_table_op(cmd)` over `ops`, returning raw RAX (statuses are in
/// the elements).
pub fn grant_op<T>(cmd: u64, ops: &mut [T]) -> i64 {
    // SAFETY: the callers pass the element type of `cmd`, and host mappings
    // only at addresses this kernel keeps for them.
    unsafe { guest::grant_table_op(cmd, ops) }
}

/// The current CS selector.
pub fn code_selector() -> u64 {
    let cs: u64;
    // SAFETY: reads a segment register.
    unsafe { core::arch::asm!("mov {0:r}, cs", out(reg) cs, options(nomem, nostack)) };
    cs & 0xFFFF
}

/// A native `iretq` to the next instruction with code selector `cs` and
/// the current SS, RSP and RFLAGS, as Linux's `sync_core()` does. If it
/// faults, the trap handler skips it (the caller sets SKIP_ON_FAULT to 2)
/// and the frame is dropped all the same.
pub fn iretq_to_self(cs: u64) {
    // SAFETY: the frame returns to the label below on this stack; R12
    // (callee-saved, so the trap handler keeps it) restores RSP whether
    // the iretq popped its frame or faulted.
    unsafe {
        core::arch::asm!(
            "mov r12, rsp",
            "mov eax, ss",
            "push rax",
            "push r12",
            "pushfq",
            "push {cs}",
            "lea rax, [rip + 2f]",
            "push rax",
            "iretq",
            "2:",
            "mov rsp, r12",
            cs = in(reg) cs,
            out("rax") _,
            out("r12") _,
        )
    };
}
