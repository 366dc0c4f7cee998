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

impl GrantTable {
    /// Machine address of entry `r` (which must be below `nr_entries`).
    pub fn entry_addr(&self, r: u32) -> PhysAddr {
        let (per, size) = if self.version == 2 { (V2_PER_FRAME, 16) } else { (V1_PER_FRAME, 8) };
        let frame = self.shared[r as usize / per];
        PhysAddr(frame.to_maddr() + (r as usize % per) as u64 * size)
    }

    /// Reads entry `r`'s first word.
    pub fn header(&self, mem: &impl PhysMemory, r: u32) -> Header {
        let w = mem.read_u64(self.entry_addr(r));
        Header { flags: w as u16, domid: DomId((w >> 16) as u16), word1: (w >> 32) as u32 }
    }

    /// The frame a permit-access entry grants: v1 `frame` (32 bits), v2
    /// `full_page.frame` / `sub_page.frame` (64 bits).
    pub fn frame(&self, mem: &impl PhysMemory, r: u32) -> u64 {
        let a = self.entry_addr(r);
        if self.version == 2 {
            mem.read_u64(PhysAddr(a.0 + 8))
        } else {
            mem.read_u64(a) >> 32
        }
    }

    /// Address and bit shift of the 16-bit word holding reference `r`'s
    /// reading/writing flags: the entry's own flags (v1), its status word (v2).
    fn status_word(&self, r: u32) -> (PhysAddr, u32) {
        let byte = if self.version == 2 {
            let frame: Mfn = self.status[r as usize / STATUS_PER_FRAME];
            frame.to_maddr() + (r as usize % STATUS_PER_FRAME) as u64 * 2
        } else {
            self.entry_addr(r).0
        };
        (PhysAddr(byte & !7), ((byte & 7) * 8) as u32)
    }

    /// The reading/writing flags of `r`.
    pub fn status_flags(&self, mem: &impl PhysMemory, r: u32) -> u16 {
        let (a, shift) = self.status_word(r);
        (mem.read_u64(a) >> shift) as u16
    }

    /// Sets `bits` in `r`'s status flags.
    pub fn set_status(&self, mem: &mut impl PhysMemory, r: u32, bits: u16) {
        let (a, shift) = self.status_word(r);
        let w = mem.read_u64(a);
        mem.write_u64(a, w | (u64::from(bits) << shift));
    }

    /// Clears `bits` in `r`'s status flags.
    pub fn clear_status(&self, mem: &mut impl PhysMemory, r: u32, bits: u16) {
        let (a, shift) = self.status_word(r);
        let w = mem.read_u64(a);
        mem.write_u64(a, w & !(u64::from(bits) << shift));
    }
}
