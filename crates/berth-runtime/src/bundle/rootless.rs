//! Rootless mode (`--rootless`, or berth run by an unprivileged user): what the plan refuses
//! because an unprivileged caller cannot do it, checked before anything is created.
//!
//! What this slice supports (docs/rootless.md): a new user namespace with the caller's own uid
//! and gid mapped (one id each, written by berth itself), and no cgroup.

use super::{BundleError, IdMap, NamespaceKind, Namespaces, ProcessPlan};

/// The ids berth runs as in rootless mode (its euid and egid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rootless {
    pub uid: u32,
    pub gid: u32,
}

impl Rootless {
    /// The calling process's effective ids.
    pub fn caller() -> Rootless {
        Rootless {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
        }
    }

    /// Whether berth is really unprivileged (not root running with `--rootless=true`): then
    /// the kernel lets it map only its own ids and write gid_map only after setgroups "deny"
    /// (user_namespaces(7), "Defining user and group ID mappings").
    pub fn unprivileged(self) -> bool {
        self.uid != 0
    }

    /// The namespaces and mappings an unprivileged berth can set up on its own.
    pub fn check_namespaces(self, ns: &Namespaces) -> Result<(), BundleError> {
        if !self.unprivileged() {
            return Ok(());
        }
        if !ns.creates(NamespaceKind::User) {
            // Every other namespace needs CAP_SYS_ADMIN over the user namespace that owns it.
            return Err(BundleError::invalid(
                "linux.namespaces",
                "rootless: berth runs unprivileged and needs a new user namespace (\"type\": \"user\" without a path; see `berth spec --rootless`)",
            ));
        }
        for (field, maps, own, what) in [
            ("linux.uidMappings", &ns.uid_map, self.uid, "uid"),
            ("linux.gidMappings", &ns.gid_map, self.gid, "gid"),
        ] {
            if !single_own_id(maps, own) {
                return Err(BundleError::invalid(
                    field,
                    format!(
                        "rootless: berth runs as {what} {own} and can map only that one id (one entry, \"hostID\": {own}, \"size\": 1); mapping other or more ids needs newuidmap/newgidmap, which berth does not support yet"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// What the container's process may be: an unprivileged berth denies setgroups (so no
    /// `additionalGids`), and its uid and gid must be among the mapped ids.
    pub fn check_process(
        self,
        ns: &Namespaces,
        process: &mut ProcessPlan,
    ) -> Result<(), BundleError> {
        if !self.unprivileged() {
            return Ok(());
        }
        if !process.additional_gids.is_empty() {
            return Err(BundleError::invalid(
                "process.user.additionalGids",
                "rootless: supplementary groups cannot be set, since an unprivileged berth writes \"deny\" to setgroups before gid_map (user_namespaces(7))",
            ));
        }
        for (field, maps, id, what) in [
            ("process.user.uid", &ns.uid_map, process.uid, "uid"),
            ("process.user.gid", &ns.gid_map, process.gid, "gid"),
        ] {
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
        process.setgroups_denied = true;
        Ok(())
    }
}

fn single_own_id(maps: &[IdMap], own: u32) -> bool {
    matches!(maps, [m] if m.host_id == own && m.size == 1)
}

/// `linux.resources` sections set in a rootless container: refused, one error naming the
/// first one, since the container gets no cgroup to apply them to.
pub fn refuse_resources(sections: &[String]) -> Result<(), BundleError> {
    match sections.first() {
        None => Ok(()),
        Some(section) => Err(BundleError::RootlessResources {
            section: section.clone(),
        }),
    }
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
    };

    #[test]
    fn own_single_ids_in_a_new_user_namespace_are_accepted() {
        let n = ns(r#"{"namespaces":[{"type":"user"},{"type":"mount"}],
            "uidMappings":[{"containerID":0,"hostID":1000,"size":1}],
            "gidMappings":[{"containerID":0,"hostID":1001,"size":1}]}"#);
        USER.check_namespaces(&n).unwrap();
    }

    #[test]
    fn other_or_more_ids_are_refused_naming_the_field_and_newuidmap() {
        let n = ns(r#"{"namespaces":[{"type":"user"},{"type":"mount"}],
            "uidMappings":[{"containerID":0,"hostID":1000,"size":1},{"containerID":1,"hostID":100000,"size":65536}],
            "gidMappings":[{"containerID":0,"hostID":1001,"size":1}]}"#);
        assert_eq!(
            USER.check_namespaces(&n).unwrap_err().to_string(),
            "config.json: linux.uidMappings: rootless: berth runs as uid 1000 and can map only that one id (one entry, \"hostID\": 1000, \"size\": 1); mapping other or more ids needs newuidmap/newgidmap, which berth does not support yet"
        );
        let n = ns(r#"{"namespaces":[{"type":"user"},{"type":"mount"}],
            "uidMappings":[{"containerID":0,"hostID":1000,"size":1}],
            "gidMappings":[{"containerID":0,"hostID":0,"size":1}]}"#);
        let err = USER.check_namespaces(&n).unwrap_err().to_string();
        assert!(
            err.starts_with("config.json: linux.gidMappings: rootless: berth runs as gid 1001"),
            "{err}"
        );
    }

    #[test]
    fn no_new_user_namespace_is_refused() {
        let n = ns(r#"{"namespaces":[{"type":"mount"}]}"#);
        let err = USER.check_namespaces(&n).unwrap_err().to_string();
        assert!(
            err.starts_with("config.json: linux.namespaces: rootless: berth runs unprivileged and needs a new user namespace"),
            "{err}"
        );
    }

    #[test]
    fn root_with_rootless_true_maps_anything() {
        let root = Rootless { uid: 0, gid: 0 };
        root.check_namespaces(&ns(r#"{"namespaces":[{"type":"mount"}]}"#))
            .unwrap();
    }

    #[test]
    fn resources_are_refused_naming_the_section() {
        refuse_resources(&[]).unwrap();
        assert_eq!(
            refuse_resources(&["memory".into(), "pids".into()])
                .unwrap_err()
                .to_string(),
            "config.json: linux.resources.memory: rootless: the container gets no cgroup (cgroup delegation is not supported yet), so its resources cannot be applied"
        );
    }
}
