//! The differential tier (issue #12): a corpus of bundles and CLI sessions run under runc 1.1.5
//! and under berth, comparing what a client can observe — each call accepted or refused,
//! normalized `state`/`list`/`ps` output, the probe's normalized report from inside the
//! container, and what reaches the container's stdout and stderr.
//!
//! Every difference must be listed in tests/differential/allowed.txt with its reason (see
//! `verdict.rs` for the format); an allow-list entry that no longer matches anything is stale
//! and fails the run too (only when the whole corpus ran). `make test-diff` runs it.
//!
//! Environment: `BERTH_DIFF_ONLY=<substring>` runs matching cases only; `BERTH_DIFF_PRINT=1`
//! prints every difference as an allow-list line; `BERTH_DIFF_RUNC` / `BERTH_DIFF_BERTH`
//! override the two binaries (default: `runc` on PATH, and the berth cargo built).
//! Needs root and runc; skips loudly otherwise.

mod common;
use common::*;

#[path = "conformance/framework.rs"]
mod conformance_framework;

#[path = "conformance/checks_config.rs"]
mod checks_config;
#[path = "conformance/checks_linux.rs"]
mod checks_linux;
#[path = "conformance/checks_runtime.rs"]
mod checks_runtime;

#[path = "bad_input/cases.rs"]
#[allow(dead_code)] // the expected messages are bad_input.rs's business
mod bad_cases;

#[path = "differential/corpus.rs"]
mod corpus;
#[path = "differential/normalize.rs"]
mod normalize;
#[path = "differential/observe.rs"]
mod observe;
#[path = "differential/verdict.rs"]
mod verdict;

/// What the conformance checks import.
pub mod prelude {
    pub use super::conformance_framework::{
        must_fail, must_ok, no_setup, status_of, wait_for, Check, Kind, Level, Verdict,
    };
    pub use crate::common::*;
    pub use crate::ensure;
    pub use serde_json::Value;
}

use std::path::PathBuf;
use std::time::Instant;
use verdict::{Difference, Entry};

const ALLOW_LIST: &str = "tests/differential/allowed.txt";

/// runc: `BERTH_DIFF_RUNC`, else `runc` on PATH.
fn find_runc() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_DIFF_RUNC").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("runc"))
            .find(|p| p.is_file())
    })
}

fn berth_bin() -> PathBuf {
    std::env::var_os("BERTH_DIFF_BERTH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth")))
}

#[test]
fn differential_against_runc() {
    if !require_root() {
        return;
    }
    let Some(runc) = find_runc() else {
        loud("SKIP differential_against_runc: runc not found (apt-get install -y runc, or BERTH_DIFF_RUNC)");
        return;
    };
    let version = run_command(
        &runc.to_string_lossy(),
        &["--version".into()],
        observe::CALL_TIMEOUT,
    );
    if !version.stdout.contains("1.1.5") {
        loud(&format!(
            "WARNING differential: the allow-list is calibrated for runc 1.1.5; {} says {:?}",
            runc.display(),
            version.stdout.lines().next().unwrap_or_default()
        ));
    }
    let berth = berth_bin();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let allow_text = std::fs::read_to_string(root.join(ALLOW_LIST)).unwrap_or_default();
    let entries =
        verdict::parse_allow_list(&allow_text).unwrap_or_else(|e| panic!("{ALLOW_LIST}: {e}"));
    let only = std::env::var("BERTH_DIFF_ONLY").ok();
    let print = std::env::var_os("BERTH_DIFF_PRINT").is_some();
    let cases: Vec<observe::Case> = corpus::all()
        .into_iter()
        .filter(|c| only.as_deref().is_none_or(|o| c.name.contains(o)))
        .collect();
    loud(&format!(
        "differential: {} cases, runc {} vs berth {}",
        cases.len(),
        runc.display(),
        berth.display()
    ));
    let started = Instant::now();
    let mut used = vec![0usize; entries.len()];
    let (mut found, mut allowed) = (0, 0);
    let mut unexpected: Vec<Difference> = Vec::new();
    let mut regressions: Vec<(Difference, usize)> = Vec::new();
    let mut differing_cases = 0;
    for case in &cases {
        // The two runs are independent (own bundle, root, id, cgroup prefix): run them side by
        // side to halve the wall time.
        let (r, b) = std::thread::scope(|s| {
            let r = s.spawn(|| observe::run_case(case, &runc, "runc"));
            let b = s.spawn(|| observe::run_case(case, &berth, "berth"));
            (r.join().expect("runc side"), b.join().expect("berth side"))
        });
        let diffs = verdict::differences(&case.name, &r, &b);
        if diffs.is_empty() {
            loud(&format!("same {}", case.name));
            continue;
        }
        differing_cases += 1;
        let mut lines = Vec::new();
        let mut new_here = 0;
        for d in diffs {
            found += 1;
            let hit = entries
                .iter()
                .position(|e: &Entry| verdict::glob(&e.pattern, &d.key));
            match hit {
                Some(i) if entries[i].fixed => {
                    used[i] += 1;
                    lines.push(format!(
                        "  REGRESSION {} (fixed: {})\n      runc:  {}\n      berth: {}",
                        d.key, entries[i].reason, d.runc, d.berth
                    ));
                    regressions.push((d, i));
                }
                Some(i) => {
                    used[i] += 1;
                    allowed += 1;
                    if print {
                        lines.push(format!(
                            "  allowed {}: runc {} | berth {}",
                            d.key, d.runc, d.berth
                        ));
                    }
                }
                None => {
                    new_here += 1;
                    lines.push(format!(
                        "  NEW {}\n      runc:  {}\n      berth: {}",
                        d.key, d.runc, d.berth
                    ));
                    unexpected.push(d);
                }
            }
        }
        let tag = if new_here > 0 { "DIFF" } else { "diff" };
        loud(&format!("{tag} {}", case.name));
        for l in lines {
            loud(&l);
        }
    }
    let full_run = only.is_none();
    let stale: Vec<&Entry> = entries
        .iter()
        .zip(&used)
        .filter(|(e, n)| **n == 0 && !e.fixed)
        .map(|(e, _)| e)
        .collect();
    let fixed = entries.iter().filter(|e| e.fixed).count();
    loud(&format!(
        "differential summary: {} cases ({} differ), {} differences found: {} allowed ({} allow-list entries), {} new, {} regressions of {} fixed entries; {} stale entries{}; {:.1} s",
        cases.len(),
        differing_cases,
        found,
        allowed,
        entries.len() - fixed,
        unexpected.len(),
        regressions.len(),
        fixed,
        stale.len(),
        if full_run { "" } else { " (not checked: BERTH_DIFF_ONLY)" },
        started.elapsed().as_secs_f64()
    ));
    if print {
        for d in &unexpected {
            loud(&format!(
                "allow {}  TODO reason (runc {} | berth {})",
                d.key, d.runc, d.berth
            ));
        }
    }
    let mut problems = Vec::new();
    if !unexpected.is_empty() {
        problems.push(format!(
            "{} differences not in {ALLOW_LIST}: {:?}",
            unexpected.len(),
            unexpected.iter().map(|d| &d.key).collect::<Vec<_>>()
        ));
    }
    if !regressions.is_empty() {
        problems.push(format!(
            "fixed differences are back: {:?}",
            regressions
                .iter()
                .map(|(d, i)| format!("{} (line {})", d.key, entries[*i].line))
                .collect::<Vec<_>>()
        ));
    }
    if full_run && !stale.is_empty() {
        problems.push(format!(
            "stale allow-list entries (nothing matches them any more; remove them): {:?}",
            stale
                .iter()
                .map(|e| format!("line {}: {}", e.line, e.pattern))
                .collect::<Vec<_>>()
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
