//! Namespaces (config-linux.md "Namespaces", "User namespace mappings", "Offset for Time
//! Namespace"; config.md "Hostname", "Domainname"), observed by the probe.

mod common;
use common::*;
use serde_json::json;

#[test]
fn pid_namespace_makes_process_pid_1() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["pid"], 1, "pid inside: {}", r["pid"]);
    assert_eq!(r["ppid"], 0);
}

#[test]
fn configured_namespaces_differ_from_host_and_others_are_shared() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.namespace("cgroup", None);
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    let ns = &r["namespaces"];
    for (probe_name, host_name) in [
        ("pid", "pid"),
        ("net", "net"),
        ("ipc", "ipc"),
        ("uts", "uts"),
        ("mnt", "mnt"),
        ("cgroup", "cgroup"),
    ] {
        assert_ne!(
            ns[probe_name].as_u64(),
            Some(ns_inode("self", host_name)),
            "{probe_name} namespace should be new"
        );
    }
    assert_eq!(
        ns["user"].as_u64(),
        Some(ns_inode("self", "user")),
        "no user namespace configured: must share the host's"
    );
    // With a cgroup namespace the process sees itself at the root of its cgroups.
    for l in r["cgroup"].as_array().unwrap() {
        if l["controllers"]
            .as_str()
            .is_some_and(|c| c.contains("memory"))
        {
            assert_eq!(l["path"], "/", "{l}");
        }
    }
}

#[test]
fn uts_namespace_sets_hostname() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["hostname"] = json!("probe-host");
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["hostname"], "probe-host");
}

#[test]
fn uts_namespace_sets_domainname() {
    if !require_root() || runc_gap("runc 1.1.5 ignores `domainname` (added in runc 1.2)") {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["domainname"] = json!("probe.domain");
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["domainname"], "probe.domain");
}

#[test]
fn join_network_namespace_of_another_container() {
    if !require_root() {
        return;
    }
    let mut target = Bundle::new();
    target.args(&["sleep", "1000"]);
    let b = {
        let mut b = Bundle::new();
        b.remove_namespace("network");
        b
    };
    let rt = Runtime::new();
    let tid = unique_id();
    rt.create(&target, &tid).ok();
    let pid = rt.state(&tid)["pid"].as_i64().unwrap().to_string();
    let want = ns_inode(&pid, "net");

    let mut b = b;
    b.namespace("network", Some(&format!("/proc/{pid}/ns/net")));
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["namespaces"]["net"].as_u64(), Some(want));
    assert_ne!(want, ns_inode("self", "net"));

    rt.cmd(&["delete", "--force", &tid]).ok();
    rt.assert_nothing_left(&tid, &target);
}

#[test]
fn join_network_namespace_bind_mounted_on_a_file() {
    if !require_root() {
        return;
    }
    // An `ip netns`-style namespace file, made inside a private mount namespace so that the
    // bind mount vanishes with it (the host mount table is never touched).
    let nsdir = tempfile::tempdir().unwrap();
    let nsfile = nsdir.path().join("netns");
    std::fs::write(&nsfile, "").unwrap();
    let mut b = Bundle::new();
    b.namespace("network", Some(nsfile.to_str().unwrap()));
    let rt = Runtime::new();
    let id = unique_id();
    let mut cfg = b.config().clone();
    cfg["process"]["args"] = json!(["/bin/berth-probe"]);
    b.write_config(&cfg);
    let nsf = nsfile.to_str().unwrap();
    let out = rt.cmd_in_mntns(
        &format!("unshare --net={nsf} true; stat -L -c %i {nsf} >&2"),
        &["run", "--bundle", b.path_str(), &id],
    );
    out.ok();
    let want: u64 = out
        .stderr
        .lines()
        .find_map(|l| l.trim().parse().ok())
        .expect("inode printed by stat");
    let r = out.json();
    assert_eq!(r["namespaces"]["net"].as_u64(), Some(want), "{out}");
    rt.assert_nothing_left(&id, &b);
    assert!(mounts_under(nsdir.path()).is_empty());
}

fn userns_bundle() -> Bundle {
    let mut b = Bundle::new();
    b.namespace("user", None);
    b.config_mut()["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config_mut()["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b
}

#[test]
fn user_namespace_maps_root() {
    if !require_root() {
        return;
    }
    let b = userns_bundle();
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["ids"]["uid"], 0, "{}", r["ids"]);
    assert_eq!(r["ids"]["gid"], 0, "{}", r["ids"]);
    let norm = |v: &serde_json::Value| {
        v.as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(norm(&r["uid_map"]), "0 100000 65536");
    assert_eq!(norm(&r["gid_map"]), "0 100000 65536");
    assert_ne!(
        r["namespaces"]["user"].as_u64(),
        Some(ns_inode("self", "user"))
    );
}

/// Podman pods and Kubernetes user-namespaced pods repeat the pod's maps in every container
/// that joins the pod's user namespace. Accepted when they are the namespace's own (runc
/// accepts them unchecked); a config claiming other maps is refused before anything exists.
#[test]
fn joining_a_user_namespace_with_its_own_mappings_is_accepted_and_other_mappings_refused() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let mut pod = userns_bundle();
    pod.args(&["sleep", "1000"]);
    let pod_id = unique_id();
    rt.create(&pod, &pod_id).ok();
    let pod_pid = rt.state(&pod_id)["pid"].as_i64().unwrap();
    let userns = format!("/proc/{pod_pid}/ns/user");
    let mut b = userns_bundle();
    b.namespace("user", Some(&userns));
    let r = rt.run_probe(&b, &[]);
    assert_eq!(
        r["namespaces"]["user"].as_u64(),
        Some(ns_inode(&pod_pid.to_string(), "user"))
    );
    assert_eq!(r["ids"]["uid"], 0, "{}", r["ids"]);
    // Other maps than the namespace's: refused with both shown.
    b.config_mut()["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.write();
    let id = unique_id();
    rt.create(&b, &id).fails_with(
        "config.json: linux.uidMappings: [0:200000:65536] differ from the joined user namespace's [0:100000:65536]",
    );
    rt.assert_nothing_left(&id, &b);
    rt.cmd(&["delete", "--force", &pod_id]).ok();
    rt.assert_nothing_left(&pod_id, &pod);
}

#[test]
fn time_namespace_offsets() {
    if !require_root() || runc_gap("runc 1.1.5 has no time namespace / linux.timeOffsets") {
        return;
    }
    let mut b = Bundle::new();
    b.namespace("time", None);
    b.config_mut()["linux"]["timeOffsets"] = json!({
        "monotonic": {"secs": 86400, "nanos": 0},
        "boottime": {"secs": 172800, "nanos": 0}
    });
    let rt = Runtime::new();
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a local timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let host_mono = ts.tv_sec as f64;
    let r = rt.run_probe(&b, &[]);
    let offsets = r["timens_offsets"].as_str().unwrap_or("");
    let norm: Vec<String> = offsets
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(norm.contains(&"monotonic 86400 0".to_string()), "{offsets}");
    assert!(norm.contains(&"boottime 172800 0".to_string()), "{offsets}");
    let mono = r["clocks"]["monotonic"].as_f64().unwrap();
    assert!(
        mono >= host_mono + 86400.0 && mono < host_mono + 86400.0 + 120.0,
        "CLOCK_MONOTONIC inside {mono} vs host {host_mono}"
    );
}
