//! The stand-in's API face over raw HTTP/1.1: authentication, validation codes, the GET form and
//! the answers' shape.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use std::time::Duration;

use super::*;

/// Sends one raw request (`Connection: close`) and returns the status and the JSON body.
async fn raw(addr: SocketAddr, head: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let req = format!(
        "{head}\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut out = String::new();
    s.read_to_string(&mut out)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = out
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

async fn post(addr: SocketAddr, key: Option<&str>, body: &Value) -> (u16, Value) {
    let auth = key
        .map(|k| format!("\r\nAuthorization: {k}"))
        .unwrap_or_default();
    raw(
        addr,
        &format!("POST {SEND_PATH} HTTP/1.1\r\nContent-Type: application/json{auth}"),
        &body.to_string(),
    )
    .await
}

fn knobs() -> Knobs {
    Knobs {
        no_imessage_share: 0.0,
        ..Knobs::default()
    }
}

#[tokio::test]
async fn delivered_answer_has_the_platform_shape() {
    let k = knobs();
    let (addr, _) = start(k.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let (status, body) = post(
        addr,
        Some("test-key"),
        &json!({"contact": "+14155551234", "code": "1234", "sender": "Acme", "language": "en"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true);
    assert_eq!(body["status"], "delivered");
    assert_eq!(body["recipient"], "+14155551234");
    let id = body["message_id"].as_str().unwrap_or_default();
    assert_eq!(id.len(), 36);
    assert_eq!(id.as_bytes()[14], b'4');
    assert_eq!(k.stats.delivered(), 1);
}

#[tokio::test]
async fn authentication_and_validation_codes() {
    let k = knobs();
    let (addr, _) = start(k.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let ok = json!({"contact": "+14155551234", "code": "123456"});
    let with = |field: &str, v: Value| {
        let mut b = ok.clone();
        b[field] = v;
        b
    };
    let cases = [
        (None, ok.clone(), 401, 1110),
        (Some("nope"), ok.clone(), 401, 1250),
        (Some("test-key"), json!({"code": "1234"}), 400, 1205),
        (
            Some("test-key"),
            json!({"contact": "+14155551234"}),
            400,
            1205,
        ),
        (
            Some("test-key"),
            with("contact", json!("14155551234")),
            400,
            1600,
        ),
        (
            Some("test-key"),
            with("contact", json!("+44 7700")),
            400,
            1600,
        ),
        (
            Some("test-key"),
            with("contact", json!("+999999999")),
            400,
            1800,
        ),
        (Some("test-key"), with("code", json!("12a4")), 400, 1210),
        (Some("test-key"), with("code", json!("123")), 400, 1215),
        (
            Some("test-key"),
            with("code", json!("12345678901")),
            400,
            1215,
        ),
        (
            Some("test-key"),
            with("sender", json!("ABCDEFGHIJKLMNOPQ")),
            400,
            1225,
        ),
        (Some("test-key"), with("sender", json!(7)), 400, 1220),
        (Some("test-key"), with("language", json!("ko")), 400, 1230),
        (
            Some("test-key"),
            with("contact", json!("+5491123456789")),
            400,
            1155,
        ),
    ];
    let n = cases.len() as u64;
    for (key, body, http, code) in cases {
        let (status, answer) = post(addr, key, &body).await;
        assert_eq!(
            (status, answer["code"].as_i64()),
            (http, Some(code)),
            "{body}"
        );
        assert_eq!(answer["success"], false);
        assert_eq!(answer["status"], "failed");
    }
    let (status, answer) = raw(
        addr,
        &format!("POST {SEND_PATH} HTTP/1.1\r\nAuthorization: test-key"),
        "{not json",
    )
    .await;
    assert_eq!((status, answer["code"].as_i64()), (400, Some(100)));
    assert_eq!(k.stats.requests(), n + 1);
    assert_eq!(k.stats.code(1250), 1);
}

#[tokio::test]
async fn the_get_form_with_apikey() {
    let k = Knobs {
        no_imessage_share: 1.0,
        ..Knobs::default()
    };
    let (addr, _) = start(k.clone()).await.unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "GET {SEND_PATH}?contact=%2B14155551234&code=5566&sender=My%20Bank&apikey=test-key HTTP/1.1"
    );
    let (status, answer) = raw(addr, &head, "").await;
    assert_eq!((status, answer["code"].as_i64()), (400, Some(150)));
    assert_eq!(answer["contact"], "+14155551234");
    let last = k.stats.last_request().unwrap_or_default();
    assert_eq!(last["sender"], "My Bank");
    let (status, _) = raw(addr, &format!("GET {SEND_PATH}?contact=%2B1 HTTP/1.1"), "").await;
    assert_eq!(status, 401);
}

#[test]
fn has_imessage_is_deterministic_and_follows_the_share() {
    let k = Knobs {
        no_imessage_share: 0.7,
        ..Knobs::default()
    };
    let numbers: Vec<String> = (0..10_000).map(|i| format!("1415555{i:04}")).collect();
    let with = numbers.iter().filter(|n| has_imessage(&k, n)).count();
    assert!((2_700..3_300).contains(&with), "{with} of 10000");
    assert!(
        numbers
            .iter()
            .all(|n| has_imessage(&k, n) == has_imessage(&k, &format!("+{n}")))
    );
    let all = Knobs {
        no_imessage_share: 0.0,
        ..Knobs::default()
    };
    assert!(numbers.iter().all(|n| has_imessage(&all, n)));
}

#[test]
fn latency_and_arguments_parse() {
    assert_eq!(
        "250ms".parse::<Latency>(),
        Ok(Latency::fixed(Duration::from_millis(250)))
    );
    let r: Latency = "100ms..400ms".parse().unwrap_or_default();
    assert_eq!(
        (r.min, r.max),
        (Duration::from_millis(100), Duration::from_millis(400))
    );
    assert!((0..100).all(|_| (r.min..=r.max).contains(&r.draw())));
    assert!("400ms..100ms".parse::<Latency>().is_err());
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: OtpBlueArgs,
    }
    let cli = Cli::try_parse_from(["x", "--latency", "1ms..2ms", "--drop-share", "0.1"])
        .unwrap_or_else(|e| panic!("{e}"));
    let k = cli.args.knobs().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(k.api_key, "test-key");
    assert_eq!(k.unsupported_regions, ["CN", "AR"]);
    assert_eq!(cli.args.listen.port(), 8787);
    let bad = Cli::try_parse_from(["x", "--error-share", "2"]).unwrap_or_else(|e| panic!("{e}"));
    assert!(bad.args.knobs().is_err());
}
