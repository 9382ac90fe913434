//! Configuration: `router.toml` (static, read at start) and `routes.toml` (live: accounts,
//! channels, routes). Both report every error with its file, line and column.

pub mod account;
pub mod diag;
pub mod route;
pub mod router;
pub mod routes;

pub use account::{Account, Accounts};
pub use diag::Diagnostic;
pub use router::RouterConfig;
pub use routes::RoutesFile;
