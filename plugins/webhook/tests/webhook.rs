//! The webhook plugin through the C ABI (the SDK's test host) against a real HTTP server on
//! loopback: answers mapped to outcomes, receipts from the answer and from status callbacks,
//! unreachable and silent webhooks.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smpp_router_plugin_api::testing::{TestHost, TestMessage};
use smpp_router_plugin_api::{Outcome, State};
use smpp_router_plugin_webhook::Webhook;

/// A one-thread HTTP server that answers by the `to` of the JSON body and keeps the bodies.
fn server() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/messages", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let kept = kept.clone();
            std::thread::spawn(move || serve(stream, &kept));
        }
    });
    (url, seen)
}

fn serve(stream: TcpStream, seen: &Mutex<Vec<serde_json::Value>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    loop {
        let mut len = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let to = json["to"].as_str().unwrap_or_default().to_string();
        seen.lock().unwrap().push(json);
        let (status, answer) = match to.as_str() {
            "+4400" => (200, r#"{"id":"w-1"}"#),
            "+4401" => (200, r#"{"id":"w-2","status":"delivered"}"#),
            "+4404" => (404, ""),
            "+4429" => (429, ""),
            "+4503" => (503, ""),
            "+4999" => {
                std::thread::sleep(Duration::from_secs(3));
                (200, "{}")
            }
            _ => (500, ""),
        };
        let mut s = &stream;
        let _ = write!(
            s,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn answers_become_outcomes() {
    let (url, seen) = server();
    let host = TestHost::start::<Webhook>(&format!(
        r#"{{"url":"{url}","timeout":"1s","headers":{{"x-api-key":"k1"}}}}"#
    ))
    .unwrap();
    let msg = TestMessage::new("+4400", "hello there");
    assert_eq!(
        host.submit(&msg).unwrap(),
        Outcome::Accepted {
            message_id: "w-1".into(),
            final_state: None
        }
    );
    let body = seen.lock().unwrap()[0].clone();
    assert_eq!(body["id"], msg.id.as_str());
    assert_eq!(body["text"], "hello there");
    assert_eq!(body["receipt_requested"], true);
    assert_eq!(
        host.submit(&TestMessage::new("+4401", "x")).unwrap(),
        Outcome::Accepted {
            message_id: "w-2".into(),
            final_state: Some(State::Delivered)
        }
    );
    assert_eq!(
        host.submit(&TestMessage::new("+4404", "x")).unwrap(),
        Outcome::Refused(0x0B)
    );
    assert_eq!(
        host.submit(&TestMessage::new("+4429", "x")).unwrap(),
        Outcome::Refused(0x58)
    );
    assert_eq!(
        host.submit(&TestMessage::new("+4503", "x")).unwrap(),
        Outcome::NotSent
    );
    assert_eq!(
        host.submit(&TestMessage::new("+4999", "x")).unwrap(),
        Outcome::Unknown,
        "a webhook that does not answer in time: unknown, never resent"
    );
    assert_eq!(host.metric("timeouts"), Some(1.0));
}

#[test]
fn an_unreachable_webhook_is_not_sent_and_goes_down() {
    let port = free_port();
    let host = TestHost::start::<Webhook>(&format!(
        r#"{{"url":"http://127.0.0.1:{port}/x","timeout":"1s"}}"#
    ))
    .unwrap();
    for _ in 0..5 {
        assert_eq!(
            host.submit(&TestMessage::new("+4400", "x")).unwrap(),
            Outcome::NotSent
        );
    }
    assert_eq!(host.health().unwrap(), smpp_router_plugin_api::Health::Down);
}

#[test]
fn status_callbacks_become_receipts() {
    let (url, _) = server();
    let port = free_port();
    let host = TestHost::start::<Webhook>(&format!(
        r#"{{"url":"{url}","receipt_listen":"127.0.0.1:{port}"}}"#
    ))
    .unwrap();
    let post = |body: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            s,
            "POST /status HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    let ok = post(r#"{"id":"w-1","status":"undeliverable","error":34}"#);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let r = host.wait_receipt(Duration::from_secs(2)).unwrap();
    assert_eq!(
        (r.message_id.as_str(), r.state, r.error),
        ("w-1", State::Undeliverable, 34)
    );
    let bad = post(r#"{"status":"delivered"}"#);
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    let not_final = post(r#"{"id":"w-1","status":"queued"}"#);
    assert!(not_final.starts_with("HTTP/1.1 400"), "{not_final}");
}

#[test]
fn configuration_errors_are_clear() {
    let err = |cfg: &str| match TestHost::start::<Webhook>(cfg) {
        Err(smpp_router_plugin_api::testing::TestError::Create(m)) => m,
        other => panic!("{:?}", other.err()),
    };
    assert!(err("{}").contains("url"));
    assert!(err(r#"{"url":"https://x"}"#).contains("only http://"));
    assert!(err(r#"{"url":"http://x","timeout":"soon"}"#).contains("timeout"));
    assert!(
        err(r#"{"url":"http://x","headers":{"a":"env:SRP_SURELY_UNSET"}}"#)
            .contains("SRP_SURELY_UNSET")
    );
}
