//! `make modes`' workload (issue 15 item 5): the same operations timed in
//! each memory-virtualization mode, printed as `mode-row` lines that
//! tools/src/bin/xen-modes.rs reads. Each row is the median of `SAMPLES`
//! samples of RDTSC ticks per operation (under `-icount shift=0` a tick is
//! one instruction). The caller supplies the mode's own way of doing each
//! operation (PV: hypercalls; PVH: its own tables and privileged
//! instructions); rows this first version does not measure print `n/a`.

use guest_rt::println;

/// Samples per row (odd, for a plain median).
const SAMPLES: usize = 15;

/// TSC now.
pub fn tsc() -> u64 {
    guest_kernel::arch::x86_64::events::rdtsc()
}

/// The median over `SAMPLES` runs of `op`, which does `per` operations.
fn median(per: u64, mut op: impl FnMut()) -> u64 {
    let mut s = [0u64; SAMPLES];
    for slot in s.iter_mut() {
        let t0 = tsc();
        op();
        *slot = (tsc() - t0) / per.max(1);
    }
    s.sort_unstable();
    s[SAMPLES / 2]
}

/// A timed operation: what it does `per` times per call, and the
/// hypercalls one operation makes.
pub struct Timed<'a> {
    /// Does `per` operations.
    pub run: &'a mut dyn FnMut(),
    /// Operations per call of `run`.
    pub per: u64,
    /// Hypercalls per operation.
    pub calls: u64,
}

/// One mode's ways of doing the operations.
pub struct Ops<'a> {
    /// Maps fresh pages: writes present entries into an empty L1 (per
    /// entry); `None` where not done.
    pub pt_build: Option<Timed<'a>>,
    /// Unmaps one entry and maps it again, each with its INVLPG.
    pub pt_update: Option<Timed<'a>>,
    /// Unmaps a page and touches it: the kernel's own #PF handler maps a
    /// fresh frame there.
    pub fault: Option<Timed<'a>>,
    /// `pv`, `pvh-shadow` or `pvh-nested` (as the guest knows it).
    pub mode: &'a str,
    /// Loads the current address-space root again (PV: `MMUEXT_NEW_BASEPTR`;
    /// PVH: `mov cr3`), and how many hypercalls that takes.
    pub switch: (&'a mut dyn FnMut(), u64),
    /// Reads the u64 at page `i` of the working set.
    pub touch: &'a dyn Fn(u64) -> u64,
    /// Pages in the working set.
    pub pages: u64,
    /// Gives one page back and takes it again, and its hypercalls; `None`
    /// where not done.
    pub balloon: Option<(&'a mut dyn FnMut() -> bool, u64)>,
}

/// Runs every row and prints it.
pub fn run(ops: Ops) {
    println!("mode-start mode={} samples={SAMPLES} pages={}", ops.mode, ops.pages);
    for (op, t) in [("pt-build", ops.pt_build), ("pt-update", ops.pt_update), ("fault", ops.fault)] {
        match t {
            Some(t) => {
                let ticks = median(t.per, t.run);
                println!("mode-row op={op} ticks={ticks} calls={}", t.calls);
            }
            None => println!("mode-row op={op} n/a"),
        }
    }
    let (switch, calls) = ops.switch;
    let ticks = median(64, || {
        for _ in 0..64 {
            switch();
        }
    });
    println!("mode-row op=switch ticks={ticks} calls={calls}");
    // The balloon before the walk: its p2m changes drop shadows, which
    // the walk then refills, so the walk counter replays resident ones.
    match ops.balloon {
        Some((balloon, calls)) => {
            let mut ok = true;
            let ticks = median(1, || ok &= balloon());
            if ok {
                println!("mode-row op=balloon ticks={ticks} calls={calls}");
            } else {
                println!("mode-row op=balloon error=failed");
            }
        }
        None => println!("mode-row op=balloon n/a"),
    }
    // One word per page in a scrambled order (a stride coprime with the
    // count visits every page once), so neighbours do not share TLB entries.
    let n = ops.pages;
    let stride = if n.is_multiple_of(7919) { 7921 } else { 7919 };
    let touch = ops.touch;
    let mut sum = 0u64;
    let ticks = median(n, || {
        let mut p = 0;
        for _ in 0..n {
            sum = sum.wrapping_add(touch(p));
            p = (p + stride) % n;
        }
    });
    println!("mode-row op=walk ticks={ticks} calls=0 sum={}", sum & 0xff);
    println!("mode-end mode={}", ops.mode);
}
