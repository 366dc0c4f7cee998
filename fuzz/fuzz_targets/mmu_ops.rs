//! Fuzzes mmu_update / mmuext_op / update_va_mapping from three domains,
//! running the invariant checker after every request and checking that a
//! failed request leaves the frame table unchanged.
#![no_main]

use abi::mmu::*;
use abi::{DomId, Mfn};
use libfuzzer_sys::fuzz_target;
use xen_core::mm::check::check_invariants;
use xen_core::mm::model::{DomainMm, Mm, MmHooks};
use xen_core::mm::requests::NoGuestMemory;
use xen_core::mm::{PageInfo, PhysAddr, PhysMemory, TlbClock};

const PER_DOM: u64 = 8;
const FRAMES: usize = 1 + 3 * PER_DOM as usize;

struct Flat(Vec<u64>);
impl PhysMemory for Flat {
    fn read_u64(&self, a: PhysAddr) -> u64 {
        self.0.get((a.0 / 8) as usize).copied().unwrap_or(0)
    }
    fn write_u64(&mut self, a: PhysAddr, v: u64) {
        if let Some(w) = self.0.get_mut((a.0 / 8) as usize) {
            *w = v;
        }
    }
}

/// Preemption and deferred devalidation, switched by the input.
struct Hooks {
    preempt_every: u32,
    work: u32,
    defer: bool,
}
impl MmHooks for Hooks {
    fn preempt(&mut self) -> bool {
        if self.preempt_every == 0 {
            return false;
        }
        self.work += 1;
        self.work % self.preempt_every == 0
    }
    fn budget_room(&self) -> u32 {
        // The calls `preempt` would still answer false.
        if self.preempt_every == 0 {
            return u32::MAX;
        }
        self.preempt_every - 1 - self.work % self.preempt_every
    }
    fn charge(&mut self, n: u32) {
        if self.preempt_every != 0 {
            self.work += n;
        }
    }
    fn defer_devalidation(&mut self) -> bool {
        self.defer
    }
    fn flush_domain_tlb(&mut self, _: DomId) {}
    fn flush_local_tlb(&mut self) {}
    fn flush_tlb_now(&mut self) {}
    fn invlpg_local(&mut self, _: u64) {}
    fn flush_cache(&mut self) {}
    fn root_changed(&mut self, _: DomId) {}
    fn frame_freed(&mut self, _: Mfn) {}
    fn alloc_extent(&mut self, _: u32) -> Option<Mfn> {
        None
    }
}

fuzz_target!(|data: &[u8]| {
    let mut frames = vec![PageInfo::default(); FRAMES];
    let mut m2p = vec![0u64; FRAMES];
    let mut doms: Vec<DomainMm> = (0..3).map(|i| DomainMm::new(DomId(i), 100)).collect();
    doms[0].privileged = true;
    doms[0].io_caps = true;
    let mut mem = Flat(vec![0; FRAMES * 512]);
    let template = [0x7_0000_0000_0003u64; 16];
    let mut hooks = Hooks { preempt_every: 0, work: 0, defer: false };
    let mut clock = TlbClock::new();
    let mut mm = Mm { frames: &mut frames, m2p: &mut m2p, domains: &mut doms, mem: &mut mem, hooks: &mut hooks, l4_template: &template, clock: &mut clock };
    mm.assign_frame(Mfn(0), DomId::XEN);
    for i in 1..FRAMES as u64 {
        mm.assign_frame(Mfn(i), DomId(((i - 1) / PER_DOM) as u16));
    }
    for chunk in data.chunks_exact(12) {
        let dom = DomId(u16::from(chunk[0] % 3));
        let frame = Mfn(u64::from(chunk[1]) % (FRAMES as u64 + 2));
        let index = u64::from(u16::from_le_bytes([chunk[2], chunk[3]]) & 511);
        let target = u64::from(chunk[4]) % (FRAMES as u64 + 2);
        let flags = u64::from(u16::from_le_bytes([chunk[5], chunk[6]])) | (u64::from(chunk[7]) << 56);
        let val = (target << 12) | flags;
        let before: Vec<PageInfo> = mm.frames.iter().map(|f| f.normalized()).collect();
        let failed = match chunk[8] % 8 {
            6 => {
                mm.hooks.preempt_every = u32::from(chunk[9] % 4) * 7;
                mm.hooks.defer = chunk[10] & 1 != 0;
                false
            }
            7 => {
                let frames = [frame, Mfn(target)];
                mm.set_gdt(dom, &frames, u64::from(u16::from_le_bytes([chunk[2], chunk[3]]) % 1100)).is_err()
            }
            0 | 1 => {
                let req = [MmuUpdate { ptr: frame.to_maddr() + index * 8 + u64::from(chunk[9] % 8), val }];
                let fd = [0x7FF0u32, 0, 1, 2, 0x7FF1][usize::from(chunk[10] % 5)];
                mm.mmu_update(dom, &mut &req[..], 1, fd).result.is_err_and(|e| e != abi::Errno::ERESTART)
            }
            2 | 3 => {
                let op = [MmuextOp { cmd: u32::from(chunk[9] % 22), pad: 0, arg1: frame.0, arg2: target }];
                mm.mmuext_op(dom, &mut &op[..], 1, 0x7FF0, &mut NoGuestMemory).result.is_err_and(|e| e != abi::Errno::ERESTART)
            }
            4 => {
                let va = (index << 39) | (index << 30) | (index << 21) | (u64::from(chunk[11]) << 12);
                mm.update_va_mapping(dom, va, val, u64::from(chunk[9] % 4), &mut NoGuestMemory).is_err_and(|e| e != abi::Errno::ERESTART)
            }
            _ => mm.release_frame(dom, frame).is_err(),
        };
        if let Err(e) = check_invariants(&mm) {
            panic!("invariant violated: {e}");
        }
        let pending = before.iter().any(|f| f.partial() || f.deval());
        if failed && !pending {
            let after: Vec<PageInfo> = mm.frames.iter().map(|f| f.normalized()).collect();
            assert!(before == after, "a failed request changed the frame table");
        }
    }
});
