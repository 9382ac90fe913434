//! A minimal MC for tests, built from [`Session`] with role MC on a real loopback listener: it
//! binds anyone (or refuses), answers `submit_sm` in groups, newest first, can send a receipt
//! per message and `deliver_sm`s of its own, and can drop the connection mid-window.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use smpp_router::session_io::{IoConfig, IoEvent, SessionIo, now};
use smpp_router::smpp::pdu::{Address, Command, Pdu, Sm, SmResp, error_response};
use smpp_router::smpp::receipt::{ReceiptDate, ReceiptFields};
use smpp_router::smpp::session::{Event, Session, SessionConfig};
use smpp_router::smpp::tlv::{TlvsBuilder, tag};
use smpp_router::smpp::values::{EsmClass, MessageState};
use smpp_router::smpp::{CommandId, CommandStatus};

/// How the MC behaves.
#[derive(Clone)]
pub struct McOptions {
    /// Refuse every bind with this status.
    pub reject_bind: Option<CommandStatus>,
    /// Answer submits in groups of this many, the last received first.
    pub hold: usize,
    /// Answer a partial group after this long without input (`None`: only full groups).
    pub flush_after: Option<Duration>,
    /// Use each submit's text as its message id (to check that answers find their requests).
    pub echo_text_as_id: bool,
    /// Send a delivery receipt for every submit that asks for one.
    pub receipts: bool,
    /// Send this many mobile-originated `deliver_sm`s right after the bind.
    pub deliver_on_bind: usize,
    /// Drop the connection on receiving the n-th submit (unanswered).
    pub drop_after: Option<usize>,
    /// Serve TLS with this acceptor.
    pub tls: Option<TlsAcceptor>,
}

impl Default for McOptions {
    fn default() -> Self {
        Self {
            reject_bind: None,
            hold: 1,
            flush_after: Some(Duration::from_millis(2)),
            echo_text_as_id: false,
            receipts: false,
            deliver_on_bind: 0,
            drop_after: None,
            tls: None,
        }
    }
}

/// What the MC saw, for the test to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum McReport {
    /// A client bound with this system_id.
    Bound(Bytes),
    /// The client answered one of our `deliver_sm`s.
    DeliverAnswered(CommandStatus),
}

/// A running test MC; dropped, it stops accepting.
pub struct TestMc {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it saw.
    pub reports: mpsc::Receiver<McReport>,
    accept: JoinHandle<()>,
}

impl Drop for TestMc {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl TestMc {
    /// Listens on 127.0.0.1:0 and serves every connection with `opts`.
    pub async fn start(opts: McOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("invariant: loopback bind works in tests");
        let addr = listener
            .local_addr()
            .expect("invariant: a bound listener has an address");
        let (tx, reports) = mpsc::channel(4096);
        let opts = Arc::new(opts);
        let accept = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let _ = tcp.set_nodelay(true);
                let (opts, tx) = (opts.clone(), tx.clone());
                tokio::spawn(async move {
                    match opts.tls.clone() {
                        None => serve(tcp, opts, tx).await,
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                serve(tls, opts, tx).await;
                            }
                        }
                    }
                });
            }
        });
        Self {
            addr,
            reports,
            accept,
        }
    }

    /// The address as `host:port`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }
}

struct Conn {
    s: Session,
    opts: Arc<McOptions>,
    reports: mpsc::Sender<McReport>,
    held: Vec<(u32, Sm)>,
    outgoing: VecDeque<Pdu>,
    submits: usize,
    next_id: u64,
}

async fn serve<S>(stream: S, opts: Arc<McOptions>, reports: mpsc::Sender<McReport>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let flushes = opts.tls.is_some();
    let (rd, wr) = tokio::io::split(stream);
    let mut io = SessionIo::new(
        rd,
        wr,
        IoConfig {
            flushes,
            ..IoConfig::default()
        },
    );
    let mut config = SessionConfig::mc();
    config.window = 64;
    config.inbound_window = 1024;
    let mut c = Conn {
        s: Session::new(config, now()),
        opts,
        reports,
        held: Vec::new(),
        outgoing: VecDeque::new(),
        submits: 0,
        next_id: 0,
    };
    // Held answers go out after this long without input (`flush_after`).
    let mut last_input = now();
    loop {
        while let Some(event) = c.s.poll_event() {
            if !c.on_event(event) {
                return; // Drop the connection.
            }
        }
        let quiet = c.opts.flush_after.filter(|_| !c.held.is_empty());
        if c.held.len() >= c.opts.hold.max(1) || quiet.is_some_and(|q| now() >= last_input + q) {
            c.answer_held();
        }
        while c.s.bind_mode().is_some() && c.s.has_room() {
            let Some(pdu) = c.outgoing.pop_front() else {
                break;
            };
            let _ = c.s.send(now(), pdu);
        }
        io.take_output(&mut c.s);
        if io.finished(&c.s) {
            return;
        }
        let quiet = c.opts.flush_after.filter(|_| !c.held.is_empty());
        io.arm(&mut c.s, quiet.map(|q| last_input + q));
        // Not while a megabyte waits to be written: the peer is not reading.
        let read = !c.s.is_closed() && io.wbuf.len() < 1024 * 1024;
        let event = io.next(read).await;
        if matches!(event, IoEvent::Read(_)) {
            last_input = now();
        }
        io.apply(event, &mut c.s, now());
    }
}

impl Conn {
    /// Handles one event; `false` means: drop the connection now.
    fn on_event(&mut self, event: Event) -> bool {
        match event {
            Event::BindRequest { bind, .. } => match self.opts.reject_bind {
                Some(status) => self.s.reject_bind(status),
                None => {
                    let _ = self.s.accept_bind(now(), b"test-mc");
                    let _ = self.reports.try_send(McReport::Bound(bind.system_id));
                    for i in 0..self.opts.deliver_on_bind {
                        self.outgoing.push_back(mobile_originated(i));
                    }
                }
            },
            Event::Request(cmd) => {
                let seq = cmd.sequence_number;
                match cmd.pdu {
                    Pdu::SubmitSm(sm) => {
                        self.submits += 1;
                        if self.opts.drop_after == Some(self.submits) {
                            return false;
                        }
                        self.held.push((seq, sm));
                    }
                    other => {
                        if let Some(answer) =
                            error_response(other.command_id(), seq, CommandStatus::ROK)
                        {
                            let _ = self.s.respond(answer);
                        }
                    }
                }
            }
            Event::Response {
                request: CommandId::DELIVER_SM,
                command,
            } => {
                let _ = self
                    .reports
                    .try_send(McReport::DeliverAnswered(command.status));
            }
            _ => {}
        }
        true
    }

    /// Answers every held submit, the last received first.
    fn answer_held(&mut self) {
        let held = std::mem::take(&mut self.held);
        for (seq, sm) in held.into_iter().rev() {
            self.next_id += 1;
            let id = if self.opts.echo_text_as_id {
                sm.short_message.clone()
            } else {
                Bytes::from(format!("{:x}", self.next_id))
            };
            let resp = Command::new(seq, Pdu::SubmitSmResp(SmResp::new(id.clone())));
            let _ = self.s.respond(resp);
            if self.opts.receipts && sm.registered_delivery.wants_receipt(true) {
                self.outgoing.push_back(receipt(&sm, &id));
            }
        }
    }
}

fn mobile_originated(i: usize) -> Pdu {
    Pdu::DeliverSm(Sm {
        source: Address::new(1, 1, "14155550100"),
        dest: Address::new(1, 1, "14155550000"),
        short_message: Bytes::from(format!("hello {i}")),
        ..Sm::default()
    })
}

fn receipt(sm: &Sm, id: &[u8]) -> Pdu {
    let id_text = String::from_utf8_lossy(id);
    let date = ReceiptDate::from_unix(1_700_000_000);
    let text = ReceiptFields {
        id: &id_text,
        submitted: 1,
        delivered: 1,
        submit_date: date,
        done_date: date,
        state: MessageState::DELIVERED,
        err: "0",
        text: "",
    }
    .to_text();
    let tlvs = TlvsBuilder::new()
        .push_cstr(tag::RECEIPTED_MESSAGE_ID, id)
        .push_u8(tag::MESSAGE_STATE, MessageState::DELIVERED.0)
        .build();
    Pdu::DeliverSm(Sm {
        source: sm.dest.clone(),
        dest: sm.source.clone(),
        esm_class: EsmClass(EsmClass::MC_DELIVERY_RECEIPT),
        short_message: Bytes::from(text),
        tlvs,
        ..Sm::default()
    })
}
