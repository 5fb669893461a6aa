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

/// `env BERTH_FAILPOINT=<fp> berth --root R ARGS`.
fn cmd_with_failpoint(rt: &Runtime, fp: &str, args: &[&str]) -> Output {
    let mut full = vec![
        format!("BERTH_FAILPOINT={fp}"),
        rt.bin().to_string_lossy().into_owned(),
        "--root".into(),
        rt.root_str().into(),
    ];
    full.extend(args.iter().map(|s| s.to_string()));
    run_command("env", &full, CMD_TIMEOUT)
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
    let pid_file = rt.root().join("crash.pid"); // inside --root's parent would be odd; removed below
    let pid_file_s = pid_file.to_string_lossy().into_owned();
    let out = cmd_with_failpoint(
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
    if out.code != 128 + libc::SIGKILL {
        problems.push(format!("create was not SIGKILLed at {fp}: {out}"));
    }
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
    loud(&format!("crash injection: {covered} steps covered, {} failed", failures.len()));
    assert!(failures.is_empty(), "crash steps that left things behind: {failures:?}");
}
