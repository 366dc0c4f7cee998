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
//! `HVM_PARAM_CALLBACK_IRQ` vector or its per-vCPU vector
//! ([`crate::hvm::upcall`]).
//!
//! * [`build`]: the domain built from its boot module.
//! * [`frames`]: the hypervisor frames it holds (hardware, nested tables,
//!   p2m storage).
//! * [`slice`]: the run loop of one slice, VMRUN to VMRUN.
//! * [`exits`]: what each VM exit does.
//! * [`teardown`]: its end-of-run figures and its frames given back.
//!
//! Here: the vCPU state kept between slices and the CPU's ASID pool.

mod build;
mod exits;
mod frames;
mod slice;
mod teardown;

pub use build::build_domain;
pub use slice::run_slice;
pub use teardown::release;

use super::shadow::ShadowVcpu;
use super::vmrun::{Gprs, HostState, VmcbFrame};
use crate::console::LineBuf;
use crate::domain::config::DomainConfig;
use crate::hvm::asid::{AsidPool, VcpuAsid};
use crate::hvm::caps::SvmCaps;
use crate::hvm::exit_count::ExitCounts;
use crate::hvm::policy::Paging;
use crate::hvm::pvh_call::HvmParams;
use crate::p2m::P2m;
use crate::sched::{RunState, MAX_DOMAINS};
use abi::{DomId, Gfn, Mfn};
use frames::{Frames, Npt, P2mStore};

/// CPU time a PVH domain may use when its module line sets no `timeout=`.
pub const DEFAULT_TIMEOUT_S: u64 = 60;

/// Whether a module line asks for a PVH domain.
pub fn wanted(cmdline: &str) -> bool {
    DomainConfig::parse(cmdline, &mut []).is_ok_and(|(c, _)| c.pvh)
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
    /// Its upcall vector, registered areas and requests from its
    /// hypercalls ([`crate::hvm::pvh_vcpu`]).
    hvcpu: crate::hvm::pvh_vcpu::HvmVcpu,
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

/// The slot whose slice runs (its vCPU is borrowed by the run loop), or
/// `usize::MAX`.
static mut RUNNING: usize = usize::MAX;

/// Marks slot `i` as running a slice until dropped.
pub(super) struct Running;

impl Running {
    pub(super) fn enter(i: usize) -> Running {
        // SAFETY: one CPU, interrupts off in the hypervisor; a plain flag.
        unsafe { RUNNING = i };
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: as in `enter`.
        unsafe { RUNNING = usize::MAX };
    }
}

/// What guest frame `gfn` of PVH domain `dom` maps to, for the grant
/// core's translated granters ([`crate::mm::MmHooks::p2m_entry`]). The
/// domain whose slice runs is not looked at: its vCPU is borrowed, and the
/// grant core is handed its p2m directly.
pub fn p2m_entry(dom: DomId, gfn: Gfn) -> Option<crate::p2m::P2mEntry> {
    let i = dom.0 as usize;
    // SAFETY: as in `enter`.
    if unsafe { RUNNING } == i {
        return None;
    }
    let p = slot(i)?;
    p.p2m.in_range(gfn, 1).then(|| p.p2m.get(gfn)).flatten().map(|(e, _)| e)
}

/// General references the live PVH domains' p2m entries hold, for the
/// invariant checker: a RAM entry's frame is found through the M2P; the
/// grant entries (another domain's frames) are collected once.
pub struct P2mHeld<'m>(pub &'m [u64], alloc::collections::BTreeMap<u64, u64>);

impl<'m> P2mHeld<'m> {
    /// The references as they stand, `m2p` being the machine's M2P.
    pub fn new(m2p: &'m [u64]) -> P2mHeld<'m> {
        let mut grants = alloc::collections::BTreeMap::new();
        for p in (0..MAX_DOMAINS).filter_map(slot) {
            for (_, e) in p.p2m.entries().filter(|(_, e)| e.ty == crate::p2m::P2mType::Grant) {
                *grants.entry(e.mfn.0).or_insert(0) += 1;
            }
        }
        P2mHeld(m2p, grants)
    }
}

impl crate::mm::check::ExternalRefs for P2mHeld<'_> {
    fn refs(&self, mfn: Mfn) -> (u64, u64) {
        let granted = self.1.get(&mfn.0).copied().unwrap_or(0);
        let Some(&gfn) = self.0.get(mfn.0 as usize) else { return (granted, 0) };
        let held = (0..MAX_DOMAINS).filter_map(slot).any(|p| {
            let g = Gfn(gfn);
            p.p2m.in_range(g, 1) && p.p2m.get(g).is_some_and(|(e, _)| e.mfn == mfn && e.ty == crate::p2m::P2mType::Ram)
        });
        (u64::from(held) + granted, 0)
    }
    fn foreign_map_allowed(&self, _: DomId, _: Mfn) -> bool {
        false
    }
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
