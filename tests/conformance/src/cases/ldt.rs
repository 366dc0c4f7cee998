//! A real LDT (fact sheet §4.3): after `MMUEXT_SET_LDT`, a selector with
//! TI set loads the descriptor the guest wrote (with `update_descriptor`)
//! into a read-only page; the page becomes a descriptor page on first use,
//! so it can no longer be mapped writable until the LDT changes; a page
//! that is not mapped, or cannot be a descriptor page, gives a page fault
//! at the LDT address.

use super::{call, me, Fixture, Suite, N, RO, RWF};
use crate::arch::ldt::{fs_selector, gs_selector, load_fs, lsl};
use crate::arch::priv_insn::read_cr2;
use abi::mmu::{MMUEXT_CLEAR_PAGE, MMUEXT_SET_LDT, UVMF_INVLPG};
use core::sync::atomic::Ordering::SeqCst;
use guest_kernel::arch::x86_64::traps::LAST_ERROR;

const GP: i64 = 13;
const PF: i64 = 14;
/// Flat data, DPL 3.
const FLAT_DATA: u64 = 0x00CF_F200_0000_FFFF;
/// Byte-granular data with limit 0x2345, DPL 3.
const SMALL_DATA: u64 = 0x0040_F200_0000_2345;
/// A page the conformance guest never maps.
const UNMAPPED: u64 = 0x4000_0000;

fn set_ldt(base: u64, ents: u64) -> i64 {
    me(MMUEXT_SET_LDT, base, ents)
}

fn map(va: u64, val: u64) -> i64 {
    call(N::UPDATE_VA_MAPPING, &[va, val, UVMF_INVLPG])
}

/// The vector a load of `sel` into FS raises, and its error code.
fn load(sel: u16) -> (i64, i64) {
    let v = load_fs(sel) as i64;
    (v, if v == 0 { 0 } else { LAST_ERROR.swap(0, SeqCst) as i64 })
}

pub(super) fn ldt(s: &mut Suite, f: &mut Fixture) {
    let frame = f.fresh();
    let _ = me(MMUEXT_CLEAR_PAGE, frame, 0);
    let ud = |i: u64, d: u64| call(N::UPDATE_DESCRIPTOR, &[(frame << 12) + i * 8, d]);
    s.check("ldt: update_descriptor of LDT entry 0", 0, ud(0, FLAT_DATA));
    s.check("ldt: update_descriptor of LDT entry 1", 0, ud(1, SMALL_DATA));
    let va = f.scratch;
    let own = f.mfn((va - super::VIRT_BASE) / 4096);
    s.check("ldt: its page mapped read-only", 0, map(va, (frame << 12) | RO));
    s.check("ldt: SET_LDT of 3 entries there", 0, set_ldt(va, 3));
    s.check("ldt: mov fs with LDT entry 1 (0x0f)", 0, load(0x0F).0);
    s.check("ldt: fs holds the LDT selector", 0x0F, i64::from(fs_selector()));
    s.check("ldt: lsl reads the LDT descriptor's limit", 0x2345, lsl(0x0F).map_or(-1, i64::from));
    abi::guest::yield_now();
    s.check("ldt: the LDT selector in fs survives a yield", 0x0F, i64::from(fs_selector()));
    s.check("ldt: the page in use cannot be mapped writable", super::EBUSY, map(va, (frame << 12) | RWF));
    s.check("ldt: update_descriptor into the live LDT", 0, ud(1, SMALL_DATA - 0x1234));
    s.check("ldt: lsl sees the new limit at once", 0x1111, lsl(0x0F).map_or(-1, i64::from));
    s.check("ldt: mov fs with LDT entry 0 (flat data)", 0, load(0x07).0);
    s.check("ldt: a null LDT descriptor raises #GP(sel)", (GP << 16) | 0x14, pack(load(0x17)));
    s.check("ldt: a selector beyond the LDT limit raises #GP(sel)", (GP << 16) | 0x1C, pack(load(0x1F)));
    // One batch writes LDT entry 2 and loads it into GS: the load must see
    // the new descriptor (the hardware copy follows the write at once).
    let mut list = [
        super::hcalls::entry(N::UPDATE_DESCRIPTOR, &[(frame << 12) + 16, FLAT_DATA]),
        super::hcalls::entry(N::SET_SEGMENT_BASE, &[3, 0x17]),
    ];
    s.check("ldt: multicall of update_descriptor then GS_USER_SEL", 0, super::hcalls::multicall(&mut list, 2));
    s.check("ldt: ... the update_descriptor entry", 0, list[0].result as i64);
    s.check("ldt: GS holds the LDT selector written in the same batch", 0x17, i64::from(gs_selector()));
    let _ = call(N::SET_SEGMENT_BASE, &[3, 0]);
    let _ = ud(2, 0);
    s.check("ldt: mov fs with the null selector", 0, load(0).0);
    s.check("ldt: SET_LDT again with the same arguments", 0, set_ldt(va, 3));
    s.check("ldt: SET_LDT of none", 0, set_ldt(0, 0));
    s.check("ldt: the page can be mapped writable again", 0, map(va, (frame << 12) | RWF));
    s.check("ldt: SET_LDT over the writable page", 0, set_ldt(va, 3));
    s.check("ldt: a load through a writable LDT page is a page fault", PF << 16, pack(load(0x0F)));
    s.check("ldt: the page fault's address is the descriptor's", (va + 8) as i64, read_cr2().0 as i64);
    s.check("ldt: SET_LDT at an unmapped address", 0, set_ldt(UNMAPPED, 1));
    s.check("ldt: a load through an unmapped LDT page is a page fault", PF << 16, pack(load(0x07)));
    s.check("ldt: the page fault's address is the LDT's", UNMAPPED as i64, read_cr2().0 as i64);
    s.check("ldt: the failed loads left fs null", 0, i64::from(fs_selector()));
    s.check("ldt: SET_LDT back to none", 0, set_ldt(0, 0));
    let _ = map(va, (own << 12) | RWF);
}

/// Vector and error code in one number.
fn pack((vector, code): (i64, i64)) -> i64 {
    (vector << 16) | code
}
