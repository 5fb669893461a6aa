//! Command-line syntax, spelled like runc's so that existing clients (containerd's runc shim,
//! podman, runtime-tools) can drive berth unchanged.

use std::path::PathBuf;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "berth: a low-level OCI container runtime",
    // runc spells it `-v, --version` and prints the whole version (commit, spec) for both; clap's
    // own flag would be `-V` with a one-line short form.
    version = crate::commands::version::long(),
    disable_version_flag = true,
    // runc (urfave/cli) lets a repeated flag override the earlier one; clients rely on it.
    args_override_self = true,
)]
pub struct Cli {
    /// Print the version
    #[arg(short = 'v', long, short_alias = 'V', action = clap::ArgAction::Version)]
    pub version: (),
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory for container state [default: /run/berth; $XDG_RUNTIME_DIR/berth when run
    /// by an unprivileged user (or as root in a user namespace, USER not root) with
    /// XDG_RUNTIME_DIR set]
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Write logs to this file instead of stderr
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log debug messages
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd: the container's cgroup is a transient scope that
    /// systemd creates (cgroupsPath "slice:prefix:name"; pure cgroup v2 hosts only)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Cgroup manager: cgroupfs, systemd (as --systemd-cgroup) or disabled (no cgroup)
    ///
    /// Read by create and run; later commands follow what the container was created with.
    /// disabled: the container gets no cgroup at all, linux.resources and linux.cgroupsPath
    /// are ignored, and pause, resume, update, ps and events refuse the container.
    #[arg(long, global = true, value_enum, default_value_t = CgroupManager::Cgroupfs)]
    pub cgroup_manager: CgroupManager,
    /// Rootless mode: true, false or auto (the default: rootless when berth runs as an
    /// unprivileged user). A rootless container's cgroup is made in the cgroup v2 subtree
    /// delegated to berth (the parent of its own cgroup); without one it gets no cgroup and
    /// its linux.resources are refused (docs/rootless.md)
    // Not `global`: only before the command, as with runc, since `spec --rootless` is a
    // different (boolean) flag.
    #[arg(long, value_enum)]
    pub rootless: Option<Rootless>,
    /// Path of the criu binary for checkpoint and restore [default: criu, looked up on PATH]
    #[arg(long, global = true)]
    pub criu: Option<PathBuf>,
}

/// `--rootless`, spelled as runc's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Rootless {
    True,
    False,
    Auto,
}

/// `--cgroup-manager`, spelled as crun's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CgroupManager {
    Cgroupfs,
    Systemd,
    Disabled,
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
        /// Do not become a subreaper: what berth always does (it waits for the container's init
        /// only), so the flag is accepted and changes nothing
        #[arg(long)]
        no_subreaper: bool,
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
        /// berth's stricter starter: no ambient capabilities, a cgroup namespace, powercap
        /// masked, the default seccomp profile (the default is exactly runc's)
        #[arg(long)]
        hardened: bool,
    },
    /// Print what this berth supports, as OCI features JSON
    Features,
    /// Run a new process in a created or running container
    Exec(ExecArgs),
    /// Freeze every process of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// List the processes of a container
    ///
    /// As runc: options go before the id; everything after it is passed to ps(1) (default -ef),
    /// e.g. `berth ps ID -o pid,comm`. A `--` before them is accepted and dropped.
    Ps {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
        /// The container id, then the arguments for ps(1)
        #[arg(
            value_name = "ID [PS_ARGS]",
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true
        )]
        args: Vec<String>,
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
    /// Checkpoint a running container with CRIU (docs/checkpoint.md)
    Checkpoint(crate::commands::checkpoint::CheckpointArgs),
    /// Restore a container from a CRIU checkpoint (docs/checkpoint.md)
    Restore(crate::commands::restore::RestoreArgs),
    /// Report what this host offers berth (cgroups, namespaces, seccomp, ...)
    Check {
        #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Print the completion script for a shell
    ///
    /// Generated from berth's own command line, so it always matches this binary. The packaged
    /// scripts are this output; for a shell session: `source <(berth completion bash)`.
    Completion {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

/// The shells `berth completion` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

/// The hidden subcommand `make man` runs: `berth generate-man DIR` writes berth(8) and a page
/// per command into DIR. It is added to the parser only ([`parse`]), not to [`Cli`], so that
/// neither --help nor the completion scripts (which list hidden subcommands too) offer it.
pub const GENERATE_MAN: &str = "generate-man";

/// What the command line asks for: a berth command, or the man pages.
#[derive(Debug)]
pub enum Invocation {
    Berth(Box<Cli>),
    GenerateMan(PathBuf),
}

/// berth's command line as clap builds it: the one definition behind the parser,
/// `berth completion` and the man pages.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Parses the process's arguments: [`Cli`] plus the hidden [`GENERATE_MAN`].
pub fn parse() -> Result<Invocation, clap::Error> {
    let matches = command()
        .subcommand(
            clap::Command::new(GENERATE_MAN)
                .hide(true)
                .about("Write berth's man pages (section 8) into a directory")
                .arg(
                    clap::Arg::new("dir")
                        .required(true)
                        .value_parser(clap::value_parser!(PathBuf)),
                ),
        )
        .try_get_matches()?;
    if let Some((GENERATE_MAN, m)) = matches.subcommand() {
        let dir = m.get_one::<PathBuf>("dir").expect("dir is required");
        return Ok(Invocation::GenerateMan(dir.clone()));
    }
    // As Cli::try_parse does: an error here is formatted with the whole command's usage.
    Cli::from_arg_matches(&matches)
        .map(|cli| Invocation::Berth(Box::new(cli)))
        .map_err(|e| e.format(&mut command()))
}

/// `berth exec`: runc's flags.
#[derive(Debug, Args, Clone)]
pub struct ExecArgs {
    /// A runtime-spec process JSON file (replaces the container's process and the flags below)
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket to receive the pty master
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (NAME=value)
    #[arg(short, long)]
    pub env: Vec<String>,
    /// uid[:gid] to run as
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional gids (repeatable)
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the bounding, effective and permitted sets
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// AppArmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label for the process
    #[arg(long)]
    pub process_label: Option<String>,
    /// Return once the process started
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Pass N extra fds (3 .. 3+N-1) to the process
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Exec even if the container is paused
    #[arg(long)]
    pub ignore_paused: bool,
    /// Run the process in an existing sub-cgroup of the container: [CONTROLLER[,...]:]PATH
    /// (repeatable with a controller prefix; cgroup v2 takes a bare PATH)
    #[arg(long = "cgroup", value_name = "[CONTROLLER:]PATH")]
    pub cgroups: Vec<String>,
    /// Container id
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// Root in a user namespace other than the host's with `USER` unset or not `root` (runc's
/// rule): a user's rootless podman, whose runtime state belongs in that user's
/// XDG_RUNTIME_DIR rather than in a /run it cannot write.
fn userns_root_of_a_user() -> bool {
    berth_runtime::bundle::in_user_namespace(std::path::Path::new("/proc"))
        && std::env::var_os("USER").is_none_or(|u| u != "root")
}

/// The default state root for root (runc's is /run/runc).
pub const DEFAULT_ROOT: &str = "/run/berth";

impl Global {
    /// `--root`, else the default: `$XDG_RUNTIME_DIR/berth` for an unprivileged caller (or
    /// root in a user namespace with `USER` not `root`) with XDG_RUNTIME_DIR set (runc's rule:
    /// the XDG base directory specification gives each user a private runtime directory),
    /// else `/run/berth`. Returns the path and whether it is the
    /// XDG one.
    pub fn state_root(&self) -> (PathBuf, bool) {
        if let Some(root) = &self.root {
            return (root.clone(), false);
        }
        let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
        match xdg {
            Some(dir) if !nix::unistd::geteuid().is_root() || userns_root_of_a_user() => {
                (PathBuf::from(dir).join("berth"), true)
            }
            _ => (PathBuf::from(DEFAULT_ROOT), false),
        }
    }

    /// Whether this run is rootless: `--rootless true`/`false`, else (`auto`, or no flag)
    /// whether berth's effective uid is not 0 or berth runs in a user namespace other than
    /// the host's (root there, as rootless podman runs its runtime, owns only what was
    /// delegated to the user), as runc's auto with its cgroupfs driver.
    pub fn is_rootless(&self) -> bool {
        match self.rootless {
            Some(Rootless::True) => true,
            Some(Rootless::False) => false,
            Some(Rootless::Auto) | None => {
                !nix::unistd::geteuid().is_root()
                    || berth_runtime::bundle::in_user_namespace(std::path::Path::new("/proc"))
            }
        }
    }

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
