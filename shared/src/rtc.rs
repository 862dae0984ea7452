//! The MC146818 CMOS real-time clock as the VMM presents it and the guest
//! reads it (ports 0x70/0x71, as on a PC): register numbers, BCD, and the
//! civil-calendar conversions both sides need (proleptic Gregorian, UTC).

/// Index port (bit 7 is the NMI mask) and data port.
pub const PORT_INDEX: u16 = 0x70;
pub const PORT_DATA: u16 = 0x71;

pub const REG_SECONDS: u8 = 0x00;
pub const REG_MINUTES: u8 = 0x02;
pub const REG_HOURS: u8 = 0x04;
pub const REG_WEEKDAY: u8 = 0x06;
pub const REG_DAY: u8 = 0x07;
pub const REG_MONTH: u8 = 0x08;
pub const REG_YEAR: u8 = 0x09;
pub const REG_STATUS_A: u8 = 0x0a;
pub const REG_STATUS_B: u8 = 0x0b;
pub const REG_STATUS_C: u8 = 0x0c;
pub const REG_STATUS_D: u8 = 0x0d;
pub const REG_CENTURY: u8 = 0x32;
/// Status A: an update is in progress (the time registers may change).
pub const STATUS_A_UIP: u8 = 0x80;
/// Status B: 24-hour mode; binary (not BCD) values.
pub const STATUS_B_24H: u8 = 0x02;
pub const STATUS_B_BINARY: u8 = 0x04;
/// Status D: the clock's battery is good (the time is valid).
pub const STATUS_D_VALID: u8 = 0x80;

pub const fn to_bcd(v: u8) -> u8 {
    (v / 10) << 4 | (v % 10)
}

pub const fn from_bcd(v: u8) -> u8 {
    (v >> 4) * 10 + (v & 0xf)
}

/// A UTC date and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    pub year: i64,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (`civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl DateTime {
    /// The date and time of a Unix time (seconds since the epoch, UTC).
    pub fn from_unix(secs: i64) -> Self {
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let s = secs.rem_euclid(86_400);
        Self { year, month, day, hour: (s / 3600) as u8, minute: (s / 60 % 60) as u8, second: (s % 60) as u8 }
    }

    /// Its Unix time.
    pub fn to_unix(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400 + i64::from(self.hour) * 3600 + i64::from(self.minute) * 60 + i64::from(self.second)
    }

    /// Day of the week, 1 (Sunday) to 7, as the RTC counts.
    pub fn weekday(&self) -> u8 {
        // 1970-01-01 was a Thursday (5).
        ((days_from_civil(self.year, self.month, self.day) + 4).rem_euclid(7) + 1) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(DateTime::from_unix(0), DateTime { year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0 });
        // 2000-02-29 12:34:56 UTC.
        let t = DateTime { year: 2000, month: 2, day: 29, hour: 12, minute: 34, second: 56 };
        assert_eq!(t.to_unix(), 951_827_696);
        assert_eq!(DateTime::from_unix(951_827_696), t);
        // 2026-12-07 was a Monday (2).
        assert_eq!(DateTime { year: 2026, month: 12, day: 7, hour: 0, minute: 0, second: 0 }.weekday(), 2);
        assert_eq!(DateTime::from_unix(0).weekday(), 5);
    }

    #[test]
    fn round_trips_over_centuries() {
        for secs in (-4_000_000_000i64..8_000_000_000).step_by(86_399 * 7 + 13) {
            assert_eq!(DateTime::from_unix(secs).to_unix(), secs);
        }
    }

    #[test]
    fn bcd() {
        for v in 0..100 {
            assert_eq!(from_bcd(to_bcd(v)), v);
        }
        assert_eq!(to_bcd(59), 0x59);
    }
}
