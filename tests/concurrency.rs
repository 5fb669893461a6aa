//! Concurrency (issue #7): parallel `create`s of one id (exactly one wins, the others fail
//! cleanly with "already exists"), parallel lifecycles of distinct ids (all succeed), and
//! `state`/`list` racing creates (never a half-written state). Needs root; skips loudly.

#[path = "common/census.rs"]
mod census;
mod common;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

const SAME_ID: usize = 100;

/// The tests run one at a time: each counts the fds of this whole process in its census, and
/// each measures its own parallelism.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
const DISTINCT: usize = 50;
/// Writers and create+delete rounds each in the state/list race.
const WRITERS: usize = 20;
const ROUNDS: usize = 3;

#[test]
fn parallel_creates_of_one_id_exactly_one_wins() {
    if !require_root() {
        return;
    }
    let _serial = serial();
    let rt = Arc::new(Runtime::new());
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.write();
    let b = Arc::new(b);
    let id = unique_id();
    let prefix = id.clone();
    let before = census::take(b.path(), rt.root(), &prefix);
    let t = Instant::now();
    let handles: Vec<_> = (0..SAME_ID)
        .map(|_| {
            let (rt, b, id) = (rt.clone(), b.clone(), id.clone());
            std::thread::spawn(move || rt.cmd(&["create", "--bundle", b.path_str(), &id]))
        })
        .collect();
    let outs: Vec<Output> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let elapsed = t.elapsed();
    let winners = outs.iter().filter(|o| o.success()).count();
    let expected = format!("berth: create container \"{id}\": container \"{id}\" already exists");
    let bad: Vec<&Output> = outs
        .iter()
        .filter(|o| !o.success() && o.stderr.trim() != expected)
        .collect();
    loud(&format!(
        "concurrency: {SAME_ID} parallel creates of one id in {elapsed:.1?}: {winners} succeeded, {} failed with {expected:?}, {} otherwise",
        SAME_ID - winners - bad.len(),
        bad.len()
    ));
    assert_eq!(winners, 1, "exactly one create must win");
    assert!(bad.is_empty(), "unclean failures: {}", bad[0]);
    // The winner is intact and observable from inside: its init is PID 1 in its namespace.
    let st = rt.state(&id);
    assert_eq!(st["status"], "created", "{st}");
    rt.cmd(&["start", &id]).ok();
    let ex = rt.cmd(&[
        "exec",
        &id,
        "sh",
        "-c",
        "cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    assert_eq!(ex.ok().stdout.trim(), "sleep 1000");
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
    assert_eq!(before, census::take(b.path(), rt.root(), &prefix));
}

#[test]
fn parallel_lifecycles_of_distinct_ids_all_succeed() {
    if !require_root() {
        return;
    }
    let _serial = serial();
    let rt = Arc::new(Runtime::new());
    let mut b = Bundle::new();
    // Each container reports its own hostname and pid: observed from inside.
    b.args(&["sh", "-c", "echo $(hostname) $$ > /tmp/out; sleep 1000"]);
    b.config_mut()["root"]["readonly"] = serde_json::json!(false);
    b.write();
    let b = Arc::new(b);
    let prefix = unique_id();
    let before = census::take(b.path(), rt.root(), &prefix);
    let t = Instant::now();
    let handles: Vec<_> = (0..DISTINCT)
        .map(|i| {
            let (rt, b) = (rt.clone(), b.clone());
            let id = format!("{prefix}-{i}");
            std::thread::spawn(move || -> Result<(), String> {
                let step = |args: &[&str]| {
                    let o = rt.cmd(args);
                    if o.success() {
                        Ok(o)
                    } else {
                        Err(o.to_string())
                    }
                };
                step(&["create", "--bundle", b.path_str(), &id])?;
                step(&["start", &id])?;
                rt.wait_status(&id, "running");
                let o = step(&["exec", &id, "sh", "-c", "echo $$; hostname"])?;
                if o.stdout.split_whitespace().nth(1) != Some("berth") {
                    return Err(format!("{id}: unexpected exec output {:?}", o.stdout));
                }
                step(&["kill", &id, "KILL"])?;
                rt.wait_status(&id, "stopped");
                step(&["delete", &id])?;
                Ok(())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let elapsed = t.elapsed();
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let after = census::take(b.path(), rt.root(), &prefix);
    loud(&format!(
        "concurrency: {DISTINCT} parallel lifecycles in {elapsed:.1?}: {} failed; before {before}; after {after}",
        failed.len()
    ));
    assert!(failed.is_empty(), "failed lifecycles: {failed:#?}");
    assert_eq!(before, after, "parallel lifecycles leaked");
}

#[test]
fn state_and_list_never_see_a_half_written_state() {
    if !require_root() {
        return;
    }
    let _serial = serial();
    let rt = Arc::new(Runtime::new());
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.write();
    let b = Arc::new(b);
    let prefix = unique_id();
    let stop = Arc::new(AtomicBool::new(false));
    // Readers: `list --format json` and `state` of every id, in a loop, while creates run.
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (rt, stop, prefix) = (rt.clone(), stop.clone(), prefix.clone());
            std::thread::spawn(move || -> (usize, Vec<String>) {
                let (mut reads, mut bad) = (0, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let list = rt.cmd(&["list", "--format", "json"]);
                    reads += 1;
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(list.stdout.trim())
                    else {
                        bad.push(format!("list output is not JSON: {list}"));
                        continue;
                    };
                    if !list.success() {
                        bad.push(format!("list failed: {list}"));
                    }
                    for c in v.as_array().into_iter().flatten() {
                        let id = c["id"].as_str().unwrap_or_default().to_string();
                        if !id.starts_with(&prefix) {
                            bad.push(format!("list shows a foreign or empty id: {c}"));
                        }
                        let st = rt.cmd(&["state", &id]);
                        reads += 1;
                        if !st.success() {
                            // Only a container deleted meanwhile may be missing.
                            let gone = format!("container \"{id}\" does not exist");
                            if !st.stderr.contains(&gone) {
                                bad.push(format!("reader {r}: state {id}: {st}"));
                            }
                            continue;
                        }
                        match serde_json::from_str::<serde_json::Value>(st.stdout.trim()) {
                            Ok(s)
                                if s["id"] == id.as_str()
                                    && ["creating", "created", "running", "stopped"]
                                        .contains(&s["status"].as_str().unwrap_or("")) => {}
                            other => bad.push(format!("reader {r}: torn state {id}: {other:?}")),
                        }
                    }
                }
                (reads, bad)
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (rt, b) = (rt.clone(), b.clone());
            let id = format!("{prefix}-{i}");
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let id = format!("{id}-{round}");
                    rt.cmd(&["create", "--bundle", b.path_str(), &id]).ok();
                    rt.cmd(&["delete", "--force", &id]).ok();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut bad = Vec::new();
    for r in readers {
        let (n, b) = r.join().unwrap();
        total += n;
        bad.extend(b);
    }
    loud(&format!(
        "concurrency: {total} state/list reads during {WRITERS} writers x {ROUNDS} create+delete: {} torn",
        bad.len()
    ));
    assert!(bad.is_empty(), "{bad:#?}");
}
