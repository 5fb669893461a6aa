//! The init's part in the hooks (hooks/ has the table): stopping before pivot_root so that
//! `berth create` runs prestart and createRuntime, then running createContainer itself; and,
//! once `start` released it, running startContainer and telling `start` the outcome.

use std::fs::File;
use std::io::Write;

use super::channel::{Channel, ChannelError, Msg};
use crate::bundle::Plan;
use crate::hooks::{self, HookKind};
use crate::sys;

/// A hook step that failed.
#[derive(Debug, thiserror::Error)]
pub enum HookStepsError {
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Hook(#[from] hooks::HookError),
    #[error("write the startContainer hooks' result to exec.fifo")]
    FifoReply(#[source] std::io::Error),
}

/// RunHooks → (parent: prestart, createRuntime) → HooksDone(state) → createContainer.
/// Returns the state JSON for startContainer; `None` when the config has none of these hooks
/// (the protocol step is then skipped on both sides).
pub(super) fn before_pivot(plan: &Plan, chan: &Channel) -> Result<Option<String>, HookStepsError> {
    if !plan.hooks.init_needs_sync() {
        return Ok(None);
    }
    chan.send(&Msg::RunHooks)?;
    let state = chan.recv_hooks_done()?;
    // config.md: in the container namespace, after the mounts, before pivot_root; the path
    // therefore still resolves in the runtime's view of the filesystem.
    let creating = hooks::state_with_status(&state, "creating");
    // As runc: in the rootfs, with the container process's environment.
    let ctx = hooks::HookContext {
        cwd: Some(&plan.rootfs_path),
        default_env: Some(&plan.process.env),
    };
    hooks::run_all(&plan.hooks, HookKind::CreateContainer, &creating, ctx)?;
    Ok(Some(state))
}

/// After `start` opened exec.fifo: runs startContainer (status "created": the program has not
/// run yet) and writes the outcome on the FIFO for `start` to report, in the channel's
/// encoding: `Started`, or `Error` with the errno and the chain.
pub(super) fn start_container(
    plan: &Plan,
    state: Option<&str>,
    fifo: &mut File,
) -> Result<(), HookStepsError> {
    let result = match state {
        // As runc: in the process's cwd (the init is already there), with its environment.
        Some(s) if plan.hooks.has(HookKind::StartContainer) => hooks::run_all(
            &plan.hooks,
            HookKind::StartContainer,
            &hooks::state_with_status(s, "created"),
            hooks::HookContext {
                cwd: None,
                default_env: Some(&plan.process.env),
            },
        ),
        _ => Ok(()),
    };
    let reply = match &result {
        Ok(()) => Msg::Started,
        Err(e) => {
            let (errno, chain) = super::channel::error_chain(e);
            Msg::Error { errno, chain }
        }
    };
    // One write of at most PIPE_BUF bytes is atomic: `start` reads it whole.
    let reply = super::channel::encode_within(&reply, libc::PIPE_BUF);
    match sys::with_sigpipe_ignored(|| fifo.write_all(&reply)) {
        // EPIPE: the `start` that released the init died before reading the reply. Its
        // request stands: the program runs, and `state` reads that off the init's execve
        // (container::status, Phase::Starting).
        Err(e) if e.raw_os_error() == Some(libc::EPIPE) && result.is_ok() => {}
        other => other.map_err(HookStepsError::FifoReply)?,
    }
    Ok(result?)
}
