//! `create`: validate the bundle, record the container, set up its process and leave it
//! waiting for `start` (runtime.md "create").

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::sys::stat::Mode;

use super::ContainerError;
use crate::bundle::{Plan, PlanOptions};
use crate::cgroups::HostCgroups;
use crate::process::{self, Spawned};
use crate::state::{ContainerId, ContainerState, LockedContainer, Phase, Store};

/// What `berth create` was asked besides the id and bundle.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub pid_file: Option<PathBuf>,
    pub plan: PlanOptions,
}

/// The name of the FIFO the init blocks on until `start` (as in runc).
pub const EXEC_FIFO: &str = "exec.fifo";

/// Creates the container and returns its init's pid. On any error nothing is left behind: no
/// state directory, cgroup or process.
pub fn create(
    store: &Store,
    id: &str,
    bundle: &Path,
    opts: &CreateOptions,
) -> Result<i32, ContainerError> {
    let id = ContainerId::new(id)?;
    // Plan first: a bad bundle is rejected before anything exists that would need undoing.
    let host = HostCgroups::detect(Path::new("/proc/self/mountinfo"))?;
    let plan = Plan::new(id.as_str(), bundle, &host, opts.plan.clone())?;
    let container = store.create(&id)?;
    let mut undo = Undo {
        container: Some(container),
        plan: &plan,
        cgroup: false,
        init: None,
    };
    let pid = undo.run(opts)?;
    undo.container = None; // committed: keep everything
    Ok(pid)
}

/// Everything `create` made so far, undone on drop unless the create committed.
struct Undo<'a> {
    container: Option<LockedContainer>,
    plan: &'a Plan,
    cgroup: bool,
    init: Option<Spawned>,
}

impl Undo<'_> {
    fn run(&mut self, opts: &CreateOptions) -> Result<i32, ContainerError> {
        let plan = self.plan;
        let container = self.container.as_ref().expect("set by create");
        let mut state = initial_state(plan);
        container.save(&state)?; // "creating", so `list` shows it and `delete --force` can clean up

        self.cgroup = true;
        plan.cgroup.create()?;
        if let Some(resources) = plan
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
        {
            let unapplied = plan.cgroup.apply_resources(resources)?;
            if !unapplied.is_empty() {
                crate::log_warn!(
                    "container {:?}: resources not applied by this berth version: {}",
                    plan.id,
                    unapplied.join(", ")
                );
            }
        }

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
        let spawned = process::spawn(plan, &fifo)?;
        let pid = spawned.pid;
        state.pid = Some(pid);
        state.pid_start_time = Some(spawned.start_time);
        state.phase = Phase::Created;
        self.init = Some(spawned);
        container.save(&state)?;
        if let Some(path) = &opts.pid_file {
            write_pid_file(path, pid)?;
        }
        self.init.as_ref().expect("just set").commit()?;
        Ok(pid)
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        let Some(container) = self.container.take() else {
            return;
        };
        if let Some(init) = self.init.take() {
            init.abort();
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

fn initial_state(plan: &Plan) -> ContainerState {
    let annotations: BTreeMap<String, String> = plan
        .spec
        .annotations()
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    ContainerState {
        oci_version: plan.spec.version().clone(),
        id: plan.id.clone(),
        bundle: plan.bundle.clone(),
        rootfs: plan.rootfs_path.clone(),
        pid: None,
        pid_start_time: None,
        created: crate::state::now_rfc3339(),
        owner: owner(),
        annotations,
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
fn write_pid_file(path: &Path, pid: i32) -> Result<(), ContainerError> {
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
