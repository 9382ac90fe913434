//! Destination numbers: E.164 validation (the seed: "Phone numbers are validated using
//! international phone number parsing"), the country they belong to, and masking for logs.
//!
//! Validation uses `rlibphonenumber`'s metadata and rules. A destination is digits in
//! international (E.164) form, so [`validate`] first reads it as written: the calling code, then
//! the national number, leading zeros included. A number valid as written is accepted. Anything
//! else goes through the library's `parse`, as all numbers did before, which also forgives a
//! national prefix written after the calling code (`+44 07700…` reads as `+44 7700…`).
//!
//! The two readings differ only where digits after the calling code both form a valid number
//! and begin with what `parse` would strip as a national prefix: Belarus's premium-rate
//! `+375 810…` numbers (`parse` strips the `8` and refuses the rest) and Japan's `+81 0037 68…`
//! toll-free numbers. E.164 has no national prefix, so those are accepted as written. A test
//! holds the two readings to the same answer everywhere else, over every region's numbers.
//!
//! Reading as written skips `parse`'s regex searches for free-form text (extensions,
//! punctuation, phone-context, national prefixes), so valid numbers cost less
//! (`cargo bench -p smpp-router --bench phone`). The `phonenumber` crate takes 0.65–0.87 ms a
//! number on the same mix: its small shared regex cache thrashes. The metadata loads lazily and
//! each country's rules compile on first use (3–4 ms each), so [`warm_up`] validates the busiest
//! regions' example numbers at start and no message stalls on them.

use std::fmt;

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumber};

/// The longest E.164 text [`Destination::write_e164`] writes: `+`, a calling code, leading zeros
/// and a national number (E.164 numbers have at most 15 digits; this leaves room).
pub const E164_MAX: usize = 48;

/// A destination that passed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The country calling code, e.g. 44.
    pub country_code: u16,
    /// The ISO 3166 region, e.g. `*b"GB"`; `*b"001"`-style non-geographic numbers give `ZZ`.
    pub region: [u8; 2],
    /// The national significant number without its leading zeros, e.g. 7400123456.
    pub national_number: u64,
    /// The zeros the national number starts with (Italian fixed lines, `+39 06…`).
    pub leading_zeros: u8,
}

impl Destination {
    /// The region as text.
    pub fn region_str(&self) -> &str {
        std::str::from_utf8(&self.region).unwrap_or("ZZ")
    }

    /// The number in E.164 with its `+`, as validated: a national prefix written after the
    /// calling code is not in it (`+44 07400 123456` → `+447400123456`).
    pub fn e164(&self) -> String {
        let mut buf = [0u8; E164_MAX];
        self.write_e164(&mut buf).to_string()
    }

    /// [`Destination::e164`] written into `buf`, without allocating.
    pub fn write_e164<'a>(&self, buf: &'a mut [u8; E164_MAX]) -> &'a str {
        fn digits(mut n: u64, out: &mut [u8]) -> usize {
            let mut tmp = [0u8; 20];
            let mut i = tmp.len();
            loop {
                i -= 1;
                tmp[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            let len = (tmp.len() - i).min(out.len());
            out[..len].copy_from_slice(&tmp[i..i + len]);
            len
        }
        buf[0] = b'+';
        let mut at = 1 + digits(u64::from(self.country_code), &mut buf[1..]);
        for _ in 0..self.leading_zeros {
            if at < buf.len() {
                buf[at] = b'0';
                at += 1;
            }
        }
        at += digits(self.national_number, &mut buf[at..]);
        std::str::from_utf8(&buf[..at]).unwrap_or("+")
    }
}

/// Why a destination was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Not 1–21 characters of digits (an optional leading `+` aside).
    #[error("not a string of digits")]
    NotDigits,
    /// Digits, but not a valid number of any country.
    #[error("not a valid E.164 number")]
    Invalid,
}

/// The longest `destination_addr` the seed accepts.
pub const MAX_DESTINATION_LEN: usize = 21;

/// Validates an international number given as digits (`14155551234`, or `+14155551234`).
pub fn validate(addr: &[u8]) -> Result<Destination, PhoneError> {
    let digits = addr.strip_prefix(b"+").unwrap_or(addr);
    if digits.is_empty()
        || addr.len() > MAX_DESTINATION_LEN
        || !digits.iter().all(u8::is_ascii_digit)
    {
        return Err(PhoneError::NotDigits);
    }
    let mut buf = [0u8; MAX_DESTINATION_LEN + 1];
    buf[0] = b'+';
    buf[1..=digits.len()].copy_from_slice(digits);
    let text = std::str::from_utf8(&buf[..=digits.len()]).map_err(|_| PhoneError::NotDigits)?;
    // Nearly every destination is a valid number as written, and then `parse` is not needed.
    if let Some(found) = read_international(&text[1..]).and_then(|n| destination(&n).ok()) {
        return Ok(found);
    }
    let number = PHONE_NUMBER_UTIL
        .parse(text, None)
        .map_err(|_| PhoneError::Invalid)?;
    destination(&number)
}

/// Where a number read from a destination goes, if it is a valid number there.
fn destination(number: &PhoneNumber) -> Result<Destination, PhoneError> {
    // `is_valid` would find the region, then the caller again: find it once.
    let region = number.get_region_code().ok_or(PhoneError::Invalid)?;
    if !number.is_valid_for_region(region) {
        return Err(PhoneError::Invalid);
    }
    let country_code = u16::try_from(number.country_code).map_err(|_| PhoneError::Invalid)?;
    let region = match region.as_region_str().as_bytes() {
        &[a, b] => [a, b],
        _ => *b"ZZ",
    };
    let leading_zeros = match number.italian_leading_zero {
        Some(true) => number
            .number_of_leading_zeros
            .and_then(|n| u8::try_from(n).ok())
            .unwrap_or(1),
        _ => 0,
    };
    Ok(Destination {
        country_code,
        region,
        national_number: number.national_number,
        leading_zeros,
    })
}

/// The shortest and longest national significant numbers `parse` accepts.
const NSN_LENGTHS: std::ops::RangeInclusive<usize> = 2..=17;

/// `+digits` read as written: the first one to three digits that are a known calling code (as
/// `parse` tries them), the rest the national number, leading zeros kept as `parse` keeps them.
/// Unlike `parse` it never strips a national prefix after the calling code: the caller asks
/// `parse` when this reading is not a valid number.
fn read_international(digits: &str) -> Option<PhoneNumber> {
    // `parse` refuses two digits or fewer after the '+', and calling codes never start with 0.
    if digits.len() <= 2 || digits.starts_with('0') {
        return None;
    }
    let (country_code, national) = (1..=3).find_map(|len| {
        let code: i32 = digits.get(..len)?.parse().ok()?;
        PHONE_NUMBER_UTIL.get_region_for_country_code(code)?;
        Some((code, &digits[len..]))
    })?;
    if !NSN_LENGTHS.contains(&national.len()) {
        return None;
    }
    let mut number = PhoneNumber {
        country_code,
        national_number: national.parse().ok()?,
        ..PhoneNumber::default()
    };
    let zeros = national.bytes().take_while(|&b| b == b'0').count();
    if zeros > 0 {
        // As `parse` counts them: an all-zero number keeps its last zero as the number.
        let zeros = zeros.min(national.len() - 1);
        number.italian_leading_zero = Some(true);
        if zeros > 1 {
            number.number_of_leading_zeros = i32::try_from(zeros).ok();
        }
    }
    Some(number)
}

/// The regions warmed up by default: a few of the largest OTP markets. Each region's rules cost
/// about 1 MB once compiled (all ~245 regions: ~130 MB), so the rest compile on their first
/// message instead (3–4 ms, once per region and process). The metadata itself always loads at
/// start.
pub const DEFAULT_WARM_UP: &[&str] = &["US", "GB", "DE", "FR", "ES", "IT", "BR", "MX", "IN", "ID"];

/// Whether `code` is an assigned country calling code (44, 1, 888 …).
pub fn is_known_calling_code(code: &str) -> bool {
    code.parse::<i32>()
        .is_ok_and(|c| PHONE_NUMBER_UTIL.get_region_for_country_code(c).is_some())
}

/// Whether `region` (two letters, any case) is an ISO region the numbering data knows.
pub fn is_known_region(region: &str) -> bool {
    PHONE_NUMBER_UTIL
        .get_supported_regions()
        .any(|r| r.to_string().eq_ignore_ascii_case(region))
}

/// Loads the numbering metadata and compiles the rules of `regions` (ISO codes; `"all"` for
/// every region) now rather than on the first message to each country.
pub fn warm_up(regions: &[String]) {
    let all = regions.iter().any(|r| r.eq_ignore_ascii_case("all"));
    for region in PHONE_NUMBER_UTIL.get_supported_regions() {
        let code = region.to_string();
        if !all && !regions.iter().any(|r| r.eq_ignore_ascii_case(&code)) {
            continue;
        }
        if let Ok(example) = PHONE_NUMBER_UTIL.get_example_number(region) {
            let _ = example.is_valid();
        }
    }
}

/// A number fit for logs: country prefix and the last two digits, the rest masked
/// (`4477******23`). Full phone numbers never reach a log.
#[derive(Clone, Copy)]
pub struct Masked<'a>(pub &'a [u8]);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if s.len() <= 4 || !s.iter().all(|b| b.is_ascii_digit() || *b == b'+') {
            // Short codes and alphanumeric senders are not personal numbers, but keep them short.
            return write!(f, "{}", String::from_utf8_lossy(&s[..s.len().min(11)]));
        }
        let keep_head = if s.len() > 8 { 4 } else { 2 };
        let head = String::from_utf8_lossy(&s[..keep_head]);
        let tail = String::from_utf8_lossy(&s[s.len() - 2..]);
        write!(f, "{head}{}{tail}", "*".repeat(s.len() - keep_head - 2))
    }
}

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_international_numbers() {
        let us = validate(b"14155551234").unwrap();
        assert_eq!((us.country_code, us.region_str()), (1, "US"));
        let gb = validate(b"+442071838750").unwrap();
        assert_eq!((gb.country_code, gb.region_str()), (44, "GB"));
        let de = validate(b"4915112345678").unwrap();
        assert_eq!(de.country_code, 49);
        assert_eq!(validate(b"123"), Err(PhoneError::Invalid));
        assert_eq!(validate(b"447700900123"), Err(PhoneError::Invalid));
        assert_eq!(validate(b"1415555abcd"), Err(PhoneError::NotDigits));
        assert_eq!(validate(b""), Err(PhoneError::NotDigits));
        assert_eq!(
            validate(b"1234567890123456789012"),
            Err(PhoneError::NotDigits)
        );
    }

    /// What `validate` answered before it read numbers itself: `parse`, then the same checks.
    fn validate_by_parse(digits: &str) -> Result<Destination, PhoneError> {
        let number = PHONE_NUMBER_UTIL
            .parse(format!("+{digits}"), None)
            .map_err(|_| PhoneError::Invalid)?;
        destination(&number)
    }

    /// Every region's example numbers of every type in E.164 digits, and variants of each that
    /// `parse` treats differently: shortened, lengthened, a digit changed, a national prefix
    /// or zeros put in after the calling code.
    fn numbers_of_every_region() -> Vec<String> {
        use rlibphonenumber::{PhoneNumberFormat, PhoneNumberType};
        let types = [
            PhoneNumberType::FixedLine,
            PhoneNumberType::Mobile,
            PhoneNumberType::TollFree,
            PhoneNumberType::PremiumRate,
            PhoneNumberType::SharedCost,
            PhoneNumberType::VoIP,
            PhoneNumberType::PersonalNumber,
            PhoneNumberType::Pager,
            PhoneNumberType::UAN,
            PhoneNumberType::VoiceMail,
        ];
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for region in PHONE_NUMBER_UTIL.get_supported_regions() {
            for kind in types {
                let Ok(example) =
                    PHONE_NUMBER_UTIL.get_example_number_for_type_and_region(region, kind)
                else {
                    continue;
                };
                let e164 = example.format_as(PhoneNumberFormat::E164);
                let digits = e164.trim_start_matches('+').to_owned();
                let code = example.country_code.to_string();
                let national = &digits[code.len()..];
                let mut variants = vec![
                    digits.clone(),
                    digits[..digits.len() - 1].to_owned(),
                    format!("{digits}7"),
                    format!("{digits}00"),
                ];
                for prefix in ["0", "00", "1", "8", "9", "15", "06", "0800"] {
                    variants.push(format!("{code}{prefix}{national}"));
                }
                for (i, d) in digits.bytes().enumerate().skip(1) {
                    let mut changed = digits.clone().into_bytes();
                    changed[i] = b'0' + (d - b'0' + 3) % 10;
                    variants.push(String::from_utf8(changed).unwrap_or_default());
                }
                for v in variants {
                    if seen.insert(v.clone()) {
                        out.push(v);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn reads_numbers_as_parse_does() {
        let mut numbers = numbers_of_every_region();
        // Digit strings of every length, every leading digit, no calling code or an unknown one.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in 1..=21 {
            for _ in 0..400 {
                let digits: String = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        char::from(b'0' + (x % 10) as u8)
                    })
                    .collect();
                numbers.push(digits);
            }
        }
        assert!(numbers.len() > 20_000, "only {} numbers", numbers.len());
        let mut differ = Vec::new();
        let mut valid = 0;
        for digits in &numbers {
            let read = validate(digits.as_bytes());
            valid += usize::from(read.is_ok());
            if read != validate_by_parse(digits) && !valid_only_as_written(digits) {
                differ.push(digits.clone());
            }
        }
        assert!(
            differ.is_empty(),
            "{} differ: {:?}",
            differ.len(),
            &differ[..differ.len().min(20)]
        );
        assert!(valid > 5_000, "only {valid} valid numbers");
    }

    /// Whether `digits` is a valid number as written while `parse` strips a national prefix
    /// after its calling code: the one way the two readings may differ.
    fn valid_only_as_written(digits: &str) -> bool {
        let Some(as_written) = read_international(digits) else {
            return false;
        };
        let stripped = PHONE_NUMBER_UTIL
            .parse(format!("+{digits}"), None)
            .is_ok_and(|n| {
                n.country_code == as_written.country_code
                    && n.get_national_significant_number().len()
                        < as_written.get_national_significant_number().len()
            });
        destination(&as_written).is_ok() && stripped
    }

    #[test]
    fn numbers_valid_as_written_keep_their_digits() {
        // Belarus premium rate +375 810 150 9039: `parse` strips the 8 and refuses 101509039.
        let by = validate(b"3758101509039").unwrap();
        assert_eq!((by.country_code, by.region_str()), (375, "BY"));
        assert_eq!(validate_by_parse("3758101509039"), Err(PhoneError::Invalid));
        // Japanese toll-free +81 0037 68…: `parse` strips 003768.
        let jp = validate(b"810037682733555798").unwrap();
        assert_eq!((jp.country_code, jp.region_str()), (81, "JP"));
        assert_eq!(
            validate_by_parse("810037682733555798"),
            Err(PhoneError::Invalid)
        );
        // A national prefix that leaves no valid number as written is still forgiven.
        let gb = validate(b"4407400123456");
        assert_eq!(gb, validate_by_parse("4407400123456"));
        assert_eq!(gb.map(|d| d.region_str().to_owned()).as_deref(), Ok("GB"));
    }

    #[test]
    fn e164_is_the_number_as_validated() {
        let e164 = |digits: &str| validate(digits.as_bytes()).map(|d| d.e164());
        assert_eq!(e164("447400123456").as_deref(), Ok("+447400123456"));
        // The national prefix written after the calling code is not sent on.
        assert_eq!(e164("4407400123456").as_deref(), Ok("+447400123456"));
        // Leading zeros that belong to the number stay (Rome, Italy).
        assert_eq!(e164("390612345678").as_deref(), Ok("+390612345678"));
        assert_eq!(e164("3758101509039").as_deref(), Ok("+3758101509039"));
    }

    #[test]
    fn masks_numbers() {
        assert_eq!(Masked(b"447700900123").to_string(), "4477******23");
        assert_eq!(Masked(b"MyBank").to_string(), "MyBank");
        assert!(!Masked(b"14155551234").to_string().contains("555123"));
    }
}
