//! Counting and splitting a message into SMS segments.
//!
//! A message is a sequence of indivisible *atoms*, each weighing 1 or 2 units: a GSM7 septet or
//! an `ESC` pair (2 septets), an octet, a UTF-16 code unit or a surrogate pair (2 units). If the
//! total fits the single-message limit the message is one segment; otherwise atoms are laid out
//! greedily into parts of at most the per-part limit, so a part never ends between `ESC` and its
//! code, nor between the two halves of a surrogate pair. [`segments`] and [`split`] walk the same
//! layout, so `split(..).len() == segments(..).segments` always holds.
//!
//! The limits assume the concatenation UDH is the only UDH element; port or language-shift
//! elements take more room and are the caller's concern, as is the policy limit on the
//! number of parts (at most [`MAX_SEGMENTS`] on the air interface).

use std::ops::Range;

use super::{Alphabet, Coding, coding, gsm7, ucs2};

/// The most segments one concatenated message can have: the part counter is one octet.
pub const MAX_SEGMENTS: usize = 255;

/// The concatenation reference the parts will carry, which sets the UDH size and so the room left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Reference {
    /// 8-bit reference: `05 00 03 RR TT NN`, 6 octets of UDH.
    #[default]
    Eight,
    /// 16-bit reference: `06 08 04 RH RL TT NN`, 7 octets of UDH.
    Sixteen,
}

/// How long a message is and how many segments it takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SegmentCount {
    /// The alphabet the units are counted in.
    pub alphabet: Alphabet,
    /// Septets (GSM7, extension characters count 2), octets (8-bit) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// The number of segments: 1 for an empty or single message, else the number of parts.
    pub segments: usize,
}

/// Counts the segments of a `short_message` (text only, without any UDH) with an 8-bit reference.
pub fn segments(data_coding: u8, short_message: &[u8]) -> SegmentCount {
    segments_with(data_coding, short_message, Reference::Eight)
}

/// Counts the segments of a `short_message` (text only, without any UDH) with the given reference.
pub fn segments_with(data_coding: u8, short_message: &[u8], reference: Reference) -> SegmentCount {
    let coding = coding(data_coding);
    layout(
        Atoms::new(coding, short_message),
        coding.alphabet(),
        reference,
        |_| {},
    )
}

/// Counts the segments `text` takes as [`encode_best`](super::encode_best) would send it, with an
/// 8-bit reference: GSM7 when representable, else UCS-2.
pub fn segments_for_text(text: &str) -> SegmentCount {
    segments_for_text_with(text, Reference::Eight)
}

/// Counts the segments `text` takes as [`encode_best`](super::encode_best) would send it, with the
/// given reference.
pub fn segments_for_text_with(text: &str, reference: Reference) -> SegmentCount {
    if gsm7::is_representable(text) {
        let atoms = text
            .chars()
            .map(|c| (c.len_utf8(), gsm7::char_septets(c).unwrap_or(1)));
        layout(atoms, Alphabet::Gsm7, reference, |_| {})
    } else {
        let atoms = text.chars().map(|c| (c.len_utf8(), c.len_utf16()));
        layout(atoms, Alphabet::Ucs2, reference, |_| {})
    }
}

/// Splits a `short_message` (text only, without any UDH) into the byte ranges of its segments.
///
/// The ranges are in order, non-empty and cover the input exactly; a message that fits in one SMS
/// (including an empty one) is a single range. UCS-2 ranges start on even offsets and never
/// separate a surrogate pair; GSM7 ranges never separate `ESC` from its code.
pub fn split(data_coding: u8, short_message: &[u8], reference: Reference) -> Vec<Range<usize>> {
    let coding = coding(data_coding);
    let mut ranges = Vec::new();
    let mut start = 0;
    layout(
        Atoms::new(coding, short_message),
        coding.alphabet(),
        reference,
        |at| {
            ranges.push(start..at);
            start = at;
        },
    );
    ranges.push(start..short_message.len());
    ranges
}

/// Lays `(octets, units)` atoms out into segments, calling `cut` with the byte offset of the start
/// of every part after the first.
fn layout<I>(
    atoms: I,
    alphabet: Alphabet,
    reference: Reference,
    mut cut: impl FnMut(usize),
) -> SegmentCount
where
    I: Iterator<Item = (usize, usize)> + Clone,
{
    let units = atoms
        .clone()
        .fold(0usize, |n, (_, weight)| n.saturating_add(weight));
    if units <= alphabet.single_limit() {
        return SegmentCount {
            alphabet,
            units,
            segments: 1,
        };
    }
    let part = alphabet.part_limit(reference);
    let mut segments = 1usize;
    let mut fill = 0usize;
    let mut offset = 0usize;
    for (octets, weight) in atoms {
        if fill > 0 && fill.saturating_add(weight) > part {
            cut(offset);
            segments = segments.saturating_add(1);
            fill = 0;
        }
        fill = fill.saturating_add(weight);
        offset = offset.saturating_add(octets);
    }
    SegmentCount {
        alphabet,
        units,
        segments,
    }
}

/// The indivisible atoms of a `short_message` as `(octets, units)` pairs.
#[derive(Clone)]
struct Atoms<'a> {
    coding: Coding,
    rest: &'a [u8],
}

impl<'a> Atoms<'a> {
    fn new(coding: Coding, bytes: &'a [u8]) -> Self {
        Self {
            coding,
            rest: bytes,
        }
    }

    /// The next atom's `(octets, units)` at the front of `rest`, which is not empty.
    fn measure(&self, first: u8) -> (usize, usize) {
        match self.coding {
            // An `ESC` with a code after it is one 2-septet atom (`ESC ESC` too, as decoded); a
            // trailing lone `ESC` is a single septet.
            Coding::Gsm7 if first & 0x7F == gsm7::ESC && self.rest.len() >= 2 => (2, 2),
            Coding::Gsm7 => (1, 1),
            // The air interface has no IA5: the MC sends it as GSM7, where these take 2 septets.
            Coding::Ia5 => match first {
                b'[' | b'\\' | b']' | b'^' | b'{' | b'|' | b'}' | b'~' | 0x0C => (1, 2),
                _ => (1, 1),
            },
            Coding::Latin1 | Coding::Octets => (1, 1),
            Coding::Ucs2 => match self.rest {
                [h0, h1, l0, l1, ..]
                    if ucs2::is_high_surrogate(u16::from_be_bytes([*h0, *h1]))
                        && ucs2::is_low_surrogate(u16::from_be_bytes([*l0, *l1])) =>
                {
                    (4, 2)
                }
                [_, _, ..] => (2, 1),
                // An odd trailing octet (malformed) still costs a unit if it is ever sent.
                _ => (1, 1),
            },
        }
    }
}

impl Iterator for Atoms<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let &first = self.rest.first()?;
        let (octets, units) = self.measure(first);
        self.rest = self.rest.get(octets..).unwrap_or_default();
        Some((octets, units))
    }
}
