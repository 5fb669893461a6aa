//! Thin wrappers for the syscalls libc and nix do not wrap: `openat2(2)`, `mount_setattr(2)`,
//! `open_tree(2)`, `move_mount(2)` and the filesystem context calls (`fsopen`, `fsconfig`,
//! `fsmount`, `fspick`). This is the only file of the rootfs module with `unsafe`.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
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

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {set, clr, propagation})`: change
/// the attributes (`MOUNT_ATTR_*`) and, when `propagation` is not 0, the propagation type
/// (`MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE` or `MS_UNBINDABLE`) of the mount `fd` is the root of,
/// and with `recursive` of every mount below it. Nothing is resolved by path.
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    set: u64,
    clear: u64,
    propagation: u64,
) -> nix::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the empty path is a static NUL-terminated string, `attr` is a properly laid out
    // `struct mount_attr` that outlives the call and its exact size is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(ret).map(drop)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], {MOUNT_ATTR_IDMAP, userns_fd})`:
/// id-map the detached mount `fd` is the root of (with `recursive`, every mount below it too)
/// with the maps of the user namespace `userns` (mount_setattr(2) "ID-mapped mounts").
pub fn mount_setattr_idmap(
    fd: BorrowedFd<'_>,
    recursive: bool,
    userns: BorrowedFd<'_>,
) -> nix::Result<()> {
    const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: as in `mount_setattr`: a static empty path and a `struct mount_attr` that
    // outlives the call, with its exact size; both fds stay open for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
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
    open_tree_clone_of(fd, false)
}

/// A detached copy of the mount (with `recursive`, the tree) whose root is the file open at
/// `fd`: `open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH [| AT_RECURSIVE])`.
pub fn open_tree_clone_of(fd: BorrowedFd<'_>, recursive: bool) -> nix::Result<OwnedFd> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    open_tree(fd.as_raw_fd(), c"", flags)
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

/// `fsconfig(2)` commands and value types (linux/mount.h).
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSCONFIG_CMD_RECONFIGURE: libc::c_uint = 7;

/// Adopt the fd a syscall just returned.
fn owned(ret: libc::c_long) -> nix::Result<OwnedFd> {
    let fd = Errno::result(ret)? as i32;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`: a filesystem context, configured by [`fsconfig_flag`],
/// [`fsconfig_string`] and [`fsconfig_create`], mounted by [`fsmount`].
pub fn fsopen(fstype: &str) -> nix::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    let name = CString::new(fstype).map_err(|_| Errno::EINVAL)?;
    // SAFETY: a valid NUL-terminated filesystem name; returns a new fd or an error.
    owned(unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) })
}

fn fsconfig(
    fs: BorrowedFd<'_>,
    cmd: libc::c_uint,
    key: Option<&str>,
    value: Option<&str>,
) -> nix::Result<()> {
    let key = key
        .map(CString::new)
        .transpose()
        .map_err(|_| Errno::EINVAL)?;
    let value = value
        .map(CString::new)
        .transpose()
        .map_err(|_| Errno::EINVAL)?;
    let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: key and value are NUL-terminated strings (or null where the command takes
    // none) that outlive the call; aux is 0 for every command used here.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            cmd,
            ptr(&key),
            ptr(&value) as *const libc::c_void,
            0,
        )
    };
    Errno::result(ret).map(drop)
}

/// `fsconfig(fs, FSCONFIG_SET_FLAG, key)`: a parameter without a value (`ro`, `newinstance`).
pub fn fsconfig_flag(fs: BorrowedFd<'_>, key: &str) -> nix::Result<()> {
    fsconfig(fs, FSCONFIG_SET_FLAG, Some(key), None)
}

/// `fsconfig(fs, FSCONFIG_SET_STRING, key, value)`.
pub fn fsconfig_string(fs: BorrowedFd<'_>, key: &str, value: &str) -> nix::Result<()> {
    fsconfig(fs, FSCONFIG_SET_STRING, Some(key), Some(value))
}

/// `fsconfig(fs, FSCONFIG_CMD_CREATE)`: create (or find) the superblock.
pub fn fsconfig_create(fs: BorrowedFd<'_>) -> nix::Result<()> {
    fsconfig(fs, FSCONFIG_CMD_CREATE, None, None)
}

/// `fsconfig(fs, FSCONFIG_CMD_RECONFIGURE)`: apply the parameters to a picked superblock.
pub fn fsconfig_reconfigure(fs: BorrowedFd<'_>) -> nix::Result<()> {
    fsconfig(fs, FSCONFIG_CMD_RECONFIGURE, None, None)
}

/// `fsmount(fs, FSMOUNT_CLOEXEC, attrs)`: a detached mount of the created superblock with the
/// per-mount `MOUNT_ATTR_*` attributes `attrs`; the fd is its root directory.
pub fn fsmount(fs: BorrowedFd<'_>, attrs: u64) -> nix::Result<OwnedFd> {
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: a filesystem context fd; returns a new mount fd or an error.
    owned(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attrs as libc::c_uint,
        )
    })
}

/// `fspick(mnt, "", FSPICK_EMPTY_PATH | FSPICK_CLOEXEC)`: a reconfiguration context for the
/// superblock of the mount whose root `mnt` is.
pub fn fspick(mnt: BorrowedFd<'_>) -> nix::Result<OwnedFd> {
    const FSPICK_CLOEXEC: libc::c_uint = 1;
    const FSPICK_EMPTY_PATH: libc::c_uint = 8;
    // SAFETY: the empty path is a static NUL-terminated string; returns a new fd or an error.
    owned(unsafe {
        libc::syscall(
            libc::SYS_fspick,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            FSPICK_CLOEXEC | FSPICK_EMPTY_PATH,
        )
    })
}

/// The messages the kernel queued on a filesystem context (one `read(2)` each, `e `/`w `/`i `
/// prefixed), joined with "; ": the reason behind an EINVAL from fsconfig, for error messages.
pub fn fs_messages(fs: BorrowedFd<'_>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut buf = [0u8; 512];
    // Bounded: the kernel keeps at most 8 messages per context.
    for _ in 0..8 {
        match nix::unistd::read(fs, &mut buf) {
            Ok(n) if n > 0 => out.push(String::from_utf8_lossy(&buf[..n]).trim().to_string()),
            _ => break,
        }
    }
    out.join("; ")
}

/// A procfs instance of the caller's pid namespace, mounted nowhere: fsopen("proc"),
/// FSCONFIG_CMD_CREATE, fsmount. The returned fd is its root directory (close-on-exec).
pub fn private_procfs() -> nix::Result<OwnedFd> {
    let fs = fsopen("proc")?;
    fsconfig_create(fs.as_fd())?;
    fsmount(fs.as_fd(), 0)
}
