//! Time in guest-kernel: system time from vcpu_time_info (Linux's pvclock
//! arithmetic), the wallclock, VIRQ_TIMER ticks (the event callback in
//! `arch::x86_64::events` counts them) and idling in `SCHEDOP_block`
//! until the single-shot timer fires.

use abi::guest;
use core::sync::atomic::{AtomicU32, Ordering};
use guest_kernel::arch::x86_64::{events, mem};
use guest_kernel::say;

/// VIRQ_TIMER's port once bound (0: not bound): the kernel's tick.
pub static TIMER_PORT: AtomicU32 = AtomicU32::new(0);

/// System time in ns from the vcpu_info mapped at `vi` (version protocol).
pub fn now_ns(vi: u64) -> u64 {
    now_at(vi).0
}

/// Nanoseconds in `d` TSC ticks at the scale in word 3 of vcpu_time_info.
fn scaled(d: u64, w: u64) -> u64 {
    let (mul, shift) = (w as u32, (w >> 32) as u8 as i8);
    let d = if shift >= 0 { d << shift } else { d >> -shift };
    ((u128::from(d) * u128::from(mul)) >> 32) as u64
}

/// System time, the TSC it was computed from, and the scale word used.
fn now_at(vi: u64) -> (u64, u64, u64) {
    loop {
        let v0 = mem::read(vi + 32);
        let (tsc, st, w) = (mem::read(vi + 40), mem::read(vi + 48), mem::read(vi + 56));
        let now = events::rdtsc();
        if v0 & 1 != 0 || mem::read(vi + 32) != v0 {
            continue;
        }
        return (st + scaled(now.wrapping_sub(tsc), w), now, w & 0xFF_FFFF_FFFF);
    }
}

/// Reads system time without pause until system time `until_ms`, checking
/// that it never goes back nor jumps (each step is what the TSC ticks
/// since the last read make at the last read's scale or at this read's,
/// or between the two, within 16 ns of rounding), and reports how many scales (`tsc_to_system_mul`, `tsc_shift`)
/// it saw: a hypervisor that refines its TSC frequency meanwhile
/// publishes new ones.
pub fn spin_step(vi: u64, until_ms: u64) {
    let (start, mut last_tsc, mut scale) = now_at(vi);
    let (mut last, mut reads, mut bad, mut scales) = (start, 0u64, 0u64, 1u32);
    while last < until_ms * 1_000_000 {
        let (now, tsc, w) = now_at(vi);
        reads += 1;
        let (a, b) = (scaled(tsc - last_tsc, scale), scaled(tsc - last_tsc, w));
        if now < last || now - last + 16 < a.min(b) || now - last > a.max(b) + 16 {
            bad += 1;
            say!("guest-kernel: time stepped from {last} to {now} ns in {} TSC ticks", tsc - last_tsc);
        }
        if w != scale {
            scales += 1;
        }
        (last, last_tsc, scale) = (now.max(last), tsc, w);
    }
    say!(
        "guest-kernel: read the time {reads} times from {} ms to {until_ms} ms: {}, {scales} scale(s) seen",
        start / 1_000_000,
        if bad == 0 { "never back, no jump" } else { "WENT BACK OR JUMPED" }
    );
    if bad != 0 {
        crate::story::fail("system time went back or jumped");
    }
}

/// Sleeps until system time `deadline` in `SCHEDOP_block` (which unmasks
/// events; the timer's upcall is taken on the way out), masking them again
/// afterwards. Returns the blocks it took (more than one after a wake-up
/// that was not the timer's).
pub fn sleep_until(vi: u64, deadline: u64) -> u32 {
    let _ = guest::set_timer_op(deadline);
    let mut blocks = 0;
    while now_ns(vi) < deadline {
        guest::block();
        events::set_mask(true);
        blocks += 1;
    }
    blocks
}

/// The demo's time step: uptime and wallclock, then `rounds` sleeps of
/// 10 ms in `SCHEDOP_block`, timed in TSC ticks from `set_timer_op` to
/// the return of the block that woke (the bench figure "set_timer_op plus
/// block, through to wake-up"), then an optional long sleep (`sleep=`).
pub fn idle_step(si_va: u64, rounds: u32, long_sleep_s: u64) {
    if events::SHARED_INFO.load(Ordering::SeqCst) == 0 {
        events::SHARED_INFO.store(si_va, Ordering::SeqCst);
    }
    let bound = guest::bind_virq(abi::event_channel::virq::TIMER, 0);
    if let Ok(port) = bound {
        TIMER_PORT.store(port, Ordering::SeqCst);
    }
    // The single-shot timer only, as Linux uses it.
    let _ = guest::vcpu_op_simple(abi::vcpu::VCPUOP_STOP_PERIODIC_TIMER, 0);
    let start = now_ns(si_va);
    let wc = mem::read(si_va + 3072) >> 32;
    say!(
        "guest-kernel: uptime {}.{:03} s (vcpu_time_info), wallclock at boot {} s since the epoch",
        start / 1_000_000_000,
        start / 1_000_000 % 1000,
        wc
    );
    let (mut best, mut late_total, mut blocks) = (u64::MAX, 0u64, 0u32);
    for _ in 0..rounds {
        let t0 = events::rdtsc();
        let deadline = now_ns(si_va) + 10_000_000;
        blocks += sleep_until(si_va, deadline);
        best = best.min(events::rdtsc() - t0);
        late_total += now_ns(si_va) - deadline;
    }
    let ticks = bound.map_or(0, events::count);
    say!(
        "guest-kernel: step 5b: idled {rounds} x 10 ms in SCHEDOP_block ({blocks} blocks, {ticks} timer ticks{}), woke {} us late on average; set_timer_op + block to wake-up: {best} TSC ticks at best",
        match bound {
            Ok(_) => " on VIRQ_TIMER",
            Err(_) => ", VIRQ_TIMER not bound",
        },
        late_total / u64::from(rounds.max(1)) / 1000
    );
    // The path alone: a deadline 1 us ahead, so the wait is the timer's
    // latency, not the sleep (the bench row "set_timer_op plus block,
    // through to wake-up", in TSC ticks: under plain TCG, real time).
    let mut short = u64::MAX;
    for _ in 0..5 {
        let t0 = events::rdtsc();
        sleep_until(si_va, now_ns(si_va) + 1000);
        short = short.min(events::rdtsc() - t0);
    }
    say!("guest-kernel: set_timer_op(now + 1 us) + SCHEDOP_block to wake-up: {short} TSC ticks at best (of 5)");
    if long_sleep_s > 0 {
        let t = now_ns(si_va);
        let blocks = sleep_until(si_va, t + long_sleep_s * 1_000_000_000);
        say!("guest-kernel: slept {long_sleep_s} s in {blocks} block(s)");
    }
}
