//! Switching the process root to the rootfs: `pivot_root(".", ".")` (the technique of runc and
//! the Firecracker jailer, pivot_root(2) NOTES) or, for `--no-pivot`, `MS_MOVE` + `chroot`.
//! Also makes the rootfs's parent mount private, which pivot_root(2) requires.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::mount::{umount2, MntFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use super::mounts::raw_mount;
use super::options::ms;
use super::RootfsError;

use crate::mountinfo::unescape;

/// The mount point containing `path` and whether it is shared, from mountinfo text.
pub(crate) fn containing_mount(mountinfo: &str, path: &Path) -> Option<(PathBuf, bool)> {
    let mut best: Option<(PathBuf, bool)> = None;
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(mount_point) = fields.get(4).map(|f| unescape(f)) else {
            continue;
        };
        if !path.starts_with(&mount_point) {
            continue;
        }
        let shared = fields
            .iter()
            .skip(6)
            .take_while(|f| **f != "-")
            .any(|f| f.starts_with("shared:"));
        // Later lines for the same point are mounts stacked on top: they win.
        if best
            .as_ref()
            .is_none_or(|(p, _)| mount_point.components().count() >= p.components().count())
        {
            best = Some((mount_point, shared));
        }
    }
    best
}

/// pivot_root(2) fails with EINVAL when the new root's parent mount is shared: make it private
/// (runc's rootfsParentMountPrivate). Only our private mount namespace is affected.
pub fn make_parent_private(rootfs: &Path) -> Result<(), RootfsError> {
    let mountinfo_path = Path::new("/proc/self/mountinfo");
    let mountinfo =
        std::fs::read_to_string(mountinfo_path).map_err(|source| RootfsError::ReadMountinfo {
            path: mountinfo_path.to_path_buf(),
            source,
        })?;
    let parent = rootfs.parent().unwrap_or(Path::new("/"));
    if let Some((mount_point, true)) = containing_mount(&mountinfo, parent) {
        raw_mount(None, &mount_point, None, ms::PRIVATE, None).map_err(|source| {
            RootfsError::Propagation {
                target: mount_point,
                flags: ms::PRIVATE,
                source,
            }
        })?;
    }
    Ok(())
}

fn open_dir(path: &Path) -> Result<std::os::fd::OwnedFd, RootfsError> {
    open(
        path,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| RootfsError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// `pivot_root(".", ".")` inside the rootfs: the old root ends up stacked on the new one, is made
/// rslave (so the detach does not propagate to the host) and lazily unmounted. Ends in "/".
pub fn pivot(rootfs: &Path) -> Result<(), RootfsError> {
    let old_root = open_dir(Path::new("/"))?;
    let new_root = open_dir(rootfs)?;
    fchdir(new_root.as_fd()).map_err(|source| RootfsError::Chdir {
        path: rootfs.to_path_buf(),
        source,
    })?;
    pivot_root(".", ".").map_err(|source| RootfsError::PivotRoot {
        rootfs: rootfs.to_path_buf(),
        source,
    })?;
    // cwd is now the old root (stacked on top of the new one at "/").
    fchdir(old_root.as_fd()).map_err(|source| RootfsError::Chdir {
        path: PathBuf::from("old root"),
        source,
    })?;
    raw_mount(None, Path::new("."), None, ms::SLAVE | ms::REC, None).map_err(|source| {
        RootfsError::Propagation {
            target: PathBuf::from("old root"),
            flags: ms::SLAVE | ms::REC,
            source,
        }
    })?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|source| RootfsError::UnmountOldRoot { source })?;
    chdir("/").map_err(|source| RootfsError::Chdir {
        path: PathBuf::from("/"),
        source,
    })
}

/// `--no-pivot`: move the rootfs mount onto "/" and chroot into it (runc's msMoveRoot, without
/// its unmounting of host mounts outside the rootfs). Ends in "/".
pub fn move_root(rootfs: &Path) -> Result<(), RootfsError> {
    chdir(rootfs).map_err(|source| RootfsError::Chdir {
        path: rootfs.to_path_buf(),
        source,
    })?;
    raw_mount(Some(rootfs), Path::new("/"), None, ms::MOVE, None).map_err(|source| {
        RootfsError::MoveRoot {
            rootfs: rootfs.to_path_buf(),
            source,
        }
    })?;
    chroot(".").map_err(|source| RootfsError::Chroot {
        path: rootfs.to_path_buf(),
        source,
    })?;
    chdir("/").map_err(|source| RootfsError::Chdir {
        path: PathBuf::from("/"),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/root rw
30 22 0:25 / /run rw,nosuid shared:5 - tmpfs tmpfs rw
31 22 0:26 / /my\\040dir rw - tmpfs tmpfs rw
32 30 0:27 / /run/user rw master:3 - tmpfs tmpfs rw
";

    #[test]
    fn finds_longest_containing_mount() {
        assert_eq!(
            containing_mount(MOUNTINFO, Path::new("/var/lib")),
            Some(("/".into(), true))
        );
        assert_eq!(
            containing_mount(MOUNTINFO, Path::new("/run/x")),
            Some(("/run".into(), true))
        );
        assert_eq!(
            containing_mount(MOUNTINFO, Path::new("/run/user/0")),
            Some(("/run/user".into(), false))
        );
        assert_eq!(
            containing_mount(MOUNTINFO, Path::new("/my dir/b")),
            Some(("/my dir".into(), false))
        );
        // Component-wise: /running is not under /run.
        assert_eq!(
            containing_mount(MOUNTINFO, Path::new("/running")),
            Some(("/".into(), true))
        );
    }
}
