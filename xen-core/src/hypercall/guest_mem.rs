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
}

/// The longest word copy [`GuestMemory`] carries (an 11-word failsafe
/// frame).
pub const MAX_WORDS: usize = 16;

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
