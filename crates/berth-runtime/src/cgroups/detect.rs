//! Host cgroup layout detection from a mountinfo file (proc(5), `/proc/<pid>/mountinfo`).
//!
//! Only the mount table is read: the caller's own cgroup (`/proc/self/cgroup`) plays no part, so
//! the result is the same for every process in the mount namespace and tests can point it at a
//! fixture whose mount points live in a tempdir.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{CgroupError, Hierarchy, HostCgroups, Layout};

/// Mount options of a v1 cgroup superblock that are not controllers (cgroups(7)).
const V1_NON_CONTROLLER_OPTIONS: &[&str] = &[
    "rw",
    "ro",
    "none",
    "xattr",
    "noprefix",
    "clone_children",
    "cpuset_v2_mode",
    "favordynmods",
];

/// One parsed mountinfo line (only the fields detection needs).
#[derive(Debug)]
struct MountLine {
    dev: String,
    root: PathBuf,
    mount_point: PathBuf,
    fs_type: String,
    super_options: String,
}

impl HostCgroups {
    /// Parse a mountinfo file (`/proc/self/mountinfo` in production, a fixture in tests) and
    /// return every distinct cgroup hierarchy visible in this mount namespace.
    ///
    /// Mounts hidden by a later mount on the same point or on a parent directory are dropped; a
    /// hierarchy mounted several times (bind mounts) is kept once, preferring the mount of its
    /// root (`/`), else the one exposing the shortest sub-path.
    pub fn detect(mountinfo: &Path) -> Result<HostCgroups, CgroupError> {
        let text =
            std::fs::read_to_string(mountinfo).map_err(|source| CgroupError::ReadMountinfo {
                path: mountinfo.to_path_buf(),
                source,
            })?;
        let mut visible: Vec<MountLine> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parsed = parse_line(line).map_err(|reason| CgroupError::ParseMountinfo {
                path: mountinfo.to_path_buf(),
                line: index + 1,
                reason,
            })?;
            // A later mount on P hides every earlier mount at or below P.
            visible.retain(|m| !m.mount_point.starts_with(&parsed.mount_point));
            visible.push(parsed);
        }

        let mut hierarchies: Vec<Hierarchy> = Vec::new();
        let mut by_dev: HashMap<String, usize> = HashMap::new();
        for m in visible {
            let hierarchy = match m.fs_type.as_str() {
                "cgroup2" => Hierarchy {
                    mount_point: m.mount_point,
                    fs_type: m.fs_type,
                    options: String::new(),
                    root: m.root,
                },
                "cgroup" => Hierarchy {
                    mount_point: m.mount_point,
                    fs_type: m.fs_type,
                    options: v1_controllers(&m.super_options),
                    root: m.root,
                },
                _ => continue,
            };
            match by_dev.get(&m.dev) {
                Some(&i) => {
                    if root_rank(&hierarchy.root) < root_rank(&hierarchies[i].root) {
                        hierarchies[i] = hierarchy;
                    }
                }
                None => {
                    by_dev.insert(m.dev, hierarchies.len());
                    hierarchies.push(hierarchy);
                }
            }
        }
        if hierarchies.is_empty() {
            return Err(CgroupError::NoHierarchies {
                path: mountinfo.to_path_buf(),
            });
        }
        Ok(HostCgroups { hierarchies })
    }

    /// Unified (cgroup2 only), hybrid (v1 hierarchies and a cgroup2 one) or legacy (v1 only).
    pub fn layout(&self) -> Layout {
        let v2 = self.hierarchies.iter().any(Hierarchy::is_v2);
        let v1 = self.hierarchies.iter().any(|h| !h.is_v2());
        match (v2, v1) {
            (true, false) => Layout::Unified,
            (true, true) => Layout::Hybrid,
            _ => Layout::Legacy,
        }
    }
}

/// Sort key for duplicate mounts of one hierarchy: the root mount first, then shorter sub-paths;
/// cgroup-namespace paths outside the namespace (`/..`) last.
fn root_rank(root: &Path) -> (bool, usize) {
    let outside = root
        .components()
        .any(|c| c == std::path::Component::ParentDir);
    (outside, root.as_os_str().len())
}

/// Keep only controller names (and `name=` hierarchy names) from v1 super options.
fn v1_controllers(super_options: &str) -> String {
    super_options
        .split(',')
        .filter(|o| !o.is_empty())
        .filter(|o| !V1_NON_CONTROLLER_OPTIONS.contains(o))
        .filter(|o| !o.starts_with("release_agent="))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parse `id parent major:minor root mount_point options [optional...] - fstype source super`.
fn parse_line(line: &str) -> Result<MountLine, String> {
    let fields: Vec<&str> = line.split(' ').collect();
    if fields.len() < 7 {
        return Err(format!(
            "expected at least 7 fields, found {}",
            fields.len()
        ));
    }
    // The optional fields (shared:N, master:N, ...) end at a lone "-".
    let sep = fields[6..]
        .iter()
        .position(|f| *f == "-")
        .map(|p| p + 6)
        .ok_or_else(|| "missing the \"-\" separator".to_string())?;
    if fields.len() < sep + 3 {
        return Err("missing filesystem type, source or super options".to_string());
    }
    Ok(MountLine {
        dev: fields[2].to_string(),
        root: unescape(fields[3]),
        mount_point: unescape(fields[4]),
        fs_type: fields[sep + 1].to_string(),
        super_options: fields[sep + 3].to_string(),
    })
}

use crate::mountinfo::unescape;

#[cfg(test)]
pub(super) fn unescape_for_test(field: &str) -> PathBuf {
    unescape(field)
}
