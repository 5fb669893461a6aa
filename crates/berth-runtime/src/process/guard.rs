//! Escape guards of the init's last steps: the host berth binary must never run inside the
//! container (CVE-2019-5736), the working directory must be inside the container's root
//! (CVE-2024-21626), and berth processes are non-dumpable until execve.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::{fstat, Mode};

/// The kernel follows at most this many `#!` interpreters (BINPRM_MAX_RECURSION is 4); one
/// more level is checked so a deeper chain is refused by the kernel, not missed here.
const MAX_SHEBANG_DEPTH: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("make the container process non-dumpable")]
    Dumpable(#[source] nix::Error),
    #[error("open berth's own executable /proc/self/exe")]
    OwnExe(#[source] nix::Error),
    #[error(
        "exec {path}: refusing to run the host's berth binary inside the container (CVE-2019-5736)"
    )]
    HostBinary { path: PathBuf },
    #[error("working directory {path} is outside the container's root (CVE-2024-21626)")]
    CwdOutsideRoot { path: PathBuf },
}

/// PR_SET_DUMPABLE 0: until execve, /proc/<pid>/exe, /proc/<pid>/fd and /proc/<pid>/mem of a
/// berth process are reachable only with CAP_SYS_PTRACE over its user namespace
/// (ptrace_may_access), so a container process cannot grab the host binary through them
/// (CVE-2019-5736). execve of the container's program makes the process dumpable again, and
/// from then on /proc/<pid>/exe is the container's program. Inherited across fork; a uid
/// change resets it to fs.suid_dumpable, which is 0 by default.
pub fn set_non_dumpable() -> Result<(), GuardError> {
    nix::sys::prctl::set_dumpable(false).map_err(GuardError::Dumpable)
}

/// berth's own executable, opened before pivot_root while /proc is the host's.
#[derive(Debug)]
pub struct OwnExe {
    dev: u64,
    ino: u64,
}

impl OwnExe {
    pub fn open() -> Result<OwnExe, GuardError> {
        let fd = open(
            "/proc/self/exe",
            OFlag::O_PATH | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(GuardError::OwnExe)?;
        let st = fstat(fd.as_fd()).map_err(GuardError::OwnExe)?;
        Ok(OwnExe {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }

    fn is(&self, fd: &OwnedFd) -> bool {
        fstat(fd.as_fd()).is_ok_and(|st| st.st_dev == self.dev && st.st_ino == self.ino)
    }

    /// CVE-2019-5736: the init is still berth until execve, so `/proc/self/exe` — as the
    /// program itself, or as a `#!` interpreter at any depth — is the host's berth binary.
    /// Executing it would give the container a process whose exe is the host binary (and a
    /// path to open it for writing once it exits). Checked right before execve, as the
    /// container's user, following the same paths the kernel will.
    pub fn check_program(&self, program: &Path) -> Result<(), GuardError> {
        let mut path = program.to_path_buf();
        for _ in 0..MAX_SHEBANG_DEPTH {
            let Ok(fd) = open(&path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()) else {
                // Unreadable scripts cannot be interpreted either; execve reports the error.
                return Ok(());
            };
            if self.is(&fd) {
                return Err(GuardError::HostBinary {
                    path: program.to_path_buf(),
                });
            }
            match interpreter(fd) {
                Some(next) => path = next,
                None => return Ok(()),
            }
        }
        Ok(())
    }
}

/// The interpreter of a `#!` script (binfmt_script: up to the first blank after `#!`).
fn interpreter(fd: OwnedFd) -> Option<PathBuf> {
    let mut head = [0u8; 256];
    let n = std::fs::File::from(fd).read(&mut head).ok()?;
    let head = &head[..n];
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let line = line
        .iter()
        .skip_while(|b| **b == b' ' || **b == b'\t')
        .copied()
        .collect::<Vec<u8>>();
    let end = line
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    (end > 0).then(|| PathBuf::from(std::ffi::OsStr::from_bytes(&line[..end])))
}

/// CVE-2024-21626: `cwd` such as `/proc/self/fd/N` naming a host directory fd that was still
/// open at chdir time puts the process outside its root. After chdir, getcwd(2) fails
/// (ENOENT) or returns a path prefixed with "(unreachable)" when the cwd is not below the
/// root — runc's check.
pub fn verify_cwd(cwd: &Path) -> Result<(), GuardError> {
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() && !p.as_os_str().as_bytes().starts_with(b"(unreachable)") => {
            Ok(())
        }
        _ => Err(GuardError::CwdOutsideRoot {
            path: cwd.to_path_buf(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn interpreter_is_parsed_like_binfmt_script() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"#! /proc/self/exe  -x\necho\n").unwrap();
        let fd = open(&p, OFlag::O_RDONLY, Mode::empty()).unwrap();
        assert_eq!(interpreter(fd), Some(PathBuf::from("/proc/self/exe")));
        std::fs::write(&p, b"\x7fELF").unwrap();
        let fd = open(&p, OFlag::O_RDONLY, Mode::empty()).unwrap();
        assert_eq!(interpreter(fd), None);
    }

    #[test]
    fn own_exe_is_recognized_directly_and_through_a_script() {
        let exe = OwnExe::open().unwrap();
        assert!(exe.check_program(Path::new("/proc/self/exe")).is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, b"#!/proc/self/exe\n").unwrap();
        let err = exe.check_program(&p).unwrap_err();
        assert!(err.to_string().contains("CVE-2019-5736"), "{err}");
        std::fs::write(&p, b"#!/bin/sh\n").unwrap();
        exe.check_program(&p).unwrap();
    }

    /// `cargo test -p berth-runtime --release --lib guard -- --ignored --nocapture`: the cost
    /// of berth's CVE-2019-5736 defence per container, next to runc's memfd clone of the
    /// runtime binary (a copy of /proc/self/exe into a sealed memfd) for comparison.
    #[test]
    #[ignore]
    fn measure_cve_2019_5736_guard_cost() {
        let dir = tempfile::tempdir_in("/dev/shm").unwrap();
        let script = dir.path().join("entry.sh");
        std::fs::write(&script, b"#!/bin/sh\necho hi\n").unwrap();
        let n = 2000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            set_non_dumpable().unwrap();
            let exe = OwnExe::open().unwrap();
            exe.check_program(&script).unwrap();
        }
        let guard = t.elapsed() / n;
        let t = std::time::Instant::now();
        let m = 20;
        let mut size = 0;
        for _ in 0..m {
            // A tmpfs file costs what a memfd costs (memfd is shmem too).
            let copy = dir.path().join("clone");
            let _ = std::fs::remove_file(&copy);
            let mut src = std::fs::File::open("/proc/self/exe").unwrap();
            let mut dst = std::fs::File::create(&copy).unwrap();
            size = std::io::copy(&mut src, &mut dst).unwrap();
        }
        let clone = t.elapsed() / m;
        eprintln!("CVE-2019-5736 guard: {guard:?} per container; memfd clone of a {size}-byte binary: {clone:?}");
    }
}
