//! The shadow model behind the shared page-table-write emulator
//! ([`crate::emulate::pte_write`]): after the fault intercept answered
//! [`super::Outcome::EmulateWrite`], the store at RIP is decoded and
//! merged by that emulator, and lands here as an 8-byte entry of the one
//! page the fault named, done by [`Shadow::emulate_write`] (so resynced).

use super::{Env, PhysMemory, PteWrite, Shadow, ShadowFrames, ShadowHooks, WriteTarget};
use crate::emulate::pte_write::PteTables;
use crate::mm::PhysAddr;

/// The page a faulting write may reach, as [`PteTables`].
pub struct ShadowPteTables<'a, 'e, 'p, 's, M: PhysMemory, F: ShadowFrames, H: ShadowHooks> {
    /// The shadows.
    pub shadow: &'a mut Shadow<'s>,
    /// Their environment.
    pub env: &'a mut Env<'e, 'p, M, F, H>,
    /// The faulting page, as the intercept named it.
    pub target: WriteTarget,
    /// The guest virtual address of that page (CR2 with the offset cleared).
    pub page_va: u64,
}

impl<M: PhysMemory, F: ShadowFrames, H: ShadowHooks> ShadowPteTables<'_, '_, '_, '_, M, F, H> {
    fn offset(&self, va: u64) -> Option<u16> {
        (va & !0xFFF == self.page_va).then_some((va & 0xFFF) as u16)
    }
}

impl<M: PhysMemory, F: ShadowFrames, H: ShadowHooks> PteTables for ShadowPteTables<'_, '_, '_, '_, M, F, H> {
    fn entry(&mut self, va: u64) -> Option<u64> {
        let off = self.offset(va)?;
        Some(self.env.mem.read_u64(PhysAddr(self.target.mfn.to_maddr() + u64::from(off))))
    }

    fn update(&mut self, va: u64, new: u64) -> bool {
        let Some(offset) = self.offset(va) else { return false };
        let w = PteWrite { offset, len: 8, value: new };
        self.shadow.emulate_write(self.env, self.target, w).is_ok()
    }
}
