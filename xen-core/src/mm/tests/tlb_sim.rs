//! A simulated TLB for host tests: it keeps every translation it cached
//! until a flush removes it, as the CPU may. Filling walks the page tables
//! as the CPU does (rights ANDed across levels, global from the leaf), so
//! linear and self maps give translations of page tables too.

use crate::mm::check::CachedTranslation;
use crate::mm::pte::{table_index, Pte};
use crate::mm::validate::is_hv_slot;
use crate::mm::{Mm, MmHooks, PhysMemory};
use abi::mmu::pte::{GLOBAL, PAT_PSE, USER};
use abi::{DomId, Mfn};

/// One CPU's TLB.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SimTlb {
    /// What it holds, sorted, without duplicates.
    pub entries: Vec<CachedTranslation>,
}

impl SimTlb {
    /// A full flush (PGE toggle): everything goes.
    pub fn flush(&mut self) {
        self.entries.clear();
    }

    /// A CR3 reload: global entries stay.
    pub fn reload_cr3(&mut self) {
        self.entries.retain(|t| t.global);
    }

    /// INVLPG: every translation of this page goes, global ones included.
    pub fn invlpg(&mut self, va: u64) {
        let page = va & !0xFFF;
        self.entries.retain(|t| t.va != page);
    }

    /// `mfn` went back to the allocator: translations still cached outlive it.
    pub fn freed(&mut self, mfn: Mfn) {
        for t in self.entries.iter_mut().filter(|t| t.mfn == mfn) {
            t.outlived_frame = true;
        }
    }

    /// Caches what `dom`'s page tables (kernel and user root) give for `va`.
    pub fn fill<M: PhysMemory, H: MmHooks>(&mut self, mm: &Mm<'_, M, H>, dom: DomId, va: u64) {
        let Some(d) = mm.domain(dom) else { return };
        for root in [d.kernel_root, d.user_root].into_iter().flatten() {
            if let Some(t) = walk(mm, dom, root, va) {
                if let Err(at) = self.entries.binary_search(&t) {
                    self.entries.insert(at, t);
                }
            }
        }
    }

    /// The writable translations, for "write through the TLB".
    pub fn writable(&self) -> Vec<CachedTranslation> {
        self.entries.iter().copied().filter(|t| t.writable).collect()
    }
}

/// The translation the CPU would make for `va` under `root`, if any.
pub fn walk<M: PhysMemory, H: MmHooks>(mm: &Mm<'_, M, H>, dom: DomId, root: Mfn, va: u64) -> Option<CachedTranslation> {
    let mut table = root;
    let mut writable = true;
    for level in (1..=4u8).rev() {
        let index = table_index(va, level);
        if is_hv_slot(level, index) || !mm.is_ram(table) {
            // Supervisor-only or not RAM: no guest translation.
            return None;
        }
        let e = Pte(mm.read_entry(table, index));
        if !e.present() || e.0 & USER == 0 || (level > 1 && e.0 & PAT_PSE != 0) {
            return None;
        }
        writable &= e.writable();
        if level == 1 {
            let mfn = e.mfn();
            let owner = if mm.is_ram(mfn) { mm.info(mfn).owner() } else { DomId::IO };
            let global = e.0 & GLOBAL != 0;
            return Some(CachedTranslation {
                dom,
                va: va & !0xFFF,
                mfn,
                writable,
                global,
                owner,
                outlived_frame: false,
            });
        }
        table = e.mfn();
    }
    None
}
