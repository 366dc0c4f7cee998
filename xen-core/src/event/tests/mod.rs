//! Event-channel tests: a fake machine ([`FakeEnv`]), one test per errno
//! row, both ABIs' bit order, and a property test over random operation
//! sequences from several domains checked by [`super::invariants`].

mod fifo_abi;
mod prop;
mod rows;
mod two_level_abi;

use super::*;
use std::collections::HashMap;

/// Guest frames as a sparse memory, their owners, and the references the
/// event code took on them.
#[derive(Default)]
pub struct FakeEnv {
    pub mem: HashMap<u64, u64>,
    /// Frame → owning domain (absent = not RAM).
    pub owner: HashMap<u64, DomId>,
    /// Frames that cannot take the writable type (page tables, say).
    pub typed: Vec<u64>,
    /// Frame → writable references held by the event code.
    pub refs: HashMap<u64, u32>,
    /// Every address written.
    pub writes: Vec<u64>,
}

impl EventEnv for FakeEnv {
    fn read_u64(&self, a: PhysAddr) -> u64 {
        assert_eq!(a.0 % 8, 0, "unaligned read");
        self.mem.get(&a.0).copied().unwrap_or(0)
    }
    fn write_u64(&mut self, a: PhysAddr, v: u64) {
        assert_eq!(a.0 % 8, 0, "unaligned write");
        self.writes.push(a.0);
        self.mem.insert(a.0, v);
    }
    fn take_writable(&mut self, dom: DomId, mfn: Mfn) -> bool {
        if self.owner.get(&mfn.0) != Some(&dom) || self.typed.contains(&mfn.0) {
            return false;
        }
        *self.refs.entry(mfn.0).or_default() += 1;
        true
    }
    fn put_writable(&mut self, mfn: Mfn) {
        let r = self.refs.get_mut(&mfn.0).expect("put without a reference");
        *r -= 1;
        if *r == 0 {
            self.refs.remove(&mfn.0);
        }
    }
}

/// Domain `d`'s shared_info frame.
pub fn si(d: u16) -> Mfn {
    Mfn(0x100 + u64::from(d))
}

/// A RAM frame owned by domain `d` (`k` < 16).
pub fn frame(d: u16, k: u64) -> u64 {
    0x1000 + u64::from(d) * 16 + k
}

/// `n` domains, domain 0 privileged, each owning 16 frames.
pub fn world(n: u16) -> (Box<EventChannels>, FakeEnv) {
    let mut ev = Box::new(EventChannels::new());
    let mut env = FakeEnv::default();
    for d in 0..n {
        ev.create_domain(DomId(d), si(d), d == 0);
        env.owner.insert(si(d).0, DomId(d));
        for k in 0..16 {
            env.owner.insert(frame(d, k), DomId(d));
        }
    }
    (ev, env)
}

impl FakeEnv {
    pub fn bit(&self, mfn: Mfn, byte_off: u64, bit: u32) -> bool {
        let a = mfn.to_maddr() + byte_off + u64::from(bit / 64) * 8;
        self.mem.get(&a).copied().unwrap_or(0) & 1 << (bit % 64) != 0
    }
    pub fn set_bit(&mut self, mfn: Mfn, byte_off: u64, bit: u32, on: bool) {
        let a = mfn.to_maddr() + byte_off + u64::from(bit / 64) * 8;
        let w = self.mem.get(&a).copied().unwrap_or(0);
        let w = if on { w | 1 << (bit % 64) } else { w & !(1 << (bit % 64)) };
        self.mem.insert(a, w);
    }
    /// Domain `d`'s (upcall_pending, upcall_mask, pending_sel).
    pub fn vcpu_info(&self, d: u16) -> (u8, u8, u64) {
        let base = si(d).to_maddr();
        let w = self.mem.get(&base).copied().unwrap_or(0);
        (w as u8, (w >> 8) as u8, self.mem.get(&(base + 8)).copied().unwrap_or(0))
    }
    pub fn set_upcall(&mut self, d: u16, pending: u8, mask: u8) {
        let base = si(d).to_maddr();
        let w = self.mem.get(&base).copied().unwrap_or(0) & !0xFFFF;
        self.mem.insert(base, w | u64::from(pending) | u64::from(mask) << 8);
    }
    pub fn pending(&self, d: u16, port: u32) -> bool {
        self.bit(si(d), 2048, port)
    }
    pub fn masked(&self, d: u16, port: u32) -> bool {
        self.bit(si(d), 2560, port)
    }
    pub fn mask(&mut self, d: u16, port: u32, on: bool) {
        self.set_bit(si(d), 2560, port, on)
    }
    pub fn u32_at(&self, maddr: u64) -> u32 {
        let w = self.mem.get(&(maddr & !7)).copied().unwrap_or(0);
        (w >> ((maddr & 4) * 8)) as u32
    }
    pub fn set_u32(&mut self, maddr: u64, v: u32) {
        let shift = (maddr & 4) * 8;
        let w = self.mem.get(&(maddr & !7)).copied().unwrap_or(0);
        self.mem.insert(maddr & !7, (w & !(0xFFFF_FFFFu64 << shift)) | u64::from(v) << shift);
    }
}
