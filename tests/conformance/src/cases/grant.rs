//! `grant_table_op` (fact sheet §6): the table operations and return
//! values, and the helpers the v1 and v2 cases share. A domain grants to
//! itself: its own id is the grantee, and the scratch VA shows the table
//! frames and the granted pages.

use super::{call, Fixture, Suite, EFAULT, EINVAL, ENOSYS, ESRCH, HV, RO, RWF, VIRT_BASE};
use abi::grant_table::*;
use abi::hypercall::HypercallNr as N;
use abi::mmu::UVMF_INVLPG;
use abi::DomId;
use guest_kernel::arch::x86_64::mem;

/// What the grant cases share.
pub(super) struct Gnt {
    /// The caller's own domain id (the grantee of its self-grants).
    pub me: u16,
    /// MFN of shared frame 0.
    pub table: u64,
}

/// One `grant_table_op` on one element.
pub(super) fn gop<T>(cmd: u64, op: &mut T) -> i64 {
    call(N::GRANT_TABLE_OP, &[cmd, op as *mut T as u64, 1])
}

/// The caller's domain id: 0 when privileged (both platforms build the
/// control domain first); otherwise the one id the domain may name.
pub(super) fn my_id(s: &Suite) -> u16 {
    if !s.domu {
        return 0;
    }
    (1..64).find(|&d| abi::guest::current_reservation(DomId(d)).is_ok()).unwrap_or(0)
}

/// Runs `f` with `frame` mapped writable at the scratch VA; restores it.
pub(super) fn through_scratch<R>(f: &Fixture, frame: u64, rw: bool, body: impl FnOnce(u64) -> R) -> R {
    let va = f.scratch;
    let own = f.mfn((va - VIRT_BASE) / 4096);
    let _ = call(N::UPDATE_VA_MAPPING, &[va, (frame << 12) | if rw { RWF } else { RO }, UVMF_INVLPG]);
    let r = body(va);
    let _ = call(N::UPDATE_VA_MAPPING, &[va, (own << 12) | RWF, UVMF_INVLPG]);
    r
}

/// Writes the `index`th 8-byte word of `frame`.
pub(super) fn poke(f: &Fixture, frame: u64, index: u64, v: u64) {
    through_scratch(f, frame, true, |va| mem::write(va + index * 8, v));
}

/// Reads the `index`th 8-byte word of `frame`.
pub(super) fn peek(f: &Fixture, frame: u64, index: u64) -> u64 {
    through_scratch(f, frame, false, |va| mem::read(va + index * 8))
}

pub(super) fn map(host_addr: u64, flags: u32, r: u32, dom: u16) -> MapGrantRef {
    let mut op = MapGrantRef { host_addr, flags, ref_: r, dom: DomId(dom), ..Default::default() };
    let rc = gop(GNTTABOP_MAP_GRANT_REF, &mut op);
    if rc != 0 {
        op.status = rc as i16;
    }
    op
}

pub(super) fn unmap(host_addr: u64, dev_bus_addr: u64, handle: u32) -> i64 {
    let mut op = UnmapGrantRef { host_addr, dev_bus_addr, handle, ..Default::default() };
    let rc = gop(GNTTABOP_UNMAP_GRANT_REF, &mut op);
    if rc != 0 {
        rc
    } else {
        i64::from(op.status)
    }
}

pub(super) fn copy(src: CopyPtr, dst: CopyPtr, len: u16, flags: u16) -> i64 {
    let mut op = GnttabCopy { source: src, dest: dst, len, flags, ..Default::default() };
    let rc = gop(GNTTABOP_COPY, &mut op);
    if rc != 0 {
        rc
    } else {
        i64::from(op.status)
    }
}

pub(super) fn gref(r: u32, dom: u16, offset: u16) -> CopyPtr {
    CopyPtr { u: u64::from(r), domid: DomId(dom), offset, pad: 0 }
}

pub(super) fn frame(mfn: u64, offset: u16) -> CopyPtr {
    CopyPtr { u: mfn, domid: DomId::SELF, offset, pad: 0 }
}

pub(super) fn set_version(v: u32) -> (i64, u32) {
    let mut op = SetVersion { version: v };
    (gop(GNTTABOP_SET_VERSION, &mut op), op.version)
}

pub(super) fn get_version(dom: u16) -> (i64, u32) {
    let mut op = GetVersion { dom: DomId(dom), ..Default::default() };
    (gop(GNTTABOP_GET_VERSION, &mut op), op.version)
}

pub(super) fn status_frames(nr: u32, list: &mut [u64]) -> (i64, i16) {
    let mut op =
        GetStatusFrames { nr_frames: nr, dom: DomId::SELF, status: 0x55, frame_list: list.as_mut_ptr() as u64 };
    (gop(GNTTABOP_GET_STATUS_FRAMES, &mut op), op.status)
}

/// The table sub-ops and the hypercall's return values; returns what the
/// v1 and v2 cases need.
pub(super) fn table_ops(s: &mut Suite) -> Gnt {
    let me = my_id(s);
    let (rc, v) = get_version(SELF16);
    s.check("grant get_version of DOMID_SELF", 0, rc);
    s.check("grant tables start at version 1", 1, i64::from(v));
    s.check("grant get_version of an unknown domain", ESRCH, get_version(0x100).0);
    let mut q = QuerySize { dom: DomId::SELF, ..Default::default() };
    s.check("grant query_size", 0, gop(GNTTABOP_QUERY_SIZE, &mut q));
    s.check("grant query_size status", 0, i64::from(q.status));
    s.truth("grant query_size reports at least one frame", q.nr_frames >= 1 && q.nr_frames <= q.max_nr_frames);
    s.differs("grant query_size max_nr_frames", 4, 64, i64::from(q.max_nr_frames));
    let mut qb = QuerySize { dom: DomId(0x100), ..Default::default() };
    s.check("grant query_size of an unknown domain returns 0", 0, gop(GNTTABOP_QUERY_SIZE, &mut qb));
    s.check("grant query_size of an unknown domain is bad_domain", -2, i64::from(qb.status));
    s.check(
        "grant query_size with count 2",
        EINVAL,
        call(N::GRANT_TABLE_OP, &[GNTTABOP_QUERY_SIZE, &mut q as *mut _ as u64, 2]),
    );
    s.check("grant query_size from the hypervisor", EFAULT, call(N::GRANT_TABLE_OP, &[GNTTABOP_QUERY_SIZE, HV, 1]));
    s.check("grant_table_op count above INT_MAX", EINVAL, call(N::GRANT_TABLE_OP, &[GNTTABOP_QUERY_SIZE, 0, 1 << 31]));
    s.check(
        "grant_table_op with continuation bits",
        EINVAL,
        call(N::GRANT_TABLE_OP, &[GNTTABOP_QUERY_SIZE | 1 << 12, 0, 1]),
    );
    s.check("grant_table_op unknown sub-op 13", ENOSYS, call(N::GRANT_TABLE_OP, &[13, 0, 0]));
    s.check("grant_table_op unknown sub-op 99", ENOSYS, call(N::GRANT_TABLE_OP, &[99, 0, 0]));
    s.check("grant map batch from the hypervisor", EFAULT, call(N::GRANT_TABLE_OP, &[GNTTABOP_MAP_GRANT_REF, HV, 1]));
    s.check("grant copy batch across 2^47", EFAULT, call(N::GRANT_TABLE_OP, &[GNTTABOP_COPY, (1 << 47) - 40, 2]));
    s.check("grant map of an empty batch", 0, call(N::GRANT_TABLE_OP, &[GNTTABOP_MAP_GRANT_REF, 0, 0]));
    let mut frames = [0u64; 2];
    let mut st = SetupTable {
        dom: DomId::SELF,
        nr_frames: 1,
        frame_list: frames.as_mut_ptr() as u64,
        status: 0x55,
        ..Default::default()
    };
    s.check(
        "grant setup_table with count 0",
        EINVAL,
        call(N::GRANT_TABLE_OP, &[GNTTABOP_SETUP_TABLE, &mut st as *mut _ as u64, 0]),
    );
    s.check("grant setup_table of one frame", 0, gop(GNTTABOP_SETUP_TABLE, &mut st));
    s.check("grant setup_table status", 0, i64::from(st.status));
    s.truth("grant setup_table lists frame 0", frames[0] != 0);
    let mut bad = SetupTable { dom: DomId::SELF, nr_frames: 1, frame_list: HV, ..Default::default() };
    s.check("grant setup_table with a list in the hypervisor", EFAULT, gop(GNTTABOP_SETUP_TABLE, &mut bad));
    let mut big = SetupTable {
        dom: DomId::SELF,
        nr_frames: q.max_nr_frames + 1,
        frame_list: frames.as_mut_ptr() as u64,
        ..Default::default()
    };
    let _ = &mut frames;
    s.check("grant setup_table beyond max_nr_frames returns 0", 0, gop(GNTTABOP_SETUP_TABLE, &mut big));
    s.check("grant setup_table beyond max_nr_frames is general_error", -1, i64::from(big.status));
    let mut other =
        SetupTable { dom: DomId(0x100), nr_frames: 1, frame_list: frames.as_mut_ptr() as u64, ..Default::default() };
    s.check("grant setup_table of an unknown domain", 0, gop(GNTTABOP_SETUP_TABLE, &mut other));
    s.check("grant setup_table of an unknown domain is bad_domain", -2, i64::from(other.status));
    let (rc, v) = set_version(3);
    s.check("grant set_version 3", EINVAL, rc);
    s.check("grant set_version copies back the current version", 1, i64::from(v));
    s.check("grant set_version to the same version", 0, set_version(1).0);
    let mut list = [0u64; 1];
    s.check("grant get_status_frames under v1 returns 0", 0, status_frames(1, &mut list).0);
    s.check("grant get_status_frames under v1 is general_error", -1, i64::from(status_frames(1, &mut list).1));
    s.check("grant get_status_frames of none under v1", 0, i64::from(status_frames(0, &mut list).1));
    Gnt { me, table: frames[0] }
}

const SELF16: u16 = 0x7FF0;
