//! The end of a PVH domain: its end-of-run figures logged (VM exits,
//! upcalls, `make modes`' walk references, shadow paging's counts), then
//! its p2m references, shadows, nested tables and hardware frames given
//! back before the memory model's teardown takes its RAM.

use super::PVH;
use crate::arch::x86_64::paging::DirectMap;
use crate::arch::x86_64::run::Hypervisor;
use crate::hvm::exit_count::ExitKind;
use crate::hvm::policy::Paging;
use abi::{DomId, Gfn, Mfn};

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
