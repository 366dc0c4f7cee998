//! Translated domains on the grant core: a PVH granter's guest frames
//! looked up in its p2m (Xen's status per p2m type), and a PVH mapper's
//! host mappings as p2m grant entries (Xen's translated-guest rules).

use super::harness::*;
use crate::grant::unmap::Unmap;
use crate::mm::page_info::PageType;
use crate::mm::tests::world::{D0, D1, D2};
use crate::mm::PhysMemory;
use crate::p2m::{P2mEntry, P2mType, Rights};
use abi::grant_table::{gntcopy, gntmap, gtf, status, CopyPtr, GnttabCopy, MapGrantRef};
use abi::{DomId, Mfn};

const P: u16 = gtf::PERMIT_ACCESS;
/// The guest frame D2 (translated) grants its page at.
const GFN: u64 = 0x42;

/// D2 translated, with `page` at [`GFN`] in its p2m, granting it to `to`.
fn translated_granter(g: &mut GWorld, to: DomId) -> Mfn {
    let page = g.w.give(D2, 1)[0];
    g.make_translated(D2);
    g.w.hooks.p2m.insert((D2.0, GFN), P2mEntry { mfn: page, ty: P2mType::Ram, rights: Rights::RWX });
    g.grant(D2, 10, to, Mfn(GFN), P);
    page
}

#[test]
fn a_pv_domain_maps_a_translated_granters_guest_frame_as_its_machine_frame() {
    let mut g = GWorld::new();
    let c = g.address_space(D0);
    let page = translated_granter(&mut g, D0);
    g.w.mem.write_u64(crate::mm::PhysAddr(page.to_maddr()), 0xC0FFEE);
    let op = g.map_host(D0, D2, 10, va(2), false);
    assert_eq!(op.status, status::OKAY);
    assert_eq!(op.dev_bus_addr, page.to_maddr(), "the machine frame, not the guest frame");
    assert_eq!(g.w.mm().read_entry(c.l1, 2) >> 12 & 0xF_FFFF_FFFF, page.0);
    assert_eq!(g.w.mm().info(page).page_type(), PageType::Writable, "the same type reference as for PV");
    g.check();
    assert_eq!(g.unmap(D0, va(2), 0, op.handle), status::OKAY);
    g.check();
    // contains_pte works the same way.
    let pte = c.l1.to_maddr() + 3 * 8;
    let flags = gntmap::HOST_MAP | gntmap::CONTAINS_PTE | gntmap::READONLY;
    let op = g.map(D0, MapGrantRef { host_addr: pte, flags, ref_: 10, dom: D2, ..Default::default() });
    assert_eq!(op.status, status::OKAY);
    g.check();
}

#[test]
fn a_translated_granters_hole_mmio_or_grant_mapping_is_refused_as_xen_does() {
    let mut g = GWorld::new();
    g.address_space(D0);
    let page = translated_granter(&mut g, D0);
    let foreign = g.w.give(D0, 1)[0];
    let cases = [
        (None, status::BAD_PAGE),
        (Some(P2mEntry { mfn: Mfn(150), ty: P2mType::Mmio, rights: Rights::RW }), status::BAD_PAGE),
        (Some(P2mEntry { mfn: foreign, ty: P2mType::Grant, rights: Rights::RW }), status::GENERAL_ERROR),
        // A frame the p2m says is RAM but that is not the granter's.
        (Some(P2mEntry { mfn: foreign, ty: P2mType::Ram, rights: Rights::RW }), status::BAD_PAGE),
    ];
    for (e, want) in cases {
        match e {
            Some(e) => g.w.hooks.p2m.insert((D2.0, GFN), e),
            None => g.w.hooks.p2m.remove(&(D2.0, GFN)),
        };
        assert_eq!(g.map_host(D0, D2, 10, va(2), false).status, want, "{e:?}");
        g.check();
        assert_eq!(g.status_flags(D2, 10) & (gtf::READING | gtf::WRITING), 0, "{e:?}: status cleared");
    }
    // A frame beyond its map (the hook has none) is a hole too.
    g.grant(D2, 11, D0, Mfn(u64::MAX >> 12), P);
    assert_eq!(g.map_host(D0, D2, 11, va(2), false).status, status::BAD_PAGE);
    // Read-only RAM in the p2m: only a read-only pin.
    g.w.hooks.p2m.insert((D2.0, GFN), P2mEntry { mfn: page, ty: P2mType::Ram, rights: Rights::RX });
    assert_eq!(g.map_host(D0, D2, 10, va(2), false).status, status::BAD_PAGE);
    assert_eq!(g.map_host(D0, D2, 10, va(2), true).status, status::OKAY);
    g.check();
}

#[test]
fn a_pv_domain_copies_from_and_to_a_translated_granters_grant() {
    let mut g = GWorld::new();
    let page = translated_granter(&mut g, D0);
    let mine = g.w.give(D0, 1)[0];
    g.w.mem.write_u64(crate::mm::PhysAddr(page.to_maddr() + 8), 0x1234_5678);
    let src = CopyPtr { u: 10, domid: D2, offset: 8, pad: 0 };
    let dst = CopyPtr { u: mine.0, domid: DomId::SELF, offset: 0, pad: 0 };
    let op = GnttabCopy { source: src, dest: dst, len: 8, flags: gntcopy::SOURCE_GREF, ..Default::default() };
    assert_eq!(g.copy(D0, op), status::OKAY);
    assert_eq!(g.w.mem.read_u64(crate::mm::PhysAddr(mine.to_maddr())), 0x1234_5678);
    let back = GnttabCopy { source: dst, dest: src, len: 8, flags: gntcopy::DEST_GREF, ..Default::default() };
    g.w.mem.write_u64(crate::mm::PhysAddr(mine.to_maddr()), 0xAB);
    assert_eq!(g.copy(D0, back), status::OKAY);
    assert_eq!(g.w.mem.read_u64(crate::mm::PhysAddr(page.to_maddr() + 8)), 0xAB);
    g.w.hooks.p2m.remove(&(D2.0, GFN));
    assert_eq!(g.copy(D0, op), status::BAD_PAGE, "a hole now");
    g.check();
}

/// D0 (PV) grants a page to translated D1; returns the page.
fn pv_grant_to_translated(g: &mut GWorld, flags: u16) -> Mfn {
    g.make_translated(D1);
    let page = g.w.give(D0, 1)[0];
    g.grant(D0, 10, D1, page, flags);
    page
}

fn p2m_map(g: &mut GWorld, gfn: u64, flags: u32) -> MapGrantRef {
    g.map_p2m(MapGrantRef { host_addr: gfn << 12, flags, ref_: 10, dom: D0, ..Default::default() }).0
}

#[test]
fn a_translated_mapper_gets_a_p2m_grant_entry_and_unmap_leaves_a_hole() {
    let mut g = GWorld::new();
    let page = pv_grant_to_translated(&mut g, P);
    let before = g.w.mm().info(page).count();
    let op = p2m_map(&mut g, 5, gntmap::HOST_MAP);
    assert_eq!(op.status, status::OKAY);
    assert_eq!(op.dev_bus_addr, 0, "no device mapping");
    assert_eq!(g.p2m_at(5), Some(P2mEntry { mfn: page, ty: P2mType::Grant, rights: Rights::RW }));
    assert_eq!(g.npt.changed, [5], "the nested tables follow");
    assert_eq!(g.w.mm().info(page).count(), before + 1, "one general reference, the p2m entry's");
    assert_eq!(g.w.mm().info(page).page_type(), PageType::Writable);
    assert_eq!(g.status_flags(D0, 10) & (gtf::READING | gtf::WRITING), gtf::READING | gtf::WRITING);
    g.check();
    // The frame is not the granter's to retype while it is mapped.
    assert!(g.with(|mm, _| mm.get_type(page, PageType::L1)).is_err());
    let u = Unmap { host_addr: 5 << 12, dev_bus_addr: 0, new_addr: 0, handle: op.handle };
    assert_eq!(g.unmap_p2m(u), status::OKAY);
    assert_eq!(g.p2m_at(5), None, "a hole, as Xen leaves it");
    assert_eq!(g.npt.changed, [5, 5]);
    assert_eq!(g.w.mm().info(page).count(), before);
    assert_eq!(g.w.mm().info(page).type_count(), 0);
    assert_eq!(g.status_flags(D0, 10) & (gtf::READING | gtf::WRITING), 0);
    assert_eq!(g.unmap_p2m(u), status::BAD_HANDLE);
    g.check();
}

#[test]
fn a_read_only_p2m_grant_mapping_is_read_only_and_takes_no_type() {
    let mut g = GWorld::new();
    let page = pv_grant_to_translated(&mut g, P | gtf::READONLY);
    assert_eq!(p2m_map(&mut g, 6, gntmap::HOST_MAP).status, status::GENERAL_ERROR, "a read-only grant");
    let op = p2m_map(&mut g, 6, gntmap::HOST_MAP | gntmap::READONLY);
    assert_eq!(op.status, status::OKAY);
    assert_eq!(g.p2m_at(6), Some(P2mEntry { mfn: page, ty: P2mType::Grant, rights: Rights::R }));
    assert_eq!(g.w.mm().info(page).type_count(), 0);
    g.check();
}

#[test]
fn a_translated_mappers_refused_flags_and_frames_get_xens_status() {
    let mut g = GWorld::new();
    pv_grant_to_translated(&mut g, P);
    let cases = [
        (gntmap::HOST_MAP | gntmap::DEVICE_MAP, 5, status::GENERAL_ERROR),
        (gntmap::DEVICE_MAP, 5, status::GENERAL_ERROR),
        (gntmap::HOST_MAP | gntmap::APPLICATION_MAP, 5, status::GENERAL_ERROR),
        (gntmap::HOST_MAP | gntmap::CONTAINS_PTE, 5, status::GENERAL_ERROR),
        (gntmap::HOST_MAP | 1 << 16, 5, status::GENERAL_ERROR),
        (gntmap::READONLY, 5, status::BAD_GNTREF),
        (gntmap::HOST_MAP, P2M_GFNS as u64, status::GENERAL_ERROR),
        (gntmap::HOST_MAP, u64::MAX >> 12, status::GENERAL_ERROR),
    ];
    for (flags, gfn, want) in cases {
        assert_eq!(p2m_map(&mut g, gfn, flags).status, want, "flags {flags:#x} gfn {gfn:#x}");
        g.check();
        assert_eq!(g.status_flags(D0, 10) & (gtf::READING | gtf::WRITING), 0);
    }
    // Device-map style flags are refused before the domain is looked at.
    let op = MapGrantRef {
        host_addr: 0,
        flags: gntmap::HOST_MAP | gntmap::CONTAINS_PTE,
        ref_: 10,
        dom: DomId(9),
        ..Default::default()
    };
    assert_eq!(g.map_p2m(op).0.status, status::GENERAL_ERROR);
    // Cache attributes in the grant entry.
    let page = g.w.give(D0, 1)[0];
    g.grant(D0, 10, D1, page, P | gtf::PCD);
    assert_eq!(p2m_map(&mut g, 5, gntmap::HOST_MAP).status, status::GENERAL_ERROR);
    // Over another grant mapping (Xen crashes the domain; refused here).
    g.grant(D0, 10, D1, page, P);
    g.grant(D0, 11, D1, page, P);
    assert_eq!(p2m_map(&mut g, 5, gntmap::HOST_MAP).status, status::OKAY);
    let again = MapGrantRef { host_addr: 5 << 12, flags: gntmap::HOST_MAP, ref_: 11, dom: D0, ..Default::default() };
    assert_eq!(g.map_p2m(again).0.status, status::GENERAL_ERROR);
    assert_eq!(g.p2m_at(5).map(|e| e.ty), Some(P2mType::Grant));
    g.check();
    assert!(g.npt.changed.iter().all(|&x| x == 5));
}

#[test]
fn a_translated_mappers_bad_unmaps_get_general_error_and_change_nothing() {
    let mut g = GWorld::new();
    pv_grant_to_translated(&mut g, P);
    let op = p2m_map(&mut g, 5, gntmap::HOST_MAP);
    let h = op.handle;
    for u in [
        Unmap { host_addr: 6 << 12, dev_bus_addr: 0, new_addr: 0, handle: h },
        Unmap { host_addr: u64::MAX, dev_bus_addr: 0, new_addr: 0, handle: h },
        // unmap_and_replace with a new_addr.
        Unmap { host_addr: 5 << 12, dev_bus_addr: 0, new_addr: 7 << 12, handle: h },
    ] {
        assert_eq!(g.unmap_p2m(u), status::GENERAL_ERROR, "{u:?}");
        assert!(g.p2m_at(5).is_some());
        g.check();
    }
    // unmap_and_replace without a new_addr is an unmap.
    assert_eq!(g.unmap_p2m(Unmap { host_addr: 5 << 12, dev_bus_addr: 0, new_addr: 0, handle: h }), status::OKAY);
    g.check();
}

#[test]
fn a_translated_mapper_over_its_ram_replaces_it_and_over_its_own_frame_is_refused() {
    let mut g = GWorld::new();
    let page = pv_grant_to_translated(&mut g, P);
    let ram = g.w.give(D1, 1)[0];
    g.with_p2m(|mm, _, p2m, _| {
        let e = P2mEntry { mfn: ram, ty: P2mType::Ram, rights: Rights::RWX };
        p2m.set_entry(mm, abi::Gfn(5), crate::p2m::Order::Page4K, Some(e))
    })
    .unwrap();
    let op = p2m_map(&mut g, 5, gntmap::HOST_MAP);
    assert_eq!(op.status, status::OKAY);
    assert_eq!(g.p2m_at(5).map(|e| e.mfn), Some(page));
    assert_eq!(g.w.mm().info(ram).count(), 1, "the RAM frame stays the domain's, unmapped, as on Xen");
    g.check();
    // Its own frame granted to itself is not a grant its p2m can hold.
    g.grant(D1, 12, D1, Mfn(7), P);
    g.with_p2m(|mm, _, p2m, _| {
        let e = P2mEntry { mfn: ram, ty: P2mType::Ram, rights: Rights::RWX };
        p2m.set_entry(mm, abi::Gfn(7), crate::p2m::Order::Page4K, Some(e))
    })
    .unwrap();
    let own = MapGrantRef { host_addr: 8 << 12, flags: gntmap::HOST_MAP, ref_: 12, dom: D1, ..Default::default() };
    assert_eq!(g.map_p2m(own).0.status, status::GENERAL_ERROR);
    g.check();
}

#[test]
fn a_translated_domains_grant_mapped_frame_cannot_be_granted_on_or_ballooned_out() {
    let mut g = GWorld::new();
    g.address_space(D2);
    pv_grant_to_translated(&mut g, P);
    assert_eq!(p2m_map(&mut g, 5, gntmap::HOST_MAP).status, status::OKAY);
    // D1 grants its gfn 5 (the grant mapping) on to D2: not its RAM.
    g.w.hooks.p2m.insert((D1.0, 5), g.p2m_at(5).unwrap());
    g.grant(D1, 20, D2, Mfn(5), P);
    assert_eq!(g.map_host(D2, D1, 20, va(2), false).status, status::GENERAL_ERROR);
    // D1 copying from its own reference goes through its own p2m: refused too.
    g.grant(D1, 21, D1, Mfn(5), P);
    let mine = g.w.give(D1, 1)[0];
    let src = CopyPtr { u: 21, domid: DomId::SELF, offset: 0, pad: 0 };
    let dst = CopyPtr { u: mine.0, domid: DomId::SELF, offset: 0, pad: 0 };
    let op = GnttabCopy { source: src, dest: dst, len: 8, flags: gntcopy::SOURCE_GREF, ..Default::default() };
    assert_eq!(g.copy_p2m(op), status::GENERAL_ERROR);
    // Ballooning it out: not RAM of the domain.
    assert!(g.with_p2m(|mm, _, p2m, _| p2m.remove_ram(mm, abi::Gfn(5))).is_err());
    assert!(g.p2m_at(5).is_some());
    g.check();
}

#[test]
fn a_dying_translated_mapper_releases_its_p2m_grant_mappings() {
    let mut g = GWorld::new();
    let page = pv_grant_to_translated(&mut g, P);
    let before = g.w.mm().info(page).count();
    assert_eq!(p2m_map(&mut g, 5, gntmap::HOST_MAP).status, status::OKAY);
    g.with_p2m(|mm, gr, p2m, _| {
        gr.release_domain(mm, D1);
        p2m.clear(mm);
    });
    assert_eq!(g.w.mm().info(page).count(), before);
    assert_eq!(g.w.mm().info(page).type_count(), 0);
    assert_eq!(g.active[10].pin, 0, "D0's ref 10 is unpinned");
    assert_eq!(g.status_flags(D0, 10) & (gtf::READING | gtf::WRITING), 0);
    g.check();
}

#[test]
fn a_p2m_grant_mapping_the_nested_tables_cannot_follow_asks_for_a_crash() {
    let mut g = GWorld::new();
    pv_grant_to_translated(&mut g, P);
    g.npt.fail = true;
    let (op, failed) =
        g.map_p2m(MapGrantRef { host_addr: 5 << 12, flags: gntmap::HOST_MAP, ref_: 10, dom: D0, ..Default::default() });
    assert_eq!(op.status, status::OKAY);
    assert!(failed);
    g.check();
}

#[test]
fn a_p2m_grant_mapping_is_never_a_shadowed_page_table() {
    let mut g = GWorld::new();
    pv_grant_to_translated(&mut g, P);
    assert_eq!(p2m_map(&mut g, 5, gntmap::HOST_MAP).status, status::OKAY);
    // Shadow paging shadows guest tables only in the domain's own RAM: a
    // guest table placed in the grant frame is refused, not shadowed (and
    // so never write-protected behind the granter's back).
    let t = g.with_p2m(|_, _, p2m, _| crate::shadow::guest::table_mfn(p2m, abi::Gfn(5)));
    assert_eq!(t, None);
}
