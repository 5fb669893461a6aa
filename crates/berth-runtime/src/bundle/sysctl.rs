//! `linux.sysctl`: each key must belong to a namespace the container has its own copy of, as
//! runc checks (config-linux.md "Sysctl"); otherwise writing it would change the host. A joined
//! namespace counts when it is not berth's own (runc writes into joined namespaces; podman pods
//! and Kubernetes send sysctls with a joined network namespace). `kernel.hostname` is refused
//! as runc refuses it: the `hostname` field sets it.

use oci_spec::runtime::Linux;

use super::namespaces::{NamespaceKind, Namespaces};
use super::BundleError;

/// IPC-namespaced sysctls outside `fs.mqueue.*` (ipc_sysctls in the kernel).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Returns the sysctls sorted by key, or an error naming the first key the container's
/// namespaces do not isolate.
pub fn validate(linux: &Linux, ns: &Namespaces) -> Result<Vec<(String, String)>, BundleError> {
    let mut out: Vec<(String, String)> = linux
        .sysctl()
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.sort();
    for (key, _) in &out {
        if key.replace('/', ".") == "kernel.hostname" {
            // runc's message, word for word.
            return Err(BundleError::invalid(
                "linux.sysctl",
                format!(
                    "sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
                ),
            ));
        }
        let needed = namespace_of(key).ok_or_else(|| {
            BundleError::invalid(
                "linux.sysctl",
                format!("{key:?} is not in a separate kernel namespace"),
            )
        })?;
        if key.split(['.', '/']).any(|c| c.is_empty() || c == "..") {
            return Err(BundleError::invalid(
                "linux.sysctl",
                format!("{key:?} is not a valid sysctl name"),
            ));
        }
        if !ns.isolates(needed) {
            return Err(BundleError::invalid(
                "linux.sysctl",
                format!(
                    "{key:?} needs a {} namespace of the container's own in linux.namespaces (new, or joined and not the runtime's)",
                    needed.name()
                ),
            ));
        }
    }
    Ok(out)
}

fn namespace_of(key: &str) -> Option<NamespaceKind> {
    let key = key.replace('/', ".");
    if IPC_SYSCTLS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
        Some(NamespaceKind::Ipc)
    } else if key.starts_with("net.") {
        Some(NamespaceKind::Net)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(NamespaceKind::Uts)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ns: &str, sysctl: &str) -> Result<Vec<(String, String)>, BundleError> {
        let linux: Linux =
            serde_json::from_str(&format!(r#"{{"namespaces":{ns},"sysctl":{sysctl}}}"#)).unwrap();
        validate(&linux, &Namespaces::from_spec(&linux).unwrap())
    }

    #[test]
    fn net_sysctl_needs_a_network_namespace() {
        let err = check(r#"[{"type":"ipc"}]"#, r#"{"net.ipv4.ip_forward":"1"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: linux.sysctl: \"net.ipv4.ip_forward\" needs a net namespace of the container's own in linux.namespaces (new, or joined and not the runtime's)"
        );
        assert!(check(r#"[{"type":"network"}]"#, r#"{"net.ipv4.ip_forward":"1"}"#).is_ok());
    }

    #[test]
    fn ipc_and_uts_sysctls_map_to_their_namespaces() {
        assert!(check(
            r#"[{"type":"ipc"}]"#,
            r#"{"kernel.msgmax":"1","fs.mqueue.msg_max":"2"}"#
        )
        .is_ok());
        assert!(check(r#"[{"type":"uts"}]"#, r#"{"kernel.domainname":"x"}"#).is_ok());
    }

    #[test]
    fn joined_namespace_counts_unless_it_is_the_runtimes_own() {
        let own = r#"[{"type":"network","path":"/proc/self/ns/net"}]"#;
        let err = check(own, r#"{"net.ipv4.ip_forward":"1"}"#).unwrap_err();
        assert!(err.to_string().contains("not the runtime's"), "{err}");
    }

    #[test]
    fn kernel_hostname_is_refused_as_runc_does() {
        let err = check(r#"[{"type":"uts"}]"#, r#"{"kernel.hostname":"x"}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: linux.sysctl: sysctl \"kernel.hostname\" is not allowed as it conflicts with the OCI \"hostname\" field"
        );
    }

    #[test]
    fn host_wide_sysctl_is_rejected() {
        let err = check(r#"[{"type":"ipc"}]"#, r#"{"vm.swappiness":"1"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("not in a separate kernel namespace"),
            "{err}"
        );
    }
}
