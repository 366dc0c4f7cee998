//! Start-of-day state: start_info, the p2m list, the M2P and the frames a
//! guest may use freely.
//!
//! At entry the domain builder has mapped one contiguous region from
//! [`VIRT_BASE`]: PFN *n* at `VIRT_BASE + n × 4096`, holding in order the
//! kernel image, the initial ramdisk (if any), the p2m list, the start_info
//! page, the console ring page (every domain but domain 0; see
//! [`crate::console_ring`]), the bootstrap page tables (mapped read-only) and the one-page boot
//! stack. The mapping continues over whole 4 MiB (at least 512 KiB past the
//! boot stack), so the frames after the stack are mapped, writable and
//! unused; every frame of the domain arrives zeroed. [`Layout`] computes
//! these ranges from start_info, and [`Boot::take_frame`] hands the unused
//! mapped frames out, each at most once.
#![forbid(unsafe_code)]

use crate::arch::start_of_day::{OwnedPage, StartOfDay};
use crate::VIRT_BASE;
use abi::start_info::StartInfo;
use abi::{GuestVa, Mfn, Pfn, PAGE_SIZE};

/// The p2m value of a PFN that has no frame (ballooned out).
pub const INVALID_MFN: Mfn = Mfn(u64::MAX);

/// The start-of-day regions, as PFNs (`VIRT_BASE + pfn × 4096`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Pages of the domain (start_info's `nr_pages`).
    pub nr_pages: u64,
    /// The first bootstrap page table (the L4 at start_info's `pt_base`).
    pub pt_base: Pfn,
    /// Number of bootstrap page-table frames.
    pub nr_pt_frames: u64,
    /// The boot stack page (RSP started at its top).
    pub boot_stack: Pfn,
    /// The first frame after the boot stack: free for the guest.
    pub first_free: Pfn,
    /// The first PFN the initial mapping does not cover.
    pub mapped_end: Pfn,
}

impl Layout {
    /// The layout described by `si`. The mapping's end follows the
    /// builder's rule: at least 512 KiB past the boot stack, rounded up to
    /// 4 MiB, never past the domain's pages.
    pub fn of(si: &StartInfo) -> Layout {
        let pt_base = Pfn(si.pt_base.wrapping_sub(VIRT_BASE) / PAGE_SIZE);
        let boot_stack = Pfn(pt_base.0 + si.nr_pt_frames);
        let first_free = Pfn(boot_stack.0 + 1);
        let per_4m = (4 << 20) / PAGE_SIZE;
        let mapped_end = (first_free.0 + (512 << 10) / PAGE_SIZE).div_ceil(per_4m) * per_4m;
        Layout {
            nr_pages: si.nr_pages,
            pt_base,
            nr_pt_frames: si.nr_pt_frames,
            boot_stack,
            first_free,
            mapped_end: Pfn(mapped_end.min(si.nr_pages)),
        }
    }

    /// The address PFN `pfn` is mapped at, if the initial mapping covers it.
    pub fn va(&self, pfn: Pfn) -> Option<GuestVa> {
        (pfn.0 < self.mapped_end.0).then(|| GuestVa(VIRT_BASE + pfn.0 * PAGE_SIZE))
    }

    /// Whether `pfn` holds a bootstrap page table (readable, never writable).
    pub fn is_page_table(&self, pfn: Pfn) -> bool {
        (self.pt_base.0..self.pt_base.0 + self.nr_pt_frames).contains(&pfn.0)
    }
}

/// What the runtime hands `main`: start_info and the start-of-day memory.
/// There is one per guest, so the frames it hands out are unique.
pub struct Boot {
    si: &'static StartInfo,
    layout: Layout,
    memory: StartOfDay,
}

/// A frame of the initial mapping that nothing else uses, owned by this
/// value: its contents can be borrowed safely, it can serve as a window
/// ([`crate::mm::map_frame`]) or be given back ([`crate::mm::balloon_out`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Frame(pub(crate) OwnedPage);

impl Boot {
    /// Wraps start_info, its layout and the proof of its memory (the
    /// runtime's entry does this once).
    #[cfg_attr(not(target_os = "none"), allow(dead_code))]
    pub(crate) fn new(si: &'static StartInfo, layout: Layout, memory: StartOfDay) -> Boot {
        Boot { si, layout, memory }
    }

    /// start_info, as the builder wrote it.
    pub fn start_info(&self) -> &'static StartInfo {
        self.si
    }

    /// The command line from start_info.
    pub fn cmdline(&self) -> &'static str {
        self.si.cmdline()
    }

    /// The start-of-day regions.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The start-of-day memory (for [`crate::mm`]).
    pub(crate) fn memory(&self) -> &StartOfDay {
        &self.memory
    }

    /// Whether this is domain 0 (`SIF_INITDOMAIN`).
    pub fn is_initial_domain(&self) -> bool {
        self.si.flags & abi::start_info::SIF_INITDOMAIN != 0
    }

    /// The p2m entry of `pfn`: the machine frame the domain's PFN maps to
    /// ([`INVALID_MFN`] once given back), or `None` past the list's end.
    pub fn p2m(&self, pfn: Pfn) -> Option<Mfn> {
        self.memory.p2m_entry(pfn)
    }

    /// Sets the p2m entry of `pfn` (after giving its frame back, or after
    /// `populate_physmap` gave it a new one). The p2m list is the guest's
    /// own bookkeeping: the hypervisor never reads it. A frame
    /// [`Boot::take_frame`] has still to hand out keeps its entry (the
    /// [`Frame`] it becomes owns the frame named there).
    pub fn set_p2m(&mut self, pfn: Pfn, mfn: Mfn) {
        assert!(pfn.0 < self.si.nr_pages, "p2m index {} past nr_pages", pfn.0);
        let set = self.memory.set_p2m_entry(pfn, mfn);
        assert!(set, "p2m entry {} is of a frame not yet handed out", pfn.0);
    }

    /// The M2P entry of `mfn` (the PFN the owner gave it), from the
    /// read-only table at `abi::MACH2PHYS_VIRT_START`; `None` past the
    /// table's mapped end (the highest frame below `maximum_ram_page`,
    /// asked once at entry). A frame the caller does not own may read as anything.
    pub fn m2p(&self, mfn: Mfn) -> Option<Pfn> {
        self.memory.m2p_entry(mfn)
    }

    /// The next unused frame of the initial mapping (see the module docs),
    /// or `None` once they are all handed out.
    pub fn take_frame(&mut self) -> Option<Frame> {
        self.memory.take_page().map(Frame)
    }
}

impl Frame {
    /// Its PFN.
    pub fn pfn(&self) -> Pfn {
        self.0.pfn()
    }

    /// Its machine frame.
    pub fn mfn(&self) -> Mfn {
        self.0.mfn()
    }

    /// Where it is mapped (read-write) in the initial mapping.
    pub fn va(&self) -> GuestVa {
        self.0.va()
    }

    /// Its 4096 bytes.
    pub fn bytes(&mut self) -> &mut [u8; 4096] {
        self.0.bytes()
    }

    /// Splits the value into its parts (the frame is then no longer owned
    /// by a `Frame`: for guests that manage it themselves).
    pub fn into_parts(self) -> (Pfn, Mfn, GuestVa) {
        self.0.into_parts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn si(nr_pages: u64, pt_base_pfn: u64, nr_pt_frames: u64) -> StartInfo {
        let mut si = StartInfo::zeroed();
        si.nr_pages = nr_pages;
        si.pt_base = VIRT_BASE + pt_base_pfn * PAGE_SIZE;
        si.nr_pt_frames = nr_pt_frames;
        si
    }

    #[test]
    fn free_frames_start_after_the_boot_stack_and_the_mapping_ends_on_4_mib() {
        let l = Layout::of(&si(8192, 40, 6));
        assert_eq!(l.boot_stack, Pfn(46));
        assert_eq!(l.first_free, Pfn(47));
        assert_eq!(l.mapped_end, Pfn(1024));
        assert!(l.is_page_table(Pfn(45)) && !l.is_page_table(Pfn(46)));
        assert_eq!(l.va(Pfn(1)), Some(GuestVa(VIRT_BASE + 4096)));
        assert_eq!(l.va(Pfn(1024)), None);
    }

    #[test]
    fn at_least_512_kib_follow_the_boot_stack() {
        // The stack ends 49 pages (under 512 KiB) before a 4 MiB boundary: the
        // mapping goes on to the next one.
        let l = Layout::of(&si(8192, 1000, 998));
        assert_eq!(l.first_free, Pfn(1999));
        assert_eq!(l.mapped_end, Pfn(3072));
    }

    #[test]
    fn the_mapping_never_runs_past_the_domain() {
        assert_eq!(Layout::of(&si(600, 40, 6)).mapped_end, Pfn(600));
    }
}
