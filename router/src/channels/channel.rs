//! The one interface every channel implements — the built-in iMessage channel, SMPP carriers and
//! plugins alike: submit a message, get back an accepted id or a typed failure that says whether
//! anything reached the channel.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Account;
use crate::phone::Destination;
use crate::smpp::CommandStatus;
use crate::smpp::pdu::Sm;
use crate::smpp::values::MessageState;

/// A message as channels see it.
#[derive(Clone, Debug)]
pub struct Message {
    /// The router's id for it.
    pub id: String,
    /// The sending account.
    pub account: Arc<Account>,
    /// The client's `submit_sm`, TLVs in wire order.
    pub sm: Sm,
    /// The validated destination.
    pub destination: Destination,
    /// The sender to present.
    pub sender: Option<String>,
    /// The server-wide id of the client session it came on.
    pub session: u64,
}

/// What a channel made of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Accepted; `channel_id` is the channel's own id for the message. `final_state` is set when
    /// the channel knows the delivery outcome at once (iMessage), so a receipt follows at once.
    Accepted {
        /// The channel's id.
        channel_id: String,
        /// The delivery state, when already known.
        final_state: Option<MessageState>,
    },
    /// The channel answered with a refusal: a definite outcome, safe to fail over from.
    Refused(CommandStatus),
    /// Nothing was sent (not connected, window full, connection refused): safe to retry.
    NotSent,
    /// The request was written but no answer came: the outcome is unknown, and the message must
    /// never be resent to this channel.
    Unknown,
}

/// One step of a message's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// The channel's name.
    pub channel: String,
    /// What happened; `None` when the channel was down and skipped.
    pub outcome: Option<Attempt>,
    /// How long the attempt took.
    pub latency: Duration,
}

impl AttemptRecord {
    /// The channel and the outcome, as the counters take them.
    pub fn counted(&self) -> (&str, crate::metrics::Outcome) {
        use crate::metrics::Outcome;
        let outcome = match &self.outcome {
            None => Outcome::Down,
            Some(Attempt::Accepted { .. }) => Outcome::Accepted,
            Some(Attempt::Refused(status)) => Outcome::Refused(status.0),
            Some(Attempt::NotSent) => Outcome::NotSent,
            Some(Attempt::Unknown) => Outcome::Unknown,
        };
        (&self.channel, outcome)
    }
}

/// The future of an attempt.
pub type AttemptFuture = Pin<Box<dyn Future<Output = Attempt> + Send + 'static>>;

/// A delivery channel.
pub trait Channel: Send + Sync + 'static {
    /// The channel's name in `routes.toml`.
    fn name(&self) -> &str;
    /// Whether the channel can take messages now (bound, circuit closed); a channel that is down
    /// is skipped without an attempt.
    fn is_up(&self) -> bool {
        true
    }
    /// Whether the router builds this channel's receipts from an id and a state (plugins), and
    /// so must keep the message's addresses with its record.
    fn builds_receipts(&self) -> bool {
        false
    }
    /// Whether the channel can carry one part of a concatenated message (an SMS carrier can;
    /// iMessage, where an OTP is one whole text, cannot): parts skip the channels that cannot.
    fn carries_parts(&self) -> bool {
        true
    }
    /// Whether the channel cannot take `message` at all, as it is (iMessage: no code in the
    /// text), and with which status: the message then goes to the next channel without an
    /// attempt here, and the client gets this status only when no later channel answers.
    fn refuses(&self, _message: &Message) -> Option<CommandStatus> {
        None
    }
    /// One attempt to hand over `message`.
    fn submit(&self, message: &Message) -> AttemptFuture;
    /// Ends the channel's sessions cleanly for a shutdown (an SMPP carrier's binds send
    /// `unbind`); resolves once they have ended. Nothing is sent through it afterwards.
    fn stop(&self) -> StopFuture {
        Box::pin(std::future::ready(()))
    }
}

/// The future of [`Channel::stop`].
pub type StopFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
