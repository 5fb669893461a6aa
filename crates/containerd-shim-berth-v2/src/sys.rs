//! Thin wrappers over the few raw calls the shim makes that nix does not wrap safely. Every
//! `unsafe` block of the shim crate lives here (house style point 9).

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// fork(2). Returns 0 in the child.
///
/// Callers must be single-threaded: the runtime worker forks a short-lived child per create
/// or exec (it never starts threads). The multi-threaded daemon uses [`fork_exec_with_fd`].
pub fn fork() -> nix::Result<libc::pid_t> {
    // SAFETY: fork has no memory-safety preconditions for a single-threaded caller; the child
    // only continues the caller's own code and every lock it sees is consistent.
    let pid = unsafe { libc::fork() };
    nix::errno::Errno::result(pid)
}

/// fork(2) + execv(2) of `path` with `argv` (and this process's environment), the child
/// seeing `fd` as fd `target`, not close-on-exec, and no fd above `target` (close_range(2); a
/// kernel without it leaves only close-on-exec fds, which the exec closes). Returns the
/// child's pid; a child whose setup or exec fails `_exit`s with 127, which the caller sees as
/// a worker that ended at once.
///
/// Safe from a multi-threaded process: `argv` is converted before the fork, and between fork
/// and exec the child makes only async-signal-safe syscalls (dup2, fcntl, close_range, execv,
/// _exit), allocating nothing and taking no lock. The child is not waited for here: the
/// daemon's reaper reaps every child.
pub fn fork_exec_with_fd(
    path: &std::ffi::CStr,
    argv: &[std::ffi::CString],
    fd: RawFd,
    target: RawFd,
) -> nix::Result<libc::pid_t> {
    let mut ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: the child runs only the async-signal-safe calls below before execv or _exit;
    // `path` and `ptrs` (NUL-terminated, pointing into `argv`) stay valid in the child's copy
    // of memory.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: see above; every call takes plain integers or the prepared pointers.
        unsafe {
            let ok = if fd == target {
                libc::fcntl(fd, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(fd, target) == target
            };
            if !ok {
                libc::_exit(127);
            }
            libc::syscall(
                libc::SYS_close_range,
                (target + 1) as libc::c_uint,
                libc::c_uint::MAX,
                0 as libc::c_uint,
            );
            libc::execv(path.as_ptr(), ptrs.as_ptr());
            libc::_exit(127);
        }
    }
    nix::errno::Errno::result(pid)
}

/// `_exit(2)`: leaves a forked child without running destructors or atexit handlers that
/// belong to the parent's state.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// Takes ownership of an fd received with SCM_RIGHTS.
pub fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel installed `fd` in our table for this message; nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// dup2(2) onto a fixed number (stdio of a forked child); the new fd is not close-on-exec.
pub fn dup2_raw(old: RawFd, new: RawFd) -> nix::Result<()> {
    // SAFETY: plain syscall on integers; `new` is a stdio slot the caller means to replace.
    let r = unsafe { libc::dup2(old, new) };
    nix::errno::Errno::result(r).map(drop)
}

/// Makes `cmd`'s child see each `(fd, target)` of `map` as fd `target` (not close-on-exec)
/// when it execs.
pub fn map_fds_on_exec<const N: usize>(cmd: &mut std::process::Command, map: [(RawFd, RawFd); N]) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs between fork and exec and calls only fcntl(2) and dup2(2),
    // which are async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            // First move every source above the targets, so that a source that happens to
            // sit on another entry's target is not clobbered by that entry's dup2.
            let mut high = [0 as RawFd; N];
            for (i, (fd, _)) in map.iter().enumerate() {
                let r = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 64);
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high[i] = r;
            }
            for (i, (_, target)) in map.iter().enumerate() {
                if libc::dup2(high[i], *target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

/// TIOCSWINSZ on a pty master: the terminal's size as the process sees it (SIGWINCH follows).
pub fn set_winsize(master: std::os::fd::BorrowedFd<'_>, rows: u16, cols: u16) -> nix::Result<()> {
    use std::os::fd::AsRawFd;
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which is valid for the call;
    // the fd is borrowed, so it is open.
    let r = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCSWINSZ,
            &ws as *const libc::winsize,
        )
    };
    nix::errno::Errno::result(r).map(drop)
}

/// TIOCGWINSZ: a terminal's size as (rows, cols). Tests only.
#[cfg(test)]
pub fn get_winsize(tty: std::os::fd::BorrowedFd<'_>) -> nix::Result<(u16, u16)> {
    use std::os::fd::AsRawFd;
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, valid for the call; the fd
    // is borrowed, so it is open.
    let r = unsafe {
        libc::ioctl(
            tty.as_raw_fd(),
            libc::TIOCGWINSZ,
            &mut ws as *mut libc::winsize,
        )
    };
    nix::errno::Errno::result(r).map(|_| (ws.ws_row, ws.ws_col))
}

/// Returns the free pages of the heap to the kernel (glibc's `malloc_trim`, which also
/// releases free pages in the middle of the heap, not only at its top).
pub fn trim_heap() {
    // SAFETY: malloc_trim takes the arena lock itself; it only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One glibc malloc arena for the whole daemon. It runs ~17 threads (ttrpc's listener, reaper
/// and per-connection reader, response and worker threads, the crate's signal and publisher
/// threads, berth's event and console threads), and glibc would give each allocating thread an
/// arena of its own, every one with pages resident; the shim allocates little and rarely, so
/// the contention one arena adds is nothing next to the idle RSS it saves (docs/benchmarks.md).
/// Called while single-threaded, before any allocation-heavy work.
pub fn one_malloc_arena() {
    // SAFETY: mallopt only sets an allocator parameter; no thread exists yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
