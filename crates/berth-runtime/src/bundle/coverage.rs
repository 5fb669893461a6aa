//! What berth does with every field of config.json that oci-spec models: the table the field
//! walk (issue #14, the test below) checks against a fully populated `oci_spec` `Spec`, so a
//! field a newer oci-spec adds fails the test until it is applied or refused — never dropped
//! silently. Fields berth refuses are [`super::UNAPPLIED`] (`berth features` reports the same
//! table); docs/config-coverage.md is the human-readable form of both.
//!
//! A pattern is a JSON path (`linux.namespaces[].type`): `*` stands for one map key or field
//! name (`hooks.*[].path`), and a pattern ending in `.**` covers its whole subtree.

/// What berth does with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Validated while planning and applied; the module that does it (under
    /// `crates/berth-runtime/src/`).
    Applied(&'static str),
    /// A field of another platform (Windows, Solaris, VM, z/OS, Windows' user name and
    /// command line), which a Linux runtime does not read.
    OtherPlatform,
    /// Not a runtime-spec field (oci-spec models it; config.md says a runtime MUST ignore
    /// unknown properties).
    NotInSpec,
}

use Coverage::{Applied, NotInSpec, OtherPlatform};

/// Every field berth applies, or does not read with a reason. The refused ones are
/// [`super::UNAPPLIED`].
pub const FIELDS: &[(&str, Coverage)] = &[
    ("ociVersion", Applied("bundle/load.rs")),
    ("root.path", Applied("bundle/mod.rs")),
    ("root.readonly", Applied("rootfs/mod.rs")),
    ("mounts[].destination", Applied("rootfs/plan.rs")),
    ("mounts[].source", Applied("rootfs/plan.rs")),
    ("mounts[].type", Applied("rootfs/plan.rs")),
    ("mounts[].options[]", Applied("rootfs/options.rs")),
    ("mounts[].uidMappings[].*", Applied("rootfs/idmap.rs")),
    ("mounts[].gidMappings[].*", Applied("rootfs/idmap.rs")),
    ("hostname", Applied("bundle/mod.rs")),
    ("domainname", Applied("bundle/mod.rs")),
    ("annotations.*", Applied("state/model.rs")),
    ("hooks.*[].path", Applied("hooks/")),
    ("hooks.*[].args[]", Applied("hooks/")),
    ("hooks.*[].env[]", Applied("hooks/")),
    ("hooks.*[].timeout", Applied("hooks/")),
    ("process.terminal", Applied("process/console.rs")),
    ("process.consoleSize.height", Applied("terminal/")),
    ("process.consoleSize.width", Applied("terminal/")),
    ("process.user.uid", Applied("process/creds.rs")),
    ("process.user.gid", Applied("process/creds.rs")),
    ("process.user.umask", Applied("process/creds.rs")),
    ("process.user.additionalGids[]", Applied("process/creds.rs")),
    ("process.user.username", OtherPlatform),
    ("process.commandLine", OtherPlatform),
    ("process.args[]", Applied("process/exec.rs")),
    ("process.env[]", Applied("process/exec.rs")),
    ("process.cwd", Applied("process/final_steps.rs")),
    ("process.capabilities.*[]", Applied("process/creds.rs")),
    ("process.rlimits[].type", Applied("process/creds.rs")),
    ("process.rlimits[].soft", Applied("process/creds.rs")),
    ("process.rlimits[].hard", Applied("process/creds.rs")),
    ("process.noNewPrivileges", Applied("process/creds.rs")),
    ("process.oomScoreAdj", Applied("process/creds.rs")),
    ("process.apparmorProfile", Applied("lsm.rs")),
    ("process.selinuxLabel", Applied("lsm.rs")),
    ("process.scheduler.*", Applied("bundle/sched.rs")),
    ("process.scheduler.flags[]", Applied("bundle/sched.rs")),
    ("process.ioPriority.class", Applied("bundle/sched.rs")),
    ("process.ioPriority.priority", Applied("bundle/sched.rs")),
    (
        "process.execCPUAffinity.initial",
        Applied("process/exec_stage.rs"),
    ),
    ("process.execCPUAffinity.final", Applied("process/attrs.rs")),
    ("linux.namespaces[].type", Applied("bundle/namespaces.rs")),
    ("linux.namespaces[].path", Applied("bundle/namespaces.rs")),
    ("linux.uidMappings[].*", Applied("process/mod.rs")),
    ("linux.gidMappings[].*", Applied("process/mod.rs")),
    ("linux.timeOffsets.*.secs", Applied("bundle/namespaces.rs")),
    (
        "linux.timeOffsets.*.nanosecs",
        Applied("bundle/namespaces.rs"),
    ),
    ("linux.devices[].*", Applied("rootfs/devices.rs")),
    ("linux.cgroupsPath", Applied("cgroups/plan.rs")),
    ("linux.resources.devices[].*", Applied("cgroups/v1.rs")),
    ("linux.resources.memory.*", Applied("cgroups/resources.rs")),
    ("linux.resources.cpu.*", Applied("cgroups/resources.rs")),
    (
        "linux.resources.pids.limit",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.blockIO.weight",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.blockIO.leafWeight",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.blockIO.weightDevice[].*",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.blockIO.*[].major",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.blockIO.*[].minor",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.blockIO.*[].rate",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.hugepageLimits[].pageSize",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.hugepageLimits[].limit",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.network.classID",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.network.priorities[].*",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.rdma.*.hcaHandles",
        Applied("cgroups/resources.rs"),
    ),
    (
        "linux.resources.rdma.*.hcaObjects",
        Applied("cgroups/resources.rs"),
    ),
    ("linux.resources.unified.*", Applied("cgroups/resources.rs")),
    ("linux.sysctl.*", Applied("bundle/sysctl.rs")),
    ("linux.seccomp.**", Applied("seccomp/")),
    ("linux.rootfsPropagation", Applied("rootfs/plan.rs")),
    ("linux.maskedPaths[]", Applied("rootfs/paths.rs")),
    ("linux.readonlyPaths[]", Applied("rootfs/paths.rs")),
    ("linux.mountLabel", Applied("lsm.rs")),
    (
        "linux.personality.domain",
        Applied("bundle/container_attrs.rs"),
    ),
    (
        "linux.personality.flags[]",
        Applied("bundle/container_attrs.rs"),
    ),
    ("linux.memoryPolicy.*", Applied("bundle/container_attrs.rs")),
    (
        "linux.memoryPolicy.flags[]",
        Applied("bundle/container_attrs.rs"),
    ),
    ("solaris.**", OtherPlatform),
    ("windows.**", OtherPlatform),
    ("vm.**", OtherPlatform),
    ("zos.**", OtherPlatform),
    // oci-spec 0.10 keeps these (deprecated: "never existed in the OCI runtime spec").
    ("uidMappings[].*", NotInSpec),
    ("gidMappings[].*", NotInSpec),
];

/// Whether JSON path `path` (`a.b[].c`) matches `pattern` (see the module doc).
pub fn matches(pattern: &str, path: &str) -> bool {
    let mut pat: Vec<&str> = pattern.split('.').collect();
    let subtree = pat.last() == Some(&"**");
    if subtree {
        pat.pop();
    }
    let segs: Vec<&str> = path.split('.').collect();
    if segs.len() < pat.len() || (!subtree && segs.len() != pat.len()) {
        return false;
    }
    pat.iter()
        .zip(&segs)
        .all(|(p, s)| match p.strip_prefix('*') {
            Some(suffix) => s.ends_with(suffix),
            None => p == s,
        })
}

/// What berth does with `path`: `Ok` with its entry of [`FIELDS`], `Err(field)` when
/// [`super::UNAPPLIED`] refuses it (the field named), `None` when no table has it.
pub fn coverage(path: &str) -> Option<Result<Coverage, &'static str>> {
    if let Some((field, _)) = super::UNAPPLIED
        .iter()
        .find(|(field, _)| path == *field || path.starts_with(&format!("{field}.")))
    {
        return Some(Err(field));
    }
    FIELDS
        .iter()
        .find(|(pattern, _)| matches(pattern, path))
        .map(|(_, c)| Ok(*c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every JSON leaf path of `v` (`a.b[].c`; an empty object or array is a leaf).
    fn leaves(v: &serde_json::Value, at: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => {
                for (k, x) in m {
                    let next = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    leaves(x, next, out);
                }
            }
            serde_json::Value::Array(a) if !a.is_empty() => {
                for x in a {
                    leaves(x, format!("{at}[]"), out);
                }
            }
            _ => out.push(at),
        }
    }

    /// A `Spec` with every field oci-spec models present, as JSON.
    fn everything() -> serde_json::Value {
        // Capability names parse their own strings; every other string may be anything.
        let strings = |path: &str| {
            if path.starts_with("process.capabilities.") {
                "CAP_CHOWN"
            } else {
                "1"
            }
        };
        let spec: oci_spec::runtime::Spec =
            serde_path_to_error::deserialize(super::super::fill::Filler::new(strings))
                .map_err(|e| format!("{}: {}", e.path(), e.inner()))
                .unwrap();
        serde_json::to_value(&spec).unwrap()
    }

    #[test]
    fn patterns_match_as_documented() {
        assert!(matches("hooks.*[].path", "hooks.prestart[].path"));
        assert!(!matches("hooks.*[].path", "hooks.prestart.path"));
        assert!(matches(
            "linux.seccomp.**",
            "linux.seccomp.syscalls[].args[].op"
        ));
        assert!(!matches("linux.seccomp.**", "linux.seccompx"));
        assert!(!matches("process.cwd", "process.cwd.x"));
        assert_eq!(
            coverage("linux.netDevices.eth0.name"),
            Some(Err("linux.netDevices"))
        );
        assert_eq!(coverage("process.newField"), None);
    }

    /// Issue #14, the field walk: every path of a fully populated oci-spec `Spec` is applied,
    /// of another platform, not a runtime-spec field, or refused by `create` with an error
    /// naming it; and no table entry is stale.
    #[test]
    fn every_field_oci_spec_models_is_applied_or_refused() {
        let doc = everything();
        let mut paths = Vec::new();
        leaves(&doc, String::new(), &mut paths);
        assert!(
            paths.len() > 200,
            "{} paths: the filler stopped early",
            paths.len()
        );
        let unknown: Vec<&String> = paths.iter().filter(|p| coverage(p).is_none()).collect();
        assert!(
            unknown.is_empty(),
            "fields oci-spec models that berth neither applies nor refuses (add them to \
             bundle/coverage.rs FIELDS with where they are applied, or to UNAPPLIED, and to \
             docs/config-coverage.md): {unknown:#?}"
        );
        for (pattern, _) in FIELDS {
            assert!(
                paths.iter().any(|p| matches(pattern, p)),
                "{pattern}: matches no field oci-spec models (stale entry)"
            );
        }
        // Each refused field, set alone in a minimal config to what the filler gave it, is
        // refused by the loader `create` uses, naming the field.
        for (field, _) in super::super::UNAPPLIED {
            let (section, name) = field.split_once('.').expect("section.field");
            let value = doc[section][name].clone();
            assert!(!value.is_null(), "{field}: not in the populated spec");
            let dir = tempfile::tempdir().unwrap();
            let config = serde_json::json!({
                "ociVersion": "1.3.0",
                "root": {"path": "rootfs"},
                section: {name: value},
            });
            std::fs::write(dir.path().join("config.json"), config.to_string()).unwrap();
            let err = super::super::load_config(dir.path())
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("config.json: {field}: ")),
                "{field}: {err}"
            );
        }
    }
}
