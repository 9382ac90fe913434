//! Message-id normalisation for matching receipts to submissions.
//!
//! A channel stores each submission under [`IdMatch::resp_key`] of the id from `submit_sm_resp`
//! and looks a receipt up under [`IdMatch::dlr_key`] of the receipt's id. The keys absorb the
//! usual mismatches: surrounding whitespace, letter case, zero padding and, when the upstream is
//! configured for it, hex in one place and decimal in the other.

/// How an upstream's receipt ids relate to its `submit_sm_resp` ids (Kannel `msg-id-type`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IdMatch {
    /// Same base in both (Kannel 0 and 3): compare normalised ids.
    #[default]
    SameBase,
    /// Hex in `submit_sm_resp`, decimal in the receipt (Kannel 1; `33E95179` ↔ `0870928761`).
    HexInRespDecimalInDlr,
    /// Decimal in `submit_sm_resp`, hex in the receipt (Kannel 2).
    DecimalInRespHexInDlr,
}

impl IdMatch {
    /// The store key for a submission's id as returned in `submit_sm_resp`: [`normalize_id`].
    pub fn resp_key(self, resp_id: &str) -> String {
        normalize_id(resp_id)
    }

    /// The lookup key for a receipt's id: converted to the resp's base, then normalised.
    ///
    /// An id that is not purely in the expected base (a UUID, a dashed id, letters in a
    /// "decimal" id) stays opaque and is only normalised, so it still matches itself.
    pub fn dlr_key(self, dlr_id: &str) -> String {
        let converted = match self {
            Self::SameBase => None,
            Self::HexInRespDecimalInDlr => decimal_to_hex(dlr_id),
            Self::DecimalInRespHexInDlr => hex_to_decimal(dlr_id),
        };
        normalize_id(converted.as_deref().unwrap_or(dlr_id))
    }
}

/// Normalises an id for comparison: trimmed, leading `0`s stripped (all zeros → `"0"`), ASCII
/// upper-cased. Works on any id, opaque ones included; `""` stays `""`.
pub fn normalize_id(id: &str) -> String {
    let trimmed = id.trim();
    let stripped = trimmed.trim_start_matches('0');
    if stripped.is_empty() && !trimmed.is_empty() {
        return "0".to_owned();
    }
    stripped.to_ascii_uppercase()
}

/// Reads a purely hexadecimal id (after trimming; any case, any zero padding) and writes it in
/// decimal without padding; `None` when it is empty, has any other character or exceeds `u128`.
pub fn hex_to_decimal(id: &str) -> Option<String> {
    let t = id.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(strip_zeros(t), 16)
        .ok()
        .map(|v| v.to_string())
}

/// Reads a purely decimal id (after trimming; any zero padding) and writes it in upper-case hex
/// without padding; `None` when it is empty, has any other character or exceeds `u128`.
pub fn decimal_to_hex(id: &str) -> Option<String> {
    let t = id.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    strip_zeros(t)
        .parse::<u128>()
        .ok()
        .map(|v| format!("{v:X}"))
}

/// Strips leading zeros so that long padding does not overflow the parse; all zeros give `"0"`.
fn strip_zeros(digits: &str) -> &str {
    match digits.trim_start_matches('0') {
        "" => "0",
        rest => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalisation() {
        assert_eq!(normalize_id(" 0000000012345678 "), "12345678");
        assert_eq!(normalize_id("a29f6845"), "A29F6845");
        assert_eq!(normalize_id("000"), "0");
        assert_eq!(normalize_id(""), "");
        assert_eq!(normalize_id("  "), "");
        // Carriers that change the case of hex ids.
        assert_eq!(
            normalize_id("1101c1-c9d03d-f000"),
            normalize_id("1101C1-C9D03D-F000")
        );
    }

    #[test]
    fn row_8_hex_in_resp_decimal_in_dlr() {
        assert_eq!(decimal_to_hex("0870928761").as_deref(), Some("33E95179"));
        assert_eq!(hex_to_decimal("33E95179").as_deref(), Some("870928761"));
        assert_eq!(hex_to_decimal("33e95179").as_deref(), Some("870928761"));
        let m = IdMatch::HexInRespDecimalInDlr;
        assert_eq!(m.dlr_key("0870928761"), m.resp_key("33E95179"));
        let m = IdMatch::DecimalInRespHexInDlr;
        assert_eq!(m.dlr_key("33E95179"), m.resp_key("0870928761"));
    }

    #[test]
    fn row_9_padded_hex_in_resp_unpadded_decimal_in_dlr() {
        let m = IdMatch::HexInRespDecimalInDlr;
        assert_eq!(m.dlr_key("255"), m.resp_key("000000ff"));
    }

    #[test]
    fn same_base_absorbs_case_and_padding() {
        let m = IdMatch::SameBase;
        assert_eq!(m.dlr_key("0000abc"), m.resp_key("ABC"));
        assert_ne!(m.dlr_key("255"), m.resp_key("FF"));
    }

    #[test]
    fn opaque_ids_are_not_converted() {
        for id in [
            "c87c2273-7edb-4bc7-8d3a-7f57f21b625e",
            "1101C1-C9D03D-F000",
            "+123",
            "-1",
            "12 34",
            "",
            "0x1F",
        ] {
            assert_eq!(hex_to_decimal(id), None, "{id:?}");
            assert_eq!(decimal_to_hex(id), None, "{id:?}");
        }
        assert_eq!(decimal_to_hex("abc"), None);
        let uuid = "c87c2273-7edb-4bc7-8d3a-7f57f21b625e";
        let m = IdMatch::HexInRespDecimalInDlr;
        assert_eq!(m.dlr_key(uuid), m.resp_key(uuid));
        let m = IdMatch::DecimalInRespHexInDlr;
        assert_eq!(m.dlr_key(uuid), m.resp_key(uuid));
    }

    #[test]
    fn u128_range() {
        let max_hex = "F".repeat(32);
        let max_dec = u128::MAX.to_string();
        assert_eq!(hex_to_decimal(&max_hex).as_deref(), Some(max_dec.as_str()));
        assert_eq!(decimal_to_hex(&max_dec).as_deref(), Some(max_hex.as_str()));
        assert_eq!(
            hex_to_decimal(&format!("0000{max_hex}")).as_deref(),
            Some(max_dec.as_str())
        );
        assert_eq!(hex_to_decimal(&format!("1{max_hex}")), None);
        assert_eq!(decimal_to_hex(&format!("{max_dec}0")), None);
        assert_eq!(hex_to_decimal("0000").as_deref(), Some("0"));
        assert_eq!(decimal_to_hex("0").as_deref(), Some("0"));
    }

    proptest! {
        #[test]
        fn conversions_round_trip(v in any::<u128>(), pad in 0usize..4) {
            let dec = format!("{}{v}", "0".repeat(pad));
            let hex = decimal_to_hex(&dec).unwrap();
            prop_assert_eq!(hex_to_decimal(&hex), Some(v.to_string()));
            prop_assert_eq!(normalize_id(&hex_to_decimal(&hex).unwrap()), normalize_id(&dec));
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = (normalize_id(&s), hex_to_decimal(&s), decimal_to_hex(&s));
        }
    }
}
