//! The `smpp-router` binary.

fn main() {
    println!("smpp-router {}", env!("CARGO_PKG_VERSION"));
}
