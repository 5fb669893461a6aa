//! Validating `linux.cgroupsPath` (runtime-spec config-linux.md "Cgroups path") into a
//! [`CgroupPlan`]. Pure: nothing on the host is touched, so bad input is rejected before anything
//! exists that would need cleaning up.

use std::path::{Component, Path, PathBuf};

use super::systemd::SystemdUnit;
use super::{CgroupError, CgroupPlan, Hierarchy, HostCgroups, Layout};

/// The directory below each hierarchy root that holds berth's containers by default.
pub const BERTH_PARENT: &str = "berth";

impl CgroupPlan {
    /// Validated, no side effects.
    ///
    /// `cgroups_path` is the config's `linux.cgroupsPath`:
    /// - `None` (or empty) → `berth/<id>`;
    /// - relative → `berth/<path>` (the spec leaves relative paths to the runtime; like runc,
    ///   berth puts them below its own parent);
    /// - absolute → that path below each hierarchy root.
    ///
    /// Rejected: an empty id or one that is not a single path component, `..` components, a path
    /// naming the hierarchy root itself.
    ///
    /// With `systemd` (the systemd driver) the path is `slice:prefix:name` instead (empty →
    /// `system.slice:berth:<id>`, [`SystemdUnit::parse`]) and the cgroup is the scope's
    /// directory, in the cgroup2 hierarchy only: the host must be pure cgroup v2. With `systemd`
    /// false a path containing `:` is an ordinary path.
    pub fn new(
        host: &HostCgroups,
        cgroups_path: Option<&Path>,
        id: &str,
        systemd: bool,
    ) -> Result<CgroupPlan, CgroupError> {
        validate_id(id)?;
        let given = cgroups_path.filter(|p| !p.as_os_str().is_empty());
        if systemd {
            return Self::systemd(host, given, id);
        }
        let (relative_path, owned_parent_depth) = match given {
            None => (Path::new(BERTH_PARENT).join(id), 1),
            Some(p) => {
                let clean = clean_components(p)?;
                if p.is_absolute() {
                    (clean, 0)
                } else {
                    (Path::new(BERTH_PARENT).join(clean), 1)
                }
            }
        };
        Ok(CgroupPlan {
            relative_path,
            hierarchies: host.hierarchies.clone(),
            owned_parent_depth,
            disabled: false,
            systemd: None,
            delegated: false,
        })
    }

    /// The systemd driver's plan: the scope's cgroup in the cgroup2 hierarchy, which systemd
    /// creates and removes (so berth owns none of its parents).
    fn systemd(
        host: &HostCgroups,
        given: Option<&Path>,
        id: &str,
    ) -> Result<CgroupPlan, CgroupError> {
        let path = match given {
            None => None,
            Some(p) => Some(p.to_str().ok_or_else(|| CgroupError::InvalidPath {
                path: p.to_string_lossy().into_owned(),
                reason: "is not UTF-8",
            })?),
        };
        // The host first: on a host that is not pure cgroup v2 no cgroupsPath would help.
        let layout = host.layout();
        if layout != Layout::Unified {
            return Err(CgroupError::SystemdNeedsUnified { layout });
        }
        let unit = SystemdUnit::parse(path, id)?;
        Ok(CgroupPlan {
            relative_path: unit.relative_path(),
            hierarchies: host.hierarchies.clone(),
            owned_parent_depth: 0,
            disabled: false,
            systemd: Some(unit),
            delegated: false,
        })
    }

    /// The plan of a container without a cgroup (`--cgroup-manager=disabled`): no hierarchy and
    /// no path, so acting on it touches no cgroupfs at all.
    pub fn none() -> CgroupPlan {
        CgroupPlan {
            relative_path: PathBuf::new(),
            hierarchies: Vec::new(),
            owned_parent_depth: 0,
            disabled: true,
            systemd: None,
            delegated: false,
        }
    }

    /// The path of this container's cgroup in one hierarchy (for tests and mounts).
    pub fn dir(&self, h: &Hierarchy) -> PathBuf {
        h.mount_point.join(&self.relative_path)
    }

    /// The cgroup's path as the kernel names it in `/proc/<pid>/cgroup` (outside any cgroup
    /// namespace): the mount's root joined with the relative path.
    pub fn cgroup_path(&self, h: &Hierarchy) -> PathBuf {
        h.root.join(&self.relative_path)
    }
}

fn validate_id(id: &str) -> Result<(), CgroupError> {
    let reason = if id.is_empty() {
        "empty"
    } else if id == "." || id == ".." {
        "a relative directory name"
    } else if id.contains('/') {
        "contains '/'"
    } else if id.contains('\0') {
        "contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(CgroupError::InvalidId {
        id: id.to_string(),
        reason,
    })
}

/// The normal components of `p`, rejecting anything that could climb out of the hierarchy.
fn clean_components(p: &Path) -> Result<PathBuf, CgroupError> {
    let invalid = |reason| CgroupError::InvalidPath {
        path: p.to_string_lossy().into_owned(),
        reason,
    };
    if p.as_os_str().as_encoded_bytes().contains(&0) {
        return Err(invalid("contains a NUL byte"));
    }
    let mut out = PathBuf::new();
    for component in p.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(invalid("contains a \"..\" component")),
            Component::Prefix(_) => return Err(invalid("has a path prefix")),
        }
    }
    if out.as_os_str().is_empty() {
        return Err(invalid("names the hierarchy root itself"));
    }
    Ok(out)
}
