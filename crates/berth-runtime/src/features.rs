//! The runtime-spec `features.md` document, stating only what berth supports: printed by
//! `berth features` and carried by the shim's `-info` answer (containerd 2.x RuntimeInfo), so
//! the two cannot differ.
//!
//! Everything not implemented is reported as absent or `enabled: false` rather than omitted,
//! because features.md reads an omitted field as "unknown", not "unsupported".

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
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.3.0",
        // Every hook config.md defines (hooks/ in berth-runtime runs them).
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": capabilities,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false, "rdma": false},
            "seccomp": crate::seccomp::features(),
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {"io.github.berth.version": env!("CARGO_PKG_VERSION")}
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
        for off in ["apparmor", "selinux", "intelRdt"] {
            assert_eq!(linux[off], json!({"enabled": false}), "{off}");
        }
        assert_eq!(linux["mountExtensions"]["idmap"]["enabled"], false);
        assert_eq!(
            f["annotations"]["io.github.berth.version"],
            env!("CARGO_PKG_VERSION")
        );
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
