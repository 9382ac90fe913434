//! The routing core end to end: failover through the server to a real client, and live reload
//! under load — 20,000 messages from a real client while routes.toml is rewritten 50 times.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::json;
use smpp_router_e2e::{LiveRouter, account, count, scratch_dir, smpplib};

fn routes(marker: &str, imessage: &str) -> String {
    format!(
        "{}\n[[channel]]\nname = \"imessage\"\nkind = \"test\"\noutcomes = [\"{imessage}\"]\n\n[[channel]]\nname = \"sms\"\nkind = \"test\"\noutcomes = [\"delivered\"]\n\n[[route]]\nname = \"{marker}\"\ncontent = \"(?i)code\"\nchannels = [\"imessage\", \"sms\"]\n\n[[route]]\nname = \"default\"\nchannels = [\"sms\"]\n",
        account("acme", "pw", "tps = 100000\nwindow = 200")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_fails_over_from_no_imessage_to_sms_with_a_receipt() {
    let dir = scratch_dir("failover");
    let path = dir.join("routes.toml");
    std::fs::write(&path, routes("otp", "0x45")).unwrap();
    let r = LiveRouter::start(&path).await;
    let out = smpplib(r.plain, false, json!([
        {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
        {"op": "submit", "count": 5, "window": 5, "registered_delivery": 1, "text": "Your code is 123456"},
        {"op": "wait_receipts", "count": 5},
        {"op": "unbind"},
    ])).await;
    assert_eq!(count(&out[1], 0), 5, "{out:?}");
    assert_eq!(out[2]["receipts"], 5, "{out:?}");
    assert!(
        out[2]["items"][0]["text"]
            .as_str()
            .unwrap()
            .contains("stat:DELIVRD")
    );

    // No fallback configured: the client gets 0x45 from the iMessage channel.
    std::fs::write(
        &path,
        routes("otp", "0x45").replace(
            "channels = [\"imessage\", \"sms\"]",
            "channels = [\"imessage\"]",
        ),
    )
    .unwrap();
    wait_for(|| r.router.status().generation >= 2).await;
    let out = smpplib(
        r.plain,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 2, "window": 2, "text": "Your code is 123456"},
        ]),
    )
    .await;
    assert_eq!(count(&out[1], 0x45), 2, "{out:?}");
}

async fn wait_for(mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(2), "not within 2 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t0.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_loses_nothing() {
    let dir = scratch_dir("reload");
    let path = dir.join("routes.toml");
    std::fs::write(&path, routes("v0", "0x45")).unwrap();
    let r = LiveRouter::start(&path).await;
    let addr = r.plain;
    let client = tokio::spawn(smpplib(
        addr,
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": "pw"},
            {"op": "submit", "count": 20000, "window": 100, "text": "Your code is 123456"},
            {"op": "unbind"},
        ]),
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut slowest = Duration::ZERO;
    let mut current = "v0".to_string();
    for k in 1..=50u32 {
        let (text, valid) = if k % 2 == 1 {
            // A valid version, alternating the iMessage outcome so that channels are rebuilt too.
            (
                routes(&format!("v{k}"), if k % 4 == 1 { "ok" } else { "0x45" }),
                true,
            )
        } else if k % 4 == 0 {
            (
                routes(&format!("v{k}"), "0x45")
                    .replace("channels = [\"sms\"]", "channels = [\"ghost\"]"),
                false,
            )
        } else {
            (
                routes(&format!("v{k}"), "0x45").replace(
                    "[[route]]\nname = \"default\"",
                    "[[route]\nname = \"default\"",
                ),
                false,
            )
        };
        let rejected_before = r.router.status().rejected;
        if k % 3 == 0 {
            // An editor's save: write a temporary file, then rename it over the original.
            let tmp = dir.join(".routes.toml.swp");
            std::fs::write(&tmp, &text).unwrap();
            std::fs::rename(&tmp, &path).unwrap();
        } else {
            std::fs::write(&path, &text).unwrap();
        }
        if valid {
            let marker = format!("v{k}");
            slowest =
                slowest.max(wait_for(|| r.router.table().routes[0].spec.name == marker).await);
            current = marker;
        } else {
            wait_for(|| r.router.status().rejected > rejected_before).await;
            let status = r.router.status();
            assert!(!status.errors.is_empty());
            assert!(
                status.errors.iter().all(|e| e.line > 0),
                "{:?}",
                status.errors
            );
            assert_eq!(
                r.router.table().routes[0].spec.name,
                current,
                "the previous table keeps serving"
            );
        }
    }
    let out = client.await.unwrap();
    assert_eq!(
        count(&out[1], 0),
        20000,
        "every message answered ESME_ROK: {out:?}"
    );
    assert_eq!(out[2]["status"], 0);
    let s = r.router.status();
    assert_eq!((s.succeeded >= 26, s.rejected), (true, 25), "{s:?}");
    eprintln!(
        "slowest valid reload took effect in {slowest:?}; client rate {:.0} msg/s",
        out[1]["rate"].as_f64().unwrap()
    );
}

/// A reload that removes an account or changes its password unbinds the sessions already bound
/// with it; the sessions of an account that stayed as it was go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_unbinds_sessions_whose_account_was_revoked() {
    use smpp_router::smpp::pdu::{Bind, Command, Pdu};
    use smpp_router::smpp::{CommandId, CommandStatus};
    use smpp_router_e2e::Raw;

    let file = |acme_password: &str, with_globex: bool| {
        let globex = if with_globex {
            account("globex", "pw", "")
        } else {
            String::new()
        };
        format!(
            "{}{}{globex}\n[[channel]]\nname = \"sms\"\nkind = \"test\"\noutcomes = [\"delivered\"]\n\n[[route]]\nname = \"all\"\nchannels = [\"sms\"]\n",
            account("acme", acme_password, ""),
            account("initech", "pw", ""),
        )
    };
    let dir = scratch_dir("revoke");
    let path = dir.join("routes.toml");
    std::fs::write(&path, file("pw", true)).unwrap();
    let r = LiveRouter::start(&path).await;
    let bind = |id: &'static str| Bind {
        system_id: id.into(),
        password: "pw".into(),
        interface_version: 0x34,
        ..Bind::default()
    };
    let mut sessions = Vec::new();
    for id in ["acme", "globex", "initech"] {
        let mut raw = Raw::connect(r.plain).await;
        raw.send(&Command::new(1, Pdu::BindTransceiver(bind(id))))
            .await;
        assert_eq!(raw.recv().await.unwrap().status, CommandStatus::ROK);
        sessions.push(raw);
    }
    // acme's password changes, globex is removed, initech stays as it was.
    std::fs::write(&path, file("new-password", false)).unwrap();
    wait_for(|| r.router.status().generation >= 2).await;
    // Idle sessions too: the reload wakes them.
    for (raw, revoked) in sessions.iter_mut().zip([true, true, false]) {
        let mut got = Vec::new();
        while let Ok(Some(cmd)) = tokio::time::timeout(Duration::from_millis(500), raw.recv()).await
        {
            got.push(cmd.command_id());
        }
        let expected = if revoked {
            vec![CommandId::UNBIND]
        } else {
            vec![]
        };
        assert_eq!(got, expected, "unbound only when revoked");
    }
    let initech = &mut sessions[2];
    initech.send(&Command::new(2, Pdu::EnquireLink)).await;
    assert_eq!(
        initech.recv().await.unwrap().command_id(),
        CommandId::ENQUIRE_LINK_RESP
    );
}
