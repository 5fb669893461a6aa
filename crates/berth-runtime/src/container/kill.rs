//! `kill`: send a signal to the container's init, or with `all` to every process in its cgroup
//! (runtime.md "kill").

use std::os::fd::AsRawFd;
use std::path::Path;

use super::{lock_for, ContainerError, Locked, Status};
use crate::process::{liveness, sys};
use crate::state::{ContainerState, Store};

/// Signals a created or running container.
pub fn kill(store: &Store, id: &str, signal: i32, all: bool) -> Result<(), ContainerError> {
    let Locked {
        container: _lock,
        state,
        status: current,
    } = lock_for(
        store,
        id,
        "kill",
        &[Status::Created, Status::Running, Status::Paused],
    )?;
    if all {
        if let Some(cgroup) = &state.cgroup {
            cgroup.signal_all(signal)?;
            super::pause::thaw_after_kill(cgroup, current, signal)?;
            return Ok(());
        }
    }
    signal_init(&state, signal)?;
    if let Some(cgroup) = &state.cgroup {
        super::pause::thaw_after_kill(cgroup, current, signal)?;
    }
    Ok(())
}

/// Signals the init through a pidfd checked against the recorded start time, so a reused pid
/// never receives the signal.
pub(super) fn signal_init(state: &ContainerState, signal: i32) -> Result<(), ContainerError> {
    let err = |source| ContainerError::Signal {
        id: state.id.clone(),
        signal,
        source,
    };
    let (Some(pid), Some(start)) = (state.pid, state.pid_start_time) else {
        return Err(err(nix::Error::ESRCH));
    };
    let pidfd = sys::pidfd_open(pid).map_err(err)?;
    if !liveness::is_alive(Path::new("/proc"), pid, start) {
        return Err(err(nix::Error::ESRCH));
    }
    sys::pidfd_send_signal(pidfd.as_raw_fd(), signal).map_err(err)
}
