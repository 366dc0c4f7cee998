//! The start-of-day story, one console line per step.

use abi::hypercall::HypercallNr;
use abi::mmu::pte::*;
use abi::mmu::*;
use abi::start_info::StartInfo;
use abi::{guest, Errno};
use core::sync::atomic::{AtomicU64, Ordering};
use guest_kernel::arch::x86_64::{mem, traps, user};
use guest_kernel::say;
use guest_rt::console_ring::{NoRing, Ring};

/// Virtual address of the page left unmapped on purpose.
static HOLE: AtomicU64 = AtomicU64::new(0);
/// Next free PFN, counting down from the top of memory.
pub(crate) static NEXT_FREE_PFN: AtomicU64 = AtomicU64::new(0);
/// Virtual address of the p2m list.
pub(crate) static P2M: AtomicU64 = AtomicU64::new(0);
/// The frame mapped at the hole by the page-fault handler.
static HOLE_MFN: AtomicU64 = AtomicU64::new(0);
/// The new tables' L3 and L2 for the kernel's GiB at VIRT_BASE (`make modes`).
static KERNEL_L3: AtomicU64 = AtomicU64::new(0);
static KERNEL_L2: AtomicU64 = AtomicU64::new(0);

pub(crate) fn mfn_of_pfn(pfn: u64) -> u64 {
    mem::read(P2M.load(Ordering::Relaxed) + pfn * 8)
}

pub(crate) fn alloc_frame() -> u64 {
    let pfn = NEXT_FREE_PFN.fetch_sub(1, Ordering::Relaxed);
    mfn_of_pfn(pfn)
}

pub(crate) fn clear(mfn: u64) {
    let _ = mem::mmuext(&[MmuextOp { cmd: MMUEXT_CLEAR_PAGE, pad: 0, arg1: mfn, arg2: 0 }]);
}

fn virt_of(l4: usize, l3: usize, l2: usize, l1: usize) -> u64 {
    let va = ((l4 as u64) << 39) | ((l3 as u64) << 30) | ((l2 as u64) << 21) | ((l1 as u64) << 12);
    if l4 >= 256 {
        va | 0xFFFF_0000_0000_0000
    } else {
        va
    }
}

/// The guest image is linked at VIRT_BASE with physical addresses from 0,
/// so PFN n is mapped at VIRT_BASE + n × 4096 (fact sheet §8.4).
pub(crate) const VIRT_BASE: u64 = 0xFFFF_FFFF_8000_0000;
/// Where shared_info is mapped once the new tables are live.
static SHARED_INFO_VA: AtomicU64 = AtomicU64::new(0);

fn pfn_of_mfn(mfn: u64, nr_pages: u64) -> Option<u64> {
    (0..nr_pages).find(|&pfn| mfn_of_pfn(pfn) == mfn)
}

/// Runs the story. Never returns.
pub fn run(si: &'static StartInfo, ring: Result<Ring, NoRing>) -> ! {
    // 1. Banner.
    let (major, minor) = guest::version();
    say!(
        "guest-kernel: started on Xen-compatible hypervisor {major}.{minor}: {} pages ({} MiB), flags {:#x}, cmdline '{}'",
        si.nr_pages,
        si.nr_pages >> 8,
        si.flags,
        si.cmdline()
    );
    if !si.magic_ok() {
        fail("bad start_info magic");
    }
    match ring {
        Ok(r) => say!(
            "guest-kernel: console: printing through its console ring (mfn {:#x}, pfn {}, event channel {}), served by the hypervisor",
            r.mfn.0,
            r.pfn.0,
            r.port
        ),
        Err(NoRing::InitialDomain) => say!("guest-kernel: console: domain 0 prints with console_io"),
        Err(why) => say!("guest-kernel: console: no console ring ({why:?}); printing with console_io"),
    }
    if si.mod_len != 0 {
        say!(
            "guest-kernel: ramdisk of {} bytes at {:#x}, FNV-1a {:#018x}",
            si.mod_len,
            si.mod_start,
            fnv1a(si.mod_start, si.mod_len)
        );
    }
    P2M.store(si.mfn_list, Ordering::Relaxed);
    NEXT_FREE_PFN.store(si.nr_pages - 1, Ordering::Relaxed);
    let test = si.cmdline().split_ascii_whitespace().find_map(|t| t.strip_prefix("test="));
    let m2p_ok = (0..si.nr_pages).all(|pfn| mem::read(abi::MACH2PHYS_VIRT_START + mfn_of_pfn(pfn) * 8) == pfn);
    if !m2p_ok {
        fail("the read-only M2P disagrees with the p2m list");
    }
    say!(
        "guest-kernel: step 1: the read-only M2P at {:#x} agrees with the p2m list for all {} pages",
        abi::MACH2PHYS_VIRT_START,
        si.nr_pages
    );

    // 2. Trap table and callbacks.
    let table = traps::table();
    check("install trap table", traps::install(&table));
    check("register callbacks", traps::register_callbacks());
    say!("guest-kernel: step 2: trap table (#UD, #NM, #GP, #PF) and event/failsafe callbacks installed");

    match test {
        Some("bad-pointer") => bad_pointer(),
        Some("unhandled-fault") => unhandled_fault(),
        Some("hcall-entries") => hcall_entries(),
        Some("emulation") => emulation(si),
        Some("refusals") => refusals(si),
        Some("report-failure") => {
            // For the runners' tests: a failing guest that still powers off.
            say!("guest-kernel: reporting FAILURE on purpose, then powering off");
            say!("Test result: FAILURE");
            guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
        }
        Some("native-iret") => native_iret(),
        Some("mmu-flood") => crate::isolation_modes::mmu_flood(si),
        Some("dead-domain") => crate::isolation_modes::dead_domain(),
        Some("console-flood") => crate::isolation_modes::console_flood(si),
        Some("fpu") if si.flags & abi::start_info::SIF_INITDOMAIN != 0 => fpu_owner(),
        Some("fpu") => fpu_peer(),
        Some("spin") => {
            say!("guest-kernel: spinning forever without yielding");
            loop {
                core::hint::spin_loop();
            }
        }
        _ => {}
    }

    // 3. New page tables, built only with mmu_update.
    let old_l4 = mfn_of_pfn((si.pt_base - VIRT_BASE) / 4096);
    let (new_l4, frames, entries) = build_tables(si);
    say!("guest-kernel: step 3: built new page tables in {frames} fresh frames with mmu_update ({entries} entries)");

    // 4. Pin, switch, unpin the boot tables.
    let op = |cmd, mfn| MmuextOp { cmd, pad: 0, arg1: mfn, arg2: 0 };
    if let Err(e) =
        mem::mmuext(&[op(MMUEXT_PIN_L4_TABLE, new_l4), op(MMUEXT_NEW_BASEPTR, new_l4), op(MMUEXT_UNPIN_TABLE, old_l4)])
    {
        fail_errno("pin/switch/unpin", e.errno);
    }
    // The boot L4 is plain memory now: it may be mapped writable again.
    let writable = mem::update_va(si.pt_base, (old_l4 << 12) | PRESENT | RW | USER | ACCESSED, UVMF_INVLPG);
    check("remap the old L4 writable", writable);
    say!(
        "guest-kernel: step 4: pinned the new L4, switched to it, unpinned the boot tables (old L4 now writable data)"
    );

    // 5. A deliberate page fault, fixed up by the handler.
    let hole = HOLE.load(Ordering::Relaxed);
    mem::write(hole, 0x1234_5678);
    if mem::read(hole) != 0x1234_5678 {
        fail("demand-mapped page does not hold what was written");
    }
    say!("guest-kernel: step 5: page fault at {hole:#x} handled by mapping a fresh frame; access resumed");

    // Optional: `make modes`' workload on the new tables, then power off.
    if si.cmdline().split_ascii_whitespace().any(|t| t == "modes") {
        let (l3, l2) = (KERNEL_L3.load(Ordering::Relaxed), KERNEL_L2.load(Ordering::Relaxed));
        if l3 == 0 || l2 == 0 {
            fail("modes: the kernel's L3 or L2 was not found");
        }
        crate::pv_modes::run(si, l3, l2, hole, &HOLE_MFN);
    }

    // Optional: ballooning, and watching our own memory while others balloon.
    let watch = watched_pages(hole);
    let arg = |key: &str| si.cmdline().split_ascii_whitespace().find_map(|t| t.strip_prefix(key));
    // Optional: an interdomain event-channel ping-pong.
    if let Some(spec) = arg("ping=") {
        crate::evtchn_demo::ping(spec);
    }
    if let Some(spec) = arg("pong=") {
        crate::evtchn_demo::pong(spec);
    }
    if si.cmdline().split_ascii_whitespace().any(|t| t == "wait-keys") {
        crate::console_keys::wait_keys();
    }
    if si.cmdline().split_ascii_whitespace().any(|t| t == "wait-dom-exc") {
        crate::evtchn_demo::wait_dom_exc();
    }
    if let Some(list) = arg("balloon=") {
        run_balloon(list, hole, &watch);
    }
    if let Some(rounds) = arg("watch=").and_then(|r| r.parse::<u32>().ok()) {
        for round in 1..=rounds {
            guest::yield_now();
            check_watched(&watch, round);
        }
    }
    if si.cmdline().split_ascii_whitespace().any(|t| t == "share") {
        crate::sharing::run(si, hole);
        check_watched(&watch, 0);
    }
    if si.cmdline().split_ascii_whitespace().any(|t| t == "pvhshare") {
        crate::sharing::pvh_peer(hole);
    }

    // Time: uptime, then idling on the single-shot timer (`idle=N` sleeps
    // of 10 ms, default 3; `sleep=S` one more of S seconds).
    let idle = arg("idle=").and_then(|r| r.parse::<u32>().ok()).unwrap_or(3);
    let sleep = arg("sleep=").and_then(|r| r.parse::<u64>().ok()).unwrap_or(0);
    crate::timekeeping::idle_step(SHARED_INFO_VA.load(Ordering::Relaxed), idle, sleep);
    // Optional: reading the time without pause until system time MS ms
    // (`time-spin=MS`), across the hypervisor's TSC refinements.
    if let Some(ms) = arg("time-spin=").and_then(|r| r.parse::<u64>().ok()) {
        crate::timekeeping::spin_step(SHARED_INFO_VA.load(Ordering::Relaxed), ms);
    }
    // Optional: abusing its own console ring (`ring-test`).
    if si.cmdline().split_ascii_whitespace().any(|t| t == "ring-test") {
        let Ok(r) = ring else { fail("ring-test needs a console ring (a domain other than 0)") };
        crate::ring_test::run(r, SHARED_INFO_VA.load(Ordering::Relaxed));
    }

    // 6. Three user tasks, preempted by the kernel's tick, then done.
    user_tasks(new_l4)
}

/// Where the user tasks' code page starts; their stacks are the next two
/// pages. L4 slot 0, mapped by both roots through the same L3.
const USER_CODE: u64 = 0x40_0000;

/// The kernel's tick while the user tasks run: VIRQ_TIMER every 10 ms
/// from the periodic vCPU timer.
const TICK_NS: u64 = 10_000_000;

/// Step 6: a user page table mapping only user space (code and stacks)
/// and the same L3 hooked into the kernel table, then three tasks in ring
/// 3, switched by this kernel's own scheduler: two making system calls,
/// one only spinning, which only the tick preempts.
fn user_tasks(kernel_l4: u64) -> ! {
    map_user_space(kernel_l4, user::task_code());
    let port = crate::timekeeping::TIMER_PORT.load(Ordering::SeqCst);
    if port != 0 {
        let _ = guest::set_periodic_timer(0, TICK_NS);
    }
    // Events left from the sleeps before are taken now, so the first tick
    // the tasks see is the periodic timer's.
    guest_kernel::arch::x86_64::events::guest_event();
    let stacks = [USER_CODE + 0x2000, USER_CODE + 0x3000, USER_CODE + 0x4000];
    user::run_tasks(USER_CODE, stacks, port, tasks_done)
}

/// A user root mapping a code page holding `code` and two stack pages at
/// [`USER_CODE`], the same L3 hooked into `kernel_l4`; installed with
/// `MMUEXT_NEW_USER_BASEPTR`.
fn map_user_space(kernel_l4: u64, code: &[u8]) {
    let fresh = || {
        let m = alloc_frame();
        clear(m);
        m
    };
    let (user_l4, l3, l2, l1) = (fresh(), fresh(), fresh(), fresh());
    let pages = [fresh(), fresh(), fresh(), fresh()];
    let e = |table: u64, idx: u64, mfn: u64| MmuUpdate {
        ptr: (table << 12) + idx * 8,
        val: (mfn << 12) | PRESENT | RW | USER | ACCESSED,
    };
    let mut n = 0;
    push(&[e(l1, 0, pages[0]), e(l1, 1, pages[1]), e(l1, 2, pages[2]), e(l1, 3, pages[3])], &mut n);
    push(&[e(l2, 2, l1), e(l3, 0, l2)], &mut n);
    push(&[e(user_l4, 0, l3), e(kernel_l4, 0, l3)], &mut n);
    let op = |cmd, mfn| MmuextOp { cmd, pad: 0, arg1: mfn, arg2: 0 };
    if let Err(e) = mem::mmuext(&[op(MMUEXT_PIN_L4_TABLE, user_l4), op(MMUEXT_NEW_USER_BASEPTR, user_l4)]) {
        fail_errno("pin and install the user root", e.errno);
    }
    for (i, chunk) in code.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        w[..chunk.len()].copy_from_slice(chunk);
        mem::write(USER_CODE + i as u64 * 8, u64::from_le_bytes(w));
    }
}

/// Step 6's line and the end of the story, in kernel mode again.
fn tasks_done(r: &user::Report) -> ! {
    let _ = guest::vcpu_op_simple(abi::vcpu::VCPUOP_STOP_PERIODIC_TIMER, 0);
    say!(
        "guest-kernel: step 6: 3 user tasks in ring 3 made {} system calls, switched by this kernel: {}",
        r.syscalls,
        r.log().trim_end()
    );
    match r.spinner_ended {
        Some(loops) if r.spinner_preempted > 0 => say!(
            "guest-kernel: step 6: ticks preempted tasks {} times (spinner C {}); others ran after C {} times; C ended at {loops} loops",
            r.preemptions,
            r.spinner_preempted,
            r.ran_after_spinner
        ),
        // (Lines of an unprivileged domain are cut at 128 bytes.)
        _ => say!("guest-kernel: step 6: no tick (VIRQ_TIMER not bound): task C did not run"),
    }
    match r.fault {
        Some((6, rip, cs, true)) if cs == 0xE033 => say!(
            "guest-kernel: step 6: user task B's ud2 at {rip:#x} reached the #UD handler on the kernel stack, CS {cs:#x}"
        ),
        _ => fail("the user task's ud2 did not reach the #UD handler from user mode"),
    }
    say!("guest-kernel: step 7: all steps passed, shutting down (poweroff)");
    say!("Test result: SUCCESS");
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// Copies the boot tables' guest mappings into fresh frames, except the
/// last page of the region, which is left unmapped for step 5, and the page
/// before it, which maps shared_info.
fn build_tables(si: &StartInfo) -> (u64, u64, u64) {
    let pt_base = si.pt_base;
    let va_of = |mfn: u64| pfn_of_mfn(mfn, si.nr_pages).map(|pfn| VIRT_BASE + pfn * 4096);
    let mut frames = 0;
    let mut entries = 0;
    let new = |frames: &mut u64| {
        *frames += 1;
        let m = alloc_frame();
        clear(m);
        m
    };
    let l4 = new(&mut frames);
    let mut last_page: Option<(u64, usize, u64)> = None;
    let write = |table: u64, idx: usize, val: u64| MmuUpdate { ptr: (table << 12) + idx as u64 * 8, val };
    for i4 in 0..512 {
        if (256..272).contains(&i4) {
            continue;
        }
        let e4 = mem::read(pt_base + i4 as u64 * 8);
        if e4 & PRESENT == 0 {
            continue;
        }
        let l3 = new(&mut frames);
        push(&[write(l4, i4, (l3 << 12) | (e4 & 0xFFF))], &mut entries);
        if i4 == 511 {
            KERNEL_L3.store(l3, Ordering::Relaxed);
        }
        let old_l3 = va_of((e4 & ADDR_MASK) >> 12).unwrap_or_else(|| fail("boot L3 not mapped"));
        for i3 in 0..512 {
            let e3 = mem::read(old_l3 + i3 as u64 * 8);
            if e3 & PRESENT == 0 {
                continue;
            }
            let l2 = new(&mut frames);
            push(&[write(l3, i3, (l2 << 12) | (e3 & 0xFFF))], &mut entries);
            if i4 == 511 && i3 == 510 {
                KERNEL_L2.store(l2, Ordering::Relaxed);
            }
            let old_l2 = va_of((e3 & ADDR_MASK) >> 12).unwrap_or_else(|| fail("boot L2 not mapped"));
            for i2 in 0..512 {
                let e2 = mem::read(old_l2 + i2 as u64 * 8);
                if e2 & PRESENT == 0 {
                    continue;
                }
                let l1 = new(&mut frames);
                let old_l1 = va_of((e2 & ADDR_MASK) >> 12).unwrap_or_else(|| fail("boot L1 not mapped"));
                let mut batch = [MmuUpdate::default(); 512];
                let mut n = 0;
                for i1 in 0..512 {
                    let e1 = mem::read(old_l1 + i1 as u64 * 8);
                    if e1 & PRESENT != 0 {
                        batch[n] = write(l1, i1, e1);
                        n += 1;
                        last_page = Some((l1, i1, virt_of(i4, i3, i2, i1)));
                    }
                }
                push(&batch[..n], &mut entries);
                push(&[write(l2, i2, (l1 << 12) | (e2 & 0xFFF))], &mut entries);
            }
        }
    }
    // Leave the region's last page unmapped: step 5 faults on it.
    let (l1, idx, va) = last_page.unwrap_or_else(|| fail("the boot tables map nothing"));
    if idx == 0 {
        fail("the region's last page starts an L1");
    }
    push(&[write(l1, idx, 0), write(l1, idx - 1, si.shared_info | PRESENT | RW | USER | ACCESSED)], &mut entries);
    HOLE.store(va, Ordering::Relaxed);
    SHARED_INFO_VA.store(va - 4096, Ordering::Relaxed);
    guest_kernel::arch::x86_64::events::SHARED_INFO.store(va - 4096, Ordering::SeqCst);
    (l4, frames, entries)
}

fn push(reqs: &[MmuUpdate], entries: &mut u64) {
    if let Err(e) = mem::mmu_update(reqs) {
        fail_errno("mmu_update", e.errno);
    }
    *entries += reqs.len() as u64;
}

/// The #PF handler's work: map a fresh frame at the hole. Returns false for
/// any other fault.
pub fn page_fault() -> bool {
    let hole = HOLE.load(Ordering::Relaxed);
    let cr2 = shared_cr2();
    if hole == 0 || cr2 & !0xFFF != hole {
        return false;
    }
    crate::pv_modes::FAULTS.fetch_add(1, Ordering::Relaxed);
    let mfn = alloc_frame();
    HOLE_MFN.store(mfn, Ordering::Relaxed);
    mem::update_va(hole, (mfn << 12) | PRESENT | RW | USER | ACCESSED, UVMF_INVLPG).is_ok()
}

/// vcpu_info[0].arch.cr2 (offset 16), where the hypervisor puts the address
/// of the fault it bounced.
fn shared_cr2() -> u64 {
    mem::read(SHARED_INFO_VA.load(Ordering::Relaxed) + 16)
}

fn check(what: &str, r: Result<(), Errno>) {
    if let Err(e) = r {
        fail_errno(what, e);
    }
}

pub(crate) fn fail_errno(what: &str, e: Errno) -> ! {
    say!("guest-kernel: {what} failed: -{} ({})", e.0, e.name().unwrap_or("?"));
    say!("Test result: FAILURE");
    guest::shutdown(abi::sched::SHUTDOWN_CRASH)
}

pub(crate) fn fail(what: &str) -> ! {
    say!("guest-kernel: {what}");
    say!("Test result: FAILURE");
    guest::shutdown(abi::sched::SHUTDOWN_CRASH)
}

/// The FPU test's state for domain 0: FCW with 53-bit precision, a large
/// integer in ST(0), MXCSR rounding down, a pattern in XMM0.
const FPU_OWNER: (u16, u64, u32, [u8; 16]) = (0x027F, 0x1234_5678_9ABC_DEF0, 0x3F80, [0xD0; 16]);
/// Domain 1's: different in every register.
const FPU_PEER: (u16, u64, u32, [u8; 16]) = (0x007F, 0x0DDC_0FFE, 0x5F80, [0x11; 16]);

/// `test=fpu` as domain 0 (with `test=fpu` as domain 1): loads its own x87
/// and SSE state, sets the virtual TS with `fpu_taskswitch(1)` and yields
/// until domain 1 has finished. Then its first FPU instruction must raise
/// #NM (the TS came back with it) and find every register as it left
/// them; after the #NM, TS is clear; `fpu_taskswitch(1)` makes SSE raise
/// #NM too, and `fpu_taskswitch(0)` undoes it.
fn fpu_owner() -> ! {
    use guest_kernel::arch::x86_64::fpu;
    let nm = || traps::NM_COUNT.load(Ordering::SeqCst);
    let (fcw, x87, mxcsr, xmm0) = FPU_OWNER;
    fpu::load(fcw, x87, mxcsr, &xmm0);
    let before = fpu::fxsave();
    let set = guest::fpu_taskswitch(true);
    let mut polls = 0u32;
    while guest::current_reservation(abi::DomId(1)).is_ok() {
        polls += 1;
        if polls > 100_000 {
            fail("domain 1 never finished");
        }
        guest::yield_now();
    }
    let after = fpu::fxsave();
    let nm_at_first_use = nm();
    let kept = before.registers().eq(after.registers());
    fpu::fld1();
    let nm_after_retry = nm();
    let _ = guest::fpu_taskswitch(true);
    fpu::xorps_xmm1();
    let nm_sse = nm();
    let _ = guest::fpu_taskswitch(true);
    let cleared = guest::fpu_taskswitch(false);
    fpu::fld1();
    let nm_cleared = nm();
    say!("guest-kernel: fpu owner: registers kept across domain 1: {kept}; fpu_taskswitch(1) {set:?}");
    say!(
        "guest-kernel: fpu owner: #NM at first use {nm_at_first_use}, after retry {nm_after_retry}, SSE under TS {nm_sse}, after taskswitch(0) {cleared:?} {nm_cleared}"
    );
    let ok =
        kept && set.is_ok() && cleared.is_ok() && (nm_at_first_use, nm_after_retry, nm_sse, nm_cleared) == (1, 1, 2, 2);
    say!("Test result: {}", if ok { "SUCCESS" } else { "FAILURE" });
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// `test=fpu` as domain 1: it starts after domain 0 loaded its registers
/// and set its TS, and must see neither: the init state and no #NM. Then
/// its own registers must survive domain 0 running in between.
fn fpu_peer() -> ! {
    use guest_kernel::arch::x86_64::fpu;
    let first = fpu::fxsave();
    let init = first.is_init_state();
    let (fcw, x87, mxcsr, xmm0) = FPU_PEER;
    fpu::load(fcw, x87, mxcsr, &xmm0);
    let before = fpu::fxsave();
    for _ in 0..3 {
        guest::yield_now();
    }
    let kept = before.registers().eq(fpu::fxsave().registers());
    let nm = traps::NM_COUNT.load(Ordering::SeqCst);
    say!("guest-kernel: fpu peer: init state at start: {init}; own registers kept: {kept}; #NM count {nm}");
    say!(
        "guest-kernel: fpu peer: it found fcw {:#x} mxcsr {:#x} st0 {:02x?}",
        first.fcw(),
        first.mxcsr(),
        &first.0[32..42]
    );
    say!("Test result: {}", if init && kept && nm == 0 { "SUCCESS" } else { "FAILURE" });
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// `test=bad-pointer`: a console write from a hypervisor address must be -EFAULT.
fn bad_pointer() -> ! {
    let r = abi::guest::console_write_raw(abi::HYPERVISOR_VIRT_START, 16);
    say!("guest-kernel: console_io with a pointer into the hypervisor returned {r}");
    let r2 = abi::guest::console_write_raw(0x7FFF_FFFF_FFF0, 64);
    say!("guest-kernel: console_io with a range crossing 2^47 returned {r2}");
    let ok = r == Errno::EFAULT.to_rax() && r2 == Errno::EFAULT.to_rax();
    say!("Test result: {}", if ok { "SUCCESS" } else { "FAILURE" });
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// `test=unhandled-fault`: with no trap table, an exception crashes the domain.
fn unhandled_fault() -> ! {
    check("clear trap table", traps::clear());
    say!("guest-kernel: trap table cleared; executing ud2");
    mem::ud2();
    say!("guest-kernel: still running after an unhandled #UD");
    say!("Test result: FAILURE");
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// `test=native-iret`: the guest's own `iretq`, which QEMU 7.2 TCG checks
/// as a supervisor access under SMAP (the hypervisor completes it): one to
/// itself resumes, one to a CS with RPL 0 raises #GP like the hardware.
fn native_iret() -> ! {
    let cs = mem::code_selector();
    mem::iretq_to_self(cs);
    say!("guest-kernel: native iretq to itself (cs {cs:#x}) returned");
    traps::SKIP_ON_FAULT.store(2, Ordering::SeqCst);
    traps::LAST_FAULT.store(0, Ordering::SeqCst);
    mem::iretq_to_self(cs & !3);
    traps::SKIP_ON_FAULT.store(0, Ordering::SeqCst);
    let vector = traps::LAST_FAULT.swap(0, Ordering::SeqCst);
    say!("guest-kernel: native iretq to cs {:#x} raised vector {vector}", cs & !3);
    say!("Test result: {}", if vector == 13 { "SUCCESS" } else { "FAILURE" });
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// `test=hcall-entries`: xen_version through SYSCALL, `int 0x82` and `vmcall`.
fn hcall_entries() -> ! {
    let nr = HypercallNr::XEN_VERSION.0;
    let syscall = (u64::from(guest::version().0) << 16 | u64::from(guest::version().1)) as i64;
    traps::SKIP_ON_FAULT.store(2, Ordering::SeqCst);
    traps::LAST_FAULT.store(0, Ordering::SeqCst);
    let int82 = mem::hypercall_int82(nr, 0, 0);
    let int82_fault = traps::LAST_FAULT.swap(0, Ordering::SeqCst);
    traps::SKIP_ON_FAULT.store(3, Ordering::SeqCst);
    let vmcall = mem::hypercall_vmcall(nr, 0, 0);
    let vmcall_fault = traps::LAST_FAULT.swap(0, Ordering::SeqCst);
    traps::SKIP_ON_FAULT.store(0, Ordering::SeqCst);
    say!("guest-kernel: xen_version via syscall={syscall:#x} int82={int82:#x} (fault {int82_fault}) vmcall={vmcall:#x} (fault {vmcall_fault})");
    say!("Test result: SUCCESS");
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// `test=emulation`: forced-emulation CPUID and CR3 moves.
fn emulation(si: &StartInfo) -> ! {
    let sig = mem::xen_cpuid(0x4000_0000);
    let mut name = [0u8; 12];
    for (i, w) in sig[1..].iter().enumerate() {
        name[i * 4..i * 4 + 4].copy_from_slice(&w.to_le_bytes());
    }
    let ver = mem::xen_cpuid(0x4000_0001)[0];
    let cr3 = mem::read_cr3();
    let l4 = mfn_of_pfn((si.pt_base - VIRT_BASE) / 4096);
    mem::write_cr3(cr3);
    let ok = &name == b"XenVMMXenVMM" && ver == 0x0004_0011 && cr3 == l4 << 12 && mem::read_cr3() == cr3;
    say!(
        "guest-kernel: cpuid 0x40000000 '{}' max {:#x}, 0x40000001 {ver:#x}; cr3 {cr3:#x} (boot L4 {:#x})",
        core::str::from_utf8(&name).unwrap_or("?"),
        sig[0],
        l4 << 12
    );
    say!("Test result: {}", if ok { "SUCCESS" } else { "FAILURE" });
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// `test=refusals`: mistakes the hypervisor refuses, two of them with the
/// same errno, so its debug log can be checked for the rule of each.
fn refusals(si: &StartInfo) -> ! {
    let l4 = mfn_of_pfn((si.pt_base - VIRT_BASE) / 4096);
    // The frame at 1 MiB holds hypervisor code: never the guest's.
    let foreign = 0x100u64;
    let table_rw = mem::update_va(si.pt_base, (l4 << 12) | PRESENT | RW | USER, UVMF_NONE);
    let not_owned = mem::update_va(si.pt_base, (foreign << 12) | PRESENT | USER, UVMF_NONE);
    let own = mfn_of_pfn(0);
    let m2p = |mfn: u64, pfn: u64| MmuUpdate { ptr: (mfn << 12) | MMU_MACHPHYS_UPDATE, val: pfn };
    let batch = mem::mmu_update(&[m2p(own, 0), m2p(foreign, 0)]);
    say!("guest-kernel: own L4 mapped writable: {table_rw:?}; a hypervisor frame mapped: {not_owned:?}");
    say!("guest-kernel: M2P batch with a hypervisor frame second: {batch:?}");
    let ok = table_rw == Err(Errno::EBUSY)
        && not_owned == Err(Errno::EBUSY)
        && batch.is_err_and(|e| e.errno == Errno::EINVAL && e.done == 1);
    say!("Test result: {}", if ok { "SUCCESS" } else { "FAILURE" });
    guest::shutdown(abi::sched::SHUTDOWN_POWEROFF)
}

/// Pages filled with a known pattern at start and checked later: 16 pages
/// of the region's unused tail, below the shared_info page.
fn watched_pages(hole: u64) -> [u64; 16] {
    let pages: [u64; 16] = core::array::from_fn(|i| hole - 8192 - (16 - i as u64) * 4096);
    for &va in &pages {
        for w in 0..512u64 {
            mem::write(va + w * 8, va ^ w.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
    }
    pages
}

/// FNV-1a (64-bit) of `len` bytes at `va` (8-aligned), read a word at a time.
fn fnv1a(va: u64, len: u64) -> u64 {
    (0..len).fold(0xCBF2_9CE4_8422_2325u64, |h, i| {
        let byte = mem::read(va + (i & !7)).to_le_bytes()[(i & 7) as usize];
        (h ^ u64::from(byte)).wrapping_mul(0x100_0000_01B3)
    })
}

fn checksum(pages: &[u64]) -> u64 {
    pages.iter().fold(0xCBF2_9CE4_8422_2325u64, |acc, &va| {
        (0..512).fold(acc, |a, w| (a ^ mem::read(va + w * 8)).wrapping_mul(0x100_0000_01B3))
    })
}

fn check_watched(pages: &[u64], round: u32) {
    let expected = pages.iter().fold(0xCBF2_9CE4_8422_2325u64, |acc, &va| {
        (0..512u64).fold(acc, |a, w| (a ^ (va ^ w.wrapping_mul(0x9E37_79B9_7F4A_7C15))).wrapping_mul(0x100_0000_01B3))
    });
    let got = checksum(pages);
    if got != expected {
        fail("watched memory changed while another domain ballooned");
    }
    say!("guest-kernel: watch {round}: checksum {got:#018x} of 16 watched pages unchanged");
}

fn run_balloon(list: &str, hole: u64, watch: &[u64]) {
    let mut b = crate::balloon::Balloon { out: 0 };
    let mut next_free = NEXT_FREE_PFN.load(Ordering::Relaxed);
    let probe = (hole, (HOLE_MFN.load(Ordering::Relaxed) << 12) | PRESENT | RW | USER | ACCESSED);
    for (step, target) in list.split(',').enumerate() {
        let Some(bytes) = guest_kernel::parse_size(target) else { fail("bad balloon= size") };
        if !b.set_target(bytes, &mut next_free, P2M.load(Ordering::Relaxed), probe) {
            fail("balloon step failed");
        }
        check_watched(watch, step as u32 + 1);
        guest::yield_now();
    }
    NEXT_FREE_PFN.store(next_free, Ordering::Relaxed);
}
