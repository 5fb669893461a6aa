//! Container lifecycle operations (runtime.md "Operations"), shared by the CLI and the shim.
//!
//! Status is never stored, only derived: the recorded phase (created or started) plus whether
//! the recorded init is still the same live process (pid and start time).

mod checkpoint;
mod create;
mod damaged;
mod delete;
mod exec;
mod kill;
mod lifecycle_hooks;
mod pause;
mod pid_ns;
mod restore;
mod start;
mod stats;
mod update;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use checkpoint::{checkpoint, CgroupsMode, CheckpointOptions};
pub use create::{create, create_with_console, CreateOptions};
pub use delete::delete;
pub use exec::{exec, ExecError, ExecOptions, ExecOverrides, ExecProcess, Executed};
pub use kill::kill;
pub use pause::{pause, resume};
pub use restore::{restore, RestoreOptions};
pub use start::{release, start, Released};
pub use stats::{stats, StatsEvent};
pub use update::{update, update_requiring};

use crate::cgroups::CgroupPlan;
use crate::process::liveness;
use crate::state::{ContainerState, Phase};

/// runtime.md "State": the status values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    /// The container's cgroup is frozen (`berth pause`).
    Paused,
    Stopped,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// How long `delete --force` waits for the killed processes to exit (delete.rs, and
/// damaged.rs for a container whose state is damaged).
const KILL_WAIT_SECS: u64 = 10;

/// A lifecycle operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    #[error("the container is {status}{hint}")]
    WrongState {
        op: &'static str,
        id: String,
        status: Status,
        hint: &'static str,
    },
    /// `kill` (without `--all`) of a stopped container. The words are runc's: containerd's runc
    /// shim (pkg/process/utils.go `checkKillError`) turns a kill error containing "container
    /// not running" into NotFound ("process already finished"), and any other text into an
    /// Unknown error that fails CRI's StopContainer when the init exits just before the kill.
    #[error("container not running (it is stopped)")]
    NotRunning { id: String },
    #[error("create {path}")]
    Fifo {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("open {path}")]
    OpenFifo {
        id: String,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("the container process exited before it could be started")]
    InitExited { id: String },
    #[error("wait for the container process to take the start signal")]
    WaitStart {
        id: String,
        #[source]
        source: nix::Error,
    },
    #[error("write pid file {path}")]
    PidFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("send signal {signal} to the container process")]
    Signal {
        id: String,
        signal: i32,
        #[source]
        source: nix::Error,
    },
    #[error("send signal {signal} to process {pid} of the container")]
    SignalPid {
        id: String,
        pid: i32,
        signal: i32,
        #[source]
        source: nix::Error,
    },
    #[error(
        "container {id:?} has no cgroup (created with --cgroup-manager=disabled, or rootless)"
    )]
    NoCgroup { id: String },
    #[error("container {id:?} has no cgroup (created with --cgroup-manager=disabled, or rootless) and its init is not pid 1 of a live pid namespace of its own, so nothing tells its processes apart from others")]
    NoProcessList { id: String },
    #[error("wait for the container process to exit after SIGKILL: poll its pidfd")]
    WaitExit {
        id: String,
        #[source]
        source: nix::Error,
    },
    #[error("its processes did not exit within {secs} s of SIGKILL")]
    KillTimeout { id: String, secs: u64 },
    #[error(transparent)]
    Terminal(#[from] crate::terminal::TerminalError),
    #[error("process.terminal is true but no --console-socket was given to receive the terminal (berth exits after create; use --console-socket, or run it in the foreground)")]
    TerminalWithoutConsole,
    #[error("--console-socket is only used with a terminal (process.terminal or exec --tty)")]
    ConsoleWithoutTerminal,
    /// The init's startContainer hooks failed: its reply on exec.fifo.
    #[error(transparent)]
    StartFailed(crate::process::channel::ChannelError),
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    #[error(transparent)]
    Criu(#[from] crate::criu::CriuError),
}

/// A container locked for an operation, whose status the operation allows.
pub(super) struct Locked {
    pub container: crate::state::LockedContainer,
    pub state: ContainerState,
    pub status: Status,
}

/// Locks container `id` (held until the returned value drops) and loads its state; fails
/// naming the container's status unless it is one of `allowed`.
pub(super) fn lock_for(
    store: &crate::state::Store,
    id: &str,
    op: &'static str,
    allowed: &[Status],
) -> Result<Locked, ContainerError> {
    let locked = lock(store, id)?;
    locked.check_status(op, allowed)?;
    Ok(locked)
}

/// Locks container `id` and loads its state, whatever its status.
pub(super) fn lock(store: &crate::state::Store, id: &str) -> Result<Locked, ContainerError> {
    let cid = crate::state::ContainerId::new(id)?;
    let container = store.lock(&cid)?;
    let state = container.load()?;
    let status = status(&state);
    Ok(Locked {
        container,
        state,
        status,
    })
}

impl Locked {
    /// Fails naming the container's status unless it is one of `allowed`.
    pub(super) fn check_status(
        &self,
        op: &'static str,
        allowed: &[Status],
    ) -> Result<(), ContainerError> {
        require_status(op, &self.state.id, self.status, allowed)
    }
}

/// Fails naming the container's status unless it is one of `allowed`.
fn require_status(
    op: &'static str,
    id: &str,
    status: Status,
    allowed: &[Status],
) -> Result<(), ContainerError> {
    if allowed.contains(&status) {
        return Ok(());
    }
    Err(ContainerError::WrongState {
        op,
        id: id.to_owned(),
        status,
        hint: "",
    })
}

/// The container's cgroup, for the operations that cannot work without one (pause, resume,
/// update, stats); [`ContainerError::NoCgroup`] for a container created with
/// `--cgroup-manager=disabled`.
pub fn cgroup_of(state: &ContainerState) -> Result<&CgroupPlan, ContainerError> {
    own_cgroup(state).ok_or_else(|| ContainerError::NoCgroup {
        id: state.id.clone(),
    })
}

/// The container's processes (`ps`): its cgroup's (and its child cgroups'). A container
/// without a cgroup (rootless, `--cgroup-manager=disabled`) whose init created its pid
/// namespace: every process of that namespace (container/pid_ns.rs), read between two checks
/// that the init is still the recorded one. Anything else: [`ContainerError::NoProcessList`],
/// not a partial list.
pub fn pids(state: &ContainerState) -> Result<Vec<i32>, ContainerError> {
    if let Some(cgroup) = own_cgroup(state) {
        return Ok(cgroup.pids()?);
    }
    let proc = Path::new("/proc");
    let own_ns = match (state.pid, state.pid_start_time) {
        (Some(pid), Some(start)) if liveness::is_alive(proc, pid, start) => {
            pid_ns::OwnPidNs::of(proc, pid).filter(|_| liveness::is_alive(proc, pid, start))
        }
        _ => None,
    };
    own_ns
        .map(|ns| ns.members)
        .ok_or_else(|| ContainerError::NoProcessList {
            id: state.id.clone(),
        })
}

/// The container's cgroup, or `None` when it has none (`--cgroup-manager=disabled`), for the
/// operations that do what they can without one (kill, delete, exec).
pub(super) fn own_cgroup(state: &ContainerState) -> Option<&CgroupPlan> {
    state.cgroup.as_ref().filter(|c| !c.disabled)
}

/// The live status of a container.
pub fn status(state: &ContainerState) -> Status {
    status_in(Path::new("/proc"), state)
}

fn status_in(proc_root: &Path, state: &ContainerState) -> Status {
    let alive = match (state.pid, state.pid_start_time) {
        (Some(pid), Some(start)) => liveness::is_alive(proc_root, pid, start),
        _ => false,
    };
    // A live container whose cgroup is frozen is paused (runc reports the same).
    let frozen = || {
        own_cgroup(state).is_some_and(|c| c.freezer_state() != crate::cgroups::FreezerState::Thawed)
    };
    match (state.phase, alive) {
        (Phase::Creating, _) => Status::Creating,
        (Phase::Created | Phase::Starting | Phase::Started, true) if frozen() => Status::Paused,
        (Phase::Created, true) => Status::Created,
        // A `start` in progress, or one that died: the program has not been exec'd while the
        // init still holds exec.fifo (its handle is close-on-exec).
        (Phase::Starting, true) => match state.pid {
            Some(pid) if init_holds_exec_fifo(proc_root, pid, &state.id) => Status::Created,
            _ => Status::Running,
        },
        (Phase::Started, true) => Status::Running,
        (_, false) => Status::Stopped,
    }
}

/// Whether the (verified) init `pid` still has an fd on its container's `exec.fifo`: the
/// O_PATH handle it is given at create and loses at execve. The fd's link names the host path
/// `<root>/<id>/exec.fifo` (it was opened before the init's mount namespace existed).
pub(crate) fn init_holds_exec_fifo(proc_root: &Path, pid: i32, id: &str) -> bool {
    let suffix = format!("/{id}/{}", create::EXEC_FIFO);
    let Ok(fds) = std::fs::read_dir(proc_root.join(pid.to_string()).join("fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            target
                .as_os_str()
                .as_encoded_bytes()
                .ends_with(suffix.as_bytes())
        })
    })
}

/// runtime.md "State": the JSON `berth state` prints, with runc's extra fields (rootfs,
/// created, owner) that clients such as podman read.
#[derive(Debug, Clone, Serialize)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl OciState {
    pub fn new(state: &ContainerState) -> OciState {
        let status = status(state);
        OciState {
            oci_version: state.oci_version.clone(),
            id: state.id.clone(),
            // runtime.md: pid is required while created or running; a stopped container
            // reports 0 as runc does.
            pid: match status {
                Status::Created | Status::Running | Status::Paused => state.pid.unwrap_or(0),
                _ => 0,
            },
            status,
            bundle: state.bundle.clone(),
            rootfs: state.rootfs.clone(),
            created: state.created.clone(),
            owner: state.owner.clone(),
            annotations: state.annotations.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(phase: Phase, pid: Option<i32>, start: Option<u64>) -> ContainerState {
        ContainerState {
            oci_version: "1.0.2".into(),
            id: "c".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            pid,
            pid_start_time: start,
            created: "2026-11-22T00:00:00Z".into(),
            owner: "root".into(),
            annotations: BTreeMap::new(),
            cgroup: None,
            phase,
            config: None,
        }
    }

    #[test]
    fn status_follows_phase_and_liveness() {
        let me = std::process::id() as i32;
        let start = liveness::proc_stat(Path::new("/proc"), me)
            .unwrap()
            .start_time;
        let p = Path::new("/proc");
        assert_eq!(
            status_in(p, &state(Phase::Created, Some(me), Some(start))),
            Status::Created
        );
        assert_eq!(
            status_in(p, &state(Phase::Started, Some(me), Some(start))),
            Status::Running
        );
        // The same pid with another start time is a reused pid: the container is gone.
        assert_eq!(
            status_in(p, &state(Phase::Started, Some(me), Some(start + 1))),
            Status::Stopped
        );
        assert_eq!(
            status_in(p, &state(Phase::Started, None, None)),
            Status::Stopped
        );
        assert_eq!(
            status_in(p, &state(Phase::Creating, None, None)),
            Status::Creating
        );
    }

    /// A `start` that died mid-way: created while the init (here: this process) still holds
    /// the container's exec.fifo, running once that handle is gone (the init's execve).
    #[test]
    fn starting_reads_whether_the_init_still_holds_exec_fifo() {
        let me = std::process::id() as i32;
        let start = liveness::proc_stat(Path::new("/proc"), me)
            .unwrap()
            .start_time;
        let p = Path::new("/proc");
        let s = state(Phase::Starting, Some(me), Some(start));
        assert_eq!(status_in(p, &s), Status::Running);
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("c")).unwrap();
        let fifo = root.path().join("c").join(create::EXEC_FIFO);
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let handle = nix::fcntl::open(
            &fifo,
            nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .unwrap();
        assert_eq!(status_in(p, &s), Status::Created);
        drop(handle);
        assert_eq!(status_in(p, &s), Status::Running);
    }

    #[test]
    fn a_container_without_a_cgroup_is_refused_by_name() {
        let mut s = state(Phase::Started, None, None);
        s.cgroup = Some(CgroupPlan::none());
        assert!(own_cgroup(&s).is_none());
        assert_eq!(
            cgroup_of(&s).unwrap_err().to_string(),
            "container \"c\" has no cgroup (created with --cgroup-manager=disabled, or rootless)"
        );
    }

    #[test]
    fn stopped_state_reports_pid_zero_and_annotations() {
        let mut s = state(Phase::Started, Some(1), Some(0));
        s.annotations.insert("k".into(), "v".into());
        let json = serde_json::to_value(OciState::new(&s)).unwrap();
        assert_eq!(json["status"], "stopped");
        assert_eq!(json["pid"], 0);
        assert_eq!(json["annotations"]["k"], "v");
        assert_eq!(json["ociVersion"], "1.0.2");
    }
}
