//! Reads the CMOS real-time clock once at boot, for the wallclock in
//! every domain's shared_info ([`crate::time::rtc`] decodes it).

use super::cpu;
use crate::time::rtc::RtcRaw;

fn cmos(reg: u8) -> u8 {
    // SAFETY: ports 0x70/0x71 are the CMOS index and data registers; NMI
    // stays enabled (bit 7 clear) and only clock registers are read.
    unsafe {
        cpu::outb(0x70, reg);
        cpu::port_in(0x71, 1) as u8
    }
}

fn snapshot() -> RtcRaw {
    // Wait out an update in progress (status A bit 7), which lasts < 2 ms.
    let mut spins = 0u32;
    while cmos(0x0A) & 0x80 != 0 && spins < 1_000_000 {
        spins += 1;
        core::hint::spin_loop();
    }
    RtcRaw {
        sec: cmos(0x00),
        min: cmos(0x02),
        hour: cmos(0x04),
        day: cmos(0x07),
        month: cmos(0x08),
        year: cmos(0x09),
        century: cmos(0x32),
        status_b: cmos(0x0B),
    }
}

/// UTC now in seconds since the epoch (read twice until two reads agree,
/// so no update tears it), or `None` if the RTC holds no valid date.
pub fn unix_seconds() -> Option<u64> {
    let mut a = snapshot();
    for _ in 0..5 {
        let b = snapshot();
        if a == b {
            break;
        }
        a = b;
    }
    a.unix_seconds()
}
