//! Thin wrappers for the two syscalls libc and nix do not wrap: `openat2(2)` and
//! `mount_setattr(2)`. This is the only file of the rootfs module with `unsafe`.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;

/// `RESOLVE_NO_MAGICLINKS | RESOLVE_IN_ROOT`: the path is resolved as if `dirfd` were `/`, so
/// `..` and absolute symlinks cannot leave it, and `/proc/self/fd`-style links are refused.
pub const RESOLVE_IN_ROOT_SAFE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// `struct open_how` (linux/openat2.h); libc's is `#[non_exhaustive]` so it cannot be built here.
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `struct mount_attr` (linux/mount.h), version 0.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// `openat2(dirfd, path, {flags, 0, resolve})`.
pub fn openat2(
    dirfd: BorrowedFd<'_>,
    path: &Path,
    flags: i32,
    resolve: u64,
) -> nix::Result<OwnedFd> {
    let cpath = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    // SAFETY: `cpath` is a valid NUL-terminated string and `how` a properly laid out
    // `struct open_how` that both outlive the call; the size passed is its exact size.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd.as_raw_fd(),
            cpath.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = Errno::result(ret)?;
    // SAFETY: on success openat2 returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, {set, clr})`: change the attributes of
/// the mount `fd` refers to and of every mount below it.
pub fn mount_setattr_recursive(fd: BorrowedFd<'_>, set: u64, clear: u64) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the empty path is a static NUL-terminated string, `attr` is a properly laid out
    // `struct mount_attr` that outlives the call and its exact size is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLONE [| AT_RECURSIVE])`: a detached copy of the mount
/// (tree) at `path`, held by the returned fd, for a later [`move_mount_onto`].
pub fn open_tree_clone(path: &Path, recursive: bool) -> nix::Result<OwnedFd> {
    let cpath = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| Errno::EINVAL)?;
    let flags = if recursive { libc::AT_RECURSIVE } else { 0 };
    open_tree(libc::AT_FDCWD, &cpath, flags as libc::c_uint)
}

/// The same for the file open at `fd` itself (AT_EMPTY_PATH), not recursive.
pub fn open_tree_clone_fd(fd: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    open_tree(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH as libc::c_uint)
}

fn open_tree(dirfd: i32, path: &std::ffi::CStr, flags: libc::c_uint) -> nix::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = flags | OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: `path` is a valid NUL-terminated string for the duration of the call; the
    // kernel returns a new fd or an error.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) };
    let fd = Errno::result(fd)? as i32;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `move_mount(tree, "", target, "", F_EMPTY_PATH | T_EMPTY_PATH)`: attaches the detached
/// tree onto the file or directory open at `target`. Nothing is resolved by path.
pub fn move_mount_onto(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> nix::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    let empty = c"";
    // SAFETY: both paths are the valid empty string; the fds stay open for the whole call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(r).map(drop)
}

/// A procfs instance of the caller's pid namespace, mounted nowhere: fsopen("proc"),
/// FSCONFIG_CMD_CREATE, fsmount. The returned fd is its root directory (close-on-exec).
pub fn private_procfs() -> nix::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: a valid NUL-terminated filesystem name; returns a new fd or an error.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), FSOPEN_CLOEXEC) };
    let fs = Errno::result(fs)? as i32;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    let fs = unsafe { OwnedFd::from_raw_fd(fs) };
    // SAFETY: CMD_CREATE takes no key, value or aux: null pointers and 0.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    Errno::result(r)?;
    // SAFETY: a valid filesystem context fd; returns a new mount fd or an error.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    let mnt = Errno::result(mnt)? as i32;
    // SAFETY: as above, a new fd owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(mnt) })
}
