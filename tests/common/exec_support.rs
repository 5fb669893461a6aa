//! Helpers for the exec, terminal, hooks and preserved-fd tests (issue #5): running the
//! runtime with a pty the test holds as its stdio, with extra fds, and receiving a pty master
//! on a console socket.

#![allow(dead_code)]

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Runtime;

/// The runtime started with a pty's slave as stdin/stdout/stderr; the test holds the master.
pub struct PtySession {
    pub child: Child,
    pub master: std::fs::File,
    seen: String,
}

/// Opens a pty pair with the given size.
pub fn pty_pair(rows: u16, cols: u16) -> (OwnedFd, OwnedFd) {
    let ws = nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let p = nix::pty::openpty(Some(&ws), None).expect("openpty");
    (p.master, p.slave)
}

impl PtySession {
    /// `<runtime> --root <root> ARGS...` on a new pty of `rows`x`cols`.
    pub fn spawn(rt: &Runtime, args: &[&str], rows: u16, cols: u16) -> PtySession {
        let (master, slave) = pty_pair(rows, cols);
        let mut cmd = Command::new(rt.bin());
        cmd.arg("--root").arg(rt.root()).args(args);
        let s = std::fs::File::from(slave);
        cmd.stdin(Stdio::from(s.try_clone().unwrap()))
            .stdout(Stdio::from(s.try_clone().unwrap()))
            .stderr(Stdio::from(s));
        let child = cmd.spawn().expect("spawn runtime on a pty");
        let master = std::fs::File::from(master);
        nix::fcntl::fcntl(
            &master,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        PtySession {
            child,
            master,
            seen: String::new(),
        }
    }

    pub fn send(&mut self, text: &str) {
        self.master
            .write_all(text.as_bytes())
            .expect("type into the pty");
    }

    /// Reads until `needle` appears in everything read so far (panics after `timeout`).
    #[track_caller]
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> String {
        read_until(&mut self.master, &mut self.seen, needle, timeout);
        self.seen.clone()
    }

    /// Waits for the runtime to exit; returns its exit code.
    #[track_caller]
    pub fn wait(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            let mut buf = [0u8; 4096];
            if let Ok(n) = self.master.read(&mut buf) {
                self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            if let Some(st) = self.child.try_wait().unwrap() {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("runtime did not exit; pty output so far:\n{}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn output(&self) -> &str {
        &self.seen
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads a non-blocking `f` into `seen` until it contains `needle`.
#[track_caller]
pub fn read_until(f: &mut std::fs::File, seen: &mut String, needle: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !seen.contains(needle) {
        let mut buf = [0u8; 4096];
        match f.read(&mut buf) {
            Ok(n) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} never appeared; output so far:\n{seen}"
        );
    }
}

/// A console socket the test listens on (runc's `recvtty` role).
pub struct ConsoleListener {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
    listener: UnixListener,
}

impl ConsoleListener {
    pub fn new() -> ConsoleListener {
        let dir = tempfile::Builder::new()
            .prefix("berth-console-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("console.sock");
        let listener = UnixListener::bind(&path).expect("bind console socket");
        listener.set_nonblocking(true).unwrap();
        ConsoleListener {
            _dir: dir,
            path,
            listener,
        }
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Accepts the runtime's connection and receives (name, pty master).
    #[track_caller]
    pub fn recv(&self, timeout: Duration) -> (String, std::fs::File) {
        let deadline = Instant::now() + timeout;
        let conn = loop {
            match self.listener.accept() {
                Ok((c, _)) => break c,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => panic!("no connection on the console socket: {e}"),
            }
        };
        conn.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 4096];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .expect("recvmsg on the console socket");
        let mut fd = None;
        for c in msg.cmsgs().unwrap() {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
                // SAFETY: the fd was just installed by SCM_RIGHTS; we are its only owner.
                fd = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
            }
        }
        let n = msg.bytes;
        let name = String::from_utf8_lossy(&buf[..n]).into_owned();
        let f = std::fs::File::from(fd.expect("an fd with the console message"));
        nix::fcntl::fcntl(
            &f,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
        )
        .unwrap();
        (name, f)
    }
}

/// Runs `<runtime> --root <root> ARGS` with `files` as fds 3, 4, ... and `env` added;
/// stdout/stderr captured (through files). Returns (code, stdout, stderr).
pub fn run_with_fds(
    rt: &Runtime,
    args: &[&str],
    files: &[&std::fs::File],
    env: &[(&str, &str)],
) -> super::Output {
    let out_f = tempfile::tempfile().unwrap();
    let err_f = tempfile::tempfile().unwrap();
    let mut cmd = Command::new(rt.bin());
    cmd.arg("--root")
        .arg(rt.root())
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(out_f.try_clone().unwrap())
        .stderr(err_f.try_clone().unwrap());
    let raw: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
    // SAFETY: only async-signal-safe dup2/fcntl calls between fork and exec; the fds are owned
    // by `files`, which outlive the spawn.
    unsafe {
        cmd.pre_exec(move || {
            // Move them out of the way first, in case a source is itself in 3..3+n.
            let mut high = Vec::new();
            for fd in &raw {
                let h = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 100);
                if h < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high.push(h);
            }
            for (i, h) in high.iter().enumerate() {
                if libc::dup2(*h, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn runtime with extra fds");
    let deadline = Instant::now() + super::CMD_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("runtime timed out: {args:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |mut f: std::fs::File| {
        use std::io::Seek;
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0)).unwrap();
        f.read_to_string(&mut s).unwrap();
        s
    };
    super::Output {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: status.code().unwrap_or(-1),
        stdout: read(out_f),
        stderr: read(err_f),
    }
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `run -d` a long-running container (`sleep 1000`); returns the init's host pid.
#[track_caller]
pub fn run_detached_sleeper(rt: &Runtime, b: &super::Bundle, id: &str) -> String {
    let out = rt.run_args(b, id, &["sleep", "1000"], &["-d"]);
    out.ok();
    let st = rt.state(id);
    st["pid"].to_string()
}
