//! LDT pages: mapped on first use with the descriptor-page type (their
//! descriptors checked), refused when the guest's tables do not map them
//! or they cannot be descriptor pages, and released when the LDT changes
//! and at teardown.

use super::world::*;
use crate::mm::ldt::LdtMapError;
use crate::mm::teardown::Teardown;
use crate::mm::PageType;
use abi::mmu::pte::RW;
use abi::mmu::{MmuextOp, MMUEXT_SET_LDT};
use abi::{Errno, Mfn};

/// The address L1 entry `i` of the chain's table maps.
fn va_of(i: u64) -> u64 {
    Chain::va(1) - (1 << 12) + (i << 12)
}

fn set_ldt(base: u64, ents: u64) -> MmuextOp {
    MmuextOp { cmd: MMUEXT_SET_LDT, pad: 0, arg1: base, arg2: ents }
}

/// A domain running on a pinned chain whose L1 maps `page` read-only at
/// entry 2 (and, when `rw`, writable at entry 3 as well).
fn world_with_ldt_page(rw: bool) -> (World, Chain, Mfn) {
    let mut w = World::new(64);
    let c = pinned_chain(&mut w, D1);
    let page = w.give(D1, 1)[0];
    w.poke(page, 0, 0x00CF_F200_0000_FFFF);
    assert_eq!(w.update(D1, c.l1, 2, page.to_maddr() | (FLAGS & !RW)), Ok(()));
    if rw {
        assert_eq!(w.update(D1, c.l1, 3, page.to_maddr() | FLAGS), Ok(()));
    }
    assert_eq!(w.baseptr(D1, c.l4), Ok(()));
    (w, c, page)
}

#[test]
fn an_ldt_page_is_mapped_on_first_use_as_a_descriptor_page() {
    let (mut w, c, page) = world_with_ldt_page(false);
    assert_eq!(w.ext(D1, set_ldt(va_of(2), 16)), Ok(()));
    assert_eq!(w.info(page).type_count(), 0, "SET_LDT maps nothing yet, as Xen");
    assert_eq!(w.mm().ldt_descriptor(D1, 0), None);
    assert_eq!(w.mm().map_ldt_page(D1, 0), Ok(page));
    assert_eq!((w.info(page).page_type(), w.info(page).type_count()), (PageType::SegDesc, 1));
    assert_eq!(w.mm().ldt_descriptor(D1, 0), Some(0x00CF_F200_0000_FFFF));
    assert_eq!(w.mm().ldt_descriptor(D1, 16), None, "beyond the entries");
    assert_eq!(w.mm().map_ldt_page(D1, 0), Ok(page), "mapping twice takes no second reference");
    assert_eq!(w.info(page).type_count(), 1);
    w.check();
    refused(&mut w, Errno::EBUSY, |w| w.update(D1, c.l1, 4, page.to_maddr() | FLAGS));
    assert_eq!(w.mm().update_descriptor(D1, page.to_maddr() + 8, 0x00CF_F200_0000_FFFF), Ok(()));
    assert_eq!(w.mm().ldt_descriptor(D1, 1), Some(0x00CF_F200_0000_FFFF));
    assert_eq!(w.mm().map_ldt_page(D1, 1), Err(LdtMapError::OutOfRange), "16 entries: one page");
}

#[test]
fn the_same_ldt_again_keeps_its_pages_and_another_one_releases_them() {
    let (mut w, c, page) = world_with_ldt_page(false);
    assert_eq!(w.ext(D1, set_ldt(va_of(2), 16)), Ok(()));
    assert_eq!(w.mm().map_ldt_page(D1, 0), Ok(page));
    assert_eq!(w.ext(D1, set_ldt(va_of(2), 16)), Ok(()));
    assert_eq!(w.info(page).type_count(), 1, "unchanged arguments: nothing dropped");
    assert_eq!(w.ext(D1, set_ldt(va_of(2), 32)), Ok(()));
    assert_eq!(w.info(page).type_count(), 0, "a new LDT releases the old pages");
    w.check();
    assert_eq!(w.update(D1, c.l1, 4, page.to_maddr() | FLAGS), Ok(()), "writable again");
    assert_eq!(w.mm().map_ldt_page(D1, 0), Err(LdtMapError::NotDescriptorPage), "now mapped writable");
    w.check();
}

#[test]
fn unmapped_writable_foreign_or_bad_pages_are_refused_and_change_nothing() {
    let (mut w, c, page) = world_with_ldt_page(true);
    assert_eq!(w.ext(D1, set_ldt(va_of(2), 16)), Ok(()));
    let before = w.snapshot();
    assert_eq!(w.mm().map_ldt_page(D1, 0), Err(LdtMapError::NotDescriptorPage), "also mapped writable");
    assert!(w.snapshot().same_modulo_adjustments(&before));
    assert_eq!(w.ext(D1, set_ldt(va_of(9), 16)), Ok(()));
    assert_eq!(w.mm().map_ldt_page(D1, 0), Err(LdtMapError::NotMapped));
    // A page with a gate in it.
    assert_eq!(w.update(D1, c.l1, 3, 0), Ok(()));
    w.poke(page, 5, 0x0000_EC00_E008_1000);
    assert_eq!(w.ext(D1, set_ldt(va_of(2), 16)), Ok(()));
    let before = w.snapshot();
    assert_eq!(w.mm().map_ldt_page(D1, 0), Err(LdtMapError::NotDescriptorPage), "a call gate");
    assert!(w.snapshot().same_modulo_adjustments(&before));
    w.poke(page, 5, 0);
    assert_eq!(w.mm().map_ldt_page(D1, 0), Ok(page));
    // Another domain's frame mapped by D1 (D2 lets it: a foreign read-only map is refused
    // by the model already, so the page-table entry is written under the hood).
    let theirs = w.give(D2, 1)[0];
    w.poke(c.l1, 6, theirs.to_maddr() | (FLAGS & !RW));
    assert_eq!(w.ext(D1, set_ldt(va_of(6), 1)), Ok(()));
    assert_eq!(w.mm().map_ldt_page(D1, 0), Err(LdtMapError::NotDescriptorPage), "not the domain's");
    w.poke(c.l1, 6, 0);
    w.check();
}

#[test]
fn teardown_releases_the_ldt_pages() {
    let (mut w, _, page) = world_with_ldt_page(false);
    assert_eq!(w.ext(D1, set_ldt(va_of(2), 600)), Ok(()));
    assert_eq!(w.mm().map_ldt_page(D1, 0), Ok(page));
    let report = Teardown::new(&w.mm(), D1).run(&mut w.mm());
    assert_eq!(report.still_referenced, 0);
    assert_eq!(w.info(page).count(), 0, "the LDT page's references went");
    w.check();
}
