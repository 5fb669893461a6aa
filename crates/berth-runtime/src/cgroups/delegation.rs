//! Rootless cgroups: finding the cgroup v2 subtree delegated to the user berth runs as.
//!
//! An unprivileged berth can create cgroups only where someone gave it the right to: on a pure
//! cgroup v2 host, a subtree whose directory, `cgroup.procs` and `cgroup.subtree_control` it
//! may write (what systemd's `Delegate=` does for `user@<uid>.service` and the units below it;
//! kernel cgroup-v2.rst "Delegation"). The subtree berth uses is the parent of its own cgroup
//! (`0::` in `/proc/self/cgroup`), as runc's cgroup v2 driver does for a relative path: berth's
//! own cgroup (typically a scope, `systemd-run --user --scope`) holds processes, so controllers
//! cannot be enabled below it ("no internal processes"), while its parent can hand them down.
//!
//! Only reads: the result is a [`HostCgroups`] whose one cgroup2 hierarchy is "mounted" at that
//! parent, so a [`CgroupPlan`](super::CgroupPlan) made from it puts `berth/<id>` there, treats
//! the parent as the root it may not write, and enables controllers only in its own `berth/`.

use std::path::{Path, PathBuf};

use super::{Hierarchy, HostCgroups, Layout};

/// Why the caller has no delegated cgroup: the text of rootless create's one warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotDelegated {
    #[error("no cgroup hierarchy is mounted")]
    NoCgroupfs,
    #[error(
        "this host's cgroups are {layout:?}, and cgroup delegation needs a pure cgroup v2 host"
    )]
    NotUnified { layout: Layout },
    #[error("read {path}: {reason}")]
    OwnCgroup { path: PathBuf, reason: String },
    #[error("berth's cgroup {own} is outside the cgroup2 mount at {mount} (root {root})")]
    OutsideMount {
        own: PathBuf,
        mount: PathBuf,
        root: PathBuf,
    },
    #[error("{path} is not writable by uid {uid}, so the parent of berth's cgroup is not delegated to it (run berth in a delegated cgroup, e.g. under `systemd-run --user --scope`)")]
    NotWritable { path: PathBuf, uid: u32 },
}

/// The cgroup v2 subtree delegated to this process, as a host with one cgroup2 hierarchy rooted
/// there; or why there is none. `own_cgroup` is `/proc/self/cgroup` in production, `writable`
/// whether this process may write a path (faccessat with the effective ids,
/// [`writable_by_me`]).
pub fn delegated_subtree(
    host: &HostCgroups,
    own_cgroup: &Path,
    uid: u32,
    writable: impl Fn(&Path) -> bool,
) -> Result<HostCgroups, NotDelegated> {
    let layout = host.layout();
    let h = match host.hierarchies.as_slice() {
        [] => return Err(NotDelegated::NoCgroupfs),
        [h] if layout == Layout::Unified => h,
        _ => return Err(NotDelegated::NotUnified { layout }),
    };
    let own_err = |reason: &str| NotDelegated::OwnCgroup {
        path: own_cgroup.to_path_buf(),
        reason: reason.to_string(),
    };
    let text = std::fs::read_to_string(own_cgroup).map_err(|e| own_err(&e.to_string()))?;
    let own = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(PathBuf::from)
        .ok_or_else(|| own_err("no cgroup v2 (\"0::\") line"))?;
    // runc's rule (fs2 defaultDirPath): the parent of berth's own cgroup.
    let parent = own.parent().unwrap_or(&own).to_path_buf();
    let relative = parent
        .strip_prefix(&h.root)
        .map_err(|_| NotDelegated::OutsideMount {
            own: own.clone(),
            mount: h.mount_point.clone(),
            root: h.root.clone(),
        })?;
    let base = h.mount_point.join(relative);
    // mkdir needs the directory; moving berth's child from berth's cgroup into the new one
    // needs cgroup.procs of their common ancestor, this directory (cgroup-v2.rst "Delegation
    // Containment"); subtree_control is what a delegatee is given to hand controllers down.
    for path in [
        base.clone(),
        base.join("cgroup.procs"),
        base.join("cgroup.subtree_control"),
    ] {
        if !writable(&path) {
            return Err(NotDelegated::NotWritable { path, uid });
        }
    }
    Ok(HostCgroups {
        hierarchies: vec![Hierarchy {
            mount_point: base,
            fs_type: h.fs_type.clone(),
            options: h.options.clone(),
            root: h.root.join(relative),
        }],
    })
}

/// faccessat(2) W_OK with the effective ids (`AT_EACCESS`), as the kernel will check the
/// writes.
pub fn writable_by_me(path: &Path) -> bool {
    nix::unistd::faccessat(
        nix::fcntl::AT_FDCWD,
        path,
        nix::unistd::AccessFlags::W_OK,
        nix::fcntl::AtFlags::AT_EACCESS,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(mount: &str, root: &str) -> Hierarchy {
        Hierarchy {
            mount_point: mount.into(),
            fs_type: "cgroup2".into(),
            options: String::new(),
            root: root.into(),
        }
    }

    fn own_file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    const SCOPE: &str = "0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-r1.scope\n";
    const APP: &str = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice";

    #[test]
    fn the_parent_of_berths_cgroup_becomes_the_hierarchy_root() {
        let host = HostCgroups {
            hierarchies: vec![v2("/sys/fs/cgroup", "/")],
        };
        let own = own_file(SCOPE);
        let seen = std::cell::RefCell::new(Vec::new());
        let got = delegated_subtree(&host, own.path(), 1000, |p| {
            seen.borrow_mut().push(p.to_path_buf());
            true
        })
        .unwrap();
        let h = &got.hierarchies[0];
        assert_eq!(h.mount_point, Path::new(APP));
        assert_eq!(
            h.root,
            Path::new("/user.slice/user-1000.slice/user@1000.service/app.slice")
        );
        assert!(h.is_v2());
        assert_eq!(
            *seen.borrow(),
            [
                PathBuf::from(APP),
                Path::new(APP).join("cgroup.procs"),
                Path::new(APP).join("cgroup.subtree_control")
            ]
        );
    }

    #[test]
    fn a_mount_of_a_sub_tree_is_followed() {
        // A cgroup namespace or a bind of a subtree: the mount shows `root`, not `/`.
        let host = HostCgroups {
            hierarchies: vec![v2("/sys/fs/cgroup", "/user.slice")],
        };
        let own = own_file(SCOPE);
        let got = delegated_subtree(&host, own.path(), 1000, |_| true).unwrap();
        assert_eq!(
            got.hierarchies[0].mount_point,
            Path::new("/sys/fs/cgroup/user-1000.slice/user@1000.service/app.slice")
        );
        let host = HostCgroups {
            hierarchies: vec![v2("/sys/fs/cgroup", "/system.slice")],
        };
        let err = delegated_subtree(&host, own.path(), 1000, |_| true).unwrap_err();
        assert!(matches!(err, NotDelegated::OutsideMount { .. }), "{err}");
    }

    #[test]
    fn not_delegated_says_why() {
        let unified = HostCgroups {
            hierarchies: vec![v2("/sys/fs/cgroup", "/")],
        };
        let own = own_file("0::/user.slice/user-1000.slice/session-2.scope\n");
        let err = delegated_subtree(&unified, own.path(), 1000, |p| !p.ends_with("cgroup.procs"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/sys/fs/cgroup/user.slice/user-1000.slice/cgroup.procs is not writable by uid 1000, so the parent of berth's cgroup is not delegated to it (run berth in a delegated cgroup, e.g. under `systemd-run --user --scope`)"
        );

        let mut hybrid = unified.clone();
        hybrid.hierarchies.push(Hierarchy {
            mount_point: "/sys/fs/cgroup/memory".into(),
            fs_type: "cgroup".into(),
            options: "memory".into(),
            root: "/".into(),
        });
        let err = delegated_subtree(&hybrid, own.path(), 1000, |_| true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "this host's cgroups are Hybrid, and cgroup delegation needs a pure cgroup v2 host"
        );

        let none = delegated_subtree(&HostCgroups::default(), own.path(), 1000, |_| true);
        assert_eq!(none.unwrap_err(), NotDelegated::NoCgroupfs);

        let v1_only = own_file("12:memory:/user.slice\n");
        let err = delegated_subtree(&unified, v1_only.path(), 1000, |_| true).unwrap_err();
        assert!(
            err.to_string().ends_with(": no cgroup v2 (\"0::\") line"),
            "{err}"
        );
    }
}
