//! `kill`: send a signal to the container's init, or with `all` to every process in its cgroup
//! (runtime.md "kill"); a container without a cgroup falls back to its own pid namespace.
//!
//! `kill --all` of a stopped container is not an error (runc 1.1.5 `Signal(all)`): its cgroup
//! may still hold processes the init left behind (no pid namespace of its own), and
//! containerd's runc shim sends exactly `kill --all ID 9` after the init exited to reap them,
//! retrying while it fails. Those processes get the signal; with none, it is a no-op.
//! Without `--all` a stopped container is refused as runc refuses it, "container not running"
//! ([`ContainerError::NotRunning`]): the runc shim takes exactly those words for "already
//! exited".

use std::os::fd::AsRawFd;
use std::path::Path;

use super::pid_ns::OwnPidNs;
use super::{own_cgroup, ContainerError, Status};
use crate::process::liveness;
use crate::state::{ContainerState, Store};
use crate::sys;

/// Signals a created, running or paused container; with `all`, also a stopped one (the
/// processes left in its cgroup). Signal 0 delivers nothing: it checks that the init (or, with
/// `all`, each process) exists.
pub fn kill(store: &Store, id: &str, signal: i32, all: bool) -> Result<(), ContainerError> {
    let with_stopped = [
        Status::Created,
        Status::Running,
        Status::Paused,
        Status::Stopped,
    ];
    let cid = crate::state::ContainerId::new(id)?;
    // Never wait for the lock: a signal is what ends a create, start or delete stuck in a hook
    // without a timeout or in a stopped process (docs/waits-and-locks.md). When another
    // command holds it, the state is read without it; the init is still reached only through
    // a pidfd checked against its recorded start time, so a reused pid never gets the signal.
    let (_lock, state) = match store.try_lock(&cid)? {
        Some(container) => {
            let state = container.load()?;
            (Some(container), state)
        }
        None => (None, store.read(&cid)?),
    };
    let current = super::status(&state);
    super::require_status("kill", &state.id, current, &with_stopped)?;
    if !all && current == Status::Stopped {
        return Err(ContainerError::NotRunning { id: state.id });
    }
    let cgroup = own_cgroup(&state);
    if all && current == Status::Stopped {
        // Without a cgroup nothing names the leftovers (and the init is gone), as runc: done.
        if let Some(cgroup) = cgroup {
            cgroup.signal_all(signal)?;
        }
        return Ok(());
    }
    if all {
        let Some(cgroup) = cgroup else {
            return signal_all_without_cgroup(&state, signal);
        };
        cgroup.signal_all(signal)?;
        super::pause::thaw_after_kill(cgroup, current, signal)?;
        return Ok(());
    }
    signal_init(&state, signal)?;
    if let Some(cgroup) = cgroup {
        super::pause::thaw_after_kill(cgroup, current, signal)?;
    }
    Ok(())
}

/// `kill --all` of a container created with `--cgroup-manager=disabled`: no cgroup lists its
/// processes, so what can be reached is signalled.
/// - The init created its pid namespace: every process in that namespace is the container's and
///   gets the signal, the init last (the others first, so that an init that exits on it does
///   not make the kernel SIGKILL them before they saw it). A process forked during the scan may
///   miss a signal other than SIGKILL; SIGKILL reaches it anyway, since the kernel kills every
///   process of a pid namespace whose init dies (pid_namespaces(7)).
/// - The pid namespace is shared with the host or joined: nothing but a cgroup tells the
///   container's other processes apart from everyone else's there, so only the init is
///   signalled; processes it forked live on. That is the limit of running without a cgroup.
fn signal_all_without_cgroup(state: &ContainerState, signal: i32) -> Result<(), ContainerError> {
    let proc = Path::new("/proc");
    let own_ns = match (state.pid, state.pid_start_time) {
        // Checked before and after the scan: the namespace read must be the recorded init's,
        // not that of a process that reused its pid.
        (Some(pid), Some(start)) if liveness::is_alive(proc, pid, start) => {
            OwnPidNs::of(proc, pid).filter(|_| liveness::is_alive(proc, pid, start))
        }
        _ => None,
    };
    if let Some(ns) = own_ns {
        for &pid in ns.members.iter().filter(|&&p| Some(p) != state.pid) {
            signal_member(state, &ns, proc, pid, signal)?;
        }
    }
    signal_init(state, signal)
}

/// Signals `pid` through a pidfd if, once pinned, it is still in the container's namespace.
fn signal_member(
    state: &ContainerState,
    ns: &OwnPidNs,
    proc: &Path,
    pid: i32,
    signal: i32,
) -> Result<(), ContainerError> {
    let Ok(pidfd) = sys::pidfd_open(pid) else {
        return Ok(()); // exited since the scan
    };
    if !ns.holds(proc, pid) {
        return Ok(()); // exited, and the pid now belongs to a process outside the container
    }
    match sys::pidfd_send_signal(pidfd.as_raw_fd(), signal) {
        Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
        Err(source) => Err(ContainerError::SignalPid {
            id: state.id.clone(),
            pid,
            signal,
            source,
        }),
    }
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
