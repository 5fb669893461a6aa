//! `process`: arguments, environment, user, capabilities and rlimits, validated.

use std::path::PathBuf;
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{PosixRlimitType, Spec};

use super::BundleError;

/// One line of /proc/<pid>/uid_map or gid_map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

/// One `process.rlimits` entry as setrlimit(2) takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// The config's spelling (`RLIMIT_NOFILE`), for errors.
    pub name: &'static str,
    pub resource: libc::__rlimit_resource_t,
    pub soft: u64,
    pub hard: u64,
}

/// The process the container runs, with every field checked.
#[derive(Debug, Clone)]
pub struct ProcessPlan {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub umask: Option<u32>,
    /// The five capability sets; `None` for a set the config leaves out (it is then empty).
    pub capabilities: [(CapSet, CapsHashSet); 5],
    pub rlimits: Vec<Rlimit>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    /// `process.terminal`: a pty from the container's devpts becomes the process's stdio.
    pub terminal: bool,
    /// `process.consoleSize` as (rows, cols).
    pub console_size: Option<(u16, u16)>,
    /// The process runs in a user namespace whose setgroups file says "deny" (rootless: an
    /// unprivileged berth must deny it to write gid_map): setgroups(2) is not called, and
    /// `additional_gids` is then empty (checked by the plan).
    pub setgroups_denied: bool,
    /// `process.scheduler` (sched_setattr(2)).
    pub scheduler: Option<super::Scheduler>,
    /// `process.ioPriority` (ioprio_set(2)).
    pub io_priority: Option<super::IoPriority>,
    /// `process.execCPUAffinity`: for `berth exec`'s processes only (config.md: "not
    /// applicable to the container's init process").
    pub exec_cpu_affinity: super::CpuAffinity,
}

impl ProcessPlan {
    pub fn from_spec(spec: &Spec) -> Result<ProcessPlan, BundleError> {
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| BundleError::invalid("process", "missing (create needs a process)"))?;
        ProcessPlan::from_process(process)
    }

    /// Validates one `process` object (config.json's, or `exec --process`'s).
    pub fn from_process(process: &oci_spec::runtime::Process) -> Result<ProcessPlan, BundleError> {
        let args = process.args().clone().unwrap_or_default();
        if args.is_empty() || args[0].is_empty() {
            return Err(BundleError::invalid("process.args", "must not be empty"));
        }
        let cwd = process.cwd().clone();
        if !cwd.is_absolute() {
            return Err(BundleError::invalid(
                "process.cwd",
                format!("{:?} is not an absolute path", cwd.display().to_string()),
            ));
        }
        let env = process.env().clone().unwrap_or_default();
        if let Some(bad) = env.iter().find(|e| !e.contains('=') || e.starts_with('=')) {
            return Err(BundleError::invalid(
                "process.env",
                format!("{bad:?} is not of the form NAME=value"),
            ));
        }
        if let Some(adj) = process.oom_score_adj() {
            // proc(5): oom_score_adj ranges from -1000 to 1000.
            if !(-1000..=1000).contains(&adj) {
                return Err(BundleError::invalid(
                    "process.oomScoreAdj",
                    format!("{adj} is outside -1000..=1000"),
                ));
            }
        }
        let rlimits = rlimits(process.rlimits())?;
        check_exec_size(&args, &env, &rlimits)?;
        let user = process.user();
        Ok(ProcessPlan {
            args,
            env,
            cwd,
            uid: user.uid(),
            gid: user.gid(),
            additional_gids: user.additional_gids().clone().unwrap_or_default(),
            umask: user.umask(),
            capabilities: capabilities(process.capabilities())?,
            rlimits,
            no_new_privileges: process.no_new_privileges().unwrap_or(false),
            oom_score_adj: process.oom_score_adj(),
            terminal: process.terminal().unwrap_or(false),
            console_size: process.console_size().map(|b| {
                (
                    u16::try_from(b.height()).unwrap_or(u16::MAX),
                    u16::try_from(b.width()).unwrap_or(u16::MAX),
                )
            }),
            setgroups_denied: false,
            scheduler: process
                .scheduler()
                .as_ref()
                .map(super::Scheduler::from_spec)
                .transpose()?,
            io_priority: process
                .io_priority()
                .as_ref()
                .map(super::IoPriority::from_spec)
                .transpose()?,
            exec_cpu_affinity: process
                .exec_cpu_affinity()
                .as_ref()
                .map(super::CpuAffinity::from_spec)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// execve(2)'s per-string limit, `MAX_ARG_STRLEN` (32 pages, the NUL included).
const MAX_ARG_STRLEN: usize = 32 * 4096;

/// What execve(2) will accept, checked at create rather than failing at start with E2BIG: no
/// argument or variable longer than [`MAX_ARG_STRLEN`], and all of them (with their NULs and
/// pointers) within the kernel's budget — a quarter of the stack limit the process will have
/// (its `RLIMIT_STACK` if the config sets one, else berth's own, which the init inherits), at
/// most 6 MiB and at least 128 KiB (fs/exec.c `bprm_stack_limits`). A little room is kept for
/// the `HOME` berth may add.
fn check_exec_size(args: &[String], env: &[String], rlimits: &[Rlimit]) -> Result<(), BundleError> {
    for (field, list) in [("process.args", args), ("process.env", env)] {
        if let Some((i, long)) = list
            .iter()
            .enumerate()
            .find(|(_, s)| s.len() >= MAX_ARG_STRLEN)
        {
            return Err(BundleError::invalid(
                field,
                format!(
                    "[{i}] is {} bytes, execve takes at most {} per string",
                    long.len(),
                    MAX_ARG_STRLEN - 1
                ),
            ));
        }
    }
    let stack = rlimits
        .iter()
        .find(|r| r.resource == libc::RLIMIT_STACK)
        .map(|r| r.soft)
        .or_else(|| {
            nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK)
                .ok()
                .map(|(soft, _)| soft)
        })
        .unwrap_or(8 << 20);
    let budget = (stack / 4).clamp(128 << 10, 6 << 20);
    let pointers = (args.len() + env.len() + 2) as u64 * 8;
    let strings: u64 = args.iter().chain(env).map(|s| s.len() as u64 + 1).sum();
    let needed = strings + pointers + 4096;
    if needed > budget {
        return Err(BundleError::invalid(
            "process.args and process.env",
            format!(
                "{needed} bytes together, more than the {budget} execve accepts with a stack limit of {stack} bytes"
            ),
        ));
    }
    Ok(())
}

fn capabilities(
    caps: &Option<oci_spec::runtime::LinuxCapabilities>,
) -> Result<[(CapSet, CapsHashSet); 5], BundleError> {
    let convert =
        |set: &Option<oci_spec::runtime::Capabilities>| -> Result<CapsHashSet, BundleError> {
            set.iter()
                .flatten()
                .map(|c| {
                    let name = format!("CAP_{c}");
                    Capability::from_str(&name).map_err(|_| {
                        BundleError::invalid(
                            "process.capabilities",
                            format!("unknown capability {name}"),
                        )
                    })
                })
                .collect()
        };
    // No `process.capabilities` means no capabilities (as runc). Not `unwrap_or_default()`:
    // oci-spec's Default for LinuxCapabilities is `runc spec`'s three capabilities.
    let none = None;
    let set = |f: fn(
        &oci_spec::runtime::LinuxCapabilities,
    ) -> &Option<oci_spec::runtime::Capabilities>| {
        convert(caps.as_ref().map_or(&none, f))
    };
    Ok([
        (CapSet::Bounding, set(|c| c.bounding())?),
        (CapSet::Effective, set(|c| c.effective())?),
        (CapSet::Permitted, set(|c| c.permitted())?),
        (CapSet::Inheritable, set(|c| c.inheritable())?),
        (CapSet::Ambient, set(|c| c.ambient())?),
    ])
}

fn rlimits(
    limits: &Option<Vec<oci_spec::runtime::PosixRlimit>>,
) -> Result<Vec<Rlimit>, BundleError> {
    let mut out: Vec<Rlimit> = Vec::new();
    for limit in limits.iter().flatten() {
        let (resource, name) = rlimit_resource(limit.typ());
        if out.iter().any(|r| r.resource == resource) {
            // config.md "POSIX process": "runtime MUST generate an error for duplicated entries".
            return Err(BundleError::invalid(
                "process.rlimits",
                format!("duplicate entry for {:?}", limit.typ()),
            ));
        }
        if limit.soft() > limit.hard() {
            return Err(BundleError::invalid(
                "process.rlimits",
                format!(
                    "{:?}: soft limit {} is above hard limit {}",
                    limit.typ(),
                    limit.soft(),
                    limit.hard()
                ),
            ));
        }
        out.push(Rlimit {
            name,
            resource,
            soft: limit.soft(),
            hard: limit.hard(),
        });
    }
    Ok(out)
}

/// The kernel's resource number and the config's spelling of it.
fn rlimit_resource(t: PosixRlimitType) -> (libc::__rlimit_resource_t, &'static str) {
    match t {
        PosixRlimitType::RlimitCpu => (libc::RLIMIT_CPU, "RLIMIT_CPU"),
        PosixRlimitType::RlimitFsize => (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        PosixRlimitType::RlimitData => (libc::RLIMIT_DATA, "RLIMIT_DATA"),
        PosixRlimitType::RlimitStack => (libc::RLIMIT_STACK, "RLIMIT_STACK"),
        PosixRlimitType::RlimitCore => (libc::RLIMIT_CORE, "RLIMIT_CORE"),
        PosixRlimitType::RlimitRss => (libc::RLIMIT_RSS, "RLIMIT_RSS"),
        PosixRlimitType::RlimitNproc => (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
        PosixRlimitType::RlimitNofile => (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        PosixRlimitType::RlimitMemlock => (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        PosixRlimitType::RlimitAs => (libc::RLIMIT_AS, "RLIMIT_AS"),
        PosixRlimitType::RlimitLocks => (libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        PosixRlimitType::RlimitSigpending => (libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        PosixRlimitType::RlimitMsgqueue => (libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        PosixRlimitType::RlimitNice => (libc::RLIMIT_NICE, "RLIMIT_NICE"),
        PosixRlimitType::RlimitRtprio => (libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        PosixRlimitType::RlimitRttime => (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(process: &str) -> Result<ProcessPlan, BundleError> {
        let spec: Spec =
            serde_json::from_str(&format!(r#"{{"ociVersion":"1.0.2","process":{process}}}"#))
                .unwrap();
        ProcessPlan::from_spec(&spec)
    }

    #[test]
    fn terminal_and_console_size_are_kept() {
        let p = plan(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"terminal":true,
               "consoleSize":{"height":24,"width":80}}"#,
        )
        .unwrap();
        assert!(p.terminal);
        assert_eq!(p.console_size, Some((24, 80)));
    }

    #[test]
    fn empty_args_are_rejected() {
        let err = plan(r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":[]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: process.args: must not be empty"
        );
    }

    #[test]
    fn relative_cwd_is_rejected() {
        let err = plan(r#"{"user":{"uid":0,"gid":0},"cwd":"tmp","args":["sh"]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: process.cwd: \"tmp\" is not an absolute path"
        );
    }

    #[test]
    fn capabilities_and_rlimits_are_converted() {
        let p = plan(
            r#"{"user":{"uid":1,"gid":2,"additionalGids":[3],"umask":18},"cwd":"/","args":["sh"],
               "capabilities":{"bounding":["CAP_KILL","CAP_CHOWN"],"ambient":["CAP_KILL"]},
               "rlimits":[{"type":"RLIMIT_NOFILE","soft":10,"hard":20}]}"#,
        )
        .unwrap();
        assert_eq!(p.capabilities[0].1.len(), 2);
        assert!(p.capabilities[4].1.contains(&Capability::CAP_KILL));
        assert!(p.capabilities[1].1.is_empty());
        assert_eq!(
            p.rlimits,
            [Rlimit {
                name: "RLIMIT_NOFILE",
                resource: libc::RLIMIT_NOFILE,
                soft: 10,
                hard: 20
            }]
        );
        assert_eq!((p.uid, p.gid, p.umask), (1, 2, Some(18)));
    }

    /// Found by the differential tier: oci-spec's Default for LinuxCapabilities is `runc
    /// spec`'s three capabilities, which berth used to grant when the field was absent.
    #[test]
    fn absent_capabilities_mean_none_as_in_runc() {
        let p = plan(r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"]}"#).unwrap();
        for (set, caps) in &p.capabilities {
            assert!(caps.is_empty(), "{set:?}: {caps:?}");
        }
    }

    #[test]
    fn duplicate_rlimit_is_rejected() {
        let err = plan(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"rlimits":[
               {"type":"RLIMIT_NOFILE","soft":1,"hard":1},{"type":"RLIMIT_NOFILE","soft":2,"hard":2}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("duplicate entry"), "{err}");
    }

    #[test]
    fn soft_above_hard_is_rejected() {
        let err = plan(
            r#"{"user":{"uid":0,"gid":0},"cwd":"/","args":["sh"],"rlimits":[
               {"type":"RLIMIT_NOFILE","soft":5,"hard":1}]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("above hard limit"), "{err}");
    }
}
