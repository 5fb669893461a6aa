//! `berth create`.

use anyhow::{bail, Context};
use berth_runtime::bundle::PlanOptions;
use berth_runtime::container::{self, CreateOptions};
use berth_runtime::state::Store;

use crate::cli::{CreateArgs, Global};

pub fn run(store: &Store, g: &Global, args: &CreateArgs) -> anyhow::Result<i32> {
    let opts = options(g, args)?;
    container::create(store, &args.id, &args.bundle, &opts)
        .with_context(|| format!("create container {:?}", args.id))
}

/// Checks the flags berth does not support yet, and turns the rest into library options.
pub fn options(g: &Global, args: &CreateArgs) -> anyhow::Result<CreateOptions> {
    if g.systemd_cgroup {
        bail!("--systemd-cgroup: the systemd cgroup driver is not supported by this berth version");
    }
    if let Some(socket) = &args.console_socket {
        bail!(
            "--console-socket {}: terminals are not supported by this berth version yet",
            socket.display()
        );
    }
    Ok(CreateOptions {
        pid_file: args.pid_file.clone(),
        plan: PlanOptions {
            no_pivot: args.no_pivot,
            no_new_keyring: args.no_new_keyring,
            systemd_cgroup: g.systemd_cgroup,
            preserve_fds: args.preserve_fds,
        },
    })
}
