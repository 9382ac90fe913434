//! A sink MC for benchmarks: binds anyone and answers every `submit_sm` with `ESME_ROK` at
//! once (optionally followed by a delivery receipt), so that `smpp-router load` can be measured
//! against a server that costs as little as possible.
//!
//! ```text
//! cargo run --release -p smpp-router --example sink_mc -- [ADDR] [--receipts] [--threads N]
//! ```
//!
//! ADDR defaults to 127.0.0.1:2775; `--threads` sets the tokio worker threads (default 1).

use std::collections::VecDeque;

use bytes::{BufMut, Bytes, BytesMut};
use smpp_router::session_io::{IoConfig, SessionIo, now};
use smpp_router::smpp::CommandStatus;
use smpp_router::smpp::pdu::{Command, Pdu, Sm, SmResp, error_response};
use smpp_router::smpp::session::{Event, Session, SessionConfig};
use smpp_router::smpp::tlv::{TlvsBuilder, tag};
use smpp_router::smpp::values::{EsmClass, MessageState};
use tokio::net::{TcpListener, TcpStream};

struct Options {
    addr: String,
    receipts: bool,
    threads: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        addr: "127.0.0.1:2775".into(),
        receipts: false,
        threads: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--receipts" => o.receipts = true,
            "--threads" => {
                o.threads = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| anyhow::anyhow!("--threads needs a number"))?;
            }
            _ if !a.starts_with('-') => o.addr = a,
            _ => anyhow::bail!("usage: sink_mc [ADDR] [--receipts] [--threads N]"),
        }
    }
    Ok(o)
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.threads.max(1))
        .enable_all()
        .build()?
        .block_on(serve(o))
}

async fn serve(o: Options) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&o.addr).await?;
    eprintln!("sink_mc listening on {}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let receipts = o.receipts;
        tokio::spawn(async move {
            if let Err(e) = connection(tcp, receipts).await {
                eprintln!("sink_mc: connection: {e}");
            }
        });
    }
}

/// Message ids are decimal counters written into one shared buffer and split off, so that an id
/// costs no allocation of its own.
struct Ids {
    next: u64,
    buf: BytesMut,
}

impl Ids {
    fn next(&mut self) -> Bytes {
        if self.buf.capacity() - self.buf.len() < 24 {
            self.buf.reserve(64 * 1024);
        }
        self.next += 1;
        let mut n = self.next;
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        while n > 0 || i == digits.len() {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.buf.put_slice(&digits[i..]);
        self.buf.split().freeze()
    }
}

async fn connection(tcp: TcpStream, receipts: bool) -> anyhow::Result<()> {
    tcp.set_nodelay(true)?;
    let (rd, wr) = tcp.into_split();
    let mut io = SessionIo::new(
        rd,
        wr,
        IoConfig {
            read_chunk: 256 * 1024,
            ..IoConfig::default()
        },
    );
    let config = SessionConfig {
        window: 256,
        inbound_window: 100_000,
        ..SessionConfig::mc()
    };
    let mut s = Session::new(config, now());
    let mut ids = Ids {
        next: 0,
        buf: BytesMut::new(),
    };
    let mut outgoing: VecDeque<Pdu> = VecDeque::new();
    loop {
        while let Some(event) = s.poll_event() {
            match event {
                Event::BindRequest { .. } => {
                    let _ = s.accept_bind(now(), b"sink");
                }
                Event::Request(cmd) => {
                    let seq = cmd.sequence_number;
                    if let Pdu::SubmitSm(sm) = cmd.pdu {
                        let id = ids.next();
                        if receipts && sm.registered_delivery.wants_receipt(true) {
                            outgoing.push_back(receipt(&sm, &id));
                        }
                        let _ = s.respond(Command::new(seq, Pdu::SubmitSmResp(SmResp::new(id))));
                    } else if let Some(answer) =
                        error_response(cmd.pdu.command_id(), seq, CommandStatus::ROK)
                    {
                        let _ = s.respond(answer);
                    }
                }
                _ => {}
            }
        }
        while s.bind_mode().is_some() && s.has_room() {
            let Some(pdu) = outgoing.pop_front() else {
                break;
            };
            let _ = s.send(now(), pdu);
        }
        io.take_output(&mut s);
        if io.finished(&s) {
            io.shutdown().await;
            return Ok(());
        }
        io.arm(&mut s, None);
        // Not while a megabyte waits to be written: the peer is not reading.
        let read = !s.is_closed() && io.wbuf.len() < 1024 * 1024;
        let event = io.next(read).await;
        io.apply(event, &mut s, now());
    }
}

fn receipt(sm: &Sm, id: &Bytes) -> Pdu {
    let mut text = BytesMut::with_capacity(100);
    text.put_slice(b"id:");
    text.put_slice(id);
    text.put_slice(b" sub:001 dlvrd:001 submit date:2401010000 done date:2401010000");
    text.put_slice(b" stat:DELIVRD err:000 text:");
    let tlvs = TlvsBuilder::new()
        .push_cstr(tag::RECEIPTED_MESSAGE_ID, id)
        .push_u8(tag::MESSAGE_STATE, MessageState::DELIVERED.0)
        .build();
    Pdu::DeliverSm(Sm {
        source: sm.dest.clone(),
        dest: sm.source.clone(),
        esm_class: EsmClass(EsmClass::MC_DELIVERY_RECEIPT),
        short_message: text.freeze(),
        tlvs,
        ..Sm::default()
    })
}
