//! `berth run`: create + start, then (unless --detach) wait for the container, forwarding
//! signals to it, and exit with its status (128+N when a signal killed it), as runc does.

use anyhow::Context;
use berth_runtime::container;
use berth_runtime::state::Store;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::cli::{CreateArgs, Global};

pub fn run(
    store: &Store,
    g: &Global,
    args: &CreateArgs,
    detach: bool,
    keep: bool,
) -> anyhow::Result<u8> {
    let mut opts = super::create::options(g, args)?;
    // A foreground run without a console socket relays a terminal itself (as runc).
    opts.keep_console = !detach && opts.console_socket.is_none();
    let id = &args.id;
    // Block the signals we forward before the container exists, so none is lost between its
    // creation and the wait loop. The container's processes get a clean mask before exec.
    let forwarded = forwarded_signals();
    if !detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None)
            .context("block signals")?;
    }
    let (pid, console) = container::create_with_console(store, id, &args.bundle, &opts)
        .with_context(|| format!("create container {id:?}"))?;
    if let Err(e) = container::start(store, id) {
        let _ = container::delete(store, id, true);
        return Err(e).with_context(|| format!("start container {id:?}"));
    }
    berth_runtime::phase!("run: started");
    if detach {
        return Ok(0);
    }
    let code = match console {
        Some(master) => berth_runtime::terminal::relay_and_wait(pid, master, &forwarded)
            .context("relay the terminal")?,
        None => wait_forwarding(pid, &forwarded)?,
    };
    berth_runtime::phase!("run: container exited");
    if !keep {
        container::delete(store, id, true).with_context(|| format!("delete container {id:?}"))?;
        berth_runtime::phase!("run: deleted");
    }
    Ok(code)
}

/// Every signal a user may send to `berth run`, to be passed on to the container (SIGCHLD is
/// ours: it tells us the container exited).
pub(super) fn forwarded_signals() -> SigSet {
    let mut set = SigSet::all();
    for s in [Signal::SIGKILL, Signal::SIGSTOP] {
        set.remove(s);
    }
    set
}

/// Waits for the init (our child: stage 1 forked it with CLONE_PARENT), forwarding signals.
pub(super) fn wait_forwarding(pid: i32, mask: &SigSet) -> anyhow::Result<u8> {
    let sfd = SignalFd::new(mask).context("create signalfd")?;
    let init = Pid::from_raw(pid);
    loop {
        // The container may already have exited before the signalfd existed.
        if let Some(code) = exit_code(waitpid(init, Some(WaitPidFlag::WNOHANG))) {
            return Ok(code);
        }
        let Some(info) = sfd.read_signal().context("read signalfd")? else {
            continue;
        };
        let signo = info.ssi_signo as i32;
        if signo != libc::SIGCHLD {
            // The init may be gone already: nothing to forward to, the next waitpid says so.
            let _ = nix::sys::signal::kill(init, Signal::try_from(signo).ok());
        }
    }
}

fn exit_code(status: nix::Result<WaitStatus>) -> Option<u8> {
    match status {
        Ok(WaitStatus::Exited(_, code)) => Some(code as u8),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128u8.wrapping_add(sig as u8)),
        Err(nix::Error::ECHILD) => Some(255),
        _ => None,
    }
}
