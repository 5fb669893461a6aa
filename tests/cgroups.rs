//! Cgroup placement (config-linux.md "Control groups": cgroupsPath), on this host's hybrid
//! layout: v1 controllers under /sys/fs/cgroup/<controller>. Only cgroups the runtime creates
//! for the test are read; nothing here writes to any cgroup.

mod common;
use common::*;
use serde_json::{json, Value};

/// The path of the `memory` (v1) or unified (v2, `0::`) line of the probe's /proc/self/cgroup.
fn cgroup_path(r: &Value, controller: &str) -> String {
    r["cgroup"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| {
            l["controllers"]
                .as_str()
                .is_some_and(|c| c.split(',').any(|x| x == controller))
        })
        .unwrap_or_else(|| panic!("no {controller} line in {}", r["cgroup"]))["path"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn container_is_placed_in_its_own_cgroup() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    let mut cfg = b.config().clone();
    cfg["process"]["args"] = json!(["/bin/berth-probe"]);
    b.write_config(&cfg);
    let out = rt.cmd(&["run", "--bundle", b.path_str(), &id]);
    out.ok();
    let r = out.json();
    for ctrl in ["memory", "pids", "devices"] {
        let p = cgroup_path(&r, ctrl);
        assert!(
            p.ends_with(&id),
            "{ctrl} cgroup {p:?} does not end with the id {id}"
        );
    }
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn cgroups_path_is_honoured_and_removed_after_delete() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id();
    let cg = format!("/berth-it-{id}");
    b.config_mut()["linux"]["cgroupsPath"] = json!(cg);
    let rt = Runtime::new();
    rt.create(&b, &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    for ctrl in ["memory", "pids"] {
        let dir = std::path::Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(&cg[1..]);
        let procs = std::fs::read_to_string(dir.join("cgroup.procs"))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        assert!(
            procs.lines().any(|l| l.trim() == pid.to_string()),
            "pid {pid} not in {}: {procs:?}",
            dir.display()
        );
    }
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        own.lines()
            .any(|l| l.contains(":memory:") && l.ends_with(&cg)),
        "{own}"
    );
    rt.cmd(&["delete", "--force", &id]).ok();
    for ctrl in ["memory", "pids"] {
        let dir = std::path::Path::new("/sys/fs/cgroup")
            .join(ctrl)
            .join(&cg[1..]);
        assert!(!dir.exists(), "{} not removed", dir.display());
    }
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn cgroup_namespace_shows_root() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.namespace("cgroup", None);
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(cgroup_path(&r, "memory"), "/");
    assert_eq!(cgroup_path(&r, "pids"), "/");
}
