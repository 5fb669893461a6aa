//! `/dev/console` for a terminal container: runtime-linux.md "Default Devices" asks for the
//! container's pty to be bind-mounted there.
//!
//! CVE-2025-52565 (runc): the bind went through paths (`/dev/pts/N` as source, `/dev/console`
//! as target), so a container whose rootfs made either a symlink could redirect the mount over
//! another file, such as a procfs file. berth mounts fd onto fd: the source is the pty peer
//! from TIOCGPTPEER, the target is opened with O_NOFOLLOW below an O_NOFOLLOW handle on
//! `/dev`, and a symlink there is refused.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::{fstat, Mode, SFlag};

use super::{sys, TerminalError};

/// Bind-mounts `peer` (the pty) on the container's /dev/console, creating an empty file there
/// if needed. Runs after pivot_root.
pub fn bind(peer: BorrowedFd) -> Result<(), TerminalError> {
    let err = |source| TerminalError::DevConsole {
        path: PathBuf::from("/dev/console"),
        source,
    };
    let dev = open(
        "/dev",
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| TerminalError::DevConsole {
        path: PathBuf::from("/dev"),
        source,
    })?;
    let target = match openat(
        &dev,
        "console",
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o666),
    ) {
        Ok(fd) => fd,
        Err(nix::Error::EEXIST) => {
            let fd = openat(
                &dev,
                "console",
                OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(err)?;
            let kind =
                SFlag::from_bits_truncate(fstat(&fd).map_err(err)?.st_mode & SFlag::S_IFMT.bits());
            if kind == SFlag::S_IFLNK {
                return Err(TerminalError::DevConsoleSymlink);
            }
            fd
        }
        Err(e) => return Err(err(e)),
    };
    sys::bind_fd_onto_fd(peer, target.as_fd()).map_err(err)
}
