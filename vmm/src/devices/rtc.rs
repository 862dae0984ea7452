//! The CMOS real-time clock (MC146818) at ports 0x70/0x71, as a PC has
//! it: the guest reads the host's wall-clock time (UTC) from it at boot,
//! as Linux does (`mach_get_cmos_time`). Values are BCD, 24-hour; no
//! update is ever in progress, and the alarm and periodic interrupts are
//! not wired. Writes to the time registers are ignored (the host's clock
//! is not the guest's to set); the rest of the 128 bytes of CMOS RAM read
//! as 0.

use std::time::{SystemTime, UNIX_EPOCH};

use shared::rtc::*;

/// The clock: the selected register, and where the time comes from.
pub struct Rtc {
    index: u8,
    now: fn() -> i64,
}

/// The host's time now, in Unix seconds.
fn host_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Default for Rtc {
    fn default() -> Self {
        Self::new(host_now)
    }
}

impl Rtc {
    /// A clock that reads Unix seconds from `now`.
    pub fn new(now: fn() -> i64) -> Self {
        Self { index: 0, now }
    }

    /// Whether `port` is one of the clock's.
    pub fn owns(port: u16) -> bool {
        port == PORT_INDEX || port == PORT_DATA
    }

    pub fn write(&mut self, port: u16, value: u8) {
        if port == PORT_INDEX {
            // Bit 7 masks NMIs on a PC; the register is the low 7 bits.
            self.index = value & 0x7f;
        }
    }

    pub fn read(&self, port: u16) -> u8 {
        if port != PORT_DATA {
            return 0xff;
        }
        let t = DateTime::from_unix((self.now)());
        let bcd = |v: i64| to_bcd(v.rem_euclid(100) as u8);
        match self.index {
            REG_SECONDS => to_bcd(t.second),
            REG_MINUTES => to_bcd(t.minute),
            REG_HOURS => to_bcd(t.hour),
            REG_WEEKDAY => t.weekday(),
            REG_DAY => to_bcd(t.day),
            REG_MONTH => to_bcd(t.month),
            REG_YEAR => bcd(t.year),
            REG_CENTURY => bcd(t.year.div_euclid(100)),
            // Divider on, 1024 Hz rate select; never updating.
            REG_STATUS_A => 0x26,
            REG_STATUS_B => STATUS_B_24H,
            REG_STATUS_C => 0,
            REG_STATUS_D => STATUS_D_VALID,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(rtc: &mut Rtc, reg: u8) -> u8 {
        rtc.write(PORT_INDEX, reg | 0x80);
        rtc.read(PORT_DATA)
    }

    #[test]
    fn reads_a_fixed_time_in_bcd() {
        // 2026-12-07 01:40:11 UTC, a Monday.
        let mut rtc = Rtc::new(|| 1_796_607_611);
        assert_eq!(read(&mut rtc, REG_SECONDS), 0x11);
        assert_eq!(read(&mut rtc, REG_MINUTES), 0x40);
        assert_eq!(read(&mut rtc, REG_HOURS), 0x01);
        assert_eq!(read(&mut rtc, REG_DAY), 0x07);
        assert_eq!(read(&mut rtc, REG_MONTH), 0x12);
        assert_eq!(read(&mut rtc, REG_YEAR), 0x26);
        assert_eq!(read(&mut rtc, REG_CENTURY), 0x20);
        assert_eq!(read(&mut rtc, REG_WEEKDAY), 2);
        assert_eq!(read(&mut rtc, REG_STATUS_A) & STATUS_A_UIP, 0);
        assert_eq!(read(&mut rtc, REG_STATUS_B) & STATUS_B_BINARY, 0, "BCD");
        assert_eq!(read(&mut rtc, REG_STATUS_D), STATUS_D_VALID);
        assert_eq!(rtc.read(PORT_INDEX), 0xff, "the index port reads nothing");
    }

    #[test]
    fn the_host_clock_is_now() {
        let mut rtc = Rtc::default();
        let year = 2000 + i64::from(from_bcd(read(&mut rtc, REG_YEAR)));
        assert!(year >= 2024, "{year}");
    }
}
