//! The consumer side of a console ring's output half: what the hypervisor
//! takes out of a guest's `out` ring ([`abi::console::XenconsInterface`]).
//!
//! The guest writes the page whenever it likes, so nothing read from it is
//! trusted: both indices are read once, in one 64-bit load (`out_cons` and
//! `out_prod` share the aligned word at offset 3080), every byte's place is
//! the index masked to the ring, and at most one ring's worth (2048 bytes)
//! is copied per drain whatever the indices say. A ring whose `out_prod` is
//! more than 2048 ahead of `out_cons` (wrapping) is refused as xenconsoled
//! refuses it: nothing is taken and the indices are left alone until the
//! guest puts them right. Changes the guest makes while a drain runs are
//! not seen by it (the copy works from the values read first); the only
//! write is `out_cons`, a 4-byte store after the copy.

use crate::event::EventEnv;
use crate::mm::PhysAddr;
use abi::console::{out_slot, OUT_CONS_OFFSET, OUT_OFFSET, OUT_RING};
use abi::Mfn;

/// What one drain found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    /// `out_prod == out_cons`: nothing waiting.
    Empty,
    /// This many bytes were taken and `out_cons` advanced past them.
    Took(u32),
    /// `out_prod - out_cons` (wrapping) is more than the ring holds:
    /// nothing taken, nothing written.
    Corrupt {
        /// The claimed number of waiting bytes.
        waiting: u32,
    },
}

/// Takes what is waiting in the output ring of the page `ring`, handing
/// each byte to `byte` in order, then publishes the new `out_cons`.
pub fn drain_out(env: &mut dyn EventEnv, ring: Mfn, byte: &mut dyn FnMut(u8)) -> Drain {
    let base = ring.to_maddr();
    let idx = env.read_u64(PhysAddr(base + OUT_CONS_OFFSET as u64));
    let (cons, prod) = (idx as u32, (idx >> 32) as u32);
    let waiting = prod.wrapping_sub(cons);
    if waiting == 0 {
        return Drain::Empty;
    }
    if waiting as usize > OUT_RING {
        return Drain::Corrupt { waiting };
    }
    // One word load per 8 bytes of ring; a wrap starts a new word.
    let mut cached: Option<(usize, u64)> = None;
    for i in 0..waiting {
        let slot = out_slot(cons.wrapping_add(i));
        let word_at = slot & !7;
        let word = match cached {
            Some((at, w)) if at == word_at => w,
            _ => {
                let w = env.read_u64(PhysAddr(base + (OUT_OFFSET + word_at) as u64));
                cached = Some((word_at, w));
                w
            }
        };
        byte((word >> ((slot & 7) * 8)) as u8);
    }
    write_u32(env, PhysAddr(base + OUT_CONS_OFFSET as u64), cons.wrapping_add(waiting));
    Drain::Took(waiting)
}

/// Stores the 4 bytes at the 8-aligned `addr` (the low half of its word),
/// leaving the high half as it is. The hypervisor runs with the guest
/// stopped, so the read-modify-write cannot lose a guest store.
fn write_u32(env: &mut dyn EventEnv, addr: PhysAddr, v: u32) {
    let w = env.read_u64(addr);
    env.write_u64(addr, (w & !0xFFFF_FFFF) | u64::from(v));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventEnv;
    use abi::console::{OUT_PROD_OFFSET, OUT_RING};
    use abi::DomId;

    /// One guest page as the ring, at machine frame 7.
    struct Page([u8; 4096]);

    const RING: Mfn = Mfn(7);

    impl EventEnv for Page {
        fn read_u64(&self, addr: PhysAddr) -> u64 {
            let o = (addr.0 - RING.to_maddr()) as usize;
            assert!(o.is_multiple_of(8) && o < 4096, "read at {o}");
            u64::from_le_bytes(self.0[o..o + 8].try_into().unwrap())
        }
        fn write_u64(&mut self, addr: PhysAddr, value: u64) {
            let o = (addr.0 - RING.to_maddr()) as usize;
            assert!(o.is_multiple_of(8) && o < 4096, "write at {o}");
            self.0[o..o + 8].copy_from_slice(&value.to_le_bytes());
        }
        fn take_writable(&mut self, _: DomId, _: Mfn) -> bool {
            true
        }
        fn put_writable(&mut self, _: Mfn) {}
    }

    impl Page {
        fn new() -> Page {
            Page([0; 4096])
        }
        fn idx(&self) -> (u32, u32) {
            let at = |o: usize| u32::from_le_bytes(self.0[o..o + 4].try_into().unwrap());
            (at(OUT_CONS_OFFSET), at(OUT_PROD_OFFSET))
        }
        fn set_idx(&mut self, cons: u32, prod: u32) {
            self.0[OUT_CONS_OFFSET..OUT_CONS_OFFSET + 4].copy_from_slice(&cons.to_le_bytes());
            self.0[OUT_PROD_OFFSET..OUT_PROD_OFFSET + 4].copy_from_slice(&prod.to_le_bytes());
        }
        /// The guest's side: `bytes` at index `from`, out_prod after them.
        fn produce(&mut self, from: u32, bytes: &[u8]) {
            for (i, &b) in bytes.iter().enumerate() {
                self.0[OUT_OFFSET + out_slot(from.wrapping_add(i as u32))] = b;
            }
            let cons = self.idx().0;
            self.set_idx(cons, from.wrapping_add(bytes.len() as u32));
        }
        fn drain(&mut self) -> (Drain, Vec<u8>) {
            let mut got = Vec::new();
            let d = drain_out(self, RING, &mut |b| got.push(b));
            (d, got)
        }
    }

    #[test]
    fn waiting_bytes_are_taken_in_order_and_out_cons_catches_up() {
        let mut p = Page::new();
        assert_eq!(p.drain(), (Drain::Empty, vec![]));
        p.produce(0, b"hello\n");
        assert_eq!(p.drain(), (Drain::Took(6), b"hello\n".to_vec()));
        assert_eq!(p.idx(), (6, 6));
        assert_eq!(p.drain(), (Drain::Empty, vec![]));
    }

    #[test]
    fn a_write_across_the_end_of_the_ring_wraps_to_its_start() {
        let mut p = Page::new();
        let start = OUT_RING as u32 - 3;
        p.set_idx(start, start);
        p.produce(start, b"abcdefg");
        assert_eq!(&p.0[OUT_OFFSET..OUT_OFFSET + 4], b"defg");
        assert_eq!(p.drain(), (Drain::Took(7), b"abcdefg".to_vec()));
        assert_eq!(p.idx(), (start + 7, start + 7));
    }

    #[test]
    fn indices_wrap_around_u32_like_any_other_value() {
        let mut p = Page::new();
        let start = u32::MAX - 1;
        p.set_idx(start, start);
        p.produce(start, b"wrap");
        assert_eq!(p.idx().1, 2);
        assert_eq!(p.drain(), (Drain::Took(4), b"wrap".to_vec()));
        assert_eq!(p.idx(), (2, 2));
    }

    #[test]
    fn a_full_ring_is_taken_whole_and_never_more() {
        let mut p = Page::new();
        let data: Vec<u8> = (0..OUT_RING).map(|i| (i % 251) as u8).collect();
        p.set_idx(100, 100);
        p.produce(100, &data);
        let (d, got) = p.drain();
        assert_eq!(d, Drain::Took(OUT_RING as u32));
        assert_eq!(got, data);
    }

    #[test]
    fn out_prod_far_ahead_of_out_cons_is_refused_and_nothing_is_written() {
        for (cons, prod) in [(0, OUT_RING as u32 + 1), (0, u32::MAX), (5, 4), (1 << 31, 0), (0, 1 << 31)] {
            let mut p = Page::new();
            p.set_idx(cons, prod);
            let before = p.0;
            let (d, got) = p.drain();
            assert_eq!(d, Drain::Corrupt { waiting: prod.wrapping_sub(cons) }, "cons {cons} prod {prod}");
            assert!(got.is_empty());
            assert_eq!(p.0, before, "the page is left as it was");
        }
    }

    #[test]
    fn the_guest_putting_its_indices_right_again_resumes_output() {
        let mut p = Page::new();
        p.set_idx(0, 90_000);
        assert!(matches!(p.drain().0, Drain::Corrupt { .. }));
        p.set_idx(90_000, 90_000);
        p.produce(90_000, b"ok\n");
        assert_eq!(p.drain(), (Drain::Took(3), b"ok\n".to_vec()));
    }

    #[test]
    fn indices_are_read_once_so_a_later_out_prod_change_is_not_seen_by_this_drain() {
        // An environment whose out_prod jumps after the first read of the
        // index word: the drain must use the first value only.
        struct Racing(Page, std::cell::Cell<u32>);
        impl EventEnv for Racing {
            fn read_u64(&self, addr: PhysAddr) -> u64 {
                let v = self.0.read_u64(addr);
                if addr.0 == RING.to_maddr() + OUT_CONS_OFFSET as u64 {
                    self.1.set(self.1.get() + 1);
                }
                v
            }
            fn write_u64(&mut self, addr: PhysAddr, value: u64) {
                // The guest "moved" out_prod far ahead meanwhile: the word
                // written back carries only the new out_cons.
                self.0.write_u64(addr, value);
            }
            fn take_writable(&mut self, _: DomId, _: Mfn) -> bool {
                true
            }
            fn put_writable(&mut self, _: Mfn) {}
        }
        let mut p = Page::new();
        p.produce(0, b"abc");
        let mut r = Racing(p, std::cell::Cell::new(0));
        let mut got = Vec::new();
        assert_eq!(drain_out(&mut r, RING, &mut |b| got.push(b)), Drain::Took(3));
        assert_eq!(r.1.get(), 2, "one index read, one read-modify-write of out_cons");
        assert_eq!(got, b"abc");
    }
}
