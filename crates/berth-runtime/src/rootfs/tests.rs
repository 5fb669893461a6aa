//! Root-only tests of `prepare`, `enter` and `finish`. Each runs in a forked child that first
//! unshares its mount namespace and makes every mount private, so nothing reaches the host and
//! every mount disappears with the child; the child reports failed checks through a pipe and
//! the parent asserts there are none. Skipped loudly when not root.

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe, ForkResult};

use super::*;
use crate::cgroups::{CgroupPlan, Hierarchy};

fn skip_unless_root(test: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return false;
    }
    crate::test_skip(
        &format!("rootfs::tests::{test}"),
        "needs root (mount namespace, mknod, pivot_root)",
    );
    true
}

/// Run `f` in a forked child with its own mount namespace (plus `extra` namespaces) in which
/// every mount is private. Returns the child's list of failed checks.
fn in_child(extra: CloneFlags, f: impl FnOnce() -> Vec<String>) -> Vec<String> {
    let (read_end, write_end) = pipe().unwrap();
    // SAFETY: the child only runs the test closure and then `_exit`s; it never returns into the
    // harness. The closure makes syscalls and allocates, which glibc supports after fork.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(read_end);
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                if let Err(e) = unshare(CloneFlags::CLONE_NEWNS | extra) {
                    return vec![format!("unshare: {e}")];
                }
                let private = options::ms::PRIVATE | options::ms::REC;
                if let Err(e) = mounts::raw_mount(None, Path::new("/"), None, private, None) {
                    return vec![format!("make / rprivate: {e}")];
                }
                f()
            }));
            let text = match result {
                Ok(failures) => failures.join("\n"),
                Err(_) => "child panicked".to_string(),
            };
            let mut out = std::fs::File::from(write_end);
            let _ = out.write_all(text.as_bytes());
            drop(out);
            // SAFETY: `_exit` ends the forked child without running the harness's atexit
            // handlers or destructors that belong to the parent.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut text = String::new();
            std::fs::File::from(read_end)
                .read_to_string(&mut text)
                .unwrap();
            waitpid(child, None).unwrap();
            text.lines().map(str::to_string).collect()
        }
    }
}

/// Format an error with its whole source chain.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// One mountinfo entry: (per-mount options, fs type, super options, optional fields).
#[derive(Debug, Default)]
struct MountEntry {
    opts: Vec<String>,
    fstype: String,
    super_opts: Vec<String>,
    optional: Vec<String>,
}

/// The topmost mount at `mount_point` in /proc/self/mountinfo.
fn mount_at(mount_point: &str) -> Option<MountEntry> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().rev().find_map(|line| {
        let f: Vec<&str> = line.split(' ').collect();
        if f.get(4) != Some(&mount_point) {
            return None;
        }
        let dash = f.iter().position(|x| *x == "-")?;
        Some(MountEntry {
            opts: f[5].split(',').map(String::from).collect(),
            optional: f[6..dash].iter().map(|s| s.to_string()).collect(),
            fstype: f[dash + 1].to_string(),
            super_opts: f
                .get(dash + 3)
                .unwrap_or(&"")
                .split(',')
                .map(String::from)
                .collect(),
        })
    })
}

struct Checks(Vec<String>);

impl Checks {
    fn check(&mut self, ok: bool, what: impl Into<String>) {
        if !ok {
            self.0.push(what.into());
        }
    }

    /// The mount at `mp` has type `fstype` and every per-mount option of `opts`.
    fn mount(&mut self, mp: &str, fstype: &str, opts: &[&str]) -> MountEntry {
        let Some(m) = mount_at(mp) else {
            self.0.push(format!("{mp}: not a mount point"));
            return MountEntry::default();
        };
        self.check(
            m.fstype == fstype,
            format!("{mp}: type {} != {fstype}", m.fstype),
        );
        for o in opts {
            self.check(
                m.opts.iter().any(|x| x == o),
                format!("{mp}: {o} missing from {:?}", m.opts),
            );
        }
        m
    }

    fn device(&mut self, path: &str, major: u64, minor: u64, mode: u32, uid: u32) {
        match std::fs::symlink_metadata(path) {
            Ok(md) => {
                let rdev = md.rdev();
                self.check(
                    md.file_type().is_char_device(),
                    format!("{path}: not a char device"),
                );
                self.check(
                    (libc::major(rdev) as u64, libc::minor(rdev) as u64) == (major, minor),
                    format!("{path}: device {}:{}", libc::major(rdev), libc::minor(rdev)),
                );
                self.check(
                    md.permissions().mode() & 0o7777 == mode,
                    format!("{path}: mode {:o}", md.mode()),
                );
                self.check(
                    md.uid() == uid && md.gid() == uid,
                    format!("{path}: owner {}:{}", md.uid(), md.gid()),
                );
            }
            Err(e) => self.0.push(format!("{path}: {e}")),
        }
    }

    fn link(&mut self, path: &str, target: &str) {
        let got = std::fs::read_link(path);
        self.check(
            got.as_ref().is_ok_and(|t| t == Path::new(target)),
            format!("{path}: link {got:?} != {target}"),
        );
    }
}

fn ctx(bundle: &Path) -> RootfsContext<'_> {
    RootfsContext {
        bundle,
        no_pivot: false,
        new_user_ns: false,
        new_cgroup_ns: false,
        new_net_ns: false,
        cgroup: None,
    }
}

fn spec(value: serde_json::Value) -> oci_spec::runtime::Spec {
    serde_json::from_value(value).unwrap()
}

/// A bundle with `rootfs/` holding busybox (when the host has it) and a marker file.
fn bundle() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    for d in ["bin", "proc", "dev", "rodir", "masked_dir"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::write(rootfs.join("marker"), b"inside").unwrap();
    if Path::new("/bin/busybox").exists() {
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    }
    dir
}

#[test]
fn full_rootfs_with_pivot() {
    if skip_unless_root("full_rootfs_with_pivot") {
        return;
    }
    let dir = bundle();
    let b = dir.path();
    let rootfs = b.join("rootfs");
    std::os::unix::fs::symlink("/", rootfs.join("link_root")).unwrap();
    std::os::unix::fs::symlink("../../..", rootfs.join("link_up")).unwrap();
    std::fs::create_dir_all(b.join("src_ro")).unwrap();
    std::fs::write(b.join("src_ro/a.txt"), b"a").unwrap();
    std::fs::create_dir_all(b.join("src_r/sub")).unwrap();
    let has_busybox = Path::new("/bin/busybox").exists();
    let spec = spec(serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nodev", "size=1m", "mode=1777"]},
            {"destination": "/ro", "type": "bind", "source": "src_ro", "options": ["bind", "ro", "nosuid"]},
            {"destination": "/r", "type": "bind", "source": "src_r", "options": ["rbind", "rro", "rprivate"]},
            {"destination": "/etc/hostname", "type": "bind", "source": "src_ro/a.txt", "options": ["bind", "ro"]},
            {"destination": "/link_root/esc_a", "type": "tmpfs", "source": "tmpfs"},
            {"destination": "/link_up/esc_b", "type": "tmpfs", "source": "tmpfs"},
        ],
        "linux": {
            "rootfsPropagation": "rprivate",
            "devices": [{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 1000, "gid": 1000}],
            "maskedPaths": ["/proc/kcore", "/proc/version", "/masked_dir", "/does/not/exist"],
            "readonlyPaths": ["/proc/sys", "/rodir", "/missing"],
        },
    }));
    let plan = RootfsPlan::new(&spec, &ctx(b)).unwrap();
    let rootfs_c = rootfs.clone();
    let src_sub = b.join("src_r/sub");
    let failures = in_child(CloneFlags::empty(), move || {
        let mut c = Checks(Vec::new());
        // A submount in the rbind source, to see rro reach it.
        if let Err(e) =
            mounts::raw_mount(Some(Path::new("tmpfs")), &src_sub, Some("tmpfs"), 0, None)
        {
            return vec![format!("mount tmpfs on {}: {e}", src_sub.display())];
        }
        let mounted = match prepare(&plan, &BindSources::default()) {
            Ok(m) => m,
            Err(e) => return vec![format!("prepare: {}", chain(&e))],
        };
        // The symlinks to "/" and "../../.." stayed inside the rootfs.
        c.check(
            !Path::new("/esc_a").exists() && !Path::new("/esc_b").exists(),
            "mount point escaped to the host",
        );
        c.check(
            rootfs_c.join("esc_a").is_dir() && rootfs_c.join("esc_b").is_dir(),
            "esc_a/esc_b not created in rootfs",
        );
        if let Err(e) = enter(&plan) {
            c.0.push(format!("enter: {}", chain(&e)));
            return c.0;
        }
        c.check(
            std::env::current_dir().is_ok_and(|d| d == Path::new("/")),
            "cwd is not /",
        );
        if let Err(e) = finish(&plan, mounted) {
            c.0.push(format!("finish: {}", chain(&e)));
            return c.0;
        }
        c.check(
            std::fs::read("/marker").is_ok_and(|m| m == b"inside"),
            "/marker not the rootfs's",
        );
        c.check(
            !Path::new("/work").exists(),
            "host /work visible after pivot",
        );
        c.check(
            !has_busybox || Path::new("/bin/busybox").exists(),
            "/bin/busybox missing",
        );

        let root = c.mount(
            "/",
            mount_at("/").map(|m| m.fstype).unwrap_or_default().as_str(),
            &["ro"],
        );
        c.check(
            root.optional.is_empty(),
            format!("/ propagation {:?} is not private", root.optional),
        );
        c.mount("/proc", "proc", &["rw", "nosuid", "nodev", "noexec"]);
        let dev = c.mount("/dev", "tmpfs", &["rw", "nosuid"]);
        c.check(
            dev.super_opts.iter().any(|o| o == "mode=755"),
            format!("/dev super options {:?}", dev.super_opts),
        );
        c.mount("/dev/pts", "devpts", &["nosuid", "noexec"]);
        c.mount("/dev/mqueue", "mqueue", &["nosuid", "nodev", "noexec"]);
        c.mount("/sys", "sysfs", &["ro", "nosuid", "nodev", "noexec"]);
        c.device("/dev/null", 1, 3, 0o666, 0);
        c.device("/dev/tty", 5, 0, 0o666, 0);
        c.device("/dev/urandom", 1, 9, 0o666, 0);
        c.device("/dev/mynull", 1, 3, 0o600, 1000);
        c.link("/dev/fd", "/proc/self/fd");
        c.link("/dev/stdin", "/proc/self/fd/0");
        c.link("/dev/stderr", "/proc/self/fd/2");
        c.link("/dev/ptmx", "pts/ptmx");
        if Path::new("/proc/kcore").exists() {
            c.link("/dev/core", "/proc/kcore");
        }
        let tmp = c.mount("/tmp", "tmpfs", &["rw", "nodev"]);
        c.check(
            tmp.super_opts.iter().any(|o| o == "size=1024k"),
            format!("/tmp super options {:?}", tmp.super_opts),
        );
        let mode = std::fs::metadata("/tmp").map(|m| m.permissions().mode() & 0o7777);
        c.check(
            mode.as_ref().is_ok_and(|m| *m == 0o1777),
            format!("/tmp mode {mode:?}"),
        );
        let ro_fs = mount_at("/ro").map(|m| m.fstype).unwrap_or_default();
        c.mount("/ro", &ro_fs, &["ro", "nosuid"]);
        c.check(
            std::fs::read("/ro/a.txt").is_ok_and(|a| a == b"a"),
            "/ro/a.txt unreadable",
        );
        let write = std::fs::write("/ro/b.txt", b"b");
        c.check(
            write
                .as_ref()
                .is_err_and(|e| e.raw_os_error() == Some(libc::EROFS)),
            format!("write /ro/b.txt: {write:?}"),
        );
        c.mount("/r", &ro_fs, &["ro"]);
        c.mount("/r/sub", "tmpfs", &["ro"]);
        c.mount("/etc/hostname", &ro_fs, &["ro"]);
        c.mount("/esc_a", "tmpfs", &[]);
        c.mount("/esc_b", "tmpfs", &[]);
        // masked: a file gets /dev/null, a directory a read-only tmpfs.
        // (/proc/kcore is absent on kernels without CONFIG_PROC_KCORE: then it is skipped.)
        c.mount("/proc/version", "tmpfs", &[]);
        let version = std::fs::read("/proc/version");
        c.check(
            version.as_ref().is_ok_and(|k| k.is_empty()),
            format!("/proc/version not masked: {version:?}"),
        );
        c.mount("/masked_dir", "tmpfs", &["ro"]);
        c.mount("/proc/sys", "proc", &["ro", "nosuid", "nodev", "noexec"]);
        c.mount("/rodir", &ro_fs, &["ro"]);
        c.0
    });
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(!Path::new("/esc_a").exists() && !Path::new("/esc_b").exists());
}

#[test]
fn no_pivot_moves_and_chroots() {
    if skip_unless_root("no_pivot_moves_and_chroots") {
        return;
    }
    let dir = bundle();
    let spec = spec(serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {},
    }));
    let mut c = ctx(dir.path());
    c.no_pivot = true;
    let plan = RootfsPlan::new(&spec, &c).unwrap();
    let failures = in_child(CloneFlags::empty(), move || {
        let mut c = Checks(Vec::new());
        if let Err(e) = prepare(&plan, &BindSources::default())
            .and_then(|m| enter(&plan).map(|()| m))
            .and_then(|m| finish(&plan, m))
        {
            return vec![chain(&e)];
        }
        c.check(
            std::env::current_dir().is_ok_and(|d| d == Path::new("/")),
            "cwd is not /",
        );
        c.check(
            std::fs::read("/marker").is_ok_and(|m| m == b"inside"),
            "/marker not the rootfs's",
        );
        c.mount("/proc", "proc", &[]);
        c.device("/dev/zero", 1, 5, 0o666, 0);
        c.0
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The host's cgroup hierarchies under /sys/fs/cgroup, from mountinfo.
fn host_hierarchies() -> Vec<Hierarchy> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-")?;
            let fstype = f[dash + 1];
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            let options = if fstype == "cgroup" {
                f[dash + 3]
                    .split(',')
                    .filter(|o| *o != "rw" && *o != "ro")
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                String::new()
            };
            Some(Hierarchy {
                mount_point: PathBuf::from(f[4]),
                fs_type: fstype.to_string(),
                options,
                root: PathBuf::from("/"),
            })
        })
        .collect()
}

#[test]
fn cgroup_mount_binds_each_hierarchy_read_only() {
    if skip_unless_root("cgroup_mount_binds_each_hierarchy_read_only") {
        return;
    }
    let hierarchies = host_hierarchies();
    if hierarchies.is_empty() || hierarchies.iter().all(|h| h.fs_type == "cgroup2") {
        crate::test_skip(
            "rootfs::tests::cgroup_mount_binds_each_hierarchy_read_only",
            "host has no v1 cgroup hierarchy",
        );
        return;
    }
    // Relative path "": the hierarchy roots, bound read-only in the child's private namespace
    // only (no host cgroup is written or remounted).
    let cgroup = CgroupPlan {
        relative_path: PathBuf::new(),
        owned_parent_depth: 0,
        hierarchies: hierarchies.clone(),
        disabled: false,
        systemd: None,
        delegated: false,
    };
    let dir = bundle();
    let spec = spec(serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}],
        "linux": {},
    }));
    let mut c = ctx(dir.path());
    c.cgroup = Some(&cgroup);
    let plan = RootfsPlan::new(&spec, &c).unwrap();
    let rootfs = dir.path().join("rootfs");
    let failures = in_child(CloneFlags::empty(), move || {
        let mut c = Checks(Vec::new());
        if let Err(e) = prepare(&plan, &BindSources::default()) {
            return vec![chain(&e)];
        }
        let base = rootfs.join("sys/fs/cgroup");
        c.mount(
            base.to_str().unwrap(),
            "tmpfs",
            &["ro", "nosuid", "nodev", "noexec"],
        );
        for h in &hierarchies {
            let name = h.mount_point.file_name().unwrap();
            c.mount(
                base.join(name).to_str().unwrap(),
                &h.fs_type,
                &["ro", "nosuid", "nodev", "noexec"],
            );
        }
        c.0
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn proc_on_a_symlink_is_refused() {
    if skip_unless_root("proc_on_a_symlink_is_refused") {
        return;
    }
    let dir = bundle();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir(rootfs.join("etc")).unwrap();
    std::os::unix::fs::symlink("/etc", rootfs.join("sneaky")).unwrap();
    let spec = spec(serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs"},
        "mounts": [{"destination": "/sneaky", "type": "proc", "source": "proc"}],
    }));
    let plan = RootfsPlan::new(&spec, &ctx(dir.path())).unwrap();
    let expected = format!(
        "mount proc on {}/sneaky: the destination is a symlink",
        rootfs.display()
    );
    let failures = in_child(CloneFlags::empty(), move || {
        match prepare(&plan, &BindSources::default()) {
            Err(e) if e.to_string() == expected => Vec::new(),
            other => vec![format!("prepare: {other:?}")],
        }
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

/// In a real user namespace: mknod is refused so host nodes are bind-mounted, sysfs becomes an
/// rbind of /sys, and a `ro` bind of a nosuid,nodev,noexec source keeps those locked flags.
#[test]
fn user_namespace_binds_devices_and_keeps_locked_flags() {
    if skip_unless_root("user_namespace_binds_devices_and_keeps_locked_flags") {
        return;
    }
    let dir = bundle();
    let b = dir.path().to_path_buf();
    std::fs::create_dir(b.join("locked")).unwrap();
    let spec = spec(serde_json::json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": true},
        "mounts": [
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/data", "type": "bind", "source": "locked", "options": ["bind", "ro"]},
        ],
        "linux": {"maskedPaths": ["/masked_dir"], "readonlyPaths": ["/rodir"]},
    }));
    let mut c = ctx(&b);
    c.new_user_ns = true;
    let plan = RootfsPlan::new(&spec, &c).unwrap();
    let failures = in_child(CloneFlags::empty(), move || {
        let mut c = Checks(Vec::new());
        let locked = ms_flags(&["nosuid", "nodev", "noexec"]);
        if let Err(e) = mounts::raw_mount(
            Some(Path::new("tmpfs")),
            &b.join("locked"),
            Some("tmpfs"),
            locked,
            None,
        ) {
            return vec![format!("mount locked tmpfs: {e}")];
        }
        if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS) {
            return vec![format!("unshare user+mount: {e}")];
        }
        for (file, text) in [
            ("uid_map", "0 0 1"),
            ("setgroups", "deny"),
            ("gid_map", "0 0 1"),
        ] {
            if let Err(e) = std::fs::write(format!("/proc/self/{file}"), text) {
                return vec![format!("write {file}: {e}")];
            }
        }
        if let Err(e) = prepare(&plan, &BindSources::default())
            .and_then(|m| enter(&plan).map(|()| m))
            .and_then(|m| finish(&plan, m))
        {
            return vec![chain(&e)];
        }
        // No /proc in this container: checks use statvfs.
        c.check(Path::new("/marker").exists(), "/marker missing after pivot");
        let null = std::fs::symlink_metadata("/dev/null");
        c.check(
            null.as_ref()
                .is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == libc::makedev(1, 3)),
            format!("/dev/null: {null:?}"),
        );
        let ro = std::fs::write("/data/x", b"x");
        c.check(
            ro.as_ref()
                .is_err_and(|e| e.raw_os_error() == Some(libc::EROFS)),
            format!("write /data/x: {ro:?}"),
        );
        let stat = nix::sys::statvfs::statvfs("/data").map(|s| s.flags().bits());
        let want = locked | options::ms::RDONLY;
        c.check(
            stat.is_ok_and(|f| f & want == want),
            format!("/data flags {stat:?}"),
        );
        let root = nix::sys::statvfs::statvfs("/").map(|s| s.flags().bits() & options::ms::RDONLY);
        c.check(root.is_ok_and(|f| f != 0), "/ is not read-only");
        let rodir =
            nix::sys::statvfs::statvfs("/rodir").map(|s| s.flags().bits() & options::ms::RDONLY);
        c.check(rodir.is_ok_and(|f| f != 0), "/rodir is not read-only");
        c.check(Path::new("/sys/kernel").is_dir(), "/sys not bound");
        let masked = std::fs::write("/masked_dir/x", b"x");
        c.check(masked.is_err(), "/masked_dir is writable");
        c.0
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

fn ms_flags(names: &[&str]) -> u64 {
    options::parse(names).flags
}
