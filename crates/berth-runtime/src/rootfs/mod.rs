//! Root filesystem: mount plan, mounts, /dev, pivot_root, masked and read-only paths.
//!
//! Runs in the container's init, already in a new mount namespace (and possibly new user, pid,
//! net, cgroup namespaces), still seeing the host's filesystem. The caller validates first with
//! [`RootfsPlan::new`] (no change to the world), then calls, in order, [`prepare`] (mounts and
//! /dev, before pivot), [`enter`] (pivot_root or MS_MOVE+chroot), and, after writing hostname
//! and sysctls, [`finish`] (masked and read-only paths, read-only root, root propagation).
//!
//! Mounts by fd, not by path: every container mount destination is resolved once, by
//! `Root::mount_point` (the single entry point: a component-by-component walk that refuses
//! symlinks into /proc or /sys and checks the filesystem it lands on); the mount is built
//! detached and attached onto that fd, and every later step uses the new mount's fd
//! (`newmount`). The masked and read-only paths are resolved from the mounts `prepare` made
//! (`Mounted`). `grep -n raw_mount` lists the only path-based mount calls: host-side ones.
//!
//! Files: `options` (mount option table), `plan` (validated plan), `resolve` (in-root path
//! resolution, the mount-point walk), `newmount` (detached mounts, attach, flags),
//! `mounts` (applying mounts), `idmap` (id-mapped binds), `copyup` (tmpcopyup), `devices` (/dev), `pivot`, `paths` (masked/readonly),
//! `hardening` (destination rules), `procfs` (verified procfs writes), `sys` (the only
//! `unsafe`: syscall wrappers), `error`.

mod copyup;
mod devices;
mod error;
mod hardening;
mod idmap;
mod mounts;
mod newmount;
mod options;
mod paths;
mod pivot;
pub(crate) mod plan;
pub mod procfs;
mod resolve;
pub(crate) mod sys;
#[cfg(test)]
mod tests;

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;

pub use error::{HardeningError, RootfsError};
pub use options::{
    parse as parse_mount_options, MountOptions, RecursiveAttrs, SUPPORTED_MOUNT_OPTIONS,
};
pub use plan::{
    CgroupMount, CgroupSubdir, DevSetup, DeviceKind, DeviceNode, MountIdmap, MountKind, MountStep,
    RootfsPlan,
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

/// The bind-mount sources opened by `berth create` on the host as detached mount trees
/// (open_tree(OPEN_TREE_CLONE)), one per mount step (`None` for the other steps): every bind
/// of a container with a new user namespace, and every id-mapped bind. The init runs as the
/// namespace's root, which may not be allowed to reach a source the host's root can (a 0700
/// directory, a path under another user's home): opened beforehand, the source is attached by
/// fd (runc opens mount sources before entering the user namespace too). An id-mapped bind is
/// id-mapped here, while detached (`idmap`). The init binds the other sources by path.
#[derive(Debug, Default)]
pub struct BindSources(Vec<Option<OwnedFd>>);

impl BindSources {
    pub fn open(plan: &RootfsPlan) -> Result<BindSources, RootfsError> {
        if !plan.new_user_ns && plan.mounts.iter().all(|m| m.idmap.is_none()) {
            return Ok(BindSources::default());
        }
        plan.mounts
            .iter()
            .map(|step| match &step.kind {
                MountKind::Bind { source, .. } if plan.new_user_ns || step.idmap.is_some() => {
                    let recursive = step.options.flags & ms::REC != 0;
                    let tree =
                        sys::open_tree_clone(source, recursive).map_err(|e| RootfsError::Open {
                            path: source.clone(),
                            source: e,
                        })?;
                    if let Some(map) = &step.idmap {
                        idmap::apply(&tree, map, source, &step.destination)?;
                    }
                    Ok(Some(tree))
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

/// What [`prepare`] leaves for [`finish`]: the fd of every mount it made, in plan order, and of
/// the rootfs mount. The masked and read-only paths are resolved from these handles, and
/// `/dev` and `/` are made read-only through them. Dropped at the end of [`finish`], so no
/// mount handle waits with the init.
#[derive(Debug)]
pub struct Mounted {
    root: OwnedFd,
    steps: Vec<OwnedFd>,
}

/// Before pivot: mount propagation of "/", the rootfs bound onto itself, `mounts` in order, then
/// /dev (devices and links) unless /dev is bind-mounted from the host.
pub fn prepare(plan: &RootfsPlan, sources: &BindSources) -> Result<Mounted, RootfsError> {
    // Nothing we mount may propagate back to the host: MS_SLAVE|MS_REC on the whole tree, always.
    // rootfsPropagation is applied to the container's "/" in finish(). runc applies it here
    // instead, and then makes the rootfs's parent private, so "slave" and "shared" end up
    // private; starting from rslave keeps the rootfs a slave of a shared host mount, which is
    // what config-linux.md "Rootfs Mount Propagation" asks for.
    paths::root_propagation(ms::SLAVE | ms::REC)?;
    // pivot_root(2) and MS_MOVE refuse a shared parent mount.
    pivot::make_parent_private(&plan.rootfs)?;
    // The rootfs must be a mount point for pivot_root(2); binding it also gives us a mount whose
    // flags and propagation are the container's own. (A host path from the caller: the one
    // mount here that is not onto a resolved destination fd.)
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
    let mut steps = Vec::with_capacity(plan.mounts.len());
    for (i, step) in plan.mounts.iter().enumerate() {
        steps.push(mounts::apply(
            &root,
            step,
            plan.new_user_ns,
            sources.get(i),
        )?);
    }
    // After the mounts: /dev is usually one of them (a tmpfs).
    if let Some(dev) = &plan.dev {
        devices::setup(&root, dev)?;
    }
    Ok(Mounted {
        root: root.into_fd(),
        steps,
    })
}

/// Make the rootfs the process root: pivot_root (old root made rslave and detached) or, with
/// `no_pivot`, MS_MOVE + chroot. Ends with cwd = "/".
pub fn enter(plan: &RootfsPlan) -> Result<(), RootfsError> {
    // Said in the debug log because nothing inside the container tells the two apart (the
    // kernel hides the mounts below a moved root from mountinfo).
    if plan.no_pivot {
        crate::log_debug!(
            "rootfs {}: no pivot: MS_MOVE onto / and chroot",
            plan.rootfs.display()
        );
        pivot::move_root(&plan.rootfs)
    } else {
        crate::log_debug!("rootfs {}: pivot_root", plan.rootfs.display());
        pivot::pivot(&plan.rootfs)
    }
}

/// After pivot (and after hostname/sysctls, which need a writable /proc/sys): readonlyPaths,
/// maskedPaths, a read-only /dev if asked, root.readonly, and rootfsPropagation on "/".
pub fn finish(plan: &RootfsPlan, mounted: Mounted) -> Result<(), RootfsError> {
    let root = Root::open(Path::new("/"))?;
    // runc's order: read-only paths first, then masks, so a masked path below a read-only one
    // still gets its mask.
    for path in &plan.readonly_paths {
        if let Some(fd) = mounted.locate(plan, &root, path, "readonly")? {
            paths::readonly_path(&fd, path)?;
        }
    }
    if !plan.masked_paths.is_empty() {
        let null = mounted.locate(plan, &root, Path::new("/dev/null"), "mask source")?;
        for path in &plan.masked_paths {
            if let Some(fd) = mounted.locate(plan, &root, path, "masked")? {
                paths::mask_path(&fd, path, null.as_ref())?;
            }
        }
    }
    if plan.dev_readonly {
        let dev = plan
            .mounts
            .iter()
            .rposition(|m| m.destination == Path::new("/dev"));
        if let Some(i) = dev {
            paths::remount_ro(&mounted.steps[i], Path::new("/dev"))?;
        }
    }
    if plan.readonly {
        paths::remount_ro(&mounted.root, Path::new("/"))?;
    }
    if let Some(flags) = plan.root_propagation {
        // By the fd of the rootfs mount (now "/"), not the path "/": tests/mount_trace.rs
        // checks that no mount call after pivot_root takes a path in the container.
        paths::propagation_by_fd(&mounted.root, Path::new("/"), flags)?;
    }
    Ok(())
}

impl Mounted {
    /// Resolve a masked or read-only `path` (after pivot). Below a mount of the kernel's own
    /// trees (proc, sysfs, or whatever the config put on /proc or /sys) the path is resolved
    /// from that mount's fd with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, so no `..`, absolute
    /// symlink or magic link leaves the filesystem berth mounted, and the file reached must be
    /// on that same filesystem unless the config mounted something at exactly this path:
    /// a mount over part of /proc (issue #13 attack 1) cannot redirect a mask. Elsewhere it is
    /// resolved in the container's root (`RESOLVE_IN_ROOT`). `None` when it does not exist.
    fn locate(
        &self,
        plan: &RootfsPlan,
        root: &Root,
        path: &Path,
        kind: &'static str,
    ) -> Result<Option<OwnedFd>, RootfsError> {
        let resolve_err = |source| RootfsError::Resolve {
            root: Path::new("/").to_path_buf(),
            path: path.to_path_buf(),
            source,
        };
        let covering = plan
            .mounts
            .iter()
            .enumerate()
            .filter(|(_, m)| path.starts_with(&m.destination))
            .max_by_key(|(i, m)| (m.destination.components().count(), *i));
        let Some((i, step)) = covering.filter(|(_, m)| is_kernel_tree(m)) else {
            return match root.try_resolve(path, OFlag::empty()) {
                Ok(fd) => Ok(Some(fd)),
                Err(Errno::ENOENT) => Ok(None),
                Err(source) => Err(resolve_err(source)),
            };
        };
        let mount = &self.steps[i];
        let rel = path.strip_prefix(&step.destination).unwrap_or(path);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let fd = match sys::openat2(
            mount.as_fd(),
            rel,
            OFlag::O_PATH.bits(),
            libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(source) => return Err(resolve_err(source)),
        };
        let fs_type = |fd: &OwnedFd| {
            nix::sys::statfs::fstatfs(fd.as_fd())
                .map(|s| s.filesystem_type().0 as u64)
                .map_err(|source| RootfsError::Statfs {
                    path: path.to_path_buf(),
                    source,
                })
        };
        let (expected, found) = (fs_type(mount)?, fs_type(&fd)?);
        let asked_for = plan.mounts.iter().any(|m| m.destination == path);
        if found != expected && !asked_for {
            return Err(HardeningError::OffMount {
                kind,
                path: path.to_path_buf(),
                mount: step.destination.clone(),
                found,
                expected,
            }
            .into());
        }
        Ok(Some(fd))
    }
}

/// A mount of procfs or sysfs, or whatever the config mounted on /proc or /sys (a bind of a
/// procfs, or of the host's /sys: hardening.rs allows only those there).
fn is_kernel_tree(step: &MountStep) -> bool {
    let fs =
        matches!(&step.kind, MountKind::Fs { fstype, .. } if fstype == "proc" || fstype == "sysfs");
    fs || step.destination == Path::new("/proc") || step.destination == Path::new("/sys")
}
