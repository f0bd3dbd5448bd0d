//! The `savepoint` binary: parse the command line, hand it to [`savepoint::cli`].

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = savepoint::cli::Cli::parse();
    match savepoint::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", savepoint::cli::describe_error(&error));
            ExitCode::FAILURE
        }
    }
}
