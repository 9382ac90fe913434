//! Finding the OTP code in a message text; the rule is stated in the parent module's
//! documentation, and this file follows it step by step.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

/// The fewest digits a code may have.
pub const MIN_CODE_DIGITS: usize = 4;
/// The most digits a code may have (the platform's `code` field holds at most 10 characters).
pub const MAX_CODE_DIGITS: usize = 10;

/// Words that announce a code, case-insensitive; see the parent module for the list by language.
const KEYWORD_PATTERN: &str = concat!(
    "(?i)",
    // Scripts written without spaces between words: matched anywhere.
    "验证码|驗證碼|校验码|校驗碼|动态码|動態碼|确认码|確認碼|认证码|認證碼|密码|密碼|口令|",
    "認証コード|確認コード|認証番号|確認番号|暗証番号|パスワード|コード|",
    "인증\\s?번호|인증\\s?코드|확인\\s?번호|승인\\s?번호|비밀\\s?번호|코드|รหัส|",
    // `code` and its relatives, also at the end of compounds (`Bestätigungscode`, `engangskode`,
    // `verifieringskod`, `vahvistuskoodi`, `staðfestingarkóði`) and inflected (`kodunuz`, `codul`).
    "(?:c[oó]d|kod|kood|kóð|κωδικ)\\p{L}*|",
    // Short words, whole.
    "\\b(?:otp|pin|tan|mtan|tac|mã)\\b|",
    // Word starts.
    "\\b(?:passcode|password|passwort|passwd|passord|wachtwoord|lösenord|salasana|token|",
    "one[- ]?time|verif|v[ée]rif|weryfik|bestätig|authent|autent|confirm|conferm|doğrula|",
    "dogrula|код|парол|подтвержд|одноразов|xác|sandi|has[łl]|[şs]ifre|senha|contrase[ñn]|",
    "mot de passe)\\p{L}*",
);

/// The keyword matcher, compiled once. `None` would mean the constant pattern failed to compile,
/// which a unit test rules out; extraction then merely loses the keyword rules.
static KEYWORDS: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(KEYWORD_PATTERN).ok());

/// Words that make an adjacent number an amount (compared in lower case).
const CURRENCY_WORDS: &[&str] = &[
    "usd",
    "eur",
    "gbp",
    "jpy",
    "cny",
    "rmb",
    "inr",
    "rub",
    "krw",
    "brl",
    "mxn",
    "cad",
    "aud",
    "chf",
    "sek",
    "nok",
    "dkk",
    "pln",
    "czk",
    "huf",
    "ron",
    "bgn",
    "uah",
    "idr",
    "myr",
    "vnd",
    "thb",
    "php",
    "sgd",
    "hkd",
    "twd",
    "zar",
    "ngn",
    "kes",
    "egp",
    "aed",
    "sar",
    "ils",
    "ars",
    "clp",
    "nzd",
    "kzt",
    "rs",
    "rp",
    "rm",
    "kr",
    "kč",
    "zł",
    "zl",
    "lei",
    "lev",
    "leva",
    "ft",
    "tl",
    "dh",
    "dollar",
    "dollars",
    "euro",
    "euros",
    "yen",
    "yuan",
    "rupee",
    "rupees",
    "peso",
    "pesos",
    "real",
    "reais",
    "rial",
    "riyal",
    "dirham",
    "ruble",
    "rubles",
    "rouble",
    "roubles",
    "руб",
    "рублей",
    "рубля",
    "рубль",
    "грн",
    "гривень",
    "гривен",
    "тенге",
    "lira",
    "dong",
    "đ",
    "đồng",
    "baht",
    "ringgit",
    "rupiah",
    "won",
    "zloty",
    "złotych",
    "forint",
    "koruna",
];

/// The code in `text`: the account's `patterns` first, in order, then the built-in rule. `Some`
/// holds 4–10 ASCII digits; `None` means no code could be told apart (answer `ESME_RINVMSGLEN`).
pub fn extract(text: &str, patterns: &[Regex]) -> Option<String> {
    let text = fold_digits(text);
    let text = text.as_ref();
    patterns
        .iter()
        .find_map(|pattern| from_pattern(pattern, text))
        .or_else(|| builtin(text))
}

fn is_code_len(digits: usize) -> bool {
    (MIN_CODE_DIGITS..=MAX_CODE_DIGITS).contains(&digits)
}

/// Step 1: the first match of `pattern` whose capture (group 1, else the whole match) holds
/// 4–10 digits once non-digits are dropped.
fn from_pattern(pattern: &Regex, text: &str) -> Option<String> {
    pattern.captures_iter(text).find_map(|caps| {
        let found = caps.get(1).or_else(|| caps.get(0))?;
        let digits = found.as_str().bytes().filter(u8::is_ascii_digit).count();
        is_code_len(digits).then(|| ascii_digits(found.as_str()))
    })
}

fn ascii_digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// `text` with other scripts' decimal digits replaced by ASCII ones (one char for one char).
pub(super) fn fold_digits(text: &str) -> Cow<'_, str> {
    if text.is_ascii() || !text.chars().any(|c| foreign_digit(c).is_some()) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| foreign_digit(c).unwrap_or(c))
            .collect(),
    )
}

/// The ASCII digit for a decimal digit of Arabic-Indic, Persian, Devanagari, Bengali, Thai or
/// full-width forms.
fn foreign_digit(c: char) -> Option<char> {
    const ZEROS: [u32; 6] = [0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50, 0xFF10];
    let u = u32::from(c);
    ZEROS
        .iter()
        .find_map(|&zero| u.checked_sub(zero).and_then(|d| char::from_digit(d, 10)))
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\u{00A0}' | '\u{202F}' | '\u{2009}')
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '\u{2010}' | '\u{2011}' | '\u{2013}')
}

/// A character that joins two digit runs into one atom when it stands alone between them.
fn is_joiner(c: char) -> bool {
    is_dash(c) || matches!(c, '.' | ',' | ':' | '/' | '\'' | '\u{2019}')
}

/// A letter of a script that separates words with spaces (Latin, Greek, Cyrillic, Armenian): a
/// number touching one is part of a word or identifier.
fn is_word_letter(c: char) -> bool {
    c.is_alphabetic() && u32::from(c) < 0x0590
}

fn is_currency_symbol(c: char) -> bool {
    matches!(
        c,
        '$' | '¢'
            | '£'
            | '¤'
            | '¥'
            | '֏'
            | '؋'
            | '৳'
            | '฿'
            | '៛'
            | '﷼'
            | '＄'
            | '￠'
            | '￡'
            | '￥'
            | '￦'
            | '元'
            | '円'
            | '圓'
            | '원'
    ) || ('\u{20A0}'..='\u{20CF}').contains(&c)
}

fn is_currency_word(word: &str) -> bool {
    if word.is_empty() || word.len() > 16 {
        false
    } else if word.is_ascii() {
        CURRENCY_WORDS.iter().any(|w| w.eq_ignore_ascii_case(word))
    } else {
        let lower = word.to_lowercase();
        CURRENCY_WORDS.contains(&lower.as_str())
    }
}

/// Digit runs joined by single joiners, in char indices `start..end`.
#[derive(Clone, Copy, Debug)]
struct Atom {
    start: usize,
    end: usize,
    runs: usize,
    /// Lengths of the first two runs.
    first: usize,
    second: usize,
    /// Joined by dashes only (or a single run): may belong to a code.
    dashes_only: bool,
}

/// A candidate code, in byte offsets of the (digit-folded) text.
#[derive(Debug)]
struct Candidate {
    start: usize,
    end: usize,
    digits: String,
}

impl Candidate {
    /// A 4-digit number from 1900 to 2099, set aside by the single-number rule.
    fn looks_like_year(&self) -> bool {
        self.digits.len() == 4 && matches!(self.digits.get(..2), Some("19" | "20"))
    }
}

/// Step 2: the built-in rule.
fn builtin(text: &str) -> Option<String> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let candidates = candidates(text, &chars);
    let first = candidates.first()?;
    if candidates.iter().all(|c| c.digits == first.digits) {
        // One code value, whatever the keywords say.
        return Some(first.digits.clone());
    }
    let keywords: Vec<(usize, usize)> = match KEYWORDS.as_ref() {
        Some(re) => re.find_iter(text).map(|m| (m.start(), m.end())).collect(),
        None => Vec::new(),
    };
    let breaks = sentence_breaks(&chars);
    let crosses = |from: usize, to: usize| breaks.iter().any(|&b| from <= b && b < to);
    let gap = |from: usize, to: usize| text.get(from..to).map_or(usize::MAX, |s| s.chars().count());

    // 1. The first candidate after a keyword, in the same sentence; the nearest such pair wins.
    let after = keywords
        .iter()
        .filter_map(|&(_, k_end)| {
            let c = candidates.iter().find(|c| c.start >= k_end)?;
            (!crosses(k_end, c.start)).then(|| (gap(k_end, c.start), c.start, c))
        })
        .min_by_key(|&(gap, start, _)| (gap, start));
    // 2. The last candidate before a keyword, in the same sentence; the nearest wins.
    let before = keywords
        .iter()
        .filter_map(|&(k_start, _)| {
            let c = candidates.iter().rev().find(|c| c.end <= k_start)?;
            (!crosses(c.end, k_start)).then(|| (gap(c.end, k_start), c.start, c))
        })
        .min_by_key(|&(gap, start, _)| (gap, start));
    // The one after a keyword, unless the one before is the code of a code-first sentence
    // ("482910 is the OTP for your card ending 4321"): at most as far from its keyword and
    // opening its sentence, or less than half as far.
    match (after, before) {
        (Some((a, _, _)), Some((b, _, before)))
            if b * 2 < a || (b <= a && opens_sentence(text, &breaks, before.start)) =>
        {
            return Some(before.digits.clone());
        }
        (Some((_, _, c)), _) | (None, Some((_, _, c))) => return Some(c.digits.clone()),
        (None, None) => {}
    }
    // 3. A single code value, years set aside when something else is there.
    let mut pool = candidates
        .iter()
        .filter(|c| !c.looks_like_year())
        .peekable();
    let pool: Vec<&Candidate> = if pool.peek().is_some() {
        pool.collect()
    } else {
        candidates.iter().collect()
    };
    let (first, rest) = pool.split_first()?;
    rest.iter()
        .all(|c| c.digits == first.digits)
        .then(|| first.digits.clone())
}

/// Whether only non-letters (spaces, punctuation, a `<#>` or `G-` style prefix of at most two
/// letters) stand between the start of its sentence and byte offset `at`.
fn opens_sentence(text: &str, breaks: &[usize], at: usize) -> bool {
    let from = breaks.iter().filter(|&&b| b < at).max().map_or(0, |&b| {
        b + text
            .get(b..)
            .and_then(|t| t.chars().next())
            .map_or(1, char::len_utf8)
    });
    let Some(lead) = text.get(from..at) else {
        return false;
    };
    lead.chars().filter(|c| c.is_alphanumeric()).count() <= 2
}

/// Byte offsets where a sentence ends: newlines, `。！？`, and `.!?` before whitespace or the end.
fn sentence_breaks(chars: &[(usize, char)]) -> Vec<usize> {
    chars
        .iter()
        .enumerate()
        .filter(|&(i, &(_, c))| match c {
            '\n' | '\r' | '。' | '！' | '？' => true,
            '.' | '!' | '?' => chars
                .get(i + 1)
                .is_none_or(|&(_, next)| next.is_whitespace()),
            _ => false,
        })
        .map(|(_, &(byte, _))| byte)
        .collect()
}

/// Cuts the text into atoms and numbers and keeps the numbers that may be codes.
fn candidates(text: &str, chars: &[(usize, char)]) -> Vec<Candidate> {
    let atoms = atoms(chars);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&atom) = atoms.get(i) {
        i += 1;
        if !atom.dashes_only {
            continue; // a date, time, amount, decimal, address or version
        }
        // Gather the dash-only atoms that follow with exactly one space.
        let first = i - 1;
        while let (Some(last), Some(next)) = (atoms.get(i - 1), atoms.get(i)) {
            let single_space = next.start == last.end + 1
                && chars.get(last.end).is_some_and(|&(_, c)| is_space(c));
            if !(single_space && next.dashes_only) {
                break;
            }
            i += 1;
        }
        let number = atoms.get(first..i).unwrap_or_default();
        let (Some(head), Some(tail)) = (number.first(), number.last()) else {
            continue;
        };
        let (start, end) = (head.start, tail.end);
        if !is_code_shape(number) || !context_allows(text, chars, start, end) {
            continue;
        }
        let byte = |idx: usize| chars.get(idx).map_or(text.len(), |&(b, _)| b);
        let (start, end) = (byte(start), byte(end));
        if let Some(slice) = text.get(start..end) {
            out.push(Candidate {
                start,
                end,
                digits: ascii_digits(slice),
            });
        }
    }
    out
}

fn atoms(chars: &[(usize, char)]) -> Vec<Atom> {
    let digit = |i: usize| chars.get(i).is_some_and(|&(_, c)| c.is_ascii_digit());
    let mut atoms = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !digit(i) {
            i += 1;
            continue;
        }
        let mut atom = Atom {
            start: i,
            end: i,
            runs: 0,
            first: 0,
            second: 0,
            dashes_only: true,
        };
        loop {
            let run_start = i;
            while digit(i) {
                i += 1;
            }
            atom.runs += 1;
            match atom.runs {
                1 => atom.first = i - run_start,
                2 => atom.second = i - run_start,
                _ => {}
            }
            match chars.get(i) {
                Some(&(_, c)) if is_joiner(c) && digit(i + 1) => {
                    atom.dashes_only &= is_dash(c);
                    i += 1;
                }
                _ => break,
            }
        }
        atom.end = i;
        atoms.push(atom);
    }
    atoms
}

/// One run of 4–10 digits, or two equal runs of 3–5 digits split by one dash or one space.
fn is_code_shape(number: &[Atom]) -> bool {
    let halves = |a: usize, b: usize| a == b && (3..=5).contains(&a);
    match number {
        [a] if a.runs == 1 => is_code_len(a.first),
        [a] if a.runs == 2 => halves(a.first, a.second),
        [a, b] if a.runs == 1 && b.runs == 1 => halves(a.first, b.first),
        _ => false,
    }
}

/// Whether the neighbours of the number at chars `start..end` leave it a possible code: not a
/// phone number (`+`, `(0xx) `), reference (`#`, `№`), part of a word, amount or percentage.
fn context_allows(text: &str, chars: &[(usize, char)], start: usize, end: usize) -> bool {
    let byte = |idx: usize| chars.get(idx).map_or(text.len(), |&(b, _)| b);
    let at = |i: Option<usize>| i.and_then(|i| chars.get(i)).map(|&(_, c)| c);
    let before = |n: usize| at(start.checked_sub(n));
    let after = |n: usize| at(end.checked_add(n));

    if let Some(c) = before(1)
        && (matches!(c, '+' | '#' | '№') || is_word_letter(c))
    {
        return false;
    }
    if after(0).is_some_and(is_word_letter) {
        return false;
    }
    // `(020) 7946 0958`: a closing parenthesis right after digits.
    let paren_at =
        |n: usize| before(n) == Some(')') && before(n + 1).is_some_and(|c| c.is_ascii_digit());
    if paren_at(1) || (before(1).is_some_and(is_space) && paren_at(2)) {
        return false;
    }

    // After the number: an optional space, then a currency sign, a percent sign or word.
    let mut j = end;
    if at(Some(j)).is_some_and(is_space) {
        j += 1;
    }
    if let Some(c) = at(Some(j)) {
        if is_currency_symbol(c) || matches!(c, '%' | '‰') {
            return false;
        }
        let len = chars
            .iter()
            .skip(j)
            .take_while(|&&(_, c)| c.is_alphabetic())
            .count();
        let word = text.get(byte(j)..byte(j + len)).unwrap_or_default();
        if is_currency_word(word) {
            return false;
        }
    }

    // Before the number: an optional space, an optional `.`, then a currency sign or word.
    let mut k = start;
    if k > 0 && at(Some(k - 1)).is_some_and(is_space) {
        k -= 1;
    }
    if k > 0 && at(Some(k - 1)) == Some('.') {
        k -= 1;
    }
    if k > 0 {
        if at(Some(k - 1)).is_some_and(is_currency_symbol) {
            return false;
        }
        let len = chars
            .get(..k)
            .unwrap_or_default()
            .iter()
            .rev()
            .take_while(|&&(_, c)| c.is_alphabetic())
            .count();
        let word = text.get(byte(k - len)..byte(k)).unwrap_or_default();
        if is_currency_word(word) {
            return false;
        }
    }
    true
}
