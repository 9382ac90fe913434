//! TLS for outbound SMPP connections: rustls (TLS 1.2 and 1.3, ring) trusting the CAs of a PEM
//! file, or — for tests and lab setups only — trusting any certificate at all.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Why TLS settings could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// The CA file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The CA file holds no usable certificate.
    #[error("no usable CA certificate in {0}")]
    NoCertificate(PathBuf),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The name to check the certificate against is not a DNS name or IP address.
    #[error("{0:?} is not a valid TLS server name")]
    ServerName(String),
}

/// How an outbound connection does TLS. Cheap to clone: the rustls configuration is shared.
#[derive(Clone, Debug)]
pub struct TlsClientSettings {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

impl TlsClientSettings {
    /// Verifies the server against the CA certificates in the PEM file `ca`.
    pub fn with_ca_file(ca: &Path) -> Result<Self, TlsSetupError> {
        let read_err = |source| TlsSetupError::Read {
            path: ca.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(ca).map_err(read_err)?;
        let mut roots = RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut std::io::BufReader::new(file)) {
            // A certificate rustls cannot use is skipped; an empty store is refused below.
            let _ = roots.add(cert.map_err(read_err)?);
        }
        if roots.is_empty() {
            return Err(TlsSetupError::NoCertificate(ca.to_path_buf()));
        }
        let config = builder()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self::from_config(Arc::new(config)))
    }

    /// **Insecure**: accepts any server certificate, so anyone on the path can read and change
    /// the traffic. For tests and local benchmarks against self-signed servers only.
    pub fn insecure() -> Result<Self, TlsSetupError> {
        let schemes = provider()
            .signature_verification_algorithms
            .supported_schemes();
        let config = builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(InsecureAcceptAnyCertificate { schemes }))
            .with_no_client_auth();
        Ok(Self::from_config(Arc::new(config)))
    }

    /// Uses a ready rustls configuration (client certificates, custom roots, …).
    pub fn from_config(config: Arc<ClientConfig>) -> Self {
        Self {
            config,
            server_name: None,
        }
    }

    /// Checks the certificate against `name` instead of the host part of the address dialled.
    pub fn with_server_name(mut self, name: &str) -> Result<Self, TlsSetupError> {
        self.server_name = Some(parse_server_name(name)?);
        Ok(self)
    }

    /// Runs the TLS handshake over `tcp`; `addr` (`host:port`) names the server unless a name
    /// was set.
    pub(super) async fn handshake(
        &self,
        addr: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, super::ConnectError> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => parse_server_name(host_of(addr))?,
        };
        TlsConnector::from(self.config.clone())
            .connect(name, tcp)
            .await
            .map_err(super::ConnectError::Tls)
    }
}

fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, rustls::Error> {
    ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
}

fn parse_server_name(name: &str) -> Result<ServerName<'static>, TlsSetupError> {
    ServerName::try_from(name.to_string()).map_err(|_| TlsSetupError::ServerName(name.to_string()))
}

/// The host part of `host:port`, `[v6]:port` or a bare host.
fn host_of(addr: &str) -> &str {
    let host = match addr.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => addr,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The verifier of [`TlsClientSettings::insecure`]: every certificate and signature passes.
#[derive(Debug)]
struct InsecureAcceptAnyCertificate {
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for InsecureAcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_is_cut_from_the_address() {
        assert_eq!(host_of("smsc.example.com:2776"), "smsc.example.com");
        assert_eq!(host_of("127.0.0.1:2776"), "127.0.0.1");
        assert_eq!(host_of("[::1]:2776"), "::1");
        assert_eq!(host_of("localhost"), "localhost");
        assert!(parse_server_name(host_of("[::1]:2776")).is_ok());
    }
}
