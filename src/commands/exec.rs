//! `berth exec`: run a process in a container; in the foreground, wait for it (relaying its
//! terminal when it has one and no console socket) and exit with its status.
//!
//! A failure exits 255, not 1, as runc's exec does (`fatalWithCode(err, 255)` for every error
//! of its exec): a caller can tell "berth could not run the process" from a process that ran
//! and exited 1.

use anyhow::Context;
use berth_runtime::cgroups::SubCgroups;
use berth_runtime::container::{self, ExecOptions, ExecOverrides, ExecProcess};
use berth_runtime::state::Store;

use super::ExitWith;
use crate::cli::ExecArgs;

/// runc's exit status for an exec that failed before its process ran.
const EXEC_FAILED: u8 = 255;

pub fn run(store: &Store, a: &ExecArgs) -> anyhow::Result<u8> {
    exec(store, a).map_err(|error| {
        ExitWith {
            code: EXEC_FAILED,
            error,
        }
        .into()
    })
}

fn exec(store: &Store, a: &ExecArgs) -> anyhow::Result<u8> {
    let sub_cgroups =
        SubCgroups::parse(&a.cgroups).with_context(|| format!("exec in container {:?}", a.id))?;
    let process = match &a.process {
        Some(path) => ExecProcess::Json(path.clone()),
        None => ExecProcess::Args(ExecOverrides {
            args: a.command.clone(),
            cwd: a.cwd.clone(),
            env: a.env.clone(),
            user: a.user.clone(),
            additional_gids: a.additional_gids.clone(),
            caps: a.cap.clone(),
            no_new_privs: a.no_new_privs,
        }),
    };
    let opts = ExecOptions {
        process,
        tty: a.tty,
        console_socket: a.console_socket.clone(),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        ignore_paused: a.ignore_paused,
        apparmor: a.apparmor.clone(),
        process_label: a.process_label.clone(),
        sub_cgroups,
    };
    // Block the forwarded signals before the process exists, so none is lost.
    let forwarded = super::run::forwarded_signals();
    if !a.detach {
        nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_BLOCK,
            Some(&forwarded),
            None,
        )
        .context("block signals")?;
    }
    let done = container::exec(store, &a.id, &opts)
        .with_context(|| format!("exec in container {:?}", a.id))?;
    if a.detach {
        return Ok(0);
    }
    match done.console {
        Some(master) => berth_runtime::terminal::relay_and_wait(done.pid, master, &forwarded)
            .context("relay the terminal"),
        None => super::run::wait_forwarding(done.pid, &forwarded),
    }
}
