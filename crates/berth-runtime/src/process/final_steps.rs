//! The last steps before `execve`, shared by the container init and `berth exec`'s process so
//! both get the same limits, credentials and restrictions (and, once seccomp lands, the same
//! filter: it belongs at the end of [`run`]).

use std::path::Path;

use super::init::InitError;
use super::{creds, exec, sys};
use crate::bundle::ProcessPlan;

/// rlimits, oom_score_adj, cwd, user and capabilities, program lookup, no_new_privs. With
/// `rearm_parent_death`, the parent-death signal (cleared by the uid change) is set again: the
/// init keeps it until `create` commits; an exec'd process must not have it, or it would die
/// with `berth exec --detach`.
pub(super) fn run(
    process: &ProcessPlan,
    rearm_parent_death: bool,
) -> Result<exec::Program, InitError> {
    creds::apply_rlimits(&process.rlimits)?; // as root: raising a limit may need privileges
    creds::apply_oom_score_adj(process.oom_score_adj)?;
    let cwd_done = nix::unistd::chdir(&process.cwd).is_ok(); // as root, in case the user cannot reach it yet
    creds::switch_user(process)?; // bounding set, groups, uid, capability sets
    if rearm_parent_death {
        sys::die_with_parent(0).map_err(InitError::ParentDeath)?; // the uid change cleared it
    }
    if !cwd_done {
        chdir(&process.cwd)?; // the cwd may be reachable only by the user (root_squash-like mounts)
    }
    let program = exec::Program::resolve(process)?; // as the user: "not found" fails create, not start
    creds::set_no_new_privs(process.no_new_privileges)?; // last: nothing berth runs after needs privileges
    Ok(program)
}

fn chdir(path: &Path) -> Result<(), InitError> {
    nix::unistd::chdir(path).map_err(|source| InitError::Chdir {
        path: path.to_path_buf(),
        source,
    })
}
