//! Terminals: the pty a `process.terminal: true` process gets (allocated inside the
//! container's devpts), the `--console-socket` hand-off of its master (runc's protocol), and
//! the relay berth runs when a foreground `run`/`exec -t` has no console socket.
//!
//! CVE-2025-52565: the pty's peer is obtained from the master fd with TIOCGPTPEER, never by
//! opening `/dev/pts/N` by path (a path the container could swap for something else), and the
//! master comes from `/dev/pts/ptmx` checked through its fd to be the ptmx device (5:2).

pub mod console_dev;
mod pty;
mod relay;
mod socket;
mod sys;

use std::path::PathBuf;

pub use pty::{setup_process_terminal, Pty};
pub use relay::{relay_and_wait, RelayError};
pub use socket::ConsoleSocket;

/// A terminal step failed.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("open {path}")]
    OpenPtmx {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{path} is not the pty multiplexer (char device 5:2)")]
    NotPtmx { path: PathBuf },
    #[error("unlock the pty")]
    Unlock(#[source] nix::Error),
    #[error("get the pty number")]
    PtyNumber(#[source] nix::Error),
    #[error("open the pty peer with TIOCGPTPEER")]
    Peer(#[source] nix::Error),
    #[error("set the terminal size to {rows}x{cols}")]
    WindowSize {
        rows: u16,
        cols: u16,
        #[source]
        source: nix::Error,
    },
    #[error("make {name} the controlling terminal")]
    Controlling {
        name: String,
        #[source]
        source: nix::Error,
    },
    #[error("give {name} to uid {uid}")]
    Chown {
        name: String,
        uid: u32,
        #[source]
        source: nix::Error,
    },
    #[error("make {name} the process's stdio")]
    Stdio {
        name: String,
        #[source]
        source: nix::Error,
    },
    #[error("bind the terminal on {path}")]
    DevConsole {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("/dev/console in the container is a symlink: refusing to bind the terminal through it (CVE-2025-52565)")]
    DevConsoleSymlink,
    #[error("console socket {path}: no such file")]
    SocketMissing { path: PathBuf },
    #[error("console socket {path} is not a unix socket")]
    NotASocket { path: PathBuf },
    #[error("connect to console socket {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("send the pty master to console socket {path}")]
    SendMaster {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}
