//! The failover engine: runs a message through a route's channel plan under its policy and a
//! per-message deadline, keeping the history of every attempt.
//!
//! Rules: a channel that is down is skipped without an attempt; a refusal follows the
//! policy (next at once, retry with backoff then next/stop, or stop); nothing-sent outcomes may be
//! retried; an unknown outcome is never resent to the same channel, and the next channel tries
//! only when the route allows it; the deadline always leaves the client an answer.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::channels::{Attempt, AttemptRecord, Channel, Message};
use crate::config::policy::{Action, Policy, Then, final_status};
use crate::smpp::CommandStatus;
use crate::smpp::values::MessageState;

/// The attempt history in one line for the store and logs:
/// `imessage refused_0x45 51ms; carrier accepted 3ms` (`down` when a channel was skipped).
pub fn describe(history: &[AttemptRecord]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (i, h) in history.iter().enumerate() {
        let outcome = match &h.outcome {
            None => "down".to_string(),
            Some(Attempt::Accepted { .. }) => "accepted".to_string(),
            Some(Attempt::Refused(s)) => format!("refused_0x{:02X}", s.0),
            Some(Attempt::NotSent) => "not_sent".to_string(),
            Some(Attempt::Unknown) => "unknown".to_string(),
        };
        let sep = if i == 0 { "" } else { "; " };
        let _ = write!(
            out,
            "{sep}{} {outcome} {}ms",
            h.channel,
            h.latency.as_millis()
        );
    }
    out
}

/// The result of a whole plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A channel took the message.
    Accepted {
        /// Which channel (name).
        channel: String,
        /// The channel's id for it.
        channel_id: String,
        /// The delivery state, when the channel knew it at once.
        final_state: Option<MessageState>,
    },
    /// Every channel failed; the client gets this status.
    Rejected(CommandStatus),
}

/// Records a channel skipped without an attempt — down, or unable to take the message as it is
/// (its status kept for the answer, `not_for`); whether it was.
fn skipped(
    channel: &dyn Channel,
    message: &Message,
    history: &mut Vec<AttemptRecord>,
    not_for: &mut Option<CommandStatus>,
) -> bool {
    let outcome = if !channel.is_up() {
        None
    } else if let Some(status) = channel.refuses(message) {
        *not_for = not_for.or(Some(status));
        Some(Attempt::Refused(status))
    } else {
        return false;
    };
    history.push(AttemptRecord {
        channel: channel.name().to_string(),
        outcome,
        latency: Duration::ZERO,
    });
    true
}

/// What the policy does after an attempt that did not succeed; the failure's status joins
/// `failures` (an accepted attempt never comes here). An unknown outcome is never retried on
/// the same channel.
fn after_failure(policy: &Policy, outcome: Attempt, failures: &mut Vec<CommandStatus>) -> Action {
    match outcome {
        Attempt::Refused(status) => {
            failures.push(status);
            policy.on_refused(status)
        }
        Attempt::NotSent => {
            failures.push(CommandStatus::RSYSERR);
            policy.not_sent
        }
        Attempt::Unknown | Attempt::Accepted { .. } => {
            failures.push(CommandStatus::RSYSERR);
            match policy.next_after_unknown {
                true => Action::Next,
                false => Action::Stop,
            }
        }
    }
}

/// Runs `message` through `plan` under `policy`, finishing by `deadline`.
pub async fn run(
    plan: &[Arc<dyn Channel>],
    policy: &Policy,
    message: &Message,
    deadline: Instant,
) -> (Verdict, Vec<AttemptRecord>) {
    let mut history = Vec::with_capacity(plan.len());
    let mut failures = Vec::with_capacity(plan.len());
    // The status of a channel that could not take the message at all (see `Channel::refuses`):
    // the client's answer only when no later channel gave one.
    let mut not_for = None;
    'channels: for channel in plan {
        if skipped(channel.as_ref(), message, &mut history, &mut not_for) {
            continue;
        }
        let mut retries_done = 0u32;
        loop {
            let started = Instant::now();
            if started >= deadline {
                break 'channels;
            }
            let outcome = match tokio::time::timeout_at(deadline, channel.submit(message)).await {
                Ok(a) => a,
                // The deadline cut the attempt short: whatever was written has an unknown fate.
                Err(_) => Attempt::Unknown,
            };
            history.push(AttemptRecord {
                channel: channel.name().to_string(),
                outcome: Some(outcome.clone()),
                latency: started.elapsed(),
            });
            if let Attempt::Accepted {
                channel_id,
                final_state,
            } = outcome
            {
                let verdict = Verdict::Accepted {
                    channel: channel.name().to_string(),
                    channel_id,
                    final_state,
                };
                return (verdict, history);
            }
            match after_failure(policy, outcome, &mut failures) {
                Action::Next => continue 'channels,
                Action::Stop => break 'channels,
                Action::Retry {
                    count,
                    backoff,
                    then,
                } => {
                    // Not on a channel that went down meanwhile (a plugin disabled by its
                    // panic, a circuit that opened): its retries would only add the backoffs.
                    if retries_done < count
                        && channel.is_up()
                        && Instant::now() + backoff < deadline
                    {
                        retries_done += 1;
                        tokio::time::sleep(backoff).await;
                        continue;
                    }
                    match then {
                        Then::Next => continue 'channels,
                        Then::Stop => break 'channels,
                    }
                }
            }
        }
    }
    if failures.is_empty() {
        // Every channel was down or could not take it, or the deadline passed before any
        // attempt.
        failures.push(not_for.unwrap_or(CommandStatus::RSYSERR));
    }
    (
        Verdict::Rejected(final_status(policy.final_status, &failures)),
        history,
    )
}

#[cfg(test)]
mod tests;
