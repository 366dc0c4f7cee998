//! Shadow entries computed from guest entries and the p2m.
//!
//! Each shadow copies its guest entry's restrictions (RW, US, NX), so the
//! shadow of a guest table is the same whichever path reaches it, and the
//! rights of a shadow translation are the guest's, level by level, further
//! narrowed by the p2m and the write protection of page-table pages:
//! * write only if the guest entry is dirty (the first write faults, so
//!   the hypervisor sets the guest's D bit as the hardware would), the p2m
//!   allows it and the frame backs no shadowed guest table;
//! * execute only if neither the guest nor the p2m forbids it.
//!
//! Shadow entries never set G (a CR3 switch flushes everything) nor PS
//! (a guest 2 MiB page is shadowed by a table of 4 KiB entries). The
//! guest's cache attributes (PWT, PCD, PAT) are not carried over yet:
//! RAM is mapped write-back, MMIO uncached.

use crate::p2m::{P2mEntry, P2mType};
use abi::mmu::pte::{ACCESSED, DIRTY, NX, PCD, PRESENT, PWT, RW, USER};
use abi::Mfn;

/// Shadow of a guest L4/L3/L2 table entry `guest` pointing at the shadow
/// table `child`.
pub const fn upper(guest: u64, child: Mfn) -> u64 {
    child.to_maddr() | PRESENT | ACCESSED | (guest & (RW | USER | NX))
}

/// Shadow of a guest 2 MiB entry `guest`, pointing at the split table
/// `split`: its rights are the guest entry's (write only once dirty).
pub const fn upper_2m(guest: u64, split: Mfn) -> u64 {
    let mut v = split.to_maddr() | PRESENT | ACCESSED | (guest & (USER | NX));
    if guest & RW != 0 && guest & DIRTY != 0 {
        v |= RW;
    }
    v
}

/// The leaf mapping `p` with the guest's `user`/`write`/`nx` choices;
/// `protected` says the frame backs a shadowed guest page table.
const fn leaf_bits(p: P2mEntry, user: bool, write: bool, nx: bool, protected: bool) -> u64 {
    let mut v = p.mfn.to_maddr() | PRESENT | ACCESSED;
    if user {
        v |= USER;
    }
    if write && p.rights.write && !protected {
        v |= RW | DIRTY;
    }
    if nx || !p.rights.exec {
        v |= NX;
    }
    if matches!(p.ty, P2mType::Mmio) {
        v |= PCD | PWT;
    }
    v
}

/// Shadow of the guest L1 entry `guest`, whose frame the p2m maps as `p`.
pub const fn leaf(guest: u64, p: P2mEntry, protected: bool) -> u64 {
    let write = guest & RW != 0 && guest & DIRTY != 0;
    leaf_bits(p, guest & USER != 0, write, guest & NX != 0, protected)
}

/// One 4 KiB entry of the split table of a guest 2 MiB page: the guest's
/// restrictions are in the entry above it ([`upper_2m`]).
pub const fn split_leaf(p: P2mEntry, protected: bool) -> u64 {
    leaf_bits(p, true, true, false, protected)
}
