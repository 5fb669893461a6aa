//! `berth features` tells the truth (issue #14): each claim of the document is checked against
//! what the binary does with a config that uses it. Enabled features run and are observed by
//! the probe; disabled ones are refused naming their field (no silent ignores).

mod common;
use common::*;
use serde_json::{json, Value};

fn features() -> Value {
    Runtime::new().cmd(&["features"]).json()
}

#[test]
fn every_memory_policy_mode_and_flag_listed_is_applied() {
    if !require_root() || runc_gap("berth's own features document") {
        return;
    }
    let f = features();
    let rt = Runtime::new();
    let modes = strings(&f["linux"]["memoryPolicy"]["modes"]);
    assert_eq!(modes.len(), 7, "{modes:?}");
    for mode in &modes {
        let mut b = Bundle::new();
        let mut policy = json!({"mode": mode});
        if !matches!(mode.as_str(), "MPOL_DEFAULT" | "MPOL_LOCAL") {
            policy["nodes"] = json!("0"); // this host's one NUMA node
        }
        b.config_mut()["linux"]["memoryPolicy"] = policy;
        let r = rt.run_probe(&b, &[]);
        assert_eq!(&r["mempolicy"]["mode"], mode, "{}", r["mempolicy"]);
    }
    let flags = strings(&f["linux"]["memoryPolicy"]["flags"]);
    assert_eq!(flags.len(), 3, "{flags:?}");
    for flag in &flags {
        let mut b = Bundle::new();
        b.config_mut()["linux"]["memoryPolicy"] =
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": [flag]});
        let r = rt.run_probe(&b, &[]);
        assert_eq!(r["mempolicy"]["flags"], json!([flag]), "{}", r["mempolicy"]);
    }
}

#[test]
fn disabled_features_are_refused_by_name() {
    if !require_root() || runc_gap("berth's own features document") {
        return;
    }
    let f = features();
    let rt = Runtime::new();
    for (claim, field, value) in [
        (
            &f["linux"]["intelRdt"]["enabled"],
            "intelRdt",
            json!({"closID": "guaranteed_group"}),
        ),
        (
            &f["linux"]["netDevices"]["enabled"],
            "netDevices",
            json!({"eth9": {"name": "eth0"}}),
        ),
    ] {
        assert_eq!(claim, &json!(false), "{field}");
        let mut b = Bundle::new();
        b.config_mut()["linux"][field] = value;
        let id = unique_id();
        rt.create(&b, &id)
            .fails_with(&format!("config.json: linux.{field}: berth does not"));
        rt.assert_nothing_left(&id, &b);
    }
    // mountExtensions.idmap: id-mapped binds are made (tests/idmap.rs observes the owners
    // seen through one).
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
}

#[test]
fn lsm_and_rdma_claims_are_implemented_not_ignored() {
    if !require_root() || runc_gap("berth's own features document") {
        return;
    }
    let f = features();
    let rt = Runtime::new();
    // apparmor/selinux "enabled" says berth implements them (features.md), whatever the host
    // runs: on a host without the LSM a profile is refused for that reason, never ignored.
    assert_eq!(f["linux"]["apparmor"]["enabled"], true);
    assert_eq!(f["linux"]["selinux"]["enabled"], true);
    if std::path::Path::new("/sys/module/apparmor/parameters/enabled").exists() {
        loud("lsm claims: AppArmor is present on this host; the refusal path is not shown");
    } else {
        let mut b = Bundle::new();
        b.config_mut()["process"]["apparmorProfile"] = json!("docker-default");
        rt.create(&b, &unique_id()).fails_with(
            "process.apparmorProfile: \"docker-default\" is set but AppArmor is not enabled on this host",
        );
    }
    // rdma: limits go to the rdma controller; on a host without one they are refused for that
    // reason (cgroups.md), not as an unsupported field.
    assert_eq!(f["linux"]["cgroup"]["rdma"], true);
    if !std::path::Path::new("/sys/fs/cgroup/rdma").exists() {
        let mut b = Bundle::new();
        b.config_mut()["linux"]["resources"]["rdma"] =
            json!({"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}});
        let id = unique_id();
        let out = rt.create(&b, &id);
        out.fails_with("rdma");
        assert!(out.mentions("not available"), "{out}");
        rt.assert_nothing_left(&id, &b);
    }
}

#[test]
fn oci_version_max_is_accepted_and_is_what_version_says() {
    if !require_root() || runc_gap("berth's own features document") {
        return;
    }
    let f = features();
    let max = f["ociVersionMax"].as_str().unwrap().to_string();
    let rt = Runtime::new();
    let version = rt.cmd(&["--version"]);
    version.ok();
    assert!(
        version.stdout.contains(&format!("spec: {max}")),
        "{version}"
    );
    // features.md: "The runtime MUST accept this value as the ociVersion property".
    let mut b = Bundle::new();
    b.config_mut()["ociVersion"] = json!(max);
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["pid"], 1);
}
