//! The foreground relay: when `run` or `exec -t` has a terminal but no console socket, berth
//! keeps the pty master and copies the caller's stdin to it and its output to the caller's
//! stdout, with the caller's terminal in raw mode (restored on every exit path), SIGWINCH
//! copied to the pty, and every other signal forwarded to the process.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::sys;

/// The relay failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("create a signalfd")]
    Signalfd(#[source] nix::Error),
    #[error("wait for terminal input or signals")]
    Poll(#[source] nix::Error),
    #[error("wait for process {pid}")]
    Wait {
        pid: i32,
        #[source]
        source: nix::Error,
    },
}

/// Puts the caller's terminal in raw mode until dropped.
struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    fn enter(stdin: BorrowedFd) -> RawMode {
        let Ok(saved) = tcgetattr(stdin) else {
            return RawMode { saved: None }; // not a terminal: nothing to do
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin, SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

fn copy_size(from: BorrowedFd, to: BorrowedFd) {
    if let Ok((rows, cols)) = sys::get_winsize(from) {
        if rows > 0 && cols > 0 {
            let _ = sys::set_winsize(to, rows, cols);
        }
    }
}

/// Writes all of `buf` to `fd`, waiting while it is full.
fn write_all(fd: BorrowedFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(nix::Error::EINTR) => {}
            Err(nix::Error::EAGAIN) => {
                let mut p = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut p, PollTimeout::from(100u16));
            }
            Err(_) => return false,
        }
    }
    true
}

/// Relays between the caller's stdio and `master` until process `pid` (a child of ours)
/// exits; returns its exit code (128+N for a signal). The signals in `mask` must already be
/// blocked by the caller (so none is lost before the signalfd exists).
pub fn relay_and_wait(pid: i32, master: OwnedFd, mask: &SigSet) -> Result<u8, RelayError> {
    let sfd = SignalFd::new(mask).map_err(RelayError::Signalfd)?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let (stdin, stdout) = (stdin.as_fd(), stdout.as_fd());
    let _raw = RawMode::enter(stdin);
    copy_size(stdin, master.as_fd());
    let _ = nix::fcntl::fcntl(
        &master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    let child = Pid::from_raw(pid);
    let mut stdin_open = true;
    let mut code = None;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if code.is_none() {
            code = exit_code(pid, waitpid(child, Some(WaitPidFlag::WNOHANG)))?;
        }
        if let Some(code) = code {
            drain(master.as_fd(), stdout, &mut buf);
            return Ok(code);
        }
        let mut fds = vec![
            PollFd::new(master.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(RelayError::Poll(e)),
            Ok(_) => {}
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .unwrap_or(PollFlags::empty())
        };
        let (m, s, i) = (ready(0), ready(1), ready(2));
        if m.intersects(PollFlags::POLLIN) {
            match nix::unistd::read(&master, &mut buf) {
                Ok(n) if n > 0 => {
                    write_all(stdout, &buf[..n]);
                }
                _ => {}
            }
        } else if m.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            // Every holder of the peer closed it: wait for the exit without busy-looping.
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if i.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match nix::unistd::read(stdin, &mut buf) {
                Ok(n) if n > 0 => {
                    write_all(master.as_fd(), &buf[..n]);
                }
                Err(nix::Error::EINTR) | Err(nix::Error::EAGAIN) => {}
                _ => stdin_open = false,
            }
        }
        if s.intersects(PollFlags::POLLIN) {
            if let Ok(Some(info)) = sfd.read_signal() {
                match info.ssi_signo as i32 {
                    libc::SIGCHLD => {}
                    libc::SIGWINCH => copy_size(stdin, master.as_fd()),
                    signo => {
                        let _ = nix::sys::signal::kill(child, Signal::try_from(signo).ok());
                    }
                }
            }
        }
    }
}

/// Copies what the process wrote before exiting and is still in the pty.
fn drain(master: BorrowedFd, stdout: BorrowedFd, buf: &mut [u8]) {
    loop {
        match nix::unistd::read(master, buf) {
            Ok(n) if n > 0 => {
                write_all(stdout, &buf[..n]);
            }
            Err(nix::Error::EINTR) => {}
            _ => return,
        }
    }
}

fn exit_code(pid: i32, status: nix::Result<WaitStatus>) -> Result<Option<u8>, RelayError> {
    match status {
        Ok(WaitStatus::Exited(_, code)) => Ok(Some(code as u8)),
        Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Some(128u8.wrapping_add(sig as u8))),
        Ok(_) => Ok(None),
        Err(source) => Err(RelayError::Wait { pid, source }),
    }
}
