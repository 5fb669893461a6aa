//! Recovery from stuck, stopped or dead peers (issue #21): an operator's `delete --force`
//! always finishes, whatever state another berth command of the same container was left in.
//! Needs root; skips loudly.

mod common;
use common::*;
use serde_json::json;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `berth create` of a bundle whose createRuntime hook touches `marker` and then sleeps
/// `hook_secs`, and returns once the hook has started: the create holds the container's lock.
fn create_stuck_in_a_hook(
    rt: &Runtime,
    b: &mut Bundle,
    id: &str,
    marker: &Path,
    hook_secs: u32,
) -> Child {
    let script = format!("touch {}; exec sleep {hook_secs}", marker.display());
    b.config_mut()["hooks"] = json!({
        "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]
    });
    b.write();
    let create = Command::new(rt.bin())
        .arg("--root")
        .arg(rt.root())
        .args(["create", "--bundle", b.path_str(), id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn berth create");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !marker.exists() {
        assert!(
            Instant::now() < deadline,
            "the createRuntime hook never ran"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    create
}

/// Waits (bounded) for the orphaned hook to finish: it runs to its end on its own, as with runc.
fn settle(b: &Bundle) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes_referencing(b.path()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `delete --force` of a container whose `create` is SIGSTOPped (here inside a createRuntime
/// hook, holding the lock) finishes: the stopped holder is killed at once, with a warning,
/// and nothing of the container is left. Without the fix this `delete` waits for the lock
/// until the create is continued, and the harness's 60 s bound fails the test.
#[test]
fn delete_force_finishes_while_a_create_is_stopped() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    let id = unique_id();
    let marker = b.path().join("hook-ran");
    let mut create = create_stuck_in_a_hook(&rt, &mut b, &id, &marker, 2);
    let create_pid = nix::unistd::Pid::from_raw(create.id() as i32);
    nix::sys::signal::kill(create_pid, nix::sys::signal::Signal::SIGSTOP).unwrap();

    let out = rt.cmd(&["delete", "--force", &id]);
    out.ok();
    assert!(
        out.stderr.contains(&format!(
            "delete --force {id}: killing pid {create_pid}, which holds the container's lock (stopped)"
        )),
        "{}",
        out.stderr
    );
    let status = create.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert!(
        rt.cmd(&["state", &id]).mentions("does not exist"),
        "state still finds {id}"
    );
    settle(&b);
    rt.assert_nothing_left(&id, &b);
}

/// A holder that is running but never lets go (a create waiting on a hook without a timeout)
/// is killed once `delete --force` has waited 10 s for it.
#[test]
fn delete_force_finishes_while_a_create_hangs_in_a_hook() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    let id = unique_id();
    let marker = b.path().join("hook-ran");
    let mut create = create_stuck_in_a_hook(&rt, &mut b, &id, &marker, 25);

    let out = rt.cmd(&["delete", "--force", &id]);
    out.ok();
    assert!(
        out.stderr
            .contains("which holds the container's lock (still busy after 10 s)"),
        "{}",
        out.stderr
    );
    let status = create.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    // The hook's own process group outlives the killed create (as with runc); end it here so
    // the census below is about berth's leftovers.
    for p in processes_referencing(b.path()) {
        if let Some(pid) = p.split_whitespace().next().and_then(|p| p.parse().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    settle(&b);
    rt.assert_nothing_left(&id, &b);
}
