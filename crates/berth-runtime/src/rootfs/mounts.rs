//! Applying the spec's `mounts` inside the rootfs: bind/rbind and their flags, filesystem
//! mounts (tmpfs, proc, sysfs, devpts, mqueue, ...), the `cgroup` mount, then each mount's
//! propagation changes and recursive attributes.
//!
//! Each destination is resolved once, by [`Root::mount_point`]; the mount is built detached and
//! attached onto that fd, and everything after uses the new mount's fd ([`NewMount`]). Nothing
//! here takes a path string for a container destination: `raw_mount` is left for the host-side
//! steps of `mod.rs` and `pivot.rs` (the rootfs bound onto itself, "/" and the old root).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::MsFlags;

use super::newmount::NewMount;
use super::options::{ms, MountOptions};
use super::plan::{CgroupMount, CgroupSubdir, MountKind, MountStep};
use super::resolve::Root;
use super::RootfsError;
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

/// Whether tmpfs data sets the root's mode.
fn has_mode_option(data: &str) -> bool {
    data.split(',').any(|o| o.starts_with("mode="))
}

/// A bind of the host path `source` (or of the tree opened beforehand, `opened`) attached onto
/// `point`, then given the per-mount flags of `options` (a bind ignores every flag but
/// MS_BIND|MS_REC: ro, nosuid, ... are set on the new mount afterwards).
fn bind(
    source: &Path,
    opened: Option<&OwnedFd>,
    point: &OwnedFd,
    display: &Path,
    options: &MountOptions,
    new_user_ns: bool,
) -> Result<NewMount, RootfsError> {
    let mount = match opened {
        Some(tree) => NewMount::adopt(tree, source, display)?,
        None => NewMount::clone_path(source, options.flags & ms::REC != 0, display)?,
    };
    mount.attach(point)?;
    let flags = options.remount_flags();
    if flags != 0 {
        mount.set_bind_flags(flags, options.cleared, new_user_ns)?;
    }
    Ok(mount)
}

/// Apply one planned mount, then its propagation changes and recursive attributes. Returns the
/// fd of the new mount (the top one, for the split cgroup layout's tmpfs).
/// `opened`: the bind source as a detached tree opened on the host ([`super::BindSources`]).
pub fn apply(
    root: &Root,
    step: &MountStep,
    new_user_ns: bool,
    opened: Option<&OwnedFd>,
) -> Result<OwnedFd, RootfsError> {
    let dest = &step.destination;
    let display = root.display(dest);
    let opts = &step.options;
    let mount = match &step.kind {
        MountKind::Bind {
            source,
            source_is_dir,
        } => {
            // Id-mapped on the host (BindSources); binding the source by path would drop the
            // mapping silently.
            if step.idmap.is_some() && opened.is_none() {
                return Err(RootfsError::IdmapByPath {
                    destination: dest.clone(),
                });
            }
            let point = root.mount_point(dest, *source_is_dir)?;
            bind(source, opened, &point.fd, &display, opts, new_user_ns)?
        }
        MountKind::Fs { fstype, source } => {
            if fstype == "proc" || fstype == "sysfs" {
                refuse_symlink(root, dest, fstype)?;
            }
            if opts.flags & ms::REMOUNT != 0 {
                return Err(RootfsError::UnsupportedOption {
                    option: "remount".to_string(),
                    destination: dest.clone(),
                });
            }
            let point = root.mount_point(dest, true)?;
            // runc gives a tmpfs without `mode=` the mode of the directory it covers (the
            // kernel default is 1777); a directory berth has to create stays 1777, as in runc.
            let covered_mode =
                (fstype == "tmpfs" && !has_mode_option(&opts.data) && !point.created)
                    .then(|| nix::sys::stat::fstat(point.fd.as_fd()).ok())
                    .flatten()
                    .filter(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR)
                    .map(|st| st.st_mode & 0o7777);
            // runc mounts tmpfs (and /dev) writable first so they can be populated and
            // chmod-ed; tmpfs is made read-only right after, /dev in `finish`.
            let delay_ro = fstype == "tmpfs" || dest == Path::new("/dev");
            let flags = if delay_ro {
                opts.flags & !ms::RDONLY
            } else {
                opts.flags
            };
            let mount = match NewMount::filesystem(fstype, source, &opts.data, flags, &display) {
                // sysfs needs a network namespace owned by our user namespace, mqueue an IPC
                // one: like runc, fall back to a recursive bind of the host's instance.
                Err(e)
                    if e.errno() == Some(libc::EPERM)
                        && fallback_source(fstype, new_user_ns).is_some() =>
                {
                    let host = fallback_source(fstype, new_user_ns).unwrap_or(Path::new("/"));
                    let bind_opts = MountOptions {
                        flags: opts.flags | ms::BIND | ms::REC,
                        data: String::new(),
                        ..opts.clone()
                    };
                    bind(host, None, &point.fd, &display, &bind_opts, new_user_ns)?
                }
                other => {
                    let mount = other?;
                    // tmpcopyup: filled while detached, from the directory it will cover
                    // (resolved once, above), so the container never sees it half copied.
                    if opts.tmpcopyup && !point.created {
                        super::copyup::copy_dir(point.fd.as_fd(), mount.fd(), dest)?;
                    }
                    mount.attach(&point.fd)?;
                    mount
                }
            };
            if let Some(mode) = covered_mode {
                mount.chmod_root(mode)?;
            }
            if delay_ro && opts.flags & ms::RDONLY != 0 && dest != Path::new("/dev") {
                mount.make_readonly()?;
            }
            mount
        }
        MountKind::Cgroup(cgroup) => apply_cgroup(root, dest, cgroup, opts, new_user_ns)?,
    };
    for &flags in &opts.propagation {
        mount.set_propagation(flags)?;
    }
    if let Some(rec) = opts.recursive {
        mount.set_attrs(true, rec.set, rec.clear)?;
    }
    Ok(mount.into_fd())
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
        return Ok(()); // missing: the mount point walk creates a directory
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

fn apply_cgroup(
    root: &Root,
    dest: &Path,
    cgroup: &CgroupMount,
    opts: &MountOptions,
    new_user_ns: bool,
) -> Result<NewMount, RootfsError> {
    let display = root.display(dest);
    // Only the per-mount flags matter: the spec's cgroup mount has no useful data.
    let flags = opts.flags & !(ms::BIND | ms::REC | ms::REMOUNT);
    let bind_opts = |flags: u64| MountOptions {
        flags: ms::BIND | flags,
        cleared: opts.cleared,
        ..MountOptions::default()
    };
    let point = root.mount_point(dest, true)?;
    let new_fs = |fstype: &str, flags: u64, data: &str| -> Result<NewMount, RootfsError> {
        let mount = NewMount::filesystem(fstype, fstype, data, flags, &display)?;
        mount.attach(&point.fd)?;
        Ok(mount)
    };
    match cgroup {
        CgroupMount::Unified { mount_fs: true, .. } => new_fs("cgroup2", flags, ""),
        CgroupMount::Unified {
            mount_fs: false,
            host_dir,
        } => bind(
            host_dir,
            None,
            &point.fd,
            &display,
            &bind_opts(flags),
            new_user_ns,
        ),
        CgroupMount::Empty => new_fs("tmpfs", flags | CGROUP_TMPFS_FLAGS, "mode=755"),
        CgroupMount::Split { subdirs, symlinks } => {
            let tmpfs_flags = (flags & !ms::RDONLY) | CGROUP_TMPFS_FLAGS;
            let tmpfs = new_fs("tmpfs", tmpfs_flags, "mode=755")?;
            for sub in subdirs {
                apply_cgroup_subdir(&tmpfs, &display, sub, flags, &bind_opts(flags), new_user_ns)?;
            }
            for (link, to) in symlinks {
                match nix::unistd::symlinkat(to.as_str(), tmpfs.fd(), link.as_str()) {
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
                tmpfs.make_readonly()?;
            }
            Ok(tmpfs)
        }
    }
}

/// One hierarchy of the split layout, on a directory created at the root of its tmpfs.
fn apply_cgroup_subdir(
    tmpfs: &NewMount,
    display: &Path,
    sub: &CgroupSubdir,
    flags: u64,
    bind_opts: &MountOptions,
    new_user_ns: bool,
) -> Result<(), RootfsError> {
    let point = tmpfs.subdir(&sub.name)?;
    let display = display.join(&sub.name);
    if sub.mount_fs {
        // A new cgroup namespace: the fs itself shows the namespace-rooted view. Mounting a v1
        // hierarchy again with the same data attaches to the existing one (no host change).
        let mount = NewMount::filesystem(&sub.fstype, &sub.fstype, &sub.data, flags, &display)?;
        mount.attach(&point)
    } else {
        bind(
            &sub.host_dir,
            None,
            &point,
            &display,
            bind_opts,
            new_user_ns,
        )
        .map(drop)
    }
}
