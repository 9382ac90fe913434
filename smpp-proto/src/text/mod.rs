//! SMS text: decoding a `short_message` by its `data_coding`, encoding text
//! in the cheapest alphabet, and counting and splitting messages into segments exactly.
//!
//! The router treats `short_message` as opaque bytes tagged with `data_coding`; this module is
//! for content rules, length accounting and per-link transcoding. It is sans-IO and never panics:
//! decoding is lenient on any input.
//!
//! - [`gsm7`]: the GSM 03.38 default alphabet and extension table over unpacked septets, plus
//!   [`gsm7::pack`] / [`gsm7::unpack`] for links that want packed GSM7;
//! - [`latin1`] (`data_coding` 3, and IA5 for 1) and [`ucs2`] (`data_coding` 8, as UTF-16BE);
//! - [`decode`], [`alphabet`] and [`encode_best`] choose by `data_coding`;
//! - [`segments`], [`segments_for_text`] and [`split`] count and cut into 160/153/152 septets,
//!   140/134/133 octets or 70/67/66 UTF-16 units, never inside an `ESC` pair or a surrogate pair.
//!
//! How `data_coding` values are read (SMPP values first, then GSM TS 23.038 groups that MCs pass
//! through):
//!
//! | `data_coding` | Decoded as | Counted as |
//! |---|---|---|
//! | 0x00 | GSM7 unpacked | GSM7 |
//! | 0x01 | IA5 / ASCII (≥ 0x80 → U+FFFD) | GSM7, with `[` `\` `]` `^` `{` `\|` `}` `~` and form feed costing 2 |
//! | 0x03 | Latin-1 | 8-bit (140 octets; an MC mapping it to GSM7 would allow 160) |
//! | 0x08 | UCS-2 as UTF-16BE | UCS-2 |
//! | 0x02, 0x04–0x07, 0x09–0x0F | Latin-1, best effort (binary, JIS, Cyrillic, …) | 8-bit |
//! | 0x10–0x7F (general and auto-deletion groups) | bits 3–2: 00 GSM7, 10 UCS-2, else Latin-1; compressed (bit 5) as Latin-1 | same alphabet; compressed as 8-bit |
//! | 0x80–0xBF (reserved groups) | Latin-1, best effort | 8-bit |
//! | 0xC0–0xDF (message waiting, discard / store) | GSM7 | GSM7 |
//! | 0xE0–0xEF (message waiting, store, UCS-2 in TS 23.038) | UCS-2 | UCS-2 |
//! | 0xF0–0xFF (message class) | bit 2: 0 GSM7, 1 Latin-1 | GSM7 / 8-bit |

pub mod gsm7;
pub mod latin1;
mod segments;
pub mod ucs2;

#[cfg(test)]
mod tests;

pub use segments::{
    MAX_SEGMENTS, Reference, SegmentCount, segments, segments_for_text, segments_for_text_with,
    segments_with, split,
};

/// The alphabet a message is counted in, which sets its length limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alphabet {
    /// GSM 7-bit: counted in septets; 160 single, 153 / 152 per part.
    Gsm7,
    /// 8-bit data or Latin-1: counted in octets; 140 single, 134 / 133 per part.
    EightBit,
    /// UCS-2 / UTF-16: counted in code units; 70 single, 67 / 66 per part.
    Ucs2,
}

impl Alphabet {
    /// The most units a message can have and still go as one SMS without a UDH.
    pub const fn single_limit(self) -> usize {
        match self {
            Alphabet::Gsm7 => 160,
            Alphabet::EightBit => 140,
            Alphabet::Ucs2 => 70,
        }
    }

    /// The most units one part of a concatenated message can carry next to its reference UDH.
    pub const fn part_limit(self, reference: Reference) -> usize {
        match (self, reference) {
            (Alphabet::Gsm7, Reference::Eight) => 153,
            (Alphabet::Gsm7, Reference::Sixteen) => 152,
            (Alphabet::EightBit, Reference::Eight) => 134,
            (Alphabet::EightBit, Reference::Sixteen) => 133,
            (Alphabet::Ucs2, Reference::Eight) => 67,
            (Alphabet::Ucs2, Reference::Sixteen) => 66,
        }
    }
}

/// The alphabet a `data_coding` value is counted in (see the table in the module documentation).
pub fn alphabet(data_coding: u8) -> Alphabet {
    coding(data_coding).alphabet()
}

/// Decodes a `short_message` (without its UDH) to text by its `data_coding`; never fails.
pub fn decode(data_coding: u8, bytes: &[u8]) -> String {
    match coding(data_coding) {
        Coding::Gsm7 => gsm7::decode(bytes),
        Coding::Ia5 => latin1::decode_ascii(bytes),
        Coding::Latin1 | Coding::Octets => latin1::decode(bytes),
        Coding::Ucs2 => ucs2::decode(bytes),
    }
}

/// Encodes text as GSM7 unpacked (`data_coding` 0) when representable, else as UCS-2 (8).
pub fn encode_best(text: &str) -> (u8, Vec<u8>) {
    match gsm7::encode(text) {
        Some(septets) => (0x00, septets),
        None => (0x08, ucs2::encode(text)),
    }
}

/// How the octets of one `data_coding` are read: finer than [`Alphabet`], which only counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coding {
    /// GSM 03.38 septets, unpacked.
    Gsm7,
    /// IA5 / ASCII, counted as the GSM7 the MC will send.
    Ia5,
    /// ISO-8859-1.
    Latin1,
    /// Binary or another 8-bit character set, decoded as Latin-1 at best.
    Octets,
    /// UTF-16BE.
    Ucs2,
}

impl Coding {
    /// The alphabet this coding is counted in.
    const fn alphabet(self) -> Alphabet {
        match self {
            Coding::Gsm7 | Coding::Ia5 => Alphabet::Gsm7,
            Coding::Latin1 | Coding::Octets => Alphabet::EightBit,
            Coding::Ucs2 => Alphabet::Ucs2,
        }
    }
}

/// Classifies a `data_coding` value (see the table in the module documentation).
fn coding(data_coding: u8) -> Coding {
    match data_coding {
        0x00 => Coding::Gsm7,
        0x01 => Coding::Ia5,
        0x03 => Coding::Latin1,
        0x08 => Coding::Ucs2,
        0x02 | 0x04..=0x07 | 0x09..=0x0F => Coding::Octets,
        // General data coding (00xx) and automatic deletion (01xx) groups of TS 23.038.
        0x10..=0x7F if data_coding & 0x20 != 0 => Coding::Octets,
        0x10..=0x7F => match (data_coding >> 2) & 0x03 {
            0b00 => Coding::Gsm7,
            0b10 => Coding::Ucs2,
            _ => Coding::Octets,
        },
        0x80..=0xBF => Coding::Octets,
        0xC0..=0xDF => Coding::Gsm7,
        0xE0..=0xEF => Coding::Ucs2,
        0xF0..=0xFF if data_coding & 0x04 != 0 => Coding::Octets,
        0xF0..=0xFF => Coding::Gsm7,
    }
}
