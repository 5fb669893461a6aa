//! `berth exec` (runc's flags): the new process joins every namespace and the cgroup of the
//! container and gets its rlimits, observed by the probe run through exec; overrides, exit
//! status, --process, --detach/--pid-file, created/stopped/paused containers, bad input.

mod common;
#[path = "common/exec_support.rs"]
mod exec_support;

use common::*;
use exec_support::*;
use serde_json::json;

fn exec_probe(rt: &Runtime, id: &str, flags: &[&str]) -> serde_json::Value {
    let mut args = vec!["exec"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[id, "/bin/berth-probe"]);
    let out = rt.cmd(&args);
    out.ok();
    out.json()
}

#[test]
fn exec_joins_every_namespace_and_the_cgroup_with_the_containers_rlimits() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.namespace("cgroup", None);
    let rt = Runtime::new();
    let id = unique_id();
    let pid = run_detached_sleeper(&rt, &b, &id);
    let r = exec_probe(&rt, &id, &[]);
    for ns in ["mnt", "net", "ipc", "uts", "pid", "cgroup"] {
        assert_eq!(r["namespaces"][ns], ns_inode(&pid, ns), "{ns} namespace");
    }
    assert_eq!(r["hostname"], "berth");
    // Inside the container's pid namespace, not its init.
    let p = r["pid"].as_i64().unwrap();
    assert!(p > 1 && p < 100, "pid {p} is not a container pid");
    // The cgroup namespace is rooted at the container's cgroup: "/" in every hierarchy.
    assert!(
        r["cgroup"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["path"] == "/"),
        "{}",
        r["cgroup"]
    );
    // Host view: the exec'd process is in the container's cgroup (checked with a detached one).
    assert_eq!(
        r["rlimits"]["RLIMIT_NOFILE"],
        json!({"soft": 1024, "hard": 1024})
    );
    assert_eq!(r["no_new_privs"], 1);
    assert_eq!(
        strings(&r["capabilities"]["bounding"]["names"]),
        ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    );
    assert_eq!(r["env"]["TERM"], "xterm");
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_flags_override_the_process_and_cap_never_becomes_inheritable() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["noNewPrivileges"] = json!(false);
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    let r = exec_probe(
        &rt,
        &id,
        &[
            "--cwd",
            "/tmp",
            "-e",
            "FOO=bar",
            "--env",
            "TERM=dumb",
            "-u",
            "1000:1000",
            "-g",
            "5",
            "--cap",
            "CAP_SYS_ADMIN",
            "--no-new-privs",
        ],
    );
    assert_eq!(r["cwd"], "/tmp");
    assert_eq!(r["env"]["FOO"], "bar");
    assert_eq!(r["env"]["TERM"], "dumb");
    assert_eq!(r["ids"]["uid"], 1000);
    assert_eq!(r["ids"]["gid"], 1000);
    assert_eq!(r["ids"]["groups"], json!([5]));
    assert_eq!(r["no_new_privs"], 1);
    assert!(has(
        &r["capabilities"]["bounding"]["names"],
        "CAP_SYS_ADMIN"
    ));
    // CVE-2022-29162: never inheritable; and ambient only as the config says.
    assert!(!has(
        &r["capabilities"]["inheritable"]["names"],
        "CAP_SYS_ADMIN"
    ));
    assert!(!has(
        &r["capabilities"]["ambient"]["names"],
        "CAP_SYS_ADMIN"
    ));
    // As root, --cap is effective.
    let r = exec_probe(&rt, &id, &["--cap", "CAP_SYS_ADMIN"]);
    assert!(has(
        &r["capabilities"]["effective"]["names"],
        "CAP_SYS_ADMIN"
    ));
    assert!(!has(
        &r["capabilities"]["inheritable"]["names"],
        "CAP_SYS_ADMIN"
    ));
    assert_eq!(r["no_new_privs"], 0);
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_exit_status_is_the_processes() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    let out = rt.cmd(&["exec", &id, "sh", "-c", "echo out-$((20+22)); exit 7"]);
    assert_eq!(out.code, 7, "{out}");
    assert!(out.stdout.contains("out-42"), "{out}");
    let out = rt.cmd(&["exec", &id, "sh", "-c", "kill -TERM $$"]);
    assert_eq!(out.code, 128 + 15, "{out}");
    let out = rt.cmd(&["exec", &id, "nonexistent-program"]);
    out.fails_with("exec \"nonexistent-program\": executable file not found in $PATH");
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_process_json_replaces_the_process() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    let dir = tempfile::tempdir().unwrap();
    let pj = dir.path().join("process.json");
    std::fs::write(
        &pj,
        json!({"args": ["/bin/berth-probe"], "cwd": "/etc", "env": ["ONLY=this"],
               "user": {"uid": 1000, "gid": 1000}, "capabilities": {"bounding": ["CAP_CHOWN"]}})
        .to_string(),
    )
    .unwrap();
    let out = rt.cmd(&["exec", "--process", pj.to_str().unwrap(), &id]);
    out.ok();
    let r = out.json();
    assert_eq!(r["cwd"], "/etc");
    assert_eq!(r["env"]["ONLY"], "this");
    assert!(r["env"].get("TERM").is_none(), "{}", r["env"]);
    assert_eq!(r["ids"]["uid"], 1000);
    assert_eq!(r["capabilities"]["bounding"]["names"], json!(["CAP_CHOWN"]));
    // Malformed: a clear error naming the file, and the container is untouched.
    std::fs::write(&pj, "{not json").unwrap();
    let out = rt.cmd(&["exec", "--process", pj.to_str().unwrap(), &id]);
    out.fails_with(&format!("parse process file {}", pj.display()));
    assert_eq!(rt.state(&id)["status"], "running");
    // An invalid value of a process field is refused naming it, and nothing runs: the
    // marker the program would write stays absent (the values themselves are applied:
    // tests/process_attrs.rs).
    for (field, value, why) in [
        (
            "ioPriority",
            json!({"class": "IOPRIO_CLASS_IDLE", "priority": 3}),
            "ioPriority.priority: 3 is outside 0..=0 for IOPRIO_CLASS_IDLE",
        ),
        (
            "execCPUAffinity",
            json!({"initial": "2-1"}),
            "execCPUAffinity.initial: \"2-1\": range 2-1 is reversed",
        ),
        (
            "scheduler",
            json!({"policy": "SCHED_OTHER", "priority": 3}),
            "scheduler.priority: 3: SCHED_OTHER takes priority 0",
        ),
    ] {
        let mut process = json!({"args": ["sh", "-c", "touch /dev/shm/ran"], "cwd": "/"});
        process[field] = value;
        std::fs::write(&pj, process.to_string()).unwrap();
        let out = rt.cmd(&["exec", "--process", pj.to_str().unwrap(), &id]);
        out.fails_with(&format!("config.json: process.{why}"));
        let ran = rt.cmd(&["exec", &id, "test", "-e", "/dev/shm/ran"]);
        assert!(!ran.success(), "{field}: the refused process ran");
    }
    // The control: the same process without such a field runs and leaves its marker.
    std::fs::write(
        &pj,
        json!({"args": ["sh", "-c", "touch /dev/shm/ran"], "cwd": "/"}).to_string(),
    )
    .unwrap();
    rt.cmd(&["exec", "--process", pj.to_str().unwrap(), &id])
        .ok();
    rt.cmd(&["exec", &id, "test", "-e", "/dev/shm/ran"]).ok();
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_detach_writes_the_pid_file_of_a_process_in_the_container() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    let init = run_detached_sleeper(&rt, &b, &id);
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("exec.pid");
    let out = rt.cmd(&[
        "exec",
        "-d",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sleep",
        "999",
    ]);
    out.ok();
    let pid = std::fs::read_to_string(&pidfile).unwrap();
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, "sleep\0999\0");
    assert_eq!(ns_inode(&pid, "pid"), ns_inode(&init, "pid"));
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(cg.contains(&id), "not in the container's cgroup: {cg}");
    // The detached process outlives `berth exec`; kill --all reaches it through the cgroup.
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_into_a_created_container_works_and_leaves_it_created() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    let r = exec_probe(&rt, &id, &[]);
    assert_eq!(r["hostname"], "berth");
    assert_eq!(rt.state(&id)["status"], "created");
    rt.cmd(&["start", &id]).ok();
    assert_eq!(rt.state(&id)["status"], "running");
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_into_a_stopped_or_unknown_container_fails_clearly() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    rt.run_args(&b, &id, &["true"], &["--keep"]).ok();
    let out = rt.cmd(&["exec", &id, "true"]);
    assert_eq!(
        out.stderr.trim(),
        format!("berth: exec in container {id:?}: the container is stopped")
    );
    rt.cmd(&["delete", &id]).ok();
    let out = rt.cmd(&["exec", "no-such-container", "true"]);
    assert_eq!(
        out.stderr.trim(),
        "berth: exec in container \"no-such-container\": container \"no-such-container\" does not exist"
    );
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_into_a_paused_container_needs_ignore_paused() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    // Freeze the container's own (berth-created) v1 freezer cgroup.
    let freezer = cgroups_named(&id)
        .into_iter()
        .find(|p| p.starts_with("/sys/fs/cgroup/freezer"));
    let Some(freezer) = freezer else {
        loud("SKIP exec_into_a_paused_container_needs_ignore_paused: no v1 freezer cgroup");
        rt.cmd(&["delete", "--force", &id]).ok();
        return;
    };
    std::fs::write(freezer.join("freezer.state"), "FROZEN").unwrap();
    let out = rt.cmd(&["exec", &id, "true"]);
    assert_eq!(
        out.stderr.trim(),
        format!("berth: exec in container {id:?}: the container is paused (use --ignore-paused to exec anyway)")
    );
    std::fs::write(freezer.join("freezer.state"), "THAWED").unwrap();
    rt.cmd(&["exec", "--ignore-paused", &id, "true"]).ok();
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// Was a deadlock: the exec'd process inherited the state lock and froze with it in the
/// paused cgroup, so `resume` waited for the lock forever. Every wait here is bounded (a hang
/// fails the test instead of the run).
#[test]
fn exec_ignore_paused_waits_for_resume_and_resume_is_not_blocked() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    rt.cmd(&["pause", &id]).ok();
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut exec = std::process::Command::new(rt.bin())
        .args(["--root", rt.root_str(), "exec", "--ignore-paused", &id])
        .args(["sh", "-c", "echo ran-after-resume"])
        .stdin(std::process::Stdio::null())
        .stdout(out.reopen().unwrap())
        .spawn()
        .unwrap();
    // The exec'd process is frozen with the container: exec must still be waiting.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        exec.try_wait().unwrap().is_none(),
        "exec finished in a frozen container"
    );
    assert_eq!(rt.state(&id)["status"], "paused");
    rt.cmd(&["resume", &id]).ok(); // bounded by the harness's command timeout
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(st) = exec.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = exec.kill();
            panic!("exec --ignore-paused did not finish 30 s after resume");
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(status.success(), "{status:?}");
    assert_eq!(
        std::fs::read_to_string(out.path()).unwrap(),
        "ran-after-resume\n"
    );
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_bad_flags_fail_before_anything_runs() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    rt.cmd(&["exec", "-u", "alice", &id, "true"])
        .fails_with("--user \"alice\": expected uid[:gid] as numbers");
    rt.cmd(&["exec", "--cap", "CAP_NOPE", &id, "true"])
        .fails_with("--cap \"CAP_NOPE\": unknown capability");
    rt.cmd(&["exec", &id])
        .fails_with("exec needs a command: give arguments or --process");
    rt.cmd(&["exec", "-d", "-t", &id, "sh"])
        .fails_with("no --console-socket was given");
    let listing = rt.cmd(&["exec", &id, "ps", "-o", "pid,comm"]);
    listing.ok();
    // Only the init and ps itself: no leftover from the failed attempts.
    assert_eq!(listing.stdout.lines().count(), 3, "{listing}");
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_joins_a_user_namespace_first_and_runs_as_the_mapped_root() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.namespace("user", None);
    b.config_mut()["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config_mut()["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let rt = Runtime::new();
    let id = unique_id();
    let pid = run_detached_sleeper(&rt, &b, &id);
    let r = exec_probe(&rt, &id, &[]);
    assert_eq!(r["namespaces"]["user"], ns_inode(&pid, "user"));
    assert_eq!(r["namespaces"]["mnt"], ns_inode(&pid, "mnt"));
    assert_eq!(r["ids"]["uid"], 0);
    assert_eq!(
        r["uid_map"]
            .as_str()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    let out = rt.cmd(&["exec", "-u", "1000:1000", &id, "/bin/berth-probe"]);
    out.ok();
    assert_eq!(out.json()["ids"]["uid"], 1000);
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// runc exits 255 when exec fails before the process runs (`fatalWithCode(err, 255)`), so a
/// caller can tell that from a process that ran and exited 1.
#[test]
fn exec_failures_exit_255_and_the_processes_own_status_is_kept() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    assert_eq!(rt.cmd(&["exec", &id, "sh", "-c", "exit 1"]).code, 1);
    for args in [
        &["exec", &id, "nonexistent-program"][..],
        &["exec", "no-such-container", "true"],
        &["exec", "--cwd", "/nonexistent", &id, "true"],
        &["exec", "-u", "alice", &id, "true"],
        &["exec", &id],
        &["exec", "--cgroup", "pids:no-such-sub-cgroup", &id, "true"],
    ] {
        let out = rt.cmd(args);
        assert_eq!(out.code, 255, "{args:?}: {out}");
    }
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// A `--process` file without `user` runs as uid 0, gid 0, and one without `capabilities` gets
/// the container's, as runc does; the file's own values win when present.
#[test]
fn exec_process_file_without_user_runs_as_root_with_the_containers_capabilities() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    let dir = tempfile::tempdir().unwrap();
    let pj = dir.path().join("process.json");
    std::fs::write(
        &pj,
        json!({"args": ["/bin/berth-probe"], "cwd": "/"}).to_string(),
    )
    .unwrap();
    let out = rt.cmd(&["exec", "--process", pj.to_str().unwrap(), &id]);
    out.ok();
    let r = out.json();
    assert_eq!(
        (r["ids"]["uid"].clone(), r["ids"]["gid"].clone()),
        (json!(0), json!(0))
    );
    let container = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    for set in ["bounding", "effective", "permitted"] {
        assert_eq!(
            strings(&r["capabilities"][set]["names"]),
            container,
            "{set}"
        );
    }
    // The container's config has no inheritable set, so nothing becomes ambient either.
    for set in ["inheritable", "ambient"] {
        assert_eq!(
            strings(&r["capabilities"][set]["names"]),
            Vec::<String>::new(),
            "{set}"
        );
    }
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// `exec --cgroup CTRL:PATH` runs the process in an existing sub-cgroup of the container in
/// that controller's hierarchy only; a bare `--cgroup PATH` in every hierarchy. Seen from
/// inside: the process's /proc/self/cgroup.
#[test]
fn exec_cgroup_runs_the_process_in_the_named_sub_cgroup() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    let dirs = cgroups_named(&id);
    let Some(pids) = dirs.iter().find(|d| d.starts_with("/sys/fs/cgroup/pids")) else {
        loud("SKIP exec_cgroup_runs_the_process_in_the_named_sub_cgroup: no v1 pids hierarchy");
        rt.cmd(&["delete", "--force", &id]).ok();
        return;
    };
    std::fs::create_dir(pids.join("sub")).unwrap();
    let cgroup_of = |r: &serde_json::Value, controller: &str| -> String {
        r["cgroup"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["controllers"]
                    .as_str()
                    .unwrap_or("")
                    .split(',')
                    .any(|x| x == controller)
            })
            .map(|c| c["path"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {controller} line in {}", r["cgroup"]))
    };
    let r = exec_probe(&rt, &id, &["--cgroup", "pids:sub"]);
    assert!(
        cgroup_of(&r, "pids").ends_with(&format!("{id}/sub")),
        "{}",
        r["cgroup"]
    );
    assert!(cgroup_of(&r, "memory").ends_with(&id), "{}", r["cgroup"]);
    // A bare path: every hierarchy, so the sub-cgroup must exist in each (cpuset filled in, as
    // a new v1 cpuset cgroup is empty and takes no task).
    let out = rt.cmd(&["exec", "--cgroup", "sub", &id, "true"]);
    assert_eq!(out.code, 255, "{out}");
    if !runtime_is_runc() {
        out.fails_with("does not exist (create it first)");
    }
    for d in dirs.iter().filter(|d| !d.join("sub").exists()) {
        std::fs::create_dir(d.join("sub")).unwrap();
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(d.join(f)) {
                std::fs::write(d.join("sub").join(f), v.trim()).unwrap();
            }
        }
    }
    let r = exec_probe(&rt, &id, &["--cgroup", "sub"]);
    for c in r["cgroup"].as_array().unwrap() {
        assert!(
            c["path"].as_str().unwrap().ends_with(&format!("{id}/sub")),
            "{c}"
        );
    }
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}
