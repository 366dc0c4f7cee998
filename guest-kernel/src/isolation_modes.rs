//! The isolation test modes of issue 8 (F5, F6) that need only a
//! well-behaved kernel: hypercalls so long that only preemption keeps the
//! machine responsive, and naming a domain that has shut down.

use crate::story::{alloc_frame, clear, fail, fail_errno, mfn_of_pfn, VIRT_BASE};
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::start_info::StartInfo;
use abi::{guest, Errno};
use guest_kernel::arch::x86_64::mem;
use guest_kernel::say;

/// `test=mmu-flood` (issue 8, F5): one frame of valid requests, aliased
/// over 512 GiB, then an `mmu_update` of 2^31 − 1 of them. A hypervisor
/// that cannot preempt it stalls the machine; with continuations, timer
/// ticks and other domains run in between and the CPU limit (`timeout=`)
/// ends it.
pub(crate) fn mmu_flood(si: &StartInfo) -> ! {
    let va = alias_512_gib(si, true);
    say!("guest-kernel: 512 GiB of mmu_update requests mapped at {va:#x}");
    let mut done = 0u32;
    let r = mem::mmu_update_raw(va, 1 << 16, &mut done);
    say!("guest-kernel: mmu_update of 65536 aliased requests returned {r}, done {done}");
    if r != 0 || done != 1 << 16 {
        fail("a long mmu_update did not complete");
    }
    say!("guest-kernel: now 2^31 - 1 requests");
    let r = mem::mmu_update_raw(va, 0x7FFF_FFFF, &mut done);
    say!("guest-kernel: the 2^31 - 1 request mmu_update returned {r}, done {done}");
    say!("Test result: SUCCESS");
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// `test=console-flood` (issue 8, F5), as an unprivileged domain: a
/// `console_io` write of 4 GiB − 1 bytes (a zeroed frame aliased over
/// 512 GiB, so nothing is printed). It continues every 16 KiB, so other
/// domains run and the CPU limit (`timeout=`) ends it.
pub(crate) fn console_flood(si: &StartInfo) -> ! {
    let va = alias_512_gib(si, false);
    say!("guest-kernel: console_io of 4 GiB - 1 bytes from {va:#x}");
    let r = abi::guest::console_write_raw(va, 0xFFFF_FFFF);
    say!("guest-kernel: the 4 GiB console_io returned {r}");
    say!("Test result: SUCCESS");
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// Maps one frame at every page of L4 slot 1: 512 L1 entries to it, 512
/// L2 entries to that L1, 512 L3 entries to that L2. With `requests` the
/// frame holds 256 requests, each writing 0 to word 0 of an unused data
/// frame; else it is zero. Returns the address.
fn alias_512_gib(si: &StartInfo, requests: bool) -> u64 {
    let fresh = || {
        let m = alloc_frame();
        clear(m);
        m
    };
    let (reqs, data, l1, l2, l3) = (fresh(), fresh(), fresh(), fresh(), fresh());
    let fill = |table: u64, val: &dyn Fn(u64) -> u64| {
        let mut batch = [MmuUpdate::default(); 512];
        for (i, b) in batch.iter_mut().enumerate() {
            *b = MmuUpdate { ptr: (table << 12) + i as u64 * 8, val: val(i as u64) };
        }
        if let Err(e) = mem::mmu_update(&batch) {
            fail_errno("mmu_update while building the alias", e.errno);
        }
    };
    // Words 2i and 2i+1 of the request frame: request i.
    if requests {
        fill(reqs, &|w| if w % 2 == 0 { data << 12 } else { 0 });
    }
    fill(l1, &|_| (reqs << 12) | PRESENT | USER | ACCESSED);
    fill(l2, &|_| (l1 << 12) | PRESENT | RW | USER | ACCESSED);
    fill(l3, &|_| (l2 << 12) | PRESENT | RW | USER | ACCESSED);
    let l4 = mfn_of_pfn((si.pt_base - VIRT_BASE) / 4096);
    let hook = [MmuUpdate { ptr: (l4 << 12) + 8, val: (l3 << 12) | PRESENT | RW | USER | ACCESSED }];
    if let Err(e) = mem::mmu_update(&hook) {
        fail_errno("hooking the alias into the L4", e.errno);
    }
    1 << 39
}

/// `test=dead-domain` (issue 8, F6), as domain 0: waits until domain 1 has
/// shut down, then names it every way it can. A domain that is gone does
/// not exist: `-ESRCH`, and the balloon gives it nothing.
pub(crate) fn dead_domain() -> ! {
    use abi::memory::*;
    let d1 = abi::DomId(1);
    let code = |r: Result<u64, Errno>| r.map_or_else(|e| e.to_rax(), |v| v as i64);
    let mut polls = 0u32;
    loop {
        match guest::current_reservation(d1) {
            // Gone; or, before issue 8, a torn-down domain with no pages.
            Err(e) if e == Errno::ESRCH => break,
            Ok(0) => break,
            _ => {}
        }
        polls += 1;
        if polls > 100_000 {
            fail("domain 1 never finished");
        }
        guest::yield_now();
    }
    let cur = code(guest::current_reservation(d1));
    let max = code(guest::maximum_reservation(d1));
    let side = |start: u64| MemoryReservation { extent_start: start, nr_extents: 1, domid: d1, ..Default::default() };
    let grow = MemoryReservation { nr_extents: 8, ..side(0) };
    let inc = mem::memory_op_on_dead_domain(XENMEM_INCREASE_RESERVATION, &grow as *const _ as u64);
    let (mu, me) = mem::batches_on_dead_domain(d1);
    let (mu, me) = (code(mu.map(|()| 0)), code(me.map(|()| 0)));
    let (input, output) = ([0u64], [0u64]);
    let x =
        MemoryExchange { input: side(input.as_ptr() as u64), output: side(output.as_ptr() as u64), nr_exchanged: 0 };
    let ex = mem::memory_op_on_dead_domain(XENMEM_EXCHANGE, &x as *const _ as u64);
    say!(
        "guest-kernel: domain 1 is gone: current_reservation {cur} maximum_reservation {max} increase_reservation {inc} mmu_update {mu} mmuext_op {me} exchange {ex}"
    );
    let esrch = Errno::ESRCH.to_rax();
    let ok = [cur, max, mu, me, ex].iter().all(|&r| r == esrch) && inc == 0;
    say!("Test result: {}", if ok { "SUCCESS" } else { "FAILURE" });
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}
