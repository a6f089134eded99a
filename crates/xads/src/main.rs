//! The `xads` binary: a thin front end over the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    xads::telemetry::init();
    let cli = xads::cli::Cli::parse();
    match xads::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xads: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
