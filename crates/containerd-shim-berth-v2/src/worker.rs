//! The runtime worker: a single-threaded process forked from the shim's `main` before any
//! thread exists, which runs the library operations that fork.
//!
//! Why: `berth_runtime::container::create` forks (stage 1, then the init with CLONE_PARENT)
//! and runs Rust code in the children. The shim daemon is multi-threaded (ttrpc server,
//! reaper, event publisher); a fork there copies locks other threads may hold (the logger
//! mutex, stdio, the allocator), and the child can deadlock. The worker never starts a thread,
//! so its forks are safe.
//!
//! Protocol (one `SOCK_SEQPACKET` socketpair, one JSON [`Request`] per message, the stdio fds
//! attached with SCM_RIGHTS, one JSON [`Reply`] back):
//!
//! ```text
//! shim (threads)                 worker                       create child (fork)
//! Create{id, bundle, stdio} ───▶ fork ──────────────────────▶ dup2 stdio fds onto 0/1/2
//!   + fds [stdin?, stdout?, stderr?]                          container::create(...)
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

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Mutex;

use berth_runtime::container::{
    self, ContainerError, CreateOptions, ExecError, ExecOptions, ExecProcess,
};
use berth_runtime::state::{StateError, Store};
use nix::fcntl::OFlag;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::sys;

/// Largest message either side sends (error chains included).
const MAX_MSG: usize = 64 * 1024;

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
    #[error("fork the runtime worker")]
    Fork(#[source] nix::Error),
    #[error("send a request to the runtime worker")]
    Send(#[source] nix::Error),
    #[error("receive the runtime worker's reply")]
    Recv(#[source] nix::Error),
    #[error("the runtime worker exited")]
    Gone,
    #[error("decode the runtime worker's reply")]
    Decode(#[source] serde_json::Error),
}

/// The shim's handle on the worker. Requests are serialized: one at a time on the socket.
pub struct Worker {
    sock: Mutex<OwnedFd>,
    pub pid: i32,
}

impl Worker {
    /// Forks the worker. Must be called while the process is single-threaded.
    pub fn spawn() -> Result<Worker, WorkerError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(WorkerError::Socketpair)?;
        match sys::fork().map_err(WorkerError::Fork)? {
            0 => {
                drop(ours);
                serve(theirs)
            }
            pid => {
                drop(theirs);
                Ok(Worker {
                    sock: Mutex::new(ours),
                    pid,
                })
            }
        }
    }

    /// Sends one request with its fds and waits for the reply.
    pub fn call(&self, req: &Request, fds: &[BorrowedFd<'_>]) -> Result<Reply, WorkerError> {
        let sock = self.sock.lock().unwrap_or_else(|e| e.into_inner());
        let body = serde_json::to_vec(req).expect("requests always serialize");
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let cmsg = [ControlMessage::ScmRights(&raw)];
        let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &cmsg };
        sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(&body)],
            cmsgs,
            MsgFlags::empty(),
            None,
        )
        .map_err(WorkerError::Send)?;
        let mut buf = vec![0u8; MAX_MSG];
        let n = loop {
            match nix::sys::socket::recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(WorkerError::Recv(e)),
                Ok(0) => return Err(WorkerError::Gone),
                Ok(n) => break n,
            }
        };
        serde_json::from_slice(&buf[..n]).map_err(WorkerError::Decode)
    }
}

/// The worker's loop: one request at a time until the shim closes its end.
fn serve(sock: OwnedFd) -> ! {
    // The worker must not outlive the shim, and must not hold the shim's stdout: containerd's
    // `start` reads that pipe until every writer is gone.
    let _ = nix::sys::prctl::set_pdeathsig(Some(nix::sys::signal::Signal::SIGKILL));
    if let Ok(null) = nix::fcntl::open("/dev/null", OFlag::O_RDWR, nix::sys::stat::Mode::empty()) {
        for fd in 0..3 {
            let _ = sys::dup2_raw(null.as_raw_fd(), fd);
        }
    }
    let mut buf = vec![0u8; MAX_MSG];
    loop {
        let (n, fds) = match recv_with_fds(sock.as_fd(), &mut buf) {
            Ok((0, _)) => sys::exit_child(0),
            Ok(r) => r,
            Err(nix::Error::EINTR) => continue,
            Err(_) => sys::exit_child(1),
        };
        let reply = match serde_json::from_slice::<Request>(&buf[..n]) {
            Ok(Request::Create {
                root,
                id,
                bundle,
                log,
                debug,
                stdio,
                console_socket,
            }) => fork_child(&sock, &log, debug, stdio, fds, || {
                let store = Store::new(&root);
                let opts = CreateOptions {
                    console_socket,
                    ..Default::default()
                };
                match container::create(&store, &id, &bundle, &opts) {
                    Ok(pid) => Reply::Created { pid },
                    Err(e) => Reply::Failed {
                        kind: fail_kind(&e),
                        message: format!("create container {id:?}: {}", crate::error::chain(&e)),
                    },
                }
            }),
            Ok(Request::Exec {
                root,
                id,
                process,
                log,
                debug,
                stdio,
                console_socket,
            }) => fork_child(&sock, &log, debug, stdio, fds, || {
                let store = Store::new(&root);
                let opts = ExecOptions {
                    process: ExecProcess::Json(process),
                    tty: false,
                    console_socket,
                    detach: true,
                    pid_file: None,
                    preserve_fds: 0,
                    ignore_paused: false,
                    apparmor: None,
                    process_label: None,
                    sub_cgroups: Default::default(),
                };
                match container::exec(&store, &id, &opts) {
                    Ok(done) => Reply::Created { pid: done.pid },
                    Err(e) => Reply::Failed {
                        kind: fail_kind(&e),
                        message: format!("exec in container {id:?}: {}", crate::error::chain(&e)),
                    },
                }
            }),
            Err(e) => Reply::Failed {
                kind: FailKind::Internal,
                message: format!("decode request: {e}"),
            },
        };
        let body = serde_json::to_vec(&reply).expect("replies always serialize");
        if nix::sys::socket::send(sock.as_raw_fd(), &body, MsgFlags::empty()).is_err() {
            sys::exit_child(1);
        }
    }
}

fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<(usize, Vec<OwnedFd>)> {
    let mut cmsg = nix::cmsg_space!([RawFd; 3]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            fds.extend(raw.into_iter().map(sys::own_fd));
        }
    }
    Ok((msg.bytes, fds))
}

/// Forks the create (or exec) child, which sets up stdio and logging and runs `op`; waits for
/// it and returns what it reported.
fn fork_child(
    sock: &OwnedFd,
    log: &std::path::Path,
    debug: bool,
    stdio: [bool; 3],
    fds: Vec<OwnedFd>,
    op: impl FnOnce() -> Reply,
) -> Reply {
    let internal = |what: &str, e: nix::Error| Reply::Failed {
        kind: FailKind::Internal,
        message: format!("{what}: {e}"),
    };
    let (rd, wr) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return internal("create a result pipe", e),
    };
    let child = match sys::fork() {
        Ok(0) => {
            // Not inherited by the container: the init must not keep the worker's socket.
            let _ = nix::unistd::close(sock.as_raw_fd());
            drop(rd);
            let reply = match child_stdio(stdio, fds) {
                Ok(()) => {
                    let _ = berth_runtime::log::init(
                        Some(log),
                        berth_runtime::log::LogFormat::Json,
                        debug,
                    );
                    op()
                }
                Err(failed) => failed,
            };
            let body = serde_json::to_vec(&reply).unwrap_or_default();
            // The pipe buffer (64 KiB) holds the whole reply: this never blocks.
            let _ = std::fs::File::from(wr).write_all(&body);
            sys::exit_child(0)
        }
        Ok(pid) => pid,
        Err(e) => return internal("fork the create process", e),
    };
    drop(wr);
    let status = loop {
        match waitpid(Pid::from_raw(child), None) {
            Err(nix::Error::EINTR) => continue,
            other => break other,
        }
    };
    // The init (a grandchild) may still hold the write end until it execs: read what is
    // there without waiting for EOF.
    let _ = nix::fcntl::fcntl(&rd, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    let mut body = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut file = std::fs::File::from(rd);
    while let Ok(n) = file.read(&mut chunk) {
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    serde_json::from_slice(&body).unwrap_or_else(|_| Reply::Failed {
        kind: FailKind::Internal,
        message: format!("the create process ended without a result ({status:?})"),
    })
}

/// In the create/exec child: the process's stdio becomes this process's 0/1/2.
fn child_stdio(stdio: [bool; 3], fds: Vec<OwnedFd>) -> Result<(), Reply> {
    // The container's stdio is this process's 0/1/2 (inherited by stage 1 and the init);
    // slots without an fd get /dev/null, as runc does for a missing stream.
    let null = nix::fcntl::open("/dev/null", OFlag::O_RDWR, nix::sys::stat::Mode::empty());
    let mut given = fds.iter();
    for (slot, present) in stdio.iter().enumerate() {
        let fd = if *present {
            given.next().map(|f| f.as_raw_fd())
        } else {
            null.as_ref().ok().map(|f| f.as_raw_fd())
        };
        if let Some(fd) = fd {
            if let Err(e) = sys::dup2_raw(fd, slot as RawFd) {
                return Err(Reply::Failed {
                    kind: FailKind::Internal,
                    message: format!("set up stdio fd {slot}: {e}"),
                });
            }
        }
    }
    drop(fds);
    drop(null);
    Ok(())
}

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
