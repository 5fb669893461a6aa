//! `berth create`.

use anyhow::{bail, Context};
use berth_runtime::bundle::PlanOptions;
use berth_runtime::cgroups;
use berth_runtime::container::{self, CreateOptions};
use berth_runtime::state::Store;

use crate::cli::{CgroupManager, CreateArgs, Global};

pub fn run(store: &Store, g: &Global, args: &CreateArgs) -> anyhow::Result<i32> {
    let opts = options(g, args)?;
    container::create(store, &args.id, &args.bundle, &opts)
        .with_context(|| format!("create container {:?}", args.id))
}

/// Checks the flags berth does not support yet, and turns the rest into library options.
pub fn options(g: &Global, args: &CreateArgs) -> anyhow::Result<CreateOptions> {
    let (cgroup_manager, systemd_cgroup) = cgroup_manager(g)?;
    let listen_fds = listen_fds();
    Ok(CreateOptions {
        pid_file: args.pid_file.clone(),
        console_socket: args.console_socket.clone(),
        keep_console: false,
        plan: PlanOptions {
            no_pivot: args.no_pivot,
            no_new_keyring: args.no_new_keyring,
            systemd_cgroup,
            cgroup_manager,
            // Socket-activation fds come first (3..3+n-1), then --preserve-fds, as runc.
            preserve_fds: listen_fds + args.preserve_fds,
            listen_fds,
            rootless: g
                .is_rootless()
                .then(berth_runtime::bundle::Rootless::caller),
        },
    })
}

/// `--cgroup-manager` and `--systemd-cgroup` together: `(manager, systemd driver)`. Both
/// `--systemd-cgroup` and `--cgroup-manager=systemd` select the systemd driver; asking for it
/// and for no cgroup at once is a contradiction.
fn cgroup_manager(g: &Global) -> anyhow::Result<(cgroups::CgroupManager, bool)> {
    match (g.systemd_cgroup, g.cgroup_manager) {
        (true, CgroupManager::Disabled) => bail!(
            "--systemd-cgroup and --cgroup-manager=disabled cannot be used together (one asks for the systemd cgroup driver, the other for no cgroup)"
        ),
        (true, _) | (false, CgroupManager::Systemd) => Ok((cgroups::CgroupManager::Cgroupfs, true)),
        (false, CgroupManager::Cgroupfs) => Ok((cgroups::CgroupManager::Cgroupfs, false)),
        (false, CgroupManager::Disabled) => Ok((cgroups::CgroupManager::Disabled, false)),
    }
}

/// systemd socket activation (sd_listen_fds(3)): `LISTEN_FDS=n` meant for this process
/// (`LISTEN_PID` unset or our pid) passes fds 3..3+n-1 on to the container.
fn listen_fds() -> u32 {
    let Some(n) = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    else {
        return 0;
    };
    match std::env::var("LISTEN_PID") {
        Ok(pid) if pid != std::process::id().to_string() => 0,
        _ => n,
    }
}
