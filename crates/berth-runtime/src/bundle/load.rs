//! Reading `config.json` and checking its `ociVersion`.

use std::path::Path;

use oci_spec::runtime::Spec;

use super::BundleError;

/// The newest runtime-spec version berth implements.
pub const SUPPORTED_OCI_VERSION: &str = "1.3.0";

/// Reads and parses `<bundle>/config.json`. Unknown fields and annotation keys are tolerated
/// (config.md: "Runtimes MUST ignore unknown properties"); a major version other than 1 is not.
pub fn load_config(bundle: &Path) -> Result<Spec, BundleError> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|source| BundleError::ReadConfig {
        path: path.clone(),
        source,
    })?;
    // Check the version before the typed parse, so a 2.x config gets the version message rather
    // than a confusing field error.
    let version = serde_json::from_slice::<VersionOnly>(&text)
        .map_err(|source| BundleError::ParseConfig {
            path: path.clone(),
            source,
        })?
        .oci_version;
    if !version_supported(&version) {
        return Err(BundleError::UnsupportedVersion { path, version });
    }
    // serde_path_to_error names the field that failed: "linux.namespaces[3].type: unknown
    // variant `foo`" rather than only a line and column.
    let field_error = |e: serde_path_to_error::Error<serde_json::Error>| BundleError::ParseField {
        path: path.clone(),
        field: e.path().to_string(),
        source: e.into_inner(),
    };
    let mut doc: serde_json::Value =
        serde_json::from_slice(&text).map_err(|source| BundleError::ParseConfig {
            path: path.clone(),
            source,
        })?;
    if normalize(&mut doc) {
        return serde_path_to_error::deserialize(doc).map_err(field_error);
    }
    // Unchanged: parse the text itself, so errors keep their line and column.
    let de = &mut serde_json::Deserializer::from_slice(&text);
    serde_path_to_error::deserialize(de).map_err(field_error)
}

/// Where the runtime-spec's spelling and oci-spec's differ, or where runc tolerates what the
/// typed parse would reject, the raw document is adjusted before the typed parse:
/// - `process.scheduler.flags`: config.md spells `SCHED_FLAG_RESET_ON_FORK` and
///   `SCHED_FLAG_DL_OVERRUN`; oci-spec 0.10 only parses `SCHED_RESET_ON_FORK` and
///   `SCHED_FLAG_D_L_OVERRUN`. Both spellings are accepted.
/// - `process.capabilities`: a name oci-spec does not know is dropped with a warning, as runc
///   does ("ignoring unknown or unavailable capabilities"); config.md: a runtime SHOULD log a
///   warning, not fail, for a capability it does not know.
///
/// Returns whether anything changed.
fn normalize(doc: &mut serde_json::Value) -> bool {
    let mut changed = false;
    let process = &mut doc["process"];
    if let Some(flags) = process
        .get_mut("scheduler")
        .and_then(|s| s.get_mut("flags"))
        .and_then(|f| f.as_array_mut())
    {
        for flag in flags.iter_mut() {
            let oci_spec_name = match flag.as_str() {
                Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
                Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
                _ => continue,
            };
            *flag = oci_spec_name.into();
            changed = true;
        }
    }
    let Some(caps) = process
        .get_mut("capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return changed;
    };
    let mut unknown: Vec<String> = Vec::new();
    for set in caps.values_mut().filter_map(|v| v.as_array_mut()) {
        set.retain(|name| {
            let known = name.as_str().is_none_or(|_| {
                serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok()
            });
            if !known {
                let name = name.as_str().unwrap_or_default().to_string();
                if !unknown.contains(&name) {
                    unknown.push(name);
                }
            }
            known
        });
    }
    if !unknown.is_empty() {
        crate::log_warn!(
            "process.capabilities: ignoring unknown capabilities: {}",
            unknown.join(", ")
        );
    }
    changed || !unknown.is_empty()
}

#[derive(serde::Deserialize)]
struct VersionOnly {
    #[serde(rename = "ociVersion")]
    oci_version: String,
}

/// Any 1.x version is accepted: the spec keeps 1.x backwards compatible, and a newer minor
/// version only adds fields, which are ignored like any unknown field.
fn version_supported(version: &str) -> bool {
    let mut parts = version.split(['.', '-', '+']);
    parts.next() == Some("1") && parts.next().is_some_and(|m| m.parse::<u32>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_1x_version() {
        for v in [
            "1.0.0",
            "1.0.2-dev",
            "1.1.0",
            "1.2.1",
            "1.3.0",
            "1.4.0-rc.1",
        ] {
            assert!(version_supported(v), "{v}");
        }
    }

    #[test]
    fn rejects_other_majors_and_garbage() {
        for v in ["2.0.0", "0.5.0", "", "1", "one.two", "10.0.0"] {
            assert!(!version_supported(v), "{v}");
        }
    }

    #[test]
    fn version_error_names_the_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"ociVersion":"2.0.0"}"#).unwrap();
        let err = load_config(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("ociVersion \"2.0.0\" is not supported"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"pid"},{"type":"foo"}]}}"#,
        )
        .unwrap();
        let err = load_config(dir.path()).unwrap_err();
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(
            chain.contains("config.json: linux.namespaces[1].type: unknown variant `foo`"),
            "{chain}"
        );
    }

    fn load(json: &str) -> Result<Spec, BundleError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        load_config(dir.path())
    }

    #[test]
    fn scheduler_flags_parse_in_the_specs_spelling() {
        let spec = load(
            r#"{"ociVersion":"1.2.0","process":{"cwd":"/","user":{"uid":0,"gid":0},
               "scheduler":{"policy":"SCHED_OTHER","flags":["SCHED_FLAG_RESET_ON_FORK",
               "SCHED_FLAG_RECLAIM","SCHED_FLAG_DL_OVERRUN","SCHED_FLAG_KEEP_POLICY",
               "SCHED_FLAG_KEEP_PARAMS","SCHED_FLAG_UTIL_CLAMP_MIN","SCHED_FLAG_UTIL_CLAMP_MAX"]}}}"#,
        )
        .unwrap();
        let flags = spec
            .process()
            .as_ref()
            .unwrap()
            .scheduler()
            .as_ref()
            .unwrap()
            .flags()
            .clone();
        assert_eq!(flags.unwrap().len(), 7);
    }

    #[test]
    fn unknown_capability_is_dropped_not_fatal() {
        let spec = load(
            r#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":0,"gid":0},
               "capabilities":{"bounding":["CAP_KILL","CAP_FOO"],"ambient":["CAP_FOO"]}}}"#,
        )
        .unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
        assert!(caps.ambient().as_ref().unwrap().is_empty());
    }

    #[test]
    fn unknown_fields_are_tolerated() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion":"1.3.0","root":{"path":"rootfs"},"futureField":{"x":1},
               "annotations":{"org.example.unknown":"v"}}"#,
        )
        .unwrap();
        let spec = load_config(dir.path()).unwrap();
        assert_eq!(spec.version(), "1.3.0");
    }
}
