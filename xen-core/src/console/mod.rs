//! The console rings of the domains other than domain 0, served by the
//! hypervisor itself (a deliberate extension: on Xen a console daemon in
//! domain 0 serves them).
//!
//! Each such domain gets a ring page ([`abi::console::XenconsInterface`])
//! and an event channel when it is built; start_info names both. The
//! hypervisor holds a general and a writable type reference on the page
//! from then until the domain dies, so the guest can neither give the
//! frame back nor turn it into a page table or descriptor table while the
//! hypervisor reads and writes it ([`ConsoleRings::attach`]).
//!
//! Output is taken ([`ring::drain_out`]) when the guest notifies the port,
//! on every hypervisor timer interrupt and idle wake-up (so a guest that
//! never notifies is still printed, a little later), and a last time when
//! the domain dies. It is filtered as `console_io` output of an
//! unprivileged domain is ([`line::LineBuf`]): printable characters and
//! tabs, a line at a time (up to [`LINE_MAX`] bytes whole, a longer one is
//! broken there), each line prefixed `(dN)` by the serial console. The line
//! buffer is the ring's own, so a partial line in the ring never
//! interleaves with another domain's.
//!
//! Input is not served: serial input goes to the hypervisor's debug keys
//! or domain 0 (Ctrl-A three times switches, as on Xen); `in_cons` and
//! `in_prod` are never written, so a domU reads an empty input ring.

pub mod line;
pub mod ring;

use crate::event::EventEnv;
use crate::sched::MAX_DOMAINS;
use abi::{DomId, Mfn};
pub use line::{LineBuf, LINE_MAX};
pub use ring::Drain;

/// One domain's served ring.
#[derive(Clone, Copy, Debug)]
pub struct RingConsole {
    /// The ring page (referenced while attached).
    pub ring: Mfn,
    /// The domain's port for it (start_info's `console_evtchn`).
    pub port: u32,
    /// Bytes taken from the ring so far (filtered out ones included).
    pub bytes: u64,
    /// Drains that took something.
    pub drains: u64,
    /// The last drain found corrupt indices (logged once per episode).
    pub corrupt: bool,
    line: LineBuf,
}

/// What a drain means for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing worth a log line.
    Quiet,
    /// The indices just became corrupt (`waiting` bytes claimed).
    BecameCorrupt(u32),
}

/// Every domain's ring (none for domain 0, or before a domain is built).
pub struct ConsoleRings {
    doms: [Option<RingConsole>; MAX_DOMAINS],
}

impl Default for ConsoleRings {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsoleRings {
    /// No rings.
    pub const fn new() -> ConsoleRings {
        ConsoleRings { doms: [None; MAX_DOMAINS] }
    }

    /// Domain `dom`'s ring, if it has one.
    pub fn get(&self, dom: DomId) -> Option<&RingConsole> {
        self.doms.get(dom.0 as usize).and_then(|r| r.as_ref())
    }

    /// Starts serving `ring`, domain `dom`'s frame, notified on `port`.
    /// False (nothing changed) if the frame is not `dom`'s RAM or cannot
    /// take the writable type, or `dom` already has a ring.
    pub fn attach(&mut self, env: &mut dyn EventEnv, dom: DomId, ring: Mfn, port: u32) -> bool {
        let Some(slot) = self.doms.get_mut(dom.0 as usize) else { return false };
        if slot.is_some() || !env.take_writable(dom, ring) {
            return false;
        }
        *slot = Some(RingConsole { ring, port, bytes: 0, drains: 0, corrupt: false, line: LineBuf::new() });
        true
    }

    /// Domain `dom` is dying: its ring is drained a last time, a partial
    /// line is written out, and the page's references are dropped (before
    /// the domain's memory is torn down). Returns what it had been.
    pub fn detach(&mut self, env: &mut dyn EventEnv, dom: DomId, out: &mut dyn FnMut(&[u8])) -> Option<RingConsole> {
        self.drain(env, dom, out);
        let mut r = self.doms.get_mut(dom.0 as usize)?.take()?;
        r.line.flush(out);
        env.put_writable(r.ring);
        Some(r)
    }

    /// Domain `dom` sent on `port`: drains its ring if that is the ring's
    /// port (any other port is not the console's business).
    pub fn notified(&mut self, env: &mut dyn EventEnv, dom: DomId, port: u32, out: &mut dyn FnMut(&[u8])) -> Event {
        if self.get(dom).is_some_and(|r| r.port == port) {
            self.drain(env, dom, out)
        } else {
            Event::Quiet
        }
    }

    /// Drains domain `dom`'s ring (if it has one), handing each complete
    /// line (without its newline) and then `b"\n"` to `out`.
    pub fn drain(&mut self, env: &mut dyn EventEnv, dom: DomId, out: &mut dyn FnMut(&[u8])) -> Event {
        let Some(Some(r)) = self.doms.get_mut(dom.0 as usize) else { return Event::Quiet };
        let line = &mut r.line;
        let d = ring::drain_out(env, r.ring, &mut |b| line.push(b, out));
        match d {
            Drain::Empty => Event::Quiet,
            Drain::Took(n) => {
                r.corrupt = false;
                r.bytes += u64::from(n);
                r.drains += 1;
                Event::Quiet
            }
            Drain::Corrupt { waiting } => {
                let first = !r.corrupt;
                r.corrupt = true;
                if first {
                    Event::BecameCorrupt(waiting)
                } else {
                    Event::Quiet
                }
            }
        }
    }

    /// The domains with a ring, for the timer and idle poll.
    pub fn attached(&self) -> impl Iterator<Item = DomId> + '_ {
        self.doms.iter().enumerate().filter(|(_, r)| r.is_some()).map(|(i, _)| DomId(i as u16))
    }
}

impl ConsoleRings {
    /// References (general and writable) the rings hold on `mfn`.
    pub fn held(&self, mfn: Mfn) -> u64 {
        self.doms.iter().flatten().filter(|r| r.ring == mfn).count() as u64
    }
}

/// Other references (`R`, the event channels' say) plus the rings', for
/// the memory model's invariant checker.
pub struct WithRings<'a, R>(pub &'a R, pub &'a ConsoleRings);

impl<R: crate::mm::check::ExternalRefs> crate::mm::check::ExternalRefs for WithRings<'_, R> {
    fn refs(&self, mfn: Mfn) -> (u64, u64) {
        let (g, t) = self.0.refs(mfn);
        let n = self.1.held(mfn);
        (g + n, t + n)
    }
    fn foreign_map_allowed(&self, dom: DomId, mfn: Mfn) -> bool {
        self.0.foreign_map_allowed(dom, mfn)
    }
}

#[cfg(test)]
mod tests;
