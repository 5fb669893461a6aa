//! The validated rootfs plan: everything `prepare`, `enter` and `finish` will do, computed from
//! the spec before the first syscall that changes the world (STYLE.md point 2). Only `stat` of
//! the rootfs and of bind sources happens here.

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{LinuxDeviceType, Spec};

use super::hardening::{check_destination, Mounted};
use super::options::{self, ms, MountOptions};
use super::{RootfsContext, RootfsError};
use crate::bundle::IdMap;
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
    /// No cgroup plan was given (the container has none: `--cgroup-manager=disabled`): an
    /// empty tmpfs keeps the mount point well-defined.
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
    /// The id mapping of an id-mapped bind (`uidMappings`/`gidMappings`, `idmap`, `ridmap`).
    pub idmap: Option<MountIdmap>,
}

/// How an id-mapped bind maps the owners of its files (config.md "Mounts": the format of
/// `linux.uidMappings`): a file owned by `container_id + n` on the source filesystem is seen
/// as owned by `host_id + n`. A user namespace holding these maps is created for the mount
/// (`rootfs/idmap.rs`) and given to `mount_setattr(MOUNT_ATTR_IDMAP)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountIdmap {
    pub uid_map: Vec<IdMap>,
    pub gid_map: Vec<IdMap>,
    /// `ridmap`: every mount of the bound tree is id-mapped; otherwise only its top mount
    /// (`idmap`, or mappings without either option, as runc does).
    pub recursive: bool,
}

/// The kernel's limit on the lines of a uid_map or gid_map (user_namespaces(7)).
const MAX_MAP_LINES: usize = 340;

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
        let linux = spec.linux().as_ref();
        let container_maps = (
            linux.and_then(|l| l.uid_mappings().as_deref()),
            linux.and_then(|l| l.gid_mappings().as_deref()),
        );
        for m in spec.mounts().iter().flatten() {
            mounts.push(plan_mount(m, ctx, container_maps)?);
        }

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

/// The spec's `linux.uidMappings` and `linux.gidMappings`.
type Maps<'a> = (
    Option<&'a [oci_spec::runtime::LinuxIdMapping]>,
    Option<&'a [oci_spec::runtime::LinuxIdMapping]>,
);

fn plan_mount(
    m: &oci_spec::runtime::Mount,
    ctx: &RootfsContext,
    container_maps: Maps<'_>,
) -> Result<MountStep, RootfsError> {
    let destination = m.destination().to_path_buf();
    if !destination.is_absolute() {
        return Err(RootfsError::RelativeDestination { destination });
    }
    let destination = clean(&destination);
    let raw: &[String] = m.options().as_deref().unwrap_or(&[]);
    let mut options = options::parse(raw);
    let typ = m.typ().as_deref().unwrap_or("");
    let is_bind = typ == "bind" || options.is_bind();
    let idmap = plan_idmap(
        &destination,
        (m.uid_mappings().as_deref(), m.gid_mappings().as_deref()),
        options.idmap,
        container_maps,
    )?;
    if idmap.is_some() && !is_bind {
        return Err(RootfsError::IdmapPlan {
            destination,
            reason: "only bind mounts can be id-mapped".to_string(),
        });
    }
    if options.tmpcopyup && (is_bind || typ != "tmpfs") {
        return Err(RootfsError::TmpCopyUpNotTmpfs { destination });
    }

    let kind = if is_bind {
        options.flags |= ms::BIND;
        // A bind mount takes no fs data: runc passes unknown options to mount(2), which ignores
        // them for MS_BIND, and clients rely on that (runtime-tools' mounts test sends
        // `mode=755` on a bind; SELinux `context=` arrives on binds too). Ignored likewise.
        if !options.data.is_empty() {
            crate::log_debug!(
                "mount on {}: options {} ignored on a bind mount",
                destination.display(),
                options.data
            );
            options.data.clear();
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
    let mounted = match &kind {
        MountKind::Fs { fstype, .. } => Mounted::Fs(fstype),
        MountKind::Bind { source, .. } => Mounted::Bind(source),
        MountKind::Cgroup(_) => Mounted::Other,
    };
    check_destination(&destination, mounted)?; // CVE-2019-16884 and kin
    Ok(MountStep {
        destination,
        kind,
        options,
        idmap,
    })
}

/// The id mapping of one mount: its own `uidMappings`/`gidMappings` (both required), or, for
/// `idmap`/`ridmap` without them, the container's `linux.uidMappings`/`gidMappings`
/// (runtime-spec config.md "Mounts", as runc does). Each map is checked as the kernel checks a
/// uid_map write, so a bad one is refused before anything is created.
fn plan_idmap(
    destination: &Path,
    own: Maps<'_>,
    option: Option<bool>,
    container: Maps<'_>,
) -> Result<Option<MountIdmap>, RootfsError> {
    let refuse = |reason: String| RootfsError::IdmapPlan {
        destination: destination.to_path_buf(),
        reason,
    };
    let (uid, gid, whose) =
        match (present(own.0), present(own.1)) {
            (None, None) => match option {
                None => return Ok(None),
                Some(_) => match (present(container.0), present(container.1)) {
                    (Some(u), Some(g)) => (u, g, "linux"),
                    _ => return Err(refuse(
                        "idmap/ridmap without uidMappings and gidMappings on the mount take the \
                         container's linux.uidMappings and gidMappings, and it has none"
                            .to_string(),
                    )),
                },
            },
            (Some(u), Some(g)) => (u, g, "mount"),
            _ => {
                return Err(refuse(
                    "uidMappings and gidMappings must be given together".to_string(),
                ))
            }
        };
    let uid_map = checked_map(uid).map_err(|r| refuse(format!("{whose} uidMappings: {r}")))?;
    let gid_map = checked_map(gid).map_err(|r| refuse(format!("{whose} gidMappings: {r}")))?;
    Ok(Some(MountIdmap {
        uid_map,
        gid_map,
        recursive: option == Some(true),
    }))
}

/// `m` unless it is absent or empty.
fn present(
    m: Option<&[oci_spec::runtime::LinuxIdMapping]>,
) -> Option<&[oci_spec::runtime::LinuxIdMapping]> {
    m.filter(|m| !m.is_empty())
}

/// A map as the kernel accepts it in a uid_map (user_namespaces(7)): at most 340 lines, no
/// empty range, no range past 2^32 - 1, no two ranges overlapping on either side.
fn checked_map(maps: &[oci_spec::runtime::LinuxIdMapping]) -> Result<Vec<IdMap>, String> {
    if maps.len() > MAX_MAP_LINES {
        return Err(format!(
            "{} ranges, the kernel takes at most {MAX_MAP_LINES}",
            maps.len()
        ));
    }
    let out: Vec<IdMap> = maps
        .iter()
        .map(|m| IdMap {
            container_id: m.container_id(),
            host_id: m.host_id(),
            size: m.size(),
        })
        .collect();
    let end = |start: u32, size: u32| u64::from(start) + u64::from(size);
    for (i, m) in out.iter().enumerate() {
        let range = format!("{}:{}:{}", m.container_id, m.host_id, m.size);
        if m.size == 0 {
            return Err(format!("range {range} is empty"));
        }
        if end(m.container_id, m.size) > u64::from(u32::MAX)
            || end(m.host_id, m.size) > u64::from(u32::MAX)
        {
            return Err(format!("range {range} goes past id 4294967294"));
        }
        for o in &out[..i] {
            let overlap =
                |a: u32, b: u32| u64::from(a) < end(b, o.size) && u64::from(b) < end(a, m.size);
            if overlap(m.container_id, o.container_id) || overlap(m.host_id, o.host_id) {
                return Err(format!(
                    "range {range} overlaps {}:{}:{}",
                    o.container_id, o.host_id, o.size
                ));
            }
        }
    }
    Ok(out)
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
        // makedev() would silently drop the high bits: 2^32+1 becomes major 1 (mem).
        if major > crate::bundle::MAX_MAJOR {
            return Err(RootfsError::InvalidDevice {
                path,
                reason: "major above 4095, the largest a device number holds",
            });
        }
        if minor > crate::bundle::MAX_MINOR {
            return Err(RootfsError::InvalidDevice {
                path,
                reason: "minor above 1048575, the largest a device number holds",
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::Hierarchy;

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

    /// A bundle dir with an empty `rootfs/` and a spec built from `mounts` and `linux` JSON.
    fn bundle(mounts: serde_json::Value, linux: serde_json::Value) -> (tempfile::TempDir, Spec) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        let spec = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "mounts": mounts,
            "linux": linux,
        });
        (dir, serde_json::from_value(spec).unwrap())
    }

    fn err(mounts: serde_json::Value, linux: serde_json::Value) -> (tempfile::TempDir, String) {
        let (dir, spec) = bundle(mounts, linux);
        let e = RootfsPlan::new(&spec, &ctx(dir.path())).unwrap_err();
        (dir, e.to_string())
    }

    #[test]
    fn missing_rootfs_is_rejected() {
        let (dir, spec) = bundle(serde_json::json!([]), serde_json::json!({}));
        std::fs::remove_dir(dir.path().join("rootfs")).unwrap();
        let e = RootfsPlan::new(&spec, &ctx(dir.path())).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("stat rootfs {}/rootfs", dir.path().display())
        );
        assert_eq!(e.errno(), Some(libc::ENOENT));
    }

    #[test]
    fn rootfs_that_is_a_file_is_rejected() {
        let (dir, spec) = bundle(serde_json::json!([]), serde_json::json!({}));
        std::fs::remove_dir(dir.path().join("rootfs")).unwrap();
        std::fs::write(dir.path().join("rootfs"), b"").unwrap();
        let e = RootfsPlan::new(&spec, &ctx(dir.path())).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("rootfs {}/rootfs is not a directory", dir.path().display())
        );
    }

    #[test]
    fn relative_destination_is_rejected() {
        let (_d, e) = err(
            serde_json::json!([{"destination": "proc", "type": "proc", "source": "proc"}]),
            serde_json::json!({}),
        );
        assert_eq!(e, "mount destination proc is not an absolute path");
    }

    #[test]
    fn missing_bind_source_is_rejected() {
        let (dir, e) = err(
            serde_json::json!([{"destination": "/data", "type": "bind", "source": "nope", "options": ["rbind"]}]),
            serde_json::json!({}),
        );
        assert_eq!(
            e,
            format!("stat bind source {}/nope for /data", dir.path().display())
        );
    }

    #[test]
    fn unknown_bind_option_is_ignored_as_runc_does() {
        let (dir, spec) = bundle(
            serde_json::json!([{"destination": "/data", "source": "/", "options": ["rbind", "ro", "mode=755", "size=1m"]}]),
            serde_json::json!({}),
        );
        let plan = RootfsPlan::new(&spec, &ctx(dir.path())).unwrap();
        let m = &plan.mounts()[0];
        assert_eq!(m.options.data, "");
        assert!(m.options.is_recursive_bind());
        assert_ne!(m.options.flags & ms::RDONLY, 0);
    }

    #[test]
    fn missing_type_and_tmpcopyup_off_tmpfs_are_rejected() {
        let (_d, e) = err(
            serde_json::json!([{"destination": "/data", "type": "bind", "source": "/", "options": ["tmpcopyup"]}]),
            serde_json::json!({}),
        );
        assert_eq!(e, "tmpcopyup on /data: only a tmpfs mount can start with a copy of the directory it covers");
        let (_d, e) = err(
            serde_json::json!([{"destination": "/x", "source": "x"}]),
            serde_json::json!({}),
        );
        assert_eq!(e, "mount on /x has no type");
    }

    #[test]
    fn tmpcopyup_on_tmpfs_is_planned() {
        let (dir, spec) = bundle(
            serde_json::json!([{"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "size=1m"]}]),
            serde_json::json!({}),
        );
        let plan = RootfsPlan::new(&spec, &ctx(dir.path())).unwrap();
        assert!(plan.mounts()[0].options.tmpcopyup);
        assert_eq!(plan.mounts()[0].options.data, "size=1m");
    }

    fn idmap_of(mount: serde_json::Value, linux: serde_json::Value) -> Option<MountIdmap> {
        let (dir, spec) = bundle(serde_json::json!([mount]), linux);
        RootfsPlan::new(&spec, &ctx(dir.path())).unwrap().mounts()[0]
            .idmap
            .clone()
    }

    fn one(c: u32, h: u32, s: u32) -> IdMap {
        IdMap {
            container_id: c,
            host_id: h,
            size: s,
        }
    }

    #[test]
    fn idmap_takes_the_mount_maps_or_the_containers() {
        let maps = |c, h, s| serde_json::json!([{"containerID": c, "hostID": h, "size": s}]);
        // Mappings alone: the top mount only, as runc does.
        let m = idmap_of(
            serde_json::json!({"destination": "/v", "type": "bind", "source": "/", "options": ["rbind"],
                "uidMappings": maps(1000, 2000, 1), "gidMappings": maps(0, 3000, 10)}),
            serde_json::json!({}),
        )
        .unwrap();
        assert_eq!(m.uid_map, [one(1000, 2000, 1)]);
        assert_eq!(m.gid_map, [one(0, 3000, 10)]);
        assert!(!m.recursive);
        // ridmap without mappings: the container's own, recursively.
        let linux = serde_json::json!({"uidMappings": maps(0, 100000, 65536), "gidMappings": maps(0, 200000, 65536)});
        let m = idmap_of(
            serde_json::json!({"destination": "/v", "type": "bind", "source": "/", "options": ["rbind", "ridmap"]}),
            linux.clone(),
        )
        .unwrap();
        assert_eq!(m.uid_map, [one(0, 100000, 65536)]);
        assert_eq!(m.gid_map, [one(0, 200000, 65536)]);
        assert!(m.recursive);
        // The mount's own mappings win over the container's.
        let m = idmap_of(
            serde_json::json!({"destination": "/v", "type": "bind", "source": "/", "options": ["idmap"],
                "uidMappings": maps(5, 6, 7), "gidMappings": maps(5, 6, 7)}),
            linux,
        )
        .unwrap();
        assert_eq!(m.uid_map, [one(5, 6, 7)]);
        assert!(!m.recursive);
        assert_eq!(
            idmap_of(
                serde_json::json!({"destination": "/v", "type": "bind", "source": "/", "options": ["rbind"]}),
                serde_json::json!({})
            ),
            None
        );
    }

    #[test]
    fn bad_idmaps_are_refused_before_anything_is_made() {
        let maps = |c: u64, h: u64, s: u64| serde_json::json!([{"containerID": c, "hostID": h, "size": s}]);
        let cases = [
            (
                serde_json::json!({"destination": "/v", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"]}),
                serde_json::json!({"uidMappings": maps(0, 1, 1), "gidMappings": maps(0, 1, 1)}),
                "id-mapped mount on /v: only bind mounts can be id-mapped",
            ),
            (
                serde_json::json!({"destination": "/v", "type": "bind", "source": "/", "options": ["idmap"]}),
                serde_json::json!({}),
                "id-mapped mount on /v: idmap/ridmap without uidMappings and gidMappings on the mount take the container's linux.uidMappings and gidMappings, and it has none",
            ),
            (
                serde_json::json!({"destination": "/v", "type": "bind", "source": "/", "uidMappings": maps(0, 1, 1)}),
                serde_json::json!({}),
                "id-mapped mount on /v: uidMappings and gidMappings must be given together",
            ),
            (
                serde_json::json!({"destination": "/v", "type": "bind", "source": "/", "uidMappings": maps(0, 1, 0), "gidMappings": maps(0, 1, 1)}),
                serde_json::json!({}),
                "id-mapped mount on /v: mount uidMappings: range 0:1:0 is empty",
            ),
            (
                serde_json::json!({"destination": "/v", "type": "bind", "source": "/", "uidMappings": maps(0, 1, 1), "gidMappings": maps(4294967000_u64, 1, 1000)}),
                serde_json::json!({}),
                "id-mapped mount on /v: mount gidMappings: range 4294967000:1:1000 goes past id 4294967294",
            ),
            (
                serde_json::json!({"destination": "/v", "type": "bind", "source": "/",
                    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}, {"containerID": 20, "hostID": 1005, "size": 1}],
                    "gidMappings": maps(0, 1, 1)}),
                serde_json::json!({}),
                "id-mapped mount on /v: mount uidMappings: range 20:1005:1 overlaps 0:1000:10",
            ),
        ];
        for (mount, linux, want) in cases {
            let (_d, e) = err(serde_json::json!([mount]), linux);
            assert_eq!(e, want);
        }
    }

    #[test]
    fn bad_rootfs_propagation_and_relative_masked_path_are_rejected() {
        let (_d, e) = err(
            serde_json::json!([]),
            serde_json::json!({"rootfsPropagation": "ro"}),
        );
        assert_eq!(e, "linux.rootfsPropagation ro is not a propagation mode");
        let (_d, e) = err(
            serde_json::json!([]),
            serde_json::json!({"maskedPaths": ["proc/kcore"]}),
        );
        assert_eq!(e, "masked path proc/kcore is not an absolute path");
        let (_d, e) = err(
            serde_json::json!([]),
            serde_json::json!({"devices": [{"path": "/dev/x", "type": "a", "major": 1, "minor": 1}]}),
        );
        assert_eq!(e, "device /dev/x: type \"a\" is not a device type");
    }

    #[test]
    fn plan_of_a_typical_config() {
        let (dir, spec) = bundle(
            serde_json::json!([
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev/", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/data", "type": "bind", "source": "rootfs"},
                {"destination": "/./etc//hosts", "type": "none", "source": "/etc/hosts", "options": ["rbind", "ro", "rprivate"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "ro"]},
            ]),
            serde_json::json!({
                "rootfsPropagation": "rslave",
                "maskedPaths": ["/proc/kcore"],
                "readonlyPaths": ["/proc/sys"],
                "devices": [{"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 5}],
            }),
        );
        let plan = RootfsPlan::new(&spec, &ctx(dir.path())).unwrap();
        assert_eq!(plan.rootfs(), dir.path().join("rootfs"));
        assert_eq!(plan.root_propagation, Some(ms::SLAVE | ms::REC));
        let m = plan.mounts();
        assert_eq!(
            m[0].kind,
            MountKind::Fs {
                fstype: "proc".into(),
                source: "proc".into()
            }
        );
        assert_eq!(m[1].destination, Path::new("/dev"));
        assert_eq!(m[1].options.data, "mode=755,size=65536k");
        // type "bind" without a bind option is a plain bind of a bundle-relative source.
        assert_eq!(
            m[2].kind,
            MountKind::Bind {
                source: dir.path().join("rootfs"),
                source_is_dir: true
            }
        );
        assert_eq!(m[2].options.flags, ms::BIND);
        assert_eq!(m[3].destination, Path::new("/etc/hosts"));
        assert_eq!(
            m[3].kind,
            MountKind::Bind {
                source: "/etc/hosts".into(),
                source_is_dir: false
            }
        );
        assert_eq!(m[3].options.flags, ms::BIND | ms::REC | ms::RDONLY);
        assert_eq!(m[3].options.propagation, vec![ms::PRIVATE | ms::REC]);
        assert_eq!(
            m[4].kind,
            MountKind::Fs {
                fstype: "sysfs".into(),
                source: "sysfs".into()
            }
        );

        let dev = plan.dev().unwrap();
        assert!(!dev.bind_devices);
        let paths: Vec<_> = dev
            .devices
            .iter()
            .map(|d| d.path.to_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty"
            ]
        );
        assert_eq!((dev.devices[0].mode, dev.devices[0].uid), (0o600, 5));
        assert_eq!(
            (
                dev.devices[5].major,
                dev.devices[5].minor,
                dev.devices[5].mode
            ),
            (5, 0, 0o666)
        );
        assert_eq!(
            dev.symlinks[0],
            (PathBuf::from("/dev/fd"), PathBuf::from("/proc/self/fd"))
        );
        assert_eq!(
            dev.symlinks[3],
            (
                PathBuf::from("/dev/stderr"),
                PathBuf::from("/proc/self/fd/2")
            )
        );
        assert_eq!(plan.masked_paths, [PathBuf::from("/proc/kcore")]);
        assert_eq!(plan.readonly_paths, [PathBuf::from("/proc/sys")]);
        assert!(!plan.readonly && !plan.dev_readonly);
    }

    #[test]
    fn bind_mounted_dev_skips_device_setup_and_userns_sysfs_is_an_rbind() {
        let (dir, spec) = bundle(
            serde_json::json!([
                {"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "ro"]},
            ]),
            serde_json::json!({}),
        );
        let mut c = ctx(dir.path());
        c.new_user_ns = true;
        let plan = RootfsPlan::new(&spec, &c).unwrap();
        assert!(plan.dev().is_none());
        assert_eq!(
            plan.mounts()[1].kind,
            MountKind::Bind {
                source: "/sys".into(),
                source_is_dir: true
            }
        );
        assert_eq!(
            plan.mounts()[1].options.flags,
            ms::BIND | ms::REC | ms::NOSUID | ms::RDONLY
        );
        c.new_net_ns = true;
        let plan = RootfsPlan::new(&spec, &c).unwrap();
        assert!(matches!(plan.mounts()[1].kind, MountKind::Fs { .. }));
    }

    #[test]
    fn cgroup_mount_layouts() {
        let (dir, spec) = bundle(
            serde_json::json!([{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro", "nosuid"]}]),
            serde_json::json!({}),
        );
        let h = |mp: &str, fs: &str, o: &str| Hierarchy {
            mount_point: mp.into(),
            fs_type: fs.into(),
            options: o.into(),
            root: "/".into(),
        };
        let hybrid = CgroupPlan {
            relative_path: "berth/c1".into(),
            owned_parent_depth: 0,
            hierarchies: vec![
                h("/sys/fs/cgroup/cpu,cpuacct", "cgroup", "cpu,cpuacct"),
                h("/sys/fs/cgroup/systemd", "cgroup", "name=systemd"),
                h("/sys/fs/cgroup/unified", "cgroup2", ""),
            ],
            disabled: false,
            systemd: None,
            delegated: false,
        };
        let mut c = ctx(dir.path());
        c.cgroup = Some(&hybrid);
        let plan = RootfsPlan::new(&spec, &c).unwrap();
        let MountKind::Cgroup(CgroupMount::Split { subdirs, symlinks }) = &plan.mounts()[0].kind
        else {
            panic!("{:?}", plan.mounts()[0].kind)
        };
        let names: Vec<_> = subdirs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["cpu,cpuacct", "systemd", "unified"]);
        assert_eq!(
            subdirs[0].host_dir,
            Path::new("/sys/fs/cgroup/cpu,cpuacct/berth/c1")
        );
        assert_eq!(subdirs[1].data, "name=systemd");
        assert!(!subdirs[2].mount_fs);
        assert_eq!(
            symlinks,
            &[
                ("cpu".to_string(), "cpu,cpuacct".to_string()),
                ("cpuacct".to_string(), "cpu,cpuacct".to_string())
            ]
        );

        let unified = CgroupPlan {
            relative_path: "berth/c1".into(),
            owned_parent_depth: 0,
            hierarchies: vec![h("/sys/fs/cgroup", "cgroup2", "")],
            disabled: false,
            systemd: None,
            delegated: false,
        };
        c.cgroup = Some(&unified);
        c.new_cgroup_ns = true;
        let plan = RootfsPlan::new(&spec, &c).unwrap();
        assert_eq!(
            plan.mounts()[0].kind,
            MountKind::Cgroup(CgroupMount::Unified {
                mount_fs: true,
                host_dir: "/sys/fs/cgroup/berth/c1".into()
            })
        );
        c.cgroup = None;
        let plan = RootfsPlan::new(&spec, &c).unwrap();
        assert_eq!(plan.mounts()[0].kind, MountKind::Cgroup(CgroupMount::Empty));
    }
}
