//! `pause` and `resume`: freeze and thaw every process of the container through its cgroup
//! (runc `pause`/`resume`; the runtime-spec has no such operations). The paused status is
//! derived from the freezer, never stored.

use super::{cgroup_of, lock, ContainerError, Status};
use crate::cgroups::{CgroupPlan, FreezerState};
use crate::state::Store;

/// Freeze a created or running container.
pub fn pause(store: &Store, id: &str) -> Result<(), ContainerError> {
    let locked = lock(store, id)?;
    // A container without a cgroup is refused first: no status would make pausing possible.
    let cgroup = cgroup_of(&locked.state)?;
    locked.check_status("pause", &[Status::Running, Status::Created])?;
    cgroup.freeze()?;
    Ok(())
}

/// Thaw a paused container.
pub fn resume(store: &Store, id: &str) -> Result<(), ContainerError> {
    let locked = lock(store, id)?;
    let cgroup = cgroup_of(&locked.state)?;
    locked.check_status("resume", &[Status::Paused])?;
    cgroup.thaw()?;
    Ok(())
}

/// After SIGKILL to a paused container, thaw it: frozen tasks (v1 freezer) do not act on the
/// signal until thawed, so without this `kill`/`delete --force` would wait forever.
pub(super) fn thaw_after_kill(
    cgroup: &CgroupPlan,
    was: Status,
    signal: i32,
) -> Result<(), ContainerError> {
    if was == Status::Paused
        && signal == libc::SIGKILL
        && cgroup.freezer_state() != FreezerState::Thawed
    {
        cgroup.thaw()?;
    }
    Ok(())
}
