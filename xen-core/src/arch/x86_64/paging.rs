//! The hypervisor's final page tables and the direct map.
//!
//! The boot tables (2 MiB pages, identity map of low memory, everything
//! writable and executable) are replaced by tables built with
//! [`crate::mm::hv_map`]: the image with exact per-section rights, a guard
//! page under the boot stack, and every usable RAM range in the direct map
//! (RW, NX). Nothing is mapped outside L4 slots 256–271, and the start of
//! slot 256 is left free for the guests' read-only M2P table.

use super::cpu;
use crate::mm::hv_map::{audit_wx, HvMapper, MapError, Rights, WxAudit};
use crate::mm::{FrameAllocator, PhysAddr, PhysMemory, PhysRange};
use abi::Mfn;

/// Virtual base of the direct map of machine memory (L4 slot 262).
pub const DIRECT_MAP_BASE: u64 = 0xFFFF_8300_0000_0000;
/// The boot page tables map this much of low memory into the direct map.
pub const BOOT_DIRECT_MAP_LIMIT: u64 = 4 << 30;

extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __image_end: u8;
    static _phys_image_start: u8;
    static boot_stack_bottom: u8;
}

fn sym(s: *const u8) -> u64 {
    s as u64
}

/// The image's virtual and physical extent and section boundaries.
pub struct ImageLayout {
    /// First virtual address.
    pub start: u64,
    /// End of text (RX).
    pub text_end: u64,
    /// End of rodata (R).
    pub rodata_end: u64,
    /// End of data, bss and stacks (RW).
    pub end: u64,
    /// The unmapped page below the boot stack.
    pub stack_guard: u64,
    /// Physical address of `start`.
    pub phys_start: u64,
}

impl ImageLayout {
    /// Reads the layout from the linker symbols.
    pub fn get() -> ImageLayout {
        ImageLayout {
            start: sym(&raw const __image_start),
            text_end: sym(&raw const __text_end),
            rodata_end: sym(&raw const __rodata_end),
            end: sym(&raw const __image_end),
            stack_guard: sym(&raw const boot_stack_bottom),
            phys_start: sym(&raw const _phys_image_start),
        }
    }

    /// Physical address of virtual image address `va`.
    pub fn phys(&self, va: u64) -> PhysAddr {
        PhysAddr(va - self.start + self.phys_start)
    }

    /// The image's physical range.
    pub fn phys_range(&self) -> PhysRange {
        PhysRange::new(self.phys_start, self.phys_start + (self.end - self.start))
    }
}

/// Machine memory seen through the direct map.
pub struct DirectMap;

impl DirectMap {
    fn ptr(addr: PhysAddr) -> *mut u64 {
        (DIRECT_MAP_BASE + addr.0) as *mut u64
    }

    /// A byte slice of machine memory.
    ///
    /// Returns `None` unless the range lies below `limit`, the extent the
    /// direct map is known to cover at this point of boot.
    pub fn bytes(range: PhysRange, limit: u64) -> Option<&'static [u8]> {
        if range.end.0 > limit {
            return None;
        }
        // SAFETY: the range is inside the direct map, which stays mapped for
        // the hypervisor's lifetime; callers only read boot-time data that
        // the frame allocator never hands out.
        Some(unsafe {
            core::slice::from_raw_parts((DIRECT_MAP_BASE + range.start.0) as *const u8, range.len() as usize)
        })
    }
}

impl PhysMemory for DirectMap {
    fn read_u64(&self, addr: PhysAddr) -> u64 {
        // SAFETY: callers pass frame addresses of RAM, all of which is in the
        // direct map; the access is aligned.
        unsafe { Self::ptr(addr).read_volatile() }
    }

    fn write_u64(&mut self, addr: PhysAddr, value: u64) {
        // SAFETY: as for `read_u64`; the frame belongs to the caller.
        unsafe { Self::ptr(addr).write_volatile(value) }
    }

    fn next_present(&self, table: Mfn, from: usize, to: usize) -> usize {
        debug_assert!(to <= 512);
        let base = Self::ptr(PhysAddr::of_mfn(table)).cast_const();
        let mut i = from;
        // Eight entries per turn, their present bits OR-ed: an empty slot
        // costs about 1.6 instructions.
        // SAFETY: every index read is below `to` ≤ 512, inside the RAM frame
        // `table`, which is in the direct map; plain reads of words the
        // guest cannot write (the frame is a page table, or has no type).
        unsafe {
            // Dense tables first: the very next entry is often present.
            if i < to && base.add(i).read() & 1 != 0 {
                return i;
            }
            while i + 8 <= to {
                let p = base.add(i);
                let any = p.read()
                    | p.add(1).read()
                    | p.add(2).read()
                    | p.add(3).read()
                    | p.add(4).read()
                    | p.add(5).read()
                    | p.add(6).read()
                    | p.add(7).read();
                if any & 1 != 0 {
                    break;
                }
                i += 8;
            }
            while i < to && base.add(i).read() & 1 == 0 {
                i += 1;
            }
        }
        i
    }

    #[inline(always)]
    fn copy_bytes(&mut self, dst: PhysAddr, src: PhysAddr, len: usize) {
        let (d, s, n) = (dst.0, src.0, len as u64);
        // Whole words between ranges that do not overlap (a grant copy of
        // a page): one `rep movsq`, without `memmove`'s alignment and
        // direction set-up. Anything else keeps `memmove`'s semantics.
        if (d | s | n) & 7 == 0 && (d + n <= s || s + n <= d) {
            // SAFETY: as below; the ranges are disjoint, so a forward
            // word copy is what `copy` would do. RDI/RSI/RCX are clobbered
            // and declared; DF is clear (the ABI's state in Rust code).
            unsafe {
                core::arch::asm!(
                    "rep movsq",
                    inout("rdi") Self::ptr(dst) => _,
                    inout("rsi") Self::ptr(src) => _,
                    inout("rcx") n / 8 => _,
                    options(nostack, preserves_flags),
                );
            }
            return;
        }
        // SAFETY: callers pass ranges inside RAM frames they hold references
        // on, all in the direct map; `copy` allows any overlap.
        unsafe { core::ptr::copy(Self::ptr(src).cast::<u8>(), Self::ptr(dst).cast::<u8>(), len) }
    }

    fn write_bytes(&mut self, addr: PhysAddr, bytes: &[u8]) {
        // One copy, not the trait's word-by-word merge: domain building
        // loads kernels and ramdisks through here (155 K bytes of ELF cost
        // 2.8 M instructions byte by byte).
        // SAFETY: as for `write_u64`: RAM the caller owns, inside the direct
        // map, which is contiguous, so the range may cross frames.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), Self::ptr(addr).cast::<u8>(), bytes.len()) }
    }

    fn zero_frame(&mut self, mfn: Mfn) {
        // SAFETY: a whole RAM frame inside the direct map, owned by the caller.
        unsafe { core::ptr::write_bytes(Self::ptr(PhysAddr::of_mfn(mfn)).cast::<u8>(), 0, 4096) }
    }
}

/// Builds the final tables, switches to them and audits W^X.
pub fn build_and_load(
    frames: &mut FrameAllocator,
    ram: impl Iterator<Item = PhysRange>,
    nx: bool,
) -> Result<WxAudit, MapError> {
    let image = ImageLayout::get();
    let mut mem = DirectMap;
    let root = frames.alloc(&mem).ok_or(MapError::OutOfFrames)?;
    mem.zero_frame(root);
    let mut m = HvMapper { mem: &mut mem, frames, root, nx };
    let sections = [
        (image.start, image.text_end, Rights::RX),
        (image.text_end, image.rodata_end, Rights::R),
        (image.rodata_end, image.stack_guard, Rights::RW),
        (image.stack_guard + 4096, image.end, Rights::RW),
    ];
    for (start, end, rights) in sections {
        m.map(start, image.phys(start), end - start, rights, false)?;
    }
    for range in ram {
        let (first, end) = range.frames_touched();
        let pa = PhysAddr::of_mfn(first);
        m.map(DIRECT_MAP_BASE + pa.0, pa, (end.0 - first.0) * 4096, Rights::RW, true)?;
    }
    // SAFETY: the new tree maps the image (text, data, this stack) at the
    // same virtual addresses and the direct map at the same base as the boot
    // tables; only the identity map of low memory disappears, and nothing
    // uses it after the jump to 64-bit code.
    unsafe {
        cpu::set_cr3(root.to_maddr());
        cpu::set_cr4(cpu::cr4() | cpu::CR4_PGE);
    }
    Ok(audit_wx(&DirectMap, root, nx))
}
