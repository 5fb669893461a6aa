//! `update`: change the resource limits of a live container (runc `update`).

use oci_spec::runtime::LinuxResources;

use super::{status, ContainerError, Status};
use crate::state::{ContainerId, Store};

/// Apply `resources` to a created, running or paused container's cgroup. Only the settings
/// present are written; devices are not changed (as in runc). Returns the names of settings
/// that have no effect here, for the caller to warn about.
pub fn update(
    store: &Store,
    id: &str,
    resources: &LinuxResources,
) -> Result<Vec<String>, ContainerError> {
    let id = ContainerId::new(id)?;
    let container = store.lock(&id)?;
    let state = container.load()?;
    let current = status(&state);
    if !matches!(current, Status::Created | Status::Running | Status::Paused) {
        return Err(ContainerError::WrongState {
            op: "update",
            id: state.id,
            status: current,
            hint: "",
        });
    }
    let Some(cgroup) = &state.cgroup else {
        return Ok(Vec::new());
    };
    Ok(cgroup.update_resources(resources)?)
}
