//! Running PV domains: building them from the boot modules, handling every
//! entry from a guest (hypercalls, exceptions), switching between domains
//! and ending the machine when all have finished.

use super::entry;
use super::exception::TrapFrame;
use super::paging::{DirectMap, DIRECT_MAP_BASE};
use super::{cpu, qemu, serial};
use crate::boot::BootDescription;
use crate::domain::bounce::{bounce, has_error_code};
use crate::domain::builder;
use crate::domain::config::DomainConfig;
use crate::domain::elf::Elf;
use crate::domain::emulate::{read_reg, write_reg, xen_leaf, Emulated};
use crate::domain::layout::Layout;
use crate::domain::notes::{KernelImage, XenNotes};
use crate::domain::vcpu::{reg, GuestContext, Vcpu};
use crate::hypercall::{Action, Call, ConsoleSink, GuestMemory};
use crate::mm::hv_map::{HvMapper, Rights};
use crate::mm::mmuext::Root;
use crate::mm::teardown::Teardown;
use crate::mm::{DomainMm, FrameAllocator, Mm, MmHooks, PageInfo, PhysAddr, PhysMemory, PhysRange};
use crate::sched::{reason_name, Domain, RunState, MAX_DOMAINS};
use crate::util::FixedVec;
use abi::start_info::{SIF_INITDOMAIN, SIF_PRIVILEGED};
use abi::{DomId, GuestVa, Mfn};

/// Side effects of the model, carried out here.
pub struct ArchHooks {
    /// Where freed frames go.
    pub frames: FrameAllocator,
    /// A TLB flush is due before returning to a guest.
    pub flush_pending: bool,
    /// The current domain's root changed.
    pub reload_root: bool,
    /// Page-table entries validated in this hypercall so far.
    pub work: u32,
    /// The current domain's GDT frames changed.
    pub reload_gdt: bool,
}

/// Entries validated per hypercall before it is preempted and restarted.
pub const PREEMPT_ENTRIES: u32 = 8192;

impl MmHooks for ArchHooks {
    fn flush_domain_tlb(&mut self, _: DomId) {
        self.flush_pending = true;
    }
    fn flush_local_tlb(&mut self) {
        self.flush_pending = true;
    }
    fn invlpg_local(&mut self, va: u64) {
        // SAFETY: INVLPG only drops a translation.
        unsafe { core::arch::asm!("invlpg [{}]", in(reg) va, options(nostack)) };
    }
    fn flush_cache(&mut self) {
        // SAFETY: WBINVD writes back and invalidates caches; no memory effect.
        unsafe { core::arch::asm!("wbinvd", options(nostack)) };
    }
    fn root_changed(&mut self, _: DomId) {
        self.reload_root = true;
    }
    fn frame_freed(&mut self, mfn: Mfn) {
        self.frames.free(mfn, &mut DirectMap);
    }
    fn preempt(&mut self) -> bool {
        self.work += 1;
        self.work > PREEMPT_ENTRIES
    }
    fn defer_devalidation(&mut self) -> bool {
        true
    }
    fn gdt_changed(&mut self, _: DomId) {
        self.reload_gdt = true;
    }
    fn alloc_extent(&mut self, order: u32) -> Option<Mfn> {
        let first =
            if order == 0 { self.frames.alloc(&DirectMap)? } else { self.frames.alloc_contiguous(1 << order)? };
        // Scrubbed before the domain gets them.
        for j in 0..1u64 << order {
            DirectMap.zero_frame(Mfn(first.0 + j));
        }
        Some(first)
    }
}

/// Guest memory through the current page tables, with fault fixups.
pub struct ArchGuest;

impl GuestMemory for ArchGuest {
    fn copy_from(&self, va: GuestVa, buf: &mut [u8]) -> bool {
        entry::copy_from_guest(va.0, buf)
    }
    fn copy_to(&self, va: GuestVa, buf: &[u8]) -> bool {
        entry::copy_to_guest(va.0, buf)
    }
}

struct Console {
    at_line_start: [bool; MAX_DOMAINS],
}

impl ConsoleSink for Console {
    fn write(&mut self, dom: DomId, bytes: &[u8]) {
        let start = &mut self.at_line_start[dom.0 as usize % MAX_DOMAINS];
        for part in bytes.split_inclusive(|&b| b == b'\n') {
            if *start {
                serial::print(format_args!("(d{}) ", dom.0));
            }
            serial::write_bytes(part);
            *start = part.ends_with(b"\n");
        }
    }
}

/// Everything the hypervisor keeps while guests run.
pub struct Hypervisor {
    frame_table: &'static mut [PageInfo],
    m2p: &'static mut [u64],
    mm_domains: [DomainMm; MAX_DOMAINS],
    hooks: ArchHooks,
    template: [u64; 16],
    current: usize,
    console: Console,
    all_poweroff_required: bool,
    /// The hypervisor's own L4 (CR3 while no domain's tables are needed).
    hv_root: u64,
}

/// The hypervisor's state. There is one CPU, the hypervisor runs with
/// interrupts off, and guest entries never nest (a fault inside the
/// hypervisor is fatal), so at most one entry uses it at a time: no lock is
/// needed, and the hypercall path takes none.
static mut HV: Option<Hypervisor> = None;

/// The state, for the one guest entry being handled.
fn state() -> Option<&'static mut Hypervisor> {
    // SAFETY: see `HV`: entries are strictly sequential on the one CPU.
    unsafe { (*core::ptr::addr_of_mut!(HV)).as_mut() }
}
static mut DOMAINS: [Option<Domain>; MAX_DOMAINS] = [const { None }; MAX_DOMAINS];

fn domains() -> &'static mut [Option<Domain>; MAX_DOMAINS] {
    // SAFETY: one CPU, interrupts off in the hypervisor, and only code
    // handling a guest entry (or boot code before guests run) calls this.
    unsafe { &mut *core::ptr::addr_of_mut!(DOMAINS) }
}

impl Hypervisor {
    fn mm(&mut self) -> Mm<'_, DirectMap, ArchHooks> {
        Mm {
            frames: self.frame_table,
            m2p: self.m2p,
            domains: &mut self.mm_domains,
            mem: leak_direct_map(),
            hooks: &mut self.hooks,
            l4_template: &self.template,
        }
    }
}

fn leak_direct_map() -> &'static mut DirectMap {
    // A zero-sized handle: leaking one allocates nothing.
    alloc::boxed::Box::leak(alloc::boxed::Box::new(DirectMap))
}

/// Allocates the frame table and M2P for every frame below `max_pfn`.
fn frame_table(frames: &mut FrameAllocator, max_pfn: u64) -> Option<(&'static mut [PageInfo], &'static mut [u64])> {
    let ft_frames = (max_pfn * 16).div_ceil(4096);
    let m2p_frames = (max_pfn * 8).div_ceil(4096);
    let ft = frames.alloc_contiguous(ft_frames)?;
    let m2p = frames.alloc_contiguous(m2p_frames)?;
    let mut dm = DirectMap;
    for i in 0..ft_frames {
        dm.zero_frame(Mfn(ft.0 + i));
    }
    for i in 0..m2p_frames {
        dm.zero_frame(Mfn(m2p.0 + i));
    }
    // SAFETY: the frames were just taken from the allocator and zeroed; an
    // all-zero PageInfo/u64 is valid, and nothing else will use them.
    unsafe {
        let ft = core::slice::from_raw_parts_mut((DIRECT_MAP_BASE + ft.to_maddr()) as *mut PageInfo, max_pfn as usize);
        for p in ft.iter_mut() {
            *p = PageInfo::default();
        }
        let m2p = core::slice::from_raw_parts_mut((DIRECT_MAP_BASE + m2p.to_maddr()) as *mut u64, max_pfn as usize);
        Some((ft, m2p))
    }
}

/// Builds a domain per module and runs them. Never returns.
pub fn run_domains(desc: &BootDescription<'_>, mut frames: FrameAllocator, all_poweroff_required: bool) -> ! {
    let max_pfn = desc.usable().map(|r| r.end.0.div_ceil(4096)).max().unwrap_or(0);
    let Some((ft, m2p)) = frame_table(&mut frames, max_pfn) else {
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
    let mut template = [0u64; 16];
    for (i, t) in template.iter_mut().enumerate() {
        *t = DirectMap.read_u64(PhysAddr(root + (256 + i as u64) * 8));
    }
    let mut hv = Hypervisor {
        frame_table: ft,
        m2p,
        mm_domains: [const { DomainMm::new(DomId(0), 0) }; MAX_DOMAINS],
        hooks: ArchHooks { frames, flush_pending: false, reload_root: false, work: 0, reload_gdt: false },
        template,
        current: 0,
        console: Console { at_line_start: [true; MAX_DOMAINS] },
        all_poweroff_required,
        hv_root: root,
    };
    for (i, d) in hv.mm_domains.iter_mut().enumerate() {
        d.id = DomId(i as u16);
    }
    // The first MiB and every hole of the memory map are I/O frames.
    {
        let mut mm = hv.mm();
        for pfn in 0..max_pfn {
            let pa = pfn * 4096;
            let usable = pa >= 0x10_0000 && desc.usable().any(|r| r.start.0 <= pa && pa + 4096 <= r.end.0);
            if !usable {
                mm.mark_io(Mfn(pfn));
            }
        }
    }
    for (i, module) in desc.modules.as_slice().iter().enumerate().take(MAX_DOMAINS) {
        create_domain(&mut hv, i, module.range, module.cmdline);
    }
    if domains().iter().all(|d| d.is_none()) {
        log::error!("no domain could be built");
        finish(&mut hv);
    }
    let first = (0..MAX_DOMAINS).find(|&i| domains()[i].is_some()).unwrap_or(0);
    hv.current = first;
    let ctx = switch_to(&mut hv, first);
    // SAFETY: boot code, before any guest runs: nothing else uses `HV`.
    unsafe { *core::ptr::addr_of_mut!(HV) = Some(hv) };
    entry::enter(&to_frame(&ctx))
}

fn create_domain(hv: &mut Hypervisor, index: usize, image: PhysRange, cmdline: &str) {
    let dom = DomId(index as u16);
    let mut guest_cmdline = [0u8; 1024];
    let fail = |what: &dyn core::fmt::Display| log::error!("domain {index}: refused: {what}; skipping it");
    let (cfg, cmd_len) = match DomainConfig::parse(cmdline, &mut guest_cmdline) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let Some(bytes) = DirectMap::bytes(image, u64::MAX) else { return fail(&"module outside RAM") };
    let elf = match Elf::parse(bytes) {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    let image = match XenNotes::read(&elf).and_then(|n| KernelImage::accept(&elf, &n)) {
        Ok(i) => i,
        Err(e) => return fail(&e),
    };
    let nr_pages = cfg.mem / 4096;
    let layout = match Layout::compute(&image, nr_pages) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    if hv.hooks.frames.free_frames() < nr_pages + 1 {
        return fail(&"not enough free memory");
    }
    let mut list: alloc::vec::Vec<Mfn> = alloc::vec::Vec::with_capacity(nr_pages as usize + 1);
    for _ in 0..=nr_pages {
        let Some(m) = hv.hooks.frames.alloc(&DirectMap) else { return fail(&"out of memory") };
        // Scrubbed before the domain gets it.
        DirectMap.zero_frame(m);
        list.push(m);
    }
    let privileged = index == 0;
    {
        let d = &mut hv.mm_domains[index];
        *d = DomainMm::new(dom, cfg.maxmem / 4096);
        d.privileged = privileged;
        d.io_caps = privileged;
    }
    let flags = if privileged { SIF_PRIVILEGED | SIF_INITDOMAIN } else { 0 };
    let built = match builder::build(&mut hv.mm(), dom, &list, &elf, &image, &layout, &guest_cmdline[..cmd_len], flags)
    {
        Ok(b) => b,
        Err(e) => return fail(&format_args!("building the start of day failed ({e:?})")),
    };
    let mut name: FixedVec<u8, 32> = FixedVec::new();
    let default_name = alloc::format!("dom{index}");
    for &b in cfg.name.unwrap_or(&default_name).as_bytes() {
        let _ = name.push(b);
    }
    domains()[index] = Some(Domain {
        id: dom,
        name,
        vcpu: Vcpu::new(built.ctx),
        state: RunState::Runnable,
        shared_info: built.shared_info,
        line: FixedVec::new(),
        int82: cfg.int82,
        vmcall: cfg.vmcall,
        bench_null: cfg.bench_null,
        ticks: 0,
        slice_ticks: 0,
        max_ticks: cfg.timeout * super::timer::HZ,
        started: false,
        frames_returned: 0,
    });
    log::info!(
        "domain {index} ({}): {} MiB, entry {:#x}, {} page-table frames{}",
        domains()[index].as_ref().map_or("?", |d| d.name()),
        cfg.mem >> 20,
        image.entry,
        layout.nr_pt_frames,
        if privileged { ", privileged" } else { "" }
    );
}

/// Loads domain `i`: its page tables and its registers as a trap frame.
/// Makes domain `i` current: its page tables, its SYSCALL entry, and its
/// saved registers as the context to return to.
fn switch_to(hv: &mut Hypervisor, i: usize) -> GuestContext {
    hv.current = i;
    let d = domains()[i].as_mut().expect("switching to a domain that exists");
    d.slice_ticks = 0;
    if !d.started {
        d.started = true;
        log::info!("Starting domain {i} ({})", d.name());
    }
    let root = hv.mm_domains[i].kernel_root.map_or(0, |m| m.to_maddr());
    // SAFETY: the root is a validated L4 of the domain whose slots 256–271
    // hold the hypervisor's entries, so this code keeps running.
    unsafe { cpu::set_cr3(root) };
    flush_all();
    entry::select_syscall_entry(d.bench_null);
    load_guest_gdt(hv, i);
    let mut ctx = d.vcpu.ctx;
    ctx.sanitize_for_exit();
    ctx
}

fn flush_all() {
    // Guest user mappings are global: toggling PGE flushes them too.
    let cr4 = cpu::cr4();
    // SAFETY: clearing and restoring PGE only flushes the TLB.
    unsafe {
        cpu::set_cr4(cr4 & !cpu::CR4_PGE);
        cpu::set_cr4(cr4);
    }
}

fn to_frame(c: &GuestContext) -> TrapFrame {
    let mut f = TrapFrame::default();
    *context_of(&mut f) = *c;
    f
}

/// The entry frame seen as the guest's live context (same layout).
fn context_of(frame: &mut TrapFrame) -> &mut GuestContext {
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
    let Some(hv) = state() else { no_domains() };
    let i = hv.current;
    let ctx = context_of(frame);
    let nr = ctx.gpr[reg::RAX];
    let action = hypercall(hv, i, ctx, 2);
    let quiet = nr != abi::hypercall::HypercallNr::SCHED_OP.0 && nr != abi::hypercall::HypercallNr::MEMORY_OP.0;
    if action == Action::Continue && quiet && !hv.hooks.reload_root && !hv.hooks.flush_pending && !hv.hooks.reload_gdt {
        ctx.sanitize_for_exit();
        return;
    }
    if !quiet {
        // The console is polled only on scheduling and memory hypercalls.
        console_keys(hv);
    }
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
    let action = if ctx.vector == super::timer::TIMER_VECTOR {
        timer_tick(i)
    } else {
        guest_exception(hv, i, ctx, ctx.vector as u8)
    };
    after_entry(hv, i, ctx, action);
}

/// Ticks a domain may run before another runnable domain gets the CPU.
const SLICE_TICKS: u64 = 5 * super::timer::HZ;

/// A timer tick while domain `i` ran: charge it, crash it past its CPU
/// limit, and switch away when its slice is over and others wait.
fn timer_tick(i: usize) -> Action {
    super::timer::eoi();
    let d = d_mut(i);
    d.ticks += 1;
    d.slice_ticks += 1;
    if d.max_ticks != 0 && d.ticks >= d.max_ticks {
        return Action::Crash("used up its CPU time (timeout=)");
    }
    if d.slice_ticks >= SLICE_TICKS {
        d.slice_ticks = 0;
        return Action::Yield;
    }
    Action::Continue
}

/// Finishes an entry: reloads CR3 or flushes if the model asked for it,
/// and switches domains when the current one yielded, blocked or ended.
#[inline(never)]
fn after_entry(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, action: Action) {
    if action == Action::Continue {
        if core::mem::take(&mut hv.hooks.reload_gdt) {
            load_guest_gdt(hv, i);
        }
        if core::mem::take(&mut hv.hooks.reload_root) {
            let root = hv.mm_domains[i].kernel_root.map_or(0, |m| m.to_maddr());
            // SAFETY: a validated L4 of this domain with the hypervisor slots.
            unsafe { cpu::set_cr3(root) };
        }
        if core::mem::take(&mut hv.hooks.flush_pending) {
            flush_all();
        }
        ctx.sanitize_for_exit();
        return;
    }
    d_mut(i).vcpu.ctx = *ctx;
    match action {
        Action::Continue | Action::Yield => {}
        Action::Block => d_mut(i).state = RunState::Blocked,
        Action::Shutdown(reason) => {
            log::info!("domain {i} ({}) shut down: {}", d_mut(i).name(), reason_name(reason));
            end_domain(hv, i, RunState::Shutdown(reason));
        }
        Action::Crash(why) => {
            log::error!("domain {i} ({}) crashed: {why} (rip {:#x})", d_mut(i).name(), ctx.rip);
            end_domain(hv, i, RunState::Crashed);
        }
    }
    match next_runnable_slot(i) {
        Some(n) => *ctx = switch_to(hv, n),
        None if d_mut(i).state == RunState::Runnable => ctx.sanitize_for_exit(),
        None => {
            // Blocked domains can never wake: there are no event sources yet.
            for j in 0..MAX_DOMAINS {
                if domains()[j].as_ref().is_some_and(|d| d.state == RunState::Blocked) {
                    log::error!("domain {j} blocked with no event source; crashing it");
                    end_domain(hv, j, RunState::Crashed);
                }
            }
            finish(hv);
        }
    }
}

/// Loads domain `i`'s GDT descriptors into the hardware GDT.
fn load_guest_gdt(hv: &Hypervisor, i: usize) {
    let d = &hv.mm_domains[i];
    let (frames, entries) = (d.gdt, d.gdt_entries as usize);
    super::gdt::load_guest(entries, |n| {
        DirectMap.read_u64(PhysAddr(frames[n / 512].to_maddr() + (n % 512) as u64 * 8))
    });
}

/// Debug keys typed on the console: `m` prints every domain's memory.
fn console_keys(hv: &Hypervisor) {
    while let Some(key) = serial::poll_key() {
        if key == b'm' {
            log::info!("'m' pressed: memory of each domain");
            for d in domains().iter().flatten() {
                let mm = &hv.mm_domains[d.id.0 as usize];
                log::info!("  domain {} ({}): {} pages now, at most {}", d.id.0, d.name(), mm.tot_pages, mm.max_pages);
            }
        }
    }
}

fn d_mut(i: usize) -> &'static mut Domain {
    domains()[i].as_mut().expect("domain exists")
}

fn next_runnable_slot(current: usize) -> Option<usize> {
    let n = MAX_DOMAINS;
    (1..=n).map(|k| (current + k) % n).find(|&j| domains()[j].as_ref().is_some_and(|d| d.state == RunState::Runnable))
}

fn end_domain(hv: &mut Hypervisor, i: usize, state: RunState) {
    let before = hv.hooks.frames.free_frames();
    // Leave the dying domain's page tables before they are freed.
    // SAFETY: the hypervisor's own L4 maps everything the hypervisor uses.
    unsafe { cpu::set_cr3(hv.hv_root) };
    let mut mm = hv.mm();
    let report = Teardown::new(&mm, DomId(i as u16)).run(&mut mm);
    let d = d_mut(i);
    d.state = state;
    d.frames_returned = hv.hooks.frames.free_frames() - before;
    if report.still_referenced > 0 {
        log::warn!("domain {i}: {} frames still referenced by other domains", report.still_referenced);
    }
}

fn finish(hv: &mut Hypervisor) -> ! {
    log::info!("All domains have finished.");
    log::info!("  dom  name              shutdown reason   frames returned");
    let mut all_poweroff = true;
    for d in domains().iter().flatten() {
        let reason = match d.state {
            RunState::Shutdown(r) => reason_name(r),
            RunState::Crashed => "crashed",
            _ => "unfinished",
        };
        all_poweroff &= d.state == RunState::Shutdown(0);
        log::info!("  {:<4} {:<17} {:<17} {}", d.id.0, d.name(), reason, d.frames_returned);
    }
    let ok = all_poweroff || !hv.all_poweroff_required;
    log::info!("Shutting down: {}", if ok { "success" } else { "failure (a domain did not power off)" });
    qemu::exit(if ok { qemu::EXIT_SUCCESS } else { qemu::EXIT_FAILURE })
}

fn hypercall(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, entry_len: u64) -> Action {
    let d = d_mut(i);
    hv.hooks.work = 0;
    let Hypervisor { frame_table, m2p, mm_domains, hooks, template, console, .. } = hv;
    let mut mm =
        Mm { frames: frame_table, m2p, domains: mm_domains, mem: leak_direct_map(), hooks, l4_template: template };
    let nr = ctx.gpr[reg::RAX];
    let rip = ctx.rip;
    let mut call = Call {
        dom: DomId(i as u16),
        ctx,
        vcpu: &mut d.vcpu,
        mm: &mut mm,
        guest: &ArchGuest,
        console,
        shared_info: d.shared_info,
        line: &mut d.line,
        entry_len,
    };
    let action = call.dispatch(nr);
    if call.ctx.rip == rip.wrapping_sub(entry_len) {
        log::debug!("domain {i}: hypercall {nr} preempted after {PREEMPT_ENTRIES} entries; it will continue");
    }
    action
}

/// Reads guest instruction bytes at `rip`.
fn insn_bytes(rip: u64) -> [u8; 8] {
    let mut b = [0u8; 8];
    if GuestVa(rip).range_is_guest_accessible(8) && ArchGuest.copy_from(GuestVa(rip), &mut b) {
        b
    } else {
        [0; 8]
    }
}

fn guest_exception(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, vector: u8) -> Action {
    let d = d_mut(i);
    let rip = ctx.rip;
    let code = insn_bytes(rip);
    if matches!(vector, 6 | 13) {
        if let Some((insn, len)) = Emulated::decode(&code) {
            return emulate(hv, i, ctx, insn, len);
        }
    }
    match vector {
        // `vmcall` (0F 01 C1) as a hypercall: a documented extension.
        6 if d.vmcall && code[..3] == [0x0F, 0x01, 0xC1] => {
            ctx.rip = rip + 3;
            return hypercall(hv, i, ctx, 3);
        }
        13 if code[0] == 0xCD => {
            let n = code[1];
            if n == 0x82 && d.int82 {
                ctx.rip = rip + 2;
                return hypercall(hv, i, ctx, 2);
            }
            // A software interrupt: allowed by the trap table's DPL (guest
            // kernel counts as privilege 1), else #GP like the hardware.
            let entry = d.vcpu.traps[n as usize];
            if entry.address != 0 && entry.flags & 3 >= 1 {
                ctx.rip = rip + 2;
                return deliver(d, ctx, n, None);
            }
            return deliver(d, ctx, 13, Some((u64::from(n) << 3) | 2));
        }
        14 => {
            let cr2 = cpu::cr2();
            DirectMap.write_u64(PhysAddr(d.shared_info.to_maddr() + 16), cr2);
            // The guest kernel runs in ring 3; Xen reports its faults as supervisor ones.
            let code = ctx.error_code & !4;
            return deliver(d, ctx, 14, Some(code));
        }
        _ => {}
    }
    let err = has_error_code(vector).then_some(ctx.error_code);
    deliver(d, ctx, vector, err)
}

/// Runs an emulated instruction for domain `i`.
fn emulate(hv: &mut Hypervisor, i: usize, ctx: &mut GuestContext, insn: Emulated, len: u64) -> Action {
    match insn {
        Emulated::Cpuid => {
            let (leaf, sub) = (ctx.gpr[reg::RAX] as u32, ctx.gpr[reg::RCX] as u32);
            let version = (crate::hypercall::XEN_MAJOR as u32, crate::hypercall::XEN_MINOR as u32);
            let r = xen_leaf(leaf, version).unwrap_or_else(|| {
                let c = cpu::cpuid(leaf, sub);
                [c.eax, c.ebx, c.ecx, c.edx]
            });
            for (slot, v) in [reg::RAX, reg::RBX, reg::RCX, reg::RDX].into_iter().zip(r) {
                ctx.gpr[slot] = u64::from(v);
            }
        }
        Emulated::MovFromCr3(r) => {
            let root = hv.mm_domains[i].kernel_root.map_or(0, |m| m.to_maddr());
            write_reg(ctx, r, root);
        }
        Emulated::MovToCr3(r) => {
            let mfn = Mfn((read_reg(ctx, r) & abi::mmu::pte::ADDR_MASK) >> 12);
            if hv.mm().set_root(DomId(i as u16), Root::Kernel, mfn).is_err() {
                return deliver(d_mut(i), ctx, 13, Some(0));
            }
        }
    }
    ctx.rip += len;
    Action::Continue
}

fn deliver(d: &mut Domain, ctx: &mut GuestContext, vector: u8, error_code: Option<u64>) -> Action {
    match bounce(ctx, &d.vcpu, &ArchGuest, vector, error_code) {
        Ok(()) => Action::Continue,
        Err(why) => {
            let (m, w) = super::exception::vector_name(u64::from(vector));
            log::error!("domain {} ({}): unhandled {m} ({w}), error code {:?}", d.id.0, d.name(), error_code);
            Action::Crash(why)
        }
    }
}
