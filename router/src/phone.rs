//! Destination numbers: E.164 validation (the seed: "Phone numbers are validated using
//! international phone number parsing"), the country they belong to, and masking for logs.
//!
//! Validation uses `rlibphonenumber`: ~2–2.4 µs a number on an international mix of 62 countries
//! (420–500k/s on one core), against 0.65–0.87 ms for the `phonenumber` crate, whose small shared
//! regex cache thrashes on such a mix (`cargo bench -p smpp-router --bench phone`). Its metadata
//! loads lazily and each country's rules compile on first use (3–4 ms each), so [`warm_up`]
//! validates every region's example number at start and no message stalls on it.

use std::fmt;

use rlibphonenumber::PHONE_NUMBER_UTIL;

/// A destination that passed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination {
    /// The country calling code, e.g. 44.
    pub country_code: u16,
    /// The ISO 3166 region, e.g. `*b"GB"`; `*b"001"`-style non-geographic numbers give `ZZ`.
    pub region: [u8; 2],
}

impl Destination {
    /// The region as text.
    pub fn region_str(&self) -> &str {
        std::str::from_utf8(&self.region).unwrap_or("ZZ")
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
    let number = PHONE_NUMBER_UTIL
        .parse(text, None)
        .map_err(|_| PhoneError::Invalid)?;
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
    Ok(Destination {
        country_code,
        region,
    })
}

/// The regions warmed up by default: a few of the largest OTP markets. Each region's rules cost
/// about 1 MB once compiled (all ~245 regions: ~130 MB), so the rest compile on their first
/// message instead (3–4 ms, once per region and process). The metadata itself always loads at
/// start.
pub const DEFAULT_WARM_UP: &[&str] = &["US", "GB", "DE", "FR", "ES", "IT", "BR", "MX", "IN", "ID"];

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

    #[test]
    fn masks_numbers() {
        assert_eq!(Masked(b"447700900123").to_string(), "4477******23");
        assert_eq!(Masked(b"MyBank").to_string(), "MyBank");
        assert!(!Masked(b"14155551234").to_string().contains("555123"));
    }
}
