//! The six OCI hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle"): order, the
//! status each sees on stdin, the namespace each runs in, failure semantics, timeouts.

mod common;

use std::path::Path;

use common::*;
use serde_json::{json, Value};

/// A hook that appends "<name> <uts ns> <state JSON>" to `log` (host /bin/sh: its env is
/// empty, so only builtins and absolute paths).
fn logging_hook(name: &str, log: &str, readlink: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("read -r s; echo \"{name} $({readlink} /proc/self/ns/uts) $s\" >> {log}")],
        "env": ["HOOK=1"]
    })
}

fn log_lines(path: &Path) -> Vec<(String, String, Value)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let name = parts.next().unwrap().to_string();
            let ns = parts.next().unwrap_or("").to_string();
            let state = serde_json::from_str(parts.next().unwrap_or("null")).unwrap_or(Value::Null);
            (name, ns, state)
        })
        .collect()
}

#[test]
fn hooks_run_in_order_with_the_status_and_namespace_the_spec_gives() {
    if !require_root() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("berth-hooks-")
        .tempdir()
        .unwrap();
    let host_log = dir.path().join("log");
    std::fs::write(&host_log, "").unwrap();
    let hl = host_log.to_str().unwrap();
    let mut b = Bundle::new();
    b.mount(json!({"destination": "/hooks", "type": "bind", "source": dir.path(), "options": ["rbind", "rw"]}));
    b.config_mut()["hooks"] = json!({
        "prestart": [logging_hook("prestart", hl, "/bin/readlink")],
        "createRuntime": [logging_hook("createRuntime", hl, "/bin/readlink")],
        // Before pivot_root: the host's paths still resolve.
        "createContainer": [logging_hook("createContainer", hl, "/bin/readlink")],
        // In the container: its /bin/sh (busybox) and the bind-mounted log.
        "startContainer": [logging_hook("startContainer", "/hooks/log", "/bin/readlink")],
        "poststart": [logging_hook("poststart", hl, "/bin/readlink")],
        "poststop": [logging_hook("poststop", hl, "/bin/readlink")]
    });
    b.args(&["sleep", "1000"]);
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    rt.cmd(&["start", &id]).ok();
    rt.cmd(&["delete", "--force", &id]).ok();
    let lines = log_lines(&host_log);
    let names: Vec<&str> = lines.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop"
        ]
    );
    let statuses: Vec<&str> = lines
        .iter()
        .map(|l| l.2["status"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        statuses,
        ["creating", "creating", "creating", "created", "running", "stopped"]
    );
    for (name, _, state) in &lines {
        assert_eq!(state["id"], id.as_str(), "{name}");
        assert_eq!(state["bundle"], b.path_str(), "{name}");
        if name != "poststop" {
            assert_eq!(state["pid"], pid, "{name} sees the init's host pid");
        }
    }
    // Runtime namespace vs container namespace (the container has its own uts namespace).
    let host_uts = std::fs::read_link("/proc/self/ns/uts").unwrap();
    let host_uts = host_uts.to_str().unwrap();
    for (name, ns, _) in &lines {
        let in_container = matches!(name.as_str(), "createContainer" | "startContainer");
        assert_eq!(ns == host_uts, !in_container, "{name} ran in {ns}");
    }
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn failing_create_runtime_hook_fails_create_and_cleans_up() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut b = Bundle::new();
    b.config_mut()["hooks"] = json!({
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}],
        "poststop": [logging_hook("poststop", log.to_str().unwrap(), "/bin/readlink")]
    });
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.create(&b, &id);
    assert_eq!(
        out.stderr.trim(),
        format!("berth: create container {id:?}: createRuntime hook /bin/sh failed with exit status 3; output: \"nope\"")
    );
    rt.assert_nothing_left(&id, &b);
    // runtime.md: the lifecycle continues at delete, whose poststop hooks run.
    assert_eq!(log_lines(&log)[0].0, "poststop");
}

#[test]
fn failing_create_container_hook_fails_create_and_cleans_up() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["hooks"] = json!({
        "createContainer": [{"path": "/bin/false"}]
    });
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id)
        .fails_with("createContainer hook /bin/false failed with exit status 1");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn non_executable_hook_is_reported_by_path() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let hook = dir.path().join("hook");
    std::fs::write(&hook, "#!/bin/sh\nexit 0\n").unwrap(); // mode 0644
    let mut b = Bundle::new();
    b.config_mut()["hooks"] = json!({"prestart": [{"path": hook}]});
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.create(&b, &id);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "berth: create container {id:?}: run prestart hook {}: Permission denied (os error 13)",
            hook.display()
        )
    );
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn hung_hook_is_killed_at_its_timeout_and_nothing_stays() {
    if !require_root() {
        return;
    }
    let marker = format!("berth-hook-marker-{}", std::process::id());
    let mut b = Bundle::new();
    b.config_mut()["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("/bin/sleep 100; : {marker}"), "x"],
        "timeout": 1
    }]});
    let rt = Runtime::new();
    let id = unique_id();
    let t = std::time::Instant::now();
    let out = rt.create(&b, &id);
    assert!(t.elapsed() < std::time::Duration::from_secs(15));
    assert_eq!(
        out.stderr.trim(),
        format!("berth: create container {id:?}: createRuntime hook /bin/sh did not finish within its timeout of 1 s; it was killed")
    );
    rt.assert_nothing_left(&id, &b);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let strays: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&marker))
        .collect();
    assert!(strays.is_empty(), "stray hook processes: {strays:?}");
}

#[test]
fn failing_start_container_hook_fails_start_and_stops_the_container() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["hooks"] =
        json!({"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]}]});
    b.args(&["sleep", "1000"]);
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    let out = rt.cmd(&["start", &id]);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "berth: start container {id:?}: startContainer hook /bin/sh failed with exit status 4"
        )
    );
    rt.wait_status(&id, "stopped");
    rt.cmd(&["delete", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn failing_poststart_and_poststop_hooks_are_warnings() {
    if !require_root() {
        return;
    }
    // runtime.md: after a failing poststart/poststop hook "the remaining hooks and lifecycle
    // continue": the second hook of each kind still runs (berth once stopped at the first).
    let log = tempfile::NamedTempFile::new().unwrap();
    let hl = log.path().to_str().unwrap();
    let mut b = Bundle::new();
    b.config_mut()["hooks"] = json!({
        "poststart": [{"path": "/bin/false"}, logging_hook("poststart", hl, "/bin/readlink")],
        "poststop": [{"path": "/bin/false"}, logging_hook("poststop", hl, "/bin/readlink")]
    });
    b.args(&["sleep", "1000"]);
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok();
    let out = rt.cmd(&["start", &id]);
    out.ok();
    assert!(out.mentions("poststart hook /bin/false failed"), "{out}");
    assert_eq!(rt.state(&id)["status"], "running");
    let out = rt.cmd(&["delete", "--force", &id]);
    out.ok();
    assert!(out.mentions("poststop hook /bin/false failed"), "{out}");
    let ran: Vec<String> = log_lines(log.path()).into_iter().map(|l| l.0).collect();
    assert_eq!(ran, ["poststart", "poststop"]);
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn relative_hook_path_is_rejected_before_anything_exists() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["hooks"] = json!({"poststop": [{"path": "hook"}]});
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.create(&b, &id);
    assert_eq!(
        out.stderr.trim(),
        format!("berth: create container {id:?}: config.json: hooks.poststop[0]: path \"hook\" is not absolute")
    );
    rt.assert_nothing_left(&id, &b);
}
