//! Seccomp: `linux.seccomp` validated ([`profile`]), compiled to classic BPF with seccompiler
//! plus berth's own ABI dispatch and action rewriting ([`compile`]), loaded in the container
//! init, and the user-notification fd handed to `listenerPath` ([`notify`], runc's
//! seccomp-agent protocol). [`sys`] holds the only `unsafe` (the seccomp(2) call).
//!
//! The plan is built in `bundle::Plan::new`, so a malformed profile or a filter too large for
//! the kernel is rejected before anything is created. Where in the init the filter is loaded,
//! and why, is in `process/init.rs` and docs/security.md.

// The compiler emits an x86 filter: its ABI dispatch checks AUDIT_ARCH_X86_64 / AUDIT_ARCH_I386
// and the x32 bit, and its syscall tables (`table.rs`) are x86_64, i386 and x32 numbers. Built
// for another architecture, every filter would send the native ABI down the bad-ABI path, so
// the build is refused rather than producing a runtime whose seccomp is wrong (issue #14).
#[cfg(not(target_arch = "x86_64"))]
compile_error!(
    "berth's seccomp compiler (crates/berth-runtime/src/seccomp/) handles x86_64 (with its i386 \
     and x32 ABIs) only: this target architecture needs its own syscall table and ABI dispatch"
);

#[cfg(test)]
mod abi_tests;
mod compile;
mod default_profile;
mod multiplex;
mod notify;
mod profile;
mod sys;
mod table;
#[cfg(test)]
mod tests;

use std::os::fd::OwnedFd;
use std::path::PathBuf;

pub use compile::{arg_bits, syscall_number, BAD_ABI_ACTION};
pub use default_profile::default_profile;
pub use notify::{Listener, ListenerState};
pub use profile::{Abi, Action, Cond, Op, Profile, Rule};

/// A `linux.seccomp` section that cannot be used, or a filter that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("config.json: linux.seccomp: malformed")]
    Malformed(#[source] serde_json::Error),
    #[error("config.json: linux.seccomp.defaultAction: missing")]
    MissingDefaultAction,
    #[error("config.json: {field}: unknown action {action:?}")]
    UnknownAction { field: String, action: String },
    #[error("config.json: {field}.op: unknown operator {op:?}")]
    UnknownOperator { field: String, op: String },
    #[error("config.json: {field}.index: {index} is out of range (syscall arguments are numbered 0 to 5)")]
    ArgIndex { field: String, index: u32 },
    #[error("config.json: {field}.names: empty syscall name")]
    EmptyName { field: String },
    #[error("config.json: {field}.names: must list at least one syscall")]
    NoNames { field: String },
    #[error("config.json: linux.seccomp.architectures: unknown architecture {0:?}")]
    UnknownArch(String),
    #[error("config.json: linux.seccomp.flags: unknown flag {0:?}")]
    UnknownFlag(String),
    #[error("config.json: linux.seccomp.listenerPath: required when an action is SCMP_ACT_NOTIFY")]
    NotifyWithoutListener,
    #[error(
        "config.json: linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action"
    )]
    DefaultNotify,
    #[error("config.json: {field}: SCMP_ACT_NOTIFY cannot be used for write (the runtime writes after loading the filter, before the agent can answer)")]
    NotifyWrite { field: String },
    #[error("config.json: {field}: value {value:#x} for argument {index} of {syscall}: the kernel reads that argument as {bits} bits, and no {bits}-bit value is {value:#x} (a {bits}-bit value has its upper bits all zero or a sign extension)")]
    ArgTooWide {
        field: String,
        value: u64,
        syscall: String,
        index: u8,
        bits: u8,
    },
    #[error("compile the seccomp filter")]
    Compile(#[source] seccompiler::BackendError),
    #[error("compile the seccomp filter: unexpected seccompiler output ({0})")]
    UnexpectedBpf(String),
    #[error("compile the seccomp filter: {0} instructions exceed the kernel's limit of 4096")]
    TooLarge(usize),
    #[error("load the seccomp filter ({len} instructions, flags {flags:#x})")]
    Load {
        len: usize,
        flags: libc::c_ulong,
        #[source]
        source: nix::Error,
    },
    #[error("connect to the seccomp listener {path}")]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("send the seccomp notify fd to the listener {path}")]
    Send {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

/// The `linux.seccomp` part of `berth features` (features-linux.md).
pub fn features() -> serde_json::Value {
    serde_json::json!({
        "enabled": true,
        "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                    "SCMP_ACT_TRAP"],
        "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                      "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
        "archs": ["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
        "knownFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                       "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                           "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    })
}

/// A validated and compiled profile, ready to load.
#[derive(Clone)]
pub struct SeccompPlan {
    pub profile: Profile,
    program: Vec<libc::sock_filter>,
}

impl std::fmt::Debug for SeccompPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeccompPlan")
            .field("profile", &self.profile)
            .field("instructions", &self.program.len())
            .finish()
    }
}

impl SeccompPlan {
    /// Validates and compiles `linux.seccomp` of a whole config (as JSON); `None` without one.
    pub fn from_config(config: &serde_json::Value) -> Result<Option<SeccompPlan>, SeccompError> {
        let Some(section) = config.pointer("/linux/seccomp").filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let profile = profile::parse(section)?;
        let program = compile::compile(&profile)?;
        Ok(Some(SeccompPlan { profile, program }))
    }

    /// The compiled program.
    pub fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }

    /// The flags seccomp(2) is called with.
    pub fn load_flags(&self) -> libc::c_ulong {
        let mut flags = self.profile.flags;
        if self.profile.notifies() {
            flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
            // TSYNC and NEW_LISTENER both use the return value; the init is single-threaded,
            // so TSYNC has nothing to synchronize anyway.
            flags &= !libc::SECCOMP_FILTER_FLAG_TSYNC;
        } else {
            // WAIT_KILLABLE_RECV only means something with a listener.
            flags &= !(1 << 5);
        }
        flags
    }
}

/// Loads the filter into the calling process. Returns the notify fd when the profile uses
/// SCMP_ACT_NOTIFY.
///
/// Needs no_new_privs or CAP_SYS_ADMIN in the current user namespace (seccomp(2)); the init
/// orders its steps so one of them holds.
pub fn load(plan: &SeccompPlan) -> Result<Option<OwnedFd>, SeccompError> {
    let flags = plan.load_flags();
    sys::set_mode_filter(flags, &plan.program).map_err(|source| SeccompError::Load {
        len: plan.program.len(),
        flags,
        source,
    })
}

/// The init's seccomp step: load the filter and, for SCMP_ACT_NOTIFY, send the notify fd to
/// the listener connected earlier (before pivot_root, while its path was reachable).
pub fn apply(plan: Option<&SeccompPlan>, listener: Option<Listener>) -> Result<(), SeccompError> {
    let Some(plan) = plan else { return Ok(()) };
    let fd = load(plan)?;
    if let (Some(fd), Some(listener)) = (fd, listener) {
        listener.send(&fd)?;
    }
    Ok(())
}
