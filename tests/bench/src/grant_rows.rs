//! The grant rows (issue 11): a map plus unmap of one grant, and a 4 KiB
//! grant copy. Domain 0 grants one of the bench L1's data frames to itself
//! (ref 8, the first after the toolstack's reserved ones); the map goes
//! into entry 0 of the bench L1 by PTE machine address
//! (`GNTMAP_contains_pte`), which nothing else uses during these rows.

use crate::arch::{self, page_call};
use crate::fixture::{Fixture, BENCH_VA, RWF};
use crate::ops::{ok, Bench, Sample};
use abi::grant_table::*;
use abi::hypercall::HypercallNr as N;
use abi::mmu::{UVMF_INVLPG, UVMF_NONE};
use abi::DomId;

const REF: u32 = 8;

fn grant_op<T>(cmd: u64, op: &mut T) -> arch::Timed {
    page_call(N::GRANT_TABLE_OP.0, [cmd, op as *mut T as u64, 1, 0, 0])
}

/// Writes the self-grant of `frame` into shared frame 0 through BENCH_VA.
fn grant_to_self(frame: u64) -> Result<(), i64> {
    let mut frames = [0u64; 1];
    let mut st =
        SetupTable { dom: DomId::SELF, nr_frames: 1, frame_list: frames.as_mut_ptr() as u64, ..Default::default() };
    let t = grant_op(GNTTABOP_SETUP_TABLE, &mut st);
    if t.rax != 0 || st.status != 0 {
        return Err(if t.rax != 0 { t.rax } else { i64::from(st.status) });
    }
    let uvm = |val: u64, flags: u64| arch::hypercall(N::UPDATE_VA_MAPPING.0, [BENCH_VA, val, flags, 0, 0]);
    let rc = uvm((frames[0] << 12) | RWF, UVMF_INVLPG);
    if rc != 0 {
        return Err(rc);
    }
    let entry = u64::from(gtf::PERMIT_ACCESS) | (frame << 32);
    arch::write(BENCH_VA + u64::from(REF) * 8, entry);
    let _ = uvm(0, UVMF_INVLPG | UVMF_NONE);
    Ok(())
}

/// Runs both rows (domain 0: its id is 0 on both hypervisors).
pub fn grant_rows(b: &mut Bench, f: &Fixture) {
    if let Err(rc) = grant_to_self(f.data[2]) {
        return b.row("grant_map_unmap", 1, 2, || Sample::Failed(rc));
    }
    let pte_at = f.l1 << 12;
    b.row("grant_map_unmap", 1, 2, || {
        let mut m = MapGrantRef {
            host_addr: pte_at,
            flags: gntmap::HOST_MAP | gntmap::CONTAINS_PTE,
            ref_: REF,
            dom: DomId(0),
            ..Default::default()
        };
        let tm = grant_op(GNTTABOP_MAP_GRANT_REF, &mut m);
        if tm.rax != 0 || m.status != 0 {
            return if tm.rax != 0 { ok(tm) } else { Sample::Failed(i64::from(m.status)) };
        }
        let mut u = UnmapGrantRef { host_addr: pte_at, handle: m.handle, ..Default::default() };
        let tu = grant_op(GNTTABOP_UNMAP_GRANT_REF, &mut u);
        if tu.rax != 0 || u.status != 0 {
            return if tu.rax != 0 { ok(tu) } else { Sample::Failed(i64::from(u.status)) };
        }
        Sample::Ticks(tm.ticks + tu.ticks)
    });
    let side = |u: u64, domid: DomId| CopyPtr { u, domid, offset: 0, pad: 0 };
    b.row("grant_copy", 1, 1, || {
        let mut c = GnttabCopy {
            source: side(f.data[1], DomId::SELF),
            dest: side(u64::from(REF), DomId(0)),
            len: 4096,
            flags: gntcopy::DEST_GREF,
            ..Default::default()
        };
        let t = grant_op(GNTTABOP_COPY, &mut c);
        if t.rax == 0 && c.status != 0 {
            return Sample::Failed(i64::from(c.status));
        }
        ok(t)
    });
}
