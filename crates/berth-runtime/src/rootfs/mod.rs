//! Root filesystem: mount plan, mounts, /dev, pivot_root, masked and read-only paths.
//!
//! Runs in the container's init, already in a new mount namespace (and possibly new user, pid,
//! net, cgroup namespaces), still seeing the host's filesystem. The caller validates first with
//! [`RootfsPlan::new`] (no change to the world), then calls, in order, [`prepare`] (mounts and
//! /dev, before pivot), [`enter`] (pivot_root or MS_MOVE+chroot), and, after writing hostname
//! and sysctls, [`finish`] (masked and read-only paths, read-only root, root propagation).
//!
//! Files: `options` (mount option table), `plan` (validated plan), `resolve` (in-root path
//! resolution and mkdir with openat2), `mounts` (applying mounts), `devices` (/dev), `pivot`,
//! `paths` (masked/readonly), `sys` (the only `unsafe`: openat2 and mount_setattr wrappers),
//! `error`.

mod devices;
mod error;
mod hardening;
mod mounts;
mod options;
mod paths;
mod pivot;
mod plan;
pub mod procfs;
mod resolve;
pub(crate) mod sys;
#[cfg(test)]
mod tests;

use std::os::fd::OwnedFd;
use std::path::Path;

pub use error::{HardeningError, RootfsError};
pub use options::{
    parse as parse_mount_options, MountOptions, RecursiveAttrs, SUPPORTED_MOUNT_OPTIONS,
};
pub use plan::{
    CgroupMount, CgroupSubdir, DevSetup, DeviceKind, DeviceNode, MountKind, MountStep, RootfsPlan,
};

use options::ms;
use resolve::Root;

/// What the init knows about the container that the spec alone does not say.
#[derive(Debug, Clone, Copy)]
pub struct RootfsContext<'a> {
    /// Absolute bundle directory (relative root.path and bind sources are resolved against it).
    pub bundle: &'a Path,
    /// `create --no-pivot`: MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// A new user namespace: mknod is not permitted, so host device nodes are bind-mounted;
    /// remounts keep the locked flags of their source.
    pub new_user_ns: bool,
    /// `cgroup` mounts mount the cgroup fs itself (namespace-rooted view) instead of binding the
    /// container's cgroup directory.
    pub new_cgroup_ns: bool,
    /// sysfs can only be mounted in a user namespace that owns a network namespace; otherwise
    /// the host's /sys is rbound (runc's fallback).
    pub new_net_ns: bool,
    /// The container's cgroup, for `cgroup` mounts; `None` when it has none.
    pub cgroup: Option<&'a crate::cgroups::CgroupPlan>,
}

/// Before pivot: mount propagation of "/", the rootfs bound onto itself, `mounts` in order, then
/// /dev (devices and links) unless /dev is bind-mounted from the host.
/// The bind-mount sources of a container with a new user namespace, opened by `berth create`
/// on the host as detached mount trees (open_tree(OPEN_TREE_CLONE)), one per mount step (`None`
/// for the other steps). The init runs as the namespace's root, which may not be allowed to
/// reach a source the host's root can (a 0700 directory, a path under another user's home):
/// opened beforehand, the source is attached by fd (runc opens mount sources before entering
/// the user namespace too). Without a new user namespace the init binds by path as before.
#[derive(Debug, Default)]
pub struct BindSources(Vec<Option<OwnedFd>>);

impl BindSources {
    pub fn open(plan: &RootfsPlan) -> Result<BindSources, RootfsError> {
        if !plan.new_user_ns {
            return Ok(BindSources::default());
        }
        plan.mounts
            .iter()
            .map(|step| match &step.kind {
                MountKind::Bind { source, .. } => {
                    let recursive = step.options.flags & ms::REC != 0;
                    sys::open_tree_clone(source, recursive)
                        .map(Some)
                        .map_err(|e| RootfsError::Open {
                            path: source.clone(),
                            source: e,
                        })
                }
                _ => Ok(None),
            })
            .collect::<Result<_, _>>()
            .map(BindSources)
    }

    fn get(&self, step: usize) -> Option<&OwnedFd> {
        self.0.get(step).and_then(Option::as_ref)
    }
}

pub fn prepare(plan: &RootfsPlan, sources: &BindSources) -> Result<(), RootfsError> {
    // Nothing we mount may propagate back to the host: MS_SLAVE|MS_REC on the whole tree, always.
    // rootfsPropagation is applied to the container's "/" in finish(). runc applies it here
    // instead, and then makes the rootfs's parent private, so "slave" and "shared" end up
    // private; starting from rslave keeps the rootfs a slave of a shared host mount, which is
    // what config-linux.md "Rootfs Mount Propagation" asks for.
    paths::root_propagation(ms::SLAVE | ms::REC)?;
    // pivot_root(2) and MS_MOVE refuse a shared parent mount.
    pivot::make_parent_private(&plan.rootfs)?;
    // The rootfs must be a mount point for pivot_root(2); binding it also gives us a mount whose
    // flags and propagation are the container's own.
    mounts::raw_mount(
        Some(&plan.rootfs),
        &plan.rootfs,
        None,
        ms::BIND | ms::REC,
        None,
    )
    .map_err(|source| RootfsError::Mount {
        source_desc: plan.rootfs.display().to_string(),
        target: plan.rootfs.clone(),
        source,
    })?;
    // Opened after the bind so the handle is on the new mount.
    let root = Root::open(&plan.rootfs)?;
    for (i, step) in plan.mounts.iter().enumerate() {
        mounts::apply(&root, step, plan.new_user_ns, sources.get(i))?;
    }
    // After the mounts: /dev is usually one of them (a tmpfs).
    if let Some(dev) = &plan.dev {
        devices::setup(&root, dev)?;
    }
    Ok(())
}

/// Make the rootfs the process root: pivot_root (old root made rslave and detached) or, with
/// `no_pivot`, MS_MOVE + chroot. Ends with cwd = "/".
pub fn enter(plan: &RootfsPlan) -> Result<(), RootfsError> {
    if plan.no_pivot {
        pivot::move_root(&plan.rootfs)
    } else {
        pivot::pivot(&plan.rootfs)
    }
}

/// After pivot (and after hostname/sysctls, which need a writable /proc/sys): readonlyPaths,
/// maskedPaths, a read-only /dev if asked, root.readonly, and rootfsPropagation on "/".
pub fn finish(plan: &RootfsPlan) -> Result<(), RootfsError> {
    let root = Root::open(Path::new("/"))?;
    // runc's order: read-only paths first, then masks, so a masked path below a read-only one
    // still gets its mask.
    for path in &plan.readonly_paths {
        paths::readonly_path(&root, path, plan.new_user_ns)?;
    }
    for path in &plan.masked_paths {
        paths::mask_path(&root, path)?;
    }
    if plan.dev_readonly {
        paths::remount_ro(&root, Path::new("/dev"), plan.new_user_ns)?;
    }
    if plan.readonly {
        paths::remount_ro(&root, Path::new("/"), plan.new_user_ns)?;
    }
    if let Some(flags) = plan.root_propagation {
        paths::root_propagation(flags)?;
    }
    Ok(())
}
