//! The container's stdio from containerd's addresses: FIFO paths, `binary://` loggers and
//! `file://` files.
//!
//! No copy threads: the container gets the FIFOs (or pipes, or the file) directly as 0/1/2.
//! The shim keeps one extra handle per FIFO so FIFO semantics match runc's shim:
//!
//! - stdout/stderr: the shim opens the FIFO `O_RDWR` (never blocks, and a reader always exists,
//!   so the container never gets SIGPIPE before the client attaches), then reopens it
//!   `O_WRONLY` through `/proc/self/fd` for the container. The `O_RDWR` holder is closed when
//!   the process exits, so the client reads EOF once the container's copies are gone.
//! - stdin: the one stream with a copy thread, as in runc's shim. The container reads a pipe;
//!   a thread opens the FIFO for reading (blocking until the client opens its end, so the
//!   container never sees a premature EOF), copies, and closes the pipe at the FIFO's EOF. A
//!   shim-held writer would instead hide the client's EOF: `ctr` calls CloseIO only when its
//!   stdin ends after the task exists, so piped input that ends at once would hang.
//!   [`unblock_stdin`] releases a thread still waiting for a client that never came.
//! - `binary:///path?k=v`: the logger is started with the read ends of two pipes as fds 3 and
//!   4 and a readiness pipe as fd 5 (containerd's logging-binary protocol), and the container
//!   writes into the pipes.
//! - `file:///path`: stdout and stderr both append to the file.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::Command;

use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

use crate::error::ShimError;

/// How long a `binary://` logger has to signal readiness.
const LOGGER_READY_MS: u16 = 10_000;

/// The streams handed to the container, and the handles the shim keeps.
#[derive(Debug, Default)]
pub struct Stdio {
    /// fds for the container's 0, 1, 2 (None: /dev/null).
    pub container: [Option<OwnedFd>; 3],
    /// Closed when the process exits (stdout/stderr FIFO read holders).
    pub out_holders: Vec<OwnedFd>,
    /// The stdin FIFO a copy thread reads, if any.
    pub stdin_path: Option<String>,
}

impl Stdio {
    /// The fds to attach to the worker request, and which slots they fill.
    pub fn for_worker(&self) -> (Vec<BorrowedFd<'_>>, [bool; 3]) {
        let mut present = [false; 3];
        let mut fds = Vec::new();
        for (i, fd) in self.container.iter().enumerate() {
            if let Some(fd) = fd {
                present[i] = true;
                fds.push(fd.as_fd());
            }
        }
        (fds, present)
    }
}

impl Stdio {
    /// Gives every stream handed to the process the owner `uid`:`gid` (runtime options
    /// IoUid/IoGid, as runc's shim gives its pipes): the stdin pipe, the stdout/stderr FIFOs
    /// (the FIFO files containerd made) or a `binary://` logger's pipes. `fchown` on the fds
    /// the shim opened, so no path is resolved again.
    pub fn set_owner(&self, uid: u32, gid: u32) -> nix::Result<()> {
        let (uid, gid) = (
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(gid)),
        );
        for fd in self.container.iter().flatten() {
            nix::unistd::fchown(fd, uid, gid)?;
        }
        Ok(())
    }
}

/// Refuses IoUid/IoGid (`io_owner`) for a process they cannot apply to, before `op` does
/// anything: not to a terminal (its pty belongs to the process's user, set by the runtime) nor
/// to a `file://` log (a file on the host the shim does not give away).
pub fn check_owner(
    op: &'static str,
    id: &str,
    io_owner: Option<(u32, u32)>,
    terminal: bool,
    stdout: &str,
) -> Result<(), ShimError> {
    let Some((uid, gid)) = io_owner else {
        return Ok(());
    };
    let reason = if terminal {
        "the process has a terminal, whose pty is owned by the process's user; IoUid/IoGid apply to stdio pipes and FIFOs".to_string()
    } else if let Ok(Address::File(path)) = parse(stdout) {
        format!("stdout is the file {path} (file://), whose owner berth's shim does not change; IoUid/IoGid apply to stdio pipes and FIFOs")
    } else {
        return Ok(());
    };
    Err(ShimError::Options {
        op,
        id: id.to_string(),
        source: crate::options::OptionsError::Unsupported {
            name: "IoUid/IoGid",
            value: format!("{uid}/{gid}"),
            reason,
        },
    })
}

/// What one address means.
#[derive(Debug, PartialEq, Eq)]
pub enum Address {
    None,
    Fifo(String),
    Binary { path: String, args: Vec<String> },
    File(String),
}

/// Parses a containerd stdio address.
pub fn parse(uri: &str) -> Result<Address, String> {
    if uri.is_empty() {
        return Ok(Address::None);
    }
    if let Some(rest) = uri.strip_prefix("binary://") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut args = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            args.push(percent_decode(k));
            if !v.is_empty() {
                args.push(percent_decode(v));
            }
        }
        return Ok(Address::Binary {
            path: percent_decode(path),
            args,
        });
    }
    if let Some(rest) = uri.strip_prefix("file://") {
        return Ok(Address::File(percent_decode(rest)));
    }
    if let Some(rest) = uri.strip_prefix("fifo://") {
        return Ok(Address::Fifo(rest.to_string()));
    }
    if uri.contains("://") {
        return Err(uri.to_string());
    }
    Ok(Address::Fifo(uri.to_string()))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens the streams of one process.
pub fn open_stdio(
    id: &str,
    namespace: &str,
    stdin: &str,
    stdout: &str,
    stderr: &str,
) -> Result<Stdio, ShimError> {
    let bad = |uri: String| ShimError::StdioUri {
        id: id.to_string(),
        uri,
    };
    let mut io = Stdio::default();
    match parse(stdin).map_err(bad)? {
        Address::None => {}
        Address::Fifo(path) => {
            let fd = copy_stdin(&path).map_err(|e| stdio_err(id, "stdin", stdin, e))?;
            io.container[0] = Some(fd);
            io.stdin_path = Some(path);
        }
        _ => return Err(bad(stdin.to_string())),
    }
    match parse(stdout).map_err(bad)? {
        Address::Binary { path, args } => {
            let (out, err) = start_logger(id, namespace, &path, &args)
                .map_err(|e| stdio_err(id, "stdout", stdout, e))?;
            io.container[1] = Some(out);
            io.container[2] = Some(err);
            return Ok(io);
        }
        Address::File(path) => {
            let file = open_log_file(&path).map_err(|e| stdio_err(id, "stdout", stdout, e))?;
            let dup = file
                .try_clone()
                .map_err(|e| stdio_err(id, "stderr", stdout, e))?;
            io.container[1] = Some(file);
            io.container[2] = Some(dup);
            return Ok(io);
        }
        Address::Fifo(path) => {
            let (fd, holder) =
                open_out_fifo(&path).map_err(|e| stdio_err(id, "stdout", stdout, e))?;
            io.container[1] = Some(fd);
            io.out_holders.push(holder);
        }
        Address::None => {}
    }
    match parse(stderr).map_err(bad)? {
        Address::Fifo(path) => {
            let (fd, holder) =
                open_out_fifo(&path).map_err(|e| stdio_err(id, "stderr", stderr, e))?;
            io.container[2] = Some(fd);
            io.out_holders.push(holder);
        }
        Address::None => {}
        _ => return Err(bad(stderr.to_string())),
    }
    Ok(io)
}

fn stdio_err(id: &str, stream: &'static str, uri: &str, source: std::io::Error) -> ShimError {
    ShimError::Stdio {
        id: id.to_string(),
        stream,
        uri: uri.to_string(),
        source,
    }
}

fn io_err(e: nix::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// Reopens an fd through /proc/self/fd with new flags (a FIFO with a reader or writer present
/// opens without blocking).
fn reopen(fd: &OwnedFd, flags: OFlag) -> std::io::Result<OwnedFd> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    open(path.as_str(), flags | OFlag::O_CLOEXEC, Mode::empty()).map_err(io_err)
}

fn open_out_fifo(path: &str) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let holder = open(path, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()).map_err(io_err)?;
    let writer = reopen(&holder, OFlag::O_WRONLY)?;
    Ok((writer, holder))
}

/// Starts the stdin copy thread; returns the pipe end the container reads.
fn copy_stdin(path: &str) -> std::io::Result<OwnedFd> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io_err)?;
    let path = path.to_string();
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            // Blocks until the client opens its end; EOF once every client writer is closed.
            let Ok(mut fifo) = std::fs::File::open(&path) else {
                return;
            };
            let mut pipe = std::fs::File::from(w);
            let _ = std::io::copy(&mut fifo, &mut pipe);
        })?;
    Ok(r)
}

/// Releases a stdin copy thread still blocked opening the FIFO (the client never attached):
/// a writer that opens and closes at once gives it EOF. Harmless if the thread is copying.
pub fn unblock_stdin(path: &str) {
    let _ = open(
        path,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    );
}

fn open_log_file(path: &str) -> std::io::Result<OwnedFd> {
    if let Some(parent) = Path::new(path).parent() {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    Ok(file.into())
}

/// Starts a `binary://` logger; returns the write ends for the container's stdout and stderr.
fn start_logger(
    id: &str,
    namespace: &str,
    path: &str,
    args: &[String],
) -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (out_r, out_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io_err)?;
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io_err)?;
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(io_err)?;
    let mut cmd = Command::new(path);
    cmd.args(args)
        .env("CONTAINER_ID", id)
        .env("CONTAINER_NAMESPACE", namespace)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let map = [
        (out_r.as_raw_fd(), 3),
        (err_r.as_raw_fd(), 4),
        (ready_w.as_raw_fd(), 5),
    ];
    crate::sys::map_fds_on_exec(&mut cmd, map);
    // std's Command forks and execs with only async-signal-safe calls in between, so it is
    // safe from the multi-threaded shim (unlike running Rust code after a fork).
    let _child = cmd.spawn()?;
    drop((out_r, err_r, ready_w));
    wait_ready(ready_r.as_fd())?;
    Ok((out_w, err_w))
}

/// The logger closes fd 5 when it is ready.
fn wait_ready(fd: BorrowedFd<'_>) -> std::io::Result<()> {
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(LOGGER_READY_MS)) {
        Ok(0) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the logging binary did not signal readiness",
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(io_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse() {
        assert_eq!(parse("").unwrap(), Address::None);
        assert_eq!(
            parse("/run/containerd/fifo/1/c-stdout").unwrap(),
            Address::Fifo("/run/containerd/fifo/1/c-stdout".into())
        );
        assert_eq!(
            parse("binary:///usr/bin/logger?tag=a%20b&verbose").unwrap(),
            Address::Binary {
                path: "/usr/bin/logger".into(),
                args: vec!["tag".into(), "a b".into(), "verbose".into()],
            }
        );
        assert_eq!(
            parse("file:///var/log/c.log").unwrap(),
            Address::File("/var/log/c.log".into())
        );
        assert!(parse("tcp://1.2.3.4:5").is_err());
    }

    #[test]
    fn out_fifo_reader_sees_eof_only_after_holder_closes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
        let p = path.to_str().unwrap();
        // No reader yet: opening must not block.
        let (writer, holder) = open_out_fifo(p).unwrap();
        let reader = open(p, OFlag::O_RDONLY | OFlag::O_NONBLOCK, Mode::empty()).unwrap();
        nix::unistd::write(&writer, b"hi").unwrap();
        drop(writer);
        let mut buf = [0u8; 8];
        assert_eq!(nix::unistd::read(&reader, &mut buf).unwrap(), 2);
        // The holder still counts as a writer: no EOF yet.
        assert_eq!(
            nix::unistd::read(&reader, &mut buf),
            Err(nix::Error::EAGAIN)
        );
        drop(holder);
        assert_eq!(nix::unistd::read(&reader, &mut buf).unwrap(), 0);
    }

    #[test]
    fn stdin_copy_waits_for_the_client_then_ends_at_its_eof() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
        let p = path.to_str().unwrap();
        let reader = copy_stdin(p).unwrap();
        // The client attaches late and writes once: the container reads it, then EOF.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let client = open(p, OFlag::O_WRONLY, Mode::empty()).unwrap();
        nix::unistd::write(&client, b"data").unwrap();
        drop(client);
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(reader), &mut all).unwrap();
        assert_eq!(all, b"data");
    }

    #[test]
    fn unblock_releases_a_stdin_thread_without_client() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
        let p = path.to_str().unwrap();
        let reader = copy_stdin(p).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        unblock_stdin(p);
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(reader), &mut all).unwrap();
        assert!(all.is_empty());
    }

    #[test]
    fn io_owner_applies_to_pipes_and_fifos_only() {
        assert!(check_owner("create", "c", None, true, "file:///x").is_ok());
        assert!(check_owner("create", "c", Some((1, 2)), false, "/run/fifo").is_ok());
        let err = |terminal, stdout| {
            crate::error::chain(
                &check_owner("create", "c", Some((1, 2)), terminal, stdout).unwrap_err(),
            )
        };
        assert_eq!(
            err(true, "/run/fifo"),
            "create task \"c\": runtime option IoUid/IoGid = 1/2: the process has a terminal, whose pty is owned by the process's user; IoUid/IoGid apply to stdio pipes and FIFOs"
        );
        assert_eq!(
            err(false, "file:///var/log/c.log"),
            "create task \"c\": runtime option IoUid/IoGid = 1/2: stdout is the file /var/log/c.log (file://), whose owner berth's shim does not change; IoUid/IoGid apply to stdio pipes and FIFOs"
        );
    }

    #[test]
    fn set_owner_chowns_every_stream_given_to_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600)).unwrap();
        let io = open_stdio("c", "ns", "", path.to_str().unwrap(), "").unwrap();
        io.set_owner(4321, 4322).unwrap();
        let st = nix::sys::stat::stat(&path).unwrap();
        assert_eq!((st.st_uid, st.st_gid), (4321, 4322));
    }

    #[test]
    fn file_address_appends_both_streams() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/c.log");
        let uri = format!("file://{}", path.display());
        let io = open_stdio("c", "ns", "", &uri, &uri).unwrap();
        nix::unistd::write(io.container[1].as_ref().unwrap(), b"out\n").unwrap();
        nix::unistd::write(io.container[2].as_ref().unwrap(), b"err\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "out\nerr\n");
    }
}
