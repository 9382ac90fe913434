//! What an OTP Blue answer means: the mapping from HTTP status and platform code to an outcome,
//! following the table in `reference/otpblue-api.md`, with two decisions of ours:
//!
//! - **1155** (destination region not supported) maps to `ESME_RSUBMITFAIL` 0x45, like 150 (no
//!   iMessage), not to the seed's 0x0B. Both mean "iMessage cannot reach this recipient, SMS may",
//!   and 0x45 makes the default route policy fail over at once, while 0x0B would stop the route
//!   (the default for invalid numbers) and a valid Argentinian number would never get its SMS.
//!   A route with no SMS fallback answers the client 0x45 instead of 0x0B for those regions.
//! - **1600, 1800, 1900** map to `ESME_RINVDSTADR` 0x0B as in the seed: the default policy stops.
//!   The router validates numbers before any channel, so 0x0B from this channel means the platform
//!   disagreed with libphonenumber, or the number is not a mobile (1900); a route that wants SMS
//!   to try such numbers anyway sets `on_status."0x0B" = "next"`.
//! - **1160, 1230** (invalid language) are [`Answer::WrongLanguage`]: the channel resends once in
//!   English — safe, because the refusal is definite and nothing was delivered.

use bytes::Bytes;
use http::StatusCode;
use serde::Deserialize;

use crate::smpp::CommandStatus;

/// The meaning of one answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Delivered over iMessage; the platform's id.
    Delivered {
        /// The platform's `message_id`.
        message_id: String,
    },
    /// A definite refusal.
    Refused {
        /// What the client (or the route policy) gets.
        status: CommandStatus,
        /// The platform's code, when it gave one (for logs).
        code: Option<i64>,
    },
    /// The language was refused (1160, 1230): resend once in English.
    WrongLanguage {
        /// The platform's code.
        code: i64,
    },
    /// The API key was refused (1110, 1250, or 401/403): an operator alarm.
    KeyRejected {
        /// The platform's code, if any.
        code: Option<i64>,
    },
    /// The platform may or may not have delivered (5xx, an unreadable 200, other statuses).
    Unknown {
        /// The HTTP status.
        http: u16,
    },
}

#[derive(Deserialize)]
struct Body {
    success: Option<bool>,
    code: Option<i64>,
    message_id: Option<String>,
}

/// The SMPP status for a platform error code; `None` for codes with their own handling
/// (language, key) and for codes we do not know.
pub fn status_for_code(code: i64) -> Option<CommandStatus> {
    Some(match code {
        150 | 1155 | 280 => CommandStatus::RSUBMITFAIL,
        720 => CommandStatus::RTHROTTLED,
        100 | 110 => CommandStatus::RSYSERR,
        1600 | 1800 | 1900 => CommandStatus::RINVDSTADR,
        1205 | 1210 | 1215 => CommandStatus::RINVMSGLEN,
        1220 | 1225 => CommandStatus::RINVSRCADR,
        _ => return None,
    })
}

/// Classifies an answer from its HTTP status and body.
pub fn classify(status: StatusCode, body: &Bytes) -> Answer {
    let parsed: Option<Body> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|b| b.code);
    if status == StatusCode::OK {
        return match parsed {
            Some(Body {
                success: Some(true),
                message_id,
                ..
            }) => Answer::Delivered {
                message_id: message_id.unwrap_or_default(),
            },
            // A 200 with a failure body is still a definite answer.
            Some(Body {
                success: Some(false),
                code: Some(code),
                ..
            }) => by_code(code),
            _ => Answer::Unknown { http: 200 },
        };
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Answer::Refused {
            status: CommandStatus::RTHROTTLED,
            code,
        };
    }
    if status.is_client_error() {
        return match code {
            Some(code) => by_code(code),
            None if matches!(status.as_u16(), 401 | 403) => Answer::KeyRejected { code: None },
            None => Answer::Refused {
                status: CommandStatus::RSYSERR,
                code: None,
            },
        };
    }
    // 5xx, redirects and anything else: the request reached a server and we cannot tell.
    Answer::Unknown {
        http: status.as_u16(),
    }
}

fn by_code(code: i64) -> Answer {
    match code {
        1160 | 1230 => Answer::WrongLanguage { code },
        1110 | 1250 => Answer::KeyRejected { code: Some(code) },
        other => Answer::Refused {
            status: status_for_code(other).unwrap_or(CommandStatus::RSYSERR),
            code: Some(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(http: u16, code: i64) -> Answer {
        let body = format!(
            r#"{{"success":false,"status":"failed","code":{code},"contact":"+1","message":"x"}}"#
        );
        classify(
            StatusCode::from_u16(http).unwrap_or(StatusCode::BAD_REQUEST),
            &Bytes::from(body),
        )
    }

    fn refused(status: u32, code: i64) -> Answer {
        Answer::Refused {
            status: CommandStatus(status),
            code: Some(code),
        }
    }

    #[test]
    fn the_reference_table() {
        for (code, status) in [
            (150, 0x45),
            (720, 0x58),
            (100, 0x08),
            (110, 0x08),
            (280, 0x45),
            (1155, 0x45),
            (1600, 0x0B),
            (1800, 0x0B),
            (1900, 0x0B),
            (1205, 0x01),
            (1210, 0x01),
            (1215, 0x01),
            (1220, 0x0A),
            (1225, 0x0A),
            (4242, 0x08),
        ] {
            assert_eq!(failed(400, code), refused(status, code), "code {code}");
        }
        assert_eq!(failed(400, 1230), Answer::WrongLanguage { code: 1230 });
        assert_eq!(failed(400, 1160), Answer::WrongLanguage { code: 1160 });
        assert_eq!(failed(401, 1250), Answer::KeyRejected { code: Some(1250) });
        assert_eq!(failed(401, 1110), Answer::KeyRejected { code: Some(1110) });
    }

    #[test]
    fn http_statuses() {
        let ok = Bytes::from_static(br#"{"success":true,"status":"delivered","message_id":"m-1"}"#);
        assert_eq!(
            classify(StatusCode::OK, &ok),
            Answer::Delivered {
                message_id: "m-1".into()
            }
        );
        let junk = Bytes::from_static(b"<html>");
        assert_eq!(
            classify(StatusCode::OK, &junk),
            Answer::Unknown { http: 200 }
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &junk),
            Answer::Refused {
                status: CommandStatus::RTHROTTLED,
                code: None
            }
        );
        assert_eq!(
            classify(StatusCode::FORBIDDEN, &junk),
            Answer::KeyRejected { code: None }
        );
        assert_eq!(
            classify(StatusCode::NOT_FOUND, &junk),
            Answer::Refused {
                status: CommandStatus::RSYSERR,
                code: None
            }
        );
        for http in [500, 502, 503, 504] {
            let s = StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(classify(s, &junk), Answer::Unknown { http });
        }
    }
}
