//! The FIFO ABI (platform §2.4): one u32 event word per port in guest
//! event-array frames, a control block per vCPU with a ready bitmap and
//! the head of each priority's queue, and the queues' tails kept here.
//! Every frame was taken with a writable page reference
//! ([`super::EventEnv::take_writable`]) and is dropped by
//! [`Fifo::release`] (reset, domain death).

use super::port::Port;
use super::EventEnv;
use crate::mm::PhysAddr;
use abi::event_channel::*;
use abi::Mfn;

/// One priority queue's tail (0 = none), as Xen keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Queue {
    /// The last port linked into it.
    pub tail: u32,
}

/// A domain's FIFO state (one vCPU).
#[derive(Clone, Debug)]
pub struct Fifo {
    /// Event-array frames, in port order.
    pub array: [Mfn; FIFO_MAX_ARRAY_PAGES as usize],
    /// How many of `array` exist.
    pub pages: u32,
    /// vCPU 0's control block: its frame and offset.
    pub control: Option<(Mfn, u32)>,
    /// vCPU 0's queues.
    pub queues: [Queue; FIFO_PRIORITIES],
}

impl Fifo {
    /// The state after the first `init_control`: no array frame yet.
    pub fn new() -> Fifo {
        Fifo {
            array: [Mfn(0); FIFO_MAX_ARRAY_PAGES as usize],
            pages: 0,
            control: None,
            queues: [Queue::default(); FIFO_PRIORITIES],
        }
    }

    /// Ports covered by the event array.
    pub fn num_ports(&self) -> u32 {
        self.pages * FIFO_WORDS_PER_PAGE
    }

    fn word_addr(&self, port: u32) -> Option<PhysAddr> {
        if port >= self.num_ports() {
            return None;
        }
        let mfn = self.array[(port / FIFO_WORDS_PER_PAGE) as usize];
        Some(PhysAddr(mfn.to_maddr() + u64::from(port % FIFO_WORDS_PER_PAGE) * 4))
    }

    /// `port`'s event word, if its frame exists.
    pub fn word(&self, env: &impl EventEnv, port: u32) -> Option<u32> {
        self.word_addr(port).map(|a| read_u32(env, a))
    }

    fn update(&self, env: &mut impl EventEnv, port: u32, f: impl FnOnce(u32) -> u32) -> Option<u32> {
        let a = self.word_addr(port)?;
        let old = read_u32(env, a);
        write_u32(env, a, f(old));
        Some(old)
    }

    /// Xen's `evtchn_fifo_set_pending` for a port of this domain: returns
    /// (the port newly became pending, the vCPU's events must be marked).
    pub fn set_pending(&mut self, env: &mut impl EventEnv, ports: &mut [Port], port: u32) -> (bool, bool) {
        let p = &mut ports[port as usize];
        if self.word_addr(port).is_none() {
            // No array frame yet: remembered, raised by expand_array.
            p.latched = true;
            return (false, false);
        }
        // A port that moves queue leaves its old one empty-tailed, so that
        // a later link into the old queue cannot chain onto this port.
        let q = p.priority as usize;
        let old_q = p.last_priority as usize;
        if self.queues[old_q].tail == port {
            self.queues[old_q].tail = 0;
        }
        p.last_priority = p.priority;
        let Some((cb, off)) = self.control else {
            // No control block: the guest cannot have unmasked it; dropped.
            return (false, false);
        };
        let old = self.update(env, port, |w| w | FIFO_PENDING).unwrap_or(0);
        let newly = old & FIFO_PENDING == 0;
        let mut linked = true;
        if old & (FIFO_MASKED | FIFO_LINKED) == 0 {
            self.update(env, port, |w| w | FIFO_LINKED);
            linked = false;
            let tail = self.queues[q].tail;
            if tail != 0 {
                linked = self.link(env, tail, port);
            }
            if !linked {
                write_u32(env, PhysAddr(cb.to_maddr() + u64::from(off) + 8 + q as u64 * 4), port);
            }
            self.queues[q].tail = port;
        }
        let mut mark = false;
        if !linked {
            let ready = PhysAddr(cb.to_maddr() + u64::from(off));
            let r = read_u32(env, ready);
            if r & 1 << q == 0 {
                write_u32(env, ready, r | 1 << q);
                mark = true;
            }
        }
        (newly, mark)
    }

    /// Links `port` after `tail` if `tail` is still linked (the guest has
    /// not consumed it): Xen's `evtchn_fifo_set_link`.
    fn link(&self, env: &mut impl EventEnv, tail: u32, port: u32) -> bool {
        match self.word(env, tail) {
            Some(w) if w & FIFO_LINKED != 0 => {
                self.update(env, tail, |w| (w & !FIFO_LINK_MASK & !FIFO_BUSY) | port);
                true
            }
            _ => false,
        }
    }

    /// Xen's `evtchn_fifo_unmask`: clears MASKED and, if the port is
    /// pending, sets it pending again (linking it). Returns what
    /// [`Fifo::set_pending`] does.
    pub fn unmask(&mut self, env: &mut impl EventEnv, ports: &mut [Port], port: u32) -> (bool, bool) {
        let Some(old) = self.update(env, port, |w| w & !FIFO_MASKED) else { return (false, false) };
        if old & FIFO_PENDING != 0 {
            return self.set_pending(env, ports, port);
        }
        (false, false)
    }

    /// Clears PENDING (a closed port) and any latch.
    pub fn clear_pending(&self, env: &mut impl EventEnv, port: u32) {
        self.update(env, port, |w| w & !FIFO_PENDING);
    }

    /// Drops every frame reference.
    pub fn release(self, env: &mut impl EventEnv) {
        if let Some((cb, _)) = self.control {
            env.put_writable(cb);
        }
        for &m in &self.array[..self.pages as usize] {
            env.put_writable(m);
        }
    }
}

impl Default for Fifo {
    fn default() -> Self {
        Self::new()
    }
}

fn read_u32(env: &impl EventEnv, a: PhysAddr) -> u32 {
    let w = env.read_u64(PhysAddr(a.0 & !7));
    (w >> ((a.0 & 4) * 8)) as u32
}

fn write_u32(env: &mut impl EventEnv, a: PhysAddr, v: u32) {
    let at = PhysAddr(a.0 & !7);
    let shift = (a.0 & 4) * 8;
    let w = env.read_u64(at);
    env.write_u64(at, (w & !(0xFFFF_FFFFu64 << shift)) | u64::from(v) << shift);
}
