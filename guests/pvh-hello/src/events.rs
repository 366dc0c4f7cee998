//! Event channels from a PVH guest: its shared_info placed at a frame of
//! its own (`XENMEM_add_to_physmap`), its vcpu_info moved to another
//! (`VCPUOP_register_vcpu_info` on a guest frame), an IDT gate for the
//! `HVM_PARAM_CALLBACK_IRQ` vector set in `pvh_main`, and then, by its
//! command line:
//!
//! * `pong=DOM,N`: a port allocated for domain DOM (port 1: this domain
//!   has no console ring), N pings answered, each after it arrived;
//! * `timer=N`: `VIRQ_TIMER` bound, N single-shot timers through
//!   `set_timer_op`, each waited for in HLT and arriving after its deadline;
//! * `evbad` (before a `pong=`, so its peer is alive): bad ports, domains
//!   and frames refused with Xen's errno.
//!
//! The upcall handler clears `evtchn_upcall_pending`, takes the pending
//! selector and counts (and clears) each pending, unmasked port.

use crate::pvh::{check, fail, hypercall, peek, poke, say};
use abi::event_channel::*;
use abi::hypercall::HypercallNr;
use abi::memory::{XENMAPSPACE_SHARED_INFO, XENMEM_ADD_TO_PHYSMAP};
use abi::{DomId, Errno};
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// The vector `pvh_main` put in `HVM_PARAM_CALLBACK_IRQ`.
pub(crate) const VECTOR: u64 = 0xF3;
/// Events seen per port (ports below 64).
pub(crate) static COUNT: [AtomicU32; 64] = [const { AtomicU32::new(0) }; 64];
pub(crate) static UPCALLS: AtomicU32 = AtomicU32::new(0);
/// Where vcpu_info is (shared_info's slot 0 until moved).
static VCPU_INFO: AtomicU64 = AtomicU64::new(0);

fn errno(e: Errno) -> i64 {
    -i64::from(e.0)
}

fn evtchn(cmd: u64, arg: &mut [u32]) -> i64 {
    hypercall(HypercallNr::EVENT_CHANNEL_OP, cmd, arg.as_mut_ptr() as u64, 0)
}

/// The handler's body: called from `pvh_upcall_entry` with interrupts off.
#[no_mangle]
extern "C" fn pvh_upcall() {
    UPCALLS.fetch_add(1, Ordering::SeqCst);
    let vi = VCPU_INFO.load(Ordering::SeqCst);
    let si = crate::pvh::shinfo_page();
    poke::<u8>(vi, 0);
    // The selector, taken whole (the hypervisor only sets bits).
    // SAFETY: vcpu_info is this guest's own memory, 8-aligned.
    let sel = unsafe { (*((vi + 8) as *const AtomicU64)).swap(0, Ordering::SeqCst) };
    for w in 0..64u64 {
        if sel & (1 << w) == 0 {
            continue;
        }
        // SAFETY: shared_info is mapped at this page; the words are 8-aligned.
        let pending = unsafe { &*((si + 2048 + w * 8) as *const AtomicU64) };
        let mask: u64 = peek(si + 2560 + w * 8);
        let hits = pending.load(Ordering::SeqCst) & !mask;
        pending.fetch_and(!hits, Ordering::SeqCst);
        for b in 0..64 {
            if hits & (1 << b) != 0 {
                if let Some(c) = COUNT.get((w * 64 + b) as usize) {
                    c.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }
}

/// Waits in HLT until `port` has seen more than `seen` events (at most
/// `patience` wake-ups).
pub(crate) fn wait_for(port: u32, seen: u32) {
    for _ in 0..100_000 {
        // SAFETY: CLI, then STI;HLT: an upcall due arrives either before
        // the test or ends the HLT (STI's shadow covers the HLT).
        unsafe { core::arch::asm!("cli") };
        if COUNT[port as usize].load(Ordering::SeqCst) > seen {
            // SAFETY: the gate is set; interrupts back on.
            unsafe { core::arch::asm!("sti") };
            return;
        }
        // SAFETY: as above.
        unsafe { core::arch::asm!("sti", "hlt") };
    }
    fail("no event arrived");
}

/// System time now, from vcpu_info's `vcpu_time_info`.
pub(crate) fn now() -> u64 {
    let t = VCPU_INFO.load(Ordering::SeqCst) + 32;
    loop {
        let v: u32 = peek(t);
        let (stamp, sys, mul, shift): (u64, u64, u32, i8) = (peek(t + 8), peek(t + 16), peek(t + 24), peek(t + 28));
        // SAFETY: RDTSC only reads the counter.
        let tsc = unsafe { core::arch::x86_64::_rdtsc() };
        let mut d = tsc.wrapping_sub(stamp);
        d = if shift >= 0 { d << shift } else { d >> -shift };
        let ns = sys + ((u128::from(d) * u128::from(mul)) >> 32) as u64;
        if v & 1 == 0 && peek::<u32>(t) == v {
            return ns;
        }
    }
}

/// shared_info at this guest's page, vcpu_info at another, the gate.
pub(crate) fn setup() {
    let si = crate::pvh::shinfo_page();
    let mut xatp = [0u64; 3];
    xatp[0] = u64::from(DomId::SELF.0) | (u64::from(XENMAPSPACE_SHARED_INFO) << 32);
    xatp[2] = si >> 12;
    let r = hypercall(HypercallNr::MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, xatp.as_ptr() as u64, 0);
    check(r == 0, "add_to_physmap(shared_info)");
    VCPU_INFO.store(si, Ordering::SeqCst);
    let vp = crate::pvh::vcpu_page();
    let reg: [u64; 2] = [vp >> 12, 128];
    let r = hypercall(HypercallNr::VCPU_OP, abi::vcpu::VCPUOP_REGISTER_VCPU_INFO, 0, reg.as_ptr() as u64);
    check(r == 0, "register_vcpu_info");
    VCPU_INFO.store(vp + 128, Ordering::SeqCst);
    let idt = crate::pvh::idt_base();
    let h = crate::pvh::upcall_gate();
    poke(idt + VECTOR * 16, (h & 0xFFFF) | (0x08 << 16) | (0x8E << 40) | (((h >> 16) & 0xFFFF) << 48));
    poke(idt + VECTOR * 16 + 8, h >> 32);
    let idtr: [u16; 5] = [256 * 16 - 1, idt as u16, (idt >> 16) as u16, (idt >> 32) as u16, (idt >> 48) as u16];
    // SAFETY: the IDT is this guest's own; the gates it names are set (14
    // and the upcall's), and nothing else is raised.
    unsafe { core::arch::asm!("lidt [{}]", "sti", in(reg) &idtr, options(nostack)) };
    say!(
        "pvh-hello: events: shared_info at gfn {:#x}, vcpu_info at gfn {:#x} + 128, upcalls on vector {VECTOR:#x}",
        si >> 12,
        vp >> 12
    );
}

fn arg<'a>(cmd: &'a str, key: &str) -> Option<&'a str> {
    cmd.split(' ').find_map(|t| t.strip_prefix(key))
}

/// An event sent to itself over a loopback channel with interrupts off:
/// the upcall is held, and must come as soon as STI lets it in, while the
/// guest spins without a VM exit of its own (the interrupt window): within
/// 1000 spins. Without the window it waits for an unrelated exit (a
/// timer interrupt: some 10^5 spins here).
fn held_upcall() {
    let me = u32::from(DomId::SELF.0);
    let mut a = [me | (me << 16), 0];
    check(evtchn(EVTCHNOP_ALLOC_UNBOUND, &mut a) == 0, "alloc_unbound(self)");
    let p = a[1];
    let mut b = [me, p, 0];
    check(evtchn(EVTCHNOP_BIND_INTERDOMAIN, &mut b) == 0, "bind_interdomain(self)");
    let q = b[2];
    let seen = COUNT[p as usize].load(Ordering::SeqCst);
    // SAFETY: only masks interrupts; STI below unmasks them.
    unsafe { core::arch::asm!("cli") };
    let mut s = [q];
    check(evtchn(EVTCHNOP_SEND, &mut s) == 0, "send(self)");
    // SAFETY: the gate is set.
    unsafe { core::arch::asm!("sti") };
    let mut spins = 0u32;
    while COUNT[p as usize].load(Ordering::SeqCst) == seen {
        spins += 1;
        if spins == 1000 {
            fail("an upcall held while IF was clear did not come after STI");
        }
        core::hint::spin_loop();
    }
    for port in [q, p] {
        let mut c = [port];
        check(evtchn(EVTCHNOP_CLOSE, &mut c) == 0, "close");
        // A port handed out again starts its count afresh.
        COUNT[port as usize].store(0, Ordering::SeqCst);
    }
    say!("pvh-hello: events: an upcall held while IF was clear came after STI ({spins} spins), loopback closed");
}

/// The event modes its command line asks for, in order.
pub fn run(cmd: &str) {
    let pong = arg(cmd, "pong=");
    let timer = arg(cmd, "timer=").and_then(|n| n.parse::<u32>().ok());
    let bad = cmd.split(' ').any(|t| t == "evbad");
    if pong.is_none() && timer.is_none() && !bad {
        return;
    }
    setup();
    held_upcall();
    if bad {
        refusals();
    }
    if let Some(spec) = pong {
        let Some((dom, n)) = spec.split_once(',').and_then(|(d, n)| Some((d.parse::<u16>().ok()?, n.parse().ok()?)))
        else {
            fail("pong= wants DOM,N")
        };
        answer(dom, n);
    }
    if let Some(n) = timer {
        ticks(n);
    }
    // SAFETY: no more upcalls wanted.
    unsafe { core::arch::asm!("cli") };
}

fn answer(dom: u16, rounds: u32) {
    let mut a = [u32::from(DomId::SELF.0) | (u32::from(dom) << 16), 0];
    let r = evtchn(EVTCHNOP_ALLOC_UNBOUND, &mut a);
    check(r == 0, "alloc_unbound");
    let port = a[1];
    say!("pvh-hello: evtchn: port {port} open for domain {dom}; answering {rounds} pings");
    let base = COUNT[port as usize].load(Ordering::SeqCst);
    for round in 1..=rounds {
        wait_for(port, base + round - 1);
        let mut s = [port];
        check(evtchn(EVTCHNOP_SEND, &mut s) == 0, "send");
        say!("pvh-hello: evtchn: ping {round} arrived, pong {round} sent on port {port}");
    }
    say!("pvh-hello: evtchn: ping-pong done: {rounds} round trips, {} upcalls", UPCALLS.load(Ordering::SeqCst));
}

fn ticks(n: u32) {
    let mut b = [virq::TIMER, 0, 0];
    check(evtchn(EVTCHNOP_BIND_VIRQ, &mut b) == 0, "bind_virq(VIRQ_TIMER)");
    let port = b[2];
    let before = UPCALLS.load(Ordering::SeqCst);
    let seen = COUNT[port as usize].load(Ordering::SeqCst);
    for k in 0..n {
        let deadline = now() + 2_000_000;
        check(hypercall(HypercallNr::SET_TIMER_OP, deadline, 0, 0) == 0, "set_timer_op");
        wait_for(port, seen + k);
        let t = now();
        check(t >= deadline, "VIRQ_TIMER before its deadline");
    }
    say!(
        "pvh-hello: VIRQ_TIMER: {n} timer upcalls on port {port}, each after its 2 ms deadline ({} upcalls in all)",
        UPCALLS.load(Ordering::SeqCst) - before
    );
}

fn refusals() {
    let e = |x: Errno| errno(x);
    let mut s = [999u32];
    let send = evtchn(EVTCHNOP_SEND, &mut s);
    let mut bi = [7u32, 1, 0];
    let bind = evtchn(EVTCHNOP_BIND_INTERDOMAIN, &mut bi);
    // Domain 0's port 1 is not open for this domain.
    let mut b0 = [0u32, 1, 0];
    let bind0 = evtchn(EVTCHNOP_BIND_INTERDOMAIN, &mut b0);
    // Opening a port of domain 0's, as if it were this domain's to give.
    let mut au = [0u32, 0];
    let foreign = evtchn(EVTCHNOP_ALLOC_UNBOUND, &mut au);
    let mut st = [0u32; 6];
    st[1] = 1;
    let status = evtchn(EVTCHNOP_STATUS, &mut st);
    let reg: [u64; 2] = [0xF_FFFF_FFFF, 0];
    let vinfo = hypercall(HypercallNr::VCPU_OP, abi::vcpu::VCPUOP_REGISTER_VCPU_INFO, 0, reg.as_ptr() as u64);
    let xatp = [u64::from(DomId::SELF.0) | (u64::from(XENMAPSPACE_SHARED_INFO) << 32), 0, 0xF_FFFF_FFFF];
    let far = hypercall(HypercallNr::MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, xatp.as_ptr() as u64, 0);
    let xatp0 = [u64::from(XENMAPSPACE_SHARED_INFO) << 32, 0, 0x100];
    let other = hypercall(HypercallNr::MEMORY_OP, XENMEM_ADD_TO_PHYSMAP, xatp0.as_ptr() as u64, 0);
    say!(
        "pvh-hello: evbad: send 999 -> {send}, bind to domain 7 -> {bind}, to domain 0's port 1 -> {bind0}, \
         alloc_unbound for domain 0 -> {foreign}, \
         status of domain 0's port 1 -> {status}, vcpu_info at gfn 0xfffffffff -> {vinfo}, shared_info there -> {far}, \
         domain 0's shared_info -> {other}"
    );
    check(send == e(Errno::EINVAL), "send on a bad port");
    check(bind == e(Errno::ESRCH), "bind to a missing domain");
    check(bind0 == e(Errno::EINVAL), "bind to a port not open for it");
    check(foreign == e(Errno::EPERM) && status == e(Errno::EPERM), "another domain's ports");
    check(vinfo == e(Errno::EINVAL) && far == e(Errno::EINVAL), "frames outside its p2m");
    check(other == e(Errno::EPERM), "another domain's physmap");
}
