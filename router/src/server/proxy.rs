//! The PROXY protocol (versions 1 and 2, as HAProxy and cloud network load balancers send it):
//! a load balancer in front of the router opens each connection with a header naming the
//! client's address, so that allowlists, the lockout and the logs see the client rather than the
//! balancer. Only connections from `listen.proxy_protocol_from` are read this way, and they must
//! carry a header; a header from anywhere else is not trusted (it reaches the SMPP decoder,
//! which refuses it).
//!
//! [`parse`] is sans-IO: given the first bytes of a connection it says how many the header
//! takes and what it names, or that it needs more. [`read_header`] drives it on a socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The version 2 signature.
const V2: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// A version 1 header is at most this long, CRLF included.
const V1_MAX: usize = 107;
/// The longest version 2 header accepted (addresses and TLVs).
const V2_MAX: usize = 16 + 512;
/// How long a trusted peer may take to send its header.
pub const HEADER_WAIT: Duration = Duration::from_secs(5);

/// What a header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The client's address.
    Client(SocketAddr),
    /// The balancer's own connection (a health check: `LOCAL`, `UNKNOWN`, or an address family
    /// other than TCP over IPv4 or IPv6): the peer's address stands.
    Local,
}

/// Why a header was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("the connection does not start with a PROXY protocol header")]
    Missing,
    #[error("malformed PROXY protocol header: {0}")]
    Malformed(&'static str),
    #[error("no PROXY protocol header within {} s", HEADER_WAIT.as_secs())]
    Timeout,
    #[error("reading the PROXY protocol header: {0}")]
    Io(String),
}

/// Parses a header at the start of `buf`: `Ok(None)` when more bytes are needed, else how many
/// bytes it takes and what it names.
pub fn parse(buf: &[u8]) -> Result<Option<(usize, Source)>, ProxyError> {
    let n = buf.len().min(V2.len());
    if buf[..n] == V2[..n] {
        return if buf.len() < 16 {
            Ok(None)
        } else {
            parse_v2(buf)
        };
    }
    let n = buf.len().min(6);
    if buf[..n] == b"PROXY "[..n] {
        return parse_v1(buf);
    }
    Err(ProxyError::Missing)
}

fn parse_v1(buf: &[u8]) -> Result<Option<(usize, Source)>, ProxyError> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(ProxyError::Malformed(
                "version 1 line longer than 107 bytes",
            ))
        } else {
            Ok(None)
        };
    };
    let line = std::str::from_utf8(&buf[..end]).map_err(|_| ProxyError::Malformed("not text"))?;
    let mut parts = line.split(' ').skip(1);
    let source = match parts.next() {
        Some("UNKNOWN") => Source::Local,
        Some(proto @ ("TCP4" | "TCP6")) => {
            let bad = || ProxyError::Malformed("version 1 addresses");
            let src: IpAddr = parts.next().and_then(|a| a.parse().ok()).ok_or_else(bad)?;
            let _dst: IpAddr = parts.next().and_then(|a| a.parse().ok()).ok_or_else(bad)?;
            let port: u16 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
            let _dport: u16 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
            if (proto == "TCP4") != src.is_ipv4() || parts.next().is_some() {
                return Err(bad());
            }
            Source::Client(SocketAddr::new(src, port))
        }
        _ => return Err(ProxyError::Malformed("version 1 protocol")),
    };
    Ok(Some((end + 2, source)))
}

fn parse_v2(buf: &[u8]) -> Result<Option<(usize, Source)>, ProxyError> {
    let (ver_cmd, family) = (buf[12], buf[13]);
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::Malformed("version 2 header of another version"));
    }
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = 16 + len;
    if total > V2_MAX {
        return Err(ProxyError::Malformed("version 2 header too long"));
    }
    if buf.len() < total {
        return Ok(None);
    }
    let body = &buf[16..total];
    let source = match (ver_cmd & 0x0F, family) {
        (0, _) => Source::Local,
        (1, 0x11) if body.len() >= 12 => {
            let ip = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let port = u16::from_be_bytes([body[8], body[9]]);
            Source::Client(SocketAddr::new(IpAddr::V4(ip), port))
        }
        (1, 0x21) if body.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            let port = u16::from_be_bytes([body[32], body[33]]);
            Source::Client(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(octets)), port))
        }
        (1, 0x11 | 0x21) => return Err(ProxyError::Malformed("version 2 addresses too short")),
        (1, _) => Source::Local,
        _ => return Err(ProxyError::Malformed("version 2 command")),
    };
    Ok(Some((total, source)))
}

/// Reads the header a trusted peer opens `sock` with (at most [`HEADER_WAIT`]), leaving what
/// follows it in the socket.
pub async fn read_header(sock: &mut TcpStream) -> Result<Source, ProxyError> {
    tokio::time::timeout(HEADER_WAIT, async {
        let mut buf = [0u8; V2_MAX];
        let mut seen = 0;
        loop {
            let n = sock
                .peek(&mut buf)
                .await
                .map_err(|e| ProxyError::Io(e.to_string()))?;
            if n == 0 {
                return Err(ProxyError::Missing);
            }
            if let Some((len, source)) = parse(&buf[..n])? {
                let mut header = vec![0u8; len];
                sock.read_exact(&mut header)
                    .await
                    .map_err(|e| ProxyError::Io(e.to_string()))?;
                return Ok(source);
            }
            if n == seen {
                // Nothing new since the last look: wait for more to arrive.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            seen = n;
        }
    })
    .await
    .unwrap_or(Err(ProxyError::Timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1() {
        let h = b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 2775\r\nrest";
        assert_eq!(
            parse(h),
            Ok(Some((
                44,
                Source::Client("203.0.113.7:51234".parse().unwrap())
            )))
        );
        let h = b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 2775\r\n";
        assert_eq!(
            parse(h).unwrap().unwrap().1,
            Source::Client("[2001:db8::7]:4000".parse().unwrap())
        );
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Ok(Some((15, Source::Local))));
        // Partial input asks for more; junk is refused.
        assert_eq!(parse(b"PROXY TCP4 203.0"), Ok(None));
        assert_eq!(parse(b"PRO"), Ok(None));
        assert_eq!(parse(b"\0\0\0\x10"), Err(ProxyError::Missing));
        assert!(parse(b"PROXY TCP4 203.0.113.7 10.0.0.1 x 2775\r\n").is_err());
        assert!(parse(b"PROXY TCP4 2001:db8::7 10.0.0.1 1 2775\r\n").is_err());
        assert!(parse(&[b'P'; 200]).is_err());
        assert!(parse(&[b"PROXY ".as_slice(), &[b'1'; 200]].concat()).is_err());
    }

    #[test]
    fn version_2() {
        let mut h = V2.to_vec();
        h.extend_from_slice(&[0x21, 0x11, 0, 12]);
        h.extend_from_slice(&[203, 0, 113, 7, 10, 0, 0, 1]);
        h.extend_from_slice(&51234u16.to_be_bytes());
        h.extend_from_slice(&2775u16.to_be_bytes());
        assert_eq!(
            parse(&h),
            Ok(Some((
                28,
                Source::Client("203.0.113.7:51234".parse().unwrap())
            )))
        );
        assert_eq!(parse(&h[..20]), Ok(None));
        assert_eq!(parse(&h[..8]), Ok(None));
        // LOCAL (a health check) keeps the peer's address.
        let mut local = V2.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(parse(&local), Ok(Some((16, Source::Local))));
        // A length past the limit, a wrong version, addresses cut short.
        let mut long = V2.to_vec();
        long.extend_from_slice(&[0x21, 0x11, 0xFF, 0xFF]);
        assert!(parse(&long).is_err());
        let mut v3 = h.clone();
        v3[12] = 0x31;
        assert!(parse(&v3).is_err());
        let mut short = V2.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert!(parse(&short).is_err());
    }
}
