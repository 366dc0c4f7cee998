//! Per-frame metadata: 16 bytes for every machine frame (Xen uses 32).
//!
//! | field | bits | meaning |
//! |---|---|---|
//! | `count` | 32 | general references, including the one held while the frame is allocated to a domain |
//! | `type_info` | 3 | page type ([`PageType`]) |
//! | | 1 | validated: contents checked for the current type |
//! | | 1 | pinned (MMUEXT_PIN_*) |
//! | | 27 | type count: references to the frame *as* its type |
//! | `owner` | 16 | owning domain |
//! | `linear` | 16 | same-level (linear) page-table references: > 0 = entries this table holds, < 0 = tables referencing it (XSA-240 one-level rule) |
//! | `flags` | 6 | allocated, xen-heap (shared with the owner, not counted in its pages), partial (validation preempted), partial root (holds a general reference for the preempted operation), partial child (the entry at `progress` leads to the partial table below), deval (devalidation deferred, done from `progress`) |
//! | `progress` | 10 | next entry to validate of a partially validated table (0–512) |
//! | `stamp` | 16 | TLB flush clock when a translation of the frame was last possibly dropped ([`super::tlb_clock`]) |

use abi::DomId;

/// What a frame is currently used as. Meaningful while the type count is
/// non-zero; it can change only when the type count is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum PageType {
    /// Not typed.
    None = 0,
    /// Level-1 page table.
    L1 = 1,
    /// Level-2 page table.
    L2 = 2,
    /// Level-3 page table.
    L3 = 3,
    /// Level-4 page table.
    L4 = 4,
    /// GDT/LDT page.
    SegDesc = 5,
    /// Guest data mapped writable somewhere.
    Writable = 6,
}

impl PageType {
    /// The page-table type of `level` (1..=4).
    pub const fn table(level: u8) -> PageType {
        match level {
            1 => PageType::L1,
            2 => PageType::L2,
            3 => PageType::L3,
            _ => PageType::L4,
        }
    }

    /// The page-table level of this type, if it is one.
    pub const fn level(self) -> Option<u8> {
        match self {
            PageType::L1 => Some(1),
            PageType::L2 => Some(2),
            PageType::L3 => Some(3),
            PageType::L4 => Some(4),
            _ => None,
        }
    }

    const fn from_bits(b: u32) -> PageType {
        match b {
            1 => PageType::L1,
            2 => PageType::L2,
            3 => PageType::L3,
            4 => PageType::L4,
            5 => PageType::SegDesc,
            6 => PageType::Writable,
            _ => PageType::None,
        }
    }
}

const TYPE_SHIFT: u32 = 29;
const VALIDATED: u32 = 1 << 28;
const PINNED: u32 = 1 << 27;
const TYPE_COUNT_MASK: u32 = (1 << 27) - 1;
const FLAG_ALLOCATED: u16 = 1;
const FLAG_XEN_HEAP: u16 = 2;
const FLAG_PARTIAL: u16 = 4;
const FLAG_PARTIAL_ROOT: u16 = 8;
const FLAG_PARTIAL_CHILD: u16 = 16;
const FLAG_DEVAL: u16 = 32;
const FLAGS_MASK: u16 = 63;
const PROGRESS_SHIFT: u32 = 6;

/// Largest general or type count a frame may reach; a reference that would
/// go beyond it is refused rather than wrapping.
pub const MAX_COUNT: u32 = TYPE_COUNT_MASK - 1;

/// Metadata of one machine frame. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct PageInfo {
    count: u32,
    type_info: u32,
    owner: DomId,
    linear: i16,
    /// Flags in bits 0–5, progress in bits 6–15.
    flags: u16,
    stamp: u16,
}

const _: () = assert!(core::mem::size_of::<PageInfo>() == 16);

impl Default for PageInfo {
    fn default() -> Self {
        PageInfo { count: 0, type_info: 0, owner: DomId::INVALID, linear: 0, flags: 0, stamp: 0 }
    }
}

impl PageInfo {
    /// The entry as the two little-endian words its `repr(C)` layout
    /// stores (count and type; owner, linear count, flags and stamp): the
    /// pattern the boot fills the frame table with in 16- or 32-byte
    /// stores, and checks an entry of after.
    pub fn to_words(&self) -> [u64; 2] {
        [
            u64::from(self.count) | u64::from(self.type_info) << 32,
            u64::from(self.owner.0)
                | u64::from(self.linear as u16) << 16
                | u64::from(self.flags) << 32
                | u64::from(self.stamp) << 48,
        ]
    }

    /// The common case of taking an L1 entry's references, in one access
    /// to the metadata: a general reference on a frame allocated to
    /// `owner` (not the hypervisor's, so not shared_info) and, with
    /// `writable`, a type reference on a frame that already has the
    /// writable type (held, or kept from its last writable mapping: its
    /// type count may be zero, and no flush is due since the type does not
    /// change). False, with nothing taken, for everything else, which the
    /// general path decides (type changes, flushes, refusals).
    #[inline(always)]
    pub fn try_get_plain(&mut self, owner: DomId, writable: bool) -> bool {
        if self.owner != owner || self.count == 0 || self.count >= MAX_COUNT || self.flags & FLAG_XEN_HEAP != 0 {
            return false;
        }
        if writable {
            if !self.writable_below_max() {
                return false;
            }
            self.type_info = (self.type_info | VALIDATED) + 1;
        }
        self.count += 1;
        true
    }

    /// The writable type with a type count below [`MAX_COUNT`], in one
    /// compare: the type and count bits less the writable type's are the
    /// count itself exactly when the type is writable (any other type
    /// wraps or lands at or above 2^29).
    #[inline(always)]
    const fn writable_below_max(&self) -> bool {
        let t = self.type_info & !(VALIDATED | PINNED);
        t.wrapping_sub((PageType::Writable as u32) << TYPE_SHIFT) < MAX_COUNT
    }

    /// The writable type with a type count above zero, in one compare (as
    /// [`PageInfo::writable_below_max`], shifted by one).
    #[inline(always)]
    const fn writable_held(&self) -> bool {
        let t = self.type_info & !(VALIDATED | PINNED);
        t.wrapping_sub(((PageType::Writable as u32) << TYPE_SHIFT) + 1) < TYPE_COUNT_MASK
    }

    /// The common case of dropping an L1 entry's references: a frame of a
    /// domain (not `DOMID_IO`) whose general count stays above zero, with
    /// `writable` holding the writable type (which stays when its count
    /// reaches zero, as on the general path). Stamps it with `now` (a
    /// translation of it may still be cached). False, with nothing
    /// changed, for everything else (the general path frees).
    #[inline(always)]
    pub fn try_put_plain(&mut self, writable: bool, now: u16) -> bool {
        if self.owner == DomId::IO || !self.try_put_held(writable) {
            return false;
        }
        self.stamp = now;
        true
    }

    /// The common case of dropping a general (and, with `writable`, a
    /// writable type) reference held only for one hypercall's duration,
    /// as a grant copy's: the frame keeps another general reference and,
    /// with `writable`, holds the writable type, whose count reaching zero
    /// changes nothing. No stamp: the references mapped nothing. False,
    /// with nothing changed, for everything else (the general path frees).
    #[inline(always)]
    pub fn try_put_held(&mut self, writable: bool) -> bool {
        if self.count <= 1 {
            return false;
        }
        if writable {
            if !self.writable_held() {
                return false;
            }
            self.type_info -= 1;
        }
        self.count -= 1;
        true
    }

    /// Whether the frame is a validated L1 table in use (type count above
    /// zero): one compare of the type word, for the common entry update.
    /// Less PINNED, the word minus an L1's type, VALIDATED and a count of
    /// one is the count less one exactly when the type is L1, validated and
    /// the count above zero; anything else wraps or lands at or above 2^28.
    #[inline(always)]
    pub const fn is_validated_l1(&self) -> bool {
        // Type L1, validated and a type count of 1 or more (pinned or
        // not) in one subtract and compare: anything else in the type or
        // validated bits lands at least 2^27 away, or wraps.
        const FIRST: u32 = ((PageType::L1 as u32) << TYPE_SHIFT) | VALIDATED | 1;
        (self.type_info & !PINNED).wrapping_sub(FIRST) < TYPE_COUNT_MASK
    }

    /// General reference count.
    pub const fn count(&self) -> u32 {
        self.count
    }
    /// Current type (meaningful while the type count is non-zero).
    pub const fn page_type(&self) -> PageType {
        PageType::from_bits(self.type_info >> TYPE_SHIFT)
    }
    /// Type reference count.
    pub const fn type_count(&self) -> u32 {
        self.type_info & TYPE_COUNT_MASK
    }
    /// Whether the contents were validated for the current type.
    pub const fn validated(&self) -> bool {
        self.type_info & VALIDATED != 0
    }
    /// Whether the frame is pinned.
    pub const fn pinned(&self) -> bool {
        self.type_info & PINNED != 0
    }
    /// Owning domain ([`DomId::INVALID`] when free).
    pub const fn owner(&self) -> DomId {
        self.owner
    }
    /// Whether the frame is assigned to its owner (holds the allocation reference).
    pub const fn allocated(&self) -> bool {
        self.flags & FLAG_ALLOCATED != 0
    }
    /// A hypervisor page shared with its owner (shared_info): not counted
    /// in the owner's pages.
    pub const fn xen_heap(&self) -> bool {
        self.flags & FLAG_XEN_HEAP != 0
    }
    /// Validation of this table was preempted part-way.
    pub const fn partial(&self) -> bool {
        self.flags & FLAG_PARTIAL != 0
    }
    /// This partial table is where the preempted validation started.
    pub const fn partial_root(&self) -> bool {
        self.flags & FLAG_PARTIAL_ROOT != 0
    }
    /// The entry at `progress` leads to the partial table below, whose
    /// validation this one was waiting for.
    pub const fn partial_child(&self) -> bool {
        self.flags & FLAG_PARTIAL_CHILD != 0
    }
    /// Devalidation was deferred: the table's type count is zero but its
    /// entries from `progress` on still hold their references, and it waits
    /// in its owner's queue (which holds a general reference).
    pub const fn deval(&self) -> bool {
        self.flags & FLAG_DEVAL != 0
    }
    /// Next entry to validate when resuming (meaningful while partial).
    pub const fn progress(&self) -> u16 {
        self.flags >> PROGRESS_SHIFT
    }
    /// The low bits of the TLB flush clock when a translation of this frame
    /// (or a reference through which one could be cached) was last dropped.
    pub const fn stamp(&self) -> u16 {
        self.stamp
    }
    /// Same-level reference balance (see module docs).
    pub const fn linear(&self) -> i16 {
        self.linear
    }

    /// A copy with the fields that carry no meaning cleared: the type and
    /// the validated flag at type count zero, and the flush stamp (which
    /// only decides whether a flush comes first). Two frames whose
    /// normalized metadata are equal behave identically, flushes aside.
    pub fn normalized(&self) -> PageInfo {
        let mut p = *self;
        p.stamp = 0;
        if p.type_count() == 0 {
            p.set_type(PageType::None);
            p.set_validated(false);
        }
        p
    }

    pub(crate) fn set_count(&mut self, c: u32) {
        self.count = c;
    }
    pub(crate) fn set_type(&mut self, t: PageType) {
        self.type_info = (self.type_info & !(7 << TYPE_SHIFT)) | ((t as u32) << TYPE_SHIFT);
    }
    pub(crate) fn set_type_count(&mut self, c: u32) {
        self.type_info = (self.type_info & !TYPE_COUNT_MASK) | (c & TYPE_COUNT_MASK);
    }
    pub(crate) fn set_validated(&mut self, v: bool) {
        self.type_info = if v { self.type_info | VALIDATED } else { self.type_info & !VALIDATED };
    }
    pub(crate) fn set_pinned(&mut self, v: bool) {
        self.type_info = if v { self.type_info | PINNED } else { self.type_info & !PINNED };
    }
    pub(crate) fn set_owner(&mut self, d: DomId) {
        self.owner = d;
    }
    pub(crate) fn set_allocated(&mut self, v: bool) {
        self.flags = if v { self.flags | FLAG_ALLOCATED } else { self.flags & !FLAG_ALLOCATED };
    }
    pub(crate) fn set_xen_heap(&mut self, v: bool) {
        self.flags = if v { self.flags | FLAG_XEN_HEAP } else { self.flags & !FLAG_XEN_HEAP };
    }
    fn set_progress(&mut self, progress: u16) {
        debug_assert!(progress <= 512, "progress {progress} does not fit");
        self.flags = (self.flags & FLAGS_MASK) | (progress << PROGRESS_SHIFT);
    }
    pub(crate) fn set_partial(&mut self, partial: bool, root: bool, child: bool, progress: u16) {
        self.flags &= !(FLAG_PARTIAL | FLAG_PARTIAL_ROOT | FLAG_PARTIAL_CHILD);
        if partial {
            self.flags |=
                FLAG_PARTIAL | if root { FLAG_PARTIAL_ROOT } else { 0 } | if child { FLAG_PARTIAL_CHILD } else { 0 };
        }
        self.set_progress(if partial { progress } else { 0 });
    }
    pub(crate) fn set_deval(&mut self, deval: bool, progress: u16) {
        self.flags = if deval { self.flags | FLAG_DEVAL } else { self.flags & !FLAG_DEVAL };
        self.set_progress(progress);
    }
    pub(crate) fn set_stamp(&mut self, stamp: u16) {
        self.stamp = stamp;
    }
    /// A free frame becomes `dom`'s with its allocation reference (a count
    /// of one) and nothing else; the TLB flush stamp stays, since
    /// translations from its previous life were flushed for by that stamp.
    #[inline(always)]
    pub(crate) fn allocate_to(&mut self, dom: DomId) {
        debug_assert_eq!(self.count(), 0, "assigning a frame in use");
        let stamp = self.stamp();
        *self = PageInfo::default();
        self.set_stamp(stamp);
        self.set_owner(dom);
        self.set_allocated(true);
        self.set_count(1);
    }
    pub(crate) fn set_linear(&mut self, l: i16) {
        self.linear = l;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_frame_metadata_fits_in_16_bytes() {
        assert_eq!(core::mem::size_of::<PageInfo>(), 16);
    }

    #[test]
    fn the_fill_words_put_each_field_where_repr_c_stores_it() {
        let p = PageInfo {
            count: 0x1111_2222,
            type_info: 0x3333_4444,
            owner: DomId(0x5555),
            linear: -2,
            flags: 0x7777,
            stamp: 0x8888,
        };
        assert_eq!(p.to_words(), [0x3333_4444_1111_2222, 0x8888_7777_fffe_5555]);
        assert_eq!(PageInfo::default().to_words(), [0, u64::from(DomId::INVALID.0)], "a free frame is owned by nobody");
    }

    #[test]
    fn packed_fields_do_not_disturb_each_other() {
        let mut p = PageInfo::default();
        p.set_type(PageType::L3);
        p.set_type_count(MAX_COUNT);
        p.set_pinned(true);
        p.set_validated(true);
        assert_eq!(p.page_type(), PageType::L3);
        assert_eq!(p.type_count(), MAX_COUNT);
        assert!(p.pinned() && p.validated());
        p.set_type(PageType::Writable);
        p.set_pinned(false);
        assert_eq!(p.page_type(), PageType::Writable);
        assert_eq!(p.type_count(), MAX_COUNT);
        assert!(!p.pinned() && p.validated());
    }

    #[test]
    fn only_a_validated_l1_in_use_is_a_validated_l1() {
        for ty in [
            PageType::None,
            PageType::L1,
            PageType::L2,
            PageType::L3,
            PageType::L4,
            PageType::SegDesc,
            PageType::Writable,
        ] {
            for validated in [false, true] {
                for (count, pinned) in
                    [0, 1, 2, MAX_COUNT, TYPE_COUNT_MASK].into_iter().flat_map(|c| [(c, false), (c, true)])
                {
                    let mut p = PageInfo::default();
                    p.set_type(ty);
                    p.set_validated(validated);
                    p.set_type_count(count);
                    p.set_pinned(pinned);
                    let want = ty == PageType::L1 && validated && count > 0;
                    assert_eq!(p.is_validated_l1(), want, "{ty:?} validated {validated} count {count} pinned {pinned}");
                }
            }
        }
    }

    #[test]
    fn one_compare_writable_tests_match_type_and_count() {
        let types = [PageType::None, PageType::L1, PageType::L4, PageType::SegDesc, PageType::Writable];
        for ty in types {
            for count in [0, 1, 2, MAX_COUNT - 1, MAX_COUNT, TYPE_COUNT_MASK] {
                for (validated, pinned) in [(false, false), (true, false), (true, true)] {
                    let mut p = PageInfo::default();
                    p.set_type(ty);
                    p.set_type_count(count);
                    p.set_validated(validated);
                    p.set_pinned(pinned);
                    let w = ty == PageType::Writable;
                    assert_eq!(p.writable_below_max(), w && count < MAX_COUNT, "{ty:?} {count}");
                    assert_eq!(p.writable_held(), w && count > 0, "{ty:?} {count}");
                }
            }
        }
        // The unused type bits 7 are neither.
        let p = PageInfo { type_info: 7 << TYPE_SHIFT | 5, ..PageInfo::default() };
        assert!(!p.writable_below_max() && !p.writable_held());
    }

    #[test]
    fn progress_flags_and_stamp_share_no_bits() {
        let mut p = PageInfo::default();
        p.set_deval(true, 512);
        p.set_partial(true, true, true, 511);
        p.set_stamp(0xFFFF);
        assert!(p.deval() && p.partial() && p.partial_root() && p.partial_child());
        assert_eq!((p.progress(), p.stamp()), (511, 0xFFFF));
        p.set_deval(false, 512);
        assert_eq!(p.progress(), 512);
        assert!(!p.deval() && p.partial() && p.partial_child());
        p.set_partial(false, false, false, 0);
        assert!(!p.partial() && !p.partial_root() && !p.partial_child());
        assert_eq!((p.progress(), p.stamp()), (0, 0xFFFF));
    }
}
