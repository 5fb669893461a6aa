//! Linux security modules: `process.apparmorProfile`, `process.selinuxLabel` and
//! `linux.mountLabel`.
//!
//! Checked while planning, applied by the init through its procfs attributes (written with
//! [`crate::rootfs::procfs::write`], CVE-2019-16884 / CVE-2025-52881) so they take effect at
//! the container's execve. Behaviour when the LSM is not active follows runc:
//! - an SELinux process label on a host without SELinux is an error (runc's config
//!   validation: "selinux label is specified in config, but selinux is disabled or not
//!   supported"); a mount label is ignored (runc's `label.FormatMountLabel` drops it);
//! - a mount label on a host *with* SELinux is refused: berth does not add `context=` to the
//!   container's mounts yet, and a label that silently does nothing is worse than an error;
//! - an AppArmor profile on a host without AppArmor is an error (runc fails writing
//!   `attr/apparmor/exec`); berth reports it before anything is created.

use std::path::{Path, PathBuf};

/// An LSM setting that cannot be honoured, or an attribute write that failed.
#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    #[error("config.json: process.apparmorProfile: {profile:?} is set but AppArmor is not enabled on this host")]
    AppArmorDisabled { profile: String },
    #[error("config.json: process.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported")]
    SelinuxDisabled,
    #[error("config.json: linux.mountLabel: {label:?}: berth does not label the container's mounts (context=) on an SELinux host yet: remove the field")]
    MountLabelUnapplied { label: String },
    #[error("apply {what} {value:?}")]
    Apply {
        what: &'static str,
        value: String,
        #[source]
        source: crate::rootfs::HardeningError,
    },
}

/// What the init applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LsmPlan {
    pub apparmor_profile: Option<String>,
    pub selinux_label: Option<String>,
}

/// Which LSMs the host runs, read from `sys_root` (`/sys`) and `proc_root` (`/proc`).
#[derive(Debug, Clone, Copy)]
pub struct HostLsms {
    pub apparmor: bool,
    pub selinux: bool,
}

impl HostLsms {
    pub fn detect(sys_root: &Path, proc_root: &Path) -> HostLsms {
        let apparmor = std::fs::read_to_string(sys_root.join("module/apparmor/parameters/enabled"))
            .is_ok_and(|v| v.trim() == "Y");
        // SELinux is active when selinuxfs is mounted (go-selinux checks the same).
        let selinux = std::fs::read_to_string(proc_root.join("self/mountinfo"))
            .is_ok_and(|m| m.lines().any(|l| l.contains(" - selinuxfs ")));
        HostLsms { apparmor, selinux }
    }
}

impl LsmPlan {
    pub fn new(
        apparmor_profile: Option<&str>,
        selinux_label: Option<&str>,
        mount_label: Option<&str>,
        host: HostLsms,
    ) -> Result<LsmPlan, LsmError> {
        let apparmor_profile = apparmor_profile
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let selinux_label = selinux_label.filter(|p| !p.is_empty()).map(str::to_string);
        if let Some(profile) = &apparmor_profile {
            if !host.apparmor {
                return Err(LsmError::AppArmorDisabled {
                    profile: profile.clone(),
                });
            }
        }
        if selinux_label.is_some() && !host.selinux {
            return Err(LsmError::SelinuxDisabled);
        }
        if let Some(label) = mount_label.filter(|l| !l.is_empty()) {
            if !host.selinux {
                crate::log_debug!("linux.mountLabel ignored: SELinux is not enabled on this host");
            } else {
                // No silent ignores: with SELinux enforcing the label matters, and berth
                // does not pass it as `context=` yet (issue #14).
                return Err(LsmError::MountLabelUnapplied {
                    label: label.to_string(),
                });
            }
        }
        Ok(LsmPlan {
            apparmor_profile,
            selinux_label,
        })
    }

    /// In the init, after pivot_root: set the labels the next execve switches to.
    pub fn apply(&self, proc_root: &Path) -> Result<(), LsmError> {
        let pid = nix::unistd::getpid();
        if let Some(profile) = &self.apparmor_profile {
            // Newer kernels have the AppArmor-specific directory; older ones only attr/exec.
            let specific = PathBuf::from(format!("{pid}/attr/apparmor/exec"));
            let rel = if proc_root.join(&specific).exists() {
                specific
            } else {
                PathBuf::from(format!("{pid}/attr/exec"))
            };
            let value = format!("exec {profile}");
            crate::rootfs::procfs::write(proc_root, &rel, value.as_bytes()).map_err(|source| {
                LsmError::Apply {
                    what: "AppArmor profile",
                    value: profile.clone(),
                    source,
                }
            })?;
        }
        if let Some(label) = &self.selinux_label {
            let rel = PathBuf::from(format!("{pid}/attr/exec"));
            crate::rootfs::procfs::write(proc_root, &rel, label.as_bytes()).map_err(|source| {
                LsmError::Apply {
                    what: "SELinux label",
                    value: label.clone(),
                    source,
                }
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: HostLsms = HostLsms {
        apparmor: false,
        selinux: false,
    };

    #[test]
    fn labels_on_a_host_without_the_lsm_are_refused_like_runc() {
        let e = LsmPlan::new(Some("docker-default"), None, None, NONE).unwrap_err();
        assert_eq!(e.to_string(), "config.json: process.apparmorProfile: \"docker-default\" is set but AppArmor is not enabled on this host");
        let e =
            LsmPlan::new(None, Some("system_u:system_r:container_t:s0"), None, NONE).unwrap_err();
        assert_eq!(e.to_string(), "config.json: process.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported");
        // A mount label alone is ignored, empty strings mean "not set".
        assert_eq!(
            LsmPlan::new(
                Some(""),
                Some(""),
                Some("system_u:object_r:container_file_t:s0"),
                NONE
            )
            .unwrap(),
            LsmPlan::default()
        );
    }

    /// No silent ignores (issue #14): with SELinux on, a mount label would matter, and berth
    /// does not apply it, so it is refused naming the field.
    #[test]
    fn mount_label_on_an_selinux_host_is_refused_not_ignored() {
        let selinux = HostLsms {
            apparmor: false,
            selinux: true,
        };
        let e = LsmPlan::new(
            None,
            None,
            Some("system_u:object_r:container_file_t:s0"),
            selinux,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "config.json: linux.mountLabel: \"system_u:object_r:container_file_t:s0\": berth does not label the container's mounts (context=) on an SELinux host yet: remove the field");
        assert!(LsmPlan::new(None, None, Some(""), selinux).is_ok());
    }

    #[test]
    fn detection_reads_the_given_roots() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("module/apparmor/parameters")).unwrap();
        std::fs::write(dir.path().join("module/apparmor/parameters/enabled"), "Y\n").unwrap();
        std::fs::create_dir_all(dir.path().join("self")).unwrap();
        std::fs::write(
            dir.path().join("self/mountinfo"),
            "1 2 0:1 / /sys/fs/selinux rw - selinuxfs selinuxfs rw\n",
        )
        .unwrap();
        let h = HostLsms::detect(dir.path(), dir.path());
        assert!(h.apparmor && h.selinux);
        let plan = LsmPlan::new(Some("p"), Some("l"), None, h).unwrap();
        assert_eq!(plan.apparmor_profile.as_deref(), Some("p"));
    }
}
