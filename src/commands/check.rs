//! `berth check`: what this host offers berth, each feature probed for real (a syscall, a
//! file the kernel provides) and reported as works or missing with a short detail. Tests use
//! `berth check --format json` to skip with a stated reason.

use std::io::Write;
use std::path::Path;

use berth_runtime::cgroups::{HostCgroups, Layout};
use serde::Serialize;

use crate::cli::ListFormat;

#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    works: bool,
    detail: String,
}

#[derive(Debug, Serialize)]
struct Controller {
    name: String,
    /// 1 (a v1 hierarchy) or 2 (the cgroup2 hierarchy).
    version: u8,
}

#[derive(Debug, Serialize)]
struct Report {
    /// `unified`, `hybrid`, `legacy` or `none`.
    cgroup_layout: &'static str,
    cgroup_mode: String,
    /// Controllers berth can use, wherever they are bound.
    cgroup_controllers: Vec<Controller>,
    checks: Vec<Check>,
}

pub fn run(format: ListFormat) -> anyhow::Result<u8> {
    let report = report();
    let mut out = std::io::stdout().lock();
    match format {
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        ListFormat::Table => {
            writeln!(out, "cgroup mode: {}", report.cgroup_mode)?;
            writeln!(
                out,
                "cgroup controllers: {}",
                report
                    .cgroup_controllers
                    .iter()
                    .map(|c| format!("{}(v{})", c.name, c.version))
                    .collect::<Vec<_>>()
                    .join(" ")
            )?;
            for c in &report.checks {
                let status = if c.works { "works" } else { "missing" };
                writeln!(out, "{:<22} {:<8} {}", c.name, status, c.detail)?;
            }
        }
    }
    Ok(0)
}

fn report() -> Report {
    let host = HostCgroups::detect(Path::new("/proc/self/mountinfo"));
    let (layout, mode, controllers) = match &host {
        Ok(h) => {
            let (layout, mode) = match h.layout() {
                Layout::Unified => ("unified", "unified (cgroup v2)"),
                Layout::Hybrid => ("hybrid", "hybrid (cgroup v1 controllers + cgroup v2)"),
                Layout::Legacy => ("legacy", "legacy (cgroup v1)"),
            };
            (layout, mode.to_string(), controllers(h))
        }
        Err(e) => ("none", format!("none ({e})"), Vec::new()),
    };
    let v2 = host
        .as_ref()
        .map(|h| h.hierarchies.iter().any(|x| x.is_v2()))
        .unwrap_or(false);
    let mut checks = vec![
        check("cgroup v2", v2, "a cgroup2 hierarchy is mounted"),
        userns(),
        seccomp(),
        openat2(),
    ];
    let clone3 = sys::clone3_exists();
    checks.push(check("clone3", clone3, "clone3(2) syscall"));
    checks.push(check(
        "CLONE_INTO_CGROUP",
        clone3 && v2 && kernel_at_least(5, 7),
        "clone3 with CLONE_INTO_CGROUP (Linux 5.7, cgroup v2)",
    ));
    checks.push(check(
        "idmapped mounts",
        sys::mount_setattr_exists() && kernel_at_least(5, 12),
        "mount_setattr(2) with MOUNT_ATTR_IDMAP (Linux 5.12)",
    ));
    checks.push(check(
        "time namespace",
        Path::new("/proc/self/ns/time").exists(),
        "/proc/self/ns/time",
    ));
    checks.push(check(
        "pidfd",
        sys::pidfd_open_works(),
        "pidfd_open(2) on this process",
    ));
    let lsm = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    let lsm = lsm.trim().trim_end_matches(',').to_string();
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false);
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    checks.push(Check {
        name: "LSMs",
        works: !lsm.is_empty(),
        detail: if lsm.is_empty() {
            "/sys/kernel/security/lsm unreadable".into()
        } else {
            lsm
        },
    });
    checks.push(check(
        "AppArmor",
        apparmor,
        "/sys/module/apparmor/parameters/enabled",
    ));
    checks.push(check("SELinux", selinux, "/sys/fs/selinux"));
    Report {
        cgroup_layout: layout,
        cgroup_mode: mode,
        cgroup_controllers: controllers,
        checks,
    }
}

fn check(name: &'static str, works: bool, detail: &str) -> Check {
    Check {
        name,
        works,
        detail: detail.to_string(),
    }
}

fn controllers(h: &HostCgroups) -> Vec<Controller> {
    let mut out = Vec::new();
    let entry = |name: &str, version| Controller {
        name: name.to_string(),
        version,
    };
    for x in &h.hierarchies {
        if x.is_v2() {
            let file = x.mount_point.join("cgroup.controllers");
            let text = std::fs::read_to_string(file).unwrap_or_default();
            out.extend(text.split_whitespace().map(|c| entry(c, 2)));
        } else {
            out.extend(
                x.controllers()
                    .filter(|c| !c.starts_with("name="))
                    .map(|c| entry(c, 1)),
            );
        }
    }
    out
}

fn userns() -> Check {
    let max: u64 = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let works = max > 0 && sys::child_can_unshare(libc::CLONE_NEWUSER);
    Check {
        name: "user namespaces",
        works,
        detail: format!("unshare(CLONE_NEWUSER) in a child; max_user_namespaces={max}"),
    }
}

fn seccomp() -> Check {
    check(
        "seccomp",
        sys::seccomp_filter_available(),
        "seccomp(SECCOMP_GET_ACTION_AVAIL, SECCOMP_RET_KILL_PROCESS)",
    )
}

fn openat2() -> Check {
    check(
        "openat2",
        sys::openat2_works(),
        "openat2(2) with RESOLVE_IN_ROOT",
    )
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// The probes' syscalls: every `unsafe` of this command is here.
mod sys {
    /// clone3 with no arguments fails with EINVAL where it exists, ENOSYS where not.
    pub fn clone3_exists() -> bool {
        // SAFETY: a NULL clone_args with size 0 is rejected by the kernel before any clone.
        let r = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
        r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
    }

    pub fn mount_setattr_exists() -> bool {
        // SAFETY: an invalid fd (-1) with a NULL attr fails before anything is changed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                -1,
                c"".as_ptr(),
                0,
                std::ptr::null::<u8>(),
                0usize,
            )
        };
        r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::ENOSYS)
    }

    pub fn pidfd_open_works() -> bool {
        // SAFETY: pidfd_open on our own pid returns a new fd that we close at once.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
        if fd >= 0 {
            // SAFETY: fd was just returned to us and is closed once.
            unsafe { libc::close(fd as i32) };
        }
        fd >= 0
    }

    pub fn seccomp_filter_available() -> bool {
        const SECCOMP_GET_ACTION_AVAIL: libc::c_uint = 2;
        const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
        let action = SECCOMP_RET_KILL_PROCESS;
        // SAFETY: the kernel only reads the u32 behind the pointer; no filter is installed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_GET_ACTION_AVAIL,
                0,
                &action as *const u32,
            )
        };
        r == 0
    }

    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }

    pub fn openat2_works() -> bool {
        const RESOLVE_IN_ROOT: u64 = 0x10;
        let how = OpenHow {
            flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
            mode: 0,
            resolve: RESOLVE_IN_ROOT,
        };
        // SAFETY: a valid C string and open_how of the size passed; the fd is closed below.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                libc::AT_FDCWD,
                c"/".as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            // SAFETY: fd was just returned to us and is closed once.
            unsafe { libc::close(fd as i32) };
        }
        fd >= 0
    }

    /// Whether a forked child can unshare `flags` (the parent's namespaces are untouched).
    pub fn child_can_unshare(flags: libc::c_int) -> bool {
        // SAFETY: berth is single-threaded here; the child only calls unshare and _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: async-signal-safe calls only, then _exit without running destructors.
            unsafe {
                let ok = libc::unshare(flags) == 0;
                libc::_exit(if ok { 0 } else { 1 })
            }
        }
        if pid < 0 {
            return false;
        }
        let mut status = 0;
        // SAFETY: waiting for the child we just forked, status is a valid out pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    }
}
