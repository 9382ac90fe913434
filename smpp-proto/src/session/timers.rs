//! The session's clocks: pre-bind, inactivity, keep-alive, maximum session and unbind deadlines.
//! Response deadlines live in the window.

use std::time::Instant;

use super::config::{Role, SessionConfig};
use super::event::CloseReason;
use super::matrix::State;

/// What a timer asks the session to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Close the session.
    Close(CloseReason),
    /// Start the unbind handshake (maximum session time).
    Unbind,
    /// Send a keep-alive.
    EnquireLink,
}

/// The instants the timers are measured from.
#[derive(Clone, Debug)]
pub struct Timers {
    opened: Instant,
    last_rx: Instant,
    last_activity: Instant,
    bound_at: Option<Instant>,
    unbind_deadline: Option<Instant>,
    /// Set once the maximum session time is up while answers are owed: the unbind waits for
    /// them until this instant (moved to the past once they are all given).
    unbind_at: Option<Instant>,
}

impl Timers {
    /// Clocks for a connection opened at `now`.
    pub fn new(now: Instant) -> Self {
        Self {
            opened: now,
            last_rx: now,
            last_activity: now,
            bound_at: None,
            unbind_deadline: None,
            unbind_at: None,
        }
    }

    /// Something arrived.
    pub fn received(&mut self, now: Instant) {
        self.last_rx = now;
        self.last_activity = now;
    }

    /// We sent a request.
    pub fn sent(&mut self, now: Instant) {
        self.last_activity = now;
    }

    /// The session bound.
    pub fn bound(&mut self, now: Instant) {
        self.bound_at = Some(now);
        self.last_activity = now;
    }

    /// We answered the peer's unbind: close if it has not closed by `deadline`.
    pub fn unbinding(&mut self, deadline: Instant) {
        self.unbind_deadline = Some(deadline);
    }

    /// The maximum session time is up but answers are owed: unbind once they are given
    /// ([`Timers::answered`]) or at `deadline`, whichever comes first.
    pub fn unbind_when_answered(&mut self, deadline: Instant) {
        self.unbind_at = Some(deadline);
    }

    /// Whether an unbind waits for answers ([`Timers::unbind_when_answered`]).
    pub fn waits_to_unbind(&self) -> bool {
        self.unbind_at.is_some()
    }

    /// Every answer owed is given: a waiting unbind is due now.
    pub fn answered(&mut self) {
        if self.unbind_at.is_some() {
            self.unbind_at = Some(self.opened);
        }
    }

    fn deadlines(
        &self,
        c: &SessionConfig,
        state: State,
        keepalive_pending: bool,
    ) -> [Option<(Instant, Due)>; 5] {
        let bound = matches!(state, State::Bound(_));
        [
            self.unbind_deadline
                .map(|d| (d, Due::Close(CloseReason::Unbound))),
            (c.role == Role::Mc && state == State::Open).then(|| {
                (
                    self.opened + c.bind_timeout,
                    Due::Close(CloseReason::BindTimeout),
                )
            }),
            c.inactivity_timeout
                .map(|t| (self.last_rx + t, Due::Close(CloseReason::Inactivity))),
            c.max_session
                .zip(self.bound_at)
                .filter(|_| bound)
                .map(|(t, at)| (self.unbind_at.unwrap_or(at + t), Due::Unbind)),
            c.enquire_link_interval
                .filter(|_| bound && !keepalive_pending)
                .map(|t| (self.last_activity + t, Due::EnquireLink)),
        ]
    }

    /// The most urgent timer that has fired at `now`, if any.
    pub fn check(&self, now: Instant, c: &SessionConfig, state: State) -> Option<Due> {
        self.deadlines(c, state, false)
            .into_iter()
            .flatten()
            .find(|(at, _)| *at <= now)
            .map(|(_, due)| due)
    }

    /// The next instant a timer fires.
    pub fn next(
        &self,
        c: &SessionConfig,
        state: State,
        keepalive_pending: bool,
    ) -> Option<Instant> {
        self.deadlines(c, state, keepalive_pending)
            .into_iter()
            .flatten()
            .map(|(at, _)| at)
            .min()
    }
}
