//! The container process: the parent/child channel, the namespace stage and the init
//! checklist, and the parent's side of the protocol ([`spawn`]).
//!
//! No re-exec of the berth binary: `create` forks (stage 1), stage 1 forks the init into the
//! new namespaces, and the init execs the user's program once `start` opens `exec.fifo`.

mod attrs;
pub mod channel;
mod console;
mod creds;
#[cfg(test)]
mod error_tests;
pub(crate) mod exec;
mod exec_stage;
mod final_steps;
mod guard;
mod hook_steps;
mod init;
pub mod liveness;
pub mod packet;
mod stage1;

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

pub use attrs::AttrsError;
pub use channel::{ChannelError, Msg};
pub use creds::CredsError;
pub use exec::ExecError;
pub use exec_stage::{spawn_exec, ExecRequest, ExecSpawned, ExecStageError, JoinNs};
pub use guard::GuardError;
pub use init::InitError;
pub use stage1::Stage1Error;

use crate::bundle::{IdMap, IdMapWriter, NamespaceKind, Plan};
use channel::Channel;
use init::InitHandles;

/// The parent's side of starting a container process failed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("fork stage 1 (fork, or clone3 into the container's cgroup)")]
    Fork(#[source] nix::Error),
    #[error("read berth's own CPU affinity before the exec fork (sched_getaffinity)")]
    Affinity(#[source] nix::Error),
    #[error(transparent)]
    Attrs(attrs::AttrsError),
    #[error("write {path}")]
    IdMap {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run {helper} {pid} {args}")]
    IdMapHelperSpawn {
        helper: PathBuf,
        pid: i32,
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{helper} {pid} {args} (writing the container's id map) failed with {status}: {stderr}"
    )]
    IdMapHelper {
        helper: PathBuf,
        pid: i32,
        args: String,
        status: String,
        stderr: String,
    },
    #[error("stage-1 process exited with {0:?}")]
    Stage1Exit(WaitStatus),
    #[error("wait for the stage-1 process")]
    Wait(#[source] nix::Error),
    #[error("container init {0} vanished before its start time could be read")]
    Vanished(i32),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Guard(Box<guard::GuardError>),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("open the bind mount sources on the host")]
    BindSources(#[source] crate::rootfs::RootfsError),
}

/// A container init that finished its setup and waits for `start`.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub start_time: u64,
    /// The pty master when `process.terminal` is set.
    pub console: Option<OwnedFd>,
    chan: Channel,
}

impl Spawned {
    /// Tells the init that the state is saved: it stops dying with this process.
    pub fn commit(&self) -> Result<(), ProcessError> {
        self.chan.send(&Msg::Commit)?;
        self.chan.recv_committed()?;
        Ok(())
    }

    /// Kills and reaps the init after a failure later in `create`.
    pub fn abort(self) {
        kill_and_reap(self.pid);
    }
}

/// Runs the prestart and createRuntime hooks for the init with the given host pid, and
/// returns the state JSON the container's own hooks read (container/create.rs builds it).
pub type RuntimeHooks<'a> = &'a dyn Fn(i32) -> Result<String, ProcessError>;

/// The systemd driver's placement: puts the process with the given host pid (stage 1, waiting)
/// into the container's scope and writes its resources (container/create.rs).
pub type PlaceInCgroup<'a> = &'a dyn Fn(i32) -> Result<(), ProcessError>;

/// Forks the container process and runs the protocol up to `Ready`. On error every process it
/// forked is killed and reaped.
pub fn spawn(
    plan: &Plan,
    exec_fifo: &Path,
    runtime_hooks: RuntimeHooks,
    place_in_cgroup: PlaceInCgroup,
) -> Result<Spawned, ProcessError> {
    let handles = InitHandles {
        exec_fifo: open_path(exec_fifo, OFlag::O_PATH)?,
        proc: open_path(Path::new("/proc"), OFlag::O_PATH | OFlag::O_DIRECTORY)?,
        // On the host, before any namespace: the user namespace's root may not reach them.
        // Not when berth is unprivileged or root in a nested user namespace: open_tree
        // (OPEN_TREE_CLONE) needs CAP_SYS_ADMIN over the user namespace owning berth's mount
        // namespace, and the container's root is no more than the caller, so it reaches
        // what the caller reaches; the init clones the sources by path (Rootless::binds_by_path).
        bind_sources: match plan.options.rootless.is_some_and(|r| r.binds_by_path()) {
            true => crate::rootfs::BindSources::default(),
            false => {
                crate::rootfs::BindSources::open(&plan.rootfs).map_err(ProcessError::BindSources)?
            }
        },
    };
    let (chan, child_chan) = Channel::pair()?;
    // CVE-2019-5736: berth and every process it forks are non-dumpable until the container's
    // execve, so /proc/<pid>/exe (the host binary) is out of the container's reach.
    guard::set_non_dumpable().map_err(|e| ProcessError::Guard(Box::new(e)))?;
    let me = nix::unistd::getpid().as_raw();
    // The systemd driver's scope does not exist yet: systemd creates it around stage 1 below.
    let v2_dir = match plan.cgroup.systemd {
        Some(_) => None,
        None => plan.cgroup.open_v2_dir(),
    };
    let stage1 = match crate::sys::fork_into_cgroup(v2_dir.as_ref().map(|fd| fd.as_fd()))
        .map_err(ProcessError::Fork)?
    {
        (0, born_in_v2) => {
            drop(chan);
            drop(v2_dir); // a handle on the host's cgroupfs must not wait in the init
            stage1::run(plan, child_chan, me, handles, born_in_v2)
        }
        (pid, _) => pid,
    };
    drop(v2_dir);
    drop(child_chan);
    drop(handles);
    crate::phase!("create: fork stage 1");
    crate::failpoint!("spawn:after-fork");
    if plan.cgroup.systemd.is_some() {
        // After the fork, never before: the D-Bus connection runs a thread, and a process
        // with more than one thread must not fork (fork(2) copies only the calling thread).
        let placed = place_in_cgroup(stage1).and_then(|()| Ok(chan.send(&Msg::CgroupPlaced)?));
        if let Err(e) = placed {
            kill_and_reap(stage1);
            return Err(e);
        }
    }

    let mut init_pid = None;
    let result = drive(plan, &chan, stage1, &mut init_pid, runtime_hooks);
    match result {
        Ok((start_time, console)) => Ok(Spawned {
            pid: init_pid.expect("drive sets the pid before Ready"),
            start_time,
            console,
            chan,
        }),
        Err(e) => {
            kill_and_reap(stage1);
            if let Some(pid) = init_pid {
                kill_and_reap(pid);
            }
            Err(e)
        }
    }
}

/// The parent's half of the protocol (see [`channel`]); returns the init's start time and the
/// pty master of a terminal container.
fn drive(
    plan: &Plan,
    chan: &Channel,
    stage1: i32,
    init_pid: &mut Option<i32>,
    runtime_hooks: RuntimeHooks,
) -> Result<(u64, Option<OwnedFd>), ProcessError> {
    if plan.namespaces.creates(NamespaceKind::User) {
        chan.recv_map_ids()?;
        write_id_maps(
            stage1,
            &plan.namespaces.uid_map,
            &plan.namespaces.gid_map,
            &plan.id_map_writer,
        )?;
        chan.send(&Msg::IdsMapped)?;
    }
    let pid = chan.recv_init_pid()?;
    *init_pid = Some(pid);
    crate::phase!("create: init pid received");
    match waitpid(Pid::from_raw(stage1), None).map_err(ProcessError::Wait)? {
        WaitStatus::Exited(_, 0) => {}
        other => return Err(ProcessError::Stage1Exit(other)),
    }
    if plan.hooks.init_needs_sync() {
        chan.recv_run_hooks()?;
        let state = runtime_hooks(pid)?;
        chan.send(&Msg::HooksDone(state))?;
    }
    let console = match plan.process.terminal {
        true => Some(chan.recv_console()?.1),
        false => None,
    };
    chan.recv_ready()?;
    crate::phase!("create: init ready");
    let start_time = liveness::proc_stat(Path::new("/proc"), pid)
        .map(|s| s.start_time)
        .ok_or(ProcessError::Vanished(pid))?;
    Ok((start_time, console))
}

/// Writes /proc/<pid>/uid_map and gid_map (user_namespaces(7)). As root in the parent user
/// namespace berth may map any range, and setgroups stays allowed. Unprivileged (rootless),
/// it writes a map itself only when the map is its own id (checked by the plan) and must write
/// "deny" to setgroups before gid_map: the kernel refuses the gid_map write otherwise
/// (user_namespaces(7), "Interaction with system calls that change process UIDs or GIDs"), so
/// that a process cannot drop a supplementary group that a file's permissions deny access to.
/// Any other map of an unprivileged berth is written by the setuid newuidmap/newgidmap, which
/// check it against /etc/subuid and /etc/subgid; newgidmap leaves setgroups allowed for a map
/// backed by /etc/subgid.
fn write_id_maps(
    pid: i32,
    uid_map: &[IdMap],
    gid_map: &[IdMap],
    writer: &IdMapWriter,
) -> Result<(), ProcessError> {
    if writer.deny_setgroups {
        let path = PathBuf::from(format!("/proc/{pid}/setgroups"));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"deny"))
            .map_err(|source| ProcessError::IdMap { path, source })?;
    }
    for (file, map, helper) in [
        ("uid_map", uid_map, &writer.newuidmap),
        ("gid_map", gid_map, &writer.newgidmap),
    ] {
        if let Some(helper) = helper {
            run_id_map_helper(helper, pid, map)?;
            continue;
        }
        let path = PathBuf::from(format!("/proc/{pid}/{file}"));
        let text: String = map
            .iter()
            .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
            .collect();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            // The map must be written with a single write(2).
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|source| ProcessError::IdMap { path, source })?;
    }
    Ok(())
}

/// How long newuidmap/newgidmap may take: they read two small files and write one map.
const ID_MAP_HELPER_TIMEOUT_SECS: u64 = 10;

/// Runs `helper <pid> <inside outside count>...`; its stderr (what it refused, e.g. a range
/// not in /etc/subuid) is kept for the error. Killed if it does not exit in time.
fn run_id_map_helper(helper: &Path, pid: i32, map: &[IdMap]) -> Result<(), ProcessError> {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let args = crate::bundle::helper_args(map);
    let shown = args.join(" ");
    let mut child = std::process::Command::new(helper)
        .arg(pid.to_string())
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| ProcessError::IdMapHelperSpawn {
            helper: helper.to_path_buf(),
            pid,
            args: shown.clone(),
            source,
        })?;
    let spawn_err = |source: std::io::Error| ProcessError::IdMapHelperSpawn {
        helper: helper.to_path_buf(),
        pid,
        args: shown.clone(),
        source,
    };
    let exited = crate::hooks::exits_within(child.id() as i32, ID_MAP_HELPER_TIMEOUT_SECS)
        .map_err(|e| spawn_err(e.into()))?;
    if !exited {
        let _ = child.kill();
        let _ = child.wait();
        return Err(ProcessError::IdMapHelper {
            helper: helper.to_path_buf(),
            pid,
            args: shown,
            status: "no exit".into(),
            stderr: format!("killed after {ID_MAP_HELPER_TIMEOUT_SECS} s"),
        });
    }
    let status = child.wait().map_err(spawn_err)?;
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(pipe) = child.stderr.take() {
        let _ = pipe.take(4096).read_to_string(&mut stderr);
    }
    Err(ProcessError::IdMapHelper {
        helper: helper.to_path_buf(),
        pid,
        args: shown,
        status: match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            _ => status.to_string(),
        },
        stderr: match stderr.trim() {
            "" => "(no output)".to_string(),
            text => text.to_string(),
        },
    })
}

fn open_path(path: &Path, flags: OFlag) -> Result<OwnedFd, ProcessError> {
    open(path, flags | OFlag::O_CLOEXEC, Mode::empty()).map_err(|source| ProcessError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// SIGKILL and reap one of our own children (an unreaped child's pid cannot be reused).
fn kill_and_reap(pid: i32) {
    let pid = Pid::from_raw(pid);
    let _ = kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
}
