//! `berth-probe --bench-syscall N [getppid|personality]`: the cost of one cheap syscall
//! inside the container, under whatever seccomp filter the runtime loaded (integration/bench,
//! docs/benchmarks.md).
//!
//! It makes the syscall N times through `syscall(2)` and prints
//! `{"bench_syscall":{"calls":N,"ns_per_call":X}}`. `getppid()` (the default) is allowed by
//! number alone, so since Linux 5.11 the kernel's seccomp action cache answers it without
//! running the filter; `personality(0xffffffff)` (a query that changes nothing) is allowed by an
//! argument rule in Docker-like profiles, so the filter runs on every call — that one measures
//! the BPF program itself.

/// Which syscall the loop makes.
#[derive(Debug, Clone, Copy)]
pub enum Syscall {
    Getppid,
    Personality,
}

/// The N (and the syscall) of `--bench-syscall N [NAME]` when it is the first argument.
pub fn requested() -> Option<Result<(u64, Syscall), String>> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("--bench-syscall") {
        return None;
    }
    let calls = match args.next() {
        Some(n) => n
            .parse()
            .map_err(|_| format!("--bench-syscall {n}: not a number")),
        None => Err("--bench-syscall needs a value".into()),
    };
    let syscall = match args.next().as_deref() {
        None | Some("getppid") => Ok(Syscall::Getppid),
        Some("personality") => Ok(Syscall::Personality),
        Some(other) => Err(format!(
            "--bench-syscall: unknown syscall {other:?} (getppid or personality)"
        )),
    };
    Some(calls.and_then(|n| syscall.map(|s| (n, s))))
}

/// Runs the loop and prints the result as one JSON line.
pub fn run(calls: u64, syscall: Syscall) {
    let start = now_ns();
    for _ in 0..calls {
        match syscall {
            // SAFETY: getppid takes no arguments and cannot fail.
            Syscall::Getppid => unsafe { libc::syscall(libc::SYS_getppid) },
            // SAFETY: personality(0xffffffff) only reads the current persona.
            Syscall::Personality => unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu64) },
        };
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
