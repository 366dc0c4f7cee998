//! Running PV domains: building them from the boot modules, handling every
//! entry from a guest (hypercalls, exceptions) and switching between
//! domains; the idle loop is in [`super::idle`], a domain's teardown and
//! the machine's end in [`super::ending`].

use super::ending::{end_domain, finish};
use super::entry;
use super::exception::TrapFrame;
use super::fpu::Fpu;
use super::guest_faults::{compat_syscall, guest_exception};
use super::guest_time::{time_event, time_switched_in, timers_changed, wake_blocked, write_runstate};
use super::hooks::{
    ArchGuest, ArchHooks, Console, PENDING_CHECK, PENDING_DEBUGREG, PENDING_EVENT, PENDING_FLUSH, PENDING_FPU_TS,
    PENDING_GDT, PENDING_ROOT, PENDING_TIMER,
};
use super::invariants::DebugCheck;
use super::paging::DirectMap;
use super::timer;
use super::{cpu, qemu, segstate, serial};
use crate::domain::bounce::Roots;
use crate::domain::fpu::FpuHardware;
use crate::domain::segments::domain_gdt;
use crate::domain::vcpu::{reg, GuestContext};
use crate::hypercall::{Action, Call};
use crate::mm::{PhysAddr, PhysMemory};
use crate::sched::{reason_name, Domain, RunState, MAX_DOMAINS};
use crate::scheduler;
use crate::time::runstate;
use abi::DomId;

/// Everything the hypervisor keeps while guests run.
pub struct Hypervisor {
    /// The hypervisor-wide state hypercalls see: the direct-paging model
    /// (frame table, M2P, per-domain memory state, arch hooks, L4
    /// template), the console, the host facts and the grant tables. Built
    /// once at boot, so a hypercall borrows it through one pointer instead
    /// of assembling it. The arch code reaches its fields as its own
    /// (`hv.mm`, ...) through [`core::ops::Deref`].
    pub(super) core: HvCore,
    pub(super) current: usize,
    pub(super) all_poweroff_required: bool,
    /// Boot modules that did not become a domain; any fails the run.
    pub(super) refused_modules: usize,
    /// The hypervisor's own L4 (CR3 while no domain's tables are needed).
    pub(super) hv_root: u64,
    /// `check=N`: the invariant checker's schedule and results.
    pub(super) check: DebugCheck,
    /// The domain whose FPU registers are live in the CPU (`None` at boot:
    /// the init state from [`super::fpu::init`]).
    pub(super) fpu_owner: Option<usize>,
    /// The PV domain whose root and TLB contents the CPU holds alone, for
    /// the lazy switch back after idle ([`crate::lazy_switch`]).
    pub(super) resident: crate::lazy_switch::Resident,
}

/// The hypervisor-wide part of [`Hypervisor`] on this machine.
pub type HvCore = crate::hypercall::Hv<'static, DirectMap, ArchHooks, Console>;

impl core::ops::Deref for Hypervisor {
    type Target = HvCore;
    fn deref(&self) -> &HvCore {
        &self.core
    }
}

impl core::ops::DerefMut for Hypervisor {
    fn deref_mut(&mut self) -> &mut HvCore {
        &mut self.core
    }
}

/// The hypervisor's state. There is one CPU, the hypervisor runs with
/// interrupts off, and guest entries never nest (a fault inside the
/// hypervisor is fatal), so at most one entry uses it at a time: no lock is
/// needed, and the hypercall path takes none.
static mut HV: Option<Hypervisor> = None;

/// The state, for the one guest entry being handled.
/// Installs the state before the first guest runs.
pub(super) fn state_init(hv: Hypervisor) {
    // SAFETY: boot code, before any guest runs: nothing else uses `HV`.
    unsafe { *core::ptr::addr_of_mut!(HV) = Some(hv) };
}

pub(super) fn state() -> Option<&'static mut Hypervisor> {
    // SAFETY: see `HV`: entries are strictly sequential on the one CPU.
    unsafe { (*core::ptr::addr_of_mut!(HV)).as_mut() }
}
static mut DOMAINS: [Option<Domain>; MAX_DOMAINS] = [const { None }; MAX_DOMAINS];

pub(super) fn domains() -> &'static mut [Option<Domain>; MAX_DOMAINS] {
    // SAFETY: one CPU, interrupts off in the hypervisor, and only code
    // handling a guest entry (or boot code before guests run) calls this.
    unsafe { &mut *core::ptr::addr_of_mut!(DOMAINS) }
}

/// Makes domain `i` current and returns the PV context to enter. A PVH
/// domain runs its slice here, under SVM ([`pvh_slice`]), and the next
/// domain the scheduler picks follows, until a PV domain is picked.
pub(super) fn switch_to(hv: &mut Hypervisor, i: usize) -> GuestContext {
    let mut i = i;
    while d_mut(i).pvh {
        i = match pvh_slice(hv, i) {
            Some(n) => n,
            None => super::idle::idle_slot(hv),
        };
    }
    switch_to_pv(hv, i)
}

/// Runs PVH domain `i` until it gives the CPU back, then settles it as
/// [`after_entry`] settles a PV domain; returns the next runnable slot.
fn pvh_slice(hv: &mut Hypervisor, i: usize) -> Option<usize> {
    use super::svm::pvh::{run_slice, SliceEnd};
    let end = run_slice(hv, i);
    // Host-side work the PVH domain's hypercalls asked for is done by the
    // next PV switch in full (CR3, flush, GDT, FPU, debug registers).
    hv.mm.hooks.pending &= PENDING_CHECK;
    hv.resident.forget();
    let now = timer::now();
    let out_state = if end == SliceEnd::Block { runstate::BLOCKED } else { runstate::RUNNABLE };
    scheduler::switched_out(d_mut(i), now, out_state);
    match end {
        SliceEnd::Yield => {}
        SliceEnd::Block => {
            d_mut(i).state = RunState::Blocked;
            d_mut(i).vcpu.time.wait = crate::time::vcpu::Wait::Block;
        }
        SliceEnd::Ended(state) => end_domain(hv, i, state),
    }
    wake_blocked(hv, now);
    next_runnable_slot(i)
}

/// Loads PV domain `i`: its page tables, its SYSCALL entry, and its
/// saved registers as the context to return to.
fn switch_to_pv(hv: &mut Hypervisor, i: usize) -> GuestContext {
    hv.current = i;
    let d = domains()[i].as_mut().expect("switching to a domain that exists");
    if !d.started {
        d.started = true;
        log::info!("Starting domain {i} ({})", d.name());
    }
    let roots = Roots::of(&hv.mm.domains[i]);
    let root = if d.vcpu.user_mode { roots.user } else { roots.kernel };
    // The same domain back after idle, on the root still in CR3: nothing
    // else ran, so its TLB is kept (no flush, so the flush clock stays).
    if !hv.resident.may_keep(i, cpu::cr3(), root, hv.mm.hooks.pending & SWITCH_WORK != 0) {
        // SAFETY: the root is a validated L4 of the domain whose slots
        // 256–271 hold the hypervisor's entries, so this code keeps running.
        unsafe { cpu::set_cr3(root) };
        flush_all();
        hv.mm.tlb_flushed();
    }
    hv.resident.loaded(i);
    entry::select_syscall_entry(d.bench_null, d.vcpu.user_mode);
    load_guest_gdt(hv, i);
    switch_fpu(hv, i);
    super::debugregs::sync(&d_mut(i).vcpu.emul.dr);
    super::events::set_current(i);
    time_switched_in(hv, i);
    let mut ctx = d_mut(i).vcpu.ctx;
    restore_segments(hv, i, &mut ctx);
    if hv.current == i {
        if let Action::Crash(why) = super::events::deliver(hv, i, &mut ctx) {
            log::error!("domain {i} ({}) crashed: {why}", d_mut(i).name());
            end_domain(hv, i, RunState::Crashed);
            return match next_runnable_slot(i) {
                Some(n) => switch_to(hv, n),
                None => finish(hv),
            };
        }
    }
    ctx.sanitize_for_exit();
    ctx
}

/// Puts domain `i`'s FPU registers and virtual TS into the CPU, saving the
/// previous owner's first (a domain that ended is saved too: harmless, and
/// its registers still leave the CPU).
pub(super) fn switch_fpu(hv: &mut Hypervisor, i: usize) {
    if hv.fpu_owner == Some(i) {
        Fpu.set_ts(d_mut(i).vcpu.fpu.virtual_ts());
        return;
    }
    if let Some(prev) = hv.fpu_owner {
        if let Some(p) = domains()[prev].as_mut() {
            p.vcpu.fpu.switch_out(&mut Fpu);
        }
    }
    d_mut(i).vcpu.fpu.switch_in(&mut Fpu);
    hv.fpu_owner = Some(i);
}

/// Loads domain `i`'s data selectors and FS/GS bases (its GDT is loaded).
/// A saved selector that no longer loads becomes null and the guest gets
/// its failsafe callback, as on Xen.
fn restore_segments(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext) {
    let d = d_mut(i);
    let mm = &hv.mm.domains[i];
    let (load, failed) = crate::domain::guest_segs::restore_selectors(&d.vcpu, &domain_gdt(&DirectMap, mm));
    let old = d.vcpu.selectors;
    d.vcpu.selectors = load;
    segstate::load(&d.vcpu, load);
    if failed {
        log::warn!("domain {i}: saved data selectors {old:?} no longer load; failsafe callback");
        if let Err(why) = crate::domain::bounce::failsafe(ctx, &mut d.vcpu, &ArchGuest, &Roots::of(mm), old) {
            log::error!("domain {i} ({}) crashed: {why}", d.name());
            end_domain(hv, i, RunState::Crashed);
            // The next runnable domain, or the end of the run.
            match next_runnable_slot(i) {
                Some(n) => *ctx = switch_to(hv, n),
                None => finish(hv),
            }
        }
    }
}

/// Flushes every TLB entry, global ones included. Every caller after boot
/// reports it to the model ([`crate::mm::Mm::tlb_flushed`]), or is the
/// model itself ([`crate::mm::MmHooks::flush_tlb_now`]), so its flush clock
/// is exact. A CR3 reload alone is not a full flush: guest user mappings
/// are global (and guests may set G in L1 entries).
pub(super) fn flush_all() {
    // Guest user mappings are global: toggling PGE flushes them too.
    let cr4 = cpu::cr4();
    // SAFETY: clearing and restoring PGE only flushes the TLB.
    unsafe {
        cpu::set_cr4(cr4 & !cpu::CR4_PGE);
        cpu::set_cr4(cr4);
    }
}

pub(super) fn to_frame(c: &GuestContext) -> TrapFrame {
    let mut f = TrapFrame::default();
    *context_of(&mut f) = *c;
    f
}

/// The entry frame seen as the guest's live context (same layout).
pub(super) fn context_of(frame: &mut TrapFrame) -> &mut GuestContext {
    const _: () = assert!(core::mem::size_of::<TrapFrame>() == core::mem::size_of::<GuestContext>());
    const _: () = assert!(core::mem::offset_of!(TrapFrame, rip) == core::mem::offset_of!(GuestContext, rip));
    const _: () = assert!(core::mem::offset_of!(TrapFrame, ss) == core::mem::offset_of!(GuestContext, ss));
    const _: () = assert!(core::mem::offset_of!(TrapFrame, r15) == core::mem::offset_of!(GuestContext, gpr) + 14 * 8);
    const _: () = assert!(core::mem::offset_of!(TrapFrame, vector) == core::mem::offset_of!(GuestContext, vector));
    // SAFETY: both types are repr(C) structs of 22 u64 fields in the same
    // order (checked above), so every bit pattern is valid for either.
    unsafe { &mut *(frame as *mut TrapFrame).cast::<GuestContext>() }
}

/// Handles a hypercall made with SYSCALL. The common case (the caller
/// continues, nothing to flush) stays in this small function; everything
/// else goes through [`after_entry`].
pub fn syscall_entry(frame: &mut TrapFrame) {
    syscall_entry_as::<false>(frame);
}

/// [`syscall_entry`] for a number the entry stub found handled and not
/// `iret` (`super::syscall_fast`): the same without those two tests.
pub fn syscall_entry_handled(frame: &mut TrapFrame) {
    syscall_entry_as::<true>(frame);
}

#[inline(always)]
fn syscall_entry_as<const HANDLED: bool>(frame: &mut TrapFrame) {
    let Some(hv) = state() else { no_domains() };
    let i = hv.current;
    let ctx = context_of(frame);
    let action = if HANDLED { hypercall_handled(hv, i, ctx, 2) } else { hypercall(hv, i, ctx, 2) };
    if action == Action::Continue && hv.mm.hooks.pending == 0 && !super::events::current_upcall_is_due() {
        ctx.sanitize_for_exit();
        return;
    }
    after_hypercall(hv, i, ctx, action);
}

/// The slow path of a SYSCALL hypercall: the `check=N` count, then
/// [`after_entry`].
#[inline(never)]
fn after_hypercall(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, mut action: Action) {
    if hv.mm.hooks.pending & PENDING_CHECK != 0 && hv.check.tick() {
        let n = hv.check.hypercalls;
        if !hv.check.run(&hv.core.mm, &hv.core.grants, format_args!("after hypercall {n} (domain {i})")) {
            action = Action::Crash(&"the invariant checker found a violation (check=)");
        }
    }
    after_entry(hv, i, ctx, action);
}

/// The exit of a hypercall a short path answered (`evtchn_fast`, its
/// result in the frame) and that left work for the exit: as the general
/// path's after the handler.
pub(super) fn answered_hypercall_exit(frame: &mut TrapFrame) {
    let Some(hv) = state() else { no_domains() };
    let i = hv.current;
    after_hypercall(hv, i, context_of(frame), Action::Continue);
}

/// Handles a SYSCALL from compatibility mode (the CSTAR entry); `frame`
/// is Xen's frame for it (CS 0xE023, RIP = RCX, RFLAGS = R11).
pub fn compat_syscall_entry(frame: &mut TrapFrame) {
    let Some(hv) = state() else { no_domains() };
    let i = hv.current;
    let ctx = context_of(frame);
    let action = compat_syscall(hv, i, ctx);
    after_entry(hv, i, ctx, action);
}

/// Handles a 64-bit SYSCALL made in guest user mode: delivered to the
/// guest kernel's syscall callback ([`crate::domain::bounce::user_syscall`]).
pub fn user_syscall_entry(frame: &mut TrapFrame) {
    let Some(hv) = state() else { no_domains() };
    let i = hv.current;
    let ctx = context_of(frame);
    let roots = Roots::of(&hv.mm.domains[i]);
    let d = d_mut(i);
    let action = match crate::domain::bounce::user_syscall(ctx, &mut d.vcpu, &ArchGuest, &roots) {
        // The common case: straight into the guest kernel's callback.
        Ok(()) if hv.mm.hooks.pending == 0 && !super::events::current_upcall_is_due() => {
            ctx.sanitize_for_exit();
            return;
        }
        Ok(()) => Action::Continue,
        Err(why) => {
            log::error!("domain {i} ({}): SYSCALL in user mode: {why}", d.name());
            Action::Crash(why)
        }
    };
    after_entry(hv, i, ctx, action);
}

#[cold]
fn no_domains() -> ! {
    serial::print_emergency(format_args!("(XEN) *** FATAL: guest entry with no domains\n"));
    qemu::exit(qemu::EXIT_FAILURE)
}

/// Handles an exception raised by the current guest; `frame` is its live
/// context and what it returns to (possibly another domain's).
pub fn guest_entry(frame: &mut TrapFrame) {
    let Some(hv) = state() else { no_domains() };
    let i = hv.current;
    let ctx = context_of(frame);
    let action = match ctx.vector {
        timer::TIMER_VECTOR => {
            timer::eoi();
            time_event(hv, i)
        }
        timer::SERIAL_VECTOR => {
            console_keys(hv);
            timer::serial_eoi();
            Action::Continue
        }
        timer::SPURIOUS_VECTOR => Action::Continue,
        v => guest_exception(hv, i, ctx, v as u8),
    };
    // The common case, as for SYSCALL: one test, then straight back.
    if action == Action::Continue && hv.mm.hooks.pending == 0 && !super::events::current_upcall_is_due() {
        ctx.sanitize_for_exit();
        return;
    }
    after_entry(hv, i, ctx, action);
}

/// A #UD at a `vmcall` in guest kernel mode, classified by the bounce
/// stub ([`super::fast_paths`]): as [`guest_entry`] without reading the
/// instruction again.
pub fn vmcall_entry(frame: &mut TrapFrame) {
    let Some(hv) = state() else { no_domains() };
    let i = hv.current;
    let ctx = context_of(frame);
    let action = super::guest_faults::vmcall_seen(hv, i, ctx);
    if action == Action::Continue && hv.mm.hooks.pending == 0 && !super::events::current_upcall_is_due() {
        ctx.sanitize_for_exit();
        return;
    }
    after_entry(hv, i, ctx, action);
}

/// A #DB from the current guest, with the hardware DR6 it raised: merged
/// into the vCPU's DR6 and delivered as any exception, with the hardware
/// breakpoints disarmed while the hypervisor handles it (the bounce writes
/// the guest's stack, which may be watched) and then rearmed for whichever
/// vCPU runs next.
pub fn guest_debug_entry(frame: &mut TrapFrame, dr6: u64) {
    super::debugregs::disarm();
    let Some(hv) = state() else { no_domains() };
    d_mut(hv.current).vcpu.emul.dr.merge_hw_dr6(dr6);
    guest_entry(frame);
    let Some(hv) = state() else { no_domains() };
    if let Some(d) = domains()[hv.current].as_ref() {
        super::debugregs::sync(&d.vcpu.emul.dr);
    }
}

/// Finishes an entry: reloads CR3 or flushes if the model asked for it,
/// and switches domains when the current one yielded, blocked or ended.
#[inline(never)]
fn after_entry(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, mut action: Action) {
    // Work the model asked for; a switch to another domain does all of it.
    // (`PENDING_CHECK` stays: it is a mode, not work.)
    let mut pending = hv.mm.hooks.pending;
    hv.mm.hooks.pending = pending & PENDING_CHECK;
    // A woken domain preempts this one at the rate limit's end.
    if pending & PENDING_EVENT != 0 && super::events::wake_kicked() {
        pending |= PENDING_TIMER;
    }
    if action == Action::Continue {
        action = if pending & PENDING_GDT == 0 {
            // One test when only an event was sent (a common slow exit).
            if pending & !(PENDING_CHECK | PENDING_EVENT) != 0 {
                apply_pending(hv, i, pending);
            }
            Action::Continue
        } else {
            gdt_reloaded(hv, i, ctx, pending)
        };
        if action == Action::Continue {
            // Xen's test_guest_events: an upcall due now is entered first.
            action = super::events::deliver(hv, i, ctx);
        }
        if action == Action::Continue {
            ctx.sanitize_for_exit();
            return;
        }
    }
    d_mut(i).vcpu.ctx = *ctx;
    // Work left to the switch in: only a full one does it.
    hv.resident.left(pending & SWITCH_WORK != 0);
    // Its selectors and bases stay in the registers until now: the next
    // domain must not inherit them.
    segstate::save(&mut d_mut(i).vcpu);
    let now = timer::now();
    let out_state = if action == Action::Block { runstate::BLOCKED } else { runstate::RUNNABLE };
    scheduler::switched_out(d_mut(i), now, out_state);
    match action {
        Action::Continue | Action::Yield => {}
        Action::Block => d_mut(i).state = RunState::Blocked,
        Action::Shutdown(reason) => {
            // A byte: every SHUTDOWN_* source masks it with 0xFF.
            let reason = reason as u32;
            log::info!("domain {i} ({}) shut down: {}", d_mut(i).name(), reason_name(reason));
            // `make modes`: the pure walk counter on its own tables, over
            // every page of guest-kernel's modes walk (as under PVH).
            if let Some(root) = hv.mm.domains[i].kernel_root {
                let (va, pages) = crate::hvm::walk::MODES_WALK;
                let r =
                    crate::hvm::walk::over_range(va, pages, |va| crate::hvm::walk::replay_one_d(&DirectMap, root, va));
                if r.mapped > 0 {
                    log::info!("domain {i}: walk refs per TLB miss at {va:#x} over {pages} pages: {r} (Direct)");
                }
            }
            end_domain(hv, i, RunState::Shutdown(reason));
        }
        Action::Crash(why) => {
            log::error!("domain {i} ({}) crashed: {why} (rip {:#x})", d_mut(i).name(), ctx.rip);
            end_domain(hv, i, RunState::Crashed);
        }
    }
    if !d_mut(i).state.finished() {
        write_runstate(d_mut(i));
    }
    wake_blocked(hv, now);
    match next_runnable_slot(i) {
        Some(n) => *ctx = switch_to(hv, n),
        None => *ctx = super::idle::idle(hv),
    }
}

/// `PENDING_*` work a switch to a domain does in full (a CR3 load and a
/// flush, its GDT, FPU state and debug registers), so an exit that
/// switches drops it: pending or dropped, it rules out the lazy switch.
const SWITCH_WORK: u8 = PENDING_FLUSH | PENDING_ROOT | PENDING_GDT | PENDING_FPU_TS | PENDING_DEBUGREG;

/// Carries out `PENDING_*` work for domain `i`, which keeps running.
#[inline(always)]
fn apply_pending(hv: &mut Hypervisor, i: usize, pending: u8) {
    if pending & PENDING_GDT != 0 {
        load_guest_gdt(hv, i);
    }
    if pending & PENDING_ROOT != 0 {
        let root = hv.mm.domains[i].kernel_root.map_or(0, |m| m.to_maddr());
        // SAFETY: a validated L4 of this domain with the hypervisor slots.
        unsafe { cpu::set_cr3(root) };
    }
    if pending & PENDING_FLUSH != 0 {
        flush_all();
        hv.mm.tlb_flushed();
    }
    if pending & PENDING_FPU_TS != 0 {
        Fpu.set_ts(d_mut(i).vcpu.fpu.virtual_ts());
    }
    if pending & PENDING_DEBUGREG != 0 {
        super::debugregs::sync(&d_mut(i).vcpu.emul.dr);
    }
    if pending & PENDING_TIMER != 0 {
        timers_changed(hv, i);
    }
}

/// Pending work that includes a new GDT for domain `i`, which keeps
/// running: the caller's CS and SS may name descriptors it just replaced
/// (the int 0x82 and vmcall entries keep them), so the return is settled.
#[cold]
#[inline(never)]
fn gdt_reloaded(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, pending: u8) -> Action {
    apply_pending(hv, i, pending);
    settle_return(hv, i, ctx)
}

/// Delivers the fault the hypervisor's IRETQ would raise on `ctx` (domain
/// `i`'s), as [`crate::domain::iret::settle_return`] decides.
fn settle_return(hv: &Hypervisor, i: usize, ctx: &mut GuestContext) -> Action {
    let Some(mm) = hv.mm.domain(DomId(i as u16)) else { return Action::Crash(&"domain has no memory") };
    let gdt = domain_gdt(&DirectMap, mm);
    match crate::domain::iret::settle_return(ctx, &mut d_mut(i).vcpu, &ArchGuest, &Roots::of(mm), &gdt) {
        Ok(_) => Action::Continue,
        Err(why) => Action::Crash(why),
    }
}

/// The hypervisor's IRETQ to the current domain faulted anyway (`f` is
/// the context it tried to restore, with the fault's vector and error
/// code): the fault is the guest's, as on Xen. Delivers it, or crashes the
/// domain, and enters whichever domain runs next.
pub(super) fn return_faulted(mut f: TrapFrame) -> ! {
    let Some(hv) = state() else { no_domains() };
    let i = hv.current;
    let ctx = context_of(&mut f);
    let (m, w) = super::exception::vector_name(ctx.vector);
    log::warn!(
        "domain {i}: the return to cs {:#x} ss {:#x} rip {:#x} raised {m} ({w}), error code {:#x}; delivered to the guest",
        ctx.cs,
        ctx.ss,
        ctx.rip,
        ctx.error_code
    );
    // A fault of a return never carries the EXT bit: the code is the
    // selector or 0, as the return checks report it.
    let (vector, code) = (ctx.vector as u8, ctx.error_code);
    let roots = Roots::of(&hv.mm.domains[i]);
    let action = match crate::domain::bounce::bounce(ctx, &mut d_mut(i).vcpu, &ArchGuest, &roots, vector, Some(code)) {
        Ok(()) => Action::Continue,
        Err(why) => Action::Crash(why),
    };
    after_entry(hv, i, ctx, action);
    entry::enter(&to_frame(ctx))
}

/// Loads domain `i`'s GDT descriptors into the hardware GDT, and its LDT
/// (the pages mapped so far) into the hardware LDT.
pub(super) fn load_guest_gdt(hv: &Hypervisor, i: usize) {
    let d = &hv.mm.domains[i];
    let (frames, entries) = (d.gdt, d.gdt_entries as usize);
    super::gdt::load_guest(entries, |n| {
        DirectMap.read_u64(PhysAddr(frames[n / 512].to_maddr() + (n % 512) as u64 * 8))
    });
    super::gdt::load_ldt(d.ldt.entries as usize, |n| hv.mm.ldt_descriptor(DomId(i as u16), n));
}

/// Keys typed on the console ([`super::events::console_key`]).
pub(super) fn console_keys(hv: &mut Hypervisor) {
    // The refusal log's rate limit also runs on timer ticks.
    hv.mm.hooks.refusals.tick();
    while let Some(key) = serial::poll_key() {
        super::events::console_key(hv, key);
    }
}

pub(super) fn d_mut(i: usize) -> &'static mut Domain {
    domains()[i].as_mut().expect("domain exists")
}

/// [`d_mut`] for the domain a hypercall came from (`hv.current`), without
/// testing the index and the slot again on the hypercall path (debug
/// builds still do).
#[inline(always)]
fn calling_domain(i: usize) -> &'static mut Domain {
    debug_assert!(domains().get(i).is_some_and(Option::is_some), "hypercall from slot {i}");
    // SAFETY: `i` is `hv.current`, which only ever names a slot that was
    // found to hold a domain (at boot and in `switch_to`); a slot, once
    // filled, is never emptied (a domain that ends stays, finished), and a
    // hypercall arrives only from the domain running.
    unsafe { domains().get_unchecked_mut(i).as_mut().unwrap_unchecked() }
}

pub(super) fn next_runnable_slot(current: usize) -> Option<usize> {
    scheduler::pick_next(domains(), current)
}

/// `iret` by domain `i`. Out of line: inlined, its registers would cost
/// every other hypercall two saves and restores.
#[inline(never)]
fn iret_hypercall(hv: &Hypervisor, i: usize, ctx: &mut GuestContext) -> Action {
    super::fast_paths::iret(hv, i, ctx)
}

/// Hypercall `ctx.rax` by domain `i`, made with an instruction of
/// `entry_len` bytes.
#[inline(always)]
pub(super) fn hypercall(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, entry_len: u64) -> Action {
    let nr = ctx.gpr[reg::RAX];
    // `iret` straight from the registers: it needs no `Call` (nor the
    // domain lookup below).
    if nr == abi::hypercall::HypercallNr::IRET.0 {
        return iret_hypercall(hv, i, ctx);
    }
    // A number with no handler is answered (and logged, rate-limited, as
    // any refusal) before anything is looked up or built.
    if !crate::hypercall::implemented(nr) {
        let refusals = crate::mm::MmHooks::refusals(&*hv.mm.hooks);
        ctx.gpr[reg::RAX] = crate::hypercall::refusal_log::refuse(refusals, DomId(i as u16), nr, abi::Errno::ENOSYS);
        return Action::Continue;
    }
    hypercall_handled(hv, i, ctx, entry_len)
}

/// [`hypercall`] for a number known to have a handler and not to be
/// `iret` (a number without one would still get -ENOSYS from dispatch).
#[inline(always)]
fn hypercall_handled(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, entry_len: u64) -> Action {
    let nr = ctx.gpr[reg::RAX];
    debug_assert!(crate::hypercall::implemented(nr) && nr != abi::hypercall::HypercallNr::IRET.0);
    let d = calling_domain(i);
    hv.mm.hooks.work = 0;
    let mut call = Call {
        dom: DomId(i as u16),
        ctx,
        vcpu: &mut d.vcpu,
        guest: &ArchGuest,
        line: &mut d.line,
        entry_len,
        events: super::events::events(),
        hv: &mut hv.core,
    };
    call.dispatch(nr)
}
