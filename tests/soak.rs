//! Soak (issues #7, #21): many create/start/kill/delete cycles, many foreground `run`s, and
//! many exec + pause + resume + update rounds on one live container, with a
//! census of mounts, cgroups, state directories, the test process's fds and zombie children
//! before and after: all must be equal. `BERTH_SOAK_COUNT` sets the cycles (default 50, the
//! `make test` size; `make soak` runs 1,000). Needs root; skips loudly otherwise.

#[path = "common/census.rs"]
mod census;
mod common;
use common::*;
use std::time::Instant;

fn count() -> usize {
    std::env::var("BERTH_SOAK_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

/// Both loops live in one test so that nothing else in this binary runs alongside the census.
#[test]
fn soak_lifecycles_and_runs_leak_nothing() {
    if !require_root() {
        return;
    }
    let n = count();
    let rt = Runtime::new();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.write();
    let prefix = format!("soak-{}-", std::process::id());
    let before = census::take(b.path(), rt.root(), &prefix);

    // The census must see a live container, or equal counts would prove nothing.
    let probe_id = format!("{prefix}census");
    rt.cmd(&["create", "--bundle", b.path_str(), &probe_id])
        .ok();
    let live = census::take(b.path(), rt.root(), &prefix);
    rt.cmd(&["delete", "--force", &probe_id]).ok();
    loud(&format!("soak: one live container {live}"));
    assert!(
        live.cgroups > 0 && live.state_dirs == 1 && live.records == 2,
        "census blind: {live}"
    );

    let t = Instant::now();
    for i in 0..n {
        let id = format!("{prefix}{i}");
        rt.cmd(&["create", "--bundle", b.path_str(), &id]).ok();
        rt.cmd(&["start", &id]).ok();
        rt.cmd(&["kill", &id, "KILL"]).ok();
        rt.wait_status(&id, "stopped");
        rt.cmd(&["delete", &id]).ok();
    }
    let lifecycle = t.elapsed();
    let middle = census::take(b.path(), rt.root(), &prefix);

    let mut rb = Bundle::new();
    rb.args(&["sh", "-c", "echo soak-$$"]);
    rb.write();
    let t = Instant::now();
    for i in 0..n {
        let id = format!("{prefix}run-{i}");
        let out = rt.cmd(&["run", "--bundle", rb.path_str(), &id]);
        out.ok();
        // Observed from inside: the shell is PID 1 of its own pid namespace.
        assert_eq!(out.stdout.trim(), "soak-1", "run {i}: {out}");
    }
    let runs = t.elapsed();
    let after = census::take(b.path(), rt.root(), &prefix);
    let after_run_bundle = census::take(rb.path(), rt.root(), &prefix);

    // exec, pause/resume and update against one live container (issue #21): the census with
    // it running must not change, and only its init may be left in it.
    let live_id = format!("{prefix}live");
    rt.cmd(&["create", "--bundle", b.path_str(), &live_id]).ok();
    rt.cmd(&["start", &live_id]).ok();
    let live_before = census::take(b.path(), rt.root(), &prefix);
    let t = Instant::now();
    for i in 0..n {
        let out = rt.cmd(&["exec", &live_id, "sh", "-c", &format!("echo exec-{i}")]);
        out.ok();
        assert_eq!(out.stdout.trim(), format!("exec-{i}"), "exec {i}: {out}");
        rt.cmd(&["pause", &live_id]).ok();
        assert_eq!(rt.state(&live_id)["status"], "paused", "pause {i}");
        rt.cmd(&["resume", &live_id]).ok();
        assert_eq!(rt.state(&live_id)["status"], "running", "resume {i}");
        rt.cmd(&["update", "--pids-limit", &(100 + i).to_string(), &live_id])
            .ok();
    }
    let verbs = t.elapsed();
    let live_after = census::take(b.path(), rt.root(), &prefix);
    let left_in_container = rt.cmd(&["ps", "--format", "json", &live_id]).json();
    rt.cmd(&["delete", "--force", &live_id]).ok();

    loud(&format!(
        "soak: {n} create/start/kill/delete cycles in {:.1?} ({:.1} ms each), {n} runs in {:.1?} ({:.1} ms each)",
        lifecycle,
        lifecycle.as_secs_f64() * 1000.0 / n as f64,
        runs,
        runs.as_secs_f64() * 1000.0 / n as f64
    ));
    loud(&format!(
        "soak: {n} rounds of exec + pause + resume + update in {:.1?} ({:.1} ms each)",
        verbs,
        verbs.as_secs_f64() * 1000.0 / n as f64
    ));
    loud(&format!("soak: before         {before}"));
    loud(&format!("soak: after cycles   {middle}"));
    loud(&format!("soak: after runs     {after}"));
    assert_eq!(before, middle, "the lifecycle cycles leaked");
    assert_eq!(before, after, "the runs leaked");
    loud(&format!("soak: live, before   {live_before}"));
    loud(&format!("soak: live, after    {live_after}"));
    assert_eq!(live_before, live_after, "exec/pause/resume/update leaked");
    assert_eq!(
        left_in_container.as_array().map(Vec::len),
        Some(1),
        "processes besides the init remain: {left_in_container}"
    );
    assert_eq!(
        after_run_bundle.mounts, 0,
        "mounts remain under the run bundle"
    );
}
