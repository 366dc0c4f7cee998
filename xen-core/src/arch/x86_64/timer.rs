//! The hypervisor's timer, tickless: the local APIC timer in one-shot mode
//! (or TSC-deadline mode where CPUID has it) is programmed for the nearest
//! thing the scheduler waits for ([`crate::scheduler::next_event`]) and
//! nothing else. The TSC is calibrated at boot over one 1 ms window of
//! PIT channel 2, which then runs free, and is refined against it while
//! guests run ([`crate::time::refine`]; [`refine_due`]); the APIC timer is
//! calibrated against the TSC. COM1's receive interrupt comes
//! through the legacy PIC (IRQ 4, vector 0x24), so console keys arrive
//! whenever they are typed. The PIT's IRQ 0 stays masked.

use super::cpu;
use crate::time::refine::{self, Outcome, Refiner, Sample, PIT_HZ};
use crate::time::{Clock, SystemTime};

/// Vector of the APIC timer.
pub const TIMER_VECTOR: u64 = 0x30;
/// Vector of COM1 (IRQ 4 through the remapped PIC).
pub const SERIAL_VECTOR: u64 = 0x24;
/// Vector the APIC reports spurious interrupts on.
pub const SPURIOUS_VECTOR: u64 = 0xFF;
/// Where the xAPIC's registers are mapped (in the direct-map slot, at the
/// APIC's physical address: no RAM is there).
pub const LAPIC_PHYS: u64 = 0xFEE0_0000;
const LAPIC_VA: u64 = super::paging::DIRECT_MAP_BASE + LAPIC_PHYS;
const MSR_TSC_DEADLINE: u32 = 0x6E0;

const APIC_EOI: u64 = 0xB0;
const APIC_SVR: u64 = 0xF0;
const APIC_LVT_TIMER: u64 = 0x320;
const APIC_TIMER_INIT: u64 = 0x380;
const APIC_TIMER_CUR: u64 = 0x390;
const APIC_TIMER_DIV: u64 = 0x3E0;

/// What boot found out, and the refinement since.
#[derive(Clone, Copy, Debug)]
struct TimerState {
    clock: Clock,
    /// APIC timer counts per TSC tick, as a 32.32 fraction.
    apic_per_tsc: u64,
    tsc_deadline: bool,
    refiner: Option<Refiner>,
    /// The TSC at which the refiner's next sample is due (`u64::MAX`: none).
    refine_at: u64,
}

static mut STATE: TimerState = TimerState {
    clock: Clock {
        tsc_hz: 1,
        scale: crate::time::TimeScale { mul_frac: 0, shift: 0 },
        tsc_base: 0,
        sys_base: SystemTime(0),
    },
    apic_per_tsc: 0,
    tsc_deadline: false,
    refiner: None,
    refine_at: u64::MAX,
};

fn state() -> TimerState {
    // SAFETY: written at boot before interrupts are enabled, and after only
    // by `refine_due` from a hypervisor entry (one CPU; entries never nest).
    unsafe { *core::ptr::addr_of!(STATE) }
}

fn state_mut() -> &'static mut TimerState {
    // SAFETY: as for `state`; the caller holds no other reference.
    unsafe { &mut *core::ptr::addr_of_mut!(STATE) }
}

fn out(port: u16, v: u8) {
    // SAFETY: the PIC (0x20/0x21/0xA0/0xA1), PIT (0x40-0x43) and port 0x61,
    // all owned by the hypervisor.
    unsafe { cpu::outb(port, v) };
}

fn inb(port: u16) -> u8 {
    // SAFETY: as for `out`.
    unsafe { cpu::port_in(port, 1) as u8 }
}

fn apic_read(reg: u64) -> u32 {
    // SAFETY: the xAPIC page is mapped at LAPIC_VA by `init`.
    unsafe { ((LAPIC_VA + reg) as *const u32).read_volatile() }
}

fn apic_write(reg: u64, v: u32) {
    // SAFETY: as for `apic_read`.
    unsafe { ((LAPIC_VA + reg) as *mut u32).write_volatile(v) }
}

/// Starts PIT channel 2 free running: mode 2 (rate generator) over the
/// full 65,536 count, gate on, speaker off. Its count is then read with a
/// latch command whenever the time is wanted ([`sample`]).
fn pit_start() {
    out(0x61, (inb(0x61) & !0x02) | 0x01);
    out(0x43, 0xB4);
    out(0x42, 0);
    out(0x42, 0);
}

/// The TSC and PIT channel 2's count, latched between two TSC reads: of
/// three tries the one with the tightest bracket (an I/O access can be
/// slow, under TCG or an SMI), its TSC the bracket's middle.
fn sample() -> Sample {
    let mut best = (u64::MAX, Sample { tsc: 0, pit: 0 });
    for _ in 0..3 {
        let a = cpu::rdtsc();
        out(0x43, 0x80);
        let b = cpu::rdtsc();
        let pit = u16::from_le_bytes([inb(0x42), inb(0x42)]);
        if b - a < best.0 {
            best = (b - a, Sample { tsc: a + (b - a) / 2, pit });
        }
    }
    best.1
}

/// The TSC and the APIC timer's current count, read between two TSC
/// reads as [`sample`] reads the PIT (the tightest of three tries, its TSC
/// the bracket's middle): each APIC edge is paired with its own TSC, so a
/// delay between the PIT's sample and this read (an exit to QEMU, the host
/// descheduling it) does not count as APIC ticks. With the APIC read after
/// the PIT's sample and paired with the PIT's TSC instead, one 1 ms window
/// under plain TCG on a busy host gave 704 MHz for QEMU's 1 GHz APIC timer.
fn apic_sample() -> (u64, u32) {
    let mut best = (u64::MAX, (0, 0));
    for _ in 0..3 {
        let a = cpu::rdtsc();
        let count = apic_read(APIC_TIMER_CUR);
        let b = cpu::rdtsc();
        if b - a < best.0 {
            best = (b - a, (a + (b - a) / 2, count));
        }
    }
    best.1
}

/// The boot calibration's window: 1 ms of the PIT.
const WINDOW_TICKS: u64 = PIT_HZ / 1000;
/// Frames the window's wait scrubs between two looks at the PIT: about
/// 4 µs with 32-byte stores (five PIT ticks; the window just ends at the
/// first look past 1 ms, and its edges are what is measured), and a look
/// (three latched reads, 115 instructions) is then 3 % of the wait: with
/// one frame per look it was a third of it, with 8 about 11 %.
const SCRUB_PER_LOOK: u64 = 32;

/// Remaps the PICs (IRQ 0-15 on 0x20-0x2F) with only COM1 unmasked,
/// calibrates the TSC, maps and starts the local APIC, and returns the
/// system clock (time 0 = now). The calibration's wait scrubs free frames
/// through `scrub` (the boot's vector stores).
pub fn init(
    mapper: &mut crate::mm::hv_map::HvMapper<'_, super::paging::DirectMap>,
    scrub: &mut impl crate::mm::PhysMemory,
) -> Clock {
    for (port, v) in
        [(0x20, 0x11), (0xA0, 0x11), (0x21, 0x20), (0xA1, 0x28), (0x21, 0x04), (0xA1, 0x02), (0x21, 0x01), (0xA1, 0x01)]
    {
        out(port, v);
    }
    out(0x21, !(1 << 4));
    out(0xA1, 0xFF);
    if let Err(e) = mapper.map(LAPIC_VA, crate::mm::PhysAddr(LAPIC_PHYS), 4096, crate::mm::hv_map::Rights::RW, false) {
        log::error!("mapping the local APIC: {e:?}");
    }
    super::run::flush_all();
    // Software-enable the APIC; LINT0 (the PIC's ExtINT) is left as the firmware set it.
    apic_write(APIC_SVR, 0x100 | SPURIOUS_VECTOR as u32);
    apic_write(APIC_TIMER_DIV, 0xB); // divide by 1
    apic_write(APIC_LVT_TIMER, (1 << 16) | TIMER_VECTOR as u32);
    apic_write(APIC_TIMER_INIT, u32::MAX);
    // One 1 ms window of the free-running PIT, the TSC and the APIC timer
    // (masked, counting down) read at each edge; its TSC rate is refined
    // while guests run. One window, not three: each edge's latched read is
    // bracketed by two TSC reads (the tightest of three tries kept), so a
    // window's error is its PIT count's quantisation, one tick in 1,193
    // (840 ppm) whether it is one window or the median of three; the
    // median only guarded against a disturbed edge, which the refiner
    // (told to assume 20,000 ppm, `refine::BOOT_ERR_PPM`) replaces by its
    // first refinement at 64 ms (and a count that disagrees with the
    // estimate restarts it with a wider bound). Until then time runs at
    // most about 0.1 % off: 54 µs by the first refinement. The wait is
    // idle time: free frames are scrubbed meanwhile, so domain 0's first
    // frames need no scrub of their own. (Each window of the wait costs
    // 1 ms, 1 M instructions under -icount, whatever it does.)
    pit_start();
    let (first, apic_first) = (sample(), apic_sample());
    let frames = &mut *mapper.frames;
    let last = loop {
        if frames.scrub_some(scrub, SCRUB_PER_LOOK) == 0 {
            core::hint::spin_loop();
        }
        let s = sample();
        if refine::pit_elapsed(first.pit, s.pit) >= WINDOW_TICKS {
            break s;
        }
    };
    let apic_last = apic_sample();
    apic_write(APIC_TIMER_INIT, 0);
    let tsc_hz = refine::hz_over(last.tsc - first.tsc, refine::pit_elapsed(first.pit, last.pit));
    // The APIC timer counts down.
    let apic_ticks = u64::from(apic_first.1.wrapping_sub(apic_last.1));
    let apic_tsc_ticks = apic_last.0 - apic_first.0;
    let clock = Clock::new(tsc_hz, cpu::rdtsc());
    let apic_per_tsc = ((u128::from(apic_ticks) << 32) / u128::from(apic_tsc_ticks.max(1))) as u64;
    let tsc_deadline = cpu::cpuid(1, 0).ecx & (1 << 24) != 0;
    let mode = if tsc_deadline { 2 << 17 } else { 0 };
    apic_write(APIC_LVT_TIMER, mode | TIMER_VECTOR as u32);
    let refiner = Refiner::new(first, last, tsc_hz, refine::BOOT_ERR_PPM);
    // SAFETY: boot, before interrupts: nothing reads STATE yet.
    unsafe {
        *core::ptr::addr_of_mut!(STATE) =
            TimerState { clock, apic_per_tsc, tsc_deadline, refiner: Some(refiner), refine_at: refiner.due_tsc() }
    };
    log::info!(
        "time: TSC {}.{:06} MHz (PIT-calibrated over 1 ms; refined while guests run), APIC timer {} MHz, {} mode, tsc_to_system_mul {:#x} tsc_shift {}",
        tsc_hz / 1_000_000,
        tsc_hz % 1_000_000,
        ((u128::from(apic_per_tsc) * u128::from(tsc_hz)) >> 32) / 1_000_000,
        if tsc_deadline { "TSC-deadline" } else { "one-shot" },
        clock.scale.mul_frac,
        clock.scale.shift
    );
    clock
}

/// At a refinement point (the timer is armed for it), samples the PIT and
/// returns the rescaled clock when the TSC frequency was refined: the
/// caller republishes every vCPU's time before any guest runs again.
/// Cheap otherwise: one TSC read and a compare.
pub fn refine_due() -> Option<Clock> {
    let st = state_mut();
    if cpu::rdtsc() < st.refine_at {
        return None;
    }
    let r = st.refiner.as_mut()?;
    let s = sample();
    let outcome = r.sample(s);
    st.refine_at = r.due_tsc();
    match outcome {
        Outcome::Counted => None,
        Outcome::Restarted => {
            log::warn!("time: the PIT disagreed with the TSC estimate; refinement restarts");
            None
        }
        Outcome::Refined(hz) => {
            let old = st.clock;
            st.clock = old.rescaled(s.tsc, hz);
            log::info!(
                "time: TSC refined to {}.{:06} MHz (was {}.{:06}), tsc_to_system_mul {:#x} tsc_shift {}",
                hz / 1_000_000,
                hz % 1_000_000,
                old.tsc_hz / 1_000_000,
                old.tsc_hz % 1_000_000,
                st.clock.scale.mul_frac,
                st.clock.scale.shift
            );
            Some(st.clock)
        }
    }
}

/// Xen system time now.
pub fn now() -> SystemTime {
    state().clock.at(cpu::rdtsc())
}

/// The TSC, for [`crate::hypercall::HostInfo::read_tsc`].
pub fn read_tsc() -> u64 {
    cpu::rdtsc()
}

/// What the timer was last programmed for: a TSC deadline, [`OFF`], or
/// [`UNKNOWN`] once it may have fired (every APIC interrupt's [`eoi`]).
static mut ARMED: u64 = UNKNOWN;
const UNKNOWN: u64 = 0;
const OFF: u64 = u64::MAX;

/// Whether the timer is already programmed for `target` or earlier (it
/// then fires first, and the timer event programs the next deadline);
/// else records that it is about to be programmed for `target`. Under
/// QEMU every APIC timer write is an exit to the device model, and one
/// for a deadline nearer than any QEMU has pending wakes its main loop:
/// 66 K TSC ticks per write in the plain-TCG timer row (199 writes for
/// 203 rearms, 13.1 M ticks), where the running domain's CPU-limit
/// deadline (now + what is left) moves on with every hypercall. A
/// deadline once reached fires, and the interrupt's EOI forgets it.
fn already_armed(target: u64) -> bool {
    // SAFETY: one CPU; the hypervisor runs with interrupts off except in
    // `idle_wait`/`poll_interrupts`, whose handlers only reach `eoi`.
    let armed = unsafe { &mut *core::ptr::addr_of_mut!(ARMED) };
    if *armed != UNKNOWN && *armed <= target {
        return true;
    }
    *armed = target;
    false
}

/// Whether the timer still holds the deadline last programmed: no APIC
/// interrupt was acknowledged since ([`eoi`] forgets it, as it may have
/// fired).
pub fn armed() -> bool {
    // SAFETY: as in `already_armed`.
    unsafe { *core::ptr::addr_of!(ARMED) != UNKNOWN }
}

/// Programs the timer for system time `at` (`None`: off). A deadline
/// already past fires at once.
pub fn program(at: Option<SystemTime>) {
    let s = state();
    let Some(at) = at.or((s.refine_at != u64::MAX).then_some(SystemTime(u64::MAX))) else {
        if already_armed(OFF) {
            return;
        }
        if s.tsc_deadline {
            // SAFETY: the TSC-deadline MSR exists (CPUID); 0 disarms it.
            unsafe { cpu::wrmsr(MSR_TSC_DEADLINE, 0) };
        } else {
            apic_write(APIC_TIMER_INIT, 0);
        }
        return;
    };
    // The next refinement point is a deadline too.
    let deadline = s.clock.tsc_of(at).min(s.refine_at).clamp(1, OFF - 1);
    if already_armed(deadline) {
        return;
    }
    if s.tsc_deadline {
        // SAFETY: as above; a past deadline fires at once.
        unsafe { cpu::wrmsr(MSR_TSC_DEADLINE, deadline.max(1)) };
        return;
    }
    let ticks = deadline.saturating_sub(cpu::rdtsc());
    let count = ((u128::from(ticks) * u128::from(s.apic_per_tsc)) >> 32).clamp(1, u128::from(u32::MAX)) as u32;
    apic_write(APIC_TIMER_INIT, count);
}

/// Acknowledges the APIC timer (or any APIC interrupt): the deadline it
/// was programmed for may have been reached, so the next [`program`]
/// writes it again.
pub fn eoi() {
    // SAFETY: as in `already_armed`.
    unsafe { *core::ptr::addr_of_mut!(ARMED) = UNKNOWN };
    apic_write(APIC_EOI, 0);
}

/// Acknowledges COM1's interrupt at the PIC.
pub fn serial_eoi() {
    out(0x20, 0x20);
}

/// Lets an interrupt pending now be taken (its handler acknowledges it,
/// see `idle_interrupt`), between two pieces of idle work.
pub fn poll_interrupts() {
    // SAFETY: as for `idle_wait`, without the HLT: STI's shadow covers the
    // NOP, and a pending interrupt is taken before the CLI.
    unsafe { core::arch::asm!("sti", "nop", "cli", options(nomem, nostack)) };
}

/// Spins until system time `until` has passed (the idle loop's wait for a
/// deadline too near to halt for).
pub fn spin_until(until: SystemTime) {
    while now() < until {
        core::hint::spin_loop();
    }
}

/// Waits for the next interrupt with interrupts enabled, then disables
/// them again; the interrupt's handler has run by then.
pub fn idle_wait() {
    // SAFETY: STI's shadow covers HLT, so an interrupt pending now wakes
    // the HLT instead of slipping in before it; the handlers of
    // interrupts taken here only acknowledge them (see `idle_interrupt`).
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
}
