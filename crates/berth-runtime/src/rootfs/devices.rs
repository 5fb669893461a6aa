//! /dev population (runtime-linux.md "Default Devices" and "Dev symbolic links", config-linux.md
//! "Devices"): device nodes by `mknod`, or by bind-mounting the host's node over an empty file
//! when mknod is not permitted (a user namespace, or EPERM), the `/dev/ptmx -> pts/ptmx` link,
//! and the `/dev/fd`, `/dev/std*` (and, like runc, `/dev/core`) links.

use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::{mknodat, umask, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};

use super::newmount::NewMount;
use super::plan::{DevSetup, DeviceKind, DeviceNode};
use super::resolve::Root;
use super::RootfsError;

/// Restores the process umask when dropped.
struct UmaskGuard(Mode);

impl Drop for UmaskGuard {
    fn drop(&mut self) {
        umask(self.0);
    }
}

/// Create the devices and links of `dev` inside `root`.
pub fn setup(root: &Root, dev: &DevSetup) -> Result<(), RootfsError> {
    {
        // The spec's fileMode is the exact mode: no umask (runc does the same).
        let _guard = UmaskGuard(umask(Mode::empty()));
        for node in &dev.devices {
            create_device(root, node, dev.bind_devices)?;
        }
    }
    let dev_dir = root.mkdir_all(Path::new("/dev"))?;
    match unlinkat(dev_dir.as_fd(), "ptmx", UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(source) => {
            return Err(RootfsError::Remove {
                path: root.display(Path::new("/dev/ptmx")),
                source,
            })
        }
    }
    symlink(root, Path::new("/dev/ptmx"), Path::new("pts/ptmx"))?;
    for (link, target) in &dev.symlinks {
        symlink(root, link, target)?;
    }
    Ok(())
}

/// Create symlink `link` (in-root path) pointing at `target`; an existing entry is left alone.
fn symlink(root: &Root, link: &Path, target: &Path) -> Result<(), RootfsError> {
    let parent = root.mkdir_all(link.parent().unwrap_or(Path::new("/")))?;
    let name = link.file_name().unwrap_or_default();
    match symlinkat(target, parent.as_fd(), name) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(source) => Err(RootfsError::Symlink {
            link: root.display(link),
            target: target.to_path_buf(),
            source,
        }),
    }
}

fn create_device(root: &Root, node: &DeviceNode, bind: bool) -> Result<(), RootfsError> {
    if bind {
        return bind_device(root, node);
    }
    let parent = root.mkdir_all(node.path.parent().unwrap_or(Path::new("/dev")))?;
    let name = node.path.file_name().unwrap_or_default();
    let kind = match node.kind {
        DeviceKind::Char => SFlag::S_IFCHR,
        DeviceKind::Block => SFlag::S_IFBLK,
        DeviceKind::Fifo => SFlag::S_IFIFO,
    };
    let dev = libc::makedev(node.major as libc::c_uint, node.minor as libc::c_uint);
    match mknodat(
        parent.as_fd(),
        name,
        kind,
        Mode::from_bits_truncate(node.mode),
        dev,
    ) {
        Ok(()) => {}
        // Already there (an image shipping /dev nodes): runc keeps it.
        Err(Errno::EEXIST) => return Ok(()),
        Err(Errno::EPERM) => return bind_device(root, node),
        Err(source) => {
            return Err(RootfsError::Mknod {
                path: root.display(&node.path),
                source,
            })
        }
    }
    fchownat(
        parent.as_fd(),
        name,
        Some(Uid::from_raw(node.uid)),
        Some(Gid::from_raw(node.gid)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|source| RootfsError::Chown {
        path: root.display(&node.path),
        source,
    })
}

/// Bind the host's node at the same path over an empty file in the rootfs.
fn bind_device(root: &Root, node: &DeviceNode) -> Result<(), RootfsError> {
    let point = root.mount_point(&node.path, false)?;
    let mount = NewMount::clone_path(&node.path, false, &root.display(&node.path))?;
    mount.attach(&point.fd)
}
