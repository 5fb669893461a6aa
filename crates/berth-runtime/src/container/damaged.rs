//! `delete --force` of a container whose state is damaged (issue #21 item 5): its state
//! directory is gone, or its `state.json` is missing, truncated or not valid. The container may
//! still live; runc leaks it here, berth finds it by its identity record (state/identity.rs)
//! and kills every process in its cgroup, checks the init by pid and start time, removes the
//! cgroup, and warns naming what was damaged.

use std::collections::BTreeSet;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::ContainerError;
use crate::cgroups::{CgroupPlan, FreezerState, HostCgroups};
use crate::process::liveness;
use crate::state::{ContainerId, LockedContainer, StateError, Store};
use crate::sys;

/// How long the killed processes get to exit (as for an intact container's delete --force).
const KILL_WAIT: Duration = Duration::from_secs(super::KILL_WAIT_SECS);

/// Deletes container `id`, whose state could not be used (`damage`), from its identity record:
/// kill, wait (bounded), remove the cgroup, the state directory (`container`, when it exists;
/// its lock is held) and the record, then warn. Without a usable record the cgroup is looked
/// for at the default path, `berth/<id>`, which is what an unset cgroupsPath gives; there is
/// no init to check then, since the pid was in the lost state.
pub(super) fn delete(
    store: &Store,
    id: &ContainerId,
    container: Option<LockedContainer>,
    damage: &StateError,
) -> Result<(), ContainerError> {
    let (cgroup, init, found_by) = match store.read_identity(id) {
        Ok(Some(identity)) => (
            identity.cgroup.filter(|c| !c.disabled),
            identity.pid.zip(identity.pid_start_time),
            format!("its identity record {}", store.identity_dir(id).display()),
        ),
        other => {
            let why = match other {
                Err(e) => format!("its identity record is unusable: {}", chain(&e)),
                Ok(_) => "it has no identity record".to_string(),
            };
            let guess = HostCgroups::detect(Path::new("/proc/self/mountinfo"))
                .ok()
                .and_then(|host| CgroupPlan::new(&host, None, id.as_str(), false).ok());
            (guess, None, format!("the default cgroup path ({why})"))
        }
    };
    let existed = cgroup
        .as_ref()
        .is_some_and(|c| c.hierarchies.iter().any(|h| c.dir(h).exists()));
    let killed = kill_all(id, cgroup.as_ref(), init)?;
    if let Some(cgroup) = &cgroup {
        match cgroup.remove() {
            Ok(()) => {}
            // As for an intact container: what keeps it busy was put there by someone else.
            Err(e) if cgroup.occupants() > 0 => crate::log_warn!(
                "delete container {:?}: cgroup left in place, it holds processes the container did not start: {e}",
                id.as_str()
            ),
            Err(e) => return Err(e.into()),
        }
    }
    match container {
        Some(container) => container.destroy()?,
        None => store.remove_identity(id)?,
    }
    let cgroup_text = match &cgroup {
        Some(c) if existed => format!("removed cgroup {}", c.relative_path.display()),
        Some(c) => format!("found no cgroup at {}", c.relative_path.display()),
        None => "it has no cgroup".to_string(),
    };
    crate::log_warn!(
        "delete --force {}: the container's state is damaged ({}); found it by {found_by}: killed {killed} process(es), {cgroup_text}; poststop hooks, if it had any, were lost with the state and did not run",
        id.as_str(),
        damage_text(damage)
    );
    Ok(())
}

/// What was damaged, in words: the missing directory, or the state file error's chain.
fn damage_text(damage: &StateError) -> String {
    match damage {
        StateError::StateDirMissing { dir, .. } => {
            format!("state directory {} is missing", dir.display())
        }
        other => chain(other),
    }
}

/// An error and its sources, `: `-joined (as the CLI prints a chain).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    crate::process::channel::error_chain(e).1.join(": ")
}

/// SIGKILLs every process in `cgroup` and the recorded init (only if it is still the process
/// with the recorded start time: a recycled pid is never signalled), again until none is left,
/// for at most [`KILL_WAIT`]. `signal_all` is one write of `cgroup.kill` where the kernel has
/// it; otherwise each listed pid is signalled, and a process forked meanwhile is caught by the
/// next round. A frozen cgroup is thawed, or its processes would not die. Returns how many
/// distinct processes were found.
fn kill_all(
    id: &ContainerId,
    cgroup: Option<&CgroupPlan>,
    init: Option<(i32, u64)>,
) -> Result<usize, ContainerError> {
    let init = init.and_then(|(pid, start)| {
        // Pinned first, checked second: the pidfd cannot come to name another process.
        let pidfd = sys::pidfd_open(pid).ok()?;
        liveness::is_alive(Path::new("/proc"), pid, start).then_some((pid, pidfd))
    });
    let mut seen: BTreeSet<i32> = init.iter().map(|(pid, _)| *pid).collect();
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        let pids = match cgroup {
            Some(c) => c.pids()?,
            None => Vec::new(),
        };
        seen.extend(&pids);
        let init_alive = init.as_ref().is_some_and(|(_, fd)| !has_exited(fd));
        if pids.is_empty() && !init_alive {
            return Ok(seen.len());
        }
        if Instant::now() >= deadline {
            return Err(ContainerError::KillTimeout {
                id: id.as_str().to_owned(),
                secs: KILL_WAIT.as_secs(),
            });
        }
        if let Some(c) = cgroup.filter(|_| !pids.is_empty()) {
            c.signal_all(libc::SIGKILL)?;
            if c.freezer_state() != FreezerState::Thawed {
                c.thaw()?;
            }
        }
        if let Some((_, pidfd)) = init.as_ref().filter(|_| init_alive) {
            match sys::pidfd_send_signal(pidfd.as_raw_fd(), libc::SIGKILL) {
                Ok(()) | Err(nix::Error::ESRCH) => {}
                Err(source) => {
                    return Err(ContainerError::Signal {
                        id: id.as_str().to_owned(),
                        signal: libc::SIGKILL,
                        source,
                    })
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A pidfd is readable once its process has exited (pidfd_open(2)).
fn has_exited(pidfd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}
