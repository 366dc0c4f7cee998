//! Grant tables, version 2 entries (16 bytes; reading/writing in separate
//! status frames; sub-page and transitive forms): the version switch and
//! its rules, status frames, map, unmap and copy.

use super::grant::*;
use super::{entry, me, Fixture, Suite, EBUSY, ERANGE};
use abi::grant_table::*;
use abi::mmu::MMUEXT_CLEAR_PAGE;

const P: u64 = gtf::PERMIT_ACCESS as u64;

fn grant(f: &Fixture, table: u64, r: u64, flags: u64, dom: u16, word1: u64, frame: u64) {
    poke(f, table, r * 2, flags | (u64::from(dom) << 16) | (word1 << 32));
    poke(f, table, r * 2 + 1, frame);
}

/// Reading/writing of `r` in the status frame.
fn status(f: &Fixture, sf: u64, r: u64) -> i64 {
    ((peek(f, sf, r / 4) >> ((r % 4) * 16)) & 0xFFFF) as i64
}

pub(super) fn grant_v2(s: &mut Suite, f: &mut Fixture, g: &Gnt) {
    let (t, me_) = (g.table, g.me);
    let page = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, page, 0);
    // A reserved entry (ref 3) survives the switches.
    poke(f, t, 3, P | (u64::from(me_) << 16) | (page << 32));
    let (rc, v) = set_version(2);
    s.check("grant set_version 2", 0, rc);
    s.check("grant set_version 2 reports 2", 2, i64::from(v));
    s.check("grant get_version after the switch", 2, i64::from(get_version(0x7FF0).1));
    s.check(
        "grant v2 reserved entry 3 converted: flags and domid",
        (P | (u64::from(me_) << 16)) as i64,
        peek(f, t, 6) as i64,
    );
    s.truth("grant v2 reserved entry 3 converted: frame", peek(f, t, 7) == page);
    let mut list = [0u64; 2];
    let (rc, st) = status_frames(1, &mut list);
    s.check("grant v2 get_status_frames of one", 0, rc);
    s.check("grant v2 get_status_frames status", 0, i64::from(st));
    let sf = list[0];
    s.truth("grant v2 status frame listed", sf != 0);
    s.check("grant v2 get_status_frames beyond those there are", -1, i64::from(status_frames(2, &mut list).1));

    grant(f, t, 10, P, me_, 0, page);
    grant(f, t, 11, P | u64::from(gtf::SUB_PAGE), me_, 256 | (64 << 16), page);
    grant(f, t, 12, u64::from(gtf::TRANSITIVE), me_, u64::from(me_), 10);
    grant(f, t, 13, P, 0x100, 0, page);
    let pte_at = entry(f.l1, 6);
    let host_pte = gntmap::HOST_MAP | gntmap::CONTAINS_PTE;
    let m = map(pte_at, host_pte, 10, me_);
    s.check("grant v2 map writable at a PTE address", 0, i64::from(m.status));
    s.check("grant v2 map sets reading and writing in the status frame", 0x18, status(f, sf, 10));
    s.check("grant v2 map leaves the entry's flags", P as i64, (peek(f, t, 20) & 0xFFFF) as i64);
    s.check("grant set_version 1 while a v2 grant is mapped", EBUSY, set_version(1).0);
    s.check("grant v2 unmap", 0, unmap(pte_at, 0, m.handle));
    s.check("grant v2 unmap clears the status", 0, status(f, sf, 10));
    s.check("grant v2 map of a sub-page grant", -1, i64::from(map(pte_at, host_pte, 11, me_).status));
    s.check("grant v2 map of a transitive grant", -1, i64::from(map(pte_at, host_pte, 12, me_).status));
    s.check("grant v2 map of an entry for another domain", -1, i64::from(map(pte_at, host_pte, 13, me_).status));
    s.check("grant v2 map of a ref beyond the table", -3, i64::from(map(pte_at, host_pte, 100_000, me_).status));
    let ro = map(pte_at, host_pte | gntmap::READONLY, 10, me_);
    s.check("grant v2 map read-only", 0, i64::from(ro.status));
    s.check("grant v2 read-only map sets reading only", 0x08, status(f, sf, 10));
    s.check("grant v2 unmap of the read-only map", 0, unmap(pte_at, 0, ro.handle));

    let other = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, other, 0);
    let sg = gntcopy::SOURCE_GREF;
    s.check("grant v2 copy from a full-page grant", 0, copy(gref(10, me_, 0), frame(other, 0), 4096, sg));
    s.check("grant v2 copy inside a sub-page grant", 0, copy(gref(11, me_, 256), frame(other, 0), 64, sg));
    s.check("grant v2 copy before a sub-page grant", -1, copy(gref(11, me_, 255), frame(other, 0), 8, sg));
    s.check("grant v2 copy past a sub-page grant", -1, copy(gref(11, me_, 300), frame(other, 0), 21, sg));
    s.check("grant v2 copy beyond the page", -10, copy(gref(11, me_, 4000), frame(other, 0), 200, sg));
    s.check(
        "grant v2 copy through a transitive grant back to its granter",
        -1,
        copy(gref(12, me_, 0), frame(other, 0), 8, sg),
    );
    s.check("grant v2 copies leave no status", 0, status(f, sf, 10) | status(f, sf, 11) | status(f, sf, 12));

    // Back to v1: status frames go, unless mapped (XSA-255); a reserved
    // entry must be representable in v1.
    let mapped = through_scratch(f, sf, false, |_| set_version(1).0);
    s.check("grant set_version 1 while a status frame is mapped (XSA-255)", EBUSY, mapped);
    grant(f, t, 4, P, me_, 0, 1 << 33);
    s.check("grant set_version 1 with a reserved frame beyond 32 bits", ERANGE, set_version(1).0);
    grant(f, t, 4, u64::from(gtf::TRANSITIVE), me_, 0, 0);
    s.check("grant set_version 1 with a reserved transitive entry", ERANGE, set_version(1).0);
    grant(f, t, 4, 0, 0, 0, 0);
    let (rc, v) = set_version(1);
    s.check("grant set_version 1", 0, rc);
    s.check("grant set_version 1 reports 1", 1, i64::from(v));
    s.truth(
        "grant v1 again: reserved entry 3 converted back",
        peek(f, t, 3) == P | (u64::from(me_) << 16) | (page << 32),
    );
    s.check("grant v1 again: other entries cleared", 0, peek(f, t, 10) as i64);
    s.check("grant v1 again: no status frames", -1, i64::from(status_frames(1, &mut list).1));
    poke(f, t, 3, 0);
}
