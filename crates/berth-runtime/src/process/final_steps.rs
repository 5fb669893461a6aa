//! The last steps before `execve`, shared by the container init and `berth exec`'s process so
//! both get the same limits, credentials, LSM label and seccomp filter.

use std::path::Path;

use super::{attrs, creds, exec, guard};
use crate::bundle::{ContainerAttrs, IdList, ProcessPlan};
use crate::lsm::LsmPlan;
use crate::seccomp::{Listener, SeccompPlan};
use crate::sys;

/// A final step that failed.
#[derive(Debug, thiserror::Error)]
pub enum FinalStepsError {
    #[error(transparent)]
    Creds(#[from] creds::CredsError),
    #[error(transparent)]
    Guard(#[from] guard::GuardError),
    #[error(transparent)]
    Lsm(#[from] crate::lsm::LsmError),
    #[error(transparent)]
    CloseFds(#[from] sys::CloexecError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error("set the parent-death signal (prctl PR_SET_PDEATHSIG)")]
    ParentDeath(#[source] nix::Error),
    #[error("change to the working directory {path}")]
    Chdir {
        path: std::path::PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    #[error(transparent)]
    Attrs(#[from] attrs::AttrsError),
}

/// What the process gets beyond its `process` fields: the container-wide attributes, its
/// final CPU affinity, and what confines it beyond its credentials.
pub(super) struct Restrictions<'a> {
    /// `linux.personality` and `linux.memoryPolicy`.
    pub attrs: &'a ContainerAttrs,
    /// `process.execCPUAffinity.final`: `berth exec`'s processes only (config.md: not
    /// applicable to the init).
    pub final_cpus: Option<&'a IdList>,
    /// `linux.seccomp`, compiled.
    pub seccomp: Option<&'a SeccompPlan>,
    /// Where to send the seccomp notify fd (`listenerPath`), connected before pivot_root.
    pub listener: Option<Listener>,
    /// The LSM exec label to set (the init's; `berth exec` sets its own earlier).
    pub lsm: Option<&'a LsmPlan>,
}

/// rlimits, oom_score_adj, scheduler, I/O priority, memory policy, personality, final CPU
/// affinity, cwd, LSM label, user and capabilities, program lookup, no_new_privs and seccomp. With `rearm_parent_death`, the parent-death signal (cleared by
/// the uid change) is set again: the init keeps it until `create` commits; an exec'd process
/// must not have it, or it would die with `berth exec --detach`.
///
/// Every fd from `keep_fds` on is marked close-on-exec and the signal mask is reset here,
/// before any filter is loaded: they need close_range and rt_sigprocmask, which a profile may
/// deny or (close_range) not know, and so that as little as possible runs filtered.
pub(super) fn run(
    process: &ProcessPlan,
    rearm_parent_death: bool,
    keep_fds: u32,
    r: Restrictions,
) -> Result<exec::Program, FinalStepsError> {
    creds::apply_rlimits(&process.rlimits)?; // as root: raising a limit may need privileges
    creds::apply_oom_score_adj(process.oom_score_adj)?;
    attrs::apply(process, r.attrs)?; // as root: raising priorities needs CAP_SYS_NICE; before any filter, which may deny these calls
    if let Some(cpus) = r.final_cpus {
        // In the container's cgroup (joined by stage 1) and before any filter: the spec's
        // "after the transition to the container's cgroup".
        attrs::set_cpus("final", cpus)?;
    }
    let cwd_done = nix::unistd::chdir(&process.cwd).is_ok(); // as root, in case the user cannot reach it yet
    if cwd_done {
        // Before any filter: a profile may deny getcwd (runtime-tools' linux_seccomp does).
        guard::verify_cwd(&process.cwd)?; // CVE-2024-21626: /proc/self/fd/N must not lead out of the root
    }
    if let Some(lsm) = r.lsm {
        lsm.apply(Path::new("/proc"))?; // exec labels, through verified procfs writes (CVE-2019-16884)
    }
    // seccomp needs no_new_privs or CAP_SYS_ADMIN. Without noNewPrivileges the filter must go
    // in now, while berth is still root with every capability (runc's finalizeNamespace);
    // berth's remaining syscalls (setgroups, setres[ug]id, capset, prctl, chdir, stat, openat,
    // sendmsg/recvmsg on the channel, write/close on exec.fifo, execve) then run filtered, so a
    // profile that denies them fails create, as with runc.
    sys::reset_signals(); // the program starts with an empty signal mask, not berth's
    sys::cloexec_from(keep_fds)?; // only stdio and the preserved fds survive execve (CVE-2024-21626)
    let early_seccomp = !process.no_new_privileges;
    let mut listener = r.listener;
    if early_seccomp {
        crate::seccomp::apply(r.seccomp, listener.take())?;
    }
    creds::switch_user(process)?; // bounding set, groups, uid, capability sets
    if rearm_parent_death {
        sys::die_with_parent(0).map_err(FinalStepsError::ParentDeath)?; // the uid change cleared it
    }
    if !cwd_done {
        chdir(&process.cwd)?; // the cwd may be reachable only by the user (root_squash-like mounts)
        guard::verify_cwd(&process.cwd)?; // CVE-2024-21626, as above
    }
    let program = exec::Program::resolve(process)?; // as the user: "not found" fails create, not start
    creds::set_no_new_privs(process.no_new_privileges)?; // nothing berth runs after needs privileges

    // With no_new_privs the filter is loaded as late as possible while errors still reach
    // `create` and the notify fd reaches the listener during create (runc's order). Only the
    // handshake (sendmsg/recvmsg, prctl), the exec.fifo wait (openat, write, close), the
    // startContainer hooks, the CVE-2019-5736 check (openat, fstat, read, close) and execve
    // run after it: profiles must allow those, as for runc.
    crate::phase!("init: rlimits, creds, caps");
    if !early_seccomp {
        crate::seccomp::apply(r.seccomp, listener)?;
    }
    crate::phase!("init: seccomp");
    Ok(program)
}

fn chdir(path: &Path) -> Result<(), FinalStepsError> {
    nix::unistd::chdir(path).map_err(|source| FinalStepsError::Chdir {
        path: path.to_path_buf(),
        source,
    })
}
