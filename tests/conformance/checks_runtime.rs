//! Checks from runtime.md: the state, the lifecycle, and each operation's rules — the CLI
//! contract runtime-tools exercises (`state` fields and transitions, `create` of an existing
//! id, `start` twice, `kill` and `delete` in each state, `--pid-file`, annotations).

use super::prelude::*;
use serde_json::json;

/// Creates `id` from `b` with `args`; returns the `state` JSON.
fn created(rt: &Runtime, b: &mut Bundle, id: &str, args: &[&str]) -> Result<Value, String> {
    b.args(args);
    b.write();
    must_ok(rt, &["create", "--bundle", b.path_str(), id])?;
    Ok(must_ok(rt, &["state", id])?.json())
}

fn sleeper(rt: &Runtime, b: &mut Bundle, id: &str) -> Result<Value, String> {
    created(rt, b, id, &["sleep", "1000"])
}

fn stopped(rt: &Runtime, b: &mut Bundle, id: &str) -> Verdict {
    created(rt, b, id, &["true"])?;
    must_ok(rt, &["start", id])?;
    wait_for(rt, id, "stopped")
}

fn cleanup(rt: &Runtime, b: &Bundle, id: &str) -> Verdict {
    must_ok(rt, &["delete", "--force", id])?;
    let left = rt.leftovers(id, b);
    ensure!(left.is_empty(), "left behind: {left:?}");
    Ok(())
}

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            section: "runtime.md#state",
            level: Level::Must,
            what: "state has ociVersion, id, status, pid and an absolute bundle path",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                let st = sleeper(rt, b, &id)?;
                ensure!(
                    st["ociVersion"] == b.config()["ociVersion"],
                    "ociVersion: {st}"
                );
                ensure!(st["id"] == id.as_str(), "id: {st}");
                ensure!(st["status"] == "created", "status: {st}");
                ensure!(st["pid"].as_i64().is_some_and(|p| p > 0), "pid: {st}");
                ensure!(st["bundle"] == b.path_str(), "bundle: {st}");
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#state",
            level: Level::Must,
            what: "the pid of a created container is a live process in the container",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                let st = sleeper(rt, b, &id)?;
                let pid = st["pid"].as_i64().unwrap_or(0);
                let ns = ns_inode(&pid.to_string(), "pid");
                ensure!(
                    ns != ns_inode("self", "pid"),
                    "pid {pid} is not in a new pid namespace"
                );
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#state",
            level: Level::Should,
            what: "state.annotations are the config's annotations",
            kind: Kind::Cli(|rt, b| {
                let ann = json!({"org.example.a": "1", "org.example.b": "two words"});
                b.config_mut()["annotations"] = ann.clone();
                let id = unique_id();
                let st = sleeper(rt, b, &id)?;
                ensure!(
                    st["annotations"] == ann,
                    "annotations: {}",
                    st["annotations"]
                );
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#lifecycle",
            level: Level::Must,
            what: "create does not run the user program; start does",
            kind: Kind::Cli(|rt, b| {
                b.config_mut()["root"]["readonly"] = json!(false);
                let id = unique_id();
                created(rt, b, &id, &["sh", "-c", "touch /started; sleep 1000"])?;
                std::thread::sleep(std::time::Duration::from_millis(300));
                let marker = b.rootfs().join("started");
                ensure!(!marker.exists(), "the program ran before start");
                must_ok(rt, &["start", &id])?;
                wait_for(rt, &id, "running")?;
                for _ in 0..250 {
                    if marker.exists() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                ensure!(marker.exists(), "the program did not run after start");
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#lifecycle",
            level: Level::Must,
            what: "status goes created -> running -> stopped when the program exits",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                let script = "trap 'exit 0' TERM; while :; do sleep 0.05; done";
                created(rt, b, &id, &["sh", "-c", script])?;
                ensure!(status_of(rt, &id)? == "created", "not created");
                must_ok(rt, &["start", &id])?;
                ensure!(status_of(rt, &id)? == "running", "not running after start");
                must_ok(rt, &["kill", &id, "TERM"])?;
                wait_for(rt, &id, "stopped")?;
                must_ok(rt, &["delete", &id])?;
                ensure!(!rt.root().join(&id).exists(), "state dir remains");
                Ok(())
            }),
        },
        Check {
            section: "runtime.md#create",
            level: Level::Must,
            what: "create with an id already in use fails and leaves the first container alone",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                let before = sleeper(rt, b, &id)?;
                let other = Bundle::new();
                other.write();
                must_fail(rt, &["create", "--bundle", other.path_str(), &id])?;
                let after = must_ok(rt, &["state", &id])?.json();
                ensure!(before == after, "state changed: {before} -> {after}");
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#create",
            level: Level::Must,
            what: "a create that cannot build the environment fails and leaves no state",
            kind: Kind::Cli(|rt, b| {
                b.args(&["/no/such/program"]);
                b.write();
                let id = unique_id();
                must_fail(rt, &["create", "--bundle", b.path_str(), &id])?;
                must_fail(rt, &["state", &id])?;
                let left = rt.leftovers(&id, b);
                ensure!(left.is_empty(), "left behind: {left:?}");
                Ok(())
            }),
        },
        Check {
            section: "runtime.md#start",
            level: Level::Must,
            what: "start of a running container fails and has no effect",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                let st = sleeper(rt, b, &id)?;
                must_ok(rt, &["start", &id])?;
                must_fail(rt, &["start", &id])?;
                let after = must_ok(rt, &["state", &id])?.json();
                ensure!(after["status"] == "running", "{after}");
                ensure!(after["pid"] == st["pid"], "pid changed: {after}");
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#start",
            level: Level::Must,
            what: "start of a stopped container fails",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                stopped(rt, b, &id)?;
                must_fail(rt, &["start", &id])?;
                ensure!(status_of(rt, &id)? == "stopped", "not stopped");
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#kill",
            level: Level::Must,
            what: "kill of a created container delivers the signal (it stops)",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                sleeper(rt, b, &id)?;
                must_ok(rt, &["kill", &id, "KILL"])?;
                wait_for(rt, &id, "stopped")?;
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#kill",
            level: Level::Must,
            what: "kill of a running container delivers the named signal",
            kind: Kind::Cli(|rt, b| {
                b.config_mut()["root"]["readonly"] = json!(false);
                let id = unique_id();
                created(
                    rt,
                    b,
                    &id,
                    &[
                        "sh",
                        "-c",
                        "trap 'echo usr1 > /got; exit 0' USR1; while :; do sleep 0.05; done",
                    ],
                )?;
                must_ok(rt, &["start", &id])?;
                std::thread::sleep(std::time::Duration::from_millis(200));
                must_ok(rt, &["kill", &id, "SIGUSR1"])?;
                wait_for(rt, &id, "stopped")?;
                let got = std::fs::read_to_string(b.rootfs().join("got")).unwrap_or_default();
                ensure!(got.trim() == "usr1", "trap output {got:?}");
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#kill",
            level: Level::Must,
            what: "kill of a stopped container fails",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                stopped(rt, b, &id)?;
                must_fail(rt, &["kill", &id, "KILL"])?;
                ensure!(status_of(rt, &id)? == "stopped", "not stopped");
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#kill",
            level: Level::Runc,
            what: "kill accepts signal numbers and names with or without SIG",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                sleeper(rt, b, &id)?;
                must_ok(rt, &["start", &id])?;
                must_ok(rt, &["kill", &id, "CONT"])?;
                must_ok(rt, &["kill", &id, "SIGCONT"])?;
                ensure!(status_of(rt, &id)? == "running", "not running");
                must_ok(rt, &["kill", &id, "9"])?;
                wait_for(rt, &id, "stopped")?;
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#delete",
            level: Level::Must,
            what: "delete of a stopped container removes it and its resources",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                stopped(rt, b, &id)?;
                must_ok(rt, &["delete", &id])?;
                let out = must_fail(rt, &["state", &id])?;
                ensure!(out.mentions("does not exist"), "{out}");
                let left = rt.leftovers(&id, b);
                ensure!(left.is_empty(), "left behind: {left:?}");
                Ok(())
            }),
        },
        Check {
            section: "runtime.md#delete",
            level: Level::Must,
            what: "delete of a running container fails and has no effect",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                sleeper(rt, b, &id)?;
                must_ok(rt, &["start", &id])?;
                must_fail(rt, &["delete", &id])?;
                ensure!(status_of(rt, &id)? == "running", "not running");
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#delete",
            level: Level::Runc,
            // The spec says MUST fail; runc kills and deletes, and containerd's runc shim relies
            // on it (docs/lifecycle.md).
            what: "delete of a created container kills its init and removes it, as runc",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                let st = sleeper(rt, b, &id)?;
                let pid = st["pid"].as_i64().unwrap_or(0);
                must_ok(rt, &["delete", &id])?;
                let out = must_fail(rt, &["state", &id])?;
                ensure!(out.mentions("does not exist"), "{out}");
                let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .is_ok_and(|s| !s.contains(") Z "));
                ensure!(!alive, "init {pid} survived delete");
                let left = rt.leftovers(&id, b);
                ensure!(left.is_empty(), "left behind: {left:?}");
                Ok(())
            }),
        },
        Check {
            section: "runtime.md#delete",
            level: Level::Runc,
            what: "delete --force of a running container kills and removes it",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                let st = sleeper(rt, b, &id)?;
                must_ok(rt, &["start", &id])?;
                must_ok(rt, &["delete", "--force", &id])?;
                let pid = st["pid"].as_i64().unwrap_or(0);
                // Dead means gone or a zombie (this host's pid 1 reaps lazily).
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let state = stat
                    .rsplit_once(')')
                    .map(|(_, r)| r.trim_start())
                    .unwrap_or("");
                let alive = !stat.is_empty() && !state.starts_with('Z');
                ensure!(!alive, "init {pid} survived delete --force");
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#operations",
            level: Level::Must,
            what: "operations on an unknown id fail",
            kind: Kind::Cli(|rt, _| {
                for op in [&["state"][..], &["start"], &["kill"], &["delete"]] {
                    let mut args = op.to_vec();
                    args.push("berth-no-such-container");
                    if op == ["kill"] {
                        args.push("KILL");
                    }
                    must_fail(rt, &args)?;
                }
                Ok(())
            }),
        },
        Check {
            section: "runtime.md#create",
            level: Level::Runc,
            what: "--pid-file holds the init pid when create returns",
            kind: Kind::Cli(|rt, b| {
                b.args(&["sleep", "1000"]);
                b.write();
                let id = unique_id();
                let pf = b.path().join("init.pid");
                let pfs = pf.to_string_lossy().into_owned();
                must_ok(
                    rt,
                    &["create", "--pid-file", &pfs, "--bundle", b.path_str(), &id],
                )?;
                let text = std::fs::read_to_string(&pf).map_err(|e| format!("pid file: {e}"))?;
                let st = must_ok(rt, &["state", &id])?.json();
                ensure!(
                    text.trim().parse::<i64>().ok() == st["pid"].as_i64(),
                    "pid file {text:?} vs {st}"
                );
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#query-state",
            level: Level::Runc,
            what: "list shows each container with its status",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                sleeper(rt, b, &id)?;
                let l = must_ok(rt, &["list", "--format", "json"])?.json();
                let me = l
                    .as_array()
                    .and_then(|a| a.iter().find(|c| c["id"] == id.as_str()))
                    .ok_or(format!("{id} not listed: {l}"))?;
                ensure!(me["status"] == "created", "{me}");
                cleanup(rt, b, &id)
            }),
        },
        Check {
            section: "runtime.md#lifecycle",
            level: Level::Must,
            what: "the container's exit does not remove its state before delete",
            kind: Kind::Cli(|rt, b| {
                let id = unique_id();
                stopped(rt, b, &id)?;
                std::thread::sleep(std::time::Duration::from_millis(200));
                let st = must_ok(rt, &["state", &id])?.json();
                ensure!(st["status"] == "stopped" && st["id"] == id.as_str(), "{st}");
                cleanup(rt, b, &id)
            }),
        },
    ]
}
