//! One PVH slice: the vCPU run from its VMCB under VMRUN until the
//! scheduler's tick, a yield, a block or its end. Before each VMRUN the
//! timer, a due upcall and the ASID's TLB flush are settled; after it the
//! exit is decoded and handed to [`super::exits`].

use super::{asids, slot, SliceEnd};
use crate::arch::x86_64::guest_time::{clock_refined, rearm, time_switched_in};
use crate::arch::x86_64::paging::DirectMap;
use crate::arch::x86_64::run::{d_mut, switch_fpu, Hypervisor};
use crate::arch::x86_64::{cpu, timer};
use crate::hvm::asid::TlbFlush;
use crate::hvm::exit::decode;
use crate::hvm::exit_count::ExitKind;
use crate::hvm::gmem::{GuestPaging, GuestView};
use crate::hvm::policy::{npf_action, policy, Action, Paging};
use crate::hvm::pvh_entry::vmrun_check;
use crate::hvm::pvh_vcpu;
use crate::hvm::upcall::{self, Upcall};
use crate::hvm::vmcb::tlb_control;
use crate::mm::PhysMemory;
use crate::sched::RunState;
use crate::time::info::TimeStamp;
use core::ops::ControlFlow;

/// Whether vcpu_info's `evtchn_upcall_pending` is set for domain `i`.
pub(super) fn upcall_pending(i: usize) -> bool {
    let vi = d_mut(i).vcpu.vcpu_info_location();
    DirectMap.read_u64(vi) & 0xFF != 0
}

/// PVH domain `i` is crashed (`why`, at `rip`): logged; the slice ends so.
pub(super) fn crashed(i: usize, why: &dyn core::fmt::Display, rip: u64) -> SliceEnd {
    log::warn!("domain {i} crashed: {why} at rip {rip:#x}; the hypervisor runs on");
    SliceEnd::Ended(RunState::Crashed)
}

/// Runs PVH domain `i` (its slot holds a vCPU) from its VMCB until it
/// must give the CPU back: the scheduler's verdict on a timer interrupt,
/// a yield, a block, or its end.
pub fn run_slice(hv: &mut Hypervisor, i: usize) -> SliceEnd {
    let Some(p) = slot(i) else { return SliceEnd::Ended(RunState::Crashed) };
    // The grant core does not look this vCPU's p2m up behind its back.
    let _running = super::Running::enter(i);
    hv.current = i;
    let d = d_mut(i);
    if !d.started {
        d.started = true;
        let mode = if p.paging == Paging::Shadow { "shadow" } else { "nested" };
        log::info!("Starting domain {i} ({}, PVH under SVM with {mode} paging)", d.name());
    }
    // The host side while the guest runs: the hypervisor's own tables
    // (the last PV domain's may go away meanwhile), this domain's FPU
    // registers, its time stamped and the timer armed.
    // SAFETY: the hypervisor's L4 maps everything the hypervisor uses.
    unsafe { cpu::set_cr3(hv.hv_root) };
    switch_fpu(hv, i);
    crate::arch::x86_64::events::set_current(i);
    time_switched_in(hv, i);
    // Its registered runstate and time areas, through its own tables as
    // they are now (the PV path above writes only a PV domain's).
    if p.hvcpu.runstate_area != 0 || p.hvcpu.time_area != 0 {
        let v = p.vmcb.vmcb();
        let paging = match &p.sv {
            Some(s) => s.guest_paging(),
            None => GuestPaging::of(v.save.cr0, v.save.cr3, v.save.cr4, v.save.efer),
        };
        let d = d_mut(i);
        let stamp = TimeStamp::of(&hv.host.clock, hv.host.time_flags);
        let mut view = GuestView { p2m: &p.p2m, mem: &mut DirectMap, paging };
        pvh_vcpu::switched_in(&mut view, &p.hvcpu, &d.vcpu.time.runstate, d.vcpu.vm_assist, &stamp);
    }
    let crashed = |why: &dyn core::fmt::Display, rip: u64| crashed(i, why, rip);
    // time_switched_in armed the timer.
    let mut timers_moved = false;
    loop {
        // Before every VMRUN: a due TSC refinement as the PV entries do it,
        // and the timer re-armed if an exit may have moved a deadline of
        // the scheduler's, or if an interrupt taken in the host right after
        // an exit that was not its own spent it (only acknowledged there;
        // its EOI forgets what was armed). Every other exit leaves the
        // armed deadline right ([`crate::hvm::rearm`]).
        if let Some(clock) = timer::refine_due() {
            clock_refined(hv, clock, false);
            timers_moved = true;
        }
        if core::mem::take(&mut timers_moved) || !timer::armed() {
            rearm(i, timer::now());
        }
        // A due upcall injected. Held (IF clear, a shadow, an event in
        // flight): the interrupt window makes the guest exit as soon as it
        // can take it. Nothing pending (the common exit): nothing is due,
        // and a window opened for an upcall the guest has since taken
        // closes, without the full decision.
        let v = p.vmcb.vmcb();
        if upcall_pending(i) {
            let callback = p.params.0[abi::hvm::param::CALLBACK_IRQ as usize];
            let percpu = p.hvcpu.upcall_vector;
            match upcall::decide(callback, percpu, true, v.save.rflags, v.control.int_state, v.control.event_inj) {
                Upcall::Inject(e) => {
                    v.control.event_inj = e;
                    v.control.interrupt_window(false);
                    p.upcalls += 1;
                }
                Upcall::Held => v.control.interrupt_window(true),
                Upcall::None => v.control.interrupt_window(false),
            }
        } else {
            v.control.interrupt_window(false);
        }
        let flush = asids(&p.caps).assign(&mut p.asid);
        let v = p.vmcb.vmcb();
        v.control.asid = p.asid.asid;
        let shadow_flush = p.sv.as_mut().is_some_and(|s| core::mem::take(&mut s.flush));
        let npt_flush = core::mem::take(&mut p.npt.flush);
        if flush == TlbFlush::All {
            v.control.tlb_ctl = tlb_control::FLUSH_ALL;
        } else if npt_flush || shadow_flush {
            v.control.tlb_ctl = tlb_control::FLUSH_ASID;
        }
        if let Err(e) = vmrun_check(&v.control, &v.save) {
            return crashed(&format_args!("VMRUN would refuse its state ({e:?})"), v.save.rip);
        }
        // Host interrupts stay on under the guest (V_INTR_MASKING: the
        // host's IF decides), so the scheduler's timer makes an INTR exit
        // even while the guest runs with IF clear. Taken in the hypervisor
        // once GIF is set again, they are only acknowledged. GIF is cleared
        // before IF is set: a timer interrupt due between here and VMRUN
        // then waits for VMRUN and makes an INTR exit at once, instead of
        // being taken (and its one-shot timer spent) in the hypervisor
        // while a guest that never exits runs on unwatched.
        // SAFETY: interrupts taken in the hypervisor here are acknowledged
        // and nothing else (`run::idle_interrupt`), as in `timer::poll_interrupts`;
        // CLGI only holds them until VMRUN (svm_vmrun sets GIF again after
        // the exit); the CLI right after the run restores the run loop's state.
        unsafe { core::arch::asm!("clgi", "sti", options(nomem, nostack)) };
        p.vmcb.run(&mut p.gprs, &p.host);
        // SAFETY: see the STI above.
        unsafe { core::arch::asm!("cli", options(nomem, nostack)) };
        let v = p.vmcb.vmcb();
        v.control.tlb_ctl = tlb_control::DO_NOTHING;
        let exit = decode(&v.control.exit(p.caps.decode_assists));
        let rip = v.save.rip;
        let mut action = policy(&exit, p.paging);
        p.counts.record(ExitKind::of(&action));
        if let Action::NestedFault { gpa, error } = action {
            action = npf_action(&p.p2m, gpa, error);
            if let Action::Crash(cause) = action {
                return crashed(&format_args!("nested page fault at gpa {gpa:#x} ({cause:?}, {error:?})"), rip);
            }
        }
        match super::exits::handle(hv, i, p, action, rip) {
            ControlFlow::Continue(moved) => timers_moved |= moved,
            ControlFlow::Break(end) => return end,
        }
    }
}
