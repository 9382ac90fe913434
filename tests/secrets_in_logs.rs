//! The router's own process, logging at its most verbose, runs OTP traffic through the iMessage
//! channel (delivered, failed over, refused) for a real client; then its log is searched for
//! the OTP code, the API key, the bind password and the full phone numbers. None may appear.

#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

use serde_json::json;
use smpp_router_e2e::{account, count, free_port, scratch_dir, smpplib, wait_listening};
use smpp_router_tools::sim::otpblue::{self, Knobs};

const CODE: &str = "739154";
const KEY: &str = "sekrit-Key-9f3b";
const PASSWORD: &str = "s3cr3tpw";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_codes_keys_passwords_and_numbers_stay_out_of_the_log() {
    let dir = scratch_dir("secrets");
    let (smpp, api) = (free_port(), free_port());
    std::fs::write(
        dir.join("router.toml"),
        format!(
            "[listen]\nplain = \"127.0.0.1:{smpp}\"\ntls = \"off\"\n\
             [log]\nlevel = \"smpp_router=trace,debug\"\n\
             [sim]\notpblue = \"127.0.0.1:{api}\"\notpblue_api_key = \"{KEY}\"\notpblue_latency = \"1ms\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("routes.toml"),
        format!(
            "{}\n[[channel]]\nname = \"imessage\"\nkind = \"imessage\"\nbase_url = \"http://127.0.0.1:{api}\"\napi_key = \"env:OTPBLUE_TEST_KEY\"\n\n\
             [[channel]]\nname = \"sms\"\nkind = \"test\"\noutcomes = [\"delivered\"]\n\n\
             [[route]]\nname = \"otp\"\ncontent = \"(?i)code\"\nchannels = [\"imessage\", \"sms\"]\n\n\
             [[route]]\nname = \"default\"\nchannels = [\"sms\"]\n",
            account("acme", PASSWORD, "tps = 1000")
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_smpp-router-under-test"))
        .args(["run", "--config"])
        .arg(dir.join("router.toml"))
        .env("OTPBLUE_TEST_KEY", KEY)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(&[smpp]).await;

    let knobs = Knobs::default(); // the same share of "no iMessage" as the [sim] default
    let find = |with: bool| {
        (14155551200u64..)
            .map(|n| n.to_string())
            .find(|n| otpblue::has_imessage(&knobs, n) == with)
            .unwrap()
    };
    let (with, without) = (find(true), find(false));
    let otp = format!("Your code is {CODE}");
    let out = smpplib(
        format!("127.0.0.1:{smpp}").parse().unwrap(),
        false,
        json!([
            {"op": "bind", "mode": "trx", "system_id": "acme", "password": PASSWORD},
            {"op": "submit", "count": 2, "to": with, "text": otp, "registered_delivery": 1},
            {"op": "submit", "count": 2, "to": without, "text": otp, "registered_delivery": 1},
            {"op": "submit", "count": 1, "to": with, "text": format!("Not a code: {CODE}0000")},
            {"op": "wait_receipts", "count": 4},
            {"op": "unbind"},
        ]),
    )
    .await;
    // A failed bind, too: passwords of failed binds must not be logged either.
    let bad = smpplib(
        format!("127.0.0.1:{smpp}").parse().unwrap(),
        false,
        json!([{"op": "bind", "mode": "trx", "system_id": "acme", "password": "wr0ngpw"}]),
    )
    .await;

    let (status, log) = smpp_router_e2e::terminate(child);

    assert_eq!(out[0]["status"], 0, "{out:?}\n{log}");
    assert_eq!(
        count(&out[1], 0) + count(&out[2], 0) + count(&out[3], 0),
        5,
        "{out:?}"
    );
    assert_eq!(out[4]["receipts"], 4, "{out:?}");
    assert_ne!(bad[0]["status"], 0, "{bad:?}");
    assert!(
        status.success(),
        "SIGTERM drains and exits 0: {status:?}\n{log}"
    );

    // The log is there and speaks about these messages, with masked numbers...
    assert!(log.contains("delivered over iMessage"), "{log}");
    assert!(log.contains(&with[..4]), "{log}");
    // ...but never carries a secret.
    for secret in [CODE, KEY, PASSWORD, "wr0ngpw", &with, &without] {
        let hit = log.lines().find(|l| l.contains(secret));
        assert!(hit.is_none(), "`{secret}` is in the log: {hit:?}");
    }
}
