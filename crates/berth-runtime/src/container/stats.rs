//! Resource usage of a container, the one function the CLI (`berth events --stats`) and the
//! shim both call.

use serde::Serialize;

use super::{cgroup_of, status, ContainerError, Status};
use crate::cgroups::Stats;
use crate::state::{ContainerId, Store};

/// runc's event envelope: `{"type":"stats","id":..,"data":{..}}` or `{"type":"oom","id":..}`.
#[derive(Debug, Clone, Serialize)]
pub struct StatsEvent {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

/// Current usage of a created, running or paused container. A container without a cgroup
/// (`--cgroup-manager=disabled`) has no usage to read: an error, whatever its status.
pub fn stats(store: &Store, id: &str) -> Result<Stats, ContainerError> {
    let cid = ContainerId::new(id)?;
    let state = store.read(&cid)?;
    let cgroup = cgroup_of(&state)?;
    let current = status(&state);
    if matches!(current, Status::Stopped | Status::Creating) {
        return Err(ContainerError::WrongState {
            op: "stats",
            id: state.id,
            status: current,
            hint: "",
        });
    }
    Ok(cgroup.stats()?)
}
