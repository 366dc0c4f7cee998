//! Ending: a domain's teardown when it shuts down or is crashed (its
//! console, event channels, grants and memory released, in that order),
//! and the machine's end once every domain has finished: the table of
//! domains, the run's verdict and QEMU's exit code.

use super::run::{d_mut, domains, Hypervisor};
use super::{cpu, qemu, timer};
use crate::mm::teardown::Teardown;
use crate::sched::{reason_name, RunState};
use crate::time::runstate;
use crate::verdict::RunVerdict;
use abi::DomId;

pub(super) fn end_domain(hv: &mut Hypervisor, i: usize, state: RunState) {
    // Leave the dying domain's page tables before they are freed.
    // SAFETY: the hypervisor's own L4 maps everything the hypervisor uses.
    unsafe { cpu::set_cr3(hv.hv_root) };
    hv.resident.forget();
    super::console_rings::domain_died(hv, i);
    super::events::domain_died(hv, i);
    super::boot_clock::mark_once("first shutdown");
    let mm = &mut hv.core.mm;
    hv.core.grants.release_domain(mm, DomId(i as u16));
    // A PVH domain's p2m references and hardware frames go first.
    let pvh = d_mut(i).pvh;
    super::svm::pvh::release(hv, i);
    let mm = &mut hv.mm;
    let report = Teardown::new(mm, DomId(i as u16)).run(mm);
    if pvh {
        let d = &hv.mm.domains[i];
        log::info!(
            "domain {i} ({}): PVH domain gone, {} of {} frames returned{}",
            d_mut(i).name(),
            d.returned,
            d.given,
            if report.still_referenced > 0 { " (some still referenced)" } else { "" }
        );
    }
    d_mut(i).state = state;
    d_mut(i).vcpu.time.runstate.change(runstate::OFFLINE, timer::now());
    if hv.check.enabled() {
        hv.check.run(&hv.core.mm, &hv.core.grants, format_args!("after the teardown of domain {i}"));
    }
    if report.still_referenced > 0 {
        log::warn!("domain {i}: {} frames still referenced by other domains", report.still_referenced);
    }
}

pub(super) fn finish(hv: &mut Hypervisor) -> ! {
    log::info!("All domains have finished.");
    log::info!("  dom  name              shutdown reason   frames returned");
    // Counted per frame as it goes back to the allocator, whenever it does:
    // at teardown, or later when another domain drops a zombie it mapped.
    for d in domains().iter().flatten() {
        let reason = match d.state {
            RunState::Shutdown(r) => reason_name(r),
            RunState::Crashed => "crashed",
            _ => "unfinished",
        };
        let mm = &hv.mm.domains[d.id.0 as usize];
        let kept = mm.given - mm.returned;
        let note = if kept == 0 { "" } else { " NOT RETURNED" };
        let pvh = if d.pvh { " (PVH)" } else { "" };
        log::info!("  {:<4} {:<17} {:<17} {} of {}{note}{pvh}", d.id.0, d.name(), reason, mm.returned, mm.given);
    }
    let ended = domains().iter().flatten().map(|d| d.state);
    let verdict = RunVerdict::decide(hv.refused_modules, ended, hv.all_poweroff_required);
    if hv.check.enabled() {
        let leaked: u64 = domains()
            .iter()
            .flatten()
            .map(|d| {
                let mm = &hv.mm.domains[d.id.0 as usize];
                mm.given - mm.returned
            })
            .sum();
        let c = &hv.check;
        log::info!(
            "check: {} invariant checks over {} hypercalls, {} violations; frames leaked: {leaked}",
            c.runs,
            c.hypercalls,
            c.violations
        );
        if c.violations > 0 || leaked > 0 {
            log::info!("Shutting down: failure (check=: {} violations, {leaked} frames leaked)", c.violations);
            qemu::exit(qemu::EXIT_FAILURE)
        }
    }
    let hv_debug = super::exception::HYPERVISOR_DEBUG_TRAPS.load(core::sync::atomic::Ordering::Relaxed);
    if hv_debug > 0 {
        log::warn!("{hv_debug} #DB raised in the hypervisor by guest breakpoints were ignored");
    }
    super::boot_clock::report();
    log::info!("Shutting down: {verdict}");
    qemu::exit(if verdict == RunVerdict::Success { qemu::EXIT_SUCCESS } else { qemu::EXIT_FAILURE })
}
