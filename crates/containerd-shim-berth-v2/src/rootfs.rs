//! Mounting the `rootfs` mounts of a CreateTask request on `<bundle>/rootfs`, and undoing it.
//!
//! containerd's snapshotters hand the shim one mount (overlay with `lowerdir=…`, or a bind
//! of a directory for the native snapshotter). Options that are mount flags become flags, the
//! rest is filesystem data, as containerd's own `mount.Mount` does.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::ShimError;

/// One mount of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootMount {
    pub fstype: String,
    pub source: String,
    pub options: Vec<String>,
}

/// Flags and data out of containerd's option strings.
pub fn split_options(options: &[String]) -> (MsFlags, Vec<String>) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in options {
        let (set, clear) = match opt.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            _ => {
                data.push(opt.clone());
                continue;
            }
        };
        flags.insert(set);
        flags.remove(clear);
    }
    (flags, data)
}

/// Mounts the request's rootfs on `<bundle>/rootfs`. Returns whether anything was mounted
/// (an empty list means the bundle already holds its rootfs).
pub fn mount_rootfs(id: &str, bundle: &Path, mounts: &[RootMount]) -> Result<bool, ShimError> {
    let Some(m) = mounts.first() else {
        return Ok(false);
    };
    if mounts.len() > 1 {
        return Err(ShimError::RootfsInput {
            id: id.to_string(),
            reason: format!("{} rootfs mounts (one is supported)", mounts.len()),
        });
    }
    let target = bundle.join("rootfs");
    let err = |source| ShimError::Mount {
        id: id.to_string(),
        target: target.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&target)
        .map_err(|e| err(nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))))?;
    let (flags, data) = split_options(&m.options);
    let data = data.join(",");
    let fstype = if flags.contains(MsFlags::MS_BIND) {
        None
    } else {
        Some(m.fstype.as_str())
    };
    let ro_bind = flags.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY);
    mount(
        Some(m.source.as_str()),
        &target,
        fstype,
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    )
    .map_err(err)?;
    if ro_bind {
        // A bind mount ignores MS_RDONLY until it is remounted.
        if let Err(e) = mount(
            None::<&str>,
            &target,
            None::<&str>,
            flags | MsFlags::MS_REMOUNT,
            None::<&str>,
        ) {
            let _ = umount2(&target, MntFlags::MNT_DETACH);
            return Err(err(e));
        }
    }
    Ok(true)
}

/// Unmounts `<bundle>/rootfs` (lazily, so a process still holding it does not block delete).
/// Nothing mounted there is not an error.
pub fn unmount_rootfs(bundle: &Path) {
    let target = bundle.join("rootfs");
    // Stacked mounts: unmount until none is left.
    while umount2(&target, MntFlags::MNT_DETACH).is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_data_split_like_containerd() {
        let opts: Vec<String> = ["rbind", "ro", "index=off", "lowerdir=/a:/b", "nosuid"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (flags, data) = split_options(&opts);
        assert!(flags.contains(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY));
        assert!(flags.contains(MsFlags::MS_NOSUID));
        assert_eq!(data, vec!["index=off", "lowerdir=/a:/b"]);
        let (flags, _) = split_options(&["ro".into(), "rw".into()]);
        assert!(!flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn two_mounts_are_refused_before_mounting() {
        let m = RootMount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: vec![],
        };
        let e = mount_rootfs("c", Path::new("/nonexistent"), &[m.clone(), m]).unwrap_err();
        assert_eq!(
            e.code(),
            containerd_shim::protos::ttrpc::Code::INVALID_ARGUMENT
        );
    }

    fn root_or_skip(test: &str) -> bool {
        if nix::unistd::geteuid().is_root() {
            return true;
        }
        // On the real stderr, past libtest's capture: the skip must show (docs/testing.md).
        use std::io::Write;
        let _ = writeln!(std::io::stderr().lock(), "SKIP {test}: needs root (mount)");
        false
    }

    #[test]
    fn a_failing_rootfs_mount_names_the_task_and_target() {
        if !root_or_skip("a_failing_rootfs_mount_names_the_task_and_target") {
            return;
        }
        let bundle = tempfile::tempdir().unwrap();
        let m = RootMount {
            fstype: "overlay".into(),
            source: "overlay".into(),
            options: vec!["lowerdir=/nonexistent/lower".into()],
        };
        let e = mount_rootfs("c1", bundle.path(), &[m]).unwrap_err();
        let msg = crate::error::chain(&e);
        assert!(
            msg.starts_with(&format!(
                "mount the rootfs of task \"c1\" on {}/rootfs: ",
                bundle.path().display()
            )),
            "{msg}"
        );
    }

    #[test]
    fn a_ro_bind_rootfs_is_read_only_and_unmounts() {
        if !root_or_skip("a_ro_bind_rootfs_is_read_only_and_unmounts") {
            return;
        }
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("f"), "x").unwrap();
        let bundle = tempfile::tempdir().unwrap();
        let m = RootMount {
            fstype: "bind".into(),
            source: src.path().display().to_string(),
            options: vec!["rbind".into(), "ro".into()],
        };
        // In a forked child with its own mount namespace: the host's mount table is untouched.
        let child = crate::sys::fork().unwrap();
        if child == 0 {
            let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).is_ok()
                && mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .is_ok()
                && matches!(mount_rootfs("c1", bundle.path(), &[m]), Ok(true))
                && std::fs::read_to_string(bundle.path().join("rootfs/f"))
                    .ok()
                    .as_deref()
                    == Some("x")
                && std::fs::write(bundle.path().join("rootfs/g"), "y").is_err()
                && {
                    unmount_rootfs(bundle.path());
                    !bundle.path().join("rootfs/f").exists()
                };
            crate::sys::exit_child(if ok { 0 } else { 1 });
        }
        let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child), None).unwrap();
        assert_eq!(
            status,
            nix::sys::wait::WaitStatus::Exited(nix::unistd::Pid::from_raw(child), 0)
        );
    }
}
