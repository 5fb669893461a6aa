//! Rootless mode (`--rootless`, or berth run by an unprivileged user): what the plan refuses
//! because an unprivileged caller cannot do it, checked before anything is created, and how
//! the container's id maps get written ([`IdMapWriter`]).
//!
//! What is supported (docs/rootless.md): a new user namespace mapping the caller's own uid and
//! gid (one id each, written by berth itself), or more ids through the setuid helpers
//! `newuidmap`/`newgidmap` (shadow's uidmap package, which check the caller's `/etc/subuid`
//! and `/etc/subgid` ranges), and a cgroup only in the cgroup v2 subtree delegated to berth
//! ([`cgroup`]).

use std::path::{Path, PathBuf};

use super::{BundleError, IdMap, NamespaceKind, Namespaces, ProcessPlan};
use crate::cgroups::{delegated_subtree, writable_by_me, CgroupPlan, HostCgroups};

/// How the parent writes the uid_map and gid_map of a new user namespace
/// (process/mod.rs `write_id_maps`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMapWriter {
    /// `newuidmap`, found in PATH, when an unprivileged berth maps more than its own uid: the
    /// kernel lets it write only a one-line map of its own euid (user_namespaces(7)).
    pub newuidmap: Option<PathBuf>,
    /// `newgidmap`, likewise for the gid map. It leaves setgroups allowed when the map is
    /// backed by `/etc/subgid` (shadow's newgidmap(1)).
    pub newgidmap: Option<PathBuf>,
    /// Write "deny" to setgroups before berth writes gid_map itself: required when berth is
    /// unprivileged (user_namespaces(7)), so the container's processes keep their groups.
    pub deny_setgroups: bool,
}

/// The ids berth runs as in rootless mode (its euid and egid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rootless {
    pub uid: u32,
    pub gid: u32,
    /// berth runs in a user namespace other than the host's ([`in_user_namespace`]), as
    /// under rootless podman.
    pub in_user_namespace: bool,
    /// berth's own user namespace says "deny" in `/proc/self/setgroups` (e.g. made by
    /// `unshare --map-root-user`): a namespace created in it starts with "deny" too
    /// (user_namespaces(7)), whoever writes its maps.
    pub setgroups_denied: bool,
}

impl Rootless {
    /// The calling process's effective ids.
    pub fn caller() -> Rootless {
        Rootless {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            in_user_namespace: in_user_namespace(std::path::Path::new("/proc")),
            setgroups_denied: std::fs::read_to_string("/proc/self/setgroups")
                .is_ok_and(|s| s.trim() == "deny"),
        }
    }

    /// Whether the init clones bind sources by path inside its own mount namespace rather than
    /// berth opening them on the host first (process/mod.rs): `open_tree(OPEN_TREE_CLONE)` of
    /// the host's mounts needs CAP_SYS_ADMIN over the user namespace that owns berth's mount
    /// namespace, which neither an unprivileged berth nor root in a nested user namespace
    /// without a mount namespace of its own has. Either way the container's root is no more
    /// than berth's own caller, so it reaches what the caller reaches.
    pub fn binds_by_path(self) -> bool {
        self.unprivileged() || self.in_user_namespace
    }

    /// Whether berth is really unprivileged (not root running with `--rootless=true`): then
    /// the kernel lets it map only its own ids and write gid_map only after setgroups "deny"
    /// (user_namespaces(7), "Defining user and group ID mappings").
    pub fn unprivileged(self) -> bool {
        self.uid != 0
    }

    /// The namespaces and mappings an unprivileged berth can set up, and how their maps are
    /// written: a map that is exactly the caller's own id (one entry, size 1) berth writes
    /// itself; any other goes through `newuidmap`/`newgidmap`, looked up with `find` (PATH,
    /// [`find_in_path`]) and refused here, before anything exists, when it is not installed.
    /// Whether the helper accepts the ranges (`/etc/subuid`, `/etc/subgid`) only it can tell:
    /// its refusal is reported when the maps are written.
    pub fn check_namespaces(
        self,
        ns: &Namespaces,
        find: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<IdMapWriter, BundleError> {
        if !self.unprivileged() {
            return Ok(IdMapWriter {
                deny_setgroups: self.setgroups_denied && ns.creates(NamespaceKind::User),
                ..IdMapWriter::default()
            });
        }
        if !ns.creates(NamespaceKind::User) {
            // Every other namespace needs CAP_SYS_ADMIN over the user namespace that owns it.
            return Err(BundleError::invalid(
                "linux.namespaces",
                "rootless: berth runs unprivileged and needs a new user namespace (\"type\": \"user\" without a path; see `berth spec --rootless`)",
            ));
        }
        let mut helpers = [None, None];
        for (slot, (field, maps, own, what, helper)) in helpers.iter_mut().zip([
            (
                "linux.uidMappings",
                &ns.uid_map,
                self.uid,
                "uid",
                "newuidmap",
            ),
            (
                "linux.gidMappings",
                &ns.gid_map,
                self.gid,
                "gid",
                "newgidmap",
            ),
        ]) {
            if single_own_id(maps, own) {
                continue;
            }
            *slot = Some(find(helper).ok_or_else(|| {
                BundleError::invalid(
                    field,
                    format!(
                        "rootless: berth runs as {what} {own} and maps other ids than that one, which needs {helper} (package uidmap): {helper} is not in PATH"
                    ),
                )
            })?);
        }
        let [newuidmap, newgidmap] = helpers;
        Ok(IdMapWriter {
            deny_setgroups: newgidmap.is_none() || self.setgroups_denied,
            newuidmap,
            newgidmap,
        })
    }

    /// What the container's process may be: when berth writes the gid map itself setgroups is
    /// denied (so no `additionalGids`); the process's uid, gid and additional gids must be
    /// among the mapped ids (setresuid, setresgid and setgroups fail with EINVAL otherwise).
    pub fn check_process(
        self,
        ns: &Namespaces,
        writer: &IdMapWriter,
        process: &mut ProcessPlan,
    ) -> Result<(), BundleError> {
        if writer.deny_setgroups && !process.additional_gids.is_empty() {
            return Err(BundleError::invalid(
                "process.user.additionalGids",
                "rootless: supplementary groups cannot be set, since setgroups is denied in the container's user namespace (an unprivileged berth writes \"deny\" before gid_map, and a namespace inherits \"deny\" from berth's own; user_namespaces(7)); map more gids through newgidmap (linux.gidMappings backed by /etc/subgid) to keep setgroups allowed",
            ));
        }
        process.setgroups_denied = writer.deny_setgroups;
        if !self.unprivileged() {
            // Root in its user namespace may switch to any id mapped there.
            return Ok(());
        }
        let ids = [
            ("process.user.uid", &ns.uid_map, process.uid, "uid"),
            ("process.user.gid", &ns.gid_map, process.gid, "gid"),
        ]
        .into_iter()
        .chain(
            process
                .additional_gids
                .iter()
                .map(|&g| ("process.user.additionalGids", &ns.gid_map, g, "gid")),
        );
        for (field, maps, id, what) in ids {
            if !maps
                .iter()
                .any(|m| id >= m.container_id && id - m.container_id < m.size)
            {
                return Err(BundleError::invalid(
                    field,
                    format!(
                        "rootless: {what} {id} is not mapped in the container's user namespace"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// `name` in the directories of berth's PATH: the first regular file with an execute bit
/// (execvp(3)'s search; no PATH means none, rather than a built-in default).
pub fn find_in_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The argument list newuidmap(1)/newgidmap(1) take after the pid: `inside outside count`
/// per entry.
pub fn helper_args(maps: &[IdMap]) -> Vec<String> {
    maps.iter()
        .flat_map(|m| [m.container_id, m.host_id, m.size])
        .map(|n| n.to_string())
        .collect()
}

/// Whether berth runs in a user namespace other than the host's: its `uid_map` (read from
/// `proc_root`, `/proc` outside tests) is not the initial namespace's identity map of every
/// id (`0 0 4294967295`, user_namespaces(7)). Rootless podman runs the OCI runtime as root in
/// such a namespace. A map that cannot be read counts as the initial namespace.
pub fn in_user_namespace(proc_root: &std::path::Path) -> bool {
    std::fs::read_to_string(proc_root.join("self/uid_map"))
        .is_ok_and(|text| !is_initial_uid_map(&text))
}

fn is_initial_uid_map(text: &str) -> bool {
    let fields: Vec<&str> = text.split_whitespace().collect();
    fields == ["0", "0", "4294967295"]
}

fn single_own_id(maps: &[IdMap], own: u32) -> bool {
    matches!(maps, [m] if m.host_id == own && m.size == 1)
}

/// `linux.resources` sections set in a rootless container without a cgroup: refused, one
/// error naming the first one and why there is no cgroup.
pub fn refuse_resources(sections: &[String], reason: &str) -> Result<(), BundleError> {
    match sections.first() {
        None => Ok(()),
        Some(section) => Err(BundleError::RootlessResources {
            section: section.clone(),
            reason: reason.to_string(),
        }),
    }
}

/// The cgroup of a rootless container (`linux.cgroupsPath` as given, not in the systemd
/// driver's form): in the cgroup v2 subtree delegated to berth, the parent of its own cgroup
/// (cgroups/delegation.rs): `berth/<id>` by default, `berth/<path>` for a relative path. An
/// absolute path is taken from the hierarchy's root, as runc does; creating it fails unless
/// berth may write there. `Ok(Err(why))`: nothing is delegated, so no cgroup.
pub fn cgroup(
    host: &HostCgroups,
    path: Option<&Path>,
    id: &str,
) -> Result<Result<CgroupPlan, String>, BundleError> {
    let delegated = match delegated_subtree(
        host,
        Path::new("/proc/self/cgroup"),
        nix::unistd::geteuid().as_raw(),
        writable_by_me,
    ) {
        Ok(delegated) => delegated,
        Err(why) => return Ok(Err(why.to_string())),
    };
    let absolute = path.is_some_and(|p| p.is_absolute());
    let base = if absolute { host } else { &delegated };
    let mut plan = CgroupPlan::new(base, path, id, false)?;
    plan.delegated = true;
    Ok(Ok(plan))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(json: &str) -> Namespaces {
        Namespaces::from_spec(&serde_json::from_str(json).unwrap()).unwrap()
    }

    const USER: Rootless = Rootless {
        uid: 1000,
        gid: 1001,
        in_user_namespace: false,
        setgroups_denied: false,
    };

    fn helpers(name: &str) -> Option<PathBuf> {
        Some(PathBuf::from("/usr/bin").join(name))
    }

    fn no_helpers(_: &str) -> Option<PathBuf> {
        None
    }

    fn process(uid: u32, gid: u32, additional_gids: Vec<u32>) -> ProcessPlan {
        let mut p = ProcessPlan::from_spec(&oci_spec::runtime::Spec::default()).unwrap();
        (p.uid, p.gid, p.additional_gids) = (uid, gid, additional_gids);
        p
    }

    const SUB_RANGES: &str = r#"{"namespaces":[{"type":"user"},{"type":"mount"}],
            "uidMappings":[{"containerID":0,"hostID":1000,"size":1},{"containerID":1,"hostID":100000,"size":65536}],
            "gidMappings":[{"containerID":0,"hostID":1001,"size":1},{"containerID":1,"hostID":100000,"size":65536}]}"#;

    #[test]
    fn own_single_ids_are_written_by_berth_with_setgroups_denied() {
        let n = ns(r#"{"namespaces":[{"type":"user"},{"type":"mount"}],
            "uidMappings":[{"containerID":0,"hostID":1000,"size":1}],
            "gidMappings":[{"containerID":0,"hostID":1001,"size":1}]}"#);
        let w = USER.check_namespaces(&n, no_helpers).unwrap();
        assert_eq!(
            w,
            IdMapWriter {
                newuidmap: None,
                newgidmap: None,
                deny_setgroups: true
            }
        );
        let mut p = process(0, 0, vec![]);
        USER.check_process(&n, &w, &mut p).unwrap();
        assert!(p.setgroups_denied);
        let err = USER
            .check_process(&n, &w, &mut process(0, 0, vec![5]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config.json: process.user.additionalGids: rootless: supplementary groups cannot be set"),
            "{err}"
        );
    }

    #[test]
    fn more_ids_go_through_newuidmap_and_newgidmap_with_setgroups_allowed() {
        let n = ns(SUB_RANGES);
        let w = USER.check_namespaces(&n, helpers).unwrap();
        assert_eq!(
            w,
            IdMapWriter {
                newuidmap: Some("/usr/bin/newuidmap".into()),
                newgidmap: Some("/usr/bin/newgidmap".into()),
                deny_setgroups: false
            }
        );
        let mut p = process(1000, 1000, vec![5, 1000]);
        USER.check_process(&n, &w, &mut p).unwrap();
        assert!(!p.setgroups_denied);
        assert_eq!(
            helper_args(&n.uid_map),
            ["0", "1000", "1", "1", "100000", "65536"]
        );
        // An additional gid outside the map: setgroups would fail with EINVAL.
        assert_eq!(
            USER.check_process(&n, &w, &mut process(0, 0, vec![70000]))
                .unwrap_err()
                .to_string(),
            "config.json: process.user.additionalGids: rootless: gid 70000 is not mapped in the container's user namespace"
        );
    }

    #[test]
    fn only_the_map_that_needs_it_goes_through_the_helper() {
        let n = ns(r#"{"namespaces":[{"type":"user"},{"type":"mount"}],
            "uidMappings":[{"containerID":0,"hostID":1000,"size":1},{"containerID":1,"hostID":100000,"size":65536}],
            "gidMappings":[{"containerID":0,"hostID":1001,"size":1}]}"#);
        let w = USER.check_namespaces(&n, helpers).unwrap();
        assert_eq!(w.newuidmap, Some("/usr/bin/newuidmap".into()));
        assert_eq!(w.newgidmap, None);
        assert!(w.deny_setgroups);
    }

    #[test]
    fn a_missing_helper_is_refused_naming_the_field_and_the_helper() {
        assert_eq!(
            USER.check_namespaces(&ns(SUB_RANGES), no_helpers)
                .unwrap_err()
                .to_string(),
            "config.json: linux.uidMappings: rootless: berth runs as uid 1000 and maps other ids than that one, which needs newuidmap (package uidmap): newuidmap is not in PATH"
        );
        let n = ns(r#"{"namespaces":[{"type":"user"},{"type":"mount"}],
            "uidMappings":[{"containerID":0,"hostID":1000,"size":1}],
            "gidMappings":[{"containerID":0,"hostID":0,"size":1}]}"#);
        let err = USER
            .check_namespaces(&n, |h: &str| (h == "newuidmap").then(|| "/x".into()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "config.json: linux.gidMappings: rootless: berth runs as gid 1001 and maps other ids than that one, which needs newgidmap (package uidmap): newgidmap is not in PATH"
        );
    }

    #[test]
    fn no_new_user_namespace_is_refused() {
        let n = ns(r#"{"namespaces":[{"type":"mount"}]}"#);
        let err = USER.check_namespaces(&n, helpers).unwrap_err().to_string();
        assert!(
            err.starts_with("config.json: linux.namespaces: rootless: berth runs unprivileged and needs a new user namespace"),
            "{err}"
        );
    }

    #[test]
    fn root_with_rootless_true_maps_anything_itself() {
        let root = Rootless {
            uid: 0,
            gid: 0,
            in_user_namespace: true,
            setgroups_denied: false,
        };
        let w = root.check_namespaces(&ns(SUB_RANGES), no_helpers).unwrap();
        assert_eq!(w, IdMapWriter::default());
        let mut p = process(0, 0, vec![5]);
        root.check_process(&ns(SUB_RANGES), &w, &mut p).unwrap();
        assert!(!p.setgroups_denied);
        // In a namespace made with setgroups "deny" (unshare --map-root-user) the container's
        // inherits it: no additional gids.
        let denied = Rootless {
            setgroups_denied: true,
            ..root
        };
        let w = denied
            .check_namespaces(&ns(SUB_RANGES), no_helpers)
            .unwrap();
        assert!(w.deny_setgroups);
        let err = denied
            .check_process(&ns(SUB_RANGES), &w, &mut process(0, 0, vec![5]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("setgroups is denied"), "{err}");
        let mut p = process(0, 0, vec![]);
        denied.check_process(&ns(SUB_RANGES), &w, &mut p).unwrap();
        assert!(p.setgroups_denied);
    }

    #[test]
    fn find_in_path_finds_executables_only() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("newuidmap");
        std::fs::write(&exe, "").unwrap();
        let plain = dir.path().join("newgidmap");
        std::fs::write(&plain, "").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        // PATH is process-wide: read in a forked child, not in the harness.
        let found = std::process::Command::new(std::env::current_exe().unwrap())
            .arg("--exact")
            .arg("bundle::rootless::tests::find_in_path_child")
            .arg("--nocapture")
            .env("PATH", format!("relative:{}", dir.path().display()))
            .env("BERTH_FIND_IN_PATH_CHILD", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&found.stdout);
        assert!(
            text.contains(&format!("found newuidmap={}\n", exe.display())),
            "{text}"
        );
        assert!(text.contains("found newgidmap=none\n"), "{text}");
    }

    #[test]
    fn find_in_path_child() {
        if std::env::var_os("BERTH_FIND_IN_PATH_CHILD").is_none() {
            return;
        }
        for name in ["newuidmap", "newgidmap"] {
            let found = find_in_path(name).map(|p| p.display().to_string());
            println!("found {name}={}", found.as_deref().unwrap_or("none"));
        }
    }

    #[test]
    fn only_the_full_identity_map_is_the_initial_user_namespace() {
        assert!(is_initial_uid_map("         0          0 4294967295\n"));
        assert!(!is_initial_uid_map("         0       1000          1\n"));
        assert!(!is_initial_uid_map("0 1000 1\n1 100000 65536\n"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("self")).unwrap();
        assert!(
            !in_user_namespace(dir.path()),
            "unreadable: the initial one"
        );
        std::fs::write(dir.path().join("self/uid_map"), "0 1000 1\n").unwrap();
        assert!(in_user_namespace(dir.path()));
    }

    #[test]
    fn resources_are_refused_naming_the_section() {
        refuse_resources(&[], "why").unwrap();
        assert_eq!(
            refuse_resources(&["memory".into(), "pids".into()], "why")
                .unwrap_err()
                .to_string(),
            "config.json: linux.resources.memory: rootless: the container gets no cgroup, so its resources cannot be applied: why"
        );
    }
}
