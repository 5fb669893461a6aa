//! cgroup placement and resource control: host layout detection (unified, hybrid, legacy v1),
//! creating the container's cgroup in every hierarchy, joining it, signalling and listing its
//! processes, removing it on delete, applying every `linux.resources` setting, freezing, and
//! reading stats.
//!
//! Files, one per responsibility:
//! - `delegation.rs`: rootless: the cgroup v2 subtree delegated to an unprivileged berth.
//! - `detect.rs`: parse mountinfo into [`HostCgroups`] (which hierarchies the host mounts where).
//! - `plan.rs`: validate `linux.cgroupsPath` into an immutable [`CgroupPlan`] (no side effects).
//! - `fs.rs`: the only code that touches cgroupfs (the `CgroupFs` trait), plus create/join/
//!   pids/signal/remove.
//! - `resources.rs`, `v1.rs`, `v2.rs`: validate `linux.resources` into a [`ResourcesPlan`] (no
//!   side effects; `Plan::new` does it for create), then translate it into a list of file writes
//!   per controller and perform them. New controllers are added as one more translation
//!   function.
//! - `bpf.rs`: the cgroup v2 device filter (eBPF emitted in Rust, loaded and attached).
//! - `freeze.rs`: pause/resume through the v1 freezer or `cgroup.freeze`.
//! - `stats.rs`: usage in runc's stats shape, and the OOM watch behind `berth events`.
//! - `sub.rs`: `exec --cgroup`, the sub-cgroups an exec'd process joins.
//! - `systemd/`: the systemd driver: `slice:prefix:name` paths, the transient scope systemd
//!   creates over D-Bus, and the unit properties for `linux.resources`.
//!
//! See docs/cgroups.md for the v1/v2 mapping of every setting.
//!
//! Safety rules this module keeps (see docs/ENVIRONMENT): it never mounts, unmounts or remounts a
//! hierarchy, and it writes only below directories it created itself (or, with the systemd
//! driver, in the scope systemd created for the container), except the v2
//! `cgroup.subtree_control` of berth's own parent directories (e.g. `berth/`), never the root's.

pub mod bpf;
mod delegation;
mod detect;
mod freeze;
mod fs;
mod plan;
mod resources;
mod rt_budget;
mod stats;
mod stats_v2;
mod sub;
pub mod systemd;
mod v1;
mod v2;
mod writes;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use delegation::{delegated_subtree, writable_by_me, NotDelegated};
pub use freeze::FreezerState;
pub use fs::Created;
pub use resources::{requested_sections, ApplyMode, CheckedUpdate, ResourcesPlan};
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryData, MemoryStats, OomWatch,
    PidsStats, Stats, Throttling,
};
pub use stats_v2::{HugetlbV2, IoEntry, Psi, PsiData, RdmaEntry, V2Stats};
pub use sub::SubCgroups;
pub use v2::{blkio_weight_to_io_weight, shares_to_weight};

/// One mounted cgroup hierarchy of the host, as read from mountinfo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    /// Where the host mounts it, e.g. `/sys/fs/cgroup/memory` or `/sys/fs/cgroup`.
    pub mount_point: PathBuf,
    /// `cgroup2` for the unified hierarchy, `cgroup` for a v1 one.
    pub fs_type: String,
    /// Mount data naming the hierarchy, e.g. `memory`, `cpu,cpuacct`, `name=systemd`; empty for cgroup2.
    pub options: String,
    /// The mountinfo `root` field: which cgroup of the hierarchy is visible at `mount_point`
    /// (`/` on a host; a sub-path for a bind mount or inside a cgroup namespace).
    #[serde(default = "default_root")]
    pub root: PathBuf,
}

fn default_root() -> PathBuf {
    PathBuf::from("/")
}

impl Hierarchy {
    /// True for the cgroup2 (unified) hierarchy.
    pub fn is_v2(&self) -> bool {
        self.fs_type == "cgroup2"
    }

    /// The v1 controllers (and `name=` names) bound to this hierarchy; empty for cgroup2, whose
    /// controllers are listed in its `cgroup.controllers` file instead.
    pub fn controllers(&self) -> impl Iterator<Item = &str> {
        self.options.split(',').filter(|s| !s.is_empty())
    }

    /// True if this is a v1 hierarchy with `controller` bound to it.
    pub fn has_v1_controller(&self, controller: &str) -> bool {
        !self.is_v2() && self.controllers().any(|c| c == controller)
    }
}

/// The host's cgroup layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Only cgroup2 (pure v2).
    Unified,
    /// v1 controller hierarchies plus a cgroup2 hierarchy (usually `/sys/fs/cgroup/unified`).
    Hybrid,
    /// Only v1 hierarchies.
    Legacy,
}

/// Every cgroup hierarchy the host mounts, in mountinfo order (none by default: what a
/// container without a cgroup is planned against, whatever the host mounts).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCgroups {
    /// One entry per distinct hierarchy (duplicates and shadowed mounts removed).
    pub hierarchies: Vec<Hierarchy>,
}

/// Who places the container in a cgroup (`--cgroup-manager`). The systemd driver is
/// `Cgroupfs` with `PlanOptions::systemd_cgroup` set (the command line maps
/// `--cgroup-manager=systemd` to it): systemd creates and removes the scope, berth writes,
/// reads and signals its cgroup files like any other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CgroupManager {
    /// berth creates, writes and removes the cgroup directories itself.
    #[default]
    Cgroupfs,
    /// No cgroup at all, as crun's `--cgroup-manager=disabled`: nothing is created, joined or
    /// removed, `linux.resources` is not applied and `linux.cgroupsPath` is not used; the
    /// container's processes stay in the cgroups of whoever ran `berth create`. The plan is
    /// [`CgroupPlan::none`].
    Disabled,
}

/// The container's cgroup: one directory per hierarchy, all at the same relative path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupPlan {
    /// The cgroup path relative to each hierarchy root, e.g. `berth/mycontainer` (no leading `/`).
    pub relative_path: PathBuf,
    /// Every hierarchy the container joins (v1 controllers, named hierarchies, and cgroup2).
    pub hierarchies: Vec<Hierarchy>,
    /// How many leading components of `relative_path` are berth's own parent directories (1 for
    /// the `berth/` prefix of a default or relative path, 0 for an absolute `cgroupsPath`). berth
    /// may enable v2 controllers in them and removes them on delete when they are empty.
    #[serde(default)]
    pub owned_parent_depth: usize,
    /// The container has no cgroup ([`CgroupManager::Disabled`]). Recorded in the state, so that
    /// later commands know it whatever flags they are given. `hierarchies` is then empty, so
    /// create, join, signal and remove act on nothing; operations that need a cgroup (pause,
    /// update, stats, ps) check this and refuse.
    #[serde(default)]
    pub disabled: bool,
    /// The systemd driver's scope: systemd created the cgroup (`relative_path` is the scope's)
    /// and removes it when the unit stops; `None` for a cgroup berth makes itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<systemd::SystemdUnit>,
    /// Rootless: the cgroup lies in the cgroup v2 subtree delegated to an unprivileged berth
    /// ([`delegated_subtree`]; `hierarchies` holds that subtree as the root berth may not
    /// write). No device program is attached (loading one needs CAP_BPF or CAP_SYS_ADMIN), and
    /// a controller the subtree does not hand down is refused as not delegated.
    #[serde(default)]
    pub delegated: bool,
}

/// Errors of the cgroups module: one variant per failed operation, naming the path or id.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("read mountinfo {path}")]
    ReadMountinfo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse mountinfo {path} line {line}: {reason}")]
    ParseMountinfo {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("no cgroup hierarchy is mounted according to {path}")]
    NoHierarchies { path: PathBuf },
    #[error("invalid container id {id:?} for a cgroup path: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    #[error(
        "the systemd cgroup driver needs a pure cgroup v2 host; this host's cgroups are {layout:?}"
    )]
    SystemdNeedsUnified { layout: Layout },
    #[error("systemd cgroup driver: cannot reach systemd over the system D-Bus at {address}: {reason} (is systemd PID 1 and dbus running?)")]
    NoBus {
        address: String,
        reason: &'static str,
    },
    #[error("systemd cgroup driver: connect to the system D-Bus at {address}")]
    Bus {
        address: String,
        #[source]
        source: Box<zbus::Error>,
    },
    #[error("systemd cgroup driver: {op}")]
    SystemdCall {
        op: String,
        #[source]
        source: Box<zbus::Error>,
    },
    #[error("systemd unit {unit} did not {what} within {secs} s")]
    UnitTimeout {
        unit: String,
        what: &'static str,
        secs: u64,
    },
    #[error("systemd unit {unit} is {state} after its job (expected {expected})")]
    UnitState {
        unit: String,
        state: String,
        expected: &'static str,
    },
    #[error("create cgroup {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write {value:?} to {path}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    #[error("add pid {pid} to cgroup {path}")]
    Join {
        path: PathBuf,
        pid: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("parse {path}: {value:?} is not a pid")]
    ParsePid { path: PathBuf, value: String },
    #[error("parse {path}: {value:?} is not a number")]
    ParseNumber { path: PathBuf, value: String },
    #[error("send signal {signal} to pid {pid} of cgroup {path}")]
    Signal {
        path: PathBuf,
        pid: i32,
        signal: i32,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("invalid signal number {signal}")]
    InvalidSignal { signal: i32 },
    #[error("remove cgroup {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("program the device rules of cgroup {path}")]
    Devices {
        path: PathBuf,
        #[source]
        source: bpf::BpfError,
    },
    #[error(
        "the container's cgroup has no freezer (neither a v1 freezer hierarchy nor cgroup.freeze)"
    )]
    NoFreezer,
    #[error(
        "the container's cgroup {path} is already frozen (thaw it or choose another cgroupsPath)"
    )]
    AlreadyFrozen { path: PathBuf },
    #[error("cgroup {path} did not reach {state} within {secs} s")]
    FreezeTimeout {
        path: PathBuf,
        state: &'static str,
        secs: u64,
    },
    #[error("invalid linux.resources.{name}: {reason}")]
    InvalidResource { name: String, reason: String },
    #[error("linux.resources.{} cannot be applied on this host (nothing was changed)", names.join(", linux.resources."))]
    NotApplicable { names: Vec<String> },
    #[error("--cgroup {arg:?}: {reason}")]
    InvalidSubCgroup { arg: String, reason: String },
    #[error("--cgroup: sub-cgroup {path} does not exist (create it first)")]
    SubCgroupMissing { path: PathBuf },
}

#[cfg(test)]
mod tests;
