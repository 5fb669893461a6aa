//! Mount-destination rules that close container escapes, checked while planning.
//!
//! CVE-2019-16884 / CVE-2023-27561 / CVE-2023-28642: a container that gets something other
//! than procfs on `/proc` (or sysfs on `/sys`) can make the writes berth and LSMs make there
//! (attr/exec, sysctls) land in files it controls. So, as runc's `checkProcMount`:
//! - `/proc` takes only a `proc` mount or a bind of a procfs (runc allows binding the host's
//!   `/proc`: it is still procfs, so the writes land where they should); below `/proc` only
//!   bind mounts over the files LXCFS and similar tools provide are allowed;
//! - `/sys` takes only `sysfs` or a bind of the host's `/sys` (runc's user-namespace fallback).
//!
//! A rootfs whose `/proc` or `/sys` is a symlink is refused when mounting (`mounts.rs`).

use std::path::Path;

use super::RootfsError;

/// What a mount puts on its destination, as far as these rules care (plan.rs's `MountKind`,
/// reduced, so that this module does not depend on the plan that calls it).
#[derive(Debug, Clone, Copy)]
pub enum Mounted<'a> {
    /// A new filesystem of this type.
    Fs(&'a str),
    /// A bind of this host path.
    Bind(&'a Path),
    /// Anything else (the `cgroup` mount).
    Other,
}

/// runc's allow-list of bind mounts below /proc (libcontainer/rootfs_linux.go).
const PROC_BIND_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Refuses a mount on `/proc` or `/sys` (or below `/proc`) that is not what belongs there.
pub fn check_destination(dest: &Path, kind: Mounted<'_>) -> Result<(), RootfsError> {
    let refuse = |what: &str| {
        Err(RootfsError::ForbiddenDestination {
            destination: dest.to_path_buf(),
            reason: what.to_string(),
        })
    };
    let fs = |want: &str| matches!(kind, Mounted::Fs(fstype) if fstype == want);
    if dest == Path::new("/proc") {
        let procfs_bind = matches!(kind, Mounted::Bind(source) if is_procfs(source));
        if !fs("proc") && !procfs_bind {
            return refuse("only procfs may be mounted on /proc (CVE-2019-16884)");
        }
    } else if dest.starts_with("/proc") {
        let allowed = matches!(kind, Mounted::Bind(_))
            && PROC_BIND_ALLOWED.iter().any(|p| Path::new(p) == dest);
        if !allowed {
            return refuse("below /proc only bind mounts over runc's allow-list of files are permitted (CVE-2019-16884)");
        }
    } else if dest == Path::new("/sys") {
        let host_sys = matches!(kind, Mounted::Bind(source) if source == Path::new("/sys"));
        if !fs("sysfs") && !host_sys {
            return refuse(
                "only sysfs (or the host's /sys) may be mounted on /sys (CVE-2019-16884)",
            );
        }
    }
    Ok(())
}

/// Whether `path` lies on a procfs (statfs), as runc's `isProc` checks a bind source.
fn is_procfs(path: &Path) -> bool {
    use nix::sys::statfs::{statfs, PROC_SUPER_MAGIC};
    statfs(path).is_ok_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fsk(t: &str) -> Mounted<'_> {
        Mounted::Fs(t)
    }

    fn bind(src: &str) -> Mounted<'_> {
        Mounted::Bind(Path::new(src))
    }

    #[test]
    fn proc_and_sys_take_only_their_filesystems() {
        assert!(check_destination(Path::new("/proc"), fsk("proc")).is_ok());
        assert!(check_destination(Path::new("/sys"), fsk("sysfs")).is_ok());
        assert!(check_destination(Path::new("/sys"), bind("/sys")).is_ok());
        assert!(check_destination(
            Path::new("/proc/cpuinfo"),
            bind("/var/lib/lxcfs/proc/cpuinfo")
        )
        .is_ok());
        assert!(check_destination(Path::new("/tmp"), fsk("tmpfs")).is_ok());
        let e = check_destination(Path::new("/proc"), fsk("tmpfs")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "mount on /proc refused: only procfs may be mounted on /proc (CVE-2019-16884)"
        );
        assert!(check_destination(Path::new("/proc"), bind("/tmp/x")).is_err());
        // A bind of a procfs (the host's /proc) is procfs on /proc, as runc allows.
        assert!(check_destination(Path::new("/proc"), bind("/proc")).is_ok());
        assert!(
            check_destination(Path::new("/proc/sys/kernel/core_pattern"), bind("/tmp/x")).is_err()
        );
        assert!(check_destination(Path::new("/proc/self"), fsk("tmpfs")).is_err());
        assert!(check_destination(Path::new("/sys"), fsk("tmpfs")).is_err());
    }
}
