//! The `smpp-router` binary: the command line lives in the library (`smpp_router_cli`).

/// mimalloc instead of the system allocator: the data path allocates and frees small buffers
/// on every worker thread, where glibc's malloc spent ~14 % of the router's CPU under load
/// (`bench/run.sh carrier`, measured with perf).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    smpp_router_cli::main()
}
