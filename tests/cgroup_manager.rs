//! `--cgroup-manager=disabled` (crun's option): the container gets no cgroup at all. What the
//! container sees (its /proc/self/cgroup is the caller's, /sys/fs/cgroup is an empty tmpfs),
//! that no cgroup named after it ever exists on the host, the warning about the ignored
//! resources, the exact refusals of the commands that need a cgroup, and that `kill --all` and
//! `delete --force` still reach every process. The rejected flag combinations are in
//! tests/bad_input.rs.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;

const DISABLED: &str = "--cgroup-manager=disabled";

/// `(controllers, path)` of each line of a /proc/<pid>/cgroup text, in order.
fn cgroup_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut parts = l.splitn(3, ':');
            let _hierarchy = parts.next();
            let ctrls = parts.next().unwrap_or("").to_string();
            (ctrls, parts.next().unwrap_or("").to_string())
        })
        .collect()
}

/// The cgroups of this test process, which every berth it runs (and so the container) inherits.
fn callers_cgroups() -> Vec<(String, String)> {
    cgroup_lines(&std::fs::read_to_string("/proc/self/cgroup").unwrap())
}

/// A bundle running `args` with memory and pids limits (plus the default device rules), and a
/// cgroupsPath naming the container: none of it may reach the host's cgroupfs.
fn limited_bundle(id: &str, args: &[&str]) -> Bundle {
    let mut b = Bundle::new();
    b.args(args);
    let resources = &mut b.config_mut()["linux"]["resources"];
    resources["memory"] = json!({"limit": 64 * 1024 * 1024});
    resources["pids"] = json!({"limit": 64});
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/berth-it-{id}"));
    b
}

/// The container's cgroup must not exist anywhere on the host.
#[track_caller]
fn assert_no_cgroup(id: &str) {
    let found = cgroups_named(id);
    assert!(found.is_empty(), "cgroups named after {id}: {found:?}");
}

/// The exact stderr line of a command refused for want of a cgroup.
fn no_cgroup_line(op: &str, id: &str) -> String {
    format!("berth: {op} container \"{id}\": container \"{id}\" has no cgroup (created with --cgroup-manager=disabled, or rootless)")
}

#[track_caller]
fn assert_refused(out: &Output, op: &str, id: &str) {
    assert!(!out.success(), "{out}");
    assert_eq!(out.stderr.trim_end(), no_cgroup_line(op, id), "{out}");
}

fn alive(pid: i64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[track_caller]
fn wait_gone(pids: &[i64]) {
    let deadline = std::time::Instant::now() + CMD_TIMEOUT;
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            std::time::Instant::now() < deadline,
            "processes still alive: {:?}",
            pids.iter().filter(|&&p| alive(p)).collect::<Vec<_>>()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `exec -d` a `sleep` in container `id`; returns its host pid.
#[track_caller]
fn exec_sleep(rt: &Runtime, id: &str, dir: &Path) -> i64 {
    let pid_file = dir.join(format!("exec-{}.pid", unique_id()));
    rt.cmd(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
        "sleep",
        "2000",
    ])
    .ok();
    std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The children of `pid` once it has `n` of them (panics after [`CMD_TIMEOUT`]).
#[track_caller]
fn children_of(pid: i64, n: usize) -> Vec<i64> {
    let deadline = std::time::Instant::now() + CMD_TIMEOUT;
    loop {
        let children: Vec<i64> =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default()
                .split_whitespace()
                .map(|p| p.parse().unwrap())
                .collect();
        if children.len() == n {
            return children;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pid} has children {children:?}, expected {n}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// An init (sh, pid 1 of its pid namespace) with two sleeping children.
const SLEEPERS: &[&str] = &["sh", "-c", "sleep 1000 & sleep 1001 & wait"];

/// The runtime under test and a fresh container id; None (the test is skipped) without root
/// or when the runtime is runc, which has no --cgroup-manager.
fn setup() -> Option<(Runtime, String)> {
    if !require_root() || runc_gap("runc has no --cgroup-manager") {
        return None;
    }
    Some((Runtime::new(), unique_id()))
}

#[test]
fn disabled_container_stays_in_the_callers_cgroups_and_warns_about_ignored_resources() {
    let Some((rt, id)) = setup() else {
        return;
    };
    let b = limited_bundle(&id, &["/bin/berth-probe", "--exit", "7"]);
    b.write();
    let log = b.path().join("berth.log");
    let out = rt.cmd(&[
        "--log",
        log.to_str().unwrap(),
        DISABLED,
        "run",
        "--bundle",
        b.path_str(),
        &id,
    ]);
    assert_eq!(out.code, 7, "the container's exit status: {out}");
    let report = out.json();
    let seen: Vec<(String, String)> = report["cgroup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["controllers"].as_str().unwrap().to_string(),
                l["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(seen, callers_cgroups(), "the container's /proc/self/cgroup");
    // No cgroup to show: the `cgroup` mount is an empty tmpfs.
    let m = find_mount(&report, "/sys/fs/cgroup").expect("a /sys/fs/cgroup mount");
    assert_eq!(m["fstype"], "tmpfs", "{m}");
    let log = std::fs::read_to_string(&log).unwrap();
    let warning = format!(
        "level=warning msg=\"container \\\"{id}\\\": linux.resources ignored because of \
         --cgroup-manager=disabled (the container has no cgroup): devices, memory, pids\""
    );
    assert_eq!(
        log.lines().filter(|l| l.ends_with(&warning)).count(),
        1,
        "expected one line ending with {warning}\nlog:\n{log}"
    );
    assert_no_cgroup(&id);
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn no_warning_without_resources() {
    let Some((rt, id)) = setup() else {
        return;
    };
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config_mut()["linux"]
        .as_object_mut()
        .unwrap()
        .remove("resources");
    b.write();
    let log = b.path().join("berth.log");
    let log_s = log.to_str().unwrap();
    rt.cmd(&[
        "--log",
        log_s,
        DISABLED,
        "run",
        "--bundle",
        b.path_str(),
        &id,
    ])
    .ok();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains("level=warning"), "{text}");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn disabled_container_refuses_cgroup_commands_while_ps_and_kill_all_reach_every_process() {
    let Some((rt, id)) = setup() else {
        return;
    };
    // sh is pid 1 of the container's pid namespace without a SIGTERM handler, so SIGTERM
    // reaches it from nowhere (pid_namespaces(7)): the container stops on `kill --all TERM`
    // only if the two sleeps get the signal, not just the init.
    let b = limited_bundle(&id, SLEEPERS);
    b.write();
    rt.cmd(&[DISABLED, "create", "--bundle", b.path_str(), &id])
        .ok();
    let state = rt.state(&id);
    let init = state["pid"].as_i64().unwrap();
    let on_disk: Value =
        serde_json::from_slice(&std::fs::read(rt.root().join(&id).join("state.json")).unwrap())
            .unwrap();
    assert_eq!(on_disk["cgroup"]["disabled"], true, "{on_disk}");
    assert_eq!(on_disk["cgroup"]["hierarchies"], json!([]), "{on_disk}");
    // Later commands are run without the flag: the state tells them.
    rt.cmd(&["start", &id]).ok();
    rt.wait_status(&id, "running");
    let init_cgroups = std::fs::read_to_string(format!("/proc/{init}/cgroup")).unwrap();
    assert_eq!(cgroup_lines(&init_cgroups), callers_cgroups());
    assert_no_cgroup(&id);

    assert_refused(&rt.cmd(&["pause", &id]), "pause", &id);
    assert_refused(&rt.cmd(&["resume", &id]), "resume", &id);
    assert_refused(&rt.cmd(&["update", "--memory", "32m", &id]), "update", &id);
    assert_refused(&rt.cmd(&["events", "--stats", &id]), "events of", &id);
    assert_refused(&rt.cmd(&["events", &id]), "events of", &id);
    assert_eq!(rt.state(&id)["status"], "running", "nothing was changed");

    // exec joins the namespaces; there is no cgroup to join.
    let out = rt.cmd(&["exec", &id, "cat", "/proc/self/cgroup"]);
    out.ok();
    assert_eq!(cgroup_lines(&out.stdout), callers_cgroups());
    let exec_pid = exec_sleep(&rt, &id, b.path());
    // ps without a cgroup: the processes of the pid namespace the init created (the init,
    // its two sleeps, the exec'd sleep), as pids on the host.
    let pids = rt.cmd(&["ps", "--format", "json", &id]).ok().json();
    let mut pids: Vec<i64> = pids
        .as_array()
        .expect("a JSON list")
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    pids.sort_unstable();
    let mut expected = vec![init, exec_pid];
    expected.extend(children_of(init, 2));
    expected.sort_unstable();
    assert_eq!(pids, expected);
    let table = rt.cmd(&["ps", &id, "-o", "pid,args"]);
    assert_eq!(
        table.ok().stdout.lines().count(),
        5,
        "header and 4: {table}"
    );

    rt.cmd(&["kill", "--all", &id, "TERM"]).ok();
    rt.wait_status(&id, "stopped");
    wait_gone(&[init, exec_pid]);
    rt.cmd(&["delete", &id]).ok();
    assert_no_cgroup(&id);
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn delete_force_kills_every_process_of_a_disabled_container() {
    let Some((rt, id)) = setup() else {
        return;
    };
    let b = limited_bundle(&id, SLEEPERS);
    b.write();
    rt.cmd(&[DISABLED, "run", "-d", "--bundle", b.path_str(), &id])
        .ok();
    let init = rt.wait_status(&id, "running")["pid"].as_i64().unwrap();
    let exec_pid = exec_sleep(&rt, &id, b.path());
    let children = children_of(init, 2);
    rt.cmd(&["delete", "--force", &id]).ok();
    let mut all = children;
    all.extend([init, exec_pid]);
    wait_gone(&all);
    assert!(!rt.root().join(&id).exists(), "state dir left");
    assert_no_cgroup(&id);
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn kill_all_without_an_own_pid_namespace_signals_the_init() {
    let Some((rt, id)) = setup() else {
        return;
    };
    let mut b = limited_bundle(&id, &["sleep", "1000"]);
    // The host's pid namespace: nothing tells the container's processes from others' without a
    // cgroup, so `kill --all` reaches the init only (which is all this container has).
    b.remove_namespace("pid");
    b.write();
    rt.cmd(&[DISABLED, "run", "-d", "--bundle", b.path_str(), &id])
        .ok();
    let init = rt.wait_status(&id, "running")["pid"].as_i64().unwrap();
    rt.cmd(&["kill", "--all", &id, "KILL"]).ok();
    rt.wait_status(&id, "stopped");
    wait_gone(&[init]);
    rt.cmd(&["delete", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn explicit_cgroupfs_places_the_container_in_its_own_cgroup() {
    let Some((rt, id)) = setup() else {
        return;
    };
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.write();
    rt.cmd(&[
        "--cgroup-manager=cgroupfs",
        "create",
        "--bundle",
        b.path_str(),
        &id,
    ])
    .ok();
    assert!(
        !cgroups_named(&id).is_empty(),
        "no cgroup named after {id} was created"
    );
    let init = rt.state(&id)["pid"].clone();
    let pids = rt.cmd(&["ps", "--format", "json", &id]).ok().json();
    assert_eq!(pids, json!([init]));
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}
