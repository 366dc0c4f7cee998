//! The entry formats in the shared frames (abi `GrantEntryV1`/`V2`), read
//! and written through [`PhysMemory`]. The domain may change its entries
//! at any time; the hypervisor runs with interrupts off on the one CPU, so
//! an entry read here stays what it was until the hypercall returns, and
//! each flag update is one read-modify-write of the word holding it.

use super::{GrantTable, STATUS_PER_FRAME, V1_PER_FRAME, V2_PER_FRAME};
use crate::mm::{PhysAddr, PhysMemory};
use abi::{DomId, Mfn};

/// The first 8 bytes of an entry: `{flags, domid}` and (v1) the frame or
/// (v2) the sub-page / transitive word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// `GTF_*`.
    pub flags: u16,
    /// The grantee.
    pub domid: DomId,
    /// v1: the frame; v2: `word1` (sub-page offset | length << 16).
    pub word1: u32,
}

/// An entry's first word as read, and its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryWord {
    /// Where the word is.
    pub at: PhysAddr,
    /// Its value when read.
    pub word: u64,
}

impl EntryWord {
    /// The header fields of the word.
    #[inline(always)]
    pub const fn header(self) -> Header {
        let w = self.word;
        Header { flags: w as u16, domid: DomId((w >> 16) as u16), word1: (w >> 32) as u32 }
    }
}

impl GrantTable {
    /// Machine address of entry `r` (which must be below `nr_entries`).
    #[inline(always)]
    pub fn entry_addr(&self, r: u32) -> PhysAddr {
        let (per, size) = if self.version == 2 { (V2_PER_FRAME, 16) } else { (V1_PER_FRAME, 8) };
        let frame = self.shared[r as usize / per];
        PhysAddr(frame.to_maddr() + (r as usize % per) as u64 * size)
    }

    /// Reads entry `r`'s first word.
    pub fn header(&self, mem: &impl PhysMemory, r: u32) -> Header {
        self.entry_word(mem, r).header()
    }

    /// Reads entry `r`'s first word once, keeping where it was: a new pin
    /// checks its header, takes the v1 frame from it and sets the v1
    /// status flags in it without reading it again.
    #[inline(always)]
    pub fn entry_word(&self, mem: &impl PhysMemory, r: u32) -> EntryWord {
        let at = self.entry_addr(r);
        EntryWord { at, word: mem.read_u64(at) }
    }

    /// The frame a permit-access entry grants: v1 `frame` (32 bits), v2
    /// `full_page.frame` / `sub_page.frame` (64 bits).
    pub fn frame(&self, mem: &impl PhysMemory, r: u32) -> u64 {
        self.frame_of(mem, self.entry_word(mem, r))
    }

    /// [`Self::frame`] of the entry whose first word `e` was read: v1's
    /// frame is in that word, v2's in the next.
    #[inline(always)]
    pub fn frame_of(&self, mem: &impl PhysMemory, e: EntryWord) -> u64 {
        if self.version == 2 {
            mem.read_u64(PhysAddr(e.at.0 + 8))
        } else {
            e.word >> 32
        }
    }

    /// Sets `bits` in the status flags of reference `r`, whose first word
    /// `e` was read during this hypercall (so still holds what the guest
    /// wrote: nothing else runs): v1's flags are in that word, written
    /// back once; v2's are in the status frame.
    #[inline(always)]
    pub fn set_status_in(&self, mem: &mut impl PhysMemory, r: u32, e: EntryWord, bits: u16) {
        if self.version == 2 {
            self.set_status(mem, r, bits);
        } else {
            mem.write_u64(e.at, e.word | u64::from(bits));
        }
    }

    /// Where the 16-bit word holding reference `r`'s reading/writing
    /// flags is: the entry's own flags (v1), its status word (v2).
    #[inline(always)]
    pub fn status_word(&self, r: u32) -> StatusWord {
        let byte = if self.version == 2 {
            let frame: Mfn = self.status[r as usize / STATUS_PER_FRAME];
            frame.to_maddr() + (r as usize % STATUS_PER_FRAME) as u64 * 2
        } else {
            self.entry_addr(r).0
        };
        StatusWord { at: PhysAddr(byte & !7), shift: ((byte & 7) * 8) as u32 }
    }

    /// [`Self::status_word`] of reference `r`, whose first word `e` was
    /// read: under v1 the flags are that word's low 16 bits (entries are
    /// 8-byte aligned), so nothing is computed again.
    #[inline(always)]
    pub fn status_word_of(&self, r: u32, e: EntryWord) -> StatusWord {
        if self.version == 2 {
            self.status_word(r)
        } else {
            StatusWord { at: e.at, shift: 0 }
        }
    }

    /// The reading/writing flags of `r`.
    pub fn status_flags(&self, mem: &impl PhysMemory, r: u32) -> u16 {
        let w = self.status_word(r);
        (mem.read_u64(w.at) >> w.shift) as u16
    }

    /// Sets `bits` in `r`'s status flags.
    pub fn set_status(&self, mem: &mut impl PhysMemory, r: u32, bits: u16) {
        self.status_word(r).set(mem, bits);
    }

    /// Clears `bits` in `r`'s status flags.
    pub fn clear_status(&self, mem: &mut impl PhysMemory, r: u32, bits: u16) {
        self.status_word(r).clear(mem, bits);
    }
}

/// Where a reference's reading/writing flags are: an aligned word and the
/// flags' bit shift in it ([`GrantTable::status_word`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusWord {
    /// The word.
    pub at: PhysAddr,
    /// The flags' shift in it.
    pub shift: u32,
}

impl StatusWord {
    /// Sets `bits` (one read-modify-write).
    #[inline(always)]
    pub fn set(self, mem: &mut impl PhysMemory, bits: u16) {
        let w = mem.read_u64(self.at);
        mem.write_u64(self.at, w | (u64::from(bits) << self.shift));
    }

    /// Clears `bits` (one read-modify-write).
    #[inline(always)]
    pub fn clear(self, mem: &mut impl PhysMemory, bits: u16) {
        let w = mem.read_u64(self.at);
        mem.write_u64(self.at, w & !(u64::from(bits) << self.shift));
    }
}
