//! The PIT as a periodic tick (100 Hz) on vector 0x20, through the legacy
//! PIC remapped to 0x20–0x2F. Ticks arrive only while a guest runs (the
//! hypervisor keeps interrupts off), and bound how long a domain can keep
//! the CPU: see `run::timer_tick`.

use super::cpu;

/// Vector of IRQ 0.
pub const TIMER_VECTOR: u64 = 0x20;
/// Ticks per second.
pub const HZ: u64 = 100;
const PIT_HZ: u64 = 1_193_182;

fn out(port: u16, v: u8) {
    // SAFETY: the PIC (0x20/0x21/0xA0/0xA1) and PIT (0x40/0x43) ports,
    // owned by the hypervisor.
    unsafe { cpu::outb(port, v) };
}

/// Remaps the PICs, programs the PIT and unmasks IRQ 0 only.
pub fn init() {
    // ICW1..ICW4: edge triggered, cascade, offsets 0x20 and 0x28, 8086 mode.
    for (port, v) in
        [(0x20, 0x11), (0xA0, 0x11), (0x21, 0x20), (0xA1, 0x28), (0x21, 0x04), (0xA1, 0x02), (0x21, 0x01), (0xA1, 0x01)]
    {
        out(port, v);
    }
    out(0x21, 0xFE);
    out(0xA1, 0xFF);
    let divisor = (PIT_HZ / HZ) as u16;
    out(0x43, 0x34);
    out(0x40, divisor as u8);
    out(0x40, (divisor >> 8) as u8);
}

/// Acknowledges the tick at the PIC.
pub fn eoi() {
    out(0x20, 0x20);
}
