//! `ring-test`: a domain abusing its own console ring, to show the
//! hypervisor, its other end, survives it: a line written without a
//! notification (the timer and idle poll must still take it), `out_prod`
//! far ahead of `out_cons`, behind it, just past a full ring, indices next
//! to `u32::MAX`, a write across the ring's end, and a flood of
//! notifications. Between the abuses the ring is put right and the domain
//! prints through it again, so every `(d1)` line after one shows that the
//! ring still works.

use crate::story::fail;
use crate::timekeeping::{now_ns, sleep_until};
use abi::console::{OUT_CONS_OFFSET, OUT_OFFSET, OUT_RING};
use guest_kernel::arch::x86_64::mem;
use guest_kernel::say;
use guest_rt::console_ring::Ring;

/// The ring page at `va` (in the initial mapping), by raw accesses.
struct Page(u64);

impl Page {
    fn indices(&self) -> (u32, u32) {
        let w = mem::read(self.0 + OUT_CONS_OFFSET as u64);
        (w as u32, (w >> 32) as u32)
    }
    fn set(&self, cons: u32, prod: u32) {
        mem::write(self.0 + OUT_CONS_OFFSET as u64, u64::from(cons) | u64::from(prod) << 32);
    }
    /// Writes `bytes` from index `at` (byte by byte through their words).
    fn put(&self, at: u32, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let slot = abi::console::out_slot(at.wrapping_add(i as u32));
            let word = self.0 + (OUT_OFFSET + (slot & !7)) as u64;
            let shift = (slot & 7) * 8;
            mem::write(word, (mem::read(word) & !(0xFF << shift)) | u64::from(b) << shift);
        }
    }
}

/// Runs the abuses; `vi` is the mapped vcpu_info (for sleeping).
pub fn run(ring: Ring, vi: u64) {
    let page = Page(crate::story::VIRT_BASE + ring.pfn.0 * 4096);
    let send = || abi::guest::send(ring.port);

    // 1. A line and no notification: the hypervisor's poll takes it.
    let (cons, prod) = page.indices();
    let line = b"ring-test: this line was never notified\n";
    page.put(prod, line);
    page.set(cons, prod.wrapping_add(line.len() as u32));
    let (mut waited, target) = (0, prod.wrapping_add(line.len() as u32));
    while page.indices().0 != target {
        waited += 1;
        if waited > 200 {
            fail("the hypervisor never took an unnotified line (no timer or idle poll)");
        }
        sleep_until(vi, now_ns(vi) + 1_000_000);
    }
    say!("guest-kernel: ring-test: the unnotified line was taken after {waited} sleeps of 1 ms");

    // 2. Hostile indices, each notified many times: nothing is taken.
    let (cons, _) = page.indices();
    let hostile = [
        ("out_prod 1 MiB ahead", cons.wrapping_add(1 << 20)),
        ("out_prod one past a full ring", cons.wrapping_add(OUT_RING as u32 + 1)),
        ("out_prod behind out_cons", cons.wrapping_sub(1)),
        ("out_prod 2^31 ahead", cons.wrapping_add(1 << 31)),
    ];
    for (what, prod) in hostile {
        page.set(cons, prod);
        for _ in 0..1000 {
            if send().is_err() {
                fail("EVTCHNOP_send on the console port failed");
            }
        }
        let after = page.indices();
        // Put it right before printing through it again.
        page.set(cons, cons);
        if after != (cons, prod) {
            fail("the hypervisor moved hostile console indices");
        }
        say!("guest-kernel: ring-test: {what}: 1000 notifications, indices left alone, hypervisor still up");
    }

    // 3. A full ring across the end, with indices next to u32::MAX.
    let start = u32::MAX - 5;
    page.set(start, start);
    let mut data = [0u8; OUT_RING];
    // NUL padding: the hypervisor's filter drops it, so one line shows.
    let text = b"ring-test: a full ring written across the end of the ring and the wrap of u32";
    data[..text.len()].copy_from_slice(text);
    data[OUT_RING - 1] = b'\n';
    page.put(start, &data);
    page.set(start, start.wrapping_add(OUT_RING as u32));
    let _ = send();
    let (c, p) = page.indices();
    if c != p || p != start.wrapping_add(OUT_RING as u32) {
        fail("a full ring across the wrap was not taken whole");
    }
    say!("guest-kernel: ring-test: a full {OUT_RING}-byte ring across index 2^32 was taken whole ({c:#x})");
    for _ in 0..10_000 {
        let _ = send();
    }
    say!("guest-kernel: ring-test: 10000 notifications of an empty ring; all done");
}
