//! Opens N SMPP sessions to a router, binds each as a transceiver, and keeps them idle (answering
//! the router's enquire_link) for a while — to measure what idle sessions cost the router.
//!
//! `cargo run --release -p smpp-router --example idle_sessions -- 127.0.0.1:2775 demo demo 1000 60`
//! then read the router's `VmRSS` in `/proc/<pid>/status`.

use std::time::Duration;

use bytes::BytesMut;
use smpp_router::smpp::pdu::{Bind, Command, Pdu};
use smpp_router::smpp::{CommandStatus, FrameDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .map_or("127.0.0.1:2775", String::as_str)
        .to_string();
    let system_id = args.get(2).map_or("demo", String::as_str).to_string();
    let password = args.get(3).map_or("demo", String::as_str).to_string();
    let n: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let hold: u64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(60);
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (addr, system_id, password) = (addr.clone(), system_id.clone(), password.clone());
        tasks.push(tokio::spawn(async move {
            hold_session(&addr, &system_id, &password, hold).await
        }));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut bound = 0;
    for t in tasks {
        if matches!(t.await, Ok(Ok(true))) {
            bound += 1;
        }
    }
    println!("{bound} of {n} sessions bound and held for {hold} s");
    Ok(())
}

async fn hold_session(
    addr: &str,
    system_id: &str,
    password: &str,
    hold: u64,
) -> anyhow::Result<bool> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let bind = Bind {
        system_id: system_id.to_string().into(),
        password: password.to_string().into(),
        interface_version: 0x34,
        ..Bind::default()
    };
    s.write_all(&Command::new(1, Pdu::BindTransceiver(bind)).to_bytes()?)
        .await?;
    let framer = FrameDecoder::default();
    let mut buf = BytesMut::with_capacity(256);
    let mut bound = false;
    let end = tokio::time::Instant::now() + Duration::from_secs(hold);
    loop {
        while let Some(frame) = framer.decode(&mut buf)? {
            let cmd = Command::decode(frame)?;
            match cmd.pdu {
                Pdu::BindTransceiverResp(_) => bound = cmd.status == CommandStatus::ROK,
                Pdu::EnquireLink => {
                    s.write_all(
                        &Command::new(cmd.sequence_number, Pdu::EnquireLinkResp).to_bytes()?,
                    )
                    .await?;
                }
                _ => {}
            }
        }
        match tokio::time::timeout_at(end, s.read_buf(&mut buf)).await {
            Err(_) => return Ok(bound),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(false),
            Ok(Ok(_)) => {}
        }
    }
}
