//! Vector stores for the boot's bulk fills: the frame table, the M2P and
//! the scrub of the frames domains are built from (and of those the TSC
//! calibration's wait scrubs). Under QEMU's `-icount` a `rep stosq` counts
//! one instruction per 8-byte element (513 per 4 KiB frame); a 16-byte SSE2
//! store (baseline on x86_64) is one per 16 bytes and a 32-byte AVX store
//! one per 32 (131 per frame, unrolled a frame per loop turn).
//!
//! Before the first domain runs the hypervisor owns the vector registers
//! outright: no guest state is live in them. After it, they hold the
//! running domain's state (saved only with FXSAVE, which does not cover
//! the upper YMM halves), so these stores must never run again. That is
//! what [`BootVector`] is for: a token with one constructor, which
//! succeeds once, taken on the boot path and consumed (dropped) by
//! `domains::run_domains` before the first guest instruction. Every fill
//! here takes `&BootVector` (or [`BootMem`], which borrows it), so code
//! after boot cannot call one: the idle loop's scrub and the allocation
//! path's keep [`DirectMap`]'s `rep stosq`.
//!
//! AVX needs CR4.OSXSAVE and XCR0's SSE and AVX bits, which xen-core never
//! leaves set for guests (see [`crate::domain::fpu`]: the CPUID policy
//! hides OSXSAVE and FXSAVE is the whole switch). The token sets them only
//! when CPUID offers AVX and XSAVE, and its drop puts them back (VZEROALL
//! first, so no upper half holds anything: it only ever held a fill
//! pattern) before any guest runs. A CPU without AVX gets the SSE2 stores.

use super::cpu;
use super::paging::{DirectMap, DIRECT_MAP_BASE};
use crate::mm::{PhysAddr, PhysMemory};
use abi::Mfn;
use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// CR4.OSXSAVE: XSETBV/XGETBV and VEX-encoded instructions are allowed.
const CR4_OSXSAVE: u64 = 1 << 18;
/// XCR0's x87, SSE and AVX state components.
const XCR0_X87_SSE_AVX: u64 = 0b111;

static TAKEN: AtomicBool = AtomicBool::new(false);

/// Leave to use the vector registers for bulk fills: boot only. See the
/// module documentation.
pub struct BootVector {
    /// 32-byte AVX stores (else 16-byte SSE2 ones).
    avx: bool,
    /// CR4 and XCR0 as they were, restored on drop (XCR0 only with `avx`).
    cr4: u64,
    xcr0: u64,
}

fn xgetbv0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: only called with CR4.OSXSAVE set; XCR0 read, no side effect.
    unsafe { asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    (u64::from(hi) << 32) | u64::from(lo)
}

/// # Safety
/// CR4.OSXSAVE is set and `value` has bit 0 set and only bits CPUID leaf
/// 0xD reports.
unsafe fn xsetbv0(value: u64) {
    // SAFETY: guaranteed by the caller.
    unsafe {
        asm!("xsetbv", in("ecx") 0, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nomem, nostack))
    };
}

impl BootVector {
    /// The token, the first time only (`None` after). Call once the FPU is
    /// set up (`fpu::init`: CR4.OSFXSR, CR0.TS clear) and before any
    /// guest has run.
    pub fn take() -> Option<BootVector> {
        if TAKEN.swap(true, Relaxed) {
            return None;
        }
        let cr4 = cpu::cr4();
        let leaf1 = cpu::cpuid(1, 0);
        let (xsave, avx) = (leaf1.ecx & (1 << 26) != 0, leaf1.ecx & (1 << 28) != 0);
        let xcr0_ok = cpu::cpuid(0, 0).eax >= 0xD && cpu::cpuid(0xD, 0).eax & 0b110 == 0b110;
        if !(xsave && avx && xcr0_ok) || cr4 & CR4_OSXSAVE != 0 {
            return Some(BootVector { avx: false, cr4, xcr0: 0 });
        }
        // SAFETY: CPUID reports XSAVE, AVX and XCR0's SSE and AVX bits; no
        // guest has run, and the drop below clears both again.
        let xcr0 = unsafe {
            cpu::set_cr4(cr4 | CR4_OSXSAVE);
            let xcr0 = xgetbv0();
            xsetbv0(xcr0 | XCR0_X87_SSE_AVX);
            xcr0
        };
        Some(BootVector { avx: true, cr4, xcr0 })
    }

    /// Whether the fills use 32-byte AVX stores.
    pub fn avx(&self) -> bool {
        self.avx
    }

    /// Fills `frames` whole frames from `first` with the 16-byte `pattern`
    /// (little-endian words) repeated. The caller owns them. Not inlined:
    /// one copy of the unrolled loops (3 KiB) for every caller.
    #[inline(never)]
    pub fn fill_frames(&self, first: Mfn, frames: u64, pattern: [u64; 2]) {
        if frames == 0 {
            return;
        }
        let dst = (DIRECT_MAP_BASE + first.to_maddr()) as *mut u8;
        let end = dst.wrapping_add((frames * 4096) as usize);
        let pat = Pattern(pattern);
        if self.avx {
            // SAFETY: [dst, end) is whole RAM frames in the direct map the
            // caller owns, 4 KiB-aligned, so every 32-byte store is aligned
            // and inside. AVX is enabled (the token's `take`). YMM0 is
            // clobbered without a declaration: the target is soft-float, so
            // compiled code never holds a value in a vector register.
            unsafe {
                asm!(
                    "vbroadcastf128 ymm0, xmmword ptr [{pat}]",
                    "2:",
                    ".irp hi, 0, 1024, 2048, 3072",
                    ".irp lo, 0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800, 832, 864, 896, 928, 960, 992",
                    "vmovdqa ymmword ptr [{p} + \\hi + \\lo], ymm0",
                    ".endr",
                    ".endr",
                    "add {p}, 4096",
                    "cmp {p}, {end}",
                    "jne 2b",
                    p = inout(reg) dst => _,
                    end = in(reg) end,
                    pat = in(reg) &pat,
                    options(nostack),
                );
            }
        } else {
            // SAFETY: as above, with 16-byte stores; SSE is enabled
            // (`fpu::init`, CR4.OSFXSR), and XMM0 is clobbered likewise.
            unsafe {
                asm!(
                    "movups xmm0, xmmword ptr [{pat}]",
                    "2:",
                    ".irp hi, 0, 256, 512, 768, 1024, 1280, 1536, 1792, 2048, 2304, 2560, 2816, 3072, 3328, 3584, 3840",
                    ".irp lo, 0, 16, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240",
                    "movaps xmmword ptr [{p} + \\hi + \\lo], xmm0",
                    ".endr",
                    ".endr",
                    "add {p}, 4096",
                    "cmp {p}, {end}",
                    "jne 2b",
                    p = inout(reg) dst => _,
                    end = in(reg) end,
                    pat = in(reg) &pat,
                    options(nostack),
                );
            }
        }
    }

    /// Zeroes `frames` whole frames from `first`. The caller owns them.
    pub fn zero_frames(&self, first: Mfn, frames: u64) {
        self.fill_frames(first, frames, [0, 0]);
    }
}

/// The fill pattern, aligned for the 16-byte load.
#[repr(C, align(16))]
struct Pattern([u64; 2]);

impl Drop for BootVector {
    /// Puts the vector registers back as guests may see them: every
    /// register zero (the fills' pattern gone) and, with AVX, XCR0 and
    /// CR4.OSXSAVE as they were.
    fn drop(&mut self) {
        if self.avx {
            // SAFETY: AVX is still enabled; VZEROALL zeroes YMM0-15; XCR0
            // goes back to the value read with OSXSAVE set, then OSXSAVE
            // is cleared as it was.
            unsafe {
                asm!("vzeroall", options(nomem, nostack, preserves_flags));
                xsetbv0(self.xcr0);
                cpu::set_cr4(self.cr4);
            }
        } else {
            // SAFETY: SSE is enabled; only XMM0 was written.
            unsafe { asm!("xorps xmm0, xmm0", options(nomem, nostack, preserves_flags)) };
        }
    }
}

/// The direct map, with [`BootVector`]'s stores for zeroing: what the boot
/// path hands the frame allocator (the calibration's scrub, domain 0's
/// frames). Borrowing the token, it cannot outlive the boot.
pub struct BootMem<'a>(pub &'a BootVector);

impl PhysMemory for BootMem<'_> {
    fn read_u64(&self, addr: PhysAddr) -> u64 {
        DirectMap.read_u64(addr)
    }
    fn write_u64(&mut self, addr: PhysAddr, value: u64) {
        DirectMap.write_u64(addr, value)
    }
    fn write_bytes(&mut self, addr: PhysAddr, bytes: &[u8]) {
        DirectMap.write_bytes(addr, bytes)
    }
    fn copy_bytes(&mut self, dst: PhysAddr, src: PhysAddr, len: usize) {
        DirectMap.copy_bytes(dst, src, len)
    }
    fn next_present(&self, table: Mfn, from: usize, to: usize) -> usize {
        DirectMap.next_present(table, from, to)
    }
    fn zero_frame(&mut self, mfn: Mfn) {
        self.0.zero_frames(mfn, 1)
    }
    fn zero_frames(&mut self, first: Mfn, count: u64) {
        self.0.zero_frames(first, count)
    }
}
