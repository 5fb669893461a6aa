//! Reading `config.json` and checking its `ociVersion`.

use std::path::Path;

use oci_spec::runtime::Spec;

use super::BundleError;

/// The newest runtime-spec version berth implements.
pub const SUPPORTED_OCI_VERSION: &str = "1.3.0";

/// The largest JSON input berth reads (`config.json`, `exec --process`, `update -r`): far above
/// any real config (kubelet's are tens of kilobytes), far below what hurts the host.
pub const MAX_INPUT_BYTES: u64 = 16 << 20;

/// Reads a JSON input file with bounds: it must be a regular file (a FIFO without a writer
/// would block forever, `/dev/zero` would never end; opened `O_NONBLOCK` so neither blocks the
/// open) of at most [`MAX_INPUT_BYTES`] (checked on the size and again while reading, in case
/// it grows).
pub fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let meta = file.metadata()?;
    let ft = meta.file_type();
    if !ft.is_file() {
        let kind = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_char_device() {
            "a character device"
        } else if ft.is_block_device() {
            "a block device"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_dir() {
            "a directory"
        } else {
            "not a file"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a regular file ({kind})"),
        ));
    }
    let too_big = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("larger than {MAX_INPUT_BYTES} bytes"),
        )
    };
    if meta.len() > MAX_INPUT_BYTES {
        return Err(too_big());
    }
    let mut text = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut text)?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(too_big());
    }
    Ok(text)
}

/// Reads and parses `<bundle>/config.json`. Unknown fields and annotation keys are tolerated
/// (config.md: "Runtimes MUST ignore unknown properties"); a major version other than 1 is not.
pub fn load_config(bundle: &Path) -> Result<Spec, BundleError> {
    load_config_with(bundle, |_| Ok(())).map(|(spec, ())| spec)
}

/// [`load_config`], with `before_typed` run on the raw document (the one read of the file)
/// before the typed parse: checks that name a field better than oci-spec's serde error would.
pub fn load_config_with<T>(
    bundle: &Path,
    before_typed: impl FnOnce(&serde_json::Value) -> Result<T, BundleError>,
) -> Result<(Spec, T), BundleError> {
    let path = bundle.join("config.json");
    let text = read_bounded(&path).map_err(|source| BundleError::ReadConfig {
        path: path.clone(),
        source,
    })?;
    // The one parse of the text into a document; every check below reads it.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&text).map_err(|source| BundleError::ParseConfig {
            path: path.clone(),
            source,
        })?;
    // The version before anything else (seccomp's checks, the typed parse), so a 2.x config
    // gets the version message rather than a confusing field error.
    let version = oci_version(&doc).map_err(|(field, source)| match field {
        Some(field) => BundleError::ParseField {
            path: path.clone(),
            field: field.to_string(),
            source,
        },
        None => BundleError::ParseConfig {
            path: path.clone(),
            source,
        },
    })?;
    if !version_supported(version) {
        return Err(BundleError::UnsupportedVersion {
            path,
            version: version.to_string(),
        });
    }
    // serde_path_to_error names the field that failed: "linux.namespaces[3].type: unknown
    // variant `foo`" rather than only a line and column.
    let field_error = |e: serde_path_to_error::Error<serde_json::Error>| BundleError::ParseField {
        path: path.clone(),
        field: e.path().to_string(),
        source: e.into_inner(),
    };
    let early = before_typed(&doc)?;
    if let Some((field, found)) = struct_as_array(&doc) {
        return Err(BundleError::ParseField {
            path: path.clone(),
            field,
            source: <serde_json::Error as serde::de::Error>::invalid_type(found, &"a map"),
        });
    }
    refuse_unapplied(&doc)?;
    let spec = if normalize(&mut doc) {
        serde_path_to_error::deserialize(doc).map_err(field_error)?
    } else {
        // Unchanged: the typed parse reads the text itself (not the document), so that its
        // errors keep their line and column.
        let de = &mut serde_json::Deserializer::from_slice(&text);
        serde_path_to_error::deserialize(de).map_err(field_error)?
    };
    Ok((spec, early))
}

/// Fields of the runtime-spec berth does not apply, each with why. A config that sets one is
/// refused naming it, never run as if it took effect; `berth features` reports each as
/// disabled (its test walks this table). Checked on the raw document.
pub const UNAPPLIED: &[(&str, &str)] = &[
    (
        "linux.intelRdt",
        "berth does not implement Intel RDT (resctrl)",
    ),
    (
        "linux.netDevices",
        "berth does not move network devices into the container",
    ),
];

/// Refuses a `process` object (`exec --process`'s) that sets a field of [`UNAPPLIED`] (none
/// of them is a `process` field today; kept so that a future one is refused there too).
pub fn refuse_unapplied_in_process(process: &serde_json::Value) -> Result<(), BundleError> {
    refuse_unapplied(&serde_json::json!({ "process": process }))
}

/// Refuses the first field of [`UNAPPLIED`] the config sets (present and not null).
fn refuse_unapplied(doc: &serde_json::Value) -> Result<(), BundleError> {
    for &(field, why) in UNAPPLIED {
        let (section, name) = field.split_once('.').expect("section.field");
        if doc
            .get(section)
            .and_then(|s| s.get(name))
            .is_some_and(|v| !v.is_null())
        {
            return Err(BundleError::invalid(
                field,
                format!("{why}: remove the field"),
            ));
        }
    }
    Ok(())
}

/// The objects of config.md, by path (`*`: every element of an array). serde's derived
/// structs also accept a JSON array, read field by field in declaration order, so `"hooks": []`
/// would parse as "no hooks" and `"mounts": [["/x", "bind"]]` as a mount: a config that is not
/// what its author meant, accepted silently. Each of these must be an object where present.
const OBJECTS: &[&str] = &[
    "process",
    "process.user",
    "process.consoleSize",
    "process.capabilities",
    "process.rlimits.*",
    "process.scheduler",
    "process.ioPriority",
    "root",
    "hooks",
    "hooks.*.*",
    "mounts.*",
    "linux",
    "linux.namespaces.*",
    "linux.uidMappings.*",
    "linux.gidMappings.*",
    "linux.devices.*",
    "linux.resources",
    "linux.resources.devices.*",
    "linux.resources.memory",
    "linux.resources.cpu",
    "linux.resources.pids",
    "linux.resources.blockIO",
    "linux.resources.blockIO.weightDevice.*",
    "linux.resources.blockIO.throttleReadBpsDevice.*",
    "linux.resources.blockIO.throttleWriteBpsDevice.*",
    "linux.resources.blockIO.throttleReadIOPSDevice.*",
    "linux.resources.blockIO.throttleWriteIOPSDevice.*",
    "linux.resources.hugepageLimits.*",
    "linux.resources.network",
    "linux.resources.rdma",
    "linux.seccomp",
    "linux.seccomp.syscalls.*",
    "linux.seccomp.syscalls.*.args.*",
    "linux.intelRdt",
    "linux.personality",
    "linux.memoryPolicy",
    "linux.netDevices",
];

/// The first field of [`OBJECTS`] that is present, not null and not an object, with what it is.
fn struct_as_array(doc: &serde_json::Value) -> Option<(String, serde::de::Unexpected<'static>)> {
    fn walk(
        v: &serde_json::Value,
        parts: &[&str],
        at: String,
    ) -> Option<(String, serde::de::Unexpected<'static>)> {
        let Some((first, rest)) = parts.split_first() else {
            return match v {
                serde_json::Value::Object(_) | serde_json::Value::Null => None,
                serde_json::Value::Array(_) => Some((at, serde::de::Unexpected::Seq)),
                serde_json::Value::String(_) => Some((at, serde::de::Unexpected::Other("string"))),
                serde_json::Value::Number(_) => Some((at, serde::de::Unexpected::Other("number"))),
                serde_json::Value::Bool(b) => Some((at, serde::de::Unexpected::Bool(*b))),
            };
        };
        let join = |k: &str| {
            if at.is_empty() {
                k.to_string()
            } else if k.starts_with('[') {
                format!("{at}{k}")
            } else {
                format!("{at}.{k}")
            }
        };
        match (*first, v) {
            ("*", serde_json::Value::Array(items)) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| walk(item, rest, join(&format!("[{i}]")))),
            ("*", serde_json::Value::Object(map)) => {
                map.iter().find_map(|(k, item)| walk(item, rest, join(k)))
            }
            ("*", _) => None,
            (key, serde_json::Value::Object(map)) => {
                map.get(key).and_then(|item| walk(item, rest, join(key)))
            }
            _ => None,
        }
    }
    OBJECTS.iter().find_map(|pattern| {
        let parts: Vec<&str> = pattern.split('.').collect();
        walk(doc, &parts, String::new())
    })
}

/// Where the runtime-spec's spelling and oci-spec's differ, or where runc tolerates what the
/// typed parse would reject, the raw document is adjusted before the typed parse:
/// - `process.scheduler.flags`: config.md spells `SCHED_FLAG_RESET_ON_FORK` and
///   `SCHED_FLAG_DL_OVERRUN`; oci-spec 0.10 only parses `SCHED_RESET_ON_FORK` and
///   `SCHED_FLAG_D_L_OVERRUN`. Both spellings are accepted.
/// - `linux.resources.pids` without `limit`: dropped ([`normalize_pids`]).
/// - `process.capabilities`: a name oci-spec does not know is dropped with a warning, as runc
///   does ("ignoring unknown or unavailable capabilities"); config.md: a runtime SHOULD log a
///   warning, not fail, for a capability it does not know.
///
/// Returns whether anything changed.
fn normalize(doc: &mut serde_json::Value) -> bool {
    let pids_changed = doc
        .get_mut("linux")
        .and_then(|l| l.get_mut("resources"))
        .is_some_and(normalize_pids);
    let process = &mut doc["process"];
    let changed = normalize_scheduler_flags(process) || pids_changed;
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

/// `pids` of a `resources` object (config.json's, `update -r`'s, the shim's Update): runtime-spec
/// 1.3 makes `limit` optional, and a `pids` object without it sets nothing, while 0 is a
/// limit of 0 tasks. oci-spec 0.10 reads a missing `limit` as 0, so such an object is dropped
/// before the typed parse. Returns whether anything changed.
pub fn normalize_pids(resources: &mut serde_json::Value) -> bool {
    let Some(r) = resources.as_object_mut() else {
        return false;
    };
    let no_limit = r
        .get("pids")
        .and_then(|p| p.as_object())
        .is_some_and(|p| p.get("limit").is_none_or(|l| l.is_null()));
    if no_limit {
        r.remove("pids");
    }
    no_limit
}

/// `process.scheduler.flags` in config.md's spelling, renamed to oci-spec's (see
/// [`normalize`]); also for `exec --process` files. Returns whether anything changed.
pub fn normalize_scheduler_flags(process: &mut serde_json::Value) -> bool {
    let mut changed = false;
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
    changed
}

/// The document's `ociVersion`; the error names the field when there is one to name.
fn oci_version(doc: &serde_json::Value) -> Result<&str, (Option<&'static str>, serde_json::Error)> {
    use serde::de::{Error, Unexpected};
    let unexpected = |v: &serde_json::Value| match v {
        serde_json::Value::Null => Unexpected::Unit,
        serde_json::Value::Bool(b) => Unexpected::Bool(*b),
        serde_json::Value::Number(_) => Unexpected::Other("number"),
        serde_json::Value::String(_) => Unexpected::Other("string"),
        serde_json::Value::Array(_) => Unexpected::Seq,
        serde_json::Value::Object(_) => Unexpected::Map,
    };
    let serde_json::Value::Object(map) = doc else {
        return Err((None, Error::invalid_type(unexpected(doc), &"a map")));
    };
    match map.get("ociVersion") {
        None => Err((None, Error::missing_field("ociVersion"))),
        Some(serde_json::Value::String(v)) => Ok(v),
        Some(other) => Err((
            Some("ociVersion"),
            Error::invalid_type(unexpected(other), &"a string"),
        )),
    }
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

    /// The version is read off the one parsed document: what is not a version is named as
    /// such (no internal type in the message).
    #[test]
    fn a_missing_or_mistyped_version_is_named() {
        for (json, want) in [
            ("[]", "invalid type: sequence, expected a map"),
            ("{}", "missing field `ociVersion`"),
            (
                r#"{"ociVersion": 1}"#,
                "ociVersion: invalid type: number, expected a string",
            ),
        ] {
            let err = load(json).unwrap_err();
            let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
            assert!(
                chain.ends_with(&format!("config.json: {want}")),
                "{json}: {chain}"
            );
        }
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

    #[test]
    fn unbounded_inputs_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = read_bounded(&fifo).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file (a FIFO)");
        let e = read_bounded(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(e.to_string(), "not a regular file (a character device)");
        let big = dir.path().join("big");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_INPUT_BYTES + 1).unwrap();
        let e = read_bounded(&big).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("larger than {MAX_INPUT_BYTES} bytes")
        );
        std::fs::write(dir.path().join("ok"), b"{}").unwrap();
        assert_eq!(read_bounded(&dir.path().join("ok")).unwrap(), b"{}");
    }

    #[test]
    fn a_struct_given_as_an_array_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        for (json, field) in [
            (
                r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"hooks":[]}"#,
                "hooks",
            ),
            (
                r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"mounts":[["/x","bind"]]}"#,
                "mounts[0]",
            ),
            (
                r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"hooks":{"prestart":[["/bin/true"]]}}"#,
                "hooks.prestart[0]",
            ),
        ] {
            std::fs::write(dir.path().join("config.json"), json).unwrap();
            let err = load_config(dir.path()).unwrap_err();
            let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
            assert!(
                chain.ends_with(&format!("{field}: invalid type: sequence, expected a map")),
                "{chain}"
            );
        }
    }

    /// runtime-spec 1.3: `pids.limit` 0 is a limit (kept), a `pids` object without `limit`
    /// sets nothing (dropped, where oci-spec would read it as 0).
    #[test]
    fn pids_without_limit_is_dropped_and_zero_is_kept() {
        let spec =
            load(r#"{"ociVersion":"1.3.0","linux":{"resources":{"pids":{"limit":0}}}}"#).unwrap();
        let r = spec.linux().as_ref().unwrap().resources().clone().unwrap();
        assert_eq!(r.pids().map(|p| p.limit()), Some(0));
        for pids in [r#"{}"#, r#"{"limit":null}"#] {
            let spec = load(&format!(
                r#"{{"ociVersion":"1.3.0","linux":{{"resources":{{"pids":{pids}}}}}}}"#
            ))
            .unwrap();
            let r = spec.linux().as_ref().unwrap().resources().clone().unwrap();
            assert!(r.pids().is_none(), "{pids}");
        }
    }
}
