//! The producer side of the console ring: printing through the page and
//! event channel start_info names (`console_mfn`, `console_evtchn`),
//! which every domain but domain 0 has on xen-core, and every domU has on
//! Xen once a console daemon serves it.
//!
//! [`use_ring`] finds the page in the initial mapping and installs a
//! console sink ([`crate::console::set_sink`]) that copies each chunk into
//! the `out` ring and notifies the port. The hypervisor drains the ring at
//! each notification, so a chunk never waits for space in practice; if
//! the ring stays full (its indices broken, nobody serving it) after
//! [`MAX_STALLS`] notifications, the rest of the chunk goes out through
//! `console_io` instead, so output is never lost silently.
//!
//! The ring logic ([`produce`], [`write_all`]) is plain code over
//! [`RingPage`], tested on the host; the page itself is reached through
//! volatile accesses in the arch glue, data before the index that
//! publishes it.

use abi::console::{out_slot, OUT_RING};
use abi::{Mfn, Pfn};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Notifications without progress before a chunk falls back to `console_io`.
pub const MAX_STALLS: u32 = 4;

/// The output half of a ring page as the producer sees it.
pub trait RingPage {
    /// Reads `out_cons` (the consumer may move it at any time).
    fn out_cons(&self) -> u32;
    /// Reads `out_prod` (only the producer writes it).
    fn out_prod(&self) -> u32;
    /// Writes byte `b` at `out[slot]`.
    fn put(&mut self, slot: usize, b: u8);
    /// Makes the bytes written so far visible, then stores `out_prod`.
    fn publish(&mut self, prod: u32);
}

/// Copies as much of `bytes` as fits after `out_prod` and publishes it;
/// returns how many went in. A ring whose indices claim more than it
/// holds takes nothing (the consumer would not take it either).
pub fn produce(ring: &mut impl RingPage, bytes: &[u8]) -> usize {
    let (cons, prod) = (ring.out_cons(), ring.out_prod());
    let used = prod.wrapping_sub(cons) as usize;
    if used > OUT_RING {
        return 0;
    }
    let n = (OUT_RING - used).min(bytes.len());
    for (i, &b) in bytes[..n].iter().enumerate() {
        ring.put(out_slot(prod.wrapping_add(i as u32)), b);
    }
    if n > 0 {
        ring.publish(prod.wrapping_add(n as u32));
    }
    n
}

/// Writes all of `bytes`, calling `notify` after each part that went in.
/// `Err(done)`: after [`MAX_STALLS`] notifications in a row that made no
/// room, only the first `done` bytes went in.
pub fn write_all(ring: &mut impl RingPage, bytes: &[u8], notify: &mut dyn FnMut()) -> Result<(), usize> {
    let (mut done, mut stalls) = (0, 0);
    while done < bytes.len() {
        let n = produce(ring, &bytes[done..]);
        if n == 0 {
            stalls += 1;
            if stalls > MAX_STALLS {
                return Err(done);
            }
        } else {
            stalls = 0;
            done += n;
        }
        notify();
    }
    Ok(())
}

/// Where the installed ring is (0: none).
static RING_VA: AtomicU64 = AtomicU64::new(0);
static RING_PORT: AtomicU32 = AtomicU32::new(0);

/// The ring in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ring {
    /// The page's machine frame (start_info's `console_mfn`).
    pub mfn: Mfn,
    /// Its PFN, found through the M2P.
    pub pfn: Pfn,
    /// Its event channel (start_info's `console_evtchn`).
    pub port: u32,
}

/// Why [`use_ring`] kept `console_io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoRing {
    /// Domain 0: its console is `console_io`.
    InitialDomain,
    /// start_info names no ring page.
    NoPage,
    /// The page is not one of the domain's frames in the initial mapping.
    NotMapped,
}

/// Routes all further output through the console ring start_info names
/// (see the module docs). The page must stay mapped at its initial address
/// and the port open for as long as anything is printed.
///
/// # Errors
/// [`NoRing`] says why output stays on `console_io`.
pub fn use_ring(boot: &crate::Boot) -> Result<Ring, NoRing> {
    let si = boot.start_info();
    if boot.is_initial_domain() {
        return Err(NoRing::InitialDomain);
    }
    if si.console_mfn == 0 {
        return Err(NoRing::NoPage);
    }
    let mfn = Mfn(si.console_mfn);
    let pfn = boot.m2p(mfn).ok_or(NoRing::NotMapped)?;
    if boot.p2m(pfn) != Some(mfn) {
        return Err(NoRing::NotMapped);
    }
    let va = boot.layout().va(pfn).ok_or(NoRing::NotMapped)?;
    RING_PORT.store(si.console_evtchn, Ordering::SeqCst);
    RING_VA.store(va.0, Ordering::SeqCst);
    crate::console::set_sink(ring_sink);
    Ok(Ring { mfn, pfn, port: si.console_evtchn })
}

/// The installed sink: the ring, then `console_io` for what did not fit.
fn ring_sink(bytes: &[u8]) {
    let port = RING_PORT.load(Ordering::Relaxed);
    let mut page = crate::arch::MappedRing(RING_VA.load(Ordering::Relaxed));
    if let Err(done) = write_all(&mut page, bytes, &mut || {
        let _ = abi::guest::send(port);
    }) {
        let _ = abi::guest::console_write(&bytes[done..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::RefCell;
    use std::vec::Vec;

    /// A ring page and a consumer that takes `take` bytes per notification.
    struct State {
        out: [u8; OUT_RING],
        cons: u32,
        prod: u32,
        take: usize,
        got: Vec<u8>,
        notifies: u32,
    }

    struct Fake(RefCell<State>);

    impl RingPage for &Fake {
        fn out_cons(&self) -> u32 {
            self.0.borrow().cons
        }
        fn out_prod(&self) -> u32 {
            self.0.borrow().prod
        }
        fn put(&mut self, slot: usize, b: u8) {
            self.0.borrow_mut().out[slot] = b;
        }
        fn publish(&mut self, prod: u32) {
            self.0.borrow_mut().prod = prod;
        }
    }

    impl Fake {
        fn new(start: u32, take: usize) -> Fake {
            Fake(RefCell::new(State {
                out: [0; OUT_RING],
                cons: start,
                prod: start,
                take,
                got: Vec::new(),
                notifies: 0,
            }))
        }
        fn consume(&self) {
            let mut s = self.0.borrow_mut();
            s.notifies += 1;
            let waiting = s.prod.wrapping_sub(s.cons) as usize;
            for _ in 0..waiting.min(s.take) {
                let b = s.out[out_slot(s.cons)];
                s.got.push(b);
                s.cons = s.cons.wrapping_add(1);
            }
        }
        /// The consumer runs at each notification, as the hypervisor does.
        fn write(&self, bytes: &[u8]) -> Result<(), usize> {
            let mut page = self;
            write_all(&mut page, bytes, &mut || self.consume())
        }
        fn s(&self) -> std::cell::Ref<'_, State> {
            self.0.borrow()
        }
    }

    #[test]
    fn a_chunk_goes_in_after_out_prod_wrapping_at_the_ring_end_and_is_notified() {
        let f = Fake::new(OUT_RING as u32 - 2, usize::MAX);
        assert_eq!(f.write(b"hello"), Ok(()));
        assert_eq!(f.s().got, b"hello");
        assert_eq!(&f.s().out[OUT_RING - 2..], b"he");
        assert_eq!(&f.s().out[..3], b"llo");
        assert_eq!(f.s().notifies, 1);
    }

    #[test]
    fn indices_near_u32_max_wrap() {
        let f = Fake::new(u32::MAX - 1, usize::MAX);
        assert_eq!(f.write(b"abcd"), Ok(()));
        assert_eq!((f.s().prod, f.s().got.as_slice()), (2, &b"abcd"[..]));
    }

    #[test]
    fn a_chunk_larger_than_the_ring_goes_in_parts_one_notification_each() {
        let data: Vec<u8> = (0..5000).map(|i| (i % 251) as u8).collect();
        let f = Fake::new(7, usize::MAX);
        assert_eq!(f.write(&data), Ok(()));
        assert_eq!(f.s().got, data);
        assert_eq!(f.s().notifies, 3, "2048 + 2048 + 904");
    }

    #[test]
    fn a_slow_consumer_is_waited_for() {
        let data = [b'x'; 3000];
        let f = Fake::new(0, 100);
        assert_eq!(f.write(&data), Ok(()));
        let s = f.s();
        assert_eq!(s.got.len() + s.prod.wrapping_sub(s.cons) as usize, 3000, "taken, or waiting in the ring");
        assert!(s.got.len() >= 3000 - OUT_RING);
    }

    #[test]
    fn a_ring_nobody_drains_gives_up_after_max_stalls_with_what_went_in() {
        let f = Fake::new(0, 0);
        assert_eq!(f.write(&[b'y'; 3000]), Err(OUT_RING));
        assert_eq!(f.s().notifies, 1 + MAX_STALLS);
    }

    #[test]
    fn broken_indices_take_nothing() {
        let f = Fake::new(0, 0);
        f.0.borrow_mut().prod = 5000;
        assert_eq!(produce(&mut &f, b"z"), 0);
        assert_eq!(f.s().prod, 5000, "out_prod is left alone");
        assert_eq!(f.write(b"z"), Err(0));
    }
}
