//! Finding the user's program the way execvp would (PATH from the container's environment) and
//! executing it.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::bundle::ProcessPlan;

/// The default PATH when the container's environment has none (the one runc, Docker and
/// execvp(3) use).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("exec {name:?}: executable file not found in $PATH")]
    NotFound { name: String },
    #[error("exec {path}: not an executable file")]
    NotExecutable { path: PathBuf },
    #[error("exec {path}: {reason}")]
    BadString { path: String, reason: &'static str },
    #[error("exec {path}")]
    Exec {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    /// The CVE-2019-5736 check of the program and its interpreters.
    #[error(transparent)]
    Check(#[from] Box<super::guard::GuardError>),
}

/// A program ready to exec: resolved path, argv and envp.
#[derive(Debug)]
pub struct Program {
    path: PathBuf,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

impl Program {
    /// Resolves `args[0]` inside the container (after pivot_root), as the container's user.
    pub fn resolve(process: &ProcessPlan) -> Result<Program, ExecError> {
        let name = &process.args[0];
        let path = if name.contains('/') {
            let p = PathBuf::from(name);
            if !is_executable(&p) {
                return Err(ExecError::NotExecutable { path: p });
            }
            p
        } else {
            let search = process
                .env
                .iter()
                .find_map(|e| e.strip_prefix("PATH="))
                .unwrap_or(DEFAULT_PATH);
            lookup(name, search).ok_or_else(|| ExecError::NotFound { name: name.clone() })?
        };
        let cstrings = |v: &[String]| -> Result<Vec<CString>, ExecError> {
            v.iter()
                .map(|s| {
                    CString::new(s.as_bytes()).map_err(|_| ExecError::BadString {
                        path: name.clone(),
                        reason: "argument or environment string contains a NUL byte",
                    })
                })
                .collect()
        };
        Ok(Program {
            argv: cstrings(&process.args)?,
            envp: cstrings(&with_home(&process.env, process.uid))?,
            path,
        })
    }

    /// Opens the program and each `#!` interpreter once, refuses berth's own binary among them
    /// (CVE-2019-5736), and execs exactly the file that was checked: execveat(2) of its fd,
    /// with the argv binfmt_script would have built. No path is resolved between the check
    /// and the exec, so a process already in the container cannot swap the program in between.
    /// Returns only on failure.
    pub fn exec_checked(self, exe: &super::guard::OwnExe) -> Result<Infallible, ExecError> {
        let checked = exe.open_program(&self.path, &self.argv).map_err(Box::new)?;
        let Err(source) = nix::unistd::execveat(
            &checked.fd,
            c"",
            &checked.argv,
            &self.envp,
            nix::fcntl::AtFlags::AT_EMPTY_PATH,
        );
        Err(ExecError::Exec {
            path: checked.path,
            source,
        })
    }
}

/// The environment with `HOME` added when it lacks one, as runc does: the user's home from the
/// container's /etc/passwd, or "/" when the user has no entry there.
fn with_home(env: &[String], uid: u32) -> Vec<String> {
    let mut env = env.to_vec();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        env.push(format!("HOME={}", home_of(&passwd, uid).unwrap_or("/")));
    }
    env
}

/// The home directory of `uid` in passwd(5) text.
fn home_of(passwd: &str, uid: u32) -> Option<&str> {
    passwd_entry(passwd, uid).map(|f| f[5])
}

/// The passwd(5) entry of `uid` in passwd text: its seven fields (name, password, uid, gid,
/// gecos, home, shell). Read directly, as runc does, rather than through NSS: berth is a
/// static binary and looks at plain files.
pub(crate) fn passwd_entry(passwd: &str, uid: u32) -> Option<Vec<&str>> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 7 && f[2].parse::<u32>().ok() == Some(uid)).then_some(f)
    })
}

fn lookup(name: &str, search: &str) -> Option<PathBuf> {
    search
        .split(':')
        .map(|dir| {
            if dir.is_empty() {
                Path::new(".")
            } else {
                Path::new(dir)
            }
        })
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    match std::fs::metadata(path) {
        Ok(m) => {
            m.is_file()
                && m.permissions().mode() & 0o111 != 0
                && nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).is_ok()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_comes_from_passwd_or_defaults_to_root_dir() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n";
        assert_eq!(home_of(passwd, 1000), Some("/home/user"));
        assert_eq!(home_of(passwd, 0), Some("/root"));
        assert_eq!(home_of(passwd, 7), None);
        assert_eq!(home_of("garbage\n", 0), None);
        // An explicit HOME is kept as it is.
        let env = vec!["HOME=/mine".to_string()];
        assert_eq!(with_home(&env, 0), env);
    }

    #[test]
    fn lookup_follows_path_order_and_skips_non_executables() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("prog"), "").unwrap(); // not executable
        std::fs::write(b.join("prog"), "").unwrap();
        std::fs::set_permissions(b.join("prog"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let search = format!("{}:{}", a.display(), b.display());
        assert_eq!(lookup("prog", &search), Some(b.join("prog")));
        assert_eq!(lookup("missing", &search), None);
    }
}
