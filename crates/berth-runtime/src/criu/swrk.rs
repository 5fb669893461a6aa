//! One `criu swrk` service process: berth keeps one end of a `SOCK_SEQPACKET` socketpair and
//! passes the other to `criu swrk FD` as an inherited fd. Every packet is one protobuf message:
//! berth sends a `criu_req`, CRIU answers with `criu_resp` packets: `NOTIFY` ones (answered
//! with a `NOTIFY` request acknowledging them) and then the answer to the request. The fds a
//! request names (`images_dir_fd`, `work_dir_fd`) are berth's: CRIU opens them through
//! `/proc/<berth>/fd`, so they stay open until the answer is read.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use protobuf::Message;

use super::rpc::{Criu_req, Criu_req_type, Criu_resp};
use super::CriuError;

/// The longest berth waits for one answer of CRIU (a dump of a large container writes all of
/// its memory, so this is generous; it bounds a CRIU that hangs).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(600);
/// How long criu swrk gets to exit once berth closed its end of the socket.
const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Larger than any answer CRIU sends (they carry a few ints and strings).
const MAX_MESSAGE: usize = 1 << 16;

/// A running `criu swrk`.
pub struct Swrk {
    child: Option<Child>,
    sock: Option<OwnedFd>,
    /// The log file CRIU writes for the request (in the work directory), named in errors.
    log: PathBuf,
}

impl Swrk {
    /// Starts `binary swrk FD`. `log` is where the request will have CRIU log (named in
    /// errors). stdin and stdout of CRIU are /dev/null; its stderr is berth's.
    pub fn start(binary: &Path, log: PathBuf) -> Result<Swrk, CriuError> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(CriuError::Socketpair)?;
        // CRIU's end must survive execve: clear its close-on-exec flag (Command keeps every fd
        // that is not close-on-exec; berth's own fds are all opened O_CLOEXEC).
        fcntl(&theirs, FcntlArg::F_SETFD(FdFlag::empty())).map_err(CriuError::Socketpair)?;
        let child = Command::new(binary)
            .arg("swrk")
            .arg(theirs.as_raw_fd().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|source| CriuError::Spawn {
                binary: binary.to_path_buf(),
                source,
            })?;
        drop(theirs);
        Ok(Swrk {
            child: Some(child),
            sock: Some(ours),
            log,
        })
    }

    /// The pid of the criu process (a restore moves it into the container's cgroup first:
    /// the restored processes are its children and start in its cgroup).
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Sends `req` and returns CRIU's answer to it: NOTIFY messages before it are
    /// acknowledged. An answer whose `success` is false is [`CriuError::Failed`] with CRIU's
    /// message.
    pub fn call(&mut self, req: &Criu_req, kind: &'static str) -> Result<Criu_resp, CriuError> {
        self.send(req, kind)?;
        loop {
            let resp = self.recv(kind)?;
            let got = resp.type_();
            if got == Criu_req_type::NOTIFY {
                crate::log_debug!(
                    "criu {kind}: notify {:?} (pid {})",
                    resp.notify.script(),
                    resp.notify.pid()
                );
                let mut ack = Criu_req::new();
                ack.set_type(Criu_req_type::NOTIFY);
                ack.set_notify_success(true);
                self.send(&ack, kind)?;
                continue;
            }
            if !resp.success() {
                let message = match (resp.cr_errmsg(), resp.cr_errno()) {
                    ("", 0) => "no reason given".to_string(),
                    ("", errno) => nix::Error::from_raw(errno).desc().to_string(),
                    (msg, 0) => msg.to_string(),
                    (msg, errno) => format!("{msg}: {}", nix::Error::from_raw(errno).desc()),
                };
                return Err(CriuError::Failed {
                    kind,
                    message,
                    log: self.log.clone(),
                });
            }
            if got != req.type_() {
                return Err(CriuError::Unexpected {
                    kind,
                    got: format!("{got:?}"),
                });
            }
            return Ok(resp);
        }
    }

    fn send(&self, req: &Criu_req, kind: &'static str) -> Result<(), CriuError> {
        let bytes = req
            .write_to_bytes()
            .map_err(|source| CriuError::Encode { kind, source })?;
        let sock = self.sock.as_ref().expect("open until finish");
        send(sock.as_raw_fd(), &bytes, MsgFlags::empty())
            .map(drop)
            .map_err(|source| CriuError::Send { kind, source })
    }

    fn recv(&self, kind: &'static str) -> Result<Criu_resp, CriuError> {
        let sock = self.sock.as_ref().expect("open until finish");
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CriuError::Timeout {
                    kind,
                    secs: ANSWER_TIMEOUT.as_secs(),
                    log: self.log.clone(),
                });
            }
            let mut fds = [PollFd::new(sock.as_fd(), PollFlags::POLLIN)];
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                .unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, ms) {
                Ok(0) | Err(nix::Error::EINTR) => continue,
                Ok(_) => break,
                Err(source) => return Err(CriuError::Recv { kind, source }),
            }
        }
        let mut buf = vec![0u8; MAX_MESSAGE];
        let n = recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty())
            .map_err(|source| CriuError::Recv { kind, source })?;
        if n == 0 {
            return Err(CriuError::Closed {
                kind,
                log: self.log.clone(),
            });
        }
        Criu_resp::parse_from_bytes(&buf[..n]).map_err(|source| CriuError::Decode { kind, source })
    }

    /// Closes berth's end (criu swrk exits when it reads end-of-file) and reaps criu, killing
    /// it if it has not exited within [`EXIT_TIMEOUT`].
    pub fn finish(mut self) -> Result<(), CriuError> {
        self.sock = None;
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let pid = child.id() as i32;
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    let _ = child.kill();
                    return child
                        .wait()
                        .map(drop)
                        .map_err(|source| CriuError::Wait { pid, source });
                }
                Err(source) => return Err(CriuError::Wait { pid, source }),
            }
        }
    }
}

impl Drop for Swrk {
    /// On an error path: kill and reap criu, so no criu outlives the berth that started it.
    fn drop(&mut self) {
        self.sock = None;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
