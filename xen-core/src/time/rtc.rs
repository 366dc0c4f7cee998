//! The CMOS RTC's date and time as Unix seconds. The arch layer reads the
//! registers (BCD or binary, 12- or 24-hour, as status register B says);
//! this turns them into seconds.

/// The RTC registers as read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtcRaw {
    /// Register 0x00.
    pub sec: u8,
    /// Register 0x02.
    pub min: u8,
    /// Register 0x04 (bit 7 = PM in 12-hour mode).
    pub hour: u8,
    /// Register 0x07.
    pub day: u8,
    /// Register 0x08.
    pub month: u8,
    /// Register 0x09 (two digits).
    pub year: u8,
    /// Register 0x32 (century), 0 if absent.
    pub century: u8,
    /// Status register B (bit 2 binary, bit 1 24-hour).
    pub status_b: u8,
}

fn bcd(v: u8) -> u8 {
    (v >> 4) * 10 + (v & 0xF)
}

/// Days from 1970-01-01 to `y-m-d` (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl RtcRaw {
    /// Seconds since the Unix epoch, or `None` if the registers make no date.
    pub fn unix_seconds(&self) -> Option<u64> {
        let binary = self.status_b & 4 != 0;
        let conv = |v: u8| if binary { v } else { bcd(v) };
        let pm = self.hour & 0x80 != 0;
        let mut hour = conv(self.hour & 0x7F);
        if self.status_b & 2 == 0 {
            // 12-hour clock: 12 AM is 0, 12 PM is 12.
            hour = (hour % 12) + if pm { 12 } else { 0 };
        }
        let (sec, min, day, month) = (conv(self.sec), conv(self.min), conv(self.day), conv(self.month));
        let century = if self.century == 0 { 20 } else { conv(self.century) };
        let year = i64::from(century) * 100 + i64::from(conv(self.year));
        if sec > 59 || min > 59 || hour > 23 || !(1..=31).contains(&day) || !(1..=12).contains(&month) || year < 1970 {
            return None;
        }
        let days = days_from_civil(year, u32::from(month), u32::from(day));
        Some(days as u64 * 86_400 + u64::from(hour) * 3600 + u64::from(min) * 60 + u64::from(sec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bcd_24_hour_date_is_its_unix_time() {
        // 2026-12-01 11:31:07 UTC.
        let r =
            RtcRaw { sec: 0x07, min: 0x31, hour: 0x11, day: 0x01, month: 0x12, year: 0x26, century: 0x20, status_b: 2 };
        assert_eq!(r.unix_seconds(), Some(1_796_124_667));
    }

    #[test]
    fn binary_and_12_hour_modes_are_decoded() {
        // 2000-02-29 12:00:00 PM and 12:30 AM.
        let noon = RtcRaw { sec: 0, min: 0, hour: 0x80 | 12, day: 29, month: 2, year: 0, century: 20, status_b: 4 };
        assert_eq!(noon.unix_seconds(), Some(951_825_600));
        let after_midnight = RtcRaw { hour: 12, min: 30, ..noon };
        assert_eq!(after_midnight.unix_seconds(), Some(951_782_400 + 1800));
    }

    #[test]
    fn nonsense_registers_make_no_date() {
        let r = RtcRaw { sec: 0x61, min: 0, hour: 0, day: 1, month: 1, year: 0x70, century: 0x19, status_b: 2 };
        assert_eq!(r.unix_seconds(), None);
        let r = RtcRaw { sec: 0, month: 0x13, day: 1, year: 0x70, century: 0x19, status_b: 2, ..RtcRaw::default() };
        assert_eq!(r.unix_seconds(), None);
    }
}
