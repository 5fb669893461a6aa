//! Per-phase timings in the debug log (`berth --debug --log F run ...`), so anyone can see
//! where the time of a `create`/`start`/`run` goes.
//!
//! [`phase!`](crate::phase) marks the end of a named phase; the line gives the time since the
//! previous mark of the same process and since the first mark of the invocation:
//!
//! ```text
//! time="..." level=debug msg="timing: init: pivot_root +0.412ms (at 9.871ms)"
//! ```
//!
//! The clock is `CLOCK_MONOTONIC`, shared by every process, and the two marks are plain
//! statics, so a forked child (stage 1, the init) inherits them and its first phase is measured
//! from the parent's last mark before the fork. No pid in the line: a mark may run after the
//! seccomp filter is loaded, where only what the init needs anyway (write) is sure to pass. With debug off a mark costs one atomic load: no
//! clock read, no allocation, no syscall.

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic nanoseconds of the first mark (0: none yet) and of the previous mark.
static FIRST: AtomicU64 = AtomicU64::new(0);
static LAST: AtomicU64 = AtomicU64::new(0);

/// Marks the end of phase `$name` in the debug log; free when debug logging is off.
#[macro_export]
macro_rules! phase {
    ($name:expr) => {
        if $crate::log::enabled($crate::log::Level::Debug) {
            $crate::timing::mark($name)
        }
    };
}

/// Records a mark and logs it; use [`phase!`](crate::phase), which skips this when debug is off.
#[doc(hidden)]
pub fn mark(name: &str) {
    let now = now_ns();
    let first = match FIRST.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => now,
        Err(first) => first,
    };
    let last = match LAST.swap(now, Ordering::Relaxed) {
        0 => now,
        last => last,
    };
    crate::log_debug!(
        "timing: {name} +{} (at {})",
        Ms(now.saturating_sub(last)),
        Ms(now.saturating_sub(first))
    );
}

/// Starts the clock of this invocation (the CLI calls it first thing); later marks are
/// measured from here.
pub fn start() {
    if crate::log::enabled(crate::log::Level::Debug) {
        let now = now_ns();
        FIRST.store(now, Ordering::Relaxed);
        LAST.store(now, Ordering::Relaxed);
    }
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid, exclusively borrowed `ts`;
    // CLOCK_MONOTONIC always exists on Linux (served by the vDSO, no syscall).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

/// Nanoseconds shown as milliseconds with microsecond precision.
struct Ms(u64);

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{:03}ms",
            self.0 / 1_000_000,
            (self.0 / 1_000) % 1_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_has_microsecond_precision() {
        assert_eq!(Ms(0).to_string(), "0.000ms");
        assert_eq!(Ms(1_234_567).to_string(), "1.234ms");
        assert_eq!(Ms(12_000_999).to_string(), "12.000ms");
    }

    #[test]
    fn clock_is_monotonic() {
        let a = now_ns();
        let b = now_ns();
        assert!(a > 0 && b >= a);
    }
}
