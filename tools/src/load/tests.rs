//! The load client against the test MC: a full run with receipts, and the argument checks.

#![allow(clippy::unwrap_used)]

use clap::Parser;

use super::*;
use crate::test_mc::{McOptions, TestMc};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    load: LoadArgs,
}

fn args(extra: &[&str]) -> LoadArgs {
    let argv = std::iter::once("load").chain(extra.iter().copied());
    Cli::try_parse_from(argv).unwrap().load
}

#[tokio::test]
async fn two_sessions_send_2000_and_count_every_receipt() {
    let mc = TestMc::start(McOptions {
        hold: 8,
        receipts: true,
        ..McOptions::default()
    })
    .await;
    let addr = mc.addr();
    let a = args(&[
        "--addr",
        &addr,
        "--count",
        "2000",
        "--window",
        "50",
        "--sessions",
        "2",
        "--registered-delivery",
        "1",
        "--vary-to",
        "--from",
        "MyBank",
    ]);
    let report = run(a).await.unwrap();
    assert_eq!(report.sent, 2000, "{report}");
    assert_eq!(report.responses, 2000, "{report}");
    assert_eq!(report.statuses.get("ESME_ROK"), Some(&2000), "{report}");
    assert_eq!(report.statuses.len(), 1, "{report}");
    assert!(report.errors.is_empty(), "{report}");
    assert_eq!(report.receipts_expected, 2000, "{report}");
    assert_eq!(report.receipts, 2000, "{report}");
    assert!(report.p50_us <= report.p99_us && report.p99_us <= report.max_us);
    let text = report.to_string();
    assert!(text.contains("ESME_ROK 2000"), "{text}");
}

#[tokio::test]
async fn a_duration_run_stops_and_pacing_holds_the_rate() {
    let mc = TestMc::start(McOptions::default()).await;
    let addr = mc.addr();
    let a = args(&[
        "--addr",
        &addr,
        "--duration",
        "300ms",
        "--rate",
        "200",
        "--mode",
        "tx",
    ]);
    let report = run(a).await.unwrap();
    // 200 msg/s for 0.3 s: about 60, never more than the schedule allows.
    assert!((40..=62).contains(&report.sent), "{report}");
    assert_eq!(report.responses, report.sent, "{report}");
    assert_eq!(report.receipts, 0);
}

#[test]
fn arguments_are_checked() {
    assert!(Cli::try_parse_from(["load", "--count", "5", "--duration", "1s"]).is_err());
    let a = args(&["--to", "+1415", "--text", "código 1234"]);
    let plan = a.plan(Instant::now()).unwrap();
    assert_eq!(plan.template.dest.addr.as_ref(), b"1415");
    assert_eq!(plan.template.data_coding, data_coding::UCS2);
    assert_eq!(plan.template.source, Address::default());
    let a = args(&["--from", "14155550100"]);
    assert_eq!(
        a.plan(Instant::now()).unwrap().template.source.ton,
        ton::INTERNATIONAL
    );
    assert!(args(&["--to", "abc"]).plan(Instant::now()).is_err());
    assert!(args(&["--window", "0"]).plan(Instant::now()).is_err());
    assert!(args(&["--tls"]).tls().is_err());
}
