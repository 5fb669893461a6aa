//! Seccomp end to end: profiles from config.json loaded in the container, observed from inside
//! (the probe's raw `--syscall`/`--int80` calls and /proc/self/status, busybox commands), the
//! `berth spec` default profile, user notification with a listener, and malformed profiles
//! rejected before anything is created. All tests need root and skip loudly otherwise.

mod common;
use common::*;
use serde_json::{json, Value};

const SIGSYS_EXIT: i32 = 128 + libc::SIGSYS;

fn with_seccomp(profile: Value) -> Bundle {
    let mut b = Bundle::new();
    b.config_mut()["linux"]["seccomp"] = profile;
    b
}

fn errno_of(report: &Value, key: &str) -> i64 {
    report["syscall"][key]["errno"]
        .as_i64()
        .unwrap_or_else(|| panic!("no result for {key}: {}", report["syscall"]))
}

fn getppid_rule(action: &str, args: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["getppid"], "action": action, "errnoRet": 42, "args": args}]})
}

#[test]
fn errno_rule_with_conditions_applies_inside_the_container() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = with_seccomp(getppid_rule(
        "SCMP_ACT_ERRNO",
        json!([{"index": 0, "value": 7, "op": "SCMP_CMP_EQ"},
               {"index": 1, "value": 0xf0, "valueTwo": 0x30, "op": "SCMP_CMP_MASKED_EQ"}]),
    ));
    let r = rt.run_probe(
        &b,
        &[
            "--syscall",
            "110,7,0x3f",
            "--syscall",
            "110,7,0x4f",
            "--syscall",
            "110,8,0x3f",
        ],
    );
    assert_eq!(r["seccomp"], 2, "the probe runs in filter mode");
    assert_eq!(errno_of(&r, "110,7,0x3f"), 42, "both conditions hold");
    assert_eq!(errno_of(&r, "110,7,0x4f"), 0, "masked value differs");
    assert_eq!(errno_of(&r, "110,8,0x3f"), 0, "first argument differs");
}

#[test]
fn busybox_sees_the_chosen_errno() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = with_seccomp(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV}]}));
    let id = unique_id();
    let out = rt.run_args(&b, &id, &["sh", "-c", "mkdir /tmp/x; echo rc=$?"], &[]);
    out.ok();
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert!(out.mentions("cross-device link"), "{out}");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn kill_and_trap_actions_end_the_process_with_sigsys() {
    if !require_root() {
        return;
    }
    for action in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
        let rt = Runtime::new();
        let b = with_seccomp(getppid_rule(action, json!([])));
        let id = unique_id();
        let out = rt.run_args(&b, &id, &["/bin/berth-probe", "--syscall", "110"], &[]);
        assert_eq!(out.code, SIGSYS_EXIT, "{action}: {out}");
        assert!(
            out.stdout.is_empty(),
            "{action}: the probe printed before dying: {out}"
        );
        rt.assert_nothing_left(&id, &b);
    }
}

#[test]
fn log_allows_and_trace_without_tracer_is_enosys() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let r = rt.run_probe(
        &with_seccomp(getppid_rule("SCMP_ACT_LOG", json!([]))),
        &["--syscall", "110"],
    );
    assert_eq!(errno_of(&r, "110"), 0);
    let r = rt.run_probe(
        &with_seccomp(getppid_rule("SCMP_ACT_TRACE", json!([]))),
        &["--syscall", "110"],
    );
    assert_eq!(errno_of(&r, "110"), libc::ENOSYS as i64);
}

#[test]
fn i386_and_x32_entries_cannot_bypass_a_native_only_filter() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    // A denylist for getppid, native ABI only: the i386 getppid (64 via int 0x80) and the x32
    // one (bit 30) must not run unfiltered: an unlisted ABI is killed.
    for call in [["--int80", "64"], ["--syscall", "0x4000006e"]] {
        let b = with_seccomp(getppid_rule("SCMP_ACT_ERRNO", json!([])));
        let id = unique_id();
        let mut args = vec!["/bin/berth-probe"];
        args.extend_from_slice(&call);
        let out = rt.run_args(&b, &id, &args, &[]);
        assert_eq!(out.code, SIGSYS_EXIT, "{call:?}: {out}");
        rt.assert_nothing_left(&id, &b);
    }
    // Listed, the same rule applies to them through their own syscall numbers.
    let mut profile = getppid_rule("SCMP_ACT_ERRNO", json!([]));
    profile["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    let r = rt.run_probe(
        &with_seccomp(profile),
        &["--int80", "64", "--int80", "20", "--syscall", "0x4000006e"],
    );
    assert_eq!(errno_of(&r, "int80:64"), 42);
    assert_eq!(errno_of(&r, "int80:20"), 0, "i386 getpid is allowed");
    assert_eq!(
        errno_of(&r, "0x4000006e"),
        42,
        "x32 getppid hits the rule, not the allow default"
    );
}

#[test]
fn filter_without_no_new_privileges_is_loaded_while_privileged() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let mut b = with_seccomp(getppid_rule("SCMP_ACT_ERRNO", json!([])));
    b.config_mut()["process"]["noNewPrivileges"] = json!(false);
    b.config_mut()["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let r = rt.run_probe(&b, &["--syscall", "110"]);
    assert_eq!(r["no_new_privs"], 0);
    assert_eq!(r["ids"]["uid"], 1000, "{}", r["ids"]);
    assert_eq!(errno_of(&r, "110"), 42);
}

#[test]
fn spec_default_profile_runs_busybox_and_blocks_namespaces() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    rt.cmd(&[
        "spec",
        "--hardened",
        "--bundle",
        dir.path().to_str().unwrap(),
    ])
    .ok();
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    let profile = spec["linux"]["seccomp"].clone();
    assert_eq!(profile["defaultAction"], "SCMP_ACT_ERRNO");
    let b = with_seccomp(profile);
    let id = unique_id();
    let out = rt.run_args(
        &b,
        &id,
        &["sh", "-c", "ls / >/dev/null && echo ls-ok; unshare -m true; echo unshare=$?; mount -t tmpfs t /tmp; echo mount=$?"],
        &[],
    );
    out.ok();
    assert!(out.stdout.contains("ls-ok"), "{out}");
    assert!(out.stdout.contains("unshare=1"), "{out}");
    assert!(out.stdout.contains("mount=1"), "{out}");
    rt.assert_nothing_left(&id, &b);
    // clone3 is ENOSYS (libc falls back to clone), clone with CLONE_NEWUSER is refused.
    let r = rt.run_probe(&b, &["--syscall", "435,0,0", "--syscall", "56,0x10000000"]);
    assert_eq!(r["seccomp"], 2);
    assert_eq!(errno_of(&r, "435,0,0"), libc::ENOSYS as i64);
    assert_eq!(errno_of(&r, "56,0x10000000"), libc::EPERM as i64);
}

/// Issue #13 follow-up: the kernel reads socket's family as an int (32 bits), so
/// `socket(AF_VSOCK | 1 << 32, ...)` creates an AF_VSOCK socket; the default profile's rule
/// (`family != 40`) must see 40 there too. On the code before argument widths (64-bit
/// comparison) the call passed the rule and reached the kernel.
#[test]
fn default_profile_refuses_af_vsock_with_the_upper_half_set() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    rt.cmd(&[
        "spec",
        "--hardened",
        "--bundle",
        dir.path().to_str().unwrap(),
    ])
    .ok();
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    let b = with_seccomp(spec["linux"]["seccomp"].clone());
    let (vsock, vsock_high) = ("41,40,1,0", "41,0x100000028,1,0");
    let (inet, inet_high) = ("41,2,1,0", "41,0x100000002,1,0");
    let r = rt.run_probe(
        &b,
        &[
            "--syscall",
            vsock,
            "--syscall",
            vsock_high,
            "--syscall",
            inet,
            "--syscall",
            inet_high,
        ],
    );
    assert_eq!(r["seccomp"], 2, "the probe runs in filter mode");
    let eperm = libc::EPERM as i64;
    assert_eq!(errno_of(&r, vsock), eperm, "AF_VSOCK: {}", r["syscall"]);
    assert_eq!(
        errno_of(&r, vsock_high),
        eperm,
        "AF_VSOCK with bit 32 set: the kernel reads family 40: {}",
        r["syscall"]
    );
    // The control: the upper half does not make the filter refuse what it allows, and the
    // kernel ignores it (an AF_INET stream socket is created).
    assert_eq!(errno_of(&r, inet), 0, "{}", r["syscall"]);
    assert_eq!(errno_of(&r, inet_high), 0, "{}", r["syscall"]);
}

/// `--debug` logs one summary line for the rules of syscalls an ABI lacks (the default profile
/// names ~100 of them across x86_64, x32 and i386), not one line per name; and nothing at all
/// for a config without seccomp.
#[test]
fn debug_log_summarizes_unknown_syscalls_in_one_line() {
    if !require_root() || berth_only("berth's debug log") {
        return;
    }
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    rt.cmd(&[
        "spec",
        "--hardened",
        "--bundle",
        dir.path().to_str().unwrap(),
    ])
    .ok();
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("config.json")).unwrap())
            .unwrap();
    let count = |b: &Bundle| {
        b.write();
        let log = dir.path().join(format!("{}.log", unique_id()));
        let id = unique_id();
        let out = rt.cmd(&[
            "--debug",
            "--log",
            log.to_str().unwrap(),
            "run",
            "--bundle",
            b.path_str(),
            &id,
        ]);
        out.ok();
        rt.assert_nothing_left(&id, b);
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("level=debug"), "no debug lines in {text}");
        text.lines().filter(|l| l.contains("skipped")).count()
    };
    let mut b = with_seccomp(spec["linux"]["seccomp"].clone());
    b.args(&["true"]);
    assert_eq!(count(&b), 1);
    let mut plain = Bundle::new();
    plain.args(&["true"]);
    assert_eq!(count(&plain), 0);
}

#[path = "common/seccomp_agent.rs"]
mod seccomp_agent;

#[test]
fn notify_sends_the_fd_and_state_to_the_listener() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let agent = seccomp_agent::Agent::start(libc::ENOTSUP);
    let mut b = with_seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": agent.path(),
        "listenerMetadata": "hello-agent",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    b.config_mut()["annotations"] = json!({"org.example": "yes"});
    let id = unique_id();
    let out = rt.run_args(
        &b,
        &id,
        &["sh", "-c", "mkdir /tmp/a; echo rc=$?; ls -d /tmp/a"],
        &[],
    );
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert!(
        out.mentions("not supported"),
        "the agent's errno reached mkdir: {out}"
    );
    let seen = agent.finish();
    let state = &seen.state;
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "hello-agent");
    assert_eq!(state["state"]["id"], id);
    assert_eq!(state["state"]["status"], "creating");
    assert_eq!(state["state"]["bundle"], b.path_str());
    assert_eq!(state["state"]["annotations"]["org.example"], "yes");
    assert!(state["pid"].as_i64().unwrap() > 1, "host pid: {state}");
    assert!(
        seen.notified
            .iter()
            .any(|nr| *nr == libc::SYS_mkdir || *nr == libc::SYS_mkdirat),
        "{:?}",
        seen.notified
    );
    rt.assert_nothing_left(&id, &b);
}

/// runc sends an exec'd process's notify fd to the agent too, with the process's host pid;
/// berth did not, and a notified syscall of an exec'd process failed with ENOSYS.
#[test]
fn exec_sends_its_notify_fd_to_the_listener() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let agent = seccomp_agent::Agent::start_many(libc::ENOTSUP, 2);
    let mut b = with_seccomp(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": agent.path(),
        "listenerMetadata": "exec-agent",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    }));
    b.args(&["sleep", "1000"]);
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    let pid_file = tempfile::NamedTempFile::new().unwrap();
    let out = rt.cmd(&[
        "exec",
        "--pid-file",
        pid_file.path().to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "mkdir /tmp/e; echo rc=$?",
    ]);
    out.ok();
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert!(
        out.mentions("not supported"),
        "the agent answered the exec's mkdir: {out}"
    );
    let exec_pid: i64 = std::fs::read_to_string(pid_file.path())
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    rt.cmd(&["delete", "--force", &id]).ok();
    let seen = agent.finish_all();
    let init = rt_state_pid(&seen[0]);
    let exec = &seen[1];
    assert_eq!(exec.state["metadata"], "exec-agent");
    assert_eq!(exec.state["state"]["id"], id);
    assert_eq!(
        exec.state["state"]["pid"], init,
        "the state names the container's init"
    );
    assert_eq!(
        exec.state["pid"], exec_pid,
        "the message names the exec'd process"
    );
    assert!(
        exec.notified
            .iter()
            .any(|nr| *nr == libc::SYS_mkdir || *nr == libc::SYS_mkdirat),
        "{:?}",
        exec.notified
    );
    rt.assert_nothing_left(&id, &b);
}

fn rt_state_pid(seen: &seccomp_agent::Seen) -> i64 {
    seen.state["state"]["pid"].as_i64().unwrap()
}

#[test]
fn malformed_profiles_fail_create_with_the_field_and_leave_nothing() {
    if !require_root() {
        return;
    }
    let cases = [
        (json!({"defaultAction": "SCMP_ACT_NOPE"}),
         r#"config.json: linux.seccomp.defaultAction: unknown action "SCMP_ACT_NOPE""#),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_MAYBE"}]}),
         r#"config.json: linux.seccomp.syscalls[0].action: unknown action "SCMP_ACT_MAYBE""#),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}),
         r#"config.json: linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_ALMOST""#),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
         "config.json: linux.seccomp.syscalls[0].args[0].index: 9 is out of range (syscall arguments are numbered 0 to 5)"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [""], "action": "SCMP_ACT_ERRNO"}]}),
         "config.json: linux.seccomp.syscalls[0].names: empty syscall name"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
                "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]}),
         "config.json: linux.seccomp.syscalls[0]: SCMP_ACT_NOTIFY cannot be used for write (the runtime writes after loading the filter, before the agent can answer)"),
        (json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}),
         r#"config.json: linux.seccomp.architectures: unknown architecture "SCMP_ARCH_VAX""#),
    ];
    for (profile, message) in cases {
        let rt = Runtime::new();
        let b = with_seccomp(profile);
        let id = unique_id();
        let out = rt.create(&b, &id);
        assert!(!out.success(), "{out}");
        assert!(out.stderr.contains(message), "want {message:?}: {out}");
        rt.assert_nothing_left(&id, &b);
    }
}

/// `berth exec` runs its process under the container's filter, as the init (runc does the
/// same): the profile saved at create applies even if config.json changed since.
#[test]
fn exec_process_gets_the_containers_filter() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let mut b = with_seccomp(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EXDEV}]}));
    b.args(&["sleep", "1000"]);
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    // Changing the bundle afterwards must not change the exec's filter.
    b.config_mut()["linux"]["seccomp"] = Value::Null;
    b.write();
    let out = rt.cmd(&[
        "exec",
        &id,
        "sh",
        "-c",
        "mkdir /tmp/x; echo rc=$?; grep Seccomp: /proc/self/status",
    ]);
    out.ok();
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert!(out.mentions("cross-device link"), "{out}");
    assert!(out.stdout.contains("Seccomp:\t2"), "{out}");
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// berth's default profile with every syscall from clone3 (435) on removed: the shape of the
/// profiles that clients wrote before those syscalls existed (the runtime-tools suite's default
/// config is one). Such a profile must not break the container: newer syscalls get ENOSYS (so
/// libc falls back, as under runc), berth itself never needs them after the filter, older
/// unlisted ones keep the profile's EPERM.
fn profile_older_than_clone3() -> Value {
    use berth_runtime::seccomp::{syscall_number, Abi};
    let mut p = berth_runtime::seccomp::default_profile();
    for rule in p["syscalls"].as_array_mut().unwrap() {
        rule["names"].as_array_mut().unwrap().retain(|n| {
            syscall_number(Abi::X86_64, n.as_str().unwrap()).is_some_and(|nr| nr < 435)
        });
    }
    p["syscalls"]
        .as_array_mut()
        .unwrap()
        .retain(|r| !r["names"].as_array().unwrap().is_empty());
    assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
    p
}

#[test]
fn a_profile_older_than_close_range_runs_with_enosys_for_newer_syscalls() {
    if !require_root() {
        return;
    }
    for nnp in [true, false] {
        let rt = Runtime::new();
        let mut b = with_seccomp(profile_older_than_clone3());
        b.config_mut()["process"]["noNewPrivileges"] = json!(nnp);
        let r = rt.run_probe(
            &b,
            &[
                "--syscall",
                "436,1000,1000,0", // close_range
                "--syscall",
                "435,0,0", // clone3
                "--syscall",
                "246,0,0,0,0", // kexec_load: older, not allowed
                "--syscall",
                "110", // getppid: allowed
            ],
        );
        assert_eq!(
            errno_of(&r, "436,1000,1000,0"),
            libc::ENOSYS as i64,
            "nnp={nnp}"
        );
        assert_eq!(errno_of(&r, "435,0,0"), libc::ENOSYS as i64, "nnp={nnp}");
        assert_eq!(errno_of(&r, "246,0,0,0,0"), libc::EPERM as i64, "nnp={nnp}");
        assert_eq!(errno_of(&r, "110"), 0, "nnp={nnp}");
    }
}

/// The deny list of issue #13 on the three x86 ABIs, default allow: the profile under which a
/// 64-bit static binary escaped through `int 0x80`.
fn denylist_on_three_abis() -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["shmget", "socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
            // Only ARCH_GET_FS: the static probe sets its TLS with arch_prctl(ARCH_SET_FS).
            {"names": ["arch_prctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
             "args": [{"index": 0, "value": 0x1003, "op": "SCMP_CMP_EQ"}]},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 43,
             "args": [{"index": 1, "value": 0o6755, "op": "SCMP_CMP_EQ"}]}]})
}

fn run_denylist(calls: &[&str]) -> Value {
    let rt = Runtime::new();
    let mut args = Vec::new();
    for c in calls {
        let (flag, spec) = c.split_once(' ').unwrap();
        args.extend([flag, spec]);
    }
    rt.run_probe(&with_seccomp(denylist_on_three_abis()), &args)
}

/// i386 has had direct SysV IPC since Linux 5.1 (shmget is 395) and arch_prctl (384); berth's
/// i386 table lacked them, so the rules were skipped and the calls ran.
#[test]
fn int80_shmget_and_arch_prctl_are_denied() {
    if !require_root() {
        return;
    }
    let r = run_denylist(&[
        "--int80 395,0,0,0",
        "--int80 384,0x1003,0",
        "--syscall 29,0,0,0",
    ]);
    assert_eq!(errno_of(&r, "int80:395,0,0,0"), 42, "i386 shmget");
    assert_eq!(errno_of(&r, "int80:384,0x1003,0"), 42, "i386 arch_prctl");
    assert_eq!(errno_of(&r, "29,0,0,0"), 42, "x86_64 shmget");
}

/// `ipc(SHMGET, …)` is shmget through i386's multiplexer (117, call 23 in the first
/// argument, a version in its upper 16 bits that the kernel ignores for SHMGET).
#[test]
fn int80_ipc_shmget_is_denied_by_a_shmget_rule() {
    if !require_root() {
        return;
    }
    let r = run_denylist(&[
        "--int80 117,23,0,0,0",
        "--int80 117,0x10017,0,0,0",
        "--int80 117,22,0,0,0,0",
    ]);
    assert_eq!(errno_of(&r, "int80:117,23,0,0,0"), 42, "ipc(SHMGET)");
    assert_eq!(
        errno_of(&r, "int80:117,0x10017,0,0,0"),
        42,
        "ipc(SHMGET | 1 << 16)"
    );
    assert_eq!(
        errno_of(&r, "int80:117,22,0,0,0,0"),
        libc::EINVAL as i64,
        "ipc(SHMDT, NULL) is not denied: the kernel's EINVAL"
    );
}

/// `socketcall(SYS_SOCKET, args)` is socket through i386's multiplexer (102).
#[test]
fn int80_socketcall_socket_is_denied_by_a_socket_rule() {
    if !require_root() {
        return;
    }
    let r = run_denylist(&[
        "--int80 102,1,0",
        "--int80 102,0xffffffff00000001,0",
        "--int80 102,2,0",
        "--int80 359,2,1,0",
    ]);
    assert_eq!(errno_of(&r, "int80:102,1,0"), 42, "socketcall(SYS_SOCKET)");
    assert_eq!(
        errno_of(&r, "int80:102,0xffffffff00000001,0"),
        42,
        "upper half of rbx set"
    );
    assert_eq!(
        errno_of(&r, "int80:102,2,0"),
        libc::EFAULT as i64,
        "socketcall(SYS_BIND) runs and reads its NULL argument block"
    );
    assert_eq!(errno_of(&r, "int80:359,2,1,0"), 42, "direct i386 socket");
}

/// The kernel hands seccomp the whole 64-bit rcx of an `int 0x80` from 64-bit code, but chmod
/// gets only its low half: a rule on mode 06755 compared in 64 bits missed
/// `0xffffffff_00000ded`, which the kernel applied as 06755.
#[test]
fn int80_chmod_argument_rule_holds_whatever_the_upper_32_bits() {
    if !require_root() {
        return;
    }
    let r = run_denylist(&[
        "--int80 15,0,0x00000ded",
        "--int80 15,0,0xffffffff00000ded",
        "--int80 15,0,0x0000000100000ded",
        "--int80 15,0,0x1ed",
        "--syscall 90,0,0xded",
    ]);
    assert_eq!(errno_of(&r, "int80:15,0,0x00000ded"), 43);
    assert_eq!(
        errno_of(&r, "int80:15,0,0xffffffff00000ded"),
        43,
        "upper half set"
    );
    assert_eq!(
        errno_of(&r, "int80:15,0,0x0000000100000ded"),
        43,
        "bit 32 set"
    );
    assert_eq!(
        errno_of(&r, "int80:15,0,0x1ed"),
        libc::EFAULT as i64,
        "0755 is not denied: chmod runs and faults on the NULL path"
    );
    assert_eq!(errno_of(&r, "90,0,0xded"), 43, "x86_64 chmod 06755");
}

/// The x32 section of the same profile. This kernel may lack x32 (CONFIG_X86_X32_ABI): the
/// filter still decides before the kernel dispatches, so a denied call shows the rule's errno
/// and an allowed one the kernel's ENOSYS.
#[test]
fn x32_denied_syscall_and_argument_rule_hold() {
    if !require_root() {
        return;
    }
    let r = run_denylist(&[
        "--syscall 0x4000001d,0,0,0",
        "--syscall 0x4000005a,0,0xded",
        "--syscall 0x4000005a,0,0x1ed",
    ]);
    assert_eq!(errno_of(&r, "0x4000001d,0,0,0"), 42, "x32 shmget");
    assert_eq!(errno_of(&r, "0x4000005a,0,0xded"), 43, "x32 chmod 06755");
    let other = errno_of(&r, "0x4000005a,0,0x1ed");
    if other == libc::ENOSYS as i64 {
        loud(&format!("SKIP {} (part): this kernel has no x32 ABI (CONFIG_X86_X32_ABI): an x32 call the filter allows cannot run here; only the filter's x32 decisions are tested", test_name()));
    } else {
        assert_eq!(other, libc::EFAULT as i64, "x32 chmod 0755 runs");
    }
}
