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

mod console_ring;
mod cpu;
mod events;
mod grant;
mod iret_upcall;
mod memory;
mod ptwr;
mod time;

use crate::arch::{self, catch, hc};
use crate::broke;
use crate::env::*;
use crate::oracle::{self, va_of, Known};
use abi::mmu::pte::*;
use abi::mmu::*;
use core::sync::atomic::Ordering::Relaxed;
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
    /// Native `iretq`s issued, and those that reached their target.
    native_irets: u64,
    native_irets_ok: u64,
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
    /// Its grant table and the mappings it made.
    grants: grant::GrantState,
}

/// Runs `ops` operations from `seed`.
pub fn run(env: &mut Env, seed: u64, ops: u64, trace: bool, every_call: bool) -> Verdict {
    let mut f = Fuzz::new(env, seed)?;
    f.events_setup();
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
    say!("fuzz: {} event upcalls taken", arch::upcalls());
    console_ring::report();
    for nr in 0..48 {
        if f.calls[nr] > 0 {
            say!("fuzz:   hypercall {nr:>2}: {:>8} calls, {:>8} ok", f.calls[nr], f.oks[nr]);
        }
    }
    let (stores, emulated) = (ptwr::STORES[0].load(Relaxed), ptwr::STORES[1].load(Relaxed));
    if stores > 0 {
        say!("fuzz:   page-table stores: {stores:>8} issued, {emulated:>8} emulated");
    }
    if f.native_irets > 0 {
        say!("fuzz:   native iretq: {:>8} issued, {:>8} reached their target", f.native_irets, f.native_irets_ok);
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
            native_irets: 0,
            native_irets_ok: 0,
            walks: 0,
            leaves: 0,
            bufs: Bufs { page: [0; 512] },
            trace: false,
            recent: [(0, [0; 5], 0); RECENT],
            n_recent: 0,
            every_call: true,
            grants: grant::GrantState::new(),
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
        let changed = match self.rng.below(110) {
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
            85 if self.rng.chance(96) => return self.iret_upcall(),
            85 => self.iret(),
            86 if self.user_root != 0 => self.user_iret(),
            86 => self.iret(),
            87 => self.unknown(),
            88 => self.multicall(),
            89 => return self.fpu(),
            90 => self.update_descriptor(),
            91..=92 => self.emulated(),
            93 => self.native_iretq(),
            94..=95 => self.timers(),
            96..=97 => self.evtchn(),
            98 if self.rng.chance(128) => return self.breakpoints(),
            98 => return self.ldt(),
            99 => return self.console_ring(),
            100..=107 => self.grant_op(),
            108..=109 => self.ptwr(),
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
        let nf = self.grants.n_foreign.min(grant::HANDLES);
        let known = Known { pinned: &pinned[..n], gdt: &self.gdt[..self.n_gdt], granted: &self.grants.foreign[..nf] };
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
        self.grant_cleanup();
        for i in 0..self.n_pinned {
            let _ = me(MMUEXT_UNPIN_TABLE, self.pinned[i], 0);
        }
        self.n_pinned = 0;
        let _ = me(MMUEXT_NEW_USER_BASEPTR, 0, 0);
        self.user_root = 0;
        let _ = call(abi::hypercall::HypercallNr::SET_GDT, &[0, 0]);
        self.timers_cleanup();
        self.n_gdt = 0;
        self.evtchn_cleanup();
    }
}
