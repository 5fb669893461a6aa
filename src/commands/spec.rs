//! `berth spec [--rootless] [--hardened]`: write a starter `config.json`, like `runc spec`.
//!
//! The default document is exactly runc's `specconv.Example()` (and `ToRootless()` for
//! `--rootless`), hostname `runc` included; only `ociVersion` differs (the runtime-spec version
//! berth implements). Tools diff the two, and a config that differs by default surprises.
//!
//! `--hardened` applies berth's stricter starter on top:
//! - no inheritable and no ambient capabilities (CVE-2022-29162: a non-empty inheritable set
//!   lets file capabilities of an exec'd binary through; runc 1.1.2 dropped inheritable);
//! - a cgroup namespace, as runc 1.2 adds;
//! - `/sys/devices/virtual/powercap` masked as well (CVE-2020-8694, power side channel), as
//!   Docker and containerd mask it;
//! - berth's default seccomp profile (Docker's allowlist).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;

use anyhow::Context;
use oci_spec::runtime::Spec;
use serde::Serialize;
use serde_json::{json, Value};

/// The runtime-spec version the generated config claims: the newest berth fully implements
/// (every field of it applied or refused naming it: docs/config-coverage.md), the one
/// `--version` and `features` (`ociVersionMax`) state.
const OCI_VERSION: &str = berth_runtime::bundle::SUPPORTED_OCI_VERSION;

/// The three capabilities runc's example grants (in bounding, effective and permitted only).
const DEFAULT_CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// The starter spec `berth spec` writes; `rootless` applies runc's `ToRootless` changes for the
/// calling user (its euid/egid mapped to 0 in a new user namespace), `hardened` berth's
/// stricter defaults (module doc).
pub fn default_spec(rootless: bool, hardened: bool) -> Spec {
    let mut doc = example();
    if hardened {
        doc = harden(doc);
    }
    if rootless {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        doc = to_rootless(doc, uid, gid);
    }
    serde_json::from_value(doc).expect("the built-in default spec is a valid runtime spec")
}

/// Write the default spec as `<bundle>/config.json` (pretty, tab-indented like runc), refusing
/// to overwrite an existing one.
pub fn write_spec(bundle: &Path, rootless: bool, hardened: bool) -> anyhow::Result<()> {
    let path = bundle.join("config.json");
    let text = render(&default_spec(rootless, hardened))?;
    // O_EXCL, so a config.json appearing meanwhile is not clobbered either.
    let mut file = match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            anyhow::bail!("File config.json exists. Remove it first")
        }
        Err(e) => return Err(e).with_context(|| format!("create {}", path.display())),
    };
    file.write_all(text.as_bytes())
        .with_context(|| format!("write {}", path.display()))
}

/// Pretty JSON with tabs, fields in the spec's own order (as runc writes them). oci-spec keeps
/// capabilities in hash sets, whose order changes from run to run, so they are sorted here to
/// make the file deterministic.
fn render(spec: &Spec) -> anyhow::Result<String> {
    let text = serde_json::to_string(spec).context("encode the default spec")?;
    let mut doc: ordered::Node = serde_json::from_str(&text).context("encode the default spec")?;
    if let Some(ordered::Node::Object(sets)) = doc
        .get_mut("process")
        .and_then(|p| p.get_mut("capabilities"))
    {
        for (_, set) in sets.iter_mut() {
            set.sort_strings();
        }
    }
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    doc.serialize(&mut ser).context("encode the default spec")?;
    out.push(b'\n');
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// A JSON tree that keeps object keys in document order (`serde_json::Value` sorts them unless
/// its `preserve_order` feature is on, which would change it for the whole workspace).
mod ordered {
    use std::fmt;

    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::ser::{Serialize, SerializeMap, Serializer};
    use serde_json::Value;

    pub enum Node {
        Scalar(Value),
        Array(Vec<Node>),
        Object(Vec<(String, Node)>),
    }

    impl Node {
        pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
            match self {
                Node::Object(fields) => fields.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        /// Sort an array of strings in place (anything else is left alone).
        pub fn sort_strings(&mut self) {
            if let Node::Array(items) = self {
                items.sort_by(|a, b| match (a, b) {
                    (Node::Scalar(a), Node::Scalar(b)) => a.as_str().cmp(&b.as_str()),
                    _ => std::cmp::Ordering::Equal,
                });
            }
        }
    }

    impl Serialize for Node {
        fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
            match self {
                Node::Scalar(v) => v.serialize(ser),
                Node::Array(items) => ser.collect_seq(items),
                Node::Object(fields) => {
                    let mut map = ser.serialize_map(Some(fields.len()))?;
                    for (k, v) in fields {
                        map.serialize_entry(k, v)?;
                    }
                    map.end()
                }
            }
        }
    }

    struct NodeVisitor;

    impl<'de> Visitor<'de> for NodeVisitor {
        type Value = Node;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
            Ok(Node::Scalar(v.into()))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
            Ok(Node::Scalar(v.into()))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
            Ok(Node::Scalar(v.into()))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
            Ok(Node::Scalar(v.into()))
        }
        fn visit_str<E>(self, v: &str) -> Result<Node, E> {
            Ok(Node::Scalar(v.into()))
        }
        fn visit_unit<E>(self) -> Result<Node, E> {
            Ok(Node::Scalar(Value::Null))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(Node::Array(items))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
            let mut fields = Vec::new();
            while let Some(entry) = map.next_entry::<String, Node>()? {
                fields.push(entry);
            }
            Ok(Node::Object(fields))
        }
    }

    impl<'de> Deserialize<'de> for Node {
        fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Node, D::Error> {
            de.deserialize_any(NodeVisitor)
        }
    }
}

/// runc's `specconv.Example()` (runc 1.1.5 `runc spec`), but for `ociVersion`.
fn example() -> Value {
    json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS,
                "ambient": DEFAULT_CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"},
                {"type": "network"},
                {"type": "ipc"},
                {"type": "uts"},
                {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]
        }
    })
}

/// `--hardened`: the differences listed in the module doc.
fn harden(mut doc: Value) -> Value {
    if let Some(caps) = doc["process"]["capabilities"].as_object_mut() {
        caps.remove("ambient");
        caps.remove("inheritable");
    }
    let linux = &mut doc["linux"];
    if let Some(namespaces) = linux["namespaces"].as_array_mut() {
        namespaces.push(json!({"type": "cgroup"}));
    }
    if let Some(masked) = linux["maskedPaths"].as_array_mut() {
        let at = masked.len() - 1; // before /proc/scsi, as Docker lists it
        masked.insert(at, json!("/sys/devices/virtual/powercap"));
    }
    linux["seccomp"] = berth_runtime::seccomp::default_profile();
    doc
}

/// runc's `specconv.ToRootless()`: an unprivileged user can create a user namespace but not a
/// network namespace worth having, mount sysfs, use gid 5 for devpts, or write device cgroups.
fn to_rootless(mut doc: Value, uid: u32, gid: u32) -> Value {
    let linux = &mut doc["linux"];
    // Its own user namespace, with the caller mapped to root inside.
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(namespaces) = linux["namespaces"].as_array_mut() {
        // Without a network namespace of its own nobody may mount sysfs (sysfs(5) ties it to the
        // netns owner), and a fresh one would have no connectivity anyway.
        namespaces.retain(|ns| ns["type"] != "network" && ns["type"] != "user");
        namespaces.push(json!({"type": "user"}));
    }
    // Device cgroups cannot be managed without privileges.
    if let Some(linux) = linux.as_object_mut() {
        linux.remove("resources");
    }
    if let Some(mounts) = doc["mounts"].as_array_mut() {
        for mount in mounts.iter_mut() {
            match mount["destination"].as_str() {
                // gid 5 (tty) is not mapped in the user namespace.
                Some("/dev/pts") => {
                    if let Some(options) = mount["options"].as_array_mut() {
                        options.retain(|o| o != "gid=5");
                    }
                }
                // Bind the host's /sys instead of mounting sysfs (see the netns comment above).
                Some("/sys") => {
                    *mount = json!({
                        "destination": "/sys", "type": "none", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
                    });
                }
                _ => {}
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, LinuxNamespaceType};

    fn namespaces(spec: &Spec) -> Vec<LinuxNamespaceType> {
        let linux = spec.linux().as_ref().unwrap();
        linux
            .namespaces()
            .as_ref()
            .unwrap()
            .iter()
            .map(|n| n.typ())
            .collect()
    }

    #[test]
    fn default_process_matches_runc_example() {
        let spec = default_spec(false, false);
        assert_eq!(spec.version(), OCI_VERSION);
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.terminal(), Some(true));
        assert_eq!(p.args().as_ref().unwrap(), &["sh"]);
        assert_eq!(p.env().as_ref().unwrap().len(), 2);
        assert_eq!(p.env().as_ref().unwrap()[1], "TERM=xterm");
        assert_eq!(p.cwd(), Path::new("/"));
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        assert_eq!(p.no_new_privileges(), Some(true));
        let rl = &p.rlimits().as_ref().unwrap()[0];
        assert_eq!((rl.soft(), rl.hard()), (1024, 1024));

        let caps = p.capabilities().as_ref().unwrap();
        let three: std::collections::HashSet<Capability> = [
            Capability::AuditWrite,
            Capability::Kill,
            Capability::NetBindService,
        ]
        .into();
        assert_eq!(caps.bounding().as_ref(), Some(&three));
        assert_eq!(caps.effective().as_ref(), Some(&three));
        assert_eq!(caps.permitted().as_ref(), Some(&three));
        assert_eq!(caps.ambient().as_ref(), Some(&three));
        assert_eq!(caps.inheritable(), &None);

        let root = spec.root().as_ref().unwrap();
        assert_eq!(root.path(), Path::new("rootfs"));
        assert_eq!(root.readonly(), Some(true));
        assert_eq!(spec.hostname().as_deref(), Some("runc"));
        assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
    }

    #[test]
    fn hardened_drops_ambient_adds_cgroupns_powercap_and_seccomp() {
        let spec = default_spec(false, true);
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .clone()
            .unwrap();
        // CVE-2022-29162.
        assert_eq!(caps.inheritable(), &None);
        assert_eq!(caps.ambient(), &None);
        use LinuxNamespaceType::*;
        assert_eq!(namespaces(&spec), [Pid, Network, Ipc, Uts, Mount, Cgroup]);
        let linux = spec.linux().as_ref().unwrap();
        let masked = linux.masked_paths().as_ref().unwrap();
        assert_eq!(masked[masked.len() - 2], "/sys/devices/virtual/powercap");
        assert!(linux.seccomp().is_some());
        let rootless = default_spec(true, true);
        assert_eq!(namespaces(&rootless), [Pid, Ipc, Uts, Mount, Cgroup, User]);
    }

    #[test]
    fn default_linux_section_matches_runc_example() {
        let spec = default_spec(false, false);
        use LinuxNamespaceType::*;
        assert_eq!(namespaces(&spec), [Pid, Network, Ipc, Uts, Mount]);
        let linux = spec.linux().as_ref().unwrap();
        let devices = linux
            .resources()
            .as_ref()
            .unwrap()
            .devices()
            .as_ref()
            .unwrap();
        assert_eq!(devices.len(), 1);
        assert!(!devices[0].allow());
        assert_eq!(devices[0].access().as_deref(), Some("rwm"));
        assert!(linux.uid_mappings().is_none());
        let masked = linux.masked_paths().as_ref().unwrap();
        assert!(masked.iter().any(|p| p == "/proc/kcore"));
        assert_eq!(masked.len(), 10);
        assert_eq!(linux.readonly_paths().as_ref().unwrap().len(), 5);

        let dests: Vec<_> = spec
            .mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            dests,
            [
                "/proc",
                "/dev",
                "/dev/pts",
                "/dev/shm",
                "/dev/mqueue",
                "/sys",
                "/sys/fs/cgroup"
            ]
        );
    }

    #[test]
    fn rootless_follows_runc_to_rootless() {
        let spec = default_spec(true, false);
        use LinuxNamespaceType::*;
        assert_eq!(namespaces(&spec), [Pid, Ipc, Uts, Mount, User]);
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.resources().is_none());
        let uid = &linux.uid_mappings().as_ref().unwrap()[0];
        assert_eq!(uid.host_id(), nix::unistd::geteuid().as_raw());
        assert_eq!((uid.container_id(), uid.size()), (0, 1));
        let gid = &linux.gid_mappings().as_ref().unwrap()[0];
        assert_eq!(gid.host_id(), nix::unistd::getegid().as_raw());

        let mounts = spec.mounts().as_ref().unwrap();
        let pts = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/dev/pts"));
        let pts_opts = pts.unwrap().options().as_ref().unwrap();
        assert!(!pts_opts.iter().any(|o| o == "gid=5"));
        let sys = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/sys"))
            .unwrap();
        assert_eq!(sys.typ().as_deref(), Some("none"));
        assert_eq!(sys.source().as_deref(), Some(Path::new("/sys")));
        assert_eq!(sys.options().as_ref().unwrap()[0], "rbind");
    }

    #[test]
    fn to_rootless_maps_the_given_ids() {
        let doc = to_rootless(example(), 1000, 1001);
        assert_eq!(doc["linux"]["uidMappings"][0]["hostID"], 1000);
        assert_eq!(doc["linux"]["gidMappings"][0]["hostID"], 1001);
    }

    #[test]
    fn write_spec_writes_pretty_deterministic_json_once() {
        let dir = tempfile::tempdir().unwrap();
        write_spec(dir.path(), false, false).unwrap();
        let path = dir.path().join("config.json");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("{\n\t\"ociVersion\": \"1.3.0\",\n\t\"root\": {"),
            "{text}"
        );
        // Deterministic: a second rendering is byte-identical.
        assert_eq!(render(&default_spec(false, false)).unwrap(), text);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["process"]["capabilities"]["bounding"],
            json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
        );
        assert_eq!(
            v["process"]["capabilities"]["ambient"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(v["hostname"], "runc");
        // The written file parses back into the same spec.
        let back: Spec = serde_json::from_value(v).unwrap();
        assert_eq!(back, default_spec(false, false));

        let err = write_spec(dir.path(), false, false).unwrap_err();
        assert_eq!(err.to_string(), "File config.json exists. Remove it first");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn write_spec_into_missing_bundle_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_spec(&dir.path().join("nope"), false, false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("create {}/nope/config.json", dir.path().display())
        );
    }
}
