//! A dying domain's grants (Xen's `gnttab_release_mappings`): every
//! mapping it holds is dropped, and its own table is retired.
//!
//! Host mappings' frame references belong to their PTEs and go with the
//! domain's page tables (the memory model's teardown); device mappings'
//! references are dropped here. Pins go and the granters' status flags are
//! cleared. Its own shared and status frames are Xen-heap frames it owns:
//! the teardown drops their allocation references, so they return to the
//! allocator once nothing maps them. Other domains still mapping its grants
//! keep their pins and references until they unmap; status flags of a
//! retired table are no longer written (its frames may be reused).

use super::{pin, GrantTable, Grants, MapTrack, MAX_MAPTRACK};
use crate::mm::{Mm, MmHooks, PhysMemory};
use abi::grant_table::gntmap;
use abi::DomId;

impl Grants<'_> {
    /// Releases everything `dom` holds; called before its memory teardown.
    pub fn release_domain<M: PhysMemory, H: MmHooks>(&mut self, mm: &mut Mm<'_, M, H>, dom: DomId) {
        if dom.0 as usize >= self.tables.len() {
            return;
        }
        // A translated domain's host mappings are p2m entries: their general
        // references go with its p2m (after this), their type references,
        // held by the slots, here.
        let p2m_maps = self.tables[dom.0 as usize].translated;
        for h in 0..MAX_MAPTRACK as u32 {
            let m = *self.maptrack(dom, h).expect("in range");
            if m.flags == 0 {
                continue;
            }
            let ro = m.flags & gntmap::READONLY != 0;
            let mfn = self.active(m.dom, m.ref_).mfn;
            if m.flags & gntmap::DEVICE_MAP != 0 {
                if !ro {
                    mm.put_type(mfn);
                }
                mm.put_page(mfn);
                self.active_mut(m.dom, m.ref_).pin -= if ro { pin::DEVR } else { pin::DEVW };
            }
            if m.flags & gntmap::HOST_MAP != 0 {
                if p2m_maps && !ro {
                    mm.put_type(mfn);
                }
                self.active_mut(m.dom, m.ref_).pin -= if ro { pin::HSTR } else { pin::HSTW };
            }
            self.reduce_status_for_pin(mm, m.dom, m.ref_, ro);
            *self.maptrack_mut(dom, h) = MapTrack::FREE;
        }
        self.tables[dom.0 as usize] = GrantTable::NONE;
    }
}
