//! Seccomp user notification: handing the notify fd to `linux.seccomp.listenerPath`.
//!
//! Wire format, compatible with runc's seccomp agent (runc docs/seccomp-agent.md and
//! runtime-spec config-linux.md "The Container Process State"): one message on a connected
//! `SOCK_STREAM` unix socket whose data is the JSON `ContainerProcessState`
//!
//! ```json
//! {"ociVersion": "1.0.2", "fds": ["seccompFd"], "pid": 4242, "metadata": "<listenerMetadata>",
//!  "state": {"ociVersion": "...", "id": "c1", "status": "creating", "pid": 4242,
//!            "bundle": "/b", "annotations": {}}}
//! ```
//!
//! and whose SCM_RIGHTS control message carries the fds named in `fds`, in that order.
//!
//! runc's parent process connects and sends; in berth the init does it itself: it connects
//! before pivot_root (while the host path is reachable) and sends right after loading the
//! filter, so the fd never travels through the parent.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use serde_json::json;

use super::SeccompError;
use crate::bundle::Plan;

/// A connection to the listener plus the message to send on it.
#[derive(Debug)]
pub struct Listener {
    path: PathBuf,
    sock: UnixStream,
    message: serde_json::Value,
}

/// The container the notified process belongs to, for the message's `state`.
pub struct ListenerState<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: &'a str,
    /// The container init's host pid (the notified process's own pid is set at send time).
    pub pid: i64,
    pub bundle: &'a std::path::Path,
    pub annotations: serde_json::Value,
}

impl Listener {
    /// Connects to the listener if the plan's profile notifies. Must run before pivot_root.
    /// The pid sent is the init's pid as the host sees it (read from the host's /proc, still
    /// mounted at this point of the init).
    pub fn connect(plan: &Plan) -> Result<Option<Listener>, SeccompError> {
        let Some(seccomp) = plan.seccomp.as_ref() else {
            return Ok(None);
        };
        let pid: i64 = std::fs::read_link("/proc/self")
            .ok()
            .and_then(|p| p.to_string_lossy().parse().ok())
            .unwrap_or(0);
        let state = ListenerState {
            oci_version: &plan.oci_version,
            id: &plan.id,
            status: "creating",
            pid,
            bundle: &plan.bundle,
            annotations: json!(plan.annotations),
        };
        Self::connect_for(seccomp, state)
    }

    /// Connects to the listener of `seccomp` (when it notifies) for a process of the container
    /// described by `state`: the init (through [`Listener::connect`]) or a `berth exec`'d
    /// process, whose parent connects before forking, in the host's mount namespace. The
    /// message's `pid` is the container's until [`Listener::set_pid`] names the process.
    pub fn connect_for(
        seccomp: &super::SeccompPlan,
        state: ListenerState,
    ) -> Result<Option<Listener>, SeccompError> {
        let Some(path) = seccomp.profile.listener_path.clone() else {
            return Ok(None);
        };
        if !seccomp.profile.notifies() {
            return Ok(None);
        }
        let sock = UnixStream::connect(&path).map_err(|source| SeccompError::Connect {
            path: path.clone(),
            source,
        })?;
        let message = json!({
            "ociVersion": state.oci_version,
            "fds": ["seccompFd"],
            "pid": state.pid,
            "metadata": seccomp.profile.listener_metadata,
            "state": {
                "ociVersion": state.oci_version,
                "id": state.id,
                "status": state.status,
                "pid": state.pid,
                "bundle": state.bundle,
                "annotations": state.annotations,
            },
        });
        Ok(Some(Listener {
            path,
            sock,
            message,
        }))
    }

    /// A second handle on the same connection, for a forked child that sends on it.
    pub fn try_clone(&self) -> Result<Listener, SeccompError> {
        let sock = self
            .sock
            .try_clone()
            .map_err(|source| SeccompError::Connect {
                path: self.path.clone(),
                source,
            })?;
        Ok(Listener {
            path: self.path.clone(),
            sock,
            message: self.message.clone(),
        })
    }

    /// The host pid of the process whose notify fd is sent.
    pub fn set_pid(&mut self, pid: i32) {
        self.message["pid"] = json!(pid);
    }

    /// Sends the state and the notify fd, then closes the connection.
    pub fn send(self, fd: &OwnedFd) -> Result<(), SeccompError> {
        let message = self.message.to_string().into_bytes();
        let fds = [fd.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [IoSlice::new(&message)];
        let sent = sendmsg::<()>(self.sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
            .map_err(|source| SeccompError::Send {
                path: self.path.clone(),
                source,
            })?;
        if sent != message.len() {
            return Err(SeccompError::Send {
                path: self.path,
                source: nix::Error::EMSGSIZE,
            });
        }
        Ok(())
    }
}
