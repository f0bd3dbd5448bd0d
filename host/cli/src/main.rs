//! The `savepoint` binary: parse the command line, hand it to [`savepoint`].

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("start the tokio runtime");
    let code = runtime.block_on(run());
    // Everything the command waits for is done. A plugin-file read stuck in
    // the kernel (a hung FUSE or NFS mount, a file that blocks) was given up
    // after its time limit and cannot be cancelled: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    code
}

async fn run() -> ExitCode {
    // Known before parsing, so that a usage error is JSON too.
    let json = savepoint::wants_json(std::env::args_os());
    let cli = match savepoint::Cli::parse_args() {
        Ok(cli) => cli,
        Err(error) => return savepoint::parse_error(error, json),
    };
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
    match savepoint::run(cli).await {
        Ok(code) => code,
        Err(error) => savepoint::report(&error, json),
    }
}
