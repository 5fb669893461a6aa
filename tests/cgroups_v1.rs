//! cgroup resource control on this host's hybrid layout (v1 controllers), with the commands
//! around it: pause/resume, update, ps, events, kill --all, check. Every observation is made
//! on the container (what its processes can do, what its own cgroup files say), never only on
//! exit codes. Only cgroups berth creates for the test are read or written.

mod common;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// The container's directory in the v1 hierarchy of `controller` (default `berth/<id>`).
fn v1_dir(controller: &str, id: &str) -> PathBuf {
    PathBuf::from("/sys/fs/cgroup")
        .join(controller)
        .join("berth")
        .join(id)
}

fn read(controller: &str, id: &str, file: &str) -> String {
    let path = v1_dir(controller, id).join(file);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_string()
}

fn has_v1(controller: &str) -> bool {
    let ok = std::path::Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("cgroup.procs")
        .exists();
    if !ok {
        loud(&format!(
            "SKIP {}: no v1 {controller} hierarchy on this host",
            test_name()
        ));
    }
    ok
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A started container running `sh -c script` with `resources`.
fn started(rt: &Runtime, resources: Value, script: &str) -> (Bundle, String) {
    let mut b = Bundle::new();
    b.args(&["sh", "-c", script]);
    b.config_mut()["linux"]["resources"] = resources;
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    (b, id)
}

fn finish(rt: &Runtime, b: &Bundle, id: &str) {
    rt.cmd(&["delete", "--force", id]).ok();
    rt.assert_nothing_left(id, b);
}

#[test]
fn memory_limit_is_enforced_by_an_oom_kill_and_reported() {
    if !require_root() || !has_v1("memory") {
        return;
    }
    let rt = Runtime::new();
    let (b, id) = started(
        &rt,
        json!({"memory": {"limit": 33554432}}),
        "dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 100",
    );
    assert_eq!(read("memory", &id, "memory.limit_in_bytes"), "33554432");
    wait_until("an OOM kill in memory.oom_control", 20, || {
        read("memory", &id, "memory.oom_control").contains("oom_kill 1")
    });
    let out = rt.cmd(&["events", "--stats", &id]);
    out.ok();
    let ev = out.json();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 33554432);
    assert_eq!(ev["data"]["memory"]["oom_kill"], 1);
    assert!(ev["data"]["memory"]["usage"]["failcnt"].as_u64().unwrap() > 0);
    finish(&rt, &b, &id);
}

#[test]
fn events_stream_reports_an_oom() {
    if !require_root() || !has_v1("memory") {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&[
        "sh",
        "-c",
        "sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 100",
    ]);
    b.config_mut()["linux"]["resources"] = json!({"memory": {"limit": 33554432}});
    let id = unique_id();
    rt.create(&b, &id).ok();
    let events = std::process::Command::new(rt.bin())
        .args([
            "--root",
            rt.root_str(),
            "events",
            "--interval",
            "200ms",
            &id,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    rt.cmd(&["start", &id]).ok();
    let pid = events.id() as i32;
    // The stream ends when the container is deleted.
    wait_until("the OOM kill", 20, || {
        read("memory", &id, "memory.oom_control").contains("oom_kill 1")
    });
    std::thread::sleep(Duration::from_millis(500));
    rt.cmd(&["delete", "--force", &id]).ok();
    let out = events.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let kinds: Vec<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].to_string())
        .collect();
    assert!(kinds.contains(&"\"oom\"".to_string()), "pid {pid}: {text}");
    assert!(kinds.contains(&"\"stats\"".to_string()), "{text}");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn pids_limit_refuses_forks_past_it() {
    if !require_root() || !has_v1("pids") {
        return;
    }
    let rt = Runtime::new();
    let (b, id) = started(
        &rt,
        json!({"pids": {"limit": 5}}),
        "i=0; while [ $i -lt 20 ]; do sleep 100 & i=$((i+1)); done; sleep 100",
    );
    assert_eq!(read("pids", &id, "pids.max"), "5");
    wait_until("a refused fork in pids.events", 10, || {
        read("pids", &id, "pids.events").starts_with("max ")
            && read("pids", &id, "pids.events") != "max 0"
    });
    let current: u64 = read("pids", &id, "pids.current").parse().unwrap();
    assert!(current <= 5, "pids.current {current}");
    let ps = rt.cmd(&["ps", "--format", "json", &id]);
    ps.ok();
    let pids = ps.json();
    assert!(pids.as_array().unwrap().len() as u64 <= 5, "{pids}");
    finish(&rt, &b, &id);
}

#[test]
fn pause_freezes_the_container_and_resume_thaws_it() {
    if !require_root() || !has_v1("freezer") || !has_v1("cpuacct") {
        return;
    }
    let rt = Runtime::new();
    let (b, id) = started(&rt, json!({}), "while :; do :; done");
    let usage = || -> u64 { read("cpuacct", &id, "cpuacct.usage").parse().unwrap() };
    let first = usage();
    wait_until("cpu use", 10, || usage() > first);
    rt.cmd(&["pause", &id]).ok();
    assert_eq!(rt.state(&id)["status"], "paused");
    assert_eq!(read("freezer", &id, "freezer.state"), "FROZEN");
    let frozen = usage();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(usage(), frozen, "the busy loop ran while paused");
    // pause twice and resume of a running container are refused with the state named.
    rt.cmd(&["pause", &id])
        .fails_with("the container is paused");
    rt.cmd(&["resume", &id]).ok();
    assert_eq!(rt.state(&id)["status"], "running");
    wait_until("cpu use after resume", 10, || usage() > frozen);
    rt.cmd(&["resume", &id])
        .fails_with("the container is running");
    finish(&rt, &b, &id);
}

#[test]
fn delete_force_kills_a_paused_container() {
    if !require_root() || !has_v1("freezer") {
        return;
    }
    let rt = Runtime::new();
    let (b, id) = started(&rt, json!({}), "sleep 100 & sleep 100");
    rt.cmd(&["pause", &id]).ok();
    finish(&rt, &b, &id);
}

/// Devices 240:0 and 240:1 (a major reserved for local use, no driver): the device cgroup
/// check runs before the driver's open, so an allowed node fails with ENXIO (no such device)
/// and a denied one with EPERM, whatever drivers the host has.
pub const DEVICE_SCRIPT: &str = "for d in allowed denied; do err=$( { : < /dev/fake-$d; } 2>&1 ); echo \"$d: $err\"; done; : > /dev/null && echo null-ok";

#[test]
fn devices_outside_the_allow_list_are_denied() {
    if !require_root() || !has_v1("devices") {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["devices"] = json!([
        {"path": "/dev/fake-allowed", "type": "c", "major": 240, "minor": 0, "fileMode": 438},
        {"path": "/dev/fake-denied", "type": "c", "major": 240, "minor": 1, "fileMode": 438}
    ]);
    b.config_mut()["linux"]["resources"] = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 240, "minor": 0, "access": "rw"}
    ]});
    let id = unique_id();
    let out = rt.run_args(&b, &id, &["sh", "-c", DEVICE_SCRIPT], &[]);
    out.ok();
    assert!(
        out.stdout
            .contains("allowed: sh: can't open /dev/fake-allowed: No such device or address"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("denied: sh: can't open /dev/fake-denied: Operation not permitted"),
        "{out}"
    );
    assert!(out.stdout.contains("null-ok"), "{out}");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn update_changes_live_limits() {
    if !require_root() || !has_v1("memory") || !has_v1("pids") || !has_v1("cpu") {
        return;
    }
    let rt = Runtime::new();
    let (b, id) = started(
        &rt,
        json!({"memory": {"limit": 33554432}, "pids": {"limit": 50}}),
        "sleep 100",
    );
    rt.cmd(&[
        "update",
        "--memory",
        "64m",
        "--pids-limit",
        "20",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--cpu-shares",
        "512",
        &id,
    ])
    .ok();
    assert_eq!(read("memory", &id, "memory.limit_in_bytes"), "67108864");
    assert_eq!(read("pids", &id, "pids.max"), "20");
    assert_eq!(read("cpu", &id, "cpu.cfs_quota_us"), "20000");
    assert_eq!(read("cpu", &id, "cpu.shares"), "512");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), r#"{"pids": {"limit": 30}}"#).unwrap();
    rt.cmd(&["update", "-r", file.path().to_str().unwrap(), &id])
        .ok();
    assert_eq!(read("pids", &id, "pids.max"), "30");
    // Unchanged by the second update.
    assert_eq!(read("memory", &id, "memory.limit_in_bytes"), "67108864");
    // A limit below the current usage: the kernel refuses it, berth names the file.
    rt.cmd(&["update", "--memory", "4k", &id])
        .fails_with("memory.limit_in_bytes");
    rt.cmd(&["update", "--memory", "-5", &id])
        .fails_with("invalid --memory \"-5\"");
    finish(&rt, &b, &id);
}

/// runc's `--cpu-share` spelling (berth's older `--cpu-shares` stays an alias), and runc 1.2's
/// `--cpu-burst` and `--cpu-idle`, observed from inside: the container has its own cgroup
/// namespace, so its /sys/fs/cgroup/cpu is its own cgroup. Intel RDT flags are refused.
#[test]
fn update_takes_cpu_share_cpu_burst_and_cpu_idle() {
    if !require_root()
        || !has_v1("cpu")
        || runc_gap("--cpu-burst and --cpu-idle are runc 1.2's, --cpu-share only is 1.1.5's")
    {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/cpu/cpu.idle").exists() {
        loud("SKIP update_takes_cpu_share_cpu_burst_and_cpu_idle: no v1 cpu.idle");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.namespace("cgroup", None);
    b.args(&["sleep", "1000"]);
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    let inside = |file: &str| {
        let out = rt.cmd(&["exec", &id, "cat", &format!("/sys/fs/cgroup/cpu/{file}")]);
        out.ok();
        out.stdout.trim().to_string()
    };
    rt.cmd(&["update", "--cpu-share", "300", "--cpu-burst", "5000", &id])
        .ok();
    assert_eq!(inside("cpu.shares"), "300");
    assert_eq!(inside("cpu.cfs_burst_us"), "5000");
    rt.cmd(&["update", "--cpu-shares", "400", &id]).ok();
    assert_eq!(inside("cpu.shares"), "400");
    assert_eq!(inside("cpu.idle"), "0");
    rt.cmd(&["update", "--cpu-idle", "1", &id]).ok();
    assert_eq!(inside("cpu.idle"), "1");
    rt.cmd(&["update", "--cpu-idle", "2", &id])
        .fails_with("invalid linux.resources.cpu.idle: 2 is neither 0 nor 1");
    if !runtime_is_runc() {
        let out = rt.cmd(&["update", "--l3-cache-schema", "L3:0=f", &id]);
        assert_eq!(
            out.stderr.trim(),
            format!("berth: update container {id:?}: --l3-cache-schema: Intel RDT is not supported by berth")
        );
        rt.cmd(&["update", "--mem-bw-schema", "MB:0=70", &id])
            .fails_with("--mem-bw-schema: Intel RDT is not supported by berth");
    }
    finish(&rt, &b, &id);
}

#[test]
fn kill_all_signals_every_process_of_the_cgroup() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    // No pid namespace: killing the init would not take the others with it.
    let mut b = Bundle::new();
    b.remove_namespace("pid");
    b.args(&["sh", "-c", "sleep 100 & sleep 100 & sleep 100"]);
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    let count = || {
        let out = rt.cmd(&["ps", "--format", "json", &id]);
        out.ok();
        out.json().as_array().unwrap().len()
    };
    // ash execs the last command of -c: the init is the third sleep.
    wait_until("three processes", 10, || count() == 3);
    let table = rt.cmd(&["ps", &id]);
    table.ok();
    assert_eq!(
        table
            .stdout
            .lines()
            .filter(|l| l.contains("sleep 100"))
            .count(),
        3,
        "{table}"
    );
    rt.cmd(&["kill", "--all", &id, "KILL"]).ok();
    wait_until("an empty cgroup", 10, || count() == 0);
    rt.wait_status(&id, "stopped");
    finish(&rt, &b, &id);
}

#[test]
fn stats_have_runc_shape_and_live_values() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let (b, id) = started(
        &rt,
        json!({"memory": {"limit": 67108864}, "pids": {"limit": 20}}),
        "sleep 100",
    );
    let out = rt.cmd(&["events", "--stats", &id]);
    out.ok();
    let ev = out.json();
    assert_eq!(ev["type"], "stats");
    let data = &ev["data"];
    for key in ["cpu", "memory", "pids", "blkio", "hugetlb"] {
        assert!(data.get(key).is_some(), "no {key} in {ev}");
    }
    assert_eq!(data["pids"]["limit"], 20);
    assert!(data["pids"]["current"].as_u64().unwrap() >= 1, "{ev}");
    assert_eq!(data["memory"]["usage"]["limit"], 67108864);
    assert!(
        data["memory"]["usage"]["usage"].as_u64().unwrap() > 0,
        "{ev}"
    );
    assert!(data["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{ev}");
    finish(&rt, &b, &id);
    // A deleted container has no stats.
    rt.cmd(&["events", "--stats", &id])
        .fails_with("does not exist");
}

#[test]
fn resources_this_host_cannot_apply_fail_before_anything_exists() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let cases = [
        (
            json!({"unified": {"memory.high": "1"}}),
            "invalid linux.resources.unified[\"memory.high\"]: the memory controller is not available on this host",
        ),
        (
            json!({"memory": {"limit": -2}}),
            "invalid linux.resources.memory.limit: -2 is negative (only -1, unlimited, is allowed)",
        ),
        (
            json!({"cpu": {"period": 5}}),
            "invalid linux.resources.cpu.period: 5 is outside 1000..=1000000 µs",
        ),
        (
            json!({"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]}),
            "invalid linux.resources.hugepageLimits",
        ),
    ];
    for (resources, want) in cases {
        let mut b = Bundle::new();
        b.config_mut()["linux"]["resources"] = resources;
        let id = unique_id();
        rt.create(&b, &id).fails_with(want);
        rt.assert_nothing_left(&id, &b);
    }
}

#[test]
fn check_reports_this_host() {
    let rt = Runtime::new();
    let out = rt.cmd(&["check", "--format", "json"]);
    out.ok();
    let r = out.json();
    let layout = r["cgroup_layout"].as_str().unwrap();
    assert!(["unified", "hybrid", "legacy"].contains(&layout), "{r}");
    let names: Vec<&str> = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for want in [
        "user namespaces",
        "seccomp",
        "openat2",
        "clone3",
        "CLONE_INTO_CGROUP",
        "idmapped mounts",
        "time namespace",
        "LSMs",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let text = rt.cmd(&["check"]);
    text.ok();
    assert!(text.stdout.starts_with("cgroup mode: "), "{text}");
}

/// Under a parent with its own CFS limit (0.5 CPU), lowering period and quota together must
/// write the quota first: period first would make the child 1.0 CPU for a moment, and the
/// kernel refuses that with EINVAL. runc gets it right; berth failed `update` here.
#[test]
fn update_lowers_period_and_quota_under_a_limited_parent() {
    if !require_root() || !has_v1("cpu") {
        return;
    }
    let id = unique_id();
    let parent = PathBuf::from("/sys/fs/cgroup/cpu").join(format!("berth-it-cfs-{id}"));
    std::fs::create_dir(&parent).unwrap();
    std::fs::write(parent.join("cpu.cfs_period_us"), "100000").unwrap();
    std::fs::write(parent.join("cpu.cfs_quota_us"), "50000").unwrap();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/berth-it-cfs-{id}/c"));
    b.config_mut()["linux"]["resources"] = json!({"cpu": {"period": 100000, "quota": 50000}});
    b.write();
    let rt = Runtime::new();
    rt.create(&b, &id).ok();
    let out = rt.cmd(&[
        "update",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        &id,
    ]);
    let leaf = parent.join("c");
    let seen = |f: &str| std::fs::read_to_string(leaf.join(f)).unwrap_or_default();
    let (period, quota) = (seen("cpu.cfs_period_us"), seen("cpu.cfs_quota_us"));
    // And back up again: the period must go first this time.
    let up = rt.cmd(&[
        "update",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        &id,
    ]);
    let (period_up, quota_up) = (seen("cpu.cfs_period_us"), seen("cpu.cfs_quota_us"));
    rt.cmd(&["delete", "--force", &id]).ok();
    // The parent in every hierarchy: create made it where the test did not (as runc, berth
    // leaves parents of a cgroupsPath it did not own in place).
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap() {
        let dir = h.unwrap().path().join(format!("berth-it-cfs-{id}"));
        let _ = std::fs::remove_dir(dir.join("c"));
        let _ = std::fs::remove_dir(dir);
    }
    out.ok();
    up.ok();
    assert_eq!((period.trim(), quota.trim()), ("50000", "25000"));
    assert_eq!((period_up.trim(), quota_up.trim()), ("100000", "50000"));
    rt.assert_nothing_left(&id, &b);
}

/// A new v1 cpu cgroup has no real-time budget, and a child may not get more than its parent
/// has: berth's own `berth/` parent made every `cpu.realtimeRuntime` fail with EINVAL. berth
/// now grants its own parents what the container asks for and tries to give it back at delete.
/// The kernel may still count a removed cgroup until its tasks are reaped, so the next
/// container may be granted its request on top, but never more.
#[test]
fn realtime_runtime_below_berths_own_parent_is_granted_again_after_delete() {
    if !require_root() || !has_v1("cpu") {
        return;
    }
    if !std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        loud("SKIP realtime_runtime_below_berths_own_parent_is_granted_again_after_delete: no CONFIG_RT_GROUP_SCHED");
        return;
    }
    let parent = PathBuf::from("/sys/fs/cgroup/cpu/berth/cpu.rt_runtime_us");
    let budget = || -> i64 {
        std::fs::read_to_string(&parent)
            .map(|s| s.trim().parse().unwrap_or(0))
            .unwrap_or(0)
    };
    let rt = Runtime::new();
    let resources = json!({"cpu": {"realtimePeriod": 1000000, "realtimeRuntime": 10000}});
    let (b, id) = started(&rt, resources.clone(), "sleep 1000");
    assert_eq!(read("cpu", &id, "cpu.rt_runtime_us"), "10000");
    assert!(budget() >= 10000, "berth/ has {}", budget());
    rt.cmd(&["update", "--cpu-rt-runtime", "20000", &id]).ok();
    assert_eq!(read("cpu", &id, "cpu.rt_runtime_us"), "20000");
    let after_first = budget();
    finish(&rt, &b, &id);
    assert!(
        budget() <= after_first,
        "delete grew berth/ to {}",
        budget()
    );
    // A second container gets its budget too, with at most its own request added.
    let (b, id) = started(&rt, resources, "sleep 1000");
    assert_eq!(read("cpu", &id, "cpu.rt_runtime_us"), "10000");
    assert!(
        budget() <= after_first + 10000,
        "berth/ grew to {} (was {after_first})",
        budget()
    );
    finish(&rt, &b, &id);
}

/// Issue #14, runtime-spec 1.3 (runc ≥ 1.4): `pids.limit: 0` is a limit of 0 tasks, not
/// "unlimited": the container's init runs (joining a cgroup is not a fork), and the first
/// fork inside is refused. The shell reads pids.max with a builtin (`cat` would fork).
#[test]
fn pids_limit_zero_refuses_every_fork_inside() {
    if !require_root() || !has_v1("pids") {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"] = json!({"pids": {"limit": 0}});
    let id = unique_id();
    let out = rt.run_args(
        &b,
        &id,
        &[
            "sh",
            "-c",
            "read max < /sys/fs/cgroup/pids/pids.max; echo \"max=$max\"; ( echo forked ); echo after",
        ],
        &[],
    );
    // busybox sh gives up when the subshell cannot be forked.
    assert!(out.stdout.contains("max=0"), "{out}");
    assert!(out.stderr.contains("can't fork"), "{out}");
    assert!(!out.stdout.contains("forked"), "{out}");
    rt.assert_nothing_left(&id, &b);
}
