//! Container mounts made and changed through file descriptors only.
//!
//! A mount is built detached — `fsopen`/`fsconfig`/`fsmount` for a filesystem,
//! `open_tree(OPEN_TREE_CLONE)` for a bind — and attached with `move_mount` onto the fd its
//! destination was resolved to, once, by [`super::resolve::Root::mount_point`]. From then on the
//! fd of the new mount names it for everything that follows: its flags (`mount_setattr`), its
//! propagation, the read-only switch of its superblock (`fspick`), the mode of its root, and the
//! masked and read-only paths below it. No path string is resolved again, so nothing done to
//! the tree between two steps (by a second container sharing a volume, say) can redirect one
//! (issue #13 attacks 1–3; the CVE-2021-30465 and CVE-2025-52881 classes).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;
use nix::sys::statvfs::fstatvfs;

use super::options::{self, attr, ms};
use super::{sys, RootfsError};

/// Flags a user namespace locks on a mount when its source had them (mount_namespaces(7)
/// "MNT_LOCK_*"): clearing one fails with EPERM.
const LOCKABLE: u64 =
    ms::RDONLY | ms::NOSUID | ms::NODEV | ms::NOEXEC | ms::NOATIME | ms::NODIRATIME | ms::RELATIME;

/// A mount held by its fd: detached until [`NewMount::attach`], the same mount after it.
#[derive(Debug)]
pub struct NewMount {
    fd: OwnedFd,
    /// What is mounted, for messages: the fs type or the bind source.
    what: String,
    /// Host-side spelling of the destination, for messages.
    target: PathBuf,
}

impl NewMount {
    /// A new instance of `fstype`: `source`, each comma-separated `key[=value]` of `data` and
    /// the superblock flags of `flags` go to `fsconfig`, the per-mount flags to `fsmount`.
    /// Failures name the call and carry the kernel's own message from the context.
    pub fn filesystem(
        fstype: &str,
        source: &str,
        data: &str,
        flags: u64,
        target: &Path,
    ) -> Result<NewMount, RootfsError> {
        let fail = |call: &'static str, what: String, fs: Option<BorrowedFd<'_>>, source| {
            RootfsError::FsContext {
                call,
                what,
                target: target.to_path_buf(),
                kernel: fs.map(sys::fs_messages).unwrap_or_default(),
                source,
            }
        };
        let fs = sys::fsopen(fstype).map_err(|e| fail("fsopen", fstype.to_string(), None, e))?;
        let ctx = fs.as_fd();
        if !source.is_empty() {
            sys::fsconfig_string(ctx, "source", source).map_err(|e| {
                fail(
                    "fsconfig",
                    format!("{fstype} source={source}"),
                    Some(ctx),
                    e,
                )
            })?;
        }
        for param in data.split(',').filter(|p| !p.is_empty()) {
            let set = match param.split_once('=') {
                Some((key, value)) => sys::fsconfig_string(ctx, key, value),
                None => sys::fsconfig_flag(ctx, param),
            };
            set.map_err(|e| fail("fsconfig", format!("{fstype} option {param}"), Some(ctx), e))?;
        }
        for param in options::superblock_params(flags) {
            sys::fsconfig_flag(ctx, param)
                .map_err(|e| fail("fsconfig", format!("{fstype} option {param}"), Some(ctx), e))?;
        }
        sys::fsconfig_create(ctx)
            .map_err(|e| fail("fsconfig create", fstype.to_string(), Some(ctx), e))?;
        let fd = sys::fsmount(ctx, options::mount_attrs(flags))
            .map_err(|e| fail("fsmount", fstype.to_string(), Some(ctx), e))?;
        Ok(NewMount {
            fd,
            what: fstype.to_string(),
            target: target.to_path_buf(),
        })
    }

    /// A detached copy of the mount (with `recursive`, the whole tree) at the host path `source`
    /// (the caller's path, resolved normally).
    pub fn clone_path(
        source: &Path,
        recursive: bool,
        target: &Path,
    ) -> Result<NewMount, RootfsError> {
        let what = source.display().to_string();
        let fd = sys::open_tree_clone(source, recursive).map_err(|e| RootfsError::OpenTree {
            source_desc: what.clone(),
            target: target.to_path_buf(),
            source: e,
        })?;
        Ok(NewMount {
            fd,
            what,
            target: target.to_path_buf(),
        })
    }

    /// A detached copy of the mount (tree) whose root is the file open at `fd`.
    pub fn clone_of(
        fd: BorrowedFd<'_>,
        recursive: bool,
        what: &str,
        target: &Path,
    ) -> Result<NewMount, RootfsError> {
        let fd = sys::open_tree_clone_of(fd, recursive).map_err(|e| RootfsError::OpenTree {
            source_desc: what.to_string(),
            target: target.to_path_buf(),
            source: e,
        })?;
        Ok(NewMount {
            fd,
            what: what.to_string(),
            target: target.to_path_buf(),
        })
    }

    /// A detached tree opened elsewhere ([`super::BindSources`]).
    pub fn adopt(tree: &OwnedFd, what: &Path, target: &Path) -> Result<NewMount, RootfsError> {
        let fd = tree.try_clone().map_err(|e| RootfsError::OpenTree {
            source_desc: what.display().to_string(),
            target: target.to_path_buf(),
            source: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EBADF)),
        })?;
        Ok(NewMount {
            fd,
            what: what.display().to_string(),
            target: target.to_path_buf(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// `move_mount` onto the file or directory open at `point`.
    pub fn attach(&self, point: &OwnedFd) -> Result<(), RootfsError> {
        sys::move_mount_onto(self.fd.as_fd(), point.as_fd()).map_err(|source| RootfsError::Attach {
            source_desc: self.what.clone(),
            target: self.target.clone(),
            source,
        })
    }

    /// `mount_setattr` of `set`/`clear` (`MOUNT_ATTR_*`) on this mount, or its whole tree.
    pub fn set_attrs(&self, recursive: bool, set: u64, clear: u64) -> Result<(), RootfsError> {
        sys::mount_setattr(self.fd.as_fd(), recursive, set, clear, 0).map_err(|source| {
            RootfsError::MountSetattr {
                target: self.target.clone(),
                set,
                clear,
                source,
            }
        })
    }

    /// The per-mount flags of a bind, as a `MS_REMOUNT|MS_BIND|flags` remount gives them: the
    /// flags in `flags` set, the others cleared, the access-time setting kept when `flags` say
    /// nothing about it. A user namespace locks flags the source had: they are kept (read with
    /// statvfs) unless the caller explicitly cleared one (`cleared`), in which case the
    /// kernel's EPERM is reported; with `keep_locked` they are kept from the start.
    pub fn set_bind_flags(
        &self,
        flags: u64,
        cleared: u64,
        keep_locked: bool,
    ) -> Result<(), RootfsError> {
        let with_locked = || -> Result<u64, RootfsError> {
            let current = fstatvfs(self.fd.as_fd())
                .map_err(|source| RootfsError::Statvfs {
                    path: self.target.clone(),
                    source,
                })?
                .flags()
                .bits();
            // ST_* and MS_* share these bit values.
            let mut locked = current & LOCKABLE & !cleared;
            if options::has_atime(flags) {
                locked &= !(ms::NOATIME | ms::NODIRATIME | ms::RELATIME);
            }
            Ok(flags | locked)
        };
        let apply = |flags: u64| {
            let set = options::mount_attrs(flags);
            let mut clear =
                (attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC | attr::NOSYMFOLLOW)
                    & !set;
            if options::has_atime(flags) {
                // The access-time value is replaced as a whole: clear the mask, set the value.
                clear |= attr::ATIME_MASK | (attr::NODIRATIME & !set);
            }
            self.set_attrs(false, set, clear)
        };
        if keep_locked {
            return apply(with_locked()?);
        }
        match apply(flags) {
            Err(RootfsError::MountSetattr {
                source: Errno::EPERM,
                ..
            }) => apply(with_locked()?),
            other => other,
        }
    }

    /// A propagation change (`MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE` or `MS_UNBINDABLE`, with
    /// `MS_REC` for the whole tree) on this mount.
    pub fn set_propagation(&self, flags: u64) -> Result<(), RootfsError> {
        let kind = flags & (ms::SHARED | ms::SLAVE | ms::PRIVATE | ms::UNBINDABLE);
        sys::mount_setattr(self.fd.as_fd(), flags & ms::REC != 0, 0, 0, kind).map_err(|source| {
            RootfsError::Propagation {
                target: self.target.clone(),
                flags,
                source,
            }
        })
    }

    /// Make a filesystem mount read-only as `MS_REMOUNT|MS_RDONLY` does: its superblock
    /// (`fspick`, `ro`, reconfigure) and the mount itself.
    pub fn make_readonly(&self) -> Result<(), RootfsError> {
        let fail =
            |call: &'static str, fs: Option<BorrowedFd<'_>>, source| RootfsError::FsContext {
                call,
                what: format!("{} ro", self.what),
                target: self.target.clone(),
                kernel: fs.map(sys::fs_messages).unwrap_or_default(),
                source,
            };
        let fs = sys::fspick(self.fd.as_fd()).map_err(|e| fail("fspick", None, e))?;
        sys::fsconfig_flag(fs.as_fd(), "ro").map_err(|e| fail("fsconfig", Some(fs.as_fd()), e))?;
        sys::fsconfig_reconfigure(fs.as_fd())
            .map_err(|e| fail("fsconfig reconfigure", Some(fs.as_fd()), e))?;
        self.set_attrs(false, attr::RDONLY, 0)
    }

    /// chmod the root directory of this mount.
    pub fn chmod_root(&self, mode: u32) -> Result<(), RootfsError> {
        let err = |source| RootfsError::Chmod {
            path: self.target.clone(),
            source,
        };
        let dir = openat(
            self.fd.as_fd(),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(err)?;
        nix::sys::stat::fchmod(dir.as_fd(), Mode::from_bits_truncate(mode)).map_err(err)
    }

    /// Directory `name` at the root of this mount, created if missing: the mount point of a
    /// mount below this one.
    pub fn subdir(&self, name: &str) -> Result<OwnedFd, RootfsError> {
        let path = self.target.join(name);
        match nix::sys::stat::mkdirat(self.fd.as_fd(), name, Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(source) => return Err(RootfsError::Mkdir { path, source }),
        }
        openat(
            self.fd.as_fd(),
            name,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|source| RootfsError::Open { path, source })
    }
}
