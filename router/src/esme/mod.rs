//! The async ESME (client) side of SMPP: one connection to an MC, bound and driven by a task.
//!
//! [`connect`] dials (TCP, optionally TLS), binds, and returns once the bind is answered. From
//! then on one tokio task owns the socket and the sans-IO [`Session`](crate::smpp::session::Session):
//! it reads, feeds the session, writes everything the session produced in one write, keeps the
//! timers, and never stops reading while a write is slow. The application talks to it through:
//!
//! - [`EsmeHandle`] (cheap to clone): [`EsmeHandle::submit`] waits for room in the window, sends
//!   and resolves with the response — or with a [`SubmitError`] that says whether the request
//!   may have been written (outcome unknown: never resend) or was never sent (safe to resend);
//! - [`EsmeEvents`]: the MC's requests (`deliver_sm`, `data_sm`, `alert_notification`), each
//!   with a [`Responder`] so that a receipt is acknowledged only once the application has kept
//!   it, then a final [`EsmeEvent::Closed`].
//!
//! Every queue is bounded by the window (ours or the MC's). Dropping every `EsmeHandle` unbinds.
//! The SMS-carrier channel and the `load` command are built on this.

mod driver;
mod error;
mod tls;

use std::sync::Arc;

use crate::session_io::{IoConfig, SessionIo};

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};

pub use error::{ConnectError, Disconnect, SessionGone, SubmitError};
pub use tls::{TlsClientSettings, TlsSetupError};

use crate::quick_ack::QuickAck;
use crate::smpp::pdu::{Bind, Command, Pdu, error_response};
use crate::smpp::session::{BindMode, Role, SendError, SessionConfig};
use crate::smpp::{CommandId, CommandStatus};
use driver::{Life, Op};

/// What the MC said when it accepted the bind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundInfo {
    /// The bind mode.
    pub mode: BindMode,
    /// The negotiated interface version (`0x33`: no TLVs on this session).
    pub interface_version: u8,
    /// The MC's `system_id`.
    pub system_id: Bytes,
}

/// Dials `addr` (`host:port`), optionally over TLS, binds as `mode` with `bind`'s credentials
/// and returns once bound. TCP connect and TLS handshake share `config.bind_timeout`; the bind
/// itself then has the same timeout again. `config.role` is forced to ESME.
pub async fn connect(
    addr: &str,
    tls: Option<TlsClientSettings>,
    mode: BindMode,
    bind: Bind,
    mut config: SessionConfig,
) -> Result<(EsmeHandle, EsmeEvents), ConnectError> {
    config.role = Role::Esme;
    let dial_timeout = config.bind_timeout;
    let dial = async {
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|source| ConnectError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        // Without NODELAY a lone submit_sm waits for the previous segment's ACK.
        let _ = tcp.set_nodelay(true);
        // And without our quick ACKs an MC with Nagle on holds a receipt until the delayed-ACK
        // timer acknowledges its previous answer.
        // SAFETY: `ack` goes to the driver with the stream, which owns it until the task ends.
        let ack = unsafe { QuickAck::of(&tcp) };
        match &tls {
            None => {
                let (rd, wr) = tcp.into_split();
                let io = IoConfig {
                    quick_ack: ack,
                    ..driver::io_config()
                };
                driver::start(SessionIo::new(rd, wr, io), mode, bind, config)
            }
            Some(tls) => {
                let stream = tls.handshake(addr, tcp).await?;
                let (rd, wr) = tokio::io::split(stream);
                let io = IoConfig {
                    quick_ack: ack,
                    flushes: true,
                    ..driver::io_config()
                };
                driver::start(SessionIo::new(rd, wr, io), mode, bind, config)
            }
        }
    };
    let started = tokio::time::timeout(dial_timeout, dial)
        .await
        .map_err(|_| ConnectError::Timeout)??;
    started.bound().await
}

/// Sends requests on a bound session. Clone it freely; the session unbinds when the last clone
/// is dropped.
#[derive(Clone, Debug)]
pub struct EsmeHandle {
    ops: mpsc::Sender<Op>,
    window: Arc<Semaphore>,
    life: watch::Receiver<Life>,
    info: Arc<BoundInfo>,
}

impl EsmeHandle {
    /// Sends a request (normally `submit_sm`) once the window has room, and resolves with the
    /// MC's response — whatever its status; a `generic_nack` is a response too.
    pub async fn submit(&self, pdu: Pdu) -> Result<Command, SubmitError> {
        let id = pdu.command_id();
        if id.is_response() || !id.expects_response() {
            return Err(SubmitError::NotSent(SendError::WrongState(id)));
        }
        let not_sent = SubmitError::Closed { written: false };
        let permit = self
            .window
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| not_sent.clone())?;
        let (reply, response) = oneshot::channel();
        self.ops
            .send(Op::Submit { pdu, reply, permit })
            .await
            .map_err(|_| not_sent)?;
        // The driver vanished without answering (runtime shutdown): assume the worst.
        response
            .await
            .unwrap_or(Err(SubmitError::Closed { written: true }))
    }

    /// Unbinds (waiting for `unbind_resp` up to the unbind timeout) and returns once the
    /// connection is closed. Requests in flight resolve as usual or as closed.
    pub async fn unbind(&self) {
        let _ = self.ops.send(Op::Unbind).await;
        self.closed().await;
    }

    /// Resolves once the connection is closed.
    pub async fn closed(&self) {
        let mut life = self.life.clone();
        let _ = life.wait_for(|l| *l == Life::Closed).await;
    }

    /// Whether the session can no longer send: unbinding or closed.
    pub fn is_closed(&self) -> bool {
        *self.life.borrow() != Life::Bound
    }

    /// What the MC answered to the bind.
    pub fn info(&self) -> &BoundInfo {
        &self.info
    }

    /// Requests that may be sent now without waiting (free room in the window).
    pub fn available(&self) -> usize {
        self.window.available_permits()
    }
}

/// Something the MC sent that the application must see.
// `Closed` comes once per connection; boxing `Request` would allocate for every deliver_sm.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum EsmeEvent {
    /// A request from the MC, to answer through its [`Responder`].
    Request(InboundRequest),
    /// A request from the MC that the session refused for the bind it came on (a receipt on a
    /// transmitter bind): already answered with `status`; for logs and metrics.
    Refused {
        /// The request's id.
        command_id: CommandId,
        /// What it was answered.
        status: CommandStatus,
    },
    /// The connection closed; this is the last event.
    Closed(Disconnect),
}

/// A request from the MC (`deliver_sm`, `data_sm`, `alert_notification`) and the way to answer
/// it.
#[derive(Debug)]
pub struct InboundRequest {
    /// The request as received.
    pub command: Command,
    /// Sends the answer through the session.
    pub reply: Responder,
}

/// Answers one request of the MC. Dropped unanswered, it answers `ESME_RX_T_APPN` (temporary
/// error) so that the MC retries later rather than waiting out its timeout.
#[derive(Debug)]
pub struct Responder {
    ops: mpsc::WeakSender<Op>,
    request: CommandId,
    sequence_number: u32,
    answered: bool,
}

impl Responder {
    fn new(ops: mpsc::WeakSender<Op>, command: &Command) -> Self {
        let request = command.command_id();
        Self {
            ops,
            request,
            sequence_number: command.sequence_number,
            // alert_notification has no response.
            answered: !request.expects_response(),
        }
    }

    /// Whether the request expects an answer (`alert_notification` does not).
    pub fn needs_answer(&self) -> bool {
        !self.answered
    }

    /// Answers with `status` and an empty body (`deliver_sm_resp`, `data_sm_resp`, …).
    pub async fn ack(mut self, status: CommandStatus) -> Result<(), SessionGone> {
        if self.answered {
            return Ok(());
        }
        self.answered = true;
        match error_response(self.request, self.sequence_number, status) {
            Some(answer) => send_op(&self.ops, Op::Respond(answer)).await,
            None => Ok(()),
        }
    }

    /// Answers with `pdu` (the request's `*_resp`) and status `ESME_ROK`.
    pub async fn respond(mut self, pdu: Pdu) -> Result<(), SessionGone> {
        if self.answered {
            return Ok(());
        }
        self.answered = true;
        let answer = Command::new(self.sequence_number, pdu);
        send_op(&self.ops, Op::Respond(answer)).await
    }
}

async fn send_op(ops: &mpsc::WeakSender<Op>, op: Op) -> Result<(), SessionGone> {
    let ops = ops.upgrade().ok_or(SessionGone)?;
    ops.send(op).await.map_err(|_| SessionGone)
}

impl Drop for Responder {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let answer = error_response(self.request, self.sequence_number, CommandStatus::RX_T_APPN);
        if let (Some(ops), Some(answer)) = (self.ops.upgrade(), answer) {
            // The queue has room for every inbound request; if not, the MC's timeout answers.
            let _ = ops.try_send(Op::Respond(answer));
        }
    }
}

/// The MC's requests on one connection, then its end.
#[derive(Debug)]
pub struct EsmeEvents {
    rx: mpsc::Receiver<EsmeEvent>,
}

impl EsmeEvents {
    /// The next event; `None` after [`EsmeEvent::Closed`] has been taken.
    pub async fn recv(&mut self) -> Option<EsmeEvent> {
        self.rx.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<EsmeEvent> {
        self.rx.try_recv().ok()
    }
}
