//! `update`: change the resource limits of a live container (runc `update`).

use oci_spec::runtime::LinuxResources;

use super::{lock_for, ContainerError, Locked, Status};
use crate::state::Store;

/// Apply `resources` to a created, running or paused container's cgroup. Only the settings
/// present are written; devices are not changed (as in runc). Returns the names of settings
/// that have no effect here, for the caller to warn about.
pub fn update(
    store: &Store,
    id: &str,
    resources: &LinuxResources,
) -> Result<Vec<String>, ContainerError> {
    let Locked {
        container: _lock,
        state,
        ..
    } = lock_for(
        store,
        id,
        "update",
        &[Status::Created, Status::Running, Status::Paused],
    )?;
    let Some(cgroup) = &state.cgroup else {
        return Ok(Vec::new());
    };
    Ok(cgroup.update_resources(resources)?)
}
