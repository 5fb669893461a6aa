//! Stage 1: the first child of `berth create`. It joins the container's cgroup and namespaces,
//! creates the new ones, and forks the container init into them (a new pid or time namespace
//! only applies to children, hence the second process).

use std::io::Write;
use std::os::fd::AsFd;

use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{setresgid, setresuid, Gid, Uid};

use super::channel::{Channel, ChannelError, Msg};
use super::init::{self, InitHandles};
use crate::bundle::{NamespaceKind, Plan};
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum Stage1Error {
    #[error("set the dumpable flag around the uid/gid map write (PR_SET_DUMPABLE)")]
    Dumpable(#[source] nix::Error),
    #[error("set the parent-death signal (prctl PR_SET_PDEATHSIG)")]
    ParentDeath(#[source] nix::Error),
    #[error("scrub the command line and environment of the process entering the container")]
    Scrub(#[source] std::io::Error),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("join the {kind} namespace {path}")]
    Join {
        kind: &'static str,
        path: String,
        #[source]
        source: nix::Error,
    },
    #[error("become root in the container's user namespace")]
    BecomeRoot(#[source] nix::Error),
    #[error("create namespaces ({names})")]
    Unshare {
        names: String,
        #[source]
        source: nix::Error,
    },
    #[error("write time namespace offsets {offsets:?}")]
    TimeOffsets {
        offsets: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bring up the loopback interface lo in the new network namespace")]
    LoopbackUp(#[source] nix::Error),
    #[error("fork the container init (clone with CLONE_PARENT)")]
    Fork(#[source] nix::Error),
    #[error("create the pipe that holds the init until its pid is sent (pipe2)")]
    HoldPipe(#[source] nix::Error),
    #[error("release the init once its pid is sent (write to the hold pipe)")]
    Release(#[source] nix::Error),
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

/// Runs stage 1 in the forked child and never returns.
pub(super) fn run(
    plan: &Plan,
    chan: Channel,
    parent: libc::pid_t,
    handles: InitHandles,
    born_in_v2: bool,
) -> ! {
    match stage1(plan, &chan, parent, handles, born_in_v2) {
        Ok(()) => sys::exit_child(0),
        Err(e) => {
            chan.send_error(&e);
            sys::exit_child(1)
        }
    }
}

fn stage1(
    plan: &Plan,
    chan: &Channel,
    parent: libc::pid_t,
    handles: InitHandles,
    born_in_v2: bool,
) -> Result<(), Stage1Error> {
    // If `berth create` dies now, this process and everything it forks must die with it.
    sys::die_with_parent(parent).map_err(Stage1Error::ParentDeath)?;
    // The init waits in the container's pid namespace: its /proc/1/cmdline and environ must
    // not show berth's caller.
    sys::scrub_cmdline_and_environ().map_err(Stage1Error::Scrub)?;
    // Else the waiting init keeps the state lock if `create` dies.
    crate::state::close_lock_fds_in_child();
    // Join the cgroup first (cgroup2: this process was cloned into it when possible): the init
    // inherits it, so it never runs a single instruction outside its limits, and the cgroup
    // namespace created below is rooted at it.
    // The systemd driver: the parent asks systemd to start the scope with this process in it
    // (systemd moves it) and says when that is done.
    match plan.cgroup.systemd {
        Some(_) => chan.recv_cgroup_placed()?,
        None => plan.cgroup.join_self(born_in_v2)?,
    }
    crate::phase!("stage1: join cgroup");
    crate::failpoint!("stage1:after-cgroup-join");

    for ns in plan.namespaces.entries.iter().filter(|e| e.join.is_some()) {
        let fd = ns.join.as_ref().expect("filtered on join");
        let flag = CloneFlags::from_bits_retain(ns.kind.clone_flag());
        setns(fd.as_fd(), flag).map_err(|source| Stage1Error::Join {
            kind: ns.kind.name(),
            path: ns
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            source,
        })?;
        if ns.kind == NamespaceKind::User {
            become_root()?;
        }
    }

    if plan.namespaces.creates(NamespaceKind::User) {
        // The other namespaces are created after the user namespace, so that it owns them and
        // the container's root has capabilities over them (user_namespaces(7)).
        unshare(CloneFlags::CLONE_NEWUSER).map_err(|source| Stage1Error::Unshare {
            names: "user".into(),
            source,
        })?;
        // Unprivileged, the parent may open this process's /proc/<pid>/uid_map only while
        // it is dumpable: a non-dumpable process's /proc files belong to the host's root
        // (proc(5), PR_SET_DUMPABLE). Dumpable only for the map write, then back to 0
        // (guard.rs, CVE-2019-5736) before anything of the container exists.
        let rootless = plan.options.rootless.is_some_and(|r| r.unprivileged());
        if rootless {
            nix::sys::prctl::set_dumpable(true).map_err(Stage1Error::Dumpable)?;
        }
        chan.send(&Msg::MapIds)?;
        chan.recv_ids_mapped()?;
        if rootless {
            nix::sys::prctl::set_dumpable(false).map_err(Stage1Error::Dumpable)?;
        }
        become_root()?;
    }

    let flags = plan.namespaces.new_flags() & !libc::CLONE_NEWUSER;
    if flags != 0 {
        unshare(CloneFlags::from_bits_retain(flags)).map_err(|source| Stage1Error::Unshare {
            names: new_names(plan),
            source,
        })?;
    }
    write_time_offsets(plan)?;
    if plan.namespaces.creates(NamespaceKind::Net) {
        // A new network namespace starts with `lo` down; runc and crun bring it up, and
        // containers without CNI rely on 127.0.0.1.
        sys::loopback_up().map_err(Stage1Error::LoopbackUp)?;
    }
    crate::phase!("stage1: namespaces");
    crate::failpoint!("stage1:after-unshare");

    // The init must not send anything before the parent has its pid (so the parent can always
    // reap it): it waits for one byte on this pipe, written once InitPid is queued on the
    // channel. Not waiting for stage 1's exit (the pipe's EOF) saves ~3 ms of `create`
    // (docs/benchmarks.md); an EOF without the byte means stage 1 failed, and the init exits.
    let (hold_r, hold_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(Stage1Error::HoldPipe)?;
    match sys::fork_sibling().map_err(Stage1Error::Fork)? {
        0 => {
            drop(hold_w);
            let mut byte = [0u8; 1];
            if nix::unistd::read(&hold_r, &mut byte) != Ok(1) {
                sys::exit_child(1); // stage 1 died before the parent learned our pid
            }
            crate::phase!("init: forked, pid sent");
            init::run(plan, chan, handles)
        }
        pid => {
            crate::failpoint!("stage1:after-fork-init");
            chan.send(&Msg::InitPid(pid))?;
            // Only now may the init talk: the parent reads InitPid first.
            nix::unistd::write(&hold_w, b"1").map_err(Stage1Error::Release)?;
            crate::phase!("stage1: fork init");
            Ok(())
        }
    }
}

/// setresuid/setresgid to 0 inside the container's user namespace. Changing credentials
/// clears the parent-death signal, so it is set again.
fn become_root() -> Result<(), Stage1Error> {
    let root = (Gid::from_raw(0), Uid::from_raw(0));
    setresgid(root.0, root.0, root.0).map_err(Stage1Error::BecomeRoot)?;
    setresuid(root.1, root.1, root.1).map_err(Stage1Error::BecomeRoot)?;
    sys::die_with_parent(0).map_err(Stage1Error::ParentDeath)
}

fn new_names(plan: &Plan) -> String {
    plan.namespaces
        .entries
        .iter()
        .filter(|e| e.join.is_none() && e.kind != NamespaceKind::User)
        .map(|e| e.kind.name())
        .collect::<Vec<_>>()
        .join(" ")
}

/// config-linux.md "Offset for Time Namespace": offsets must be written before any process
/// enters the new time namespace, i.e. before the init is forked.
fn write_time_offsets(plan: &Plan) -> Result<(), Stage1Error> {
    let offsets = &plan.namespaces.time_offsets;
    if offsets.is_empty() {
        return Ok(());
    }
    let text: String = offsets
        .iter()
        .map(|(clock, secs, nanos)| format!("{clock} {secs} {nanos}\n"))
        .collect();
    std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/self/timens_offsets")
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|source| Stage1Error::TimeOffsets {
            offsets: text.trim().replace('\n', ", "),
            source,
        })
}
