//! LSM settings on a host where neither AppArmor nor SELinux is active (the development and
//! CI machines): refused before anything is created, as runc refuses them. Needs root.

mod common;
#[path = "common/exec_support.rs"]
mod exec_support;

use common::*;
use exec_support::run_detached_sleeper;
use serde_json::json;

#[test]
fn lsm_labels_without_an_active_lsm_fail_create_and_leave_nothing() {
    if !require_root() {
        return;
    }
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y");
    let selinux =
        std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| m.contains(" - selinuxfs "));
    if apparmor || selinux {
        loud(&format!(
            "SKIP {}: an LSM is active on this host",
            test_name()
        ));
        return;
    }
    let rt = Runtime::new();
    let cases = [
        ("apparmorProfile", json!("docker-default"),
         "config.json: process.apparmorProfile: \"docker-default\" is set but AppArmor is not enabled on this host"),
        ("selinuxLabel", json!("system_u:system_r:container_t:s0:c1,c2"),
         "config.json: process.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported"),
    ];
    for (field, value, message) in cases {
        let mut b = Bundle::new();
        b.config_mut()["process"][field] = value;
        let id = unique_id();
        let out = rt.create(&b, &id);
        assert!(
            !out.success() && out.stderr.contains(message),
            "{field}: {out}"
        );
        rt.assert_nothing_left(&id, &b);
    }
    // A mount label alone is ignored (runc drops it without SELinux): the container runs.
    let mut b = Bundle::new();
    b.config_mut()["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["hostname"], "berth");
}

/// Issue #14: an `exec --process` file's `apparmorProfile`/`selinuxLabel` are checked like
/// config.json's: on a host without the LSM the exec is refused naming the field, and the
/// process does not run (its marker stays absent). The file's labels win over the
/// container's (unit test in container/exec.rs).
#[test]
fn exec_process_file_labels_without_an_active_lsm_are_refused_and_nothing_runs() {
    if !require_root() {
        return;
    }
    let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y");
    let selinux =
        std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| m.contains(" - selinuxfs "));
    if apparmor || selinux {
        loud(&format!(
            "SKIP {}: an LSM is active on this host",
            test_name()
        ));
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    let dir = tempfile::tempdir().unwrap();
    let pj = dir.path().join("process.json");
    for (field, value, message) in [
        ("apparmorProfile", "docker-default",
         "config.json: process.apparmorProfile: \"docker-default\" is set but AppArmor is not enabled on this host"),
        ("selinuxLabel", "system_u:system_r:container_t:s0",
         "config.json: process.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported"),
    ] {
        let mut process = json!({"args": ["sh", "-c", "touch /dev/shm/ran"], "cwd": "/"});
        process[field] = json!(value);
        std::fs::write(&pj, process.to_string()).unwrap();
        rt.cmd(&["exec", "--process", pj.to_str().unwrap(), &id])
            .fails_with(message);
        let ran = rt.cmd(&["exec", &id, "test", "-e", "/dev/shm/ran"]);
        assert!(!ran.success(), "{field}: the refused process ran");
    }
    // Empty labels mean unset: the process runs and leaves its marker.
    std::fs::write(
        &pj,
        json!({"args": ["sh", "-c", "touch /dev/shm/ran"], "cwd": "/",
               "apparmorProfile": "", "selinuxLabel": ""})
        .to_string(),
    )
    .unwrap();
    rt.cmd(&["exec", "--process", pj.to_str().unwrap(), &id])
        .ok();
    rt.cmd(&["exec", &id, "test", "-e", "/dev/shm/ran"]).ok();
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}
