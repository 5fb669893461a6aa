//! Scheduling and placement of the container's processes, observed from inside by the probe
//! (issue #14): `process.scheduler` (sched_setattr), `process.ioPriority` (ioprio_set),
//! `linux.personality`, `linux.memoryPolicy` (set_mempolicy) for the init and `berth exec`'s
//! processes, and `process.execCPUAffinity` for exec'd processes (config.md: not applicable to
//! the init).

mod common;
#[path = "common/exec_support.rs"]
mod exec_support;
use common::*;
use exec_support::run_detached_sleeper;
use serde_json::{json, Value};

/// Runs the container's sleeper, execs the probe with `process` (a `--process` file) or, with
/// `None`, as `exec <id> berth-probe` (the container's own process fields); returns the report.
fn exec_probe(rt: &Runtime, id: &str, process: Option<Value>) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = match process {
        Some(mut p) => {
            p["args"] = json!(["/bin/berth-probe"]);
            p["cwd"] = json!("/");
            let pj = dir.path().join("process.json");
            std::fs::write(&pj, p.to_string()).unwrap();
            rt.cmd(&["exec", "--process", pj.to_str().unwrap(), id])
        }
        None => rt.cmd(&["exec", id, "/bin/berth-probe"]),
    };
    out.ok();
    out.json()
}

#[test]
fn scheduler_is_applied_to_the_init_and_exec_processes() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7,
        "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(
        r["scheduler"]["policy"], "SCHED_BATCH",
        "{}",
        r["scheduler"]
    );
    assert_eq!(r["scheduler"]["nice"], 7);
    assert_eq!(
        r["scheduler"]["flags"].as_u64().unwrap() & 1,
        1,
        "RESET_ON_FORK"
    );

    let id = unique_id();
    b.args(&["sleep", "1000"]);
    run_detached_sleeper(&rt, &b, &id);
    // Without --process the exec'd process has the container's process fields (as runc).
    let r = exec_probe(&rt, &id, None);
    assert_eq!(r["scheduler"]["policy"], "SCHED_BATCH");
    assert_eq!(r["scheduler"]["nice"], 7);
    // A --process file's own scheduler: SCHED_IDLE, with a flag in config.md's spelling (as
    // in config.json); and one without keeps berth's default.
    let r = exec_probe(
        &rt,
        &id,
        Some(json!({"scheduler": {"policy": "SCHED_IDLE", "flags": ["SCHED_FLAG_RESET_ON_FORK"]}})),
    );
    assert_eq!(r["scheduler"]["policy"], "SCHED_IDLE");
    assert_eq!(r["scheduler"]["flags"], 1);
    let r = exec_probe(&rt, &id, Some(json!({})));
    assert_eq!(r["scheduler"]["policy"], "SCHED_OTHER");
    assert_eq!(r["scheduler"]["nice"], 0);
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn realtime_scheduler_needs_and_gets_a_realtime_budget() {
    if !require_root() {
        return;
    }
    // SCHED_RR priority 10. In a v1 cpu cgroup without real-time budget (the default
    // cpu.rt_runtime_us of a new cgroup is 0) the kernel refuses it: a clear error naming the
    // field and the syscall, nothing left behind.
    let mut b = Bundle::new();
    b.config_mut()["process"]["scheduler"] = json!({"policy": "SCHED_RR", "priority": 10});
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run_args(&b, &id, &["/bin/berth-probe"], &[]);
    out.fails_with("process.scheduler: set the scheduling policy SCHED_RR (nice 0, priority 10) with sched_setattr: EPERM: Operation not permitted");
    rt.assert_nothing_left(&id, &b);
    // With a budget (linux.resources.cpu.realtimeRuntime), the policy is what the probe sees.
    b.config_mut()["linux"]["resources"]["cpu"] =
        json!({"realtimeRuntime": 10000, "realtimePeriod": 1000000});
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["scheduler"]["policy"], "SCHED_RR", "{}", r["scheduler"]);
    assert_eq!(r["scheduler"]["priority"], 10);
}

#[test]
fn io_priority_is_applied_to_the_init_and_exec_processes() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(
        r["io_priority"],
        json!({"class": "IOPRIO_CLASS_BE", "priority": 6})
    );

    let id = unique_id();
    b.args(&["sleep", "1000"]);
    run_detached_sleeper(&rt, &b, &id);
    let r = exec_probe(&rt, &id, None);
    assert_eq!(
        r["io_priority"],
        json!({"class": "IOPRIO_CLASS_BE", "priority": 6})
    );
    let r = exec_probe(
        &rt,
        &id,
        Some(json!({"ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 0}})),
    );
    assert_eq!(r["io_priority"]["class"], "IOPRIO_CLASS_IDLE");
    let r = exec_probe(
        &rt,
        &id,
        Some(json!({"ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 2}})),
    );
    assert_eq!(
        r["io_priority"],
        json!({"class": "IOPRIO_CLASS_RT", "priority": 2})
    );
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn personality_linux32_is_the_execution_domain_of_every_process() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["linux"]["personality"] = json!({"domain": "LINUX32"});
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    // PER_LINUX32 (8): uname(2) reports the 32-bit machine name.
    assert_eq!(r["personality"]["domain"], 8, "{}", r["personality"]);
    assert_eq!(r["personality"]["machine"], "i686");

    let id = unique_id();
    b.args(&["sleep", "1000"]);
    run_detached_sleeper(&rt, &b, &id);
    let r = exec_probe(&rt, &id, Some(json!({})));
    assert_eq!(r["personality"]["machine"], "i686", "{}", r["personality"]);
    rt.cmd(&["delete", "--force", &id]).ok();

    // The default: berth's own domain, the 64-bit one.
    let b = Bundle::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["personality"]["domain"], 0);
    assert_eq!(r["personality"]["machine"], "x86_64");
}

#[test]
fn memory_policy_is_set_for_the_init_and_exec_processes() {
    if !require_root() {
        return;
    }
    // This host has one NUMA node (0): a policy on it is observable with get_mempolicy.
    let mut b = Bundle::new();
    b.config_mut()["linux"]["memoryPolicy"] =
        json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]});
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(
        r["mempolicy"],
        json!({"mode": "MPOL_BIND", "nodes": [0], "flags": ["MPOL_F_STATIC_NODES"]})
    );

    let id = unique_id();
    b.config_mut()["linux"]["memoryPolicy"] = json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"});
    b.args(&["sleep", "1000"]);
    run_detached_sleeper(&rt, &b, &id);
    let r = exec_probe(&rt, &id, Some(json!({})));
    assert_eq!(
        r["mempolicy"],
        json!({"mode": "MPOL_INTERLEAVE", "nodes": [0], "flags": []})
    );
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// The CPUs this host has, from the test's own affinity.
fn host_cpus() -> Vec<u64> {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = text
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        cpus.extend(a.parse::<u64>().unwrap()..=b.parse::<u64>().unwrap());
    }
    cpus
}

#[test]
fn exec_cpu_affinity_applies_to_exec_processes_not_the_init() {
    if !require_root() {
        return;
    }
    let cpus = host_cpus();
    if cpus.len() < 2 {
        loud("exec_cpu_affinity: needs two CPUs to tell an affinity from the default");
        return;
    }
    let last = cpus[cpus.len() - 1];
    let mut b = Bundle::new();
    b.config_mut()["process"]["execCPUAffinity"] =
        json!({"initial": cpus[0].to_string(), "final": last.to_string()});
    let rt = Runtime::new();
    // The init: untouched (config.md: "not applicable to the container's init process").
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["cpu_affinity"], json!(cpus));

    let id = unique_id();
    b.args(&["sleep", "1000"]);
    run_detached_sleeper(&rt, &b, &id);
    // From the container's process: `final` is what the program runs with.
    let r = exec_probe(&rt, &id, None);
    assert_eq!(r["cpu_affinity"], json!([last]));
    // A --process file with `initial` only: the affinity it was born with survives the cgroup
    // join (the kernel keeps a requested mask within the cgroup's CPUs).
    let r = exec_probe(
        &rt,
        &id,
        Some(json!({"execCPUAffinity": {"initial": cpus[0].to_string()}})),
    );
    assert_eq!(r["cpu_affinity"], json!([cpus[0]]));
    // Without the field: every CPU, whatever the config's process says.
    let r = exec_probe(&rt, &id, Some(json!({})));
    assert_eq!(r["cpu_affinity"], json!(cpus));
    // berth exec itself got its own affinity back: a process it starts next is unaffected.
    let r = exec_probe(&rt, &id, Some(json!({})));
    assert_eq!(r["cpu_affinity"], json!(cpus));
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}
