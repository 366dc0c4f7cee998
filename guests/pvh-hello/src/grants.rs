//! Grant tables from a PVH guest (command line `grants`): every frame
//! number is a guest frame. Its table's frame 0 goes at a page of its own
//! (`XENMEM_add_to_physmap(XENMAPSPACE_grant_table)`, as Linux PVH maps
//! its table), `setup_table` must then name that guest frame, an entry
//! written there must read back, a `GNTTABOP_copy` between two of its
//! guest frames must move the bytes, and a frame outside its memory, a
//! grant frame beyond the limit and a `map_grant_ref` without flags are
//! refused.

use crate::pvh::{check, grant_pages, hypercall, peek, poke, say};
use abi::grant_table::*;
use abi::hypercall::HypercallNr;
use abi::memory::{XENMAPSPACE_GRANT_TABLE, XENMEM_ADD_TO_PHYSMAP};
use abi::DomId;
use core::fmt::Write;

pub(crate) fn gnttab(cmd: u64, arg: u64, count: u64) -> i64 {
    hypercall(HypercallNr::GRANT_TABLE_OP, cmd, arg, count)
}

pub(crate) fn physmap_grant(idx: u64, gfn: u64) -> i64 {
    let xatp = [u64::from(DomId::SELF.0) | (u64::from(XENMAPSPACE_GRANT_TABLE) << 32), idx, gfn];
    hypercall(HypercallNr::MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, xatp.as_ptr() as u64, 0)
}

/// One copy between frames named `DOMID_SELF` (source offset 16,
/// destination offset 8); its status.
fn copy(src: u64, dst: u64, len: u16) -> i16 {
    let self_id = u64::from(DomId::SELF.0);
    let mut op = [src, self_id | (16 << 16), dst, self_id | (8 << 16), u64::from(len)];
    check(gnttab(GNTTABOP_COPY, op.as_mut_ptr() as u64, 1) == 0, "GNTTABOP_copy");
    (op[4] >> 32) as i16
}

pub fn run() {
    let base = grant_pages();
    let (table, src, dst) = (base, base + 4096, base + 8192);
    // query_size: one frame of four.
    let mut q = [u64::from(DomId::SELF.0), 0];
    check(gnttab(GNTTABOP_QUERY_SIZE, q.as_mut_ptr() as u64, 1) == 0, "query_size");
    let (nr, max, st) = ((q[0] >> 32) as u32, q[1] as u32, (q[1] >> 32) as i16);
    check(st == status::OKAY && nr == 1, "query_size: one frame");
    // Frame 0 at the table page's guest frame.
    check(physmap_grant(0, table >> 12) == 0, "add_to_physmap(grant_table, 0)");
    let mut list = [0u64; 1];
    let mut setup = [u64::from(DomId::SELF.0) | (1 << 32), 0, list.as_mut_ptr() as u64];
    check(gnttab(GNTTABOP_SETUP_TABLE, setup.as_mut_ptr() as u64, 1) == 0, "setup_table");
    check(setup[1] as i16 == status::OKAY, "setup_table status");
    check(list[0] == table >> 12, "setup_table names the guest frame the table is at");
    // An entry written through the guest frame reads back (the nested
    // tables map the table frame there).
    let entry = u64::from(gtf::PERMIT_ACCESS) | (0x1234 << 32);
    poke(table + 8 * 8, entry);
    check(peek::<u64>(table + 8 * 8) == entry, "grant entry readback");
    poke(table + 8 * 8, 0u64);
    // A copy between two of its guest frames.
    let marker = *b"pvh grant copy!\0";
    for (i, b) in marker.iter().enumerate() {
        poke(src + 16 + i as u64, *b);
    }
    let s = copy(src >> 12, dst >> 12, 16);
    let copied = (0..16).all(|i| peek::<u8>(dst + 8 + i) == marker[i as usize]);
    say!(
        "pvh-hello: grants: {nr} of {max} frames, frame 0 at gfn {:#x} (setup_table: {:#x}), copy status {s}, bytes {}",
        table >> 12,
        list[0],
        if copied { "match" } else { "differ" }
    );
    check(s == status::OKAY && copied, "the copy between own guest frames");
    // Refusals.
    let bad = copy(0xF_FFFF_FFFF, dst >> 12, 8);
    let beyond = physmap_grant(u64::from(max), src >> 12);
    let mut m = [0u64; 4];
    let map = gnttab(GNTTABOP_MAP_GRANT_REF, m.as_mut_ptr() as u64, 1);
    let map_st = (m[2] >> 16) as i16;
    say!(
        "pvh-hello: grants: copy from gfn 0xfffffffff -> {bad}, grant frame {max} -> {beyond}, \
         map_grant_ref without flags -> {map} status {map_st}"
    );
    check(bad == status::BAD_PAGE && beyond == -22 && map == 0 && map_st == status::BAD_GNTREF, "the refusals");
}
