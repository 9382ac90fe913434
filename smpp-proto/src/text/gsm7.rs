//! The GSM 03.38 / TS 23.038 default alphabet and its extension table, over
//! unpacked septets (one septet per octet, as SMPP sends `data_coding` 0), plus packing helpers
//! for links that want packed GSM7.
//!
//! Decoding is lenient and never fails: bytes are masked to 7 bits, an escaped code that is not in
//! the extension table decodes as its basic-table character, and `ESC ESC` (reserved for a further
//! extension) or a trailing lone `ESC` decode as a space. Encoding is strict: a character outside
//! both tables makes [`encode`] return `None`; nothing is replaced by a look-alike, so
//! `decode(encode(s)) == s` whenever `encode` succeeds.

/// The escape septet that introduces an extension-table character.
pub const ESC: u8 = 0x1B;

/// The basic table, indexed by septet. Index 0x1B is `ESC`; the space there is what a lone or
/// doubled `ESC` displays as, and the encoder never produces it.
const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', ' ', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: (code after `ESC`, character).
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// Marks "no basic-table code" in [`REVERSE`].
const NONE: u8 = 0xFF;

/// Every basic-table character is below U+0400 (the Greek capitals are the highest).
const REVERSE_LEN: usize = 0x400;

/// Character (below U+0400) to basic-table septet, or [`NONE`]; built at compile time.
static REVERSE: [u8; REVERSE_LEN] = build_reverse();

const fn build_reverse() -> [u8; REVERSE_LEN] {
    let mut table = [NONE; REVERSE_LEN];
    let mut code = 0;
    while code < BASIC.len() {
        let c = BASIC[code] as usize;
        if code != ESC as usize && c < REVERSE_LEN {
            table[c] = code as u8;
        }
        code += 1;
    }
    table
}

/// The basic-table septet for `c`, if it has one.
fn basic_code(c: char) -> Option<u8> {
    match REVERSE.get(c as usize) {
        Some(&code) if code != NONE => Some(code),
        _ => None,
    }
}

/// The extension-table code (the septet after `ESC`) for `c`, if it has one.
fn extension_code(c: char) -> Option<u8> {
    EXTENSION
        .iter()
        .find(|&&(_, e)| e == c)
        .map(|&(code, _)| code)
}

/// The character an escaped `code` stands for: the extension table, else the basic table.
fn extension_char(code: u8) -> char {
    let code = code & 0x7F;
    match EXTENSION.iter().find(|&&(k, _)| k == code) {
        Some(&(_, c)) => c,
        None => basic_char(code),
    }
}

/// The basic-table character for a septet (masked to 7 bits).
fn basic_char(septet: u8) -> char {
    BASIC
        .get(usize::from(septet & 0x7F))
        .copied()
        .unwrap_or(' ')
}

/// Decodes unpacked septets to text, leniently (see the module documentation); never fails.
pub fn decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut bytes = septets.iter();
    while let Some(&b) = bytes.next() {
        if b & 0x7F == ESC {
            match bytes.next() {
                Some(&code) => out.push(extension_char(code)),
                None => out.push(' '),
            }
        } else {
            out.push(basic_char(b));
        }
    }
    out
}

/// Encodes text to unpacked septets, or `None` if a character is in neither table.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        if let Some(code) = basic_code(c) {
            out.push(code);
        } else {
            out.push(ESC);
            out.push(extension_code(c)?);
        }
    }
    Some(out)
}

/// The number of septets `c` takes: 1 (basic table), 2 (extension table) or `None`.
pub fn char_septets(c: char) -> Option<usize> {
    if basic_code(c).is_some() {
        Some(1)
    } else if extension_code(c).is_some() {
        Some(2)
    } else {
        None
    }
}

/// The number of septets `text` encodes to (extension characters count 2), or `None`.
pub fn septet_len(text: &str) -> Option<usize> {
    text.chars()
        .try_fold(0usize, |n, c| char_septets(c).map(|k| n.saturating_add(k)))
}

/// Whether every character of `text` is in the basic or the extension table.
pub fn is_representable(text: &str) -> bool {
    text.chars().all(|c| char_septets(c).is_some())
}

/// The number of octets `septet_count` septets pack into (`ceil(7n / 8)`).
pub fn packed_len(septet_count: usize) -> usize {
    septet_count.saturating_mul(7).div_ceil(8)
}

/// Packs septets (each masked to 7 bits) into octets, least significant bits first (TS 23.038
/// §6.1.2.1.1). The spare bits of the last octet are zero, so the receiver must be told the
/// septet count (see [`unpack`]).
pub fn pack(septets: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(packed_len(septets.len()));
    let mut acc: u16 = 0;
    let mut bits = 0u32;
    for &s in septets {
        acc |= u16::from(s & 0x7F) << bits;
        bits += 7;
        if bits >= 8 {
            out.push((acc & 0xFF) as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push((acc & 0xFF) as u8);
    }
    out
}

/// Unpacks `septet_count` septets from packed octets; the count is capped at what the octets
/// hold. Passing the real count keeps the spare bits of the last octet (for example the 7 zero
/// bits after 7 septets in 7 octets) from decoding as an extra `@` (go-smpp #108).
pub fn unpack(packed: &[u8], septet_count: usize) -> Vec<u8> {
    let count = septet_count.min(packed.len().saturating_mul(8) / 7);
    let mut out = Vec::with_capacity(count);
    let mut acc: u16 = 0;
    let mut bits = 0u32;
    let mut octets = packed.iter();
    while out.len() < count {
        if bits < 7 {
            match octets.next() {
                Some(&o) => {
                    acc |= u16::from(o) << bits;
                    bits += 8;
                }
                None => break,
            }
        }
        out.push((acc & 0x7F) as u8);
        acc >>= 7;
        bits -= 7;
    }
    out
}
