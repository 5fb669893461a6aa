//! `berth completion SHELL`: the bash, zsh or fish completion script, generated from the clap
//! definition of the command line (src/cli.rs), so it cannot drift from the parser. The
//! packaged scripts (`make completions`) are this command's output.

use std::io::Write;

use anyhow::Context;
use clap_complete::Shell;

use crate::cli::{self, CompletionShell};

pub fn run(shell: CompletionShell) -> anyhow::Result<()> {
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    // Rendered into memory first: clap_complete panics when its writer fails, and stdout may
    // be a closed pipe (`berth completion bash | head`).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cli::command(), "berth", &mut script);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .with_context(|| format!("write the {shell} completion script to stdout"))
}
