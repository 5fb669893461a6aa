//! berth-probe: a tiny static program run INSIDE test containers. It prints one JSON object
//! (one line on stdout) describing what the container process observes, so integration tests
//! assert on the container's view rather than on the runtime's intentions (the pattern of crun's
//! `tests/init.c` and youki's `runtimetest`).
//!
//! Usage: `berth-probe --exchange-loop A B` (swap two paths forever), `berth-probe
//! --fifo-exchange FIFO A B` (swap them each time a reader opens FIFO), `berth-probe --scan-proc
//! MARKER SECONDS` (count MARKER in other processes' cmdline and environ), or `berth-probe [--sysctl KEY]... [--write PATH]... [--open PATH]... [--open-wronly PATH]...
//! [--syscall NR[,ARG]...]... [--int80 NR[,ARG]...]... [--stat PATH]... [--exit N]` (raw syscalls: see `syscalls.rs`)
//!
//! Output conventions (documented in docs/testing.md):
//! - rlimits: `{"RLIMIT_NOFILE": {"soft": 1024, "hard": 4096}}`; `RLIM_INFINITY` is `null`.
//! - capabilities: hex strings as in /proc/self/status plus sorted lists of `CAP_*` names.
//! - namespaces: inode numbers (`null` when the namespace file is missing or unreadable).
//! - `--open-wronly PATH` opens an existing file O_WRONLY and closes it without writing: whether
//!   it could be written (EROFS on a read-only mount), without changing it — safe on a host
//!   sysctl that a broken container setup left writable.
//! - scheduling and placement (sched.rs): `scheduler` (sched_getattr: policy name, raw flags,
//!   nice, priority, runtime/deadline/period), `io_priority` (`{"class": "IOPRIO_CLASS_BE",
//!   "priority": 4}`), `personality` (persona, domain, uname machine), `cpu_affinity` (sorted
//!   CPU numbers), `mempolicy` (mode name, mode flags, node list).
//! - errors of the `--write` / `--open` / `--open-wronly` / `--sysctl` checks: `{"ok": false, "errno": 30,
//!   "error": "EROFS"}`.
//!
//! The probe uses only libc and serde_json, and no NSS (no getpwnam), so that it works as a
//! static glibc binary in an empty rootfs.

mod bench;
mod sched;
mod syscalls;

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Capability names indexed by capability number (linux/capability.h, up to 6.x).
const CAP_NAMES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Resource limits reported, with their libc numbers.
const RLIMITS: &[(&str, libc::__rlimit_resource_t)] = &[
    ("RLIMIT_CPU", libc::RLIMIT_CPU),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
    ("RLIMIT_DATA", libc::RLIMIT_DATA),
    ("RLIMIT_STACK", libc::RLIMIT_STACK),
    ("RLIMIT_CORE", libc::RLIMIT_CORE),
    ("RLIMIT_RSS", libc::RLIMIT_RSS),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("RLIMIT_AS", libc::RLIMIT_AS),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", libc::RLIMIT_NICE),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
];

const NAMESPACES: &[&str] = &[
    "cgroup",
    "ipc",
    "mnt",
    "net",
    "pid",
    "pid_for_children",
    "time",
    "time_for_children",
    "user",
    "uts",
];

/// Parsed command line.
#[derive(Default)]
struct Args {
    sysctls: Vec<String>,
    writes: Vec<String>,
    opens: Vec<String>,
    open_wronly: Vec<String>,
    syscalls: Vec<String>,
    int80s: Vec<String>,
    stats: Vec<String>,
    exit: Option<i32>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "--sysctl" => args.sysctls.push(value("--sysctl")?),
            "--write" => args.writes.push(value("--write")?),
            "--open" => args.opens.push(value("--open")?),
            "--open-wronly" => args.open_wronly.push(value("--open-wronly")?),
            "--syscall" => args.syscalls.push(value("--syscall")?),
            "--int80" => args.int80s.push(value("--int80")?),
            "--stat" => args.stats.push(value("--stat")?),
            "--exit" => {
                let v = value("--exit")?;
                args.exit = Some(v.parse().map_err(|_| format!("--exit {v}: not a number"))?);
            }
            "-h" | "--help" => {
                println!(
                    "usage: berth-probe [--sysctl KEY]... [--write PATH]... [--open PATH]... [--open-wronly PATH]... [--syscall NR[,ARG]...]... [--int80 NR[,ARG]...]... [--stat PATH]... [--exit N]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn errno_name(e: i32) -> &'static str {
    match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EACCES => "EACCES",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::ELOOP => "ELOOP",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        _ => "E?",
    }
}

fn io_result(r: std::io::Result<()>) -> Value {
    match r {
        Ok(()) => json!({"ok": true, "errno": null, "error": null}),
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            json!({"ok": false, "errno": errno, "error": errno_name(errno), "message": e.to_string()})
        }
    }
}

fn read_trim(path: impl AsRef<Path>) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim_end().to_string())
}

fn cstr_field(field: &[libc::c_char]) -> String {
    // SAFETY: utsname fields are NUL-terminated arrays filled by the kernel.
    unsafe { CStr::from_ptr(field.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn uname() -> (String, String) {
    // SAFETY: utsname is plain old data; zeroed is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return (String::new(), String::new());
    }
    (cstr_field(&u.nodename), cstr_field(&u.domainname))
}

fn ids() -> Value {
    let (mut r, mut e, mut s) = (0, 0, 0);
    // SAFETY: pointers to valid locals.
    unsafe { libc::getresuid(&mut r, &mut e, &mut s) };
    let (mut gr, mut ge, mut gs) = (0, 0, 0);
    // SAFETY: pointers to valid locals.
    unsafe { libc::getresgid(&mut gr, &mut ge, &mut gs) };
    let mut groups = vec![0 as libc::gid_t; 1024];
    // SAFETY: the buffer holds `groups.len()` entries.
    let n = unsafe { libc::getgroups(groups.len() as libc::c_int, groups.as_mut_ptr()) };
    groups.truncate(n.max(0) as usize);
    json!({"uid": r, "euid": e, "suid": s, "gid": gr, "egid": ge, "sgid": gs, "groups": groups})
}

/// `/proc/self/status` as key → value.
fn status() -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for line in fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
    {
        if let Some((k, v)) = line.split_once(':') {
            m.insert(k.to_string(), v.trim().to_string());
        }
    }
    m
}

fn cap_names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| {
            CAP_NAMES
                .get(bit)
                .map(|s| s.to_string())
                .unwrap_or_else(|| format!("CAP_{bit}"))
        })
        .collect()
}

fn capabilities(st: &BTreeMap<String, String>) -> Value {
    let mut out = Map::new();
    for (key, name) in [
        ("CapInh", "inheritable"),
        ("CapPrm", "permitted"),
        ("CapEff", "effective"),
        ("CapBnd", "bounding"),
        ("CapAmb", "ambient"),
    ] {
        let hex = st.get(key).cloned().unwrap_or_default();
        let mask = u64::from_str_radix(&hex, 16).unwrap_or(0);
        out.insert(name.into(), json!({"hex": hex, "names": cap_names(mask)}));
    }
    Value::Object(out)
}

fn rlimits() -> Value {
    let mut out = Map::new();
    let conv = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            Value::Null
        } else {
            json!(v)
        }
    };
    for (name, res) in RLIMITS {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `r` is a valid, writable rlimit.
        if unsafe { libc::getrlimit(*res, &mut r) } == 0 {
            out.insert(
                name.to_string(),
                json!({"soft": conv(r.rlim_cur), "hard": conv(r.rlim_max)}),
            );
        }
    }
    Value::Object(out)
}

fn namespaces() -> Value {
    let mut out = Map::new();
    for ns in NAMESPACES {
        let inode = fs::read_link(format!("/proc/self/ns/{ns}"))
            .ok()
            .and_then(|t| {
                let t = t.to_string_lossy().into_owned();
                let start = t.find('[')?;
                t[start + 1..].trim_end_matches(']').parse::<u64>().ok()
            });
        out.insert(ns.to_string(), json!(inode));
    }
    Value::Object(out)
}

fn cgroups() -> Value {
    let text = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ':');
            let id = parts.next().unwrap_or("");
            let ctrls = parts.next().unwrap_or("");
            let path = parts.next().unwrap_or("");
            json!({"line": l, "hierarchy": id, "controllers": ctrls, "path": path})
        })
        .collect();
    Value::Array(lines)
}

/// Undo the octal escapes (`\040` etc.) mountinfo uses for spaces, tabs, newlines and `\`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn mountinfo() -> Value {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let Some(sep) = f.iter().position(|x| *x == "-") else {
            continue;
        };
        if sep < 6 || f.len() < sep + 4 {
            continue;
        }
        let optional: Vec<&str> = f[6..sep].to_vec();
        let propagation = if optional.iter().any(|o| o.starts_with("shared:")) {
            "shared"
        } else if optional.iter().any(|o| o.starts_with("master:")) {
            "slave"
        } else if optional.contains(&"unbindable") {
            "unbindable"
        } else {
            "private"
        };
        out.push(json!({
            "id": f[0].parse::<u64>().ok(),
            "parent": f[1].parse::<u64>().ok(),
            "dev": f[2],
            "root": unescape(f[3]),
            "mount_point": unescape(f[4]),
            "options": f[5].split(',').collect::<Vec<_>>(),
            "optional": optional,
            "propagation": propagation,
            "fstype": f[sep + 1],
            "source": unescape(f[sep + 2]),
            "super_options": f[sep + 3].split(',').collect::<Vec<_>>(),
        }));
    }
    Value::Array(out)
}

fn dev_entry(path: &Path, name: String) -> Option<Value> {
    let md = fs::symlink_metadata(path).ok()?;
    let ft = md.file_type();
    let kind = if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else {
        "file"
    };
    let rdev = md.rdev();
    let (major, minor) = if ft.is_char_device() || ft.is_block_device() {
        (json!(libc::major(rdev)), json!(libc::minor(rdev)))
    } else {
        (Value::Null, Value::Null)
    };
    let target = if ft.is_symlink() {
        fs::read_link(path)
            .ok()
            .map(|t| t.to_string_lossy().into_owned())
    } else {
        None
    };
    Some(json!({
        "name": name,
        "kind": kind,
        "major": major,
        "minor": minor,
        "mode": format!("{:04o}", md.mode() & 0o7777),
        "uid": md.uid(),
        "gid": md.gid(),
        "target": target,
    }))
}

/// /dev entries, keyed by path relative to /dev (`null`, `pts/ptmx`), one level deep.
fn devices() -> Value {
    let mut out = Map::new();
    let mut subdirs = Vec::new();
    if let Ok(rd) = fs::read_dir("/dev") {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(v) = dev_entry(&e.path(), name.clone()) {
                if v["kind"] == "dir" {
                    subdirs.push(name.clone());
                }
                out.insert(name, v);
            }
        }
    }
    for d in subdirs {
        if let Ok(rd) = fs::read_dir(Path::new("/dev").join(&d)) {
            for e in rd.flatten() {
                let name = format!("{d}/{}", e.file_name().to_string_lossy());
                if let Some(v) = dev_entry(&e.path(), name.clone()) {
                    out.insert(name, v);
                }
            }
        }
    }
    Value::Object(out)
}

/// Open fds → link targets. The fd of the directory listing itself is closed before the
/// readlink pass, so it does not appear.
fn fds() -> Value {
    let names: Vec<String> = fs::read_dir("/proc/self/fd")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut out = Map::new();
    for n in names {
        if let Ok(t) = fs::read_link(format!("/proc/self/fd/{n}")) {
            out.insert(n, json!(t.to_string_lossy()));
        }
    }
    Value::Object(out)
}

fn clock(id: libc::clockid_t) -> Value {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
        return Value::Null;
    }
    json!(ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
}

fn try_write(path: &str) -> Value {
    let r = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(b"berth-probe\n"));
    io_result(r)
}

fn try_open(path: &str) -> Value {
    io_result(fs::File::open(path).map(|_| ()))
}

/// Open `path` write-only — no O_CREAT, no O_TRUNC — and close it unwritten.
fn try_open_wronly(path: &str) -> Value {
    io_result(fs::OpenOptions::new().write(true).open(path).map(|_| ()))
}

/// lstat of `path` (after the writes, so a file the probe wrote can be looked at): type,
/// owner, permission bits, and a symlink's target, as the container sees them.
fn stat(path: &str) -> Value {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    match fs::symlink_metadata(path) {
        Ok(m) => {
            let t = m.file_type();
            let kind = if t.is_symlink() {
                "symlink"
            } else if t.is_dir() {
                "dir"
            } else if t.is_file() {
                "file"
            } else if t.is_fifo() {
                "fifo"
            } else if t.is_socket() {
                "socket"
            } else if t.is_char_device() {
                "char"
            } else if t.is_block_device() {
                "block"
            } else {
                "?"
            };
            let target = fs::read_link(path)
                .ok()
                .map(|p| p.to_string_lossy().into_owned());
            json!({"ok": true, "type": kind, "uid": m.uid(), "gid": m.gid(),
                   "mode": format!("{:o}", m.mode() & 0o7777), "size": m.size(), "target": target})
        }
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            json!({"ok": false, "errno": errno, "error": errno_name(errno)})
        }
    }
}

fn sysctl(key: &str) -> Value {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    match fs::read_to_string(&path) {
        Ok(v) => json!({"ok": true, "value": v.trim_end()}),
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            json!({"ok": false, "value": null, "errno": errno, "error": errno_name(errno)})
        }
    }
}

/// The description of the session keyring (`keyring;uid;gid;perm;name`), or null.
fn session_keyring() -> Value {
    const KEYCTL_DESCRIBE: libc::c_long = 6;
    const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
    let mut buf = vec![0u8; 512];
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            KEY_SPEC_SESSION_KEYRING,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n <= 0 {
        return Value::Null;
    }
    let len = (n as usize).min(buf.len());
    let text = String::from_utf8_lossy(&buf[..len]);
    json!(text.trim_end_matches('\0'))
}

/// `berth-probe --exchange-loop A B`: swaps the two paths with renameat2(RENAME_EXCHANGE)
/// forever, as fast as the kernel allows — the racing half of the attack tests (a check by
/// path and a use by path, with the object swapped in between).
fn exchange_loop(a: &str, b: &str) -> ! {
    let a = std::ffi::CString::new(a).expect("path");
    let b = std::ffi::CString::new(b).expect("path");
    loop {
        // SAFETY: two valid NUL-terminated paths; renameat2 only renames.
        unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
    }
}

/// `berth-probe --fifo-exchange FIFO A B`: waits for a reader of the FIFO (a runtime's
/// check opening it as the `#!` interpreter of A), swaps A and B with renameat2
/// (RENAME_EXCHANGE) while that reader is still inside its check, lets it go (closes the
/// FIFO: the reader sees end of file), waits 20 ms and swaps them back; forever. It turns a
/// check-then-exec-by-path race into a certain win: the swap lands inside the check.
fn fifo_exchange(fifo: &str, a: &str, b: &str) -> ! {
    let exchange = || {
        let a = std::ffi::CString::new(a).expect("path");
        let b = std::ffi::CString::new(b).expect("path");
        // SAFETY: two valid NUL-terminated paths; renameat2 only renames.
        unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
    };
    loop {
        // Blocks until a reader opens the FIFO.
        let writer = fs::OpenOptions::new().write(true).open(fifo);
        exchange();
        drop(writer);
        std::thread::sleep(std::time::Duration::from_millis(20));
        exchange();
    }
}

/// `berth-probe --scan-proc MARKER SECONDS`: for SECONDS, reads `/proc/<pid>/cmdline` and
/// `/proc/<pid>/environ` of every other process over and over, and prints how often MARKER
/// showed in each, how many passes it made and how many processes it saw whose `argv[0]` ends
/// in `berth` (so a run that never overlapped berth's processes is visible), with the kinds of
/// file their fds point at (`berth_fds`, readable with CAP_SYS_PTRACE) and how often their
/// `/proc/<pid>/exe` opened for reading (`berth_exe_opened`).
fn scan_proc(marker: &str, seconds: u64) {
    let me = std::process::id().to_string();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let (mut passes, mut in_cmdline, mut in_environ, mut berth) = (0u64, 0u64, 0u64, 0u64);
    let mut exe_opened = 0u64;
    let mut examples: Vec<String> = Vec::new();
    let mut fds: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    while std::time::Instant::now() < end {
        passes += 1;
        let Ok(dir) = std::fs::read_dir("/proc") else {
            break;
        };
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let cmdline = std::fs::read(format!("/proc/{name}/cmdline")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{name}/environ")).unwrap_or_default();
            let text = |b: &[u8]| String::from_utf8_lossy(b).replace('\0', " ");
            let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
            if argv0.ends_with(b"berth") {
                berth += 1;
                if std::fs::File::open(format!("/proc/{name}/exe")).is_ok() {
                    exe_opened += 1;
                }
                // What berth's process holds while it is visible in here.
                for fd in std::fs::read_dir(format!("/proc/{name}/fd"))
                    .into_iter()
                    .flatten()
                {
                    if let Ok(target) = std::fs::read_link(fd.map(|f| f.path()).unwrap_or_default())
                    {
                        let t = target.to_string_lossy();
                        // Kind of object, not its number: `socket:[123]` -> `socket:`.
                        let kind = t.split('[').next().unwrap_or_default().to_string();
                        fds.insert(kind);
                    }
                }
            }
            for (bytes, hits) in [(&cmdline, &mut in_cmdline), (&environ, &mut in_environ)] {
                if text(bytes).contains(marker) {
                    *hits += 1;
                    if examples.len() < 3 {
                        examples.push(text(bytes));
                    }
                }
            }
        }
    }
    println!(
        "{}",
        json!({"scan_proc": {"passes": passes, "cmdline": in_cmdline, "environ": in_environ,
               "berth_seen": berth, "berth_exe_opened": exe_opened, "berth_fds": fds, "examples": examples}})
    );
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.len() == 4 && argv[1] == "--exchange-loop" {
        exchange_loop(&argv[2], &argv[3]);
    }
    if argv.len() == 5 && argv[1] == "--fifo-exchange" {
        fifo_exchange(&argv[2], &argv[3], &argv[4]);
    }
    if argv.len() == 4 && argv[1] == "--scan-proc" {
        return scan_proc(&argv[2], argv[3].parse().unwrap_or(5));
    }
    if let Some(request) = bench::requested() {
        return request
            .map(|(calls, syscall)| bench::run(calls, syscall))
            .unwrap_or_else(|e| {
                eprintln!("berth-probe: {e}");
                std::process::exit(2)
            });
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth-probe: {e}");
            std::process::exit(2);
        }
    };
    // Raw syscalls first, so the rest of the report cannot disturb what a filter sees.
    let raw_calls: Map<String, Value> = args
        .syscalls
        .iter()
        .map(|s| (s.clone(), syscalls::native(s)))
        .chain(
            args.int80s
                .iter()
                .map(|s| (format!("int80:{s}"), syscalls::int80(s))),
        )
        .collect();
    let (hostname, domainname) = uname();
    let st = status();
    let env: BTreeMap<String, String> = std::env::vars_os()
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let cwd = std::env::current_dir()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let writes: Map<String, Value> = args
        .writes
        .iter()
        .map(|p| (p.clone(), try_write(p)))
        .collect();
    let opens: Map<String, Value> = args
        .opens
        .iter()
        .map(|p| (p.clone(), try_open(p)))
        .collect();
    let opens_wronly: Map<String, Value> = args
        .open_wronly
        .iter()
        .map(|p| (p.clone(), try_open_wronly(p)))
        .collect();
    let stats: Map<String, Value> = args.stats.iter().map(|p| (p.clone(), stat(p))).collect();
    let sysctls: Map<String, Value> = args
        .sysctls
        .iter()
        .map(|k| (k.clone(), sysctl(k)))
        .collect();
    let report = json!({
        "hostname": hostname,
        "domainname": domainname,
        // SAFETY: getpid/getppid cannot fail.
        "pid": unsafe { libc::getpid() },
        // SAFETY: as above.
        "ppid": unsafe { libc::getppid() },
        "ids": ids(),
        "cwd": cwd,
        "env": env,
        "umask": st.get("Umask"),
        "capabilities": capabilities(&st),
        "no_new_privs": st.get("NoNewPrivs").and_then(|v| v.parse::<u32>().ok()),
        "seccomp": st.get("Seccomp").and_then(|v| v.parse::<u32>().ok()),
        "rlimits": rlimits(),
        "oom_score_adj": read_trim("/proc/self/oom_score_adj").and_then(|v| v.parse::<i64>().ok()),
        "namespaces": namespaces(),
        "uid_map": read_trim("/proc/self/uid_map"),
        "gid_map": read_trim("/proc/self/gid_map"),
        "timens_offsets": read_trim("/proc/self/timens_offsets"),
        "clocks": {"monotonic": clock(libc::CLOCK_MONOTONIC), "boottime": clock(libc::CLOCK_BOOTTIME)},
        "cgroup": cgroups(),
        "mounts": mountinfo(),
        "dev": devices(),
        "fds": fds(),
        "sysctl": sysctls,
        "session_keyring": session_keyring(),
        "write": writes,
        "open": opens,
        "open_wronly": opens_wronly,
        "stat": stats,
        "syscall": raw_calls,
        "scheduler": sched::scheduler(),
        "io_priority": sched::io_priority(),
        "personality": sched::personality(),
        "cpu_affinity": sched::affinity(),
        "mempolicy": sched::mempolicy(),
    });
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{report}");
    let _ = out.flush();
    if let Some(code) = args.exit {
        std::process::exit(code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_octal() {
        assert_eq!(unescape(r"/a\040b\\c"), r"/a b\\c");
        assert_eq!(unescape(r"/x\134y"), r"/x\y");
    }

    #[test]
    fn cap_names_from_mask() {
        assert_eq!(cap_names(0x1), vec!["CAP_CHOWN"]);
        assert_eq!(
            cap_names((1 << 5) | (1 << 10) | (1 << 29)),
            vec!["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]
        );
        assert_eq!(CAP_NAMES.len(), 41);
    }

    #[test]
    fn report_parts_work_outside_containers() {
        assert!(mountinfo().as_array().is_some_and(|m| !m.is_empty()));
        assert!(namespaces()["net"].is_u64());
        assert_eq!(sysctl("kernel.no_such_key")["error"], "ENOENT");
        assert!(rlimits()["RLIMIT_NOFILE"]["soft"].is_u64());
    }
}
