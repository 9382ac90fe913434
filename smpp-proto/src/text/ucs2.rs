//! UCS-2 (`data_coding` 8), read and written as UTF-16BE: in practice peers send emoji and other
//! characters beyond U+FFFF as surrogate pairs, two code units each.

/// Decodes UTF-16BE to text: a lone surrogate becomes U+FFFD and an odd trailing octet is ignored.
pub fn decode(bytes: &[u8]) -> String {
    let (pairs, _odd) = bytes.as_chunks::<2>();
    let units = pairs.iter().map(|&pair| u16::from_be_bytes(pair));
    char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Encodes text to UTF-16BE; every character is representable.
pub fn encode(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len().saturating_mul(2));
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

/// The number of UTF-16 code units `text` encodes to (a surrogate pair counts 2).
pub fn unit_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Whether a code unit is a high (leading) surrogate, U+D800 to U+DBFF.
pub(super) fn is_high_surrogate(unit: u16) -> bool {
    (0xD800..=0xDBFF).contains(&unit)
}

/// Whether a code unit is a low (trailing) surrogate, U+DC00 to U+DFFF.
pub(super) fn is_low_surrogate(unit: u16) -> bool {
    (0xDC00..=0xDFFF).contains(&unit)
}
