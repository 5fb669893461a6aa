//! Whether the kernel's OOM killer acted in a container's memory cgroup, read when its init
//! exits so that TaskOOM precedes TaskExit (containerd's CRI then reports `OOMKilled`).
//!
//! cgroup v1: the `oom_kill` line of `memory.oom_control`; cgroup v2: the `oom_kill` line of
//! `memory.events`. An OOM kill of a process other than the init is reported at the init's
//! exit, not the moment it happens (a notifier on the cgroup would report it earlier).

use std::path::Path;

use berth_runtime::cgroups::CgroupPlan;

/// The number of OOM kills recorded for the container's cgroup (0 if unknown).
pub fn oom_kills(plan: &CgroupPlan) -> u64 {
    for h in &plan.hierarchies {
        let file = if h.is_v2() {
            "memory.events"
        } else if h.controllers().any(|c| c == "memory") {
            "memory.oom_control"
        } else {
            continue;
        };
        let n = read_oom_kill(&plan.dir(h).join(file));
        if n > 0 {
            return n;
        }
    }
    0
}

fn read_oom_kill(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .map(|s| parse_oom_kill(&s))
        .unwrap_or(0)
}

/// The value of the `oom_kill` key of a flat-keyed cgroup file.
pub fn parse_oom_kill(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == "oom_kill")
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_kill_lines_of_v1_and_v2() {
        assert_eq!(
            parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            2
        );
        assert_eq!(
            parse_oom_kill("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n"),
            1
        );
        assert_eq!(parse_oom_kill("oom_kill_disable 0\nunder_oom 0\n"), 0);
    }
}
