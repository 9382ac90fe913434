//! The router's command line, built as a binary of the test package so that cargo builds it
//! fresh for every `cargo test` and hands its path to the end-to-end tests
//! (`CARGO_BIN_EXE_smpp-router-under-test`).

fn main() -> std::process::ExitCode {
    smpp_router_cli::main()
}
