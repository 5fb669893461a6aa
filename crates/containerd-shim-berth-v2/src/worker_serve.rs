//! The runtime worker process: the hidden `runtime-worker` mode of the shim's binary, which
//! serves [`Request`]s on the socketpair end it inherits as fd [`WORKER_FD`] (see `worker.rs`
//! for the protocol and for how the shim starts and replaces it).

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use berth_runtime::bundle::PlanOptions;
use berth_runtime::container::{self, CreateOptions, ExecOptions, ExecProcess};
use berth_runtime::state::Store;
use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use berth_runtime::process::packet;

use super::{fail_kind, FailKind, Reply, Request, WORKER_FD};
use crate::sys;

/// The worker's `main`: checks that fd [`WORKER_FD`] is the SOCK_SEQPACKET end the shim
/// handed over, then serves it until the shim closes its end.
pub fn serve_inherited() -> ! {
    let sock = sys::own_fd(WORKER_FD);
    match nix::sys::socket::getsockopt(&sock, nix::sys::socket::sockopt::SockType) {
        Ok(nix::sys::socket::SockType::SeqPacket) => {}
        _ => {
            eprintln!(
                "containerd-shim-berth-v2 {}: fd {WORKER_FD} is not the shim's SOCK_SEQPACKET \
                 socket (this mode is started by the shim daemon only)",
                super::WORKER_ARG
            );
            sys::exit_child(2)
        }
    }
    // Not inherited by anything the worker execs (the create child closes it explicitly too).
    let _ = nix::fcntl::fcntl(
        &sock,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    );
    serve(sock)
}

/// The worker's loop: one request at a time until the shim closes its end.
///
/// The worker ends when the shim does: the shim holds the only other end of the socketpair,
/// so its death (or Shutdown) shows here as EOF on `recv`, or as EPIPE on the `send` of a
/// reply. No PR_SET_PDEATHSIG: its "parent" is the thread that forked the worker (prctl(2)),
/// and a replacement worker is started from a ttrpc thread that may exit long before the shim.
fn serve(sock: OwnedFd) -> ! {
    // The worker must not hold the shim's stdout: containerd's `start` reads that pipe until
    // every writer is gone.
    if let Ok(null) = nix::fcntl::open("/dev/null", OFlag::O_RDWR, nix::sys::stat::Mode::empty()) {
        for fd in 0..3 {
            let _ = sys::dup2_raw(null.as_raw_fd(), fd);
        }
    }
    loop {
        let (bytes, fds) = match packet::recv(sock.as_fd()) {
            Ok(None) => sys::exit_child(0),
            Ok(Some(p)) => (p.bytes, p.fds),
            Err(_) => sys::exit_child(1),
        };
        let reply = match serde_json::from_slice::<Request>(&bytes) {
            Ok(Request::Create {
                root,
                id,
                bundle,
                log,
                debug,
                stdio,
                console_socket,
                plan,
            }) => fork_child(&sock, &log, debug, stdio, fds, || {
                let store = Store::new(&root);
                let opts = CreateOptions {
                    console_socket,
                    plan: PlanOptions {
                        no_pivot: plan.no_pivot,
                        no_new_keyring: plan.no_new_keyring,
                        systemd_cgroup: plan.systemd_cgroup,
                        ..Default::default()
                    },
                    ..Default::default()
                };
                let set = plan.describe();
                let with = if set.is_empty() {
                    String::new()
                } else {
                    format!(" (runtime options: {set})")
                };
                reply(
                    container::create(&store, &id, &bundle, &opts),
                    format_args!("create container {id:?}{with}"),
                )
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
                reply(
                    container::exec(&store, &id, &opts).map(|done| done.pid),
                    format_args!("exec in container {id:?}"),
                )
            }),
            Err(e) => Reply::Failed {
                kind: FailKind::Internal,
                message: format!("decode request: {e}"),
            },
        };
        let body = serde_json::to_vec(&reply).expect("replies always serialize");
        if packet::send(sock.as_fd(), &body, &[]).is_err() {
            sys::exit_child(1);
        }
    }
}

/// The reply to a create or exec that started process `pid`, or failed doing `what`.
fn reply(result: Result<i32, container::ContainerError>, what: std::fmt::Arguments<'_>) -> Reply {
    match result {
        Ok(pid) => Reply::Created { pid },
        Err(e) => Reply::Failed {
            kind: fail_kind(&e),
            message: format!("{what}: {}", crate::error::chain(&e)),
        },
    }
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
    let worker = nix::unistd::getpid();
    let child = match sys::fork() {
        Ok(0) => {
            // The create (or exec) child dies with the worker: a worker killed mid-request
            // leaves no half-done operation running on (the shim then force-deletes what a
            // create left; see `worker.rs`). The worker is single-threaded, so the "parent" of
            // prctl(2) is the worker itself.
            let _ = nix::sys::prctl::set_pdeathsig(Some(nix::sys::signal::Signal::SIGKILL));
            if nix::unistd::getppid() != worker {
                sys::exit_child(1); // the worker died before the line above
            }
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
