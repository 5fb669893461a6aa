//! `delete`: remove a stopped container's resources (runtime.md "delete"); with `force`, kill a
//! live one first.

use std::os::fd::AsFd;
use std::path::Path;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::{lifecycle_hooks, own_cgroup, status, ContainerError, Status};
use crate::hooks::HookKind;
use crate::process::liveness;
use crate::state::{ContainerId, ContainerState, StateError, Store};
use crate::sys;

/// Deletes a container. Without `force`, a stopped or a created container may be deleted; with
/// `force`, also a running or paused one, and a missing container is not an error, so cleanup
/// after a crash is idempotent. With `force`, a container whose state directory or state file
/// is damaged is found by its identity record, killed and removed, with a warning
/// (damaged.rs).
///
/// A created container is killed and deleted without `force`, as runc 1.1.5 does, although
/// runtime.md says deleting a container that is not stopped MUST fail: containerd's runc shim
/// removes a created-but-never-started task with a plain `delete ID` (no `--force`;
/// pkg/process `Init.delete`) and would otherwise keep failing. Its program never ran, so
/// nothing of the user's is lost (docs/lifecycle.md).
pub fn delete(store: &Store, id: &str, force: bool) -> Result<(), ContainerError> {
    let id = ContainerId::new(id)?;
    let locked = if force {
        store.lock_forcibly(&id)
    } else {
        store.lock(&id)
    };
    let container = match locked {
        Err(StateError::NotFound { .. }) if force => return Ok(()),
        // The state directory is gone, the identity record is not: the container may live.
        Err(e @ StateError::StateDirMissing { .. }) if force => {
            return super::damaged::delete(store, &id, None, &e)
        }
        other => other?,
    };
    let state = match container.load() {
        Ok(s) => s,
        // A state file we cannot read (for instance a truncated one after a crash): the
        // identity record still says what to kill and remove.
        Err(e) if force => return super::damaged::delete(store, &id, Some(container), &e),
        Err(e) => return Err(e.into()),
    };
    match status(&state) {
        Status::Stopped => {}
        // A "creating" container whose lock we hold was left by a berth that died mid-create.
        Status::Creating if force => {}
        Status::Created => kill_and_wait(&state)?,
        other if !force => {
            return Err(ContainerError::WrongState {
                op: "delete",
                id: state.id,
                status: other,
                hint: " (use --force to kill and delete it)",
            })
        }
        _ => kill_and_wait(&state)?,
    }
    // A container without a cgroup (`--cgroup-manager=disabled`) has nothing to remove; what
    // its init left behind without a pid namespace of its own is out of berth's reach.
    if let Some(cgroup) = own_cgroup(&state) {
        // Processes the init left behind (possible without a pid namespace) go with it.
        if cgroup.pids().map(|p| !p.is_empty()).unwrap_or(false) {
            cgroup.signal_all(libc::SIGKILL)?;
        }
        match cgroup.remove() {
            Ok(()) => {}
            // The container's processes are gone (killed above, or with its pid namespace);
            // what keeps the directory busy was put there by someone else through a shared
            // cgroupsPath. runc warns and deletes the container; so does berth.
            Err(e) if cgroup.occupants() > 0 => crate::log_warn!(
                "delete container {:?}: cgroup left in place, it holds processes the container did not start: {e}",
                state.id
            ),
            Err(e) => return Err(e.into()),
        }
    }
    container.destroy()?;
    // runtime.md: poststop after the container is deleted, before delete returns; failures
    // are warnings.
    lifecycle_hooks::run_warning_only(&state, HookKind::Poststop, 0, Status::Stopped);
    Ok(())
}

/// SIGKILLs the init (and its cgroup) and waits, bounded, for the init to exit. Without a
/// cgroup, SIGKILL to an init that created its pid namespace kills every process of the
/// container (pid_namespaces(7)); the kernel has done so by the time the init's pidfd reports
/// its exit. In a shared pid namespace only the init can be told apart from other processes.
fn kill_and_wait(state: &ContainerState) -> Result<(), ContainerError> {
    let (Some(pid), Some(start)) = (state.pid, state.pid_start_time) else {
        return Ok(());
    };
    let Ok(pidfd) = sys::pidfd_open(pid) else {
        return Ok(()); // already gone
    };
    if !liveness::is_alive(Path::new("/proc"), pid, start) {
        return Ok(());
    }
    if let Some(cgroup) = own_cgroup(state) {
        cgroup.signal_all(libc::SIGKILL)?;
    }
    super::kill::signal_init(state, libc::SIGKILL).or_else(|e| match e {
        ContainerError::Signal {
            source: nix::Error::ESRCH,
            ..
        } => Ok(()),
        e => Err(e),
    })?;
    if let Some(cgroup) = own_cgroup(state) {
        // A paused container's processes die only once thawed (v1 freezer).
        super::pause::thaw_after_kill(cgroup, Status::Paused, libc::SIGKILL)?;
    }
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs(super::KILL_WAIT_SECS);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let timeout = PollTimeout::try_from(left.as_millis() as i32).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            // A signal is not the init's exit: wait out the rest of the bound.
            Err(nix::Error::EINTR) if !left.is_zero() => continue,
            Ok(0) | Err(nix::Error::EINTR) => {
                return Err(ContainerError::KillTimeout {
                    id: state.id.clone(),
                    secs: super::KILL_WAIT_SECS,
                })
            }
            Ok(_) => return Ok(()),
            Err(source) => {
                return Err(ContainerError::WaitExit {
                    id: state.id.clone(),
                    source,
                })
            }
        }
    }
}
