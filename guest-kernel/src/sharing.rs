//! Step 5a (the `share` token): sharing a page between domain 0 and
//! domain 1 through grant tables, with nothing but polling and yields to
//! coordinate (there are no event channels yet).
//!
//! Domain 0 grants two pages to domain 1 (ref 8 writable, ref 9 for copies,
//! the first references after the toolstack's reserved ones); domain 1
//! maps ref 8 and writes a message into it, copies ref 9's "ping" out with
//! `GNTTABOP_copy` and a "pong" back in, then unmaps. Domain 0 reads both,
//! sees its entries still in use (reading/writing set) until domain 1 has
//! let go, and only then revokes them.

use crate::story::{alloc_frame, clear, fail};
use abi::grant_table::*;
use abi::mmu::pte::*;
use abi::mmu::UVMF_INVLPG;
use abi::{guest, DomId};
use guest_kernel::arch::x86_64::mem;
use guest_kernel::say;

const MESSAGE: &[u8; 32] = b"hello dom0, from dom1 via ref 8\0";
const PING: u64 = u64::from_le_bytes(*b"ping-d0\0");
const PONG: u64 = u64::from_le_bytes(*b"pong-d1\0");
/// Domain 0's go-ahead, written after the message into the shared page.
const ACK: u64 = u64::from_le_bytes(*b"ack-d0\0\0");
const REF_MAP: u32 = 8;
const REF_COPY: u32 = 9;
/// How long either side waits for the other, in yields.
const PATIENCE: u32 = 20_000;

/// The `k`th page below the 16 watched pages (which end 2 pages below the
/// hole): part of the region's unused tail, mapped to free frames of its
/// own, so the demo may map anything there.
fn slot(hole: u64, k: u64) -> Option<u64> {
    hole.checked_sub(2 * 4096 + 16 * 4096 + k * 4096)
}

fn map_rw(va: u64, mfn: u64) {
    if let Err(e) = mem::update_va(va, (mfn << 12) | PRESENT | RW | USER | ACCESSED, UVMF_INVLPG) {
        crate::story::fail_errno("map a page for sharing", e);
    }
}

/// Runs this domain's side; `hole` is step 5's address.
pub fn run(si: &abi::start_info::StartInfo, hole: u64) {
    let (Some(a), Some(b), Some(c)) = (slot(hole, 1), slot(hole, 2), slot(hole, 3)) else {
        say!("guest-kernel: step 5a: no room below the watched pages for the sharing demo; skipped");
        return;
    };
    if si.flags & abi::start_info::SIF_INITDOMAIN != 0 {
        granter(a, b, c);
    } else {
        grantee(b, c);
    }
}

fn granter(table_va: u64, page_va: u64, copy_va: u64) {
    if guest::current_reservation(DomId(1)).is_err() {
        say!("guest-kernel: step 5a: no domain 1 to share with; skipped");
        return;
    }
    let mut frames = [abi::Mfn(0); 1];
    match guest::grant_setup_table(&mut frames) {
        Ok(0) => {}
        _ => fail("grant setup_table"),
    }
    map_rw(table_va, frames[0].0);
    let (page, copy_page) = (alloc_frame(), alloc_frame());
    clear(page);
    clear(copy_page);
    map_rw(page_va, page);
    map_rw(copy_va, copy_page);
    mem::write(copy_va, PING);
    // v1 entries: flags, grantee domain 1, frame.
    let entry = |frame: u64| u64::from(gtf::PERMIT_ACCESS) | (1 << 16) | (frame << 32);
    mem::write(table_va + u64::from(REF_COPY) * 8, entry(copy_page));
    mem::write(table_va + u64::from(REF_MAP) * 8, entry(page));
    say!(
        "guest-kernel: step 5a: granted frame {page:#x} to domain 1 as ref {REF_MAP} (and {copy_page:#x} as ref {REF_COPY} for copies); table frame {:#x}",
        frames[0].0
    );
    let flags = |r: u32| mem::read(table_va + u64::from(r) * 8) as u16;
    let busy = gtf::READING | gtf::WRITING;
    let first = u64::from_le_bytes(MESSAGE[..8].try_into().unwrap_or_default());
    if !wait(|| mem::read(page_va) == first) {
        fail("domain 1 did not write into the shared page");
    }
    // Domain 1 still maps the page: the entry shows it, so no revoke yet.
    let in_use = flags(REF_MAP);
    say!(
        "guest-kernel: step 5a: ref {REF_MAP} in use: flags {in_use:#x} (reading {}, writing {}); not revoked while mapped",
        in_use & gtf::READING != 0,
        in_use & gtf::WRITING != 0
    );
    if in_use & busy == 0 {
        fail("a mapped grant does not show reading/writing");
    }
    mem::write(page_va + 32, ACK);
    if !wait(|| mem::read(copy_va) == PONG && flags(REF_MAP) & busy == 0 && flags(REF_COPY) & busy == 0) {
        fail("domain 1 did not finish with the grants");
    }
    let mut text = [0u8; 32];
    for (i, chunk) in text.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mem::read(page_va + i as u64 * 8).to_le_bytes());
    }
    let text = core::str::from_utf8(&text).unwrap_or("?").trim_end_matches('\0');
    say!("guest-kernel: step 5a: domain 1 wrote \"{text}\" into the shared page");
    say!("guest-kernel: step 5a: grant copy round trip: ref {REF_COPY} now holds \"pong-d1\" in place of \"ping-d0\"");
    // Revoke only what is no longer in use, as Linux's end_foreign_access.
    for r in [REF_MAP, REF_COPY] {
        if flags(r) & busy != 0 {
            fail("revoking a grant still in use");
        }
        mem::write(table_va + u64::from(r) * 8, 0);
    }
    say!("guest-kernel: step 5a: domain 1 unmapped; refs {REF_MAP} and {REF_COPY} revoked");
}

/// Yields until `done` holds; false after [`PATIENCE`] yields.
fn wait(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..PATIENCE {
        if done() {
            return true;
        }
        guest::yield_now();
    }
    done()
}

fn grantee(map_va: u64, own_va: u64) {
    let mut op =
        MapGrantRef { host_addr: map_va, flags: gntmap::HOST_MAP, ref_: REF_MAP, dom: DomId(0), ..Default::default() };
    let mut tries = 0;
    loop {
        let rc = mem::grant_op(GNTTABOP_MAP_GRANT_REF, core::slice::from_mut(&mut op));
        if rc == 0 && op.status == status::OKAY {
            break;
        }
        tries += 1;
        if tries > PATIENCE {
            fail("domain 0's grant never appeared");
        }
        guest::yield_now();
    }
    let _ = mem::mmuext(&[abi::mmu::MmuextOp { cmd: abi::mmu::MMUEXT_INVLPG_LOCAL, pad: 0, arg1: map_va, arg2: 0 }]);
    for (i, chunk) in MESSAGE.chunks(8).enumerate() {
        mem::write(map_va + i as u64 * 8, u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
    }
    say!(
        "guest-kernel: step 5a: mapped domain 0's ref {REF_MAP} (frame {:#x}, handle {}) at {map_va:#x} after {tries} tries and wrote a message",
        op.dev_bus_addr >> 12,
        op.handle
    );
    if !wait(|| mem::read(map_va + 32) == ACK) {
        fail("domain 0 did not read the message");
    }
    copy_round_trip(DomId(0), own_va, PING, PONG, ["grant copy from domain 0", "grant copy to domain 0"]);
    say!("guest-kernel: step 5a: grant copy: read \"ping-d0\" from ref {REF_COPY}, wrote \"pong-d1\" back");
    let mut un = [UnmapGrantRef { host_addr: map_va, handle: op.handle, ..Default::default() }];
    let rc = mem::grant_op(GNTTABOP_UNMAP_GRANT_REF, &mut un);
    if rc != 0 || un[0].status != status::OKAY {
        fail("grant unmap");
    }
    say!("guest-kernel: step 5a: unmapped ref {REF_MAP}");
}

/// What the PVH peer (pvh-hello's `gshare`) grants and expects back
/// (the `pvhshare` token): its ref 8 holds this text, its ref 9 the copy
/// word; domain 0 answers at 64 in ref 8 and by copy into ref 9.
const PVH_MARK: &[u8; 24] = b"pvh page, granted by gfn";
const PVH_COPY: u64 = u64::from_le_bytes(*b"pvh-copy");
const REPLY: u64 = u64::from_le_bytes(*b"dom0-saw");
const COPY_BACK: u64 = u64::from_le_bytes(*b"dom0-cpy");

/// The `pvhshare` token: domain 0 maps and copies the grants of a PVH
/// domain 1, whose entries name guest frames (the hypervisor finds the
/// machine frames in its p2m).
pub fn pvh_peer(hole: u64) {
    let (Some(map_va), Some(own_va)) = (slot(hole, 4), slot(hole, 5)) else {
        say!("guest-kernel: pvhshare: no room below the watched pages; skipped");
        return;
    };
    let mut op =
        MapGrantRef { host_addr: map_va, flags: gntmap::HOST_MAP, ref_: REF_MAP, dom: DomId(1), ..Default::default() };
    let mut tries = 0;
    loop {
        let rc = mem::grant_op(GNTTABOP_MAP_GRANT_REF, core::slice::from_mut(&mut op));
        if rc == 0 && op.status == status::OKAY {
            break;
        }
        tries += 1;
        if tries > PATIENCE {
            fail("the PVH domain's grant never appeared");
        }
        guest::yield_now();
    }
    let _ = mem::mmuext(&[abi::mmu::MmuextOp { cmd: abi::mmu::MMUEXT_INVLPG_LOCAL, pad: 0, arg1: map_va, arg2: 0 }]);
    let mut text = [0u8; 24];
    for (i, chunk) in text.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mem::read(map_va + i as u64 * 8).to_le_bytes());
    }
    let shown = core::str::from_utf8(&text).unwrap_or("?");
    say!(
        "guest-kernel: pvhshare: mapped PVH domain 1's ref {REF_MAP} (frame {:#x}, handle {}) at {map_va:#x} after {tries} tries: it reads \"{shown}\"",
        op.dev_bus_addr >> 12,
        op.handle
    );
    if &text != PVH_MARK {
        fail("the PVH domain's granted page does not hold its marker");
    }
    mem::write(map_va + 64, REPLY);
    copy_round_trip(
        DomId(1),
        own_va,
        PVH_COPY,
        COPY_BACK,
        ["grant copy from the PVH domain", "grant copy to the PVH domain"],
    );
    let mut un = [UnmapGrantRef { host_addr: map_va, handle: op.handle, ..Default::default() }];
    let rc = mem::grant_op(GNTTABOP_UNMAP_GRANT_REF, &mut un);
    if rc != 0 || un[0].status != status::OKAY {
        fail("grant unmap of the PVH domain's page");
    }
    say!("guest-kernel: pvhshare: wrote \"dom0-saw\" through the mapping, copied \"pvh-copy\" out of ref {REF_COPY} and \"dom0-cpy\" back in; unmapped ref {REF_MAP}");
}

/// Both directions of `GNTTABOP_copy` against `peer`'s grant `REF_COPY`,
/// through a fresh frame of this domain mapped at `own_va`: one word out
/// of the grant, which must be `expect`, then `reply` back into it.
/// `fails` are the failure lines of the two copies.
fn copy_round_trip(peer: DomId, own_va: u64, expect: u64, reply: u64, fails: [&str; 2]) {
    let own = alloc_frame();
    clear(own);
    map_rw(own_va, own);
    let side = |u: u64, domid: DomId| CopyPtr { u, domid, offset: 0, pad: 0 };
    let mut cp = GnttabCopy {
        source: side(u64::from(REF_COPY), peer),
        dest: side(own, DomId::SELF),
        len: 8,
        flags: gntcopy::SOURCE_GREF,
        ..Default::default()
    };
    if guest::grant_copy(&mut cp) != Ok(0) || mem::read(own_va) != expect {
        fail(fails[0]);
    }
    mem::write(own_va, reply);
    let mut back = GnttabCopy {
        source: side(own, DomId::SELF),
        dest: side(u64::from(REF_COPY), peer),
        len: 8,
        flags: gntcopy::DEST_GREF,
        ..Default::default()
    };
    if guest::grant_copy(&mut back) != Ok(0) {
        fail(fails[1]);
    }
}
