//! `pause` and `resume`: freeze and thaw every process of the container through its cgroup
//! (runc `pause`/`resume`; the runtime-spec has no such operations). The paused status is
//! derived from the freezer, never stored.

use super::{lock_for, ContainerError, Status};
use crate::cgroups::{CgroupPlan, FreezerState};
use crate::state::Store;

/// Freeze a created or running container.
pub fn pause(store: &Store, id: &str) -> Result<(), ContainerError> {
    let locked = lock_for(store, id, "pause", &[Status::Running, Status::Created])?;
    cgroup(&locked.state)?.freeze()?;
    Ok(())
}

/// Thaw a paused container.
pub fn resume(store: &Store, id: &str) -> Result<(), ContainerError> {
    let locked = lock_for(store, id, "resume", &[Status::Paused])?;
    cgroup(&locked.state)?.thaw()?;
    Ok(())
}

fn cgroup(state: &crate::state::ContainerState) -> Result<&CgroupPlan, ContainerError> {
    state.cgroup.as_ref().ok_or(ContainerError::Cgroup(
        crate::cgroups::CgroupError::NoFreezer,
    ))
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
