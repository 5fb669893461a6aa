//! Applying `linux.resources` (runtime-spec config-linux.md "Control groups"): plan, then act.
//!
//! [`CgroupPlan::apply_resources`] first turns the resources into a [`ResourcePlan`] — an
//! ordered list of control-file writes plus the names of settings berth cannot apply here — and
//! validates everything, then performs the writes. Each controller is translated by one function
//! in `v1.rs` or `v2.rs`, picked by where the host binds that controller: a v1 hierarchy if one
//! has it (legacy and hybrid hosts), else the cgroup2 hierarchy if the container's cgroup lists it
//! in `cgroup.controllers`. Adding a controller means adding one translation function and one
//! dispatch arm below.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::fs::{read_file, write_file, CgroupFs, HostFs};
use super::{v1, v2, CgroupError, CgroupPlan};

/// One control-file write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileWrite {
    pub path: PathBuf,
    pub value: String,
}

/// What applying a `LinuxResources` does, in order, and what it leaves unapplied.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct ResourcePlan {
    pub writes: Vec<FileWrite>,
    /// Names as in the spec below `linux.resources`, e.g. `devices`, `memory.swappiness`.
    pub unapplied: Vec<String>,
}

impl ResourcePlan {
    pub fn write(&mut self, dir: &Path, file: &str, value: impl Into<String>) {
        self.writes.push(FileWrite {
            path: dir.join(file),
            value: value.into(),
        });
    }

    pub fn unapplied(&mut self, name: &str) {
        self.unapplied.push(name.to_string());
    }
}

/// Where a controller lives for this container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// The container's directory in the v1 hierarchy bound to the controller.
    V1(PathBuf),
    /// The container's directory in the cgroup2 hierarchy.
    V2(PathBuf),
}

impl CgroupPlan {
    /// Apply the subset of `linux.resources` the runtime core needs: memory limit, reservation
    /// and swap; pids limit; cpu shares, quota, period, cpus and mems; and on v1 the device
    /// allow/deny list (runc's default devices appended). Returns the names of the settings that
    /// were present but not applied (unsupported here, e.g. `devices` on cgroup v2 which needs
    /// eBPF, or a controller the host lacks) so the caller can warn about each.
    ///
    /// Everything is validated before the first write; invalid values are an error.
    pub fn apply_resources(&self, r: &LinuxResources) -> Result<Vec<String>, CgroupError> {
        self.apply_resources_with(&HostFs, r)
    }

    pub(super) fn apply_resources_with(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
    ) -> Result<Vec<String>, CgroupError> {
        let plan = self.resource_plan(fs, r)?;
        for w in &plan.writes {
            write_file(fs, &w.path, &w.value)?;
        }
        Ok(plan.unapplied)
    }

    /// Where `controller` is available to this container, if anywhere.
    fn target(&self, fs: &dyn CgroupFs, controller: &str) -> Result<Option<Target>, CgroupError> {
        if let Some(h) = self
            .hierarchies
            .iter()
            .find(|h| h.has_v1_controller(controller))
        {
            return Ok(Some(Target::V1(self.dir(h))));
        }
        if let Some(h) = self.hierarchies.iter().find(|h| h.is_v2()) {
            let dir = self.dir(h);
            // The leaf's cgroup.controllers lists what its parent enabled for it.
            let available = read_file(fs, &dir.join("cgroup.controllers"))?;
            if available.split_whitespace().any(|c| c == controller) {
                return Ok(Some(Target::V2(dir)));
            }
        }
        Ok(None)
    }

    pub(super) fn resource_plan(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
    ) -> Result<ResourcePlan, CgroupError> {
        let mut plan = ResourcePlan::default();

        if let Some(m) = r.memory() {
            let limit = m.limit().unwrap_or(0);
            let reservation = m.reservation().unwrap_or(0);
            let swap = m.swap().unwrap_or(0);
            if limit != 0 || reservation != 0 || swap != 0 {
                match self.target(fs, "memory")? {
                    Some(Target::V1(dir)) => {
                        let state = v1::MemoryState::read(fs, &dir)?;
                        v1::memory(&mut plan, &dir, limit, reservation, swap, state)?
                    }
                    Some(Target::V2(dir)) => {
                        let has_swap = fs.exists(&dir.join("memory.swap.max"));
                        v2::memory(&mut plan, &dir, limit, reservation, swap, has_swap)?
                    }
                    None => {
                        for (name, v) in [
                            ("memory.limit", limit),
                            ("memory.reservation", reservation),
                            ("memory.swap", swap),
                        ] {
                            if v != 0 {
                                plan.unapplied(name);
                            }
                        }
                    }
                }
            }
            let others = [
                ("memory.kernel", m.kernel().is_some()),
                ("memory.kernelTCP", m.kernel_tcp().is_some()),
                ("memory.swappiness", m.swappiness().is_some()),
                ("memory.disableOOMKiller", m.disable_oom_killer().is_some()),
                ("memory.useHierarchy", m.use_hierarchy().is_some()),
                (
                    "memory.checkBeforeUpdate",
                    m.check_before_update().is_some(),
                ),
            ];
            for (name, set) in others {
                if set {
                    plan.unapplied(name);
                }
            }
        }

        if let Some(p) = r.pids() {
            if p.limit() != 0 {
                match self.target(fs, "pids")? {
                    // Same file and format on v1 and v2.
                    Some(Target::V1(dir)) | Some(Target::V2(dir)) => {
                        v1::pids(&mut plan, &dir, p.limit())
                    }
                    None => plan.unapplied("pids.limit"),
                }
            }
        }

        if let Some(c) = r.cpu() {
            let shares = c.shares().unwrap_or(0);
            let quota = c.quota().unwrap_or(0);
            let period = c.period().unwrap_or(0);
            if shares != 0 || quota != 0 || period != 0 {
                match self.target(fs, "cpu")? {
                    Some(Target::V1(dir)) => v1::cpu(&mut plan, &dir, shares, quota, period),
                    Some(Target::V2(dir)) => v2::cpu(&mut plan, &dir, shares, quota, period),
                    None => {
                        for (name, set) in [
                            ("cpu.shares", shares != 0),
                            ("cpu.quota", quota != 0),
                            ("cpu.period", period != 0),
                        ] {
                            if set {
                                plan.unapplied(name);
                            }
                        }
                    }
                }
            }
            let cpus = c.cpus().as_deref().unwrap_or("");
            let mems = c.mems().as_deref().unwrap_or("");
            if !cpus.is_empty() || !mems.is_empty() {
                match self.target(fs, "cpuset")? {
                    // Same files and format on v1 and v2.
                    Some(Target::V1(dir)) | Some(Target::V2(dir)) => {
                        v1::cpuset(&mut plan, &dir, cpus, mems)
                    }
                    None => {
                        for (name, v) in [("cpu.cpus", cpus), ("cpu.mems", mems)] {
                            if !v.is_empty() {
                                plan.unapplied(name);
                            }
                        }
                    }
                }
            }
            let others = [
                ("cpu.idle", c.idle().is_some()),
                ("cpu.burst", c.burst().is_some()),
                ("cpu.realtimeRuntime", c.realtime_runtime().is_some()),
                ("cpu.realtimePeriod", c.realtime_period().is_some()),
            ];
            for (name, set) in others {
                if set {
                    plan.unapplied(name);
                }
            }
        }

        // Like runc, the device list is always programmed where the v1 devices controller
        // exists (deny all, the config's rules, runc's defaults), even when the config has none.
        let rules = r.devices().as_deref().unwrap_or(&[]);
        match self.target(fs, "devices")? {
            Some(Target::V1(dir)) => v1::devices(&mut plan, &dir, rules)?,
            // cgroup v2 has no devices files: device control is an eBPF program (not yet).
            Some(Target::V2(_)) | None => {
                if !rules.is_empty() {
                    plan.unapplied("devices");
                }
            }
        }

        let not_yet = [
            ("blockIO", r.block_io().is_some()),
            (
                "hugepageLimits",
                r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty()),
            ),
            ("network", r.network().is_some()),
            ("rdma", r.rdma().as_ref().is_some_and(|m| !m.is_empty())),
            (
                "unified",
                r.unified().as_ref().is_some_and(|m| !m.is_empty()),
            ),
        ];
        for (name, set) in not_yet {
            if set {
                plan.unapplied(name);
            }
        }
        Ok(plan)
    }
}
