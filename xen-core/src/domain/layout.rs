//! The start-of-day virtual layout of a 64-bit PV guest (fact sheet §8.4):
//! one contiguous region from `VIRT_BASE`, mapping PFN *n* at
//! `VIRT_BASE + n × 4096`, holding in order the kernel, the initial ramdisk
//! (if any), the p2m list, the start_info page, the console ring page (domains
//! other than domain 0), the bootstrap page tables (read-only) and the boot
//! stack, padded to 4 MiB with at least 512 KiB free after the stack.
//!
//! The console page follows start_info as in Xen's PV domain builder
//! (libxenguest's `alloc_magic_pages`), which puts the xenstore page
//! between the two; xen-core has no store, so it has no store page.

use super::notes::KernelImage;
use abi::PAGE_SIZE;

/// Where everything is, as guest virtual addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Start of the region (`VIRT_BASE`), mapping PFN 0.
    pub v_start: u64,
    /// Kernel image, page-rounded end.
    pub kernel_end: u64,
    /// The initial ramdisk (start_info's `mod_start`), right after the
    /// kernel; equal to `kernel_end` when there is none.
    pub ramdisk: u64,
    /// The ramdisk's length in bytes (`mod_len`; 0 for none).
    pub ramdisk_len: u64,
    /// The p2m list.
    pub p2m: u64,
    /// Pages of the p2m list.
    pub p2m_pages: u64,
    /// The start_info page.
    pub start_info: u64,
    /// The console ring page, right after start_info (0 for none).
    pub console: u64,
    /// The first bootstrap page table (the L4).
    pub pt_base: u64,
    /// Number of bootstrap page-table frames.
    pub nr_pt_frames: u64,
    /// The boot stack page; RSP starts at its top.
    pub stack: u64,
    /// End of the mapped region.
    pub v_end: u64,
    /// Pages of the domain.
    pub nr_pages: u64,
}

/// Why a layout is impossible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// The initial region needs more pages than the domain has.
    ImageLargerThanMemory {
        /// Pages needed.
        needed: u64,
        /// Pages the domain has.
        available: u64,
    },
    /// The region would run into the hypervisor's range or wrap.
    OutOfRange,
}

impl core::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LayoutError::ImageLargerThanMemory { needed, available } => {
                write!(f, "image and start-of-day data need {needed} pages but the domain has {available}")
            }
            LayoutError::OutOfRange => write!(f, "initial mapping runs into the hypervisor's range"),
        }
    }
}

const fn round_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// Page tables needed to map `[start, end)` with 4 KiB pages.
pub fn tables_needed(start: u64, end: u64) -> u64 {
    let span = |shift: u32| ((end - 1) >> shift) - (start >> shift) + 1;
    1 + span(39) + span(30) + span(21)
}

impl Layout {
    /// Lays out `image` for a domain of `nr_pages` pages.
    pub fn compute(image: &KernelImage, nr_pages: u64) -> Result<Layout, LayoutError> {
        Layout::with_ramdisk(image, 0, nr_pages)
    }

    /// Lays out `image` and a ramdisk of `ramdisk_len` bytes (Xen's order:
    /// the ramdisk follows the kernel, page-aligned, inside the mapping,
    /// so `mod_start` is a virtual address).
    pub fn with_ramdisk(image: &KernelImage, ramdisk_len: u64, nr_pages: u64) -> Result<Layout, LayoutError> {
        Layout::with_console(image, ramdisk_len, nr_pages, false)
    }

    /// As [`Layout::with_ramdisk`], with a console ring page after
    /// start_info when `console` is set.
    pub fn with_console(
        image: &KernelImage,
        ramdisk_len: u64,
        nr_pages: u64,
        console: bool,
    ) -> Result<Layout, LayoutError> {
        let v_start = image.virt_base & !(PAGE_SIZE - 1);
        let kernel_end = round_up(image.kend, PAGE_SIZE);
        let ramdisk = kernel_end;
        // A ramdisk longer than any domain could hold cannot fit anyway.
        if ramdisk_len > nr_pages.saturating_mul(PAGE_SIZE) {
            let needed = ramdisk_len.div_ceil(PAGE_SIZE);
            return Err(LayoutError::ImageLargerThanMemory { needed, available: nr_pages });
        }
        let p2m = ramdisk.checked_add(round_up(ramdisk_len, PAGE_SIZE)).ok_or(LayoutError::OutOfRange)?;
        let p2m_pages = round_up(nr_pages * 8, PAGE_SIZE) / PAGE_SIZE;
        let start_info = p2m + p2m_pages * PAGE_SIZE;
        let console = if console { start_info + PAGE_SIZE } else { 0 };
        let pt_base = start_info + PAGE_SIZE * (1 + u64::from(console != 0));
        // The tables live inside the region they map: grow until they fit.
        let mut nr_pt_frames = 1;
        let (stack, v_end) = loop {
            let stack = pt_base + nr_pt_frames * PAGE_SIZE;
            let v_end = round_up(stack + PAGE_SIZE + (512 << 10), 4 << 20);
            let need = tables_needed(v_start, v_end);
            if need <= nr_pt_frames {
                break (stack, v_end);
            }
            nr_pt_frames = need;
        };
        let top_ok = if v_start < 1 << 47 { v_end <= 1 << 47 } else { v_end > v_start || v_end == 0 };
        if !top_ok || (v_start < abi::HYPERVISOR_VIRT_END && abi::HYPERVISOR_VIRT_START < v_end) {
            return Err(LayoutError::OutOfRange);
        }
        let needed = (v_end.wrapping_sub(v_start)) / PAGE_SIZE;
        if needed > nr_pages {
            return Err(LayoutError::ImageLargerThanMemory { needed, available: nr_pages });
        }
        Ok(Layout {
            v_start,
            kernel_end,
            ramdisk,
            ramdisk_len,
            p2m,
            p2m_pages,
            start_info,
            console,
            pt_base,
            nr_pt_frames,
            stack,
            v_end,
            nr_pages,
        })
    }

    /// PFN of virtual address `va` inside the region.
    pub fn pfn(&self, va: u64) -> u64 {
        (va - self.v_start) / PAGE_SIZE
    }

    /// Whether `va` lies in a bootstrap page table (mapped read-only).
    pub fn is_page_table(&self, va: u64) -> bool {
        (self.pt_base..self.pt_base + self.nr_pt_frames * PAGE_SIZE).contains(&va)
    }

    /// Pages mapped by the bootstrap tables.
    pub fn mapped_pages(&self) -> u64 {
        (self.v_end.wrapping_sub(self.v_start)) / PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(virt_base: u64, kstart: u64, kend: u64) -> KernelImage {
        KernelImage { virt_base, kstart, kend, entry: kstart, hypercall_page: None, paddr_offset: 0 }
    }

    #[test]
    fn elements_follow_each_other_page_aligned_without_overlap() {
        let base = 0xFFFF_FFFF_8000_0000;
        let l = Layout::compute(&image(base, base + 0x1000, base + 0x12345), 8192).unwrap();
        assert_eq!(l.kernel_end, base + 0x13000);
        assert_eq!(l.p2m, l.kernel_end);
        assert_eq!(l.p2m_pages, 16);
        assert_eq!(l.start_info, l.p2m + 16 * 4096);
        assert_eq!(l.pt_base, l.start_info + 4096);
        assert_eq!(l.stack, l.pt_base + l.nr_pt_frames * 4096);
        assert!(l.v_end >= l.stack + 4096 + (512 << 10));
        assert_eq!(l.v_end % (4 << 20), 0);
        for a in [l.p2m, l.start_info, l.pt_base, l.stack] {
            assert_eq!(a % 4096, 0);
        }
    }

    #[test]
    fn table_count_covers_the_whole_region() {
        let base = 0xFFFF_FFFF_8000_0000;
        let l = Layout::compute(&image(base, base, base + (20 << 20)), 16384).unwrap();
        assert!(l.nr_pt_frames >= tables_needed(l.v_start, l.v_end));
        // L4 + L3 + L2 + one L1 per 2 MiB.
        assert_eq!(tables_needed(base, base + (24 << 20)), 1 + 1 + 1 + 12);
        assert_eq!(tables_needed(0x3FE0_0000, 0x4020_0000), 1 + 1 + 2 + 2);
    }

    #[test]
    fn only_the_bootstrap_tables_are_page_tables() {
        let base = 0x40_0000;
        let l = Layout::compute(&image(base, base, base + 0x5000), 4096).unwrap();
        assert!(l.is_page_table(l.pt_base));
        assert!(l.is_page_table(l.pt_base + (l.nr_pt_frames - 1) * 4096));
        assert!(!l.is_page_table(l.stack));
        assert!(!l.is_page_table(l.start_info));
    }

    #[test]
    fn an_image_larger_than_its_memory_is_refused() {
        let base = 0x40_0000;
        assert!(matches!(
            Layout::compute(&image(base, base, base + (8 << 20)), 1024),
            Err(LayoutError::ImageLargerThanMemory { .. })
        ));
    }

    #[test]
    fn a_ramdisk_follows_the_kernel_page_aligned_and_the_rest_moves_up_by_its_pages() {
        let base = 0xFFFF_FFFF_8000_0000;
        let img = image(base, base, base + 0x12345);
        let plain = Layout::compute(&img, 8192).unwrap();
        assert_eq!((plain.ramdisk, plain.ramdisk_len), (plain.kernel_end, 0));
        let l = Layout::with_ramdisk(&img, 3 * 4096 + 1, 8192).unwrap();
        assert_eq!(l.ramdisk, l.kernel_end);
        assert_eq!(l.ramdisk_len, 3 * 4096 + 1);
        assert_eq!(l.p2m, l.ramdisk + 4 * 4096);
        assert_eq!(l.start_info, plain.start_info + 4 * 4096);
        assert!(!l.is_page_table(l.ramdisk));
        assert!(l.v_end >= l.stack + 4096 + (512 << 10));
    }

    #[test]
    fn a_console_page_follows_start_info_and_the_tables_move_up_one_page() {
        let base = 0xFFFF_FFFF_8000_0000;
        let img = image(base, base, base + 0x12345);
        let plain = Layout::with_ramdisk(&img, 4096, 8192).unwrap();
        assert_eq!(plain.console, 0);
        let l = Layout::with_console(&img, 4096, 8192, true).unwrap();
        assert_eq!(l.start_info, plain.start_info);
        assert_eq!(l.console, l.start_info + 4096);
        assert_eq!(l.pt_base, l.console + 4096);
        assert_eq!(l.stack, l.pt_base + l.nr_pt_frames * 4096);
        assert!(!l.is_page_table(l.console));
        assert!(l.v_end >= l.stack + 4096 + (512 << 10));
    }

    #[test]
    fn a_ramdisk_larger_than_memory_is_refused() {
        let base = 0x40_0000;
        let img = image(base, base, base + 0x5000);
        for len in [4096 * 4096, 4096 * 4000, u64::MAX] {
            assert!(matches!(Layout::with_ramdisk(&img, len, 4096), Err(LayoutError::ImageLargerThanMemory { .. })));
        }
    }

    #[test]
    fn a_region_running_into_the_hypervisor_hole_is_refused() {
        let base = 0x7FFF_FFE0_0000;
        assert_eq!(Layout::compute(&image(base, base, base + 0x1000), 1 << 20), Err(LayoutError::OutOfRange));
    }
}
