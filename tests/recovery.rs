//! Recovery from stuck, stopped or dead peers (issue #21): an operator's `delete --force`
//! always finishes, whatever state another berth command of the same container was left in.
//! Needs root; skips loudly.

mod common;
use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
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

/// SIGKILLs every process whose command line or cwd names the bundle: a hook's process group
/// that outlives the berth command that ran it (as with runc), so that the census after is
/// about berth's leftovers.
fn kill_processes_referencing(b: &Bundle) {
    for p in processes_referencing(b.path()) {
        if let Some(pid) = p.split_whitespace().next().and_then(|p| p.parse().ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
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
    kill_processes_referencing(&b);
    settle(&b);
    rt.assert_nothing_left(&id, &b);
}

/// `berth --root R ARGS` in the background, its output discarded.
fn spawn_berth(rt: &Runtime, args: &[&str]) -> Child {
    Command::new(rt.bin())
        .arg("--root")
        .arg(rt.root())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn berth")
}

/// `pause`, `update` and `exec` of a container whose `create` is stopped while holding the
/// lock fail at once, naming the stopped holder, instead of waiting for it for ever (issue
/// #21 deliverable 2). Before the fix each waited until the create was continued: the
/// harness's 60 s bound failed the test. `delete --force` still cleans up.
#[test]
fn commands_behind_a_stopped_holder_fail_at_once_naming_it() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    let id = unique_id();
    let marker = b.path().join("hook-ran");
    let mut create = create_stuck_in_a_hook(&rt, &mut b, &id, &marker, 2);
    let create_pid = create.id();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(create_pid as i32),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .unwrap();
    let busy = format!(
        "is locked by a stopped process, pid {create_pid} ({} --root {} create ",
        rt.bin().display(),
        rt.root_str(),
    );
    for verb in [
        vec!["pause", id.as_str()],
        vec!["update", "--pids-limit", "10", id.as_str()],
        vec!["exec", id.as_str(), "true"],
    ] {
        let started = Instant::now();
        let out = rt.cmd(&verb);
        assert!(!out.success(), "{verb:?} succeeded behind a stopped create");
        assert!(
            out.stderr.contains(&format!("container {id:?} {busy}"))
                && out
                    .stderr
                    .contains("continue it (SIGCONT), or remove the container with delete --force"),
            "{verb:?}: {}",
            out.stderr
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{verb:?} waited {:?}",
            started.elapsed()
        );
    }
    rt.cmd(&["delete", "--force", &id]).ok();
    let _ = create.wait();
    settle(&b);
    rt.assert_nothing_left(&id, &b);
}

/// A poststart hook without a timeout that never ends keeps `berth start` running (as with
/// runc), but no longer the container's lock: `kill` ends the container at once, `state`
/// reports it stopped, and `delete` cleans up while the hook still runs. Before the fix
/// `start` held the lock across the poststart hooks and `kill` waited for the hook.
#[test]
fn kill_does_not_wait_behind_a_hung_poststart_hook() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let marker = b.path().join("poststart-ran");
    let script = format!("touch {}; exec sleep 30", marker.display());
    b.config_mut()["hooks"] = json!({
        "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", script]}]
    });
    let id = unique_id();
    rt.create(&b, &id).ok();
    let mut start = spawn_berth(&rt, &["start", &id]);
    assert!(wait_for(&marker), "the poststart hook never ran");
    assert_eq!(rt.state(&id)["status"], "running");

    let started = Instant::now();
    rt.cmd(&["kill", &id, "KILL"]).ok();
    rt.wait_status(&id, "stopped");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "kill waited {:?}",
        started.elapsed()
    );
    rt.cmd(&["delete", &id]).ok();
    let _ = start.kill();
    let _ = start.wait();
    kill_processes_referencing(&b);
    settle(&b);
    rt.assert_nothing_left(&id, &b);
}

/// `kill` of a container whose `start` waits in a startContainer hook without a timeout (run
/// by the init, inside the container, before the program) signals the init at once: the init
/// dies, `start` returns naming that, and the container is stopped. Before the fix `kill`
/// waited for `start`, which waited for the hook.
#[test]
fn kill_ends_a_start_waiting_in_a_start_container_hook() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.config_mut()["hooks"] = json!({
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 30"]}]
    });
    let id = unique_id();
    rt.create(&b, &id).ok();
    let pid = rt.init_pid(&id);
    let start = Command::new(rt.bin())
        .arg("--root")
        .arg(rt.root())
        .args(["start", &id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth start");
    // The hook is the init's child while it runs.
    let children = format!("/proc/{pid}/task/{pid}/children");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&children)
        .unwrap_or_default()
        .trim()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the startContainer hook never ran"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let started = Instant::now();
    rt.cmd(&["kill", &id, "KILL"]).ok();
    let out = start.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "start ended {:?} after the kill",
        started.elapsed()
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "start container {id:?}: the container process exited before it could be started"
        )),
        "start ended {:?}; stderr: {stderr:?}",
        out.status
    );
    assert_eq!(rt.state(&id)["status"], "stopped");
    rt.cmd(&["delete", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// `strace ARGS berth --root R VERB...` with the strace options `opts`.
fn strace_berth(rt: &Runtime, opts: &[&str], verb: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["-qq".into()];
    args.extend(opts.iter().map(|s| s.to_string()));
    args.push(rt.bin().to_string_lossy().into_owned());
    args.extend(["--root".into(), rt.root_str().into()]);
    args.extend(verb.iter().map(|s| s.to_string()));
    run_command("strace", &args, CMD_TIMEOUT)
}

/// The syscalls berth makes for `verb`, in order, from an strace of one real run of it.
fn syscalls_of(rt: &Runtime, scratch: &Path, verb: &[&str]) -> Vec<String> {
    let trace = scratch.join("verb.trace");
    let out = strace_berth(rt, &["-o", &trace.to_string_lossy()], verb);
    assert!(out.success(), "{out}");
    let text = std::fs::read_to_string(&trace).unwrap();
    std::fs::remove_file(&trace).unwrap();
    let calls: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let name = l.split('(').next()?;
            (!name.is_empty() && name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_'))
                .then(|| name.to_string())
        })
        .collect();
    assert!(calls.len() > 20, "trace too short: {calls:?}");
    calls
}

/// strace's injector counts per syscall name: the k-th call overall is the `nth` call of its
/// name. `k == calls.len()` names the final exit_group (berth runs to its very end).
fn injection_at(calls: &[String], k: usize) -> String {
    let (name, nth) = match calls.get(k) {
        Some(name) => (
            name.as_str(),
            calls[..=k].iter().filter(|c| *c == name).count(),
        ),
        None => ("exit_group", 1),
    };
    format!("inject={name}:signal=KILL:when={nth}")
}

/// Runs `verb` SIGKILLed on entry to its k-th syscall (a kill at entry to syscall k+1 is a
/// kill after syscall k); returns the injection used and whether the kill happened (a run
/// that takes another path, say one poll fewer, may never reach that call).
fn kill_at(rt: &Runtime, calls: &[String], k: usize, verb: &[&str]) -> (String, bool) {
    let inject = injection_at(calls, k);
    let out = strace_berth(rt, &["-o", "/dev/null", "-e", &inject], verb);
    // strace ends the way its tracee did: killed by SIGKILL.
    (inject, out.code == 128 + libc::SIGKILL)
}

/// Most of the kills must have happened, or the sweep tested nothing.
fn assert_mostly_killed(verb: &str, killed: usize, points: usize) {
    assert!(
        killed * 10 >= points * 9,
        "{verb}: only {killed} of {points} injected kills happened"
    );
}

fn have_strace() -> bool {
    if run_command("strace", &["-V".into()], CMD_TIMEOUT).code == 0 {
        return true;
    }
    loud("strace not installed: skipping a kill-at-each-syscall test");
    false
}

/// `berth start` SIGKILLed on entry to each of its syscalls in turn (strace's fault injector;
/// a kill at entry to syscall k+1 is a kill after syscall k). After each kill, `state` answers
/// (bounded) and tells the truth, and the container can be carried on with: when it says
/// `created`, the program has not run and a second `start` runs it; when it says `running`,
/// the program runs and a second `start` is refused. Never `stopped`: a killed `start` must not
/// lose the container. Then `delete --force` leaves nothing.
#[test]
fn start_killed_at_each_syscall_leaves_a_truthful_usable_container() {
    if !require_root() {
        return;
    }
    if !have_strace() {
        return;
    }
    let rt = Runtime::new();
    let out = tempfile::tempdir().unwrap();
    let mut b = Bundle::new();
    b.mount(json!({"destination": "/out", "type": "bind", "source": out.path(), "options": ["rbind", "rw"]}));
    b.args(&["sh", "-c", "echo $$ > /out/ran; exec sleep 1000"]);
    b.write();
    let traced = unique_id();
    rt.create(&b, &traced).ok();
    let calls = syscalls_of(&rt, b.path(), &["start", &traced]);
    rt.cmd(&["delete", "--force", &traced]).ok();
    let marker = out.path().join("ran");
    let (mut created, mut running, mut killed) = (0, 0, 0);
    let mut failures = Vec::new();
    for k in 0..=calls.len() {
        let _ = std::fs::remove_file(&marker);
        let id = unique_id();
        rt.create(&b, &id).ok();
        let (inject, was_killed) = kill_at(&rt, &calls, k, &["start", &id]);
        killed += usize::from(was_killed);
        let status = rt.state(&id)["status"].as_str().unwrap_or("?").to_string();
        let outcome = match status.as_str() {
            "created" => {
                created += 1;
                if marker.exists() {
                    Err("says created, but the program already ran".to_string())
                } else {
                    let again = rt.cmd(&["start", &id]);
                    if !again.success() {
                        Err(format!("a second start failed: {again}"))
                    } else if !wait_for(&marker) {
                        Err("a second start succeeded, but the program never ran".into())
                    } else {
                        Ok(())
                    }
                }
            }
            "running" => {
                running += 1;
                let again = rt.cmd(&["start", &id]);
                if !wait_for(&marker) {
                    Err("says running, but the program never ran".into())
                } else if again.success() || !again.mentions("running") {
                    Err(format!(
                        "a second start was not refused as running: {again}"
                    ))
                } else {
                    Ok(())
                }
            }
            other => Err(format!("says {other}")),
        };
        if let Err(e) = outcome {
            failures.push(format!("kill at syscall {k} ({inject}): {e}"));
        }
        rt.cmd(&["delete", "--force", &id]).ok();
        let left = rt.leftovers(&id, &b);
        if !left.is_empty() {
            failures.push(format!("kill at syscall {k} ({inject}): left {left:?}"));
        }
    }
    eprintln!(
        "start killed at each of {} syscalls ({killed} kills happened): {created} left created, {running} running, {} failures",
        calls.len() + 1,
        failures.len()
    );
    assert_mostly_killed("start", killed, calls.len() + 1);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Waits up to 10 s for `path` to appear.
fn wait_for(path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

/// `create` under `ulimit -n` 4 to 40: each either succeeds or fails with one line that names
/// the container and the call that ran out of fds, and a failed one leaves nothing (issue #21
/// item 6; before the fix, 4 fds left the state directory and printed a second line, the
/// undo's warning: removing the directory needs fds of its own).
#[test]
fn create_under_a_low_fd_limit_fails_in_one_line_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    // Without rlimits in the config, a create that has fds enough can succeed: raising the
    // hard RLIMIT_NOFILE needs CAP_SYS_RESOURCE, which some hosts (this CI's) lack.
    b.config_mut()["process"]
        .as_object_mut()
        .unwrap()
        .remove("rlimits");
    b.write();
    let (mut failed, mut created) = (0, 0);
    let mut problems = Vec::new();
    for n in 4..=40 {
        let id = unique_id();
        let script = format!(
            // stdio first: the shell needs spare fds for redirections; the init keeps stdout.
            "exec </dev/null >/dev/null; ulimit -n {n}; exec {} --root {} create --bundle {} {id}",
            rt.bin().display(),
            rt.root_str(),
            b.path_str()
        );
        let out = run_command("/bin/sh", &["-c".into(), script], CMD_TIMEOUT);
        if out.success() {
            created += 1;
            rt.cmd(&["delete", "--force", &id]).ok();
        } else {
            failed += 1;
            let lines: Vec<&str> = out.stderr.lines().collect();
            let prefix = format!("berth: create container {id:?}: ");
            if lines.len() != 1 || !lines[0].starts_with(&prefix) {
                problems.push(format!("ulimit -n {n}: {:?}", out.stderr));
            }
        }
        let left = rt.leftovers(&id, &b);
        if !left.is_empty() {
            problems.push(format!("ulimit -n {n}: left {left:?}"));
        }
    }
    eprintln!("ulimit -n 4..=40: {failed} creates failed, {created} succeeded");
    assert!(created > 0, "no create succeeded even with 40 fds");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A started `sleep 1000` container for the sweeps below.
fn running_sleeper(rt: &Runtime) -> (Bundle, String) {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    (b, id)
}

/// The container is running and usable: `state` says so and an `exec` prints from inside.
fn usable(rt: &Runtime, id: &str) -> Result<(), String> {
    let status = rt.state(id)["status"].as_str().unwrap_or("?").to_string();
    if status != "running" {
        return Err(format!("status {status}, not running"));
    }
    let out = rt.cmd(&["exec", id, "echo", "alive"]);
    if !out.success() || out.stdout.trim() != "alive" {
        return Err(format!("a fresh exec failed: {out}"));
    }
    Ok(())
}

/// Waits (10 s at most) until the init is the container's only process: what a killed
/// `exec` started must not linger.
fn settles_to_init_only(rt: &Runtime, id: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = rt.cmd(&["ps", "--format", "json", id]);
        let pids = out.json();
        if pids.as_array().is_some_and(|p| p.len() == 1) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("processes remain in the container: {pids}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills `verb` at entry to each of its syscalls against one running container; after each
/// kill `recover` brings the container back (or reports what is wrong), then it must be
/// usable. At the end `delete --force` leaves nothing. Returns the number of kills.
fn sweep(
    rt: &Runtime,
    b: &Bundle,
    id: &str,
    verb: &[&str],
    before_each: impl Fn(),
    recover: impl Fn(usize) -> Result<(), String>,
) -> usize {
    before_each();
    let calls = syscalls_of(rt, b.path(), verb);
    recover(usize::MAX).unwrap_or_else(|e| panic!("after the traced run: {e}"));
    let mut failures = Vec::new();
    let mut killed = 0;
    for k in 0..=calls.len() {
        before_each();
        let (inject, was_killed) = kill_at(rt, &calls, k, verb);
        killed += usize::from(was_killed);
        if let Err(e) = recover(k).and_then(|()| usable(rt, id)) {
            failures.push(format!("kill at syscall {k} ({inject}): {e}"));
        }
    }
    rt.cmd(&["delete", "--force", id]).ok();
    let left = rt.leftovers(id, b);
    assert!(left.is_empty(), "left after the sweep: {left:?}");
    eprintln!(
        "{} killed at each of {} syscalls ({killed} kills happened): {} failures",
        verb[0],
        calls.len() + 1,
        failures.len()
    );
    assert_mostly_killed(verb[0], killed, calls.len() + 1);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    calls.len() + 1
}

/// `berth exec` killed at each of its syscalls: the container stays running and usable, and
/// nothing the killed exec started lingers in it.
#[test]
fn exec_killed_at_each_syscall_leaves_the_container_usable() {
    if !require_root() || !have_strace() {
        return;
    }
    let rt = Runtime::new();
    let (b, id) = running_sleeper(&rt);
    sweep(
        &rt,
        &b,
        &id,
        &["exec", &id, "sh", "-c", "echo hi"],
        || {},
        |_| settles_to_init_only(&rt, &id),
    );
}

/// Whether `state` says paused or running, a paused one resumed (the killed command's work
/// either done or not: both are states a user can carry on from; anything else is not).
fn paused_or_running_then_resume(rt: &Runtime, id: &str) -> Result<(), String> {
    match rt.state(id)["status"].as_str().unwrap_or("?") {
        "running" => Ok(()),
        "paused" => {
            let out = rt.cmd(&["resume", id]);
            if out.success() {
                Ok(())
            } else {
                Err(format!("resume after the kill failed: {out}"))
            }
        }
        other => Err(format!("status {other}")),
    }
}

/// `berth pause` killed at each of its syscalls: the container is paused or running, a
/// `resume` of a paused one works, and then it is usable.
#[test]
fn pause_killed_at_each_syscall_leaves_a_resumable_container() {
    if !require_root() || !have_strace() {
        return;
    }
    let rt = Runtime::new();
    let (b, id) = running_sleeper(&rt);
    sweep(
        &rt,
        &b,
        &id,
        &["pause", &id],
        || {},
        |_| paused_or_running_then_resume(&rt, &id),
    );
}

/// `berth resume` killed at each of its syscalls (the container paused before each): it is
/// paused or running, a second `resume` works, and then it is usable.
#[test]
fn resume_killed_at_each_syscall_leaves_a_resumable_container() {
    if !require_root() || !have_strace() {
        return;
    }
    let rt = Runtime::new();
    let (b, id) = running_sleeper(&rt);
    sweep(
        &rt,
        &b,
        &id,
        &["resume", &id],
        || {
            rt.cmd(&["pause", &id]).ok();
        },
        |_| paused_or_running_then_resume(&rt, &id),
    );
}

/// `berth update --pids-limit` killed at each of its syscalls: a second update works and its
/// value is what the container's cgroup holds.
#[test]
fn update_killed_at_each_syscall_leaves_an_updatable_container() {
    if !require_root() || !have_strace() {
        return;
    }
    let rt = Runtime::new();
    let (b, id) = running_sleeper(&rt);
    sweep(
        &rt,
        &b,
        &id,
        &["update", "--pids-limit", "777", &id],
        || {},
        |k| {
            let want = format!("{}", 1000 + k.min(100_000));
            let out = rt.cmd(&["update", "--pids-limit", &want, &id]);
            if !out.success() {
                return Err(format!("a second update failed: {out}"));
            }
            let have: Vec<String> = cgroups_named(&id)
                .iter()
                .filter_map(|d| std::fs::read_to_string(d.join("pids.max")).ok())
                .map(|v| v.trim().to_string())
                .collect();
            if have.is_empty() || have.iter().any(|v| *v != want) {
                return Err(format!("pids.max is {have:?}, not {want}"));
            }
            Ok(())
        },
    );
}

// ---- issue #21 item 5: a damaged state of a live container must not leak it ----

/// How a test damages a live container's state.
#[derive(Clone, Copy, Debug)]
enum Damage {
    /// `rm -rf <root>/<id>`.
    DirRemoved,
    /// state.json cut to 0 bytes.
    Truncated,
    /// state.json replaced by bytes that are not JSON.
    Garbage,
    /// state.json renamed to state.json.tmp (a save that died between write and rename, then
    /// lost the old file).
    TmpLeftover,
    /// state.json garbage and the identity record removed too (a container made by a berth
    /// without records): only the default cgroup path, derived from the id, is left to go by.
    GarbageAndNoRecord,
}

impl Damage {
    fn apply(self, rt: &Runtime, id: &str) {
        let dir = rt.root().join(id);
        let state = dir.join("state.json");
        match self {
            Damage::DirRemoved => std::fs::remove_dir_all(&dir).unwrap(),
            Damage::Truncated => std::fs::write(&state, b"").unwrap(),
            Damage::Garbage => std::fs::write(&state, b"\x00garbage{{not json").unwrap(),
            Damage::TmpLeftover => std::fs::rename(&state, dir.join("state.json.tmp")).unwrap(),
            Damage::GarbageAndNoRecord => {
                std::fs::write(&state, b"garbage").unwrap();
                let _ = std::fs::remove_dir_all(rt.identity_record(id));
            }
        }
    }
}

/// The pids in the container's cgroup (its v2 directory, else the first one found), and
/// that directory.
fn cgroup_pids(id: &str) -> (Vec<i32>, PathBuf) {
    let dirs = cgroups_named(id);
    let dir = dirs
        .iter()
        .find(|d| d.starts_with("/sys/fs/cgroup/unified"))
        .or(dirs.first())
        .unwrap_or_else(|| panic!("no cgroup named after {id}"))
        .clone();
    let pids = std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    (pids, dir)
}

/// `/proc/<pid>/stat` field 22 and the state letter, or `None` for no such process.
fn start_time_and_state(pid: i32) -> Option<(u64, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some((rest.get(19)?.parse().ok()?, rest.first()?.to_string()))
}

/// Whether the process `pid` that had `start` is still alive (a zombie is dead).
fn still_alive(pid: i32, start: u64) -> bool {
    start_time_and_state(pid).is_some_and(|(s, state)| s == start && state != "Z")
}

/// Creates (and for `running`, starts) a container whose init forks a second process, damages
/// its state with `damage`, runs `delete --force`, and checks that it exits 0 with a warning
/// naming the damage, that every process of the container is gone (by pid and by its cgroup),
/// and that nothing is left. What leaked is cleaned up here before the test fails, so a run
/// against a berth without the fix does not leave the host dirty.
fn delete_force_after(damage: Damage, status: &str, cgroups_path: Option<&str>) {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    let id = unique_id();
    b.args(&["sh", "-c", "sleep 1000 & exec sleep 1001"]);
    if let Some(path) = cgroups_path {
        b.config_mut()["linux"]["cgroupsPath"] = json!(path.replace("{id}", &id));
    }
    rt.create(&b, &id).ok();
    let running = status != "created";
    if running {
        rt.cmd(&["start", &id]).ok();
    }
    // The init and, once started, its child (which the init forks as its first act).
    let want = if running { 2 } else { 1 };
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut pids, mut cg_dir) = cgroup_pids(&id);
    while pids.len() < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
        (pids, cg_dir) = cgroup_pids(&id);
    }
    assert_eq!(pids.len(), want, "processes in {}", cg_dir.display());
    let procs: Vec<(i32, u64)> = pids
        .iter()
        .map(|&p| (p, start_time_and_state(p).unwrap().0))
        .collect();
    if status == "paused" {
        // Frozen processes die of SIGKILL only once thawed.
        rt.cmd(&["pause", &id]).ok();
        rt.wait_status(&id, "paused");
    }
    damage.apply(&rt, &id);

    let out = rt.cmd(&["delete", "--force", &id]);
    let alive: Vec<i32> = procs
        .iter()
        .filter(|&&(p, s)| still_alive(p, s))
        .map(|&(p, _)| p)
        .collect();
    let cgroups = cgroups_named(&id);
    let mut left = rt.leftovers(&id, &b);
    loud(&format!(
        "DAMAGE {damage:?} ({status}): delete --force exit {}, {} of {} processes alive, {} cgroup dirs left, leftovers: {left:?}; stderr: {}",
        out.code,
        alive.len(),
        procs.len(),
        cgroups.len(),
        out.stderr.trim(),
    ));
    // Clean up what leaked before asserting (a paused container's processes thawed first).
    for dir in &cgroups {
        let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
        let _ = std::fs::write(dir.join("cgroup.freeze"), "0");
    }
    for &pid in &alive {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    if !cgroups.is_empty() {
        std::thread::sleep(Duration::from_millis(200));
        for dir in &cgroups {
            let _ = std::fs::remove_dir(dir);
        }
    }
    let _ = std::fs::remove_dir_all(rt.identity_record(&id));
    left.retain(|l| !l.starts_with("cgroup "));
    assert!(out.success(), "delete --force failed: {out}");
    assert!(
        alive.is_empty(),
        "processes {alive:?} of the container survived"
    );
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    assert!(!cg_dir.exists(), "{} left", cg_dir.display());
    assert!(left.is_empty(), "left behind: {left:?}");
    let what = match damage {
        Damage::DirRemoved => format!("state directory {}/{id} is missing", rt.root_str()),
        _ => format!(
            "state file {}/{id}/state.json is missing or corrupt",
            rt.root_str()
        ),
    };
    assert!(
        out.stderr.contains("warning") && out.stderr.contains(&what),
        "no warning naming {what:?}: {out}"
    );
    assert!(rt.cmd(&["state", &id]).mentions("does not exist"));
}

#[test]
fn delete_force_kills_a_created_container_whose_state_dir_was_removed() {
    delete_force_after(Damage::DirRemoved, "created", None);
}

#[test]
fn delete_force_kills_a_created_container_whose_state_file_was_truncated() {
    delete_force_after(Damage::Truncated, "created", None);
}

#[test]
fn delete_force_kills_a_created_container_whose_state_file_is_garbage() {
    delete_force_after(Damage::Garbage, "created", None);
}

#[test]
fn delete_force_kills_a_created_container_with_only_a_tmp_state_file() {
    delete_force_after(Damage::TmpLeftover, "created", None);
}

#[test]
fn delete_force_kills_a_running_container_whose_state_dir_was_removed() {
    delete_force_after(Damage::DirRemoved, "running", None);
}

#[test]
fn delete_force_kills_a_running_container_whose_state_file_was_truncated() {
    delete_force_after(Damage::Truncated, "running", None);
}

#[test]
fn delete_force_kills_a_running_container_whose_state_file_is_garbage() {
    delete_force_after(Damage::Garbage, "running", None);
}

#[test]
fn delete_force_kills_a_running_container_with_only_a_tmp_state_file() {
    delete_force_after(Damage::TmpLeftover, "running", None);
}

#[test]
fn delete_force_kills_a_paused_container_whose_state_dir_was_removed() {
    delete_force_after(Damage::DirRemoved, "paused", None);
}

#[test]
fn delete_force_kills_a_paused_container_whose_state_file_is_garbage() {
    delete_force_after(Damage::Garbage, "paused", None);
}

#[test]
fn delete_force_kills_a_running_container_without_a_record_at_its_default_cgroup_path() {
    delete_force_after(Damage::GarbageAndNoRecord, "running", None);
}

/// A custom absolute cgroupsPath is not derivable from the id: only the identity record
/// names it.
#[test]
fn delete_force_kills_a_running_container_with_a_custom_cgroups_path_whose_state_dir_was_removed() {
    delete_force_after(Damage::DirRemoved, "running", Some("/berth-recovery-{id}"));
}

#[test]
fn delete_force_kills_a_created_container_with_a_custom_cgroups_path_whose_state_file_is_garbage() {
    delete_force_after(Damage::Garbage, "created", Some("/berth-recovery-{id}"));
}

/// Kills and removes whatever cgroups named after the id are left when a test ends, also when
/// it fails before its `delete --force` (which cannot find a container whose state is lost).
struct Reaper(String);

impl Drop for Reaper {
    fn drop(&mut self) {
        let dirs = cgroups_named(&self.0);
        for dir in &dirs {
            let _ = std::fs::write(dir.join("freezer.state"), "THAWED");
            let _ = std::fs::write(dir.join("cgroup.kill"), "1");
        }
        if !dirs.is_empty() {
            std::thread::sleep(Duration::from_millis(200));
        }
        for dir in &dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// `state`, `start`, `kill` and a plain `delete` of a live container whose state is damaged
/// fail naming the container and the damage; `delete --force` then cleans up.
#[test]
fn damaged_state_is_reported_by_name_until_delete_force() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let (b, id) = running_sleeper(&rt);
    let _reaper = Reaper(id.clone());
    let root = rt.root_str().to_string();
    Damage::Garbage.apply(&rt, &id);
    let corrupt = format!("state file {root}/{id}/state.json is missing or corrupt");
    for (verb, args) in [
        ("state of container", vec!["state", &id]),
        ("start container", vec!["start", &id]),
        ("kill container", vec!["kill", &id, "KILL"]),
        ("delete container", vec!["delete", &id]),
    ] {
        rt.cmd(&args)
            .fails_with(&format!("berth: {verb} \"{id}\": {corrupt}"));
    }
    std::fs::remove_dir_all(rt.root().join(&id)).unwrap();
    let missing = format!(
        "container \"{id}\" has lost its state directory {root}/{id}, but its identity record {root}/@identity/{id} remains: it may still be alive (delete --force kills it and cleans up)"
    );
    for (verb, args) in [
        ("state of container", vec!["state", &id]),
        ("start container", vec!["start", &id]),
        ("kill container", vec!["kill", &id, "KILL"]),
        ("delete container", vec!["delete", &id]),
    ] {
        rt.cmd(&args)
            .fails_with(&format!("berth: {verb} \"{id}\": {missing}"));
    }
    // The id stays claimed: a new container of the same name must not adopt the old cgroup.
    rt.create(&b, &id).fails_with(&format!(
        "berth: create container \"{id}\": container \"{id}\" already exists: {missing}"
    ));
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// The identity record's start time guards against a recycled pid: a record naming a live
/// process with another start time does not get it killed, while one with its start time
/// does. The processes are `sleep`s started here; the records are written by hand.
#[test]
fn delete_force_never_kills_a_recycled_pid() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new();
    for (matching, id) in [(false, unique_id()), (true, unique_id())] {
        let mut sleeper = Command::new("sleep").arg("1000").spawn().unwrap();
        let pid = sleeper.id() as i32;
        let (start, _) = start_time_and_state(pid).unwrap();
        let recorded = if matching { start } else { start + 1 };
        let record = rt.identity_record(&id);
        std::fs::create_dir_all(&record).unwrap();
        std::fs::write(
            record.join("record.json"),
            json!({
                "id": id,
                "cgroup": {"relative_path": "", "hierarchies": [], "owned_parent_depth": 0, "disabled": true},
                "pid": pid,
                "pidStartTime": recorded,
            })
            .to_string(),
        )
        .unwrap();
        let out = rt.cmd(&["delete", "--force", &id]);
        let alive = sleeper.try_wait().unwrap().is_none();
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        out.ok();
        assert_eq!(alive, !matching, "matching start time {matching}: {out}");
        rt.assert_nothing_left(&id, &b);
    }
}
