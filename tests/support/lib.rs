//! Shared helpers for the end-to-end tests in `tests/`: they run the real router and real peers
//! over real sockets on loopback.
