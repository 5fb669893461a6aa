//! `berth checkpoint`: runc's flags; the ones berth does not support are refused by name.

use std::path::PathBuf;

use anyhow::{bail, Context};
use berth_runtime::container::{self, CgroupsMode, CheckpointOptions};
use berth_runtime::state::Store;
use clap::{Args, ValueEnum};

use crate::cli::Global;

/// `--manage-cgroups-mode`, spelled as runc's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ManageCgroupsMode {
    Soft,
    Full,
    Strict,
    Ignore,
}

impl From<ManageCgroupsMode> for CgroupsMode {
    fn from(m: ManageCgroupsMode) -> CgroupsMode {
        match m {
            ManageCgroupsMode::Soft => CgroupsMode::Soft,
            ManageCgroupsMode::Full => CgroupsMode::Full,
            ManageCgroupsMode::Strict => CgroupsMode::Strict,
            ManageCgroupsMode::Ignore => CgroupsMode::Ignore,
        }
    }
}

#[derive(Debug, Args, Clone)]
pub struct CheckpointArgs {
    /// Directory for the checkpoint's images (created if missing) [default: ./checkpoint]
    #[arg(long)]
    pub image_path: Option<PathBuf>,
    /// Directory for CRIU's log and work files [default: the image path]
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// The images of a previous pre-dump, relative to the image path (as CRIU reads it)
    #[arg(long)]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint
    #[arg(long)]
    pub leave_running: bool,
    /// Dump the container's memory only, leaving it running (for a later dump with
    /// --parent-path)
    #[arg(long)]
    pub pre_dump: bool,
    /// How CRIU handles the container's cgroups: soft (default), full, strict or ignore
    #[arg(long, value_enum)]
    pub manage_cgroups_mode: Option<ManageCgroupsMode>,
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
    pub lazy_pages: bool,
    /// Not supported by berth: refused
    #[arg(long)]
    pub page_server: Option<String>,
    /// Not supported by berth: refused
    #[arg(long)]
    pub status_fd: Option<i32>,
    /// Not supported by berth: refused
    #[arg(long)]
    pub empty_ns: Option<String>,
    /// Not supported by berth: refused
    #[arg(long)]
    pub auto_dedup: bool,
    /// Container id
    pub id: String,
}

pub fn run(store: &Store, g: &Global, args: &CheckpointArgs) -> anyhow::Result<()> {
    refuse(
        "checkpoint",
        &[
            ("tcp-established", args.tcp_established),
            ("ext-unix-sk", args.ext_unix_sk),
            ("shell-job", args.shell_job),
            ("file-locks", args.file_locks),
            ("lazy-pages", args.lazy_pages),
            ("page-server", args.page_server.is_some()),
            ("status-fd", args.status_fd.is_some()),
            ("empty-ns", args.empty_ns.is_some()),
            ("auto-dedup", args.auto_dedup),
        ],
    )?;
    let opts = CheckpointOptions {
        criu: criu_binary(g),
        image_path: image_path(args.image_path.as_ref())?,
        work_path: args.work_path.clone(),
        leave_running: args.leave_running,
        pre_dump: args.pre_dump,
        parent_path: args.parent_path.clone(),
        cgroups_mode: args.manage_cgroups_mode.map(Into::into).unwrap_or_default(),
    };
    container::checkpoint(store, &args.id, &opts)
        .with_context(|| format!("checkpoint container {:?}", args.id))
}

/// Fails naming the first flag given that berth does not support (never accepted and
/// ignored).
pub(super) fn refuse(command: &str, flags: &[(&str, bool)]) -> anyhow::Result<()> {
    if let Some((name, _)) = flags.iter().find(|(_, given)| *given) {
        bail!("{command}: --{name} is not supported by berth (docs/checkpoint.md)");
    }
    Ok(())
}

/// `--criu`, else `criu` on PATH.
pub(super) fn criu_binary(g: &Global) -> PathBuf {
    g.criu
        .clone()
        .unwrap_or_else(|| PathBuf::from(berth_runtime::criu::DEFAULT_BINARY))
}

/// `--image-path`, else `checkpoint` in the current directory (runc's default).
pub(super) fn image_path(given: Option<&PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(p) => Ok(p.clone()),
        None => Ok(std::env::current_dir()
            .context("read the current directory")?
            .join("checkpoint")),
    }
}
