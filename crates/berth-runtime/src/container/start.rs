//! `start`: release the init waiting on `exec.fifo` (runtime.md "start").

use std::os::fd::AsFd;

use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

use super::create::EXEC_FIFO;
use super::{lifecycle_hooks, lock_for, ContainerError, Locked, Status};
use crate::hooks::HookKind;
use crate::process::channel::{self, Step};
use crate::process::liveness;
use crate::state::{Phase, Store};
use crate::sys;

/// How often `start` checks, while it waits for the init's reply, whether the init exec'd
/// without one (it was released by a `start` that died).
const RECHECK_MS: u16 = 100;

/// Starts a created container: its init execs the user's program, then the poststart hooks
/// run.
pub fn start(store: &Store, id: &str) -> Result<(), ContainerError> {
    release(store, id)?.run_poststart();
    Ok(())
}

/// A container whose init has been released to exec the program, its poststart hooks not yet
/// run (runtime.md "start" steps 8 and 9).
#[must_use = "the poststart hooks must run"]
pub struct Released {
    state: crate::state::ContainerState,
    pid: i32,
}

impl Released {
    /// Runs the poststart hooks in the runtime namespace; their failures are warnings.
    pub fn run_poststart(self) {
        lifecycle_hooks::run_warning_only(
            &self.state,
            HookKind::Poststart,
            self.pid,
            Status::Running,
        );
    }
}

/// The first half of [`start`]: releases the init and records the container as started,
/// holding the container's lock; the lock is released on return, so that poststart hooks
/// without a timeout do not keep `kill`, `pause` or `delete` waiting behind them. The shim
/// reports the task started between the two halves.
pub fn release(store: &Store, id: &str) -> Result<Released, ContainerError> {
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
    // From here on the init may be released: a `start` that dies before it records
    // `Started` leaves `Starting`, from which `status` reads the truth off the init.
    state.phase = Phase::Starting;
    container.save(&state)?;
    // Non-blocking, so that a dead init cannot hang `start`: we wait below for the init's
    // reply on the FIFO, the init's exit, or its execve without a reply.
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
    let proc_root = std::path::Path::new("/proc");
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        // The init replies at once unless startContainer hooks run first; the timeout only
        // paces the check below.
        match poll(&mut fds, PollTimeout::from(RECHECK_MS)) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(wait_err(e)),
            Ok(_) => {}
        }
        let fifo_events = fds[0].revents().unwrap_or(PollFlags::empty());
        if fifo_events == PollFlags::POLLHUP {
            // The init closed its end without a reply and is on its way to execve: poll
            // would report the hang-up at once again, so pace the check below here.
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let init_gone = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_events.intersects(PollFlags::POLLIN) {
            // `Started`, or `Error` from the startContainer hooks (process/hook_steps.rs), in
            // one atomic write.
            let mut reply = [0u8; libc::PIPE_BUF];
            match nix::unistd::read(&fifo, &mut reply) {
                Ok(n) if n > 0 => {
                    let msg = channel::decode(&reply[..n], "container init");
                    match msg.and_then(|m| channel::in_order(m, Step::Started, "container init")) {
                        Ok(_) => break,
                        Err(e) => {
                            let _ = std::fs::remove_file(&fifo_path);
                            state.phase = Phase::Started; // the init exits: it is stopped
                            container.save(&state)?;
                            return Err(ContainerError::StartFailed(e));
                        }
                    }
                }
                Err(nix::Error::EAGAIN) => continue,
                _ => {}
            }
        }
        if init_gone {
            return Err(ContainerError::InitExited { id: state.id });
        }
        // No reply (yet): a previous `start` that died after opening the FIFO released the
        // init, whose reply went nowhere and which exec'd the program. Once the init no
        // longer holds exec.fifo, its execve is done: the container is running.
        if !super::init_holds_exec_fifo(proc_root, pid, &state.id) {
            if !liveness::is_alive(proc_root, pid, state.pid_start_time.unwrap_or(0)) {
                return Err(ContainerError::InitExited { id: state.id });
            }
            break;
        }
    }
    crate::phase!("start: init released");
    let _ = std::fs::remove_file(&fifo_path);
    state.phase = Phase::Started;
    container.save(&state)?;
    Ok(Released { state, pid })
}
