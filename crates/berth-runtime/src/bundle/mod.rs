//! Bundle loading and validation: `config.json` plus `rootfs/` into an immutable, checked [`Plan`].
//!
//! Style point 2 ("plan, then act"): everything that can be rejected is rejected here, before the
//! first syscall that changes the world, so a failed validation leaves nothing to clean up.
//! `config.json` is read once, here; the [`Plan`] keeps what later steps need as typed fields,
//! not the parsed document, so nothing downstream reads the config again.

mod container_attrs;
pub mod coverage;
#[cfg(test)]
mod fill;
mod load;
mod namespaces;
mod process;
mod rootless;
mod sched;
mod sysctl;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxSeccomp, Process, Spec};

/// The largest major and minor a Linux device number holds (12 and 20 bits, `MINORBITS`).
pub const MAX_MAJOR: u64 = (1 << 12) - 1;
pub const MAX_MINOR: u64 = (1 << 20) - 1;

pub use container_attrs::{
    ContainerAttrs, MemoryPolicy, MAX_NODES, MEMORY_POLICY_FLAGS, MEMORY_POLICY_MODES,
};
pub use load::{
    load_config, normalize_pids, normalize_scheduler_flags, read_bounded,
    refuse_unapplied_in_process, MAX_INPUT_BYTES, SUPPORTED_OCI_VERSION, UNAPPLIED,
};
pub use namespaces::{NamespaceEntry, NamespaceKind, Namespaces};
pub use process::{IdMap, ProcessPlan, Rlimit};
pub use rootless::{helper_args, in_user_namespace, IdMapWriter, Rootless};
pub use sched::{CpuAffinity, IdList, IoPriority, Scheduler};

use crate::cgroups::{CgroupManager, CgroupPlan, HostCgroups, ResourcesPlan};
use crate::rootfs::{RootfsContext, RootfsPlan};

/// Why a bundle cannot be run. Each variant names the offending file or field.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("config.json: linux.uidMappings: read the maps of the joined user namespace")]
    JoinedMaps {
        #[source]
        source: std::io::Error,
    },
    #[error("bundle {path}: no such directory")]
    MissingBundle { path: PathBuf },
    #[error("read {path}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse {path}")]
    ParseConfig {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("parse {path}: {field}")]
    ParseField {
        path: PathBuf,
        field: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: ociVersion {version:?} is not supported (berth runs runtime-spec 1.x configs, up to {SUPPORTED_OCI_VERSION})")]
    UnsupportedVersion { path: PathBuf, version: String },
    #[error("config.json: linux.resources.{section}: rootless: the container gets no cgroup, so its resources cannot be applied: {reason}")]
    RootlessResources { section: String, reason: String },
    #[error("the systemd cgroup driver (--systemd-cgroup, --cgroup-manager=systemd) is not supported rootless (an unprivileged berth would need systemd --user over the session bus); run berth with the cgroupfs driver in a delegated cgroup, e.g. under `systemd-run --user --scope -p Delegate=yes`")]
    RootlessSystemd,
    #[error("config.json: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("config.json: {field}: {path}")]
    Namespace {
        field: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Hooks(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Lsm(#[from] crate::lsm::LsmError),
}

impl BundleError {
    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        BundleError::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

/// Options from the command line that shape the plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `create --no-pivot`.
    pub no_pivot: bool,
    /// The systemd cgroup driver (`--systemd-cgroup` or `--cgroup-manager=systemd`): the
    /// cgroup is a transient scope systemd creates (cgroups/systemd/).
    pub systemd_cgroup: bool,
    /// `--cgroup-manager`: with [`CgroupManager::Disabled`] the plan has no cgroup
    /// ([`CgroupPlan::none`]) and `systemd_cgroup` is not looked at (the command line refuses
    /// the two together).
    pub cgroup_manager: CgroupManager,
    /// `create --preserve-fds N`.
    pub preserve_fds: u32,
    /// `create --no-new-keyring`: stay in the caller's session keyring.
    pub no_new_keyring: bool,
    /// systemd socket activation: berth got `LISTEN_FDS=n` (fds 3..3+n-1). They are passed
    /// on (counted in `preserve_fds` too) and the process gets `LISTEN_FDS=n`, `LISTEN_PID=1`
    /// as runc does.
    pub listen_fds: u32,
    /// Rootless mode (`--rootless`, or berth run by an unprivileged user): the container's
    /// cgroup is made in the cgroup v2 subtree delegated to berth (cgroups/delegation.rs) if
    /// there is one; without one it gets no cgroup and `linux.resources` is refused. An
    /// unprivileged caller maps only its own ids (docs/rootless.md).
    pub rootless: Option<Rootless>,
}

/// The parts of `config.json` that outlive `create`, as written: the state keeps them (its
/// `config`) so that `start` and `delete` can run poststart and poststop, and `exec` can start
/// from the container's process and seccomp profile (as runc). Serializes to
/// `{"hooks": …, "process": …, "linux": {"seccomp": …, "personality": …, "memoryPolicy": …}}`,
/// absent parts as `null` (`personality` and `memoryPolicy` left out).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SavedConfig {
    /// As written (the validated form is [`Plan::hooks`]).
    pub hooks: Option<oci_spec::runtime::Hooks>,
    pub process: Option<Process>,
    pub linux: SavedLinux,
}

/// The `linux` part of [`SavedConfig`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct SavedLinux {
    /// `berth exec` applies the container's seccomp filter to its process too.
    pub seccomp: Option<LinuxSeccomp>,
    /// Every exec'd process gets the container's execution domain and memory policy too
    /// (left out when absent, so the state of a container without them keeps its shape).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personality: Option<oci_spec::runtime::LinuxPersonality>,
    #[serde(rename = "memoryPolicy", skip_serializing_if = "Option::is_none")]
    pub memory_policy: Option<oci_spec::runtime::LinuxMemoryPolicy>,
}

/// A validated bundle: what `create` will do, decided before anything is created.
#[derive(Debug)]
pub struct Plan {
    pub id: String,
    /// Absolute path of the bundle directory.
    pub bundle: PathBuf,
    /// `ociVersion`, for the state and the seccomp listener's message.
    pub oci_version: String,
    /// `annotations`, for the state and the seccomp listener's message.
    pub annotations: BTreeMap<String, String>,
    /// What the state keeps of the config for later commands.
    pub saved_config: SavedConfig,
    pub namespaces: Namespaces,
    /// How the parent writes the new user namespace's id maps (itself, or through
    /// newuidmap/newgidmap when rootless).
    pub id_map_writer: IdMapWriter,
    pub process: ProcessPlan,
    pub rootfs: RootfsPlan,
    pub rootfs_path: PathBuf,
    pub cgroup: CgroupPlan,
    /// `linux.resources`, validated for `cgroup` (`cgroups::ResourcesPlan`); `None` when the
    /// config has none or the container has no cgroup.
    pub resources: Option<ResourcesPlan>,
    /// The `linux.resources` sections that ask for something although the container has no
    /// cgroup (`--cgroup-manager=disabled`): not validated, not applied, warned about by create.
    pub ignored_resources: Vec<String>,
    /// Rootless without a delegated cgroup: why there is none (create's one warning).
    pub rootless_no_cgroup: Option<String>,
    /// `linux.sysctl`, checked against the container's namespaces, in a stable order.
    pub sysctls: Vec<(String, String)>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// `linux.seccomp`, validated and compiled.
    pub seccomp: Option<crate::seccomp::SeccompPlan>,
    /// AppArmor profile and SELinux label, checked against the host's LSMs.
    pub lsm: crate::lsm::LsmPlan,
    /// `linux.personality` and `linux.memoryPolicy`.
    pub attrs: ContainerAttrs,
    pub options: PlanOptions,
    /// config.md "POSIX-platform Hooks", validated (hooks/).
    pub hooks: crate::hooks::Hooks,
}

impl Plan {
    /// Loads `<bundle>/config.json` and validates every part berth acts on.
    pub fn new(
        id: &str,
        bundle: &Path,
        host_cgroups: &HostCgroups,
        options: PlanOptions,
    ) -> Result<Plan, BundleError> {
        let bundle = std::path::absolute(bundle)
            .ok()
            .filter(|b| b.is_dir())
            .ok_or_else(|| BundleError::MissingBundle {
                path: bundle.to_path_buf(),
            })?;
        // Seccomp first, from the raw JSON: oci-spec would reject an unknown action or
        // operator with a bare serde error; this names the field.
        let (spec, seccomp) = load::load_config_with(&bundle, |raw| {
            Ok(crate::seccomp::SeccompPlan::from_config(raw)?)
        })?;
        // No `linux` section means no namespaces, masked paths or resources (as runc), not
        // oci-spec's Default for Linux (`runc spec`'s namespaces and masked paths).
        let linux = spec.linux().clone().unwrap_or_else(empty_linux);

        let namespaces = Namespaces::from_spec(&linux)?;
        let id_map_writer = match options.rootless {
            Some(rootless) => rootless.check_namespaces(&namespaces, rootless::find_in_path)?,
            None => IdMapWriter::default(),
        };
        let mut process = process_plan(&spec, options.listen_fds)?;
        if let Some(rootless) = options.rootless {
            rootless.check_process(&namespaces, &id_map_writer, &mut process)?;
        }
        let attrs = ContainerAttrs::from_linux(&linux)?;
        let sysctls = sysctl::validate(&linux, &namespaces)?;
        let (hostname, domainname) = names(&spec, &namespaces)?;
        let lsm = crate::lsm::LsmPlan::new(
            spec.process()
                .as_ref()
                .and_then(|p| p.apparmor_profile().as_deref()),
            spec.process()
                .as_ref()
                .and_then(|p| p.selinux_label().as_deref()),
            linux.mount_label().as_deref(),
            crate::lsm::HostLsms::detect(Path::new("/sys"), Path::new("/proc")),
        )?;
        let mut rootless_no_cgroup = None;
        let cgroup = match options.cgroup_manager {
            // As crun: without a cgroup manager linux.cgroupsPath is not used, so not checked.
            CgroupManager::Disabled => {
                if options.rootless.is_some() {
                    rootless_no_cgroup = Some("--cgroup-manager=disabled".to_string());
                }
                CgroupPlan::none()
            }
            CgroupManager::Cgroupfs if options.rootless.is_some() => {
                if options.systemd_cgroup {
                    return Err(BundleError::RootlessSystemd);
                }
                let path = linux.cgroups_path().as_deref();
                refuse_systemd_cgroups_path(path)?;
                match rootless::cgroup(host_cgroups, path, id)? {
                    Ok(plan) => plan,
                    Err(reason) => {
                        rootless_no_cgroup = Some(reason);
                        CgroupPlan::none()
                    }
                }
            }
            CgroupManager::Cgroupfs => {
                let path = linux.cgroups_path().as_deref();
                if !options.systemd_cgroup {
                    refuse_systemd_cgroups_path(path)?;
                }
                CgroupPlan::new(host_cgroups, path, id, options.systemd_cgroup)?
            }
        };
        let rootfs_path = rootfs_path(&spec, &bundle)?;
        let rootfs = RootfsPlan::new(
            &spec,
            &RootfsContext {
                bundle: &bundle,
                no_pivot: options.no_pivot,
                new_user_ns: namespaces.creates(NamespaceKind::User),
                new_cgroup_ns: namespaces.creates(NamespaceKind::Cgroup),
                new_net_ns: namespaces.creates(NamespaceKind::Net),
                // No cgroup: the `cgroup` mount is an empty tmpfs. Binding the caller's own
                // cgroup instead would hand the container someone else's limits.
                cgroup: (!cgroup.disabled).then_some(&cgroup),
            },
        )?;
        if options.rootless.is_some() && rootfs.mounts().iter().any(|m| m.idmap.is_some()) {
            // mount_setattr(MOUNT_ATTR_IDMAP) needs CAP_SYS_ADMIN over the user namespace of
            // the source's filesystem: the host's, for a host directory.
            return Err(BundleError::invalid(
                "mounts[].uidMappings",
                "rootless: an id-mapped mount needs a berth privileged over the source's filesystem",
            ));
        }
        if !namespaces.has(NamespaceKind::Mount) {
            // Without its own mount namespace the container's mounts would land on the host.
            return Err(BundleError::invalid(
                "linux.namespaces",
                "a mount namespace is required (berth sets up the root filesystem in it)",
            ));
        }

        let hooks = crate::hooks::Hooks::from_spec(spec.hooks().as_ref())?;
        // Here, not when create writes them: a bad value fails before the state directory or
        // the cgroup exist. Last, so that the other checks keep their precedence. What depends
        // on the cgroup as created is checked by create, still before any write
        // (cgroups/resources.rs).
        let (resources, ignored_resources) = match linux.resources() {
            None => (None, Vec::new()),
            // Refused, not ignored: the caller asked for limits it would not get.
            Some(r) if rootless_no_cgroup.is_some() => {
                rootless::refuse_resources(
                    &crate::cgroups::requested_sections(r),
                    rootless_no_cgroup.as_deref().unwrap_or_default(),
                )?;
                (None, Vec::new())
            }
            Some(r) if cgroup.delegated && r.devices().as_ref().is_some_and(|d| !d.is_empty()) => {
                return Err(BundleError::invalid(
                    "linux.resources.devices",
                    "rootless: device rules need a cgroup device program, which only a privileged berth may load (CAP_BPF or CAP_SYS_ADMIN); in the container's user namespace no device node can be made, only the host's bound",
                ));
            }
            Some(r) if cgroup.disabled => (None, crate::cgroups::requested_sections(r)),
            Some(r) => (Some(ResourcesPlan::new(r, &cgroup)?), Vec::new()),
        };
        let saved_config = SavedConfig {
            hooks: spec.hooks().clone(),
            process: spec.process().clone(),
            linux: SavedLinux {
                seccomp: linux.seccomp().clone(),
                personality: linux.personality().clone(),
                memory_policy: linux.memory_policy().clone(),
            },
        };
        Ok(Plan {
            hooks,
            id: id.to_string(),
            bundle,
            oci_version: spec.version().clone(),
            annotations: spec
                .annotations()
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            saved_config,
            namespaces,
            id_map_writer,
            process,
            rootfs,
            rootfs_path,
            cgroup,
            resources,
            ignored_resources,
            rootless_no_cgroup,
            sysctls,
            hostname,
            domainname,
            seccomp,
            lsm,
            attrs,
            options,
        })
    }
}

/// Whether `cgroups_path` has the systemd cgroup driver's `slice:prefix:name` form (what
/// containerd's CRI sends when kubelet's cgroup driver is systemd, e.g.
/// `kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>`): exactly three `:`-separated
/// fields, none holding a `/`, the first empty or a `.slice` unit. Any other path, colons
/// included, is an ordinary cgroupfs path.
pub fn is_systemd_cgroups_path(cgroups_path: &Path) -> bool {
    let Some(path) = cgroups_path.to_str() else {
        return false;
    };
    let fields: Vec<&str> = path.split(':').collect();
    fields.len() == 3
        && fields.iter().all(|f| !f.contains('/'))
        && (fields[0].is_empty() || fields[0].ends_with(".slice"))
}

/// Refuses a systemd-form `linux.cgroupsPath` given to the cgroupfs driver: taken as a
/// directory name it would put the container in `berth/<slice>:<prefix>:<name>`, outside the
/// slice whose limits the caller meant to apply (issue #15).
fn refuse_systemd_cgroups_path(cgroups_path: Option<&Path>) -> Result<(), BundleError> {
    match cgroups_path {
        Some(p) if is_systemd_cgroups_path(p) => Err(BundleError::invalid(
            "linux.cgroupsPath",
            format!(
                "{:?} is in the systemd cgroup driver's slice:prefix:name form, but the cgroup driver is cgroupfs (the systemd driver is chosen by --systemd-cgroup, --cgroup-manager=systemd or the shim's SystemdCgroup option)",
                p.display().to_string()
            ),
        )),
        _ => Ok(()),
    }
}

/// `process`, with systemd's socket-activation variables when berth got `LISTEN_FDS` fds.
fn process_plan(spec: &Spec, listen_fds: u32) -> Result<ProcessPlan, BundleError> {
    let mut process = ProcessPlan::from_spec(spec)?;
    if listen_fds > 0 {
        process
            .env
            .retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
        process.env.push(format!("LISTEN_FDS={listen_fds}"));
        process.env.push("LISTEN_PID=1".to_string()); // the init is pid 1 in its pid namespace
    }
    Ok(process)
}

/// `hostname` and `domainname` (empty means unset), refused without a uts namespace of the
/// container's own.
fn names(
    spec: &Spec,
    namespaces: &Namespaces,
) -> Result<(Option<String>, Option<String>), BundleError> {
    let hostname = spec.hostname().clone().filter(|h| !h.is_empty());
    let domainname = spec.domainname().clone().filter(|h| !h.is_empty());
    if (hostname.is_some() || domainname.is_some()) && !namespaces.isolates(NamespaceKind::Uts) {
        // runtime-spec config.md "Hostname": setting it in the runtime's UTS namespace would
        // change the host's name. A joined one (a pod's) is set, as runc does.
        return Err(BundleError::invalid(
            "hostname",
            "setting hostname or domainname needs a uts namespace of the container's own (new, or joined and not the runtime's)",
        ));
    }
    Ok((hostname, domainname))
}

fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf, BundleError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| BundleError::invalid("root", "missing (root.path is required on Linux)"))?;
    let path = bundle.join(root.path());
    if !path.is_dir() {
        return Err(BundleError::invalid(
            "root.path",
            format!("{} is not a directory", path.display()),
        ));
    }
    Ok(path)
}

/// A `linux` section with every field absent.
fn empty_linux() -> oci_spec::runtime::Linux {
    serde_json::from_str("{}").expect("an empty linux section deserializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::Hierarchy;
    use crate::rootfs::{CgroupMount, MountKind};

    /// A bundle whose cgroupsPath would be refused and whose resources would need controllers.
    fn bundle() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
                "mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}],
                "linux": {"namespaces": [{"type": "mount"}], "cgroupsPath": "/../escape",
                          "resources": {"memory": {"limit": 1048576}}}}"#,
        )
        .unwrap();
        dir
    }

    /// Found by the differential tier: without a `linux` section berth used oci-spec's
    /// Default (new pid/net/ipc/uts/mount/cgroup namespaces, masked paths) where runc runs
    /// the process in the runtime's namespaces. It is now read as an empty section, so it is
    /// refused like a `linux` without namespaces: berth needs a mount namespace.
    #[test]
    fn absent_linux_section_is_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion": "1.0.2", "root": {"path": "rootfs"},
                "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}}}"#,
        )
        .unwrap();
        let err = Plan::new("c1", dir.path(), &host(), PlanOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: linux.namespaces: a mount namespace is required (berth sets up the root filesystem in it)"
        );
    }

    fn host() -> HostCgroups {
        HostCgroups {
            hierarchies: vec![Hierarchy {
                mount_point: "/sys/fs/cgroup".into(),
                fs_type: "cgroup2".into(),
                options: String::new(),
                root: "/".into(),
            }],
        }
    }

    /// A bundle with `resources` as its `linux.resources`, the default cgroupsPath.
    fn bundle_with_resources(resources: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            format!(
                r#"{{"ociVersion": "1.0.2", "root": {{"path": "rootfs"}},
                    "process": {{"args": ["sh"], "cwd": "/", "user": {{"uid": 0, "gid": 0}}}},
                    "linux": {{"namespaces": [{{"type": "mount"}}], "resources": {resources}}}}}"#
            ),
        )
        .unwrap();
        dir
    }

    /// A host whose one hierarchy is mounted at `root` (cgroup2, or v1 with `controllers`).
    fn host_at(root: &Path, v1_controllers: Option<&str>) -> HostCgroups {
        HostCgroups {
            hierarchies: vec![Hierarchy {
                mount_point: root.to_path_buf(),
                fs_type: if v1_controllers.is_some() {
                    "cgroup"
                } else {
                    "cgroup2"
                }
                .into(),
                options: v1_controllers.unwrap_or_default().into(),
                root: "/".into(),
            }],
        }
    }

    /// #19 item 2: a bad resource value is refused by Plan::new, with the message create
    /// prints, before there is a Store, a state directory or a cgroup: the fake cgroup root
    /// stays empty, so nothing was created (rather than created and cleaned up).
    #[test]
    fn bad_resource_values_are_refused_by_the_plan_before_anything_exists() {
        let cgroup_root = tempfile::tempdir().unwrap();
        for (resources, message) in [
            (
                r#"{"cpu": {"period": 0}}"#,
                "invalid linux.resources.cpu.period: 0 is outside 1000..=1000000 µs",
            ),
            (
                r#"{"cpu": {"quota": 500}}"#,
                "invalid linux.resources.cpu.quota: 500 is below the kernel's minimum of 1000 µs",
            ),
            (
                r#"{"memory": {"swappiness": 101}}"#,
                "invalid linux.resources.memory.swappiness: 101 is above 100",
            ),
            (
                r#"{"devices": [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "a"}]}"#,
                "invalid linux.resources.devices[0]: access \"a\" has none of r, w and m",
            ),
            (
                r#"{"unified": {"cgroup.procs": "1"}}"#,
                "invalid linux.resources.unified[\"cgroup.procs\"]: this cgroup core file is managed by berth",
            ),
        ] {
            let dir = bundle_with_resources(resources);
            let host = host_at(cgroup_root.path(), None);
            let err = Plan::new("c1", dir.path(), &host, PlanOptions::default()).unwrap_err();
            assert_eq!(err.to_string(), message, "{resources}");
        }
        let entries: Vec<_> = std::fs::read_dir(cgroup_root.path()).unwrap().collect();
        assert!(entries.is_empty(), "{entries:?}");
    }

    /// What is valid depends on where the host binds the controller: v1's memory.swap is
    /// memory+swap and may stand alone; v2 needs a memory limit to convert it.
    #[test]
    fn resource_rules_follow_the_hosts_cgroup_version() {
        let cgroup_root = tempfile::tempdir().unwrap();
        let dir = bundle_with_resources(r#"{"memory": {"swap": 1048576}}"#);
        let v2 = host_at(cgroup_root.path(), None);
        let err = Plan::new("c1", dir.path(), &v2, PlanOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid linux.resources.memory.swap: swap limit 1048576 needs a memory limit on cgroup v2"
        );
        let v1 = host_at(cgroup_root.path(), Some("memory"));
        let plan = Plan::new("c1", dir.path(), &v1, PlanOptions::default()).unwrap();
        let planned = plan.resources.expect("resources planned");
        assert_eq!(planned.resources().memory().unwrap().swap(), Some(1048576));
    }

    /// Without a cgroup2 hierarchy, a controller no v1 hierarchy binds is missing for sure:
    /// refused by the plan. With one, only the created cgroup can tell (create refuses later).
    #[test]
    fn a_controller_that_is_nowhere_is_refused_by_the_plan() {
        let cgroup_root = tempfile::tempdir().unwrap();
        let dir = bundle_with_resources(r#"{"pids": {"limit": 10}}"#);
        let v1 = host_at(cgroup_root.path(), Some("memory"));
        let err = Plan::new("c1", dir.path(), &v1, PlanOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid linux.resources.pids.limit: the pids controller is not available on this host"
        );
        let v2 = host_at(cgroup_root.path(), None);
        Plan::new("c1", dir.path(), &v2, PlanOptions::default()).unwrap();
    }

    /// Without a cgroup the resources are not checked, only listed for create's warning.
    #[test]
    fn without_a_cgroup_resources_are_listed_not_checked() {
        let dir = bundle_with_resources(r#"{"cpu": {"period": 0}, "pids": {"limit": 10}}"#);
        let options = PlanOptions {
            cgroup_manager: CgroupManager::Disabled,
            ..PlanOptions::default()
        };
        let plan = Plan::new("c1", dir.path(), &HostCgroups::default(), options).unwrap();
        assert!(plan.resources.is_none());
        assert_eq!(plan.ignored_resources, ["cpu", "pids"]);
    }

    /// #19 item 2: the ociVersion check comes first; a 2.x config with a bad seccomp section
    /// is refused for its version, not for a section of a spec berth does not implement.
    #[test]
    fn the_version_is_checked_before_seccomp() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let config = |version: &str| {
            format!(
                r#"{{"ociVersion": "{version}", "root": {{"path": "rootfs"}},
                    "process": {{"args": ["sh"], "cwd": "/", "user": {{"uid": 0, "gid": 0}}}},
                    "linux": {{"namespaces": [{{"type": "mount"}}],
                              "seccomp": {{"defaultAction": "SCMP_ACT_BOGUS"}}}}}}"#
            )
        };
        std::fs::write(dir.path().join("config.json"), config("2.0.0")).unwrap();
        let err = Plan::new("c1", dir.path(), &host(), PlanOptions::default()).unwrap_err();
        assert!(
            matches!(err, BundleError::UnsupportedVersion { ref version, .. } if version == "2.0.0"),
            "{err}"
        );
        std::fs::write(dir.path().join("config.json"), config("1.0.2")).unwrap();
        let err = Plan::new("c1", dir.path(), &host(), PlanOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: linux.seccomp.defaultAction: unknown action \"SCMP_ACT_BOGUS\""
        );
    }

    /// The state's `config` keeps the shape it had when it was built from the parsed Spec.
    #[test]
    fn saved_config_has_hooks_process_and_seccomp() {
        let dir = bundle_with_resources("{}");
        let plan = Plan::new("c1", dir.path(), &host(), PlanOptions::default()).unwrap();
        let saved = serde_json::to_value(&plan.saved_config).unwrap();
        assert_eq!(saved["hooks"], serde_json::Value::Null);
        assert_eq!(saved["process"]["args"], serde_json::json!(["sh"]));
        assert_eq!(saved["linux"], serde_json::json!({"seccomp": null}));
        assert_eq!(plan.oci_version, "1.0.2");
        assert!(plan.annotations.is_empty());
    }

    #[test]
    fn disabled_cgroup_manager_plans_no_cgroup_and_ignores_cgroups_path() {
        let dir = bundle();
        let options = PlanOptions {
            cgroup_manager: CgroupManager::Disabled,
            ..PlanOptions::default()
        };
        let plan = Plan::new("c1", dir.path(), &host(), options).unwrap();
        assert_eq!(plan.cgroup, CgroupPlan::none());
        // Nothing of the caller's cgroups is shown: the cgroup mount is an empty tmpfs.
        assert_eq!(
            plan.rootfs.mounts()[0].kind,
            MountKind::Cgroup(CgroupMount::Empty)
        );

        let err = Plan::new("c1", dir.path(), &host(), PlanOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid cgroupsPath \"/../escape\": contains a \"..\" component"
        );
    }

    #[test]
    fn systemd_cgroups_path_form() {
        for systemd in [
            "system.slice:berth:c1",
            "kubepods-besteffort-pod1b4e28ba.slice:cri-containerd:abc",
            ":berth:c1",
            "machine.slice:libpod:",
        ] {
            assert!(is_systemd_cgroups_path(Path::new(systemd)), "{systemd}");
        }
        for plain in [
            "/kubepods/burstable/pod1/c1",
            "berth/c1",
            "a:b",
            "a:b:c",
            "x.slice:a:b:c",
            "/system.slice:berth:c1",
            "system.slice:a/b:c",
            "",
        ] {
            assert!(!is_systemd_cgroups_path(Path::new(plain)), "{plain}");
        }
    }

    /// Rootless (issue #16): the systemd driver is refused, not ignored; without a delegated
    /// cgroup (here: a v1 host) there is no cgroup, and resources are refused with the reason.
    #[test]
    fn rootless_refuses_the_systemd_driver_and_without_delegation_says_why() {
        let rootless = Some(Rootless {
            uid: 0,
            gid: 0,
            in_user_namespace: false,
            setgroups_denied: false,
        });
        let dir = bundle_with_resources(r#"{"pids": {"limit": 10}}"#);
        let systemd = PlanOptions {
            systemd_cgroup: true,
            rootless,
            ..PlanOptions::default()
        };
        let err = Plan::new("c1", dir.path(), &host(), systemd).unwrap_err();
        assert!(matches!(err, BundleError::RootlessSystemd), "{err}");
        let v1 = HostCgroups {
            hierarchies: vec![Hierarchy {
                mount_point: "/sys/fs/cgroup/pids".into(),
                fs_type: "cgroup".into(),
                options: "pids".into(),
                root: "/".into(),
            }],
        };
        let opts = PlanOptions {
            rootless,
            ..PlanOptions::default()
        };
        let err = Plan::new("c1", dir.path(), &v1, opts.clone()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: linux.resources.pids: rootless: the container gets no cgroup, so its resources cannot be applied: this host's cgroups are Legacy, and cgroup delegation needs a pure cgroup v2 host"
        );
        let dir = bundle_with_resources("{}");
        let plan = Plan::new("c1", dir.path(), &v1, opts).unwrap();
        assert_eq!(plan.cgroup, CgroupPlan::none());
        assert_eq!(
            plan.rootless_no_cgroup.as_deref(),
            Some(
                "this host's cgroups are Legacy, and cgroup delegation needs a pure cgroup v2 host"
            )
        );
    }

    /// Issue #15: a systemd-form cgroupsPath under the cgroupfs driver was taken as the
    /// directory `berth/system.slice:x:y`, outside the slice; it is refused by the plan, naming
    /// the path and the form. With the systemd driver asked for, it names the scope.
    #[test]
    fn systemd_form_cgroups_path_is_refused_under_the_cgroupfs_driver() {
        let dir = bundle_with_resources("{}");
        let config = dir.path().join("config.json");
        let mut c: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        c["linux"]["cgroupsPath"] = serde_json::json!("system.slice:x:y");
        std::fs::write(&config, c.to_string()).unwrap();
        let err = Plan::new("c1", dir.path(), &host(), PlanOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: linux.cgroupsPath: \"system.slice:x:y\" is in the systemd cgroup driver's slice:prefix:name form, but the cgroup driver is cgroupfs (the systemd driver is chosen by --systemd-cgroup, --cgroup-manager=systemd or the shim's SystemdCgroup option)"
        );
        let systemd = PlanOptions {
            systemd_cgroup: true,
            ..PlanOptions::default()
        };
        let plan = Plan::new("c1", dir.path(), &host(), systemd).unwrap();
        assert_eq!(
            plan.cgroup.relative_path,
            std::path::PathBuf::from("system.slice/x-y.scope")
        );
        // Without a cgroup the path is not used, so not checked.
        let disabled = PlanOptions {
            cgroup_manager: CgroupManager::Disabled,
            ..PlanOptions::default()
        };
        assert!(Plan::new("c1", dir.path(), &host(), disabled).is_ok());
    }
}
