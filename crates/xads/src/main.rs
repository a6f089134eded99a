//! The `xads` binary: a thin front end over the library.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = xads::cli::Cli::parse();
    cli.init_logs();
    match xads::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xads: {}", xads::cli::error_text(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
