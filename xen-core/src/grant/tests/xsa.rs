//! Grant-table advisories as regression tests (fact sheet §6.4).

use super::harness::*;
use crate::mm::pte::table_index;
use crate::mm::tests::world::{D0, D1, D2, FLAGS, RO};
use abi::grant_table::{gntmap, gtf, status, MapGrantRef};
use abi::mmu::MmuUpdate;
use abi::Errno;

const P: u16 = gtf::PERMIT_ACCESS;

/// XSA-224: a device-only map creates no host mapping, even with an address.
#[test]
fn xsa224_device_map_never_writes_a_pte() {
    let mut g = GWorld::new();
    let c = g.address_space(D1);
    let page = g.w.give(D2, 1)[0];
    g.grant(D2, 10, D1, page, P);
    let op =
        g.map(D1, MapGrantRef { host_addr: va(2), flags: gntmap::DEVICE_MAP, ref_: 10, dom: D2, ..Default::default() });
    assert_eq!(op.status, 0);
    assert_eq!(g.w.read(c.l1, 2), 0);
    // Unmapping the host part it never had drops nothing.
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), 0);
    assert_eq!(g.status_flags(D2, 10), P | gtf::READING | gtf::WRITING);
    g.check();
}

/// XSA-227: a `contains_pte` address must be 8-byte aligned.
#[test]
fn xsa227_misaligned_pte_address_is_refused_and_nothing_written() {
    let mut g = GWorld::new();
    let c = g.address_space(D1);
    let page = g.w.give(D2, 1)[0];
    g.grant(D2, 10, D1, page, P);
    let before: Vec<u64> = (0..8).map(|i| g.w.read(c.l1, i)).collect();
    for off in 1..8 {
        let at = c.l1.to_maddr() + 16 + off;
        let op = g.map(
            D1,
            MapGrantRef {
                host_addr: at,
                flags: gntmap::HOST_MAP | gntmap::CONTAINS_PTE,
                ref_: 10,
                dom: D2,
                ..Default::default()
            },
        );
        assert_eq!(op.status, status::GENERAL_ERROR, "offset {off}");
    }
    assert_eq!((0..8).map(|i| g.w.read(c.l1, i)).collect::<Vec<_>>(), before);
    assert_eq!(g.status_flags(D2, 10), P);
    g.check();
}

/// XSA-234: unmap checks the PTE still maps the frame *with the grant's
/// present and RW bits*; a guest-edited grant PTE keeps the pins.
#[test]
fn xsa234_unmap_of_an_edited_grant_pte_fails_and_keeps_counts_right() {
    let mut g = GWorld::new();
    let c = g.address_space(D0);
    let page = g.w.give(D2, 1)[0];
    g.grant(D2, 10, D0, page, P);
    let op = g.map_host(D0, D2, 10, va(2), false);
    assert_eq!(op.status, 0);
    // The control domain rewrites the grant PTE read-only (foreigndom D2).
    let ptr = c.l1.to_maddr() + table_index(va(2), 1) as u64 * 8;
    let r = g.w.mmu_batch(D0, &[MmuUpdate { ptr, val: page.to_maddr() | RO }], u32::from(D2.0)).result;
    assert_eq!(r, Ok(()));
    g.check();
    assert_eq!(g.unmap(D0, va(2), 0, op.handle), status::GENERAL_ERROR);
    assert_eq!(g.status_flags(D2, 10), P | gtf::READING | gtf::WRITING);
    g.check();
    // Clearing it drops the read-only entry's own references.
    assert_eq!(g.w.update(D0, c.l1, 2, 0), Ok(()));
    g.check();
}

/// XSA-234, frame half: a grant PTE replaced by an own mapping is not "the
/// grant" any more.
#[test]
fn xsa234_unmap_after_the_guest_replaced_the_pte_fails() {
    let mut g = GWorld::new();
    let c = g.address_space(D1);
    let page = g.w.give(D2, 1)[0];
    let own = g.w.give(D1, 1)[0];
    g.grant(D2, 10, D1, page, P);
    let op = g.map_host(D1, D2, 10, va(2), false);
    assert_eq!(g.w.update(D1, c.l1, 2, own.to_maddr() | FLAGS), Ok(()));
    g.check();
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), status::GENERAL_ERROR);
    assert_ne!(g.w.read(c.l1, 2), 0, "the guest's own mapping stays");
    g.check();
}

/// XSA-255: a v2→v1 switch must not free status frames the guest maps.
#[test]
fn xsa255_status_frame_still_mapped_blocks_the_switch_back() {
    let mut g = GWorld::new();
    let c = g.address_space(D1);
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D1, 2)), (Ok(()), 2));
    let sf = g.tables[1].status[0];
    assert_eq!(g.w.update(D1, c.l1, 3, sf.to_maddr() | RO), Ok(()));
    let before = g.w.info(sf);
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D1, 1)), (Err(Errno::EBUSY), 2));
    assert_eq!(g.w.info(sf), before);
    assert!(!g.w.hooks.freed.contains(&sf));
    g.check();
    assert_eq!(g.w.update(D1, c.l1, 3, 0), Ok(()));
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D1, 1)), (Ok(()), 1));
    assert!(g.w.hooks.freed.contains(&sf));
    g.check();
}
