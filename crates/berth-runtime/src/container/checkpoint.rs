//! `checkpoint`: CRIU dumps the container's processes into an images directory (runc's
//! `checkpoint`). A dump stops the container (its processes are killed and it is deleted, as
//! runc does) unless `leave_running`; a pre-dump copies memory only and leaves it running, for
//! a later dump that names it as its parent.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::{lock_for, ContainerError, Status};
use crate::bundle::{Plan, PlanOptions};
use crate::cgroups::{CgroupManager, HostCgroups};
use crate::criu::rpc::{Criu_cg_mode, Criu_opts, Criu_req, Criu_req_type, Ext_mount_map};
use crate::criu::{describe, Swrk};
use crate::state::{ContainerState, Store};

/// `--manage-cgroups-mode`, CRIU's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CgroupsMode {
    /// Restore cgroup properties only when CRIU created the cgroup (runc's default).
    #[default]
    Soft,
    Full,
    Strict,
    Ignore,
}

impl CgroupsMode {
    pub(super) fn rpc(self) -> Criu_cg_mode {
        match self {
            CgroupsMode::Soft => Criu_cg_mode::SOFT,
            CgroupsMode::Full => Criu_cg_mode::FULL,
            CgroupsMode::Strict => Criu_cg_mode::STRICT,
            CgroupsMode::Ignore => Criu_cg_mode::IGNORE,
        }
    }
}

/// What `berth checkpoint` was asked.
#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    /// The criu binary.
    pub criu: PathBuf,
    /// `--image-path`: created when missing.
    pub image_path: PathBuf,
    /// `--work-path` (CRIU's log and work files), default the image path.
    pub work_path: Option<PathBuf>,
    pub leave_running: bool,
    /// `--pre-dump`: memory only, the container keeps running.
    pub pre_dump: bool,
    /// `--parent-path`: the previous (pre-)dump, relative to the image path as CRIU reads it.
    pub parent_path: Option<PathBuf>,
    pub cgroups_mode: CgroupsMode,
}

/// Checkpoints running container `id` into `opts.image_path`.
pub fn checkpoint(store: &Store, id: &str, opts: &CheckpointOptions) -> Result<(), ContainerError> {
    let kind = if opts.pre_dump { "pre-dump" } else { "dump" };
    let stops = !opts.pre_dump && !opts.leave_running;
    {
        let locked = lock_for(store, id, "checkpoint", &[Status::Running])?;
        dump(&locked.state, opts, kind)?;
    }
    if stops {
        // CRIU killed the container's processes after the dump; as runc, the container is
        // then deleted (its state and cgroup), so that the id is free for the restore.
        if let Some(pid) = locked_pid(store, id)? {
            wait_gone(pid.0, pid.1);
        }
        super::delete(store, id, false)?;
    }
    Ok(())
}

fn locked_pid(store: &Store, id: &str) -> Result<Option<(i32, u64)>, ContainerError> {
    let locked = super::lock(store, id)?;
    Ok(locked.state.pid.zip(locked.state.pid_start_time))
}

/// Waits (at most 10 s) until the dumped init is gone: CRIU answers once it has sent the
/// kills, not once the processes have exited.
fn wait_gone(pid: i32, start_time: u64) {
    let proc = Path::new("/proc");
    for _ in 0..1000 {
        if !crate::process::liveness::is_alive(proc, pid, start_time) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn dump(
    state: &ContainerState,
    opts: &CheckpointOptions,
    kind: &'static str,
) -> Result<(), ContainerError> {
    let plan = replan(state)?;
    let external = describe::external_mounts(&plan, "checkpoint")?;
    let images = describe::open_dir("image", &opts.image_path, true)?;
    let work = match &opts.work_path {
        Some(p) => Some(describe::open_dir("work", p, true)?),
        None => None,
    };
    let log_name = format!("{kind}.log");
    let log = opts
        .work_path
        .as_ref()
        .unwrap_or(&opts.image_path)
        .join(&log_name);

    let mut o = Criu_opts::new();
    o.set_images_dir_fd(images.as_raw_fd());
    if let Some(w) = &work {
        o.set_work_dir_fd(w.as_raw_fd());
    }
    o.set_log_level(4);
    o.set_log_file(log_name);
    o.set_pid(state.pid.unwrap_or(0));
    o.set_root(state.rootfs.to_string_lossy().into_owned());
    o.set_manage_cgroups(true);
    o.set_manage_cgroups_mode(opts.cgroups_mode.rpc());
    o.set_leave_running(opts.leave_running);
    // A terminal's master is outside the container (the console socket's receiver has it).
    o.set_orphan_pts_master(true);
    if opts.pre_dump || opts.parent_path.is_some() {
        // Dirty-memory tracking: the next dump writes only the pages changed since.
        o.set_track_mem(true);
    }
    if let Some(parent) = &opts.parent_path {
        o.set_parent_img(parent.to_string_lossy().into_owned());
    }
    if let Some((dir, _)) = describe::v2_cgroup(&plan_cgroup(state)) {
        o.set_freeze_cgroup(dir.to_string_lossy().into_owned());
    }
    for m in &external {
        let dest = m.destination.to_string_lossy().into_owned();
        let mut e = Ext_mount_map::new();
        e.set_key(dest.clone());
        e.set_val(dest);
        o.ext_mnt.push(e);
    }
    let mut req = Criu_req::new();
    req.set_type(if opts.pre_dump {
        Criu_req_type::PRE_DUMP
    } else {
        Criu_req_type::DUMP
    });
    req.opts = Some(o).into();

    let mut swrk = Swrk::start(&opts.criu, log)?;
    swrk.call(&req, kind)?;
    swrk.finish()?;
    Ok(())
}

/// The recorded cgroup (what create made), not a recomputed one.
fn plan_cgroup(state: &ContainerState) -> crate::cgroups::CgroupPlan {
    state
        .cgroup
        .clone()
        .unwrap_or_else(crate::cgroups::CgroupPlan::none)
}

/// The container's plan, from its bundle as it is now: its mounts are what CRIU must be told
/// about.
fn replan(state: &ContainerState) -> Result<Plan, ContainerError> {
    let cgroup = plan_cgroup(state);
    let (host, manager) = if cgroup.disabled {
        (HostCgroups::default(), CgroupManager::Disabled)
    } else {
        (
            HostCgroups::detect(Path::new("/proc/self/mountinfo"))?,
            CgroupManager::Cgroupfs,
        )
    };
    let options = PlanOptions {
        systemd_cgroup: cgroup.systemd.is_some(),
        cgroup_manager: manager,
        ..PlanOptions::default()
    };
    Ok(Plan::new(&state.id, &state.bundle, &host, options)?)
}
