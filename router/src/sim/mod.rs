//! Stand-ins for the services the router talks to, for local work, demos and tests
//! (`smpp-router sim …`).

pub mod carrier;
pub mod otpblue;
