//! The dates of a receipt's text (`submit date:`, `done date:`).

use std::fmt::Write as _;

/// A calendar date and time from (or for) a receipt's text; the time zone is unknown (MC local).
///
/// Fields are validated on construction; the derived ordering is chronological.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReceiptDate {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

/// 9999-12-31 23:59:59 UTC, the last instant [`ReceiptDate::from_unix`] can represent.
const MAX_UNIX: u64 = 253_402_300_799;

impl ReceiptDate {
    /// A date from its parts, or `None` when any part is out of range (year 0–9999, real days).
    pub fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<Self> {
        let valid = year <= 9999
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour <= 23
            && minute <= 59
            && second <= 59;
        valid.then_some(Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// Parses a receipt date leniently (surrounding whitespace ignored).
    ///
    /// * 10 digits: `YYMMDDhhmm`;
    /// * 12 digits: `YYMMDDhhmmss`, or `YYYYMMDDhhmm` when that reading has an invalid month, day,
    ///   hour, minute or second (`201506201641` is 2015-06-20 16:41);
    /// * 14 digits: `YYYYMMDDhhmmss`.
    ///
    /// Two-digit years are 2000 + YY. All zeros (the "no date" of some MCs), any other length, any
    /// non-digit or an impossible date give `None`.
    pub fn parse(raw: &str) -> Option<Self> {
        let s = raw.trim().as_bytes();
        if !s.iter().all(u8::is_ascii_digit) || s.iter().all(|&b| b == b'0') {
            return None;
        }
        // Two-digit groups; every index below is within the length checked by the match.
        let n = |i: usize| -> u8 {
            match (s.get(i), s.get(i + 1)) {
                (Some(a), Some(b)) => (a - b'0') * 10 + (b - b'0'),
                _ => 0,
            }
        };
        let year4 = |i: usize| u16::from(n(i)) * 100 + u16::from(n(i + 2));
        match s.len() {
            10 => Self::new(2000 + u16::from(n(0)), n(2), n(4), n(6), n(8), 0),
            12 => Self::new(2000 + u16::from(n(0)), n(2), n(4), n(6), n(8), n(10))
                .or_else(|| Self::new(year4(0), n(4), n(6), n(8), n(10), 0)),
            14 => Self::new(year4(0), n(4), n(6), n(8), n(10), n(12)),
            _ => None,
        }
    }

    /// The UTC date of a Unix time in seconds; instants past 9999-12-31 23:59:59 clamp to it.
    pub fn from_unix(secs: u64) -> Self {
        let secs = secs.min(MAX_UNIX);
        let (days, rem) = (secs / 86_400, secs % 86_400);
        // Howard Hinnant's civil_from_days, shifted so that eras start on 0000-03-01.
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z % 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        // All values are in range: year ≤ 9999 by the clamp, the rest by construction.
        Self {
            year: year as u16,
            month: month as u8,
            day: day as u8,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
        }
    }

    /// Seconds since the Unix epoch, reading the date as UTC (negative before 1970).
    pub fn to_unix(self) -> i64 {
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// Appends the canonical 10-digit `YYMMDDhhmm` form (year modulo 100; seconds dropped).
    pub fn write_yymmddhhmm(self, out: &mut String) {
        let _ = write!(
            out,
            "{:02}{:02}{:02}{:02}{:02}",
            self.year % 100,
            self.month,
            self.day,
            self.hour,
            self.minute
        );
    }

    /// The date as an SMPP absolute time (`YYMMDDhhmmss000+`: tenths 0, offset 0), for a
    /// date in UTC such as [`ReceiptDate::from_unix`] gives (`query_sm_resp`'s `final_date`).
    pub fn to_smpp_utc(self) -> String {
        format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}000+",
            self.year % 100,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second
        )
    }

    /// The canonical 10-digit `YYMMDDhhmm` form as a new string.
    pub fn to_yymmddhhmm(self) -> String {
        let mut s = String::with_capacity(10);
        self.write_yymmddhhmm(&mut s);
        s
    }

    /// The year (four digits; two-digit years read as 2000 + YY).
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1–12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1–31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// The hour, 0–23.
    pub fn hour(self) -> u8 {
        self.hour
    }

    /// The minute, 0–59.
    pub fn minute(self) -> u8 {
        self.minute
    }

    /// The second, 0–59 (0 when the text had no seconds).
    pub fn second(self) -> u8 {
        self.second
    }
}

/// Days in a month of the proleptic Gregorian calendar.
pub(crate) fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: u16, mo: u8, da: u8, h: u8, mi: u8, s: u8) -> ReceiptDate {
        ReceiptDate::new(y, mo, da, h, mi, s).unwrap()
    }

    #[test]
    fn ten_digits() {
        assert_eq!(
            ReceiptDate::parse("1601010100"),
            Some(d(2016, 1, 1, 1, 0, 0))
        );
        assert_eq!(
            ReceiptDate::parse(" 2602121430 "),
            Some(d(2026, 2, 12, 14, 30, 0))
        );
    }

    #[test]
    fn twelve_digits_with_seconds() {
        assert_eq!(
            ReceiptDate::parse("190608165232"),
            Some(d(2019, 6, 8, 16, 52, 32))
        );
    }

    #[test]
    fn twelve_digits_ambiguous_falls_back_to_four_digit_year() {
        // Month 15 is invalid as YYMMDD, so this is YYYYMMDDhhmm.
        assert_eq!(
            ReceiptDate::parse("201506201641"),
            Some(d(2015, 6, 20, 16, 41, 0))
        );
        // Valid both ways: the YYMMDDhhmmss reading wins, as most carriers mean it.
        assert_eq!(
            ReceiptDate::parse("201101151230"),
            Some(d(2020, 11, 1, 15, 12, 30))
        );
        // Invalid both ways.
        assert_eq!(ReceiptDate::parse("999999999999"), None);
    }

    #[test]
    fn fourteen_digits() {
        assert_eq!(
            ReceiptDate::parse("20110303100008"),
            Some(d(2011, 3, 3, 10, 0, 8))
        );
    }

    #[test]
    fn zeros_and_garbage_are_absent() {
        for raw in [
            "0000000000",
            "000000000000",
            "00000000000000",
            "",
            "  ",
            "16010101",
            "16010101000",
            "160101010x",
            "1613010100",
            "1602300100",
            "1601012400",
            "1601010160",
            "2016-01-01",
            "１６０１０１０１００",
            "+601010100",
        ] {
            assert_eq!(ReceiptDate::parse(raw), None, "{raw:?}");
        }
        // Leap days.
        assert!(ReceiptDate::parse("2402290000").is_some());
        assert!(ReceiptDate::parse("2302290000").is_none());
        assert!(ReceiptDate::parse("21000229000000").is_none());
        assert!(ReceiptDate::parse("20000229000000").is_some());
    }

    #[test]
    fn from_unix_known_instants() {
        assert_eq!(ReceiptDate::from_unix(0), d(1970, 1, 1, 0, 0, 0));
        assert_eq!(ReceiptDate::from_unix(0).to_yymmddhhmm(), "7001010000");
        assert_eq!(
            ReceiptDate::from_unix(1_700_000_000),
            d(2023, 11, 14, 22, 13, 20)
        );
        assert_eq!(
            ReceiptDate::from_unix(1_700_000_000).to_yymmddhhmm(),
            "2311142213"
        );
        assert_eq!(ReceiptDate::from_unix(951_782_400), d(2000, 2, 29, 0, 0, 0));
        assert_eq!(
            ReceiptDate::from_unix(4_102_444_799),
            d(2099, 12, 31, 23, 59, 59)
        );
        assert_eq!(
            ReceiptDate::from_unix(u64::MAX),
            d(9999, 12, 31, 23, 59, 59)
        );
    }

    #[test]
    fn to_unix_inverts_from_unix() {
        assert_eq!(d(2023, 11, 14, 22, 13, 20).to_unix(), 1_700_000_000);
        assert_eq!(d(1969, 12, 31, 23, 59, 59).to_unix(), -1);
        assert_eq!(d(9999, 12, 31, 23, 59, 59).to_unix(), MAX_UNIX as i64);
    }

    proptest! {
        #[test]
        fn unix_round_trip(secs in 0..=MAX_UNIX) {
            let date = ReceiptDate::from_unix(secs);
            prop_assert_eq!(date.to_unix(), secs as i64);
            prop_assert_eq!(
                ReceiptDate::new(date.year(), date.month(), date.day(), date.hour(), date.minute(), date.second()),
                Some(date)
            );
        }

        #[test]
        fn fourteen_digit_round_trip(secs in 0..=MAX_UNIX) {
            let t = ReceiptDate::from_unix(secs);
            let raw = format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}",
                t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second()
            );
            prop_assert_eq!(ReceiptDate::parse(&raw), Some(t));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = ReceiptDate::parse(&s);
        }
    }
}
