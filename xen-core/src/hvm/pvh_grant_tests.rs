//! A PVH guest's grant_table_op and `XENMAPSPACE_grant_table` on the p2m
//! test world: domain 1 is the PVH guest (RAM at gfns 0..32), domain 0 a
//! PV peer on the same grant core; refusals get Xen's errno and statuses.

use super::*;
use crate::hvm::pvh_grant;
use crate::mm::tests::world::{D0, D1};
use crate::mm::PhysAddr;
use crate::p2m::{P2mType, Rights};
use abi::grant_table::*;
use abi::memory::{XENMAPIDX_GRANT_TABLE_STATUS, XENMAPSPACE_GRANT_TABLE};

/// Where the tests put hypercall arguments (guest-physical, paging off).
const ARG: u64 = 0x3000;
const LIST: u64 = 0x4000;

impl T {
    fn gnttab(&mut self, cmd: u64, arg: &[u8], count: u64) -> u64 {
        self.poke(ARG, arg);
        self.call(HypercallNr::GRANT_TABLE_OP, [cmd, ARG, count, 0, 0]).0
    }

    fn grant_physmap(&mut self, idx: u64, gpfn: u64) -> u64 {
        let mut b = [0u8; 24];
        b[..2].copy_from_slice(&DomId::SELF.0.to_le_bytes());
        b[4..8].copy_from_slice(&XENMAPSPACE_GRANT_TABLE.to_le_bytes());
        b[8..16].copy_from_slice(&idx.to_le_bytes());
        b[16..24].copy_from_slice(&gpfn.to_le_bytes());
        self.poke(ARG, &b);
        self.call(HypercallNr::MEMORY_OP, [XENMEM_ADD_TO_PHYSMAP, ARG, 0, 0, 0]).0
    }

    fn setup_table(&mut self, nr: u32) -> (i16, Vec<u64>) {
        let mut b = [0u8; 24];
        b[..2].copy_from_slice(&DomId::SELF.0.to_le_bytes());
        b[4..8].copy_from_slice(&nr.to_le_bytes());
        b[16..24].copy_from_slice(&LIST.to_le_bytes());
        assert_eq!(self.gnttab(GNTTABOP_SETUP_TABLE, &b, 1), 0);
        let st = i16::from_le_bytes(self.peek(ARG + 8, 2).try_into().unwrap());
        let list =
            self.peek(LIST, nr as usize * 8).chunks(8).map(|c| u64::from_le_bytes(c.try_into().unwrap())).collect();
        (st, list)
    }

    /// One copy element; its status.
    fn copy(&mut self, src: (u64, u16, u16), dst: (u64, u16, u16), len: u16, flags: u16) -> i16 {
        let mut b = [0u8; 40];
        for (o, (u, dom, off)) in [(0, src), (16, dst)] {
            b[o..o + 8].copy_from_slice(&u.to_le_bytes());
            b[o + 8..o + 10].copy_from_slice(&dom.to_le_bytes());
            b[o + 10..o + 12].copy_from_slice(&off.to_le_bytes());
        }
        b[32..34].copy_from_slice(&len.to_le_bytes());
        b[34..36].copy_from_slice(&flags.to_le_bytes());
        assert_eq!(self.gnttab(GNTTABOP_COPY, &b, 1), 0);
        i16::from_le_bytes(self.peek(ARG + 36, 2).try_into().unwrap())
    }

    fn table(&mut self, dom: DomId) -> crate::grant::GrantTable {
        self.gt.tables[dom.0 as usize]
    }
}

#[test]
fn query_size_gives_a_pvh_domain_its_one_frame_table_at_first_use() {
    let mut t = T::new();
    assert_eq!(t.table(D1).version, 0, "no table before the first grant op");
    let mut b = [0u8; 16];
    b[..2].copy_from_slice(&DomId::SELF.0.to_le_bytes());
    assert_eq!(t.gnttab(GNTTABOP_QUERY_SIZE, &b, 1), 0);
    let out = t.peek(ARG, 16);
    assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 1, "nr_frames");
    assert_eq!(u32::from_le_bytes(out[8..12].try_into().unwrap()), crate::grant::MAX_GRANT_FRAMES as u32);
    assert_eq!(i16::from_le_bytes(out[12..14].try_into().unwrap()), status::OKAY);
    assert!(t.table(D1).translated);
    // Another (existing) domain's size is not an unprivileged guest's to ask.
    b[..2].copy_from_slice(&D0.0.to_le_bytes());
    t.w.with(|_, mm| t.gt.grants().init_domain(mm, D0)).unwrap();
    assert_eq!(t.gnttab(GNTTABOP_QUERY_SIZE, &b, 1), 0);
    assert_eq!(i16::from_le_bytes(t.peek(ARG + 12, 2).try_into().unwrap()), status::PERMISSION_DENIED);
}

#[test]
fn setup_table_lists_the_guest_frames_the_table_is_mapped_at_and_invalid_gfn_elsewhere() {
    let mut t = T::new();
    let (st, list) = t.setup_table(2);
    assert_eq!(st, status::OKAY);
    assert_eq!(list, vec![u64::MAX, u64::MAX], "not in the physmap yet: INVALID_GFN");
    // Linux PVH's way: each frame at a gfn of its choice.
    assert_eq!(t.grant_physmap(1, 7), 0);
    assert_eq!(t.grant_physmap(0, 6), 0);
    let (st, list) = t.setup_table(2);
    assert_eq!((st, list), (status::OKAY, vec![6, 7]));
    let shared = t.table(D1).shared;
    assert_eq!(t.w.get(6).map(|(e, _)| e.mfn), Some(shared[0]));
    assert_eq!(t.w.get(7).map(|(e, _)| e.mfn), Some(shared[1]));
    // Moved: gone from its old gfn.
    assert_eq!(t.grant_physmap(0, 8), 0);
    assert_eq!(t.setup_table(2).1, vec![8, 7]);
    assert_eq!(t.w.get(6), None);
    assert_eq!(t.w.check(), Ok(()));
}

#[test]
fn add_to_physmap_grows_the_table_up_to_its_limit_and_refuses_beyond_with_einval() {
    let mut t = T::new();
    let max = crate::grant::MAX_GRANT_FRAMES as u64;
    assert_eq!(t.grant_physmap(max - 1, 9), 0, "grown to hold the frame");
    assert_eq!(t.table(D1).nr_frames as u64, max);
    assert_eq!(t.grant_physmap(max, 10), ERR(Errno::EINVAL));
    assert_eq!(t.grant_physmap(u64::MAX, 10), ERR(Errno::EINVAL));
    // Status frames need v2.
    assert_eq!(t.grant_physmap(XENMAPIDX_GRANT_TABLE_STATUS, 10), ERR(Errno::EINVAL));
    // A gfn outside the p2m.
    assert_eq!(t.grant_physmap(0, 1 << 40), ERR(Errno::EINVAL));
    assert_eq!(t.w.check(), Ok(()));
}

#[test]
fn versions_switch_on_the_shared_core_and_v2_status_frames_map_into_the_physmap() {
    let mut t = T::new();
    assert_eq!(t.gnttab(GNTTABOP_SET_VERSION, &2u32.to_le_bytes(), 1), 0);
    assert_eq!(u32::from_le_bytes(t.peek(ARG, 4).try_into().unwrap()), 2);
    let mut b = [0u8; 8];
    b[..2].copy_from_slice(&DomId::SELF.0.to_le_bytes());
    assert_eq!(t.gnttab(GNTTABOP_GET_VERSION, &b, 1), 0);
    assert_eq!(u32::from_le_bytes(t.peek(ARG + 4, 4).try_into().unwrap()), 2);
    assert_eq!(t.grant_physmap(XENMAPIDX_GRANT_TABLE_STATUS, 11), 0);
    assert_eq!(t.w.get(11).map(|(e, _)| e.mfn), Some(t.table(D1).status[0]));
    assert_eq!(t.grant_physmap(XENMAPIDX_GRANT_TABLE_STATUS | 1, 12), ERR(Errno::EINVAL));
    assert_eq!(t.gnttab(GNTTABOP_SET_VERSION, &3u32.to_le_bytes(), 1), ERR(Errno::EINVAL));
}

#[test]
fn copy_between_own_guest_frames_moves_the_bytes_and_a_frame_not_ram_is_bad_page() {
    let mut t = T::new();
    t.poke(5 * 4096 + 16, b"marker");
    assert_eq!(t.copy((5, DomId::SELF.0, 16), (9, DomId::SELF.0, 100), 6, 0), status::OKAY);
    assert_eq!(t.peek(9 * 4096 + 100, 6), b"marker");
    assert_eq!(t.copy((500, DomId::SELF.0, 0), (9, DomId::SELF.0, 0), 6, 0), status::BAD_PAGE);
    assert_eq!(t.copy((5, DomId::SELF.0, 0), (1 << 40, DomId::SELF.0, 0), 6, 0), status::BAD_PAGE);
    // A frame named by another domain's id: the core's permission check.
    assert_eq!(t.copy((5, D1.0, 0), (9, DomId::SELF.0, 0), 6, 0), status::PERMISSION_DENIED);
    assert_eq!(t.w.check(), Ok(()));
}

#[test]
fn a_pvh_guest_copies_from_and_into_a_pv_domains_grant_on_the_shared_core() {
    let mut t = T::new();
    let f = t.w.w.give(D0, 1)[0];
    t.w.with(|_, mm| t.gt.grants().init_domain(mm, D0)).unwrap();
    // Domain 0 grants f (writable) to domain 1 at reference 8.
    let e = t.table(D0).entry_addr(8);
    let entry = u64::from(gtf::PERMIT_ACCESS) | u64::from(D1.0) << 16 | f.0 << 32;
    t.w.with(|_, mm| {
        mm.mem.write_u64(e, entry);
        mm.mem.write_bytes(PhysAddr(f.to_maddr() + 40), b"from dom0");
    });
    assert_eq!(t.copy((8, D0.0, 40), (3, DomId::SELF.0, 0), 9, gntcopy::SOURCE_GREF), status::OKAY);
    assert_eq!(t.peek(3 * 4096, 9), b"from dom0");
    t.poke(4 * 4096, b"to dom0");
    assert_eq!(t.copy((4, DomId::SELF.0, 0), (8, D0.0, 200), 7, gntcopy::DEST_GREF), status::OKAY);
    let got = t.w.with(|_, mm| mm.mem.read_u64(PhysAddr(f.to_maddr() + 200)));
    assert_eq!(&got.to_le_bytes()[..7], b"to dom0");
    // A reference not granted to it (Xen: general_error, "bad flags or domain").
    assert_eq!(t.copy((9, D0.0, 0), (3, DomId::SELF.0, 0), 4, gntcopy::SOURCE_GREF), status::GENERAL_ERROR);
    assert_eq!(t.w.check(), Ok(()));
}

#[test]
fn another_domain_copies_and_maps_a_pvh_domains_reference_through_its_p2m() {
    let mut t = T::new();
    assert_eq!(t.setup_table(1).0, status::OKAY);
    // Domain 1 (PVH) grants its gfn 5 to domain 0; the core finds the
    // machine frame in domain 1's p2m (the hypervisor's hook; mirrored here).
    let e = t.table(D1).entry_addr(8);
    t.w.with(|_, mm| mm.mem.write_u64(e, u64::from(gtf::PERMIT_ACCESS) | 5 << 32));
    let (ram, _) = t.w.get(5).unwrap();
    t.w.w.hooks.p2m.insert((D1.0, 5), ram);
    t.poke(5 * 4096, b"pvh mark");
    let t0 = t.w.w.give(D0, 1)[0];
    let mut op = GnttabCopy {
        source: CopyPtr { u: 8, domid: D1, offset: 0, pad: 0 },
        dest: CopyPtr { u: t0.0, domid: DomId::SELF, offset: 0, pad: 0 },
        len: 8,
        flags: gntcopy::SOURCE_GREF,
        status: 0,
        pad: 0,
    };
    let s = t.w.with(|_, mm| t.gt.grants().copy(mm, D0, &op));
    assert_eq!(s, status::OKAY);
    assert_eq!(t.w.with(|_, mm| mm.mem.read_u64(PhysAddr(t0.to_maddr()))).to_le_bytes(), *b"pvh mark");
    // Ballooned out: a hole in its p2m now (Xen: bad_page).
    t.w.w.hooks.p2m.remove(&(D1.0, 5));
    op.source.u = 8;
    assert_eq!(t.w.with(|_, mm| t.gt.grants().copy(mm, D0, &op)), status::BAD_PAGE);
    assert_eq!(t.w.check(), Ok(()));
}

impl T {
    /// A PV domain 0 with a table, granting a fresh frame of its own to
    /// domain 1 at reference `r` (read-only if `ro`); the frame.
    fn dom0_grants(&mut self, r: u32, ro: bool) -> abi::Mfn {
        let f = self.w.w.give(D0, 1)[0];
        if self.table(D0).version == 0 {
            self.w.with(|_, mm| self.gt.grants().init_domain(mm, D0)).unwrap();
        }
        let e = self.table(D0).entry_addr(r);
        let flags = gtf::PERMIT_ACCESS | if ro { gtf::READONLY } else { 0 };
        self.w.with(|_, mm| mm.mem.write_u64(e, u64::from(flags) | u64::from(D1.0) << 16 | f.0 << 32));
        f
    }

    /// One map_grant_ref element: (status, handle, dev_bus_addr).
    fn map(&mut self, host_addr: u64, flags: u32, r: u32, dom: DomId) -> (i16, u32, u64) {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&host_addr.to_le_bytes());
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b[12..16].copy_from_slice(&r.to_le_bytes());
        b[16..18].copy_from_slice(&dom.0.to_le_bytes());
        b[24..32].copy_from_slice(&0xDEADu64.to_le_bytes());
        assert_eq!(self.gnttab(GNTTABOP_MAP_GRANT_REF, &b, 1), 0);
        let o = self.peek(ARG, 32);
        let st = i16::from_le_bytes(o[18..20].try_into().unwrap());
        (st, u32::from_le_bytes(o[20..24].try_into().unwrap()), u64::from_le_bytes(o[24..32].try_into().unwrap()))
    }

    /// One unmap_grant_ref (or, `replace`, unmap_and_replace) element.
    fn unmap(&mut self, host_addr: u64, second: u64, handle: u32, replace: bool) -> i16 {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&host_addr.to_le_bytes());
        b[8..16].copy_from_slice(&second.to_le_bytes());
        b[16..20].copy_from_slice(&handle.to_le_bytes());
        let op = if replace { GNTTABOP_UNMAP_AND_REPLACE } else { GNTTABOP_UNMAP_GRANT_REF };
        assert_eq!(self.gnttab(op, &b, 1), 0);
        i16::from_le_bytes(self.peek(ARG + 20, 2).try_into().unwrap())
    }

    fn check_all(&mut self) -> Result<(), String> {
        let g = self.gt.grants();
        self.w.check_grants_with(&g, &crate::mm::check::NoExternal)
    }
}

#[test]
fn a_pvh_guest_maps_a_pv_grant_at_a_guest_frame_and_unmaps_it_to_a_hole() {
    let mut t = T::new();
    let f = t.dom0_grants(8, false);
    let (st, h, dev) = t.map(40 << 12, gntmap::HOST_MAP, 8, D0);
    assert_eq!(st, status::OKAY);
    assert_eq!(dev, 0, "no device mapping for a translated guest");
    let e = t.w.get(40).unwrap().0;
    assert_eq!((e.mfn, e.ty, e.rights), (f, P2mType::Grant, Rights::RW));
    assert!(t.npt.changed.contains(&(40, Order::Page4K)), "the nested tables follow");
    assert_eq!(t.check_all(), Ok(()));
    // Not ballooned out: decrease_reservation on it does nothing.
    assert_eq!(t.reservation(XENMEM_DECREASE_RESERVATION, &[40], 0).0, 0);
    assert!(t.w.get(40).is_some());
    // unmap_and_replace with a new_addr is Xen's general_error for it.
    assert_eq!(t.unmap(40 << 12, 41 << 12, h, true), status::GENERAL_ERROR);
    assert_eq!(t.unmap(41 << 12, 0, h, false), status::GENERAL_ERROR, "not the grant's frame there");
    t.npt.changed.clear();
    assert_eq!(t.unmap(40 << 12, 0, h, false), status::OKAY);
    assert_eq!(t.w.get(40), None, "a hole, as Xen leaves it");
    assert_eq!(t.npt.changed, [(40, Order::Page4K)]);
    assert_eq!(t.unmap(40 << 12, 0, h, false), status::BAD_HANDLE);
    assert_eq!(t.check_all(), Ok(()));
    // Read-only: a read-only p2m entry; unmap_and_replace without new_addr unmaps.
    let (st, h, _) = t.map(41 << 12, gntmap::HOST_MAP | gntmap::READONLY, 8, D0);
    assert_eq!(st, status::OKAY);
    assert_eq!(t.w.get(41).unwrap().0.rights, Rights::R);
    assert_eq!(t.unmap(41 << 12, 0, h, true), status::OKAY);
    assert_eq!(t.check_all(), Ok(()));
}

#[test]
fn a_pvh_guests_refused_maps_get_xens_status() {
    let mut t = T::new();
    t.dom0_grants(8, false);
    t.dom0_grants(9, true);
    let cases = [
        (40 << 12, gntmap::HOST_MAP | gntmap::CONTAINS_PTE, 8, D0, status::GENERAL_ERROR),
        (40 << 12, gntmap::HOST_MAP | gntmap::DEVICE_MAP, 8, D0, status::GENERAL_ERROR),
        (40 << 12, gntmap::HOST_MAP | gntmap::APPLICATION_MAP, 8, D0, status::GENERAL_ERROR),
        (40 << 12, gntmap::READONLY, 8, D0, status::BAD_GNTREF),
        (40 << 12, gntmap::HOST_MAP, 8, DomId(9), status::BAD_DOMAIN),
        (40 << 12, gntmap::HOST_MAP, 9999, D0, status::BAD_GNTREF),
        (40 << 12, gntmap::HOST_MAP, 9, D0, status::GENERAL_ERROR),
        (40 << 12, gntmap::HOST_MAP, 10, D0, status::GENERAL_ERROR),
        (1 << 60, gntmap::HOST_MAP, 8, D0, status::GENERAL_ERROR),
    ];
    for (addr, flags, r, dom, want) in cases {
        assert_eq!(t.map(addr, flags, r, dom).0, want, "{addr:#x} {flags:#x} ref {r} {dom:?}");
        assert_eq!(t.w.get(40), None);
        assert_eq!(t.check_all(), Ok(()));
    }
    assert_eq!(t.gnttab(GNTTABOP_MAP_GRANT_REF, &[0; 32], u64::from(pvh_grant::COPY_BATCH) + 1), ERR(Errno::E2BIG));
    // An element outside its RAM.
    let r = t.call(HypercallNr::GRANT_TABLE_OP, [GNTTABOP_MAP_GRANT_REF, 1 << 40, 1, 0, 0]).0;
    assert_eq!(r, ERR(Errno::EFAULT));
}

#[test]
fn a_pvh_guest_swaps_its_own_grant_entries() {
    let mut t = T::new();
    assert_eq!(t.setup_table(1).0, status::OKAY);
    let (a, b) = (t.table(D1).entry_addr(8), t.table(D1).entry_addr(9));
    t.w.with(|_, mm| mm.mem.write_u64(a, 0xAAAA_0000_0000));
    let mut e = [0u8; 12];
    e[..4].copy_from_slice(&8u32.to_le_bytes());
    e[4..8].copy_from_slice(&9u32.to_le_bytes());
    assert_eq!(t.gnttab(GNTTABOP_SWAP_GRANT_REF, &e, 1), 0);
    assert_eq!(i16::from_le_bytes(t.peek(ARG + 8, 2).try_into().unwrap()), status::OKAY);
    assert_eq!(t.w.with(|_, mm| (mm.mem.read_u64(a), mm.mem.read_u64(b))), (0, 0xAAAA_0000_0000));
}

#[test]
fn unsupported_and_malformed_grant_ops_get_xens_errno() {
    let mut t = T::new();
    for op in [GNTTABOP_DUMP_TABLE, GNTTABOP_TRANSFER, GNTTABOP_CACHE_FLUSH, 13] {
        assert_eq!(t.gnttab(op, &[0; 32], 1), ERR(Errno::ENOSYS), "op {op}");
    }
    assert_eq!(t.gnttab(GNTTABOP_QUERY_SIZE | 0x1000, &[0; 16], 1), ERR(Errno::EINVAL), "bits above the op");
    assert_eq!(t.gnttab(GNTTABOP_QUERY_SIZE, &[0; 16], 1 << 31), ERR(Errno::EINVAL), "count above INT_MAX");
    assert_eq!(t.gnttab(GNTTABOP_QUERY_SIZE, &[0; 16], 2), ERR(Errno::EINVAL));
    assert_eq!(t.gnttab(GNTTABOP_COPY, &[0; 40], u64::from(pvh_grant::COPY_BATCH) + 1), ERR(Errno::E2BIG));
    // An argument outside its RAM.
    t.poke(ARG, &[0; 16]);
    let r = t.call(HypercallNr::GRANT_TABLE_OP, [GNTTABOP_QUERY_SIZE, 1 << 40, 1, 0, 0]).0;
    assert_eq!(r, ERR(Errno::EFAULT));
}
