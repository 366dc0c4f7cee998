//! Keeping the shadows coherent with what they shadow:
//! * an emulated guest write to a page-table page is done, then every
//!   shadow of that page loses the entries the write touched (they are
//!   rebuilt from the new guest entry on the next fault);
//! * `invlpg` reaches the hardware;
//! * `mov cr3` finds the new root's shadow in the cache or makes it;
//! * a p2m change drops every shadow entry that mapped the frame, and every
//!   shadow of a guest table the frame backed.

use super::cache::{entry_addr, entry_mfn, Kind};
use super::fault::CrashReason;
use super::guest;
use super::{Env, PhysMemory, PteWrite, Shadow, ShadowFrames, ShadowHooks, Slot, WriteTarget};
use crate::mm::PhysAddr;
use crate::p2m::{P2mEntry, P2mType};
use abi::{Gfn, Mfn};

/// Why an emulated write was not done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteRefused {
    /// Not 1, 2, 4 or 8 bytes inside the page.
    BadShape,
    /// The p2m no longer maps the target writable RAM there (it changed
    /// since the fault): retry the instruction.
    Stale,
}

impl Shadow<'_> {
    /// Does a decoded write the fault intercept handed over
    /// ([`super::Outcome::EmulateWrite`]) and resyncs the shadows.
    ///
    /// # Errors
    /// [`WriteRefused`]; nothing is written.
    pub fn emulate_write<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(
        &mut self,
        env: &mut Env<'_, '_, M, F, H>,
        target: WriteTarget,
        w: PteWrite,
    ) -> Result<(), WriteRefused> {
        let end = u32::from(w.offset) + u32::from(w.len);
        if !matches!(w.len, 1 | 2 | 4 | 8) || end > 4096 {
            return Err(WriteRefused::BadShape);
        }
        let still =
            env.p2m.get(target.gfn).is_some_and(|(e, _)| e.mfn == target.mfn && e.ty == P2mType::Ram && e.rights.write);
        if !still {
            return Err(WriteRefused::Stale);
        }
        let bytes = w.value.to_le_bytes();
        env.mem.write_bytes(PhysAddr(target.mfn.to_maddr() + u64::from(w.offset)), &bytes[..w.len as usize]);
        for index in (w.offset as usize / 8)..=((end as usize - 1) / 8) {
            self.resync(env, target.mfn, index);
        }
        Ok(())
    }

    /// A write by the hypervisor itself into a guest table (A/D bits, the
    /// domain builder): written, then resynced.
    pub fn hypervisor_write<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(
        &mut self,
        env: &mut Env<'_, '_, M, F, H>,
        table: Mfn,
        index: usize,
        value: u64,
    ) {
        env.mem.write_u64(entry_addr(table, index), value);
        self.resync(env, table, index);
    }

    /// Entry `index` of guest table frame `mfn` changed: every shadow of it
    /// forgets that entry. The guest's own `invlpg` (or CR3 reload) then
    /// drops what the TLB cached, as it must on bare hardware.
    fn resync<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(
        &mut self,
        env: &mut Env<'_, '_, M, F, H>,
        mfn: Mfn,
        index: usize,
    ) {
        for s in self.slots.iter().flatten() {
            if matches!(s.kind, Kind::Table { mfn: m, .. } if m == mfn) {
                env.mem.write_u64(entry_addr(s.smfn, index), 0);
            }
        }
    }

    /// An intercepted `invlpg va`: the shadows are already coherent, so
    /// only the hardware TLB needs it.
    pub fn invlpg<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(&mut self, env: &mut Env<'_, '_, M, F, H>, va: u64) {
        env.hooks.invlpg(va);
    }

    /// An intercepted `mov cr3`: the guest's new root is guest frame `gfn`.
    /// Returns the shadow root for the hardware's CR3; the TLB is flushed.
    ///
    /// # Errors
    /// The domain must be crashed: the root is not RAM, or not even one
    /// shadow fits.
    pub fn write_cr3<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(
        &mut self,
        env: &mut Env<'_, '_, M, F, H>,
        gfn: Gfn,
    ) -> Result<Mfn, CrashReason> {
        let mfn = guest::table_mfn(env.p2m, gfn).ok_or(CrashReason::TableNotRam(gfn))?;
        let kind = Kind::Table { mfn, level: 4 };
        let slot = match self.find_or_create(env, kind, gfn) {
            Ok(s) => s,
            Err(_) => {
                self.cr3 = None;
                self.blow(env);
                self.find_or_create(env, kind, gfn).map_err(|_| CrashReason::OutOfShadowMemory)?
            }
        };
        self.cr3 = Some(gfn);
        // The root slot is found by guest frame: keep it that of this CR3.
        if let Some(s) = self.slots.iter_mut().flatten().find(|s| s.kind == kind) {
            s.gfn = gfn;
        }
        env.hooks.flush_tlb();
        Ok(slot.smfn)
    }

    /// The p2m entry of `gfn` was `old` and has just changed (balloon,
    /// rights, a grant going): no shadow may keep what it derived from it.
    ///
    /// # Errors
    /// [`CrashReason::NoRoot`] if the frame backed the current root.
    pub fn p2m_changed<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(
        &mut self,
        env: &mut Env<'_, '_, M, F, H>,
        old: Option<P2mEntry>,
    ) -> Result<(), CrashReason> {
        let Some(old) = old else { return Ok(()) };
        // The root survives if the guest's CR3 still names its frame (the
        // changed frame was an alias of it); its shadow is derived from
        // that frame only, so it stays valid.
        let root = self.root();
        let root_ok = match (root, self.cr3) {
            (Some(Slot { kind: Kind::Table { mfn, .. }, .. }), Some(cr3)) => {
                guest::table_mfn(env.p2m, cr3) == Some(mfn)
            }
            _ => false,
        };
        let keep = root.filter(|_| root_ok).map(|r| r.smfn);
        self.destroy(env, |s| matches!(s.kind, Kind::Table { mfn, .. } if mfn == old.mfn) && Some(s.smfn) != keep);
        self.clear_entries(env, |s, e| s.is_leaf_table() && entry_mfn(e) == old.mfn);
        env.hooks.flush_tlb();
        if !root_ok {
            self.cr3 = None;
            return Err(CrashReason::NoRoot);
        }
        Ok(())
    }

    /// Drops every shadow but the current root, whose entries are cleared
    /// (Xen's "blow the shadow tables"): they are rebuilt on demand.
    pub fn blow<M: PhysMemory, F: ShadowFrames, H: ShadowHooks>(&mut self, env: &mut Env<'_, '_, M, F, H>) {
        let root = self.root().map(|r| r.smfn);
        self.destroy(env, |s| Some(s.smfn) != root);
        if let Some(r) = root {
            env.mem.zero_frame(r);
        }
        env.hooks.flush_tlb();
    }
}
