//! `linux.seccomp` read from the raw JSON and validated into a [`Profile`].
//!
//! The section is parsed from the untyped JSON rather than through oci-spec's enums so that an
//! unknown action, operator, architecture or flag is reported by name and position
//! (`linux.seccomp.syscalls[2].action: unknown action "SCMP_ACT_FOO"`) instead of as a serde
//! "unknown variant" error.

use serde::Deserialize;

use super::SeccompError;

/// What the kernel does with a matching syscall (config-linux.md "Seccomp", libseccomp names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    // Declared from the highest precedence to the lowest (seccomp(2) "Filter return
    // values"): the compiler tries rules in this order.
    KillProcess,
    KillThread,
    Trap,
    Errno(u16),
    Notify,
    Trace(u16),
    Log,
    Allow,
}

impl Action {
    /// The filter's return value (SECCOMP_RET_* | data).
    pub fn ret(self) -> u32 {
        match self {
            Action::KillProcess => libc::SECCOMP_RET_KILL_PROCESS,
            Action::KillThread => libc::SECCOMP_RET_KILL_THREAD,
            Action::Trap => libc::SECCOMP_RET_TRAP,
            Action::Errno(e) => libc::SECCOMP_RET_ERRNO | u32::from(e),
            Action::Notify => libc::SECCOMP_RET_USER_NOTIF,
            Action::Trace(d) => libc::SECCOMP_RET_TRACE | u32::from(d),
            Action::Log => libc::SECCOMP_RET_LOG,
            Action::Allow => libc::SECCOMP_RET_ALLOW,
        }
    }

    /// `errnoRet` applies to ERRNO and TRACE; both default to EPERM as in runc.
    fn parse(name: &str, errno_ret: Option<u32>, field: &str) -> Result<Action, SeccompError> {
        let data = || errno_ret.unwrap_or(libc::EPERM as u32) as u16;
        Ok(match name {
            "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => Action::KillThread,
            "SCMP_ACT_KILL_PROCESS" => Action::KillProcess,
            "SCMP_ACT_TRAP" => Action::Trap,
            "SCMP_ACT_ERRNO" => Action::Errno(data()),
            "SCMP_ACT_NOTIFY" => Action::Notify,
            "SCMP_ACT_TRACE" => Action::Trace(data()),
            "SCMP_ACT_LOG" => Action::Log,
            "SCMP_ACT_ALLOW" => Action::Allow,
            other => {
                return Err(SeccompError::UnknownAction {
                    field: field.to_string(),
                    action: other.to_string(),
                })
            }
        })
    }
}

/// An argument comparison (libseccomp's `SCMP_CMP_*`), compiled on the bits of the argument
/// the kernel reads (`compile.rs`, `condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `(arg & mask) == value`: OCI's `value` is the mask and `valueTwo` the datum.
    MaskedEq {
        mask: u64,
    },
}

/// One argument condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond {
    pub index: u8,
    pub op: Op,
    pub value: u64,
}

/// The x86 ABIs a filter can cover on an x86_64 kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Abi {
    X86_64,
    X86,
    X32,
}

/// One syscall entry, after validation: names as written (resolved per ABI by the compiler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Where the rule is in the config (`linux.seccomp.syscalls[2]`), for errors.
    pub field: String,
    pub names: Vec<String>,
    pub action: Action,
    /// Alternatives (OR); each alternative is a list of conditions (AND). A single empty
    /// alternative matches unconditionally.
    pub alternatives: Vec<Vec<Cond>>,
}

/// A validated `linux.seccomp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub default_action: Action,
    pub abis: Vec<Abi>,
    /// SECCOMP_FILTER_FLAG_* from `flags` (NEW_LISTENER is added by the loader when needed).
    pub flags: libc::c_ulong,
    pub rules: Vec<Rule>,
    pub listener_path: Option<std::path::PathBuf>,
    pub listener_metadata: String,
}

impl Profile {
    /// Whether any rule (or the default) asks for user notification.
    pub fn notifies(&self) -> bool {
        self.default_action == Action::Notify
            || self.rules.iter().any(|r| r.action == Action::Notify)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSeccomp {
    default_action: Option<String>,
    default_errno_ret: Option<u32>,
    architectures: Option<Vec<String>>,
    flags: Option<Vec<String>>,
    listener_path: Option<String>,
    listener_metadata: Option<String>,
    syscalls: Option<Vec<RawSyscall>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSyscall {
    #[serde(default)]
    names: Vec<String>,
    action: String,
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Vec<RawArg>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArg {
    index: u32,
    value: u64,
    #[serde(default)]
    value_two: u64,
    op: String,
}

/// Validates the JSON value of `linux.seccomp`.
pub fn parse(value: &serde_json::Value) -> Result<Profile, SeccompError> {
    let raw: RawSeccomp = serde_json::from_value(value.clone()).map_err(SeccompError::Malformed)?;
    let default_name = raw.default_action.as_deref().unwrap_or("");
    if default_name.is_empty() {
        return Err(SeccompError::MissingDefaultAction);
    }
    let default_action = Action::parse(
        default_name,
        raw.default_errno_ret,
        "linux.seccomp.defaultAction",
    )?;

    let mut abis = vec![Abi::X86_64]; // the native ABI is always filtered
    for arch in raw.architectures.iter().flatten() {
        match arch_abi(arch)? {
            Some(abi) if !abis.contains(&abi) => abis.push(abi),
            Some(_) => {}
            None => crate::log_debug!(
                "seccomp: architecture {arch} cannot enter an x86_64 kernel; not filtered"
            ),
        }
    }

    let mut flags = 0;
    for flag in raw.flags.iter().flatten() {
        flags |= match flag.as_str() {
            "SECCOMP_FILTER_FLAG_TSYNC" => libc::SECCOMP_FILTER_FLAG_TSYNC,
            "SECCOMP_FILTER_FLAG_LOG" => libc::SECCOMP_FILTER_FLAG_LOG,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => 1 << 5,
            other => return Err(SeccompError::UnknownFlag(other.to_string())),
        };
    }

    let mut rules = Vec::new();
    for (i, sc) in raw.syscalls.iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        if sc.names.is_empty() {
            return Err(SeccompError::NoNames { field });
        }
        if sc.names.iter().any(|n| n.trim().is_empty()) {
            return Err(SeccompError::EmptyName { field });
        }
        let action = Action::parse(&sc.action, sc.errno_ret, &format!("{field}.action"))?;
        // As runc refuses it: the init's last steps (the exec.fifo reply, the error channel)
        // write after the filter is loaded, and a notified write there would wait on an agent
        // that may itself be waiting for the container: a deadlock.
        if action == Action::Notify && sc.names.iter().any(|n| n == "write") {
            return Err(SeccompError::NotifyWrite { field });
        }
        let mut conds = Vec::new();
        for (j, a) in sc.args.iter().enumerate() {
            conds.push(cond(a, &format!("{field}.args[{j}]"))?);
        }
        rules.push(Rule {
            field,
            names: sc.names.clone(),
            action,
            alternatives: alternatives(conds),
        });
    }

    let listener_path = raw.listener_path.filter(|p| !p.is_empty()).map(Into::into);
    let profile = Profile {
        default_action,
        abis,
        flags,
        rules,
        listener_path,
        listener_metadata: raw.listener_metadata.unwrap_or_default(),
    };
    if profile.notifies() && profile.listener_path.is_none() {
        return Err(SeccompError::NotifyWithoutListener);
    }
    if profile.default_action == Action::Notify {
        // The listener would receive berth's own last syscalls and the agent's execve: runc
        // refuses this too.
        return Err(SeccompError::DefaultNotify);
    }
    Ok(profile)
}

/// runc's rule: conditions on distinct arguments are ANDed in one rule; when several
/// conditions test the same argument, libseccomp cannot AND them, so each becomes its own
/// rule (OR). No conditions: one unconditional alternative.
fn alternatives(conds: Vec<Cond>) -> Vec<Vec<Cond>> {
    let mut seen = [0u8; 6];
    for c in &conds {
        seen[c.index as usize] += 1;
    }
    if seen.iter().any(|&n| n > 1) {
        conds.into_iter().map(|c| vec![c]).collect()
    } else {
        vec![conds]
    }
}

fn cond(a: &RawArg, field: &str) -> Result<Cond, SeccompError> {
    if a.index > 5 {
        return Err(SeccompError::ArgIndex {
            field: field.to_string(),
            index: a.index,
        });
    }
    let (op, value) = match a.op.as_str() {
        "SCMP_CMP_NE" => (Op::Ne, a.value),
        "SCMP_CMP_LT" => (Op::Lt, a.value),
        "SCMP_CMP_LE" => (Op::Le, a.value),
        "SCMP_CMP_EQ" => (Op::Eq, a.value),
        "SCMP_CMP_GE" => (Op::Ge, a.value),
        "SCMP_CMP_GT" => (Op::Gt, a.value),
        "SCMP_CMP_MASKED_EQ" => (Op::MaskedEq { mask: a.value }, a.value_two),
        other => {
            return Err(SeccompError::UnknownOperator {
                field: field.to_string(),
                op: other.to_string(),
            })
        }
    };
    Ok(Cond {
        index: a.index as u8,
        op,
        value,
    })
}

/// The ABI of an `SCMP_ARCH_*` name; `None` for a known architecture that cannot run on an
/// x86_64 kernel (profiles list every architecture of a family, runc skips the foreign ones
/// in effect because their syscalls never reach this kernel).
fn arch_abi(name: &str) -> Result<Option<Abi>, SeccompError> {
    Ok(match name {
        "SCMP_ARCH_X86_64" | "SCMP_ARCH_NATIVE" => Some(Abi::X86_64),
        "SCMP_ARCH_X86" => Some(Abi::X86),
        "SCMP_ARCH_X32" => Some(Abi::X32),
        "SCMP_ARCH_ARM"
        | "SCMP_ARCH_AARCH64"
        | "SCMP_ARCH_MIPS"
        | "SCMP_ARCH_MIPS64"
        | "SCMP_ARCH_MIPS64N32"
        | "SCMP_ARCH_MIPSEL"
        | "SCMP_ARCH_MIPSEL64"
        | "SCMP_ARCH_MIPSEL64N32"
        | "SCMP_ARCH_PPC"
        | "SCMP_ARCH_PPC64"
        | "SCMP_ARCH_PPC64LE"
        | "SCMP_ARCH_S390"
        | "SCMP_ARCH_S390X"
        | "SCMP_ARCH_PARISC"
        | "SCMP_ARCH_PARISC64"
        | "SCMP_ARCH_RISCV64"
        | "SCMP_ARCH_LOONGARCH64"
        | "SCMP_ARCH_M68K"
        | "SCMP_ARCH_SH"
        | "SCMP_ARCH_SHEB" => None,
        other => return Err(SeccompError::UnknownArch(other.to_string())),
    })
}
