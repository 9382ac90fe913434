//! A delivery record (CDR): one JSON object per finished message, the same fields in the files
//! and in PostgreSQL's columns. Destination numbers are masked; no message text is kept.

use serde::Serialize;

use crate::phone::Masked;
use crate::store::{EventKind, Finished, history};

/// The fields of one delivery record (the names are PostgreSQL's columns).
#[derive(Debug, Serialize)]
pub struct Cdr<'a> {
    pub router_id: &'a str,
    pub account: &'a str,
    pub route: &'a str,
    /// The channel that took the message.
    pub channel: &'a str,
    /// The channel's id for it.
    pub carrier_id: &'a str,
    /// The destination, masked (`+447*******23`).
    pub destination: String,
    /// The destination's region (ISO 3166).
    pub country: &'a str,
    /// When the client's message was accepted (RFC 3339, UTC).
    pub submitted_at: String,
    /// Every attempt: channel, outcome, latency (`imessage refused_0x45 51ms; tyntec accepted 3ms`).
    pub attempts: &'a str,
    /// Attempts before the one that took it.
    pub failovers: usize,
    /// The final state (`DELIVERED`, `UNDELIVERABLE`, `EXPIRED`, `REJECTED`, `DELETED`,
    /// `UNKNOWN`), or `NO_RECEIPT` when the record expired without one.
    pub state: &'static str,
    /// The receipt's error field.
    pub error: Option<&'a str>,
    /// When the final receipt came.
    pub final_at: Option<String>,
    /// Where it came from (the channel).
    pub receipt_from: Option<&'a str>,
    /// From acceptance to the final receipt, seconds.
    pub receipt_seconds: Option<f64>,
    /// How its receipt reached the client: `direct`, `late`, `swept` (from the store),
    /// `stored` (waiting for a bind when this was written); none when no receipt went.
    pub client_delivery: Option<&'a str>,
    /// The client session that acknowledged it.
    pub client_session: Option<u64>,
    /// When the client acknowledged it.
    pub client_acked_at: Option<String>,
    /// The price, once channels carry prices.
    pub price: Option<f64>,
}

/// The name of an SMPP `message_state`.
pub fn state_name(state: u8) -> &'static str {
    crate::smpp::values::MessageState(state).name()
}

/// Unix milliseconds as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// The moment a router id was minted, Unix ms; the record's second for other ids.
fn submitted_ms(f: &Finished) -> u64 {
    history::key_of(&f.record.router_id)
        .map_or(f.record.created.saturating_mul(1000), crate::ids::unix_ms)
}

/// The JSON line of a finished message, given its history.
pub fn line(f: &Finished, events: &[crate::store::Event]) -> String {
    let rec = &f.record;
    let submitted = submitted_ms(f);
    let outcome = f.outcome.as_ref().and_then(|e| {
        let (state, at, err) = e.final_receipt()?;
        let from = match &e.kind {
            EventKind::Receipt { from, .. } => from.as_str(),
            _ => "",
        };
        Some((state, at, err, from))
    });
    let after = outcome.map_or(0, |(_, at, _, _)| at);
    // How the (final) receipt reached the client: the first delivery after it.
    let mut client = None;
    for e in events.iter().filter(|e| e.at_ms >= after) {
        match &e.kind {
            EventKind::Delivered { how, session } => {
                client = Some((how.as_str(), Some(*session), Some(e.at_ms)));
                break;
            }
            EventKind::Stored if client.is_none() => client = Some(("stored", None, None)),
            _ => {}
        }
    }
    let cdr = Cdr {
        router_id: &rec.router_id,
        account: &rec.account,
        route: &rec.route,
        channel: &rec.channel,
        carrier_id: &rec.channel_id,
        destination: Masked(rec.to.as_bytes()).to_string(),
        country: &rec.region,
        submitted_at: rfc3339(submitted),
        attempts: &rec.attempts,
        failovers: rec.attempts.matches(';').count(),
        state: outcome.map_or("NO_RECEIPT", |(s, ..)| state_name(s)),
        error: outcome.map(|(_, _, err, _)| err),
        final_at: outcome.map(|(_, at, ..)| rfc3339(at)),
        receipt_from: outcome.map(|(.., from)| from),
        receipt_seconds: outcome.map(|(_, at, ..)| at.saturating_sub(submitted) as f64 / 1000.0),
        client_delivery: client.map(|c| c.0),
        client_session: client.and_then(|c| c.1),
        client_acked_at: client.and_then(|c| c.2).map(rfc3339),
        price: None,
    };
    serde_json::to_string(&cdr).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::{Event, MessageRecord};

    #[test]
    fn a_record_masks_the_number_and_says_how_the_receipt_went() {
        let id = crate::ids::IdMinter::new(1).next_at(1_800_000_000_000);
        let receipt = Event {
            at_ms: 1_800_000_002_500,
            kind: EventKind::Receipt {
                state: 2,
                err: "000".into(),
                from: "tyntec".into(),
            },
        };
        let f = Finished {
            seq: 1,
            record: MessageRecord {
                router_id: id.to_string(),
                account: "acme".into(),
                channel: "tyntec".into(),
                channel_id: "C1".into(),
                created: 1_800_000_000,
                attempts: "imessage refused_0x45 51ms; tyntec accepted 3ms".into(),
                route: "otp".into(),
                to: "+447700900123".into(),
                region: "GB".into(),
                ..MessageRecord::default()
            },
            outcome: Some(receipt.clone()),
            history: Vec::new(),
        };
        let delivered = Event {
            at_ms: 1_800_000_002_600,
            kind: EventKind::delivered("direct", 7),
        };
        let v: serde_json::Value = serde_json::from_str(&line(&f, &[receipt, delivered])).unwrap();
        assert_eq!(v["destination"], "+447*******23");
        assert!(!v.to_string().contains("7700900"));
        assert_eq!(v["state"], "DELIVERED");
        assert_eq!(v["failovers"], 1);
        assert_eq!(v["receipt_seconds"], 2.5);
        assert_eq!(v["client_delivery"], "direct");
        assert_eq!(v["client_session"], 7);
        assert_eq!(v["submitted_at"], "2027-01-15T08:00:00.000Z");
        let expired = Finished { outcome: None, ..f };
        let v: serde_json::Value = serde_json::from_str(&line(&expired, &[])).unwrap();
        assert_eq!(v["state"], "NO_RECEIPT");
        assert!(v["final_at"].is_null() && v["client_delivery"].is_null());
    }
}
