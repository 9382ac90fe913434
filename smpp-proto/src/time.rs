//! The SMPP time format of `schedule_delivery_time` and `validity_period`: empty
//! (immediately / the default validity), or 16 characters, absolute `YYMMDDhhmmsstnnp` (`p` is
//! `+` or `-`, `nn` the offset from UTC in quarter-hours, 00–48) or relative `YYMMDDhhmmss000R`.

use crate::receipt::date::days_in_month;

/// What a valid time field says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmppTime {
    /// Empty: at once, or the MC's default validity.
    Default,
    /// A point in time, at an offset from UTC.
    Absolute,
    /// A period counted from when the MC receives the message.
    Relative,
}

/// Reads a time field; `None` when it is not in the format. Strict: sixteen characters, each
/// part in its range (a real calendar day, an hour below 24, an offset of at most 14 hours — the
/// reference says 12, but New Zealand's summer time is UTC+13 and Kiribati UTC+14); of a
/// relative time only the `tnn` characters are not checked beyond being digits (some senders put
/// other digits there).
pub fn parse(value: &[u8]) -> Option<SmppTime> {
    let [digits @ .., p] = value else {
        return Some(SmppTime::Default);
    };
    if digits.len() != 15 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = |i: usize| (digits[i] - b'0') * 10 + (digits[i + 1] - b'0');
    let (year, month, day, hour, minute, second) = (n(0), n(2), n(4), n(6), n(8), n(10));
    match p {
        b'R' => Some(SmppTime::Relative),
        b'+' | b'-' => {
            let year = 2000 + u16::from(year);
            let valid = (1..=12).contains(&month)
                && (1..=days_in_month(year, month)).contains(&day)
                && hour < 24
                && minute < 60
                && second < 60
                && n(13) <= 56;
            valid.then_some(SmppTime::Absolute)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_reference_examples() {
        assert_eq!(parse(b""), Some(SmppTime::Default));
        assert_eq!(parse(b"250315143000004+"), Some(SmppTime::Absolute));
        assert_eq!(parse(b"250315143000022-"), Some(SmppTime::Absolute));
        assert_eq!(parse(b"000001120000000R"), Some(SmppTime::Relative));
        assert_eq!(
            parse(b"240229000000000+"),
            Some(SmppTime::Absolute),
            "a leap day"
        );
    }

    #[test]
    fn refuses_what_is_not_in_the_format() {
        for bad in [
            &b"2503151430"[..],   // too short (a 10-character date)
            b"250315143000004",   // no sign
            b"250315143000004+0", // one too many
            b"250315143000004*",  // not + - R
            b"251315143000004+",  // month 13
            b"250230143000004+",  // 30 February
            b"230229000000000+",  // 29 February, not a leap year
            b"250315243000004+",  // hour 24
            b"250315146000004+",  // minute 60
            b"250315143060004+",  // second 60
            b"250315143000057+",  // offset beyond 14 hours
            b"25031514300000a+",  // not a digit
            b"00000112000000 R",  // a space
        ] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
