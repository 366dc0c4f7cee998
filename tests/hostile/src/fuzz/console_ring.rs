//! Generators for the console ring the hypervisor serves (an unprivileged
//! domain's, named in start_info): hostile `out_prod`/`out_cons` values
//! (far ahead, one past a full ring, behind, anywhere, both rewritten at
//! once, next to `u32::MAX`), bytes across the ring's end, and
//! notifications on its port (none, one, a burst, or a neighbouring port).
//! The hypervisor must take exactly the bytes of a sane ring when notified
//! (or by its timer poll, at any moment) and leave a corrupt ring's
//! indices alone; everything else (staying up, the victim's memory) the
//! campaign checks as for every call. Mostly NUL bytes, which the
//! hypervisor's filter drops, so the serial log stays readable.

use super::{Fuzz, Verdict};
use crate::arch;
use crate::broke;
use abi::console::{out_slot, OUT_CONS_OFFSET, OUT_OFFSET, OUT_RING};
use abi::event_channel::EVTCHNOP_SEND;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Operations run, corrupt rings made, and bytes the hypervisor took.
static OPS: AtomicU64 = AtomicU64::new(0);
static CORRUPT: AtomicU64 = AtomicU64::new(0);
static TAKEN: AtomicU64 = AtomicU64::new(0);

/// The campaign's line about the ring (none for a domain without one).
pub(super) fn report() {
    let ops = OPS.load(Relaxed);
    if ops > 0 {
        guest_kernel::say!(
            "fuzz: console ring: {ops} operations, {} with corrupt indices left alone, {} bytes taken by the hypervisor",
            CORRUPT.load(Relaxed),
            TAKEN.load(Relaxed)
        );
    }
}

impl Fuzz<'_> {
    fn ring_indices(&self) -> (u32, u32) {
        let w = arch::read(self.env.console_va + OUT_CONS_OFFSET as u64);
        (w as u32, (w >> 32) as u32)
    }

    fn set_ring_indices(&self, cons: u32, prod: u32) {
        arch::write(self.env.console_va + OUT_CONS_OFFSET as u64, u64::from(cons) | u64::from(prod) << 32);
    }

    /// Writes `n` bytes from index `at`: NUL, a tag line, or random bytes.
    fn ring_bytes(&mut self, at: u32, n: u32) {
        let tag = b"fuzz: console ring line\n";
        let kind = self.rng.below(8);
        let mut i = 0;
        while i < n {
            let slot = out_slot(at.wrapping_add(i));
            let word = self.env.console_va + (OUT_OFFSET + (slot & !7)) as u64;
            let b = match kind {
                0 if n <= 64 => self.rng.next() as u8,
                1 if n <= 48 => tag[i as usize % tag.len()],
                _ => 0,
            };
            let shift = (slot & 7) * 8;
            arch::write(word, (arch::read(word) & !(0xFF << shift)) | u64::from(b) << shift);
            i += 1;
        }
    }

    fn ring_send(&mut self, port: u32) -> i64 {
        let p = port;
        self.hcall(32, [EVTCHNOP_SEND, &p as *const u32 as u64, 0, 0, 0])
    }

    /// One console-ring operation (no mapping changes).
    pub(super) fn console_ring(&mut self) -> Verdict {
        if self.env.console_va == 0 {
            return Ok(());
        }
        // Start from a sane, empty ring (a previous corrupt one is put right).
        let (c0, p0) = self.ring_indices();
        if p0.wrapping_sub(c0) as usize > OUT_RING {
            self.set_ring_indices(p0, p0);
        }
        let (cons, prod) = self.ring_indices();
        let base = match self.rng.below(4) {
            0 => cons,
            1 => u32::MAX - self.rng.below(64) as u32,
            2 => (OUT_RING as u32).wrapping_mul(self.rng.below(1 << 20) as u32).wrapping_sub(self.rng.below(16) as u32),
            _ => self.rng.next() as u32,
        };
        if base != cons || prod != cons {
            // Rewriting out_cons too: the guest moving the consumer's index.
            self.set_ring_indices(base, base);
        }
        let waiting: u32 = match self.rng.below(8) {
            0..=2 => self.rng.below(OUT_RING as u64 + 1) as u32,
            3 => OUT_RING as u32,
            4 => OUT_RING as u32 + 1 + self.rng.below(1 << 16) as u32,
            5 => 0u32.wrapping_sub(1 + self.rng.below(4096) as u32),
            6 => self.rng.next() as u32,
            _ => 0,
        };
        let sane = waiting as usize <= OUT_RING;
        OPS.fetch_add(1, Relaxed);
        CORRUPT.fetch_add(u64::from(!sane), Relaxed);
        if sane {
            self.ring_bytes(base, waiting);
        }
        let new_prod = base.wrapping_add(waiting);
        self.set_ring_indices(base, new_prod);
        let port = self.env.console_port;
        // The port may have been closed and reused (say as an IPI) by the
        // event generators: nothing it raises may reach a random callback.
        self.quiet_events();
        let sends = match self.rng.below(6) {
            0 => 0,
            1..=3 => 1,
            4 => 1 + self.rng.below(64),
            _ => {
                // A neighbour: not the console's, so nothing is taken for it.
                let other = port.wrapping_add(1 + self.rng.below(3) as u32);
                let _ = self.ring_send(other);
                0
            }
        };
        let mut notified = false;
        for _ in 0..sends {
            notified |= self.ring_send(port) == 0;
        }
        self.quiet_events();
        let (c, p) = self.ring_indices();
        if p != new_prod {
            return broke!("console ring: the hypervisor wrote out_prod ({new_prod:#x} -> {p:#x})");
        }
        if !sane && c != base {
            return broke!(
                "console ring: corrupt indices (cons {base:#x}, prod {new_prod:#x}) but out_cons moved to {c:#x}"
            );
        }
        // A sane ring is taken whole at the notification (or earlier by the
        // timer poll), never partly.
        if sane && c == new_prod {
            TAKEN.fetch_add(u64::from(waiting), Relaxed);
        }
        if sane && c != new_prod && (notified || c != base) {
            return broke!(
                "console ring: cons {base:#x} prod {new_prod:#x}: out_cons is {c:#x} after {sends} notifications"
            );
        }
        Ok(())
    }
}
