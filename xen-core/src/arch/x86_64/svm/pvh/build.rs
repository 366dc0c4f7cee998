//! Building a PVH domain from its boot module: the module line parsed,
//! the image planned and loaded into a p2m of the domain's own RAM by the
//! pure [`crate::hvm::pvh_build`], the nested tables built from that p2m,
//! the VMCB and its permission maps set up for the PHYS32 entry, and the
//! domain handed to the scheduler. A refusal is logged and gives back
//! everything taken.

use super::super::shadow::ShadowVcpu;
use super::super::vmrun::{Gprs, HostState, VmcbFrame};
use super::frames::{BuildFrames, Frames, Npt, P2mStore};
use super::{PvhVcpu, DEFAULT_TIMEOUT_S, PVH};
use crate::arch::x86_64::paging::DirectMap;
use crate::arch::x86_64::run::Hypervisor;
use crate::console::LineBuf;
use crate::domain::config::DomainConfig;
use crate::domain::elf::Elf;
use crate::domain::notes::XenNotes;
use crate::hvm::asid::VcpuAsid;
use crate::hvm::caps::SvmCaps;
use crate::hvm::exit_count::ExitCounts;
use crate::hvm::policy::Paging;
use crate::hvm::pvh_build::{self, PvhLayout};
use crate::hvm::pvh_call::HvmParams;
use crate::hvm::pvh_entry::pvh_entry;
use crate::hvm::pvh_platform::{self, PASSTHROUGH_MSRS};
use crate::mm::teardown::Teardown;
use crate::mm::{DomainMm, FrameAllocator, PhysAddr, PhysMemory};
use crate::p2m::npt;
use crate::p2m::P2m;
use crate::sched::Domain;
use abi::{DomId, Errno, Mfn};
use alloc::vec::Vec;

/// Frames of the I/O permission map (12 KiB) and the MSR map (8 KiB).
const IOPM_FRAMES: u64 = 3;
const MSRPM_FRAMES: u64 = 2;
/// VMCB V_INTR_MASKING (int_ctl bit 24): the guest's IF masks only
/// virtual interrupts; physical ones follow the host's IF.
const V_INTR_MASKING: u32 = 1 << 24;

fn fail(index: usize, what: &dyn core::fmt::Display) {
    log::error!("domain {index}: refused: {what}; skipping it");
}

/// Builds the PVH domain of module `index` into slot `index` (a domain of
/// the scheduler, runnable). Returns false if it was refused (logged).
pub fn build_domain(hv: &mut Hypervisor, index: usize, bytes: &[u8], cmdline: &str) -> bool {
    let Some(caps) = super::super::ready() else {
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
    crate::arch::x86_64::run::domains()[index] = Some(d);
    crate::arch::x86_64::events::events().create_domain(dom, si, false);
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
        hvcpu: Default::default(),
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
