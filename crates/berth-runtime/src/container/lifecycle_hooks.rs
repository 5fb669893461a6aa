//! The lifecycle operations' side of the hooks (hooks/ has the table of who runs what): the
//! state JSON a hook reads, what `create` saves so that `start` and `delete` can run
//! poststart and poststop, and running those two (their failures are warnings: config.md).

use serde_json::Value;

use super::{OciState, Status};
use crate::bundle::Plan;
use crate::hooks::{self, HookKind, Hooks};
use crate::state::ContainerState;

/// runtime.md "State" for a hook, with the status the spec gives that hook.
pub(super) fn state_json(state: &ContainerState, pid: i32, status: Status) -> String {
    let mut s = OciState::new(state);
    s.pid = pid;
    s.status = status;
    serde_json::to_string(&s).expect("the state always serializes")
}

/// The parts of config.json later operations need, kept in the state (`config`): the hooks
/// (for start and delete), the process (the base of `exec` without `--process`, as runc) and
/// the seccomp profile (`bundle::SavedConfig`, taken from the config by `Plan::new`).
pub(super) fn saved_config(plan: &Plan) -> Value {
    serde_json::to_value(&plan.saved_config).expect("the saved config always serializes")
}

/// Runs the hooks of `kind` recorded in `state`; a failure is logged as a warning.
pub(super) fn run_warning_only(state: &ContainerState, kind: HookKind, pid: i32, status: Status) {
    let hooks = match Hooks::from_saved(state.config.as_ref()) {
        Ok(h) => h,
        Err(e) => {
            crate::log_warn!("container {:?}: {e}", state.id);
            return;
        }
    };
    if !hooks.has(kind) {
        return;
    }
    // In the bundle directory with berth's environment, as runc runs them.
    let ctx = hooks::HookContext {
        cwd: Some(&state.bundle),
        default_env: None,
    };
    for e in hooks::run_each(&hooks, kind, &state_json(state, pid, status), ctx) {
        crate::log_warn!("container {:?}: {e}", state.id);
    }
}
