//! The `savepoint` binary: parse the command line, hand it to [`savepoint::cli`].

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = savepoint::cli::Cli::parse();
    if !cli.is_daemon() {
        // A command whose output is piped into `head` should stop quietly,
        // like other command-line tools. (The daemon keeps ignoring SIGPIPE:
        // a client that hangs up must not kill it.)
        // SAFETY: called before any other thread writes; restores the
        // default disposition of one signal.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match savepoint::cli::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", savepoint::cli::describe_error(&error));
            ExitCode::FAILURE
        }
    }
}
