//! `GET /messages/{router_id}` and `GET /messages?channel=…&carrier_id=…`: where a message
//! went — its account, session, route, every attempt, the carrier's id, every receipt and how
//! it reached the client — read from the store (one indexed read each: router ids name their
//! second, records are keyed by it; carrier ids have their own index). Destination numbers are
//! masked unless the caller asks for `numbers=full` and the admin interface has a token.

use serde_json::{Value, json};

use crate::phone::Masked;
use crate::records::cdr::{rfc3339, state_name};
use crate::store::{Event, EventKind, MessageRecord, Store, history};

/// What a lookup asks for.
pub struct Query<'a> {
    /// The path after `/messages/`, or `None` for `/messages`.
    pub router_id: Option<&'a str>,
    /// `channel=…&carrier_id=…&numbers=full`.
    pub params: &'a str,
    /// Whether the admin interface has a token (full numbers only then).
    pub token_set: bool,
}

/// The answer: an HTTP status and a JSON body.
pub fn lookup(store: &dyn Store, q: &Query<'_>) -> (u16, Value) {
    let param = |name: &str| {
        q.params
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
    };
    let full = param("numbers").is_some_and(|v| v == "full");
    if full && !q.token_set {
        return (
            403,
            json!({"error": "numbers=full needs admin.token to be set"}),
        );
    }
    let found = match (q.router_id, param("channel"), param("carrier_id")) {
        // Only ids the router minted: one read each.
        (Some(id), _, _) if history::key_of(id).is_none() => Ok(None),
        (Some(id), _, _) => store.by_router_id(id).map(|r| r.map(std::sync::Arc::new)),
        (None, Some(channel), Some(carrier_id)) => store.lookup(&channel, &carrier_id),
        _ => {
            return (
                400,
                json!({"error": "GET /messages/{router_id}, or /messages?channel=NAME&carrier_id=ID"}),
            );
        }
    };
    match found {
        Ok(Some(rec)) => {
            let events = history::key_of(&rec.router_id)
                .and_then(|key| store.history(key).ok())
                .unwrap_or_default();
            (200, trace(&rec, &events, full))
        }
        Ok(None) => (
            404,
            json!({"error": "no such message in the store (unknown, or older than store.retention)"}),
        ),
        Err(e) => (
            503,
            json!({"error": format!("the store cannot be read now: {e}")}),
        ),
    }
}

/// A message's record and history as JSON.
pub fn trace(rec: &MessageRecord, events: &[Event], full_numbers: bool) -> Value {
    let submitted = history::key_of(&rec.router_id)
        .map_or(rec.created.saturating_mul(1000), crate::ids::unix_ms);
    let state = events
        .iter()
        .rev()
        .find_map(Event::final_receipt)
        .map_or("ENROUTE", |(s, ..)| state_name(s));
    let destination = if full_numbers {
        rec.to.clone()
    } else {
        Masked(rec.to.as_bytes()).to_string()
    };
    json!({
        "router_id": rec.router_id,
        "account": rec.account,
        "session": rec.session,
        "route": rec.route,
        "destination": destination,
        "country": rec.region,
        "submitted_at": rfc3339(submitted),
        "attempts": attempts(&rec.attempts),
        "channel": rec.channel,
        "carrier_id": rec.channel_id,
        "state": state,
        "events": events.iter().map(event).collect::<Vec<_>>(),
    })
}

/// `imessage refused_0x45 51ms; tyntec accepted 3ms` as a list.
fn attempts(text: &str) -> Vec<Value> {
    text.split(';')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(|a| {
            let mut parts = a.split_whitespace();
            let channel = parts.next().unwrap_or_default();
            let outcome = parts.next().unwrap_or_default();
            let latency_ms = parts
                .next()
                .and_then(|l| l.strip_suffix("ms"))
                .and_then(|l| l.parse::<u64>().ok());
            json!({"channel": channel, "outcome": outcome, "latency_ms": latency_ms})
        })
        .collect()
}

fn event(e: &Event) -> Value {
    let at = rfc3339(e.at_ms);
    match &e.kind {
        EventKind::Receipt { state, err, from } => json!({
            "at": at, "what": "receipt", "state": state_name(*state), "error": err, "from": from,
        }),
        EventKind::Delivered { how, session } => json!({
            "at": at, "what": "delivered_to_client", "how": how, "session": session,
        }),
        EventKind::Stored => json!({"at": at, "what": "stored_for_client"}),
    }
}

/// `%XX` escapes and `+` decoded (invalid escapes stay as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn lookups_by_either_id_mask_numbers_unless_asked() {
        let store = MemoryStore::new();
        let id = crate::ids::IdMinter::new(0).next();
        let rec = MessageRecord {
            router_id: id.clone(),
            account: "acme".into(),
            channel: "tyntec".into(),
            channel_id: "C/1".into(),
            created: crate::ids::unix_secs(id.parse().unwrap()),
            attempts: "imessage refused_0x45 51ms; tyntec accepted 3ms".into(),
            route: "otp".into(),
            to: "+447700900123".into(),
            region: "GB".into(),
            session: 4,
            ..MessageRecord::default()
        };
        store.record(rec).await.unwrap();
        let key = id.parse().unwrap();
        store.note(key, Event::receipt(2, "000", "tyntec"), None);
        let by_id = Query {
            router_id: Some(&id),
            params: "",
            token_set: false,
        };
        let (status, v) = lookup(&store, &by_id);
        assert_eq!(status, 200);
        assert_eq!(v["destination"], "+447*******23");
        assert_eq!(v["state"], "DELIVERED");
        assert_eq!(v["attempts"][0]["outcome"], "refused_0x45");
        assert_eq!(v["attempts"][1]["latency_ms"], 3);
        assert_eq!(v["events"][0]["from"], "tyntec");
        let by_carrier = Query {
            router_id: None,
            params: "channel=tyntec&carrier_id=C%2F1&numbers=full",
            token_set: true,
        };
        let (status, v) = lookup(&store, &by_carrier);
        assert_eq!(
            (status, v["destination"].as_str()),
            (200, Some("+447700900123"))
        );
        let (status, _) = lookup(
            &store,
            &Query {
                token_set: false,
                ..by_carrier
            },
        );
        assert_eq!(status, 403, "full numbers only with a token");
        let (status, _) = lookup(
            &store,
            &Query {
                router_id: Some("999"),
                params: "",
                token_set: false,
            },
        );
        assert_eq!(status, 404);
    }
}
