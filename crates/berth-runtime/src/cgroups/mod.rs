//! cgroup placement: host layout detection (unified, hybrid, legacy v1), creating the container's
//! cgroup in every hierarchy, joining it, and removing it on delete.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// One mounted cgroup hierarchy of the host, as read from mountinfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    /// Where the host mounts it, e.g. `/sys/fs/cgroup/memory` or `/sys/fs/cgroup`.
    pub mount_point: PathBuf,
    /// `cgroup2` for the unified hierarchy, `cgroup` for a v1 one.
    pub fs_type: String,
    /// Mount data naming the hierarchy, e.g. `memory`, `cpu,cpuacct`, `name=systemd`; empty for cgroup2.
    pub options: String,
}

/// The container's cgroup: one directory per hierarchy, all at the same relative path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupPlan {
    /// The cgroup path relative to each hierarchy root, e.g. `berth/mycontainer` (no leading `/`).
    pub relative_path: PathBuf,
    /// Every hierarchy the container joins (v1 controllers, named hierarchies, and cgroup2).
    pub hierarchies: Vec<Hierarchy>,
}
