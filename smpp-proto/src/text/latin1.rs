//! ISO-8859-1 (Latin-1, `data_coding` 3): one octet per character, U+0000 to U+00FF.

/// Decodes Latin-1 octets to text; every octet is a character, so this never fails.
pub fn decode(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Encodes text to Latin-1, or `None` if a character is above U+00FF.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(c).ok()).collect()
}

/// Whether every character of `text` is in Latin-1.
pub fn is_representable(text: &str) -> bool {
    text.chars().all(|c| u8::try_from(c).is_ok())
}

/// Decodes IA5 / ASCII octets (`data_coding` 1); octets at or above 0x80 become U+FFFD.
pub fn decode_ascii(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if b.is_ascii() {
                char::from(b)
            } else {
                char::REPLACEMENT_CHARACTER
            }
        })
        .collect()
}
