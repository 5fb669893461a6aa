//! The systemd cgroup driver (`--systemd-cgroup`, `--cgroup-manager=systemd`): the container's
//! cgroup is a transient scope unit that systemd creates, as runc's systemd driver does.
//!
//! - this file: parse `linux.cgroupsPath` in its `slice:prefix:name` form into a [`SystemdUnit`]
//!   (the slice and scope names and the cgroup path they give), and translate
//!   `linux.resources` into the unit properties systemd understands. Pure: nothing touches the
//!   host, so a bad path is refused before anything exists.
//! - `bus.rs`: the D-Bus calls (zbus, blocking API) to systemd's manager: StartTransientUnit,
//!   SetUnitProperties, StopUnit, and the bounded waits for their jobs.
//!
//! Only pure cgroup v2 hosts are supported: the scope's cgroup is then one directory, which
//! berth's v2 code writes (the settings systemd has no property for), freezes, reads and
//! signals like any other. See docs/cgroups.md, "The systemd driver".

pub(crate) mod bus;

use std::path::PathBuf;

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use super::{CgroupError, CgroupPlan, ResourcesPlan};

/// The slice a container's scope goes to when `linux.cgroupsPath` is empty or names no slice.
pub const DEFAULT_SLICE: &str = "system.slice";
/// The scope name prefix when `linux.cgroupsPath` is empty: the unit is `berth-<id>.scope`.
pub const DEFAULT_PREFIX: &str = "berth";

/// The cgroup v2 controllers systemd enables for a unit with `Delegate=yes` (the ones it
/// manages itself); hugetlb, rdma and misc are not among them.
pub(crate) const DELEGATED_CONTROLLERS: [&str; 5] = ["cpu", "cpuset", "io", "memory", "pids"];

/// The transient unit that holds a container: recorded in the state with the cgroup plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemdUnit {
    /// The parent slice, e.g. `system.slice` or `kubepods-burstable-pod1.slice`.
    pub slice: String,
    /// The scope, e.g. `berth-mycontainer.scope`.
    pub unit: String,
}

impl SystemdUnit {
    /// `cgroups_path` as runc reads it for systemd: empty → `system.slice:berth:<id>`, else
    /// exactly three `:`-separated fields `slice:prefix:name` (an empty slice is
    /// `system.slice`; the scope is `prefix-name.scope`, or `name.scope` with an empty prefix).
    pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<SystemdUnit, CgroupError> {
        let path = cgroups_path.unwrap_or("");
        let invalid = |reason| CgroupError::InvalidPath {
            path: path.to_string(),
            reason,
        };
        let (slice, prefix, name) = if path.is_empty() {
            (DEFAULT_SLICE, DEFAULT_PREFIX, id)
        } else {
            let fields: Vec<&str> = path.split(':').collect();
            let [slice, prefix, name] = fields[..] else {
                return Err(invalid(
                    "the systemd cgroup driver takes the form \"slice:prefix:name\"",
                ));
            };
            (slice, prefix, name)
        };
        let slice = if slice.is_empty() {
            DEFAULT_SLICE
        } else {
            slice
        };
        expand_slice(slice).map_err(invalid)?;
        if name.is_empty() {
            return Err(invalid("the name field (slice:prefix:name) is empty"));
        }
        if name.ends_with(".slice") {
            return Err(invalid(
                "a name ending in \".slice\" (a slice unit for the container) is not supported",
            ));
        }
        if !prefix.chars().chain(name.chars()).all(unit_char) {
            return Err(invalid(
                "the prefix and name may hold only ASCII letters, digits and \"-_.\\@\"",
            ));
        }
        let unit = match prefix {
            "" => format!("{name}.scope"),
            p => format!("{p}-{name}.scope"),
        };
        if unit.len() > UNIT_NAME_MAX {
            return Err(invalid("the scope name is longer than systemd's 255 bytes"));
        }
        Ok(SystemdUnit {
            slice: slice.to_string(),
            unit,
        })
    }

    /// The scope's cgroup relative to the cgroup2 root: the slice's ancestry, then the scope
    /// (`a-b.slice` → `a.slice/a-b.slice/<unit>`), as systemd lays it out (systemd.slice(5)).
    pub fn relative_path(&self) -> PathBuf {
        let mut path = expand_slice(&self.slice).expect("validated by parse");
        path.push(&self.unit);
        path
    }
}

impl CgroupPlan {
    /// The systemd driver's check before anything is created: the system bus socket exists.
    /// A no-op for other plans.
    pub fn check_systemd_bus(&self) -> Result<(), CgroupError> {
        match self.systemd {
            Some(_) => bus::check_bus(),
            None => Ok(()),
        }
    }

    /// Starts the container's scope with `pid` (stage 1 of `create`, which waits) as its first
    /// process, the resource properties systemd understands, and `Delegate=yes`; returns once
    /// systemd's job is done and the scope active (bounded, [`bus::JOB_TIMEOUT`]). The caller
    /// then writes every setting to the scope's files ([`CgroupPlan::apply_resources`]).
    pub fn start_systemd_scope(
        &self,
        id: &str,
        pid: i32,
        resources: Option<&ResourcesPlan>,
    ) -> Result<(), CgroupError> {
        let Some(unit) = &self.systemd else {
            return Ok(());
        };
        let pid = u32::try_from(pid).map_err(|_| CgroupError::InvalidId {
            id: pid.to_string(),
            reason: "not a pid",
        })?;
        let mut props = scope_properties(unit, id, pid);
        if let Some(r) = resources {
            props.extend(resource_properties(r.resources())?);
        }
        bus::Systemd::connect()?.start_scope(unit, &props)
    }

    /// `update` with the systemd driver: the settings systemd has a property for go through
    /// SetUnitProperties first, so that systemd keeps them; the caller then writes the files.
    pub fn update_systemd_properties(&self, resources: &ResourcesPlan) -> Result<(), CgroupError> {
        let Some(unit) = &self.systemd else {
            return Ok(());
        };
        let props = resource_properties(resources.resources())?;
        if props.is_empty() {
            return Ok(());
        }
        bus::Systemd::connect()?.set_properties(unit, &props)
    }

    /// `delete` with the systemd driver: stop the scope (systemd kills what is left and removes
    /// its cgroup with everything below it), reset it if it failed (an OOM kill, for one) so
    /// that systemd unloads it, and wait until the directory is gone. A scope systemd already
    /// stopped itself (its last process exited) is fine: delete is idempotent.
    pub(super) fn stop_systemd_scope(&self, unit: &SystemdUnit) -> Result<(), CgroupError> {
        let Some(h) = self.hierarchies.iter().find(|h| h.is_v2()) else {
            return Ok(());
        };
        bus::Systemd::connect()?.stop_scope(unit, &self.dir(h))
    }
}

/// systemd's UNIT_NAME_MAX.
const UNIT_NAME_MAX: usize = 255;

/// Characters systemd accepts in a unit name (besides the type suffix), unit-naming rules of
/// systemd.unit(5).
fn unit_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '\\' | '@')
}

/// A slice name's cgroup path: `-.slice` is the root; `a-b-c.slice` is
/// `a.slice/a-b.slice/a-b-c.slice` (each dash opens a child slice, systemd.slice(5)).
fn expand_slice(slice: &str) -> Result<PathBuf, &'static str> {
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err("the slice field must name a slice unit (ending in \".slice\")");
    };
    if slice == "-.slice" {
        return Ok(PathBuf::new());
    }
    if stem.is_empty() || !stem.chars().all(unit_char) || stem.contains('@') {
        return Err("the slice name may hold only ASCII letters, digits and \"-_.\\\"");
    }
    if stem.starts_with('-') || stem.ends_with('-') || stem.contains("--") {
        return Err(
            "the slice name has an empty dash-separated part (\"-\" first, last or doubled)",
        );
    }
    let mut path = PathBuf::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Ok(path)
}

/// A unit property's value, in the D-Bus types systemd's manager expects (bus.rs converts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    Bool(bool),
    Str(String),
    U64(u64),
    /// `au` (PIDs).
    U32s(Vec<u32>),
    /// `ay` (a CPU or NUMA-node bitmask, bit i of byte i/8 is CPU i).
    Bytes(Vec<u8>),
}

/// One `(name, value)` pair of StartTransientUnit / SetUnitProperties.
pub type Property = (&'static str, PropValue);

/// `infinity` for systemd's u64 limits.
const INFINITY: u64 = u64::MAX;

/// The properties that make the scope: where it goes, that berth (and the container) may
/// manage its cgroup below it (`Delegate=yes`), accounting on, and the pid that starts it.
pub fn scope_properties(unit: &SystemdUnit, id: &str, pid: u32) -> Vec<Property> {
    vec![
        (
            "Description",
            PropValue::Str(format!("berth container {id}")),
        ),
        ("Slice", PropValue::Str(unit.slice.clone())),
        // A scope started for a container must not be ordered after, or stopped with,
        // shutdown.target's dependencies the way a service's default dependencies would.
        ("DefaultDependencies", PropValue::Bool(false)),
        ("Delegate", PropValue::Bool(true)),
        ("MemoryAccounting", PropValue::Bool(true)),
        ("CPUAccounting", PropValue::Bool(true)),
        ("IOAccounting", PropValue::Bool(true)),
        ("TasksAccounting", PropValue::Bool(true)),
        ("PIDs", PropValue::U32s(vec![pid])),
    ]
}

/// The settings of `r` that systemd has a property for, so that systemd keeps them when it
/// re-applies the unit's cgroup attributes (on `daemon-reload`, for one) instead of resetting
/// the files berth wrote. Only settings present in `r` are listed (an `update` changes only
/// what it names). berth still writes every setting to the cgroup files afterwards (exact
/// values; systemd rounds the CPU quota to 10 ms per second).
pub fn resource_properties(r: &LinuxResources) -> Result<Vec<Property>, CgroupError> {
    let mut props = Vec::new();
    let limit = |v: i64| if v > 0 { v as u64 } else { INFINITY };
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit().filter(|l| *l != 0) {
            props.push(("MemoryMax", PropValue::U64(limit(l))));
        }
        if let Some(low) = m.reservation().filter(|l| *l != 0) {
            props.push(("MemoryLow", PropValue::U64(limit(low))));
        }
        if let Some(swap) = m.swap().filter(|s| *s != 0) {
            let v2 = super::v2::swap_to_v2(swap, m.limit().unwrap_or(0))?;
            let value = match v2 {
                -1 => INFINITY,
                v => v.max(0) as u64,
            };
            props.push(("MemorySwapMax", PropValue::U64(value)));
        }
    }
    if let Some(c) = r.cpu() {
        let weight = super::v2::shares_to_weight(c.shares().unwrap_or(0));
        if weight != 0 {
            props.push(("CPUWeight", PropValue::U64(weight)));
        }
        let period = c.period().unwrap_or(0);
        if let Some(quota) = c.quota().filter(|q| *q != 0) {
            let per_sec = match quota {
                q if q > 0 => {
                    let period = if period == 0 { 100_000 } else { period };
                    // systemd keeps the quota as a whole percentage of a CPU (10 ms per
                    // second): round up so the files berth writes are never above it.
                    let usec = (q as u64).saturating_mul(1_000_000) / period;
                    usec.div_ceil(10_000) * 10_000
                }
                _ => INFINITY,
            };
            props.push(("CPUQuotaPerSecUSec", PropValue::U64(per_sec)));
        }
        if period != 0 {
            props.push(("CPUQuotaPeriodUSec", PropValue::U64(period)));
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            props.push((
                "AllowedCPUs",
                PropValue::Bytes(list_to_mask(cpus, "cpu.cpus")?),
            ));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            props.push((
                "AllowedMemoryNodes",
                PropValue::Bytes(list_to_mask(mems, "cpu.mems")?),
            ));
        }
    }
    if let Some(p) = r.pids() {
        // runtime-spec 1.3: 0 is a limit of 0 tasks, a negative value is no limit.
        let tasks = u64::try_from(p.limit()).unwrap_or(INFINITY);
        props.push(("TasksMax", PropValue::U64(tasks)));
    }
    if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
        if w != 0 {
            let weight = super::v2::blkio_weight_to_io_weight(w);
            props.push(("IOWeight", PropValue::U64(weight)));
        }
    }
    Ok(props)
}

/// A cpuset list (`0-3,5`) as systemd's bitmask: bit i of byte i/8 set for each listed i.
fn list_to_mask(list: &str, name: &str) -> Result<Vec<u8>, CgroupError> {
    let invalid = || CgroupError::InvalidResource {
        name: name.to_string(),
        reason: format!("{list:?} is not a list of numbers and ranges like \"0-3,5\""),
    };
    let mut mask = Vec::new();
    for part in list.trim().split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part.trim(), part.trim()),
        };
        let lo: usize = lo.parse().map_err(|_| invalid())?;
        let hi: usize = hi.parse().map_err(|_| invalid())?;
        // 8192 is the kernel's largest NR_CPUS (and far above any NUMA node count).
        if lo > hi || hi >= 8192 {
            return Err(invalid());
        }
        for i in lo..=hi {
            if mask.len() <= i / 8 {
                mask.resize(i / 8 + 1, 0);
            }
            mask[i / 8] |= 1 << (i % 8);
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests;
