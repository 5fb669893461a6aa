//! The process's scheduling attributes, I/O priority, NUMA memory policy, execution domain and
//! CPU affinity: one syscall each (sys.rs), from the values the plan validated
//! (bundle/sched.rs, bundle/container_attrs.rs). Called from the final steps, as root, for
//! the init and `berth exec`'s processes alike; the exec-only CPU affinity also from
//! exec_stage.rs.

use crate::bundle::{ContainerAttrs, IdList, ProcessPlan};
use crate::sys;

#[derive(Debug, thiserror::Error)]
pub enum AttrsError {
    #[error("process.scheduler: set the scheduling policy {policy} (nice {nice}, priority {priority}) with sched_setattr")]
    Scheduler {
        policy: &'static str,
        nice: i32,
        priority: u32,
        #[source]
        source: nix::Error,
    },
    #[error("process.ioPriority: set the I/O priority {class} level {level} with ioprio_set")]
    IoPriority {
        class: &'static str,
        level: u16,
        #[source]
        source: nix::Error,
    },
    #[error(
        "linux.memoryPolicy: set the memory policy {mode} (nodes {nodes:?}) with set_mempolicy"
    )]
    MemoryPolicy {
        mode: &'static str,
        nodes: String,
        #[source]
        source: nix::Error,
    },
    #[error("linux.personality: set the execution domain {persona:#x} with personality")]
    Personality {
        persona: u64,
        #[source]
        source: nix::Error,
    },
    #[error(
        "process.execCPUAffinity.{which}: set the CPU affinity to {cpus:?} with sched_setaffinity"
    )]
    Affinity {
        which: &'static str,
        cpus: String,
        #[source]
        source: nix::Error,
    },
}

/// Scheduler and I/O priority of `process`, then the container's memory policy and execution
/// domain. Run as root with every capability: a real-time policy, a lower nice value and the
/// real-time I/O class need CAP_SYS_NICE or CAP_SYS_ADMIN (sched(7), ioprio_set(2)).
pub(super) fn apply(process: &ProcessPlan, container: &ContainerAttrs) -> Result<(), AttrsError> {
    if let Some(s) = &process.scheduler {
        sys::sched_setattr(s).map_err(|source| AttrsError::Scheduler {
            policy: s.policy_name,
            nice: s.nice,
            priority: s.priority,
            source,
        })?;
    }
    if let Some(p) = &process.io_priority {
        sys::ioprio_set(p.value()).map_err(|source| AttrsError::IoPriority {
            class: p.class_name,
            level: p.level,
            source,
        })?;
    }
    if let Some(m) = &container.memory_policy {
        let nodes = m.nodes.as_ref().map(|n| n.ids.as_slice()).unwrap_or(&[]);
        sys::set_mempolicy(m.mode, nodes).map_err(|source| AttrsError::MemoryPolicy {
            mode: m.mode_name,
            nodes: m.nodes.as_ref().map(|n| n.text.clone()).unwrap_or_default(),
            source,
        })?;
    }
    if let Some(persona) = container.personality {
        // Takes effect for the program at execve; nothing berth runs after depends on it.
        sys::set_personality(persona)
            .map_err(|source| AttrsError::Personality { persona, source })?;
    }
    Ok(())
}

/// sched_setaffinity of the calling thread to `cpus` (`which`: `initial` or `final`, for
/// the error).
pub(super) fn set_cpus(which: &'static str, cpus: &IdList) -> Result<(), AttrsError> {
    sys::set_affinity(&sys::cpu_set(&cpus.ids)).map_err(|source| AttrsError::Affinity {
        which,
        cpus: cpus.text.clone(),
        source,
    })
}
