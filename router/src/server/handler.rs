//! The seam between the SMPP server and whatever decides a message's fate: the routing core
//! implements [`SubmitHandler`]; tests plug in simple handlers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use crate::config::Account;
use crate::phone::Destination;
use crate::smpp::CommandStatus;
use crate::smpp::pdu::Sm;

/// A validated `submit_sm` from a bound client.
#[derive(Clone, Debug)]
pub struct Submission {
    /// The account that sent it.
    pub account: Arc<Account>,
    /// The server-wide id of the session it came on.
    pub session_id: u64,
    /// The PDU as received (TLVs in wire order, for relaying).
    pub sm: Sm,
    /// The destination, validated as E.164.
    pub destination: Destination,
    /// The sender to present: the alphanumeric `source_addr`, else the account's default.
    pub sender: Option<String>,
    /// When the PDU was read.
    pub received_at: Instant,
}

/// What became of a submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted: the client gets `ESME_ROK` with `message_id`; `receipt`, when present, is a
    /// `deliver_sm` to send to the account right after the response (the iMessage channel knows
    /// the delivery state at once).
    Accepted {
        /// The router's message id (at most 64 characters).
        message_id: String,
        /// A receipt to deliver after the response.
        receipt: Option<Box<Sm>>,
    },
    /// Refused with this status.
    Rejected(CommandStatus),
}

/// The future a handler returns.
pub type OutcomeFuture = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// Decides what happens to a valid message. Called once per `submit_sm`, concurrently up to the
/// account's window per session; the future must always finish (the routing core guarantees a
/// per-message deadline).
pub trait SubmitHandler: Send + Sync + 'static {
    /// Handles one submission.
    fn submit(&self, submission: Submission) -> OutcomeFuture;
}
