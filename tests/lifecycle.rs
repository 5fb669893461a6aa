//! Lifecycle (runtime-spec runtime.md "Lifecycle" and "Operations"): create → created with a
//! pid → start → running → kill → stopped → delete; the `state` document; the errors for
//! operations in the wrong state; `run` exit statuses; `--pid-file`.
//!
//! Declare the bundle before the runtime so the runtime (which force-deletes leftovers) drops
//! first.

mod common;
use common::*;

fn sleeper() -> Bundle {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b
}

#[test]
fn lifecycle_create_start_kill_delete() {
    if !require_root() {
        return;
    }
    let b = sleeper();
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();

    let st = rt.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    let pid = st["pid"].as_i64().expect("pid in state");
    assert!(pid > 0, "{st}");
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    rt.cmd(&["start", &id]).ok();
    let st = rt.wait_status(&id, "running");
    assert_eq!(st["pid"].as_i64(), Some(pid), "pid changed on start: {st}");

    rt.cmd(&["kill", &id, "KILL"]).ok();
    rt.wait_status(&id, "stopped");

    rt.cmd(&["delete", &id]).ok();
    let out = rt.cmd(&["state", &id]);
    assert!(!out.success(), "state after delete: {out}");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn state_json_has_spec_fields() {
    if !require_root() {
        return;
    }
    let mut b = sleeper();
    b.config_mut()["annotations"] = serde_json::json!({"org.berth.test": "yes"});
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    let st = rt.state(&id);
    assert!(
        st["ociVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with('1')),
        "{st}"
    );
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["status"], "created");
    assert!(st["pid"].as_i64().is_some_and(|p| p > 0), "{st}");
    assert_eq!(st["bundle"], b.path_str(), "bundle must be absolute: {st}");
    assert_eq!(st["annotations"]["org.berth.test"], "yes", "{st}");
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn create_existing_id_fails() {
    if !require_root() {
        return;
    }
    let b = sleeper();
    let b2 = sleeper();
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    let out = rt.create(&b2, &id);
    out.fails_with("exist");
    // The first container is untouched.
    assert_eq!(rt.state(&id)["status"], "created");
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
    rt.assert_nothing_left(&id, &b2);
}

#[test]
fn start_running_container_fails_naming_it_and_its_status() {
    if !require_root() {
        return;
    }
    let b = sleeper();
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    rt.wait_status(&id, "running");
    let out = rt.cmd(&["start", &id]);
    // runc 1.1.5 says only "cannot start an already running container"; berth names the id.
    out.fails_with("running");
    out.fails_with(&id);
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn delete_running_container_needs_force() {
    if !require_root() {
        return;
    }
    let b = sleeper();
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    rt.wait_status(&id, "running");
    rt.cmd(&["delete", &id]).fails_with("running");
    assert_eq!(rt.state(&id)["status"], "running");
    rt.cmd(&["delete", "--force", &id]).ok();
    let out = rt.cmd(&["state", &id]);
    assert!(!out.success(), "state after delete: {out}");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn kill_created_container() {
    if !require_root() {
        return;
    }
    let b = sleeper();
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["kill", &id, "SIGKILL"]).ok();
    rt.wait_status(&id, "stopped");
    rt.cmd(&["delete", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn delete_stopped_container_without_force() {
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
    rt.cmd(&["delete", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn run_exits_with_container_status() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run_args(&b, &id, &["sh", "-c", "echo out; exit 3"], &[]);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.stdout.contains("out"), "{out}");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn run_exits_128_plus_signal() {
    if !require_root() {
        return;
    }
    // Without a pid namespace the shell is not an init process, so its own SIGTERM kills it.
    let mut b = Bundle::new();
    b.remove_namespace("pid");
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run_args(&b, &id, &["sh", "-c", "kill -TERM $$; sleep 5"], &[]);
    assert_eq!(out.code, 128 + libc::SIGTERM, "{out}");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn create_writes_pid_file() {
    if !require_root() {
        return;
    }
    let b = sleeper();
    let rt = Runtime::new();
    let id = unique_id();
    let pid_file = rt.root().join("container.pid");
    b.write();
    rt.cmd(&[
        "create",
        "--bundle",
        b.path_str(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ])
    .ok();
    let written = std::fs::read_to_string(&pid_file).expect("pid file written");
    let st = rt.state(&id);
    assert_eq!(
        written.trim().parse::<i64>().ok(),
        st["pid"].as_i64(),
        "pid file {written:?} vs state {st}"
    );
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn run_writes_pid_file() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    let pid_file = rt.root().join("run.pid");
    // The container is gone when `run` returns, so only the shape is checked: the host pid
    // of the container's init (never 1, which is its pid inside the namespace).
    let out = rt.run_args(
        &b,
        &id,
        &["true"],
        &["--pid-file", pid_file.to_str().unwrap()],
    );
    out.ok();
    let written = std::fs::read_to_string(&pid_file).expect("pid file written");
    assert!(
        written.trim().parse::<u32>().is_ok_and(|p| p > 1),
        "{written:?}"
    );
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn list_shows_created_container() {
    if !require_root() {
        return;
    }
    let b = sleeper();
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    let out = rt.cmd(&["list"]);
    out.ok();
    assert!(out.stdout.contains(&id), "{out}");
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn create_does_not_run_the_program_until_start() {
    if !require_root() {
        return;
    }
    // runtime.md "create": the user-specified program MUST NOT run until `start`.
    let shared = tempfile::tempdir().unwrap();
    let mut b = Bundle::new();
    b.args(&["sh", "-c", "echo started > /shared/marker; sleep 1000"]);
    b.mount(serde_json::json!({"destination": "/shared", "type": "bind",
        "source": shared.path().to_str().unwrap(), "options": ["bind"]}));
    let rt = Runtime::new();
    let id = unique_id();
    let marker = shared.path().join("marker");
    rt.create(&b, &id).ok();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!marker.exists(), "the program ran before start");
    rt.cmd(&["start", &id]).ok();
    let deadline = std::time::Instant::now() + CMD_TIMEOUT;
    while !marker.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "program never ran after start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// True while `pid` is a live (not zombie) process.
fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// containerd's runc shim removes a created-but-never-started task with a plain `delete ID`;
/// runc kills the init and removes the container, and so does berth (docs/lifecycle.md: the
/// spec says MUST fail). The user's program never ran.
#[test]
fn delete_of_a_created_container_kills_it_and_removes_it() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["root"]["readonly"] = serde_json::json!(false);
    b.args(&["sh", "-c", "touch /ran; sleep 1000"]);
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    assert!(alive(pid));
    rt.cmd(&["delete", &id]).ok();
    assert!(!alive(pid), "init {pid} survived delete");
    rt.cmd(&["state", &id]).fails_with("does not exist");
    assert!(
        !b.rootfs().join("ran").exists(),
        "the program ran before start"
    );
    rt.assert_nothing_left(&id, &b);
}

/// `kill ID 0` (as runc): no signal is delivered, it only checks that the init lives. A
/// stopped container's init does not: plain `kill` fails there, `kill --all` does not.
#[test]
fn kill_signal_0_checks_the_init_is_alive_and_delivers_nothing() {
    if !require_root() {
        return;
    }
    let b = sleeper();
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    rt.cmd(&["kill", &id, "0"]).ok();
    rt.cmd(&["kill", "--all", &id, "0"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(rt.state(&id)["status"], "running");
    rt.cmd(&["kill", &id, "KILL"]).ok();
    rt.wait_status(&id, "stopped");
    let out = rt.cmd(&["kill", &id, "0"]);
    assert_eq!(out.code, 1, "{out}");
    if !runtime_is_runc() {
        assert_eq!(
            out.stderr.trim(),
            format!("berth: kill container {id:?}: container not running (it is stopped)")
        );
    }
    rt.cmd(&["kill", "--all", &id, "0"]).ok();
    rt.cmd(&["delete", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// containerd 1.6's runc shim sends `kill --all ID 9` once the init of a container without its
/// own pid namespace exited, to reap what the init left behind, and retries while that fails.
/// runc signals every process left in the cgroup of the stopped container; so does berth.
#[test]
fn kill_all_of_a_stopped_container_kills_what_its_init_left_in_the_cgroup() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    // No pid namespace of its own: the background sleep outlives the init.
    b.remove_namespace("pid");
    b.args(&["sh", "-c", "sleep 1000 & exit 0"]);
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    rt.wait_status(&id, "stopped");
    let procs = cgroups_named(&id)
        .into_iter()
        .map(|d| d.join("cgroup.procs"))
        .find(|p| p.starts_with("/sys/fs/cgroup/pids") || p.starts_with("/sys/fs/cgroup/unified"))
        .expect("the container's pids cgroup");
    let left: Vec<i64> = std::fs::read_to_string(&procs)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(
        left.len(),
        1,
        "the sleep left in {}: {left:?}",
        procs.display()
    );
    // Plain kill: the init is gone, an error as the spec wants.
    rt.cmd(&["kill", &id, "KILL"]).fails_with("stopped");
    assert!(alive(left[0]));
    rt.cmd(&["kill", "--all", &id, "9"]).ok();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while alive(left[0]) {
        assert!(
            std::time::Instant::now() < deadline,
            "{} survived kill --all",
            left[0]
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Nothing left to signal: still a success (the shim may ask again).
    rt.cmd(&["kill", "--all", &id, "9"]).ok();
    rt.cmd(&["delete", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}
