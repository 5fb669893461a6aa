//! Crash injection for tests (issue #7): with the `failpoints` cargo feature, the environment
//! variable `BERTH_FAILPOINT=<name>` makes the berth command SIGKILL itself when execution
//! reaches `failpoint!("<name>")`. Without the feature the macro expands to nothing, so the
//! shipped binary carries neither the code nor the environment lookup.
//!
//! A failpoint reached in a child of `berth create` (stage 1 or the container init) kills the
//! top-level berth process — the crash being simulated is always "berth died here" — and lets
//! the child carry on; what happens to it then (parent-death signal, an orphaned init) is
//! exactly what the crash tests check. The top-level pid is recorded by the first failpoint
//! evaluated, which must run before the first fork: `create:start` does.
//!
//! Names in use are listed in [`NAMES`]; tests/crash.rs covers each of them.

/// Every failpoint compiled into `create`, in the order a create passes them.
pub const NAMES: &[&str] = &[
    "create:start",
    "create:after-plan",
    "create:after-state-dir",
    "create:after-state-creating",
    "create:after-cgroup",
    "create:after-fifo",
    "spawn:after-fork",
    "stage1:after-cgroup-join",
    "stage1:after-unshare",
    "stage1:after-fork-init",
    "init:after-rootfs-prepare",
    "init:after-pivot",
    "init:before-ready",
    "create:after-spawn",
    "create:after-state-created",
    "create:after-pid-file",
    "create:after-commit",
];

/// Marks a crash-injection point (see the module documentation).
#[macro_export]
macro_rules! failpoint {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        $crate::failpoint::hit($name);
    };
}

#[cfg(feature = "failpoints")]
static TOP_PID: std::sync::OnceLock<libc::pid_t> = std::sync::OnceLock::new();

/// SIGKILLs the top-level berth process when `BERTH_FAILPOINT` names this point.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    // SAFETY: getpid cannot fail and has no preconditions.
    let top = *TOP_PID.get_or_init(|| unsafe { libc::getpid() });
    if std::env::var_os("BERTH_FAILPOINT").is_some_and(|v| v == name) {
        // SAFETY: kill with a valid signal number; a failure (the process is gone) is moot.
        unsafe { libc::kill(top, libc::SIGKILL) };
        // SAFETY: as above; for the top-level process this call is not reached.
        if unsafe { libc::getpid() } == top {
            unreachable!("SIGKILL of self returned");
        }
    }
}

#[cfg(all(test, feature = "failpoints"))]
mod tests {
    #[test]
    fn names_are_unique() {
        let mut v = super::NAMES.to_vec();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), super::NAMES.len());
    }
}
