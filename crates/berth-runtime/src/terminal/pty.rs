//! Allocating the process's pty inside the container and making it the controlling terminal
//! and stdio of the process (runs in the container process, after pivot_root or setns).

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

use super::{sys, TerminalError};

/// A pty: the master (for berth's side) and its peer (the process's terminal).
#[derive(Debug)]
pub struct Pty {
    pub master: OwnedFd,
    pub peer: OwnedFd,
    /// `/dev/pts/N` as the container sees it.
    pub name: String,
}

impl Pty {
    /// Opens a new pty from the devpts multiplexer at `ptmx` (the container's
    /// `/dev/pts/ptmx`), checked through the fd to be the ptmx device, and its peer with
    /// TIOCGPTPEER (CVE-2025-52565: never re-resolve `/dev/pts/N`).
    pub fn open(ptmx: &Path) -> Result<Pty, TerminalError> {
        let master = open(
            ptmx,
            OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|source| TerminalError::OpenPtmx {
            path: ptmx.to_path_buf(),
            source,
        })?;
        let st = fstat(&master).map_err(|source| TerminalError::OpenPtmx {
            path: ptmx.to_path_buf(),
            source,
        })?;
        let is_char = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
        if !is_char || libc::major(st.st_rdev) != 5 || libc::minor(st.st_rdev) != 2 {
            return Err(TerminalError::NotPtmx {
                path: ptmx.to_path_buf(),
            });
        }
        sys::unlockpt(master.as_fd()).map_err(TerminalError::Unlock)?;
        let n = sys::ptsnum(master.as_fd()).map_err(TerminalError::PtyNumber)?;
        let peer = sys::open_peer(master.as_fd()).map_err(TerminalError::Peer)?;
        Ok(Pty {
            master,
            peer,
            name: format!("/dev/pts/{n}"),
        })
    }

    /// config.md `consoleSize`.
    pub fn set_size(&self, rows: u16, cols: u16) -> Result<(), TerminalError> {
        sys::set_winsize(self.peer.as_fd(), rows, cols)
            .map_err(|source| TerminalError::WindowSize { rows, cols, source })
    }
}

/// Allocates the pty at `ptmx`, applies `size`, makes the peer the controlling terminal (the
/// caller must be a session leader without one: it ran setsid) and stdin/stdout/stderr, and
/// returns the master and the pty's name for the parent. The peer fd itself is closed: only
/// fds 0-2 keep it.
pub fn setup_process_terminal(
    ptmx: &Path,
    size: Option<(u16, u16)>,
    owner: u32,
) -> Result<(OwnedFd, String), TerminalError> {
    let pty = Pty::open(ptmx)?;
    // As runc: the peer belongs to the process's user (so it can e.g. chmod its tty, and
    // `mesg`/`write` work); the group stays devpts' (tty with `gid=5`) and the mode devpts'
    // `mode=` (0620 in the default mounts).
    nix::unistd::fchown(&pty.peer, Some(nix::unistd::Uid::from_raw(owner)), None).map_err(
        |source| TerminalError::Chown {
            name: pty.name.clone(),
            uid: owner,
            source,
        },
    )?;
    if let Some((rows, cols)) = size {
        pty.set_size(rows, cols)?;
    }
    sys::set_controlling(pty.peer.as_fd()).map_err(|source| TerminalError::Controlling {
        name: pty.name.clone(),
        source,
    })?;
    for target in 0..=2 {
        let dup = match target {
            0 => nix::unistd::dup2_stdin(&pty.peer),
            1 => nix::unistd::dup2_stdout(&pty.peer),
            _ => nix::unistd::dup2_stderr(&pty.peer),
        };
        dup.map_err(|source| TerminalError::Stdio {
            name: pty.name.clone(),
            source,
        })?;
    }
    Ok((pty.master, pty.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ptmx_gives_a_working_pty_pair() {
        // /dev/ptmx on the host is the same 5:2 device.
        let pty = match Pty::open(Path::new("/dev/ptmx")) {
            Ok(p) => p,
            Err(e) => {
                crate::test_skip("host_ptmx_gives_a_working_pty_pair", &e.to_string());
                return;
            }
        };
        assert!(pty.name.starts_with("/dev/pts/"), "{}", pty.name);
        pty.set_size(33, 101).unwrap();
        assert_eq!(sys::get_winsize(pty.master.as_fd()).unwrap(), (33, 101));
        nix::unistd::write(&pty.master, b"hi\n").unwrap();
        let mut buf = [0u8; 8];
        let n = nix::unistd::read(&pty.peer, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi\n");
    }

    #[test]
    fn a_regular_file_is_not_ptmx() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ptmx");
        std::fs::write(&f, "").unwrap();
        let err = Pty::open(&f).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is not the pty multiplexer (char device 5:2)",
                f.display()
            )
        );
    }
}
