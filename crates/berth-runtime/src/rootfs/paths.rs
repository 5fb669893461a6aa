//! After pivot: `linux.readonlyPaths`, `linux.maskedPaths` (config-linux.md), a read-only `/dev`
//! and `root.readonly`, and `linux.rootfsPropagation` on "/". Missing paths are skipped, like runc.
//!
//! Each path arrives resolved (see `Mounted::locate` in `mod.rs`); the mount that protects it
//! is built detached and attached onto that fd, never addressed by a path string again.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::stat::fstat;

use super::mounts::raw_mount;
use super::newmount::NewMount;
use super::options::{attr, ms};
use super::RootfsError;

/// Bind the mount (tree) at `fd` onto itself and make the new top mount read-only; its other
/// flags (nosuid, nodev, noexec, atime) are kept, as runc's bind + read-only remount keeps them.
pub fn readonly_path(fd: &OwnedFd, path: &Path) -> Result<(), RootfsError> {
    let what = path.display().to_string();
    let mount = NewMount::clone_of(fd.as_fd(), true, &what, path)?;
    mount.set_attrs(false, attr::RDONLY, 0)?;
    mount.attach(fd)
}

/// Mask the file or directory at `fd`: a file gets the container's null device (`null`, checked
/// here) bound over it, a directory an empty read-only tmpfs.
pub fn mask_path(fd: &OwnedFd, path: &Path, null: Option<&OwnedFd>) -> Result<(), RootfsError> {
    let is_dir = fstat(fd.as_fd())
        .map(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
        .map_err(|source| RootfsError::Resolve {
            root: PathBuf::from("/"),
            path: path.to_path_buf(),
            source,
        })?;
    let mount = if is_dir {
        NewMount::filesystem("tmpfs", "tmpfs", "", ms::RDONLY, path)?
    } else {
        // CVE-2025-31133: /dev/null is the container's; replaced by a symlink (to a procfs
        // file, say) or by another file, binding it would expose what it points at instead
        // of hiding the masked path. Only the null device 1:3, checked on the fd that is
        // then bound, is used.
        let null = null.filter(|null| is_dev_null(null)).ok_or_else(|| {
            super::HardeningError::NotDevNull {
                path: path.to_path_buf(),
            }
        })?;
        NewMount::clone_of(null.as_fd(), false, "/dev/null", path)?
    };
    mount.attach(fd)
}

fn is_dev_null(fd: &OwnedFd) -> bool {
    fstat(fd.as_fd()).is_ok_and(|st| {
        st.st_mode & libc::S_IFMT == libc::S_IFCHR
            && libc::major(st.st_rdev) == 1
            && libc::minor(st.st_rdev) == 3
    })
}

/// Make the mount whose root `fd` is read-only ("/" or "/dev"); its other flags stay.
pub fn remount_ro(fd: &OwnedFd, path: &Path) -> Result<(), RootfsError> {
    super::sys::mount_setattr(fd.as_fd(), false, attr::RDONLY, 0, 0).map_err(|source| {
        RootfsError::MountSetattr {
            target: path.to_path_buf(),
            set: attr::RDONLY,
            clear: 0,
            source,
        }
    })
}

/// Set the propagation of the mount whose root `fd` is (the container's "/" after pivot:
/// rootfsPropagation), by fd like every other propagation change (issue #13).
pub fn propagation_by_fd(fd: &OwnedFd, path: &Path, flags: u64) -> Result<(), RootfsError> {
    let kind = flags & (ms::SHARED | ms::SLAVE | ms::PRIVATE | ms::UNBINDABLE);
    super::sys::mount_setattr(fd.as_fd(), flags & ms::REC != 0, 0, 0, kind).map_err(|source| {
        RootfsError::Propagation {
            target: path.to_path_buf(),
            flags,
            source,
        }
    })
}

/// Set the propagation of "/" by path: only on the host side, before pivot_root, where "/" is
/// the host's root in the init's new mount namespace.
pub fn root_propagation(flags: u64) -> Result<(), RootfsError> {
    raw_mount(None, Path::new("/"), None, flags, None).map_err(|source| RootfsError::Propagation {
        target: PathBuf::from("/"),
        flags,
        source,
    })
}
