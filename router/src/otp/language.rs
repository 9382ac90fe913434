//! The platform's template languages and the choice by account or destination country; the
//! choices for multilingual countries are listed in the parent module's documentation.

/// The platform's 24 template language codes, spelled as the platform spells them (`in` for
/// Indonesian, `kr` for Korean).
pub const LANGUAGES: [&str; 24] = [
    "bg", "zh", "da", "nl", "en", "fi", "fr", "de", "is", "in", "it", "ja", "kr", "ms", "no", "pl",
    "pt", "ro", "ru", "es", "sv", "tr", "uk", "vi",
];

/// The language used when nothing else decides, and the platform's own fallback.
pub const DEFAULT_LANGUAGE: &str = "en";

/// Whether `code` is one of [`LANGUAGES`], exactly as the platform spells it.
pub fn is_language(code: &str) -> bool {
    LANGUAGES.contains(&code)
}

/// A configured language in the platform's spelling: trims, ignores case and a region subtag
/// (`pt-BR`, `zh_TW`), and maps ISO `id` → `in`, `ko` → `kr`, `nb` / `nn` → `no`. `None` when it is
/// not one of the 24.
pub fn normalize(code: &str) -> Option<&'static str> {
    let primary = code.trim().split(['-', '_']).next().unwrap_or_default();
    let lower = primary.to_ascii_lowercase();
    let wanted = match lower.as_str() {
        "id" => "in",
        "ko" => "kr",
        "nb" | "nn" => "no",
        other => other,
    };
    LANGUAGES.iter().copied().find(|&l| l == wanted)
}

/// The template language for a destination: by its ISO 3166 `region` (any case) when the table
/// knows it, else by the main country of `country_code`, else [`DEFAULT_LANGUAGE`].
pub fn language_for(country_code: u16, region: &str) -> &'static str {
    region_code(region)
        .and_then(by_region)
        .or_else(|| main_region(country_code).and_then(by_region))
        .unwrap_or(DEFAULT_LANGUAGE)
}

/// The account's language when it names one of the 24 (see [`normalize`]), else the
/// destination's ([`language_for`]).
pub fn choose(account_language: Option<&str>, country_code: u16, region: &str) -> &'static str {
    account_language
        .and_then(normalize)
        .unwrap_or_else(|| language_for(country_code, region))
}

fn region_code(region: &str) -> Option<[u8; 2]> {
    match region.as_bytes() {
        &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            Some([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => None,
    }
}

/// The language of a region; `None` for regions that get English.
fn by_region(region: [u8; 2]) -> Option<&'static str> {
    Some(match &region {
        b"BG" => "bg",
        b"CN" | b"TW" | b"HK" | b"MO" => "zh",
        b"DK" | b"FO" | b"GL" => "da",
        b"NL" | b"BE" | b"SR" | b"AW" | b"CW" | b"SX" | b"BQ" => "nl",
        b"FI" => "fi",
        b"FR" | b"MC" | b"LU" | b"BL" | b"MF" | b"GP" | b"MQ" | b"GF" | b"RE" | b"YT" | b"PM"
        | b"NC" | b"PF" | b"WF" | b"HT" | b"MA" | b"DZ" | b"TN" | b"SN" | b"CI" | b"CM" | b"ML"
        | b"BF" | b"NE" | b"TG" | b"BJ" | b"GN" | b"CD" | b"CG" | b"GA" | b"TD" | b"CF" | b"MG"
        | b"DJ" | b"KM" | b"BI" => "fr",
        b"DE" | b"AT" | b"CH" | b"LI" => "de",
        b"IS" => "is",
        b"ID" => "in",
        b"IT" | b"SM" | b"VA" => "it",
        b"JP" => "ja",
        b"KR" | b"KP" => "kr",
        b"MY" | b"BN" => "ms",
        b"NO" | b"SJ" | b"BV" => "no",
        b"PL" => "pl",
        b"BR" | b"PT" | b"AO" | b"MZ" | b"CV" | b"GW" | b"ST" | b"TL" => "pt",
        b"RO" | b"MD" => "ro",
        b"RU" | b"BY" | b"KZ" | b"KG" | b"TJ" | b"UZ" | b"TM" | b"AM" => "ru",
        b"ES" | b"MX" | b"GT" | b"HN" | b"SV" | b"NI" | b"CR" | b"PA" | b"CU" | b"DO" | b"PR"
        | b"CO" | b"VE" | b"EC" | b"PE" | b"BO" | b"PY" | b"UY" | b"AR" | b"CL" | b"GQ" => "es",
        b"SE" | b"AX" => "sv",
        b"TR" | b"AZ" => "tr",
        b"UA" => "uk",
        b"VN" => "vi",
        _ => return None,
    })
}

/// The main region of a calling code, for destinations whose region is unknown (`ZZ`, empty).
/// Only codes whose main region has a language other than English are listed.
fn main_region(country_code: u16) -> Option<[u8; 2]> {
    Some(*match country_code {
        7 => b"RU",
        31 => b"NL",
        32 => b"BE",
        33 => b"FR",
        34 => b"ES",
        39 => b"IT",
        40 => b"RO",
        41 => b"CH",
        43 => b"AT",
        45 => b"DK",
        46 => b"SE",
        47 => b"NO",
        48 => b"PL",
        49 => b"DE",
        51 => b"PE",
        52 => b"MX",
        53 => b"CU",
        54 => b"AR",
        55 => b"BR",
        56 => b"CL",
        57 => b"CO",
        58 => b"VE",
        60 => b"MY",
        62 => b"ID",
        81 => b"JP",
        82 => b"KR",
        84 => b"VN",
        86 => b"CN",
        90 => b"TR",
        212 => b"MA",
        213 => b"DZ",
        216 => b"TN",
        221 => b"SN",
        223 => b"ML",
        224 => b"GN",
        225 => b"CI",
        226 => b"BF",
        227 => b"NE",
        228 => b"TG",
        229 => b"BJ",
        235 => b"TD",
        236 => b"CF",
        237 => b"CM",
        238 => b"CV",
        239 => b"ST",
        240 => b"GQ",
        241 => b"GA",
        242 => b"CG",
        243 => b"CD",
        244 => b"AO",
        245 => b"GW",
        253 => b"DJ",
        257 => b"BI",
        258 => b"MZ",
        261 => b"MG",
        262 => b"RE",
        269 => b"KM",
        297 => b"AW",
        298 => b"FO",
        299 => b"GL",
        351 => b"PT",
        352 => b"LU",
        354 => b"IS",
        358 => b"FI",
        359 => b"BG",
        373 => b"MD",
        374 => b"AM",
        375 => b"BY",
        377 => b"MC",
        378 => b"SM",
        380 => b"UA",
        423 => b"LI",
        502 => b"GT",
        503 => b"SV",
        504 => b"HN",
        505 => b"NI",
        506 => b"CR",
        507 => b"PA",
        508 => b"PM",
        509 => b"HT",
        590 => b"GP",
        591 => b"BO",
        593 => b"EC",
        594 => b"GF",
        595 => b"PY",
        596 => b"MQ",
        597 => b"SR",
        598 => b"UY",
        599 => b"CW",
        670 => b"TL",
        673 => b"BN",
        681 => b"WF",
        687 => b"NC",
        689 => b"PF",
        850 => b"KP",
        852 => b"HK",
        853 => b"MO",
        886 => b"TW",
        992 => b"TJ",
        993 => b"TM",
        994 => b"AZ",
        996 => b"KG",
        998 => b"UZ",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_main_region_has_a_language() {
        for cc in 0..=999u16 {
            if let Some(region) = main_region(cc) {
                assert!(by_region(region).is_some(), "+{cc}");
            }
        }
    }

    /// The calling-code table agrees with libphonenumber's main region for each code.
    #[test]
    fn main_regions_match_libphonenumber() {
        use rlibphonenumber::PHONE_NUMBER_UTIL;
        for cc in 0..=999u16 {
            if let Some(region) = main_region(cc) {
                let lib = PHONE_NUMBER_UTIL
                    .get_region_for_country_code(i32::from(cc))
                    .map(|r| r.to_string());
                assert_eq!(
                    lib.as_deref(),
                    std::str::from_utf8(&region).ok(),
                    "main region of +{cc}"
                );
            }
        }
    }

    /// Every region libphonenumber knows gets one of the 24 languages, with its own calling code.
    #[test]
    fn every_supported_region_gets_a_platform_language() {
        use rlibphonenumber::PHONE_NUMBER_UTIL;
        let mut regions = 0;
        for region in PHONE_NUMBER_UTIL.get_supported_regions() {
            let name = region.to_string();
            let cc = PHONE_NUMBER_UTIL
                .get_country_code_for_region(region)
                .and_then(|cc| u16::try_from(cc).ok())
                .unwrap_or(0);
            assert!(is_language(language_for(cc, &name)), "{name}");
            regions += 1;
        }
        assert!(regions > 200);
    }
}
