use std::process::ExitCode;

use clap::{Args, CommandFactory, ValueEnum};

/// Print a shell completion script for savepoint.
///
/// Install it once:
///   bash: savepoint completions bash > ~/.local/share/bash-completion/completions/savepoint
///   zsh:  savepoint completions zsh > ~/.zfunc/_savepoint   (with `fpath+=~/.zfunc` before
///         `compinit` in ~/.zshrc)
///   fish: savepoint completions fish > ~/.config/fish/completions/savepoint.fish
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub fn main(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = super::Cli::command();
    clap_complete::generate(shell, &mut command, "savepoint", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}
