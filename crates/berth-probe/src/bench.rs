//! `berth-probe --bench-syscall N`: the cost of one cheap syscall inside the container, under
//! whatever seccomp filter the runtime loaded (integration/bench, docs/benchmarks.md).
//!
//! It calls getppid(2) N times through `syscall(2)` (glibc caches nothing for it, and the
//! filter sees every call) and prints `{"bench_syscall":{"calls":N,"ns_per_call":X}}`.

/// The N of `--bench-syscall N` when it is the first argument.
pub fn requested() -> Option<Result<u64, String>> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("--bench-syscall") {
        return None;
    }
    Some(match args.next() {
        Some(n) => n
            .parse()
            .map_err(|_| format!("--bench-syscall {n}: not a number")),
        None => Err("--bench-syscall needs a value".into()),
    })
}

/// Runs the loop and prints the result as one JSON line.
pub fn run(calls: u64) {
    let start = now_ns();
    for _ in 0..calls {
        // SAFETY: getppid takes no arguments and cannot fail.
        unsafe { libc::syscall(libc::SYS_getppid) };
    }
    let elapsed = now_ns().saturating_sub(start);
    let per_call = elapsed as f64 / calls.max(1) as f64;
    println!(
        "{}",
        serde_json::json!({ "bench_syscall": { "calls": calls, "ns_per_call": per_call } })
    );
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the timespec we own; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
