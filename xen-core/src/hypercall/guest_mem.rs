//! Access to the calling guest's virtual memory. Every guest pointer is
//! range-checked here, then copied by the arch layer, which turns a fault
//! into `EFAULT`.

use abi::{Errno, GuestVa};

/// Copies between hypervisor buffers and the current guest's memory.
pub trait GuestMemory {
    /// Copies `buf.len()` bytes from guest address `va`. The range has been
    /// checked to lie in guest space.
    fn copy_from(&self, va: GuestVa, buf: &mut [u8]) -> bool;
    /// Copies `buf` to guest address `va` (range checked).
    fn copy_to(&self, va: GuestVa, buf: &[u8]) -> bool;
    /// Copies `words.len()` little-endian words from `va` (range
    /// checked): one guest access for a whole frame. By bytes unless the
    /// implementation has a word copy.
    fn copy_words_from(&self, va: GuestVa, words: &mut [u64]) -> bool {
        let mut b = [0u8; 8 * MAX_WORDS];
        let n = words.len();
        if n > MAX_WORDS || !self.copy_from(va, &mut b[..n * 8]) {
            return false;
        }
        for (w, c) in words.iter_mut().zip(b.chunks_exact(8)) {
            *w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        }
        true
    }
    /// `N` (at most [`MAX_WORDS`]) little-endian words at `va` (range
    /// checked) in one guest access, returned by value; `None` if the copy
    /// faulted. The arch copy reads into an uninitialised buffer, so
    /// nothing is zeroed first.
    #[inline(always)]
    fn read_array<const N: usize>(&self, va: GuestVa) -> Option<[u64; N]>
    where
        Self: Sized,
    {
        let mut words = [0u64; N];
        self.copy_words_from(va, &mut words).then_some(words)
    }
    /// The `N` words at `at` (range checked by its type) read just now,
    /// each word once; `None` if the access faulted. Bare metal inlines
    /// one `mov` per word for small `N`.
    #[inline(always)]
    fn load<const N: usize>(&self, at: CheckedWords<N>) -> Option<[u64; N]>
    where
        Self: Sized,
    {
        let mut words = [0u64; N];
        self.copy_words_from(at.va(), &mut words).then_some(words)
    }
    /// Writes `words` at `at` (range checked by its type); `false` if the
    /// access faulted.
    #[inline(always)]
    fn store<const N: usize>(&self, at: CheckedWords<N>, words: &[u64; N]) -> bool
    where
        Self: Sized,
    {
        self.copy_words_to(at.va(), words)
    }
    /// Writes the little-endian 16-bit `v` at `at` (range checked by its
    /// type); `false` if the access faulted.
    #[inline(always)]
    fn store_u16(&self, at: CheckedU16, v: u16) -> bool
    where
        Self: Sized,
    {
        self.copy_to(at.va(), &v.to_le_bytes())
    }
    /// Copies `words` to `va` as little-endian words (range checked).
    fn copy_words_to(&self, va: GuestVa, words: &[u64]) -> bool {
        let mut b = [0u8; 8 * MAX_WORDS];
        let n = words.len();
        if n > MAX_WORDS {
            return false;
        }
        for (c, w) in b.chunks_exact_mut(8).zip(words) {
            c.copy_from_slice(&w.to_le_bytes());
        }
        self.copy_to(va, &b[..n * 8])
    }
    /// The hardware half of a guest kernel↔user switch, done the moment
    /// the pure code decides it (before it touches the new mode's
    /// memory): load `root` (a CR3 value), swap the GS bases, and route
    /// SYSCALL for the new mode. Host fakes only record it.
    fn toggle_mode(&self, _to_user: bool, _root: u64) {}
    /// Loads what `set_segment_base` decided into the hardware.
    fn load_segment(&self, _load: crate::domain::guest_segs::SegLoad) {}
    /// The current vCPU's `evtchn_upcall_mask` (vcpu_info in shared_info),
    /// which bounce frames carry and `iret` restores. Host fakes: 0.
    fn upcall_mask(&self) -> u8 {
        0
    }
    /// Sets the current vCPU's `evtchn_upcall_mask`.
    fn set_upcall_mask(&self, _mask: u8) {}
    /// Whether the current vCPU's `evtchn_upcall_pending` is set (an
    /// upcall is then due once the mask is clear). Host fakes: no.
    fn upcall_pending(&self) -> bool {
        false
    }
}

/// The longest word copy [`GuestMemory`] carries (an 11-word failsafe
/// frame).
pub const MAX_WORDS: usize = 16;

/// `N` words at a guest address whose whole range was checked to lie in
/// guest space: only [`Self::new`] makes one, so an access through it is
/// checked exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckedWords<const N: usize>(GuestVa);

impl<const N: usize> CheckedWords<N> {
    /// `va`, if its `N` words lie in guest address space.
    #[inline(always)]
    pub fn new(va: u64) -> Option<Self> {
        GuestVa(va).range_is_guest_accessible(N as u64 * 8).then_some(Self(GuestVa(va)))
    }
    /// The first word's address.
    #[inline(always)]
    pub fn va(self) -> GuestVa {
        self.0
    }
    /// Words `K..K + M` of these (a field of a checked record): a part of
    /// a checked range needs no check of its own. A part reaching past the
    /// words does not compile.
    #[inline(always)]
    pub fn part<const K: usize, const M: usize>(self) -> CheckedWords<M> {
        const { assert!(K + M <= N, "the part lies outside the words") };
        CheckedWords(GuestVa(self.0 .0 + K as u64 * 8))
    }
    /// The 16-bit field `OFF` bytes in (a status inside the checked
    /// struct), checked by this range: no second range check. A field
    /// reaching past the words does not compile.
    #[inline(always)]
    pub fn u16_at<const OFF: usize>(self) -> CheckedU16 {
        const { assert!(OFF + 2 <= N * 8, "the field lies outside the words") };
        CheckedU16(GuestVa(self.0 .0 + OFF as u64))
    }
}

/// A 16-bit field (a grant status) at a checked guest address (as
/// [`CheckedWords`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckedU16(GuestVa);

impl CheckedU16 {
    /// `va`, if its 2 bytes lie in guest address space.
    #[inline(always)]
    pub fn new(va: u64) -> Option<Self> {
        GuestVa(va).range_is_guest_accessible(2).then_some(Self(GuestVa(va)))
    }
    /// The field's address.
    #[inline(always)]
    pub fn va(self) -> GuestVa {
        self.0
    }
}

/// A 32-bit field (an `evtchn_send`'s port) at a checked guest address
/// (as [`CheckedWords`]): its 4 bytes alone, so a struct ending a page
/// reads as on Xen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckedU32(GuestVa);

impl CheckedU32 {
    /// `va`, if its 4 bytes lie in guest address space.
    #[inline(always)]
    pub fn new(va: u64) -> Option<Self> {
        GuestVa(va).range_is_guest_accessible(4).then_some(Self(GuestVa(va)))
    }
    /// The field's address.
    #[inline(always)]
    pub fn va(self) -> GuestVa {
        self.0
    }
}

/// Elements `[first, end)` of a guest array of `N`-word elements, the
/// whole subrange checked once to lie in guest space (Xen's
/// `guest_handle_subrange_okay`): an element inside it lies in guest space
/// too, so [`Self::element`] needs only the index test, not a range check
/// of its own. The check is of addresses only (guest space is a fixed
/// range), so it cannot go stale while a batch runs; each element is still
/// read when it is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckedArray<const N: usize> {
    base: u64,
    first: u64,
    end: u64,
}

impl<const N: usize> CheckedArray<N> {
    /// The array at `base`, if elements `[first, end)` lie in guest space,
    /// end included and without overflow.
    #[inline(always)]
    pub fn new(base: u64, first: u64, end: u64) -> Option<Self> {
        let checked = crate::mm::exchange::subrange_in_guest_space(base, first, end, N as u64 * 8);
        checked.then_some(Self { base, first, end })
    }
    /// No elements (an optional array the guest did not give).
    pub const EMPTY: Self = Self { base: 0, first: 0, end: 0 };
    /// Element `i`, if it is one of the checked ones.
    #[inline(always)]
    pub fn element(self, i: u64) -> Option<CheckedWords<N>> {
        // One unsigned compare for `first <= i < end`; inside the range
        // `base + i * size` cannot overflow (checked by `new`).
        (i.wrapping_sub(self.first) < self.end - self.first)
            .then(|| CheckedWords(GuestVa(self.base.wrapping_add(i.wrapping_mul(N as u64 * 8)))))
    }
}

/// Checked reads and writes on top of [`GuestMemory`].
pub struct Guest<'a, G: GuestMemory + ?Sized>(pub &'a G);

impl<G: GuestMemory + ?Sized> Guest<'_, G> {
    /// Reads `buf.len()` bytes at `va`.
    ///
    /// # Errors
    /// `EFAULT` for a range outside guest space or a fault.
    pub fn read(&self, va: u64, buf: &mut [u8]) -> Result<(), Errno> {
        if !GuestVa(va).range_is_guest_accessible(buf.len() as u64) || !self.0.copy_from(GuestVa(va), buf) {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// Writes `buf` at `va`.
    ///
    /// # Errors
    /// `EFAULT` for a range outside guest space or a fault.
    pub fn write(&self, va: u64, buf: &[u8]) -> Result<(), Errno> {
        if !GuestVa(va).range_is_guest_accessible(buf.len() as u64) || !self.0.copy_to(GuestVa(va), buf) {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// Reads `words.len()` (at most [`MAX_WORDS`]) little-endian words at
    /// `va` in one guest access.
    ///
    /// # Errors
    /// `EFAULT` for a range outside guest space or a fault.
    #[inline(always)]
    pub fn read_words(&self, va: u64, words: &mut [u64]) -> Result<(), Errno> {
        if !GuestVa(va).range_is_guest_accessible(words.len() as u64 * 8) || !self.0.copy_words_from(GuestVa(va), words)
        {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// Writes `words` (at most [`MAX_WORDS`]) as little-endian words at
    /// `va` in one guest access.
    ///
    /// # Errors
    /// `EFAULT` for a range outside guest space or a fault.
    #[inline(always)]
    pub fn write_words(&self, va: u64, words: &[u64]) -> Result<(), Errno> {
        if !GuestVa(va).range_is_guest_accessible(words.len() as u64 * 8) || !self.0.copy_words_to(GuestVa(va), words) {
            return Err(Errno::EFAULT);
        }
        Ok(())
    }

    /// The `N` little-endian words at `va`, read now in one guest access,
    /// the range checked once.
    ///
    /// # Errors
    /// `EFAULT` for a range outside guest space or a fault.
    #[inline(always)]
    pub fn read_array<const N: usize>(&self, va: u64) -> Result<[u64; N], Errno>
    where
        G: Sized,
    {
        let at = CheckedWords::<N>::new(va).ok_or(Errno::EFAULT)?;
        self.0.load(at).ok_or(Errno::EFAULT)
    }

    /// Writes the `N` words at `va` in one guest access, the range checked
    /// once.
    ///
    /// # Errors
    /// `EFAULT` for a range outside guest space or a fault.
    #[inline(always)]
    pub fn write_array<const N: usize>(&self, va: u64, words: &[u64; N]) -> Result<(), Errno>
    where
        G: Sized,
    {
        let at = CheckedWords::<N>::new(va).ok_or(Errno::EFAULT)?;
        if self.0.store(at, words) {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    /// Writes a little-endian u16 in one access, the range checked once.
    ///
    /// # Errors
    /// `EFAULT` for a range outside guest space or a fault.
    #[inline(always)]
    pub fn store_u16(&self, va: u64, v: u16) -> Result<(), Errno>
    where
        G: Sized,
    {
        let at = CheckedU16::new(va).ok_or(Errno::EFAULT)?;
        if self.0.store_u16(at, v) {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    /// Reads a little-endian u64.
    ///
    /// # Errors
    /// `EFAULT`.
    pub fn read_u64(&self, va: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.read(va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a little-endian u32.
    ///
    /// # Errors
    /// `EFAULT`.
    pub fn read_u32(&self, va: u64) -> Result<u32, Errno> {
        let mut b = [0u8; 4];
        self.read(va, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a little-endian u16.
    ///
    /// # Errors
    /// `EFAULT`.
    pub fn read_u16(&self, va: u64) -> Result<u16, Errno> {
        let mut b = [0u8; 2];
        self.read(va, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    /// Writes a little-endian u64.
    ///
    /// # Errors
    /// `EFAULT`.
    pub fn write_u64(&self, va: u64, v: u64) -> Result<(), Errno> {
        self.write(va, &v.to_le_bytes())
    }

    /// Writes a little-endian u32.
    ///
    /// # Errors
    /// `EFAULT`.
    pub fn write_u32(&self, va: u64, v: u32) -> Result<(), Errno> {
        self.write(va, &v.to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::{Cell, RefCell};

    /// 64 bytes of guest memory at `BASE`, counting the copies made.
    struct Window {
        bytes: RefCell<[u8; 64]>,
        copies: Cell<u32>,
    }

    const BASE: u64 = 0x1000;

    impl Window {
        fn new() -> Self {
            let mut b = [0u8; 64];
            for (i, x) in b.iter_mut().enumerate() {
                *x = i as u8;
            }
            Self { bytes: RefCell::new(b), copies: Cell::new(0) }
        }
        fn span(va: GuestVa, len: usize) -> Option<core::ops::Range<usize>> {
            let at = va.0.checked_sub(BASE)? as usize;
            (at + len <= 64).then_some(at..at + len)
        }
    }

    impl GuestMemory for Window {
        fn copy_from(&self, va: GuestVa, buf: &mut [u8]) -> bool {
            self.copies.set(self.copies.get() + 1);
            let Some(r) = Self::span(va, buf.len()) else { return false };
            buf.copy_from_slice(&self.bytes.borrow()[r]);
            true
        }
        fn copy_to(&self, va: GuestVa, buf: &[u8]) -> bool {
            self.copies.set(self.copies.get() + 1);
            let Some(r) = Self::span(va, buf.len()) else { return false };
            self.bytes.borrow_mut()[r].copy_from_slice(buf);
            true
        }
    }

    #[test]
    fn checked_words_cover_every_word_of_the_range() {
        let top = 1u64 << 47;
        assert!(CheckedWords::<2>::new(top - 16).is_some());
        assert!(CheckedWords::<2>::new(top - 8).is_none());
        assert!(CheckedWords::<5>::new(top - 32).is_none());
        assert!(CheckedWords::<1>::new(u64::MAX - 3).is_none());
        assert!(CheckedWords::<1>::new(abi::HYPERVISOR_VIRT_START).is_none());
        assert!(CheckedU16::new(top - 2).is_some());
        assert!(CheckedU16::new(top - 1).is_none());
    }

    #[test]
    fn a_checked_array_gives_exactly_the_elements_of_its_checked_range() {
        let top = 1u64 << 47;
        // Elements 3..5 of 16-byte elements end exactly at the top.
        let a = CheckedArray::<2>::new(top - 80, 3, 5).unwrap();
        assert_eq!(a.element(2), None);
        assert_eq!(a.element(3).map(|w| w.va()), Some(GuestVa(top - 32)));
        assert_eq!(a.element(4).map(|w| w.va()), Some(GuestVa(top - 16)));
        assert_eq!(a.element(5), None);
        assert_eq!(a.element(u64::MAX), None);
        // Every element it gives is one `CheckedWords::new` accepts too.
        for (base, first, end) in [(0x1000, 0, 64), (top - 64, 2, 4), (abi::HYPERVISOR_VIRT_END, 0, 9), (8, 0, 0)] {
            let a = CheckedArray::<2>::new(base, first, end).unwrap();
            for i in first..end {
                assert_eq!(a.element(i), CheckedWords::<2>::new(base + i * 16), "{base:#x} {i}");
            }
            assert_eq!(a.element(end), None);
        }
        // One element past the top, into the hypervisor, wrapping, overflowing.
        assert_eq!(CheckedArray::<2>::new(top - 80, 3, 6), None);
        assert_eq!(CheckedArray::<1>::new(abi::HYPERVISOR_VIRT_START - 8, 0, 2), None);
        assert_eq!(CheckedArray::<1>::new(u64::MAX - 7, 0, 2), None);
        assert_eq!(CheckedArray::<3>::new(0, 0, u64::MAX / 8), None);
        assert_eq!(CheckedArray::<1>::new(0, 5, 4), None);
    }

    #[test]
    fn a_part_of_checked_words_is_the_words_at_its_offset() {
        let w = CheckedWords::<8>::new(0x1000).expect("low guest address");
        assert_eq!(w.part::<0, 7>().va(), GuestVa(0x1000));
        assert_eq!(w.part::<1, 1>().va(), GuestVa(0x1008));
        assert_eq!(w.part::<7, 1>().va(), GuestVa(0x1038));
    }

    #[test]
    fn a_range_outside_guest_space_is_efault_without_an_access() {
        let w = Window::new();
        let g = Guest(&w);
        assert_eq!(g.read_array::<2>((1 << 47) - 8), Err(Errno::EFAULT));
        assert_eq!(g.write_array::<1>(abi::HYPERVISOR_VIRT_START, &[1]), Err(Errno::EFAULT));
        assert_eq!(g.store_u16((1 << 47) - 1, 1), Err(Errno::EFAULT));
        assert_eq!(w.copies.get(), 0);
    }

    #[test]
    fn a_faulting_access_is_efault() {
        let w = Window::new();
        let g = Guest(&w);
        assert_eq!(g.read_array::<4>(BASE + 40), Err(Errno::EFAULT));
        assert_eq!(g.write_array::<3>(BASE + 48, &[0; 3]), Err(Errno::EFAULT));
        assert_eq!(g.store_u16(BASE + 63, 0), Err(Errno::EFAULT));
    }

    #[test]
    fn each_read_sees_the_guest_memory_as_it_is_then() {
        // A batch may rewrite its own array: every element is read anew.
        let w = Window::new();
        let g = Guest(&w);
        let first = g.read_array::<2>(BASE + 8).unwrap();
        assert_eq!(first[0], u64::from_le_bytes([8, 9, 10, 11, 12, 13, 14, 15]));
        g.write_array(BASE + 8, &[7, 9]).unwrap();
        assert_eq!(g.read_array::<2>(BASE + 8), Ok([7, 9]));
    }

    #[test]
    fn a_status_store_writes_only_its_two_bytes() {
        let w = Window::new();
        let g = Guest(&w);
        g.store_u16(BASE + 20, 0xBEEF).unwrap();
        let b = w.bytes.borrow();
        assert_eq!(&b[18..24], &[18, 19, 0xEF, 0xBE, 22, 23]);
    }
}
