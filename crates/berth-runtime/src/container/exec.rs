//! `exec`: run another process in a created or running container (runc's `exec`).
//!
//! The process joins every namespace of the container (fds opened from `/proc/<init>/ns/*`
//! and checked against the init's start time, so a reused pid cannot redirect them), its
//! cgroup, and runs the same final steps as the init: rlimits, user, capabilities,
//! no_new_privs (process/final_steps.rs). `--cap` adds to the bounding, effective and
//! permitted sets only, never to the inheritable or ambient ones (CVE-2022-29162).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

use super::{status, ContainerError, Status};
use crate::bundle::{BundleError, ProcessPlan};
use crate::cgroups::SubCgroups;
use crate::lsm::{HostLsms, LsmPlan};
use crate::process::{self, liveness, ExecRequest, JoinNs};
use crate::state::{ContainerId, ContainerState, Store};
use crate::terminal::ConsoleSocket;

/// The process to run: a whole runtime-spec `process` object (`--process FILE`), or the
/// container's own process with runc's command-line overrides.
#[derive(Debug, Clone)]
pub enum ExecProcess {
    Json(PathBuf),
    Args(ExecOverrides),
}

/// runc's `exec` flags that change the container's process.
#[derive(Debug, Clone, Default)]
pub struct ExecOverrides {
    pub args: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// Appended to the container's environment (a later entry wins, as with execve).
    pub env: Vec<String>,
    /// `uid[:gid]`.
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    /// Added to the bounding, effective and permitted sets.
    pub caps: Vec<String>,
    pub no_new_privs: bool,
}

/// Everything `berth exec` was asked.
#[derive(Debug, Clone)]
pub struct ExecOptions {
    pub process: ExecProcess,
    /// `--tty`: allocate a terminal (also `process.terminal` of a `--process` file).
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: u32,
    pub ignore_paused: bool,
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
    /// `--cgroup`: sub-cgroups of the container's cgroup to run the process in.
    pub sub_cgroups: SubCgroups,
}

/// The process `exec` started: a child of the caller (it may wait for it), and the pty master
/// when the caller relays the terminal itself.
#[derive(Debug)]
pub struct Executed {
    pub pid: i32,
    pub console: Option<OwnedFd>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("read process file {path}")]
    ReadProcess {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse process file {path}")]
    ParseProcess {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("exec needs a command: give arguments or --process")]
    NoCommand,
    #[error("--user {0:?}: expected uid[:gid] as numbers")]
    BadUser(String),
    #[error("--cap {0:?}: unknown capability")]
    BadCap(String),
    #[error("the container's state has no saved process (it was created by an older berth); use --process")]
    NoSavedProcess,
    #[error("the container is paused (use --ignore-paused to exec anyway)")]
    Paused,
    #[error("open the container's {name} namespace {path}")]
    Namespace {
        name: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("additional gids {gids:?}: the container's user namespace denies setgroups (a rootless container)")]
    SetgroupsDenied { gids: Vec<u32> },
    #[error("the container's init exited")]
    InitGone,
    #[error("{flag}: {lsm} is not enabled on this host")]
    LsmDisabled {
        flag: &'static str,
        lsm: &'static str,
    },
    #[error(transparent)]
    Process(#[from] BundleError),
    /// Boxed: LsmError carries an attribute-write error, far larger than the others.
    #[error(transparent)]
    Lsm(Box<crate::lsm::LsmError>),
    #[error(transparent)]
    Spawn(#[from] process::ProcessError),
}

/// Join order: the user namespace first (it owns the others: joining them needs capabilities
/// in it), the mount namespace last (setns(CLONE_NEWNS) changes our root and cwd).
const NAMESPACES: [(&str, libc::c_int); 8] = [
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("time", libc::CLONE_NEWTIME),
    ("mnt", libc::CLONE_NEWNS),
];

/// Starts a process in container `id`; returns once the program is exec'd.
pub fn exec(store: &Store, id: &str, opts: &ExecOptions) -> Result<Executed, ContainerError> {
    let id = ContainerId::new(id)?;
    let container = store.lock(&id)?;
    let state = container.load()?;
    match status(&state) {
        Status::Created | Status::Running => {}
        Status::Paused if opts.ignore_paused => {}
        Status::Paused => return Err(ExecError::Paused.into()),
        current => {
            return Err(ContainerError::WrongState {
                op: "exec",
                id: state.id,
                status: current,
                hint: "",
            })
        }
    }
    let (mut plan, file_labels) = process_plan(&state, opts)?;
    plan.terminal |= opts.tty;
    let socket = match (&opts.console_socket, plan.terminal) {
        (Some(path), true) => Some(ConsoleSocket::connect(path)?),
        (Some(_), false) => return Err(ContainerError::ConsoleWithoutTerminal),
        (None, true) if opts.detach => return Err(ContainerError::TerminalWithoutConsole),
        (None, _) => None,
    };
    let lsm = lsm_plan(
        opts,
        file_labels.as_ref(),
        &state,
        HostLsms::detect(Path::new("/sys"), Path::new("/proc")),
    )?;
    // Checked before anything is forked: a bad --cgroup leaves nothing behind.
    let cgroups = match super::own_cgroup(&state) {
        Some(cgroup) => cgroup.for_exec(&opts.sub_cgroups)?,
        // A container without a cgroup: the process joins only the namespaces.
        None if opts.sub_cgroups.is_empty() => Vec::new(),
        None => return Err(ContainerError::NoCgroup { id: state.id }),
    };
    let pid = state.pid.ok_or(ExecError::InitGone)?;
    let namespaces = open_namespaces(pid, state.pid_start_time.unwrap_or(0))?;
    // A rootless container's user namespace denies setgroups (bundle/rootless.rs): the
    // process keeps its groups, and asking for others is refused here, not by an EPERM later.
    // Read from the host's /proc, which the container cannot mount over.
    if setgroups_denied(pid) {
        if !plan.additional_gids.is_empty() {
            return Err(ExecError::SetgroupsDenied {
                gids: plan.additional_gids.clone(),
            }
            .into());
        }
        plan.setgroups_denied = true;
    }
    // The container's filter, from the config saved at create (not the bundle, which may have
    // changed since).
    let seccomp = match state.config.as_ref() {
        Some(config) => crate::seccomp::SeccompPlan::from_config(config)
            .map_err(crate::bundle::BundleError::from)?,
        None => None,
    };
    // The container's personality and memory policy, from the same saved config.
    let attrs = crate::bundle::ContainerAttrs::from_saved(
        state.config.as_ref().and_then(|c| c.get("linux")),
    )?;
    // Release the lock before the process is spawned: with --ignore-paused it joins a frozen
    // cgroup and stops there until `resume`, which needs this lock (runc's exec holds none
    // either). The namespace fds are open and checked against the init's start time, so a
    // concurrent delete can only make the join fail, never redirect it.
    let listener = match &seccomp {
        Some(s) => crate::seccomp::Listener::connect_for(
            s,
            crate::seccomp::ListenerState {
                oci_version: &state.oci_version,
                id: &state.id,
                status: "running",
                pid: i64::from(pid),
                bundle: &state.bundle,
                annotations: serde_json::json!(state.annotations),
            },
        )
        .map_err(crate::bundle::BundleError::from)?,
        None => None,
    };
    drop(container);
    let spawned = process::spawn_exec(&ExecRequest {
        process: &plan,
        namespaces,
        cgroups: &cgroups,
        preserve_fds: opts.preserve_fds,
        lsm: &lsm,
        attrs: &attrs,
        seccomp: seccomp.as_ref(),
        listener,
    })
    .map_err(ExecError::from)?;
    if let Some(path) = &opts.pid_file {
        super::create::write_pid_file(path, spawned.pid)?;
    }
    let console = match (spawned.console, socket) {
        (Some(master), Some(socket)) => {
            socket.send(master.as_fd(), &format!("{}-exec-console", id.as_str()))?;
            None
        }
        (console, _) => console,
    };
    Ok(Executed {
        pid: spawned.pid,
        console,
    })
}

/// Whether `/proc/<pid>/setgroups` says "deny" (user_namespaces(7)). A file that cannot be
/// read (no user namespace support) means allowed, as the kernel's default is.
fn setgroups_denied(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/setgroups")).is_ok_and(|s| s.trim() == "deny")
}

/// The `apparmorProfile` and `selinuxLabel` of a `--process` file (empty strings mean unset,
/// as in config.json).
#[derive(Debug, Default)]
struct FileLabels {
    apparmor_profile: Option<String>,
    selinux_label: Option<String>,
}

impl FileLabels {
    fn of(p: &oci_spec::runtime::Process) -> FileLabels {
        let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        FileLabels {
            apparmor_profile: set(p.apparmor_profile()),
            selinux_label: set(p.selinux_label()),
        }
    }
}

/// The process to run, validated like config.json's, with the labels of a `--process` file.
fn process_plan(
    state: &ContainerState,
    opts: &ExecOptions,
) -> Result<(ProcessPlan, Option<FileLabels>), ExecError> {
    let o = match &opts.process {
        ExecProcess::Json(path) => {
            let text =
                crate::bundle::read_bounded(path).map_err(|source| ExecError::ReadProcess {
                    path: path.clone(),
                    source,
                })?;
            let parse_err = |source| ExecError::ParseProcess {
                path: path.clone(),
                source,
            };
            let mut value: serde_json::Value = serde_json::from_slice(&text).map_err(parse_err)?;
            crate::bundle::refuse_unapplied_in_process(&value)?;
            crate::bundle::normalize_scheduler_flags(&mut value);
            complete_process_file(&mut value, state);
            let p: oci_spec::runtime::Process = serde_json::from_value(value).map_err(parse_err)?;
            return Ok((ProcessPlan::from_process(&p)?, Some(FileLabels::of(&p))));
        }
        ExecProcess::Args(o) => o,
    };
    if o.args.is_empty() {
        return Err(ExecError::NoCommand);
    }
    let saved = state
        .config
        .as_ref()
        .and_then(|c| c.get("process"))
        .filter(|p| !p.is_null())
        .ok_or(ExecError::NoSavedProcess)?;
    let base: oci_spec::runtime::Process =
        serde_json::from_value(saved.clone()).map_err(|_| ExecError::NoSavedProcess)?;
    let mut p = ProcessPlan::from_process(&base)?;
    p.args = o.args.clone();
    p.terminal = false; // runc: only --tty gives an exec'd process a terminal
    p.console_size = None;
    if let Some(cwd) = &o.cwd {
        p.cwd = cwd.clone();
    }
    p.env.extend(o.env.iter().cloned());
    if let Some(user) = &o.user {
        let (uid, gid) = parse_user(user)?;
        p.uid = uid;
        if let Some(gid) = gid {
            p.gid = gid;
        }
    }
    if !o.additional_gids.is_empty() {
        p.additional_gids = o.additional_gids.clone();
    }
    for name in &o.caps {
        let full = if name.to_uppercase().starts_with("CAP_") {
            name.to_uppercase()
        } else {
            format!("CAP_{}", name.to_uppercase())
        };
        let cap: caps::Capability = full.parse().map_err(|_| ExecError::BadCap(name.clone()))?;
        // Bounding, effective, permitted: never inheritable or ambient (CVE-2022-29162).
        for (set, list) in p.capabilities.iter_mut() {
            if matches!(
                set,
                caps::CapSet::Bounding | caps::CapSet::Effective | caps::CapSet::Permitted
            ) {
                list.insert(cap);
            }
        }
    }
    p.no_new_privileges |= o.no_new_privs;
    Ok((p, None))
}

/// Fills what runc fills in a `--process` file: no `user` is uid 0, gid 0 (runc decodes the
/// file into a Go struct whose zero value that is), and no `capabilities` are the container's
/// own (runc's exec falls back to the container's config). Everything else is the file's:
/// without `rlimits` the process keeps berth's limits, as it keeps runc's.
fn complete_process_file(process: &mut serde_json::Value, state: &ContainerState) {
    let Some(p) = process.as_object_mut() else {
        return; // not an object: the typed parse names the problem
    };
    if p.get("user").is_none_or(|u| u.is_null()) {
        p.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
    }
    if p.get("capabilities").is_none_or(|c| c.is_null()) {
        let saved = state
            .config
            .as_ref()
            .and_then(|c| c.get("process"))
            .and_then(|p| p.get("capabilities"))
            .filter(|c| !c.is_null());
        if let Some(caps) = saved {
            p.insert("capabilities".into(), caps.clone());
        }
    }
}

fn parse_user(s: &str) -> Result<(u32, Option<u32>), ExecError> {
    let bad = || ExecError::BadUser(s.to_string());
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u.parse().map_err(|_| bad())?;
    let gid = g.map(|g| g.parse().map_err(|_| bad())).transpose()?;
    Ok((uid, gid))
}

/// Opens the init's namespaces that differ from ours, then checks that the init is still
/// the recorded process (pid and start time): the fds then surely belong to it.
fn open_namespaces(pid: i32, start_time: u64) -> Result<Vec<JoinNs>, ExecError> {
    let mut out = Vec::new();
    for (name, flag) in NAMESPACES {
        let path = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let fd = match open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) {
            Ok(fd) => fd,
            // A kernel without this namespace type (time before 5.6): nothing to join.
            Err(nix::Error::ENOENT) if std::fs::metadata(format!("/proc/{pid}")).is_ok() => {
                continue
            }
            Err(source) => return Err(ExecError::Namespace { name, path, source }),
        };
        let theirs = nix::sys::stat::fstat(&fd).map_err(|source| ExecError::Namespace {
            name,
            path: path.clone(),
            source,
        })?;
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}")).ok();
        if ours.is_some_and(|m| m.dev() == theirs.st_dev && m.ino() == theirs.st_ino) {
            continue; // shared with the host (or with us): joining would be a no-op (EINVAL for user)
        }
        out.push(JoinNs { flag, name, fd });
    }
    if !liveness::is_alive(Path::new("/proc"), pid, start_time) {
        return Err(ExecError::InitGone);
    }
    Ok(out)
}

/// The LSM labels for the exec'd process, each from the first that sets it: the
/// `--apparmor`/`--process-label` flags, the `--process` file's `apparmorProfile`/`selinuxLabel`
/// (checked like config.json's: refused naming the field where the LSM is not active, lsm.rs),
/// else the container's own (saved at create) when that LSM is active. runc takes a process
/// file's labels as they are, so a file without them runs unconfined there; berth keeps the
/// container's confinement instead. Applied like the init's, through verified procfs writes.
fn lsm_plan(
    opts: &ExecOptions,
    file: Option<&FileLabels>,
    state: &ContainerState,
    host: HostLsms,
) -> Result<LsmPlan, ExecError> {
    let saved = |key: &str| -> Option<String> {
        state
            .config
            .as_ref()?
            .get("process")?
            .get(key)?
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let flag = |f: &Option<String>| f.as_ref().filter(|p| !p.is_empty()).cloned();
    if flag(&opts.apparmor).is_some() && !host.apparmor {
        return Err(ExecError::LsmDisabled {
            flag: "--apparmor",
            lsm: "AppArmor",
        });
    }
    if flag(&opts.process_label).is_some() && !host.selinux {
        return Err(ExecError::LsmDisabled {
            flag: "--process-label",
            lsm: "SELinux",
        });
    }
    let from_file = match file {
        // The same check as config.json's process labels (and the same message).
        Some(f) => LsmPlan::new(
            f.apparmor_profile.as_deref(),
            f.selinux_label.as_deref(),
            None,
            host,
        )
        .map_err(|e| ExecError::Lsm(Box::new(e)))?,
        None => LsmPlan::default(),
    };
    Ok(LsmPlan {
        apparmor_profile: flag(&opts.apparmor)
            .or(from_file.apparmor_profile)
            .or_else(|| saved("apparmorProfile").filter(|_| host.apparmor)),
        selinux_label: flag(&opts.process_label)
            .or(from_file.selinux_label)
            .or_else(|| saved("selinuxLabel").filter(|_| host.selinux)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_is_uid_and_optional_gid() {
        assert_eq!(parse_user("1000").unwrap(), (1000, None));
        assert_eq!(parse_user("1000:5").unwrap(), (1000, Some(5)));
        assert_eq!(
            parse_user("alice").unwrap_err().to_string(),
            "--user \"alice\": expected uid[:gid] as numbers"
        );
    }

    fn state_with_process(process: serde_json::Value) -> ContainerState {
        ContainerState {
            oci_version: "1.0.2".into(),
            id: "c".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            pid: None,
            pid_start_time: None,
            created: String::new(),
            owner: "root".into(),
            annotations: Default::default(),
            cgroup: None,
            phase: crate::state::Phase::Started,
            config: Some(serde_json::json!({ "process": process })),
        }
    }

    fn opts(o: ExecOverrides) -> ExecOptions {
        ExecOptions {
            process: ExecProcess::Args(o),
            tty: false,
            console_socket: None,
            detach: false,
            pid_file: None,
            preserve_fds: 0,
            ignore_paused: false,
            apparmor: None,
            process_label: None,
            sub_cgroups: SubCgroups::default(),
        }
    }

    #[test]
    fn overrides_apply_on_the_container_process_and_cap_never_reaches_inheritable() {
        let st = state_with_process(serde_json::json!({
            "terminal": true, "user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/",
            "env": ["A=1"],
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                             "permitted": ["CAP_KILL"], "inheritable": [], "ambient": []},
            "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20}]
        }));
        let p = process_plan(
            &st,
            &opts(ExecOverrides {
                args: vec!["id".into()],
                cwd: Some("/tmp".into()),
                env: vec!["B=2".into()],
                user: Some("1000:1000".into()),
                additional_gids: vec![5],
                caps: vec!["CAP_NET_ADMIN".into(), "chown".into()],
                no_new_privs: true,
            }),
        )
        .unwrap()
        .0;
        assert_eq!(p.args, ["id"]);
        assert!(
            !p.terminal,
            "the container's terminal setting is not inherited"
        );
        assert_eq!(p.cwd, PathBuf::from("/tmp"));
        assert_eq!(p.env, ["A=1", "B=2"]);
        assert_eq!(
            (p.uid, p.gid, p.additional_gids.clone()),
            (1000, 1000, vec![5])
        );
        assert_eq!(p.rlimits.len(), 1);
        assert!(p.no_new_privileges);
        for (set, list) in &p.capabilities {
            let has = list.contains(&caps::Capability::CAP_NET_ADMIN);
            match set {
                caps::CapSet::Inheritable | caps::CapSet::Ambient => assert!(!has, "{set:?}"),
                _ => {
                    assert!(has, "{set:?}");
                    assert!(list.contains(&caps::Capability::CAP_CHOWN));
                }
            }
        }
    }

    #[test]
    fn process_file_without_user_runs_as_root_with_the_containers_capabilities() {
        let st = state_with_process(serde_json::json!({
            "user": {"uid": 5, "gid": 5}, "args": ["sh"], "cwd": "/",
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                             "permitted": ["CAP_KILL"]}}));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("process.json");
        std::fs::write(&file, r#"{"args": ["/bin/id"], "cwd": "/"}"#).unwrap();
        let mut o = opts(ExecOverrides::default());
        o.process = ExecProcess::Json(file.clone());
        let p = process_plan(&st, &o).unwrap().0;
        assert_eq!((p.uid, p.gid), (0, 0));
        for (set, list) in &p.capabilities {
            let expected = !matches!(set, caps::CapSet::Inheritable | caps::CapSet::Ambient);
            assert_eq!(
                list.contains(&caps::Capability::CAP_KILL),
                expected,
                "{set:?}"
            );
            assert!(list.len() <= 1, "{set:?}: {list:?}");
        }
        // The file's own capabilities and user win.
        std::fs::write(
            &file,
            r#"{"args": ["/bin/id"], "cwd": "/", "user": {"uid": 7},
                "capabilities": {"bounding": ["CAP_CHOWN"]}}"#,
        )
        .unwrap();
        let p = process_plan(&st, &o).unwrap().0;
        assert_eq!((p.uid, p.gid), (7, 0));
        for (set, list) in &p.capabilities {
            assert!(!list.contains(&caps::Capability::CAP_KILL), "{set:?}");
        }
    }

    #[test]
    fn unknown_cap_and_missing_saved_process_are_errors() {
        let st = state_with_process(serde_json::json!({
            "user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/"}));
        let e = process_plan(
            &st,
            &opts(ExecOverrides {
                args: vec!["x".into()],
                caps: vec!["CAP_NOPE".into()],
                ..Default::default()
            }),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "--cap \"CAP_NOPE\": unknown capability");
        let mut st = st;
        st.config = None;
        let e = process_plan(
            &st,
            &opts(ExecOverrides {
                args: vec!["x".into()],
                ..Default::default()
            }),
        )
        .unwrap_err();
        assert!(matches!(e, ExecError::NoSavedProcess));
    }

    /// Issue #14: a `--process` file's labels are read, checked like config.json's (refused
    /// naming the field where the LSM is not active), and win over the container's own; the
    /// flags win over both.
    #[test]
    fn process_file_labels_are_applied_or_refused_like_the_configs() {
        let st = state_with_process(serde_json::json!({
            "user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/",
            "apparmorProfile": "saved-profile", "selinuxLabel": "saved_t"}));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("process.json");
        let mut o = opts(ExecOverrides::default());
        o.process = ExecProcess::Json(file.clone());
        let plan = |o: &ExecOptions, host: HostLsms| {
            let (_, labels) = process_plan(&st, o).unwrap();
            lsm_plan(o, labels.as_ref(), &st, host)
        };
        let none = HostLsms {
            apparmor: false,
            selinux: false,
        };
        let both = HostLsms {
            apparmor: true,
            selinux: true,
        };
        std::fs::write(
            &file,
            r#"{"args": ["/bin/id"], "cwd": "/", "apparmorProfile": "file-profile"}"#,
        )
        .unwrap();
        assert_eq!(plan(&o, none).unwrap_err().to_string(), "config.json: process.apparmorProfile: \"file-profile\" is set but AppArmor is not enabled on this host");
        let p = plan(&o, both).unwrap();
        assert_eq!(p.apparmor_profile.as_deref(), Some("file-profile"));
        // The file sets no SELinux label: the container's stays.
        assert_eq!(p.selinux_label.as_deref(), Some("saved_t"));
        std::fs::write(
            &file,
            r#"{"args": ["/bin/id"], "cwd": "/", "selinuxLabel": "file_t"}"#,
        )
        .unwrap();
        assert_eq!(plan(&o, none).unwrap_err().to_string(), "config.json: process.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported");
        assert_eq!(
            plan(&o, both).unwrap().selinux_label.as_deref(),
            Some("file_t")
        );
        o.process_label = Some("flag_t".into());
        assert_eq!(
            plan(&o, both).unwrap().selinux_label.as_deref(),
            Some("flag_t")
        );
        // Without labels anywhere and no LSM, nothing is applied.
        std::fs::write(&file, r#"{"args": ["/bin/id"], "cwd": "/"}"#).unwrap();
        o.process_label = None;
        assert_eq!(plan(&o, none).unwrap(), LsmPlan::default());
    }
}
