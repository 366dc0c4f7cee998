//! What the hostile guest knows about itself: its p2m, free frames, the
//! scratch pages of its initial mapping, its boot page tables (readable in
//! the initial mapping) and a low window it maps below 4 GiB; plus thin
//! wrappers for the hypercalls every mode uses.

use crate::arch::{self, hc};
use abi::hypercall::HypercallNr as N;
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::start_info::StartInfo;

/// Where the image and the initial mapping start (PFN n at VIRT_BASE + n × 4 KiB).
pub const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;
/// The read-only M2P.
pub const M2P: u64 = abi::MACH2PHYS_VIRT_START;
/// `DOMID_SELF`.
pub const SELF: u64 = 0x7FF0;
/// Read-only data mapping flags.
pub const RO: u64 = PRESENT | USER | ACCESSED;
/// Writable data mapping flags.
pub const RWF: u64 = PRESENT | RW | USER | ACCESSED;
/// Start of the low window (L4 slot 0, below 4 GiB for compatibility mode).
pub const LOW_BASE: u64 = 0x1000_0000;

/// An attack succeeded; the line saying how was printed when it was made.
#[derive(Debug)]
pub struct Broke;

/// Prints `hostile: ISOLATION BROKEN: <what>` and gives `Broke`.
#[macro_export]
macro_rules! broken {
    ($($arg:tt)*) => {{
        guest_kernel::say!("hostile: ISOLATION BROKEN: {}", format_args!($($arg)*));
        $crate::env::Broke
    }};
}

/// `Err(Broke)` from a format string (see [`broken!`]).
#[macro_export]
macro_rules! broke {
    ($($arg:tt)*) => { Err($crate::broken!($($arg)*)) };
}

/// The guest's view of itself.
pub struct Env {
    /// VA of the p2m list.
    pub p2m: u64,
    /// Pages of the domain (PFNs below this are its own).
    pub nr_pages: u64,
    /// The shared_info frame (the hypervisor's, mapped by the guest).
    pub shared_info: u64,
    /// Next free PFN, counting down (never mapped by the initial region).
    next_free: u64,
    /// Lowest PFN the initial mapping does not need (scratch pages above).
    first_free_in_region: u64,
    /// Next scratch page (mapped writable, unused), counting up.
    scratch_next: u64,
    /// MFN of the boot L4 (the live root).
    pub l4: u64,
    /// Frames the read-only M2P covers.
    pub m2p_frames: u64,
    /// The low window's L1, once built.
    low_l1: Option<u64>,
    /// The low window's L2, once built.
    pub low_l2: Option<u64>,
    /// Where its console ring page is mapped (0: it has none, domain 0).
    pub console_va: u64,
    /// The ring's event channel (start_info's `console_evtchn`).
    pub console_port: u32,
}

impl Env {
    /// Reads start_info.
    pub fn new(si: &'static StartInfo) -> Env {
        let p2m = si.mfn_list;
        let first_scratch = si.pt_base + (si.nr_pt_frames + 1) * 4096;
        let mut e = Env {
            p2m,
            nr_pages: si.nr_pages,
            shared_info: si.shared_info >> 12,
            next_free: si.nr_pages - 1,
            first_free_in_region: (first_scratch - VIRT_BASE) / 4096,
            scratch_next: first_scratch,
            l4: 0,
            low_l1: None,
            low_l2: None,
            m2p_frames: 0,
            console_va: 0,
            console_port: si.console_evtchn,
        };
        e.l4 = e.mfn((si.pt_base - VIRT_BASE) / 4096);
        // How far the M2P is mapped: probe one entry per page until a fault.
        let mut pages = 0;
        while pages < (1 << 12)
            && arch::catch(|| {
                let _ = arch::read(M2P + pages * 4096);
            })
            .is_none()
        {
            pages += 1;
        }
        e.m2p_frames = pages * 512;
        // The console ring lies in the initial mapping (after start_info).
        let pfn = if si.console_mfn == 0 { u64::MAX } else { e.m2p(si.console_mfn) };
        if pfn < e.first_free_in_region && e.mfn(pfn) == si.console_mfn {
            e.console_va = VIRT_BASE + pfn * 4096;
        }
        e
    }

    /// The MFN of `pfn` (from the p2m).
    pub fn mfn(&self, pfn: u64) -> u64 {
        arch::read(self.p2m + pfn * 8)
    }

    /// Records `pfn → mfn` in the p2m.
    pub fn set_mfn(&self, pfn: u64, mfn: u64) {
        arch::write(self.p2m + pfn * 8, mfn);
    }

    /// The M2P entry of `mfn`, or `u64::MAX` beyond the M2P.
    pub fn m2p(&self, mfn: u64) -> u64 {
        if mfn < self.m2p_frames {
            arch::read(M2P + mfn * 8)
        } else {
            u64::MAX
        }
    }

    /// Whether `mfn` is one of the guest's own image, data, stack or
    /// start-of-day frames (or the scratch pages after them): never to be
    /// written by the fuzzer's hypercalls.
    pub fn is_image(&self, mfn: u64) -> bool {
        let pfn = self.m2p(mfn);
        pfn < self.first_free_in_region + 128 && self.mfn(pfn) == mfn
    }

    /// A fresh frame, never mapped, cleared; returns (pfn, mfn).
    pub fn fresh(&mut self) -> (u64, u64) {
        assert!(self.next_free > self.first_free_in_region + 128, "out of fresh frames");
        let pfn = self.next_free;
        self.next_free -= 1;
        let m = self.mfn(pfn);
        let _ = me(MMUEXT_CLEAR_PAGE, m, 0);
        (pfn, m)
    }

    /// A scratch page of the initial mapping: (va, mfn), mapped writable
    /// and used by nothing else.
    pub fn scratch(&mut self) -> (u64, u64) {
        let va = self.scratch_next;
        self.scratch_next += 4096;
        assert!(self.scratch_next <= (self.first_free_in_region + 128) * 4096 + VIRT_BASE, "out of scratch pages");
        (va, self.mfn((va - VIRT_BASE) / 4096))
    }

    /// PFNs of the image and start-of-day data (the scratch pages follow).
    pub fn image_pages(&self) -> u64 {
        self.first_free_in_region
    }

    /// The PFN mapped at `va` by the initial mapping.
    pub fn pfn_of_va(va: u64) -> u64 {
        (va - VIRT_BASE) / 4096
    }

    /// Where a frame of the initial region is readable (boot tables, image).
    pub fn region_va(&self, mfn: u64) -> u64 {
        VIRT_BASE + self.m2p(mfn) * 4096
    }

    /// Reads entry `index` of a boot page table (mapped read-only).
    pub fn boot_entry(&self, table: u64, index: u64) -> u64 {
        arch::read(self.region_va(table) + index * 8)
    }

    /// The boot L2 that maps VIRT_BASE.
    pub fn boot_l2(&self) -> u64 {
        let l3 = (self.boot_entry(self.l4, 511) & ADDR_MASK) >> 12;
        (self.boot_entry(l3, 510) & ADDR_MASK) >> 12
    }

    /// Maps `mfn` at page `i` of the low window with `flags`, building the
    /// window (L3 in L4 slot 0, L2, L1) the first time. Returns the VA.
    pub fn map_low(&mut self, i: u64, mfn: u64, flags: u64) -> u64 {
        let l1 = match self.low_l1 {
            Some(l1) => l1,
            None => {
                let (_, l3) = self.fresh();
                let (_, l2) = self.fresh();
                let (_, l1) = self.fresh();
                let li = (LOW_BASE >> 21) & 511;
                let ok = mu(entry(l2, li), (l1 << 12) | RWF) == 0
                    && mu(entry(l3, 0), (l2 << 12) | RWF) == 0
                    && mu(entry(self.l4, 0), (l3 << 12) | RWF) == 0;
                assert!(ok, "building the low window failed");
                self.low_l1 = Some(l1);
                self.low_l2 = Some(l2);
                l1
            }
        };
        let r = mu(entry(l1, i), (mfn << 12) | flags);
        assert!(r == 0, "mapping the low window failed: {r}");
        let va = LOW_BASE + i * 4096;
        let _ = me(MMUEXT_INVLPG_LOCAL, va, 0);
        va
    }
}

/// The machine address of entry `index` of table `mfn`.
pub fn entry(mfn: u64, index: u64) -> u64 {
    (mfn << 12) + index * 8
}

/// Hypercall `nr` with up to five arguments.
pub fn call(nr: N, a: &[u64]) -> i64 {
    let mut args = [0u64; 5];
    args[..a.len()].copy_from_slice(a);
    hc(nr.0, args)
}

/// One `mmu_update` request on our own tables.
pub fn mu(ptr: u64, val: u64) -> i64 {
    let req = [MmuUpdate { ptr, val }];
    call(N::MMU_UPDATE, &[req.as_ptr() as u64, 1, 0, SELF])
}

/// One `mmuext_op`.
pub fn me(cmd: u32, arg1: u64, arg2: u64) -> i64 {
    let op = [MmuextOp { cmd, pad: 0, arg1, arg2 }];
    call(N::MMUEXT_OP, &[op.as_ptr() as u64, 1, 0, SELF])
}

/// `update_va_mapping`.
pub fn uvm(va: u64, val: u64, flags: u64) -> i64 {
    call(N::UPDATE_VA_MAPPING, &[va, val, flags])
}

/// A reservation argument.
pub fn reservation(array: u64, n: u64, order: u32, dom: u16) -> abi::memory::MemoryReservation {
    abi::memory::MemoryReservation {
        extent_start: array,
        nr_extents: n,
        extent_order: order,
        mem_flags: 0,
        domid: abi::DomId(dom),
        pad: [0; 6],
    }
}

/// `memory_op(cmd, &reservation)`.
pub fn memory_op(cmd: u64, r: &abi::memory::MemoryReservation) -> i64 {
    call(N::MEMORY_OP, &[cmd, r as *const _ as u64])
}

/// `current_reservation` / `maximum_reservation` of `dom`.
pub fn reservation_of(cmd: u64, dom: u16) -> i64 {
    call(N::MEMORY_OP, &[cmd, &dom as *const u16 as u64])
}
