//! Applying the spec's `mounts` inside the rootfs: bind/rbind with a second remount for flags,
//! filesystem mounts (tmpfs, proc, sysfs, devpts, mqueue, ...), the `cgroup` mount, then each
//! mount's propagation changes and recursive attributes (`mount_setattr(2)`).
//!
//! Every target is resolved in the rootfs ([`Root`]) and mounted through `/proc/self/fd/<n>`.
//! A mount covers the fd's dentry, so anything done to the *new* mount afterwards (remount,
//! propagation, `mount_setattr`) first re-resolves the destination to reach its top.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, OFlag};
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use nix::sys::statvfs::fstatvfs;

use super::options::{ms, MountOptions};
use super::plan::{CgroupMount, CgroupSubdir, MountKind, MountStep};
use super::resolve::{fd_path, Root};
use super::{sys, RootfsError};

/// Flags a user namespace locks on a mount when its source had them (mount_namespaces(7)
/// "MNT_LOCK_*"): clearing one on remount fails with EPERM.
const LOCKABLE: u64 =
    ms::RDONLY | ms::NOSUID | ms::NODEV | ms::NOEXEC | ms::NOATIME | ms::NODIRATIME | ms::RELATIME;
const ATIME_FLAGS: u64 = ms::NOATIME | ms::RELATIME | ms::STRICTATIME;
/// runc's `defaultMountFlags` for the tmpfs holding split cgroup hierarchies.
const CGROUP_TMPFS_FLAGS: u64 = ms::NOEXEC | ms::NOSUID | ms::NODEV;

/// `mount(2)` with raw flags.
pub(crate) fn raw_mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: u64,
    data: Option<&str>,
) -> nix::Result<()> {
    let data = data.filter(|d| !d.is_empty());
    nix::mount::mount(
        source,
        target,
        fstype,
        MsFlags::from_bits_retain(flags),
        data,
    )
}

/// Mount `fstype` from `source` on the resolved `target`.
fn mount_fs(
    target: &OwnedFd,
    display: &Path,
    source: &str,
    fstype: &str,
    flags: u64,
    data: &str,
) -> Result<(), RootfsError> {
    raw_mount(
        Some(Path::new(source)),
        &fd_path(target),
        Some(fstype),
        flags,
        Some(data),
    )
    .map_err(|e| RootfsError::Mount {
        source_desc: fstype.to_string(),
        target: display.to_path_buf(),
        source: e,
    })
}

/// Remount the mount `fd` is the top of (named `target` for mount(2), normally
/// `/proc/self/fd/<fd>`) with `MS_REMOUNT|MS_BIND|flags`. The flags a user namespace locked on it
/// are kept (read with statvfs), unless the caller explicitly cleared one, in which case the
/// kernel's EPERM is reported.
pub(crate) fn remount_bind(
    fd: &OwnedFd,
    target: &Path,
    display: &Path,
    flags: u64,
    cleared: u64,
    keep_locked: bool,
) -> Result<(), RootfsError> {
    let remount = |flags: u64| {
        raw_mount(None, target, None, ms::REMOUNT | ms::BIND | flags, None).map_err(|source| {
            RootfsError::Remount {
                target: display.to_path_buf(),
                flags,
                source,
            }
        })
    };
    let with_locked = || -> Result<u64, RootfsError> {
        let current = fstatvfs(fd.as_fd())
            .map_err(|source| RootfsError::Statvfs {
                path: display.to_path_buf(),
                source,
            })?
            .flags()
            .bits();
        // ST_* and MS_* share these bit values.
        let mut locked = current & LOCKABLE & !cleared;
        if flags & ATIME_FLAGS != 0 {
            locked &= !ATIME_FLAGS;
        }
        Ok(flags | locked)
    };
    if keep_locked {
        return remount(with_locked()?);
    }
    match remount(flags) {
        Err(RootfsError::Remount {
            source: Errno::EPERM,
            ..
        }) => remount(with_locked()?),
        other => other,
    }
}

/// Bind `source` (a host path) on the resolved `target`, then remount for the flags.
fn bind(
    root: &Root,
    destination: &Path,
    target: &OwnedFd,
    source: &Path,
    options: &MountOptions,
    new_user_ns: bool,
) -> Result<(), RootfsError> {
    bind_source(&root.display(destination), target, source, options)?;
    remount_bound(root, destination, options, new_user_ns)
}

/// mount(2) MS_BIND [| MS_REC] of the host path `source` onto `target`.
fn bind_source(
    display: &Path,
    target: &OwnedFd,
    source: &Path,
    options: &MountOptions,
) -> Result<(), RootfsError> {
    let src = openat(
        nix::fcntl::AT_FDCWD,
        source,
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RootfsError::Open {
        path: source.to_path_buf(),
        source: e,
    })?;
    let first = ms::BIND | (options.flags & ms::REC);
    raw_mount(Some(&fd_path(&src)), &fd_path(target), None, first, None).map_err(|e| {
        RootfsError::Mount {
            source_desc: source.display().to_string(),
            target: display.to_path_buf(),
            source: e,
        }
    })
}

/// A bind ignores every flag but MS_BIND|MS_REC: ro, nosuid, ... need MS_REMOUNT|MS_BIND.
fn remount_bound(
    root: &Root,
    destination: &Path,
    options: &MountOptions,
    new_user_ns: bool,
) -> Result<(), RootfsError> {
    let flags = options.remount_flags();
    if flags != 0 {
        let mounted = root.resolve(destination)?;
        remount_bind(
            &mounted,
            &fd_path(&mounted),
            &root.display(destination),
            flags,
            options.cleared,
            new_user_ns,
        )?;
    }
    Ok(())
}

/// Whether tmpfs data sets the root's mode.
fn has_mode_option(data: &str) -> bool {
    data.split(',').any(|o| o.starts_with("mode="))
}

/// Apply one planned mount, then its propagation changes and recursive attributes.
/// `opened`: the bind source as a detached tree opened on the host ([`super::BindSources`]).
pub fn apply(
    root: &Root,
    step: &MountStep,
    new_user_ns: bool,
    opened: Option<&OwnedFd>,
) -> Result<(), RootfsError> {
    let dest = &step.destination;
    let display = root.display(dest);
    let opts = &step.options;
    match &step.kind {
        MountKind::Bind {
            source,
            source_is_dir,
        } => {
            let target = root.mount_point(dest, *source_is_dir)?;
            match opened {
                Some(tree) => sys::move_mount_onto(tree.as_fd(), target.as_fd()).map_err(|e| {
                    RootfsError::Mount {
                        source_desc: source.display().to_string(),
                        target: display.clone(),
                        source: e,
                    }
                })?,
                None => bind_source(&display, &target, source, opts)?,
            }
            remount_bound(root, dest, opts, new_user_ns)?;
        }
        MountKind::Fs { fstype, source } => {
            if fstype == "proc" || fstype == "sysfs" {
                refuse_symlink(root, dest, fstype)?;
            }
            // runc gives a tmpfs without `mode=` the mode of the directory it covers (the
            // kernel default is 1777); a directory berth has to create stays 1777, as in runc.
            let covered_mode = (fstype == "tmpfs" && !has_mode_option(&opts.data))
                .then(|| root.resolve(dest).ok())
                .flatten()
                .and_then(|fd| nix::sys::stat::fstat(&fd).ok())
                .filter(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
                .map(|st| st.st_mode & 0o7777);
            let target = root.mkdir_all(dest)?;
            // runc mounts tmpfs (and /dev) writable first so they can be populated and
            // chmod-ed; tmpfs is made read-only right after, /dev in `finish`.
            let delay_ro = fstype == "tmpfs" || dest == Path::new("/dev");
            let flags = if delay_ro {
                opts.flags & !ms::RDONLY
            } else {
                opts.flags
            };
            match mount_fs(&target, &display, source, fstype, flags, &opts.data) {
                // sysfs needs a network namespace owned by our user namespace, mqueue an IPC
                // one: like runc, fall back to a recursive bind of the host's instance.
                Err(RootfsError::Mount {
                    source: Errno::EPERM,
                    ..
                }) if fallback_source(fstype, new_user_ns).is_some() => {
                    let host = fallback_source(fstype, new_user_ns).unwrap_or(Path::new("/"));
                    let bind_opts = MountOptions {
                        flags: opts.flags | ms::BIND | ms::REC,
                        data: String::new(),
                        ..opts.clone()
                    };
                    bind(root, dest, &target, host, &bind_opts, new_user_ns)?;
                }
                other => other?,
            }
            if let Some(mode) = covered_mode {
                let mounted = root.resolve(dest)?;
                nix::sys::stat::fchmodat(
                    nix::fcntl::AT_FDCWD,
                    &fd_path(&mounted),
                    Mode::from_bits_truncate(mode),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
                .map_err(|source| RootfsError::Chmod {
                    path: display.clone(),
                    source,
                })?;
            }
            if delay_ro && opts.flags & ms::RDONLY != 0 && dest != Path::new("/dev") {
                let mounted = root.resolve(dest)?;
                remount_fs(&mounted, &display, opts.flags)?;
            }
        }
        MountKind::Cgroup(cgroup) => apply_cgroup(root, dest, cgroup, opts, new_user_ns)?,
    }
    if opts.propagation.is_empty() && opts.recursive.is_none() {
        return Ok(());
    }
    let mounted = root.resolve(dest)?;
    for &flags in &opts.propagation {
        raw_mount(None, &fd_path(&mounted), None, flags, None).map_err(|source| {
            RootfsError::Propagation {
                target: display.clone(),
                flags,
                source,
            }
        })?;
    }
    if let Some(rec) = opts.recursive {
        sys::mount_setattr_recursive(mounted.as_fd(), rec.set, rec.clear).map_err(|source| {
            RootfsError::MountSetattr {
                target: display.clone(),
                set: rec.set,
                clear: rec.clear,
                source,
            }
        })?;
    }
    Ok(())
}

/// The host path to rbind when mounting `fstype` fails with EPERM (runc's fallbacks).
fn fallback_source(fstype: &str, new_user_ns: bool) -> Option<&'static Path> {
    match fstype {
        "sysfs" => Some(Path::new("/sys")),
        "mqueue" if new_user_ns => Some(Path::new("/dev/mqueue")),
        _ => None,
    }
}

/// runc refuses to mount proc or sysfs on a symlink (CVE-2019-19921: a symlinked /proc let an
/// image redirect the writes that follow, e.g. AppArmor labels, to a file it controls).
fn refuse_symlink(root: &Root, dest: &Path, fstype: &str) -> Result<(), RootfsError> {
    let Ok(fd) = root.try_resolve(dest, OFlag::O_NOFOLLOW) else {
        return Ok(()); // missing: mkdir_all creates a directory
    };
    let st = nix::sys::stat::fstat(fd.as_fd()).map_err(|source| RootfsError::Resolve {
        root: root.display(Path::new("/")),
        path: dest.to_path_buf(),
        source,
    })?;
    if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        return Err(RootfsError::SymlinkDestination {
            fstype: fstype.to_string(),
            target: root.display(dest),
        });
    }
    Ok(())
}

/// `MS_REMOUNT` of a filesystem mount (not a bind) with `flags`.
fn remount_fs(fd: &OwnedFd, display: &Path, flags: u64) -> Result<(), RootfsError> {
    let flags = flags & !(ms::BIND | ms::REC);
    raw_mount(None, &fd_path(fd), None, ms::REMOUNT | flags, None).map_err(|source| {
        RootfsError::Remount {
            target: display.to_path_buf(),
            flags,
            source,
        }
    })
}

fn apply_cgroup(
    root: &Root,
    dest: &Path,
    cgroup: &CgroupMount,
    opts: &MountOptions,
    new_user_ns: bool,
) -> Result<(), RootfsError> {
    let display = root.display(dest);
    // Only the per-mount flags matter: the spec's cgroup mount has no useful data.
    let flags = opts.flags & !(ms::BIND | ms::REC | ms::REMOUNT);
    let bind_opts = |flags: u64| MountOptions {
        flags: ms::BIND | flags,
        cleared: opts.cleared,
        ..MountOptions::default()
    };
    match cgroup {
        CgroupMount::Unified { mount_fs: true, .. } => {
            let target = root.mkdir_all(dest)?;
            mount_fs(&target, &display, "cgroup2", "cgroup2", flags, "")
        }
        CgroupMount::Unified {
            mount_fs: false,
            host_dir,
        } => {
            let target = root.mkdir_all(dest)?;
            bind(
                root,
                dest,
                &target,
                host_dir,
                &bind_opts(flags),
                new_user_ns,
            )
        }
        CgroupMount::Empty => {
            let target = root.mkdir_all(dest)?;
            mount_fs(
                &target,
                &display,
                "tmpfs",
                "tmpfs",
                flags | CGROUP_TMPFS_FLAGS,
                "mode=755",
            )
        }
        CgroupMount::Split { subdirs, symlinks } => {
            let target = root.mkdir_all(dest)?;
            let tmpfs_flags = (flags & !ms::RDONLY) | CGROUP_TMPFS_FLAGS;
            mount_fs(&target, &display, "tmpfs", "tmpfs", tmpfs_flags, "mode=755")?;
            for sub in subdirs {
                apply_cgroup_subdir(
                    root,
                    &dest.join(&sub.name),
                    sub,
                    flags,
                    &bind_opts(flags),
                    new_user_ns,
                )?;
            }
            let dir = root.resolve(dest)?;
            for (link, to) in symlinks {
                match nix::unistd::symlinkat(to.as_str(), dir.as_fd(), link.as_str()) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(source) => {
                        return Err(RootfsError::Symlink {
                            link: display.join(link),
                            target: PathBuf::from(to),
                            source,
                        })
                    }
                }
            }
            // Read-only last: the subdirectories had to be created first.
            if flags & ms::RDONLY != 0 {
                remount_fs(&dir, &display, tmpfs_flags | ms::RDONLY)?;
            }
            Ok(())
        }
    }
}

fn apply_cgroup_subdir(
    root: &Root,
    dest: &Path,
    sub: &CgroupSubdir,
    flags: u64,
    bind_opts: &MountOptions,
    new_user_ns: bool,
) -> Result<(), RootfsError> {
    let target = root.mkdir_all(dest)?;
    if sub.mount_fs {
        // A new cgroup namespace: the fs itself shows the namespace-rooted view. Mounting a v1
        // hierarchy again with the same data attaches to the existing one (no host change).
        mount_fs(
            &target,
            &root.display(dest),
            &sub.fstype,
            &sub.fstype,
            flags,
            &sub.data,
        )
    } else {
        bind(root, dest, &target, &sub.host_dir, bind_opts, new_user_ns)
    }
}
