//! `--console-socket`: runc's protocol, which containerd and podman speak. berth connects to
//! the unix stream socket and sends one message whose data is the pty's name and whose
//! SCM_RIGHTS carries the pty master.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

use super::TerminalError;

/// A connected console socket. Connected before anything is created, so a wrong path fails
/// the operation while there is nothing to undo.
#[derive(Debug)]
pub struct ConsoleSocket {
    path: PathBuf,
    stream: UnixStream,
}

impl ConsoleSocket {
    pub fn connect(path: &Path) -> Result<ConsoleSocket, TerminalError> {
        let meta = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                TerminalError::SocketMissing {
                    path: path.to_path_buf(),
                }
            } else {
                TerminalError::Connect {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        if !meta.file_type().is_socket() {
            return Err(TerminalError::NotASocket {
                path: path.to_path_buf(),
            });
        }
        let stream = UnixStream::connect(path).map_err(|source| TerminalError::Connect {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(ConsoleSocket {
            path: path.to_path_buf(),
            stream,
        })
    }

    /// Sends the master; the socket is closed when `self` is dropped.
    pub fn send(self, master: BorrowedFd, name: &str) -> Result<(), TerminalError> {
        let fds = [master.as_raw_fd()];
        sendmsg::<()>(
            self.stream.as_raw_fd(),
            &[IoSlice::new(name.as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::MSG_NOSIGNAL,
            None,
        )
        .map(drop)
        .map_err(|source| TerminalError::SendMaster {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixListener;

    #[test]
    fn missing_and_non_socket_paths_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.sock");
        assert_eq!(
            ConsoleSocket::connect(&missing).unwrap_err().to_string(),
            format!("console socket {}: no such file", missing.display())
        );
        let file = dir.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert_eq!(
            ConsoleSocket::connect(&file).unwrap_err().to_string(),
            format!("console socket {} is not a unix socket", file.display())
        );
    }

    #[test]
    fn the_fd_and_name_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let sock = ConsoleSocket::connect(&path).unwrap();
        let (conn, _) = listener.accept().unwrap();
        let (r, w) = nix::unistd::pipe().unwrap();
        sock.send(w.as_fd(), "/dev/pts/7").unwrap();
        drop(w);
        let mut buf = [0u8; 64];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::empty(),
        )
        .unwrap();
        let mut got = None;
        for c in msg.cmsgs().unwrap() {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
                got = Some(crate::sys::adopt_received_fd(fds[0]));
            }
        }
        let n = msg.bytes;
        assert_eq!(&buf[..n], b"/dev/pts/7");
        let w2 = got.expect("an fd");
        nix::unistd::write(&w2, b"z").unwrap();
        drop(w2);
        let mut b = [0u8; 1];
        assert_eq!(nix::unistd::read(&r, &mut b).unwrap(), 1);
    }
}
