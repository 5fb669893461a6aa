//! `linux.namespaces`, `linux.uidMappings`/`gidMappings` and `linux.timeOffsets`, validated.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use oci_spec::runtime::{Linux, LinuxNamespaceType};

use super::process::IdMap;
use super::BundleError;

/// A Linux namespace type, with the order in which berth joins existing ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NamespaceKind {
    // Declaration order is the join order: the user namespace first, so that the joined
    // namespaces are owned by it and we hold capabilities over them; the mount namespace last,
    // so that paths of the other namespaces are still resolved in the runtime's mount namespace.
    User,
    Ipc,
    Uts,
    Net,
    Pid,
    Cgroup,
    Time,
    Mount,
}

impl NamespaceKind {
    pub const ALL: [NamespaceKind; 8] = [
        NamespaceKind::User,
        NamespaceKind::Ipc,
        NamespaceKind::Uts,
        NamespaceKind::Net,
        NamespaceKind::Pid,
        NamespaceKind::Cgroup,
        NamespaceKind::Time,
        NamespaceKind::Mount,
    ];

    /// The CLONE_NEW* flag.
    pub fn clone_flag(self) -> libc::c_int {
        match self {
            NamespaceKind::User => libc::CLONE_NEWUSER,
            NamespaceKind::Ipc => libc::CLONE_NEWIPC,
            NamespaceKind::Uts => libc::CLONE_NEWUTS,
            NamespaceKind::Net => libc::CLONE_NEWNET,
            NamespaceKind::Pid => libc::CLONE_NEWPID,
            NamespaceKind::Cgroup => libc::CLONE_NEWCGROUP,
            NamespaceKind::Time => 0x80, // CLONE_NEWTIME
            NamespaceKind::Mount => libc::CLONE_NEWNS,
        }
    }

    /// The name used by config.json and /proc/<pid>/ns.
    pub fn name(self) -> &'static str {
        match self {
            NamespaceKind::User => "user",
            NamespaceKind::Ipc => "ipc",
            NamespaceKind::Uts => "uts",
            NamespaceKind::Net => "net",
            NamespaceKind::Pid => "pid",
            NamespaceKind::Cgroup => "cgroup",
            NamespaceKind::Time => "time",
            NamespaceKind::Mount => "mnt",
        }
    }

    fn from_oci(t: LinuxNamespaceType) -> NamespaceKind {
        match t {
            LinuxNamespaceType::User => NamespaceKind::User,
            LinuxNamespaceType::Ipc => NamespaceKind::Ipc,
            LinuxNamespaceType::Uts => NamespaceKind::Uts,
            LinuxNamespaceType::Network => NamespaceKind::Net,
            LinuxNamespaceType::Pid => NamespaceKind::Pid,
            LinuxNamespaceType::Cgroup => NamespaceKind::Cgroup,
            LinuxNamespaceType::Time => NamespaceKind::Time,
            LinuxNamespaceType::Mount => NamespaceKind::Mount,
        }
    }
}

/// One namespace of the container: new (`join` is None) or joined through an fd opened and
/// type-checked at validation time, so the path is never resolved again.
#[derive(Debug)]
pub struct NamespaceEntry {
    pub kind: NamespaceKind,
    pub path: Option<PathBuf>,
    pub join: Option<File>,
}

/// The container's namespaces, sorted in join order.
#[derive(Debug, Default)]
pub struct Namespaces {
    pub entries: Vec<NamespaceEntry>,
    pub uid_map: Vec<IdMap>,
    pub gid_map: Vec<IdMap>,
    /// `linux.timeOffsets` as (clock, seconds, nanoseconds).
    pub time_offsets: Vec<(String, i64, u32)>,
}

impl Namespaces {
    pub fn from_spec(linux: &Linux) -> Result<Namespaces, BundleError> {
        let mut entries: Vec<NamespaceEntry> = Vec::new();
        for ns in linux.namespaces().iter().flatten() {
            let kind = NamespaceKind::from_oci(ns.typ());
            if entries.iter().any(|e| e.kind == kind) {
                return Err(BundleError::invalid(
                    "linux.namespaces",
                    format!("duplicate namespace type {:?}", kind.name()),
                ));
            }
            let path = ns.path().clone().filter(|p| !p.as_os_str().is_empty());
            let join = path.as_ref().map(|p| open_namespace(kind, p)).transpose()?;
            entries.push(NamespaceEntry { kind, path, join });
        }
        entries.sort_by_key(|e| e.kind);

        let mut namespaces = Namespaces {
            entries,
            uid_map: id_maps(linux.uid_mappings()),
            gid_map: id_maps(linux.gid_mappings()),
            time_offsets: Vec::new(),
        };
        namespaces.check_user_mappings()?;
        namespaces.time_offsets = time_offsets(linux, &namespaces)?;
        Ok(namespaces)
    }

    /// Whether the container has this namespace at all (new or joined).
    pub fn has(&self, kind: NamespaceKind) -> bool {
        self.entries.iter().any(|e| e.kind == kind)
    }

    /// Whether the container gets a new namespace of this kind.
    pub fn creates(&self, kind: NamespaceKind) -> bool {
        self.entries
            .iter()
            .any(|e| e.kind == kind && e.join.is_none())
    }

    /// Whether the container has a namespace of this kind that is not the runtime's own: a new
    /// one, or a joined one other than berth's (a podman pod's or another container's). Writing
    /// the hostname or a sysctl there changes only the container's side (runc writes into
    /// joined namespaces too); into berth's own it would change the host's.
    pub fn isolates(&self, kind: NamespaceKind) -> bool {
        self.entries.iter().any(|e| {
            e.kind == kind
                && match &e.join {
                    None => true,
                    Some(file) => !is_runtime_namespace(kind, file),
                }
        })
    }

    /// CLONE_NEW* flags of the namespaces to create.
    pub fn new_flags(&self) -> libc::c_int {
        self.entries
            .iter()
            .filter(|e| e.join.is_none())
            .fold(0, |flags, e| flags | e.kind.clone_flag())
    }

    fn check_user_mappings(&self) -> Result<(), BundleError> {
        let has_maps = !self.uid_map.is_empty() || !self.gid_map.is_empty();
        if !self.has(NamespaceKind::User) && has_maps {
            return Err(BundleError::invalid(
                "linux.uidMappings",
                "uid/gid mappings need a user namespace in linux.namespaces",
            ));
        }
        if self.creates(NamespaceKind::User) && (self.uid_map.is_empty() || self.gid_map.is_empty())
        {
            return Err(BundleError::invalid(
                "linux.uidMappings",
                "a new user namespace needs both uidMappings and gidMappings",
            ));
        }
        if self.has(NamespaceKind::User) && !self.creates(NamespaceKind::User) && has_maps {
            // The joined namespace already has its maps (written once, by its creator). Podman
            // pods and Kubernetes user-namespaced pods repeat them in every container's config;
            // runc accepts them unchecked. berth accepts them when they are the namespace's
            // own, and refuses a config that claims other maps than the ones in force.
            let file = self
                .entries
                .iter()
                .find(|e| e.kind == NamespaceKind::User)
                .and_then(|e| e.join.as_ref())
                .expect("a joined user namespace has its file");
            let (uid, gid) = joined_user_maps(file)?;
            for (field, config, actual) in [
                ("linux.uidMappings", &self.uid_map, uid),
                ("linux.gidMappings", &self.gid_map, gid),
            ] {
                if !same_maps(config, &actual) {
                    return Err(BundleError::invalid(
                        field,
                        format!(
                            "{} differ from the joined user namespace's {}",
                            show_maps(config),
                            show_maps(&actual)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The uid and gid maps of the user namespace `file`, as its own members read them (the
/// outside ids are in its parent namespace). Read by a forked child that joins it: a namespace
/// bind-mounted by a pod manager may have no process to look at.
fn joined_user_maps(file: &File) -> Result<(Vec<IdMap>, Vec<IdMap>), BundleError> {
    let failed = |source: std::io::Error| BundleError::JoinedMaps { source };
    let text = crate::sys::in_forked_child(|| {
        nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWUSER)
            .map_err(std::io::Error::from)?;
        let uid = std::fs::read_to_string("/proc/self/uid_map")?;
        let gid = std::fs::read_to_string("/proc/self/gid_map")?;
        Ok(format!("{uid}\n--\n{gid}"))
    })
    .map_err(failed)?;
    let (uid, gid) = text
        .split_once("\n--\n")
        .ok_or_else(|| failed(std::io::ErrorKind::InvalidData.into()))?;
    Ok((parse_maps(uid), parse_maps(gid)))
}

fn parse_maps(text: &str) -> Vec<IdMap> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|n| n.parse::<u32>());
            Some(IdMap {
                container_id: f.next()?.ok()?,
                host_id: f.next()?.ok()?,
                size: f.next()?.ok()?,
            })
        })
        .collect()
}

/// The same ranges, in any order.
fn same_maps(a: &[IdMap], b: &[IdMap]) -> bool {
    let key = |m: &IdMap| (m.container_id, m.host_id, m.size);
    let mut a: Vec<_> = a.iter().map(key).collect();
    let mut b: Vec<_> = b.iter().map(key).collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

fn show_maps(maps: &[IdMap]) -> String {
    let ranges: Vec<String> = maps
        .iter()
        .map(|m| format!("{}:{}:{}", m.container_id, m.host_id, m.size))
        .collect();
    format!("[{}]", ranges.join(" "))
}

fn id_maps(maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>) -> Vec<IdMap> {
    maps.iter()
        .flatten()
        .map(|m| IdMap {
            container_id: m.container_id(),
            host_id: m.host_id(),
            size: m.size(),
        })
        .collect()
}

fn time_offsets(
    linux: &Linux,
    namespaces: &Namespaces,
) -> Result<Vec<(String, i64, u32)>, BundleError> {
    let Some(offsets) = linux.time_offsets() else {
        return Ok(Vec::new());
    };
    if !offsets.is_empty() && !namespaces.creates(NamespaceKind::Time) {
        // config-linux.md "Offset for Time Namespace": offsets apply to a new time namespace.
        return Err(BundleError::invalid(
            "linux.timeOffsets",
            "time offsets need a new time namespace",
        ));
    }
    let mut out = Vec::new();
    for (clock, offset) in offsets {
        if clock != "monotonic" && clock != "boottime" {
            return Err(BundleError::invalid(
                "linux.timeOffsets",
                format!("unknown clock {clock:?} (expected monotonic or boottime)"),
            ));
        }
        let nanos = offset.nanosecs().unwrap_or(0);
        if nanos >= 1_000_000_000 {
            return Err(BundleError::invalid(
                "linux.timeOffsets",
                format!("{clock}: nanosecs {nanos} is not below one second"),
            ));
        }
        out.push((clock.clone(), offset.secs().unwrap_or(0), nanos));
    }
    out.sort();
    Ok(out)
}

/// Whether `file` is the namespace berth itself runs in (same nsfs inode as
/// `/proc/self/ns/<kind>`). If that cannot be told, it is assumed to be, so nothing is written
/// into a namespace that might be the host's.
fn is_runtime_namespace(kind: NamespaceKind, file: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    let own = std::fs::metadata(format!("/proc/self/ns/{}", kind.name()));
    match (own, file.metadata()) {
        (Ok(own), Ok(joined)) => own.dev() == joined.dev() && own.ino() == joined.ino(),
        _ => true,
    }
}

/// NS_GET_NSTYPE from linux/nsfs.h: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// Opens a namespace path and checks that it is a namespace of the expected type.
fn open_namespace(kind: NamespaceKind, path: &PathBuf) -> Result<File, BundleError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| BundleError::Namespace {
            field: "linux.namespaces path",
            path: path.clone(),
            source,
        })?;
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd's namespace type.
    let nstype = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE) };
    if nstype < 0 {
        return Err(BundleError::invalid(
            "linux.namespaces",
            format!("{} is not a namespace file", path.display()),
        ));
    }
    if nstype != kind.clone_flag() {
        return Err(BundleError::invalid(
            "linux.namespaces",
            format!("{} is not a {} namespace", path.display(), kind.name()),
        ));
    }
    Ok(file)
}

use std::os::unix::fs::OpenOptionsExt;

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(json: &str) -> Linux {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn namespaces_are_sorted_user_first_mount_last() {
        let ns = Namespaces::from_spec(&linux(
            r#"{"namespaces":[{"type":"mount"},{"type":"pid"},{"type":"user"}],
                "uidMappings":[{"containerID":0,"hostID":1000,"size":1}],
                "gidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#,
        ))
        .unwrap();
        let kinds: Vec<_> = ns.entries.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                NamespaceKind::User,
                NamespaceKind::Pid,
                NamespaceKind::Mount
            ]
        );
        assert_eq!(
            ns.new_flags(),
            libc::CLONE_NEWUSER | libc::CLONE_NEWPID | libc::CLONE_NEWNS
        );
    }

    #[test]
    fn duplicate_namespace_is_rejected() {
        let err =
            Namespaces::from_spec(&linux(r#"{"namespaces":[{"type":"pid"},{"type":"pid"}]}"#))
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: linux.namespaces: duplicate namespace type \"pid\""
        );
    }

    #[test]
    fn mappings_without_user_namespace_are_rejected() {
        let err = Namespaces::from_spec(&linux(
            r#"{"namespaces":[{"type":"pid"}],
                "uidMappings":[{"containerID":0,"hostID":1000,"size":1}]}"#,
        ))
        .unwrap_err();
        assert!(err.to_string().contains("need a user namespace"), "{err}");
    }

    #[test]
    fn new_user_namespace_needs_mappings() {
        let err = Namespaces::from_spec(&linux(r#"{"namespaces":[{"type":"user"}]}"#)).unwrap_err();
        assert!(err.to_string().contains("needs both uidMappings"), "{err}");
    }

    #[test]
    fn missing_namespace_path_names_the_path() {
        let err = Namespaces::from_spec(&linux(
            r#"{"namespaces":[{"type":"network","path":"/nonexistent/netns"}]}"#,
        ))
        .unwrap_err();
        assert!(format!("{err}").contains("/nonexistent/netns"), "{err}");
    }

    #[test]
    fn namespace_path_of_wrong_type_is_rejected() {
        // /proc/self/ns/uts is a namespace file of another type than "net".
        let err = Namespaces::from_spec(&linux(
            r#"{"namespaces":[{"type":"network","path":"/proc/self/ns/uts"}]}"#,
        ))
        .unwrap_err();
        assert!(err.to_string().contains("is not a net namespace"), "{err}");
    }

    #[test]
    fn time_offsets_need_a_time_namespace() {
        let err = Namespaces::from_spec(&linux(r#"{"timeOffsets":{"monotonic":{"secs":10}}}"#))
            .unwrap_err();
        assert!(err.to_string().contains("new time namespace"), "{err}");
        let ns = Namespaces::from_spec(&linux(
            r#"{"namespaces":[{"type":"time"}],"timeOffsets":{"monotonic":{"secs":10,"nanosecs":5}}}"#,
        ))
        .unwrap();
        assert_eq!(ns.time_offsets, [("monotonic".to_string(), 10, 5)]);
    }
}
