//! The parent ↔ child channel: one SOCK_SEQPACKET socketpair and one typed message enum.
//!
//! The protocol, in order (docs/architecture.md draws it with the process model):
//!
//! ```text
//!  parent (berth create)                 stage-1 child                    init (stage-2)
//!  ─────────────────────                 ─────────────                    ──────────────
//!  fork ───────────────────────────────▶ join cgroup, setns(paths)
//!                                        unshare(user)?
//!      ◀──────────────── MapIds          (only with a new user ns)
//!  write uid_map/gid_map
//!      IdsMapped ──────────────────────▶ unshare(other namespaces)
//!                                        clone(CLONE_PARENT) ───────────▶ (starts)
//!      ◀──────────────── InitPid{pid}    exit(0)
//!                                                                         mounts, pivot_root, …
//!      ◀──────────────────────────────────────────────────────────────── Ready
//!  save state, write pid file
//!      Commit ────────────────────────────────────────────────────────▶ clear parent-death signal
//!      ◀──────────────────────────────────────────────────────────────── Committed
//!  exit: `create` is done                                                wait on exec.fifo for `start`
//! ```
//!
//! Any child may send `Error` instead of its next message; the parent then reports the error
//! (errno and the whole message chain, style point 7) and undoes the create.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// stage-1 → parent: the new user namespace exists; write its id maps.
    MapIds,
    /// parent → stage-1: the maps are written.
    IdsMapped,
    /// stage-1 → parent: the container init's pid, in the parent's pid namespace.
    InitPid(i32),
    /// init → parent: the container is set up and waits for `start`.
    Ready,
    /// parent → init: the state is saved; from now on the init outlives `berth create`.
    Commit,
    /// init → parent: acknowledged; the parent may exit.
    Committed,
    /// child → parent: a step failed. `errno` is 0 when no OS error was involved.
    Error { errno: i32, chain: Vec<String> },
    /// init → parent: the mount namespace is set up (before pivot_root); run the prestart and
    /// createRuntime hooks. Sent only when the config has hooks of those kinds or
    /// createContainer/startContainer hooks (hooks/, docs/exec-hooks-terminal.md).
    RunHooks,
    /// parent → init: the runtime hooks ran; the state JSON for the container's own hooks.
    HooksDone(String),
    /// container process → parent: the pty master, passed as SCM_RIGHTS with this message;
    /// the string is the pty's name in the container (`/dev/pts/N`).
    Console(String),
}

/// Why the channel failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("create the parent/child socketpair")]
    Socketpair(#[source] nix::Error),
    #[error("send {msg} to the {peer}")]
    Send {
        msg: &'static str,
        peer: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("receive from the {peer}")]
    Recv {
        peer: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("the {peer} exited before sending {expected}")]
    Closed {
        peer: &'static str,
        expected: &'static str,
    },
    #[error("protocol error: expected {expected} from the {peer}, got {got:?}")]
    Unexpected {
        peer: &'static str,
        expected: &'static str,
        got: Msg,
    },
    #[error("{}", chain.join(": "))]
    Child { errno: i32, chain: Vec<String> },
    #[error("decode a message from the {peer}")]
    Decode {
        peer: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl ChannelError {
    /// The errno the child reported, if the failure came from the container side.
    pub fn child_errno(&self) -> Option<i32> {
        match self {
            ChannelError::Child { errno, .. } if *errno != 0 => Some(*errno),
            _ => None,
        }
    }
}

/// One end of the socketpair. `peer` names the other side in error messages.
#[derive(Debug)]
pub struct Channel {
    fd: OwnedFd,
    peer: &'static str,
}

/// Large enough for any message, including an error chain.
const MAX_MSG: usize = 64 * 1024;

impl Channel {
    /// Creates the pair: (parent's end, child's end). Both are close-on-exec, so the container
    /// process never inherits them (CVE-2024-21626 class: no runtime fd reaches the workload).
    pub fn pair() -> Result<(Channel, Channel), ChannelError> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(ChannelError::Socketpair)?;
        Ok((
            Channel {
                fd: a,
                peer: "container process",
            },
            Channel {
                fd: b,
                peer: "berth parent",
            },
        ))
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Msg) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(msg).expect("messages always serialize");
        let name = msg_name(msg);
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            &[],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|source| ChannelError::Send {
            msg: name,
            peer: self.peer,
            source,
        })?;
        Ok(())
    }

    /// Receives the next message; `Ok(None)` when every sender has closed its end.
    pub fn recv(&self) -> Result<Option<Msg>, ChannelError> {
        let mut buf = vec![0u8; MAX_MSG];
        let n = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, None, MsgFlags::empty()) {
                Ok(m) => break m.bytes,
                Err(nix::Error::EINTR) => continue,
                Err(source) => {
                    return Err(ChannelError::Recv {
                        peer: self.peer,
                        source,
                    })
                }
            }
        };
        if n == 0 {
            return Ok(None);
        }
        serde_json::from_slice(&buf[..n])
            .map(Some)
            .map_err(|source| ChannelError::Decode {
                peer: self.peer,
                source,
            })
    }

    /// Receives the message the protocol expects next; an `Error` from the child becomes
    /// [`ChannelError::Child`], anything else out of order is a protocol error.
    pub fn expect(&self, expected: &'static str) -> Result<Msg, ChannelError> {
        match self.recv()? {
            None => Err(ChannelError::Closed {
                peer: self.peer,
                expected,
            }),
            Some(Msg::Error { errno, chain }) => Err(ChannelError::Child { errno, chain }),
            Some(m) if msg_name(&m) == expected => Ok(m),
            Some(got) => Err(ChannelError::Unexpected {
                peer: self.peer,
                expected,
                got,
            }),
        }
    }

    /// Sends `msg` with `fd` attached (SCM_RIGHTS): how the pty master leaves the container.
    pub fn send_with_fd(&self, msg: &Msg, fd: RawFd) -> Result<(), ChannelError> {
        let bytes = serde_json::to_vec(msg).expect("messages always serialize");
        let fds = [fd];
        let cmsg = [ControlMessage::ScmRights(&fds)];
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &[IoSlice::new(&bytes)],
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map_err(|source| ChannelError::Send {
            msg: msg_name(msg),
            peer: self.peer,
            source,
        })?;
        Ok(())
    }

    /// Receives the message the protocol expects next together with the fd attached to it.
    pub fn expect_with_fd(&self, expected: &'static str) -> Result<(Msg, OwnedFd), ChannelError> {
        let mut buf = vec![0u8; MAX_MSG];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(m) => {
                    let mut fd = None;
                    for c in m.cmsgs().map_err(|source| ChannelError::Recv {
                        peer: self.peer,
                        source,
                    })? {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for raw in fds {
                                fd.get_or_insert(super::sys::adopt_received_fd(raw));
                            }
                        }
                    }
                    break (m.bytes, fd);
                }
                Err(nix::Error::EINTR) => continue,
                Err(source) => {
                    return Err(ChannelError::Recv {
                        peer: self.peer,
                        source,
                    })
                }
            }
        };
        if n == 0 {
            return Err(ChannelError::Closed {
                peer: self.peer,
                expected,
            });
        }
        let msg: Msg =
            serde_json::from_slice(&buf[..n]).map_err(|source| ChannelError::Decode {
                peer: self.peer,
                source,
            })?;
        match (msg, fd) {
            (Msg::Error { errno, chain }, _) => Err(ChannelError::Child { errno, chain }),
            (m, Some(fd)) if msg_name(&m) == expected => Ok((m, fd)),
            (got, _) => Err(ChannelError::Unexpected {
                peer: self.peer,
                expected,
                got,
            }),
        }
    }

    /// Reports a failure to the parent: errno plus the whole `source()` chain.
    pub fn send_error(&self, err: &(dyn std::error::Error + 'static)) {
        let (errno, chain) = error_chain(err);
        // If the parent is gone there is nobody to tell; the child exits anyway.
        let _ = self.send(&Msg::Error { errno, chain });
    }
}

/// Flattens an error into its message chain and the errno of its innermost OS error.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> (i32, Vec<String>) {
    let mut chain = Vec::new();
    let mut errno = 0;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        chain.push(e.to_string());
        if let Some(n) = e.downcast_ref::<nix::Error>() {
            errno = *n as i32;
        } else if let Some(code) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.raw_os_error())
        {
            errno = code;
        } else if let Some(ChannelError::Child { errno: n, .. }) = e.downcast_ref::<ChannelError>()
        {
            errno = *n;
        }
        cur = e.source();
    }
    (errno, chain)
}

fn msg_name(msg: &Msg) -> &'static str {
    match msg {
        Msg::MapIds => "MapIds",
        Msg::IdsMapped => "IdsMapped",
        Msg::InitPid(_) => "InitPid",
        Msg::Ready => "Ready",
        Msg::Commit => "Commit",
        Msg::Committed => "Committed",
        Msg::Error { .. } => "Error",
        Msg::RunHooks => "RunHooks",
        Msg::HooksDone(_) => "HooksDone",
        Msg::Console(_) => "Console",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_in_order_and_typed() {
        let (parent, child) = Channel::pair().unwrap();
        child.send(&Msg::InitPid(42)).unwrap();
        child.send(&Msg::Ready).unwrap();
        assert_eq!(parent.expect("InitPid").unwrap(), Msg::InitPid(42));
        assert_eq!(parent.expect("Ready").unwrap(), Msg::Ready);
    }

    #[test]
    fn out_of_order_message_is_a_protocol_error() {
        let (parent, child) = Channel::pair().unwrap();
        child.send(&Msg::Ready).unwrap();
        let err = parent.expect("InitPid").unwrap_err();
        assert_eq!(
            err.to_string(),
            "protocol error: expected InitPid from the container process, got Ready"
        );
    }

    #[test]
    fn child_error_keeps_errno_and_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("mount proc on /rootfs/proc")]
        struct MountErr(#[source] nix::Error);
        let (parent, child) = Channel::pair().unwrap();
        child.send_error(&MountErr(nix::Error::EPERM));
        let err = parent.expect("Ready").unwrap_err();
        assert_eq!(err.child_errno(), Some(libc::EPERM));
        assert_eq!(
            err.to_string(),
            "mount proc on /rootfs/proc: EPERM: Operation not permitted"
        );
    }

    #[test]
    fn fd_travels_with_its_message() {
        let (parent, child) = Channel::pair().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        child
            .send_with_fd(&Msg::Console("/dev/pts/0".into()), w.as_raw_fd())
            .unwrap();
        drop(w);
        let (msg, fd) = parent.expect_with_fd("Console").unwrap();
        assert_eq!(msg, Msg::Console("/dev/pts/0".into()));
        nix::unistd::write(&fd, b"x").unwrap();
        let mut b = [0u8; 1];
        assert_eq!(nix::unistd::read(&r, &mut b).unwrap(), 1);
    }

    #[test]
    fn closed_peer_is_reported_with_the_expected_step() {
        let (parent, child) = Channel::pair().unwrap();
        drop(child);
        let err = parent.expect("Ready").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the container process exited before sending Ready"
        );
    }
}
