//! The `smpp-router` binary: the command line lives in the library (`smpp_router::cli`).

fn main() -> std::process::ExitCode {
    smpp_router::cli::main()
}
