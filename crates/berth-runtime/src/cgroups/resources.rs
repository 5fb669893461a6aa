//! Applying `linux.resources` (runtime-spec config-linux.md "Control groups"): plan, then act,
//! in two steps.
//!
//! 1. [`ResourcesPlan::new`] validates every value, without touching anything: ranges and
//!    formats, and the rules that depend on where the host binds a controller (v1 or v2, as
//!    the [`CgroupPlan`]'s hierarchies say), including a controller the container's cgroup
//!    will not get (no v1 hierarchy binds it, and the cgroup2 hierarchy does not hand it down:
//!    [`CgroupPlan::v2_controllers_to_come`]). `create` runs it in `Plan::new`, before the
//!    state directory or the cgroup exist; `update` runs it before it writes anything.
//! 2. [`CgroupPlan::apply_resources`] (create) and [`CgroupPlan::update_resources`] turn a
//!    `ResourcesPlan` into [`Writes`] — an ordered list of control-file writes, the device
//!    program to attach (cgroup v2), and the names of settings that have no equivalent here —
//!    then perform the writes. Each controller is translated by one function in `v1.rs` or
//!    `v2.rs`, picked by where the host binds that controller: a v1 hierarchy if one has it
//!    (legacy and hybrid hosts), else the cgroup2 hierarchy if the container's cgroup lists it
//!    in `cgroup.controllers`.
//!
//! What step 2 can still refuse depends on the container's cgroup as created, so it cannot be
//! known earlier: a hugepage size or `unified` file the kernel does not have, and for `update`
//! a memory limit below the current usage (`checkBeforeUpdate`); it also checks again that the
//! cgroup got each controller (its `cgroup.controllers`; like runc on v2, where the control
//! file is missing). Nothing is written before those checks pass. `devices` on a host without
//! any device control is only warned about.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::bpf::DeviceRule;
use super::fs::{read_file, write_file, CgroupFs, HostFs};
use super::writes::{FileWrite, Writes};
use super::{v1, v2, CgroupError, CgroupPlan};

/// `linux.resources`, validated for one container's cgroup: what create and update apply.
/// Built only by [`ResourcesPlan::new`], so holding one means every value passed.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcesPlan {
    /// The resources as given, except that a `blockIO` weight of 0 is dropped (it means
    /// "not set", as in runc: fs/blkio.go `if r.BlkioWeight != 0`; dockerd sends
    /// `"weight": 0` when --blkio-weight is not given).
    resources: LinuxResources,
    /// `devices`, formatted as the kernel reads them: `(allow, "type major:minor access")`.
    devices: Vec<(bool, String)>,
}

/// An update that passed every check and is ready to write ([`CgroupPlan::check_update`]):
/// nothing has been written yet.
#[derive(Debug)]
pub struct CheckedUpdate {
    writes: Writes,
}

impl ResourcesPlan {
    /// Checks every value of `r` that can be checked before the cgroup exists, for a container
    /// whose cgroup is `cgroup` (whether a controller is v1 or v2 changes what is valid). The
    /// same checks run for `create` and `update`, so the two cannot disagree.
    pub fn new(r: &LinuxResources, cgroup: &CgroupPlan) -> Result<ResourcesPlan, CgroupError> {
        Self::new_with(&HostFs, r, cgroup)
    }

    /// [`ResourcesPlan::new`] reading the cgroup2 hierarchy through `fs` (only reads).
    pub(super) fn new_with(
        fs: &dyn CgroupFs,
        r: &LinuxResources,
        cgroup: &CgroupPlan,
    ) -> Result<ResourcesPlan, CgroupError> {
        let mut resources = r.clone();
        check_memory(&resources, cgroup)?;
        check_cpu(&resources)?;
        if let Some(b) = resources.block_io().clone() {
            let b = check_block_io(b)?;
            resources.set_block_io(Some(b));
        }
        check_hugetlb(&resources)?;
        check_rdma(&resources)?;
        check_network(&resources, cgroup)?;
        check_unified(&resources, cgroup)?;
        check_controllers(fs, &resources, cgroup)?;
        let devices = v1::device_rules(resources.devices().as_deref().unwrap_or(&[]))?;
        Ok(ResourcesPlan { resources, devices })
    }

    /// The validated resources.
    pub fn resources(&self) -> &LinuxResources {
        &self.resources
    }

    /// The plan in two parts: everything but `pids`, and `pids` alone (`None` without it).
    /// The cgroupfs driver writes the second once the init is forked: berth's stage 1 forks
    /// the init from inside the cgroup, so a limit of 0 or 1 (runtime-spec 1.3: 0 is a limit)
    /// would refuse that fork. runc, too, sets the resources once its init is ready.
    pub fn split_pids(&self) -> (ResourcesPlan, Option<ResourcesPlan>) {
        let mut rest = self.clone();
        rest.resources.set_pids(None);
        let pids = self.resources.pids().map(|p| {
            let mut only = LinuxResources::default();
            only.set_pids(Some(p));
            ResourcesPlan {
                resources: only,
                devices: Vec::new(),
            }
        });
        (rest, pids)
    }
}

fn check_memory(r: &LinuxResources, cgroup: &CgroupPlan) -> Result<(), CgroupError> {
    let Some(m) = r.memory() else { return Ok(()) };
    let limit = m.limit().unwrap_or(0);
    let swap = m.swap().unwrap_or(0);
    for (name, v) in [
        ("memory.limit", limit),
        ("memory.reservation", m.reservation().unwrap_or(0)),
        ("memory.swap", swap),
    ] {
        if v < -1 {
            return Err(invalid(
                name,
                format!("{v} is negative (only -1, unlimited, is allowed)"),
            ));
        }
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(invalid("memory.swappiness", format!("{s} is above 100")));
        }
    }
    // memory.swap is memory+swap; how it may relate to the limit differs between v1 and v2.
    if cgroup
        .hierarchies
        .iter()
        .any(|h| h.has_v1_controller("memory"))
    {
        v1::check_swap(limit, swap)?;
    } else if cgroup.v2_dir().is_some() {
        v2::swap_to_v2(swap, limit)?;
    }
    Ok(())
}

fn check_cpu(r: &LinuxResources) -> Result<(), CgroupError> {
    let Some(c) = r.cpu() else { return Ok(()) };
    let quota = c.quota().unwrap_or(0);
    if quota < -1 {
        return Err(invalid(
            "cpu.quota",
            format!("{quota} is negative (only -1, unlimited, is allowed)"),
        ));
    }
    if quota > 0 && quota < 1000 {
        return Err(invalid(
            "cpu.quota",
            format!("{quota} is below the kernel's minimum of 1000 µs"),
        ));
    }
    // An explicit 0 is not "unset" (runc reads it so): the kernel has no such period, and a
    // client that sends it must not believe a period took effect.
    if let Some(period) = c.period() {
        if !(1000..=1_000_000).contains(&period) {
            return Err(invalid(
                "cpu.period",
                format!("{period} is outside 1000..=1000000 µs"),
            ));
        }
    }
    if let Some(idle) = c.idle() {
        if !(0..=1).contains(&idle) {
            return Err(invalid("cpu.idle", format!("{idle} is neither 0 nor 1")));
        }
    }
    if let Some(rt) = c.realtime_runtime() {
        if rt < -1 {
            return Err(invalid("cpu.realtimeRuntime", format!("{rt} is negative")));
        }
    }
    for (name, v) in [("cpu.cpus", c.cpus()), ("cpu.mems", c.mems())] {
        let v = v.as_deref().unwrap_or("");
        if !v
            .chars()
            .all(|ch| ch.is_ascii_digit() || ch == ',' || ch == '-')
        {
            return Err(invalid(name, format!("{v:?} is not a list like \"0-2,4\"")));
        }
    }
    Ok(())
}

/// Checks `blockIO` and returns it with its zero weights dropped ([`ResourcesPlan`]).
fn check_block_io(mut b: LinuxBlockIo) -> Result<LinuxBlockIo, CgroupError> {
    if b.weight() == Some(0) {
        b.set_weight(None);
    }
    if b.leaf_weight() == Some(0) {
        b.set_leaf_weight(None);
    }
    let check_weight = |name: &str, w: u16| {
        if (10..=1000).contains(&w) {
            Ok(())
        } else {
            Err(invalid(name, format!("weight {w} is outside 10..=1000")))
        }
    };
    if let Some(w) = b.weight() {
        check_weight("blockIO.weight", w)?;
    }
    if let Some(w) = b.leaf_weight() {
        check_weight("blockIO.leafWeight", w)?;
    }
    for (i, d) in b.weight_device().iter().flatten().enumerate() {
        if d.major() < 0 || d.minor() < 0 {
            return Err(invalid(
                &format!("blockIO.weightDevice[{i}]"),
                "negative device number",
            ));
        }
        if let Some(w) = d.weight() {
            check_weight(&format!("blockIO.weightDevice[{i}]"), w)?;
        }
    }
    for (name, devs) in &v1::throttles(&b) {
        for (i, d) in devs.iter().enumerate() {
            if d.major() < 0 || d.minor() < 0 {
                return Err(invalid(
                    &format!("blockIO.{name}[{i}]"),
                    "negative device number",
                ));
            }
        }
    }
    Ok(b)
}

fn check_hugetlb(r: &LinuxResources) -> Result<(), CgroupError> {
    for (i, l) in r.hugepage_limits().iter().flatten().enumerate() {
        let name = format!("hugepageLimits[{i}]");
        let size = l.page_size();
        if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(&name, format!("invalid page size {size:?}")));
        }
        if l.limit() < -1 {
            return Err(invalid(&name, format!("limit {} is negative", l.limit())));
        }
    }
    Ok(())
}

fn check_rdma(r: &LinuxResources) -> Result<(), CgroupError> {
    for device in r.rdma().iter().flat_map(|m| m.keys()) {
        if device.is_empty() || device.contains(char::is_whitespace) {
            return Err(invalid("rdma", format!("invalid device name {device:?}")));
        }
    }
    Ok(())
}

fn check_network(r: &LinuxResources, cgroup: &CgroupPlan) -> Result<(), CgroupError> {
    // Only a v1 net_prio applies priorities; elsewhere they are reported unapplied, unchecked.
    if !cgroup
        .hierarchies
        .iter()
        .any(|h| h.has_v1_controller("net_prio"))
    {
        return Ok(());
    }
    let priorities = r.network().as_ref().and_then(|n| n.priorities().as_deref());
    for p in priorities.unwrap_or(&[]) {
        if p.name().is_empty() || p.name().contains(char::is_whitespace) {
            return Err(invalid(
                "network.priorities",
                format!("invalid interface name {:?}", p.name()),
            ));
        }
    }
    Ok(())
}

/// The `unified` keys: a v2 hierarchy to write them in, well-formed file names, and none of
/// the core files berth manages. Whether the controller and file exist is known only once the
/// cgroup does ([`CgroupPlan::apply_resources`]).
fn check_unified(r: &LinuxResources, cgroup: &CgroupPlan) -> Result<(), CgroupError> {
    let Some(map) = r.unified().as_ref().filter(|m| !m.is_empty()) else {
        return Ok(());
    };
    if cgroup.v2_dir().is_none() {
        return Err(invalid("unified", "this host has no cgroup v2 hierarchy"));
    }
    let mut keys: Vec<_> = map.keys().collect();
    keys.sort();
    for key in keys {
        let name = format!("unified[{key:?}]");
        let controller = match key.split_once('.') {
            Some((c, _)) if !c.is_empty() && !key.contains('/') && !key.contains('\0') => c,
            _ => {
                return Err(invalid(
                    &name,
                    "not a cgroup v2 file name (<controller>.<file>)",
                ))
            }
        };
        // The core files that place or kill processes or change the tree are berth's own.
        if controller == "cgroup"
            && !matches!(key.as_str(), "cgroup.max.depth" | "cgroup.max.descendants")
        {
            return Err(invalid(&name, "this cgroup core file is managed by berth"));
        }
    }
    Ok(())
}

/// The setting an error names when the memory controller is missing, if `m` asks for
/// anything of it. Shared by [`check_controllers`] and the translation, so both name the same.
fn memory_setting(m: &LinuxMemory) -> Option<&'static str> {
    let limit = m.limit().unwrap_or(0);
    let any = limit != 0
        || m.reservation().unwrap_or(0) != 0
        || m.swap().unwrap_or(0) != 0
        || m.swappiness().is_some()
        || m.disable_oom_killer().is_some()
        || m.kernel_tcp().is_some();
    any.then_some(if limit != 0 { "memory.limit" } else { "memory" })
}

/// [`memory_setting`] for the cpu controller.
fn cpu_setting(c: &LinuxCpu) -> Option<&'static str> {
    let shares = c.shares().unwrap_or(0);
    let any = shares != 0
        || c.quota().unwrap_or(0) != 0
        || c.period().unwrap_or(0) != 0
        || c.burst().is_some()
        || c.idle().is_some()
        || c.realtime_runtime().is_some()
        || c.realtime_period().is_some();
    any.then_some(if shares != 0 { "cpu.shares" } else { "cpu" })
}

/// [`memory_setting`] for the cpuset controller (`cpu.cpus`, `cpu.mems`).
fn cpuset_setting(c: &LinuxCpu) -> Option<&'static str> {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
    if set(c.cpus()) {
        Some("cpu.cpus")
    } else if set(c.mems()) {
        Some("cpu.mems")
    } else {
        None
    }
}

/// Whether `blockIO` (its zero weights dropped) asks for anything.
fn block_io_requested(b: &LinuxBlockIo) -> bool {
    b.weight().is_some()
        || b.leaf_weight().is_some()
        || b.weight_device().as_ref().is_some_and(|v| !v.is_empty())
        || v1::throttles(b).iter().any(|(_, d)| !d.is_empty())
}

/// Every controller the resources need, as `(controllers, setting)` in the translation's
/// order; `controllers` lists the alternatives (blockIO: v1 `blkio` or v2 `io`).
fn needed_controllers(r: &LinuxResources) -> Vec<(&'static [&'static str], &'static str)> {
    let mut needed: Vec<(&'static [&'static str], &'static str)> = Vec::new();
    if let Some(setting) = r.memory().as_ref().and_then(memory_setting) {
        needed.push((&["memory"], setting));
    }
    if r.pids().is_some() {
        needed.push((&["pids"], "pids.limit"));
    }
    if let Some(c) = r.cpu() {
        if let Some(setting) = cpu_setting(c) {
            needed.push((&["cpu"], setting));
        }
        if let Some(setting) = cpuset_setting(c) {
            needed.push((&["cpuset"], setting));
        }
    }
    if r.block_io().as_ref().is_some_and(block_io_requested) {
        needed.push((&["blkio", "io"], "blockIO"));
    }
    if r.hugepage_limits().as_ref().is_some_and(|l| !l.is_empty()) {
        needed.push((&["hugetlb"], "hugepageLimits"));
    }
    if r.rdma().as_ref().is_some_and(|m| !m.is_empty()) {
        needed.push((&["rdma"], "rdma"));
    }
    needed
}

/// A controller the resources need must be bound by a v1 hierarchy or be one the container's
/// cgroup2 directory will get ([`CgroupPlan::v2_controllers_to_come`]); refused now otherwise,
/// with the message the translation would give. When the cgroup2 files cannot be read, the
/// apply step still checks the created cgroup's own `cgroup.controllers`.
fn check_controllers(
    fs: &dyn CgroupFs,
    r: &LinuxResources,
    cgroup: &CgroupPlan,
) -> Result<(), CgroupError> {
    let v2 = match cgroup.v2_dir() {
        None => Some((Vec::new(), PathBuf::new())),
        Some(_) => cgroup.v2_controllers_to_come(fs),
    };
    let Some((v2, source)) = v2 else {
        return Ok(());
    };
    for (controllers, setting) in needed_controllers(r) {
        let bound = controllers.iter().any(|c| {
            cgroup.hierarchies.iter().any(|h| h.has_v1_controller(c)) || v2.iter().any(|v| v == c)
        });
        if bound {
            continue;
        }
        let controllers = controllers.join("/");
        if cgroup.delegated {
            // Rootless: berth may not enable a controller above its own `berth/` directory;
            // whoever delegated the subtree (systemd: `Delegate=`) decides which it gets.
            return Err(invalid(
                setting,
                format!(
                    "rootless: the {controller} controller is not delegated to berth: the container's cgroup.controllers would list only {enabled:?} (as {source} says)",
                    controller = controllers,
                    source = source.display(),
                    enabled = v2.join(" "),
                ),
            ));
        }
        return Err(unavailable(setting, &controllers));
    }
    Ok(())
}

/// Where a controller lives for this container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Target {
    /// The container's directory in the v1 hierarchy bound to the controller.
    V1(PathBuf),
    /// The container's directory in the cgroup2 hierarchy.
    V2(PathBuf),
}

/// Whether resources are applied to a new container or changed on a live one (`berth update`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// At create: the device list is always programmed (runc's defaults at least).
    Create,
    /// `update`: devices are left alone (as in runc), and `memory.checkBeforeUpdate` refuses
    /// a memory limit below the current usage.
    Update,
}

fn invalid(name: &str, reason: impl Into<String>) -> CgroupError {
    CgroupError::InvalidResource {
        name: name.to_string(),
        reason: reason.into(),
    }
}

fn unavailable(name: &str, controller: &str) -> CgroupError {
    invalid(
        name,
        format!("the {controller} controller is not available on this host"),
    )
}

/// The `linux.resources` sections that ask for something, named as config.json spells them
/// (`blockIO`, `devices`, `memory`, ...), sorted; sections with nothing in them (`{}`, `[]`,
/// only nulls) are left out. A container without a cgroup (`--cgroup-manager=disabled`) warns
/// that it ignores exactly these.
pub fn requested_sections(r: &LinuxResources) -> Vec<String> {
    fn is_empty(v: &serde_json::Value) -> bool {
        match v {
            serde_json::Value::Null => true,
            serde_json::Value::Array(a) => a.iter().all(is_empty),
            serde_json::Value::Object(o) => o.values().all(is_empty),
            _ => false,
        }
    }
    let Ok(serde_json::Value::Object(sections)) = serde_json::to_value(r) else {
        return Vec::new();
    };
    let mut names: Vec<String> = sections
        .into_iter()
        .filter(|(_, v)| !is_empty(v))
        .map(|(k, _)| k)
        .collect();
    names.sort();
    names
}

/// Whether `e` is EINVAL from writing `writes[0]`, a v1 `cpu.cfs_period_us` directly followed
/// by the same directory's `cpu.cfs_quota_us` (the order [`v1::cpu`] plans): the other order
/// may be accepted.
fn period_before_quota_refused(e: &CgroupError, writes: &[FileWrite]) -> bool {
    let CgroupError::Write { source, .. } = e else {
        return false;
    };
    match writes {
        [period, quota, ..] => {
            source.raw_os_error() == Some(libc::EINVAL)
                && period.path.file_name() == Some("cpu.cfs_period_us".as_ref())
                && quota.path == period.path.with_file_name("cpu.cfs_quota_us")
        }
        _ => false,
    }
}

impl CgroupPlan {
    /// Apply validated resources to the container's new cgroup at create. Returns the names of
    /// the settings that were present but have no equivalent here (for example
    /// `memory.swappiness` on cgroup v2) so the caller can warn about each. The values were
    /// checked by [`ResourcesPlan::new`]; what depends on the cgroup itself (module docs) is
    /// checked here, before the first write.
    pub fn apply_resources(&self, r: &ResourcesPlan) -> Result<Vec<String>, CgroupError> {
        self.apply_planned(&HostFs, r, ApplyMode::Create, &[])
    }

    /// Change the resources of a live container (`berth update`): only the settings present
    /// in `r` are written.
    pub fn update_resources(&self, r: &ResourcesPlan) -> Result<Vec<String>, CgroupError> {
        self.apply_planned(&HostFs, r, ApplyMode::Update, &[])
    }

    /// The first half of an update: every check, nothing written. A setting named in
    /// `required` (spec names, e.g. `cpu.idle`) that has no effect here is an error: `berth
    /// update --cpu-idle 1` must not succeed doing nothing. The caller may then act elsewhere
    /// (the systemd driver's SetUnitProperties) knowing that the update will not be refused,
    /// and writes it with [`Self::write_update`].
    pub fn check_update(
        &self,
        r: &ResourcesPlan,
        required: &[String],
    ) -> Result<CheckedUpdate, CgroupError> {
        self.check_planned(&HostFs, r, ApplyMode::Update, required)
            .map(|writes| CheckedUpdate { writes })
    }

    /// The second half: write a checked update. Returns the settings that have no effect here.
    pub fn write_update(&self, u: CheckedUpdate) -> Result<Vec<String>, CgroupError> {
        self.write_planned(&HostFs, u.writes)
    }

    /// Both steps at once, validation then application, for the unit tests' fake cgroupfs.
    #[cfg(test)]
    pub(super) fn apply_resources_with(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
        mode: ApplyMode,
    ) -> Result<Vec<String>, CgroupError> {
        self.apply_planned(fs, &ResourcesPlan::new_with(fs, r, self)?, mode, &[])
    }

    pub(super) fn apply_planned(
        &self,
        fs: &dyn CgroupFs,
        r: &ResourcesPlan,
        mode: ApplyMode,
        required: &[String],
    ) -> Result<Vec<String>, CgroupError> {
        let plan = self.check_planned(fs, r, mode, required)?;
        self.write_planned(fs, plan)
    }

    /// The writes `r` needs, every refusal raised here (before anything is written).
    fn check_planned(
        &self,
        fs: &dyn CgroupFs,
        r: &ResourcesPlan,
        mode: ApplyMode,
        required: &[String],
    ) -> Result<Writes, CgroupError> {
        let plan = self.resource_plan(fs, r, mode)?;
        let refused: Vec<String> = plan
            .unapplied
            .iter()
            .filter(|name| required.contains(name))
            .cloned()
            .collect();
        if !refused.is_empty() {
            return Err(CgroupError::NotApplicable { names: refused });
        }
        Ok(plan)
    }

    fn write_planned(&self, fs: &dyn CgroupFs, plan: Writes) -> Result<Vec<String>, CgroupError> {
        let mut i = 0;
        while i < plan.writes.len() {
            let w = &plan.writes[i];
            match write_file(fs, &w.path, &w.value) {
                Err(e) if period_before_quota_refused(&e, &plan.writes[i..]) => {
                    // Under a parent with its own CFS limit the kernel checks quota/period
                    // after each write, so lowering both must write the quota first (raising
                    // both, the period first). runc tries both orders the same way.
                    let quota = &plan.writes[i + 1];
                    write_file(fs, &quota.path, &quota.value)?;
                    write_file(fs, &w.path, &w.value)?;
                    i += 1;
                }
                other => other?,
            }
            i += 1;
        }
        if let Some((dir, rules)) = &plan.device_program {
            fs.attach_device_program(dir, rules)
                .map_err(|source| CgroupError::Devices {
                    path: dir.clone(),
                    source,
                })?;
        }
        Ok(plan.unapplied)
    }

    /// Where `controller` is available to this container, if anywhere.
    pub(super) fn target(
        &self,
        fs: &dyn CgroupFs,
        controller: &str,
    ) -> Result<Option<Target>, CgroupError> {
        if let Some(h) = self
            .hierarchies
            .iter()
            .find(|h| h.has_v1_controller(controller))
        {
            return Ok(Some(Target::V1(self.dir(h))));
        }
        if let Some(dir) = self.v2_dir() {
            // The leaf's cgroup.controllers lists what its parent enabled for it.
            let available = read_file(fs, &dir.join("cgroup.controllers"))?;
            if available.split_whitespace().any(|c| c == controller) {
                return Ok(Some(Target::V2(dir)));
            }
        }
        Ok(None)
    }

    /// The controllers the container's cgroup2 directory has (it exists: `update`) or will have
    /// once `create` made it: what its nearest existing ancestor hands down. The hierarchy's
    /// root, and any directory on the way that berth does not own, hand down their
    /// `cgroup.subtree_control`; berth's own parents and the directories `create` makes enable
    /// everything they get (`enable_v2_controllers`). `None` when a file cannot be read or
    /// there is no cgroup2 hierarchy.
    /// With them, the file they were read from.
    pub(super) fn v2_controllers_to_come(
        &self,
        fs: &dyn CgroupFs,
    ) -> Option<(Vec<String>, PathBuf)> {
        let h = self.hierarchies.iter().find(|h| h.is_v2())?;
        let words = |path: PathBuf| -> Option<(Vec<String>, PathBuf)> {
            let text = fs.read(&path).ok()?;
            Some((text.split_whitespace().map(str::to_string).collect(), path))
        };
        let leaf = self.dir(h);
        if fs.exists(&leaf) {
            return words(leaf.join("cgroup.controllers"));
        }
        if self.systemd.is_some() {
            // systemd makes the slices and the scope, and for a delegated unit enables in
            // them the controllers it manages (systemd.resource-control(5), "Delegate="),
            // of those the host has.
            let (root, path) = words(h.mount_point.join("cgroup.controllers"))?;
            return Some((
                root.into_iter()
                    .filter(|c| super::systemd::DELEGATED_CONTROLLERS.contains(&c.as_str()))
                    .collect(),
                path,
            ));
        }
        let mut handed_down = words(h.mount_point.join("cgroup.subtree_control"))?;
        let components: Vec<_> = self.relative_path.components().collect();
        let mut dir = h.mount_point.clone();
        for (depth, component) in components[..components.len().saturating_sub(1)]
            .iter()
            .enumerate()
        {
            dir.push(component);
            if !fs.exists(&dir) {
                break; // created by berth, from here down: each enables what it gets
            }
            if depth >= self.owned_parent_depth {
                handed_down = words(dir.join("cgroup.subtree_control"))?;
            }
        }
        Some(handed_down)
    }

    /// The container's directory in the cgroup2 hierarchy, if the host mounts one.
    pub(super) fn v2_dir(&self) -> Option<PathBuf> {
        self.hierarchies
            .iter()
            .find(|h| h.is_v2())
            .map(|h| self.dir(h))
    }

    /// The target of `controller`, or an error naming the setting that needs it.
    fn need(
        &self,
        fs: &dyn CgroupFs,
        controller: &str,
        setting: &str,
    ) -> Result<Target, CgroupError> {
        self.target(fs, controller)?
            .ok_or_else(|| unavailable(setting, controller))
    }

    /// Translates validated resources into the writes for this cgroup as it is now.
    pub(super) fn resource_plan(
        &self,
        fs: &dyn CgroupFs,
        planned: &ResourcesPlan,
        mode: ApplyMode,
    ) -> Result<Writes, CgroupError> {
        let r = &planned.resources;
        let mut plan = Writes::default();
        self.plan_memory(fs, r, mode, &mut plan)?;
        self.plan_pids(fs, r, &mut plan)?;
        self.plan_cpu(fs, r, &mut plan)?;
        self.plan_block_io(fs, r, &mut plan)?;
        self.plan_hugetlb(fs, r, &mut plan)?;
        self.plan_rdma(fs, r, &mut plan)?;
        self.plan_network(fs, r, &mut plan)?;
        self.plan_unified(fs, r, &mut plan)?;
        self.plan_devices(fs, r, &planned.devices, mode, &mut plan)?;
        Ok(plan)
    }

    fn plan_memory(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
        mode: ApplyMode,
        plan: &mut Writes,
    ) -> Result<(), CgroupError> {
        let Some(m) = r.memory() else { return Ok(()) };
        let limit = m.limit().unwrap_or(0);
        let reservation = m.reservation().unwrap_or(0);
        let swap = m.swap().unwrap_or(0);
        if let Some(setting) = memory_setting(m) {
            match self.need(fs, "memory", setting)? {
                Target::V1(dir) => {
                    let state = v1::MemoryState::read(fs, &dir)?;
                    if mode == ApplyMode::Update && m.check_before_update() == Some(true) {
                        check_usage(fs, &dir.join("memory.usage_in_bytes"), limit)?;
                    }
                    v1::memory(plan, &dir, limit, reservation, swap, state)?;
                    v1::memory_extras(plan, fs, &dir, m);
                }
                Target::V2(dir) => {
                    if mode == ApplyMode::Update && m.check_before_update() == Some(true) {
                        check_usage(fs, &dir.join("memory.current"), limit)?;
                    }
                    let has_swap = fs.exists(&dir.join("memory.swap.max"));
                    v2::memory(plan, &dir, limit, reservation, swap, has_swap)?;
                    // No v2 equivalent (runc ignores them too).
                    for (name, set) in [
                        ("memory.swappiness", m.swappiness().is_some()),
                        ("memory.disableOOMKiller", m.disable_oom_killer().is_some()),
                        ("memory.kernelTCP", m.kernel_tcp().is_some()),
                    ] {
                        if set {
                            plan.unapplied(name);
                        }
                    }
                }
            }
        }
        // Kernel memory limits are gone from the kernel (5.16+) and from runc.
        if m.kernel().is_some() {
            plan.unapplied("memory.kernel");
        }
        if m.use_hierarchy() == Some(false) {
            plan.unapplied("memory.useHierarchy");
        }
        Ok(())
    }

    fn plan_pids(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
        plan: &mut Writes,
    ) -> Result<(), CgroupError> {
        // runtime-spec 1.3 (and runc ≥ 1.4): a `pids` object without `limit` sets nothing
        // (bundle::normalize_pids drops it before the typed parse), 0 is a limit of 0 tasks,
        // a negative value is "max".
        let Some(p) = r.pids() else { return Ok(()) };
        // Same file and format on v1 and v2.
        let (Target::V1(dir) | Target::V2(dir)) = self.need(fs, "pids", "pids.limit")?;
        v1::pids(plan, &dir, p.limit());
        Ok(())
    }

    fn plan_cpu(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
        plan: &mut Writes,
    ) -> Result<(), CgroupError> {
        let Some(c) = r.cpu() else { return Ok(()) };
        let shares = c.shares().unwrap_or(0);
        let quota = c.quota().unwrap_or(0);
        let period = c.period().unwrap_or(0);
        if let Some(setting) = cpu_setting(c) {
            match self.need(fs, "cpu", setting)? {
                Target::V1(dir) => {
                    v1::cpu(plan, &dir, shares, quota, period);
                    v1::cpu_extras(plan, fs, &dir, c);
                }
                Target::V2(dir) => {
                    v2::cpu(plan, &dir, shares, quota, period);
                    v2::cpu_extras(plan, &dir, c);
                }
            }
        }
        let cpus = c.cpus().as_deref().unwrap_or("");
        let mems = c.mems().as_deref().unwrap_or("");
        if let Some(setting) = cpuset_setting(c) {
            // Same files and format on v1 and v2.
            let (Target::V1(dir) | Target::V2(dir)) = self.need(fs, "cpuset", setting)?;
            v1::cpuset(plan, &dir, cpus, mems);
        }
        Ok(())
    }

    fn plan_block_io(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
        plan: &mut Writes,
    ) -> Result<(), CgroupError> {
        // Zero weights were dropped by ResourcesPlan::new.
        let Some(b) = r.block_io().as_ref().filter(|b| block_io_requested(b)) else {
            return Ok(());
        };
        if let Some(Target::V1(dir)) = self.target(fs, "blkio")? {
            v1::block_io(plan, fs, &dir, b);
            return Ok(());
        }
        match self.target(fs, "io")? {
            Some(Target::V2(dir)) | Some(Target::V1(dir)) => v2::block_io(plan, fs, &dir, b),
            None => return Err(unavailable("blockIO", "blkio/io")),
        }
        Ok(())
    }

    fn plan_hugetlb(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
        plan: &mut Writes,
    ) -> Result<(), CgroupError> {
        let limits = r.hugepage_limits().as_deref().unwrap_or(&[]);
        if limits.is_empty() {
            return Ok(());
        }
        let target = self.need(fs, "hugetlb", "hugepageLimits")?;
        for (i, l) in limits.iter().enumerate() {
            let name = format!("hugepageLimits[{i}]");
            let size = l.page_size();
            let (dir, file, value) = match &target {
                Target::V1(dir) => (
                    dir,
                    format!("hugetlb.{size}.limit_in_bytes"),
                    l.limit().to_string(),
                ),
                Target::V2(dir) => (
                    dir,
                    format!("hugetlb.{size}.max"),
                    if l.limit() == -1 {
                        "max".into()
                    } else {
                        l.limit().to_string()
                    },
                ),
            };
            if !fs.exists(&dir.join(&file)) {
                return Err(invalid(
                    &name,
                    format!("page size {size:?} is not supported by this host (no {file})"),
                ));
            }
            // config-linux.md (1.1+): the limit is on reservations where the kernel accounts
            // them (Linux 5.7+: `hugetlb.<size>.rsvd.max`, v1 `.rsvd.limit_in_bytes`), else
            // on page faults. Both are written, as runc ≥ 1.1.10 does: the fault limit keeps
            // what older readers of the cgroup see, the reservation limit makes an mmap past
            // it fail at mmap rather than with SIGBUS at first touch. A kernel without the
            // rsvd file gets the fault limit alone — the spec's fallback, not a dropped value.
            let rsvd = match file.strip_suffix(".limit_in_bytes") {
                Some(stem) => format!("{stem}.rsvd.limit_in_bytes"),
                None => format!("hugetlb.{size}.rsvd.max"),
            };
            let rsvd_exists = fs.exists(&dir.join(&rsvd));
            plan.write(dir, &file, value.clone());
            if rsvd_exists {
                plan.write(dir, &rsvd, value);
            }
        }
        Ok(())
    }

    fn plan_rdma(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
        plan: &mut Writes,
    ) -> Result<(), CgroupError> {
        let Some(map) = r.rdma().as_ref().filter(|m| !m.is_empty()) else {
            return Ok(());
        };
        let (Target::V1(dir) | Target::V2(dir)) = self.need(fs, "rdma", "rdma")?;
        let mut devices: Vec<_> = map.iter().collect();
        devices.sort_by(|a, b| a.0.cmp(b.0));
        for (device, limit) in devices {
            let mut value = device.clone();
            if let Some(h) = limit.hca_handles() {
                value.push_str(&format!(" hca_handle={h}"));
            }
            if let Some(o) = limit.hca_objects() {
                value.push_str(&format!(" hca_object={o}"));
            }
            if value != *device {
                plan.write(&dir, "rdma.max", value);
            }
        }
        Ok(())
    }

    fn plan_network(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
        plan: &mut Writes,
    ) -> Result<(), CgroupError> {
        let Some(n) = r.network() else { return Ok(()) };
        if let Some(class_id) = n.class_id() {
            match self.target(fs, "net_cls")? {
                Some(Target::V1(dir)) => plan.write(&dir, "net_cls.classid", class_id.to_string()),
                // cgroup v2 has no net_cls (runc ignores it there too).
                _ => plan.unapplied("network.classID"),
            }
        }
        let priorities = n.priorities().as_deref().unwrap_or(&[]);
        if !priorities.is_empty() {
            match self.target(fs, "net_prio")? {
                Some(Target::V1(dir)) => {
                    for p in priorities {
                        plan.write(
                            &dir,
                            "net_prio.ifpriomap",
                            format!("{} {}", p.name(), p.priority()),
                        );
                    }
                }
                _ => plan.unapplied("network.priorities"),
            }
        }
        Ok(())
    }

    fn plan_unified(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
        plan: &mut Writes,
    ) -> Result<(), CgroupError> {
        let Some(map) = r.unified().as_ref().filter(|m| !m.is_empty()) else {
            return Ok(());
        };
        // ResourcesPlan::new checked that there is a v2 hierarchy and that each key is
        // `<controller>.<file>`.
        let Some(dir) = self.v2_dir() else {
            return Err(invalid("unified", "this host has no cgroup v2 hierarchy"));
        };
        let available = read_file(fs, &dir.join("cgroup.controllers"))?;
        let mut keys: Vec<_> = map.iter().collect();
        keys.sort_by(|a, b| a.0.cmp(b.0));
        for (key, value) in keys {
            let name = format!("unified[{key:?}]");
            let controller = key.split_once('.').map_or("", |(c, _)| c);
            if controller != "cgroup" && !available.split_whitespace().any(|c| c == controller) {
                return Err(invalid(
                    &name,
                    format!("the {controller} controller is not available on this host"),
                ));
            }
            if !fs.exists(&dir.join(key)) {
                return Err(invalid(
                    &name,
                    format!("no such file in the {controller} controller"),
                ));
            }
            plan.write(&dir, key, value.clone());
        }
        Ok(())
    }

    fn plan_devices(
        &self,
        fs: &dyn CgroupFs,
        r: &LinuxResources,
        formatted: &[(bool, String)],
        mode: ApplyMode,
        plan: &mut Writes,
    ) -> Result<(), CgroupError> {
        // Validated and formatted by ResourcesPlan::new, also for update, which does not
        // apply them: bad rules fail the same everywhere.
        let rules = r.devices().as_deref().unwrap_or(&[]);
        if mode == ApplyMode::Update {
            if !rules.is_empty() {
                plan.unapplied("devices");
            }
            return Ok(());
        }
        if self.delegated {
            // Rootless: loading a cgroup device program needs CAP_BPF or CAP_SYS_ADMIN, which
            // an unprivileged berth lacks; Plan::new refused any `devices` rule, and in the
            // container's user namespace no device node can be made (only bind mounts of the
            // host's, opened with the caller's permissions).
            return Ok(());
        }
        // Like runc, the device list is always programmed (deny all, the config's rules, runc's
        // defaults), even when the config has none.
        match self.target(fs, "devices")? {
            Some(Target::V1(dir)) => v1::devices(plan, &dir, formatted),
            _ => match self.v2_dir() {
                Some(dir) => {
                    let mut program = Vec::new();
                    for (allow, text) in formatted
                        .iter()
                        .map(|(a, t)| (*a, t.as_str()))
                        .chain(v1::DEFAULT_ALLOWED_DEVICES.iter().map(|t| (true, *t)))
                    {
                        program.push(DeviceRule::parse(allow, text).expect("validated rule"));
                    }
                    plan.device_program = Some((dir, program));
                }
                None => {
                    if !rules.is_empty() {
                        plan.unapplied("devices");
                    }
                }
            },
        }
        Ok(())
    }
}

/// `memory.checkBeforeUpdate`: refuse a limit below what the cgroup uses now.
fn check_usage(fs: &dyn CgroupFs, usage_file: &Path, limit: i64) -> Result<(), CgroupError> {
    if limit <= 0 {
        return Ok(());
    }
    let usage: i64 = read_file(fs, usage_file)?.trim().parse().unwrap_or(0);
    if limit < usage {
        return Err(invalid(
            "memory.limit",
            format!("{limit} is below the current usage {usage} (checkBeforeUpdate)"),
        ));
    }
    Ok(())
}
