//! Crash injection (issue #7): berth is SIGKILLed at each step of `create` (the failpoints of
//! `berth_runtime::failpoint`, compiled in by `cargo test --features failpoints`). After each
//! crash `delete --force` must succeed and leave nothing behind (state dir, mounts, cgroups,
//! processes), and a fresh `create` of the same id must succeed.
//!
//! Needs root and the `failpoints` feature; skips loudly otherwise. One step only:
//! `BERTH_CRASH_STEP=<name> cargo test --features failpoints --test crash`.

mod common;
use common::*;
use std::time::Duration;

/// A parked child of `pid` (comm `STOPPED_COMM`): a failpoint reached in stage 1 or the init.
fn stopped_child(pid: u32) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = stat
            .split_once('(')
            .map(|(_, c)| &c[..c.len() - rest.len() - 1]);
        let ppid = rest.split_whitespace().nth(1);
        if comm == Some(berth_runtime::failpoint::STOPPED_COMM)
            && ppid == Some(pid.to_string().as_str())
        {
            return e.file_name().to_string_lossy().parse().ok();
        }
    }
    None
}

/// `BERTH_FAILPOINT=<fp> berth --root R ARGS`. A failpoint in berth itself SIGKILLs it; one in
/// a child stops that child, and then this SIGKILLs berth. Returns berth's exit code (128 + 9
/// when killed) and where the crash happened.
fn create_with_failpoint(rt: &Runtime, fp: &str, args: &[&str]) -> (i32, &'static str) {
    use std::os::unix::process::ExitStatusExt;
    let mut child = std::process::Command::new(rt.bin())
        .env("BERTH_FAILPOINT", fp)
        .arg("--root")
        .arg(rt.root())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn berth");
    let deadline = std::time::Instant::now() + CMD_TIMEOUT;
    let mut killed_by_test = false;
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            let code = st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0));
            let by = if killed_by_test {
                "child parked, berth killed"
            } else {
                "berth itself"
            };
            return (code, by);
        }
        if !killed_by_test && stopped_child(child.id()).is_some() {
            let _ = child.kill(); // SIGKILL
            killed_by_test = true;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("berth create with BERTH_FAILPOINT={fp} neither crashed nor stopped a child");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits (bounded) until no process references the bundle: the children of a killed `create`
/// die by their parent-death signal, asynchronously.
fn settle(b: &Bundle) {
    for _ in 0..100 {
        if processes_referencing(b.path()).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn crash_at(fp: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.write();
    let id = unique_id();
    let pid_file = b.path().join("crash.pid");
    let pid_file_s = pid_file.to_string_lossy().into_owned();
    let (code, how) = create_with_failpoint(
        &rt,
        fp,
        &[
            "create",
            "--pid-file",
            &pid_file_s,
            "--bundle",
            b.path_str(),
            &id,
        ],
    );
    if code != 128 + libc::SIGKILL {
        problems.push(format!("create was not SIGKILLed at {fp}: exit {code}"));
    }
    loud(&format!("crash at {fp}: {how}"));
    let _ = std::fs::remove_file(&pid_file);
    settle(&b);
    let del = rt.cmd(&["delete", "--force", &id]);
    if !del.success() {
        problems.push(format!("delete --force after the crash failed: {del}"));
    }
    settle(&b);
    for l in rt.leftovers(&id, &b) {
        problems.push(format!("after crash + delete --force: {l}"));
    }
    let again = rt.create(&b, &id);
    if !again.success() {
        problems.push(format!("a fresh create of the same id failed: {again}"));
    } else {
        let st = rt.state(&id);
        if st["status"] != "created" {
            problems.push(format!("fresh create is not \"created\": {st}"));
        }
    }
    let del = rt.cmd(&["delete", "--force", &id]);
    if !del.success() {
        problems.push(format!("final delete --force failed: {del}"));
    }
    settle(&b);
    for l in rt.leftovers(&id, &b) {
        problems.push(format!("after the fresh create + delete: {l}"));
    }
    let entries: Vec<_> = std::fs::read_dir(rt.root())
        .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    if !entries.is_empty() {
        problems.push(format!("state root not empty: {entries:?}"));
    }
    problems
}

#[test]
fn kill_9_at_every_create_step_then_delete_force_leaves_nothing() {
    if !require_root() {
        return;
    }
    if !cfg!(feature = "failpoints") {
        loud("SKIP kill_9_at_every_create_step: build with `cargo test --features failpoints`");
        return;
    }
    let only = std::env::var("BERTH_CRASH_STEP").ok();
    let mut failures = Vec::new();
    let mut covered = 0;
    for fp in berth_runtime::failpoint::NAMES {
        if only.as_deref().is_some_and(|o| o != *fp) {
            continue;
        }
        covered += 1;
        let problems = crash_at(fp);
        if problems.is_empty() {
            loud(&format!("PASS crash at {fp}"));
        } else {
            loud(&format!("FAIL crash at {fp}:\n  {}", problems.join("\n  ")));
            failures.push(*fp);
        }
    }
    loud(&format!(
        "crash injection: {covered} steps covered, {} failed",
        failures.len()
    ));
    assert!(
        failures.is_empty(),
        "crash steps that left things behind: {failures:?}"
    );
}
