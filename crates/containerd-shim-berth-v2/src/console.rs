//! Terminals (`terminal: true` at Create or Exec): runc's console-socket protocol, spoken by
//! the shim itself.
//!
//! The shim listens on a unix stream socket of its own ([`ConsoleListener`]) and passes its
//! path to the runtime library (through the worker); the library connects, sends the pty
//! master with SCM_RIGHTS and hangs up. The shim then relays:
//!
//! - master → the stdout stream (two threads in all per terminal, as runc's shim): the
//!   stdout FIFO's writer is closed when the master reads EIO, i.e. once every holder of the
//!   pty's peer (the process and its children) is gone, so the client sees EOF after the last
//!   byte;
//! - stdin → master: the stdin copy thread of `stdio.rs` feeds a pipe, and a second thread
//!   copies the pipe into the master.
//!
//! stderr is not used: a terminal merges it into stdout. ResizePty sets the master's window
//! size ([`Console::resize`]).

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

/// How long the shim waits for the master once the library reported success.
const MASTER_WAIT: Duration = Duration::from_secs(10);

static NEXT: AtomicU64 = AtomicU64::new(0);

/// Setting up or using a terminal failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("listen on console socket {path}")]
    Listen {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("receive the pty master on console socket {path}")]
    Receive {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no pty master arrived on console socket {path}")]
    NoMaster { path: PathBuf },
    #[error("start the terminal relay")]
    Relay(#[source] std::io::Error),
    #[error("set the terminal size")]
    Resize(#[source] nix::Error),
}

/// A console socket the shim listens on; removed when dropped.
#[derive(Debug)]
pub struct ConsoleListener {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleListener {
    /// Listens on a new socket in `dir` (short paths: sun_path holds 108 bytes).
    pub fn new(dir: &Path) -> Result<ConsoleListener, ConsoleError> {
        let path = dir.join(format!(
            "berth-console-{}-{}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|source| ConsoleError::Listen {
            path: path.clone(),
            source,
        })?;
        Ok(ConsoleListener { path, listener })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The master the library sent. It connected and sent before reporting success, so the
    /// connection is queued already; the wait only bounds a misbehaving peer.
    pub fn receive(&self) -> Result<OwnedFd, ConsoleError> {
        let err = |source: std::io::Error| ConsoleError::Receive {
            path: self.path.clone(),
            source,
        };
        let mut fds = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
        let ms = MASTER_WAIT.as_millis() as u16;
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => {
                return Err(ConsoleError::NoMaster {
                    path: self.path.clone(),
                })
            }
            Ok(_) => {}
            Err(e) => return Err(err(e.into())),
        }
        let (stream, _) = self.listener.accept().map_err(err)?;
        stream.set_read_timeout(Some(MASTER_WAIT)).map_err(err)?;
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| err(e.into()))?;
        let mut master = None;
        for c in msg.cmsgs().map_err(|e| err(e.into()))? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                for fd in raw {
                    let fd = crate::sys::own_fd(fd);
                    if master.is_none() {
                        master = Some(fd);
                    }
                }
            }
        }
        master.ok_or_else(|| ConsoleError::NoMaster {
            path: self.path.clone(),
        })
    }
}

impl Drop for ConsoleListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A process's terminal, as the shim keeps it (for ResizePty).
#[derive(Debug)]
pub struct Console {
    master: OwnedFd,
}

impl Console {
    /// Starts relaying `master` to `out` and `input` (if any) to `master`.
    pub fn relay(
        master: OwnedFd,
        input: Option<OwnedFd>,
        out: Option<OwnedFd>,
    ) -> Result<Console, ConsoleError> {
        let reader = master.try_clone().map_err(ConsoleError::Relay)?;
        std::thread::Builder::new()
            .name("pty-out".into())
            .spawn(move || {
                let mut master = std::fs::File::from(reader);
                let mut out = out.map(std::fs::File::from);
                let mut buf = [0u8; 8192];
                loop {
                    match master.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            if let Some(o) = out.as_mut() {
                                if o.write_all(&buf[..n]).is_err() {
                                    out = None; // keep draining so the process never blocks
                                }
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break, // EIO: every holder of the peer is gone
                    }
                }
            })
            .map_err(ConsoleError::Relay)?;
        if let Some(input) = input {
            let writer = master.try_clone().map_err(ConsoleError::Relay)?;
            std::thread::Builder::new()
                .name("pty-in".into())
                .spawn(move || {
                    let mut input = std::fs::File::from(input);
                    let mut master = std::fs::File::from(writer);
                    let _ = std::io::copy(&mut input, &mut master);
                })
                .map_err(ConsoleError::Relay)?;
        }
        Ok(Console { master })
    }

    pub fn resize(&self, width: u32, height: u32) -> Result<(), ConsoleError> {
        let clamp = |v: u32| v.min(u16::MAX as u32) as u16;
        crate::sys::set_winsize(self.master.as_fd(), clamp(height), clamp(width))
            .map_err(ConsoleError::Resize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_runtime::terminal::ConsoleSocket;
    use std::os::unix::fs::OpenOptionsExt;

    #[test]
    fn master_arrives_through_the_console_socket_and_relays_output() {
        let dir = tempfile::tempdir().unwrap();
        let listener = ConsoleListener::new(dir.path()).unwrap();
        let pty = nix::pty::posix_openpt(nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY)
            .unwrap();
        nix::pty::grantpt(&pty).unwrap();
        nix::pty::unlockpt(&pty).unwrap();
        let peer_name = nix::pty::ptsname_r(&pty).unwrap();
        let sock = ConsoleSocket::connect(listener.path()).unwrap();
        sock.send(pty.as_fd(), "t").unwrap();
        let master = listener.receive().unwrap();
        drop(pty);
        let (r, w) = nix::unistd::pipe().unwrap();
        let console = Console::relay(master, None, Some(w)).unwrap();
        console.resize(80, 24).unwrap();
        {
            let mut peer = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOCTTY)
                .open(&peer_name)
                .unwrap();
            // The size set on the master is what the peer reports.
            assert_eq!(crate::sys::get_winsize(peer.as_fd()).unwrap(), (24, 80));
            peer.write_all(b"hello").unwrap();
        }
        // The peer is closed: the relay drains and closes the output.
        let mut got = String::new();
        std::fs::File::from(r).read_to_string(&mut got).unwrap();
        assert!(got.contains("hello"), "{got:?}");
        drop(console);
        let path = listener.path().to_path_buf();
        drop(listener);
        assert!(!path.exists());
    }
}
