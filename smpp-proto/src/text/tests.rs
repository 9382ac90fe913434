use std::ops::Range;

use proptest::prelude::*;

use super::*;

const EXTENSION_CHARS: &str = "\u{0C}^{}\\[~]|€";

fn seg(alphabet: Alphabet, units: usize, segments: usize) -> SegmentCount {
    SegmentCount {
        alphabet,
        units,
        segments,
    }
}

// ---- GSM7 alphabet ----

#[test]
fn basic_table_round_trips() {
    let mut seen = std::collections::HashSet::new();
    for code in 0u8..0x80 {
        if code == gsm7::ESC {
            continue;
        }
        let text = gsm7::decode(&[code]);
        assert_eq!(text.chars().count(), 1, "code {code:#04x}");
        assert!(
            seen.insert(text.clone()),
            "duplicate character for {code:#04x}"
        );
        assert_eq!(gsm7::encode(&text), Some(vec![code]), "char {text:?}");
        assert_eq!(gsm7::septet_len(&text), Some(1));
    }
    assert_eq!(seen.len(), 127);
}

#[test]
fn basic_table_spot_checks() {
    let all: Vec<u8> = (0u8..0x80).filter(|&c| c != gsm7::ESC).collect();
    let text = gsm7::decode(&all);
    assert!(text.starts_with("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789"));
    assert!(text.ends_with("¿abcdefghijklmnopqrstuvwxyzäöñüà"));
    assert!(text.contains("¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"));
    for c in ['`', 'ç', '\u{1B}', '\t', '😀', 'Ā'] {
        assert_eq!(gsm7::char_septets(c), None, "{c:?}");
    }
}

#[test]
fn extension_table_round_trips() {
    let codes = [0x0A, 0x14, 0x28, 0x29, 0x2F, 0x3C, 0x3D, 0x3E, 0x40, 0x65];
    for (code, c) in codes.into_iter().zip(EXTENSION_CHARS.chars()) {
        assert_eq!(gsm7::decode(&[0x1B, code]), c.to_string());
        assert_eq!(gsm7::encode(&c.to_string()), Some(vec![0x1B, code]));
        assert_eq!(gsm7::septet_len(&c.to_string()), Some(2));
    }
    assert_eq!(gsm7::septet_len(EXTENSION_CHARS), Some(20));
    assert_eq!(
        gsm7::encode("a{b}€"),
        Some(vec![0x61, 0x1B, 0x28, 0x62, 0x1B, 0x29, 0x1B, 0x65])
    );
}

#[test]
fn lenient_decoding() {
    // Unknown escaped code: the basic-table character.
    assert_eq!(gsm7::decode(&[0x1B, 0x41, 0x1B, 0x00]), "A@");
    // ESC ESC (reserved) and a trailing lone ESC: a space.
    assert_eq!(gsm7::decode(&[0x1B, 0x1B, 0x41]), " A");
    assert_eq!(gsm7::decode(&[0x41, 0x1B]), "A ");
    // High bit masked, including on ESC and on the escaped code.
    assert_eq!(gsm7::decode(&[0xC1, 0x80, 0x9B, 0xE5]), "A@€");
    assert_eq!(gsm7::decode(&[]), "");
}

#[test]
fn at_sign_is_0x00_inside_text() {
    assert_eq!(gsm7::encode("a@b@"), Some(vec![0x61, 0x00, 0x62, 0x00]));
    assert_eq!(gsm7::decode(&[0x48, 0x00, 0x69, 0x00]), "H@i@");
    assert_eq!(decode(0, &[0x00, 0x00, 0x41]), "@@A");
    assert_eq!(segments(0, &[0x48, 0x00, 0x69]), seg(Alphabet::Gsm7, 3, 1));
}

#[test]
fn unrepresentable_text() {
    assert_eq!(gsm7::encode("price: `5`"), None);
    assert_eq!(gsm7::septet_len("ça"), None);
    assert!(!gsm7::is_representable("日本"));
    assert!(gsm7::is_representable("Hello {world} €5 @ home"));
    assert!(gsm7::is_representable(""));
}

// ---- packing ----

#[test]
fn pack_known_vector() {
    let septets = gsm7::encode("hellohello").unwrap();
    let packed = gsm7::pack(&septets);
    assert_eq!(
        packed,
        [0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
    );
    assert_eq!(gsm7::unpack(&packed, 10), septets);
}

#[test]
fn pack_unpack_lengths_7_and_8() {
    let seven = gsm7::encode("1234567").unwrap();
    let packed7 = gsm7::pack(&seven);
    assert_eq!(packed7.len(), 7);
    assert_eq!(gsm7::packed_len(7), 7);
    assert_eq!(gsm7::unpack(&packed7, 7), seven);
    // Without the count the 7 spare bits would read as an extra '@' (go-smpp #108).
    assert_eq!(gsm7::decode(&gsm7::unpack(&packed7, 8)), "1234567@");

    let eight = gsm7::encode("12345678").unwrap();
    let packed8 = gsm7::pack(&eight);
    assert_eq!(packed8.len(), 7);
    assert_eq!(gsm7::unpack(&packed8, 8), eight);
    // A count beyond what the octets hold is capped.
    assert_eq!(gsm7::unpack(&packed8, 100), eight);
    assert_eq!(gsm7::unpack(&[], 5), Vec::<u8>::new());
    assert_eq!(gsm7::pack(&[]), Vec::<u8>::new());
}

#[test]
fn pack_round_trips_every_length_up_to_20() {
    for n in 0..=20u8 {
        let septets: Vec<u8> = (0..n).map(|i| (i * 13 + 5) & 0x7F).collect();
        let packed = gsm7::pack(&septets);
        assert_eq!(packed.len(), gsm7::packed_len(usize::from(n)));
        assert_eq!(gsm7::unpack(&packed, usize::from(n)), septets, "n = {n}");
    }
}

// ---- Latin-1, IA5, UCS-2 ----

#[test]
fn latin1_and_ascii() {
    assert_eq!(latin1::decode(&[0x41, 0xE9, 0xFF]), "Aéÿ");
    assert_eq!(latin1::encode("Aéÿ"), Some(vec![0x41, 0xE9, 0xFF]));
    assert_eq!(latin1::encode("€"), None);
    assert!(!latin1::is_representable("Ā"));
    assert_eq!(latin1::decode_ascii(&[0x41, 0x80, 0x7E]), "A\u{FFFD}~");
}

#[test]
fn ucs2_decoding() {
    assert_eq!(ucs2::decode(&[0x00, 0x41, 0x04, 0x1F]), "AП");
    assert_eq!(ucs2::decode(&[0xD8, 0x3D, 0xDE, 0x00]), "😀");
    // Lone surrogates.
    assert_eq!(ucs2::decode(&[0xD8, 0x3D, 0x00, 0x41]), "\u{FFFD}A");
    assert_eq!(ucs2::decode(&[0xDE, 0x00]), "\u{FFFD}");
    // Odd trailing octet ignored.
    assert_eq!(ucs2::decode(&[0x00, 0x41, 0x00]), "A");
    assert_eq!(ucs2::encode("A😀"), [0x00, 0x41, 0xD8, 0x3D, 0xDE, 0x00]);
    assert_eq!(ucs2::unit_len("A😀"), 3);
}

// ---- data_coding ----

#[test]
fn decode_each_data_coding_family() {
    let gsm = [0x00, 0x1B, 0x65, 0x41];
    let ucs = [0x04, 0x1F, 0xD8, 0x3D, 0xDE, 0x00];
    let octets = [0x40, 0xE9];
    for dcs in [
        0x00, 0x10, 0x11, 0x12, 0x13, 0x40, 0xC0, 0xCF, 0xD0, 0xDF, 0xF0, 0xF1, 0xF2, 0xF3,
    ] {
        assert_eq!(decode(dcs, &gsm), "@€A", "dcs {dcs:#04x}");
        assert_eq!(alphabet(dcs), Alphabet::Gsm7, "dcs {dcs:#04x}");
    }
    for dcs in [0x08, 0x18, 0x19, 0x1A, 0x1B, 0x48, 0xE0, 0xEF] {
        assert_eq!(decode(dcs, &ucs), "П😀", "dcs {dcs:#04x}");
        assert_eq!(alphabet(dcs), Alphabet::Ucs2, "dcs {dcs:#04x}");
    }
    let eight_bit = [
        0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09, 0x0F, 0x14, 0x17, 0x1C, 0x20, 0x30, 0x80, 0xBF,
        0xF4, 0xF5, 0xF6, 0xF7, 0xFF,
    ];
    for dcs in eight_bit {
        assert_eq!(decode(dcs, &octets), "@é", "dcs {dcs:#04x}");
        assert_eq!(alphabet(dcs), Alphabet::EightBit, "dcs {dcs:#04x}");
    }
    assert_eq!(decode(0x01, b"Hi {x}\x80"), "Hi {x}\u{FFFD}");
    assert_eq!(alphabet(0x01), Alphabet::Gsm7);
}

#[test]
fn encode_best_picks_the_cheapest() {
    assert_eq!(
        encode_best("Hi {}"),
        (0, vec![0x48, 0x69, 0x20, 0x1B, 0x28, 0x1B, 0x29])
    );
    assert_eq!(encode_best("Hi 😀"), (8, ucs2::encode("Hi 😀")));
    assert_eq!(encode_best(""), (0, vec![]));
}

// ---- segment boundaries ----

#[test]
fn empty_is_one_segment() {
    assert_eq!(segments_for_text(""), seg(Alphabet::Gsm7, 0, 1));
    for dcs in [0, 4, 8] {
        assert_eq!(segments(dcs, &[]).segments, 1);
        assert_eq!(split(dcs, &[], Reference::Eight), vec![0..0]);
    }
}

#[test]
fn gsm7_160_vs_161() {
    let t160 = "a".repeat(160);
    let t161 = "a".repeat(161);
    assert_eq!(segments_for_text(&t160), seg(Alphabet::Gsm7, 160, 1));
    assert_eq!(segments_for_text(&t161), seg(Alphabet::Gsm7, 161, 2));
    assert_eq!(segments(0, t160.as_bytes()).segments, 1);
    assert_eq!(
        split(0, t161.as_bytes(), Reference::Eight),
        vec![0..153, 153..161]
    );
    assert_eq!(segments_for_text(&"a".repeat(306)).segments, 2);
    assert_eq!(segments_for_text(&"a".repeat(307)).segments, 3);
    // Extension characters count 2: 80 of them fill one message, 81 do not.
    assert_eq!(
        segments_for_text(&"{".repeat(80)),
        seg(Alphabet::Gsm7, 160, 1)
    );
    assert_eq!(
        segments_for_text(&"{".repeat(81)),
        seg(Alphabet::Gsm7, 162, 2)
    );
}

#[test]
fn escape_pair_straddling_153_moves_to_the_next_part() {
    for c in ['{', '€'] {
        let text = format!("{}{c}{}", "a".repeat(152), "b".repeat(10));
        assert_eq!(segments_for_text(&text), seg(Alphabet::Gsm7, 164, 2), "{c}");
        let bytes = gsm7::encode(&text).unwrap();
        assert_eq!(segments(0, &bytes), seg(Alphabet::Gsm7, 164, 2));
        assert_eq!(split(0, &bytes, Reference::Eight), vec![0..152, 152..164]);
        // With one 'a' fewer the pair fits exactly at 152..154.
        let text = format!("{}{c}{}", "a".repeat(151), "b".repeat(10));
        let bytes = gsm7::encode(&text).unwrap();
        assert_eq!(split(0, &bytes, Reference::Eight), vec![0..153, 153..163]);
    }
    // The pair would cost a third part if it were counted as straddling: 152 + 2 + 151 = 305.
    let text = format!("{}€{}", "a".repeat(152), "a".repeat(151));
    assert_eq!(segments_for_text(&text).segments, 2);
    let text = format!("{}€{}", "a".repeat(152), "a".repeat(152));
    assert_eq!(segments_for_text(&text).segments, 3);
}

#[test]
fn ucs2_70_vs_71() {
    let t70 = "П".repeat(70);
    let t71 = "П".repeat(71);
    assert_eq!(segments_for_text(&t70), seg(Alphabet::Ucs2, 70, 1));
    assert_eq!(segments_for_text(&t71), seg(Alphabet::Ucs2, 71, 2));
    assert_eq!(segments(8, &ucs2::encode(&t70)).segments, 1);
    assert_eq!(
        split(8, &ucs2::encode(&t71), Reference::Eight),
        vec![0..134, 134..142]
    );
    assert_eq!(segments_for_text(&"П".repeat(134)).segments, 2);
    assert_eq!(segments_for_text(&"П".repeat(135)).segments, 3);
}

#[test]
fn emoji_straddling_67_moves_to_the_next_part() {
    let text = format!("{}😀{}", "П".repeat(66), "П".repeat(10));
    assert_eq!(segments_for_text(&text), seg(Alphabet::Ucs2, 78, 2));
    let bytes = ucs2::encode(&text);
    assert_eq!(segments(8, &bytes), seg(Alphabet::Ucs2, 78, 2));
    assert_eq!(split(8, &bytes, Reference::Eight), vec![0..132, 132..156]);
    // 35 emoji are 70 units: one message; 36 are 72: parts of 33 emoji (66 units).
    assert_eq!(
        segments_for_text(&"😀".repeat(35)),
        seg(Alphabet::Ucs2, 70, 1)
    );
    let bytes = ucs2::encode(&"😀".repeat(36));
    assert_eq!(split(8, &bytes, Reference::Eight), vec![0..132, 132..144]);
}

#[test]
fn eight_bit_140_vs_141() {
    assert_eq!(segments(4, &[0xAB; 140]), seg(Alphabet::EightBit, 140, 1));
    assert_eq!(segments(4, &[0xAB; 141]), seg(Alphabet::EightBit, 141, 2));
    assert_eq!(
        split(4, &[0; 141], Reference::Eight),
        vec![0..134, 134..141]
    );
    assert_eq!(segments(3, &[0x41; 141]).segments, 2);
    assert_eq!(segments(0xF5, &[0; 268]).segments, 2);
    assert_eq!(segments(0xF5, &[0; 269]).segments, 3);
}

#[test]
fn sixteen_bit_reference_limits() {
    let r = Reference::Sixteen;
    assert_eq!(Alphabet::Gsm7.part_limit(r), 152);
    assert_eq!(Alphabet::EightBit.part_limit(r), 133);
    assert_eq!(Alphabet::Ucs2.part_limit(r), 66);
    assert_eq!(split(0, &[0x41; 161], r), vec![0..152, 152..161]);
    assert_eq!(segments_with(0, &[0x41; 304], r).segments, 2);
    assert_eq!(segments_with(0, &[0x41; 305], r).segments, 3);
    assert_eq!(split(4, &[0; 141], r), vec![0..133, 133..141]);
    assert_eq!(segments_with(4, &[0; 266], r).segments, 2);
    assert_eq!(segments_with(4, &[0; 267], r).segments, 3);
    let t71 = "П".repeat(71);
    assert_eq!(split(8, &ucs2::encode(&t71), r), vec![0..132, 132..142]);
    assert_eq!(segments_for_text_with(&"П".repeat(132), r).segments, 2);
    assert_eq!(segments_for_text_with(&"П".repeat(133), r).segments, 3);
    // The limits for a single message do not depend on the reference.
    assert_eq!(segments_for_text_with(&"a".repeat(160), r).segments, 1);
    // An escape pair at 152 moves on.
    let bytes = gsm7::encode(&format!("{}{{{}", "a".repeat(151), "a".repeat(10))).unwrap();
    assert_eq!(split(0, &bytes, r), vec![0..151, 151..163]);
}

#[test]
fn ia5_counts_what_the_mc_will_send() {
    assert_eq!(segments(1, &[b'a'; 160]), seg(Alphabet::Gsm7, 160, 1));
    assert_eq!(segments(1, &[b'{'; 80]), seg(Alphabet::Gsm7, 160, 1));
    assert_eq!(segments(1, &[b'{'; 81]), seg(Alphabet::Gsm7, 162, 2));
    assert_eq!(split(1, &[b'{'; 81], Reference::Eight), vec![0..76, 76..81]);
}

#[test]
fn malformed_tails() {
    // A trailing lone ESC is one septet; an odd UCS-2 octet is one unit.
    assert_eq!(segments(0, &[0x1B]), seg(Alphabet::Gsm7, 1, 1));
    assert_eq!(segments(8, &[0x00, 0x41, 0x00]), seg(Alphabet::Ucs2, 2, 1));
    // A lone high surrogate is one unit, cut like any other.
    let mut bytes = ucs2::encode(&"П".repeat(66));
    bytes.extend_from_slice(&[0xD8, 0x3D, 0x00, 0x41, 0x00, 0x41, 0x00, 0x41, 0x00, 0x41]);
    assert_eq!(split(8, &bytes, Reference::Eight), vec![0..134, 134..142]);
}

// ---- properties ----

/// Checks that `ranges` cover `bytes` in order, cut only between atoms, respect the limits and
/// are greedy (no part could have taken the next atom).
fn check_split(dcs: u8, bytes: &[u8], reference: Reference) {
    let ranges = split(dcs, bytes, reference);
    let count = segments_with(dcs, bytes, reference);
    assert_eq!(ranges.len(), count.segments);
    assert_eq!(ranges.first().map(|r| r.start), Some(0));
    assert_eq!(ranges.last().map(|r| r.end), Some(bytes.len()));
    for pair in ranges.windows(2) {
        assert_eq!(pair[0].end, pair[1].start);
    }
    if ranges.len() == 1 {
        assert!(count.units <= count.alphabet.single_limit());
        return;
    }
    assert!(count.units > count.alphabet.single_limit());
    let legal = legal_cuts(dcs, bytes);
    let part = count.alphabet.part_limit(reference);
    let mut total = 0;
    for (i, r) in ranges.iter().enumerate() {
        assert!(!r.is_empty());
        assert!(legal.contains(&r.start), "cut at {} in {ranges:?}", r.start);
        let units = segments_with(dcs, &bytes[r.clone()], reference).units;
        assert!(units <= part, "{r:?} has {units} units");
        total += units;
        if let Some(next) = ranges.get(i + 1) {
            let next_atom = legal.iter().find(|&&c| c > next.start).copied();
            let grown: Range<usize> = r.start..next_atom.unwrap_or(bytes.len());
            assert!(segments_with(dcs, &bytes[grown], reference).units > part);
        }
    }
    assert_eq!(total, count.units);
}

/// Byte offsets where an atom starts, computed independently of the splitter.
fn legal_cuts(dcs: u8, bytes: &[u8]) -> Vec<usize> {
    let mut cuts = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        cuts.push(i);
        i += match alphabet(dcs) {
            Alphabet::Gsm7 if dcs != 1 && bytes[i] & 0x7F == 0x1B && i + 1 < bytes.len() => 2,
            Alphabet::Ucs2 if i + 4 <= bytes.len() => {
                let hi = u16::from_be_bytes([bytes[i], bytes[i + 1]]);
                let lo = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]);
                if (0xD800..0xDC00).contains(&hi) && (0xDC00..0xE000).contains(&lo) {
                    4
                } else {
                    2
                }
            }
            Alphabet::Ucs2 => 2,
            _ => 1,
        };
    }
    cuts
}

fn text_strategy() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        4 => Just('a'),
        2 => Just('@'),
        2 => Just('{'),
        2 => Just('€'),
        1 => Just('П'),
        1 => Just('😀'),
        1 => any::<char>(),
    ];
    prop::collection::vec(pieces, 0..400).prop_map(|v| v.into_iter().collect())
}

fn gsm_text_strategy() -> impl Strategy<Value = String> {
    let all: Vec<u8> = (0u8..0x80).filter(|&c| c != 0x1B).collect();
    let mut chars: Vec<char> = gsm7::decode(&all).chars().collect();
    chars.extend(EXTENSION_CHARS.chars());
    prop::collection::vec(prop::sample::select(chars), 0..400).prop_map(|v| v.into_iter().collect())
}

proptest! {
    #[test]
    fn gsm_text_round_trips(text in gsm_text_strategy()) {
        let bytes = gsm7::encode(&text).unwrap();
        prop_assert_eq!(Some(bytes.len()), gsm7::septet_len(&text));
        prop_assert_eq!(gsm7::decode(&bytes), text.clone());
        prop_assert_eq!(gsm7::unpack(&gsm7::pack(&bytes), bytes.len()), bytes.clone());
        for reference in [Reference::Eight, Reference::Sixteen] {
            check_split(0, &bytes, reference);
        }
    }

    #[test]
    fn any_text_round_trips_and_splits(text in text_strategy()) {
        if let Some(bytes) = gsm7::encode(&text) {
            prop_assert_eq!(gsm7::decode(&bytes), text.clone());
        }
        if let Some(bytes) = latin1::encode(&text) {
            prop_assert_eq!(latin1::decode(&bytes), text.clone());
        }
        prop_assert_eq!(ucs2::decode(&ucs2::encode(&text)), text.clone());
        let (dcs, bytes) = encode_best(&text);
        prop_assert_eq!(decode(dcs, &bytes), text.clone());
        for reference in [Reference::Eight, Reference::Sixteen] {
            prop_assert_eq!(segments_for_text_with(&text, reference), segments_with(dcs, &bytes, reference));
            check_split(dcs, &bytes, reference);
            check_split(8, &ucs2::encode(&text), reference);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        dcs in any::<u8>(),
        bytes in prop::collection::vec(any::<u8>(), 0..700),
        septets in 0usize..900,
    ) {
        let _ = decode(dcs, &bytes);
        let _ = gsm7::unpack(&bytes, septets);
        let _ = gsm7::pack(&bytes);
        for reference in [Reference::Eight, Reference::Sixteen] {
            check_split(dcs, &bytes, reference);
        }
    }

    #[test]
    fn arbitrary_gsm7_and_ucs2_bytes_split_cleanly(
        bytes in prop::collection::vec(prop_oneof![3 => 0x41u8..0x43, 1 => Just(0x1Bu8), 1 => 0xD8u8..0xE0], 0..700),
    ) {
        for dcs in [0u8, 8] {
            for reference in [Reference::Eight, Reference::Sixteen] {
                check_split(dcs, &bytes, reference);
            }
        }
    }
}
