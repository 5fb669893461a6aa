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

/// A cgroupsPath that names a frozen cgroup: the init would stop at its first instruction and
/// `run` would wait forever. berth refuses it at once, as runc does ("container's cgroup
/// unexpectedly frozen"). Bounded: the harness kills a command after 60 s.
#[test]
fn a_frozen_cgroups_path_is_refused_instead_of_hanging() {
    if !require_root() {
        return;
    }
    let id = unique_id();
    let cg = format!("berth-it-frozen-{id}");
    let freezer = std::path::Path::new("/sys/fs/cgroup/freezer").join(&cg);
    if !freezer.parent().unwrap().join("freezer.state").exists()
        && !std::path::Path::new("/sys/fs/cgroup/freezer/tasks").exists()
    {
        loud("SKIP a_frozen_cgroups_path_is_refused_instead_of_hanging: no v1 freezer");
        return;
    }
    std::fs::create_dir(&freezer).unwrap();
    std::fs::write(freezer.join("freezer.state"), "FROZEN").unwrap();
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/{cg}"));
    b.write();
    let rt = Runtime::new();
    let out = rt.cmd(&["run", "--bundle", b.path_str(), &id]);
    let _ = std::fs::write(freezer.join("freezer.state"), "THAWED");
    let _ = std::fs::remove_dir(&freezer);
    out.fails_with(&format!(
        "the container's cgroup {} is already frozen (thaw it or choose another cgroupsPath)",
        freezer.display()
    ));
    rt.assert_nothing_left(&id, &b);
}

/// A cgroupsPath whose cgroup already holds processes works (pods share one on purpose), with
/// a warning.
#[test]
fn a_cgroups_path_with_processes_in_it_is_used_with_a_warning() {
    if !require_root() {
        return;
    }
    let id = unique_id();
    let cg = format!("berth-it-busy-{id}");
    let pids = std::path::Path::new("/sys/fs/cgroup/pids").join(&cg);
    std::fs::create_dir(&pids).unwrap();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    std::fs::write(pids.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    let mut b = Bundle::new();
    b.args(&["sh", "-c", "echo inside"]);
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/{cg}"));
    b.write();
    let rt = Runtime::new();
    let out = rt.cmd(&["run", "--bundle", b.path_str(), &id]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    // The runtime could not remove the pids directory while the sleeper was in it.
    for _ in 0..100 {
        if std::fs::remove_dir(&pids).is_ok() || !pids.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    out.ok();
    assert_eq!(out.stdout, "inside\n", "{out}");
    assert!(
        out.stderr
            .contains("its cgroup is not empty: 1 process(es) found"),
        "{out}"
    );
    // The foreign process kept its directory busy: left in place with a warning, not an error.
    assert!(out.stderr.contains("cgroup left in place"), "{out}");
    rt.assert_nothing_left(&id, &b);
}
