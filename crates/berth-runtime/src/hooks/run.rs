//! Running hooks: the state JSON on stdin, the hook's own argv and environment, its output
//! kept for the error message, and `timeout` enforced by killing the hook's process group.
//!
//! No threads and no pipes: stdin, stdout and stderr are memory files (memfd_create(2)), so a
//! hook that never reads its stdin or writes a lot cannot block berth, and berth only waits on
//! a pidfd of the hook. This code also runs in the container init (a forked child of a
//! single-threaded berth), where threads would be unsafe.

use std::ffi::CStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::memfd::{memfd_create, MFdFlags};

use super::{Hook, HookContext, HookError, HookKind, Hooks};
use crate::sys;

/// How much of a failed hook's stderr goes into the error message.
const MAX_OUTPUT: usize = 4096;

/// Runs every hook of `kind` in order with `state_json` on stdin. Stops at the first failure
/// and returns it; the caller decides whether that fails the operation or is a warning.
pub fn run_all(
    hooks: &Hooks,
    kind: HookKind,
    state_json: &str,
    ctx: HookContext,
) -> Result<(), HookError> {
    for hook in hooks.of(kind) {
        run_one(hook, kind, state_json, ctx)?;
    }
    Ok(())
}

/// Every hook of `kind`, each whatever the previous ones did; returns the failures in order.
/// For the hooks whose failure is only a warning (poststart, poststop): runtime.md says the
/// runtime logs a warning and *continues* the operation, so the remaining hooks still run.
pub fn run_each(
    hooks: &Hooks,
    kind: HookKind,
    state_json: &str,
    ctx: HookContext,
) -> Vec<HookError> {
    hooks
        .of(kind)
        .iter()
        .filter_map(|hook| run_one(hook, kind, state_json, ctx).err())
        .collect()
}

fn memfd(kind: HookKind, what: &'static str, name: &CStr) -> Result<File, HookError> {
    memfd_create(name, MFdFlags::MFD_CLOEXEC)
        .map(File::from)
        .map_err(|source| HookError::Memfd { kind, what, source })
}

fn run_one(
    hook: &Hook,
    kind: HookKind,
    state_json: &str,
    ctx: HookContext,
) -> Result<(), HookError> {
    let path = &hook.path;
    let mut stdin = memfd(kind, "stdin", c"berth-hook-stdin")?;
    let out = memfd(kind, "output", c"berth-hook-output")?;
    let write_err = |source| HookError::WriteState {
        kind,
        path: path.clone(),
        source,
    };
    stdin.write_all(state_json.as_bytes()).map_err(write_err)?;
    stdin.seek(SeekFrom::Start(0)).map_err(write_err)?;
    let out_dup = out.try_clone().map_err(write_err)?;

    let mut cmd = Command::new(path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    if let Some(env) = hook.env.as_deref().or(ctx.default_env) {
        cmd.env_clear()
            .envs(env.iter().filter_map(|e| e.split_once('=')));
    }
    if let Some(dir) = ctx.cwd {
        cmd.current_dir(dir);
    }
    cmd.stdin(Stdio::from(stdin))
        .stdout(Stdio::from(out_dup.try_clone().map_err(write_err)?))
        .stderr(Stdio::from(out_dup))
        // Its own process group, so a timeout kills what the hook started too.
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| HookError::Spawn {
        kind,
        path: path.clone(),
        source,
    })?;
    let pid = child.id() as i32;
    let wait_err = |source| HookError::Wait {
        kind,
        path: path.clone(),
        source,
    };

    if let Some(secs) = hook.timeout {
        if !exits_within(pid, secs).map_err(|e| wait_err(e.into()))? {
            // The group id is the hook's pid (process_group(0)).
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Timeout {
                kind,
                path: path.clone(),
                secs,
            });
        }
    }
    let status = child.wait().map_err(wait_err)?;
    if status.success() {
        return Ok(());
    }
    let status = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        _ => status.to_string(),
    };
    Err(HookError::Failed {
        kind,
        path: path.clone(),
        status,
        output: output_note(out),
    })
}

/// Polls a pidfd of the child `pid` (a hook, newuidmap): true when it exited within `secs`.
pub(crate) fn exits_within(pid: i32, secs: u64) -> nix::Result<bool> {
    let pidfd = sys::pidfd_open(pid)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

fn output_note(mut out: File) -> String {
    let mut buf = Vec::new();
    let _ = out.seek(SeekFrom::Start(0));
    let _ = (&mut out).take(MAX_OUTPUT as u64).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).trim().to_string();
    if text.is_empty() {
        String::new()
    } else {
        format!("; output: {text:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn hook(script: &str, timeout: Option<u64>) -> Hook {
        Hook {
            path: PathBuf::from("/bin/sh"),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: Some(vec!["HOOKVAR=hv".into()]),
            timeout,
        }
    }

    #[test]
    fn hook_gets_state_on_stdin_args_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let h = hook(
            &format!(
                "read s; echo \"$s $HOOKVAR ${{CARGO:-none}}\" > {}",
                out.display()
            ),
            Some(5),
        );
        run_one(
            &h,
            HookKind::Poststart,
            "{\"id\":\"x\"}\n",
            HookContext::default(),
        )
        .unwrap();
        // Only the hook's env: nothing inherited from cargo's environment.
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            "{\"id\":\"x\"} hv none"
        );
    }

    #[test]
    fn hook_without_env_inherits_or_gets_the_default_and_runs_in_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut h = hook(
            &format!(
                "echo \"$(pwd) ${{CARGO:+cargo}} ${{X:-none}}\" > {}",
                out.display()
            ),
            None,
        );
        h.env = None;
        let ctx = HookContext {
            cwd: Some(dir.path()),
            default_env: None,
        };
        run_one(&h, HookKind::Poststart, "{}", ctx).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        // cargo's environment (CARGO is set for tests) is inherited.
        assert_eq!(text.trim(), format!("{} cargo none", dir.path().display()));
        let env = ["X=x".to_string()];
        let ctx = HookContext {
            cwd: None,
            default_env: Some(&env),
        };
        run_one(&h, HookKind::CreateContainer, "{}", ctx).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.trim().ends_with(" x"), "{text}");
        assert!(!text.contains("cargo"), "{text}");
    }

    #[test]
    fn failing_hook_reports_status_and_output() {
        let err = run_one(
            &hook("echo oops >&2; exit 3", None),
            HookKind::CreateRuntime,
            "{}",
            HookContext::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "createRuntime hook /bin/sh failed with exit status 3; output: \"oops\""
        );
    }

    #[test]
    fn hung_hook_is_killed_at_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let t = std::time::Instant::now();
        let err = run_one(
            &hook(
                &format!("sleep 100 & echo $! > {}; wait", pidfile.display()),
                Some(1),
            ),
            HookKind::Poststop,
            "{}",
            HookContext::default(),
        )
        .unwrap_err();
        assert!(t.elapsed() < std::time::Duration::from_secs(10));
        assert_eq!(
            err.to_string(),
            "poststop hook /bin/sh did not finish within its timeout of 1 s; it was killed"
        );
        // The hook's child (same process group) is gone too.
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            stat.is_empty() || stat.contains(") Z "),
            "sleep survived: {stat}"
        );
    }

    #[test]
    fn non_executable_hook_is_a_spawn_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hook");
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        let h = Hook {
            path: p.clone(),
            args: vec![],
            env: Some(vec![]),
            timeout: None,
        };
        let err = run_one(&h, HookKind::Prestart, "{}", HookContext::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("run prestart hook {}", p.display())
        );
        assert!(matches!(err, HookError::Spawn { .. }));
    }
}
