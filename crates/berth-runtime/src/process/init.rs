//! The container init (stage 2): the checklist from a fresh set of namespaces to `execve` of
//! the user's program. Each step is one line; comments say why the order is what it is.

use std::convert::Infallible;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{openat, OFlag};
use nix::sys::stat::Mode;

use super::channel::{Channel, ChannelError, Msg};
use super::{console, exec, final_steps, guard, hook_steps};
use crate::bundle::{NamespaceKind, Plan};
use crate::sys;

/// Handles the init needs after pivot_root, opened by the parent before the fork so that no
/// path is resolved inside the container's view.
#[derive(Debug)]
pub struct InitHandles {
    /// O_PATH handle on the state directory's `exec.fifo`.
    pub exec_fifo: OwnedFd,
    /// O_PATH handle on the host's /proc until pivot_root, then a procfs of the container's own
    /// pid namespace (`drop_host_proc`): used to reopen `exec.fifo` for writing.
    pub proc: OwnedFd,
    /// Bind sources opened on the host (a new user namespace only; rootfs::BindSources).
    pub bind_sources: crate::rootfs::BindSources,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("start a new session (setsid)")]
    Setsid(#[source] nix::Error),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error("join a new session keyring (keyctl KEYCTL_JOIN_SESSION_KEYRING)")]
    Keyring(#[source] nix::Error),
    #[error("make the session keyring searchable (keyctl setperm)")]
    KeyringPerm(#[source] nix::Error),
    #[error("set hostname to {0:?} (sethostname)")]
    Hostname(String, #[source] nix::Error),
    #[error("set domainname to {0:?} (setdomainname)")]
    Domainname(String, #[source] nix::Error),
    #[error("write sysctl {key} = {value:?}")]
    Sysctl {
        key: String,
        value: String,
        #[source]
        source: Box<crate::rootfs::HardeningError>,
    },
    #[error(transparent)]
    FinalSteps(#[from] final_steps::FinalStepsError),
    #[error(transparent)]
    HookSteps(#[from] hook_steps::HookStepsError),
    #[error(transparent)]
    Console(#[from] console::ConsoleError),
    #[error(transparent)]
    Exec(#[from] exec::ExecError),
    #[error("create the working directory {path}")]
    CreateCwd {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("open exec.fifo for writing (wait for start)")]
    WaitStart(#[source] nix::Error),
    #[error("set the parent-death signal (prctl PR_SET_PDEATHSIG)")]
    ParentDeath(#[source] nix::Error),
    #[error(transparent)]
    Channel(#[from] ChannelError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Guard(#[from] super::guard::GuardError),
}

/// Runs the init checklist and never returns: it execs the user's program or exits non-zero.
pub(super) fn run(plan: &Plan, chan: &Channel, handles: InitHandles) -> ! {
    let mut handles = handles;
    let err = match setup(plan, chan, &mut handles) {
        Ok((program, hook_state, exe)) => {
            match wait_and_exec(plan, &handles, program, hook_state, &exe) {
                Err(e) => e,
            }
        }
        Err(e) => {
            chan.send_error(&e);
            sys::exit_child(1)
        }
    };
    // After `Committed` the parent is gone: the error goes to the container's stderr, as runc
    // reports a failed exec.
    let (_, chain) = super::channel::error_chain(&err);
    let _ = writeln!(std::io::stderr(), "berth: {}", chain.join(": "));
    sys::exit_child(127)
}

/// Everything from fresh namespaces to the handshake that ends `berth create`. Returns the
/// program, the state JSON the container hooks read (when there are any), and the handle on
/// berth's own binary for the CVE-2019-5736 check right before execve.
fn setup(
    plan: &Plan,
    chan: &Channel,
    handles: &mut InitHandles,
) -> Result<(exec::Program, Option<String>, guard::OwnExe), InitError> {
    // The parent-death signal does not survive fork: set it again until the create commits.
    sys::die_with_parent(0).map_err(InitError::ParentDeath)?;
    // A new session: the container must not share berth's controlling terminal or session.
    nix::unistd::setsid().map_err(InitError::Setsid)?;
    join_keyring(plan)?; // a fresh session keyring, so containers cannot read each other's keys
    crate::phase!("init: session, keyring");
    let mounted = crate::rootfs::prepare(&plan.rootfs, &handles.bind_sources)?; // mounts and /dev, in the new mount namespace
    handles.bind_sources = Default::default(); // attached: no host mount handle waits with the init
    crate::phase!("init: mounts, /dev");
    crate::failpoint!("init:after-rootfs-prepare");
    let hook_state = hook_steps::before_pivot(plan, chan)?; // prestart, createRuntime (parent), createContainer: config.md puts them before pivot_root
    let exe = guard::OwnExe::open()?; // berth's own binary (a host path), to refuse running it in the container
    let listener = crate::seccomp::Listener::connect(plan)?; // seccomp listenerPath is a host path
    crate::phase!("init: hooks, own exe");
    crate::rootfs::enter(&plan.rootfs)?; // pivot_root: from here on "/" is the container's root
    create_cwd(&plan.process.cwd)?; // runc creates a missing cwd; after pivot_root (in-root), before the root may turn read-only
    drop_host_proc(handles); // before anything of the container runs: no host /proc to reach through our fds
    crate::phase!("init: pivot_root");
    crate::failpoint!("init:after-pivot");
    console::setup(&plan.process, chan, true)?; // the pty from the container's own devpts (after setsid: TIOCSCTTY needs a session leader), also on /dev/console
    set_names(plan)?; // hostname before the sysctls: kernel.hostname may override it on purpose
    write_sysctls(&plan.sysctls)?; // through the container's /proc, before finish() may make /proc/sys read-only
    crate::phase!("init: console, hostname, sysctls");
    crate::rootfs::finish(&plan.rootfs, mounted)?; // masked and read-only paths, read-only root (through the mounts' fds)
    crate::phase!("init: masked, read-only paths");
    let restrictions = final_steps::Restrictions {
        attrs: &plan.attrs,
        final_cpus: None, // execCPUAffinity: config.md "not applicable to the container's init process"
        seccomp: plan.seccomp.as_ref(),
        listener,
        lsm: Some(&plan.lsm),
    };
    let program = final_steps::run(
        &plan.process,
        true,
        3 + plan.options.preserve_fds,
        restrictions,
    )?; // rlimits, scheduler, ioprio, mempolicy, personality, LSM, user, caps, lookup, no_new_privs, seccomp: shared with exec
    crate::failpoint!("init:before-ready");
    handshake(chan)?;
    crate::phase!("init: ready, committed");
    Ok((program, hook_state, exe))
}

/// Ready → Commit → Committed: after this the init no longer dies with `berth create`.
fn handshake(chan: &Channel) -> Result<(), InitError> {
    chan.send(&Msg::Ready)?;
    chan.recv_commit()?;
    nix::sys::prctl::set_pdeathsig(None).map_err(InitError::ParentDeath)?;
    chan.send(&Msg::Committed)?;
    Ok(())
}

/// Blocks until `berth start` opens exec.fifo for reading, then execs the program.
fn wait_and_exec(
    plan: &Plan,
    handles: &InitHandles,
    program: exec::Program,
    hook_state: Option<String>,
    exe: &guard::OwnExe,
) -> Result<Infallible, InitError> {
    let path = format!("self/fd/{}", handles.exec_fifo.as_raw_fd());
    // Opening a FIFO for writing blocks until a reader opens it: that reader is `berth start`.
    let fd = openat(
        &handles.proc,
        path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(InitError::WaitStart)?;
    let mut fifo = File::from(fd);
    crate::phase!("init: waited for start");
    hook_steps::start_container(plan, hook_state.as_deref(), &mut fifo)?; // startContainer, then tell `start` how it went
    drop(fifo);
    crate::phase!("init: execve");
    // CVE-2019-5736: checked right before the exec (not at create), so a script rewritten
    // between create and start is still caught; execveat of the checked fd, no re-resolution.
    Ok(program.exec_checked(exe)?)
}

/// Replaces the handle on the host's /proc (taken before the namespaces existed, to reopen
/// exec.fifo) with a procfs of the container's own pid namespace, mounted nowhere. While the
/// init waits for `start`, a process in the container with CAP_SYS_PTRACE could otherwise
/// walk `/proc/1/fd/N/<host pid>/root/...` into the host (issue #13, attack 5). Done after
/// pivot_root and before the masked paths: in a user namespace the kernel lets a new procfs be
/// made only while an unmasked one is visible (mount_too_revealing). If the kernel refuses
/// (no new mount API, or a procfs it deems hidden), the host handle stays, as before.
fn drop_host_proc(handles: &mut InitHandles) {
    match crate::rootfs::sys::private_procfs() {
        Ok(own) => handles.proc = own,
        Err(e) => crate::log_debug!("init: no private procfs ({e}); keeping the host /proc handle"),
    }
}

/// Creates `process.cwd` (mode 0755) when it does not exist, as runc does. Runs after
/// pivot_root, so the path resolves inside the container's root whatever its symlinks say.
fn create_cwd(cwd: &Path) -> Result<(), InitError> {
    if cwd.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(cwd)
        .map_err(|source| InitError::CreateCwd {
            path: cwd.to_path_buf(),
            source,
        })
}

fn join_keyring(plan: &Plan) -> Result<(), InitError> {
    if plan.options.no_new_keyring {
        return Ok(());
    }
    match sys::join_session_keyring(&format!("_ses.{}", plan.id)) {
        Ok(serial) => make_keyring_searchable(serial),
        // Kernels without keyrings, or keyring quotas in a user namespace: runc carries on too.
        Err(nix::Error::ENOSYS) | Err(nix::Error::EDQUOT) => Ok(()),
        Err(e) => Err(InitError::Keyring(e)),
    }
}

/// Adds KEY_USR_SEARCH to the new session keyring's permissions, as runc does ("make session
/// keyring searchable", libcontainer/standard_init_linux.go), so that keys linked into it can
/// be found by the container's user (keyctl(2) KEYCTL_SEARCH needs search permission).
fn make_keyring_searchable(serial: i32) -> Result<(), InitError> {
    const KEY_USR_SEARCH: u32 = 0x0008_0000;
    let perm = sys::key_perm(serial).map_err(InitError::KeyringPerm)?;
    sys::set_key_perm(serial, perm | KEY_USR_SEARCH).map_err(InitError::KeyringPerm)
}

fn set_names(plan: &Plan) -> Result<(), InitError> {
    if let Some(name) = &plan.hostname {
        nix::unistd::sethostname(name).map_err(|e| InitError::Hostname(name.clone(), e))?;
    }
    if let Some(name) = &plan.domainname {
        // bundle/mod.rs checked that the uts namespace is the container's own (new, or joined
        // and not berth's); `isolates` cannot tell here, where the joined one is our own.
        debug_assert!(plan.namespaces.has(NamespaceKind::Uts));
        sys::setdomainname(name).map_err(|e| InitError::Domainname(name.clone(), e))?;
    }
    Ok(())
}

fn write_sysctls(sysctls: &[(String, String)]) -> Result<(), InitError> {
    for (key, value) in sysctls {
        // CVE-2025-52881: through a verified procfs handle, never a re-resolved path string.
        let rel = Path::new("sys").join(key.replace('.', "/"));
        crate::rootfs::procfs::write(Path::new("/proc"), &rel, value.as_bytes()).map_err(
            |source| InitError::Sysctl {
                key: key.clone(),
                value: value.clone(),
                source: Box::new(source),
            },
        )?;
    }
    Ok(())
}
