//! One file per command; each handler turns library errors into an anyhow chain with the
//! command's context.

mod check;
pub mod checkpoint;
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
pub mod restore;
mod resume;
mod run;
pub mod spec;
mod start;
mod state;
pub mod update;
pub mod version;

use std::fmt;

use berth_runtime::state::Store;

use crate::cli::{Cli, Command};

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
    let g = &cli.global;
    let (root, xdg) = g.state_root();
    if xdg {
        make_xdg_root(&root)?;
    }
    let store = Store::new(&root);
    let hint = unprivileged_default_root_hint(g);
    run_command(&store, g, cli.command).map_err(|e| match &hint {
        Some(h) if permission_denied(&e) => anyhow::Error::new(ExitWith {
            code: exit_code(&e),
            error: anyhow::anyhow!("{e:#} ({h})"),
        }),
        _ => e,
    })
}

/// Whether EACCES or EPERM is somewhere in the chain.
fn permission_denied(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let errno = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.raw_os_error())
            .or_else(|| c.downcast_ref::<nix::Error>().map(|n| *n as i32));
        matches!(errno, Some(libc::EACCES | libc::EPERM))
    })
}

/// runc's rule for `$XDG_RUNTIME_DIR/<runtime>`: made 0700, with the sticky bit that the XDG
/// base directory specification asks for so that the periodic cleanup of the runtime
/// directory leaves it alone.
fn make_xdg_root(root: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .with_context(|| format!("create state root {}", root.display()))?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o1700))
        .with_context(|| format!("chmod state root {}", root.display()))
}

/// For an unprivileged caller without `--root` nor XDG_RUNTIME_DIR (the state root is then
/// /run/berth, as runc's is /run/runc): a last line for any error, saying how to pick a
/// state root it can write.
fn unprivileged_default_root_hint(g: &crate::cli::Global) -> Option<String> {
    let euid = nix::unistd::geteuid();
    match (&g.root, std::env::var_os("XDG_RUNTIME_DIR")) {
        (None, None) if !euid.is_root() => Some(format!(
            "berth runs as uid {euid} without XDG_RUNTIME_DIR, so its state root is {}: set XDG_RUNTIME_DIR or pass --root to use a directory of your own",
            crate::cli::DEFAULT_ROOT
        )),
        _ => None,
    }
}

fn run_command(store: &Store, g: &crate::cli::Global, command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Create(args) => create::run(store, g, &args).map(|_| 0),
        Command::Start { id } => start::run(store, &id).map(|_| 0),
        Command::State { id } => state::run(store, &id).map(|_| 0),
        Command::Kill { all, id, signal } => kill::run(store, &id, &signal, all).map(|_| 0),
        Command::Delete { force, id } => delete::run(store, &id, force).map(|_| 0),
        Command::Run {
            create,
            detach,
            keep,
            no_subreaper: _,
        } => run::run(store, g, &create, detach, keep),
        Command::Checkpoint(args) => checkpoint::run(store, g, &args).map(|_| 0),
        Command::Restore(args) => restore::run(store, g, &args),
        Command::List { format, quiet } => list::run(store, format, quiet).map(|_| 0),
        Command::Spec {
            bundle,
            rootless,
            hardened,
        } => spec::write_spec(&bundle, rootless, hardened).map(|_| 0),
        Command::Exec(args) => exec::run(store, &args),
        Command::Pause { id } => pause::run(store, &id).map(|_| 0),
        Command::Resume { id } => resume::run(store, &id).map(|_| 0),
        Command::Ps { format, args } => ps::run(store, format, &args).map(|_| 0),
        Command::Update(args) => update::run(store, &args).map(|_| 0),
        Command::Events {
            stats,
            interval,
            id,
        } => events::run(store, &id, stats, &interval).map(|_| 0),
        Command::Check { format } => check::run(format),
        Command::Completion { shell } => completion::run(shell).map(|_| 0),
        Command::Features => {
            print_json(&features::features())?;
            Ok(0)
        }
    }
}
