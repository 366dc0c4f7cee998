//! Writable page tables: one of the arena's L1 tables (or a hostile
//! frame) is mapped read-only in the arena, the assist is switched on or
//! off (both hypervisors emulate either way), and a random store form writes a random entry value at a random
//! offset and width. The hypervisor must emulate it exactly when
//! `mmu_update` would accept the resulting entry, or give the page fault;
//! the oracles then walk the arena.

use super::{Fuzz, FIRST_SLOT, NONE};
use crate::arch::{catch, pte_store};
use crate::env::RO;
use crate::oracle::va_of;
use abi::mmu::UVMF_INVLPG;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Stores issued through a window, and those emulated (no fault).
pub(super) static STORES: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

impl Fuzz<'_> {
    pub(super) fn ptwr(&mut self) -> bool {
        // The window: entry `k` of the arena L1 maps the table written.
        let k = 256 + self.rng.below(256);
        let table = match self.rng.below(10) {
            0..=5 => self.tabs[2],
            6..=8 => self.mfns[self.rng.below(self.mfns.len() as u64) as usize],
            _ => self.frame(),
        };
        // Never its boot tables or image: a stray entry there would unmap
        // the fuzzer itself.
        let table = if table == NONE || self.env.is_image(table) { self.tabs[2] } else { table };
        let window = va_of(FIRST_SLOT, 0, 0, k);
        if self.hcall(14, [window, (table << 12) | RO, UVMF_INVLPG, 0, 0]) != 0 {
            return false;
        }
        let on = self.rng.chance(200);
        let _ = self.hcall(21, [u64::from(!on), abi::vm_assist::VMASST_TYPE_WRITABLE_PAGETABLES, 0, 0, 0]);
        let form = self.rng.below(10);
        // Mostly aligned to the form's width, sometimes not.
        let width = [8, 4, 2, 1, 8, 8, 1, 1, 8, 8][form as usize];
        let off = self.rng.below(512) * 8
            + if self.rng.chance(20) { self.rng.below(8) } else { self.rng.below(8 / width) * width };
        let va = window + off.min(4096 - width);
        let v = self.pte();
        let fault = catch(|| pte_store(form, va, v));
        STORES[0].fetch_add(1, Relaxed);
        STORES[1].fetch_add(u64::from(fault.is_none()), Relaxed);
        // The window is closed again so later operations do not inherit it.
        let _ = self.hcall(14, [window, 0, UVMF_INVLPG, 0, 0]);
        fault.is_none()
    }
}
