//! The pty ioctls nix does not wrap (tty_ioctl(2), pts(4)). Every `unsafe` of the terminal
//! module lives here.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// TIOCSPTLCK(0): unlock the pty so its peer can be opened.
pub fn unlockpt(master: BorrowedFd) -> nix::Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, which outlives the call.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) };
    nix::errno::Errno::result(r).map(drop)
}

/// TIOCGPTN: the pty's number N (its peer is /dev/pts/N in that devpts).
pub fn ptsnum(master: BorrowedFd) -> nix::Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer, which is valid.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) };
    nix::errno::Errno::result(r).map(|_| n)
}

/// TIOCGPTPEER: open the peer of `master` without any path lookup (Linux 4.13).
pub fn open_peer(master: BorrowedFd) -> nix::Result<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags as an integer argument and returns a new fd.
    let fd = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, flags) };
    let fd = nix::errno::Errno::result(fd)? as RawFd;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// TIOCSCTTY: make `tty` the controlling terminal of the caller's (new) session.
pub fn set_controlling(tty: BorrowedFd) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    let r = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) };
    nix::errno::Errno::result(r).map(drop)
}

/// TIOCSWINSZ.
pub fn set_winsize(tty: BorrowedFd, rows: u16, cols: u16) -> nix::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize struct through the pointer, which outlives the call.
    let r = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    nix::errno::Errno::result(r).map(drop)
}

/// TIOCGWINSZ: (rows, cols).
pub fn get_winsize(tty: BorrowedFd) -> nix::Result<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize struct through the pointer, which is valid.
    let r = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    nix::errno::Errno::result(r).map(|_| (ws.ws_row, ws.ws_col))
}

/// Bind-mounts the file open at `source` onto the file open at `target`, by fd only:
/// open_tree(OPEN_TREE_CLONE) of the source, move_mount onto the target (mount API, Linux
/// 5.2). No path is resolved, and no /proc is needed in the container.
pub fn bind_fd_onto_fd(source: BorrowedFd, target: BorrowedFd) -> nix::Result<()> {
    let tree = crate::rootfs::sys::open_tree_clone_fd(source)?;
    crate::rootfs::sys::move_mount_onto(tree.as_fd(), target)
}
