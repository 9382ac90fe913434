//! The https path: the channel verifies the platform's certificate against `ca_file`, here a
//! self-signed one in front of the stand-in (a TLS terminator copying bytes to it).

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use super::common::{account, message, number, stand_in};
use smpp_router::channels::imessage::*;
use smpp_router::channels::{Attempt, Channel};
use smpp_router_tools::sim::otpblue::Knobs;

/// Starts a TLS terminator for `localhost` forwarding to `backend`; returns its port and the
/// certificate in PEM.
async fn terminator(backend: std::net::SocketAddr) -> (u16, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .unwrap_or_else(|e| panic!("{e}"));
    let pem = certified.cert.pem();
    let chain = vec![CertificateDer::from(certified.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap_or_else(|e| panic!("{e}"))
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap_or_else(|e| panic!("{e}"));
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Ok(mut plain) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    (port, pem)
}

#[tokio::test]
async fn https_with_a_private_ca() {
    let knobs = Knobs::default();
    let to = number(&knobs, "1415555", 11, true);
    let (addr, stats) = stand_in(knobs).await;
    let (port, pem) = terminator(addr).await;
    let ca = std::env::temp_dir().join(format!("smpp-router-ca-{}-{port}.pem", std::process::id()));
    std::fs::write(&ca, pem).unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "base_url = \"https://localhost:{port}\"\napi_key = \"test-key\"\nca_file = \"{}\"",
        ca.display()
    );
    let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}"));
    let ch = from_settings("imessage", &table).unwrap_or_else(|e| panic!("{e}"));
    let m = message(&account("acme", None), &to, "Your code is 482913", None);
    for _ in 0..3 {
        let got = ch.submit(&m).await;
        assert!(matches!(got, Attempt::Accepted { .. }), "{got:?}");
    }
    assert_eq!(stats.delivered(), 3);
    assert_eq!(stats.connections(), 1, "kept alive through TLS");

    // The system bundle does not trust this certificate: nothing is sent.
    let text = format!("base_url = \"https://localhost:{port}\"\napi_key = \"test-key\"");
    let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}"));
    if let Ok(untrusting) = from_settings("imessage", &table) {
        assert_eq!(untrusting.submit(&m).await, Attempt::NotSent);
    }
    let _ = std::fs::remove_file(&ca);
}
