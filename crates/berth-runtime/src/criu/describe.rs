//! What berth tells CRIU about a container, from its validated [`Plan`]: the mounts whose
//! source is outside the container (bind mounts of host paths and the cgroup2 bind of the
//! container's own cgroup, CRIU's "external mounts"), and the container's cgroup. What berth
//! cannot describe yet is refused here, before CRIU runs.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::bundle::NamespaceKind;
use crate::bundle::Plan;
use crate::cgroups::CgroupPlan;
use crate::rootfs::plan::{CgroupMount, MountKind};

use super::CriuError;

/// One external mount: `destination` in the container, `source` on the host. A dump names it
/// by its destination (`ext_mnt` key and value both the destination); a restore maps that name
/// back to the host source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalMount {
    pub destination: PathBuf,
    pub source: PathBuf,
}

/// The container's mounts that CRIU must be told about, in plan order. Refuses what berth does
/// not describe: a user namespace, a namespace joined by path, a split (cgroup v1) cgroup
/// mount, hooks (`op` names the operation in the error).
pub fn external_mounts(plan: &Plan, op: &'static str) -> Result<Vec<ExternalMount>, CriuError> {
    let unsupported = |what: String| CriuError::Unsupported { op, what };
    for ns in &plan.namespaces.entries {
        if ns.kind == NamespaceKind::User {
            return Err(unsupported("a user namespace".into()));
        }
        if let Some(path) = &ns.path {
            return Err(unsupported(format!(
                "a {} namespace joined by path ({})",
                ns.kind.name(),
                path.display()
            )));
        }
    }
    let mut external = Vec::new();
    for step in &plan.rootfs.mounts {
        match &step.kind {
            MountKind::Bind { source, .. } => external.push(ExternalMount {
                destination: step.destination.clone(),
                source: source.clone(),
            }),
            MountKind::Cgroup(CgroupMount::Unified {
                mount_fs: false,
                host_dir,
            }) => external.push(ExternalMount {
                destination: step.destination.clone(),
                source: host_dir.clone(),
            }),
            MountKind::Cgroup(CgroupMount::Split { .. }) => {
                return Err(unsupported(format!(
                    "a cgroup v1 mount on {} (cgroup v2 hosts only)",
                    step.destination.display()
                )))
            }
            MountKind::Cgroup(_) | MountKind::Fs { .. } => {}
        }
    }
    Ok(external)
}

/// The container's cgroup2 directory, for `freeze_cgroup` (CRIU freezes the whole cgroup
/// instead of stopping each task, so no task forks past it) and for the restore's `cg_root`.
/// `None` without a cgroup or on a host without cgroup2.
pub fn v2_cgroup(cgroup: &CgroupPlan) -> Option<(PathBuf, PathBuf)> {
    if cgroup.disabled {
        return None;
    }
    let h = cgroup.hierarchies.iter().find(|h| h.is_v2())?;
    Some((cgroup.dir(h), cgroup.cgroup_path(h)))
}

/// Opens `path` as a directory, creating it (mode 0700, with its parents) when missing: the
/// images and work directories.
pub fn open_dir(what: &'static str, path: &Path, create: bool) -> Result<OwnedFd, CriuError> {
    use std::os::unix::fs::DirBuilderExt;
    let err = |source| CriuError::Dir {
        what,
        path: path.to_path_buf(),
        source,
    };
    if create {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(err)?;
    }
    // Not close-on-exec is not needed: CRIU opens it through /proc/<berth>/fd.
    nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| err(std::io::Error::from(e)))
}
