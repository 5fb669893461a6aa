//! berth-runtime: the library behind the `berth` CLI and `containerd-shim-berth-v2`.
//!
//! It turns an OCI bundle into a validated plan ([`bundle`]), runs the container process through
//! the parent/child protocol ([`process`]), and keeps per-container state ([`state`]). Each
//! subsystem owns one directory; see docs/architecture.md for the process model and init order.

pub mod bundle;
pub mod cgroups;
pub mod container;
pub mod criu;
pub mod failpoint;
pub mod features;
pub mod hooks;
pub mod log;
pub mod lsm;
pub mod mountinfo;
pub mod process;
pub mod rootfs;
pub mod seccomp;
pub mod signal;
pub mod state;
pub(crate) mod sys;
pub mod terminal;
pub mod timing;

/// A unit test's skip: `SKIP <test>: <reason>` on the process's real stderr. libtest's output
/// capture only holds back `print!`/`eprint!`, so this line always shows in the test output,
/// where `make test`'s skip summary (integration/skips.sh) counts it.
#[cfg(test)]
pub(crate) fn test_skip(test: &str, reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "SKIP {test}: {reason}");
}
