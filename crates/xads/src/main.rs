//! The `xads` binary: a thin front end over the library.

use clap::Parser;

/// Stack of each runtime worker: a request's futures nest deeply (page → domain → exactly-once
/// write → lease renewal → client → limiter), and an unoptimised build keeps them on the stack.
const WORKER_STACK: usize = 8 * 1024 * 1024;

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("xads: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let cli = xads::cli::Cli::parse();
        cli.init_logs();
        match xads::cli::run(cli).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("xads: {}", xads::cli::error_text(&e));
                std::process::ExitCode::FAILURE
            }
        }
    })
}
