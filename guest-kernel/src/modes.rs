//! `make modes`' workload (issue 15 item 5): the same operations timed in
//! each memory-virtualization mode, printed as `mode-row` lines that
//! tools/src/bin/xen-modes.rs reads. Each row is the median of `SAMPLES`
//! samples of RDTSC ticks per operation (under `-icount shift=0` a tick is
//! one instruction; the cost of the empty bracket of two RDTSCs, measured
//! the same way, taken off each sample), and the mode's counters of its entries into the
//! hypervisor over all the row's samples (VM exits by kind under PVH on
//! xen-core; hypercalls and bounced traps, counted where this kernel makes
//! them, under PV and under PVH on Xen). The caller supplies the mode's own
//! way of doing each operation (PV: hypercalls; PVH: its own tables and
//! privileged instructions).

use core::fmt;
use guest_rt::println;

/// Samples per row (odd, for a plain median).
const SAMPLES: usize = 15;
/// Most counters a mode has.
pub const MAX_COUNTERS: usize = 10;

/// TSC now.
pub fn tsc() -> u64 {
    guest_kernel::arch::x86_64::events::rdtsc()
}

/// The median over `SAMPLES` runs of `op`, which does `per` operations,
/// less `bracket` per run (the two RDTSCs' own cost: on Xen a PVH
/// domain's RDTSC is an emulated exit, thousands of instructions).
fn median(per: u64, bracket: u64, mut op: impl FnMut()) -> u64 {
    let mut s = [0u64; SAMPLES];
    for slot in s.iter_mut() {
        let t0 = tsc();
        op();
        *slot = (tsc() - t0).saturating_sub(bracket) / per.max(1);
    }
    s.sort_unstable();
    s[SAMPLES / 2]
}

/// A timed operation: what it does `per` times per call.
pub struct Timed<'a> {
    /// Does `per` operations.
    pub run: &'a mut dyn FnMut(),
    /// Operations per call of `run`.
    pub per: u64,
}

/// A mode's counters of its entries into the hypervisor.
pub struct Counter<'a> {
    /// `exits` (the hypervisor's own count of VM exits, by exit kind),
    /// `hcalls` (hypercalls, counted by this kernel) or `hcalls+traps`
    /// (and the faults the hypervisor bounced to it).
    pub what: &'a str,
    /// The counters' names; `host` names exits the operation did not
    /// cause (the host's timer), left out of the per-op figure.
    pub names: &'a [&'a str],
    /// Reads every counter now.
    pub read: &'a dyn Fn(&mut [u64; MAX_COUNTERS]),
    /// What one read adds to each counter itself (its own CPUID exits).
    pub overhead: [u64; MAX_COUNTERS],
}

/// One mode's ways of doing the operations.
pub struct Ops<'a> {
    /// Builds page tables the mode's way (per entry written, mapping and
    /// unmapping).
    pub pt_build: Timed<'a>,
    /// Unmaps one entry and maps it again, each with its INVLPG.
    pub pt_update: Timed<'a>,
    /// Unmaps a page and touches it: the kernel's own #PF handler maps a
    /// fresh frame there.
    pub fault: Timed<'a>,
    /// `pv` or `pvh` (PVH cannot tell shadow from nested paging, so the
    /// tool names the mode).
    pub mode: &'a str,
    /// Switches to the other of two address spaces and checks a
    /// translation that differs between them.
    pub switch: &'a mut dyn FnMut(),
    /// Reads the u64 at page `i` of the working set.
    pub touch: &'a dyn Fn(u64) -> u64,
    /// Pages in the working set.
    pub pages: u64,
    /// Gives one page back and takes it again; false if refused.
    pub balloon: &'a mut dyn FnMut() -> bool,
    /// Its counters.
    pub counter: Counter<'a>,
}

/// The row's counts: `ops=N counted=WHAT name=delta...` (nonzero only).
struct Counted<'a> {
    c: &'a Counter<'a>,
    before: [u64; MAX_COUNTERS],
    after: [u64; MAX_COUNTERS],
    ops: u64,
}

impl fmt::Display for Counted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ops={} counted={}", self.ops, self.c.what)?;
        for (i, name) in self.c.names.iter().enumerate() {
            let d = self.after[i].wrapping_sub(self.before[i]).saturating_sub(self.c.overhead[i]);
            if d != 0 {
                write!(f, " {name}={d}")?;
            }
        }
        Ok(())
    }
}

/// Runs `f` between two reads of the counters.
fn counted<'a>(c: &'a Counter<'a>, ops: u64, f: impl FnOnce()) -> Counted<'a> {
    let mut before = [0; MAX_COUNTERS];
    let mut after = [0; MAX_COUNTERS];
    (c.read)(&mut before);
    f();
    (c.read)(&mut after);
    Counted { c, before, after, ops }
}

/// Runs every row and prints it.
pub fn run(ops: Ops) {
    let bracket = median(1, 0, || {});
    println!("mode-start mode={} samples={SAMPLES} pages={} bracket={bracket}", ops.mode, ops.pages);
    let c = &ops.counter;
    for (op, t) in [("pt-build", ops.pt_build), ("pt-update", ops.pt_update), ("fault", ops.fault)] {
        // At least 64 operations a sample, so that the bracket's spread
        // under plain TCG (an exit on Xen) is shared out.
        let reps = (64 / t.per).max(1);
        let run = t.run;
        let mut ticks = 0;
        let n = counted(c, SAMPLES as u64 * t.per * reps, || {
            ticks = median(t.per * reps, bracket, || {
                for _ in 0..reps {
                    run();
                }
            })
        });
        println!("mode-row op={op} ticks={ticks} {n}");
    }
    const SWITCHES: u64 = 64;
    let switch = ops.switch;
    let mut ticks = 0;
    let n = counted(c, SAMPLES as u64 * SWITCHES, || {
        ticks = median(SWITCHES, bracket, || {
            for _ in 0..SWITCHES {
                switch();
            }
        })
    });
    println!("mode-row op=switch ticks={ticks} {n}");
    // The balloon before the walk: its p2m changes drop shadows, which
    // the walk then refills, so the walk counter replays resident ones.
    let balloon = ops.balloon;
    let mut ok = true;
    let n = counted(c, SAMPLES as u64, || ticks = median(1, bracket, || ok &= balloon()));
    if ok {
        println!("mode-row op=balloon ticks={ticks} {n}");
    } else {
        println!("mode-row op=balloon error=failed");
    }
    // One word per page in a scrambled order (a stride coprime with the
    // count visits every page once), so neighbours do not share TLB entries.
    let pages = ops.pages;
    let stride = if pages.is_multiple_of(7919) { 7921 } else { 7919 };
    let touch = ops.touch;
    let mut sum = 0u64;
    let n = counted(c, SAMPLES as u64 * pages, || {
        ticks = median(pages, bracket, || {
            let mut p = 0;
            for _ in 0..pages {
                sum = sum.wrapping_add(touch(p));
                p = (p + stride) % pages;
            }
        })
    });
    println!("mode-row op=walk ticks={ticks} {n} sum={}", sum & 0xff);
    println!("mode-end mode={}", ops.mode);
}
