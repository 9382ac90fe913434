//! The SMPP session state machine, sans-IO, for both roles.
//!
//! A [`Session`] owns no socket and reads no clock. Its driver feeds it received bytes
//! ([`Session::handle_input`]), the passing of time ([`Session::handle_timeout`]) and the
//! application's actions (`bind`, `send`, `respond`, `unbind`), and drains what it produced:
//! bytes to write ([`Session::poll_transmit`], many PDUs per call), [`Event`]s
//! ([`Session::poll_event`]) and the next instant it needs to be woken
//! ([`Session::poll_timeout`]). That keeps every protocol rule testable on simulated time.
//!
//! The session answers by itself what needs no application decision: `enquire_link`, `unbind`,
//! unknown command ids (`generic_nack`), PDUs in the wrong state, malformed bodies (their own
//! `*_resp` with the specific status) and requests beyond the inbound window.

mod config;
mod event;
mod matrix;
mod timers;
mod window;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

pub use config::{BindMode, Role, SessionConfig, WindowPolicy};
pub use event::{CloseReason, Event};
pub use matrix::State;
pub use window::MAX_SEQUENCE;

use super::command_id::CommandId;
use super::frame::{FrameDecoder, FrameError};
use super::pdu::{Bind, BindResp, Command, Pdu, error_response};
use super::status::CommandStatus;
use super::tlv::{TlvsBuilder, tag};
use super::values::interface_version;
use super::wire::EncodeError;
use matrix::Refusal;
use window::Window;

/// Why the application could not send a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The window of outstanding requests is full; wait for a response.
    #[error("the window is full")]
    WindowFull,
    /// The session's state does not allow this request (not bound, wrong mode, unbinding).
    #[error("{0} is not allowed in this session state")]
    WrongState(CommandId),
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
    /// A field breaks its limit.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// Why an answer could not be sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RespondError {
    /// No request with this sequence number awaits an answer.
    #[error("no request {0} awaits an answer")]
    UnknownRequest(u32),
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
    /// The answer broke a field limit; the peer got `ESME_RSYSERR` instead.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// A bind request the MC application has not decided on yet.
#[derive(Debug)]
struct PendingBind {
    sequence_number: u32,
    mode: BindMode,
    bind: Bind,
}

/// One SMPP session. See the module documentation.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    framer: FrameDecoder,
    window: Window,
    /// Requests received and handed to the application, by sequence number (a count, because
    /// broken peers reuse sequence numbers).
    inbound: crate::fast_map::FastMap<u32, u32>,
    inbound_count: usize,
    out: BytesMut,
    events: VecDeque<Event>,
    version: u8,
    pending_bind: Option<PendingBind>,
    keepalive: Option<u32>,
    timers: timers::Timers,
    /// Our unbind was answered while answers to the peer's requests were still owed: the
    /// session closes once they are given (or at the unbind deadline).
    unbound_owing: bool,
}

impl Session {
    /// A session on a connection that opened at `now`.
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        Self {
            framer: FrameDecoder::new(config.max_pdu_len),
            window: Window::new(config.window),
            state: State::Open,
            inbound: Default::default(),
            inbound_count: 0,
            out: BytesMut::with_capacity(4096),
            events: VecDeque::new(),
            version: config.interface_version,
            pending_bind: None,
            keepalive: None,
            timers: timers::Timers::new(now),
            unbound_owing: false,
            config,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The bind mode, once bound.
    pub fn bind_mode(&self) -> Option<BindMode> {
        match self.state {
            State::Bound(m) => Some(m),
            _ => None,
        }
    }

    /// The negotiated interface version (`0x33`: no TLVs are sent on this session).
    pub fn interface_version(&self) -> u8 {
        self.version
    }

    /// Whether the session has ended; flush [`Session::poll_transmit`] and close the socket.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Our requests awaiting a response.
    pub fn in_flight(&self) -> usize {
        self.window.in_flight()
    }

    /// Whether another request fits in the window.
    pub fn has_room(&self) -> bool {
        self.window.has_room()
    }

    /// The peer's requests awaiting our answer.
    pub fn inbound_in_flight(&self) -> usize {
        self.inbound_count
    }

    /// Changes how many of the peer's requests may await an answer (the MC learns the account's
    /// window only at bind time).
    pub fn set_inbound_window(&mut self, window: usize) {
        self.config.inbound_window = window.max(1);
    }

    /// Starts the sequence counter at `next` (for tests of the wrap at 0x7FFFFFFF).
    pub fn set_next_sequence(&mut self, next: u32) {
        self.window.set_next_sequence(next);
    }

    // ----- inputs -----

    /// Feeds received bytes: every whole frame in `buf` is taken off and processed.
    pub fn handle_input(&mut self, now: Instant, buf: &mut BytesMut) {
        while !self.is_closed() {
            match self.framer.decode(buf) {
                Ok(Some(frame)) => self.handle_frame(now, frame),
                Ok(None) => break,
                Err(e) => {
                    self.on_frame_error(e);
                    buf.clear();
                    break;
                }
            }
        }
    }

    /// The peer closed its side of the connection.
    pub fn handle_eof(&mut self) {
        let reason = if self.state == State::Unbound {
            CloseReason::Unbound
        } else {
            CloseReason::PeerClosed
        };
        self.close(reason);
    }

    /// Processes one whole frame.
    pub fn handle_frame(&mut self, now: Instant, frame: Bytes) {
        if self.is_closed() {
            return;
        }
        self.timers.received(now);
        match Command::decode(frame) {
            Ok(cmd) if cmd.command_id().is_response() => self.on_response(now, cmd),
            Ok(cmd) => self.on_request(now, cmd),
            Err(e) if e.header.command_id.is_response() => self.stray(
                e.header.command_id,
                e.header.sequence_number,
                e.header.command_status,
            ),
            Err(e) => {
                if let Some(answer) =
                    error_response(e.header.command_id, e.header.sequence_number, e.status)
                {
                    self.emit_or_log(&answer);
                }
            }
        }
    }

    fn on_frame_error(&mut self, e: FrameError) {
        if !e.is_foreign() {
            let nack = Command {
                status: CommandStatus::RINVCMDLEN,
                sequence_number: e.sequence_number,
                pdu: Pdu::GenericNack,
            };
            self.emit_or_log(&nack);
        }
        self.close(CloseReason::Framing(e));
    }

    fn on_request(&mut self, now: Instant, cmd: Command) {
        let id = cmd.command_id();
        let seq = cmd.sequence_number;
        if let Pdu::Other { .. } = cmd.pdu {
            return self.answer_status(id, seq, CommandStatus::RINVCMDID);
        }
        if id == CommandId::UNBIND && self.state == State::Unbound {
            // Both sides unbound at once: agree.
            return self.emit_or_log(&Command::new(seq, Pdu::UnbindResp));
        }
        if let Err(refusal) = matrix::check(self.config.role.peer(), self.state, id)
            && !self.takes_delivery_anyway(id)
        {
            let status = match refusal {
                Refusal::AlreadyBound => CommandStatus::RALYBND,
                Refusal::WrongState => CommandStatus::RINVBNDSTS,
            };
            self.events.push_back(Event::Refused {
                command_id: id,
                sequence_number: seq,
                status,
            });
            return self.answer_status(id, seq, status);
        }
        match cmd.pdu {
            Pdu::EnquireLink => self.emit_or_log(&Command::new(seq, Pdu::EnquireLinkResp)),
            Pdu::Unbind => {
                self.emit_or_log(&Command::new(seq, Pdu::UnbindResp));
                self.state = State::Unbound;
                self.timers.unbinding(now + self.config.unbind_timeout);
                self.events.push_back(Event::Unbound { by_peer: true });
            }
            Pdu::BindTransmitter(bind) => self.on_bind(seq, BindMode::Transmitter, bind),
            Pdu::BindReceiver(bind) => self.on_bind(seq, BindMode::Receiver, bind),
            Pdu::BindTransceiver(bind) => self.on_bind(seq, BindMode::Transceiver, bind),
            Pdu::AlertNotification(_) | Pdu::Outbind(_) => {
                self.events.push_back(Event::Request(cmd))
            }
            _ if self.inbound_count >= self.config.inbound_window => {
                let status = match self.config.window_policy {
                    WindowPolicy::QueueFull => CommandStatus::RMSGQFUL,
                    WindowPolicy::Throttled => CommandStatus::RTHROTTLED,
                };
                self.answer_status(id, seq, status);
            }
            _ => {
                *self.inbound.entry(seq).or_insert(0) += 1;
                self.inbound_count += 1;
                self.events.push_back(Event::Request(cmd));
            }
        }
    }

    /// ESME with `deliveries_on_any_bind`: the MC's `deliver_sm` / `data_sm` on a transmitter
    /// bind is taken as on a receiver.
    fn takes_delivery_anyway(&self, id: CommandId) -> bool {
        self.config.deliveries_on_any_bind
            && self.config.role == Role::Esme
            && self.state == State::Bound(BindMode::Transmitter)
            && matches!(id, CommandId::DELIVER_SM | CommandId::DATA_SM)
    }

    fn on_bind(&mut self, seq: u32, mode: BindMode, bind: Bind) {
        if self.pending_bind.is_some() {
            return self.answer_status(bind_id(mode), seq, CommandStatus::RALYBND);
        }
        self.events.push_back(Event::BindRequest {
            sequence_number: seq,
            mode,
            bind: bind.clone(),
        });
        self.pending_bind = Some(PendingBind {
            sequence_number: seq,
            mode,
            bind,
        });
    }

    fn on_response(&mut self, now: Instant, cmd: Command) {
        let seq = cmd.sequence_number;
        let Some(pending) = self.window.close(seq, cmd.command_id()) else {
            return self.stray(cmd.command_id(), seq, cmd.status);
        };
        if pending.internal && self.keepalive == Some(seq) {
            self.keepalive = None;
            return;
        }
        match (pending.command_id, self.state) {
            (CommandId::UNBIND, _) => {
                self.events.push_back(Event::Unbound { by_peer: false });
                if self.inbound_count == 0 {
                    self.close(CloseReason::Unbound);
                } else {
                    // Answers are still owed: they go out first.
                    self.unbound_owing = true;
                    self.timers.unbinding(now + self.config.unbind_timeout);
                }
            }
            (_, State::Binding(mode)) if is_bind(pending.command_id) => {
                self.on_bind_resp(now, mode, cmd)
            }
            (request, _) => self.events.push_back(Event::Response {
                request,
                command: cmd,
            }),
        }
    }

    fn on_bind_resp(&mut self, now: Instant, mode: BindMode, cmd: Command) {
        if !cmd.status.is_ok() {
            self.events
                .push_back(Event::BindRejected { status: cmd.status });
            return self.close(CloseReason::BindRejected(cmd.status));
        }
        let (system_id, tlvs) = match cmd.pdu {
            Pdu::BindTransmitterResp(r)
            | Pdu::BindReceiverResp(r)
            | Pdu::BindTransceiverResp(r) => (r.system_id, r.tlvs),
            _ => Default::default(),
        };
        // No sc_interface_version means a v3.3 MC: send it no TLVs.
        self.version = match tlvs.sc_interface_version() {
            Some(v) => v.min(self.config.interface_version),
            None => interface_version::V33,
        };
        self.state = State::Bound(mode);
        self.timers.bound(now);
        self.events.push_back(Event::Bound {
            mode,
            interface_version: self.version,
            system_id,
        });
    }

    /// Processes the passing of time: response timeouts, keep-alive, inactivity, session length.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((seq, p)) = self.window.pop_expired(now) {
            match p.command_id {
                _ if p.internal && self.keepalive == Some(seq) => {
                    return self.close(CloseReason::LinkDead);
                }
                CommandId::UNBIND => return self.close(CloseReason::Unbound),
                id if is_bind(id) => return self.close(CloseReason::BindTimeout),
                request => self.events.push_back(Event::Timeout {
                    request,
                    sequence_number: seq,
                }),
            }
        }
        if self.is_closed() {
            return;
        }
        match self.timers.check(now, &self.config, self.state) {
            Some(timers::Due::Close(reason)) => self.close(reason),
            // The maximum session time is up. Answers owed go out first (a bounded wait), so
            // that a client is not left without the answers to its last messages.
            Some(timers::Due::Unbind)
                if self.inbound_count > 0 && !self.timers.waits_to_unbind() =>
            {
                self.timers
                    .unbind_when_answered(now + self.config.unbind_timeout);
            }
            Some(timers::Due::Unbind) => {
                let _ = self.unbind(now);
            }
            Some(timers::Due::EnquireLink) if self.keepalive.is_none() => {
                let deadline = now + self.config.response_timeout;
                let seq = self.window.open(CommandId::ENQUIRE_LINK, deadline, true);
                self.keepalive = Some(seq);
                self.emit_or_log(&Command::new(seq, Pdu::EnquireLink));
                self.timers.sent(now);
            }
            _ => {}
        }
    }

    // ----- application actions -----

    /// ESME: sends a bind request.
    pub fn bind(&mut self, now: Instant, mode: BindMode, mut bind: Bind) -> Result<u32, SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let id = bind_id(mode);
        if matrix::check(self.config.role, self.state, id).is_err() {
            return Err(SendError::WrongState(id));
        }
        bind.interface_version = self.config.interface_version;
        let pdu = match mode {
            BindMode::Transmitter => Pdu::BindTransmitter(bind),
            BindMode::Receiver => Pdu::BindReceiver(bind),
            BindMode::Transceiver => Pdu::BindTransceiver(bind),
        };
        let seq = self.window.open(id, now + self.config.bind_timeout, true);
        self.emit(&Command::new(seq, pdu))?;
        self.state = State::Binding(mode);
        self.timers.sent(now);
        Ok(seq)
    }

    /// MC: accepts the pending bind, answering with our `system_id` (and `sc_interface_version`
    /// for v3.4+ clients).
    pub fn accept_bind(&mut self, now: Instant, system_id: &[u8]) -> Result<(), RespondError> {
        let Some(p) = self.pending_bind.take() else {
            return Err(RespondError::UnknownRequest(0));
        };
        let asked = p.bind.interface_version;
        self.version = if asked < interface_version::V34 {
            interface_version::V33
        } else {
            asked.min(self.config.interface_version)
        };
        let mut tlvs = TlvsBuilder::new();
        if asked >= interface_version::V34 {
            tlvs.push_u8(tag::SC_INTERFACE_VERSION, self.version);
        }
        let body = BindResp {
            system_id: Bytes::copy_from_slice(system_id),
            tlvs: tlvs.build(),
        };
        let pdu = match p.mode {
            BindMode::Transmitter => Pdu::BindTransmitterResp(body),
            BindMode::Receiver => Pdu::BindReceiverResp(body),
            BindMode::Transceiver => Pdu::BindTransceiverResp(body),
        };
        self.emit(&Command::new(p.sequence_number, pdu))?;
        self.state = State::Bound(p.mode);
        self.timers.bound(now);
        self.events.push_back(Event::Bound {
            mode: p.mode,
            interface_version: self.version,
            system_id: p.bind.system_id,
        });
        Ok(())
    }

    /// MC: refuses the pending bind with `status`; the session then closes.
    pub fn reject_bind(&mut self, status: CommandStatus) {
        if let Some(p) = self.pending_bind.take() {
            self.answer_status(bind_id(p.mode), p.sequence_number, status);
        }
        self.close(CloseReason::BindRejected(status));
    }

    /// Sends a request (`submit_sm`, `deliver_sm`, …) and returns its sequence number. The answer
    /// arrives as [`Event::Response`] or [`Event::Timeout`].
    pub fn send(&mut self, now: Instant, pdu: Pdu) -> Result<u32, SendError> {
        if self.is_closed() {
            return Err(SendError::Closed);
        }
        let id = pdu.command_id();
        if id.is_response() || matrix::check(self.config.role, self.state, id).is_err() {
            return Err(SendError::WrongState(id));
        }
        if id.expects_response() && !self.window.has_room() {
            return Err(SendError::WindowFull);
        }
        let deadline = now + self.config.response_timeout;
        let seq = self.window.open(id, deadline, false);
        if let Err(e) = self.emit(&Command::new(seq, pdu)) {
            self.window.close(seq, CommandId::GENERIC_NACK);
            return Err(e.into());
        }
        if !id.expects_response() {
            self.window.close(seq, CommandId::GENERIC_NACK);
        }
        self.timers.sent(now);
        Ok(seq)
    }

    /// Answers the peer's request `sequence_number` (from [`Event::Request`]). If the answer
    /// breaks a field limit the peer gets `ESME_RSYSERR` instead, so it is never left waiting.
    pub fn respond(&mut self, response: Command) -> Result<(), RespondError> {
        if self.is_closed() {
            return Err(RespondError::Closed);
        }
        let seq = response.sequence_number;
        let Some(count) = self.inbound.get_mut(&seq) else {
            return Err(RespondError::UnknownRequest(seq));
        };
        *count -= 1;
        if *count == 0 {
            self.inbound.remove(&seq);
        }
        self.inbound_count -= 1;
        let sent = self.emit(&response);
        if sent.is_err() {
            let request = CommandId(response.command_id().0 & !CommandId::RESPONSE_BIT);
            self.answer_status(request, seq, CommandStatus::RSYSERR);
        }
        if self.inbound_count == 0 {
            self.timers.answered();
            if self.unbound_owing {
                self.close(CloseReason::Unbound);
            }
        }
        sent.map_err(Into::into)
    }

    /// Starts the unbind handshake (or closes at once when not bound).
    pub fn unbind(&mut self, now: Instant) -> Result<(), SendError> {
        if !matches!(self.state, State::Bound(_)) {
            self.close(CloseReason::Local);
            return Ok(());
        }
        let seq = self
            .window
            .open(CommandId::UNBIND, now + self.config.unbind_timeout, true);
        self.emit(&Command::new(seq, Pdu::Unbind))?;
        self.state = State::Unbound;
        Ok(())
    }

    /// Closes the session at once (pending requests end as [`Event::Timeout`]).
    pub fn close_now(&mut self) {
        self.close(CloseReason::Local);
    }

    // ----- outputs -----

    /// Whether there is output to write (see [`Session::poll_transmit`]).
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Moves everything to write into `buf` (swapping buffers when `buf` is empty, so no copy).
    /// Returns whether anything was added.
    pub fn poll_transmit(&mut self, buf: &mut BytesMut) -> bool {
        if self.out.is_empty() {
            return false;
        }
        if buf.is_empty() {
            std::mem::swap(buf, &mut self.out);
        } else {
            buf.extend_from_slice(&self.out);
            self.out.clear();
        }
        true
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let timers = self
            .timers
            .next(&self.config, self.state, self.keepalive.is_some());
        match (timers, self.window.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ----- helpers -----

    fn emit(&mut self, cmd: &Command) -> Result<(), EncodeError> {
        if self.version < interface_version::V34 && cmd.pdu.has_tlvs() {
            let mut stripped = cmd.clone();
            // What the TLVs carry moves into the fields first where it fits (a receipt's text
            // in message_payload, SAR): a v3.3 peer would otherwise get an empty message.
            if let Pdu::SubmitSm(sm) | Pdu::DeliverSm(sm) = &mut stripped.pdu {
                let _ = super::downgrade::to_v33(sm);
            }
            stripped.pdu.clear_tlvs();
            return stripped.encode(&mut self.out);
        }
        cmd.encode(&mut self.out)
    }

    /// Emits a command the session built itself; such commands always encode.
    fn emit_or_log(&mut self, cmd: &Command) {
        if self.emit(cmd).is_err() {
            // Only header-only or empty-bodied answers come here, which cannot break a limit.
            debug_assert!(false, "a session-built PDU failed to encode");
        }
    }

    fn answer_status(&mut self, request: CommandId, seq: u32, status: CommandStatus) {
        if let Some(answer) = error_response(request, seq, status) {
            self.emit_or_log(&answer);
        }
    }

    fn stray(&mut self, command_id: CommandId, sequence_number: u32, status: CommandStatus) {
        self.events.push_back(Event::Stray {
            command_id,
            sequence_number,
            status,
        });
    }

    fn close(&mut self, reason: CloseReason) {
        if self.is_closed() {
            return;
        }
        self.state = State::Closed;
        let abandoned: Vec<_> = self.window.drain().collect();
        for (seq, p) in abandoned {
            if !p.internal {
                self.events.push_back(Event::Timeout {
                    request: p.command_id,
                    sequence_number: seq,
                });
            }
        }
        self.events.push_back(Event::Closed(reason));
    }
}

fn is_bind(id: CommandId) -> bool {
    matches!(
        id,
        CommandId::BIND_TRANSMITTER | CommandId::BIND_RECEIVER | CommandId::BIND_TRANSCEIVER
    )
}

fn bind_id(mode: BindMode) -> CommandId {
    match mode {
        BindMode::Transmitter => CommandId::BIND_TRANSMITTER,
        BindMode::Receiver => CommandId::BIND_RECEIVER,
        BindMode::Transceiver => CommandId::BIND_TRANSCEIVER,
    }
}
