//! Per-phase timings (docs/benchmarks.md): `--debug --log F run` writes one `timing:` line per
//! phase of every process (parent, stage 1, init), and none without `--debug`. No assertion on
//! the durations themselves: these machines are too noisy for timing assertions.

mod common;
use common::*;

const PHASES: &[&str] = &[
    "create: plan",
    "stage1: join cgroup",
    "stage1: namespaces",
    "init: mounts, /dev",
    "init: pivot_root",
    "init: seccomp",
    "create: init ready",
    "init: waited for start",
    "init: execve",
    "start: init released",
    "run: container exited",
    "run: deleted",
];

#[test]
fn debug_log_has_a_timing_line_per_phase_and_none_without_debug() {
    if !require_root() {
        return;
    }
    if berth_only("runc has no per-phase timings") {
        return;
    }
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.write();
    let rt = Runtime::new();
    let log = b.path().join("debug.log");
    let log_str = log.to_str().unwrap();

    rt.cmd(&[
        "--debug",
        "--log",
        log_str,
        "run",
        "--bundle",
        b.path_str(),
        &unique_id(),
    ])
    .ok();
    let text = std::fs::read_to_string(&log).unwrap();
    for phase in PHASES {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("timing: {phase} +")) && l.contains("level=debug")),
            "no timing line for {phase:?} in:\n{text}"
        );
    }

    std::fs::remove_file(&log).unwrap();
    rt.cmd(&[
        "--log",
        log_str,
        "run",
        "--bundle",
        b.path_str(),
        &unique_id(),
    ])
    .ok();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text.contains("timing:"), "{text}");
}
