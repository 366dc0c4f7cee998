//! Grants shared with a PV domain 0 running guest-kernel (command line
//! `gmap`, `gshare`, `gstale`); every frame number this guest names is a
//! guest frame.
//!
//! * `gmap`: the grantee of guest-kernel's `share` step. A page near the
//!   top of its RAM is ballooned out and domain 0's ref 8 mapped at that
//!   guest frame (`GNTMAP_host_map`, `host_addr` = gfn << 12: a p2m grant
//!   entry). Bad maps get Xen's status. A message is written through its
//!   own page tables, domain 0's answer read back the same way, ref 9
//!   copied out and back, the mapping removed (bad unmaps refused first)
//!   and the page repopulated.
//! * `gstale` (with `gmap`): the unmapped guest frame is read again. The
//!   nested page fault (or, shadowed, the shadow fault) must crash this
//!   domain, and only it.
//! * `gshare`: the granter of guest-kernel's `pvhshare` step. Two of its
//!   pages are granted to domain 0 by guest frame (refs 8 and 9); domain 0
//!   maps one and copies the other, and its answers appear in its pages.
//! * `gfuzz`: the peer of a hostile PV fuzzer (domain 1): refs 8 to 12
//!   granted to it by guest frame (a page writable, one read-only, a
//!   huge gfn, a hole, a page granted to another domain), then yields until
//!   the fuzzer is gone; its read-only page and a page it never granted
//!   must be as they were.

use crate::grants::{gnttab, physmap_grant};
use crate::pvh::{check, fail, grant_pages, peek, poke, reservation, say, yield_now};
use abi::grant_table::*;
use abi::memory::{XENMEM_DECREASE_RESERVATION, XENMEM_POPULATE_PHYSMAP};
use abi::DomId;
use core::fmt::Write;

/// guest-kernel's `share` protocol (its sharing.rs): what the grantee
/// writes into ref 8, domain 0's answer after it, and ref 9's ping/pong.
const MESSAGE: &[u8; 32] = b"hello dom0, from dom1 via ref 8\0";
const ACK: u64 = u64::from_le_bytes(*b"ack-d0\0\0");
const PING: u64 = u64::from_le_bytes(*b"ping-d0\0");
const PONG: u64 = u64::from_le_bytes(*b"pong-d1\0");
/// guest-kernel's `pvhshare` protocol: what this guest grants, and what
/// domain 0 writes back (into the mapping at 64, and by copy into ref 9).
pub const PVH_MARK: &[u8; 24] = b"pvh page, granted by gfn";
const PVH_COPY: u64 = u64::from_le_bytes(*b"pvh-copy");
const REPLY: u64 = u64::from_le_bytes(*b"dom0-saw");
const COPY_BACK: u64 = u64::from_le_bytes(*b"dom0-cpy");
/// How long either side waits for the other, in yields.
const PATIENCE: u32 = 20_000;

/// One map_grant_ref element: (return value, status, handle, dev_bus_addr).
fn map(gfn: u64, flags: u32, r: u32, dom: u16) -> (i64, i16, u32, u64) {
    let mut m = [gfn << 12, u64::from(flags) | u64::from(r) << 32, u64::from(dom), 0];
    let rc = gnttab(GNTTABOP_MAP_GRANT_REF, m.as_mut_ptr() as u64, 1);
    (rc, (m[2] >> 16) as i16, (m[2] >> 32) as u32, m[3])
}

/// One unmap_grant_ref (`replace`: unmap_and_replace) element's status.
fn unmap(addr: u64, second: u64, handle: u32, replace: bool) -> i16 {
    let mut u = [addr, second, u64::from(handle)];
    let op = if replace { GNTTABOP_UNMAP_AND_REPLACE } else { GNTTABOP_UNMAP_GRANT_REF };
    check(gnttab(op, u.as_mut_ptr() as u64, 1) == 0, "unmap_grant_ref");
    (u[2] >> 32) as i16
}

/// One copy element between a grant (`gref`, domain `dom`) and a guest
/// frame of its own; `to_grant` says which way. Its status.
fn copy(gref: u64, dom: u16, gfn: u64, to_grant: bool) -> i16 {
    let me = u64::from(DomId::SELF.0);
    let (src, dst, flags) = if to_grant {
        ([gfn, me], [gref, u64::from(dom)], u64::from(gntcopy::DEST_GREF))
    } else {
        ([gref, u64::from(dom)], [gfn, me], u64::from(gntcopy::SOURCE_GREF))
    };
    let mut op = [src[0], src[1], dst[0], dst[1], 8 | flags << 16];
    check(gnttab(GNTTABOP_COPY, op.as_mut_ptr() as u64, 1) == 0, "GNTTABOP_copy");
    (op[4] >> 32) as i16
}

fn wait(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..PATIENCE {
        if done() {
            return true;
        }
        yield_now();
    }
    done()
}

pub fn run(cmd: &str, ram_end: u64) {
    let has = |t: &str| cmd.split(' ').any(|x| x == t);
    if has("gmap") {
        grantee(ram_end, has("gstale"));
    }
    if has("gshare") {
        granter();
    }
    if has("gfuzz") {
        fuzz_peer(ram_end);
    }
}

/// A word of the untouched page's pattern.
fn pattern(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5
}

fn fuzz_peer(ram_end: u64) {
    let base = grant_pages();
    let (table, page, ro_page) = (base, base + 4096, base + 8192);
    let untouched = (ram_end / 4096 - 20) * 4096;
    for i in 0..512 {
        poke(untouched + i * 8, pattern(i));
    }
    poke(ro_page, PVH_COPY);
    check(physmap_grant(0, table >> 12) == 0, "add_to_physmap(grant_table, 0)");
    let entry = |flags: u16, dom: u64, gfn: u64| u64::from(flags) | dom << 16 | (gfn << 32);
    let p = gtf::PERMIT_ACCESS;
    poke(table + 8 * 8, entry(p, 1, page >> 12));
    poke(table + 9 * 8, entry(p | gtf::READONLY, 1, ro_page >> 12));
    poke(table + 10 * 8, entry(p, 1, 0xF_FFFF_FFFF));
    poke(table + 11 * 8, entry(p, 1, 0xA0));
    poke(table + 12 * 8, entry(p, 2, untouched >> 12));
    say!("pvh-hello: gfuzz: refs 8-12 granted to the fuzzer (domain 1) by guest frame; waiting for it to end");
    // current_reservation of another domain: -EPERM while it lives, -ESRCH after.
    let alive = || {
        let d = 1u16;
        let r = crate::pvh::hypercall(
            abi::hypercall::HypercallNr::MEMORY_OP,
            abi::memory::XENMEM_CURRENT_RESERVATION,
            (&raw const d) as u64,
            0,
        );
        r != -i64::from(abi::Errno::ESRCH.0)
    };
    let mut yields = 0u64;
    while alive() {
        yield_now();
        yields += 1;
    }
    let intact = (0..512).all(|i| peek::<u64>(untouched + i * 8) == pattern(i));
    let ro = peek::<u64>(ro_page) == PVH_COPY;
    say!(
        "pvh-hello: gfuzz: the fuzzer is gone after {yields} yields; my ungranted page {}, my read-only grant {}",
        if intact { "intact" } else { "CHANGED" },
        if ro { "intact" } else { "CHANGED" }
    );
    check(intact && ro, "the pages the fuzzer may not write");
}

fn grantee(ram_end: u64, stale: bool) {
    let g = ram_end / 4096 - 12;
    let own = grant_pages() + 8192;
    check(reservation(XENMEM_DECREASE_RESERVATION, &[g]) == 1, "balloon out the page the grant goes at");
    let mut tries = 0;
    let (handle, dev) = loop {
        let (rc, st, h, dev) = map(g, gntmap::HOST_MAP, 8, 0);
        if rc == 0 && st == status::OKAY {
            break (h, dev);
        }
        tries += 1;
        if tries > PATIENCE {
            fail("domain 0's grant never appeared");
        }
        yield_now();
    };
    // Xen's translated-guest refusals, with domain 0's ref 8 granted.
    let pte = map(g + 1, gntmap::HOST_MAP | gntmap::CONTAINS_PTE, 8, 0).1;
    let device = map(g + 1, gntmap::HOST_MAP | gntmap::DEVICE_MAP, 8, 0).1;
    let far = map(0xF_FFFF_FFFF, gntmap::HOST_MAP, 8, 0).1;
    let ungranted = map(g + 1, gntmap::HOST_MAP, 10, 0).1;
    let over = map(g, gntmap::HOST_MAP | gntmap::READONLY, 9, 0).1;
    say!(
        "pvh-hello: gmap: refused: contains_pte {pte}, device_map {device}, gfn 0xfffffffff {far}, \
         ref 10 (not granted) {ungranted}, over the mapping {over}"
    );
    check([pte, device, far, ungranted, over].iter().all(|&s| s == status::GENERAL_ERROR), "the refused maps");
    for (i, chunk) in MESSAGE.chunks(8).enumerate() {
        poke(g * 4096 + i as u64 * 8, u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
    }
    say!(
        "pvh-hello: gmap: mapped domain 0's ref 8 at gfn {g:#x} (handle {handle}, dev_bus_addr {dev:#x}) after {tries} \
         tries and wrote a message through my page tables"
    );
    check(wait(|| peek::<u64>(g * 4096 + 32) == ACK), "domain 0's ack through the mapping");
    check(copy(9, 0, own >> 12, false) == status::OKAY && peek::<u64>(own) == PING, "copy from domain 0's ref 9");
    poke(own, PONG);
    check(copy(9, 0, own >> 12, true) == status::OKAY, "copy into domain 0's ref 9");
    let replace = unmap(g << 12, (g + 1) << 12, handle, true);
    let wrong = unmap((g + 1) << 12, 0, handle, false);
    let done = unmap(g << 12, 0, handle, false);
    let again = unmap(g << 12, 0, handle, false);
    say!(
        "pvh-hello: gmap: read domain 0's ack through the mapping, copied ping from ref 9 and pong back; \
         unmap_and_replace {replace}, unmap at the next gfn {wrong}, unmap {done}, again {again}"
    );
    check(replace == status::GENERAL_ERROR && wrong == status::GENERAL_ERROR, "the refused unmaps");
    check(done == status::OKAY && again == status::BAD_HANDLE, "the unmap");
    if stale {
        say!("pvh-hello: gstale: reading gfn {g:#x} after its unmap");
        let v: u64 = peek(g * 4096);
        say!("pvh-hello: gstale: read {v:#x} and was not stopped");
        fail("a read of an unmapped grant went through");
    }
    check(reservation(XENMEM_POPULATE_PHYSMAP, &[g]) == 1, "repopulate the page");
}

fn granter() {
    let base = grant_pages();
    let (table, page, copy_page) = (base, base + 4096, base + 8192);
    check(physmap_grant(0, table >> 12) == 0, "add_to_physmap(grant_table, 0)");
    for (i, chunk) in PVH_MARK.chunks(8).enumerate() {
        poke(page + i as u64 * 8, u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
    }
    poke(page + 64, 0u64);
    poke(copy_page, PVH_COPY);
    // v1 entries: flags, grantee domain 0, and a GUEST frame.
    let entry = |gfn: u64| u64::from(gtf::PERMIT_ACCESS) | (gfn << 32);
    poke(table + 9 * 8, entry(copy_page >> 12));
    poke(table + 8 * 8, entry(page >> 12));
    say!("pvh-hello: gshare: granted gfn {:#x} to domain 0 as ref 8, gfn {:#x} as ref 9", page >> 12, copy_page >> 12);
    let busy = |r: u64| peek::<u64>(table + r * 8) as u16 & (gtf::READING | gtf::WRITING) != 0;
    let mut seen_busy = false;
    let answered = wait(|| {
        seen_busy |= busy(8);
        peek::<u64>(page + 64) == REPLY && peek::<u64>(copy_page) == COPY_BACK && !busy(8) && !busy(9)
    });
    check(answered, "domain 0's answers in my granted pages");
    poke(table + 8 * 8, 0u64);
    poke(table + 9 * 8, 0u64);
    say!(
        "pvh-hello: gshare: domain 0 wrote \"dom0-saw\" into gfn {:#x} through its mapping and copied \"dom0-cpy\" \
         into ref 9; both let go (in use seen: {seen_busy}); revoked",
        page >> 12
    );
}
