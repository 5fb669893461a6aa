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
    message: Vec<u8>,
}

impl Listener {
    /// Connects to the listener if the plan's profile notifies. Must run before pivot_root.
    /// The pid sent is the init's pid as the host sees it (read from the host's /proc, still
    /// mounted at this point of the init).
    pub fn connect(plan: &Plan) -> Result<Option<Listener>, SeccompError> {
        let Some(seccomp) = plan.seccomp.as_ref() else {
            return Ok(None);
        };
        let Some(path) = seccomp.profile.listener_path.clone() else {
            return Ok(None);
        };
        if !seccomp.profile.notifies() {
            return Ok(None);
        }
        let connect_err = |source| SeccompError::Connect {
            path: path.clone(),
            source,
        };
        let sock = UnixStream::connect(&path).map_err(connect_err)?;
        let pid: i64 = std::fs::read_link("/proc/self")
            .map_err(connect_err)?
            .to_string_lossy()
            .parse()
            .unwrap_or(0);
        let annotations = plan.spec.annotations().clone().unwrap_or_default();
        let message = json!({
            "ociVersion": plan.spec.version(),
            "fds": ["seccompFd"],
            "pid": pid,
            "metadata": seccomp.profile.listener_metadata,
            "state": {
                "ociVersion": plan.spec.version(),
                "id": plan.id,
                "status": "creating",
                "pid": pid,
                "bundle": plan.bundle,
                "annotations": annotations,
            },
        });
        Ok(Some(Listener {
            path,
            sock,
            message: message.to_string().into_bytes(),
        }))
    }

    /// Sends the state and the notify fd, then closes the connection.
    pub fn send(self, fd: &OwnedFd) -> Result<(), SeccompError> {
        let fds = [fd.as_raw_fd()];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        let iov = [IoSlice::new(&self.message)];
        let sent = sendmsg::<()>(self.sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
            .map_err(|source| SeccompError::Send {
                path: self.path.clone(),
                source,
            })?;
        if sent != self.message.len() {
            return Err(SeccompError::Send {
                path: self.path,
                source: nix::Error::EMSGSIZE,
            });
        }
        Ok(())
    }
}
