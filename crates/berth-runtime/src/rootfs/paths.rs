//! After pivot: `linux.readonlyPaths`, `linux.maskedPaths` (config-linux.md), a read-only `/dev`
//! and `root.readonly`, and `linux.rootfsPropagation` on "/". Missing paths are skipped, like runc.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{fstat, SFlag};

use super::mounts::{raw_mount, remount_bind};
use super::options::ms;
use super::resolve::{fd_path, Root};
use super::RootfsError;

/// How to name a resolved path as a `mount(2)` argument: `/proc/self/fd/<n>` when the container
/// has a /proc (it does whenever it has masked /proc paths), else the path itself — nothing else
/// runs in the container yet, so there is no one to race.
struct Targets {
    proc_fd: bool,
}

impl Targets {
    fn new() -> Targets {
        Targets {
            proc_fd: Path::new("/proc/self/fd").is_dir(),
        }
    }

    fn of(&self, fd: &OwnedFd, path: &Path) -> PathBuf {
        if self.proc_fd {
            fd_path(fd)
        } else {
            path.to_path_buf()
        }
    }
}

/// Resolve `path`, `None` when it does not exist.
fn resolve_existing(root: &Root, path: &Path) -> Result<Option<OwnedFd>, RootfsError> {
    match root.try_resolve(path, OFlag::empty()) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(source) => Err(RootfsError::Resolve {
            root: PathBuf::from("/"),
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Bind `path` onto itself (recursively) and remount it read-only, keeping nosuid/nodev/noexec.
pub fn readonly_path(root: &Root, path: &Path, keep_locked: bool) -> Result<(), RootfsError> {
    let targets = Targets::new();
    let Some(fd) = resolve_existing(root, path)? else {
        return Ok(());
    };
    let target = targets.of(&fd, path);
    raw_mount(Some(&target), &target, None, ms::BIND | ms::REC, None).map_err(|source| {
        RootfsError::Mount {
            source_desc: path.display().to_string(),
            target: path.to_path_buf(),
            source,
        }
    })?;
    remount_readonly(root, &targets, path, keep_locked)
}

/// Remount the mount at `path` read-only. statvfs gives the flags to keep: a bind remount
/// replaces all per-mount flags, so nosuid/nodev/noexec/atime are re-stated.
fn remount_readonly(
    root: &Root,
    targets: &Targets,
    path: &Path,
    keep_locked: bool,
) -> Result<(), RootfsError> {
    let mounted = root.resolve(path)?;
    let current = nix::sys::statvfs::fstatvfs(mounted.as_fd())
        .map_err(|source| RootfsError::Statvfs {
            path: path.to_path_buf(),
            source,
        })?
        .flags()
        .bits();
    let keep = current
        & (ms::NOSUID | ms::NODEV | ms::NOEXEC | ms::NOATIME | ms::NODIRATIME | ms::RELATIME);
    remount_bind(
        &mounted,
        &targets.of(&mounted, path),
        path,
        ms::RDONLY | keep,
        0,
        keep_locked,
    )
}

/// Mask `path`: a file gets /dev/null bound over it, a directory an empty read-only tmpfs.
pub fn mask_path(root: &Root, path: &Path) -> Result<(), RootfsError> {
    let targets = Targets::new();
    let Some(fd) = resolve_existing(root, path)? else {
        return Ok(());
    };
    let target = targets.of(&fd, path);
    let is_dir = fstat(fd.as_fd())
        .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
        .map_err(|source| RootfsError::Resolve {
            root: PathBuf::from("/"),
            path: path.to_path_buf(),
            source,
        })?;
    if is_dir {
        raw_mount(
            Some(Path::new("tmpfs")),
            &target,
            Some("tmpfs"),
            ms::RDONLY,
            None,
        )
        .map_err(|source| RootfsError::Mount {
            source_desc: "tmpfs".to_string(),
            target: path.to_path_buf(),
            source,
        })
    } else {
        let null = root.resolve(Path::new("/dev/null"))?;
        // CVE-2025-31133: /dev/null is the container's; replaced by a symlink (to a procfs
        // file, say) or by another file, binding it would expose what it points at instead
        // of hiding the masked path. Only the null device 1:3, checked on the fd that is
        // then bound, is used.
        verify_dev_null(&null, path)?;
        let null_target = targets.of(&null, Path::new("/dev/null"));
        raw_mount(Some(&null_target), &target, None, ms::BIND, None).map_err(|source| {
            RootfsError::Mount {
                source_desc: "/dev/null".to_string(),
                target: path.to_path_buf(),
                source,
            }
        })
    }
}

fn verify_dev_null(fd: &std::os::fd::OwnedFd, masked: &Path) -> Result<(), RootfsError> {
    let ok = fstat(fd.as_fd()).is_ok_and(|st| {
        st.st_mode & libc::S_IFMT == libc::S_IFCHR
            && libc::major(st.st_rdev) == 1
            && libc::minor(st.st_rdev) == 3
    });
    if ok {
        Ok(())
    } else {
        Err(super::HardeningError::NotDevNull {
            path: masked.to_path_buf(),
        }
        .into())
    }
}

/// Remount the mount at `path` (a mount point: "/" or "/dev") read-only.
pub fn remount_ro(root: &Root, path: &Path, keep_locked: bool) -> Result<(), RootfsError> {
    remount_readonly(root, &Targets::new(), path, keep_locked)
}

/// Set the propagation of "/".
pub fn root_propagation(flags: u64) -> Result<(), RootfsError> {
    raw_mount(None, Path::new("/"), None, flags, None).map_err(|source| RootfsError::Propagation {
        target: PathBuf::from("/"),
        flags,
        source,
    })
}
