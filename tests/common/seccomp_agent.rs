//! A minimal seccomp agent for the tests (runc's seccomp-agent protocol): listens on a unix
//! socket, receives the `ContainerProcessState` JSON with the notify fd (SCM_RIGHTS), then
//! answers every notification with `-errno` until the container's filter goes away.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::thread::JoinHandle;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use serde_json::Value;

/// What the agent saw.
pub struct Seen {
    pub state: Value,
    /// Syscall numbers it was notified of.
    pub notified: Vec<i64>,
}

pub struct Agent {
    _dir: tempfile::TempDir,
    path: PathBuf,
    thread: JoinHandle<Vec<Seen>>,
}

impl Agent {
    /// Starts the agent for one connection (the container's init); each notified syscall
    /// fails with `errno`.
    pub fn start(errno: i32) -> Agent {
        Self::start_many(errno, 1)
    }

    /// The same for `connections` connections (the init, then exec'd processes), each
    /// served on its own thread.
    pub fn start_many(errno: i32, connections: usize) -> Agent {
        let dir = tempfile::tempdir().expect("agent tempdir");
        let path = dir.path().join("agent.sock");
        let listener = UnixListener::bind(&path).expect("bind the agent socket");
        let thread = std::thread::spawn(move || {
            let servers: Vec<_> = (0..connections)
                .map(|_| {
                    let (conn, _) = listener.accept().expect("accept the runtime");
                    std::thread::spawn(move || serve(conn, errno))
                })
                .collect();
            servers
                .into_iter()
                .map(|t| t.join().expect("agent connection thread"))
                .collect()
        });
        Agent {
            _dir: dir,
            path,
            thread,
        }
    }

    pub fn path(&self) -> &str {
        self.path.to_str().expect("utf-8 path")
    }

    /// Waits for the agent to finish (the container's filter is gone) and returns what it saw.
    pub fn finish(self) -> Seen {
        self.finish_all().remove(0)
    }

    /// What each connection saw, in the order they were accepted.
    pub fn finish_all(self) -> Vec<Seen> {
        self.thread.join().expect("agent thread")
    }
}

fn serve(conn: std::os::unix::net::UnixStream, errno: i32) -> Seen {
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let (len, fd) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .expect("recvmsg");
        let mut fd = None;
        for c in msg.cmsgs().expect("cmsgs") {
            if let ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: SCM_RIGHTS just installed these fds in this process.
                fd = fds.first().map(|f| unsafe { OwnedFd::from_raw_fd(*f) });
            }
        }
        (msg.bytes, fd.expect("the notify fd"))
    };
    let state: Value = serde_json::from_slice(&buf[..len]).expect("state JSON");
    let mut notified = Vec::new();
    loop {
        // SAFETY: zeroed plain-data structs, filled by the kernel.
        let mut req: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: ioctl on the notify fd with a valid, writable seccomp_notif.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut req) };
        if r != 0 {
            break; // ENOENT: every filtered process is gone
        }
        notified.push(req.data.nr as i64);
        // SAFETY: as above.
        let mut resp: libc::seccomp_notif_resp = unsafe { std::mem::zeroed() };
        resp.id = req.id;
        resp.error = -errno;
        // SAFETY: ioctl with a valid response struct.
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    }
    Seen { state, notified }
}
