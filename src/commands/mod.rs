//! One file per command; each handler turns library errors into an anyhow chain with the
//! command's context.

mod check;
mod completion;
mod create;
mod delete;
mod events;
mod exec;
pub mod features;
mod kill;
mod list;
pub mod man;
mod pause;
mod ps;
mod resume;
mod run;
pub mod spec;
mod start;
mod state;
pub mod update;
pub mod version;

use std::fmt;

use berth_runtime::state::Store;

use anyhow::bail;

use crate::cli::{Cli, Command, Rootless};

/// An error whose exit status is not berth's usual 1 (runc: a failed `exec` exits 255). Printed
/// like any other error: the whole chain of `error`, once.
#[derive(Debug)]
pub struct ExitWith {
    pub code: u8,
    pub error: anyhow::Error,
}

impl fmt::Display for ExitWith {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for ExitWith {}

/// The exit status for a failed command: [`ExitWith`]'s code, else 1.
/// Prints `value` as pretty JSON on stdout. A reader that went away (`berth features | head`)
/// is not an error: println! would panic on the EPIPE (Rust ignores SIGPIPE), runc dies of
/// SIGPIPE silently; berth just stops writing.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value)?;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

pub fn exit_code(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<ExitWith>().map_or(1, |x| x.code)
}

/// Runs the command; returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let store = Store::new(&cli.global.root);
    let g = &cli.global;
    if g.rootless == Some(Rootless::True) {
        bail!("--rootless=true (ignore cgroup permission errors) is not supported by berth; berth runs as root and reports every cgroup error");
    }
    match cli.command {
        Command::Create(args) => create::run(&store, g, &args).map(|_| 0),
        Command::Start { id } => start::run(&store, &id).map(|_| 0),
        Command::State { id } => state::run(&store, &id).map(|_| 0),
        Command::Kill { all, id, signal } => kill::run(&store, &id, &signal, all).map(|_| 0),
        Command::Delete { force, id } => delete::run(&store, &id, force).map(|_| 0),
        Command::Run {
            create,
            detach,
            keep,
            no_subreaper: _,
        } => run::run(&store, g, &create, detach, keep),
        Command::Checkpoint { .. } | Command::Restore { .. } => {
            bail!("checkpoint and restore (CRIU) are not supported by berth")
        }
        Command::List { format, quiet } => list::run(&store, format, quiet).map(|_| 0),
        Command::Spec {
            bundle,
            rootless,
            hardened,
        } => spec::write_spec(&bundle, rootless, hardened).map(|_| 0),
        Command::Exec(args) => exec::run(&store, &args),
        Command::Pause { id } => pause::run(&store, &id).map(|_| 0),
        Command::Resume { id } => resume::run(&store, &id).map(|_| 0),
        Command::Ps { format, args } => ps::run(&store, format, &args).map(|_| 0),
        Command::Update(args) => update::run(&store, &args).map(|_| 0),
        Command::Events {
            stats,
            interval,
            id,
        } => events::run(&store, &id, stats, &interval).map(|_| 0),
        Command::Check { format } => check::run(format),
        Command::Completion { shell } => completion::run(shell).map(|_| 0),
        Command::Features => {
            print_json(&features::features())?;
            Ok(0)
        }
    }
}
