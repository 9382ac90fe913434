//! The driver's dispatch: operations from the handles into the session, and the session's
//! events out to the waiting submits, the bind and the application's event queue.

use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use super::{Driver, InFlight, Life, Op, now};
use crate::esme::{
    BoundInfo, ConnectError, Disconnect, EsmeEvent, InboundRequest, Responder, SubmitError,
};
use crate::smpp::session::{CloseReason, Event, SendError};

impl<R, W> Driver<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    pub(super) fn apply(&mut self, now: Instant, op: Op) {
        match op {
            Op::Submit { pdu, reply, permit } => {
                if reply.is_closed() {
                    return; // The caller gave up before it was sent.
                }
                match self.session.send(now, pdu) {
                    Ok(seq) => {
                        let f = InFlight {
                            reply,
                            _permit: permit,
                            batch: self.taken + 1,
                            deadline: now + self.response_timeout,
                        };
                        self.in_flight.insert(seq, f);
                    }
                    Err(SendError::Closed) => {
                        let _ = reply.send(Err(SubmitError::Closed { written: false }));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(SubmitError::NotSent(e)));
                    }
                }
            }
            Op::Respond(answer) => {
                if let Err(e) = self.session.respond(answer) {
                    tracing::debug!(error = %e, "answer to the MC not sent");
                }
            }
            Op::Unbind => {
                let _ = self.life.send(Life::Unbinding);
                let _ = self.session.unbind(now);
            }
        }
    }

    pub(super) fn on_event(&mut self, event: Event) {
        match event {
            Event::Bound {
                mode,
                interface_version,
                system_id,
            } => {
                if let Some(tx) = self.bound_tx.take() {
                    let _ = tx.send(Ok(BoundInfo {
                        mode,
                        interface_version,
                        system_id,
                    }));
                }
            }
            Event::BindRejected { status } => {
                if let Some(tx) = self.bound_tx.take() {
                    let _ = tx.send(Err(ConnectError::BindRejected(status)));
                }
            }
            Event::Request(command) => {
                let reply = Responder::new(self.ops_weak.clone(), &command);
                let request = InboundRequest { command, reply };
                self.outbox.push_back(EsmeEvent::Request(request));
            }
            Event::Response { command, .. } => {
                if let Some(f) = self.in_flight.remove(&command.sequence_number) {
                    let _ = f.reply.send(Ok(command));
                }
            }
            Event::Timeout {
                sequence_number, ..
            } => {
                if let Some(f) = self.in_flight.remove(&sequence_number) {
                    // Closing the session ends every pending request as a timeout too.
                    let err = if self.session.is_closed() && now() < f.deadline {
                        SubmitError::Closed {
                            written: f.batch <= self.taken,
                        }
                    } else {
                        SubmitError::Timeout
                    };
                    let _ = f.reply.send(Err(err));
                }
            }
            Event::Stray {
                command_id,
                sequence_number,
                status,
            } => {
                tracing::debug!(%command_id, sequence_number, %status, "stray PDU from the MC dropped");
            }
            Event::Refused {
                command_id, status, ..
            } => self
                .outbox
                .push_back(EsmeEvent::Refused { command_id, status }),
            Event::Unbound { .. } => {
                let _ = self.life.send(Life::Unbinding);
            }
            Event::Closed(reason) => self.on_closed(reason),
            Event::BindRequest { .. } => {}
        }
    }

    pub(super) fn on_closed(&mut self, reason: CloseReason) {
        let why = match self.io.error() {
            Some(kind) => Disconnect::Io(kind),
            None => Disconnect::Session(reason),
        };
        tracing::debug!(reason = %why, "ESME session closed");
        if let Some(tx) = self.bound_tx.take() {
            let _ = tx.send(Err(ConnectError::Closed(why)));
        }
        // Output not yet taken was never written, and the requests in it were told so.
        let mut unsent = BytesMut::new();
        self.session.poll_transmit(&mut unsent);
        let _ = self.life.send(Life::Unbinding);
        self.window.close();
        self.outbox.push_back(EsmeEvent::Closed(why));
    }

    pub(super) fn flush_outbox(&mut self) {
        while let Some(ev) = self.outbox.pop_front() {
            match self.events.try_send(ev) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(ev)) => {
                    self.outbox.push_front(ev);
                    break;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
    }
}
