//! The rows: one measured operation each, in the order of issue 13's
//! table, then issue 9's. A row is a key (`tools::bench` names and targets
//! it), a divisor, and a closure that runs one iteration: untimed set-up,
//! one timed region (or two, for a difference), untimed clean-up.
//!
//! To add a row (event send, grant copy, …): one [`Bench::row`] call whose
//! closure returns [`ok`] of a timed call; a hypercall answering -ENOSYS
//! prints `n/a`, so the row can land before the hypercall does.

use crate::arch::{self, page_call, Entry, Timed};
use crate::fixture::{self, mmu_update, mmuext, op, pte, Fixture, BENCH_VA, ENTRIES, RESERVATION, RWF, SELF};
use crate::say;
use crate::stats::{summarise, ITERATIONS};
use abi::hypercall::HypercallNr as N;
use abi::memory::{MemoryReservation, XENMEM_DECREASE_RESERVATION, XENMEM_POPULATE_PHYSMAP};
use abi::mmu::*;
use abi::multicall::MulticallEntry;
use abi::start_info::StartInfo;
use abi::version::XENVER_VERSION;
use abi::{DomId, Errno};

const ENOSYS: i64 = -38;
/// A hypercall number no hypervisor implements.
const NO_SUCH_HYPERCALL: u64 = 11;
/// IA32_PAT: read by both hypervisors' emulators.
const MSR_PAT: u32 = 0x277;

/// One iteration's outcome.
pub enum Sample {
    /// Ticks of the timed region(s), overhead not yet subtracted.
    Ticks(u64),
    /// The hypervisor does not implement the operation (its errno).
    Unavailable(i64),
    /// The operation failed (its return value).
    Failed(i64),
}

/// The sample of a call that must succeed.
pub fn ok(t: Timed) -> Sample {
    match t.rax {
        r if r >= 0 => Sample::Ticks(t.ticks),
        ENOSYS => Sample::Unavailable(ENOSYS),
        r => Sample::Failed(r),
    }
}

/// The sample of a call that must return `want`.
fn want(t: Timed, want: i64) -> Sample {
    match t.rax {
        r if r == want => Sample::Ticks(t.ticks),
        ENOSYS => Sample::Unavailable(ENOSYS),
        r => Sample::Failed(r),
    }
}

fn errno_name(rc: i64) -> &'static str {
    Errno((-rc) as i32).name().unwrap_or("E?")
}

/// The row runner: the empty region's cost and whether every row worked.
pub struct Bench {
    overhead: u64,
    failed: bool,
    /// `only=KEY[,KEY...]` on the command line: run those rows alone (for an
    /// instruction trace of one operation).
    only: Option<&'static str>,
}

impl Bench {
    /// Runs `f` once to warm up (and to see whether the operation exists),
    /// then [`ITERATIONS`] times; prints the row with `regions` empty-region
    /// costs subtracted from each sample and the figures divided by `per`.
    pub fn row(&mut self, key: &str, per: u64, regions: u64, mut f: impl FnMut() -> Sample) {
        if self.only.is_some_and(|o| !o.split(',').any(|k| k == key)) {
            return;
        }
        let mut v = [0u64; ITERATIONS];
        match f() {
            Sample::Ticks(_) => {}
            Sample::Unavailable(rc) => return say!("bench-row key={key} n/a=-{}", errno_name(rc)),
            Sample::Failed(rc) => return self.error(key, rc),
        }
        for slot in v.iter_mut() {
            match f() {
                Sample::Ticks(t) => *slot = t.saturating_sub(regions * self.overhead),
                Sample::Unavailable(rc) | Sample::Failed(rc) => return self.error(key, rc),
            }
        }
        let s = summarise(&mut v, per);
        say!("bench-row key={key} median={} min={} max={} n={ITERATIONS} per={per}", s.median, s.min, s.max);
    }

    /// Prints `key` as not available here (`rc`: why).
    pub fn unavailable(&self, key: &str, rc: i64) {
        say!("bench-row key={key} n/a=-{}", errno_name(rc));
    }

    fn error(&mut self, key: &str, rc: i64) {
        self.failed = true;
        say!("bench-row key={key} error={rc}");
    }

    /// A row that exists on xen-core only (an extension): `n/a` on Xen.
    fn xen_core_row(&mut self, on_xen_core: bool, key: &str, f: impl FnMut() -> Sample) {
        if on_xen_core {
            self.row(key, 1, 1, f);
        } else {
            say!("bench-row key={key} n/a=extension");
        }
    }
}

fn memory_op(cmd: u64, frames: &mut [u64]) -> Timed {
    let r = MemoryReservation {
        extent_start: frames.as_mut_ptr() as u64,
        nr_extents: frames.len() as u64,
        domid: DomId::SELF,
        ..Default::default()
    };
    page_call(N::MEMORY_OP.0, [cmd, &r as *const MemoryReservation as u64, 0, 0, 0])
}

fn timed_mmu_update(reqs: &[MmuUpdate]) -> Timed {
    page_call(N::MMU_UPDATE.0, [reqs.as_ptr() as u64, reqs.len() as u64, 0, SELF, 0])
}

fn timed_mmuext(ops: &[MmuextOp]) -> Timed {
    page_call(N::MMUEXT_OP.0, [ops.as_ptr() as u64, ops.len() as u64, 0, SELF, 0])
}

/// An untimed page-table hypercall, so work a hypervisor defers from one
/// call to the domain's next one is not charged to the next row's region
/// (the `tlb_flush_after_unpin` row shows what it costs).
fn settle() {
    let _ = mmuext(&[op(MMUEXT_TLB_FLUSH_LOCAL, 0)]);
}

/// Runs every row and shuts down.
pub fn run(si: &'static StartInfo) -> ! {
    let on_xen_core = abi::guest::extra_version().is_ok_and(|e| e.starts_with(b"-xen-core"));
    if let Err(e) = arch::install_traps() {
        fixture::fail("set_trap_table", -i64::from(e.0));
    }
    let mut f = fixture::build(si);
    let mut empty = [0u64; ITERATIONS];
    for slot in empty.iter_mut() {
        *slot = arch::empty().ticks;
    }
    let overhead = summarise(&mut empty, 1);
    say!(
        "bench-start platform={} iterations={ITERATIONS} overhead={} overhead_min={} overhead_max={}",
        if on_xen_core { "xen-core" } else { "xen" },
        overhead.median,
        overhead.min,
        overhead.max
    );
    let only = si.cmdline().split_whitespace().find_map(|w| w.strip_prefix("only="));
    let mut b = Bench { overhead: overhead.median, failed: false, only };
    hypercall_rows(&mut b, on_xen_core);
    mmu_rows(&mut b, &mut f);
    crate::grant_rows::grant_rows(&mut b, &f);
    cpu_rows(&mut b);
    // The event rows end with an idle pause, so the reservation rows find
    // frames the hypervisor scrubbed meanwhile (their targets exclude the
    // scrub; a hypervisor that scrubs on idle does it there).
    crate::events::rows(&mut b, &f, si);
    reservation_rows(&mut b, &mut f);
    let end = arch::rdtsc();
    say!("bench-boot entry={} end={end}", arch::entry_tsc());
    say!("Test result: {}", if b.failed { "FAILURE" } else { "SUCCESS" });
    abi::guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

fn hypercall_rows(b: &mut Bench, on_xen_core: bool) {
    let xv = N::XEN_VERSION.0;
    b.row("xen_version", 1, 1, || ok(page_call(xv, [XENVER_VERSION, 0, 0, 0, 0])));
    b.row("xen_version_syscall", 1, 1, || ok(arch::direct_call(Entry::Syscall, xv, XENVER_VERSION)));
    b.row("enosys", 1, 1, || want(page_call(NO_SUCH_HYPERCALL, [0; 5]), ENOSYS));
    b.xen_core_row(on_xen_core, "xen_version_int82", || ok(arch::direct_call(Entry::Int82, xv, XENVER_VERSION)));
    b.xen_core_row(on_xen_core, "xen_version_vmcall", || ok(arch::direct_call(Entry::Vmcall, xv, XENVER_VERSION)));
    let mut list = [MulticallEntry { op: xv, ..Default::default() }; 2];
    b.row("multicall_2", 1, 1, || {
        let t = page_call(N::MULTICALL.0, [list.as_mut_ptr() as u64, list.len() as u64, 0, 0, 0]);
        match list.iter().find(|e| e.result as i64 != 0x0004_0011) {
            Some(e) if t.rax == 0 => Sample::Failed(e.result as i64),
            _ => ok(t),
        }
    });
}

fn mmu_rows(b: &mut Bench, f: &mut Fixture) {
    let map = |i: usize| pte(f.l1, i, (f.data[i] << 12) | RWF);
    let unmap = |i: usize| pte(f.l1, i, 0);
    b.row("mmu_update_1", 1, 1, || {
        let s = ok(timed_mmu_update(&[map(0)]));
        let _ = mmu_update(&[unmap(0)]);
        s
    });
    let maps: [MmuUpdate; ENTRIES] = core::array::from_fn(map);
    let unmaps: [MmuUpdate; ENTRIES] = core::array::from_fn(unmap);
    b.row("mmu_update_512", ENTRIES as u64, 1, || {
        let s = ok(timed_mmu_update(&maps));
        let _ = mmu_update(&unmaps);
        s
    });

    let pin_unpin = |mfn: u64| [op(MMUEXT_PIN_L1_TABLE, mfn), op(MMUEXT_UNPIN_TABLE, mfn)];
    let (empty, ro, rw) = (pin_unpin(f.l1_empty), pin_unpin(f.l1_ro), pin_unpin(f.l1_rw));
    b.row("pin_l1_empty", 1, 1, || {
        let s = ok(timed_mmuext(&empty));
        settle();
        s
    });
    // Marginal cost per present entry: full minus empty, in one iteration.
    for (key, full) in [("pin_l1_ro_per_entry", &ro), ("pin_l1_rw_per_entry", &rw)] {
        b.row(key, ENTRIES as u64, 0, || {
            let e = timed_mmuext(&empty);
            settle();
            let t = timed_mmuext(full);
            settle();
            match (ok(e), ok(t)) {
                (Sample::Ticks(e), Sample::Ticks(t)) => Sample::Ticks(t.saturating_sub(e)),
                (Sample::Ticks(_), s) | (s, _) => s,
            }
        });
    }
    let flush = [op(MMUEXT_TLB_FLUSH_LOCAL, 0)];
    b.row("tlb_flush_after_unpin", 1, 1, || {
        let _ = mmuext(&empty);
        ok(timed_mmuext(&flush))
    });
    settle();

    let (va, val) = (BENCH_VA, (f.data[0] << 12) | RWF);
    b.row("uvm_invlpg", 1, 1, || {
        let s = ok(page_call(N::UPDATE_VA_MAPPING.0, [va, val, UVMF_INVLPG, 0, 0]));
        let _ = arch::hypercall(N::UPDATE_VA_MAPPING.0, [va, 0, UVMF_NONE, 0, 0]);
        s
    });
    b.row("tlb_flush_local", 1, 1, || ok(timed_mmuext(&flush)));
}

fn reservation_rows(b: &mut Bench, f: &mut Fixture) {
    let n = RESERVATION as i64;
    let (pfns, mfns) = (f.pfns, &mut f.mfns);
    // Each row's clean-up is the other row's operation, so the frames are
    // populated again when a row ends.
    b.row("decrease_reservation_64", RESERVATION as u64, 1, || {
        let mut give = *mfns;
        let s = want(memory_op(XENMEM_DECREASE_RESERVATION, &mut give), n);
        let mut take = pfns;
        let back = memory_op(XENMEM_POPULATE_PHYSMAP, &mut take);
        *mfns = take;
        if back.rax != n {
            return Sample::Failed(back.rax);
        }
        s
    });
    b.row("populate_physmap_64", RESERVATION as u64, 1, || {
        let mut give = *mfns;
        let gone = memory_op(XENMEM_DECREASE_RESERVATION, &mut give);
        if gone.rax != n {
            return Sample::Failed(gone.rax);
        }
        let mut take = pfns;
        let s = want(memory_op(XENMEM_POPULATE_PHYSMAP, &mut take), n);
        *mfns = take;
        s
    });
}

fn cpu_rows(b: &mut Bench) {
    b.row("bounce_ud2", 1, 1, || ok(arch::bounce_ud2()));
    b.row("bounce_int3", 1, 1, || ok(arch::bounce_int3()));
    b.row("user_syscall", 1, 1, || ok(arch::user_round_trip(fixture::USER_CODE, fixture::USER_STACK_TOP)));
    b.row("rdmsr_pat", 1, 1, || ok(arch::rdmsr(MSR_PAT)));
}
