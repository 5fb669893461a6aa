//! The runtime-spec `features.md` document, stating only what berth supports: printed by
//! `berth features` and carried by the shim's `-info` answer (containerd 2.x RuntimeInfo), so
//! the two cannot differ.
//!
//! Everything not implemented is reported as absent or `enabled: false` rather than omitted,
//! because features.md reads an omitted field as "unknown", not "unsupported". What the code
//! decides is read from the code's own tables (the supported version, the memory policy modes
//! and flags, the fields `config.json` refuses as not applied), so the two cannot drift; the
//! tests here and tests/features.rs check the rest against behaviour.

use serde_json::{json, Value};

/// The features document for this build of berth.
pub fn features() -> Value {
    features_with(crate::rootfs::SUPPORTED_MOUNT_OPTIONS)
}

/// The features document with `mount_options` as the recognised mount options (the rootfs
/// module owns that list; it is a parameter so the document can be tested on its own).
pub fn features_with(mount_options: &[&str]) -> Value {
    let mut capabilities: Vec<caps::Capability> = caps::all().into_iter().collect();
    capabilities.sort_by_key(|c| c.index());
    // caps' Display already spells them "CAP_CHOWN" etc.
    let capabilities: Vec<String> = capabilities.iter().map(|c| c.to_string()).collect();
    let applied = |field: &str| {
        !crate::bundle::UNAPPLIED
            .iter()
            .any(|(refused, _)| *refused == field)
    };
    json!({
        "ociVersionMin": "1.0.0",
        // features.md: the newest version whose configs berth accepts; every field of it is
        // applied or refused by name (docs/config-coverage.md).
        "ociVersionMax": crate::bundle::SUPPORTED_OCI_VERSION,
        // Every hook config.md defines (hooks/ in berth-runtime runs them).
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": capabilities,
            // rdma: linux.resources.rdma is written to rdma.max (cgroups/resources.rs).
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": true},
            "seccomp": crate::seccomp::features(),
            // features.md: whether berth implements them, not whether this host runs them
            // (lsm.rs writes the labels where the LSM is active, refuses them where not).
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": applied("linux.intelRdt"), "schemata": false, "monitoring": false},
            "memoryPolicy": {
                "modes": crate::bundle::MEMORY_POLICY_MODES,
                "flags": crate::bundle::MEMORY_POLICY_FLAGS,
            },
            // mounts[].uidMappings / gidMappings, idmap and ridmap (rootfs/idmap.rs).
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": applied("linux.netDevices")}
        },
        // runc's annotation for its checkpoint/restore commands, which berth has too (through
        // criu swrk, when a criu that works on the host is installed: docs/checkpoint.md).
        "annotations": {
            "io.github.berth.version": env!("CARGO_PKG_VERSION"),
            "org.opencontainers.runc.checkpoint.enabled": "true"
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::Features;

    #[test]
    fn shape_and_values() {
        let f = features_with(&["ro", "bind"]);
        assert_eq!(f["ociVersionMin"], "1.0.0");
        assert_eq!(f["ociVersionMax"], "1.3.0");
        assert_eq!(
            f["hooks"],
            json!([
                "prestart",
                "createRuntime",
                "createContainer",
                "startContainer",
                "poststart",
                "poststop"
            ])
        );
        assert_eq!(f["mountOptions"], json!(["ro", "bind"]));
        let linux = &f["linux"];
        assert_eq!(linux["namespaces"].as_array().unwrap().len(), 8);
        assert_eq!(linux["cgroup"]["v1"], true);
        assert_eq!(linux["cgroup"]["systemd"], true);
        assert_eq!(linux["seccomp"]["enabled"], true);
        assert!(linux["seccomp"]["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("SCMP_ACT_NOTIFY")));
        for on in ["apparmor", "selinux"] {
            assert_eq!(linux[on], json!({"enabled": true}), "{on}");
        }
        assert_eq!(linux["cgroup"]["rdma"], true);
        assert_eq!(
            linux["intelRdt"],
            json!({"enabled": false, "schemata": false, "monitoring": false})
        );
        assert_eq!(linux["netDevices"], json!({"enabled": false}));
        assert_eq!(linux["memoryPolicy"]["modes"].as_array().unwrap().len(), 7);
        assert_eq!(linux["memoryPolicy"]["flags"].as_array().unwrap().len(), 3);
        assert_eq!(linux["mountExtensions"]["idmap"]["enabled"], true);
        assert_eq!(
            f["annotations"]["io.github.berth.version"],
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(
            f["annotations"]["org.opencontainers.runc.checkpoint.enabled"],
            "true"
        );
    }

    /// Issue #14: every field config.json refuses as not applied is reported disabled, and
    /// the version claimed is the one the loader accepts up to.
    #[test]
    fn refused_fields_are_reported_disabled() {
        let f = features_with(&[]);
        for (field, _) in crate::bundle::UNAPPLIED {
            let feature = match *field {
                "linux.intelRdt" => &f["linux"]["intelRdt"]["enabled"],
                "linux.netDevices" => &f["linux"]["netDevices"]["enabled"],
                other => {
                    panic!("{other}: refused as not applied, but features has no entry for it")
                }
            };
            assert_eq!(feature, &json!(false), "{field}");
        }
        assert_eq!(f["ociVersionMax"], crate::bundle::SUPPORTED_OCI_VERSION);
    }

    #[test]
    fn capabilities_are_every_known_cap_in_kernel_order() {
        let f = features_with(&[]);
        let caps: Vec<&str> = f["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(caps.len(), caps::all().len());
        assert_eq!(caps[0], "CAP_CHOWN");
        assert!(caps.contains(&"CAP_CHECKPOINT_RESTORE"));
        assert!(caps.iter().all(|c| c.starts_with("CAP_")));
    }

    #[test]
    fn parses_as_an_oci_features_document() {
        let parsed: Features = serde_json::from_value(features_with(&["ro"])).unwrap();
        assert_eq!(parsed.oci_version_max(), "1.3.0");
        assert_eq!(parsed.hooks().as_ref().map(Vec::len), Some(6));
        let linux = parsed.linux().as_ref().unwrap();
        assert_eq!(linux.namespaces().as_ref().map(Vec::len), Some(8));
    }
}
