//! The container process (config.md "Process", config-linux.md "Sysctl"; runtime-spec
//! oomScoreAdj): args with PATH lookup, env, cwd, user and groups, umask, rlimits,
//! noNewPrivileges, each capability set, sysctls, oom_score_adj.

mod common;
use common::*;
use serde_json::{json, Value};

#[test]
fn args_resolved_through_path() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    // No slash: the runtime must search PATH from process.env.
    let out = rt.run_args(&b, &id, &["berth-probe"], &[]);
    out.ok();
    assert_eq!(out.json()["pid"], 1);
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn env_is_exactly_process_env() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz", "EMPTY="]);
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["env"]["FOO"], "bar baz");
    assert_eq!(r["env"]["EMPTY"], "");
    assert_eq!(r["env"]["PATH"], "/bin");
    // HOME may be added by a runtime (runc does, from /etc/passwd); nothing else may leak in.
    let mut extra: Vec<&String> = r["env"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !["PATH", "FOO", "EMPTY", "HOME"].contains(&k.as_str()))
        .collect();
    extra.sort();
    assert!(extra.is_empty(), "unexpected env: {extra:?}");
}

#[test]
fn cwd_is_honoured() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["cwd"] = json!("/tmp");
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["cwd"], "/tmp");
}

#[test]
fn user_group_and_additional_gids() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["user"] =
        json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20]});
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    let ids = &r["ids"];
    for k in ["uid", "euid", "suid"] {
        assert_eq!(ids[k], 1000, "{ids}");
    }
    for k in ["gid", "egid", "sgid"] {
        assert_eq!(ids[k], 1001, "{ids}");
    }
    let groups: Vec<u64> = ids["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_u64().unwrap())
        .collect();
    assert!(groups.contains(&10) && groups.contains(&20), "{ids}");
    assert!(!groups.contains(&0), "root group leaked into groups: {ids}");
}

#[test]
fn umask_is_honoured() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["user"]["umask"] = json!(0o027);
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["umask"], "0027");
}

#[test]
fn default_umask_is_0022() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    assert_eq!(rt.run_probe(&b, &[])["umask"], "0022");
}

#[test]
fn rlimits_are_set() {
    if !require_root() {
        return;
    }
    // Only limits at or below the current hard limits: CAP_SYS_RESOURCE is missing here.
    let mut b = Bundle::new();
    b.config_mut()["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
        {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}
    ]);
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    let l = &r["rlimits"];
    assert_eq!(l["RLIMIT_NOFILE"], json!({"soft": 512, "hard": 1000}));
    assert_eq!(l["RLIMIT_CORE"], json!({"soft": 0, "hard": 0}));
    assert_eq!(l["RLIMIT_NPROC"], json!({"soft": 300, "hard": 400}));
}

#[test]
fn no_new_privileges_on_and_off() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    assert_eq!(rt.run_probe(&b, &[])["no_new_privs"], 1);
    let mut b = Bundle::new();
    b.config_mut()["process"]["noNewPrivileges"] = json!(false);
    assert_eq!(rt.run_probe(&b, &[])["no_new_privs"], 0);
}

fn caps(r: &Value, set: &str) -> Vec<String> {
    strings(&r["capabilities"][set]["names"])
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn capability_sets_for_non_root_user_including_ambient() {
    if !require_root() {
        return;
    }
    // For a non-root user without file capabilities, execve keeps bounding and inheritable,
    // and permitted = effective = ambient (capabilities(7) "Transformation of capabilities
    // during execve()"), so each configured set is observable.
    let mut b = Bundle::new();
    b.config_mut()["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config_mut()["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
        "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"],
        "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]
    });
    b.config_mut()["process"]["noNewPrivileges"] = json!(false);
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(
        caps(&r, "bounding"),
        sorted(&[
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_NET_BIND_SERVICE",
            "CAP_NET_RAW"
        ])
    );
    assert_eq!(
        caps(&r, "inheritable"),
        sorted(&["CAP_KILL", "CAP_NET_BIND_SERVICE"])
    );
    assert_eq!(caps(&r, "ambient"), sorted(&["CAP_NET_BIND_SERVICE"]));
    assert_eq!(caps(&r, "permitted"), sorted(&["CAP_NET_BIND_SERVICE"]));
    assert_eq!(caps(&r, "effective"), sorted(&["CAP_NET_BIND_SERVICE"]));
}

#[test]
fn capability_sets_for_root_are_limited_by_bounding() {
    if !require_root() {
        return;
    }
    // uid 0 gets every capability of the bounding set on execve, so the bounding set is what
    // limits root; inheritable is kept as configured.
    let mut b = Bundle::new();
    b.config_mut()["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_KILL"],
        "inheritable": [],
        "effective": ["CAP_KILL"],
        "ambient": []
    });
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(caps(&r, "bounding"), sorted(&["CAP_CHOWN", "CAP_KILL"]));
    assert_eq!(caps(&r, "inheritable"), Vec::<String>::new());
    assert_eq!(caps(&r, "ambient"), Vec::<String>::new());
    for set in ["permitted", "effective"] {
        for c in caps(&r, set) {
            assert!(
                ["CAP_CHOWN", "CAP_KILL"].contains(&c.as_str()),
                "{set} has {c}"
            );
        }
    }
}

#[test]
fn no_capabilities_when_none_configured() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["capabilities"] = json!({});
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    for set in [
        "bounding",
        "permitted",
        "effective",
        "inheritable",
        "ambient",
    ] {
        assert_eq!(caps(&r, set), Vec::<String>::new(), "{set}");
    }
}

#[test]
fn sysctl_in_network_namespace() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let rt = Runtime::new();
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let r = rt.run_probe(&b, &["--sysctl", "net.ipv4.ip_forward"]);
    assert_eq!(r["sysctl"]["net.ipv4.ip_forward"]["value"], "1");
    let host_after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(host_before, host_after, "the host's sysctl changed");
}

#[test]
fn sysctl_without_its_namespace_is_rejected() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.remove_namespace("network");
    b.config_mut()["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let rt = Runtime::new();
    let host_before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let err = rt
        .try_run_probe(&b, &[])
        .expect_err("a net sysctl without a network namespace must be rejected");
    err.fails_with("net.ipv4.ip_forward");
    let host_after = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(host_before, host_after, "the host's sysctl changed");
}

#[test]
fn oom_score_adj_can_be_raised() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["oomScoreAdj"] = json!(500);
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(r["oom_score_adj"], 500);
}

#[test]
fn oom_score_adj_below_parent_fails_clearly() {
    if !require_root() {
        return;
    }
    // This host lacks CAP_SYS_RESOURCE: lowering below the parent's value is EACCES. The
    // runtime must fail and say so, not start a container with the wrong score.
    let parent: i64 = std::fs::read_to_string("/proc/self/oom_score_adj")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if parent <= -1000 {
        loud("SKIP oom_score_adj_below_parent_fails_clearly: parent already at -1000");
        return;
    }
    if caps_has_sys_resource() {
        loud("SKIP oom_score_adj_below_parent_fails_clearly: CAP_SYS_RESOURCE present");
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["oomScoreAdj"] = json!(parent - 100);
    let rt = Runtime::new();
    match rt.try_run_probe(&b, &[]) {
        Ok(r) => panic!(
            "container started with oom_score_adj {} (asked {})",
            r["oom_score_adj"],
            parent - 100
        ),
        Err(out) => {
            out.fails_with("oom_score_adj");
        }
    }
}

fn caps_has_sys_resource() -> bool {
    let st = std::fs::read_to_string("/proc/self/status").unwrap();
    let eff = st
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap_or(0);
    eff & (1 << 24) != 0
}

/// The program starts with no signal ignored, as under runc (measured: runc 1.1.5 gives
/// `SigIgn: 0` even when its caller ignored HUP, INT, TERM, PIPE and USR1). berth itself
/// ignores SIGPIPE (Rust's runtime does) and execve keeps SIG_IGN, so without the reset every
/// container would start with SIGPIPE ignored, and `yes | head` would behave differently.
#[test]
fn program_starts_with_no_signal_ignored_whatever_the_caller_ignored() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let mut cfg = b.config().clone();
    cfg["process"]["args"] = json!(["grep", "SigIgn", "/proc/self/status"]);
    b.write_config(&cfg);
    let rt = Runtime::new();
    let id = unique_id();
    let script = format!(
        "trap '' HUP INT TERM PIPE USR1; exec {} --root {} run --bundle {} {id}",
        rt.bin().display(),
        rt.root_str(),
        b.path_str()
    );
    let out = run_command("/bin/sh", &["-c".into(), script], CMD_TIMEOUT);
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout.trim(), "SigIgn:\t0000000000000000", "{out}");
    rt.assert_nothing_left(&id, &b);
}
