//! The channel against the stand-in OTP Blue API over real loopback sockets: outcomes, the
//! language and sender that reach the platform, the English resend, and logs without secrets.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use smpp_router::channels::imessage::*;
use smpp_router::channels::{Attempt, Channel, Message};
use smpp_router::config::Account;
use smpp_router::phone::Destination;
use smpp_router::smpp::CommandStatus;
use smpp_router::smpp::pdu::{Address, Sm};
use smpp_router::smpp::values::MessageState;
use smpp_router_tools::sim::otpblue::{self, Knobs, Stats};

/// An account as routes.toml would give it.
pub fn account(system_id: &str, language: Option<&str>) -> Arc<Account> {
    Arc::new(Account {
        system_id: system_id.into(),
        password_hash: String::new(),
        bind_modes: [true; 3],
        allowed_cidrs: vec![],
        max_binds: 1,
        tps: 1,
        window: 1,
        default_sender: None,
        language: language.map(str::to_string),
    })
}

/// A message to `digits` saying `text`; the destination is validated as the router would.
pub fn message(acc: &Arc<Account>, digits: &str, text: &str, sender: Option<&str>) -> Message {
    // A number the router would refuse (to test the platform's answer to it) goes out as written.
    let destination = smpp_router::phone::validate(digits.as_bytes()).unwrap_or_else(|_| {
        let (cc, national) = digits.split_at(1.min(digits.len()));
        Destination {
            country_code: cc.parse().unwrap_or(1),
            region: *b"US",
            national_number: national.parse().unwrap_or(0),
            leading_zeros: national.bytes().take_while(|&b| b == b'0').count() as u8,
        }
    });
    Message {
        id: "r-1".into(),
        account: acc.clone(),
        sm: Sm {
            dest: Address::new(1, 1, Bytes::from(digits.to_string())),
            data_coding: 0x01,
            short_message: Bytes::from(text.to_string()),
            ..Sm::default()
        },
        destination,
        sender: sender.map(str::to_string),
        session: 1,
    }
}

/// A valid number starting with `prefix` (`len` digits) that has iMessage, or has not.
pub fn number(knobs: &Knobs, prefix: &str, len: usize, with_imessage: bool) -> String {
    (0..100_000u32)
        .map(|i| format!("{prefix}{i:0width$}", width = len - prefix.len()))
        .find(|n| {
            smpp_router::phone::validate(n.as_bytes()).is_ok()
                && otpblue::has_imessage(knobs, n) == with_imessage
        })
        .unwrap_or_else(|| panic!("no number for {prefix}"))
}

/// Starts a stand-in and returns its address and counters.
pub async fn stand_in(knobs: Knobs) -> (SocketAddr, Arc<Stats>) {
    let stats = knobs.stats.clone();
    let (addr, _task) = otpblue::start(knobs)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    (addr, stats)
}

/// A channel pointed at `addr` with the stand-in's default key, plus `extra` settings.
pub fn channel(addr: SocketAddr, extra: &str) -> ImessageChannel {
    let text = format!("base_url = \"http://{addr}\"\napi_key = \"test-key\"\n{extra}");
    let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}"));
    from_settings("imessage", &table).unwrap_or_else(|e| panic!("{e}"))
}

fn refused(status: u32) -> Attempt {
    Attempt::Refused(CommandStatus(status))
}

const TEXT: &str = "Your code is 482913";

#[tokio::test]
async fn delivered_is_accepted_with_a_final_state() {
    let knobs = Knobs::default();
    let to = number(&knobs, "1415555", 11, true);
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "");
    let got = ch
        .submit(&message(&account("acme", None), &to, TEXT, None))
        .await;
    match got {
        Attempt::Accepted {
            channel_id,
            final_state,
        } => {
            assert_eq!(channel_id.len(), 36, "the platform's uuid");
            assert_eq!(final_state, Some(MessageState::DELIVERED));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(stats.delivered(), 1);
    let last = stats.last_request().unwrap_or_default();
    assert_eq!(last["contact"], format!("+{to}"));
    assert_eq!(last["code"], "482913");
    assert!(ch.is_up());
}

#[tokio::test]
async fn no_imessage_is_submitfail_and_bad_numbers_are_invdstadr() {
    let knobs = Knobs::default();
    let without = number(&knobs, "1415555", 11, false);
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "");
    let acc = account("acme", None);
    assert_eq!(
        ch.submit(&message(&acc, &without, TEXT, None)).await,
        refused(0x45)
    );
    assert_eq!(stats.code(150), 1);
    // The router validates numbers before any channel; the platform refusing one anyway is 0x0B.
    assert_eq!(
        ch.submit(&message(&acc, "999999999", TEXT, None)).await,
        refused(0x0B)
    );
    assert_eq!(stats.code(1800), 1);
    // An unsupported region (Argentina) fails over like "no iMessage".
    assert_eq!(
        ch.submit(&message(&acc, "5491123456789", TEXT, None)).await,
        refused(0x45)
    );
    assert_eq!(stats.code(1155), 1);
}

#[tokio::test]
async fn text_without_a_code_is_refused_without_a_request() {
    let knobs = Knobs::default();
    let to = number(&knobs, "1415555", 11, true);
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "");
    let m = message(&account("acme", None), &to, "Hello, see you at noon", None);
    assert_eq!(ch.submit(&m).await, refused(0x01));
    assert_eq!(stats.requests(), 0);
}

#[tokio::test]
async fn account_patterns_come_first() {
    let knobs = Knobs::default();
    let to = number(&knobs, "1415555", 11, true);
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "[accounts.acme]\npatterns = ['PIN (\\d{4})']");
    let m = message(&account("acme", None), &to, "Order 123456: PIN 9911", None);
    assert!(matches!(ch.submit(&m).await, Attempt::Accepted { .. }));
    assert_eq!(stats.last_request().unwrap_or_default()["code"], "9911");
}

#[tokio::test]
async fn language_by_channel_account_account_and_country() {
    let knobs = Knobs::default();
    let uk = number(&knobs, "1415555", 11, true);
    let de = number(&knobs, "4915112", 13, true);
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "[accounts.globex]\nlanguage = \"fr\"");
    let lang = || stats.last_request().unwrap_or_default()["language"].clone();
    // By destination country.
    ch.submit(&message(&account("acme", None), &de, TEXT, None))
        .await;
    assert_eq!(lang(), "de");
    ch.submit(&message(&account("acme", None), &uk, TEXT, None))
        .await;
    assert_eq!(lang(), "en");
    // The account's language (routes.toml `[[account]]`), whatever the country.
    ch.submit(&message(&account("acme", Some("ko")), &de, TEXT, None))
        .await;
    assert_eq!(lang(), "kr");
    // The channel's per-account override beats it.
    ch.submit(&message(&account("globex", Some("de")), &uk, TEXT, None))
        .await;
    assert_eq!(lang(), "fr");
}

#[tokio::test]
async fn sender_mapping() {
    let knobs = Knobs::default();
    let to = number(&knobs, "1415555", 11, true);
    let (addr, stats) = stand_in(knobs).await;
    let sender = || stats.last_request().unwrap_or_default()["sender"].clone();
    let ch = channel(
        addr,
        "sender = \"Default\"\n[accounts.globex]\nsender = \"Globex\"",
    );
    ch.submit(&message(&account("acme", None), &to, TEXT, Some("MyBank")))
        .await;
    assert_eq!(sender(), "MyBank", "the message's resolved sender first");
    ch.submit(&message(&account("globex", None), &to, TEXT, None))
        .await;
    assert_eq!(sender(), "Globex", "then the account override");
    ch.submit(&message(&account("acme", None), &to, TEXT, None))
        .await;
    assert_eq!(sender(), "Default", "then the channel default");
    let bare = channel(addr, "");
    bare.submit(&message(&account("acme", None), &to, TEXT, None))
        .await;
    assert_eq!(sender(), serde_json::Value::Null, "else none is sent");
}

#[tokio::test]
async fn the_platform_gets_the_number_in_e164_as_validated() {
    let knobs = Knobs::default();
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "");
    // A national prefix written after the calling code (+44 07400 …) is left out.
    ch.submit(&message(
        &account("acme", None),
        "4407400123456",
        TEXT,
        None,
    ))
    .await;
    let contact = stats.last_request().unwrap_or_default()["contact"].clone();
    assert_eq!(contact, "+447400123456");
}

#[tokio::test]
async fn refused_language_is_resent_once_in_english() {
    let knobs = Knobs {
        unsupported_languages: vec!["de".into()],
        ..Knobs::default()
    };
    let de = number(&knobs, "4915112", 13, true);
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "");
    let got = ch
        .submit(&message(&account("acme", None), &de, TEXT, None))
        .await;
    assert!(matches!(got, Attempt::Accepted { .. }), "{got:?}");
    assert_eq!(stats.requests(), 2);
    assert_eq!(stats.code(1230), 1);
    assert_eq!(stats.last_request().unwrap_or_default()["language"], "en");

    // English refused too: one resend only, then a system error.
    let knobs = Knobs {
        unsupported_languages: vec!["de".into(), "en".into()],
        ..Knobs::default()
    };
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "");
    let got = ch
        .submit(&message(&account("acme", None), &de, TEXT, None))
        .await;
    assert_eq!(got, refused(0x08));
    assert_eq!(stats.requests(), 2);
}

#[tokio::test]
async fn capacity_exceeded_is_throttled() {
    let knobs = Knobs {
        capacity: 1,
        latency: otpblue::Latency::fixed(std::time::Duration::from_millis(300)),
        ..Knobs::default()
    };
    let to = number(&knobs, "1415555", 11, true);
    let (addr, stats) = stand_in(knobs).await;
    let ch = channel(addr, "");
    let acc = account("acme", None);
    let (a, b) = tokio::join!(
        ch.submit(&message(&acc, &to, TEXT, None)),
        ch.submit(&message(&acc, &to, TEXT, None))
    );
    let mut got = [a, b];
    got.sort_by_key(|a| matches!(a, Attempt::Accepted { .. }));
    assert_eq!(got[0], refused(0x58));
    assert!(matches!(got[1], Attempt::Accepted { .. }));
    assert_eq!(stats.code(720), 1);
}

/// Collects log output for the current thread.
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn wrong_key_raises_the_alarm_and_logs_hold_no_secrets() {
    let buf = LogBuf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let knobs = Knobs {
        api_key: "sekrit-Key-4711".into(),
        ..Knobs::default()
    };
    let with = number(&knobs, "1415555", 11, true);
    let without = number(&knobs, "1415555", 11, false);
    let (addr, stats) = stand_in(knobs).await;
    let acc = account("acme", None);
    let text = "Your code: 730418";

    let wrong = channel(addr, "")
        .submit(&message(&acc, &with, text, None))
        .await;
    assert_eq!(wrong, refused(0x08));
    assert_eq!(stats.code(1250), 1);

    let good =
        format!("base_url = \"http://{addr}\"\napi_key = \"sekrit-Key-4711\"\ntimeout = \"300ms\"");
    let table: toml::Table = good.parse().unwrap_or_else(|e| panic!("{e}"));
    let ch = from_settings("imessage", &table).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        ch.submit(&message(&acc, &with, text, None)).await,
        Attempt::Accepted { .. }
    ));
    assert_eq!(
        ch.submit(&message(&acc, &without, text, None)).await,
        refused(0x45)
    );
    let dead = "base_url = \"http://127.0.0.1:1\"\napi_key = \"sekrit-Key-4711\"";
    let table: toml::Table = dead.parse().unwrap_or_else(|e| panic!("{e}"));
    let down = from_settings("imessage", &table).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        down.submit(&message(&acc, &with, text, None)).await,
        Attempt::NotSent
    );

    let logs =
        String::from_utf8_lossy(&buf.0.lock().map(|v| v.clone()).unwrap_or_default()).into_owned();
    assert!(
        logs.contains("operator alarm: OTP Blue API key rejected"),
        "{logs}"
    );
    assert!(logs.contains("not sent"), "{logs}");
    assert!(!logs.contains("730418"), "the code leaked: {logs}");
    assert!(
        !logs.to_lowercase().contains("sekrit"),
        "the key leaked: {logs}"
    );
    assert!(!logs.contains("test-key"), "the key leaked: {logs}");
    assert!(!logs.contains(&with[4..]), "a full number leaked: {logs}");
}
