//! `start`: release the init waiting on `exec.fifo` (runtime.md "start").

use std::os::fd::AsFd;

use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

use super::create::EXEC_FIFO;
use super::{lifecycle_hooks, lock_for, ContainerError, Locked, Status};
use crate::hooks::HookKind;
use crate::process::{liveness, sys};
use crate::state::{Phase, Store};

/// Starts a created container: its init execs the user's program.
pub fn start(store: &Store, id: &str) -> Result<(), ContainerError> {
    let Locked {
        container,
        mut state,
        ..
    } = lock_for(store, id, "start", &[Status::Created])?;
    let pid = state.pid.expect("a created container has a pid");
    let fifo_path = container.dir().join(EXEC_FIFO);
    let open_err = |source| ContainerError::OpenFifo {
        id: state.id.clone(),
        path: fifo_path.clone(),
        source,
    };
    // Before opening the FIFO: once a reader exists the init may exec, run and exit at any
    // moment, and must not then be mistaken for an init that died before start.
    let pidfd = sys::pidfd_open(pid).map_err(|_| ContainerError::InitExited {
        id: state.id.clone(),
    })?;
    // The pidfd could belong to a reused pid: check it is still our init after opening it.
    if !liveness::is_alive(
        std::path::Path::new("/proc"),
        pid,
        state.pid_start_time.unwrap_or(0),
    ) {
        return Err(ContainerError::InitExited { id: state.id });
    }
    // Non-blocking, so that a dead init cannot hang `start`: we wait below for either the
    // init's byte on the FIFO or the init's exit, whichever comes first.
    let fifo = open(
        &fifo_path,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(open_err)?;
    let wait_err = |source| ContainerError::WaitStart {
        id: state.id.clone(),
        source,
    };
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(wait_err(e)),
            Ok(_) => {}
        }
        let fifo_ready = fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLIN));
        let init_gone = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_ready {
            // `0`, or `1` and the startContainer hook's error (process/hook_steps.rs).
            let mut reply = [0u8; libc::PIPE_BUF];
            match nix::unistd::read(&fifo, &mut reply) {
                Ok(n) if n >= 1 && reply[0] == b'0' => break,
                Ok(n) if n > 1 && reply[0] == b'1' => {
                    let _ = std::fs::remove_file(&fifo_path);
                    state.phase = Phase::Started; // the init exits: the container is stopped
                    container.save(&state)?;
                    return Err(ContainerError::StartFailed {
                        id: state.id,
                        reason: String::from_utf8_lossy(&reply[1..n]).into_owned(),
                    });
                }
                Err(nix::Error::EAGAIN) => continue,
                _ => return Err(ContainerError::InitExited { id: state.id }),
            }
        }
        if init_gone {
            return Err(ContainerError::InitExited { id: state.id });
        }
    }
    crate::phase!("start: init released");
    let _ = std::fs::remove_file(&fifo_path);
    state.phase = Phase::Started;
    container.save(&state)?;
    // runtime.md step 9: poststart in the runtime namespace; failures are warnings.
    lifecycle_hooks::run_warning_only(&state, HookKind::Poststart, pid, Status::Running);
    Ok(())
}
