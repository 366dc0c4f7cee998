//! PVH domains from boot modules (`type=pvh` on the module line), run
//! under SVM with nested paging, or with shadow paging (`paging=shadow`,
//! [`super::shadow`]): built by the pure
//! [`crate::hvm::pvh_build`] into a p2m of the domain's own RAM (frames of
//! the memory model, counted as the domain's), the NPT built from that
//! p2m, then entered at the PHYS32 entry. Hypercalls go to
//! [`crate::hvm::pvh_call`]; the other exits are decoded by
//! [`crate::hvm::exit`] and handled as [`crate::hvm::policy`] says.
//!
//! A PVH domain is a domain of the scheduler like any PV one
//! ([`crate::sched::Domain`] with `pvh` set): [`run_slice`] runs its vCPU
//! from its VMCB, which keeps its state between slices, until the
//! scheduler's tick (an INTR exit with the timer interrupt) says its slice
//! is over, or it yields, blocks (HLT with interrupts on, or
//! `SCHEDOP_block`) or ends; the run loop then picks the next domain by the
//! same policy ([`crate::scheduler`]). Its `timeout=` (default
//! [`DEFAULT_TIMEOUT_S`] s of CPU time) is the scheduler's CPU limit, so a
//! spinning guest cannot keep the machine. Its event channels are the
//! shared core's, and an upcall is injected through EVENTINJ on its
//! `HVM_PARAM_CALLBACK_IRQ` vector ([`crate::hvm::upcall`]).

use super::super::guest_time::{clock_refined, rearm, time_event, time_switched_in};
use super::super::hooks::{ArchHooks, PENDING_TIMER};
use super::super::paging::DirectMap;
use super::super::run::{console_keys, d_mut, switch_fpu, Hypervisor};
use super::super::{cpu, timer};
use super::shadow::{self, ShadowVcpu};
use super::vmrun::{Gprs, HostState, VmcbFrame};
use crate::console::LineBuf;
use crate::domain::config::DomainConfig;
use crate::domain::elf::Elf;
use crate::domain::hypercall_page::hvm_hypercall_page;
use crate::domain::notes::XenNotes;
use crate::hvm::asid::{AsidPool, TlbFlush, VcpuAsid};
use crate::hvm::caps::SvmCaps;
use crate::hvm::exit::decode;
use crate::hvm::exit_count::{ExitCounts, ExitKind, EXIT_COUNT_LEAF};
use crate::hvm::gmem::{write_phys, GuestPaging};
use crate::hvm::policy::{npf_action, policy, Action, Paging};
use crate::hvm::pvh_build::{self, PvhLayout};
use crate::hvm::pvh_call::{args, HvmParams, NptSync, Outcome, PvhCall};
use crate::hvm::pvh_entry::{pvh_entry, vmrun_check};
use crate::hvm::pvh_platform::{self, MsrAction, PASSTHROUGH_MSRS};
use crate::hvm::shadow_cr::{decode_mov_cr, invlpg_len, CrEffect};
use crate::hvm::shadow_fault::{inject_pf, PfAction, EXIT_INT_INFO_VALID};
use crate::hvm::upcall::{self, Hlt, Upcall};
use crate::hvm::vmcb::tlb_control;
use crate::hvm::vmcb::VmcbSave;
use crate::mm::teardown::Teardown;
use crate::mm::{DomainMm, FrameAllocator, Mm, PhysAddr, PhysMemory};
use crate::p2m::npt::{self, TableFrames};
use crate::p2m::{Order, P2m, P2mEntry};
use crate::sched::{Domain, RunState, MAX_DOMAINS};
use abi::{DomId, Errno, Gfn, Mfn};
use alloc::vec::Vec;

/// CPU time a PVH domain may use when its module line sets no `timeout=`.
pub const DEFAULT_TIMEOUT_S: u64 = 60;
/// Frames of the I/O permission map (12 KiB) and the MSR map (8 KiB).
const IOPM_FRAMES: u64 = 3;
const MSRPM_FRAMES: u64 = 2;
/// #GP as EVENTINJ: vector 13, exception, error code (0) valid, valid.
const INJECT_GP: u64 = 13 | (3 << 8) | (1 << 11) | (1 << 31);
/// VMCB V_INTR_MASKING (int_ctl bit 24): the guest's IF masks only
/// virtual interrupts; physical ones follow the host's IF.
const V_INTR_MASKING: u32 = 1 << 24;
/// EFER.LMA.
const EFER_LMA: u64 = 1 << 10;

/// Whether a module line asks for a PVH domain.
pub fn wanted(cmdline: &str) -> bool {
    DomainConfig::parse(cmdline, &mut []).is_ok_and(|(c, _)| c.pvh)
}

/// The hypervisor's frames one PVH domain uses (nested tables, VMCB,
/// permission maps, host state), freed when it is gone.
struct Frames(Vec<Mfn>);

impl Frames {
    fn take(&mut self, alloc: &mut FrameAllocator) -> Option<Mfn> {
        let m = alloc.alloc_zeroed(&mut DirectMap)?;
        self.0.push(m);
        Some(m)
    }

    fn free_all(&mut self, alloc: &mut FrameAllocator) {
        for m in self.0.drain(..) {
            alloc.free(m, &mut DirectMap);
        }
    }
}

/// Table frames for the first build, from the allocator.
struct BuildFrames<'f> {
    frames: &'f mut Frames,
    alloc: &'f mut FrameAllocator,
}

impl TableFrames for BuildFrames<'_> {
    fn alloc_table(&mut self) -> Option<Mfn> {
        self.frames.take(self.alloc)
    }
}

/// The nested tables of the running domain, kept in step with its p2m.
struct Npt {
    root: Mfn,
    frames: Frames,
    flush: bool,
}

impl NptSync<DirectMap, ArchHooks> for Npt {
    fn changed(
        &mut self,
        p2m: &P2m<'_>,
        mm: &mut Mm<'_, DirectMap, ArchHooks>,
        gfn: Gfn,
        order: Order,
    ) -> Result<(), Errno> {
        let mut f = BuildFrames { frames: &mut self.frames, alloc: &mut mm.hooks.frames };
        let r = npt::update(p2m, &mut DirectMap, &mut f, self.root, gfn, order);
        // Flushed at the next VMRUN, before the guest runs again: a frame
        // it gave back cannot be reached through a stale translation.
        self.flush = true;
        r
    }
}

/// A p2m's storage (one slot per guest frame, one flag per 2 MiB chunk)
/// in contiguous frames of the hypervisor's, not on its small heap: a
/// domain's `maxmem=` decides its size, and a size the allocator cannot
/// give refuses the domain rather than failing a heap allocation.
struct P2mStore {
    first: Mfn,
    frames: u64,
}

impl P2mStore {
    const SLOT: u64 = core::mem::size_of::<Option<P2mEntry>>() as u64;

    /// The storage for `gfns` guest frames, and its slots and flags, all
    /// empty (handed out once, here).
    #[allow(clippy::type_complexity)]
    fn new(
        alloc: &mut FrameAllocator,
        gfns: u64,
    ) -> Option<(P2mStore, &'static mut [Option<P2mEntry>], &'static mut [bool])> {
        let bytes = gfns.checked_mul(Self::SLOT)?.checked_add(gfns / 512)?;
        let frames = bytes.div_ceil(4096);
        let first = alloc.alloc_contiguous(frames)?;
        let base = super::super::paging::DIRECT_MAP_BASE + first.to_maddr();
        let flags = base + gfns * Self::SLOT;
        // SAFETY: the frames were just taken from the allocator and are
        // this store's alone, in the direct map (frame aligned, so the slot
        // array is aligned; the flags follow it). Every slot and flag is
        // written before the slices are made, and the slices are the only
        // references to the storage: they go with the p2m made from them,
        // before the caller gives the frames back through `free`.
        unsafe {
            for i in 0..gfns as usize {
                (base as *mut Option<P2mEntry>).add(i).write(None);
            }
            core::ptr::write_bytes(flags as *mut bool, 0, (gfns / 512) as usize);
            Some((
                P2mStore { first, frames },
                core::slice::from_raw_parts_mut(base as *mut Option<P2mEntry>, gfns as usize),
                core::slice::from_raw_parts_mut(flags as *mut bool, (gfns / 512) as usize),
            ))
        }
    }

    fn free(self, alloc: &mut FrameAllocator) {
        for i in 0..self.frames {
            alloc.free(Mfn(self.first.0 + i), &mut DirectMap);
        }
    }
}

fn fail(index: usize, what: &dyn core::fmt::Display) {
    log::error!("domain {index}: refused: {what}; skipping it");
}

/// One PVH domain's vCPU and memory as the hardware sees them, kept
/// between its slices: its VMCB (the guest's state while it does not
/// run), the GPRs VMRUN does not switch, its p2m and nested tables, its
/// shadow paging, its ASID and HVM parameters.
struct PvhVcpu {
    caps: SvmCaps,
    p2m: P2m<'static>,
    store: Option<P2mStore>,
    npt: Npt,
    hw: Frames,
    host: HostState,
    vmcb: VmcbFrame,
    gprs: Gprs,
    sv: Option<ShadowVcpu>,
    asid: VcpuAsid,
    params: HvmParams,
    line: LineBuf,
    paging: Paging,
    timeout_s: u64,
    /// VM exits by kind, which the guest may read (`make modes`).
    counts: ExitCounts,
    /// Upcalls injected.
    upcalls: u64,
    /// Interrupt windows that opened for a held upcall (VINTR exits).
    windows: u64,
}

/// Every PVH domain's vCPU, by domain slot.
static mut PVH: [Option<PvhVcpu>; MAX_DOMAINS] = [const { None }; MAX_DOMAINS];
/// The CPU's ASIDs, shared by every PVH vCPU (one ASID per vCPU per
/// generation: two domains never share one).
static mut ASIDS: Option<AsidPool> = None;

fn slot(i: usize) -> Option<&'static mut PvhVcpu> {
    // SAFETY: one CPU, interrupts off in the hypervisor, and only the run
    // loop (or boot code before guests run) calls this, as for
    // `run::domains`; no caller keeps the reference past its own use.
    unsafe { (*core::ptr::addr_of_mut!(PVH)).get_mut(i)?.as_mut() }
}

fn asids(caps: &SvmCaps) -> &'static mut AsidPool {
    // SAFETY: as in `slot`.
    unsafe { (*core::ptr::addr_of_mut!(ASIDS)).get_or_insert_with(|| AsidPool::new(caps.asids.max(2))) }
}

/// Whether slot `i` holds a PVH domain's vCPU.
pub fn is_pvh(i: usize) -> bool {
    slot(i).is_some()
}

/// General references the live PVH domains' p2m entries hold, for the
/// invariant checker: a RAM entry's frame is found through the M2P.
pub struct P2mHeld<'m>(pub &'m [u64]);

impl crate::mm::check::ExternalRefs for P2mHeld<'_> {
    fn refs(&self, mfn: Mfn) -> (u64, u64) {
        let Some(&gfn) = self.0.get(mfn.0 as usize) else { return (0, 0) };
        let held = (0..MAX_DOMAINS).filter_map(slot).any(|p| {
            let g = Gfn(gfn);
            p.p2m.in_range(g, 1) && p.p2m.get(g).is_some_and(|(e, _)| e.mfn == mfn && e.ty.holds_reference())
        });
        (u64::from(held), 0)
    }
    fn foreign_map_allowed(&self, _: DomId, _: Mfn) -> bool {
        false
    }
}

/// Builds the PVH domain of module `index` into slot `index` (a domain of
/// the scheduler, runnable). Returns false if it was refused (logged).
pub fn build_domain(hv: &mut Hypervisor, index: usize, bytes: &[u8], cmdline: &str) -> bool {
    let Some(caps) = super::ready() else {
        fail(index, &"a PVH domain needs SVM with nested paging");
        return false;
    };
    let mut guest_cmdline = [0u8; 1024];
    let (cfg, cmd_len) = match DomainConfig::parse(cmdline, &mut guest_cmdline) {
        Ok(c) => c,
        Err(e) => {
            fail(index, &e);
            return false;
        }
    };
    let (elf, layout) = match Elf::parse(bytes).map_err(|e| alloc::format!("{e}")).and_then(|elf| {
        let notes = XenNotes::read(&elf).map_err(|e| alloc::format!("{e}"))?;
        let l = PvhLayout::plan(&elf, &notes, cfg.mem).map_err(|e| alloc::format!("{e}"))?;
        Ok((elf, l))
    }) {
        Ok(x) => x,
        Err(e) => {
            fail(index, &e);
            return false;
        }
    };
    let dom = DomId(index as u16);
    let default_name = alloc::format!("dom{index}");
    let name = cfg.name.unwrap_or(&default_name);
    // The p2m covers maxmem (the balloon may populate up to it), in whole
    // 2 MiB chunks.
    let gfns = (cfg.maxmem.max(cfg.mem) / 4096).div_ceil(512) * 512;
    let Some((store, slots, supers)) = P2mStore::new(&mut hv.mm.hooks.frames, gfns) else {
        fail(index, &"not enough memory for its p2m");
        return false;
    };
    // Its shared_info: a hypervisor frame lent to it (as a PV domain's),
    // placed in its physmap by XENMEM_add_to_physmap.
    let Some(si) = hv.mm.hooks.frames.alloc_zeroed(&mut DirectMap) else {
        store.free(&mut hv.mm.hooks.frames);
        fail(index, &"not enough memory for its shared_info");
        return false;
    };
    let mut p2m = P2m::new(dom, slots, supers);
    hv.mm.domains[index] = DomainMm::new(dom, cfg.maxmem / 4096);
    let mut hw = Frames(Vec::new());
    let paging = if cfg.shadow { Paging::Shadow } else { Paging::Nested };
    let vcpu = match build(hv, &mut p2m, &mut hw, &elf, &layout, &guest_cmdline[..cmd_len]) {
        Ok(root) => {
            let npt = Npt { root, frames: Frames(Vec::new()), flush: false };
            new_vcpu(hv, caps, p2m, npt, hw, &layout, paging).ok_or(Errno::ENOMEM)
        }
        Err(e) => {
            p2m.clear(&mut hv.mm);
            hw.free_all(&mut hv.mm.hooks.frames);
            Err(e)
        }
    };
    let mut vcpu = match vcpu {
        Ok(v) => v,
        Err(e) => {
            // What was taken goes back (the p2m's references went first).
            let _ = Teardown::new(&hv.mm, dom).run(&mut hv.mm);
            hv.mm.hooks.frames.free(si, &mut DirectMap);
            store.free(&mut hv.mm.hooks.frames);
            fail(index, &format_args!("building the PVH domain failed ({e:?})"));
            return false;
        }
    };
    vcpu.store = Some(store);
    vcpu.timeout_s = if cfg.timeout == 0 { DEFAULT_TIMEOUT_S } else { cfg.timeout };
    hv.mm.assign_xen_heap_frame(si, dom);
    crate::time::info::publish_wallclock(&mut DirectMap, PhysAddr(si.to_maddr()), hv.host.wallclock);
    let mut d = Domain::pvh(dom, name, si);
    d.max_cpu_ns = vcpu.timeout_s.saturating_mul(1_000_000_000);
    d.vcpu.set_vcpu_info_location(PhysAddr(si.to_maddr()));
    super::super::run::domains()[index] = Some(d);
    super::super::events::events().create_domain(dom, si, false);
    log::info!(
        "domain {index} ({name}): PVH, {} MiB, entry {:#x}, start info {:#x}, N_CR3 {:#x}",
        cfg.mem >> 20,
        layout.entry,
        layout.start_info,
        vcpu.npt.root.to_maddr()
    );
    // SAFETY: as in `slot`.
    unsafe { (*core::ptr::addr_of_mut!(PVH))[index] = Some(vcpu) };
    true
}

/// The VMCB and its maps, the start state, shadow paging if asked.
fn new_vcpu(
    hv: &mut Hypervisor,
    caps: SvmCaps,
    p2m: P2m<'static>,
    npt: Npt,
    mut hw: Frames,
    layout: &PvhLayout,
    paging: Paging,
) -> Option<PvhVcpu> {
    let maps = permission_maps(&mut hw, &mut hv.mm.hooks.frames);
    let alloc = &mut hv.mm.hooks.frames;
    let (Some((iopm, msrpm)), Some(host), Some(vmcb)) = (maps, hw.take(alloc), hw.take(alloc)) else {
        let mut p2m = p2m;
        let mut npt = npt;
        p2m.clear(&mut hv.mm);
        hw.free_all(&mut hv.mm.hooks.frames);
        npt.frames.free_all(&mut hv.mm.hooks.frames);
        return None;
    };
    let host = HostState::new(host);
    let mut vmcb = VmcbFrame::new(vmcb);
    let mut gprs = Gprs::default();
    {
        let v = vmcb.vmcb();
        v.control.set_pvh_intercepts(paging);
        v.control.iopm_base_pa = iopm.to_maddr();
        v.control.msrpm_base_pa = msrpm.to_maddr();
        v.control.nested_cr3 = npt.root.to_maddr();
        v.control.int_ctl |= V_INTR_MASKING;
        gprs.0[3] = pvh_entry(&mut v.save, layout.entry, layout.start_info);
    }
    // Shadow paging: the guest's own CRs kept apart, the real ones the
    // hypervisor's; it starts on the identity map of its p2m (the NPT
    // image, which the balloon keeps in step).
    let sv = (paging == Paging::Shadow).then(|| ShadowVcpu::new(&vmcb.vmcb().save, npt.root));
    if let Some(sv) = &sv {
        sv.apply(&mut vmcb.vmcb().save);
    }
    Some(PvhVcpu {
        caps,
        p2m,
        store: None,
        npt,
        hw,
        host,
        vmcb,
        gprs,
        sv,
        asid: VcpuAsid::default(),
        params: HvmParams::default(),
        line: LineBuf::new(),
        paging,
        timeout_s: DEFAULT_TIMEOUT_S,
        counts: ExitCounts::default(),
        upcalls: 0,
        windows: 0,
    })
}

/// RAM, image, start info and the nested tables; returns N_CR3.
fn build(
    hv: &mut Hypervisor,
    p2m: &mut P2m<'_>,
    hw: &mut Frames,
    elf: &Elf<'_>,
    layout: &PvhLayout,
    cmdline: &[u8],
) -> Result<Mfn, Errno> {
    pvh_build::populate(p2m, &mut hv.mm, layout)?;
    pvh_build::load(p2m, &mut DirectMap, elf, layout, cmdline)?;
    let mut f = BuildFrames { frames: hw, alloc: &mut hv.mm.hooks.frames };
    npt::build(p2m, &mut DirectMap, &mut f)
}

/// The permission maps: every port intercepted; every MSR but the VMCB's
/// own state intercepted.
fn permission_maps(hw: &mut Frames, alloc: &mut FrameAllocator) -> Option<(Mfn, Mfn)> {
    let iopm = alloc.alloc_contiguous(IOPM_FRAMES)?;
    let Some(msrpm) = alloc.alloc_contiguous(MSRPM_FRAMES) else {
        (0..IOPM_FRAMES).for_each(|i| alloc.free(Mfn(iopm.0 + i), &mut DirectMap));
        return None;
    };
    hw.0.extend((0..IOPM_FRAMES).map(|i| Mfn(iopm.0 + i)));
    hw.0.extend((0..MSRPM_FRAMES).map(|i| Mfn(msrpm.0 + i)));
    for (base, n) in [(iopm, IOPM_FRAMES), (msrpm, MSRPM_FRAMES)] {
        for w in 0..n * 512 {
            DirectMap.write_u64(PhysAddr(base.to_maddr() + w * 8), u64::MAX);
        }
    }
    for msr in PASSTHROUGH_MSRS {
        if let Some(bit) = pvh_platform::msrpm_read_bit(msr) {
            let word = PhysAddr(msrpm.to_maddr() + u64::from(bit / 64) * 8);
            let mask = 3u64 << (bit % 64);
            DirectMap.write_u64(word, DirectMap.read_u64(word) & !mask);
        }
    }
    Some((iopm, msrpm))
}

/// How a PVH domain's slice ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SliceEnd {
    /// Its slice is over, or it yielded: runnable.
    Yield,
    /// It waits for an event or its timer.
    Block,
    /// It shut down or was crashed (logged).
    Ended(RunState),
}

/// Whether vcpu_info's `evtchn_upcall_pending` is set for domain `i`.
fn upcall_pending(i: usize) -> bool {
    let vi = d_mut(i).vcpu.vcpu_info_location();
    DirectMap.read_u64(vi) & 0xFF != 0
}

/// Runs PVH domain `i` (its slot holds a vCPU) from its VMCB until it
/// must give the CPU back: the scheduler's verdict on a timer interrupt,
/// a yield, a block, or its end.
pub fn run_slice(hv: &mut Hypervisor, i: usize) -> SliceEnd {
    let Some(p) = slot(i) else { return SliceEnd::Ended(RunState::Crashed) };
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
    super::super::events::set_current(i);
    time_switched_in(hv, i);
    let dom = DomId(i as u16);
    let crashed = |why: &dyn core::fmt::Display, rip: u64| {
        log::warn!("domain {i} crashed: {why} at rip {rip:#x}; the hypervisor runs on");
        SliceEnd::Ended(RunState::Crashed)
    };
    loop {
        // Before every VMRUN: a due TSC refinement as the PV entries do it,
        // the timer re-armed (an interrupt taken in the host right after
        // an exit that was not its own was only acknowledged), and a due
        // upcall injected.
        if let Some(clock) = timer::refine_due() {
            clock_refined(hv, clock, false);
        }
        rearm(i, timer::now());
        let pending = upcall_pending(i);
        let callback = p.params.0[abi::hvm::param::CALLBACK_IRQ as usize];
        let v = p.vmcb.vmcb();
        // Held (IF clear, a shadow, an event in flight): the interrupt
        // window makes the guest exit as soon as it can take it.
        match upcall::decide(callback, pending, v.save.rflags, v.control.int_state, v.control.event_inj) {
            Upcall::Inject(e) => {
                v.control.event_inj = e;
                v.control.interrupt_window(false);
                p.upcalls += 1;
            }
            Upcall::Held => v.control.interrupt_window(true),
            Upcall::None => v.control.interrupt_window(false),
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
        match action {
            Action::Hypercall { insn_len } => {
                let long = v.save.efer & EFER_LMA != 0 && v.save.cs.attrib & crate::hvm::pvh_entry::attrib::L != 0;
                let nr = if long { v.save.rax } else { v.save.rax & 0xFFFF_FFFF };
                v.save.rip += u64::from(insn_len);
                if v.save.cpl != 0 {
                    // Xen: hypercalls from user mode are -EPERM.
                    v.save.rax = (-i64::from(Errno::EPERM.0)) as u64;
                    continue;
                }
                let paging = match &p.sv {
                    Some(s) => s.guest_paging(),
                    None => GuestPaging::of(v.save.cr0, v.save.cr3, v.save.cr4, v.save.efer),
                };
                let a = args(&p.gprs.0, long);
                let (mm, console) = (&mut hv.mm, &mut hv.console);
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
                    events: super::super::events::events(),
                    vcpu: &mut d_mut(i).vcpu,
                    now: timer::now(),
                };
                let (ret, outcome) = call.dispatch(nr, a);
                // The p2m changed under the shadows (the NPT image, the
                // identity map, was updated and asked for a flush).
                if let (Some(s), true) = (p.sv.as_mut(), p.npt.flush) {
                    s.p2m_changed(&p.p2m, &mut hv.mm.hooks.frames);
                }
                // An event sent to a blocked domain wakes it (it preempts
                // this one at the rate limit's end, as for PV).
                if super::super::events::events().kicked() {
                    super::super::events::wake_kicked();
                }
                let v = p.vmcb.vmcb();
                v.save.rax = ret;
                match outcome {
                    Outcome::Continue => {}
                    Outcome::Yield => return SliceEnd::Yield,
                    // Not with an event already pending (Xen's do_block).
                    Outcome::Block if upcall_pending(i) => {}
                    Outcome::Block => return SliceEnd::Block,
                    Outcome::Shutdown(reason) => {
                        log::info!("domain {i}: shut down ({})", crate::sched::reason_name(reason));
                        return SliceEnd::Ended(RunState::Shutdown(reason));
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
                    pvh_platform::cpuid(leaf, [h.eax, h.ebx, h.ecx, h.edx], (4, 17))
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
            Action::Block { insn_len } => match upcall::hlt(callback, upcall_pending(i), v.save.rflags) {
                Hlt::Dead => return crashed(&"HLT with interrupts off (nothing can wake it)", rip),
                h => {
                    // Past the HLT, out of any STI shadow it sat in (Xen's
                    // `__update_guest_eip`).
                    v.save.rip += u64::from(insn_len);
                    v.control.int_state &= !1;
                    if h == Hlt::Block {
                        return SliceEnd::Block;
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
                hv.mm.hooks.pending &= !PENDING_TIMER;
                match act {
                    crate::hypercall::Action::Crash(_) => {
                        return crashed(&format_args!("ran past its {} s timeout", p.timeout_s), rip)
                    }
                    crate::hypercall::Action::Yield => return SliceEnd::Yield,
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
                        if let Err(why) =
                            s.emulate_write(&p.p2m, alloc, &mut v.save, &mut p.gprs, &code[..n], va, target)
                        {
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
    }
}

/// PVH domain `i` ended: its end-of-run figures are logged, then its p2m
/// references, nested tables, shadows and hardware frames go, before the
/// memory model's teardown takes its RAM back. Nothing for a PV domain.
pub fn release(hv: &mut Hypervisor, i: usize) {
    // SAFETY: as in `slot`.
    let Some(mut p) = (unsafe { (*core::ptr::addr_of_mut!(PVH))[i].take() }) else { return };
    let k = |kind| p.counts.get(kind);
    let (h, c, m, io, npf) =
        (k(ExitKind::Vmmcall), k(ExitKind::Cpuid), k(ExitKind::Msr), k(ExitKind::Io), k(ExitKind::Npf));
    let other = p.counts.total() - h - c - m - io - npf;
    log::info!(
        "domain {i}: {} VM exits: {h} hypercalls, {c} CPUID, {m} MSR, {io} I/O, {npf} nested faults, {other} other",
        p.counts.total()
    );
    if p.upcalls > 0 {
        log::info!(
            "domain {i}: {} event upcalls injected on its callback vector, {} after an interrupt window",
            p.upcalls,
            p.windows
        );
    }
    // `make modes`' walk references per TLB miss: the pure counter replays
    // the tables a hardware walk would read for every page of the
    // workload's walk (guest-kernel's: 4 MiB up, at -2 GiB), as they stand.
    let (walk_va, pages) = crate::hvm::walk::MODES_WALK;
    let cr3 = p.vmcb.vmcb().save.cr3;
    let (paging, npt_root) = (p.paging, p.npt.root);
    let refs = crate::hvm::walk::over_range(walk_va, pages, |va| match paging {
        Paging::Shadow => crate::hvm::walk::replay_one_d(&DirectMap, Mfn(cr3 >> 12), va),
        Paging::Nested => crate::hvm::walk::replay_two_d(&DirectMap, npt_root, Gfn(cr3 >> 12), va),
    });
    log::info!("domain {i}: walk refs per TLB miss at {walk_va:#x} over {pages} pages: {refs} ({paging:?})");
    if let Some(s) = p.sv.as_mut() {
        let c = &s.counts;
        log::info!(
            "domain {i}: shadow paging: {} faults fixed, {} reflected, {} page-table writes emulated, {} CR accesses, \
             {} INVLPG, {} root switches ({} from the cache), {} p2m changes (shadows dropped), {} shadows at the end",
            c.fixed,
            c.reflected,
            c.emulated,
            c.cr,
            c.invlpg,
            c.roots,
            c.cached_roots,
            c.blown,
            s.live()
        );
        s.teardown(&mut hv.mm.hooks.frames);
    }
    let dom = DomId(i as u16);
    p.line.flush(&mut |b: &[u8]| crate::hypercall::ConsoleSink::write(&mut hv.console, dom, b));
    p.p2m.clear(&mut hv.mm);
    p.npt.frames.free_all(&mut hv.mm.hooks.frames);
    p.hw.free_all(&mut hv.mm.hooks.frames);
    if let Some(store) = p.store.take() {
        store.free(&mut hv.mm.hooks.frames);
    }
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
