//! Failover on each status class, asserting the exact sequence of attempts and the final status,
//! on paused time.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::channels::test_channel::{Script, TestChannel};
use crate::config::Account;
use crate::smpp::pdu::Sm;

fn message() -> Message {
    Message {
        id: "1".into(),
        account: Arc::new(Account {
            system_id: "acme".into(),
            password_hash: String::new(),
            bind_modes: [true; 3],
            allowed_cidrs: vec![],
            max_binds: 1,
            tps: 1,
            window: 1,
            default_sender: None,
            language: None,
        }),
        sm: Sm::default(),
        destination: crate::phone::Destination {
            country_code: 1,
            region: *b"US",
            national_number: 4155551234,
            leading_zeros: 0,
        },
        sender: None,
        session: 1,
    }
}

fn ch(name: &str, script: &[Script]) -> Arc<TestChannel> {
    Arc::new(TestChannel::new(
        name,
        script.to_vec(),
        Duration::from_millis(10),
    ))
}

fn steps(h: &[AttemptRecord]) -> Vec<(String, Option<Attempt>)> {
    h.iter()
        .map(|r| (r.channel.clone(), r.outcome.clone()))
        .collect()
}

fn refused(s: CommandStatus) -> Option<Attempt> {
    Some(Attempt::Refused(s))
}

async fn go(plan: &[Arc<TestChannel>], policy: &Policy) -> (Verdict, Vec<AttemptRecord>) {
    let plan: Vec<Arc<dyn Channel>> = plan.iter().map(|c| c.clone() as Arc<dyn Channel>).collect();
    run(
        &plan,
        policy,
        &message(),
        Instant::now() + Duration::from_secs(10),
    )
    .await
}

#[tokio::test(start_paused = true)]
async fn no_imessage_fails_over_at_once() {
    let (a, b) = (
        ch("imessage", &[Script::Refuse(CommandStatus::RSUBMITFAIL)]),
        ch("carrier", &[Script::Ok]),
    );
    let t0 = Instant::now();
    let (v, h) = go(&[a, b], &Policy::default()).await;
    assert_eq!(
        v,
        Verdict::Accepted {
            channel: "carrier".into(),
            channel_id: "carrier-0".into(),
            final_state: None
        }
    );
    assert_eq!(
        steps(&h),
        [
            ("imessage".into(), refused(CommandStatus::RSUBMITFAIL)),
            (
                "carrier".into(),
                Some(Attempt::Accepted {
                    channel_id: "carrier-0".into(),
                    final_state: None
                })
            ),
        ]
    );
    assert_eq!(
        t0.elapsed(),
        Duration::from_millis(20),
        "no pause between the two"
    );
}

#[tokio::test(start_paused = true)]
async fn no_imessage_and_nothing_else_answers_0x45() {
    let (v, h) = go(
        &[ch(
            "imessage",
            &[Script::Refuse(CommandStatus::RSUBMITFAIL)],
        )],
        &Policy::default(),
    )
    .await;
    assert_eq!(v, Verdict::Rejected(CommandStatus::RSUBMITFAIL));
    assert_eq!(h.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn throttling_retries_with_backoff_then_fails_over() {
    let a = ch("imessage", &[Script::Refuse(CommandStatus::RTHROTTLED)]);
    let b = ch("carrier", &[Script::Ok]);
    let t0 = Instant::now();
    let (v, h) = go(&[a.clone(), b], &Policy::default()).await;
    assert!(matches!(v, Verdict::Accepted { ref channel, .. } if channel == "carrier"));
    let names: Vec<&str> = h.iter().map(|r| r.channel.as_str()).collect();
    assert_eq!(names, ["imessage", "imessage", "imessage", "carrier"]);
    assert_eq!(a.calls(), 3);
    // Three 10 ms attempts, two 100 ms backoffs, one 10 ms attempt.
    assert_eq!(t0.elapsed(), Duration::from_millis(240));
}

#[tokio::test(start_paused = true)]
async fn system_errors_and_full_queues_retry_then_next() {
    for status in [CommandStatus::RSYSERR, CommandStatus::RMSGQFUL] {
        let a = ch("a", &[Script::Refuse(status), Script::Ok]);
        let (v, h) = go(&[a, ch("b", &[Script::Ok])], &Policy::default()).await;
        assert!(
            matches!(v, Verdict::Accepted { ref channel, .. } if channel == "a"),
            "{status}"
        );
        assert_eq!(h.len(), 2);
    }
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_stop() {
    for status in [
        CommandStatus::RINVDSTADR,
        CommandStatus::RINVMSGLEN,
        CommandStatus::RINVSRCADR,
    ] {
        let b = ch("carrier", &[Script::Ok]);
        let (v, h) = go(
            &[ch("imessage", &[Script::Refuse(status)]), b.clone()],
            &Policy::default(),
        )
        .await;
        assert_eq!(v, Verdict::Rejected(status));
        assert_eq!(h.len(), 1);
        assert_eq!(b.calls(), 0);
    }
}

#[tokio::test(start_paused = true)]
async fn unknown_outcomes_are_never_resent() {
    let a = ch("imessage", &[Script::Unknown, Script::Ok]);
    let b = ch("carrier", &[Script::Ok]);
    let (v, h) = go(&[a.clone(), b.clone()], &Policy::default()).await;
    assert_eq!(v, Verdict::Rejected(CommandStatus::RSYSERR));
    assert_eq!((a.calls(), b.calls(), h.len()), (1, 0, 1));

    // A route may let the next channel try (but never the same one again).
    let policy = Policy {
        next_after_unknown: true,
        ..Policy::default()
    };
    let a = ch("imessage", &[Script::Unknown, Script::Ok]);
    let (v, _) = go(&[a.clone(), b], &policy).await;
    assert!(matches!(v, Verdict::Accepted { ref channel, .. } if channel == "carrier"));
    assert_eq!(a.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn channels_that_are_down_are_skipped() {
    let a = ch("imessage", &[Script::Ok]);
    a.set_up(false);
    let (v, h) = go(
        &[a.clone(), ch("carrier", &[Script::Ok])],
        &Policy::default(),
    )
    .await;
    assert!(matches!(v, Verdict::Accepted { ref channel, .. } if channel == "carrier"));
    assert_eq!(steps(&h)[0], ("imessage".into(), None));
    assert_eq!(a.calls(), 0);
    // Everything down: a system error, at once.
    let b = ch("carrier", &[Script::Ok]);
    b.set_up(false);
    let (v, _) = go(&[a, b], &Policy::default()).await;
    assert_eq!(v, Verdict::Rejected(CommandStatus::RSYSERR));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_always_leaves_an_answer() {
    let hang = ch("imessage", &[Script::Hang]);
    let t0 = Instant::now();
    let plan: Vec<Arc<dyn Channel>> = vec![hang, ch("carrier", &[Script::Ok])];
    let (v, h) = run(
        &plan,
        &Policy::default(),
        &message(),
        t0 + Duration::from_secs(2),
    )
    .await;
    assert_eq!(v, Verdict::Rejected(CommandStatus::RSYSERR));
    assert_eq!(t0.elapsed(), Duration::from_secs(2));
    assert_eq!(steps(&h), [("imessage".into(), Some(Attempt::Unknown))]);
}

#[tokio::test(start_paused = true)]
async fn a_channel_that_goes_down_is_not_retried() {
    let a = ch("a", &[Script::Down]);
    let t0 = Instant::now();
    let (v, h) = go(&[a.clone(), ch("b", &[Script::Ok])], &Policy::default()).await;
    assert!(matches!(v, Verdict::Accepted { ref channel, .. } if channel == "b"));
    assert_eq!(a.calls(), 1, "no retry on a channel that is down");
    assert_eq!(h.len(), 2);
    // One 10 ms attempt on each, no backoff between.
    assert_eq!(t0.elapsed(), Duration::from_millis(20));
}

#[tokio::test(start_paused = true)]
async fn nothing_sent_is_retried() {
    let a = ch("a", &[Script::NotSent, Script::NotSent, Script::NotSent]);
    let (v, h) = go(&[a.clone(), ch("b", &[Script::Ok])], &Policy::default()).await;
    assert!(matches!(v, Verdict::Accepted { ref channel, .. } if channel == "b"));
    assert_eq!(a.calls(), 3);
    assert_eq!(h.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn per_status_overrides() {
    let policy = Policy {
        overrides: vec![
            (CommandStatus::RSUBMITFAIL, Action::Stop),
            (CommandStatus(0x0400), Action::Next),
        ],
        ..Policy::default()
    };
    let (v, _) = go(
        &[
            ch("a", &[Script::Refuse(CommandStatus::RSUBMITFAIL)]),
            ch("b", &[Script::Ok]),
        ],
        &policy,
    )
    .await;
    assert_eq!(v, Verdict::Rejected(CommandStatus::RSUBMITFAIL));
    let (v, _) = go(
        &[
            ch("a", &[Script::Refuse(CommandStatus(0x0400))]),
            ch("b", &[Script::Ok]),
        ],
        &policy,
    )
    .await;
    assert!(matches!(v, Verdict::Accepted { .. }));
}

#[tokio::test(start_paused = true)]
async fn most_telling_status_of_the_chain() {
    let (v, _) = go(
        &[
            ch("imessage", &[Script::Refuse(CommandStatus::RSUBMITFAIL)]),
            ch("carrier", &[Script::Refuse(CommandStatus::RSYSERR)]),
        ],
        &Policy::default(),
    )
    .await;
    assert_eq!(v, Verdict::Rejected(CommandStatus::RSUBMITFAIL));
}

/// A channel that cannot take any message (as iMessage with a text without a code).
struct NotForMe;

impl Channel for NotForMe {
    fn name(&self) -> &str {
        "imessage"
    }

    fn refuses(&self, _message: &Message) -> Option<CommandStatus> {
        Some(CommandStatus::RINVMSGLEN)
    }

    fn submit(&self, _message: &Message) -> crate::routing::AttemptFuture {
        panic!("a channel that refuses the message gets no attempt")
    }
}

#[tokio::test(start_paused = true)]
async fn a_message_a_channel_cannot_take_goes_to_the_next_without_an_attempt() {
    let policy = Policy::default();
    let deadline = || Instant::now() + Duration::from_secs(10);
    let sms = ch("sms", &[Script::Ok]);
    let plan: Vec<Arc<dyn Channel>> = vec![Arc::new(NotForMe), sms.clone()];
    let (verdict, history) = run(&plan, &policy, &message(), deadline()).await;
    assert!(matches!(verdict, Verdict::Accepted { ref channel, .. } if channel == "sms"));
    assert_eq!(
        steps(&history)[0],
        ("imessage".to_string(), refused(CommandStatus::RINVMSGLEN))
    );
    // Alone, its status is the answer.
    let plan: Vec<Arc<dyn Channel>> = vec![Arc::new(NotForMe)];
    let (verdict, _) = run(&plan, &policy, &message(), deadline()).await;
    assert_eq!(verdict, Verdict::Rejected(CommandStatus::RINVMSGLEN));
    // After it, a channel that failed tells the client what happened there.
    let failing = ch("sms", &[Script::Refuse(CommandStatus::RTHROTTLED); 3]);
    let plan: Vec<Arc<dyn Channel>> = vec![Arc::new(NotForMe), failing];
    let (verdict, _) = run(&plan, &policy, &message(), deadline()).await;
    assert_eq!(verdict, Verdict::Rejected(CommandStatus::RTHROTTLED));
}
