//! Routing decisions: file order, every criterion, and a 1,000-route table.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::channels::test_channel::TestChannel;
use crate::phone;
use crate::smpp::pdu::Address;

fn spec(name: &str, f: impl FnOnce(&mut RouteSpec)) -> RouteSpec {
    let mut s = RouteSpec {
        name: name.into(),
        line: 1,
        accounts: vec![],
        prefixes: vec![],
        regions: vec![],
        calling_codes: vec![],
        source: None,
        content: None,
        channels: vec!["c".into()],
        deadline: Duration::from_secs(10),
        policy: Policy::default(),
    };
    f(&mut s);
    s
}

fn table(specs: Vec<RouteSpec>) -> RouteTable {
    let c: Arc<dyn Channel> = Arc::new(TestChannel::new("c", vec![], Duration::ZERO));
    let routes = specs
        .into_iter()
        .map(|spec| Route {
            spec,
            plan: vec![c.clone()],
        })
        .collect();
    RouteTable::new(1, Accounts::default(), HashMap::new(), routes)
}

fn sm(to: &'static str, from: &'static str, text: &'static [u8]) -> Sm {
    Sm {
        source: Address::new(5, 0, from),
        dest: Address::new(1, 1, to),
        short_message: Bytes::from_static(text),
        ..Sm::default()
    }
}

fn pick<'t>(t: &'t RouteTable, account: &str, m: &Sm) -> Option<&'t str> {
    let dest = phone::validate(&m.dest.addr).unwrap();
    t.route(&RouteInput::new(account, m, dest))
        .map(|r| r.spec.name.as_str())
}

#[test]
fn first_match_in_file_order_wins() {
    let t = table(vec![
        spec("uk", |s| s.prefixes = vec!["44".into()]),
        spec("uk-mobile", |s| s.prefixes = vec!["447".into()]),
        spec("default", |_| {}),
    ]);
    assert_eq!(pick(&t, "a", &sm("447911123456", "X", b"")), Some("uk"));
    assert_eq!(pick(&t, "a", &sm("14155551234", "X", b"")), Some("default"));
    let t = table(vec![
        spec("uk-mobile", |s| s.prefixes = vec!["447".into()]),
        spec("uk", |s| s.prefixes = vec!["44".into()]),
    ]);
    assert_eq!(
        pick(&t, "a", &sm("447911123456", "X", b"")),
        Some("uk-mobile")
    );
    assert_eq!(pick(&t, "a", &sm("442071838750", "X", b"")), Some("uk"));
    assert_eq!(pick(&t, "a", &sm("14155551234", "X", b"")), None);
}

/// `countries = ["GB", "+33"]`: a number of either country matches (a region or a calling code),
/// and with `prefixes` as well both must hold.
#[test]
fn countries_by_region_or_calling_code() {
    let t = table(vec![
        spec("gb-or-fr", |s| {
            s.regions = vec![*b"GB"];
            s.calling_codes = vec!["33".into()];
        }),
        spec("us-mobile-prefix", |s| {
            s.prefixes = vec!["1415".into()];
            s.calling_codes = vec!["44".into()];
        }),
    ]);
    assert_eq!(
        pick(&t, "acme", &sm("447400123456", "X", b"")),
        Some("gb-or-fr")
    );
    assert_eq!(
        pick(&t, "acme", &sm("33612345678", "X", b"")),
        Some("gb-or-fr")
    );
    assert_eq!(pick(&t, "acme", &sm("4915112345678", "X", b"")), None);
    assert_eq!(
        pick(&t, "acme", &sm("14155551234", "X", b"")),
        None,
        "a prefix and a country must both hold"
    );
}

#[test]
fn every_criterion() {
    let t = table(vec![
        spec("acme-only", |s| s.accounts = vec!["acme".into()]),
        spec("by-region", |s| s.regions = vec![*b"DE"]),
        spec("by-source", |s| {
            s.source = Some(regex::Regex::new("^Bank").unwrap())
        }),
        spec("by-content", |s| {
            s.content = Some(regex::Regex::new("(?i)promo").unwrap())
        }),
        spec("uk-and-region", |s| {
            s.prefixes = vec!["44".into()];
            s.regions = vec![*b"GB"];
        }),
    ]);
    assert_eq!(
        pick(&t, "acme", &sm("14155551234", "X", b"")),
        Some("acme-only")
    );
    assert_eq!(
        pick(&t, "other", &sm("4915112345678", "X", b"")),
        Some("by-region")
    );
    assert_eq!(
        pick(&t, "other", &sm("14155551234", "BankCo", b"")),
        Some("by-source")
    );
    // The text is decoded by data_coding first: GSM 7-bit here.
    assert_eq!(
        pick(&t, "other", &sm("14155551234", "X", b"Big PROMO today")),
        Some("by-content")
    );
    assert_eq!(
        pick(&t, "other", &sm("442071838750", "X", b"")),
        Some("uk-and-region")
    );
    // +44 7911 is a Guernsey mobile: the prefix matches, the region does not.
    assert_eq!(pick(&t, "other", &sm("447911123456", "X", b"")), None);
}

#[test]
fn a_thousand_prefix_routes() {
    let mut specs: Vec<RouteSpec> = (0..1000)
        .map(|i| {
            spec(&format!("r{i}"), |s| {
                s.prefixes = vec![format!("1{:03}", i)]
            })
        })
        .collect();
    specs.push(spec("default", |_| {}));
    let t = table(specs);
    assert_eq!(pick(&t, "a", &sm("14155551234", "X", b"")), Some("r415"));
    assert_eq!(pick(&t, "a", &sm("12125551212", "X", b"")), Some("r212"));
    assert_eq!(
        pick(&t, "a", &sm("447911123456", "X", b"")),
        Some("default")
    );
}
