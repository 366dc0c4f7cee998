//! The hypervisor's timer, tickless: the local APIC timer in one-shot mode
//! (or TSC-deadline mode where CPUID has it) is programmed for the nearest
//! thing the scheduler waits for ([`crate::scheduler::next_event`]) and
//! nothing else. The TSC is calibrated once at boot against PIT channel 2,
//! and the APIC timer against the TSC. COM1's receive interrupt comes
//! through the legacy PIC (IRQ 4, vector 0x24), so console keys arrive
//! whenever they are typed. The PIT's IRQ 0 stays masked.

use super::cpu;
use crate::time::clock::calibrate;
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
const PIT_HZ: u64 = 1_193_182;
const MSR_TSC_DEADLINE: u32 = 0x6E0;

const APIC_EOI: u64 = 0xB0;
const APIC_SVR: u64 = 0xF0;
const APIC_LVT_TIMER: u64 = 0x320;
const APIC_TIMER_INIT: u64 = 0x380;
const APIC_TIMER_CUR: u64 = 0x390;
const APIC_TIMER_DIV: u64 = 0x3E0;

/// What boot found out.
#[derive(Clone, Copy, Debug)]
struct TimerState {
    clock: Clock,
    /// APIC timer counts per TSC tick, as a 32.32 fraction.
    apic_per_tsc: u64,
    tsc_deadline: bool,
}

static mut STATE: TimerState = TimerState {
    clock: Clock { tsc_hz: 1, scale: crate::time::TimeScale { mul_frac: 0, shift: 0 }, tsc_at_zero: 0 },
    apic_per_tsc: 0,
    tsc_deadline: false,
};

fn state() -> TimerState {
    // SAFETY: written once at boot before interrupts are enabled; read-only after.
    unsafe { *core::ptr::addr_of!(STATE) }
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

/// TSC ticks while PIT channel 2 counts `count` (mode 0, polled on port
/// 0x61 bit 5). Between polls it runs `idle` (one frame's scrub), so the
/// end is seen at most one scrub late: about 0.5 us in a 10 ms window.
fn tsc_over_pit(count: u16, idle: &mut dyn FnMut()) -> u64 {
    // Gate 2 on, speaker off.
    out(0x61, (inb(0x61) & !0x02) | 0x01);
    out(0x43, 0xB0);
    out(0x42, count as u8);
    out(0x42, (count >> 8) as u8);
    let start = cpu::rdtsc();
    while inb(0x61) & 0x20 == 0 {
        idle();
    }
    cpu::rdtsc() - start
}

/// Remaps the PICs (IRQ 0-15 on 0x20-0x2F) with only COM1 unmasked,
/// calibrates the TSC, maps and starts the local APIC, and returns the
/// system clock (time 0 = now).
pub fn init(mapper: &mut crate::mm::hv_map::HvMapper<'_, super::paging::DirectMap>) -> Clock {
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
    // 10 ms of the PIT (11,932 counts: 0.01 % resolution), three times:
    // the TSC and the APIC timer (masked, counting down) both measured
    // against it; the median TSC run is kept. (Three 50 ms runs cost every
    // boot 150 ms, 150 M instructions under -icount.)
    let count = (PIT_HZ / 100) as u16;
    let mut runs = [(0u64, 0u64); 3];
    for r in &mut runs {
        apic_write(APIC_TIMER_INIT, u32::MAX);
        // The wait is idle time: free frames are scrubbed meanwhile, so
        // domain 0's frames and later allocations need no scrub of their own.
        let frames = &mut *mapper.frames;
        let tsc = tsc_over_pit(count, &mut || {
            if frames.scrub_some(&mut super::paging::DirectMap, 1) == 0 {
                core::hint::spin_loop();
            }
        });
        *r = (tsc, u64::from(u32::MAX - apic_read(APIC_TIMER_CUR)));
    }
    apic_write(APIC_TIMER_INIT, 0);
    runs.sort_unstable();
    let (tsc_ticks, apic_ticks) = runs[1];
    let tsc_hz = calibrate(tsc_ticks, u64::from(count), PIT_HZ);
    let clock = Clock::new(tsc_hz, cpu::rdtsc());
    let apic_per_tsc = ((u128::from(apic_ticks) << 32) / u128::from(tsc_ticks.max(1))) as u64;
    let tsc_deadline = cpu::cpuid(1, 0).ecx & (1 << 24) != 0;
    let mode = if tsc_deadline { 2 << 17 } else { 0 };
    apic_write(APIC_LVT_TIMER, mode | TIMER_VECTOR as u32);
    // SAFETY: boot, before interrupts: nothing reads STATE yet.
    unsafe { *core::ptr::addr_of_mut!(STATE) = TimerState { clock, apic_per_tsc, tsc_deadline } };
    log::info!(
        "time: TSC {}.{:06} MHz (PIT-calibrated), APIC timer {} MHz, {} mode, tsc_to_system_mul {:#x} tsc_shift {}",
        tsc_hz / 1_000_000,
        tsc_hz % 1_000_000,
        ((u128::from(apic_per_tsc) * u128::from(tsc_hz)) >> 32) / 1_000_000,
        if tsc_deadline { "TSC-deadline" } else { "one-shot" },
        clock.scale.mul_frac,
        clock.scale.shift
    );
    clock
}

/// Xen system time now.
pub fn now() -> SystemTime {
    state().clock.at(cpu::rdtsc())
}

/// The TSC, for [`crate::hypercall::HostInfo::read_tsc`].
pub fn read_tsc() -> u64 {
    cpu::rdtsc()
}

/// Programs the timer for system time `at` (`None`: off). A deadline
/// already past fires at once.
pub fn program(at: Option<SystemTime>) {
    let s = state();
    let Some(at) = at else {
        if s.tsc_deadline {
            // SAFETY: the TSC-deadline MSR exists (CPUID); 0 disarms it.
            unsafe { cpu::wrmsr(MSR_TSC_DEADLINE, 0) };
        } else {
            apic_write(APIC_TIMER_INIT, 0);
        }
        return;
    };
    let deadline = s.clock.tsc_of(at);
    if s.tsc_deadline {
        // SAFETY: as above; a past deadline fires at once.
        unsafe { cpu::wrmsr(MSR_TSC_DEADLINE, deadline.max(1)) };
        return;
    }
    let ticks = deadline.saturating_sub(cpu::rdtsc());
    let count = ((u128::from(ticks) * u128::from(s.apic_per_tsc)) >> 32).clamp(1, u128::from(u32::MAX)) as u32;
    apic_write(APIC_TIMER_INIT, count);
}

/// Acknowledges the APIC timer (or any APIC interrupt).
pub fn eoi() {
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

/// Waits for the next interrupt with interrupts enabled, then disables
/// them again; the interrupt's handler has run by then.
pub fn idle_wait() {
    // SAFETY: STI's shadow covers HLT, so an interrupt pending now wakes
    // the HLT instead of slipping in before it; the handlers of
    // interrupts taken here only acknowledge them (see `idle_interrupt`).
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) };
}
