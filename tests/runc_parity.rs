//! Behaviours where berth follows runc 1.1.5 (project issue #12), each seen from inside the
//! container where it can be: `lo` up in a new network namespace, a tmpfs that keeps the mode
//! of the directory it covers, hooks' working directory and environment, bind mounts that
//! ignore fs options, procfs bound on /proc, hostname and sysctls in joined namespaces that
//! are not the runtime's, unknown capabilities and device access letters tolerated.

mod common;
use common::*;
use serde_json::json;

#[test]
fn new_network_namespace_has_loopback_up() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run_args(&b, &id, &["ip", "addr", "show", "lo"], &[]);
    out.ok();
    assert!(out.stdout.contains("LOOPBACK,UP"), "{out}");
    assert!(out.stdout.contains("inet 127.0.0.1/8"), "{out}");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn tmpfs_without_mode_takes_the_mode_of_the_directory_it_covers() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    for (dir, mode) in [("m700", 0o700), ("m751", 0o751)] {
        let p = b.rootfs().join(dir);
        std::fs::create_dir(&p).unwrap();
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
    }
    for d in ["/m700", "/m751", "/newdir"] {
        b.mount(
            json!({"destination": d, "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}),
        );
    }
    b.mount(json!({"destination": "/withmode", "type": "tmpfs", "source": "tmpfs", "options": ["mode=711"]}));
    b.config_mut()["root"]["readonly"] = json!(false);
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run_args(
        &b,
        &id,
        &["sh", "-c", "stat -c '%n=%a' /m700 /m751 /newdir /withmode"],
        &[],
    );
    out.ok();
    for want in ["/m700=700", "/m751=751", "/newdir=1777", "/withmode=711"] {
        assert!(out.stdout.contains(want), "{want} missing: {out}");
    }
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn hooks_run_in_the_bundle_with_the_runtimes_environment() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    let rec = tempfile::tempdir().unwrap();
    let script = rec.path().join("hook.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{{ echo \"pwd=$(pwd)\"; echo \"PATH=$PATH\"; echo \"MARK=${{BERTH_HOOK_MARK:-unset}}\"; echo \"XX=${{XX:-unset}}\"; }} > {}/$1\n",
            rec.path().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let hook = |kind: &str| json!([{"path": script, "args": ["hook.sh", kind]}]);
    b.config_mut()["hooks"] = json!({
        "createRuntime": hook("createRuntime"),
        "createContainer": hook("createContainer"),
        "poststart": hook("poststart"),
        "poststop": hook("poststop"),
    });
    b.config_mut()["process"]["env"] = json!(["PATH=/bin", "XX=container"]);
    b.args(&["true"]).write();
    let rt = Runtime::new();
    let id = unique_id();
    let mut cmd = std::process::Command::new(rt.bin());
    cmd.args([
        "--root",
        rt.root_str(),
        "run",
        "--bundle",
        b.path_str(),
        &id,
    ])
    .env("BERTH_HOOK_MARK", "from-runtime");
    let status = cmd.status().unwrap();
    assert!(status.success());
    rt.assert_nothing_left(&id, &b);
    let read = |k: &str| std::fs::read_to_string(rec.path().join(k)).unwrap_or_default();
    let bundle = b.path().canonicalize().unwrap();
    for kind in ["createRuntime", "poststart", "poststop"] {
        let text = read(kind);
        assert!(
            text.contains(&format!("pwd={}\n", bundle.display())),
            "{kind}: {text}"
        );
        assert!(text.contains("MARK=from-runtime"), "{kind}: {text}");
        assert!(text.contains("XX=unset"), "{kind}: {text}");
    }
    // createContainer: as runc, in the rootfs with the container process's environment.
    let text = read("createContainer");
    assert!(
        text.contains(&format!("pwd={}/rootfs\n", bundle.display())),
        "{text}"
    );
    assert!(
        text.contains("PATH=/bin\n") && text.contains("XX=container"),
        "{text}"
    );
    assert!(text.contains("MARK=unset"), "{text}");
}

#[test]
fn unknown_option_on_a_bind_mount_is_ignored() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("f"), "x").unwrap();
    b.mount(
        json!({"destination": "/data", "type": "bind", "source": src.path(),
                   "options": ["rbind", "mode=755", "ro"]}),
    );
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &["--write", "/data/g"]);
    let m = find_mount(&r, "/data").expect("bind mounted");
    assert!(has(&m["options"], "ro"), "{m}");
    assert_eq!(r["write"]["/data/g"]["error"], "EROFS", "{}", r["write"]);
}

#[test]
fn procfs_bind_mounted_on_proc_is_allowed() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.remove_mount("/proc");
    b.mount(
        json!({"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]}),
    );
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    let m = find_mount(&r, "/proc").expect("/proc mounted");
    assert_eq!(m["fstype"], "proc", "{m}");
}

#[test]
fn hostname_and_sysctls_apply_in_joined_namespaces_that_are_not_the_runtimes() {
    if !require_root() {
        return;
    }
    // A holder process with its own uts and net namespaces stands for a pod's infra container.
    let mut holder = std::process::Command::new("unshare")
        .args(["--uts", "--net", "sleep", "60"])
        .spawn()
        .unwrap();
    let pid = holder.id();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let uts = format!("/proc/{pid}/ns/uts");
    let net = format!("/proc/{pid}/ns/net");
    let mut b = Bundle::new();
    b.namespace("uts", Some(&uts))
        .namespace("network", Some(&net));
    b.config_mut()["hostname"] = json!("joined-host");
    b.config_mut()["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &["--sysctl", "net.ipv4.ip_forward"]);
    assert_eq!(r["hostname"], "joined-host");
    assert_eq!(
        r["namespaces"]["uts"].as_u64(),
        Some(ns_inode(&pid.to_string(), "uts"))
    );
    // Written in the joined network namespace, not the host's.
    let out = run_command(
        "nsenter",
        &[
            format!("--net={net}"),
            "cat".into(),
            "/proc/sys/net/ipv4/ip_forward".into(),
        ],
        std::time::Duration::from_secs(10),
    );
    assert_eq!(out.stdout.trim(), "1", "{out}");
    let host = run_command("hostname", &[], std::time::Duration::from_secs(10));
    assert_ne!(host.stdout.trim(), "joined-host");
    // The runtime's own namespace is still refused.
    let mut own = Bundle::new();
    own.namespace("network", Some("/proc/self/ns/net"));
    own.config_mut()["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let id = unique_id();
    rt.create(&own, &id).fails_with("not the runtime's");
    rt.assert_nothing_left(&id, &own);
    let _ = holder.kill();
    let _ = holder.wait();
}

#[test]
fn unknown_capability_is_a_warning_and_the_rest_apply() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    for set in ["bounding", "effective", "permitted"] {
        b.config_mut()["process"]["capabilities"][set] = json!(["CAP_KILL", "CAP_FOO"]);
    }
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run_args(&b, &id, &["/bin/berth-probe"], &[]);
    out.ok();
    assert!(out.stderr.contains("CAP_FOO"), "no warning: {out}");
    let r = out.json();
    assert!(
        has(&r["capabilities"]["bounding"]["names"], "CAP_KILL"),
        "{}",
        r["capabilities"]
    );
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn device_access_letters_other_than_rwm_are_dropped() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwa"}
    ]);
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run_args(
        &b,
        &id,
        &["sh", "-c", "echo x > /dev/null && echo wrote"],
        &[],
    );
    out.ok();
    assert!(out.stdout.contains("wrote"), "{out}");
    rt.assert_nothing_left(&id, &b);
}

/// runc makes the container's new session keyring searchable by its user (KEY_USR_SEARCH,
/// "make session keyring searchable" in libcontainer): permissions 0x3f1b0000, not the
/// kernel's 0x3f130000. Found by the differential tier (tests/differential.rs).
#[test]
fn session_keyring_is_searchable_as_in_runc() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    let keyring = r["session_keyring"].as_str().unwrap_or_default();
    let perm = keyring.split(';').nth(3).unwrap_or_default();
    assert_eq!(perm, "3f1b0000", "{keyring}");
}

/// runc's `state` prints `"owner": ""` while `list --format json` names the owner ("root").
/// Found by the differential tier.
#[test]
fn state_owner_is_empty_and_list_names_it_as_in_runc() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    b.args(&["sleep", "1000"]);
    rt.create(&b, &id).ok();
    assert_eq!(rt.state(&id)["owner"], "");
    let list = rt.cmd(&["list", "--format", "json"]);
    let entry = list.ok().json();
    let entry = entry
        .as_array()
        .and_then(|a| a.iter().find(|e| e["id"] == id.as_str()));
    assert_eq!(entry.map(|e| e["owner"].clone()), Some(json!("root")));
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// containerd's runc shim reads the runtime's kill errors by their words (pkg/process/utils.go
/// `checkKillError`): "container not running" and "does not exist" mean the process is already
/// gone (NotFound); any other text is an Unknown error that fails CRI's StopContainer when the
/// init exits just before the kill. So plain `kill` of a stopped container and `kill` of a
/// deleted one must say what runc 1.1.5 says.
#[test]
fn kill_of_a_stopped_or_deleted_container_uses_runcs_words() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.args(&["true"]);
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    rt.wait_status(&id, "stopped");
    for sig in ["9", "KILL", "15", "0"] {
        let out = rt.cmd(&["kill", &id, sig]);
        assert_eq!(out.code, 1, "{out}");
        assert!(
            out.stderr.contains("container not running"),
            "kill {sig}: {out}"
        );
    }
    rt.cmd(&["kill", "--all", &id, "9"]).ok();
    rt.cmd(&["delete", &id]).ok();
    let out = rt.cmd(&["kill", &id, "9"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("does not exist"), "{out}");
    rt.assert_nothing_left(&id, &b);
}
