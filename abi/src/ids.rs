//! Newtypes for the address spaces and identifiers of the PV ABI.
//!
//! Conversions between address kinds are explicit: a [`Pfn`] becomes an
//! [`Mfn`] only through a domain's p2m list, never by arithmetic.

/// A machine frame number: a 4 KiB frame of host physical memory.
/// PV guests see and use machine frame numbers directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Mfn(pub u64);

/// A pseudo-physical frame number: an index into a domain's own contiguous
/// view of its memory (its p2m list).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Pfn(pub u64);

/// A guest frame number: a 4 KiB frame of a translated (PVH) guest's
/// guest-physical address space. The hypervisor turns it into an [`Mfn`]
/// through the domain's p2m; the guest never sees machine frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Gfn(pub u64);

/// A guest virtual address, as passed in hypercall pointer arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct GuestVa(pub u64);

/// A domain identifier (16 bits on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct DomId(pub u16);

impl DomId {
    /// "The calling domain". Passing one's own numeric id instead is refused
    /// with `-ESRCH` where Xen refuses it.
    pub const SELF: DomId = DomId(0x7FF0);
    /// The pseudo-domain owning I/O memory.
    pub const IO: DomId = DomId(0x7FF1);
    /// The pseudo-domain owning the hypervisor's own frames.
    pub const XEN: DomId = DomId(0x7FF2);
    /// The pseudo-domain owning copy-on-write shared frames.
    pub const COW: DomId = DomId(0x7FF3);
    /// No domain.
    pub const INVALID: DomId = DomId(0x7FF4);
    /// Ids at or above this value are reserved for special meanings.
    pub const FIRST_RESERVED: DomId = DomId(0x7FF0);

    /// Whether this id names an ordinary (non-reserved) domain.
    pub const fn is_ordinary(self) -> bool {
        self.0 < Self::FIRST_RESERVED.0
    }
}

impl Mfn {
    /// Machine address of the first byte of this frame.
    pub const fn to_maddr(self) -> u64 {
        self.0 << crate::PAGE_SHIFT
    }
}

impl Gfn {
    /// Guest-physical address of the first byte of this frame.
    pub const fn to_gpa(self) -> u64 {
        self.0 << crate::PAGE_SHIFT
    }
}

impl GuestVa {
    /// Whether a guest may pass this address as a pointer: below 2^47, or at
    /// or above [`crate::HYPERVISOR_VIRT_END`] (and therefore outside the
    /// hypervisor's reserved range and canonical).
    pub const fn is_guest_accessible(self) -> bool {
        self.0 < (1 << 47) || self.0 >= crate::HYPERVISOR_VIRT_END
    }

    /// Whether the range `[self, self + len)` lies entirely in one
    /// guest-accessible half without wrapping.
    pub const fn range_is_guest_accessible(self, len: u64) -> bool {
        if len == 0 {
            return true;
        }
        let last = match self.0.checked_add(len - 1) {
            Some(last) => last,
            None => return false,
        };
        (last < (1 << 47)) || (self.0 >= crate::HYPERVISOR_VIRT_END)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_pointer_ranges_exclude_the_hypervisor_hole_and_wrap() {
        assert!(GuestVa(0).range_is_guest_accessible(4096));
        assert!(!GuestVa((1 << 47) - 8).range_is_guest_accessible(16));
        assert!(!GuestVa(crate::HYPERVISOR_VIRT_START).is_guest_accessible());
        assert!(GuestVa(crate::HYPERVISOR_VIRT_END).range_is_guest_accessible(8));
        assert!(!GuestVa(u64::MAX - 7).range_is_guest_accessible(16));
        assert!(GuestVa(u64::MAX - 7).range_is_guest_accessible(8));
    }
}
