//! What the webhook's HTTP answers and status callbacks mean, as SMPP outcomes. Pure functions,
//! so the whole table is tested without a network.
//!
//! | webhook answer | outcome |
//! |---|---|
//! | 2xx, body `{"id": "…", "status": "…"}` (both optional) | accepted with that id (else the router's); a final `status` is the receipt at once |
//! | any status with body `{"smpp_status": N}` (N ≠ 0) | refused with command status N |
//! | 400, 422 | refused, `ESME_RSUBMITFAIL` (0x45) |
//! | 401, 403 | refused, `ESME_RSUBMITFAIL` (0x45), logged as a credentials problem |
//! | 404, 410 | refused, `ESME_RINVDSTADR` (0x0B) |
//! | 429 | refused, `ESME_RTHROTTLED` (0x58) |
//! | 502, 503 | not sent (the service did not take it): the router fails over |
//! | 504 | unknown (a gateway timed out: the service may have it); never resent |
//! | other 5xx, other statuses | refused, `ESME_RSYSERR` (0x08) |
//! | connection refused, DNS failure | not sent |
//! | timeout, connection lost after sending | unknown (never resent to this channel) |

use serde::Deserialize;
use smpp_router_plugin_api::{Outcome, State};

/// `ESME_RSUBMITFAIL`.
pub const SUBMIT_FAILED: u32 = 0x45;
/// `ESME_RINVDSTADR`.
pub const INVALID_DESTINATION: u32 = 0x0B;
/// `ESME_RTHROTTLED`.
pub const THROTTLED: u32 = 0x58;
/// `ESME_RSYSERR`.
pub const SYSTEM_ERROR: u32 = 0x08;

#[derive(Debug, Default, Deserialize)]
struct Body {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    smpp_status: Option<u32>,
}

/// A status word as a message state: `None` for words that are not final (`accepted`, `queued`,
/// `sent`) and for unknown words.
pub fn state_of(word: &str) -> Option<State> {
    Some(match word.to_ascii_lowercase().as_str() {
        "delivered" | "delivrd" => State::Delivered,
        "undeliverable" | "undeliv" | "failed" => State::Undeliverable,
        "expired" => State::Expired,
        "rejected" | "rejectd" => State::Rejected,
        "deleted" => State::Deleted,
        "unknown" => State::Unknown,
        "read" => State::Accepted,
        _ => return None,
    })
}

/// The outcome of an HTTP answer with `status` and `body`.
pub fn outcome(status: u16, body: &[u8]) -> Outcome {
    let parsed: Body = serde_json::from_slice(body).unwrap_or_default();
    if let Some(code) = parsed.smpp_status.filter(|c| *c != 0) {
        return Outcome::Refused(code);
    }
    match status {
        200..=299 => Outcome::Accepted {
            message_id: parsed
                .id
                .filter(|id| !id.is_empty() && id.len() <= 64)
                .unwrap_or_default(),
            final_state: parsed.status.as_deref().and_then(state_of),
        },
        400 | 401 | 403 | 422 => Outcome::Refused(SUBMIT_FAILED),
        404 | 410 => Outcome::Refused(INVALID_DESTINATION),
        429 => Outcome::Refused(THROTTLED),
        502 | 503 => Outcome::NotSent,
        504 => Outcome::Unknown,
        _ => Outcome::Refused(SYSTEM_ERROR),
    }
}

/// A status callback: `{"id": "…", "status": "delivered", "error": 0}`.
#[derive(Debug, Deserialize)]
pub struct Callback {
    /// The id the webhook gave (or the router's id).
    pub id: String,
    /// The status word.
    pub status: String,
    /// The network error code.
    #[serde(default)]
    pub error: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_table() {
        assert_eq!(
            outcome(200, br#"{"id":"w-1"}"#),
            Outcome::Accepted {
                message_id: "w-1".into(),
                final_state: None
            }
        );
        assert_eq!(
            outcome(202, b""),
            Outcome::Accepted {
                message_id: String::new(),
                final_state: None
            }
        );
        assert_eq!(
            outcome(200, br#"{"id":"w-2","status":"delivered"}"#),
            Outcome::Accepted {
                message_id: "w-2".into(),
                final_state: Some(State::Delivered)
            }
        );
        assert_eq!(outcome(200, br#"{"smpp_status":11}"#), Outcome::Refused(11));
        assert_eq!(outcome(400, b"oops"), Outcome::Refused(SUBMIT_FAILED));
        assert_eq!(outcome(403, b""), Outcome::Refused(SUBMIT_FAILED));
        assert_eq!(outcome(404, b""), Outcome::Refused(INVALID_DESTINATION));
        assert_eq!(outcome(429, b""), Outcome::Refused(THROTTLED));
        assert_eq!(outcome(503, b""), Outcome::NotSent);
        assert_eq!(outcome(504, b""), Outcome::Unknown);
        assert_eq!(outcome(500, b""), Outcome::Refused(SYSTEM_ERROR));
        let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(65));
        assert_eq!(
            outcome(200, long.as_bytes()),
            Outcome::Accepted {
                message_id: String::new(),
                final_state: None
            },
            "an id longer than 64 bytes is not used"
        );
    }

    #[test]
    fn status_words() {
        assert_eq!(state_of("DELIVERED"), Some(State::Delivered));
        assert_eq!(state_of("failed"), Some(State::Undeliverable));
        assert_eq!(state_of("queued"), None);
    }
}
