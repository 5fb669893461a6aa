//! Escape guards of the init's last steps: the host berth binary must never run inside the
//! container (CVE-2019-5736), the working directory must be inside the container's root
//! (CVE-2024-21626), and berth processes are non-dumpable until execve.

use std::ffi::CString;
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
    #[error("exec {path}: open")]
    OpenProgram {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    /// Carries EACCES, what execve(2) answers for a FIFO, device, socket or directory.
    #[error("exec {path}: not a regular file, which execve(2) refuses")]
    NotRegular {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
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
    /// path to open it for writing once it exits).
    ///
    /// The check and the exec must be the same object: a process already in the container
    /// (`berth exec`) can swap the program for a symlink to /proc/self/exe between a check by
    /// path and an execve by path. So the program is opened once, each `#!` interpreter in
    /// turn, each file checked by its fd; the returned [`Checked`] holds the fd of the last
    /// one (the binary the kernel would end up running) and the argv the kernel's
    /// binfmt_script would have built on the way, for an execveat of that very fd.
    pub fn open_program(&self, program: &Path, argv: &[CString]) -> Result<Checked, GuardError> {
        let mut path = program.to_path_buf();
        let mut argv = argv.to_vec();
        for _ in 0..MAX_SHEBANG_DEPTH {
            // An execute-only binary (mode 0711) cannot be read, but can be run through an
            // O_PATH fd; a script must be readable for its interpreter anyway.
            // O_NONBLOCK: a FIFO (or a device) named as the program or an interpreter must
            // not block the open. A FIFO interpreter blocked the old check until a process in
            // the container opened its other end — after swapping the program, so the swap
            // always landed between the check and the execve (tests/security_cves.rs,
            // cve_2019_5736_exec_race_cannot_swap_the_checked_program); and it hung `berth
            // exec`. Reads of a regular file ignore the flag.
            let fd = open(
                &path,
                OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
                Mode::empty(),
            )
            .or_else(|e| match e {
                nix::Error::EACCES => open(&path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()),
                e => Err(e),
            })
            .map_err(|source| GuardError::OpenProgram {
                path: path.clone(),
                source,
            })?;
            if self.is(&fd) {
                return Err(GuardError::HostBinary {
                    path: program.to_path_buf(),
                });
            }
            // execve(2) runs only regular files (EACCES otherwise); refusing here also keeps
            // the check from reading a FIFO or a device.
            let regular =
                fstat(fd.as_fd()).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG);
            if !regular {
                return Err(GuardError::NotRegular {
                    path,
                    source: nix::Error::EACCES,
                });
            }
            let Some((interp, arg)) = shebang(&fd) else {
                return Ok(Checked { fd, argv, path });
            };
            // binfmt_script: argv = interpreter [arg] <the script's path> <argv[1..]>.
            let mut next = vec![cstring(interp.as_os_str().as_bytes())];
            next.extend(arg.map(|a| cstring(&a)));
            next.push(cstring(path.as_os_str().as_bytes()));
            next.extend(argv.into_iter().skip(1));
            argv = next;
            path = interp;
        }
        // Deeper than the kernel follows (BINPRM_MAX_RECURSION): it would fail with ELOOP.
        Err(GuardError::OpenProgram {
            path,
            source: nix::Error::ELOOP,
        })
    }
}

/// A program opened and checked by [`OwnExe::open_program`]: exec `fd` with `argv`.
#[derive(Debug)]
pub struct Checked {
    pub fd: OwnedFd,
    pub argv: Vec<CString>,
    /// The file `fd` is (the last interpreter of a script), for error messages.
    pub path: PathBuf,
}

fn cstring(bytes: &[u8]) -> CString {
    // Both come from C strings or from a line cut at its first NUL-free bytes.
    CString::new(bytes.split(|&b| b == 0).next().unwrap_or_default()).unwrap_or_default()
}

/// The interpreter of a `#!` script and its optional argument, parsed as binfmt_script does:
/// the first line (at most 255 bytes), blanks trimmed, the interpreter up to the first blank,
/// the rest of the line (trimmed) as one argument. Read with pread: the fd's offset stays 0.
fn shebang(fd: &OwnedFd) -> Option<(PathBuf, Option<Vec<u8>>)> {
    let mut head = [0u8; 256];
    let n = nix::sys::uio::pread(fd, &mut head, 0).ok()?;
    let rest = head[..n].strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next()?;
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line.iter().position(|b| !blank(b))?;
    let line = &line[start..];
    let end = line.iter().position(blank).unwrap_or(line.len());
    let interp = PathBuf::from(std::ffi::OsStr::from_bytes(&line[..end]));
    let arg = line[end..]
        .iter()
        .position(|b| !blank(b))
        .map(|s| &line[end + s..])
        .map(|a| {
            let e = a.iter().rposition(|b| !blank(b)).map_or(0, |e| e + 1);
            a[..e].to_vec()
        })
        .filter(|a| !a.is_empty());
    Some((interp, arg))
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
    use std::os::unix::fs::MetadataExt;

    fn c(s: &str) -> CString {
        CString::new(s).unwrap()
    }

    #[test]
    fn shebang_is_parsed_like_binfmt_script() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(b"#! /proc/self/exe  -x y \necho\n").unwrap();
        let fd = open(&p, OFlag::O_RDONLY, Mode::empty()).unwrap();
        assert_eq!(
            shebang(&fd),
            Some((PathBuf::from("/proc/self/exe"), Some(b"-x y".to_vec())))
        );
        std::fs::write(&p, b"#!/bin/sh\n").unwrap();
        let fd = open(&p, OFlag::O_RDONLY, Mode::empty()).unwrap();
        assert_eq!(shebang(&fd), Some((PathBuf::from("/bin/sh"), None)));
        std::fs::write(&p, b"\x7fELF").unwrap();
        let fd = open(&p, OFlag::O_RDONLY, Mode::empty()).unwrap();
        assert_eq!(shebang(&fd), None);
    }

    /// Issue #13, attack 4: a FIFO as the program or as a `#!` interpreter blocked the
    /// check's open until a writer came (the racer's cue, and a hang of `berth exec`). Now it
    /// is refused at once, as execve refuses it, and so is a directory.
    #[test]
    fn a_fifo_or_directory_program_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o755)).unwrap();
        let script = dir.path().join("s");
        std::fs::write(&script, format!("#!{}\n", fifo.display())).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let paths = [fifo.clone(), script, dir.path().to_path_buf()];
        std::thread::spawn(move || {
            let exe = OwnExe::open().unwrap();
            for p in paths {
                let r = exe
                    .open_program(&p, &[c("x")])
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                tx.send((p, r)).unwrap();
            }
        });
        for _ in 0..3 {
            // Bounded: a regression would block in open(2) with no writer ever coming.
            let (p, r) = rx
                .recv_timeout(std::time::Duration::from_secs(10))
                .expect("open_program blocked on a FIFO");
            let err = r.expect_err("a FIFO or directory must be refused");
            assert!(
                err.contains("not a regular file, which execve(2) refuses"),
                "{p:?}: {err}"
            );
        }
    }

    #[test]
    fn own_exe_is_recognized_directly_and_through_a_script() {
        let exe = OwnExe::open().unwrap();
        assert!(exe
            .open_program(Path::new("/proc/self/exe"), &[c("x")])
            .is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, b"#!/proc/self/exe\n").unwrap();
        let err = exe.open_program(&p, &[c("s")]).unwrap_err();
        assert!(err.to_string().contains("CVE-2019-5736"), "{err}");
        // A script chain: the fd is the final binary's, argv what binfmt_script builds.
        let inner = dir.path().join("inner");
        std::fs::write(&inner, b"#!/bin/sh -e\n").unwrap();
        std::fs::write(&p, format!("#!{}\n", inner.display())).unwrap();
        let checked = exe.open_program(&p, &[c("s"), c("a1")]).unwrap();
        assert_eq!(checked.path, PathBuf::from("/bin/sh"));
        let want = [
            "/bin/sh".to_string(),
            "-e".into(),
            inner.display().to_string(),
            p.display().to_string(),
            "a1".into(),
        ];
        let got: Vec<String> = checked
            .argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(got, want);
        let sh = std::fs::metadata("/bin/sh").unwrap();
        let st = fstat(checked.fd.as_fd()).unwrap();
        assert_eq!((st.st_dev, st.st_ino), (sh.dev(), sh.ino()));
    }

    /// `cargo test -p berth-runtime --release --lib guard -- --ignored --nocapture`: the cost
    /// of berth's CVE-2019-5736 defence per container, next to runc's memfd clone of the
    /// runtime binary (a copy of /proc/self/exe into a sealed memfd) for comparison.
    #[test]
    #[ignore = "a measurement, not a test: run it with --ignored --release"]
    fn measure_cve_2019_5736_guard_cost() {
        let dir = tempfile::tempdir_in("/dev/shm").unwrap();
        let script = dir.path().join("entry.sh");
        std::fs::write(&script, b"#!/bin/sh\necho hi\n").unwrap();
        let n = 2000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            set_non_dumpable().unwrap();
            let exe = OwnExe::open().unwrap();
            exe.open_program(&script, &[c("entry.sh")]).unwrap();
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
