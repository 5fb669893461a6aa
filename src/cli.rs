//! Command-line syntax, spelled like runc's so that existing clients (containerd's runc shim,
//! podman, runtime-tools) can drive berth unchanged.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "berth: a low-level OCI container runtime",
    version = crate::commands::version::short(),
    long_version = crate::commands::version::long(),
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory for container state
    #[arg(long, global = true, default_value = "/run/berth")]
    pub root: PathBuf,
    /// Write logs to this file instead of stderr
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log debug messages
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd (not supported yet: rejected)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Args, Clone)]
pub struct CreateArgs {
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket to receive the pty master of a terminal container
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Write the container init's pid to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root (for ramfs roots)
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N extra fds (3 .. 3+N-1) to the container process
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Container id
    pub id: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a container that waits for `start`
    Create(CreateArgs),
    /// Run the user process of a created container
    Start { id: String },
    /// Print the state of a container as OCI state JSON
    State { id: String },
    /// Send a signal to a container's init (default SIGTERM)
    Kill {
        /// Signal every process in the container's cgroup
        #[arg(short, long)]
        all: bool,
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Delete a stopped container (with --force, kill it first)
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container, and wait for it unless --detach
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return after starting the container
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits
        #[arg(long)]
        keep: bool,
    },
    /// List containers
    #[command(alias = "ls")]
    List {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// Print only the container ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json into a bundle
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A config for an unprivileged user (user namespace)
        #[arg(long)]
        rootless: bool,
    },
    /// Print what this berth supports, as OCI features JSON
    Features,
    /// Freeze every process of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// List the processes of a container
    Ps {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        id: String,
        /// Arguments for ps(1) (default -ef)
        #[arg(last = true)]
        ps_args: Vec<String>,
    },
    /// Change the resource limits of a running container
    Update(crate::commands::update::UpdateArgs),
    /// Print resource usage and OOM events of a container
    Events {
        /// Print one stats object and exit
        #[arg(long)]
        stats: bool,
        /// Interval between stats objects when streaming (e.g. 5s, 500ms)
        #[arg(long, default_value = "5s")]
        interval: String,
        id: String,
    },
    /// Report what this host offers berth (cgroups, namespaces, seccomp, ...)
    Check {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

impl Global {
    pub fn init_logging(&self) -> anyhow::Result<()> {
        use anyhow::Context;
        let format = match self.log_format {
            LogFormat::Text => berth_runtime::log::LogFormat::Text,
            LogFormat::Json => berth_runtime::log::LogFormat::Json,
        };
        berth_runtime::log::init(self.log.as_deref(), format, self.debug).with_context(|| {
            format!(
                "open log file {}",
                self.log
                    .as_deref()
                    .unwrap_or(std::path::Path::new("-"))
                    .display()
            )
        })
    }
}
