//! The seeded fuzzer: random and structured calls of every hypercall the
//! hypervisor implements, built mostly from the guest's own frames, tables
//! and addresses with hostile mutations (foreign and free frames, its own
//! tables mapped writable, aliasing, huge counts, pointers at the edges of
//! the canonical hole, the hypervisor's range, unmapped pages and its own
//! read-only tables). After every successful call that can change a
//! mapping, the oracles walk the tables it touches; every 4096 calls, and
//! at the end, all of them.
//!
//! The guest keeps itself alive: mapping changes only reach its arena (L4
//! slots 2–15 and the frames it took for them), hypercalls that write
//! guest memory get its own buffers or addresses they must refuse, and a
//! trap table or callback it replaces is reinstalled at once. `iret` and
//! `sched_op` are structured only (a valid return frame with random flags;
//! yield, and shutdown with unreadable arguments).
//!
//! Every hypercall added to the hypervisor gets its generator here.

// Several arrays are filled and read in step by index (request slots,
// arena slots, hypervisor answers).
#![allow(clippy::needless_range_loop)]

use crate::arch::{self, catch, hc};
use crate::broke;
use crate::env::*;
use crate::oracle::{self, va_of, Known};
use abi::mmu::pte::*;
use abi::mmu::*;
use guest_kernel::say;

/// Result of the campaign.
pub type Verdict = Result<(), Broke>;

/// Frames in the arena.
const ARENA: usize = 64;
/// Hypercalls remembered for the report of a broken oracle.
const RECENT: usize = 12;
/// No frame.
const NONE: u64 = u64::MAX;
/// Arena L4 slots.
const FIRST_SLOT: u64 = 2;
const LAST_SLOT: u64 = 15;
/// Addresses that must be refused as pointers.
const HOSTILE_PTRS: [u64; 8] = [
    abi::HYPERVISOR_VIRT_START,
    abi::HYPERVISOR_VIRT_START + 0x2D0_8000_0000,
    (1 << 47) - 8,
    1 << 47,
    0x8000_0000_0000_0000,
    u64::MAX - 7,
    0,
    0xFFFF_8800_0000_0000 - 8,
];

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability `p`/256.
    fn chance(&mut self, p: u64) -> bool {
        self.next() & 255 < p
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// Buffers the hypervisor may write into (results, arrays, pdone).
struct Bufs {
    page: [u64; 512],
}

struct Fuzz<'e> {
    env: &'e mut Env,
    rng: Rng,
    /// Arena PFNs and their frames (NONE once given back).
    pfns: [u64; ARENA],
    mfns: [u64; ARENA],
    /// The arena tree: L3 in slot 2, its L2 at entry 0, its L1 at entry 0.
    tabs: [u64; 3],
    /// Boot tables (L4, L3, L2, first L1).
    boot: [u64; 4],
    /// VA of the last page of the initial mapping (an unmapped page follows).
    edge: u64,
    pinned: [u64; 32],
    n_pinned: usize,
    user_root: u64,
    gdt: [u64; 14],
    n_gdt: usize,
    /// Calls and successes per hypercall number.
    calls: [u64; 48],
    oks: [u64; 48],
    walks: u64,
    leaves: u64,
    bufs: Bufs,
    /// Print every hypercall before it is made (`trace=1`).
    trace: bool,
    /// The last hypercalls, printed when an oracle fires.
    recent: [(u64, [u64; 5], i64); RECENT],
    n_recent: usize,
    /// Walk after every successful mapping change (`oracle=every`, the
    /// default), or only every 4096 operations (`oracle=periodic`).
    every_call: bool,
}

/// Runs `ops` operations from `seed`.
pub fn run(env: &mut Env, seed: u64, ops: u64, trace: bool, every_call: bool) -> Verdict {
    let mut f = Fuzz::new(env, seed)?;
    f.trace = trace;
    f.every_call = every_call;
    say!("fuzz: seed {seed}, {ops} operations, arena of {ARENA} frames, L4 slots {FIRST_SLOT}-{LAST_SLOT}");
    say!(
        "fuzz: boot tables {:#x} {:#x} {:#x} {:#x}, shared_info {:#x}, arena tree {:#x} {:#x} {:#x}",
        f.boot[0],
        f.boot[1],
        f.boot[2],
        f.boot[3],
        f.env.shared_info,
        f.tabs[0],
        f.tabs[1],
        f.tabs[2]
    );
    let t0 = arch::rdtsc();
    for i in 0..ops {
        f.op()?;
        if i % 4096 == 4095 {
            f.full_check(i)?;
        }
    }
    f.cleanup();
    f.full_check(ops)?;
    let t = arch::rdtsc() - t0;
    let total: u64 = f.calls.iter().sum();
    let ok: u64 = f.oks.iter().sum();
    say!(
        "fuzz: seed {seed}: {total} hypercalls ({ok} succeeded) in {t} TSC cycles, {} oracle walks over {} entries, {} zombie frames",
        f.walks,
        f.leaves,
        arch::oracle_state().zombies.len()
    );
    for nr in 0..48 {
        if f.calls[nr] > 0 {
            say!("fuzz:   hypercall {nr:>2}: {:>8} calls, {:>8} ok", f.calls[nr], f.oks[nr]);
        }
    }
    Ok(())
}

impl<'e> Fuzz<'e> {
    fn new(env: &'e mut Env, seed: u64) -> Result<Fuzz<'e>, Broke> {
        // The oracle's read-only self-map.
        let r = mu(entry(env.l4, oracle::SELF_SLOT), (env.l4 << 12) | RO);
        if r != 0 {
            return broke!("fuzz setup: the read-only L4 self-map was refused ({r})");
        }
        let (_, l3) = env.fresh();
        let (_, l2) = env.fresh();
        let (_, l1) = env.fresh();
        let ok = mu(entry(l2, 0), (l1 << 12) | RWF) == 0
            && mu(entry(l3, 0), (l2 << 12) | RWF) == 0
            && mu(entry(env.l4, FIRST_SLOT), (l3 << 12) | RWF) == 0;
        if !ok {
            return broke!("fuzz setup: building the arena tree failed");
        }
        let mut pfns = [0; ARENA];
        let mut mfns = [0; ARENA];
        for i in 0..ARENA {
            (pfns[i], mfns[i]) = env.fresh();
        }
        let boot_l3 = (env.boot_entry(env.l4, 511) & ADDR_MASK) >> 12;
        let boot_l2 = env.boot_l2();
        let boot_l1 = (env.boot_entry(boot_l2, 0) & ADDR_MASK) >> 12;
        let edge = {
            let mut n = 0;
            while n < 512 && env.boot_entry(boot_l2, n) & PRESENT != 0 {
                n += 1;
            }
            VIRT_BASE + n * (2 << 20) - 4096
        };
        let (scratch_va, _) = env.scratch();
        if edge <= scratch_va {
            return broke!("fuzz setup: no free page at the end of the initial mapping");
        }
        let boot = [env.l4, boot_l3, boot_l2, boot_l1];
        Ok(Fuzz {
            env,
            rng: Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1),
            pfns,
            mfns,
            tabs: [l3, l2, l1],
            boot,
            edge,
            pinned: [0; 32],
            n_pinned: 0,
            user_root: 0,
            gdt: [0; 14],
            n_gdt: 0,
            calls: [0; 48],
            oks: [0; 48],
            walks: 0,
            leaves: 0,
            bufs: Bufs { page: [0; 512] },
            trace: false,
            recent: [(0, [0; 5], 0); RECENT],
            n_recent: 0,
            every_call: true,
        })
    }

    fn hcall(&mut self, nr: u64, a: [u64; 5]) -> i64 {
        if self.trace {
            say!("fuzz: hc {nr} {:#x} {:#x} {:#x} {:#x}", a[0], a[1], a[2], a[3]);
        }
        let r = hc(nr, a);
        self.recent[self.n_recent % RECENT] = (nr, a, r);
        self.n_recent += 1;
        if let Some(c) = self.calls.get_mut(nr as usize) {
            *c += 1;
            if r >= 0 {
                self.oks[nr as usize] += 1;
            }
        }
        r
    }

    // ---- value pickers ----------------------------------------------------

    /// A frame as an argument: mostly the arena, sometimes hostile.
    fn frame(&mut self) -> u64 {
        match self.rng.below(100) {
            0..=59 => self.mfns[self.rng.below(ARENA as u64) as usize],
            60..=71 => self.tabs[self.rng.below(3) as usize],
            72..=79 => self.boot[self.rng.below(4) as usize],
            80..=82 => self.env.shared_info,
            83..=92 => {
                let m = self.mfns[0];
                if m == NONE {
                    self.rng.below(0x1_0000)
                } else {
                    m.wrapping_add(self.rng.below(0x4000)).wrapping_sub(0x2000)
                }
            }
            93..=95 => self.rng.pick(&[0x7FF_FFFF, ADDR_MASK >> 12, 0x200, 0xB8, 0]),
            _ => self.env.mfn(self.rng.below(self.env.image_pages())),
        }
    }

    /// A frame that may be written by CLEAR_PAGE/COPY_PAGE: never one of
    /// the guest's own image, stack or data frames.
    fn dest_frame(&mut self) -> u64 {
        loop {
            let m = self.frame();
            if !self.env.is_image(m) {
                return m;
            }
        }
    }

    fn flags(&mut self) -> u64 {
        let base = self.rng.pick(&[RO, RWF, RWF | DIRTY, PRESENT | RW, PRESENT, 0, RO | NX, RWF | GLOBAL]);
        let extra = if self.rng.chance(40) {
            self.rng.pick(&[PWT, PCD, PAT_PSE, GLOBAL, AVAIL_LOW, GUEST_KERNEL, AVAIL_HIGH, 1 << 51])
        } else {
            0
        };
        base | extra
    }

    fn pte(&mut self) -> u64 {
        if self.rng.chance(20) {
            return if self.rng.chance(128) { 0 } else { self.rng.next() };
        }
        let m = self.frame();
        // Never its boot tables: an arena table pointing at one shares the
        // kernel's own mappings, and arena updates would then rewrite them
        // (the guest unmapped its own text this way in seed 10). Its live
        // arena tables stand in for "its own tables" as values.
        let m = if self.boot.contains(&m) { self.tabs[(m % 3) as usize] } else { m };
        let flags = self.flags();
        // Its own image only read-only: a probe write must not land there.
        let flags = if self.env.is_image(m) { flags & !RW } else { flags };
        (m << 12) & ADDR_MASK | flags
    }

    /// A table the guest may change entries of.
    fn target_table(&mut self) -> u64 {
        match self.rng.below(100) {
            0..=44 => self.tabs[self.rng.below(3) as usize],
            45..=84 => self.mfns[self.rng.below(ARENA as u64) as usize],
            85..=89 => self.boot[0],
            _ => self.frame(),
        }
    }

    /// An entry the guest may change: never its boot tables' live entries.
    fn target_entry(&mut self) -> u64 {
        let t = self.target_table();
        let t = if self.env.is_image(t) && t != self.boot[0] { self.tabs[0] } else { t };
        let index = if t == self.boot[0] {
            if self.rng.chance(200) {
                FIRST_SLOT + self.rng.below(LAST_SLOT - FIRST_SLOT + 1)
            } else {
                256 + self.rng.below(16)
            }
        } else {
            self.rng.below(512)
        };
        entry(t, index)
    }

    /// An arena VA (or a hostile one).
    fn va(&mut self) -> u64 {
        match self.rng.below(100) {
            0..=79 => va_of(FIRST_SLOT, 0, 0, self.rng.below(512)),
            80..=89 => va_of(
                FIRST_SLOT + self.rng.below(LAST_SLOT - FIRST_SLOT + 1),
                self.rng.below(512),
                self.rng.below(512),
                self.rng.below(512),
            ),
            _ => self.rng.pick(&HOSTILE_PTRS) & !0xFFF,
        }
    }

    /// A pointer the hypervisor may write through: our buffer, or one it
    /// must refuse (its range, non-canonical, our read-only boot tables,
    /// the unmapped page after the initial mapping).
    fn out_ptr(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=6 => self.bufs.page.as_mut_ptr() as u64 + self.rng.below(64) * 8,
            7 => self.env.region_va(self.boot[self.rng.below(4) as usize]) + self.rng.below(512) * 8,
            8 => self.edge + 4096 + self.rng.below(64) * 8,
            _ => self.rng.pick(&HOSTILE_PTRS),
        }
    }

    // ---- the operations -----------------------------------------------------

    fn op(&mut self) -> Verdict {
        let changed = match self.rng.below(100) {
            0..=27 => self.mmu_update(),
            28..=45 => self.mmuext_op(),
            46..=57 => self.update_va(),
            58..=67 => self.memory_op(),
            68..=70 => self.set_gdt(),
            71..=72 => self.traps(),
            73..=74 => self.callbacks(),
            75 => self.segments(),
            76 => self.vm_assist(),
            77..=79 => self.console(),
            80..=83 => self.version(),
            84 => self.sched(),
            85 => self.iret(),
            86 if self.user_root != 0 => self.user_iret(),
            86 => self.iret(),
            87 => self.unknown(),
            88 => self.multicall(),
            89 => return self.fpu(),
            90 => self.update_descriptor(),
            91..=93 => self.emulated(),
            _ => self.probe(),
        };
        if changed && self.every_call {
            self.check(FIRST_SLOT, LAST_SLOT)?;
        }
        Ok(())
    }

    fn check(&mut self, lo: u64, hi: u64) -> Verdict {
        let mut pinned = [0u64; 33];
        pinned[..self.n_pinned].copy_from_slice(&self.pinned[..self.n_pinned]);
        let mut n = self.n_pinned;
        if self.user_root != 0 {
            pinned[n] = self.user_root;
            n += 1;
        }
        let known = Known { pinned: &pinned[..n], gdt: &self.gdt[..self.n_gdt] };
        self.walks += 1;
        match oracle::check(self.env, lo, hi, &known) {
            Ok(leaves) => {
                self.leaves += leaves;
                Ok(())
            }
            Err(v) => {
                say!("fuzz: the last {RECENT} hypercalls, oldest first (nr, arguments, result):");
                for k in self.n_recent.saturating_sub(RECENT)..self.n_recent {
                    let (nr, a, r) = self.recent[k % RECENT];
                    say!("fuzz:   {nr} {:#x} {:#x} {:#x} {:#x} -> {r}", a[0], a[1], a[2], a[3]);
                }
                let m = (v.pte & ADDR_MASK) >> 12;
                let pfn = self.env.m2p(m);
                let p2m = if pfn < self.env.nr_pages { self.env.mfn(pfn) } else { NONE };
                broke!(
                    "oracle: {:?} = {:#x} {} (M2P {pfn:#x}, p2m {p2m:#x}; {} calls)",
                    v.at,
                    v.pte,
                    v.why,
                    self.calls.iter().sum::<u64>()
                )
            }
        }
    }

    fn full_check(&mut self, i: u64) -> Verdict {
        let r = self.check(0, 511);
        if i % (1 << 17) == (1 << 17) - 1 {
            say!("fuzz: {} operations, {} walks", i + 1, self.walks);
        }
        r
    }

    /// Drops pins, the user root and the GDT, so a full walk can retire
    /// zombie frames.
    fn cleanup(&mut self) {
        for i in 0..self.n_pinned {
            let _ = me(MMUEXT_UNPIN_TABLE, self.pinned[i], 0);
        }
        self.n_pinned = 0;
        let _ = me(MMUEXT_NEW_USER_BASEPTR, 0, 0);
        self.user_root = 0;
        let _ = call(abi::hypercall::HypercallNr::SET_GDT, &[0, 0]);
        self.n_gdt = 0;
    }

    fn mmu_update(&mut self) -> bool {
        let n = 1 + self.rng.below(8) as usize;
        let mut reqs = [MmuUpdate::default(); 8];
        for r in reqs.iter_mut().take(n) {
            let cmd = match self.rng.below(100) {
                0..=79 => MMU_NORMAL_PT_UPDATE,
                80..=87 => MMU_PT_UPDATE_PRESERVE_AD,
                88..=91 => MMU_PT_UPDATE_NO_TRANSLATE,
                92..=96 => MMU_MACHPHYS_UPDATE,
                _ => 4 + self.rng.below(4),
            };
            *r = if cmd == MMU_MACHPHYS_UPDATE {
                // Only idempotent updates of its own frames (the oracle
                // trusts the M2P), or of frames it does not own.
                let i = self.rng.below(ARENA as u64) as usize;
                if self.mfns[i] != NONE && self.rng.chance(200) {
                    MmuUpdate { ptr: (self.mfns[i] << 12) | 1, val: self.pfns[i] }
                } else {
                    let m = self.frame();
                    if oracle::owns(self.env, m) || self.mfns.contains(&m) {
                        MmuUpdate { ptr: (m << 12) | 1, val: self.env.m2p(m) }
                    } else {
                        MmuUpdate { ptr: (m << 12) | 1, val: self.rng.below(1 << 20) }
                    }
                }
            } else {
                MmuUpdate { ptr: self.target_entry() | cmd, val: self.pte() }
            };
        }
        // Where the array sits: the stack, or the end of the last mapped
        // page (so a count larger than the array runs into the unmapped
        // page), or a hostile pointer.
        let (ptr, count) = match self.rng.below(20) {
            0..=13 => (reqs.as_ptr() as u64, n as u64),
            14..=17 => {
                let at = self.edge + 4096 - n as u64 * 16;
                for (i, r) in reqs.iter().take(n).enumerate() {
                    arch::write(at + i as u64 * 16, r.ptr);
                    arch::write(at + i as u64 * 16 + 8, r.val);
                }
                (at, n as u64 + self.rng.pick(&[1, 100, 0x7FFF_FFFF - n as u64, 1 << 20]))
            }
            _ => (self.rng.pick(&HOSTILE_PTRS), 1 + self.rng.below(4)),
        };
        let pdone = if self.rng.chance(128) { 0 } else { self.out_ptr() };
        let dom =
            if self.rng.chance(245) { SELF } else { self.rng.pick(&[0, 1, 2, 7, 8, 100, 0x7FF1, 0x7FF4, 0x7FFF]) };
        let r = {
            let a = [ptr, count, pdone, dom, 0];
            self.hcall(1, a)
        };
        self.zero_edge();
        r == 0 || (ptr != reqs.as_ptr() as u64 && r != -38)
    }

    fn zero_edge(&mut self) {
        for i in 0..(4096 / 8) as u64 {
            arch::write(self.edge + i * 8, 0);
        }
    }

    fn mmuext_op(&mut self) -> bool {
        let n = 1 + self.rng.below(3) as usize;
        let mut ops = [MmuextOp::default(); 3];
        let mut pins = [(0u32, 0u64); 3];
        for (k, o) in ops.iter_mut().take(n).enumerate() {
            let cmd = self.rng.below(23) as u32;
            let cmd = if cmd == 22 { 100 } else { cmd };
            let (arg1, arg2) = match cmd {
                MMUEXT_PIN_L1_TABLE..=MMUEXT_UNPIN_TABLE => (self.frame(), 0),
                MMUEXT_NEW_BASEPTR => {
                    // The current root again, or one that must be refused.
                    let m = self.rng.pick(&[self.boot[0], self.boot[1], self.boot[2], self.boot[3]]);
                    let m = if self.rng.chance(64) { self.env.shared_info } else { m };
                    (if self.rng.chance(32) { 0x7FF_FFFF } else { m }, 0)
                }
                MMUEXT_NEW_USER_BASEPTR => (if self.rng.chance(64) { 0 } else { self.frame() }, 0),
                MMUEXT_INVLPG_LOCAL | MMUEXT_INVLPG_ALL => (self.va(), 0),
                MMUEXT_TLB_FLUSH_MULTI | MMUEXT_INVLPG_MULTI => {
                    let mask = self.bufs.page.as_ptr() as u64;
                    self.bufs.page[0] = self.rng.pick(&[1, 0, u64::MAX]);
                    (self.va(), if self.rng.chance(128) { mask } else { self.rng.pick(&HOSTILE_PTRS) })
                }
                MMUEXT_SET_LDT => (self.va(), self.rng.pick(&[0, 1, 16, 8192, 1 << 20])),
                MMUEXT_CLEAR_PAGE => (self.dest_frame(), 0),
                MMUEXT_COPY_PAGE => (self.dest_frame(), self.frame()),
                _ => (self.frame(), self.rng.next()),
            };
            *o = MmuextOp { cmd, pad: if self.rng.chance(8) { 1 } else { 0 }, arg1, arg2 };
            pins[k] = (cmd, arg1);
        }
        // With a pin, unpin or user root in the batch, pdone is its own
        // buffer: the ops before a failing one took effect.
        let tracked = pins[..n].iter().any(|&(c, _)| c <= MMUEXT_UNPIN_TABLE || c == MMUEXT_NEW_USER_BASEPTR);
        let done_at = self.bufs.page.as_mut_ptr() as u64 + 8 * 100;
        self.bufs.page[100] = 0;
        let pdone = if tracked {
            done_at
        } else if self.rng.chance(128) {
            0
        } else {
            self.out_ptr()
        };
        let (ptr, count) = if self.rng.chance(240) {
            (ops.as_ptr() as u64, n as u64)
        } else {
            (self.rng.pick(&HOSTILE_PTRS), 1 + self.rng.below(4))
        };
        let dom = if self.rng.chance(245) { SELF } else { self.rng.pick(&[0, 1, 7, 100, 0x7FF2]) };
        if self.trace {
            for o in &ops[..n] {
                let pfn = self.env.m2p(o.arg1);
                let back = if pfn < self.env.nr_pages { self.env.mfn(pfn) } else { NONE };
                say!("fuzz:   op {} {:#x} {:#x} (M2P {pfn:#x} p2m {back:#x})", o.cmd, o.arg1, o.arg2);
            }
        }
        let r = {
            let a = [ptr, count, pdone, dom, 0];
            self.hcall(26, a)
        };
        if ptr != ops.as_ptr() as u64 {
            return false;
        }
        let done = if r == 0 { n } else { (self.bufs.page[100] as u32 as usize).min(n) };
        for &(cmd, m) in &pins[..done] {
            self.note_mmuext(cmd, m);
        }
        // Only a new table type, pin or root can make an existing mapping
        // wrong; flushes, copies and the rest cannot add one.
        pins[..done].iter().any(|&(c, _)| c <= MMUEXT_NEW_BASEPTR || c == MMUEXT_NEW_USER_BASEPTR)
    }

    fn note_mmuext(&mut self, cmd: u32, m: u64) {
        match cmd {
            MMUEXT_PIN_L1_TABLE..=MMUEXT_PIN_L4_TABLE => {
                if !self.pinned[..self.n_pinned].contains(&m) && self.n_pinned < self.pinned.len() {
                    self.pinned[self.n_pinned] = m;
                    self.n_pinned += 1;
                } else if self.n_pinned == self.pinned.len() {
                    let _ = me(MMUEXT_UNPIN_TABLE, m, 0);
                }
            }
            MMUEXT_UNPIN_TABLE => {
                if let Some(i) = self.pinned[..self.n_pinned].iter().position(|&p| p == m) {
                    self.pinned[i] = self.pinned[self.n_pinned - 1];
                    self.n_pinned -= 1;
                }
            }
            MMUEXT_NEW_USER_BASEPTR => self.user_root = m,
            _ => {}
        }
    }

    fn update_va(&mut self) -> bool {
        let va = self.va();
        let val = self.pte();
        let flags = match self.rng.below(10) {
            0..=3 => self.rng.pick(&[UVMF_NONE, UVMF_INVLPG, UVMF_TLB_FLUSH]),
            4..=6 => self.rng.pick(&[UVMF_INVLPG, UVMF_TLB_FLUSH]) | UVMF_ALL,
            7..=8 => {
                self.bufs.page[0] = 1;
                (self.bufs.page.as_ptr() as u64) | self.rng.below(3)
            }
            _ => self.rng.next(),
        };
        let r = {
            let a = [va, val, flags, 0, 0];
            self.hcall(14, a)
        };
        r == 0
    }

    /// An extent array for `decrease_reservation`: its buffer, or one it
    /// cannot read.
    fn reservation_array(&mut self) -> u64 {
        if self.rng.chance(230) {
            self.bufs.page.as_mut_ptr() as u64
        } else if self.rng.chance(128) {
            self.edge + 4096
        } else {
            self.rng.pick(&HOSTILE_PTRS[..6])
        }
    }

    fn memory_op(&mut self) -> bool {
        let sub = self.rng.pick(&[0u64, 1, 1, 1, 6, 6, 6, 3, 4, 2, 11, 11, 5, 7, 40, 9, 10, 12]);
        let start = if self.rng.chance(16) { self.rng.below(4) } else { 0 };
        let cmd = sub | (start << abi::memory::MEMOP_EXTENT_SHIFT);
        let dom = if self.rng.chance(230) { SELF as u16 } else { self.rng.pick(&[0u16, 1, 2, 5, 7, 8, 100, 0x7FF2]) };
        match sub {
            3 | 4 => {
                let ptr = if self.rng.chance(230) { &dom as *const u16 as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
                let _ = {
                    let a = [cmd, ptr, 0, 0, 0];
                    self.hcall(12, a)
                };
                false
            }
            1 => {
                // Give back arena frames (or hostile ones).
                let n = 1 + self.rng.below(4);
                // Which of them are its own, decided before they go.
                let mut own = [false; 4];
                for k in 0..n as usize {
                    let i = self.rng.below(ARENA as u64) as usize;
                    self.bufs.page[k] =
                        if self.mfns[i] != NONE && self.rng.chance(220) { self.mfns[i] } else { self.dest_frame() };
                    own[k] = oracle::owns(self.env, self.bufs.page[k]) || self.tabs.contains(&self.bufs.page[k]);
                }
                let array = self.reservation_array();
                let ours = array == self.bufs.page.as_ptr() as u64;
                // Its own array only with order 0, so it knows what went.
                let order = if ours || self.rng.chance(128) { 0 } else { self.rng.pick(&[1u32, 9, 10, 31]) };
                let count = if self.rng.chance(240) { n } else { self.rng.pick(&[0, 1 << 26, u64::MAX]) };
                let r = reservation(array, count, order, dom);
                let arg = if self.rng.chance(245) { &r as *const _ as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
                let done = {
                    let a = [cmd, arg, 0, 0, 0];
                    self.hcall(12, a)
                };
                if ours && done > start as i64 {
                    // Whatever domain it named, only its own frames can go.
                    for k in start as usize..(done as usize).min(n as usize) {
                        let m = self.bufs.page[k];
                        if let Some(i) = self.mfns.iter().position(|&x| x == m) {
                            self.give_up(i);
                        } else if own[k] {
                            // One of its own frames given back by a pick.
                            arch::oracle_state().zombies.add(m);
                        }
                    }
                }
                // Giving frames back adds no mapping (one still mapped
                // stays a zombie until the periodic walk retires it).
                false
            }
            0 | 6 => {
                // Take frames for the arena's empty PFNs.
                let empty: [usize; 4] = core::array::from_fn(|k| {
                    self.mfns.iter().enumerate().filter(|(_, &m)| m == NONE).nth(k).map_or(usize::MAX, |(i, _)| i)
                });
                let n = empty.iter().filter(|&&i| i != usize::MAX).count() as u64;
                for k in 0..n as usize {
                    self.bufs.page[k] = self.pfns[empty[k]];
                }
                let order = if self.rng.chance(245) { 0 } else { self.rng.pick(&[1u32, 9, 10]) };
                // A frame taken but not reported (array unwritable) would be
                // its own without its knowledge: so populate only gets arrays
                // it cannot read (nothing is taken), increase only its buffer.
                let hostile = sub == 6 && !self.rng.chance(230);
                let array = if hostile { self.reservation_array() } else { self.bufs.page.as_mut_ptr() as u64 };
                let r = reservation(array, n, order, dom);
                let done = {
                    let a = [cmd, &r as *const _ as u64, 0, 0, 0];
                    self.hcall(12, a)
                };
                let got = if array == self.bufs.page.as_ptr() as u64 && done > start as i64 {
                    (done as u64).min(n)
                } else {
                    0
                };
                let first = if array == self.bufs.page.as_ptr() as u64 { start.min(n) } else { 0 };
                for k in first as usize..got as usize {
                    let m = self.bufs.page[k];
                    // Frames came back, so they are its own whatever domain
                    // it named (its own id works like DOMID_SELF).
                    if order != 0 || sub == 0 {
                        // Not tracked as arena frames: give them straight back.
                        let mut back = [m];
                        let r = reservation(back.as_mut_ptr() as u64, 1, order, SELF as u16);
                        let _ = {
                            let a = [1, &r as *const _ as u64, 0, 0, 0];
                            self.hcall(12, a)
                        };
                        continue;
                    }
                    let i = empty[k];
                    self.mfns[i] = m;
                    self.env.set_mfn(self.pfns[i], m);
                    arch::oracle_state().zombies.remove(m);
                }
                false
            }
            11 => {
                self.exchange(dom);
                true
            }
            5 | 9 | 10 | 12 => {
                // machphys_mfn_list, memory_map, machine_memory_map and
                // machphys_mapping write where the argument says: into the
                // back of its own page, or addresses they must refuse.
                let page = self.bufs.page.as_mut_ptr() as u64;
                let room = self.rng.pick(&[0u64, 1, 2, 8, 64, u64::from(u32::MAX)]);
                let out = if self.rng.chance(200) { page + 2048 } else { self.rng.pick(&HOSTILE_PTRS) };
                self.bufs.page[0] = room;
                self.bufs.page[1] = if sub == 10 && self.rng.chance(32) { 0 } else { out };
                self.bufs.page[2] = 0;
                let arg = if self.rng.chance(220) { page } else { self.rng.pick(&HOSTILE_PTRS) };
                let _ = self.hcall(12, [cmd, arg, 0, 0, 0]);
                false
            }
            _ => {
                let arg = self.out_ptr();
                let _ = {
                    let a = [cmd, arg, 0, 0, 0];
                    self.hcall(12, a)
                };
                false
            }
        }
    }

    /// Arena slot `i` no longer holds a frame.
    fn give_up(&mut self, i: usize) {
        arch::oracle_state().zombies.add(self.mfns[i]);
        self.mfns[i] = NONE;
        self.env.set_mfn(self.pfns[i], NONE);
        self.n_pinned = self.n_pinned.min(self.pinned.len());
    }

    /// `XENMEM_exchange`: arena frames for fresh ones at empty PFNs.
    fn exchange(&mut self, dom: u16) {
        let full: [usize; 2] = core::array::from_fn(|k| {
            self.mfns.iter().enumerate().filter(|(_, &m)| m != NONE).nth(k * 7).map_or(usize::MAX, |(i, _)| i)
        });
        let empty: [usize; 2] = core::array::from_fn(|k| {
            self.mfns.iter().enumerate().filter(|(_, &m)| m == NONE).nth(k).map_or(usize::MAX, |(i, _)| i)
        });
        let n = full.iter().zip(&empty).take_while(|(a, b)| **a != usize::MAX && **b != usize::MAX).count();
        for k in 0..n {
            self.bufs.page[k] = self.mfns[full[k]];
            self.bufs.page[256 + k] = self.pfns[empty[k]];
        }
        let ins = self.bufs.page.as_ptr();
        let outs = self.bufs.page[256..].as_ptr();
        // Its own arrays always (frames exchanged but not reported would be
        // its own without its knowledge); hostile orders, domains, start
        // and argument pointers.
        let in_order = if self.rng.chance(240) { 0 } else { self.rng.pick(&[1u32, 9, 12]) };
        let out_order = if self.rng.chance(240) { 0 } else { self.rng.pick(&[1u32, 9, 12]) };
        // Equal orders above 0 could succeed on frames it does not track
        // (the neighbours of its arena frames, and 2^order new ones per
        // extent): only mismatched sizes (always refused) are hostile.
        let (in_order, out_order) = if in_order == out_order { (0, 0) } else { (in_order, out_order) };
        let mut x = [0u64; 9];
        let r_in = reservation(ins as u64, n as u64, in_order, dom);
        let r_out = reservation(outs as u64, n as u64, out_order, dom);
        x[..4].copy_from_slice(&words(&r_in));
        x[4..8].copy_from_slice(&words(&r_out));
        let first = if self.rng.chance(16) { self.rng.below(3) } else { 0 };
        x[8] = first;
        let arg = if self.rng.chance(245) { x.as_ptr() as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
        let r = {
            let a = [11, arg, 0, 0, 0];
            self.hcall(12, a)
        };
        let exchanged = x[8].min(n as u64) as usize;
        let clean = arg == x.as_ptr() as u64 && in_order == 0 && out_order == 0;
        if r == -38 || !clean {
            return;
        }
        for k in first as usize..exchanged {
            let m = self.bufs.page[256 + k];
            let (fi, ei) = (full[k], empty[k]);
            arch::oracle_state().zombies.add(self.mfns[fi]);
            self.mfns[fi] = NONE;
            self.env.set_mfn(self.pfns[fi], NONE);
            self.mfns[ei] = m;
            self.env.set_mfn(self.pfns[ei], m);
            arch::oracle_state().zombies.remove(m);
        }
    }

    fn set_gdt(&mut self) -> bool {
        let n = self.rng.below(4) as usize;
        for k in 0..n {
            self.bufs.page[k] = self.frame();
        }
        let entries = match self.rng.below(10) {
            0..=6 => 1 + self.rng.below(n as u64 * 512).max(1),
            7 => 0,
            8 => 7168,
            _ => self.rng.pick(&[7169, 1 << 20, u64::MAX]),
        };
        let list = if self.rng.chance(240) { self.bufs.page.as_ptr() as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
        let frames: [u64; 4] = core::array::from_fn(|k| self.bufs.page[k]);
        let r = {
            let a = [list, entries, 0, 0, 0];
            self.hcall(2, a)
        };
        if r == 0 {
            let used = entries.div_ceil(512) as usize;
            self.n_gdt = used.min(n);
            self.gdt[..self.n_gdt].copy_from_slice(&frames[..self.n_gdt]);
            return true;
        }
        false
    }

    fn traps(&mut self) -> bool {
        let mut t = [abi::traps::TrapInfo::default(); 5];
        for e in t.iter_mut().take(4) {
            *e = abi::traps::TrapInfo {
                vector: self.rng.next() as u8,
                flags: self.rng.next() as u8,
                cs: self.rng.pick(&[0xE033, 0xE030, 0xE008, 0, 0xFFFF]),
                pad: 0,
                address: self.rng.pick(&[
                    arch::iret_target(),
                    0x8000_0000_0000_0000,
                    1 << 47,
                    abi::HYPERVISOR_VIRT_START,
                ]),
            };
        }
        let ptr = if self.rng.chance(200) { t.as_ptr() as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
        let _ = {
            let a = [ptr, 0, 0, 0, 0];
            self.hcall(0, a)
        };
        arch::install_traps();
        false
    }

    fn callbacks(&mut self) -> bool {
        let addr = self.rng.pick(&[arch::iret_target(), 0x8000_0000_0000_0000, 1 << 47, abi::HYPERVISOR_VIRT_START, 0]);
        if self.rng.chance(64) {
            let _ = {
                let a = [addr, addr, addr, 0, 0];
                self.hcall(4, a)
            };
        } else {
            let kind = self.rng.below(10) as u16;
            let cb = abi::traps::CallbackRegister { kind, flags: self.rng.next() as u16, pad: 0, address: addr };
            let ptr = if self.rng.chance(220) { &cb as *const _ as u64 } else { self.rng.pick(&HOSTILE_PTRS) };
            let _ = {
                let a = [self.rng.below(3), ptr, 0, 0, 0];
                self.hcall(30, a)
            };
        }
        arch::install_traps();
        false
    }

    fn segments(&mut self) -> bool {
        let which = self.rng.below(6);
        let any = self.rng.next();
        let base = self.rng.pick(&[0, 0x1000, 0x8000_0000_0000_0000, 1 << 47, any]);
        let _ = {
            let a = [which, base, 0, 0, 0];
            self.hcall(25, a)
        };
        let _ = {
            let a = [self.rng.pick(&[0xE02B, 0, 0xE010, 0xFFFF]), self.rng.next(), 0, 0, 0];
            self.hcall(3, a)
        };
        let _ = hc(25, [0, 0, 0, 0, 0]);
        // GS_USER_SEL really loads %gs: back to the null selector, so a
        // later set_gdt cannot leave a selector that no longer loads (the
        // failsafe callback, a random address here).
        let _ = hc(25, [3, 0, 0, 0, 0]);
        let _ = hc(25, [1, 0, 0, 0, 0]);
        let _ = hc(25, [2, 0, 0, 0, 0]);
        let _ = hc(3, [0xE02B, 0, 0, 0, 0]);
        let _ = {
            let a = [self.rng.below(2), 0, 0, 0, 0];
            self.hcall(5, a)
        };
        let _ = hc(5, [0, 0, 0, 0, 0]);
        false
    }

    fn vm_assist(&mut self) -> bool {
        let _ = {
            let a = [self.rng.below(3), self.rng.pick(&[0, 1, 2, 3, 4, 5, 6, 32, 33, 64]), 0, 0, 0];
            self.hcall(21, a)
        };
        false
    }

    fn console(&mut self) -> bool {
        // Bytes the console filters out (no log spam), or hostile ranges.
        let zeros = self.bufs.page.as_mut_ptr() as u64;
        self.bufs.page.fill(0);
        let (ptr, len) = match self.rng.below(10) {
            0..=5 => (zeros, self.rng.below(4096)),
            6 => (self.edge + 4096 - self.rng.below(256), 512),
            _ => (self.rng.pick(&HOSTILE_PTRS), self.rng.pick(&[1, 16, 4096, 1 << 31, u64::MAX])),
        };
        let cmd = if self.rng.chance(240) { 0 } else { self.rng.below(4) };
        let _ = {
            let a = [cmd, len, ptr, 0, 0];
            self.hcall(18, a)
        };
        false
    }

    fn version(&mut self) -> bool {
        let cmd = self.rng.below(14);
        let arg = if cmd == 7 && self.rng.chance(128) { 0 } else { self.out_ptr() };
        // The capabilities string is 1024 bytes: give it the whole buffer.
        let arg = if cmd == 3 && arg >= self.bufs.page.as_ptr() as u64 && arg < self.edge {
            self.bufs.page.as_ptr() as u64
        } else {
            arg
        };
        let _ = {
            let a = [cmd, arg, 0, 0, 0];
            self.hcall(17, a)
        };
        false
    }

    fn sched(&mut self) -> bool {
        match self.rng.below(4) {
            0 => {
                let _ = {
                    let a = [0, 0, 0, 0, 0];
                    self.hcall(29, a)
                };
            }
            1 => {
                let _ = {
                    let a = [0, 0, 0, 0, 0];
                    self.hcall(6, a)
                };
            }
            2 => {
                let _ = {
                    let a = [2, self.rng.pick(&HOSTILE_PTRS[..6]), 0, 0, 0];
                    self.hcall(29, a)
                };
            }
            _ => {
                let _ = {
                    let a = [self.rng.pick(&[6, 7, 99, u64::MAX]), 0, 0, 0, 0];
                    self.hcall(29, a)
                };
            }
        }
        false
    }

    /// A valid `iret` back into the guest with random flags and registers.
    fn iret(&mut self) -> bool {
        let stack = arch::iret_stack_top();
        let rflags = (self.rng.next() & 0x0025_4DD5) | 0x202;
        let flags = self.rng.pick(&[0, 1 << 8]);
        let frame = [
            self.rng.next(),
            self.rng.next(),
            self.rng.next(),
            flags,
            arch::iret_target(),
            0xE030,
            rflags,
            stack,
            0xE02B,
        ];
        self.calls[23] += 1;
        let f = catch(|| arch::raw_iret(&frame));
        if f.is_some_and(|x| x.rip == arch::iret_target() || x.vector == 1) {
            self.oks[23] += 1;
        }
        false
    }

    /// An `iret` to guest user mode (CS 0xE033), only while a user root is
    /// set (without one Xen and xen-core crash the domain). The target is
    /// a `ud2` the user root may or may not map: either way the fault is
    /// bounced in kernel mode onto the `stack_switch` stack set here, where
    /// the trap stub's `catch` lands.
    fn user_iret(&mut self) -> bool {
        let stack = arch::iret_stack_top();
        let _ = hc(3, [0xE02B, stack, 0, 0, 0]);
        let rflags = (self.rng.next() & 0x0025_4DD5) | 0x202;
        let flags = self.rng.pick(&[0, 1 << 8]);
        let frame = [
            self.rng.next(),
            self.rng.next(),
            self.rng.next(),
            flags,
            arch::iret_target(),
            0xE033,
            rflags,
            stack,
            0xE02B,
        ];
        self.calls[23] += 1;
        let f = catch(|| arch::raw_iret(&frame));
        // Came back from user mode: the bounced frame has the user CS.
        if f.is_some_and(|x| x.cs & 3 == 3) {
            self.oks[23] += 1;
        }
        let _ = hc(3, [0xE02B, 0, 0, 0, 0]);
        false
    }

    /// A descriptor to write: good ones of every kind, system descriptors
    /// that must be refused, and random bits.
    fn descriptor(&mut self) -> u64 {
        match self.rng.below(8) {
            0 => 0x00CF_9200_0000_FFFF,
            1 => 0x00AF_FA00_0000_FFFF,
            2 => 0x0000_8900_0000_0067,
            3 => 0x0000_8200_0000_0000,
            4 => self.rng.pick(&[0x0000_EC00_E008_1000u64, 0x0000_EC00_E033_1000, 0x0000_8000_0000_0000]),
            5 => self.rng.next() & !(1 << 47),
            6 => 0,
            _ => self.rng.next(),
        }
    }

    /// `update_descriptor` into frames that may be written (never its own
    /// image), its tables, foreign and missing frames, misaligned.
    fn update_descriptor(&mut self) -> bool {
        let frame = self.dest_frame();
        let off = self.rng.below(512) * 8 + if self.rng.chance(16) { self.rng.pick(&[1, 4, 7]) } else { 0 };
        let desc = self.descriptor();
        self.hcall(10, [(frame << 12) + off, desc, 0, 0, 0]) == 0
    }

    /// `multicall` of up to four entries that leave the mappings alone:
    /// xen_version, unknown numbers, nested multicalls, update_descriptor,
    /// yield, maximum_ram_page; the list itself sometimes hostile.
    fn multicall(&mut self) -> bool {
        let mut list = [abi::multicall::MulticallEntry::default(); 4];
        let n = self.rng.below(5);
        for e in list.iter_mut().take(n as usize) {
            let (op, args) = match self.rng.below(6) {
                0 => (17, [self.rng.pick(&[0u64, 1, 2, 4, 6, 7, 8, 9, 10, 99]), self.out_ptr()]),
                1 => (self.rng.pick(&[11u64, 16, 47, 126, 1 << 40]), [self.rng.next(), self.rng.next()]),
                2 => (13, [self.rng.pick(&HOSTILE_PTRS), self.rng.below(3)]),
                3 => {
                    let frame = self.dest_frame();
                    (10, [(frame << 12) + self.rng.below(512) * 8, self.descriptor()])
                }
                4 => (29, [0, 0]),
                _ => (12, [2, 0]),
            };
            *e = abi::multicall::MulticallEntry { op, result: 0, args: [args[0], args[1], 0, 0, 0, 0] };
        }
        // Beyond its own entries only with a list it must refuse.
        let (ptr, count) = if self.rng.chance(230) {
            (list.as_mut_ptr() as u64, n | if self.rng.chance(16) { 1 << 32 } else { 0 })
        } else {
            (self.rng.pick(&HOSTILE_PTRS), self.rng.pick(&[1u64, 2, 1 << 20, u64::from(u32::MAX)]))
        };
        let r = self.hcall(13, [ptr, count, 0, 0, 0]);
        // Entries that wrote a descriptor may have written a table.
        r == 0 && list.iter().take(n as usize).any(|e| e.op == 10 && e.result == 0)
    }

    fn unknown(&mut self) -> bool {
        let nr = self
            .rng
            .pick(&[7u64, 8, 9, 11, 16, 19, 20, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 47, 63, 126]);
        let _ = {
            let a = [self.rng.next(), self.rng.next(), 0, 0, 0];
            self.hcall(nr, a)
        };
        false
    }

    /// One random privileged instruction (random prefixes, then an opcode,
    /// ModRM and immediate from the emulator's set or near it) executed by
    /// the guest kernel, with `set_iopl`/`set_iobitmap`/`set_debugreg`/
    /// `get_debugreg` in between. Register operands are only caller-saved
    /// ones, CR3 writes are left out (they are `MMUEXT_NEW_BASEPTR`, which
    /// `mmuext_op` covers) and the virtual TS is cleared afterwards.
    fn emulated(&mut self) -> bool {
        const PREFIXES: [u8; 12] = [0x66, 0x67, 0xF2, 0xF3, 0x2E, 0x64, 0x65, 0xF0, 0x40, 0x41, 0x44, 0x4C];
        const SAFE_RM: [u8; 5] = [0, 1, 2, 6, 7];
        let mut code = [0u8; 20];
        let mut n = 0;
        for _ in 0..self.rng.below(4) {
            code[n] = self.rng.pick(&PREFIXES);
            n += 1;
        }
        // REX.B would reach R12-R15: only R8-R11 are clobbered.
        let rex_b = n > 0 && code[n - 1] & 0xF0 == 0x40 && code[n - 1] & 1 != 0;
        let rm = |r: &mut Rng| r.pick(&SAFE_RM) & if rex_b { 3 } else { 7 };
        match self.rng.below(8) {
            0 => {
                let op = self.rng.pick(&[0x20u8, 0x21, 0x22, 0x23]);
                let mut reg = self.rng.below(8) as u8;
                if op == 0x22 && reg == 3 {
                    reg = 2;
                }
                let m = (self.rng.below(4) as u8) << 6 | reg << 3 | rm(&mut self.rng);
                code[n..n + 3].copy_from_slice(&[0x0F, op, m]);
                n += 3;
            }
            1 => {
                code[n..n + 2].copy_from_slice(&[0x0F, self.rng.pick(&[0x32u8, 0x30, 0x31, 0x06, 0x09, 0x08])]);
                n += 2;
            }
            2 => {
                code[n..n + 3].copy_from_slice(&[0x0F, 0x01, self.rng.pick(&[0xF9u8, 0xC1, 0xD0, 0xF8])]);
                n += 3;
            }
            3 => {
                code[n] = self.rng.pick(&[0xE4u8, 0xE5, 0xE6, 0xE7]);
                code[n + 1] = self.rng.next() as u8;
                n += 2;
            }
            4 => {
                code[n] = self.rng.pick(&[0xECu8, 0xED, 0xEE, 0xEF, 0x6C, 0x6D, 0x6E, 0x6F, 0xFA, 0xFB, 0xF4]);
                n += 1;
            }
            5 => {
                // The forced-emulation CPUID (writes RBX: left out) or a
                // truncated prefix of it.
                let k = 2 + self.rng.below(4) as usize;
                code[n..n + k].copy_from_slice(&[0x0F, 0x0B, b'x', b'e', b'n'][..k]);
                n += k;
            }
            6 => {
                let iopl = self.rng.pick(&[0u64, 1, 3, 4, u64::MAX]);
                self.bufs.page[0] = iopl;
                let p = self.bufs.page.as_mut_ptr() as u64;
                let arg = self.rng.pick(&[p, p, HOSTILE_PTRS[0], 0]);
                let _ = self.hcall(33, [6, arg, 0, 0, 0]);
                let hostile = HOSTILE_PTRS[self.rng.below(8) as usize];
                self.bufs.page[0] = self.rng.pick(&[p, hostile]);
                self.bufs.page[1] = self.rng.pick(&[0u64, 0x400, 65536, 65537, u64::MAX]);
                let _ = self.hcall(33, [7, p, 0, 0, 0]);
                return false;
            }
            _ => {
                let reg = self.rng.pick(&[0u64, 3, 4, 5, 6, 7, 8, u64::MAX]);
                let any = self.rng.next();
                let v = self.rng.pick(&[0, 0x400, 1 << 13, 0x2_0001, 1 << 47, HOSTILE_PTRS[0], any]);
                let _ = self.hcall(8, [reg, v, 0, 0, 0]);
                let _ = self.hcall(9, [reg, 0, 0, 0, 0]);
                return false;
            }
        }
        let msr = self.rng.pick(&[
            0x10,
            0x1B,
            0x277,
            0x1A0,
            0xC000_0080,
            0xC000_0081,
            0xC000_0100,
            0xC000_0102,
            0xC000_0103,
            0x4000_0000,
        ]);
        let (any, any_port) = (self.rng.next(), self.rng.next());
        let regs = [
            self.rng.pick(&[0, 0x8005_0033, 0x8005_003B, 0x660, any]),
            msr | (self.rng.below(2) << 40),
            self.rng.pick(&[0xCF8, 0xCFC, 0x3F8, 0xF4, 0x70, 0x80, any_port]),
            self.rng.next(),
            self.rng.next(),
            self.rng.next(),
            self.rng.next(),
        ];
        // `rep ins`/`rep outs` stay inside the scratch buffer.
        let string = code[..n].iter().any(|b| (0x6C..=0x6F).contains(b));
        let _ = arch::run_insn(&code[..n], regs, string);
        // Whatever the instruction did to the virtual TS, no #NM later.
        let _ = hc(5, [0, 0, 0, 0, 0]);
        false
    }

    /// Reads and writes through arena addresses: faults are recovered; a
    /// write that lands is what a stale translation would allow.
    /// `fpu_taskswitch` with any argument (Xen's is an `int`: only the low
    /// 32 bits count), then usually an x87 or SSE instruction, which must
    /// raise #NM exactly when those bits were non-zero. The TS may stay set
    /// while other domains run: it is this vCPU's alone.
    fn fpu(&mut self) -> Verdict {
        use guest_kernel::arch::x86_64::fpu::{fnop, xorps_xmm1};
        let arg = match self.rng.below(6) {
            0 => 0,
            1 => 1,
            2 => u64::MAX,
            3 => 1 << 32,
            4 => 1 << 31,
            _ => self.rng.next(),
        };
        let r = self.hcall(5, [arg, 0, 0, 0, 0]);
        if r != 0 {
            return broke!("fpu_taskswitch({arg:#x}) returned {r}, not 0");
        }
        if self.rng.chance(64) {
            return Ok(());
        }
        let sse = self.rng.chance(128);
        let fault = catch(|| if sse { xorps_xmm1() } else { fnop() });
        let want_nm = arg as u32 != 0;
        match fault.map(|f| f.vector) {
            None if !want_nm => Ok(()),
            Some(7) if want_nm => match catch(fnop) {
                None => Ok(()),
                Some(f) => broke!("after #NM the virtual TS stayed set: vector {} on the retry", f.vector),
            },
            got => broke!("fpu_taskswitch({arg:#x}) then {}: fault {got:?}", if sse { "xorps" } else { "fnop" }),
        }
    }

    fn probe(&mut self) -> bool {
        let va = va_of(FIRST_SLOT, 0, 0, self.rng.below(512)) + self.rng.below(512) * 8;
        let v = self.pte();
        let write = self.rng.chance(128);
        let fault = catch(|| {
            if write {
                arch::write(va, v);
            } else {
                let _ = arch::read(va);
            }
        });
        write && fault.is_none()
    }
}

fn words(r: &abi::memory::MemoryReservation) -> [u64; 4] {
    [r.extent_start, r.nr_extents, u64::from(r.extent_order) | (u64::from(r.mem_flags) << 32), u64::from(r.domid.0)]
}
