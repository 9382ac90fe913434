//! The tools around smpp-router — not part of the router, which never links them:
//!
//! - [`sim`]: stand-ins for the peers the router talks to, the OTP Blue API and an SMPP carrier
//!   (SMSC), for local work, the tests and the benchmarks;
//! - [`test_mc`]: a small SMPP message centre for the client driver's tests;
//! - [`load`]: the load generator (`smpp-router load`).

pub mod load;
pub mod sim;
pub mod test_mc;
