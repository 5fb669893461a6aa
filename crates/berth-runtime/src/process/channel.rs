//! The parent ↔ child channel: one SOCK_SEQPACKET socketpair, one typed message enum, and a
//! receive method per protocol step that checks the step arrived in order.
//!
//! The protocol, in order (docs/architecture.md draws the same sequence; a test checks that
//! every [`Step`] appears in both):
//!
//! ```text
//!  parent (berth create)                 stage-1 child                    init (stage-2)
//!  ─────────────────────                 ─────────────                    ──────────────
//!  fork ───────────────────────────────▶ (systemd driver: waits)
//!  start the systemd scope with stage 1,
//!  write the resources to its files
//!      CgroupPlaced ───────────────────▶ (only with the systemd driver)
//!                                        join cgroup, setns(paths)
//!                                        unshare(user)?
//!      ◀──────────────── MapIds          (only with a new user ns)
//!  write uid_map/gid_map
//!  (rootless, more than its own id:
//!   newuidmap/newgidmap)
//!      IdsMapped ──────────────────────▶ unshare(other namespaces)
//!                                        clone(CLONE_PARENT) ───────────▶ (starts)
//!      ◀──────────────── InitPid{pid}    exit(0)
//!                                                                         mounts (before pivot_root)
//!      ◀──────────────────────────────────────────────────────────────── RunHooks
//!  prestart, createRuntime hooks                                          (only with hooks)
//!      HooksDone{state} ──────────────────────────────────────────────▶ createContainer hooks
//!                                                                         pivot_root, …, pty
//!      ◀──────────────────────────────────────────────────────────────── Console{name} + fd
//!                                                                         (only with a terminal)
//!      ◀──────────────────────────────────────────────────────────────── Ready
//!  save state, write pid file
//!      Commit ────────────────────────────────────────────────────────▶ clear parent-death signal
//!      ◀──────────────────────────────────────────────────────────────── Committed
//!  exit: `create` is done                                                wait on exec.fifo
//!
//!  berth start                                                            (exec.fifo, same encoding)
//!  open exec.fifo ─────────────────────────────────────────────────────▶ startContainer hooks
//!      ◀──────────────────────────────────────────────────────────────── Started | Error
//!                                                                         execve
//! ```
//!
//! `berth exec` uses the first part: stage 1 joins the container and sends InitPid (the
//! process's pid), the process sends Console when it has a terminal, then the channel's EOF
//! at its execve (close-on-exec) is the success.
//!
//! Any child may send `Error` instead of its next message; the parent then reports the error
//! (errno and the whole message chain, style point 7) and undoes the create.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use super::packet;
use serde::{Deserialize, Serialize};

/// Every message of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// parent → stage-1 (systemd driver only): systemd moved stage 1 into the container's
    /// scope and its resources are written; go on.
    CgroupPlaced,
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
    /// init → `berth start`, on exec.fifo: the startContainer hooks ran; the init execs now.
    Started,
}

/// A protocol step: what a message is, without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    CgroupPlaced,
    MapIds,
    IdsMapped,
    InitPid,
    RunHooks,
    HooksDone,
    Console,
    Ready,
    Commit,
    Committed,
    Started,
    Error,
}

impl Step {
    /// Every step, for the test that the protocol is documented.
    pub const ALL: [Step; 12] = [
        Step::CgroupPlaced,
        Step::MapIds,
        Step::IdsMapped,
        Step::InitPid,
        Step::RunHooks,
        Step::HooksDone,
        Step::Console,
        Step::Ready,
        Step::Commit,
        Step::Committed,
        Step::Started,
        Step::Error,
    ];
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl Msg {
    pub fn step(&self) -> Step {
        match self {
            Msg::CgroupPlaced => Step::CgroupPlaced,
            Msg::MapIds => Step::MapIds,
            Msg::IdsMapped => Step::IdsMapped,
            Msg::InitPid(_) => Step::InitPid,
            Msg::RunHooks => Step::RunHooks,
            Msg::HooksDone(_) => Step::HooksDone,
            Msg::Console(_) => Step::Console,
            Msg::Ready => Step::Ready,
            Msg::Commit => Step::Commit,
            Msg::Committed => Step::Committed,
            Msg::Started => Step::Started,
            Msg::Error { .. } => Step::Error,
        }
    }
}

/// Why the channel failed.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("create the parent/child socketpair")]
    Socketpair(#[source] nix::Error),
    #[error("send {msg} to the {peer}")]
    Send {
        msg: Step,
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
    Closed { peer: &'static str, expected: Step },
    #[error("protocol error: expected {expected} from the {peer}, got {got}")]
    Unexpected {
        peer: &'static str,
        expected: Step,
        got: Step,
    },
    #[error("protocol error: the {peer} sent {got} where its execve was expected")]
    NotExeced { peer: &'static str, got: Step },
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
        self.send_with_fds(msg, &[])
    }

    /// Sends `msg` with `fds` attached (SCM_RIGHTS), in the one framing of
    /// [`super::packet`].
    fn send_with_fds(&self, msg: &Msg, fds: &[RawFd]) -> Result<(), ChannelError> {
        packet::send(self.fd.as_fd(), &encode(msg), fds).map_err(|source| ChannelError::Send {
            msg: msg.step(),
            peer: self.peer,
            source,
        })
    }

    /// Receives the next message and the fds that came with it; `Ok(None)` when every sender
    /// has closed its end.
    fn recv_packet(&self) -> Result<Option<(Msg, Vec<OwnedFd>)>, ChannelError> {
        let packet = packet::recv(self.fd.as_fd()).map_err(|source| ChannelError::Recv {
            peer: self.peer,
            source,
        })?;
        match packet {
            None => Ok(None),
            Some(p) => Ok(Some((decode(&p.bytes, self.peer)?, p.fds))),
        }
    }

    /// Receives the next message; `Ok(None)` when every sender has closed its end. A stray fd
    /// attached to it is closed.
    pub fn recv(&self) -> Result<Option<Msg>, ChannelError> {
        Ok(self.recv_packet()?.map(|(msg, _)| msg))
    }

    /// Receives the message the protocol expects next; an `Error` from the child becomes
    /// [`ChannelError::Child`], any other step out of order is a protocol error naming both.
    fn expect(&self, expected: Step) -> Result<Msg, ChannelError> {
        match self.recv()? {
            None => Err(ChannelError::Closed {
                peer: self.peer,
                expected,
            }),
            Some(m) => in_order(m, expected, self.peer),
        }
    }

    /// parent → stage 1: systemd placed stage 1 in the container's scope.
    pub fn recv_cgroup_placed(&self) -> Result<(), ChannelError> {
        self.expect(Step::CgroupPlaced).map(drop)
    }

    /// stage 1 → parent: a new user namespace waits for its id maps.
    pub fn recv_map_ids(&self) -> Result<(), ChannelError> {
        self.expect(Step::MapIds).map(drop)
    }

    /// parent → stage 1: the id maps are written.
    pub fn recv_ids_mapped(&self) -> Result<(), ChannelError> {
        self.expect(Step::IdsMapped).map(drop)
    }

    /// stage 1 → parent: the init's (or exec'd process's) pid in the parent's pid namespace.
    pub fn recv_init_pid(&self) -> Result<i32, ChannelError> {
        match self.expect(Step::InitPid)? {
            Msg::InitPid(pid) => Ok(pid),
            got => Err(self.unexpected(Step::InitPid, &got)),
        }
    }

    /// init → parent: run the prestart and createRuntime hooks.
    pub fn recv_run_hooks(&self) -> Result<(), ChannelError> {
        self.expect(Step::RunHooks).map(drop)
    }

    /// parent → init: the runtime hooks ran; the state JSON for the container's own hooks.
    pub fn recv_hooks_done(&self) -> Result<String, ChannelError> {
        match self.expect(Step::HooksDone)? {
            Msg::HooksDone(state) => Ok(state),
            got => Err(self.unexpected(Step::HooksDone, &got)),
        }
    }

    /// init → parent: set up; waiting for `start`.
    pub fn recv_ready(&self) -> Result<(), ChannelError> {
        self.expect(Step::Ready).map(drop)
    }

    /// parent → init: the state is saved.
    pub fn recv_commit(&self) -> Result<(), ChannelError> {
        self.expect(Step::Commit).map(drop)
    }

    /// init → parent: the commit is acknowledged.
    pub fn recv_committed(&self) -> Result<(), ChannelError> {
        self.expect(Step::Committed).map(drop)
    }

    /// The channel's EOF: the peer's end was closed by its execve (it is close-on-exec). A
    /// message instead is its error, or a protocol error.
    pub fn recv_execve(&self) -> Result<(), ChannelError> {
        match self.recv()? {
            None => Ok(()),
            Some(Msg::Error { errno, chain }) => Err(ChannelError::Child { errno, chain }),
            Some(got) => Err(ChannelError::NotExeced {
                peer: self.peer,
                got: got.step(),
            }),
        }
    }

    fn unexpected(&self, expected: Step, got: &Msg) -> ChannelError {
        ChannelError::Unexpected {
            peer: self.peer,
            expected,
            got: got.step(),
        }
    }

    /// Sends `msg` with `fd` attached (SCM_RIGHTS): how the pty master leaves the container.
    pub fn send_with_fd(&self, msg: &Msg, fd: RawFd) -> Result<(), ChannelError> {
        self.send_with_fds(msg, &[fd])
    }

    /// container process → parent: the pty's name in the container and its master, attached.
    pub fn recv_console(&self) -> Result<(String, OwnedFd), ChannelError> {
        let expected = Step::Console;
        let Some((msg, fds)) = self.recv_packet()? else {
            return Err(ChannelError::Closed {
                peer: self.peer,
                expected,
            });
        };
        match (in_order(msg, expected, self.peer)?, fds.into_iter().next()) {
            (Msg::Console(name), Some(fd)) => Ok((name, fd)),
            (got, _) => Err(self.unexpected(expected, &got)),
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

/// The one encoding of a message, on the socket and on exec.fifo.
pub fn encode(msg: &Msg) -> Vec<u8> {
    serde_json::to_vec(msg).expect("messages always serialize")
}

/// [`encode`], shortened to at most `limit` bytes by cutting an error chain's messages (one
/// write of at most PIPE_BUF bytes to a FIFO is atomic, so its reader gets it whole).
pub fn encode_within(msg: &Msg, limit: usize) -> Vec<u8> {
    let Msg::Error { errno, chain } = msg else {
        return encode(msg);
    };
    let mut chain = chain.clone();
    loop {
        let bytes = encode(&Msg::Error {
            errno: *errno,
            chain: chain.clone(),
        });
        let over = bytes.len().saturating_sub(limit);
        let Some(longest) = chain.iter_mut().max_by_key(|c| c.len()) else {
            return bytes;
        };
        if over == 0 || longest.len() <= 3 {
            return bytes;
        }
        // Each round cuts the longest message by what is over, so this ends.
        let mut cut = longest.len().saturating_sub(over + 3);
        while !longest.is_char_boundary(cut) {
            cut -= 1;
        }
        longest.truncate(cut);
        longest.push_str("...");
    }
}

/// Decodes one message from `peer`.
pub fn decode(bytes: &[u8], peer: &'static str) -> Result<Msg, ChannelError> {
    serde_json::from_slice(bytes).map_err(|source| ChannelError::Decode { peer, source })
}

/// `msg` when it is the `expected` step; the child's error, or a protocol error otherwise.
pub fn in_order(msg: Msg, expected: Step, peer: &'static str) -> Result<Msg, ChannelError> {
    match msg {
        Msg::Error { errno, chain } => Err(ChannelError::Child { errno, chain }),
        m if m.step() == expected => Ok(m),
        got => Err(ChannelError::Unexpected {
            peer,
            expected,
            got: got.step(),
        }),
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
        assert_eq!(parent.recv_init_pid().unwrap(), 42);
        parent.recv_ready().unwrap();
    }

    #[test]
    fn out_of_order_message_is_a_protocol_error() {
        let (parent, child) = Channel::pair().unwrap();
        child.send(&Msg::Ready).unwrap();
        let err = parent.recv_init_pid().unwrap_err();
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
        let err = parent.recv_ready().unwrap_err();
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
        let (name, fd) = parent.recv_console().unwrap();
        assert_eq!(name, "/dev/pts/0");
        nix::unistd::write(&fd, b"x").unwrap();
        let mut b = [0u8; 1];
        assert_eq!(nix::unistd::read(&r, &mut b).unwrap(), 1);
    }

    #[test]
    fn closed_peer_is_reported_with_the_expected_step() {
        let (parent, child) = Channel::pair().unwrap();
        drop(child);
        let err = parent.recv_ready().unwrap_err();
        assert_eq!(
            err.to_string(),
            "the container process exited before sending Ready"
        );
    }

    #[test]
    fn an_error_reply_fits_a_fifo_write_and_keeps_errno_and_chain_heads() {
        let long = "x".repeat(3 * libc::PIPE_BUF);
        let msg = Msg::Error {
            errno: libc::ENOENT,
            chain: vec!["startContainer hook /bin/h failed".into(), long],
        };
        let bytes = encode_within(&msg, libc::PIPE_BUF);
        assert!(bytes.len() <= libc::PIPE_BUF, "{}", bytes.len());
        match decode(&bytes, "init").unwrap() {
            Msg::Error { errno, chain } => {
                assert_eq!(errno, libc::ENOENT);
                assert_eq!(chain[0], "startContainer hook /bin/h failed");
                assert!(chain[1].ends_with("..."), "{}", chain[1]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_step_is_in_the_protocol_drawings() {
        let here = include_str!("channel.rs");
        let drawing = &here[..here.find("use std::io").unwrap()];
        let arch = include_str!("../../../../docs/architecture.md");
        for step in Step::ALL {
            let name = step.to_string();
            assert!(
                drawing.contains(&name),
                "{name} missing from channel.rs' drawing"
            );
            assert!(
                arch.contains(&name),
                "{name} missing from docs/architecture.md"
            );
        }
    }
}
