//! `process.scheduler`, `process.ioPriority` and `process.execCPUAffinity`, validated into the
//! values sched_setattr(2), ioprio_set(2) and sched_setaffinity(2) take (applied by
//! process/attrs.rs).

use oci_spec::runtime::{
    ExecCPUAffinity, IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy,
};

use super::BundleError;

/// `process.scheduler` as `struct sched_attr` wants it (include/uapi/linux/sched.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheduler {
    /// The config's spelling, for errors.
    pub policy_name: &'static str,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

impl Scheduler {
    /// config.md "Scheduler": checks what the kernel would refuse with a bare EINVAL, or ignore.
    pub fn from_spec(s: &oci_spec::runtime::Scheduler) -> Result<Scheduler, BundleError> {
        let (policy_name, policy) = match s.policy() {
            LinuxSchedulerPolicy::SchedOther => ("SCHED_OTHER", 0),
            LinuxSchedulerPolicy::SchedFifo => ("SCHED_FIFO", 1),
            LinuxSchedulerPolicy::SchedRr => ("SCHED_RR", 2),
            LinuxSchedulerPolicy::SchedBatch => ("SCHED_BATCH", 3),
            LinuxSchedulerPolicy::SchedIso => {
                // In the spec's list, but Linux has no such policy (sched(7): "not yet
                // implemented"); sched_setattr would fail with EINVAL.
                return Err(invalid(
                    "process.scheduler.policy",
                    "SCHED_ISO is not implemented by Linux (sched(7))",
                ));
            }
            LinuxSchedulerPolicy::SchedIdle => ("SCHED_IDLE", 5),
            LinuxSchedulerPolicy::SchedDeadline => ("SCHED_DEADLINE", 6),
        };
        let realtime = matches!(policy, 1 | 2);
        let deadline_policy = policy == 6;
        let nice = s.nice().unwrap_or(0);
        if !(-20..=19).contains(&nice) {
            return Err(invalid(
                "process.scheduler.nice",
                format!("{nice} is outside -20..=19"),
            ));
        }
        if nice != 0 && (realtime || deadline_policy) {
            // sched(7): the nice value only affects SCHED_OTHER, SCHED_BATCH and SCHED_IDLE.
            return Err(invalid(
                "process.scheduler.nice",
                format!("{policy_name} has no nice value (it applies to SCHED_OTHER, SCHED_BATCH and SCHED_IDLE)"),
            ));
        }
        let priority = s.priority().unwrap_or(0);
        match (realtime, priority) {
            (true, 1..=99) | (false, 0) => {}
            (true, p) => {
                return Err(invalid(
                    "process.scheduler.priority",
                    format!("{p}: {policy_name} takes a priority in 1..=99"),
                ))
            }
            (false, p) => {
                return Err(invalid(
                    "process.scheduler.priority",
                    format!("{p}: {policy_name} takes priority 0 (only SCHED_FIFO and SCHED_RR have priorities)"),
                ))
            }
        }
        let (runtime, deadline, period) = (
            s.runtime().unwrap_or(0),
            s.deadline().unwrap_or(0),
            s.period().unwrap_or(0),
        );
        if deadline_policy {
            // sched(7) "SCHED_DEADLINE": runtime <= deadline <= period (period 0: the
            // deadline), and the kernel's minimum runtime is 1024 ns.
            let period_or_deadline = if period == 0 { deadline } else { period };
            if runtime < 1024 || runtime > deadline || deadline > period_or_deadline {
                return Err(invalid(
                    "process.scheduler.runtime",
                    format!("SCHED_DEADLINE needs 1024 <= runtime <= deadline <= period (ns); got runtime {runtime}, deadline {deadline}, period {period}"),
                ));
            }
        } else if runtime != 0 || deadline != 0 || period != 0 {
            return Err(invalid(
                "process.scheduler.runtime",
                format!(
                    "runtime, deadline and period apply to SCHED_DEADLINE only, not {policy_name}"
                ),
            ));
        }
        let flags = s
            .flags()
            .iter()
            .flatten()
            .map(|f| match f {
                LinuxSchedulerFlag::SchedResetOnFork => 0x01,
                LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
                LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
                LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
                LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
                LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
                LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
            })
            .fold(0u64, |all, f| all | f);
        Ok(Scheduler {
            policy_name,
            policy,
            flags,
            nice,
            priority: priority as u32,
            runtime,
            deadline,
            period,
        })
    }
}

/// `process.ioPriority` as ioprio_set(2) takes it: `class << 13 | level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoPriority {
    /// The config's spelling of the class, for errors.
    pub class_name: &'static str,
    pub class: u16,
    pub level: u16,
}

impl IoPriority {
    pub fn from_spec(p: &LinuxIOPriority) -> Result<IoPriority, BundleError> {
        let (class_name, class) = match p.class() {
            IOPriorityClass::IoprioClassRt => ("IOPRIO_CLASS_RT", 1),
            IOPriorityClass::IoprioClassBe => ("IOPRIO_CLASS_BE", 2),
            IOPriorityClass::IoprioClassIdle => ("IOPRIO_CLASS_IDLE", 3),
        };
        let level = p.priority();
        // ioprio_set(2): levels 0 (highest) to 7 (lowest) for the RT and BE classes; the idle
        // class has none, so only 0 is taken rather than dropped.
        let max = if class == 3 { 0 } else { 7 };
        if !(0..=max).contains(&level) {
            return Err(BundleError::Invalid {
                field: "process.ioPriority.priority",
                reason: format!("{level} is outside 0..={max} for {class_name}"),
            });
        }
        Ok(IoPriority {
            class_name,
            class,
            level: level as u16,
        })
    }

    /// The `ioprio` argument of ioprio_set(2) (IOPRIO_PRIO_VALUE).
    pub fn value(&self) -> u16 {
        (self.class << 13) | self.level
    }
}

/// A CPU (or NUMA node) list such as `0-3,7`, with the numbers it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdList {
    pub text: String,
    pub ids: Vec<usize>,
}

/// Parses a list of ids and ranges (`0-3,7`) below `limit`: the format of cpuset.cpus,
/// `execCPUAffinity` and `memoryPolicy.nodes`.
pub fn parse_list(field: &'static str, text: &str, limit: usize) -> Result<IdList, BundleError> {
    let bad = |why: String| BundleError::Invalid {
        field,
        reason: format!("{text:?}: {why}"),
    };
    let mut ids = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let num = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| bad(format!("{s:?} is not a number")))
        };
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(bad(format!("range {part} is reversed")));
        }
        if hi >= limit {
            return Err(bad(format!("{hi} is not below {limit}")));
        }
        ids.extend(lo..=hi);
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(IdList {
        text: text.to_string(),
        ids,
    })
}

/// `process.execCPUAffinity`: the CPUs of an exec'd process before it joins the container's
/// cgroup (`initial`) and right before its execve (`final`). An empty string is no change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuAffinity {
    pub initial: Option<IdList>,
    pub final_cpus: Option<IdList>,
}

impl CpuAffinity {
    pub fn from_spec(a: &ExecCPUAffinity) -> Result<CpuAffinity, BundleError> {
        let cpus = |field, v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| parse_list(field, s, libc::CPU_SETSIZE as usize))
                .transpose()
        };
        Ok(CpuAffinity {
            initial: cpus("process.execCPUAffinity.initial", a.initial())?,
            final_cpus: cpus("process.execCPUAffinity.final", a.cpu_affinity_final())?,
        })
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> BundleError {
    BundleError::Invalid {
        field,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(json: &str) -> Result<Scheduler, BundleError> {
        Scheduler::from_spec(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn scheduler_values_become_sched_attr() {
        let s = sched(r#"{"policy":"SCHED_BATCH","nice":7,"flags":["SCHED_RESET_ON_FORK","SCHED_FLAG_KEEP_PARAMS"]}"#)
            .unwrap();
        assert_eq!((s.policy, s.nice, s.priority, s.flags), (3, 7, 0, 0x11));
        let s = sched(r#"{"policy":"SCHED_RR","priority":10}"#).unwrap();
        assert_eq!((s.policy, s.priority), (2, 10));
        let s = sched(
            r#"{"policy":"SCHED_DEADLINE","runtime":10000000,"deadline":20000000,"period":30000000}"#,
        )
        .unwrap();
        assert_eq!((s.policy, s.runtime, s.period), (6, 10_000_000, 30_000_000));
    }

    #[test]
    fn scheduler_values_the_kernel_would_refuse_or_ignore_are_named() {
        for (json, expect) in [
            (r#"{"policy":"SCHED_ISO"}"#, "process.scheduler.policy: SCHED_ISO is not implemented by Linux (sched(7))"),
            (r#"{"policy":"SCHED_FIFO"}"#, "process.scheduler.priority: 0: SCHED_FIFO takes a priority in 1..=99"),
            (r#"{"policy":"SCHED_OTHER","priority":5}"#, "process.scheduler.priority: 5: SCHED_OTHER takes priority 0 (only SCHED_FIFO and SCHED_RR have priorities)"),
            (r#"{"policy":"SCHED_OTHER","nice":20}"#, "process.scheduler.nice: 20 is outside -20..=19"),
            (r#"{"policy":"SCHED_RR","priority":1,"nice":3}"#, "process.scheduler.nice: SCHED_RR has no nice value (it applies to SCHED_OTHER, SCHED_BATCH and SCHED_IDLE)"),
            (r#"{"policy":"SCHED_BATCH","runtime":5}"#, "process.scheduler.runtime: runtime, deadline and period apply to SCHED_DEADLINE only, not SCHED_BATCH"),
            (r#"{"policy":"SCHED_DEADLINE","runtime":2000,"deadline":1000}"#, "process.scheduler.runtime: SCHED_DEADLINE needs 1024 <= runtime <= deadline <= period (ns); got runtime 2000, deadline 1000, period 0"),
        ] {
            let e = sched(json).unwrap_err().to_string();
            assert_eq!(e, format!("config.json: {expect}"), "{json}");
        }
    }

    #[test]
    fn io_priority_is_class_and_level() {
        let p = IoPriority::from_spec(
            &serde_json::from_str(r#"{"class":"IOPRIO_CLASS_BE","priority":6}"#).unwrap(),
        )
        .unwrap();
        assert_eq!(p.value(), (2 << 13) | 6);
        let e = IoPriority::from_spec(
            &serde_json::from_str(r#"{"class":"IOPRIO_CLASS_RT","priority":8}"#).unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "config.json: process.ioPriority.priority: 8 is outside 0..=7 for IOPRIO_CLASS_RT"
        );
    }

    #[test]
    fn id_lists_parse_ranges_and_refuse_what_no_mask_holds() {
        assert_eq!(parse_list("f", "0-2,7,1", 1024).unwrap().ids, [0, 1, 2, 7]);
        assert_eq!(
            parse_list("f", "3-1", 1024).unwrap_err().to_string(),
            "config.json: f: \"3-1\": range 3-1 is reversed"
        );
        assert_eq!(
            parse_list("f", "1024", 1024).unwrap_err().to_string(),
            "config.json: f: \"1024\": 1024 is not below 1024"
        );
        assert!(parse_list("f", "a", 1024).is_err());
    }
}
