use proptest::prelude::*;
use regex::Regex;

use super::extraction::fold_digits;
use super::*;
use crate::smpp::text;

fn code(text: &str) -> Option<String> {
    extract(text, &[])
}

fn check(cases: &[(&str, Option<&str>)]) {
    for &(text, expected) in cases {
        assert_eq!(code(text).as_deref(), expected, "{text:?}");
    }
}

#[test]
fn keyword_pattern_compiles() {
    // The built-in keyword rule depends on it; `extract` would silently lose that rule.
    assert_eq!(code("Code 4829, ref 5555").as_deref(), Some("4829"));
}

#[test]
fn seed_examples() {
    check(&[
        ("Your verification code is 482910", Some("482910")),
        ("OTP: 123456", Some("123456")),
        ("Use code 482910 to verify your account", Some("482910")),
        ("482910", Some("482910")),
        ("Your PIN is 9821", Some("9821")),
        ("code: 482-910", Some("482910")),
    ]);
}

#[test]
fn length_limits() {
    check(&[
        ("Your code is 123", None),
        ("Your code is 1234", Some("1234")),
        ("Your code is 1234567890", Some("1234567890")),
        ("Your code is 12345678901", None),
        ("expires in 10 minutes", None),
        ("Your code 482910 expires in 10 minutes", Some("482910")),
        ("", None),
        ("no digits at all", None),
    ]);
}

#[test]
fn several_numbers_prefer_the_one_after_a_keyword() {
    check(&[
        ("Order 12345678 shipped. Your code is 4829", Some("4829")),
        (
            "Verification for order 12345678: code 482910",
            Some("482910"),
        ),
        (
            "Your code is 482910. Questions? Call 5550199",
            Some("482910"),
        ),
        ("PIN 4829 for card ending 7777", Some("4829")),
        ("Your code is below.\n482910", Some("482910")),
        ("Code 482910. Backup code 991234", Some("482910")),
        (
            "Your verification code (valid 15 min) is 48291",
            Some("48291"),
        ),
    ]);
}

#[test]
fn several_numbers_code_before_keyword() {
    check(&[
        ("G-482910 is your Google verification code.", Some("482910")),
        ("482910 is your code. Ref 77665544", Some("482910")),
        ("Call 5550199. 482910 is your Acme code", Some("482910")),
        // Code first, another number after the keyword: the code opens the sentence, or is
        // much nearer its keyword.
        (
            "482910 is the OTP for your transaction on card ending 4321",
            Some("482910"),
        ),
        ("482910 is your code for order 55210", Some("482910")),
        ("<#> 482910 is your code for order 55210", Some("482910")),
        ("G-482910 is your code for order 55210", Some("482910")),
        // An address first and the code after its keyword: the nearer one after wins.
        ("4321 Main St: your code is 482910", Some("482910")),
        ("Hello. 482910 is your code for order 55210", Some("482910")),
        (
            "Please use 482910, the OTP for your transaction on card ending 4321",
            Some("482910"),
        ),
        // The number after the keyword stays the code when it is the nearer one.
        ("Order 55210: your code is 482910", Some("482910")),
        ("Ref 55210 - code 482910", Some("482910")),
    ]);
}

#[test]
fn several_numbers_without_keyword_are_refused() {
    check(&[
        ("Use 482910 or 991234", None),
        ("Call 5550199 and enter 482910", None),
        (
            "Use 482910 to log in. Enter 482910 only on our site",
            Some("482910"),
        ),
        ("© 2026 Acme. 482910", Some("482910")),
        ("Happy 2026!", Some("2026")),
        ("1999 and 2026", None),
        ("Since 1999: 482910", Some("482910")),
    ]);
}

#[test]
fn dates_are_not_codes() {
    check(&[
        ("2026-02-12", None),
        ("12/02/2026", None),
        ("12.02.26", None),
        ("12.02.2026", None),
        ("Your code 482910 is valid until 2026-02-12", Some("482910")),
        ("12/02/2026: your code is 4829", Some("4829")),
        ("12.02.26 482910", Some("482910")),
    ]);
}

#[test]
fn amounts_are_not_codes() {
    check(&[
        ("$1,234.56", None),
        ("1 234,56 €", None),
        ("EUR 500", None),
        ("EUR 5000", None),
        ("5000 EUR", None),
        ("Pay $5000 now", None),
        ("Pay 5000$ now", None),
        ("Rs. 5000 debited", None),
        ("Rs.5000 debited", None),
        ("RM5000", None),
        ("5000 руб", None),
        ("5000원", None),
        ("Rabatt 5000%", None),
        ("OTP 4829 for a payment of Rs 5000 at Acme", Some("4829")),
        ("Your code 482910 to confirm $1,234.56", Some("482910")),
        ("Payment of 1 234,56 € — code 48291", Some("48291")),
    ]);
}

#[test]
fn phone_numbers_are_not_codes() {
    check(&[
        ("+1 415 555 1234", None),
        ("+14155551234", None),
        ("0800 123 456", None),
        ("Call 555-1234", None),
        ("Call 555 1234", None),
        ("Call (020) 7946 0958", None),
        ("Call (415) 555-1234", None),
        ("Code 482910. Help: +1 415 555 1234", Some("482910")),
        ("482910 is your code. Help: 0800 123 456", Some("482910")),
        ("Questions? 0800 123 456. Your code: 4829", Some("4829")),
    ]);
}

#[test]
fn times_are_not_codes() {
    check(&[
        ("14:30", None),
        ("14:30:00", None),
        ("at 14h30", None),
        ("Code 4829 valid until 14:30", Some("4829")),
        ("482910 14:30", Some("482910")),
    ]);
}

#[test]
fn split_groups_join_when_halves_are_equal() {
    check(&[
        ("482 910", Some("482910")),
        ("482-910", Some("482910")),
        ("482–910", Some("482910")),
        ("482\u{a0}910", Some("482910")),
        ("4829-1034", Some("48291034")),
        ("48291 03456", Some("4829103456")),
        ("Your WhatsApp code: 482-910", Some("482910")),
        // Unequal, too short or too many parts: not a code, and no part alone either.
        ("48-29", None),
        ("4829-103", None),
        ("482 910 123", None),
        ("482-910-123", None),
        ("482  910", None),
        ("482910 5", None),
    ]);
}

#[test]
fn words_and_references_around_numbers() {
    check(&[
        ("ABC123456", None),
        ("Use 2FA", None),
        ("Order #12345678", None),
        ("Order №12345678", None),
        ("Your code:482910", Some("482910")),
        ("Code=482910", Some("482910")),
        ("[482910]", Some("482910")),
        ("(482910)", Some("482910")),
        ("Your code is 482910.", Some("482910")),
    ]);
}

#[test]
fn other_languages() {
    check(&[
        ("您的验证码是482910，5分钟内有效。", Some("482910")),
        ("認証コード：482910", Some("482910")),
        ("[Web발신] 인증번호 [482910]을 입력해주세요", Some("482910")),
        ("인증번호는 482910입니다", Some("482910")),
        ("Ваш код: 482910. Никому его не сообщайте", Some("482910")),
        ("Ihr Bestätigungscode lautet 482910", Some("482910")),
        ("Tu código de verificación es 482910", Some("482910")),
        ("Votre code de vérification : 482910", Some("482910")),
        ("Twój kod: 4829. Zamówienie 12345678", Some("4829")),
        ("Doğrulama kodunuz 482910. Sipariş 77665544", Some("482910")),
        ("Mã OTP của bạn là 482910. Hotline 19001234", Some("482910")),
        ("Kode verifikasi Anda 482910, ref 77665544", Some("482910")),
        ("Engangskoden din er 482910, ordre 77665544", Some("482910")),
        ("验证码 ４８２９１０", Some("482910")),
        ("رمز التحقق ٤٨٢٩١٠", Some("482910")),
    ]);
}

#[test]
fn decoded_ucs2_and_gsm_text() {
    // UCS-2 (data_coding 8), UTF-16BE.
    let ucs2: Vec<u8> = "Код подтверждения: 482910"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    let decoded = text::decode(0x08, &ucs2);
    assert_eq!(code(&decoded).as_deref(), Some("482910"));

    let ucs2: Vec<u8> = "您的验证码是 482 910，请勿泄露。订单 77665544"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    assert_eq!(code(&text::decode(0x08, &ucs2)).as_deref(), Some("482910"));

    // GSM 7-bit (data_coding 0), with non-ASCII letters of the default alphabet.
    let (dcs, septets) =
        text::encode_best("Dein Bestätigungscode für Zürich: 4829. Gültig bis 14:30");
    assert_eq!(dcs, 0x00);
    assert_eq!(code(&text::decode(dcs, &septets)).as_deref(), Some("4829"));
    let (dcs, septets) = text::encode_best("Votre code d'accès à Orléans: 482910, réf 77665544");
    assert_eq!(dcs, 0x00);
    assert_eq!(
        code(&text::decode(dcs, &septets)).as_deref(),
        Some("482910")
    );

    // Latin-1 (data_coding 3).
    let latin1: Vec<u8> = "Código: 482910 — válido"
        .chars()
        .filter_map(|c| u8::try_from(u32::from(c)).ok())
        .collect();
    assert_eq!(
        code(&text::decode(0x03, &latin1)).as_deref(),
        Some("482910")
    );
}

#[test]
fn account_patterns_come_first() {
    let patterns = [
        Regex::new(r"ref (\d{8})").ok(),
        Regex::new(r"Kennwort ([\d ]+)").ok(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>();
    assert_eq!(patterns.len(), 2);
    // The first pattern wins over the built-in keyword rule.
    assert_eq!(
        extract("Your code 4829, ref 12345678", &patterns).as_deref(),
        Some("12345678")
    );
    // The capture has its non-digits removed.
    assert_eq!(
        extract("Kennwort 12 34 56", &patterns).as_deref(),
        Some("123456")
    );
    // Nothing from the patterns: the built-in rule.
    assert_eq!(
        extract("Your code 4829", &patterns).as_deref(),
        Some("4829")
    );
}

#[test]
fn account_patterns_whole_match_and_lengths() {
    let whole = Regex::new(r"\d{3}\.\d{3}")
        .ok()
        .into_iter()
        .collect::<Vec<_>>();
    assert_eq!(whole.len(), 1);
    // No capture group: the whole match, dots dropped.
    assert_eq!(extract("Code 482.910", &whole).as_deref(), Some("482910"));

    // A match of the wrong length is skipped for a later match of the same pattern.
    let digits = Regex::new(r"(\d+)").ok().into_iter().collect::<Vec<_>>();
    assert_eq!(
        extract("Step 2: 482910", &digits).as_deref(),
        Some("482910")
    );
    // Too long from the pattern, and nothing from the built-in rule either.
    assert_eq!(extract("12345678901", &digits), None);

    // An optional group that did not take part: the whole match.
    let optional = Regex::new(r"x(\d+)?|\d{4}")
        .ok()
        .into_iter()
        .collect::<Vec<_>>();
    assert_eq!(extract("x 9999", &optional).as_deref(), Some("9999"));
}

#[test]
fn never_longer_or_shorter() {
    for n in 0..=14 {
        let digits = "7".repeat(n);
        let got = code(&format!("Your code is {digits}"));
        assert_eq!(got.is_some(), (4..=10).contains(&n), "{n} digits");
    }
}

#[test]
fn hostile_inputs_do_not_panic() {
    let long = "1-".repeat(5000);
    assert_eq!(code(&long), None);
    let mixed = "код 😀 ４ 482\u{202f}910 \u{0}\u{ffff} €".repeat(50);
    let _ = code(&mixed);
    assert_eq!(
        code("\u{0660}\u{0661}\u{0662}\u{0663}"),
        Some("0123".into())
    );
    assert_eq!(code("+"), None);
    assert_eq!(code(")"), None);
    assert_eq!(code(") 4829"), Some("4829".into()));
}

fn folded_digits(text: &str) -> String {
    fold_digits(text)
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn extract_is_total_and_sound(text in "\\PC{0,80}") {
        if let Some(got) = code(&text) {
            prop_assert!((4..=10).contains(&got.len()));
            prop_assert!(got.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(folded_digits(&text).contains(&got));
        }
    }

    #[test]
    fn extract_is_sound_on_otp_like_text(
        text in "[ a-zA-Zа-я验证码:.,/#+()$€%-]{0,12}([0-9]{1,12}[ .,:/-]?){0,4}[ a-zA-Z码.:-]{0,12}([0-9]{1,6})?"
    ) {
        if let Some(got) = code(&text) {
            prop_assert!((4..=10).contains(&got.len()));
            prop_assert!(got.bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(folded_digits(&text).contains(&got));
        }
    }

    #[test]
    fn a_lone_code_after_a_keyword_is_found(
        prefix in "(Your |Ihr |Votre |)(code|OTP|PIN|Kod|код|验证码)(: | is | )",
        digits in "[0-9]{4,10}",
    ) {
        prop_assert_eq!(code(&format!("{prefix}{digits}")), Some(digits));
    }
}

#[test]
fn languages_table() {
    assert_eq!(LANGUAGES.len(), 24);
    assert!(LANGUAGES.iter().all(|l| is_language(l)));
    let mut sorted = LANGUAGES.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 24);
    assert!(is_language("in") && is_language("kr"));
    assert!(!is_language("id") && !is_language("ko") && !is_language("EN") && !is_language(""));
}

#[test]
fn language_spot_checks() {
    let cases: &[(u16, &str, &str)] = &[
        (1, "US", "en"),
        (1, "CA", "en"),
        (1, "PR", "es"),
        (1, "DO", "es"),
        (1, "JM", "en"),
        (7, "RU", "ru"),
        (7, "KZ", "ru"),
        (41, "CH", "de"),
        (32, "BE", "nl"),
        (62, "ID", "in"),
        (82, "KR", "kr"),
        (86, "CN", "zh"),
        (886, "TW", "zh"),
        (852, "HK", "zh"),
        (853, "MO", "zh"),
        (55, "BR", "pt"),
        (351, "PT", "pt"),
        (52, "MX", "es"),
        (54, "AR", "es"),
        (57, "CO", "es"),
        (56, "CL", "es"),
        (51, "PE", "es"),
        (34, "ES", "es"),
        (47, "NO", "no"),
        (354, "IS", "is"),
        (60, "MY", "ms"),
        (84, "VN", "vi"),
        (380, "UA", "uk"),
        (81, "JP", "ja"),
        (44, "GB", "en"),
        (33, "FR", "fr"),
        (49, "DE", "de"),
        (43, "AT", "de"),
        (39, "IT", "it"),
        (31, "NL", "nl"),
        (48, "PL", "pl"),
        (46, "SE", "sv"),
        (358, "FI", "fi"),
        (358, "AX", "sv"),
        (45, "DK", "da"),
        (40, "RO", "ro"),
        (373, "MD", "ro"),
        (359, "BG", "bg"),
        (90, "TR", "tr"),
        (375, "BY", "ru"),
        (352, "LU", "fr"),
        (221, "SN", "fr"),
        (262, "RE", "fr"),
        (244, "AO", "pt"),
        (30, "GR", "en"),
        (91, "IN", "en"),
        (65, "SG", "en"),
        (66, "TH", "en"),
        (972, "IL", "en"),
        (971, "AE", "en"),
    ];
    assert!(cases.len() >= 30);
    for &(cc, region, want) in cases {
        assert_eq!(language_for(cc, region), want, "+{cc} {region}");
        assert_eq!(
            language_for(cc, &region.to_lowercase()),
            want,
            "+{cc} {region} lower"
        );
    }
}

#[test]
fn language_without_a_region_uses_the_calling_code() {
    for (cc, want) in [
        (1, "en"),
        (7, "ru"),
        (41, "de"),
        (32, "nl"),
        (62, "in"),
        (82, "kr"),
        (886, "zh"),
        (55, "pt"),
        (999, "en"),
        (0, "en"),
    ] {
        assert_eq!(language_for(cc, "ZZ"), want, "+{cc} ZZ");
        assert_eq!(language_for(cc, ""), want, "+{cc} empty");
        assert_eq!(language_for(cc, "001"), want, "+{cc} 001");
    }
    // The region wins over the calling code.
    assert_eq!(language_for(1, "KZ"), "ru");
}

#[test]
fn account_language_overrides() {
    assert_eq!(choose(Some("fr"), 1, "US"), "fr");
    assert_eq!(choose(Some("FR"), 1, "US"), "fr");
    assert_eq!(choose(Some("id"), 1, "US"), "in");
    assert_eq!(choose(Some("ko"), 1, "US"), "kr");
    assert_eq!(choose(Some("nb"), 1, "US"), "no");
    assert_eq!(choose(Some("pt-BR"), 1, "US"), "pt");
    assert_eq!(choose(Some(" zh_TW "), 1, "US"), "zh");
    assert_eq!(choose(None, 62, "ID"), "in");
    // Unknown account languages fall back to the destination.
    assert_eq!(choose(Some("el"), 82, "KR"), "kr");
    assert_eq!(choose(Some(""), 7, "RU"), "ru");
    assert_eq!(normalize("xx"), None);
    assert_eq!(normalize("KR"), Some("kr"));
}
