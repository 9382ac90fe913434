//! The IO side of driving an SMPP [`Session`] over a stream: one implementation for every loop
//! that drives one — the server's client connections, the carrier binds (`esme`), and the tools'
//! stand-in carrier, test message centre and example sink.
//!
//! A loop keeps its own `select!` for what it alone waits on (submissions, deliveries, handles)
//! and adds one arm, `ev = io.next(read) => io.apply(ev, &mut session, now)`, for the stream and
//! the session's timer. This module owns what is easy to get wrong once and wrong everywhere:
//!
//! - reading with backpressure (the caller says whether to read; buffers grow in chunks);
//! - writing what the session gave, and **flushing** once it is all written when the stream
//!   buffers writes (TLS: a write can be accepted while its encrypted bytes still wait in the
//!   TLS layer for the socket; without a flush they would wait for the next write);
//! - a read or write error or end of stream is the session's end of stream (the first error's
//!   kind is kept);
//! - the session's timer, re-armed only when an earlier deadline comes (firing early is
//!   harmless), and once the session is closed a linger for the last bytes, after which they
//!   are given up;
//! - quick ACKs for peers with Nagle on ([`crate::quick_ack`]).
//!
//! No task and no allocation per PDU: the buffers are reused, the timer is one per stream.

use std::io;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Sleep;

use crate::quick_ack::{QuickAck, Unacked};
use crate::smpp::session::Session;

/// How a stream is driven.
#[derive(Clone, Copy, Debug)]
pub struct IoConfig {
    /// The read buffer grows by this much when it runs low.
    pub read_chunk: usize,
    /// How long the last bytes may take to go out once the session is closed.
    pub linger: Duration,
    /// Whether the stream buffers writes of its own (TLS): it is then flushed once everything
    /// is written. A plain TCP stream needs no flush.
    pub flushes: bool,
    /// Quick ACKs on this stream's socket ([`QuickAck::none`] for none).
    pub quick_ack: QuickAck,
    /// Whether reading goes before writing when both can go on: the server's connections read
    /// every input ready before they write, so that one write carries many answers. Otherwise
    /// the two take turns at random, so that a peer that keeps sending never holds our writes
    /// back (a carrier's receipts and our submits on one bind).
    pub reads_first: bool,
}

impl Default for IoConfig {
    fn default() -> Self {
        Self {
            read_chunk: 64 * 1024,
            linger: Duration::from_secs(2),
            flushes: false,
            quick_ack: QuickAck::none(),
            reads_first: false,
        }
    }
}

/// What happened on the stream or its timer: hand it to [`SessionIo::apply`].
#[derive(Debug)]
pub enum IoEvent {
    /// A read ended.
    Read(io::Result<usize>),
    /// A write ended.
    Written(io::Result<usize>),
    /// A flush ended.
    Flushed(io::Result<()>),
    /// The timer fired.
    Timer,
}

/// A stream's two halves, its buffers and the session's timer.
pub struct SessionIo<R, W> {
    rd: R,
    wr: W,
    /// Bytes read and not yet taken by the session.
    pub rbuf: BytesMut,
    /// Bytes the session gave and not yet written.
    pub wbuf: BytesMut,
    config: IoConfig,
    timer: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    linger: Option<Instant>,
    flush_owed: bool,
    unacked: Unacked,
    error: Option<io::ErrorKind>,
}

impl<R, W> SessionIo<R, W>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    /// Drives `rd` and `wr`.
    pub fn new(rd: R, wr: W, config: IoConfig) -> Self {
        Self {
            rd,
            wr,
            rbuf: BytesMut::with_capacity(config.read_chunk),
            wbuf: BytesMut::with_capacity(config.read_chunk),
            config,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: None,
            linger: None,
            flush_owed: false,
            unacked: Unacked::new(config.quick_ack),
            error: None,
        }
    }

    /// Takes the session's output into the write buffer; whether there was any. A read that
    /// leaves nothing to write is acknowledged at once (see [`crate::quick_ack`]).
    pub fn take_output(&mut self, session: &mut Session) -> bool {
        let took = session.poll_transmit(&mut self.wbuf);
        self.unacked.settle(!self.wbuf.is_empty());
        took
    }

    /// Whether everything is done: the session closed, and its last bytes written (or given up).
    pub fn finished(&self, session: &Session) -> bool {
        session.is_closed() && self.wbuf.is_empty() && !self.flush_owed
    }

    /// Arms the timer for the session's next deadline, or `also` when that comes first; once
    /// the session is closed, for the end of the linger.
    pub fn arm(&mut self, session: &mut Session, also: Option<Instant>) {
        let want = if session.is_closed() {
            Some(
                *self
                    .linger
                    .get_or_insert_with(|| now() + self.config.linger),
            )
        } else {
            match (session.poll_timeout(), also) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        match want {
            None => self.armed = None,
            Some(w) if self.armed.is_none_or(|a| w < a) => {
                self.timer.as_mut().reset(tokio::time::Instant::from_std(w));
                self.armed = Some(w);
            }
            Some(_) => {}
        }
    }

    /// The next event of the stream or the timer: the timer, a read (only when `read`), the
    /// write of what waits, or the flush owed once it is all written. Borrows only the IO, so
    /// that it can be one arm of the caller's `select!`; pending while there is nothing to do.
    pub async fn next(&mut self, read: bool) -> IoEvent {
        if read && self.rbuf.capacity() - self.rbuf.len() < self.config.read_chunk / 4 {
            self.rbuf.reserve(self.config.read_chunk);
        }
        let write = !self.wbuf.is_empty();
        let flush = !write && self.flush_owed;
        let reads_first = self.config.reads_first;
        let Self {
            rd,
            wr,
            rbuf,
            wbuf,
            timer,
            armed,
            ..
        } = self;
        let out = async move {
            match write {
                true => IoEvent::Written(wr.write_buf(wbuf).await),
                false => IoEvent::Flushed(wr.flush().await),
            }
        };
        macro_rules! wait {
            ($($biased:ident;)?) => {
                tokio::select! {
                    $($biased;)?
                    () = timer, if armed.is_some() => IoEvent::Timer,
                    r = rd.read_buf(rbuf), if read => IoEvent::Read(r),
                    event = out, if write || flush => event,
                    else => std::future::pending().await,
                }
            };
        }
        match reads_first {
            true => wait!(biased;),
            false => wait!(),
        }
    }

    /// Writes what waits if the stream takes it without waiting; whether the write finished
    /// (written, or failed: the session then has its end of stream).
    pub fn write_now(&mut self, session: &mut Session) -> bool {
        match self.wr.write_buf(&mut self.wbuf).now_or_never() {
            Some(r) => {
                self.apply(IoEvent::Written(r), session, now());
                true
            }
            None => false,
        }
    }

    /// Hands `event` to the session: input read, the end of the stream, a failed write, the
    /// timer (the session's deadlines; once closed, the end of the linger gives up the last
    /// bytes).
    pub fn apply(&mut self, event: IoEvent, session: &mut Session, now: Instant) {
        match event {
            IoEvent::Read(Ok(0)) => session.handle_eof(),
            IoEvent::Read(Ok(_)) => {
                self.unacked.read();
                session.handle_input(now, &mut self.rbuf);
            }
            // What waits to be written still goes out until the linger ends (a TLS peer that
            // closes without close_notify still gets its last answers if it reads them).
            IoEvent::Read(Err(e)) => {
                self.error.get_or_insert(e.kind());
                session.handle_eof();
            }
            IoEvent::Written(Ok(0)) => self.fail(io::ErrorKind::WriteZero, session),
            IoEvent::Written(Ok(_)) => self.flush_owed = self.config.flushes,
            IoEvent::Written(Err(e)) | IoEvent::Flushed(Err(e)) => self.fail(e.kind(), session),
            IoEvent::Flushed(Ok(())) => self.flush_owed = false,
            IoEvent::Timer => {
                self.armed = None;
                if !session.is_closed() {
                    session.handle_timeout(now);
                } else if self.linger.is_some_and(|l| now >= l) {
                    // The peer stopped reading: give up the last bytes.
                    self.wbuf.clear();
                    self.flush_owed = false;
                }
            }
        }
    }

    /// The stream failed: the session sees the end of the stream, and what waits to be
    /// written is dropped.
    fn fail(&mut self, kind: io::ErrorKind, session: &mut Session) {
        self.error.get_or_insert(kind);
        session.handle_eof();
        self.wbuf.clear();
        self.flush_owed = false;
    }

    /// The first error the stream gave, if any.
    pub fn error(&self) -> Option<io::ErrorKind> {
        self.error
    }

    /// Shuts the write side down, waiting at most the linger.
    pub async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(self.config.linger, self.wr.shutdown()).await;
    }
}

/// The session clock: the runtime's (so that tests with paused time see their own).
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::smpp::pdu::Bind;
    use crate::smpp::session::{BindMode, Event, SessionConfig};

    /// An MC whose stream holds written bytes back until flushed (as TLS may when the socket is
    /// full: the write is accepted, the encrypted bytes wait); its `bind_resp`, whether the
    /// bind reached it.
    async fn bind_through_a_buffering_stream(flushes: bool) -> Option<Event> {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (rd, wr) = tokio::io::split(server);
        let wr = tokio::io::BufWriter::new(wr);
        let mut io = SessionIo::new(
            rd,
            wr,
            IoConfig {
                flushes,
                ..IoConfig::default()
            },
        );
        tokio::spawn(async move {
            let mut mc = Session::new(SessionConfig::mc(), now());
            loop {
                while let Some(event) = mc.poll_event() {
                    if let Event::BindRequest { .. } = event {
                        let _ = mc.accept_bind(now(), b"mc");
                    }
                }
                io.take_output(&mut mc);
                if io.finished(&mc) {
                    return;
                }
                io.arm(&mut mc, None);
                let event = io.next(true).await;
                io.apply(event, &mut mc, now());
            }
        });
        let (mut rd, mut wr) = tokio::io::split(client);
        let mut esme = Session::new(SessionConfig::esme(), now());
        let bind = Bind {
            system_id: "acme".into(),
            password: "pw".into(),
            ..Bind::default()
        };
        esme.bind(now(), BindMode::Transceiver, bind).unwrap();
        let mut out = BytesMut::new();
        esme.poll_transmit(&mut out);
        wr.write_all(&out).await.unwrap();
        let mut rbuf = BytesMut::with_capacity(4096);
        // A stall detector: the answer takes microseconds; held back, it never comes.
        let answered = tokio::time::timeout(Duration::from_secs(2), async {
            loop {
                if rd.read_buf(&mut rbuf).await.unwrap_or(0) == 0 {
                    return None;
                }
                esme.handle_input(now(), &mut rbuf);
                if let Some(event) = esme.poll_event() {
                    return Some(event);
                }
            }
        });
        answered.await.ok().flatten()
    }

    #[tokio::test]
    async fn a_stream_that_holds_writes_back_is_flushed_once_all_is_written() {
        let event = bind_through_a_buffering_stream(true).await;
        assert!(matches!(event, Some(Event::Bound { .. })), "{event:?}");
        // Without the flush, the answer waits in the stream's buffer (the stall it prevents).
        assert!(bind_through_a_buffering_stream(false).await.is_none());
    }
}
