//! Publishing time to guests: each vCPU's `vcpu_time_info` and the
//! wallclock in shared_info, both with Xen's odd/even version protocol
//! (fact sheet §3.1, §3.2): the version is made odd before any field
//! changes and even again after the last one, so a reader that sees the
//! same even version before and after its reads has a consistent copy.

use super::clock::{Clock, SystemTime};
use crate::mm::{PhysAddr, PhysMemory};

/// `XEN_PVCLOCK_TSC_STABLE`: the TSC is the clocksource and is invariant.
pub const PVCLOCK_TSC_STABLE: u8 = 1;

/// Offset of `vcpu_info.time` in `vcpu_info`.
pub const VCPU_INFO_TIME: u64 = 32;
/// Offset of `wc_version` in shared_info.
pub const WC_VERSION: u64 = 3072;

/// What one `vcpu_time_info` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeStamp {
    /// `tsc_timestamp`.
    pub tsc: u64,
    /// `system_time` at that TSC.
    pub system_time: SystemTime,
    /// `tsc_to_system_mul`.
    pub mul: u32,
    /// `tsc_shift`.
    pub shift: i8,
    /// `flags`.
    pub flags: u8,
}

impl TimeStamp {
    /// The stamp of `clock`: its base point.
    pub fn of(clock: &Clock, flags: u8) -> TimeStamp {
        TimeStamp {
            tsc: clock.tsc_base,
            system_time: clock.sys_base,
            mul: clock.scale.mul_frac,
            shift: clock.scale.shift,
            flags,
        }
    }

    /// A stamp of `clock` at TSC `tsc` (a fresh stamp, as published at
    /// each switch to a vCPU).
    pub fn at(clock: &Clock, tsc: u64, flags: u8) -> TimeStamp {
        TimeStamp { tsc, system_time: clock.at(tsc), mul: clock.scale.mul_frac, shift: clock.scale.shift, flags }
    }

    /// Time at `tsc`, computed as a guest computes it from these fields.
    pub fn guest_now(&self, tsc: u64) -> SystemTime {
        let scale = super::TimeScale { mul_frac: self.mul, shift: self.shift };
        self.system_time.plus(scale.ticks_to_ns(tsc.wrapping_sub(self.tsc)))
    }
}

/// Writes `stamp` into the `vcpu_time_info` at `at` with the version
/// protocol. Skipped (returns false) when the fields already hold it and
/// `force` is not set, as Xen skips unchanged updates.
pub fn publish_time<M: PhysMemory + ?Sized>(mem: &mut M, at: PhysAddr, stamp: &TimeStamp, force: bool) -> bool {
    let word3 = u64::from(stamp.mul) | (u64::from(stamp.shift as u8) << 32) | (u64::from(stamp.flags) << 40);
    let version = mem.read_u64(at) as u32;
    if !force
        && version & 1 == 0
        && mem.read_u64(PhysAddr(at.0 + 8)) == stamp.tsc
        && mem.read_u64(PhysAddr(at.0 + 16)) == stamp.system_time.0
        && mem.read_u64(PhysAddr(at.0 + 24)) == word3
    {
        return false;
    }
    let odd = version.wrapping_add(1) | 1;
    // The word also holds pad0, which Xen keeps zero.
    mem.write_u64(at, u64::from(odd));
    mem.write_u64(PhysAddr(at.0 + 8), stamp.tsc);
    mem.write_u64(PhysAddr(at.0 + 16), stamp.system_time.0);
    mem.write_u64(PhysAddr(at.0 + 24), word3);
    mem.write_u64(at, u64::from(odd.wrapping_add(1)));
    true
}

/// Writes `stamp` into a guest's own `vcpu_time_info` copy at `va`
/// (`register_vcpu_time_memory_area`), with the version protocol. Faults
/// are ignored, as Xen ignores them.
pub fn publish_time_to_guest<G: crate::hypercall::GuestMemory + ?Sized>(
    g: &crate::hypercall::Guest<'_, G>,
    va: u64,
    stamp: &TimeStamp,
) {
    let (b, done) = guest_time_bytes(stamp, g.read_u32(va).unwrap_or(0));
    if g.write(va, &b[..8]).is_err() || g.write(va + 8, &b[8..]).is_err() {
        return;
    }
    let _ = g.write(va, &done.to_le_bytes());
}

/// A guest copy of `vcpu_time_info` holding `stamp` while it is rewritten
/// (its version, from `version`, made odd), and the even version that
/// ends the rewrite: the bytes a PV or a PVH time area gets.
pub fn guest_time_bytes(stamp: &TimeStamp, version: u32) -> ([u8; 32], u32) {
    let odd = version.wrapping_add(1) | 1;
    let mut b = [0u8; 32];
    b[0..4].copy_from_slice(&odd.to_le_bytes());
    b[8..16].copy_from_slice(&stamp.tsc.to_le_bytes());
    b[16..24].copy_from_slice(&stamp.system_time.0.to_le_bytes());
    b[24..28].copy_from_slice(&stamp.mul.to_le_bytes());
    b[28] = stamp.shift as u8;
    b[29] = stamp.flags;
    (b, odd.wrapping_add(1))
}

/// UTC at system time 0, in seconds and nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WallClock {
    /// Seconds.
    pub sec: u64,
    /// Nanoseconds (below 10^9).
    pub nsec: u32,
}

impl WallClock {
    /// The wallclock at system time 0, given that UTC was `utc_sec` at
    /// system time `at` (the moment the RTC was read).
    pub fn at_boot(utc_sec: u64, at: SystemTime) -> WallClock {
        let total = u128::from(utc_sec) * 1_000_000_000 - u128::from(at.0).min(u128::from(utc_sec) * 1_000_000_000);
        WallClock { sec: (total / 1_000_000_000) as u64, nsec: (total % 1_000_000_000) as u32 }
    }
}

/// Writes `wc` into shared_info (at `shared_info`) with the version
/// protocol on `wc_version`.
pub fn publish_wallclock<M: PhysMemory + ?Sized>(mem: &mut M, shared_info: PhysAddr, wc: WallClock) {
    let w0 = PhysAddr(shared_info.0 + WC_VERSION);
    let w1 = PhysAddr(w0.0 + 8);
    let old = mem.read_u64(w0);
    let odd = (old as u32).wrapping_add(1) | 1;
    let sec_lo = u64::from(wc.sec as u32) << 32;
    mem.write_u64(w0, (old & !0xFFFF_FFFF) | u64::from(odd));
    mem.write_u64(w1, u64::from(wc.nsec) | ((wc.sec >> 32) << 32));
    mem.write_u64(w0, sec_lo | u64::from(odd));
    mem.write_u64(w0, sec_lo | u64::from(odd.wrapping_add(1)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::phys_mem::fake::FakeMemory;

    /// Memory that checks, at every write of a field, that the version
    /// word at `version` is odd.
    struct Watched {
        mem: FakeMemory,
        version: PhysAddr,
        fields: core::ops::Range<u64>,
        field_writes: usize,
    }

    impl PhysMemory for Watched {
        fn read_u64(&self, addr: PhysAddr) -> u64 {
            self.mem.read_u64(addr)
        }
        fn write_u64(&mut self, addr: PhysAddr, value: u64) {
            if self.fields.contains(&addr.0) {
                assert_eq!(
                    self.mem.read_u64(self.version) & 1,
                    1,
                    "field at {:#x} written with an even version",
                    addr.0
                );
                self.field_writes += 1;
            }
            self.mem.write_u64(addr, value);
        }
    }

    fn stamp() -> TimeStamp {
        TimeStamp { tsc: 0x1234_5678, system_time: SystemTime(42), mul: 0x8000_0000, shift: -1, flags: 1 }
    }

    #[test]
    fn time_fields_change_only_under_an_odd_version_and_end_even() {
        let at = PhysAddr(0x5000 + VCPU_INFO_TIME);
        let mut w = Watched { mem: FakeMemory::default(), version: at, fields: at.0 + 8..at.0 + 32, field_writes: 0 };
        assert!(publish_time(&mut w, at, &stamp(), false));
        assert_eq!(w.field_writes, 3);
        assert_eq!(w.read_u64(at), 2);
        assert_eq!(w.read_u64(PhysAddr(at.0 + 8)), 0x1234_5678);
        assert_eq!(w.read_u64(PhysAddr(at.0 + 16)), 42);
        assert_eq!(w.read_u64(PhysAddr(at.0 + 24)), 0x8000_0000 | (0xFF << 32) | (1 << 40));
    }

    #[test]
    fn an_unchanged_stamp_is_skipped_unless_forced() {
        let at = PhysAddr(0x5020);
        let mut m = FakeMemory::default();
        assert!(publish_time(&mut m, at, &stamp(), false));
        assert!(!publish_time(&mut m, at, &stamp(), false));
        assert_eq!(m.read_u64(at), 2);
        assert!(publish_time(&mut m, at, &stamp(), true));
        assert_eq!(m.read_u64(at), 4);
    }

    #[test]
    fn a_version_left_odd_by_the_guest_ends_even_and_larger() {
        let at = PhysAddr(0x5020);
        let mut m = FakeMemory::default();
        m.write_u64(at, 7);
        publish_time(&mut m, at, &stamp(), false);
        assert_eq!(m.read_u64(at), 10);
        m.write_u64(at, u64::from(u32::MAX));
        publish_time(&mut m, at, &stamp(), true);
        assert_eq!(m.read_u64(at) as u32 & 1, 0, "wraps and stays even");
    }

    #[test]
    fn the_guest_formula_gives_the_clock_time() {
        let c = Clock::new(2_500_000_000, 999);
        let s = TimeStamp::of(&c, PVCLOCK_TSC_STABLE);
        for tsc in [999, 1_000, 2_500_000_999, 77_000_000_000] {
            assert_eq!(s.guest_now(tsc), c.at(tsc));
        }
    }

    #[test]
    fn wallclock_fields_change_under_an_odd_wc_version() {
        let si = PhysAddr(0x9000);
        let w0 = si.0 + WC_VERSION;
        let mut w =
            Watched { mem: FakeMemory::default(), version: PhysAddr(w0), fields: w0 + 8..w0 + 16, field_writes: 0 };
        let wc = WallClock { sec: 0x1_2345_6789, nsec: 500 };
        publish_wallclock(&mut w, si, wc);
        assert_eq!(w.field_writes, 1);
        let v0 = w.read_u64(PhysAddr(w0));
        assert_eq!(v0 as u32, 2, "wc_version even");
        assert_eq!((v0 >> 32) as u32, 0x2345_6789, "wc_sec");
        assert_eq!(w.read_u64(PhysAddr(w0 + 8)), 500 | (1 << 32), "wc_nsec, wc_sec_hi");
    }

    #[test]
    fn the_boot_wallclock_is_the_rtc_time_minus_the_time_already_run() {
        assert_eq!(WallClock::at_boot(1_000, SystemTime(2_500_000_000)), WallClock { sec: 997, nsec: 500_000_000 });
        assert_eq!(WallClock::at_boot(1, SystemTime(5_000_000_000)), WallClock { sec: 0, nsec: 0 });
    }
}
