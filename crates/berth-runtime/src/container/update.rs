//! `update`: change the resource limits of a live container (runc `update`).

use oci_spec::runtime::LinuxResources;

use super::{cgroup_of, lock, ContainerError, Status};
use crate::cgroups::ResourcesPlan;
use crate::state::Store;

/// Apply `resources` to a created, running or paused container's cgroup. Only the settings
/// present are written; devices are not changed (as in runc). Returns the names of settings
/// that have no effect here, for the caller to warn about. A container without a cgroup
/// (`--cgroup-manager=disabled`) has no limits to change: an error, whatever its status.
pub fn update(
    store: &Store,
    id: &str,
    resources: &LinuxResources,
) -> Result<Vec<String>, ContainerError> {
    update_requiring(store, id, resources, &[])
}

/// [`update`], except that the settings named in `required` (spec names such as `cpu.idle`;
/// the ones a user asked for by flag) must take effect: if one has no equivalent here, the
/// update fails before anything is written.
pub fn update_requiring(
    store: &Store,
    id: &str,
    resources: &LinuxResources,
    required: &[String],
) -> Result<Vec<String>, ContainerError> {
    let locked = lock(store, id)?;
    let cgroup = cgroup_of(&locked.state)?;
    locked.check_status(
        "update",
        &[Status::Created, Status::Running, Status::Paused],
    )?;
    // The same checks as create's (in Plan::new), before anything is written.
    let planned = ResourcesPlan::new(resources, cgroup)?;
    // Every refusal of the cgroup files' side too, before systemd or any file is touched: an
    // update is applied whole or not at all (no MemoryMax on the scope with the files left
    // as they were).
    let checked = cgroup.check_update(&planned, required)?;
    if let Some(cpu) = planned.resources().cpu() {
        if let Some(runtime) = cpu.realtime_runtime() {
            // berth's own `berth/` parent has no real-time budget of its own (rt_budget.rs).
            cgroup.grant_rt_budget(runtime, cpu.realtime_period(), &[])?;
        }
    }
    // The systemd driver: systemd first, so that it keeps what the files get next.
    cgroup.update_systemd_properties(&planned)?;
    Ok(cgroup.write_update(checked)?)
}
