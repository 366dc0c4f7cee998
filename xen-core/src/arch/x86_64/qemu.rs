//! Ending QEMU through its isa-debug-exit device (port 0xf4).
//!
//! QEMU turns the value `v` written there into exit status `(v << 1) | 1`,
//! so 0x10 becomes 33 and 0x20 becomes 65; status 1 never comes from us.

use super::cpu;
use core::sync::atomic::{AtomicBool, Ordering};

/// isa-debug-exit I/O port.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Exit code written for success.
pub const EXIT_SUCCESS: u8 = 0x10;
/// Exit code written for failure.
pub const EXIT_FAILURE: u8 = 0x20;

static ENABLED: AtomicBool = AtomicBool::new(true);

/// Turns the debug-exit port on or off (the `no-debug-exit` option).
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Ends the machine: under QEMU with the given code, otherwise halts.
pub fn exit(code: u8) -> ! {
    if ENABLED.load(Ordering::Relaxed) {
        // SAFETY: port 0xf4 is QEMU's isa-debug-exit; on machines without it
        // the write goes nowhere, and `no-debug-exit` disables it.
        unsafe { cpu::outb(DEBUG_EXIT_PORT, code) };
    }
    cpu::halt_forever()
}
