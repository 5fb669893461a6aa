//! Writes into procfs through a verified handle (CVE-2025-52881).
//!
//! A container that controls mounts under its `/proc` (or races berth's own mounts) could
//! make `/proc/sys/kernel/x` or `/proc/self/attr/exec` resolve to another procfs file, or to a
//! file on another filesystem, and have berth write its value there. So each write:
//! 1. opens the proc root as `O_PATH|O_DIRECTORY` and checks fstatfs == PROC_SUPER_MAGIC;
//! 2. opens the file relative to that fd with openat2
//!    `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV`: no
//!    `..`, no symlink (so `self` is spelled as the pid), no crossing into another mount
//!    (a bind mount over the file is refused);
//! 3. checks fstatfs == PROC_SUPER_MAGIC on the opened fd again, then writes once.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::sys::statfs::{fstatfs, PROC_SUPER_MAGIC};

use super::error::HardeningError;
use super::sys;

const RESOLVE_STRICT: u64 = libc::RESOLVE_BENEATH
    | libc::RESOLVE_NO_SYMLINKS
    | libc::RESOLVE_NO_MAGICLINKS
    | libc::RESOLVE_NO_XDEV;

fn is_proc(fd: impl AsFd) -> bool {
    fstatfs(fd).is_ok_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC)
}

/// Writes `value` to `<proc_root>/<rel>` with one write(2). `rel` must not contain symlinks:
/// spell `self` as the pid.
pub fn write(proc_root: &Path, rel: &Path, value: &[u8]) -> Result<(), HardeningError> {
    let full: PathBuf = proc_root.join(rel);
    let root = open(
        proc_root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| HardeningError::ProcOpen {
        path: full.clone(),
        source,
    })?;
    if !is_proc(&root) {
        return Err(HardeningError::NotProcfs { path: full });
    }
    let fd = sys::openat2(
        root.as_fd(),
        rel,
        (OFlag::O_WRONLY | OFlag::O_NOCTTY).bits(),
        RESOLVE_STRICT,
    )
    .map_err(|source| HardeningError::ProcOpen {
        path: full.clone(),
        source,
    })?;
    if !is_proc(&fd) {
        return Err(HardeningError::NotProcfs { path: full });
    }
    let n = nix::unistd::write(&fd, value).map_err(|source| HardeningError::ProcWrite {
        path: full.clone(),
        source,
    })?;
    if n != value.len() {
        return Err(HardeningError::ProcWrite {
            path: full,
            source: nix::Error::EIO,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_is_not_procfs_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "").unwrap();
        let err = write(dir.path(), Path::new("f"), b"1").unwrap_err();
        assert!(matches!(err, HardeningError::NotProcfs { .. }), "{err}");
    }

    #[test]
    fn symlinks_and_dotdot_are_refused_below_proc() {
        // /proc/self is a symlink: refused, whatever it points at.
        let err = write(Path::new("/proc"), Path::new("self/comm"), b"x").unwrap_err();
        assert!(
            matches!(
                err,
                HardeningError::ProcOpen {
                    source: nix::Error::ELOOP,
                    ..
                }
            ),
            "{err}"
        );
        let err = write(Path::new("/proc"), Path::new("../etc/passwd"), b"x").unwrap_err();
        assert!(
            matches!(
                err,
                HardeningError::ProcOpen {
                    source: nix::Error::EXDEV,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_plain_proc_file_is_written() {
        // Our own comm, spelled with the pid: harmless and observable.
        let tid = nix::unistd::gettid();
        let pid = nix::unistd::getpid();
        let rel = format!("{pid}/task/{tid}/comm");
        let before = std::fs::read_to_string(format!("/proc/{rel}")).unwrap();
        write(
            Path::new("/proc"),
            Path::new(&rel),
            before.trim().as_bytes(),
        )
        .unwrap();
    }
}
