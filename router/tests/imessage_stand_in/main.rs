//! The iMessage channel against the stand-in OTP Blue API (`smpp-router-tools`) over real
//! sockets: answers, failover outcomes, timeouts, the circuit breaker, TLS.

#![allow(clippy::unwrap_used)]

mod common;
mod faults;
mod tls;
