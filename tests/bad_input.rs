//! Table-driven bad input across config, CLI and state: each case is a bundle mutation, CLI
//! call or state-root corruption that must fail, the exact first line of stderr it must print
//! (`{id}`, `{bundle}` and `{root}` stand for the container id, bundle dir and state root),
//! and the guarantee that nothing is left behind (state dir, mounts, cgroups, processes).
//!
//! The expected lines are berth's messages (STYLE.md: name the operation and the object), not
//! runc's; under `BERTH_TEST_RUNTIME` only failure and cleanup are checked. Run one case with
//! `BERTH_BAD_CASE=<name> cargo test --test bad_input`; `BERTH_BAD_PRINT=1` prints each actual
//! line in table form (to write a new case's expectation — after reading it).

mod common;
use common::*;
use serde_json::json;

#[path = "bad_input/cases.rs"]
mod cases;
use cases::*;

#[test]
fn bad_input_is_rejected_clearly_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    let only = std::env::var("BERTH_BAD_CASE").ok();
    let table = cases();
    assert!(table.len() >= 50, "the table must keep at least 50 cases");
    let print = std::env::var_os("BERTH_BAD_PRINT").is_some();
    let exact = !runtime_is_runc() && std::env::var_os("BERTH_TEST_RUNTIME").is_none();
    let mut failures = Vec::new();
    for case in table {
        if only.as_deref().is_some_and(|o| o != case.name) {
            continue;
        }
        let mut b = Bundle::new();
        let rt = Runtime::new();
        let id = unique_id();
        let out = (case.run)(&rt, &mut b, &id);
        let mut problems = Vec::new();
        if out.success() {
            problems.push("succeeded".to_string());
        }
        let first = out
            .stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default();
        let expected = case
            .expect
            .replace("{id}", &id)
            .replace("{bundle}", b.path_str())
            .replace("{root}", rt.root_str());
        if exact && first != expected {
            problems.push(format!("stderr line {first:?}, expected {expected:?}"));
        }
        if print {
            let generic = first
                .replace(&id, "{id}")
                .replace(b.path_str(), "{bundle}")
                .replace(rt.root_str(), "{root}");
            loud(&format!("EXPECT {} => {generic:?}", case.name));
        }
        if case.creates || out.success() {
            let _ = rt.cmd(&["delete", "--force", &id]);
        }
        let mut left = rt.leftovers(&id, &b);
        let entries: Vec<_> = std::fs::read_dir(rt.root())
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        if !entries.is_empty() {
            left.push(format!("state root not empty: {entries:?}"));
        }
        if !left.is_empty() {
            problems.push(format!("left things behind: {}", left.join(", ")));
        }
        let msg = out
            .stderr
            .lines()
            .chain(out.stdout.lines())
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" | ");
        if problems.is_empty() {
            loud(&format!("PASS {:<38} {msg}", case.name));
        } else {
            loud(&format!(
                "FAIL {:<38} {} -- exit {}: {msg}",
                case.name,
                problems.join("; "),
                out.code
            ));
            failures.push(case.name);
        }
    }
    assert!(failures.is_empty(), "failing bad-input cases: {failures:?}");
}

/// #19 item 2 ("plan, then act"): a bad `linux.resources` value is refused by `Plan::new`, so
/// `create` never makes the state directory, the identity record or a cgroup, not even for a
/// moment. The table above sees only that nothing is left afterwards; this traces every mkdir
/// of the failing create and its children (strace -f) and finds none that succeeded. A good
/// create under the same trace is the control: its state directory and cgroup show up (traced
/// without -f, since its init outlives `create` and strace would wait for it).
#[test]
fn bad_resource_value_creates_nothing_at_any_point() {
    if !require_root() {
        return;
    }
    if std::env::var_os("BERTH_TEST_RUNTIME").is_some() {
        loud("SKIP bad_resource_value_creates_nothing_at_any_point: traces berth's own create");
        return;
    }
    if run_command("strace", &["-V".into()], CMD_TIMEOUT).code != 0 {
        loud("SKIP bad_resource_value_creates_nothing_at_any_point: strace not installed");
        return;
    }
    let rt = Runtime::new();
    let scratch = tempfile::tempdir().unwrap();
    let trace = scratch.path().join("create.trace");
    // The successful mkdirs of `berth create` under strace, and its output.
    let traced_create = |b: &Bundle, id: &str, follow_forks: bool| {
        b.write();
        let args: Vec<String> = [
            "-qq",
            if follow_forks { "-f" } else { "-q" },
            "-e",
            "trace=mkdir,mkdirat",
            "-o",
            &trace.to_string_lossy(),
            &rt.bin().to_string_lossy(),
            "--root",
            rt.root_str(),
            "create",
            "--bundle",
            b.path_str(),
            id,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let out = run_command("strace", &args, CMD_TIMEOUT);
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        let made: Vec<String> = text
            .lines()
            .filter(|l| l.contains("mkdir") && l.trim_end().ends_with("= 0"))
            .map(str::to_string)
            .collect();
        (out, made)
    };

    let mut bad = Bundle::new();
    let id = unique_id();
    bad.config_mut()["linux"]["resources"]["cpu"] = json!({"period": 0});
    let (out, made) = traced_create(&bad, &id, true);
    assert!(!out.success(), "{out}");
    let first = out.stderr.lines().find(|l| !l.trim().is_empty());
    assert_eq!(
        first,
        Some(
            format!(
                "berth: create container \"{id}\": invalid linux.resources.cpu.period: 0 is outside 1000..=1000000 µs"
            )
            .as_str()
        )
    );
    assert!(
        made.is_empty(),
        "the refused create made directories: {made:#?}"
    );
    assert!(rt.leftovers(&id, &bad).is_empty());

    let mut good = Bundle::new();
    let id = unique_id();
    good.args(&["true"]);
    let (out, made) = traced_create(&good, &id, false);
    out.ok();
    // The state directory (and the identity record's) end in the id, whether made by path
    // or relative to a directory fd.
    assert!(
        made.iter()
            .any(|l| !l.contains("/sys/fs/cgroup") && l.contains(&format!("{id}\""))),
        "no mkdir of the state directory in the control's trace: {made:#?}"
    );
    assert!(
        made.iter()
            .any(|l| l.contains("/sys/fs/cgroup") && l.contains(&id)),
        "no mkdir of the cgroup in the control's trace: {made:#?}"
    );
    rt.cmd(&["delete", "--force", &id]).ok();
}
