//! The errors of the ESME client, each saying which side it came from and whether the request
//! may have reached the MC — the one fact a router needs before it resends anything.

use std::fmt;

use crate::smpp::CommandStatus;
use crate::smpp::session::{CloseReason, SendError};

use super::tls::TlsSetupError;

/// Why a connection ended: the session's own reason, or the socket failing under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disconnect {
    /// The session closed (unbind, peer closed, link dead, framing error, …).
    Session(CloseReason),
    /// Reading or writing the socket failed.
    Io(std::io::ErrorKind),
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Session(CloseReason::BindRejected(s)) => write!(f, "bind rejected: {s}"),
            Self::Session(CloseReason::Framing(e)) => write!(f, "framing error: {e}"),
            Self::Session(reason) => write!(f, "{reason:?}"),
            Self::Io(kind) => write!(f, "I/O error: {kind}"),
        }
    }
}

/// Why [`super::connect`] failed. Only [`ConnectError::BindRejected`] comes from the MC's
/// decision; everything else is the network or this side.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The TCP connection could not be made.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The address dialled.
        addr: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// TCP connect and TLS handshake did not finish within the bind timeout.
    #[error("connecting timed out")]
    Timeout,
    /// The TLS settings do not fit this address (a host that is no valid server name).
    #[error(transparent)]
    TlsSetup(#[from] TlsSetupError),
    /// The TLS handshake failed (bad certificate, protocol mismatch, …).
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    /// The MC answered the bind with an error status.
    #[error("the MC refused the bind: {0}")]
    BindRejected(CommandStatus),
    /// The bind request could not be sent (a credential field is too long).
    #[error("the bind could not be sent: {0}")]
    Bind(SendError),
    /// The connection ended before the bind completed (including no answer in time).
    #[error("the connection closed before the bind completed: {0}")]
    Closed(Disconnect),
}

impl ConnectError {
    /// Whether trying again later can help: not for a refused bind or a bad local setting.
    pub fn is_retryable(&self) -> bool {
        !matches!(
            self,
            Self::BindRejected(_) | Self::Bind(_) | Self::TlsSetup(_)
        )
    }
}

/// Why a request got no response. [`SubmitError::written`] tells "never sent" (safe to send
/// again, here or elsewhere) from "sent, no answer" (outcome unknown: do not resend).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The request was written and no response came within the response timeout.
    #[error("no response in time (outcome unknown)")]
    Timeout,
    /// The session ended before a response came.
    #[error("the session closed before a response ({})", if *written { "outcome unknown" } else { "never sent" })]
    Closed {
        /// Whether the request may have reached the socket.
        written: bool,
    },
    /// The session refused the request before sending it (wrong bind state or mode, a field
    /// over its limit).
    #[error("not sent: {0}")]
    NotSent(SendError),
}

impl SubmitError {
    /// Whether the request may have reached the MC, so its outcome is unknown.
    pub fn written(&self) -> bool {
        matches!(self, Self::Timeout | Self::Closed { written: true })
    }

    /// Whether sending it again cannot make a duplicate: it was never written.
    pub fn safe_to_resend(&self) -> bool {
        !self.written()
    }
}

/// A response could not be sent because the session is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the session is closed; the MC will retry its request")]
pub struct SessionGone;
