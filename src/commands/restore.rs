//! `berth restore`: runc's flags; the ones berth does not support are refused by name. In the
//! foreground (no --detach) berth waits for the restored container as `run` does, and deletes
//! it once it exited.

use std::path::PathBuf;

use anyhow::Context;
use berth_runtime::container::{self, RestoreOptions};
use berth_runtime::state::Store;
use clap::Args;

use super::checkpoint::{criu_binary, image_path, refuse, ManageCgroupsMode};
use crate::cli::{CreateArgs, Global};

#[derive(Debug, Args, Clone)]
pub struct RestoreArgs {
    /// Directory holding the checkpoint's images [default: ./checkpoint]
    #[arg(long)]
    pub image_path: Option<PathBuf>,
    /// Directory for CRIU's log and work files [default: the image path]
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Return once the container is restored
    #[arg(short, long)]
    pub detach: bool,
    /// Write the restored init's pid to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// How CRIU handles the container's cgroups: soft (default), full, strict or ignore
    #[arg(long, value_enum)]
    pub manage_cgroups_mode: Option<ManageCgroupsMode>,
    /// Not supported by berth: refused
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Not supported by berth: refused
    #[arg(long)]
    pub no_pivot: bool,
    /// Not supported by berth: refused
    #[arg(long)]
    pub no_subreaper: bool,
    /// Not supported by berth: refused
    #[arg(long)]
    pub tcp_established: bool,
    /// Not supported by berth: refused
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Not supported by berth: refused
    #[arg(long)]
    pub shell_job: bool,
    /// Not supported by berth: refused
    #[arg(long)]
    pub file_locks: bool,
    /// Not supported by berth: refused
    #[arg(long)]
    pub empty_ns: Option<String>,
    /// Not supported by berth: refused
    #[arg(long)]
    pub auto_dedup: bool,
    /// Not supported by berth: refused
    #[arg(long)]
    pub lazy_pages: bool,
    /// Container id
    pub id: String,
}

pub fn run(store: &Store, g: &Global, args: &RestoreArgs) -> anyhow::Result<u8> {
    refuse(
        "restore",
        &[
            ("console-socket", args.console_socket.is_some()),
            ("no-pivot", args.no_pivot),
            ("no-subreaper", args.no_subreaper),
            ("tcp-established", args.tcp_established),
            ("ext-unix-sk", args.ext_unix_sk),
            ("shell-job", args.shell_job),
            ("file-locks", args.file_locks),
            ("empty-ns", args.empty_ns.is_some()),
            ("auto-dedup", args.auto_dedup),
            ("lazy-pages", args.lazy_pages),
        ],
    )?;
    // The plan options of create (cgroup manager, rootless), from the same global flags.
    let create = CreateArgs {
        bundle: args.bundle.clone(),
        console_socket: None,
        pid_file: None,
        no_pivot: false,
        no_new_keyring: false,
        preserve_fds: 0,
        id: args.id.clone(),
    };
    let plan = super::create::options(g, &create)?.plan;
    let opts = RestoreOptions {
        criu: criu_binary(g),
        bundle: args.bundle.clone(),
        image_path: image_path(args.image_path.as_ref())?,
        work_path: args.work_path.clone(),
        pid_file: args.pid_file.clone(),
        plan,
        cgroups_mode: args.manage_cgroups_mode.map(Into::into).unwrap_or_default(),
    };
    let id = &args.id;
    // As run: the forwarded signals are blocked before the container exists.
    let forwarded = super::run::forwarded_signals();
    if !args.detach {
        nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_BLOCK,
            Some(&forwarded),
            None,
        )
        .context("block signals")?;
    }
    let pid = container::restore(store, id, &opts)
        .with_context(|| format!("restore container {id:?}"))?;
    if args.detach {
        return Ok(0);
    }
    let code = super::run::wait_forwarding(pid, &forwarded)?;
    container::delete(store, id, true).with_context(|| format!("delete container {id:?}"))?;
    Ok(code)
}
