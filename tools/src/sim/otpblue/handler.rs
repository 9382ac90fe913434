//! One request to the stand-in: authentication, validation in the platform's order, the knobs'
//! faults, and the platform's JSON answers. Never logs codes or keys.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::{Knobs, SEND_PATH, has_imessage};
use smpp_router::otp::is_language;

/// Returned to hyper to close the connection without an answer (the `drop_share` knob).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose")]
pub struct Dropped;

/// Shared by all connections.
pub struct State {
    knobs: Knobs,
    in_flight: AtomicUsize,
}

impl State {
    /// State for `knobs`.
    pub fn new(knobs: Knobs) -> Self {
        Self {
            knobs,
            in_flight: AtomicUsize::new(0),
        }
    }
}

/// Decrements the in-flight count however the request ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request's fields, from the JSON body or the query string.
#[derive(Default)]
struct Fields {
    contact: Option<Value>,
    code: Option<Value>,
    sender: Option<Value>,
    language: Option<Value>,
}

type Answer = Result<Response<Full<Bytes>>, Dropped>;

fn reply(status: StatusCode, body: &Value) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    Ok(r)
}

fn message_for(code: i64) -> &'static str {
    match code {
        100 => "Internal error",
        110 => "Apple services are unreachable",
        150 => "The recipient does not have iMessage",
        280 => "The recipient opted out of this sender",
        720 => "Out of capacity, try again later",
        1110 => "Missing API key",
        1155 => "Destination region is not supported",
        1160 | 1230 => "Invalid language",
        1205 => "Missing required parameter",
        1210 => "Invalid OTP code",
        1215 => "Invalid OTP code length",
        1220 => "Invalid sender",
        1225 => "Sender is too long",
        1250 => "Invalid API key",
        1600 => "Invalid recipient",
        1800 => "Invalid phone number",
        1900 => "The number is not a mobile",
        _ => "Request failed",
    }
}

fn failed(state: &State, http: StatusCode, code: i64, contact: &str) -> Answer {
    state.knobs.stats.count_code(code);
    let body = json!({
        "success": false,
        "status": "failed",
        "code": code,
        "contact": contact,
        "message": message_for(code),
    });
    reply(http, &body)
}

/// Answers one request.
pub async fn handle(state: &State, req: Request<Incoming>) -> Answer {
    let path = req.uri().path();
    if path.trim_end_matches('/') != SEND_PATH.trim_end_matches('/') {
        return reply(
            StatusCode::NOT_FOUND,
            &json!({"success": false, "message": "Not found"}),
        );
    }
    let stats = &state.knobs.stats;
    let fields = match *req.method() {
        Method::POST => {
            stats.requests.fetch_add(1, Ordering::Relaxed);
            let key = header_str(&req, AUTHORIZATION);
            let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return Err(Dropped),
            };
            if let Some(refusal) = check_key(state, key.as_deref()) {
                return refusal;
            }
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(mut o)) => Fields {
                    contact: o.remove("contact"),
                    code: o.remove("code"),
                    sender: o.remove("sender"),
                    language: o.remove("language"),
                },
                _ => return failed(state, StatusCode::BAD_REQUEST, 100, ""),
            }
        }
        Method::GET => {
            stats.requests.fetch_add(1, Ordering::Relaxed);
            let mut fields = Fields::default();
            let mut key = header_str(&req, AUTHORIZATION);
            for (name, value) in query_pairs(req.uri().query().unwrap_or("")) {
                let v = Some(Value::String(value.clone()));
                match name.as_str() {
                    "contact" => fields.contact = v,
                    "code" => fields.code = v,
                    "sender" => fields.sender = v,
                    "language" => fields.language = v,
                    "apikey" => key = Some(value),
                    _ => {}
                }
            }
            if let Some(refusal) = check_key(state, key.as_deref()) {
                return refusal;
            }
            fields
        }
        _ => {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"success": false, "message": "Use POST"}),
            );
        }
    };
    send(state, fields).await
}

fn header_str(req: &Request<Incoming>, name: http::header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn check_key(state: &State, key: Option<&str>) -> Option<Answer> {
    match key.map(str::trim) {
        None | Some("") => Some(failed(state, StatusCode::UNAUTHORIZED, 1110, "")),
        Some(k) if k != state.knobs.api_key => {
            Some(failed(state, StatusCode::UNAUTHORIZED, 1250, ""))
        }
        Some(_) => None,
    }
}

async fn send(state: &State, f: Fields) -> Answer {
    let knobs = &state.knobs;
    if let Ok(mut last) = knobs.stats.last_request.lock() {
        *last = Some(json!({
            "contact": f.contact, "code": f.code, "sender": f.sender, "language": f.language,
        }));
    }
    let contact = match &f.contact {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let bad = StatusCode::BAD_REQUEST;
    let (Some(_), Some(code)) = (&f.contact, &f.code) else {
        return failed(state, bad, 1205, &contact);
    };
    let digits = match contact.strip_prefix('+') {
        Some(d) if (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) => d,
        _ => return failed(state, bad, 1600, &contact),
    };
    let code = match code {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return failed(state, bad, 1210, &contact),
    };
    if !code.bytes().all(|b| b.is_ascii_digit()) {
        return failed(state, bad, 1210, &contact);
    }
    if !(4..=10).contains(&code.len()) {
        return failed(state, bad, 1215, &contact);
    }
    match &f.sender {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if !s.trim().is_empty() && s.chars().count() <= 16 => {}
        Some(Value::String(s)) if s.chars().count() > 16 => {
            return failed(state, bad, 1225, &contact);
        }
        Some(_) => return failed(state, bad, 1220, &contact),
    }
    match &f.language {
        None | Some(Value::Null) => {}
        Some(Value::String(l))
            if is_language(l) && !knobs.unsupported_languages.iter().any(|u| u == l) => {}
        Some(_) => return failed(state, bad, 1230, &contact),
    }
    let region = match smpp_router::phone::validate(digits.as_bytes()) {
        Ok(d) => d.region_str().to_string(),
        Err(_) => return failed(state, bad, 1800, &contact),
    };
    if knobs.unsupported_regions.contains(&region) {
        return failed(state, bad, 1155, &contact);
    }
    let now = state.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = InFlight(&state.in_flight);
    if knobs.capacity > 0 && now > knobs.capacity {
        return failed(state, bad, 720, &contact);
    }
    let roll: f64 = rand::random();
    if roll < knobs.timeout_share {
        knobs.stats.unanswered.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return Err(Dropped);
    }
    let latency = knobs.latency.draw();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if roll < knobs.timeout_share + knobs.drop_share {
        knobs.stats.dropped.fetch_add(1, Ordering::Relaxed);
        return Err(Dropped);
    }
    if roll < knobs.timeout_share + knobs.drop_share + knobs.error_share {
        knobs.stats.injected_errors.fetch_add(1, Ordering::Relaxed);
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({"success": false, "message": "Internal server error"}),
        );
    }
    if !has_imessage(knobs, digits) {
        return failed(state, bad, 150, &contact);
    }
    knobs.stats.delivered.fetch_add(1, Ordering::Relaxed);
    reply(
        StatusCode::OK,
        &json!({
            "success": true,
            "status": "delivered",
            "message_id": uuid_like(),
            "recipient": contact,
            "message": "Message delivered",
        }),
    )
}

/// A random version-4-style UUID.
fn uuid_like() -> String {
    let v: u128 = rand::random();
    let v = (v & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let h = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// `a=b&c=d` pairs, percent-decoded; a literal `+` stays a `+` (phone numbers).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
