//! `restore`: a new container whose processes CRIU restores from a checkpoint's images (runc's
//! `restore`). The bundle is validated and the container's state and cgroup are made as by
//! `create`; then criu swrk, moved into that cgroup, restores the process tree into new
//! namespaces as the dump recorded them, with the root at the bundle's rootfs and each
//! external mount (bind mounts, the cgroup2 bind) mapped to its host source. The restored init
//! is recorded as a started container's init, so `state`, `kill`, `exec` and `delete` work on
//! it as on any other.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::checkpoint::CgroupsMode;
use super::create::{initial_state, setup_cgroup, write_pid_file};
use super::{lifecycle_hooks, ContainerError};
use crate::bundle::{Plan, PlanOptions};
use crate::cgroups::{CgroupManager, HostCgroups};
use crate::criu::rpc::{Cgroup_root, Criu_opts, Criu_req, Criu_req_type, Ext_mount_map};
use crate::criu::{describe, CriuError, Swrk};
use crate::hooks::HookKind;
use crate::state::{ContainerId, Identity, LockedContainer, Phase, Store};

/// What `berth restore` was asked besides the id.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    pub criu: PathBuf,
    pub bundle: PathBuf,
    pub image_path: PathBuf,
    /// `--work-path`, default the image path.
    pub work_path: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub plan: PlanOptions,
    pub cgroups_mode: CgroupsMode,
}

/// Restores container `id` and returns its init's pid (a child of the caller: CRIU restores
/// the tree as its sibling). On error no state or cgroup is left.
pub fn restore(store: &Store, id: &str, opts: &RestoreOptions) -> Result<i32, ContainerError> {
    let cid = ContainerId::new(id)?;
    // Plan first: everything refused is refused before anything exists.
    if opts.plan.rootless.is_some() {
        return Err(unsupported("rootless mode"));
    }
    if opts.plan.systemd_cgroup {
        return Err(unsupported("the systemd cgroup driver"));
    }
    let host = match opts.plan.cgroup_manager {
        CgroupManager::Cgroupfs => HostCgroups::detect(Path::new("/proc/self/mountinfo"))?,
        CgroupManager::Disabled => HostCgroups::default(),
    };
    let plan = Plan::new(cid.as_str(), &opts.bundle, &host, opts.plan.clone())?;
    if let Some(kind) = HookKind::ALL.into_iter().find(|k| plan.hooks.has(*k)) {
        return Err(unsupported(&format!(
            "{kind:?} hooks (berth runs no hooks on restore)"
        )));
    }
    if plan.process.terminal {
        return Err(unsupported(
            "process.terminal (no --console-socket on restore yet)",
        ));
    }
    let external = describe::external_mounts(&plan, "restore")?;
    let images = describe::open_dir("image", &opts.image_path, false)?;
    let work = match &opts.work_path {
        Some(p) => Some(describe::open_dir("work", p, true)?),
        None => None,
    };

    let container = store.create(&cid)?;
    let made_cgroup = !plan.cgroup.disabled;
    match restore_in(&container, &plan, &external, opts, &images, work.as_ref()) {
        Ok(pid) => Ok(pid),
        Err(e) => {
            if made_cgroup {
                if let Err(e) = plan.cgroup.remove() {
                    crate::log_warn!("undo restore of {id:?}: {e}");
                }
            }
            if let Err(e) = container.destroy() {
                crate::log_warn!("undo restore of {id:?}: {e}");
            }
            Err(e)
        }
    }
}

fn unsupported(what: &str) -> ContainerError {
    CriuError::Unsupported {
        op: "restore",
        what: what.to_string(),
    }
    .into()
}

fn restore_in(
    container: &LockedContainer,
    plan: &Plan,
    external: &[describe::ExternalMount],
    opts: &RestoreOptions,
    images: &std::os::fd::OwnedFd,
    work: Option<&std::os::fd::OwnedFd>,
) -> Result<i32, ContainerError> {
    let mut state = initial_state(plan);
    state.config = Some(lifecycle_hooks::saved_config(plan));
    container.save(&state)?;
    let mut identity = Identity {
        id: plan.id.clone(),
        cgroup: Some(plan.cgroup.clone()),
        pid: None,
        pid_start_time: None,
    };
    container.save_identity(&identity)?;
    setup_cgroup(plan)?;

    let log_dir = opts.work_path.as_ref().unwrap_or(&opts.image_path);
    let mut swrk = Swrk::start(&opts.criu, log_dir.join("restore.log"))?;
    // The restored processes are criu's children until they are handed over; they start in
    // its cgroup, so criu goes into the container's first.
    for h in &plan.cgroup.hierarchies {
        let procs = plan.cgroup.dir(h).join("cgroup.procs");
        std::fs::write(&procs, swrk.pid().to_string()).map_err(|source| CriuError::JoinCgroup {
            pid: swrk.pid(),
            path: procs.clone(),
            source,
        })?;
    }
    // CRIU mounts the container's root from `root`, which must be a mount point: a bind of
    // the rootfs in the state directory, detached again once the restore is done.
    let root = container.dir().join("criu-root");
    let _root = RootBind::new(&plan.rootfs_path, &root)?;

    let mut o = Criu_opts::new();
    o.set_images_dir_fd(images.as_raw_fd());
    if let Some(w) = work {
        o.set_work_dir_fd(w.as_raw_fd());
    }
    o.set_log_level(4);
    o.set_log_file("restore.log".into());
    o.set_root(root.to_string_lossy().into_owned());
    // The restored init becomes berth's child (and then the caller's subreaper's or init's),
    // not criu's.
    o.set_rst_sibling(true);
    o.set_manage_cgroups(true);
    o.set_manage_cgroups_mode(opts.cgroups_mode.rpc());
    // Device numbers of the restored files may differ (another host, another boot).
    o.set_evasive_devices(true);
    o.set_orphan_pts_master(true);
    if let Some((_, path)) = describe::v2_cgroup(&plan.cgroup) {
        // The dump's cgroup tree is restored under the new container's cgroup.
        let mut cg = Cgroup_root::new();
        cg.set_path(path.to_string_lossy().into_owned());
        o.cg_root.push(cg);
    }
    for m in external {
        let mut e = Ext_mount_map::new();
        e.set_key(m.destination.to_string_lossy().into_owned());
        e.set_val(m.source.to_string_lossy().into_owned());
        o.ext_mnt.push(e);
    }
    let mut req = Criu_req::new();
    req.set_type(Criu_req_type::RESTORE);
    req.opts = Some(o).into();
    let resp = swrk.call(&req, "restore")?;
    swrk.finish()?;
    let pid = resp.restore.pid();

    let start_time = crate::process::liveness::proc_stat(Path::new("/proc"), pid)
        .map(|s| s.start_time)
        .ok_or(ContainerError::InitExited {
            id: plan.id.clone(),
        })?;
    state.pid = Some(pid);
    state.pid_start_time = Some(start_time);
    state.phase = Phase::Started;
    identity.pid = state.pid;
    identity.pid_start_time = state.pid_start_time;
    container.save_identity(&identity)?;
    container.save(&state)?;
    if let Some(path) = &opts.pid_file {
        write_pid_file(path, pid)?;
    }
    Ok(pid)
}

/// The rootfs bound (recursively) on a directory for CRIU; detached and removed on drop.
struct RootBind {
    target: PathBuf,
}

impl RootBind {
    fn new(rootfs: &Path, target: &Path) -> Result<RootBind, CriuError> {
        let err = |source| CriuError::BindRoot {
            rootfs: rootfs.to_path_buf(),
            target: target.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(target)
            .map_err(|e| err(nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
        nix::mount::mount(
            Some(rootfs),
            target,
            None::<&str>,
            nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(err)?;
        Ok(RootBind {
            target: target.to_path_buf(),
        })
    }
}

impl Drop for RootBind {
    fn drop(&mut self) {
        if let Err(e) = nix::mount::umount2(&self.target, nix::mount::MntFlags::MNT_DETACH) {
            crate::log_warn!("detach {}: {e}", self.target.display());
        }
        let _ = std::fs::remove_dir(&self.target);
    }
}
