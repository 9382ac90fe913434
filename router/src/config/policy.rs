//! Failover policy: what to do after each kind of failure, and which status the
//! client gets when every channel of the plan failed.

use std::time::Duration;

use crate::smpp::CommandStatus;

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Try the next channel of the plan at once.
    Next,
    /// Retry the same channel up to `count` more times, `backoff` apart, then do `then`.
    Retry {
        /// Extra attempts on the same channel.
        count: u32,
        /// Pause between attempts.
        backoff: Duration,
        /// After the retries: next channel, or stop.
        then: Then,
    },
    /// Stop and answer the client with this failure.
    Stop,
}

/// What follows the retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Then {
    /// The next channel.
    Next,
    /// Stop.
    Stop,
}

/// As written in `routes.toml`: `next`, `stop`, `retry 3 200ms then next`.
impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Next => f.write_str("next"),
            Action::Stop => f.write_str("stop"),
            Action::Retry {
                count,
                backoff,
                then,
            } => {
                let then = match then {
                    Then::Next => "next",
                    Then::Stop => "stop",
                };
                write!(
                    f,
                    "retry {count} {} then {then}",
                    humantime::format_duration(*backoff)
                )
            }
        }
    }
}

/// As written in `routes.toml`: `most_telling`, `first`, `last`.
impl std::fmt::Display for FinalStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FinalStatus::MostTelling => "most_telling",
            FinalStatus::First => "first",
            FinalStatus::Last => "last",
        })
    }
}

/// Which status the client gets when the plan is exhausted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalStatus {
    /// The most telling status of the chain (see [`rank`]).
    MostTelling,
    /// The first failure.
    First,
    /// The last failure.
    Last,
}

/// A route's policy: per-status actions with the design's defaults underneath.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Actions for specific statuses, overriding the defaults.
    pub overrides: Vec<(CommandStatus, Action)>,
    /// After an unknown outcome (written, no answer): whether the next channel may try. A
    /// duplicate OTP is worse than a slow one, so the default is no.
    pub next_after_unknown: bool,
    /// Action when nothing was sent (timeouts with nothing written, connection refused).
    pub not_sent: Action,
    /// The status the client gets when every channel failed.
    pub final_status: FinalStatus,
}

/// The default retry: twice more, 100 ms apart, then the next channel.
pub const DEFAULT_RETRY: Action = Action::Retry {
    count: 2,
    backoff: Duration::from_millis(100),
    then: Then::Next,
};

impl Default for Policy {
    fn default() -> Self {
        Self {
            overrides: Vec::new(),
            next_after_unknown: false,
            not_sent: DEFAULT_RETRY,
            final_status: FinalStatus::MostTelling,
        }
    }
}

impl Policy {
    /// The action after a refusal with `status`.
    pub fn on_refused(&self, status: CommandStatus) -> Action {
        if let Some((_, a)) = self.overrides.iter().find(|(s, _)| *s == status) {
            return *a;
        }
        default_action(status)
    }
}

/// The design's defaults: "no iMessage" fails over at once; throttling, system errors and full
/// queues retry then fail over; invalid numbers, bad lengths and other permanent errors stop.
pub fn default_action(status: CommandStatus) -> Action {
    match status {
        CommandStatus::RSUBMITFAIL => Action::Next,
        CommandStatus::RTHROTTLED | CommandStatus::RSYSERR | CommandStatus::RMSGQFUL => {
            DEFAULT_RETRY
        }
        _ => Action::Stop,
    }
}

/// How much a status tells the client, for [`FinalStatus::MostTelling`]: a permanent verdict on
/// the message beats "no iMessage", which beats throttling, which beats a generic system error.
pub fn rank(status: CommandStatus) -> u8 {
    match status {
        CommandStatus::RSYSERR | CommandStatus::RUNKNOWNERR => 1,
        CommandStatus::RMSGQFUL => 2,
        CommandStatus::RTHROTTLED => 3,
        CommandStatus::RSUBMITFAIL => 4,
        _ => 5,
    }
}

/// The status for the client from the failures of a chain, in order.
pub fn final_status(mode: FinalStatus, failures: &[CommandStatus]) -> CommandStatus {
    let pick = match mode {
        FinalStatus::First => failures.first().copied(),
        FinalStatus::Last => failures.last().copied(),
        // max_by_key keeps the last of equals; rev() makes it the first.
        FinalStatus::MostTelling => failures.iter().rev().copied().max_by_key(|s| rank(*s)),
    };
    pick.unwrap_or(CommandStatus::RSYSERR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design() {
        let p = Policy::default();
        assert_eq!(p.on_refused(CommandStatus::RSUBMITFAIL), Action::Next);
        assert_eq!(p.on_refused(CommandStatus::RTHROTTLED), DEFAULT_RETRY);
        assert_eq!(p.on_refused(CommandStatus::RINVDSTADR), Action::Stop);
        assert_eq!(p.on_refused(CommandStatus::RINVMSGLEN), Action::Stop);
        assert!(!p.next_after_unknown);
    }

    #[test]
    fn most_telling_status() {
        use CommandStatus as S;
        assert_eq!(
            final_status(FinalStatus::MostTelling, &[S::RSUBMITFAIL]),
            S::RSUBMITFAIL
        );
        assert_eq!(
            final_status(FinalStatus::MostTelling, &[S::RSUBMITFAIL, S::RSYSERR]),
            S::RSUBMITFAIL
        );
        assert_eq!(
            final_status(FinalStatus::MostTelling, &[S::RSYSERR, S::RINVDSTADR]),
            S::RINVDSTADR
        );
        assert_eq!(
            final_status(FinalStatus::Last, &[S::RSUBMITFAIL, S::RSYSERR]),
            S::RSYSERR
        );
        assert_eq!(final_status(FinalStatus::MostTelling, &[]), S::RSYSERR);
    }
}
