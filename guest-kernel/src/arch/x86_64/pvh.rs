//! The raw instructions and memory accesses of guest-kernel's PVH side
//! (`crate::pvh`): hypercalls through the VMMCALL hypercall page, the MSR
//! write that asks for it, its one-gate IDT, TLB invalidation and volatile
//! access to its own RAM through its own mappings.

/// Calls the hypercall stub at `stub` (`mov eax, nr; vmmcall; ret`) with
/// Xen's first three argument registers; returns RAX.
pub fn hypercall(stub: u64, a1: u64, a2: u64, a3: u64) -> i64 {
    let r: i64;
    // SAFETY: callers pass a stub of the hypercall page the hypervisor
    // filled; a stub changes only RAX (the argument registers are marked
    // clobbered anyway).
    unsafe {
        core::arch::asm!("call {s}", s = in(reg) stub, inout("rdi") a1 => _, inout("rsi") a2 => _,
            inout("rdx") a3 => _, lateout("rax") r);
    }
    r
}

/// WRMSR `msr` = `value`.
pub fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the only caller writes the hypercall-page MSR the Xen CPUID
    // leaf names, with its own page's address; the hypervisor emulates it.
    unsafe { core::arch::asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32) };
}

/// Writes the #PF gate (vector 14: interrupt gate, ring 0, selector 0x08,
/// `handler`) into the IDT page at `idt` and loads an IDT of 15 gates.
pub fn load_pf_idt(idt: u64, handler: u64) {
    let lo = (handler & 0xFFFF) | (0x08 << 16) | (0x8E << 40) | ((handler >> 16) & 0xFFFF) << 48;
    let desc: [u16; 5] = [16 * 15 - 1, idt as u16, (idt >> 16) as u16, (idt >> 32) as u16, (idt >> 48) as u16];
    // SAFETY: the IDT page is the kernel's own, used for nothing else; the
    // gate names its handler in its code segment; LIDT reads the 10-byte
    // pseudo-descriptor on the stack.
    unsafe {
        let p = idt as *mut u64;
        p.add(28).write_volatile(lo);
        p.add(29).write_volatile(handler >> 32);
        core::arch::asm!("lidt [{}]", in(reg) desc.as_ptr());
    }
}

/// INVLPG `va`.
pub fn invlpg(va: u64) {
    // SAFETY: INVLPG only drops a TLB entry.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) va) };
}

/// The `T` at `va`.
pub fn read<T: Copy>(va: u64) -> T {
    // SAFETY: callers pass an address of the kernel's own RAM that its
    // tables map (the first GiB at VIRT_BASE, or its own scratch pages).
    unsafe { core::ptr::read_volatile(va as *const T) }
}

/// Writes `v` at `va`.
pub fn write<T: Copy>(va: u64, v: T) {
    // SAFETY: as for `read`, and the memory is the kernel's to write.
    unsafe { core::ptr::write_volatile(va as *mut T, v) }
}
