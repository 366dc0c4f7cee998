//! Building the domains from the boot modules and starting the first one.

use super::boot_vector::{BootMem, BootVector};
use super::ending::finish;
use super::invariants::DebugCheck;
use super::paging::{DirectMap, DIRECT_MAP_BASE};
use super::run::{domains, flush_all, state_init, switch_to, to_frame, Hypervisor};
use super::unpack::unpack;
use super::{
    cpu, entry,
    hooks::{ArchHooks, Console},
    qemu,
};
use crate::boot::BootDescription;
use crate::domain::builder;
use crate::domain::config::DomainConfig;
use crate::domain::elf::Elf;
use crate::domain::layout::Layout;
use crate::domain::modules::{plan, DomainModules};
use crate::domain::notes::{KernelImage, XenNotes};
use crate::domain::vcpu::Vcpu;
use crate::hypercall::HostInfo;
use crate::mm::hv_map::{HvMapper, Rights};
use crate::mm::refusal::Refusals;
use crate::mm::teardown::Teardown;
use crate::mm::{DomainMm, FrameAllocator, Mm, PageInfo, PhysAddr, PhysMemory, PhysRange, TlbClock};
use crate::sched::{Domain, RunState, MAX_DOMAINS};
use crate::util::FixedVec;
use abi::start_info::{SIF_INITDOMAIN, SIF_PRIVILEGED};
use abi::{DomId, Mfn};
use alloc::boxed::Box;

/// Allocates the frame table and M2P for every frame below `max_pfn`,
/// filled with the boot's vector stores (a free frame's `PageInfo` in each
/// 16 bytes; zero): 2.5 MiB for 512 MiB of RAM, 664 K instructions under
/// -icount one entry or `rep stosq` word at a time.
fn frame_table(
    frames: &mut FrameAllocator,
    max_pfn: u64,
    boot: &BootVector,
) -> Option<(&'static mut [PageInfo], &'static mut [u64])> {
    let ft_frames = (max_pfn * 16).div_ceil(4096);
    let m2p_frames = (max_pfn * 8).div_ceil(4096);
    let ft = frames.alloc_contiguous(ft_frames)?;
    let m2p = frames.alloc_contiguous(m2p_frames)?;
    boot.zero_frames(m2p, m2p_frames);
    boot.fill_frames(ft, ft_frames, PageInfo::default().to_words());
    // SAFETY: the frames were just taken from the allocator and nothing
    // else will use them; every byte of the frame table was written with
    // `PageInfo::default()`'s words before the slice is made (checked at
    // both ends below: the words follow the struct's `repr(C)` layout),
    // and an all-zero u64 is a valid M2P entry.
    let (ft, m2p) = unsafe {
        let base = (DIRECT_MAP_BASE + ft.to_maddr()) as *mut PageInfo;
        let ft = core::slice::from_raw_parts_mut(base, max_pfn as usize);
        let m2p = core::slice::from_raw_parts_mut((DIRECT_MAP_BASE + m2p.to_maddr()) as *mut u64, max_pfn as usize);
        (ft, m2p)
    };
    if ft.first().is_some_and(|p| *p != PageInfo::default()) || ft.last().is_some_and(|p| *p != PageInfo::default()) {
        log::error!("the frame table's fill pattern is not a free frame's PageInfo");
        return None;
    }
    Some((ft, m2p))
}

/// Builds a domain per module and runs them. Never returns.
pub fn run_domains(
    desc: &BootDescription<'_>,
    mut frames: FrameAllocator,
    all_poweroff_required: bool,
    check_every: u64,
    boot: BootVector,
) -> ! {
    let max_pfn = desc.usable().map(|r| r.end.0.div_ceil(4096)).max().unwrap_or(0);
    let Some((ft, m2p)) = frame_table(&mut frames, max_pfn, &boot) else {
        log::error!("no memory for the frame table");
        qemu::exit(qemu::EXIT_FAILURE);
    };
    let root = cpu::cr3() & abi::mmu::pte::ADDR_MASK;
    // The M2P, read-only for guests at 0xFFFF800000000000 (L4 slot 256).
    let m2p_maddr = m2p.as_ptr() as u64 - DIRECT_MAP_BASE;
    let m2p_len = (max_pfn * 8).div_ceil(4096) * 4096;
    let nx = cpu::rdmsr(cpu::MSR_EFER) & cpu::EFER_NXE != 0;
    let mut mapper = HvMapper { mem: &mut DirectMap, frames: &mut frames, root: Mfn(root >> 12), nx };
    if let Err(e) = mapper.map(abi::MACH2PHYS_VIRT_START, PhysAddr(m2p_maddr), m2p_len, Rights::GUEST_RO, true) {
        log::error!("mapping the read-only M2P: {e:?}");
    }
    flush_all();
    super::boot_clock::mark("frame table");
    let clock = super::timer::init(&mut mapper, &mut BootMem(&boot));
    let mut template = [0u64; 16];
    for (i, t) in template.iter_mut().enumerate() {
        *t = DirectMap.read_u64(PhysAddr(root + (256 + i as u64) * 8));
    }
    // Boot-time allocations that live as long as the hypervisor.
    // Every slot starts empty: a domain exists only once it is built.
    let mm_domains = Box::leak(Box::new([const { DomainMm::empty(DomId(0)) }; MAX_DOMAINS]));
    let hooks = Box::leak(Box::new(ArchHooks { frames, pending: 0, work: 0, refusals: Refusals::new() }));
    let l4_template = Box::leak(Box::new(template));
    let mut host_info = HostInfo::new(desc, Mfn(m2p_maddr >> 12));
    host_info.clock = clock;
    host_info.read_tsc = super::timer::read_tsc;
    let utc = super::rtc::unix_seconds();
    host_info.wallclock = crate::time::info::WallClock::at_boot(utc.unwrap_or(0), super::timer::now());
    log::info!(
        "time: wallclock {} s since the epoch at system time 0 (CMOS RTC{})",
        host_info.wallclock.sec,
        if utc.is_none() { " unreadable" } else { "" }
    );
    let mut hv = Hypervisor {
        core: crate::hypercall::Hv {
            host: host_info,
            mm: Mm {
                frames: ft,
                m2p,
                domains: mm_domains,
                mem: Box::leak(Box::new(DirectMap)),
                hooks,
                l4_template,
                clock: Box::leak(Box::new(TlbClock::new())),
            },
            console: Console { at_line_start: [true; MAX_DOMAINS], input: crate::event::ConsoleInput::new() },
            grants: boot_grants(nx),
        },
        current: 0,
        all_poweroff_required,
        check: DebugCheck::new(check_every),
        refused_modules: 0,
        hv_root: root,
        fpu_owner: None,
        resident: crate::lazy_switch::Resident::none(),
    };
    for (i, d) in hv.mm.domains.iter_mut().enumerate() {
        d.id = DomId(i as u16);
    }
    // The first MiB and every hole of the memory map are I/O frames.
    desc.io_frame_runs(max_pfn, |start, end| (start..end).for_each(|pfn| hv.mm.mark_io(Mfn(pfn))));
    super::boot_clock::mark("I/O frames");
    // Each kernel module is a domain, with the `ramdisk` module after it.
    let modules = desc.modules.as_slice();
    let mut plans: FixedVec<DomainModules, 64> = FixedVec::new();
    let refused = core::cell::Cell::new(0usize);
    plan(
        modules.iter().map(|m| m.cmdline),
        |d| {
            if plans.push(d).is_err() {
                log::error!("module {}: refused: too many modules; skipping it", d.kernel);
                refused.set(refused.get() + 1);
            }
        },
        |stray| {
            log::error!("{stray}: refused; skipping it");
            refused.set(refused.get() + 1);
        },
    );
    hv.refused_modules += refused.get();
    for (i, d) in plans.as_slice().iter().enumerate() {
        if i >= MAX_DOMAINS {
            log::error!("module {}: refused: at most {MAX_DOMAINS} domains; skipping it", d.kernel);
            hv.refused_modules += 1 + usize::from(d.ramdisk.is_some());
            continue;
        }
        let kernel = &modules[d.kernel];
        if super::svm::pvh::wanted(kernel.cmdline) {
            let built = match DirectMap::bytes(kernel.range, u64::MAX) {
                Some(bytes) => super::svm::pvh::build_domain(&mut hv, i, bytes, kernel.cmdline),
                None => {
                    fail(i, &"module outside RAM");
                    false
                }
            };
            hv.refused_modules += usize::from(!built) + usize::from(d.ramdisk.is_some());
            if d.ramdisk.is_some() {
                fail(i, &"a PVH domain takes no ramdisk module yet");
            }
            continue;
        }
        create_domain(&mut hv, i, kernel.range, kernel.cmdline, d.ramdisk.map(|r| modules[r].range), &boot);
        // A refused module fails the run (see `crate::verdict`).
        hv.refused_modules += usize::from(domains()[i].is_none());
    }
    // The vector registers go back to guests' view before anything else
    // runs: the token is gone, so no code from here on can fill with them.
    drop(boot);
    if domains().iter().all(|d| d.is_none()) {
        log::error!("no domain could be built");
        finish(&mut hv);
    }
    super::boot_clock::mark("domains built");
    let first = (0..MAX_DOMAINS).find(|&i| domains()[i].is_some()).unwrap_or(0);
    hv.current = first;
    let ctx = switch_to(&mut hv, first);
    hv.check.arm(&mut hv.core.mm.hooks.pending);
    state_init(hv);
    if let Some(hv) = super::run::state() {
        super::fast_paths::init(hv);
    }
    entry::enter(&to_frame(&ctx))
}

/// Grant-table storage for every domain slot, allocated once at boot.
fn boot_grants(nx: bool) -> crate::grant::Grants<'static> {
    use crate::grant::{storage_for, Active, GrantTable, MapTrack};
    let (t, a, m) = storage_for(MAX_DOMAINS);
    crate::grant::Grants {
        tables: alloc::vec![GrantTable::NONE; t].leak(),
        active: alloc::vec![Active::FREE; a].leak(),
        maptrack: alloc::vec![MapTrack::FREE; m].leak(),
        nx,
    }
}

fn fail(index: usize, what: &dyn core::fmt::Display) {
    log::error!("domain {index}: refused: {what}; skipping it");
}

fn create_domain(
    hv: &mut Hypervisor,
    index: usize,
    image: PhysRange,
    cmdline: &str,
    ramdisk: Option<PhysRange>,
    boot: &BootVector,
) {
    let Some(module) = DirectMap::bytes(image, u64::MAX) else { return fail(index, &"module outside RAM") };
    let ramdisk = match ramdisk.map(|r| DirectMap::bytes(r, u64::MAX)) {
        None => &[][..],
        Some(Some(r)) => r,
        Some(None) => return fail(index, &"ramdisk module outside RAM"),
    };
    // A bzImage is decompressed into frames held only while building.
    let unpacked = match unpack(&mut hv.mm.hooks.frames, module) {
        Ok(u) => u,
        Err(e) => return fail(index, &e),
    };
    build_domain(hv, index, unpacked.elf, cmdline, ramdisk, boot);
    unpacked.release(&mut hv.mm.hooks.frames);
}

fn build_domain(hv: &mut Hypervisor, index: usize, bytes: &[u8], cmdline: &str, ramdisk: &[u8], boot: &BootVector) {
    let dom = DomId(index as u16);
    let mut guest_cmdline = [0u8; 1024];
    let fail = |what: &dyn core::fmt::Display| fail(index, what);
    let (cfg, cmd_len) = match DomainConfig::parse(cmdline, &mut guest_cmdline) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let elf = match Elf::parse(bytes) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    let image = match XenNotes::read(&elf).and_then(|n| KernelImage::accept(&elf, &n)) {
        Ok(i) => i,
        Err(e) => return fail(&e),
    };
    let nr_pages = cfg.mem / 4096;
    // Every domain but domain 0 (which keeps console_io) gets a console ring.
    let layout = match Layout::with_console(&image, ramdisk.len() as u64, nr_pages, index != 0) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    if hv.mm.hooks.frames.free_frames() < nr_pages + 1 {
        return fail(&"not enough free memory");
    }
    let need = nr_pages + 1;
    let mut list: alloc::vec::Vec<Mfn> = alloc::vec::Vec::with_capacity(need as usize);
    while (list.len() as u64) < need {
        // Zero: first the frames scrubbed during the TSC calibration's
        // wait, then runs scrubbed here with the boot's vector stores.
        let frames = &mut hv.mm.hooks.frames;
        let Some((first, n)) = frames.alloc_zeroed_run(&mut BootMem(boot), need - list.len() as u64) else {
            for &m in &list {
                frames.free(m, &mut DirectMap);
            }
            return fail(&"out of memory");
        };
        list.extend((first.0..first.0 + n).map(Mfn));
    }
    let privileged = index == 0;
    {
        let d = &mut hv.mm.domains[index];
        *d = DomainMm::new(dom, cfg.maxmem / 4096);
        d.privileged = privileged;
        d.io_caps = privileged;
    }
    let flags = if privileged { SIF_PRIVILEGED | SIF_INITDOMAIN } else { 0 };
    let built = match builder::build(
        &mut hv.mm,
        dom,
        &list,
        &elf,
        &image,
        &layout,
        ramdisk,
        &guest_cmdline[..cmd_len],
        flags,
    ) {
        Ok(b) => b,
        Err(e) => {
            // Whatever it was given goes back, and the slot is empty again.
            let _ = Teardown::new(&hv.mm, dom).run(&mut hv.mm);
            return fail(&format_args!("building the start of day failed ({e:?})"));
        }
    };
    if let Err(e) = hv.core.grants.init_domain(&mut hv.core.mm, dom) {
        let _ = Teardown::new(&hv.mm, dom).run(&mut hv.mm);
        return fail(&format_args!("no grant table ({e:?})"));
    }
    let mut name: FixedVec<u8, 32> = FixedVec::new();
    let default_name = alloc::format!("dom{index}");
    for &b in cfg.name.unwrap_or(&default_name).as_bytes() {
        let _ = name.push(b);
    }
    let mut vcpu = Vcpu::new(built.ctx);
    // vCPU 0's slot is the first in shared_info.
    vcpu.set_vcpu_info_location(PhysAddr(built.shared_info.to_maddr()));
    crate::time::info::publish_wallclock(&mut DirectMap, PhysAddr(built.shared_info.to_maddr()), hv.host.wallclock);
    domains()[index] = Some(Domain {
        id: dom,
        name,
        vcpu,
        state: RunState::Runnable,
        shared_info: built.shared_info,
        line: crate::console::LineBuf::new(),
        int82: cfg.int82,
        vmcall: cfg.vmcall,
        bench_null: cfg.bench_null,
        cpu_ns: 0,
        slice_ns: 0,
        max_cpu_ns: cfg.timeout.saturating_mul(1_000_000_000),
        charged_to: crate::time::SystemTime(0),
        started: false,
        woken: false,
        pvh: false,
    });
    super::events::events().create_domain(dom, built.shared_info, privileged);
    if let Some(ring) = built.console {
        super::console_rings::attach(hv, dom, ring, built.start_info);
    }
    log::info!(
        "domain {index} ({}): {} MiB, entry {:#x}, {} page-table frames{}",
        domains()[index].as_ref().map_or("?", |d| d.name()),
        cfg.mem >> 20,
        image.entry,
        layout.nr_pt_frames,
        if privileged { ", privileged" } else { "" }
    );
    if layout.ramdisk_len != 0 {
        log::info!("domain {index}: ramdisk of {} bytes at {:#x}", layout.ramdisk_len, layout.ramdisk);
    }
}
