//! `berth exec`'s processes: a stage-1 fork that joins the container's cgroup and
//! namespaces, and the exec'd process it forks inside them (a joined pid namespace only
//! applies to children, as for the init). No re-exec of berth: the same channel, credentials
//! and final steps as the init.
//!
//! ```text
//!  berth exec (parent)                  exec stage 1 (fork)                 process (clone CLONE_PARENT)
//!  ───────────────────                  ───────────────────                 ────────────────────────────
//!  pidfd + ns fds of the init,
//!  checked against its start time
//!  [execCPUAffinity.initial: set on
//!   itself for the fork, then restored]
//!  fork ──────────────────────────────▶ PR_SET_PDEATHSIG(SIGKILL)
//!                                       join the container's cgroup
//!                                       setns user (then uid/gid 0), then
//!                                       ipc uts net pid cgroup time, mnt last
//!                                       clone(CLONE_PARENT) ──────────────▶ waits until stage 1 exits
//!      ◀──────────────── InitPid(pid)   exit(0)
//!  reap stage 1                                                             setsid
//!                                                                           [terminal: pty from /dev/pts/ptmx]
//!      ◀──────────────────────────────────────────────────────────────────  Console (+ master fd)
//!                                                                           final steps (scheduler, ioprio, mempolicy,
//!                                                                           personality, execCPUAffinity.final,
//!                                                                           LSM label, creds, seccomp)
//!                                                                           execve: the channel closes (CLOEXEC)
//!  EOF on the channel: exec'd (an Error message instead: it failed)
//! ```

use std::os::fd::{AsFd, OwnedFd};

use nix::sched::{setns, CloneFlags};
use nix::unistd::{setresgid, setresuid, Gid, Uid};

use super::channel::{Channel, ChannelError, Msg};
use super::guard::OwnExe;
use super::{console, final_steps, ProcessError};
use crate::bundle::ProcessPlan;
use crate::cgroups::CgroupPlan;
use crate::sys;

/// One namespace of the container to join: its clone flag, its name, an fd opened from
/// `/proc/<init>/ns/<name>` (checked by the caller against the init's start time).
#[derive(Debug)]
pub struct JoinNs {
    pub flag: libc::c_int,
    pub name: &'static str,
    pub fd: OwnedFd,
}

/// What the exec'd process needs, decided by the parent before the fork.
#[derive(Debug)]
pub struct ExecRequest<'a> {
    pub process: &'a ProcessPlan,
    /// In join order: user first, mount last.
    pub namespaces: Vec<JoinNs>,
    /// The cgroups to join: the container's, or with `exec --cgroup` one plan per sub-cgroup
    /// path (cgroups/sub.rs); empty for a container without a cgroup.
    pub cgroups: &'a [CgroupPlan],
    pub preserve_fds: u32,
    /// The AppArmor profile / SELinux label for the exec (applied like the init's).
    pub lsm: &'a crate::lsm::LsmPlan,
    /// The container's personality and memory policy (from the config saved at create).
    pub attrs: &'a crate::bundle::ContainerAttrs,
    /// The container's seccomp filter, applied like the init's.
    pub seccomp: Option<&'a crate::seccomp::SeccompPlan>,
    /// The seccomp agent (`listenerPath`), connected by `berth exec` in the host's mount
    /// namespace; the process sends its notify fd there, as the init does.
    pub listener: Option<crate::seccomp::Listener>,
}

/// The exec'd process, running the user's program.
#[derive(Debug)]
pub struct ExecSpawned {
    pub pid: i32,
    pub console: Option<OwnedFd>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecStageError {
    #[error("set the parent-death signal (prctl PR_SET_PDEATHSIG)")]
    ParentDeath(#[source] nix::Error),
    #[error("scrub the command line and environment of the process entering the container")]
    Scrub(#[source] std::io::Error),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("join the container's {name} namespace")]
    Join {
        name: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("become root in the container's user namespace")]
    BecomeRoot(#[source] nix::Error),
    #[error("fork the exec process (clone with CLONE_PARENT)")]
    Fork(#[source] nix::Error),
    #[error("create the pipe that passes the exec process its host pid (pipe2)")]
    HoldPipe(#[source] nix::Error),
    #[error("pass the exec process its host pid (write to the hold pipe)")]
    SendPid(#[source] nix::Error),
    #[error("start a new session (setsid)")]
    Setsid(#[source] nix::Error),
    #[error(transparent)]
    FinalSteps(#[from] final_steps::FinalStepsError),
    #[error(transparent)]
    Console(#[from] console::ConsoleError),
    #[error(transparent)]
    Exec(#[from] super::exec::ExecError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

/// Forks the exec'd process into the container; returns once it has exec'd the program (or
/// with its error). On error every process forked here is killed and reaped.
pub fn spawn_exec(req: &ExecRequest) -> Result<ExecSpawned, ProcessError> {
    // CVE-2019-5736, the classic `exec` variant: the exec'd process is berth until its execve,
    // inside the container's pid namespace. Non-dumpable, a container process cannot open its
    // /proc/<pid>/exe; and the program is checked not to be berth's own binary.
    super::guard::set_non_dumpable().map_err(|e| ProcessError::Guard(Box::new(e)))?;
    let exe = super::guard::OwnExe::open().map_err(|e| ProcessError::Guard(Box::new(e)))?;
    let (chan, child_chan) = Channel::pair()?;
    let me = nix::unistd::getpid().as_raw();
    let v2_dir = req.cgroups.iter().find_map(|cg| cg.open_v2_dir());
    // execCPUAffinity.initial: stage 1 is born with it, before it joins (or is cloned into)
    // the container's cgroup, as config.md orders; berth exec gets its own back right after.
    let own_cpus = match &req.process.exec_cpu_affinity.initial {
        Some(cpus) => {
            let own = sys::affinity().map_err(ProcessError::Affinity)?;
            super::attrs::set_cpus("initial", cpus).map_err(ProcessError::Attrs)?;
            Some(own)
        }
        None => None,
    };
    let forked = sys::fork_into_cgroup(v2_dir.as_ref().map(|fd| fd.as_fd()));
    if let Some(own) = &own_cpus {
        // The parent only. Failing here would leave stage 1 running for nothing: berth exec's
        // own affinity matters to nobody but the processes it forks, which set their own.
        if !matches!(forked, Ok((0, _))) {
            if let Err(e) = sys::set_affinity(own) {
                crate::log_warn!("exec: restore berth's own CPU affinity: {e}");
            }
        }
    }
    // Closed on both sides at once: in the child it is a handle on the host's cgroupfs, which
    // the exec'd process would otherwise hold, visible in the container's pid namespace, until
    // its execve (/proc/<pid>/fd/N/.. walks the host's cgroup tree).
    drop(v2_dir);
    let stage1 = match forked.map_err(ProcessError::Fork)? {
        (0, born_in_v2) => {
            drop(chan);
            match stage1(req, &exe, &child_chan, me, born_in_v2) {
                Ok(()) => sys::exit_child(0),
                Err(e) => {
                    child_chan.send_error(&e);
                    sys::exit_child(1)
                }
            }
        }
        (pid, _) => pid,
    };
    drop(child_chan);
    let mut pid = None;
    match drive(req, &chan, stage1, &mut pid) {
        Ok(console) => Ok(ExecSpawned {
            pid: pid.expect("set before success"),
            console,
        }),
        Err(e) => {
            super::kill_and_reap(stage1);
            if let Some(p) = pid {
                super::kill_and_reap(p);
            }
            Err(e)
        }
    }
}

fn drive(
    req: &ExecRequest,
    chan: &Channel,
    stage1: i32,
    pid_out: &mut Option<i32>,
) -> Result<Option<OwnedFd>, ProcessError> {
    let pid = chan.recv_init_pid()?;
    *pid_out = Some(pid);
    match nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(stage1), None)
        .map_err(ProcessError::Wait)?
    {
        nix::sys::wait::WaitStatus::Exited(_, 0) => {}
        other => return Err(ProcessError::Stage1Exit(other)),
    }
    let console = match req.process.terminal {
        true => Some(chan.recv_console()?.1),
        false => None,
    };
    // The process's end of the channel is close-on-exec: EOF means execve succeeded.
    chan.recv_execve()?;
    Ok(console)
}

fn stage1(
    req: &ExecRequest,
    exe: &OwnExe,
    chan: &Channel,
    parent: libc::pid_t,
    born_in_v2: bool,
) -> Result<(), ExecStageError> {
    sys::die_with_parent(parent).map_err(ExecStageError::ParentDeath)?;
    // Until its execve the exec'd process is in the container's pid namespace: its cmdline
    // (readable by every process there) and environ must not show `berth exec`'s caller.
    sys::scrub_cmdline_and_environ().map_err(ExecStageError::Scrub)?;
    // No state lock may travel into a cgroup that can be frozen (held_locks.rs).
    crate::state::close_lock_fds_in_child();
    // The cgroup first, so the process never runs outside the container's limits.
    // Only the plan holding the cgroup2 hierarchy can have been cloned into; join_self skips
    // that hierarchy alone.
    for cg in req.cgroups {
        cg.join_self(born_in_v2)?;
    }
    for ns in &req.namespaces {
        setns(ns.fd.as_fd(), CloneFlags::from_bits_retain(ns.flag)).map_err(|source| {
            ExecStageError::Join {
                name: ns.name,
                source,
            }
        })?;
        if ns.flag == libc::CLONE_NEWUSER {
            // Joining a user namespace keeps the host uid; become the container's root so the
            // final steps can set any user of the container.
            let root = (Gid::from_raw(0), Uid::from_raw(0));
            setresgid(root.0, root.0, root.0).map_err(ExecStageError::BecomeRoot)?;
            setresuid(root.1, root.1, root.1).map_err(ExecStageError::BecomeRoot)?;
            sys::die_with_parent(0).map_err(ExecStageError::ParentDeath)?;
        }
    }
    let (hold_r, hold_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(ExecStageError::HoldPipe)?;
    match sys::fork_sibling().map_err(ExecStageError::Fork)? {
        0 => {
            drop(hold_w);
            // Send nothing before the parent knows our pid (it must be able to reap us).
            // Stage 1 then writes that pid (the host's view, which the seccomp agent needs).
            // Four bytes or nothing: a write of at most PIPE_BUF bytes is atomic. Without
            // them stage 1 failed after InitPid and reports why; this process only exits.
            let mut pid = [0u8; 4];
            if nix::unistd::read(&hold_r, &mut pid) != Ok(4) {
                sys::exit_child(1);
            }
            let Err(err) = exec_process(req, i32::from_ne_bytes(pid), exe, chan);
            chan.send_error(&err);
            sys::exit_child(127)
        }
        pid => {
            chan.send(&Msg::InitPid(pid))?;
            match nix::unistd::write(&hold_w, &pid.to_ne_bytes()) {
                Ok(4) => Ok(()),
                Ok(_) => Err(ExecStageError::SendPid(nix::Error::EIO)),
                Err(e) => Err(ExecStageError::SendPid(e)),
            }
        }
    }
}

/// In every namespace of the container: the process's own checklist up to execve.
fn exec_process(
    req: &ExecRequest,
    host_pid: libc::pid_t,
    exe: &OwnExe,
    chan: &Channel,
) -> Result<std::convert::Infallible, ExecStageError> {
    // Our parent is `berth exec` (CLONE_PARENT); the stage-1 parent-death signal is not
    // inherited, and an exec'd process must outlive `berth exec --detach`.
    nix::unistd::setsid().map_err(ExecStageError::Setsid)?; // own session, as runc: never berth's terminal
    console::setup(req.process, chan, false)?; // pty from the container's devpts
    let mut listener = req.listener.as_ref().map(|l| l.try_clone()).transpose()?;
    if let Some(listener) = listener.as_mut() {
        listener.set_pid(host_pid);
    }
    let restrictions = final_steps::Restrictions {
        attrs: req.attrs,
        final_cpus: req.process.exec_cpu_affinity.final_cpus.as_ref(),
        seccomp: req.seccomp,
        listener, // the agent gets this process's notify fd, as runc's exec sends it
        lsm: Some(req.lsm),
    };
    let program = final_steps::run(req.process, false, 3 + req.preserve_fds, restrictions)?; // the same steps as the init
                                                                                             // CVE-2019-5736 through exec: the container already runs code that could swap the program
                                                                                             // for /proc/self/exe between a check and an exec by path; execveat runs the checked fd.
    Ok(program.exec_checked(exe)?)
}
