//! `GNTTABOP_unmap_and_replace` in the pure core: the grant PTE at
//! `host_addr` is replaced by the PTE taken from `new_addr` (which is
//! cleared), references moving with it; refused whole for a
//! `contains_pte` mapping or a `new_addr` with no L1.

use super::harness::*;
use crate::grant::unmap::Unmap;
use crate::mm::tests::world::{Chain, D1, D2};
use abi::grant_table::{gntmap, gtf, status, MapGrantRef};
use abi::mmu::pte::ADDR_MASK;

fn replace(g: &mut GWorld, host_addr: u64, new_addr: u64, handle: u32) -> i16 {
    g.with(|mm, gr| gr.unmap(mm, D1, Unmap { host_addr, dev_bus_addr: 0, new_addr, handle }))
}

#[test]
fn unmap_and_replace_moves_the_pte_from_new_addr_into_the_grant_slot() {
    let mut g = GWorld::new();
    let c = g.address_space(D1);
    let page = g.w.give(D2, 1)[0];
    g.grant(D2, 10, D1, page, gtf::PERMIT_ACCESS);
    let before = (g.w.info(page).count(), g.w.info(c.data).count());
    let op = g.map_host(D1, D2, 10, va(2), false);
    assert_eq!(op.status, status::OKAY);
    let data_pte = g.w.read(c.l1, 1);
    assert_eq!(data_pte & ADDR_MASK, c.data.to_maddr());
    assert_eq!(replace(&mut g, va(2), Chain::va(1), op.handle), status::OKAY);
    assert_eq!(g.w.read(c.l1, 2), data_pte, "the grant slot now holds new_addr's entry");
    assert_eq!(g.w.read(c.l1, 1), 0, "new_addr is unmapped");
    assert_eq!(g.status_flags(D2, 10), gtf::PERMIT_ACCESS, "the grant is released");
    assert_eq!((g.w.info(page).count(), g.w.info(c.data).count()), before, "references moved, none lost");
    g.check();
    // The handle is gone.
    assert_eq!(replace(&mut g, va(2), Chain::va(1), op.handle), status::BAD_HANDLE);
    g.check();
}

#[test]
fn unmap_and_replace_of_a_contains_pte_map_or_to_an_address_without_an_l1_fails_and_keeps_the_grant() {
    let mut g = GWorld::new();
    let c = g.address_space(D1);
    let page = g.w.give(D2, 1)[0];
    g.grant(D2, 10, D1, page, gtf::PERMIT_ACCESS);
    let op = g.map_host(D1, D2, 10, va(2), false);
    // No L1 maps this address (another L4 slot).
    let nowhere = 5u64 << 39;
    assert_eq!(replace(&mut g, va(2), nowhere, op.handle), status::GENERAL_ERROR);
    assert_eq!(g.w.read(c.l1, 2) & ADDR_MASK, page.to_maddr(), "still mapped");
    assert_eq!(g.status_flags(D2, 10), gtf::PERMIT_ACCESS | gtf::READING | gtf::WRITING);
    g.check();
    // A contains_pte mapping can only be unmapped, not replaced.
    let pte_addr = c.l1.to_maddr() + 3 * 8;
    let flags = gntmap::HOST_MAP | gntmap::CONTAINS_PTE;
    let op2 = g.map(D1, MapGrantRef { host_addr: pte_addr, flags, ref_: 10, dom: D2, ..Default::default() });
    assert_eq!(op2.status, status::OKAY);
    let r = g.with(|mm, gr| {
        gr.unmap(mm, D1, Unmap { host_addr: pte_addr, dev_bus_addr: 0, new_addr: va(1), handle: op2.handle })
    });
    assert_eq!(r, status::GENERAL_ERROR);
    assert_eq!(g.w.read(c.l1, 3) & ADDR_MASK, page.to_maddr());
    assert_ne!(g.w.read(c.l1, 1), 0, "new_addr keeps its entry");
    g.check();
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), status::OKAY);
    assert_eq!(g.unmap(D1, pte_addr, 0, op2.handle), status::OKAY);
    g.check();
}
