//! Acknowledging what was just read when no answer is going to carry the ACK.
//!
//! Most SMPP client libraries leave Nagle's algorithm on: a small write waits until everything
//! they sent before has been acknowledged. After reading a PDU that needs no answer (a client's
//! `deliver_sm_resp`, or a `submit_sm` whose answer waits for the channel) the router has nothing
//! to send, so the kernel holds the ACK back for its delayed-ACK timer (~40 ms on Linux) in the
//! hope of sending it with data, and the peer's next PDU waits all that time: a client sending
//! one message at a time with receipts was held to ~45 messages a second.
//!
//! The connection loops call [`QuickAck::now`] after a read that left them nothing to write. On
//! Linux that sets `TCP_QUICKACK`, which sends the pending ACK at once (and leaves the kernel's
//! "interactive" mode until we next send data). `TCP_NODELAY`, set on our sockets for our own
//! writes, does nothing for the ACKs the peer waits for. Elsewhere it does nothing.

use std::os::fd::{AsRawFd, RawFd};

/// The socket of one connection, for sending its pending ACK. Made from the TCP stream before it
/// is wrapped (TLS) or split, and used only while the connection's loop owns that stream.
#[derive(Clone, Copy, Debug)]
pub struct QuickAck {
    fd: Option<RawFd>,
}

impl QuickAck {
    /// For `tcp`.
    ///
    /// # Safety
    ///
    /// [`QuickAck::now`] must only be called while `tcp` (or what wraps it) is open: the
    /// descriptor is borrowed, not owned, and after the stream closes its number may name
    /// another file.
    pub unsafe fn of(tcp: &impl AsRawFd) -> Self {
        Self {
            fd: Some(tcp.as_raw_fd()),
        }
    }

    /// For a stream that is not a TCP socket: does nothing.
    pub fn none() -> Self {
        Self { fd: None }
    }

    /// Sends the ACK of what was read, if the kernel is holding one back. Costs one
    /// `setsockopt`; an error (the socket is closing) is of no consequence.
    pub fn now(&self) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(fd) = self.fd {
            // SAFETY: per `of`'s contract, the stream `fd` belongs to is still open.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            let _ = socket2::SockRef::from(&fd).set_tcp_quickack(true);
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = self.fd;
    }
}

/// Remembers whether input arrived since output last went out: the connection loops call
/// [`Unacked::read`] after each read and [`Unacked::settle`] once they know whether they have
/// something to write.
#[derive(Debug)]
pub struct Unacked {
    ack: QuickAck,
    pending: bool,
}

impl Unacked {
    /// Tracks reads on `ack`'s socket.
    pub fn new(ack: QuickAck) -> Self {
        Self {
            ack,
            pending: false,
        }
    }

    /// Bytes were read.
    pub fn read(&mut self) {
        self.pending = true;
    }

    /// Called with whether output is about to be written: if not, what was read is acknowledged
    /// now instead of after the delayed-ACK timer; if so, the write carries the ACK.
    pub fn settle(&mut self, writing: bool) {
        if std::mem::take(&mut self.pending) && !writing {
            self.ack.now();
        }
    }
}
