//! Behind a load balancer: connections from `listen.proxy_protocol_from` open with a PROXY
//! protocol header (v1 or v2, as HAProxy sends them), and the router sees the client's address
//! in it — for the account's allowlist, the lockout and the sessions list. A trusted peer that
//! sends no header is closed; an untrusted one is not read as a balancer.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use smpp_router::smpp::CommandStatus;
use smpp_router::smpp::pdu::{Bind, Command, Pdu};
use smpp_router_e2e::{LiveRouter, Raw, account, scratch_dir};

const ROUTES: &str = "[[channel]]\nname = \"sink\"\nkind = \"test\"\noutcomes = [\"delivered\"]\n\n[[route]]\nname = \"all\"\nchannels = [\"sink\"]\n";

async fn router(trusted: &str) -> LiveRouter {
    let path = scratch_dir("proxy").join("routes.toml");
    let acme = account(
        "acme",
        "pw",
        "allowed_cidrs = [\"203.0.113.0/24\", \"127.0.0.1\"]\nmax_binds = 10",
    );
    std::fs::write(&path, format!("{acme}{ROUTES}")).unwrap();
    LiveRouter::start_with(
        &path,
        &format!(
            "[listen]\nproxy_protocol_from = [\"{trusted}\"]\n[security]\nmax_bind_failures = 2\n"
        ),
    )
    .await
}

fn v1(client: &str) -> Vec<u8> {
    let (ip, port) = client.rsplit_once(':').unwrap();
    format!("PROXY TCP4 {ip} 127.0.0.1 {port} 2775\r\n").into_bytes()
}

fn v2(client: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(c) = client else { panic!() };
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12]);
    h.extend_from_slice(&c.ip().octets());
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&c.port().to_be_bytes());
    h.extend_from_slice(&2775u16.to_be_bytes());
    h
}

/// Connects, sends `header`, binds with `password`: the bind's status and the connection.
async fn bind_via(r: &LiveRouter, header: &[u8], password: &str) -> (CommandStatus, Raw) {
    let mut raw = Raw::connect(r.plain).await;
    raw.write(header).await;
    let bind = Bind {
        system_id: "acme".into(),
        password: password.to_string().into(),
        interface_version: 0x34,
        ..Bind::default()
    };
    raw.send(&Command::new(1, Pdu::BindTransceiver(bind))).await;
    let status = raw
        .recv()
        .await
        .map_or(CommandStatus(u32::MAX), |c| c.status);
    (status, raw)
}

fn peers(r: &LiveRouter) -> Vec<SocketAddr> {
    r.server
        .shared()
        .registry
        .sessions()
        .iter()
        .map(|s| s.peer)
        .collect()
}

#[tokio::test]
async fn the_client_address_comes_from_the_header() {
    let r = router("127.0.0.1").await;
    let (status, _a) = bind_via(&r, &v1("203.0.113.7:51234"), "pw").await;
    assert_eq!(status, CommandStatus::ROK);
    let (status, _b) = bind_via(&r, &v2("203.0.113.8:4000".parse().unwrap()), "pw").await;
    assert_eq!(status, CommandStatus::ROK);
    let mut seen = peers(&r);
    seen.sort();
    let want: Vec<SocketAddr> = vec![
        "203.0.113.7:51234".parse().unwrap(),
        "203.0.113.8:4000".parse().unwrap(),
    ];
    assert_eq!(seen, want, "the sessions list shows the clients");
    // The allowlist sees the client: an address outside it is refused.
    let (status, _c) = bind_via(&r, &v1("198.51.100.1:4000"), "pw").await;
    assert_eq!(status, CommandStatus::RBINDFAIL);
    // A health check (LOCAL) keeps the balancer's own address.
    let mut local = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0, 0]);
    let (status, _d) = bind_via(&r, &local, "pw").await;
    assert_eq!(status, CommandStatus::ROK);
}

#[tokio::test]
async fn the_lockout_blocks_the_client_not_the_balancer() {
    let r = router("127.0.0.0/8").await;
    for _ in 0..2 {
        let (status, _) = bind_via(&r, &v1("203.0.113.9:1000"), "wrong").await;
        assert_eq!(status, CommandStatus::RINVPASWD);
    }
    let (status, _) = bind_via(&r, &v1("203.0.113.9:1001"), "pw").await;
    assert_eq!(status, CommandStatus::RBINDFAIL, "the client is blocked");
    let (status, _) = bind_via(&r, &v1("203.0.113.10:1000"), "pw").await;
    assert_eq!(
        status,
        CommandStatus::ROK,
        "another client behind the same balancer is not"
    );
}

#[tokio::test]
async fn a_trusted_peer_without_a_header_is_closed_and_others_are_not_read_as_balancers() {
    let r = router("127.0.0.1").await;
    let (_, mut raw) = bind_via(&r, b"", "pw").await;
    assert!(raw.closed_within(10).await, "no header from a balancer");
    let (_, mut raw) = bind_via(&r, b"PROXY TCP4 nonsense\r\n", "pw").await;
    assert!(raw.closed_within(10).await, "a malformed header");
    // A router that trusts another address reads a header from here as SMPP (and refuses it).
    let other = router("192.0.2.1").await;
    let (status, mut raw) = bind_via(&other, &v1("203.0.113.7:51234"), "pw").await;
    assert_ne!(status, CommandStatus::ROK);
    assert!(raw.closed_within(10).await);
}
