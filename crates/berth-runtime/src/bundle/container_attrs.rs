//! `linux.personality` and `linux.memoryPolicy`: what every process of the container gets
//! (the init, and `berth exec`'s processes from the config saved at create), validated into
//! the values personality(2) and set_mempolicy(2) take (applied by process/attrs.rs).

use oci_spec::runtime::{
    LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain, MemoryPolicyFlagType,
    MemoryPolicyModeType,
};

use super::sched::{parse_list, IdList};
use super::BundleError;

/// The NUMA nodes a node mask can name (MAX_NUMNODES is at most 1 << 10).
pub const MAX_NODES: usize = 1024;

/// The `linux.memoryPolicy` modes berth applies: all of config-linux.md's (`berth features`
/// lists them).
pub const MEMORY_POLICY_MODES: &[&str] = &[
    "MPOL_DEFAULT",
    "MPOL_BIND",
    "MPOL_INTERLEAVE",
    "MPOL_WEIGHTED_INTERLEAVE",
    "MPOL_PREFERRED",
    "MPOL_PREFERRED_MANY",
    "MPOL_LOCAL",
];

/// The `linux.memoryPolicy` flags berth applies: all of config-linux.md's.
pub const MEMORY_POLICY_FLAGS: &[&str] = &[
    "MPOL_F_NUMA_BALANCING",
    "MPOL_F_RELATIVE_NODES",
    "MPOL_F_STATIC_NODES",
];

/// `linux.memoryPolicy` as set_mempolicy(2) takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryPolicy {
    /// The config's spelling of the mode, for errors.
    pub mode_name: &'static str,
    /// The mode with its mode flags or'ed in.
    pub mode: i32,
    pub nodes: Option<IdList>,
}

/// The execution domain and memory policy of the container's processes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerAttrs {
    /// personality(2)'s argument: `PER_LINUX` (0) or `PER_LINUX32` (8).
    pub personality: Option<u64>,
    pub memory_policy: Option<MemoryPolicy>,
}

impl ContainerAttrs {
    pub fn from_linux(linux: &oci_spec::runtime::Linux) -> Result<ContainerAttrs, BundleError> {
        Ok(ContainerAttrs {
            personality: linux.personality().as_ref().map(personality).transpose()?,
            memory_policy: linux
                .memory_policy()
                .as_ref()
                .map(memory_policy)
                .transpose()?,
        })
    }

    /// From the `linux` part of the config saved at create (`berth exec`).
    pub fn from_saved(linux: Option<&serde_json::Value>) -> Result<ContainerAttrs, BundleError> {
        let field = |name: &str| {
            linux
                .and_then(|l| l.get(name))
                .filter(|v| !v.is_null())
                .cloned()
        };
        let parse_err = |field: &'static str| {
            move |e: serde_json::Error| BundleError::Invalid {
                field,
                reason: format!("in the saved config: {e}"),
            }
        };
        let personality = field("personality")
            .map(serde_json::from_value::<LinuxPersonality>)
            .transpose()
            .map_err(parse_err("linux.personality"))?;
        let policy = field("memoryPolicy")
            .map(serde_json::from_value::<LinuxMemoryPolicy>)
            .transpose()
            .map_err(parse_err("linux.memoryPolicy"))?;
        Ok(ContainerAttrs {
            personality: personality.as_ref().map(self::personality).transpose()?,
            memory_policy: policy.as_ref().map(memory_policy).transpose()?,
        })
    }
}

fn personality(p: &LinuxPersonality) -> Result<u64, BundleError> {
    if let Some(flag) = p.flags().iter().flatten().next() {
        // config-linux.md "Personality": "Currently no flag values are supported."
        return Err(BundleError::Invalid {
            field: "linux.personality.flags",
            reason: format!("{flag:?}: the runtime-spec defines no personality flags"),
        });
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    })
}

fn memory_policy(p: &LinuxMemoryPolicy) -> Result<MemoryPolicy, BundleError> {
    // include/uapi/linux/mempolicy.h.
    let (mode_name, mode) = match p.mode() {
        MemoryPolicyModeType::MpolDefault => ("MPOL_DEFAULT", 0),
        MemoryPolicyModeType::MpolPreferred => ("MPOL_PREFERRED", 1),
        MemoryPolicyModeType::MpolBind => ("MPOL_BIND", 2),
        MemoryPolicyModeType::MpolInterleave => ("MPOL_INTERLEAVE", 3),
        MemoryPolicyModeType::MpolLocal => ("MPOL_LOCAL", 4),
        MemoryPolicyModeType::MpolPreferredMany => ("MPOL_PREFERRED_MANY", 5),
        MemoryPolicyModeType::MpolWeightedInterleave => ("MPOL_WEIGHTED_INTERLEAVE", 6),
    };
    let nodes = p
        .nodes()
        .as_deref()
        .filter(|n| !n.is_empty())
        .map(|n| parse_list("linux.memoryPolicy.nodes", n, MAX_NODES))
        .transpose()?;
    let invalid = |reason: String| BundleError::Invalid {
        field: "linux.memoryPolicy",
        reason,
    };
    // set_mempolicy(2): MPOL_DEFAULT and MPOL_LOCAL take no nodes; BIND, INTERLEAVE,
    // WEIGHTED_INTERLEAVE and PREFERRED_MANY need at least one; PREFERRED takes at most one
    // meaningful node but accepts a mask (the first node is used).
    match (mode, &nodes) {
        (0 | 4, Some(n)) => {
            return Err(invalid(format!(
                "{mode_name} takes no nodes (got {:?})",
                n.text
            )))
        }
        (2 | 3 | 5 | 6, None) => return Err(invalid(format!("{mode_name} needs nodes"))),
        _ => {}
    }
    let mut flags = 0;
    for f in p.flags().iter().flatten() {
        flags |= match f {
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
        };
    }
    if flags & (3 << 14) == 3 << 14 {
        return Err(invalid(
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other".into(),
        ));
    }
    if flags & (3 << 14) != 0 && nodes.is_none() {
        return Err(invalid(format!(
            "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES need nodes, {mode_name} has none"
        )));
    }
    if flags & (1 << 13) != 0 && !matches!(mode, 2 | 5) {
        return Err(invalid(format!(
            "MPOL_F_NUMA_BALANCING applies to MPOL_BIND and MPOL_PREFERRED_MANY only, not {mode_name}"
        )));
    }
    Ok(MemoryPolicy {
        mode_name,
        mode: mode | flags,
        nodes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(json: &str) -> Result<ContainerAttrs, BundleError> {
        ContainerAttrs::from_linux(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn personality_domain_becomes_the_persona() {
        let a = linux(r#"{"personality":{"domain":"LINUX32"}}"#).unwrap();
        assert_eq!(a.personality, Some(8));
        let e = linux(r#"{"personality":{"domain":"LINUX","flags":["ADDR_NO_RANDOMIZE"]}}"#)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.json: linux.personality.flags: \"ADDR_NO_RANDOMIZE\": the runtime-spec defines no personality flags"
        );
    }

    #[test]
    fn memory_policy_mode_flags_and_nodes() {
        let a = linux(
            r#"{"memoryPolicy":{"mode":"MPOL_BIND","nodes":"0","flags":["MPOL_F_STATIC_NODES"]}}"#,
        )
        .unwrap();
        let p = a.memory_policy.unwrap();
        assert_eq!((p.mode, p.nodes.unwrap().ids), (2 | 1 << 15, vec![0]));
        for (json, expect) in [
            (r#"{"mode":"MPOL_BIND"}"#, "MPOL_BIND needs nodes"),
            (r#"{"mode":"MPOL_LOCAL","nodes":"0"}"#, "MPOL_LOCAL takes no nodes (got \"0\")"),
            (
                r#"{"mode":"MPOL_INTERLEAVE","nodes":"0","flags":["MPOL_F_STATIC_NODES","MPOL_F_RELATIVE_NODES"]}"#,
                "MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other",
            ),
            (
                r#"{"mode":"MPOL_INTERLEAVE","nodes":"0","flags":["MPOL_F_NUMA_BALANCING"]}"#,
                "MPOL_F_NUMA_BALANCING applies to MPOL_BIND and MPOL_PREFERRED_MANY only, not MPOL_INTERLEAVE",
            ),
        ] {
            let e = linux(&format!(r#"{{"memoryPolicy":{json}}}"#)).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("config.json: linux.memoryPolicy: {expect}")
            );
        }
    }

    /// What `berth features` lists is what the plan accepts, each under its own name.
    #[test]
    fn every_listed_mode_and_flag_is_accepted() {
        for mode in MEMORY_POLICY_MODES {
            let nodes = if matches!(*mode, "MPOL_DEFAULT" | "MPOL_LOCAL") {
                ""
            } else {
                r#","nodes":"0""#
            };
            let a = linux(&format!(r#"{{"memoryPolicy":{{"mode":"{mode}"{nodes}}}}}"#)).unwrap();
            assert_eq!(a.memory_policy.unwrap().mode_name, *mode);
        }
        for flag in MEMORY_POLICY_FLAGS {
            linux(&format!(
                r#"{{"memoryPolicy":{{"mode":"MPOL_BIND","nodes":"0","flags":["{flag}"]}}}}"#
            ))
            .unwrap();
        }
    }

    #[test]
    fn saved_config_gives_the_same_attrs() {
        let saved = serde_json::json!({"personality": {"domain": "LINUX32"},
            "memoryPolicy": {"mode": "MPOL_PREFERRED", "nodes": "0"}});
        let a = ContainerAttrs::from_saved(Some(&saved)).unwrap();
        assert_eq!(a.personality, Some(8));
        assert_eq!(a.memory_policy.unwrap().mode, 1);
        assert_eq!(
            ContainerAttrs::from_saved(None).unwrap(),
            ContainerAttrs::default()
        );
    }
}
