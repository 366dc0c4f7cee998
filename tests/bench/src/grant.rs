//! Grant-table rows: domain 0 grants one of its own frames to itself
//! (grant reference 8, the first one not reserved), then maps and unmaps
//! it at an empty slot of the bench L1, and copies from it by reference.

use crate::arch::{page_call, Timed};
use crate::fixture::{self, mmu_update, pte, Fixture, BENCH_VA, RWF, SELF};
use crate::ops::{Bench, Sample};
use abi::grant_table::*;
use abi::hypercall::HypercallNr as N;
use abi::DomId;

/// Bench L1 slots: the grant table frame's mapping, the grant's host mapping.
const TABLE_SLOT: usize = 511;
const MAP_SLOT: usize = 510;
const GREF: u32 = NR_RESERVED_ENTRIES;
/// Bytes per copy: the per-call path, not memcpy.
const COPY_LEN: u16 = 64;

fn gnttab<T>(cmd: u64, op: &mut T) -> Timed {
    page_call(N::GRANT_TABLE_OP.0, [cmd, op as *mut T as u64, 1, 0, 0])
}

/// The sample of a one-element call: the hypercall's return, then the
/// element's `GNTST_*` status (reported as the error value).
fn checked(t: Timed, status: i16) -> Sample {
    match crate::ops::ok(t) {
        Sample::Ticks(_) if status != status::OKAY => Sample::Failed(i64::from(status)),
        s => s,
    }
}

/// Sets up the grant and runs the grant rows (`n/a` where the hypervisor
/// has no grant tables).
pub fn rows(b: &mut Bench, f: &Fixture) {
    let mut frames = [0u64; 1];
    let mut setup =
        SetupTable { dom: DomId::SELF, nr_frames: 1, frame_list: frames.as_mut_ptr() as u64, ..Default::default() };
    let t = gnttab(GNTTABOP_SETUP_TABLE, &mut setup);
    if t.rax != 0 || setup.status != status::OKAY {
        let why = if t.rax != 0 { t.rax } else { i64::from(setup.status) };
        for key in ["grant_map_unmap", "grant_copy"] {
            b.unavailable(key, why);
        }
        return;
    }
    let table_va = BENCH_VA + TABLE_SLOT as u64 * 4096;
    if mmu_update(&[pte(f.l1, TABLE_SLOT, (frames[0] << 12) | RWF)]) != 0 {
        fixture::fail("map the grant table frame", -1);
    }
    let (granted, dest) = (f.data[1], f.data[2]);
    let entry = GrantEntryV1 { flags: gtf::PERMIT_ACCESS, domid: DomId(0), frame: granted as u32 };
    crate::arch::write(
        table_va + u64::from(GREF) * 8,
        u64::from(entry.flags) | u64::from(entry.domid.0) << 16 | u64::from(entry.frame) << 32,
    );

    let host_addr = BENCH_VA + MAP_SLOT as u64 * 4096;
    b.row("grant_map_unmap", 1, 2, || {
        let mut map =
            MapGrantRef { host_addr, flags: gntmap::HOST_MAP, ref_: GREF, dom: DomId(0), ..Default::default() };
        let m = gnttab(GNTTABOP_MAP_GRANT_REF, &mut map);
        let m = checked(m, map.status);
        let Sample::Ticks(mt) = m else { return m };
        let mut unmap = UnmapGrantRef { host_addr, handle: map.handle, ..Default::default() };
        let u = gnttab(GNTTABOP_UNMAP_GRANT_REF, &mut unmap);
        match checked(u, unmap.status) {
            Sample::Ticks(ut) => Sample::Ticks(mt + ut),
            s => s,
        }
    });
    b.row("grant_copy", 1, 1, || {
        let mut copy = GnttabCopy {
            source: CopyPtr { u: u64::from(GREF), domid: DomId(0), ..Default::default() },
            dest: CopyPtr { u: dest, domid: DomId(SELF as u16), ..Default::default() },
            len: COPY_LEN,
            flags: gntcopy::SOURCE_GREF,
            ..Default::default()
        };
        let t = gnttab(GNTTABOP_COPY, &mut copy);
        checked(t, copy.status)
    });
    let _ = mmu_update(&[pte(f.l1, TABLE_SLOT, 0)]);
}
