//! Host physical addresses and half-open physical ranges.

use abi::Mfn;

/// A host physical (machine) byte address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct PhysAddr(pub u64);

impl PhysAddr {
    /// The frame containing this address.
    pub const fn mfn(self) -> Mfn {
        Mfn(self.0 >> abi::PAGE_SHIFT)
    }

    /// The first byte of frame `mfn`.
    pub const fn of_mfn(mfn: Mfn) -> PhysAddr {
        PhysAddr(mfn.0 << abi::PAGE_SHIFT)
    }
}

/// A half-open range `[start, end)` of physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct PhysRange {
    /// First byte.
    pub start: PhysAddr,
    /// One past the last byte.
    pub end: PhysAddr,
}

impl PhysRange {
    /// `[start, end)`; an inverted range is empty.
    pub const fn new(start: u64, end: u64) -> PhysRange {
        PhysRange { start: PhysAddr(start), end: PhysAddr(if end < start { start } else { end }) }
    }

    /// `[start, start + len)`, or `None` if it would wrap.
    pub fn from_len(start: u64, len: u64) -> Option<PhysRange> {
        Some(PhysRange::new(start, start.checked_add(len)?))
    }

    /// Size in bytes.
    pub const fn len(&self) -> u64 {
        self.end.0 - self.start.0
    }

    /// Whether the range holds no byte.
    pub const fn is_empty(&self) -> bool {
        self.end.0 <= self.start.0
    }

    /// Whether the two ranges share at least one byte.
    pub const fn overlaps(&self, other: &PhysRange) -> bool {
        self.start.0 < other.end.0 && other.start.0 < self.end.0
    }

    /// Whether `addr` lies inside the range.
    pub const fn contains(&self, addr: PhysAddr) -> bool {
        self.start.0 <= addr.0 && addr.0 < self.end.0
    }

    /// The whole frames inside the range (start rounded up, end rounded down).
    pub const fn frames_inside(&self) -> (Mfn, Mfn) {
        let first = self.start.0.div_ceil(abi::PAGE_SIZE);
        let end = self.end.0 / abi::PAGE_SIZE;
        (Mfn(first), Mfn(if end < first { first } else { end }))
    }

    /// The frames touched by the range (start rounded down, end rounded up).
    pub const fn frames_touched(&self) -> (Mfn, Mfn) {
        (Mfn(self.start.0 / abi::PAGE_SIZE), Mfn(self.end.0.div_ceil(abi::PAGE_SIZE)))
    }
}
