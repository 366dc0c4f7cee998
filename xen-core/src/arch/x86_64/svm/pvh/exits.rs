//! A PVH vCPU's VM exits, once decoded and given their action by
//! [`crate::hvm::policy`]: hypercalls to [`crate::hvm::pvh_call`], CPUID,
//! MSRs, null I/O, HLT, the host's interrupts, the interrupt window, and
//! shadow paging's page faults, CR accesses and INVLPG.

use super::super::shadow::{self, ShadowVcpu};
use super::super::vmrun::Gprs;
use super::slice::upcall_pending;
use super::{PvhVcpu, SliceEnd};
use crate::arch::x86_64::guest_time::time_event;
use crate::arch::x86_64::hooks::PENDING_TIMER;
use crate::arch::x86_64::paging::DirectMap;
use crate::arch::x86_64::run::{console_keys, d_mut, Hypervisor};
use crate::arch::x86_64::{cpu, timer};
use crate::domain::hypercall_page::hvm_hypercall_page;
use crate::hvm::exit_count::EXIT_COUNT_LEAF;
use crate::hvm::gmem::{write_phys, GuestPaging};
use crate::hvm::policy::Action;
use crate::hvm::pvh_call::{args, long_mode, number, Outcome, PvhCall};
use crate::hvm::pvh_platform::{self, MsrAction};
use crate::hvm::rearm::hypercall_moves_deadlines;
use crate::hvm::shadow_cr::{decode_mov_cr, invlpg_len, CrEffect};
use crate::hvm::shadow_fault::{inject_pf, PfAction, EXIT_INT_INFO_VALID};
use crate::hvm::upcall::{self, Hlt};
use crate::hvm::vmcb::{tlb_control, VmcbSave};
use crate::mm::FrameAllocator;
use crate::p2m::P2m;
use crate::sched::RunState;
use crate::time::info::TimeStamp;
use abi::{DomId, Errno};
use core::ops::ControlFlow::{self, Break, Continue};

/// #GP as EVENTINJ: vector 13, exception, error code (0) valid, valid.
const INJECT_GP: u64 = 13 | (3 << 8) | (1 << 11) | (1 << 31);

/// Handles exit `action` of PVH domain `i` (`rip`: where it exited).
/// `Continue(moved)`: run on, and `moved` says whether the exit may have
/// moved a deadline of the scheduler's (then the timer is re-armed before
/// the next VMRUN); `Break`: the slice ends so.
pub(super) fn handle(
    hv: &mut Hypervisor,
    i: usize,
    p: &mut PvhVcpu,
    action: Action,
    rip: u64,
) -> ControlFlow<SliceEnd, bool> {
    let dom = DomId(i as u16);
    let crashed = |why: &dyn core::fmt::Display, rip: u64| Break(super::slice::crashed(i, why, rip));
    let callback = p.params.0[abi::hvm::param::CALLBACK_IRQ as usize];
    let percpu = p.hvcpu.upcall_vector;
    let v = p.vmcb.vmcb();
    let mut moved = false;
    match action {
        Action::Hypercall { insn_len } => {
            let long = long_mode(v.save.efer, v.save.cs.attrib);
            let nr = number(v.save.rax, long);
            v.save.rip += u64::from(insn_len);
            if v.save.cpl != 0 {
                // Xen: hypercalls from user mode are -EPERM.
                v.save.rax = (-i64::from(Errno::EPERM.0)) as u64;
                return Continue(false);
            }
            let paging = match &p.sv {
                Some(s) => s.guest_paging(),
                None => GuestPaging::of(v.save.cr0, v.save.cr3, v.save.cr4, v.save.efer),
            };
            let a = args(&p.gprs.0, long);
            let stamp = TimeStamp::of(&hv.host.clock, hv.host.time_flags);
            // A fresh preemption budget per hypercall, as the PV entry
            // gives (a multicall's preemption counts against it).
            hv.core.mm.hooks.work = 0;
            let (mm, console) = (&mut hv.core.mm, &mut hv.core.console);
            let mut out = |b: &[u8]| crate::hypercall::ConsoleSink::write(console, dom, b);
            let mut call = PvhCall {
                dom,
                mm,
                p2m: &mut p.p2m,
                paging,
                params: &mut p.params,
                line: &mut p.line,
                console: &mut out,
                npt: &mut p.npt,
                events: crate::arch::x86_64::events::events(),
                grants: &mut hv.core.grants,
                vcpu: &mut d_mut(i).vcpu,
                now: timer::now(),
                stamp,
                hvcpu: &mut p.hvcpu,
                long_mode: long,
            };
            let (ret, outcome) = call.dispatch(nr, a);
            // The p2m changed under the shadows (the NPT image, the
            // identity map, was updated and asked for a flush).
            if let (Some(s), true) = (p.sv.as_mut(), p.npt.flush) {
                s.p2m_changed(&p.p2m, &mut hv.mm.hooks.frames);
            }
            // An event sent to a blocked domain wakes it (it preempts
            // this one at the rate limit's end, as for PV).
            let kicked = crate::arch::x86_64::events::events().kicked();
            if kicked {
                crate::arch::x86_64::events::wake_kicked();
            }
            // A wake-up, a timer set, a block or a yield moves the
            // scheduler's deadlines; the balloon and the like do not.
            moved = kicked || hypercall_moves_deadlines(nr);
            let v = p.vmcb.vmcb();
            if let Some([a0, a1]) = p.hvcpu.restart.take() {
                // A continuation: the VMMCALL runs again (RAX still holds
                // its number) with the rest in its first two arguments.
                v.save.rip -= u64::from(insn_len);
                let (r0, r1) = if long { (7, 6) } else { (3, 1) };
                p.gprs.0[r0] = a0;
                p.gprs.0[r1] = a1;
            } else {
                v.save.rax = ret;
            }
            if core::mem::take(&mut p.hvcpu.flush_tlb) {
                v.control.tlb_ctl = tlb_control::FLUSH_ASID;
                if let Some(s) = p.sv.as_mut() {
                    s.flush = true;
                }
            }
            match outcome {
                Outcome::Continue => {}
                Outcome::Yield => return Break(SliceEnd::Yield),
                // Not with an event already pending (Xen's do_block).
                Outcome::Block if upcall_pending(i) => {}
                Outcome::Block => return Break(SliceEnd::Block),
                Outcome::Shutdown(reason) => {
                    log::info!("domain {i}: shut down ({})", crate::sched::reason_name(reason));
                    return Break(SliceEnd::Ended(RunState::Shutdown(reason)));
                }
                Outcome::Crash => return crashed(&"its nested tables could not follow its p2m", rip),
            }
        }
        Action::Cpuid { insn_len } => {
            let (leaf, sub) = (v.save.rax as u32, p.gprs.0[1] as u32);
            let r = if leaf == EXIT_COUNT_LEAF {
                p.counts.leaf(sub)
            } else {
                let h = cpu::cpuid(leaf, sub);
                pvh_platform::cpuid(leaf, [h.eax, h.ebx, h.ecx, h.edx], (4, 17), dom.0)
            };
            v.save.rax = u64::from(r[0]);
            p.gprs.0[3] = u64::from(r[1]);
            p.gprs.0[1] = u64::from(r[2]);
            p.gprs.0[2] = u64::from(r[3]);
            v.save.rip += u64::from(insn_len);
        }
        Action::Msr { write, insn_len } => {
            let msr = p.gprs.0[1] as u32;
            let value = (p.gprs.0[2] << 32) | (v.save.rax & 0xFFFF_FFFF);
            let efer = p.sv.as_ref().map_or(v.save.efer, |s| s.crs.efer);
            let ok = match pvh_platform::msr(msr, write, value, efer, v.save.g_pat) {
                MsrAction::Read(x) => {
                    v.save.rax = x & 0xFFFF_FFFF;
                    p.gprs.0[2] = x >> 32;
                    true
                }
                MsrAction::SetEfer(e) => {
                    match &mut p.sv {
                        Some(s) => {
                            s.crs.efer = e;
                            s.apply(&mut v.save);
                        }
                        None => v.save.efer = e,
                    }
                    true
                }
                MsrAction::SetPat(pat) => {
                    v.save.g_pat = pat;
                    true
                }
                MsrAction::HypercallPage(gfn) => {
                    let ok = write_phys(&p.p2m, &mut DirectMap, gfn << 12, &hvm_hypercall_page()).is_ok();
                    if ok {
                        log::info!("domain {i}: hypercall page at gfn {gfn:#x}");
                    } else {
                        log::warn!("domain {i}: hypercall page at gfn {gfn:#x} refused (not its RAM): #GP");
                    }
                    ok
                }
                MsrAction::Fault => false,
            };
            if ok {
                v.save.rip += u64::from(insn_len);
            } else {
                log::debug!("domain {i}: {} {msr:#x}: #GP", if write { "wrmsr" } else { "rdmsr" });
                v.control.event_inj = INJECT_GP;
            }
        }
        Action::NullIo(io) => {
            if io.string {
                return crashed(&"string I/O (no device model to emulate it)", rip);
            }
            if io.input {
                v.save.rax |= (1u64 << (8 * u32::from(io.size))) - 1;
            }
            v.save.rip = io.next_rip;
        }
        Action::Block { insn_len } => match upcall::hlt(callback, percpu, upcall_pending(i), v.save.rflags) {
            Hlt::Dead => return crashed(&"HLT with interrupts off (nothing can wake it)", rip),
            h => {
                // Past the HLT, out of any STI shadow it sat in (Xen's
                // `__update_guest_eip`).
                v.save.rip += u64::from(insn_len);
                v.control.int_state &= !1;
                if h == Hlt::Block {
                    return Break(SliceEnd::Block);
                }
            }
        },
        Action::HostInterrupt => {
            // The host took it (acknowledged only): the scheduler's
            // tick, as for a PV domain (charge, timers, wake-ups, the
            // verdict), and console input.
            timer::poll_interrupts();
            console_keys(hv);
            let act = time_event(hv, i);
            moved = true;
            hv.mm.hooks.pending &= !PENDING_TIMER;
            match act {
                crate::hypercall::Action::Crash(_) => {
                    return crashed(&format_args!("ran past its {} s timeout", p.timeout_s), rip)
                }
                crate::hypercall::Action::Yield => return Break(SliceEnd::Yield),
                _ => {}
            }
        }
        Action::HostNmi => {}
        // The next VMRUN injects what was held.
        Action::InterruptWindow => {
            v.control.interrupt_window(false);
            p.windows += 1;
        }
        Action::FlushAndRetry => v.control.tlb_ctl = tlb_control::FLUSH_ASID,
        Action::ShadowFault { va, error_code } => {
            let Some(s) = p.sv.as_mut() else { return crashed(&"a #PF exit in nested mode", rip) };
            let alloc = &mut hv.mm.hooks.frames;
            let v = p.vmcb.vmcb();
            match s.page_fault(&p.p2m, alloc, va, error_code) {
                PfAction::Retry => {
                    // The fault may have interrupted an event's delivery.
                    if v.control.exit_int_info & EXIT_INT_INFO_VALID != 0 {
                        v.control.event_inj = v.control.exit_int_info;
                    }
                }
                PfAction::Reflect(ec) => {
                    v.save.cr2 = va;
                    v.control.event_inj = inject_pf(ec);
                }
                PfAction::Emulate(target) => {
                    let linear = v.save.cs.base.wrapping_add(v.save.rip);
                    let (code, n) = shadow::fetch(&p.p2m, s.guest_paging(), linear);
                    if let Err(why) = s.emulate_write(&p.p2m, alloc, &mut v.save, &mut p.gprs, &code[..n], va, target) {
                        return crashed(&why, rip);
                    }
                }
                PfAction::Crash(c) => {
                    return crashed(&format_args!("page fault at {va:#x} (error code {error_code:#x}): {c:?}"), rip)
                }
            }
        }
        Action::ShadowCr3 { .. } | Action::ShadowCr { .. } => {
            let Some(s) = p.sv.as_mut() else { return crashed(&"a CR exit in nested mode", rip) };
            let v = p.vmcb.vmcb();
            match cr_exit(s, &p.p2m, &mut hv.mm.hooks.frames, &mut v.save, &mut p.gprs) {
                Ok(false) => {}
                Ok(true) => v.control.event_inj = INJECT_GP,
                Err(why) => return crashed(&why, rip),
            }
        }
        Action::ShadowInvlpg { .. } => {
            let Some(s) = p.sv.as_mut() else { return crashed(&"an INVLPG exit in nested mode", rip) };
            let v = p.vmcb.vmcb();
            let long = v.save.cs.attrib & crate::hvm::pvh_entry::attrib::L != 0;
            let (code, n) = shadow::fetch(&p.p2m, s.guest_paging(), v.save.cs.base.wrapping_add(v.save.rip));
            let Some(len) = invlpg_len(&code[..n], long) else {
                return crashed(&"an INVLPG exit without an INVLPG at RIP", rip);
            };
            // The shadows are coherent already (writes to guest tables
            // are trapped); only the TLB needs it.
            s.counts.invlpg += 1;
            s.flush = true;
            v.save.rip += u64::from(len);
        }
        Action::Crash(cause) => return crashed(&format_args!("{cause:?}"), rip),
        other => return crashed(&format_args!("{other:?} in {:?} mode", p.paging), rip),
    }
    Continue(moved)
}

/// A CR access in shadow mode: the `mov` at RIP decoded and done on the
/// guest's own registers; the real ones follow. `true`: inject #GP.
fn cr_exit(
    s: &mut ShadowVcpu,
    p2m: &P2m<'_>,
    alloc: &mut FrameAllocator,
    save: &mut VmcbSave,
    gprs: &mut Gprs,
) -> Result<bool, shadow::Crash> {
    s.counts.cr += 1;
    let long = save.cs.attrib & crate::hvm::pvh_entry::attrib::L != 0;
    let (code, n) = shadow::fetch(p2m, s.guest_paging(), save.cs.base.wrapping_add(save.rip));
    let m = decode_mov_cr(&code[..n], long).ok_or_else(|| {
        alloc::string::String::from("a CR access that is not a MOV (LMSW, CLTS, SMSW are not emulated)")
    })?;
    let width = if long { u64::MAX } else { 0xFFFF_FFFF };
    if m.write {
        let value = match m.gpr {
            0 => save.rax,
            4 => save.rsp,
            r => gprs.0[r as usize],
        } & width;
        match s.crs.write(m.cr, value) {
            CrEffect::Done => {}
            CrEffect::Flush => s.flush = true,
            CrEffect::PagingOn(gfn) | CrEffect::NewRoot(gfn) => s
                .set_root(p2m, alloc, gfn)
                .map_err(|e| alloc::format!("its page-table root gfn {gfn:#x} cannot be shadowed ({e:?})"))?,
            // The instruction faults: RIP stays.
            CrEffect::Gp => return Ok(true),
            CrEffect::Unsupported(why) => return Err(alloc::format!("shadow paging: {why}")),
        }
    } else {
        let v = s.crs.read(m.cr).ok_or_else(|| alloc::format!("a read of CR{}", m.cr))? & width;
        match m.gpr {
            0 => save.rax = v,
            4 => save.rsp = v,
            r => gprs.0[r as usize] = v,
        }
    }
    save.rip += u64::from(m.len);
    s.apply(save);
    Ok(false)
}
