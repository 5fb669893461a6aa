//! LSM settings on a host where neither AppArmor nor SELinux is active (the development and
//! CI machines): refused before anything is created, as runc refuses them. Needs root.

mod common;
use common::*;
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
