//! The container process's side of `process.terminal`: allocate the pty in the container's
//! devpts, make it the controlling terminal and stdio, and pass the master to the parent over
//! the channel (which hands it to `--console-socket` or relays it).

use std::os::fd::AsFd;
use std::path::Path;

use super::channel::{Channel, ChannelError, Msg};
use crate::bundle::ProcessPlan;
use crate::terminal;

/// The container's pty multiplexer: the devpts instance mounted at /dev/pts (config.md's
/// default mounts use `newinstance`), never the host's.
const PTMX: &str = "/dev/pts/ptmx";

/// The pty could not be set up or handed over.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Terminal(#[from] terminal::TerminalError),
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

/// Runs after pivot_root (or setns into the mount namespace) and after setsid.
pub(super) fn setup(
    process: &ProcessPlan,
    chan: &Channel,
    bind_console: bool,
) -> Result<(), ConsoleError> {
    if !process.terminal {
        return Ok(());
    }
    let (master, name) =
        terminal::setup_process_terminal(Path::new(PTMX), process.console_size, process.uid)?;
    // stdin is the pty peer now; runtime-linux.md wants it on /dev/console too (the init only:
    // an exec'd process gets a pty but leaves /dev/console alone, as in runc).
    if bind_console {
        terminal::console_dev::bind(std::io::stdin().as_fd())?;
    }
    chan.send_with_fd(
        &Msg::Console(name),
        std::os::fd::AsRawFd::as_raw_fd(&master),
    )?;
    Ok(()) // our copy of the master closes here: only berth's side keeps it
}
