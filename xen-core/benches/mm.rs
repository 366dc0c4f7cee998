//! Host benchmark of the direct-paging model: prints the per-frame metadata
//! size and the cost of the core operations on a flat in-memory machine.
//! Figures are host nanoseconds, a relative guide only; the instruction
//! counts that matter come from the QEMU `-icount` bench guest.

use abi::mmu::{pte::*, MmuUpdate, MmuextOp, MMUEXT_PIN_L1_TABLE, MMUEXT_UNPIN_TABLE};
use abi::{DomId, Mfn};
use std::time::Instant;
use xen_core::mm::model::{DomainMm, Mm, MmHooks};
use xen_core::mm::requests::NoGuestMemory;
use xen_core::mm::{PageInfo, PhysAddr, PhysMemory, TlbClock};

struct Flat(Vec<u64>);

impl PhysMemory for Flat {
    fn read_u64(&self, a: PhysAddr) -> u64 {
        self.0[(a.0 / 8) as usize]
    }
    fn write_u64(&mut self, a: PhysAddr, v: u64) {
        self.0[(a.0 / 8) as usize] = v;
    }
}

struct NoHooks;

impl MmHooks for NoHooks {
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

fn per_op(label: &str, iterations: u64, ops_per_iteration: u64, mut f: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let ns = start.elapsed().as_nanos() as f64 / (iterations * ops_per_iteration) as f64;
    println!("{label:<52} {ns:>9.1} ns");
}

fn main() {
    println!("per-frame metadata (PageInfo): {} bytes (Xen: 32, budget: 16)", std::mem::size_of::<PageInfo>());
    const N: usize = 1024;
    let mut frames = vec![PageInfo::default(); N];
    let mut m2p = vec![0u64; N];
    let mut doms = vec![DomainMm::new(DomId(0), N as u64)];
    let mut mem = Flat(vec![0; N * 512]);
    let template = [0u64; 16];
    let mut hooks = NoHooks;
    let mut clock = TlbClock::new();
    let mut mm = Mm {
        frames: &mut frames,
        m2p: &mut m2p,
        domains: &mut doms,
        mem: &mut mem,
        hooks: &mut hooks,
        l4_template: &template,
        clock: &mut clock,
    };
    for i in 1..N as u64 {
        mm.assign_frame(Mfn(i), DomId(0));
    }
    let (l1, data) = (Mfn(1), Mfn(2));
    let pin = [MmuextOp { cmd: MMUEXT_PIN_L1_TABLE, arg1: l1.0, ..Default::default() }];
    let unpin = [MmuextOp { cmd: MMUEXT_UNPIN_TABLE, arg1: l1.0, ..Default::default() }];
    let mut g = NoGuestMemory;
    per_op("pin + unpin of an empty L1", 20_000, 1, || {
        assert!(mm.mmuext_op(DomId(0), &mut &pin[..], 1, 0x7FF0, &mut g).result.is_ok());
        assert!(mm.mmuext_op(DomId(0), &mut &unpin[..], 1, 0x7FF0, &mut g).result.is_ok());
    });
    for i in 0..512 {
        mm.mem.write_u64(PhysAddr(l1.to_maddr() + i * 8), (3 + i) << 12 | PRESENT | RW | USER | ACCESSED);
    }
    per_op("pin + unpin of an L1 with 512 RW entries, per entry", 2_000, 512, || {
        assert!(mm.mmuext_op(DomId(0), &mut &pin[..], 1, 0x7FF0, &mut g).result.is_ok());
        assert!(mm.mmuext_op(DomId(0), &mut &unpin[..], 1, 0x7FF0, &mut g).result.is_ok());
    });
    assert!(mm.mmuext_op(DomId(0), &mut &pin[..], 1, 0x7FF0, &mut g).result.is_ok());
    let batch: Vec<MmuUpdate> = (0..512u64)
        .map(|i| MmuUpdate { ptr: l1.to_maddr() + i * 8, val: data.to_maddr() | PRESENT | USER | ACCESSED })
        .collect();
    per_op("mmu_update, per PTE in a 512-entry batch", 2_000, 512, || {
        assert!(mm.mmu_update(DomId(0), &mut &batch[..], 512, 0x7FF0).result.is_ok());
    });
    let one = [MmuUpdate { ptr: l1.to_maddr() + 8, val: (600 << 12) | PRESENT | RW | USER }];
    per_op("mmu_update, 1 PTE (RW data mapping)", 200_000, 1, || {
        assert!(mm.mmu_update(DomId(0), &mut &one[..], 1, 0x7FF0).result.is_ok());
    });
}
