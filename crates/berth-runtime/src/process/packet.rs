//! The one framing of berth's SOCK_SEQPACKET sockets: the parent ↔ child channel of create and
//! exec (`channel.rs`) and the shim's socket to its runtime worker
//! (containerd-shim-berth-v2 `worker.rs`). What each side says differs (channel.rs' typed `Msg`s
//! here, JSON requests and replies there); how a message travels does not, so it is written
//! once:
//! - one packet is one message: at most [`MAX_PACKET`] bytes, with at most [`MAX_FDS`] file
//!   descriptors attached (SCM_RIGHTS);
//! - a send never raises SIGPIPE (a dead peer is `EPIPE`), and a signal interrupting a send or
//!   a receive is retried;
//! - received descriptors are close-on-exec from the start (`MSG_CMSG_CLOEXEC`): none can leak
//!   into a process the receiver execs;
//! - a message cut short by the buffer (`MSG_TRUNC`, `MSG_CTRUNC`) is `EMSGSIZE`, never half
//!   a message taken for a whole one.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

/// Large enough for any message berth sends, error chains and worker requests included.
pub const MAX_PACKET: usize = 64 * 1024;

/// The most descriptors one message carries: the shim's stdin, stdout and stderr.
pub const MAX_FDS: usize = 3;

/// One received message.
#[derive(Debug)]
pub struct Packet {
    pub bytes: Vec<u8>,
    pub fds: Vec<OwnedFd>,
}

/// Sends `bytes` as one message with `fds` attached.
pub fn send(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[RawFd]) -> nix::Result<()> {
    if bytes.len() > MAX_PACKET || fds.len() > MAX_FDS {
        return Err(nix::Error::EMSGSIZE);
    }
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    loop {
        match sendmsg::<()>(
            sock.as_raw_fd(),
            &[IoSlice::new(bytes)],
            cmsgs,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(_) => return Ok(()),
        }
    }
}

/// Receives the next message; `Ok(None)` when every sender has closed its end (EOF).
pub fn recv(sock: BorrowedFd<'_>) -> nix::Result<Option<Packet>> {
    let mut bytes = vec![0u8; MAX_PACKET];
    let mut space = nix::cmsg_space!([RawFd; MAX_FDS]);
    loop {
        let mut iov = [IoSliceMut::new(&mut bytes)];
        let msg = match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e),
            Ok(msg) => msg,
        };
        // Adopt what arrived before anything can fail, so no received fd is left unowned.
        let mut fds = Vec::new();
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(raw) = c {
                fds.extend(raw.into_iter().map(crate::sys::adopt_received_fd));
            }
        }
        if msg
            .flags
            .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC)
        {
            return Err(nix::Error::EMSGSIZE);
        }
        let n = msg.bytes;
        if n == 0 && fds.is_empty() {
            return Ok(None);
        }
        bytes.truncate(n);
        return Ok(Some(Packet { bytes, fds }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsFd;

    fn pair() -> (OwnedFd, OwnedFd) {
        socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .unwrap()
    }

    #[test]
    fn a_message_and_its_fds_arrive_whole_and_close_on_exec() {
        let (a, b) = pair();
        let (r, w) = nix::unistd::pipe().unwrap();
        send(a.as_fd(), b"hello", &[r.as_raw_fd(), w.as_raw_fd()]).unwrap();
        let got = recv(b.as_fd()).unwrap().unwrap();
        assert_eq!(got.bytes, b"hello");
        assert_eq!(got.fds.len(), 2);
        for fd in &got.fds {
            let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
            assert_ne!(
                flags & libc::FD_CLOEXEC,
                0,
                "received fd without FD_CLOEXEC"
            );
        }
        // The received write end feeds the original read end.
        nix::unistd::write(&got.fds[1], b"x").unwrap();
        let mut one = [0u8; 1];
        assert_eq!(nix::unistd::read(&r, &mut one).unwrap(), 1);
    }

    #[test]
    fn eof_is_none_and_a_dead_peer_is_epipe_not_sigpipe() {
        let (a, b) = pair();
        drop(a);
        assert!(recv(b.as_fd()).unwrap().is_none());
        assert_eq!(send(b.as_fd(), b"x", &[]), Err(nix::Error::EPIPE));
    }

    #[test]
    fn oversized_messages_are_refused_on_both_sides() {
        let (a, b) = pair();
        let big = vec![0u8; MAX_PACKET + 1];
        assert_eq!(send(a.as_fd(), &big, &[]), Err(nix::Error::EMSGSIZE));
        // A peer that does not use this framing can still send more: cut, so refused.
        nix::sys::socket::send(a.as_raw_fd(), &big, MsgFlags::empty()).unwrap();
        assert_eq!(recv(b.as_fd()).unwrap_err(), nix::Error::EMSGSIZE);
    }
}
