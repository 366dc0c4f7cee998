//! One row per status code and errno of each sub-op.

use super::harness::*;
use crate::grant::MAX_MAPTRACK;
use crate::mm::page_info::PageType;
use crate::mm::tests::world::{D0, D1, D2};
use crate::mm::PhysMemory;
use abi::grant_table::{gntcopy, gntmap, gtf, status, CopyPtr, GnttabCopy, MapGrantRef};
use abi::{DomId, Errno, Mfn};

const P: u16 = gtf::PERMIT_ACCESS;

fn granted(g: &mut GWorld) -> (Mfn, crate::mm::tests::world::Chain) {
    let c = g.address_space(D1);
    let page = g.w.give(D2, 1)[0];
    g.grant(D2, 10, D1, page, P);
    (page, c)
}

#[test]
fn map_without_host_or_device_flag_is_bad_gntref() {
    let mut g = GWorld::new();
    granted(&mut g);
    let op = g.map(D1, MapGrantRef { flags: gntmap::READONLY, ref_: 10, dom: D2, ..Default::default() });
    assert_eq!(op.status, status::BAD_GNTREF);
    g.check();
}

#[test]
fn map_of_domid_self_or_an_unknown_domain_is_bad_domain() {
    let mut g = GWorld::new();
    granted(&mut g);
    for dom in [DomId::SELF, DomId(7), DomId::INVALID] {
        assert_eq!(g.map_host(D1, dom, 10, va(2), false).status, status::BAD_DOMAIN, "{dom:?}");
    }
}

#[test]
fn map_of_a_ref_beyond_the_table_is_bad_gntref() {
    let mut g = GWorld::new();
    granted(&mut g);
    assert_eq!(g.map_host(D1, D2, 512, va(2), false).status, status::BAD_GNTREF);
    assert_eq!(g.map_host(D1, D2, u32::MAX, va(2), false).status, status::BAD_GNTREF);
}

#[test]
fn map_of_an_entry_for_someone_else_or_not_permitting_is_general_error() {
    let mut g = GWorld::new();
    let (page, _) = granted(&mut g);
    g.grant(D2, 11, D0, page, P);
    g.grant(D2, 12, D1, page, gtf::ACCEPT_TRANSFER);
    g.grant(D2, 13, D1, page, P | gtf::READONLY);
    for r in [11, 12, 14] {
        assert_eq!(g.map_host(D1, D2, r, va(2), true).status, status::GENERAL_ERROR, "ref {r}");
    }
    assert_eq!(g.map_host(D1, D2, 13, va(2), false).status, status::GENERAL_ERROR, "write on readonly");
    assert_eq!(g.status_flags(D2, 13) & (gtf::READING | gtf::WRITING), 0);
    g.check();
}

#[test]
fn map_of_a_frame_the_granter_does_not_own_is_bad_page() {
    let mut g = GWorld::new();
    g.address_space(D1);
    let foreign = g.w.give(D0, 1)[0];
    g.grant(D2, 10, D1, foreign, P);
    g.grant(D2, 11, D1, Mfn(1 << 40), P);
    assert_eq!(g.map_host(D1, D2, 10, va(2), false).status, status::BAD_PAGE);
    assert_eq!(g.map_host(D1, D2, 11, va(2), false).status, status::BAD_PAGE);
    assert_eq!(g.status_flags(D2, 10), P, "reading/writing cleared again");
    g.check();
}

#[test]
fn host_map_writes_the_pte_takes_refs_and_sets_the_status() {
    let mut g = GWorld::new();
    let (page, c) = granted(&mut g);
    let before = g.w.info(page);
    let op = g.map_host(D1, D2, 10, va(2), false);
    assert_eq!(op.status, status::OKAY);
    assert_eq!(op.dev_bus_addr, page.to_maddr());
    let pte = g.w.read(c.l1, 2);
    assert_eq!(pte & abi::mmu::pte::ADDR_MASK, page.to_maddr());
    assert_ne!(pte & abi::mmu::pte::RW, 0);
    assert_eq!(g.w.info(page).count(), before.count() + 1);
    assert_eq!((g.w.info(page).page_type(), g.w.info(page).type_count()), (PageType::Writable, 1));
    assert_eq!(g.status_flags(D2, 10), P | gtf::READING | gtf::WRITING);
    g.check();
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), status::OKAY);
    assert_eq!(g.w.read(c.l1, 2), 0);
    assert_eq!(g.status_flags(D2, 10), P);
    assert_eq!(g.w.info(page).count(), before.count());
    g.check();
}

#[test]
fn read_only_map_then_writable_map_sets_writing_and_unmaps_in_any_order() {
    let mut g = GWorld::new();
    let (_, _) = granted(&mut g);
    let ro = g.map_host(D1, D2, 10, va(2), true);
    assert_eq!(g.status_flags(D2, 10), P | gtf::READING);
    let rw = g.map_host(D1, D2, 10, va(3), false);
    assert_eq!((ro.status, rw.status), (0, 0));
    assert_eq!(g.status_flags(D2, 10), P | gtf::READING | gtf::WRITING);
    g.check();
    assert_eq!(g.unmap(D1, va(3), 0, rw.handle), 0);
    assert_eq!(g.status_flags(D2, 10), P | gtf::READING);
    assert_eq!(g.unmap(D1, va(2), 0, ro.handle), 0);
    assert_eq!(g.status_flags(D2, 10), P);
    g.check();
}

#[test]
fn a_pinned_entry_cannot_be_mapped_by_another_domain() {
    let mut g = GWorld::new();
    let (page, _) = granted(&mut g);
    g.address_space(D0);
    assert_eq!(g.map_host(D1, D2, 10, va(2), true).status, 0);
    // The granter re-targets the entry while it is pinned.
    g.grant(D2, 10, D0, page, P | gtf::READING);
    assert_eq!(g.map_host(D0, D2, 10, va(2), true).status, status::GENERAL_ERROR);
    g.check();
}

#[test]
fn device_map_holds_its_own_references() {
    let mut g = GWorld::new();
    let (page, _) = granted(&mut g);
    let n = g.w.info(page).count();
    let op = g.map(D1, MapGrantRef { flags: gntmap::DEVICE_MAP, ref_: 10, dom: D2, ..Default::default() });
    assert_eq!(op.status, 0);
    assert_eq!(g.w.info(page).count(), n + 1);
    g.check();
    assert_eq!(g.unmap(D1, 0, 0x1000, op.handle), status::BAD_DEV_ADDR);
    assert_eq!(g.unmap(D1, 0, page.to_maddr() | 1, op.handle), status::BAD_DEV_ADDR, "full address compared");
    assert_eq!(g.unmap(D1, 0, page.to_maddr(), op.handle), 0);
    assert_eq!(g.w.info(page).count(), n);
    g.check();
}

#[test]
fn host_plus_device_map_unmapped_in_two_steps() {
    let mut g = GWorld::new();
    let (page, _) = granted(&mut g);
    let op = g.map(
        D1,
        MapGrantRef {
            host_addr: va(2),
            flags: gntmap::DEVICE_MAP | gntmap::HOST_MAP,
            ref_: 10,
            dom: D2,
            ..Default::default()
        },
    );
    assert_eq!(op.status, 0);
    assert_eq!(g.w.info(page).type_count(), 2);
    g.check();
    // dev_bus_addr 0 leaves the device mapping alone (XSA-224).
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), 0);
    assert_eq!(g.w.info(page).type_count(), 1);
    g.check();
    assert_eq!(g.unmap(D1, 0, page.to_maddr(), op.handle), 0);
    assert_eq!(g.unmap(D1, 0, page.to_maddr(), op.handle), status::BAD_HANDLE, "handle freed");
    g.check();
}

#[test]
fn unmap_of_a_bad_unused_or_freed_handle_is_bad_handle() {
    let mut g = GWorld::new();
    granted(&mut g);
    assert_eq!(g.unmap(D1, va(2), 0, MAX_MAPTRACK as u32), status::BAD_HANDLE);
    assert_eq!(g.unmap(D1, va(2), 0, u32::MAX), status::BAD_HANDLE);
    assert_eq!(g.unmap(D1, va(2), 0, 0), status::BAD_HANDLE);
    let op = g.map_host(D1, D2, 10, va(2), false);
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), 0);
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), status::BAD_HANDLE, "double unmap");
    g.check();
}

#[test]
fn unmap_with_no_address_succeeds_and_keeps_the_mapping() {
    let mut g = GWorld::new();
    granted(&mut g);
    let op = g.map_host(D1, D2, 10, va(2), false);
    assert_eq!(g.unmap(D1, 0, 0, op.handle), status::OKAY);
    assert_eq!(g.status_flags(D2, 10) & gtf::READING, gtf::READING);
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), status::OKAY);
    g.check();
}

#[test]
fn maptrack_exhaustion_is_no_space() {
    let mut g = GWorld::new();
    g.address_space(D1);
    let page = g.w.give(D2, 1)[0];
    for r in 0..MAX_MAPTRACK as u32 + 1 {
        g.grant(D2, r % 512, D1, page, P);
    }
    for i in 0..MAX_MAPTRACK as u32 {
        let op = g.map(
            D1,
            MapGrantRef { flags: gntmap::DEVICE_MAP | gntmap::READONLY, ref_: i, dom: D2, ..Default::default() },
        );
        assert_eq!(op.status, 0, "map {i}");
    }
    let op = g.map(
        D1,
        MapGrantRef { flags: gntmap::DEVICE_MAP | gntmap::READONLY, ref_: 300, dom: D2, ..Default::default() },
    );
    assert_eq!(op.status, status::NO_SPACE);
    g.check();
}

#[test]
fn pin_counts_refuse_before_they_overflow() {
    let mut g = GWorld::new();
    granted(&mut g);
    let dev_ro = MapGrantRef { flags: gntmap::DEVICE_MAP | gntmap::READONLY, ref_: 10, dom: D2, ..Default::default() };
    for i in 0..128 {
        assert_eq!(g.map(D1, dev_ro).status, 0, "pin {i}");
    }
    assert_eq!(g.map(D1, dev_ro).status, status::GENERAL_ERROR);
    g.check();
}

#[test]
fn writable_map_of_a_page_table_fails_whole() {
    let mut g = GWorld::new();
    g.address_space(D1);
    let c2 = g.address_space(D2);
    g.grant(D2, 10, D1, c2.l1, P);
    let before = g.w.info(c2.l1);
    assert_eq!(g.map_host(D1, D2, 10, va(2), false).status, status::GENERAL_ERROR);
    assert_eq!(g.w.info(c2.l1).count(), before.count());
    assert_eq!(g.status_flags(D2, 10), P);
    // Read-only is fine.
    assert_eq!(g.map_host(D1, D2, 10, va(2), true).status, 0);
    g.check();
}

#[test]
fn map_at_an_address_without_an_l1_is_general_error_and_undone() {
    let mut g = GWorld::new();
    let (page, _) = granted(&mut g);
    let n = g.w.info(page).count();
    assert_eq!(g.map_host(D1, D2, 10, 0x7000_0000, false).status, status::GENERAL_ERROR);
    assert_eq!(g.map_host(D1, D2, 10, 0xFFFF_8000_0000_0000, false).status, status::GENERAL_ERROR);
    assert_eq!(g.w.info(page).count(), n);
    assert_eq!(g.status_flags(D2, 10), P);
    g.check();
}

#[test]
fn contains_pte_maps_at_a_machine_address_of_an_own_l1() {
    let mut g = GWorld::new();
    let (page, c) = granted(&mut g);
    let at = c.l1.to_maddr() + 5 * 8;
    let flags = gntmap::HOST_MAP | gntmap::CONTAINS_PTE;
    let op = g.map(D1, MapGrantRef { host_addr: at, flags, ref_: 10, dom: D2, ..Default::default() });
    assert_eq!(op.status, 0);
    assert_eq!(g.w.read(c.l1, 5) & abi::mmu::pte::ADDR_MASK, page.to_maddr());
    g.check();
    // Not an L1 of the caller: its data frame, another domain's L1.
    let c2 = g.address_space(D2);
    for bad in [c.data.to_maddr(), c2.l1.to_maddr()] {
        let op = g.map(D1, MapGrantRef { host_addr: bad, flags, ref_: 10, dom: D2, ..Default::default() });
        assert_eq!(op.status, status::GENERAL_ERROR);
    }
    assert_eq!(g.unmap(D1, at, 0, op.handle), 0);
    assert_eq!(g.w.read(c.l1, 5), 0);
    g.check();
}

#[test]
fn copy_rows() {
    let mut g = GWorld::new();
    let (page, c) = granted(&mut g);
    let own = g.w.give(D1, 1)[0];
    let gref = |r: u64, d: DomId, off: u16| CopyPtr { u: r, domid: d, offset: off, pad: 0 };
    let frame = |m: Mfn, off: u16| CopyPtr { u: m.0, domid: DomId::SELF, offset: off, pad: 0 };
    let op = |s: CopyPtr, d: CopyPtr, len: u16, flags: u16| GnttabCopy {
        source: s,
        dest: d,
        len,
        flags,
        ..Default::default()
    };
    let g2f = gntcopy::SOURCE_GREF;
    g.w.mem.write_u64(crate::mm::PhysAddr(page.to_maddr() + 8), 0x1122_3344_5566_7788);
    assert_eq!(g.copy(D1, op(gref(10, D2, 8), frame(own, 16), 8, g2f)), status::OKAY);
    assert_eq!(g.w.read(own, 2), 0x1122_3344_5566_7788);
    assert_eq!(g.status_flags(D2, 10), P, "no pin left behind");
    assert_eq!(g.copy(D1, op(frame(own, 0), gref(10, D2, 0), 4096, gntcopy::DEST_GREF)), status::OKAY);
    assert_eq!(g.copy(D1, op(frame(own, 0), frame(own, 0), 0, 0)), status::OKAY, "len 0");
    assert_eq!(g.copy(D1, op(gref(own.0, D1, 0), frame(own, 0), 8, 0)), status::PERMISSION_DENIED);
    assert_eq!(g.copy(D1, op(gref(10, DomId(9), 0), frame(own, 0), 8, g2f)), status::BAD_DOMAIN);
    assert_eq!(g.copy(D1, op(gref(600, D2, 0), frame(own, 0), 8, g2f)), status::BAD_GNTREF);
    assert_eq!(g.copy(D1, op(gref(10, D2, 4090), frame(own, 0), 8, g2f)), status::BAD_COPY_ARG);
    assert_eq!(g.copy(D1, op(frame(page, 0), frame(own, 0), 8, 0)), status::BAD_PAGE, "not the caller's frame");
    assert_eq!(g.copy(D1, op(frame(own, 0), frame(c.l1, 0), 8, 0)), status::GENERAL_ERROR, "dest is a page table");
    g.grant(D2, 11, D1, page, P | gtf::READONLY);
    assert_eq!(g.copy(D1, op(frame(own, 0), gref(11, D2, 0), 8, gntcopy::DEST_GREF)), status::GENERAL_ERROR);
    assert_eq!(g.status_flags(D2, 11), P | gtf::READONLY);
    g.check();
}

#[test]
fn setup_and_query_rows() {
    let mut g = GWorld::new();
    assert_eq!(g.with(|mm, gr| gr.query_size(mm, D1, DomId::SELF)), Ok((1, 4)));
    assert_eq!(g.with(|mm, gr| gr.setup_table(mm, D1, DomId::SELF, 5)), Err(status::GENERAL_ERROR));
    assert_eq!(g.with(|mm, gr| gr.setup_table(mm, D1, DomId(9), 1)), Err(status::BAD_DOMAIN));
    assert_eq!(g.with(|mm, gr| gr.setup_table(mm, D1, D2, 1)), Err(status::PERMISSION_DENIED));
    assert_eq!(g.with(|mm, gr| gr.query_size(mm, D1, D2)), Err(status::PERMISSION_DENIED));
    assert_eq!(g.with(|mm, gr| gr.setup_table(mm, D0, D2, 2)), Ok(D2), "the control domain may");
    assert_eq!(g.with(|mm, gr| gr.setup_table(mm, D1, DomId::SELF, 4)), Ok(D1));
    assert_eq!(g.with(|mm, gr| gr.query_size(mm, D1, D1)), Ok((4, 4)));
    assert_eq!(g.with(|mm, gr| gr.setup_table(mm, D1, DomId::SELF, 0)), Ok(D1), "never shrinks");
    assert_eq!(g.with(|mm, gr| gr.query_size(mm, D1, D1)), Ok((4, 4)));
    g.check();
}

#[test]
fn version_rows() {
    let mut g = GWorld::new();
    assert_eq!(g.with(|mm, gr| gr.get_version(mm, D1, DomId::SELF)), Ok(1));
    assert_eq!(g.with(|mm, gr| gr.get_version(mm, D1, DomId(9))), Err(Errno::ESRCH));
    assert_eq!(g.with(|mm, gr| gr.get_version(mm, D1, D2)), Err(Errno::EPERM));
    for v in [0, 3, u32::MAX] {
        assert_eq!(g.with(|mm, gr| gr.set_version(mm, D1, v)), (Err(Errno::EINVAL), 1));
    }
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D1, 1)), (Ok(()), 1));
    assert_eq!(g.with(|mm, gr| gr.get_status_frames(mm, D1, DomId::SELF, 1)), Err(status::GENERAL_ERROR));
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D1, 2)), (Ok(()), 2));
    assert_eq!(g.with(|mm, gr| gr.get_status_frames(mm, D1, DomId::SELF, 1)), Ok(D1));
    assert_eq!(g.with(|mm, gr| gr.get_status_frames(mm, D1, DomId::SELF, 2)), Err(status::GENERAL_ERROR));
    g.check();
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D1, 1)), (Ok(()), 1));
    g.check();
}

#[test]
fn set_version_while_entries_beyond_the_reserved_ones_are_pinned_is_ebusy() {
    let mut g = GWorld::new();
    granted(&mut g);
    let op = g.map_host(D1, D2, 10, va(2), false);
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D2, 2)), (Err(Errno::EBUSY), 1));
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), 0);
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D2, 2)), (Ok(()), 2));
    g.check();
}

#[test]
fn reserved_entries_survive_a_version_switch_and_others_are_cleared() {
    let mut g = GWorld::new();
    g.address_space(D1);
    let page = g.w.give(D2, 1)[0];
    g.grant(D2, 0, D1, page, P);
    g.grant(D2, 9, D1, page, P);
    let op = g.map_host(D1, D2, 0, va(2), false);
    assert_eq!(op.status, 0);
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D2, 2)), (Ok(()), 2));
    let t = g.tables[2];
    assert_eq!(t.header(&g.w.mem, 0).flags, P);
    assert_eq!(t.frame(&g.w.mem, 0), page.0);
    assert_eq!(g.status_flags(D2, 0), gtf::READING | gtf::WRITING, "status moved to the status frame");
    assert_eq!(t.header(&g.w.mem, 9).flags, 0);
    g.check();
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), 0);
    g.check();
    // A v2 reserved entry with a frame beyond 32 bits cannot go back.
    g.grant(D2, 1, D1, Mfn(1 << 33), P);
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D2, 1)), (Err(Errno::ERANGE), 2));
    g.grant(D2, 1, D1, page, gtf::TRANSITIVE);
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D2, 1)), (Err(Errno::ERANGE), 2));
    g.grant(D2, 1, D1, page, 0);
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D2, 1)), (Ok(()), 1));
    assert_eq!(g.tables[2].header(&g.w.mem, 0).flags, P);
    g.check();
}

#[test]
fn v2_sub_page_grants_copy_only_inside_and_never_map() {
    let mut g = GWorld::new();
    g.address_space(D1);
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D2, 2)), (Ok(()), 2));
    let page = g.w.give(D2, 1)[0];
    let own = g.w.give(D1, 1)[0];
    g.grant_sub(D2, 10, D1, page, 256, 64);
    assert_eq!(g.map_host(D1, D2, 10, va(2), true).status, status::GENERAL_ERROR);
    let src = |off: u16| CopyPtr { u: 10, domid: D2, offset: off, pad: 0 };
    let dst = CopyPtr { u: own.0, domid: DomId::SELF, offset: 0, pad: 0 };
    let c = |off: u16, len: u16| GnttabCopy {
        source: src(off),
        dest: dst,
        len,
        flags: gntcopy::SOURCE_GREF,
        ..Default::default()
    };
    assert_eq!(g.copy(D1, c(256, 64)), 0);
    assert_eq!(g.copy(D1, c(255, 8)), status::GENERAL_ERROR);
    assert_eq!(g.copy(D1, c(300, 21)), status::GENERAL_ERROR);
    assert_eq!(g.status_flags(D2, 10), 0);
    g.check();
}

#[test]
fn a_mapped_grant_survives_the_granter_ballooning_it_and_is_freed_at_unmap() {
    let mut g = GWorld::new();
    let (page, _) = granted(&mut g);
    let op = g.map_host(D1, D2, 10, va(2), false);
    assert_eq!(g.with(|mm, _| mm.release_frame(D2, page)), Ok(()));
    assert!(g.w.info(page).count() > 0, "still mapped: not freed");
    assert!(!g.w.hooks.freed.contains(&page));
    g.check();
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), 0);
    assert!(g.w.hooks.freed.contains(&page), "freed with its last mapping");
    g.check();
}

#[test]
fn a_dying_grantee_releases_its_pins_and_the_granter_can_revoke() {
    let mut g = GWorld::new();
    let (page, _) = granted(&mut g);
    assert_eq!(g.map_host(D1, D2, 10, va(2), false).status, 0);
    assert_eq!(g.map(D1, MapGrantRef { flags: gntmap::DEVICE_MAP, ref_: 10, dom: D2, ..Default::default() }).status, 0);
    g.with(|mm, gr| {
        gr.release_domain(mm, D1);
        let _ = crate::mm::teardown::Teardown::new(mm, D1).run(mm);
    });
    assert_eq!(g.status_flags(D2, 10), P);
    assert_eq!(g.w.info(page).type_count(), 0);
    g.check();
}

#[test]
fn swap_rows_exchange_entries_unless_in_use() {
    let mut g = GWorld::new();
    let (page, _) = granted(&mut g);
    g.grant(D2, 11, D0, page, P | gtf::READONLY);
    assert_eq!(g.with(|mm, gr| gr.swap(mm, D2, 10, 512)), status::BAD_GNTREF);
    assert_eq!(g.with(|mm, gr| gr.swap(mm, D2, 10, 10)), status::OKAY);
    assert_eq!(g.with(|mm, gr| gr.swap(mm, D2, 10, 11)), status::OKAY);
    let t = g.tables[2];
    assert_eq!((t.header(&g.w.mem, 10).domid, t.header(&g.w.mem, 11).domid), (D0, D1));
    let op = g.map_host(D1, D2, 11, va(2), false);
    assert_eq!(op.status, 0);
    assert_eq!(g.with(|mm, gr| gr.swap(mm, D2, 10, 11)), status::EAGAIN);
    g.check();
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), 0);
    // v2: the status words move with the entries.
    assert_eq!(g.with(|mm, gr| gr.set_version(mm, D2, 2)), (Ok(()), 2));
    g.grant(D2, 10, D1, page, P);
    assert_eq!(g.map_host(D1, D2, 10, va(2), true).status, 0);
    assert_eq!(g.with(|mm, gr| gr.swap(mm, D2, 10, 12)), status::EAGAIN);
    g.check();
}

#[test]
fn a_grant_pte_dropped_by_the_guest_then_the_frame_ballooned_keeps_a_pin_but_no_reference() {
    let mut g = GWorld::new();
    let (page, c) = granted(&mut g);
    let op = g.map_host(D1, D2, 10, va(2), false);
    assert_eq!(op.status, 0);
    // The grantee clears its grant PTE with an ordinary update: the PTE's
    // references go with it, the pin stays (Xen's release build).
    assert_eq!(g.w.update(D1, c.l1, 2, 0), Ok(()));
    assert_eq!(g.with(|mm, _| mm.release_frame(D2, page)), Ok(()));
    assert!(g.w.hooks.freed.contains(&page), "nothing references it any more");
    g.check();
    // The stale pin refuses new uses of the frame; unmapping finds no PTE.
    assert_eq!(g.map_host(D1, D2, 10, va(3), false).status, status::GENERAL_ERROR);
    assert_eq!(g.unmap(D1, va(2), 0, op.handle), status::GENERAL_ERROR);
    g.check();
}
