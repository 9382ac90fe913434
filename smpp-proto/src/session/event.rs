//! What a session tells its driver: [`Event`]s to act on and the [`CloseReason`] when it ends.

use crate::command_id::CommandId;
use crate::frame::FrameError;
use crate::pdu::{Bind, Command};
use crate::status::CommandStatus;

use super::config::BindMode;

/// Something the application must know or decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// MC: a client asks to bind. Answer with `accept_bind` or `reject_bind`.
    BindRequest {
        /// The request's sequence number.
        sequence_number: u32,
        /// The mode asked for.
        mode: BindMode,
        /// Credentials and version.
        bind: Bind,
    },
    /// The session is bound (MC: after `accept_bind`; ESME: on a successful `bind_*_resp`).
    Bound {
        /// The bind mode.
        mode: BindMode,
        /// The negotiated interface version (`0x33` means: no TLVs on this session).
        interface_version: u8,
        /// ESME: the MC's `system_id`; MC: the client's.
        system_id: bytes::Bytes,
    },
    /// ESME: the bind was refused (the session then closes).
    BindRejected {
        /// The status the MC answered with.
        status: CommandStatus,
    },
    /// A request from the peer that the application answers with `respond` (or, for
    /// `alert_notification` and `outbind`, just acts on).
    Request(Command),
    /// The answer to one of our requests (possibly a `generic_nack`).
    Response {
        /// The request it answers.
        request: CommandId,
        /// The response.
        command: Command,
    },
    /// One of our requests got no answer in time: its outcome is unknown.
    Timeout {
        /// The request's id.
        request: CommandId,
        /// Its sequence number.
        sequence_number: u32,
    },
    /// A response matching no request of ours, or a PDU that could not be decoded and gets no
    /// answer: logged and dropped, never answered.
    Stray {
        /// The PDU's id.
        command_id: CommandId,
        /// Its sequence number.
        sequence_number: u32,
        /// Its status.
        status: CommandStatus,
    },
    /// A request of the peer's that the session answered itself with an error because the
    /// session's state does not allow it (`ESME_RINVBNDSTS`, `ESME_RALYBND`): for the
    /// application to log and count, nothing to answer.
    Refused {
        /// The request's id.
        command_id: CommandId,
        /// Its sequence number.
        sequence_number: u32,
        /// The status it was answered with.
        status: CommandStatus,
    },
    /// The unbind handshake finished or the peer unbound: no new requests either way.
    Unbound {
        /// Whether the peer started it.
        by_peer: bool,
    },
    /// The session is over. Flush pending output, then close the connection.
    Closed(CloseReason),
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The unbind handshake completed.
    Unbound,
    /// MC: no bind within the pre-bind timeout; ESME: no bind response in time.
    BindTimeout,
    /// ESME: the MC refused the bind; MC: the application refused it.
    BindRejected(CommandStatus),
    /// Nothing was received within the inactivity timeout.
    Inactivity,
    /// Our `enquire_link` went unanswered: the link is dead.
    LinkDead,
    /// The maximum session time passed and the peer did not finish the unbind.
    SessionExpired,
    /// The byte stream could not be framed (bad `command_length`, or another protocol).
    Framing(FrameError),
    /// The peer closed the connection.
    PeerClosed,
    /// The application closed the session.
    Local,
}
