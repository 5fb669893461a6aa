//! The runtime worker: a single-threaded process, started by the shim daemon from its own
//! binary, which runs the library operations that fork. This file is the protocol and the
//! shim's handle on the worker (start, requests, replacement); the worker process itself is
//! `worker_serve.rs`.
//!
//! Why: `berth_runtime::container::create` forks (stage 1, then the init with CLONE_PARENT)
//! and runs Rust code in the children. The shim daemon is multi-threaded (ttrpc server,
//! reaper, event publisher); a fork there copies locks other threads may hold (the logger
//! mutex, stdio, the allocator), and the child can deadlock. The worker never starts a thread,
//! so its forks are safe.
//!
//! Starting a worker ([`ExecSelf`]): fork + exec of `/proc/self/exe` as
//! `<argv0> runtime-worker <the daemon's arguments>`, a hidden mode `main` checks first, with
//! the worker's end of a fresh socketpair on fd 3 ([`WORKER_FD`]; every other fd above 2 is
//! closed). Between fork and exec the child only makes async-signal-safe syscalls, so this is
//! safe from any thread of the daemon. `main` starts the first worker this way (before the
//! daemon's threads exist, though that no longer matters), and the same code starts each
//! replacement.
//!
//! Protocol (one `SOCK_SEQPACKET` socketpair, one JSON [`Request`] per message, the stdio fds
//! attached with SCM_RIGHTS, one JSON [`Reply`] back; one request at a time). The framing is
//! the runtime's own ([`berth_runtime::process::packet`], shared with create's channel):
//!
//! ```text
//! shim (threads)                 worker                       create child (fork)
//! Create{id, bundle, stdio} ───▶ fork ──────────────────────▶ PDEATHSIG=SIGKILL (dies with
//!   + fds [stdin?, stdout?, stderr?]                           the worker); dup2 stdio → 0/1/2
//!                                                              container::create(...)
//!                                                              (stage 1 → init, CLONE_PARENT:
//!                                                               the init is this child's child)
//!                                 waitpid(child) ◀──────────── result on a pipe, _exit
//!            ◀─────────────────── Created{pid} | Failed{kind, message}
//! ```
//!
//! `Exec` goes the same way (an exec child calls `container::exec`, whose process is started
//! with CLONE_PARENT too), so exec'd processes are reaped by the shim as well. A terminal's pty
//! master does not travel through the worker: the library sends it to the console socket the
//! shim listens on (`console.rs`).
//!
//! When the create child exits, the init is orphaned and the kernel reparents it to the
//! nearest subreaper: the shim (PR_SET_CHILD_SUBREAPER is set there, not in the worker, and is
//! not inherited across fork). The shim therefore reaps the init and learns its exact exit
//! status. Operations that do not fork (start, kill, delete, state) run in the shim itself.
//!
//! A worker that dies (SIGKILL, a crash) is replaced ([`Worker::call`]):
//!
//! - The shim notices it by the reaper reporting the worker's pid ([`Worker::claim_exit`]:
//!   that exit is recorded here and never taken for a container's), or by EPIPE/ECONNRESET on
//!   the send, or by EOF/ECONNRESET while waiting for the reply. The shim keeps no copy of the
//!   worker's end of the socketpair, so the worker's death always ends that wait.
//! - A request the worker never received (the reaper had reported it dead, or the send
//!   failed) goes to a new worker, once.
//! - A request the worker received, or may have received, is never repeated: the call fails
//!   with [`WorkerError::Died`] ("the runtime worker (pid N) died (signal 9, SIGKILL) before
//!   replying", with how it ended if the reaper reports it within [`REAP_WAIT`]). Its create
//!   or exec child dies with the worker (PR_SET_PDEATHSIG), and the service cleans up as for
//!   a failed create or exec: a create's container is force-deleted (which waits for the
//!   dying child's state lock) and its rootfs unmounted. The next request starts a new worker.
//! - The worker exits when the shim's end closes (EOF on `recv`, EPIPE on a reply's `send`),
//!   which is how it ends with the shim, even a SIGKILLed one.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use berth_runtime::container::{ContainerError, ExecError};
use berth_runtime::process::packet;
use berth_runtime::state::StateError;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde::{Deserialize, Serialize};

use crate::sys;

pub use serve::serve_inherited;

/// The hidden first argument that makes the shim's binary a runtime worker.
pub const WORKER_ARG: &str = "runtime-worker";
/// The fd on which a worker finds its end of the socketpair.
pub const WORKER_FD: RawFd = 3;
/// How long a caller whose worker died waits for the reaper's report of how it ended.
pub const REAP_WAIT: Duration = Duration::from_secs(2);

/// How often the wait for a reply checks whether the worker is stopped.
const STOPPED_CHECK: Duration = Duration::from_secs(1);

/// A request from the shim to the worker.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Create a container; `stdio[i]` says whether fd i is attached to the message (in order).
    Create {
        root: PathBuf,
        id: String,
        bundle: PathBuf,
        log: PathBuf,
        debug: bool,
        stdio: [bool; 3],
        /// Where the library sends the pty master of a `terminal: true` process.
        console_socket: Option<PathBuf>,
        /// The library options the task's runtime options set (`options.rs`).
        plan: PlanFlags,
    },
    /// Start another process in container `id`, described by the runtime-spec `process` JSON
    /// in the file `process`.
    Exec {
        root: PathBuf,
        id: String,
        process: PathBuf,
        log: PathBuf,
        debug: bool,
        stdio: [bool; 3],
        console_socket: Option<PathBuf>,
    },
}

/// The plan options (`berth_runtime::bundle::PlanOptions`) a task's runtime options set.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanFlags {
    /// NoPivotRoot.
    pub no_pivot: bool,
    /// NoNewKeyring.
    pub no_new_keyring: bool,
    /// SystemdCgroup.
    pub systemd_cgroup: bool,
}

impl PlanFlags {
    /// The options set, by their containerd names, for the context of a failed create.
    pub fn describe(&self) -> String {
        [
            (self.no_pivot, "NoPivotRoot"),
            (self.no_new_keyring, "NoNewKeyring"),
            (self.systemd_cgroup, "SystemdCgroup"),
        ]
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// How a failure maps onto a ttrpc status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailKind {
    InvalidArgument,
    AlreadyExists,
    NotFound,
    FailedPrecondition,
    Internal,
}

/// The worker's answer.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    Created { pid: i32 },
    Failed { kind: FailKind, message: String },
}

/// Talking to the worker failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("create the runtime worker's socketpair")]
    Socketpair(#[source] nix::Error),
    #[error("start the runtime worker ({exe} {WORKER_ARG})")]
    Spawn {
        exe: String,
        #[source]
        source: nix::Error,
    },
    #[error("send a request to the runtime worker (pid {pid})")]
    Send {
        pid: i32,
        #[source]
        source: nix::Error,
    },
    #[error("receive the runtime worker's reply (pid {pid})")]
    Recv {
        pid: i32,
        #[source]
        source: nix::Error,
    },
    /// The worker had the request (or may have had it) and ended without answering. Never
    /// retried: the operation may be half done.
    #[error("the runtime worker (pid {pid}) {end} before replying")]
    Died { pid: i32, end: WorkerEnd },
    #[error("decode the runtime worker's reply")]
    Decode(#[source] serde_json::Error),
}

/// How a worker ended, as the reaper reported it (`128 + N` for signal N; the worker itself
/// only ever exits with 0, 1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerEnd(pub Option<i32>);

impl std::fmt::Display for WorkerEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(code) if code > 128 => {
                let sig = code - 128;
                match nix::sys::signal::Signal::try_from(sig) {
                    Ok(s) => write!(f, "died (signal {sig}, {s})"),
                    Err(_) => write!(f, "died (signal {sig})"),
                }
            }
            Some(code) => write!(f, "exited (status {code})"),
            None => write!(f, "died"),
        }
    }
}

/// How a worker process is started on its end of a fresh socketpair. The shim execs its own
/// binary ([`ExecSelf`]); the unit tests serve the socket from a thread.
pub trait Spawn: Send + Sync {
    /// Starts a worker that serves `sock` and returns its pid. `sock` must not stay open in
    /// the shim once this returns: the shim learns of the worker's death by EOF only if the
    /// worker holds the last copy of its end.
    fn spawn(&self, sock: OwnedFd) -> Result<i32, WorkerError>;

    /// Whether worker `pid` is stopped by a signal (SIGSTOP, SIGTSTP...): `T` in
    /// `/proc/<pid>/stat`. A worker stopped under a debugger (`t`) is left alone.
    fn is_stopped(&self, pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| {
                let (_, rest) = s.rsplit_once(')')?;
                rest.split_whitespace().next().map(|state| state == "T")
            })
            .unwrap_or(false)
    }

    /// SIGKILLs worker `pid`.
    fn kill(&self, pid: i32) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// fork + exec of the shim's own binary (`/proc/self/exe`, so an upgrade of the file on disk
/// does not mix versions) as `<argv0> runtime-worker <the daemon's arguments>`, with the
/// socket on fd [`WORKER_FD`]. Between fork and exec the child makes only async-signal-safe
/// syscalls (`sys::fork_exec_with_fd`), so this is safe from the multi-threaded daemon; the
/// arguments are built once, up front.
pub struct ExecSelf {
    exe: CString,
    argv: Vec<CString>,
}

impl ExecSelf {
    /// The worker command line for this daemon (its own arguments follow `runtime-worker`, so
    /// `ps` shows which task's shim a worker belongs to).
    pub fn new() -> ExecSelf {
        let mut args = std::env::args_os();
        let argv0 = args
            .next()
            .unwrap_or_else(|| "containerd-shim-berth-v2".into());
        let argv = std::iter::once(argv0)
            .chain(std::iter::once(WORKER_ARG.into()))
            .chain(args)
            .filter_map(|a| CString::new(a.into_vec()).ok())
            .collect();
        ExecSelf {
            exe: CString::new("/proc/self/exe").expect("no NUL"),
            argv,
        }
    }
}

impl Spawn for ExecSelf {
    fn spawn(&self, sock: OwnedFd) -> Result<i32, WorkerError> {
        // `sock` is close-on-exec here and is dropped on return: the worker has the only copy.
        sys::fork_exec_with_fd(&self.exe, &self.argv, sock.as_raw_fd(), WORKER_FD).map_err(
            |source| WorkerError::Spawn {
                exe: "/proc/self/exe".into(),
                source,
            },
        )
    }
}

/// How long a worker may sit without a request before the daemon lets it go
/// ([`Worker::retire_idle`]). A pod's containers are created in a burst (sandbox, then its
/// containers, seconds apart at most); after that the worker is needed only for an exec, and a
/// new one costs one fork + exec of this static binary (~1 ms), while an idle one holds ~470
/// KiB of private memory per pod (docs/benchmarks.md, "Where a pod's memory goes").
pub const IDLE_RETIRE: Duration = Duration::from_secs(10);

/// The live worker: our end of its socketpair, its pid, and when its last request ended.
struct Live {
    sock: OwnedFd,
    pid: i32,
    idle_since: Instant,
}

/// The shim's handle on the worker. Requests are serialized: one at a time on the socket. A
/// worker that died is replaced by a new one for the next request.
pub struct Worker {
    spawner: Box<dyn Spawn>,
    /// The current worker (None until the first one starts, or after one died). The lock also
    /// serializes requests.
    current: Mutex<Option<Live>>,
    /// Every worker not yet known to be reaped (None) and the exit codes of those the reaper
    /// reported (Some); entries of reaped workers go at the next spawn.
    pids: Mutex<HashMap<i32, Option<i32>>>,
    reaped: Condvar,
}

impl Worker {
    /// A handle that starts workers with `spawner`, and the first worker right away.
    pub fn start(spawner: Box<dyn Spawn>) -> Result<Worker, WorkerError> {
        let worker = Worker {
            spawner,
            current: Mutex::new(None),
            pids: Mutex::new(HashMap::new()),
            reaped: Condvar::new(),
        };
        let first = worker.spawn_live()?;
        *worker.lock_current() = Some(first);
        Ok(worker)
    }

    fn lock_current(&self) -> MutexGuard<'_, Option<Live>> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_pids(&self) -> MutexGuard<'_, HashMap<i32, Option<i32>>> {
        self.pids.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a worker. Its pid is registered under the `pids` lock taken before the fork, so
    /// the reaper (which takes that lock in [`Worker::claim_exit`]) cannot see the worker exit
    /// before it is known to be one.
    fn spawn_live(&self) -> Result<Live, WorkerError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(WorkerError::Socketpair)?;
        let mut pids = self.lock_pids();
        pids.retain(|_, code| code.is_none());
        let pid = self.spawner.spawn(theirs)?;
        pids.insert(pid, None);
        Ok(Live {
            sock: ours,
            pid,
            idle_since: Instant::now(),
        })
    }

    /// Lets the worker go if it has had no request for `idle`: our end of its socket is closed,
    /// so it reads EOF and exits; the reaper's report of that exit is claimed as any worker's
    /// ([`Worker::claim_exit`]), and the next request starts a new worker. A request in flight
    /// holds the lock, so this never takes the worker from under it (`try_lock`: the caller,
    /// a periodic thread, simply looks again later). Returns the retired worker's pid.
    pub fn retire_idle(&self, idle: Duration) -> Option<i32> {
        let mut current = match self.current.try_lock() {
            Ok(guard) => guard,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        if current.as_ref()?.idle_since.elapsed() < idle {
            return None;
        }
        current.take().map(|live| live.pid)
    }

    /// Called by the service for every child the reaper reaped: true if `pid` is a worker (its
    /// exit is then recorded here and is nobody's task exit). Only a worker not reaped yet
    /// matches: once reaped, its pid may be reused by a container's process.
    pub fn claim_exit(&self, pid: i32, code: i32) -> bool {
        let mut pids = self.lock_pids();
        match pids.get_mut(&pid) {
            Some(slot @ None) => {
                *slot = Some(code);
                self.reaped.notify_all();
                true
            }
            _ => false,
        }
    }

    /// The worker's exit code once the reaper has it, waiting at most `limit`.
    fn exit_code(&self, pid: i32, limit: Duration) -> Option<i32> {
        let pids = self.lock_pids();
        let (pids, _) = self
            .reaped
            .wait_timeout_while(pids, limit, |p| matches!(p.get(&pid), Some(None)))
            .unwrap_or_else(|e| e.into_inner());
        pids.get(&pid).copied().flatten()
    }

    /// Sends one request with its fds and waits for the reply.
    ///
    /// A worker the reaper saw exit, or whose socket refuses the send (EPIPE, ECONNRESET:
    /// nobody received the request), is replaced and the request sent once more to the new
    /// one. A worker that ends after the send is not: the request may be half done, and the
    /// caller gets [`WorkerError::Died`] to clean up after it.
    ///
    /// The wait for the reply ends: the shim holds no copy of the worker's end (see
    /// [`Spawn::spawn`]), so the worker's death is EOF here. A worker that is stopped
    /// (SIGSTOP) would never reply nor die: it is checked every [`STOPPED_CHECK`] and
    /// SIGKILLed, which makes it a worker that died before replying.
    pub fn call(&self, req: &Request, fds: &[BorrowedFd<'_>]) -> Result<Reply, WorkerError> {
        let mut current = self.lock_current();
        let body = serde_json::to_vec(req).expect("requests always serialize");
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let mut attempts = 0;
        loop {
            attempts += 1;
            if let Some(dead) = current
                .as_ref()
                .filter(|l| self.exit_code(l.pid, Duration::ZERO).is_some())
            {
                containerd_shim::warn!(
                    "the runtime worker {} had exited; starting a new one",
                    dead.pid
                );
                *current = None;
            }
            let live = match current.take() {
                Some(live) => live,
                None => self.spawn_live()?,
            };
            match packet::send(live.sock.as_fd(), &body, &raw) {
                Ok(_) => {
                    *current = Some(live);
                    break;
                }
                Err(nix::Error::EPIPE | nix::Error::ECONNRESET) if attempts == 1 => {
                    containerd_shim::warn!(
                        "the runtime worker {} is gone; starting a new one for the request",
                        live.pid
                    );
                }
                // Not delivered either: the next request starts a new worker.
                Err(source @ (nix::Error::EPIPE | nix::Error::ECONNRESET)) => {
                    return Err(WorkerError::Send {
                        pid: live.pid,
                        source,
                    })
                }
                Err(source) => {
                    let pid = live.pid;
                    *current = Some(live);
                    return Err(WorkerError::Send { pid, source });
                }
            }
        }
        let Some(live) = current.take() else {
            unreachable!("the loop above leaves the worker it sent to in `current`")
        };
        let pid = live.pid;
        let mut killed = false;
        let n = loop {
            let mut ready = [PollFd::new(live.sock.as_fd(), PollFlags::POLLIN)];
            let timeout = PollTimeout::try_from(STOPPED_CHECK).unwrap_or(PollTimeout::MAX);
            match poll(&mut ready, timeout) {
                Ok(0) => {
                    if !killed && self.spawner.is_stopped(pid) {
                        containerd_shim::warn!(
                            "the runtime worker {pid} is stopped and cannot reply; killing it"
                        );
                        self.spawner.kill(pid);
                        killed = true;
                    }
                    continue;
                }
                Err(nix::Error::EINTR) => continue,
                Err(source) => {
                    *current = Some(live);
                    return Err(WorkerError::Recv { pid, source });
                }
                Ok(_) => {}
            }
            match packet::recv(live.sock.as_fd()) {
                Ok(None) | Err(nix::Error::ECONNRESET) => {
                    let end = WorkerEnd(self.exit_code(pid, REAP_WAIT));
                    return Err(WorkerError::Died { pid, end });
                }
                Err(source) => {
                    *current = Some(live);
                    return Err(WorkerError::Recv { pid, source });
                }
                Ok(Some(reply)) => break reply,
            }
        };
        *current = Some(Live {
            idle_since: Instant::now(),
            ..live
        });
        serde_json::from_slice(&n.bytes).map_err(WorkerError::Decode)
    }
}

/// Starts the daemon's thread that retires the worker after [`IDLE_RETIRE`] without a request
/// and then gives the heap's free pages back to the kernel (`malloc_trim`: what the Create and
/// Exec requests allocated is free by then, but glibc keeps freed pages below its trim
/// threshold resident). It looks every [`IDLE_RETIRE`] / 2, so a worker goes 10–15 s after its
/// last request; its thread sleeps otherwise.
pub fn retire_when_idle(worker: &'static Worker) {
    let spawned = std::thread::Builder::new()
        .name("idle".into())
        .stack_size(64 * 1024)
        .spawn(move || loop {
            std::thread::sleep(IDLE_RETIRE / 2);
            if let Some(pid) = worker.retire_idle(IDLE_RETIRE) {
                containerd_shim::debug!("retiring the idle runtime worker {pid}");
                sys::trim_heap();
            }
        });
    if let Err(e) = spawned {
        // The daemon works without it; the worker then stays until the shim exits.
        containerd_shim::warn!("start the idle-worker thread: {e}");
    }
}

#[path = "worker_serve.rs"]
mod serve;

#[cfg(test)]
#[path = "worker_tests.rs"]
mod tests;

/// The ttrpc code a library error deserves.
pub fn fail_kind(e: &ContainerError) -> FailKind {
    match e {
        ContainerError::Bundle(_) => FailKind::InvalidArgument,
        ContainerError::State(
            StateError::AlreadyExists { .. } | StateError::IdentityExists { .. },
        ) => FailKind::AlreadyExists,
        ContainerError::State(StateError::InvalidId { .. }) => FailKind::InvalidArgument,
        ContainerError::State(StateError::NotFound { .. }) | ContainerError::NotRunning { .. } => {
            FailKind::NotFound
        }
        ContainerError::WrongState { .. }
        | ContainerError::InitExited { .. }
        | ContainerError::NoCgroup { .. } => FailKind::FailedPrecondition,
        ContainerError::Exec(ExecError::Paused | ExecError::InitGone) => {
            FailKind::FailedPrecondition
        }
        ContainerError::ConsoleWithoutTerminal | ContainerError::TerminalWithoutConsole => {
            FailKind::InvalidArgument
        }
        ContainerError::Exec(
            ExecError::ReadProcess { .. }
            | ExecError::ParseProcess { .. }
            | ExecError::NoCommand
            | ExecError::Process(_),
        ) => FailKind::InvalidArgument,
        _ => FailKind::Internal,
    }
}
