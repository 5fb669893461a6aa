//! `create`: validate the bundle, record the container, set up its process and leave it
//! waiting for `start` (runtime.md "create").

use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;

use std::os::fd::{AsFd, OwnedFd};

use super::{lifecycle_hooks, ContainerError, Status};
use crate::bundle::{Plan, PlanOptions};
use crate::cgroups::{CgroupManager, HostCgroups};
use crate::hooks::{self, HookKind};
use crate::process::{self, Spawned};
use crate::state::{ContainerId, ContainerState, Identity, LockedContainer, Phase, Store};
use crate::terminal::ConsoleSocket;

/// What `berth create` was asked besides the id and bundle.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub pid_file: Option<PathBuf>,
    pub plan: PlanOptions,
    /// `--console-socket`: where the pty master of a terminal container is sent.
    pub console_socket: Option<PathBuf>,
    /// A foreground `run` relays the terminal itself: the master is returned to the caller
    /// instead of being sent to a console socket ([`create_with_console`]).
    pub keep_console: bool,
}

pub use crate::state::EXEC_FIFO;

/// Creates the container and returns its init's pid. On any error nothing is left behind: no
/// state directory, cgroup or process.
pub fn create(
    store: &Store,
    id: &str,
    bundle: &Path,
    opts: &CreateOptions,
) -> Result<i32, ContainerError> {
    create_with_console(store, id, bundle, opts).map(|(pid, _)| pid)
}

/// [`create`], also returning the pty master when `opts.keep_console` asked for it.
pub fn create_with_console(
    store: &Store,
    id: &str,
    bundle: &Path,
    opts: &CreateOptions,
) -> Result<(i32, Option<OwnedFd>), ContainerError> {
    let id = ContainerId::new(id)?;
    crate::failpoint!("create:start");
    // Plan first: a bad bundle is rejected before anything exists that would need undoing.
    let host = match opts.plan.cgroup_manager {
        // Rootless: a host without any cgroupfs mounted is one where nothing is delegated
        // (bundle/rootless.rs), not an error.
        CgroupManager::Cgroupfs if opts.plan.rootless.is_some() => {
            match HostCgroups::detect(Path::new("/proc/self/mountinfo")) {
                Err(crate::cgroups::CgroupError::NoHierarchies { .. }) => HostCgroups::default(),
                other => other?,
            }
        }
        CgroupManager::Cgroupfs => HostCgroups::detect(Path::new("/proc/self/mountinfo"))?,
        // No cgroup: the host's layout does not matter, and a host without any cgroupfs works.
        CgroupManager::Disabled => HostCgroups::default(),
    };
    let plan = Plan::new(id.as_str(), bundle, &host, opts.plan.clone())?;
    crate::phase!("create: plan");
    crate::failpoint!("create:after-plan");
    // The console socket too: runc connects before starting anything.
    let socket = console_socket(plan.process.terminal, opts)?;
    let container = store.create(&id)?;
    crate::failpoint!("create:after-state-dir");
    let mut undo = Undo {
        container: Some(container),
        plan: &plan,
        cgroup: false,
        init: None,
    };
    let (pid, console) = undo.run(opts)?;
    let console = match (console, socket) {
        (Some(master), Some(socket)) => {
            let name = format!("{id}-console"); // the name is informative only (runc's protocol)
            socket.send(master.as_fd(), &name)?;
            None
        }
        (console, _) => console,
    };
    undo.container = None; // committed: keep everything
    Ok((pid, console))
}

/// runc's rules: a terminal needs somewhere to go, and a console socket needs a terminal.
fn console_socket(
    terminal: bool,
    opts: &CreateOptions,
) -> Result<Option<ConsoleSocket>, ContainerError> {
    match (&opts.console_socket, terminal) {
        (Some(path), true) => Ok(Some(ConsoleSocket::connect(path)?)),
        (Some(_), false) => Err(ContainerError::ConsoleWithoutTerminal),
        (None, true) if !opts.keep_console => Err(ContainerError::TerminalWithoutConsole),
        (None, _) => Ok(None),
    }
}

/// Everything `create` made so far, undone on drop unless the create committed.
struct Undo<'a> {
    container: Option<LockedContainer>,
    plan: &'a Plan,
    cgroup: bool,
    init: Option<Spawned>,
}

impl Undo<'_> {
    fn run(&mut self, opts: &CreateOptions) -> Result<(i32, Option<OwnedFd>), ContainerError> {
        let plan = self.plan;
        let container = self.container.as_ref().expect("set by create");
        let mut state = initial_state(plan);
        state.config = Some(lifecycle_hooks::saved_config(plan));
        crate::phase!("create: state dir");
        container.save(&state)?; // "creating", so `list` shows it and `delete --force` can clean up
        crate::failpoint!("create:after-state-creating");
        // The identity record names the cgroup before it exists: with state.json lost, it is
        // what `delete --force` finds the container by (state/identity.rs).
        let mut identity = Identity {
            id: plan.id.clone(),
            cgroup: Some(plan.cgroup.clone()),
            pid: None,
            pid_start_time: None,
        };
        container.save_identity(&identity)?;

        // Before creating: a half-made cgroup is undone too. Not a systemd scope, which is
        // undone only once this create has started it (the name may be another's scope).
        self.cgroup = !plan.cgroup.disabled && plan.cgroup.systemd.is_none();
        setup_cgroup(plan)?;
        crate::failpoint!("create:after-cgroup");

        crate::phase!("create: state saved, cgroup created");
        let fifo = container.dir().join(EXEC_FIFO);
        // 0622 so that the init can open it for writing whatever user it runs as; chmod after
        // mkfifo because the umask applies to mkfifo's mode.
        let fifo_err = |source| ContainerError::Fifo {
            path: fifo.clone(),
            source,
        };
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622)).map_err(fifo_err)?;
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            &fifo,
            Mode::from_bits_truncate(0o622),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(fifo_err)?;
        crate::failpoint!("create:after-fifo");
        let runtime_hooks = |pid: i32| -> Result<String, process::ProcessError> {
            // runtime.md "Lifecycle" steps 5-6, in the runtime namespace, status "creating".
            let json = lifecycle_hooks::state_json(&state, pid, Status::Creating);
            let ctx = hooks::HookContext {
                cwd: Some(&plan.bundle),
                default_env: None,
            };
            hooks::run_all(&plan.hooks, HookKind::Prestart, &json, ctx)?;
            hooks::run_all(&plan.hooks, HookKind::CreateRuntime, &json, ctx)?;
            Ok(json)
        };
        let scope_started = std::cell::Cell::new(false);
        let place_in_cgroup = |stage1: i32| -> Result<(), process::ProcessError> {
            plan.cgroup
                .start_systemd_scope(&plan.id, stage1, plan.resources.as_ref())?;
            scope_started.set(true);
            // systemd: TasksMax is a property of the scope started above, so the pids
            // limit is not deferred as with cgroupfs (a limit of 0 or 1 fails the fork).
            Ok(apply_resources(
                &plan.id,
                &plan.cgroup,
                plan.resources.as_ref(),
            )?)
        };
        let spawned = process::spawn(plan, &fifo, &runtime_hooks, &place_in_cgroup);
        self.cgroup |= scope_started.get();
        let mut spawned = spawned?;
        crate::failpoint!("create:after-spawn");
        let pids_limit = plan.resources.as_ref().and_then(|r| r.split_pids().1);
        let deferred_pids =
            pids_limit.filter(|_| !plan.cgroup.disabled && plan.cgroup.systemd.is_none());
        let console = spawned.console.take();
        let pid = spawned.pid;
        state.pid = Some(pid);
        state.pid_start_time = Some(spawned.start_time);
        state.phase = Phase::Created;
        identity.pid = state.pid;
        identity.pid_start_time = state.pid_start_time;
        self.init = Some(spawned);
        // The pids limit, now that the init is forked (setup_cgroup left it out): the init
        // waits for `start` and has not run the container's program.
        if let Some(pids) = &deferred_pids {
            apply_resources(&plan.id, &plan.cgroup, Some(pids))?;
        }
        // Before the commit: until then the init dies with this process, so no init outlives
        // `create` without its pid on record.
        container.save_identity(&identity)?;
        container.save(&state)?;
        crate::failpoint!("create:after-state-created");
        if let Some(path) = &opts.pid_file {
            write_pid_file(path, pid)?;
        }
        crate::failpoint!("create:after-pid-file");
        self.init.as_ref().expect("just set").commit()?;
        crate::phase!("create: state saved, committed");
        crate::failpoint!("create:after-commit");
        Ok((pid, console))
    }
}

/// Creates the container's cgroup and applies the planned `linux.resources` to it; for a
/// container without a cgroup, only warns about the resources it ignores.
pub(super) fn setup_cgroup(plan: &Plan) -> Result<(), ContainerError> {
    if plan.cgroup.disabled {
        if let Some(why) = &plan.rootless_no_cgroup {
            // The one warning of a rootless create without a delegated cgroup: its processes
            // stay in the caller's cgroups, unlimited and unaccounted (resources were refused
            // by the plan).
            crate::log_warn!(
                "container {:?}: rootless: no cgroup is created, the container stays in the caller's cgroups: {why}",
                plan.id
            );
        }
        if !plan.ignored_resources.is_empty() {
            crate::log_warn!(
                "container {:?}: linux.resources ignored because of --cgroup-manager=disabled \
                 (the container has no cgroup): {}",
                plan.id,
                plan.ignored_resources.join(", ")
            );
        }
        return Ok(());
    }
    if plan.cgroup.systemd.is_some() {
        // systemd creates the scope around stage 1 once it is forked (process::spawn calls
        // `place_in_cgroup`); only check now that systemd can be reached.
        plan.cgroup.check_systemd_bus()?;
        return Ok(());
    }
    let created = plan.cgroup.create()?;
    plan.cgroup.ensure_not_frozen()?; // else the init freezes on its first instruction and create waits forever
    let occupants = plan.cgroup.occupants();
    if occupants > 0 {
        // A cgroupsPath shared on purpose is legitimate, so only a warning (as runc's): the
        // container's pause, kill --all and limits reach those processes too.
        crate::log_warn!(
            "container {:?}: its cgroup is not empty: {occupants} process(es) found",
            plan.id
        );
    }
    if let Some(resources) = &plan.resources {
        if let Some(cpu) = resources.resources().cpu() {
            if let Some(runtime) = cpu.realtime_runtime() {
                // Fresh parents have no real-time budget to give (cgroups/rt_budget.rs).
                plan.cgroup
                    .grant_rt_budget(runtime, cpu.realtime_period(), &created.dirs)?;
            }
        }
    }
    // All but the pids limit, which create writes once the init is forked (a limit of 0 or 1
    // would refuse the fork from stage 1, which is already in the cgroup).
    let before_fork = plan.resources.as_ref().map(|r| r.split_pids().0);
    Ok(apply_resources(
        &plan.id,
        &plan.cgroup,
        before_fork.as_ref(),
    )?)
}

/// Writes the planned `linux.resources` to the container's cgroup files (validated by
/// Plan::new; this only writes, after the checks that need the cgroup).
fn apply_resources(
    id: &str,
    cgroup: &crate::cgroups::CgroupPlan,
    resources: Option<&crate::cgroups::ResourcesPlan>,
) -> Result<(), crate::cgroups::CgroupError> {
    if let Some(resources) = resources {
        let unapplied = cgroup.apply_resources(resources)?;
        if !unapplied.is_empty() {
            crate::log_warn!(
                "container {:?}: resources not applied by this berth version: {}",
                id,
                unapplied.join(", ")
            );
        }
    }
    Ok(())
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        if let Some(init) = self.init.take() {
            init.abort();
        }
        // runtime.md: a failed create continues the lifecycle at "delete", whose poststop
        // hooks run (warnings only).
        if self.plan.hooks.has(HookKind::Poststop) {
            let mut state = initial_state(self.plan);
            state.config = Some(lifecycle_hooks::saved_config(self.plan));
            lifecycle_hooks::run_warning_only(&state, HookKind::Poststop, 0, Status::Stopped);
        }
        if self.cgroup {
            if let Err(e) = self.plan.cgroup.remove() {
                crate::log_warn!("undo create of {:?}: {e}", self.plan.id);
            }
        }
        if let Err(e) = container.destroy() {
            crate::log_warn!("undo create of {:?}: {e}", self.plan.id);
        }
    }
}

pub(super) fn initial_state(plan: &Plan) -> ContainerState {
    ContainerState {
        oci_version: plan.oci_version.clone(),
        id: plan.id.clone(),
        bundle: plan.bundle.clone(),
        rootfs: plan.rootfs_path.clone(),
        pid: None,
        pid_start_time: None,
        created: crate::state::now_rfc3339(),
        owner: owner(),
        annotations: plan.annotations.clone(),
        cgroup: Some(plan.cgroup.clone()),
        phase: Phase::Creating,
        config: None,
    }
}

fn owner() -> String {
    let uid = nix::unistd::getuid();
    if uid.is_root() {
        "root".to_string()
    } else {
        uid.to_string()
    }
}

/// Writes the pid file atomically (temp file + rename), so a reader never sees it half
/// written.
pub(super) fn write_pid_file(path: &Path, pid: i32) -> Result<(), ContainerError> {
    let err = |source| ContainerError::PidFile {
        path: path.to_path_buf(),
        source,
    };
    let path = std::path::absolute(path).map_err(err)?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    std::fs::write(&tmp, pid.to_string()).map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e)
    })
}
