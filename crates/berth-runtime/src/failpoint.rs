//! Crash injection for tests (issue #7): with the `failpoints` cargo feature, the environment
//! variable `BERTH_FAILPOINT=<name>` makes the berth command SIGKILL itself when execution
//! reaches `failpoint!("<name>")`. Without the feature the macro expands to nothing, so the
//! shipped binary carries neither the code nor the environment lookup.
//!
//! A failpoint reached in a child of `berth create` (stage 1 or the container init) parks that
//! child; the test sees the parked child of `berth create` and SIGKILLs berth. The
//! crash simulated is always "berth died while this step was reached"; what happens to the
//! child then (parent-death signal, an orphaned init) is what tests/crash.rs checks. The
//! top-level pid is recorded by the first failpoint evaluated, which runs before the first
//! fork: `create:start` does.
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

/// `BERTH_FAILPOINT`, read at the first failpoint (in the top-level process): the children
/// that enter a container scrub their environment (sys::scrub_cmdline_and_environ).
#[cfg(feature = "failpoints")]
static WANTED: std::sync::OnceLock<Option<std::ffi::OsString>> = std::sync::OnceLock::new();

/// The name (comm) a child takes when it reaches its failpoint: what the test waits for.
pub const STOPPED_COMM: &str = "berth-fp-stop";

/// At a failpoint named by `BERTH_FAILPOINT`: the top-level berth process SIGKILLs itself; a
/// child (stage 1, the init) renames itself [`STOPPED_COMM`] and waits forever, and the test
/// then SIGKILLs the top-level process. A child can neither kill berth (the init runs in the
/// container's pid namespace, where berth's pid means nothing) nor stop itself (the init of a
/// pid namespace ignores its own SIGSTOP).
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    // SAFETY: getpid cannot fail and has no preconditions.
    let me = unsafe { libc::getpid() };
    let top = *TOP_PID.get_or_init(|| me);
    let wanted = WANTED.get_or_init(|| std::env::var_os("BERTH_FAILPOINT"));
    if wanted.as_deref() != Some(std::ffi::OsStr::new(name)) {
        return;
    }
    if me == top {
        // SAFETY: raise with a valid signal number.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    let comm = std::ffi::CString::new(STOPPED_COMM).expect("no NUL");
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, comm.as_ptr()) };
    loop {
        // SAFETY: pause has no preconditions; the parent-death signal ends the wait.
        unsafe { libc::pause() };
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
