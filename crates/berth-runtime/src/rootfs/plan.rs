//! The validated rootfs plan: everything `prepare`, `enter` and `finish` will do, computed from
//! the spec before the first syscall that changes the world (STYLE.md point 2). Only `stat` of
//! the rootfs and of bind sources happens here.

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceType, Spec};

use super::options::{self, ms, MountOptions};
use super::{RootfsContext, RootfsError};
use crate::cgroups::CgroupPlan;

/// What kind of mount one step makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A bind mount (recursive when the options hold `rbind`) of a host path.
    Bind {
        source: PathBuf,
        source_is_dir: bool,
    },
    /// A filesystem mount: tmpfs, proc, devpts, mqueue, sysfs, or anything else the kernel knows.
    Fs { fstype: String, source: String },
    /// The spec's `cgroup` mount, resolved against the container's cgroup.
    Cgroup(CgroupMount),
}

/// How a `cgroup` mount is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupMount {
    /// Pure cgroup2 host: `cgroup2` itself (new cgroup ns) or a bind of the container's directory.
    Unified { mount_fs: bool, host_dir: PathBuf },
    /// Hybrid or legacy host: a tmpfs with one subdirectory per hierarchy.
    Split {
        subdirs: Vec<CgroupSubdir>,
        symlinks: Vec<(String, String)>,
    },
    /// No cgroup plan was given: an empty tmpfs keeps the mount point well-defined.
    Empty,
}

/// One hierarchy under a split cgroup mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupSubdir {
    /// Directory name under the destination: the basename of the host mount point.
    pub name: String,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Mount data naming the v1 hierarchy (`memory`, `name=systemd`), empty for cgroup2.
    pub data: String,
    /// The container's cgroup directory in this hierarchy on the host.
    pub host_dir: PathBuf,
    /// Mount the filesystem itself (new cgroup ns) instead of binding `host_dir`.
    pub mount_fs: bool,
}

/// One entry of `mounts`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountStep {
    /// Absolute, lexically cleaned path inside the container.
    pub destination: PathBuf,
    pub kind: MountKind,
    pub options: MountOptions,
}

/// Type of a device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Char,
    Block,
    Fifo,
}

/// One device node to create under /dev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    /// Absolute path inside the container (and, for the bind fallback, on the host).
    pub path: PathBuf,
    pub kind: DeviceKind,
    pub major: u64,
    pub minor: u64,
    /// Permission bits (no file type bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// /dev population, done only when /dev is not bind-mounted from the host (runc's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevSetup {
    pub devices: Vec<DeviceNode>,
    /// Bind-mount host nodes instead of mknod (new user namespace: mknod is not permitted).
    pub bind_devices: bool,
    /// (link inside the container, target), e.g. (/dev/fd, /proc/self/fd).
    pub symlinks: Vec<(PathBuf, PathBuf)>,
}

/// The validated plan. Build it with [`RootfsPlan::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootfsPlan {
    pub(crate) rootfs: PathBuf,
    pub(crate) readonly: bool,
    pub(crate) root_propagation: Option<u64>,
    pub(crate) mounts: Vec<MountStep>,
    pub(crate) dev: Option<DevSetup>,
    pub(crate) dev_readonly: bool,
    pub(crate) masked_paths: Vec<PathBuf>,
    pub(crate) readonly_paths: Vec<PathBuf>,
    pub(crate) no_pivot: bool,
    pub(crate) new_user_ns: bool,
}

/// runtime-linux.md "Default Devices" (same set, modes and owners as runc).
const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

impl RootfsPlan {
    /// Pure validation, no changes to the world (stat of the rootfs and bind sources only).
    pub fn new(spec: &Spec, ctx: &RootfsContext) -> Result<RootfsPlan, RootfsError> {
        let root = spec.root().as_ref().ok_or(RootfsError::NoRoot)?;
        let rootfs = absolute_in(ctx.bundle, root.path());
        let meta = std::fs::metadata(&rootfs).map_err(|source| RootfsError::RootfsStat {
            path: rootfs.clone(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(RootfsError::RootfsNotDirectory { path: rootfs });
        }

        let mut mounts = Vec::new();
        for m in spec.mounts().iter().flatten() {
            mounts.push(plan_mount(m, ctx)?);
        }

        let linux = spec.linux().as_ref();
        let root_propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
            None | Some("") => None,
            Some(value) => Some(options::propagation_flag(value).ok_or_else(|| {
                RootfsError::InvalidRootfsPropagation {
                    value: value.to_string(),
                }
            })?),
        };

        let dev_mount = mounts.iter().find(|m| m.destination == Path::new("/dev"));
        let dev_is_bind = matches!(
            dev_mount,
            Some(MountStep {
                kind: MountKind::Bind { .. },
                ..
            })
        );
        let dev_readonly = dev_mount.is_some_and(|m| m.options.flags & ms::RDONLY != 0);
        let dev = if dev_is_bind {
            None
        } else {
            let spec_devices = linux.and_then(|l| l.devices().as_ref());
            Some(plan_dev(
                spec_devices.map(Vec::as_slice).unwrap_or(&[]),
                ctx.new_user_ns,
            )?)
        };

        let masked_paths = plan_paths("masked", linux.and_then(|l| l.masked_paths().as_ref()))?;
        let readonly_paths =
            plan_paths("readonly", linux.and_then(|l| l.readonly_paths().as_ref()))?;

        Ok(RootfsPlan {
            rootfs,
            readonly: root.readonly().unwrap_or(false),
            root_propagation,
            mounts,
            dev,
            dev_readonly,
            masked_paths,
            readonly_paths,
            no_pivot: ctx.no_pivot,
            new_user_ns: ctx.new_user_ns,
        })
    }

    /// The rootfs directory on the host (absolute).
    pub fn rootfs(&self) -> &Path {
        &self.rootfs
    }

    /// The validated mounts, in spec order.
    pub fn mounts(&self) -> &[MountStep] {
        &self.mounts
    }

    /// The /dev setup, `None` when /dev is bind-mounted from the host.
    pub fn dev(&self) -> Option<&DevSetup> {
        self.dev.as_ref()
    }
}

/// `p` if absolute, else `base/p` (relative root.path and bind sources are bundle-relative).
fn absolute_in(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// Lexically clean an absolute in-container path: drop `.` and duplicate `/`. `..` is kept; the
/// in-root resolver clamps it to the rootfs.
fn clean(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

fn plan_mount(m: &oci_spec::runtime::Mount, ctx: &RootfsContext) -> Result<MountStep, RootfsError> {
    let destination = m.destination().to_path_buf();
    if !destination.is_absolute() {
        return Err(RootfsError::RelativeDestination { destination });
    }
    let destination = clean(&destination);
    if m.uid_mappings().is_some() || m.gid_mappings().is_some() {
        return Err(RootfsError::IdmapMount { destination });
    }
    let raw: &[String] = m.options().as_deref().unwrap_or(&[]);
    let mut options = options::parse(raw).map_err(|e| {
        if e.0 == "idmap" || e.0 == "ridmap" {
            RootfsError::IdmapMount {
                destination: destination.clone(),
            }
        } else {
            RootfsError::UnsupportedOption {
                option: e.0,
                destination: destination.clone(),
            }
        }
    })?;
    let typ = m.typ().as_deref().unwrap_or("");
    let is_bind = typ == "bind" || options.is_bind();

    let kind = if is_bind {
        options.flags |= ms::BIND;
        // Bind mounts have no fs data: an unknown option there is a typo, not data.
        if let Some(first) = options.data.split(',').find(|s| !s.is_empty()) {
            return Err(RootfsError::UnknownBindOption {
                option: first.to_string(),
                destination,
            });
        }
        let source = m
            .source()
            .as_ref()
            .ok_or_else(|| RootfsError::MissingBindSource {
                destination: destination.clone(),
            })?;
        let source = absolute_in(ctx.bundle, source);
        let meta = std::fs::metadata(&source).map_err(|e| RootfsError::BindSource {
            source_path: source.clone(),
            destination: destination.clone(),
            source: e,
        })?;
        MountKind::Bind {
            source,
            source_is_dir: meta.is_dir(),
        }
    } else {
        match typ {
            "" | "none" => return Err(RootfsError::MissingMountType { destination }),
            "cgroup" => MountKind::Cgroup(plan_cgroup(ctx.cgroup, ctx.new_cgroup_ns)),
            // sysfs cannot be mounted in a user namespace that does not own a network
            // namespace: runc rbinds the host's /sys instead (and so does `prepare` on EPERM).
            "sysfs" if ctx.new_user_ns && !ctx.new_net_ns => {
                options.flags |= ms::BIND | ms::REC;
                options.data.clear();
                MountKind::Bind {
                    source: PathBuf::from("/sys"),
                    source_is_dir: true,
                }
            }
            fstype => MountKind::Fs {
                fstype: fstype.to_string(),
                source: m
                    .source()
                    .as_ref()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| fstype.to_string()),
            },
        }
    };
    Ok(MountStep {
        destination,
        kind,
        options,
    })
}

fn plan_cgroup(cgroup: Option<&CgroupPlan>, new_cgroup_ns: bool) -> CgroupMount {
    let Some(plan) = cgroup else {
        return CgroupMount::Empty;
    };
    let host_dir = |mp: &Path| mp.join(&plan.relative_path);
    match plan.hierarchies.as_slice() {
        [only] if only.fs_type == "cgroup2" => CgroupMount::Unified {
            mount_fs: new_cgroup_ns,
            host_dir: host_dir(&only.mount_point),
        },
        hierarchies => {
            let mut subdirs = Vec::new();
            let mut symlinks = Vec::new();
            for h in hierarchies {
                let name = h
                    .mount_point
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                // runc: a merged hierarchy `cpu,cpuacct` also gets `cpu` and `cpuacct` links.
                if name.contains(',') {
                    for part in name.split(',') {
                        symlinks.push((part.to_string(), name.clone()));
                    }
                }
                subdirs.push(CgroupSubdir {
                    name,
                    fstype: h.fs_type.clone(),
                    data: h.options.clone(),
                    host_dir: host_dir(&h.mount_point),
                    mount_fs: new_cgroup_ns,
                });
            }
            CgroupMount::Split { subdirs, symlinks }
        }
    }
}

fn plan_dev(
    spec_devices: &[oci_spec::runtime::LinuxDevice],
    new_user_ns: bool,
) -> Result<DevSetup, RootfsError> {
    let mut devices = Vec::new();
    for d in spec_devices {
        let path = d.path().to_path_buf();
        if !path.is_absolute() {
            return Err(RootfsError::InvalidDevice {
                path,
                reason: "path is not absolute",
            });
        }
        let path = clean(&path);
        // /dev/ptmx is the pts/ptmx symlink (runtime-linux.md), never a node (runc skips it too).
        if path == Path::new("/dev/ptmx") {
            continue;
        }
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => DeviceKind::Fifo,
            LinuxDeviceType::A => {
                return Err(RootfsError::InvalidDevice {
                    path,
                    reason: "type \"a\" is not a device type",
                })
            }
        };
        let (major, minor) = match (u64::try_from(d.major()), u64::try_from(d.minor())) {
            (Ok(major), Ok(minor)) => (major, minor),
            _ => {
                return Err(RootfsError::InvalidDevice {
                    path,
                    reason: "negative major or minor",
                })
            }
        };
        devices.push(DeviceNode {
            path,
            kind,
            major,
            minor,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    // Default devices come after the spec's and only where the spec did not name that path.
    for &(path, major, minor) in DEFAULT_DEVICES {
        if devices.iter().all(|d| d.path != Path::new(path)) {
            devices.push(DeviceNode {
                path: PathBuf::from(path),
                kind: DeviceKind::Char,
                major,
                minor,
                mode: 0o666,
                uid: 0,
                gid: 0,
            });
        }
    }
    let mut symlinks: Vec<(PathBuf, PathBuf)> = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ]
    .iter()
    .map(|(l, t)| (PathBuf::from(l), PathBuf::from(t)))
    .collect();
    // runc adds /dev/core only when the host has /proc/kcore.
    if Path::new("/proc/kcore").exists() {
        symlinks.push((PathBuf::from("/dev/core"), PathBuf::from("/proc/kcore")));
    }
    Ok(DevSetup {
        devices,
        bind_devices: new_user_ns,
        symlinks,
    })
}

fn plan_paths(
    kind: &'static str,
    paths: Option<&Vec<String>>,
) -> Result<Vec<PathBuf>, RootfsError> {
    paths
        .into_iter()
        .flatten()
        .map(|p| {
            let path = PathBuf::from(p);
            if path.is_absolute() {
                Ok(clean(&path))
            } else {
                Err(RootfsError::RelativePath { kind, path })
            }
        })
        .collect()
}
