//! Grant tables, version 1 entries (8 bytes: flags, domid, 32-bit frame):
//! map, unmap, copy and unmap_and_replace with their GNTST_* statuses, the
//! domain granting to itself.

use super::grant::*;
use super::{entry, me, Fixture, Suite, EBUSY, VIRT_BASE};
use abi::grant_table::*;
use abi::mmu::pte::ADDR_MASK;
use abi::mmu::MMUEXT_CLEAR_PAGE;

const P: u64 = gtf::PERMIT_ACCESS as u64;

/// Entry `r` of the v1 table at `table`.
fn grant(f: &Fixture, table: u64, r: u64, flags: u64, dom: u16, frame: u64) {
    poke(f, table, r, flags | (u64::from(dom) << 16) | (frame << 32));
}

fn flags(f: &Fixture, table: u64, r: u64) -> i64 {
    (peek(f, table, r) & 0xFFFF) as i64
}

pub(super) fn grant_v1(s: &mut Suite, f: &mut Fixture, g: &Gnt) {
    let (t, me_) = (g.table, g.me);
    let page = f.fresh();
    let other = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, page, 0);
    let _ = me(MMUEXT_CLEAR_PAGE, other, 0);
    grant(f, t, 10, P, me_, page);
    grant(f, t, 11, P, 0x100, page);
    grant(f, t, 12, P | u64::from(gtf::READONLY), me_, page);
    grant(f, t, 13, 0, me_, page);
    grant(f, t, 14, P, me_, 1);
    grant(f, t, 15, P, me_, f.l2);
    let pte_at = entry(f.l1, 5);
    let host_pte = GNTMAP_HOST | gntmap::CONTAINS_PTE;

    // Map through a PTE of an own L1.
    let m = map(pte_at, host_pte, 10, me_);
    s.check("grant v1 map writable at a PTE address", 0, i64::from(m.status));
    s.truth("grant v1 map returns the frame's bus address", m.dev_bus_addr == page << 12);
    s.check("grant v1 map sets reading and writing", (P | 0x18) as i64, flags(f, t, 10));
    s.truth("grant v1 map wrote the PTE", peek(f, f.l1, 5) & ADDR_MASK == page << 12);
    s.check("grant set_version while a grant is mapped", EBUSY, set_version(2).0);
    s.check("grant v1 unmap at the PTE address", 0, unmap(pte_at, 0, m.handle));
    s.check("grant v1 unmap clears reading and writing", P as i64, flags(f, t, 10));
    s.check("grant v1 unmap cleared the PTE", 0, peek(f, f.l1, 5) as i64);
    s.check("grant v1 double unmap is bad_handle", -4, unmap(pte_at, 0, m.handle));
    s.check("grant v1 unmap of handle 0xFFFFFFFF", -4, unmap(pte_at, 0, u32::MAX));

    // Refusals of map.
    s.check(
        "grant v1 map without host or device flag",
        -3,
        i64::from(map(pte_at, gntmap::CONTAINS_PTE, 10, me_).status),
    );
    s.check("grant v1 map of DOMID_SELF is bad_domain", -2, i64::from(map(pte_at, host_pte, 10, 0x7FF0).status));
    s.check("grant v1 map of an unknown domain", -2, i64::from(map(pte_at, host_pte, 10, 0x100).status));
    s.check("grant v1 map of a ref beyond the table", -3, i64::from(map(pte_at, host_pte, 100_000, me_).status));
    s.check("grant v1 map of an entry for another domain", -1, i64::from(map(pte_at, host_pte, 11, me_).status));
    s.check("grant v1 map writable of a readonly entry", -1, i64::from(map(pte_at, host_pte, 12, me_).status));
    s.check("grant v1 failed map leaves the flags", (P | u64::from(gtf::READONLY)) as i64, flags(f, t, 12));
    s.check("grant v1 map of an invalid entry", -1, i64::from(map(pte_at, host_pte, 13, me_).status));
    s.check("grant v1 map of a frame the granter does not own", -9, i64::from(map(pte_at, host_pte, 14, me_).status));
    s.check(
        "grant v1 map at a misaligned PTE address (XSA-227)",
        -1,
        i64::from(map(pte_at + 4, host_pte, 10, me_).status),
    );
    s.check(
        "grant v1 map at a PTE address outside an L1",
        -1,
        i64::from(map(entry(f.data, 5), host_pte, 10, me_).status),
    );
    s.check("grant v1 map writable of an own page table", -1, i64::from(map(pte_at, host_pte, 15, me_).status));
    s.check("grant v1 failed map left no PTE", 0, peek(f, f.l1, 5) as i64);
    let ro = map(pte_at, host_pte | gntmap::READONLY, 12, me_);
    s.check("grant v1 map read-only of a readonly entry", 0, i64::from(ro.status));
    s.check("grant v1 read-only map sets reading only", (P | 0x0C) as i64, flags(f, t, 12));
    s.check("grant v1 unmap of the read-only map", 0, unmap(pte_at, 0, ro.handle));
    let pt = map(pte_at, host_pte | gntmap::READONLY, 15, me_);
    s.check("grant v1 map read-only of an own page table", 0, i64::from(pt.status));
    s.check("grant v1 unmap of the page-table map", 0, unmap(pte_at, 0, pt.handle));

    // Device mappings.
    let dev = map(0, gntmap::DEVICE_MAP | gntmap::READONLY, 10, me_);
    s.check("grant v1 device map", 0, i64::from(dev.status));
    s.check("grant v1 unmap with another bus address", -6, unmap(0, (page + 1) << 12, dev.handle));
    s.check("grant v1 unmap with no address keeps the mapping", 0, unmap(0, 0, dev.handle));
    s.check("grant v1 device map still pins", (P | 0x08) as i64, flags(f, t, 10));
    s.check("grant v1 unmap of the device map", 0, unmap(0, page << 12, dev.handle));

    // A host mapping by virtual address, written through.
    let va = f.scratch;
    let own = f.mfn((va - VIRT_BASE) / 4096);
    let vm = map(va, GNTMAP_HOST, 10, me_);
    s.check("grant v1 map at a virtual address", 0, i64::from(vm.status));
    // Xen does not flush for the PTE it replaced: the guest does.
    let _ = me(abi::mmu::MMUEXT_INVLPG_LOCAL, va, 0);
    guest_kernel::arch::x86_64::mem::write(va + 8, 0x6772_616E_7421);
    s.check("grant v1 unmap by virtual address", 0, unmap(va, 0, vm.handle));
    let _ = super::call(abi::hypercall::HypercallNr::UPDATE_VA_MAPPING, &[va, (own << 12) | super::RWF, 2]);
    s.check("grant v1 write through the mapping reached the page", 0x6772_616E_7421, peek(f, page, 1) as i64);
    s.check("grant v1 map where no L1 maps the address", -1, i64::from(map(0x1000, GNTMAP_HOST, 10, me_).status));
    s.check("grant v1 map at a hypervisor address", -1, i64::from(map(super::HV, GNTMAP_HOST, 10, me_).status));

    // unmap_and_replace with no replacement is an unmap.
    let vm = map(va, GNTMAP_HOST, 10, me_);
    let mut ur = UnmapAndReplace { host_addr: va, new_addr: 0, handle: vm.handle, ..Default::default() };
    s.check("grant v1 unmap_and_replace returns 0", 0, gop(GNTTABOP_UNMAP_AND_REPLACE, &mut ur));
    s.check("grant v1 unmap_and_replace status", 0, i64::from(ur.status));
    let _ = super::call(abi::hypercall::HypercallNr::UPDATE_VA_MAPPING, &[va, (own << 12) | super::RWF, 2]);
    let mut ur = UnmapAndReplace { host_addr: va, new_addr: 0, handle: 0xFFFF, ..Default::default() };
    let _ = gop(GNTTABOP_UNMAP_AND_REPLACE, &mut ur);
    s.check("grant v1 unmap_and_replace of a bad handle", -4, i64::from(ur.status));
    s.check("grant v1 nothing left pinned", P as i64, flags(f, t, 10));

    // Copies.
    let (g10, sg) = (gref(10, me_, 0), GNTCOPY_SRC);
    s.check("grant v1 copy from a grant to an own frame", 0, copy(gref(10, me_, 8), frame(other, 16), 8, sg));
    s.check("grant v1 copy moved the bytes", 0x6772_616E_7421, peek(f, other, 2) as i64);
    s.check("grant v1 copy of a page into a grant", 0, copy(frame(other, 0), g10, 4096, gntcopy::DEST_GREF));
    s.check("grant v1 copy of 0 bytes", 0, copy(frame(other, 0), frame(other, 0), 0, 0));
    s.check("grant v1 copy beyond the page", -10, copy(gref(10, me_, 4090), frame(other, 0), 8, sg));
    s.check(
        "grant v1 copy by frame with a numeric domain id",
        -8,
        copy(CopyPtr { domid: abi::DomId(me_), ..frame(other, 0) }, frame(other, 0), 8, 0),
    );
    s.check("grant v1 copy from an unknown domain", -2, copy(gref(10, 0x100, 0), frame(other, 0), 8, sg));
    s.check("grant v1 copy from a ref beyond the table", -3, copy(gref(100_000, me_, 0), frame(other, 0), 8, sg));
    s.check("grant v1 copy into a readonly grant", -1, copy(frame(other, 0), gref(12, me_, 0), 8, gntcopy::DEST_GREF));
    s.check("grant v1 copy from a frame not owned", -9, copy(frame(1, 0), frame(other, 0), 8, 0));
    s.check("grant v1 copy into an own page table", -1, copy(frame(other, 0), frame(f.l1, 0), 8, 0));
    s.check("grant v1 copies leave no pin", P as i64, flags(f, t, 10));
    s.check(
        "grant v1 failed copy into a readonly grant leaves its flags",
        (P | u64::from(gtf::READONLY)) as i64,
        flags(f, t, 12),
    );

    // A batch of two maps: statuses per element.
    let mut two = [
        MapGrantRef { host_addr: pte_at, flags: host_pte, ref_: 100_000, dom: abi::DomId(me_), ..Default::default() },
        MapGrantRef { host_addr: pte_at, flags: host_pte, ref_: 10, dom: abi::DomId(me_), ..Default::default() },
    ];
    s.check(
        "grant v1 map batch of two returns 0",
        0,
        super::call(abi::hypercall::HypercallNr::GRANT_TABLE_OP, &[GNTTABOP_MAP_GRANT_REF, two.as_mut_ptr() as u64, 2]),
    );
    s.check("grant v1 map batch first element", -3, i64::from(two[0].status));
    s.check("grant v1 map batch second element", 0, i64::from(two[1].status));
    s.check("grant v1 unmap of the batch's map", 0, unmap(pte_at, 0, two[1].handle));
    // swap_grant_ref.
    let swap = |a: u32, b: u32| {
        let mut op = SwapGrantRef { ref_a: a, ref_b: b, ..Default::default() };
        let rc = gop(GNTTABOP_SWAP_GRANT_REF, &mut op);
        if rc != 0 {
            rc
        } else {
            i64::from(op.status)
        }
    };
    s.check("grant v1 swap of two entries", 0, swap(10, 11));
    s.check("grant v1 swap moved entry 11 to 10", (P | (0x100 << 16)) as i64, (peek(f, t, 10) & 0xFFFF_FFFF) as i64);
    s.check(
        "grant v1 swap moved entry 10 to 11",
        (P | (u64::from(me_) << 16)) as i64,
        (peek(f, t, 11) & 0xFFFF_FFFF) as i64,
    );
    s.check("grant v1 swap of an entry with itself", 0, swap(12, 12));
    s.check("grant v1 swap with a ref beyond the table", -3, swap(10, 100_000));
    let m = map(pte_at, host_pte, 11, me_);
    s.check("grant v1 map of the swapped entry", 0, i64::from(m.status));
    s.check("grant v1 swap of an entry in use", -12, swap(11, 12));
    s.check("grant v1 unmap of the swapped entry", 0, unmap(pte_at, 0, m.handle));
    for r in 10..16 {
        grant(f, t, r, 0, 0, 0);
    }
}

const GNTMAP_HOST: u32 = gntmap::HOST_MAP;
const GNTCOPY_SRC: u16 = gntcopy::SOURCE_GREF;
