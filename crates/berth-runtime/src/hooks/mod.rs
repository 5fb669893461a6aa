//! The six POSIX-platform hooks of config.md ("POSIX-platform Hooks") and runtime.md
//! ("Lifecycle"): their validated form ([`Hooks`]) and running one kind of them ([`run_all`]).
//!
//! Who runs what, and where (docs/exec-hooks-terminal.md draws it with the init order):
//!
//! | kind | run by | namespace | state status |
//! | --- | --- | --- | --- |
//! | `prestart` (deprecated), `createRuntime` | `berth create`, when the init reports its mount namespace is ready | runtime | `creating` |
//! | `createContainer` | the init, after the mounts and before `pivot_root` | container (path still resolves in the runtime's view: pivot_root has not happened) | `creating` |
//! | `startContainer` | the init, once `start` released it, before `execve` | container | `created` |
//! | `poststart` | `berth start`, after the program was released | runtime | `running` |
//! | `poststop` | `berth delete` (and a failed `create`), after the container is gone | runtime | `stopped` |
//!
//! A failing prestart/createRuntime/createContainer/startContainer hook fails the operation;
//! poststart and poststop failures are warnings (config.md).

mod run;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub(crate) use run::exits_within;
pub use run::{run_all, run_each};

/// The hook kinds, spelled as in config.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookKind {
    pub const ALL: [HookKind; 6] = [
        HookKind::Prestart,
        HookKind::CreateRuntime,
        HookKind::CreateContainer,
        HookKind::StartContainer,
        HookKind::Poststart,
        HookKind::Poststop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }
}

impl std::fmt::Display for HookKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One hook: config.md "path", "args", "env", "timeout".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub path: PathBuf,
    /// argv, including argv[0]; empty means argv[0] is the path.
    pub args: Vec<String>,
    /// The hook's whole environment when config.json gives one (execve semantics). `None`
    /// (no `env` member): the default of its [`HookContext`], as runc's hooks inherit.
    pub env: Option<Vec<String>>,
    /// Seconds before the hook is killed; `None` waits for ever (as runc).
    pub timeout: Option<u64>,
}

/// Where hooks run, and what a hook without `env` gets: runc's hooks inherit the runtime's
/// working directory (the bundle: runc changes into it) and environment (hooks expect PATH);
/// its createContainer and startContainer hooks run from its init, whose environment is by then
/// the container process's, in the rootfs (createContainer) or the process's cwd.
#[derive(Debug, Clone, Copy, Default)]
pub struct HookContext<'a> {
    /// Working directory; `None` keeps the caller's.
    pub cwd: Option<&'a Path>,
    /// Environment of a hook without `env`; `None` inherits the caller's.
    pub default_env: Option<&'a [String]>,
}

/// Every hook of a config, in config order within each kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    lists: [Vec<Hook>; 6],
}

/// A hook failed, or the `hooks` object is invalid.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("config.json: hooks.{kind}[{index}]: {reason}")]
    Invalid {
        kind: HookKind,
        index: usize,
        reason: String,
    },
    #[error("config.json: hooks: parse")]
    Parse(#[source] serde_json::Error),
    #[error("create a memory file for the {kind} hook's {what}")]
    Memfd {
        kind: HookKind,
        what: &'static str,
        #[source]
        source: nix::Error,
    },
    #[error("pass the state to the {kind} hook {path}")]
    WriteState {
        kind: HookKind,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run {kind} hook {path}")]
    Spawn {
        kind: HookKind,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("wait for {kind} hook {path}")]
    Wait {
        kind: HookKind,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{kind} hook {path} did not finish within its timeout of {secs} s; it was killed")]
    Timeout {
        kind: HookKind,
        path: PathBuf,
        secs: u64,
    },
    #[error("{kind} hook {path} failed with {status}{output}")]
    Failed {
        kind: HookKind,
        path: PathBuf,
        status: String,
        /// `; stderr: "..."` when the hook wrote anything, else empty.
        output: String,
    },
}

impl Hooks {
    /// Validates config.json's `hooks` (config.md: path absolute, timeout > 0).
    pub fn from_spec(hooks: Option<&oci_spec::runtime::Hooks>) -> Result<Hooks, HookError> {
        let Some(h) = hooks else {
            return Ok(Hooks::default());
        };
        let mut out = Hooks::default();
        let lists = [
            h.prestart(),
            h.create_runtime(),
            h.create_container(),
            h.start_container(),
            h.poststart(),
            h.poststop(),
        ];
        for (slot, (kind, list)) in HookKind::ALL.iter().zip(lists).enumerate() {
            for (index, hook) in list.iter().flatten().enumerate() {
                let invalid = |reason: String| HookError::Invalid {
                    kind: *kind,
                    index,
                    reason,
                };
                if !hook.path().is_absolute() {
                    return Err(invalid(format!(
                        "path {:?} is not absolute",
                        hook.path().display().to_string()
                    )));
                }
                let timeout = match hook.timeout() {
                    Some(t) if t <= 0 => {
                        return Err(invalid(format!("timeout {t} is not greater than zero")))
                    }
                    Some(t) => Some(t as u64),
                    None => None,
                };
                out.lists[slot].push(Hook {
                    path: hook.path().clone(),
                    args: hook.args().clone().unwrap_or_default(),
                    env: hook.env().clone(),
                    timeout,
                });
            }
        }
        Ok(out)
    }

    /// Reads the hooks back from the `hooks` member of the state's saved config (the same
    /// JSON shape as config.json, so it is validated the same way).
    pub fn from_saved(config: Option<&Value>) -> Result<Hooks, HookError> {
        match config.and_then(|c| c.get("hooks")) {
            None | Some(Value::Null) => Ok(Hooks::default()),
            Some(v) => {
                let h: oci_spec::runtime::Hooks =
                    serde_json::from_value(v.clone()).map_err(HookError::Parse)?;
                Hooks::from_spec(Some(&h))
            }
        }
    }

    /// The hooks of one kind, in config order.
    pub fn of(&self, kind: HookKind) -> &[Hook] {
        let i = HookKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is in ALL");
        &self.lists[i]
    }

    pub fn has(&self, kind: HookKind) -> bool {
        !self.of(kind).is_empty()
    }

    /// Whether the init must stop before pivot_root for the runtime's hooks and receive the
    /// state JSON for its own (createContainer, startContainer).
    pub fn init_needs_sync(&self) -> bool {
        [
            HookKind::Prestart,
            HookKind::CreateRuntime,
            HookKind::CreateContainer,
            HookKind::StartContainer,
        ]
        .iter()
        .any(|k| self.has(*k))
    }
}

/// The runtime.md "State" JSON a hook reads on stdin, with `status` rewritten to what the
/// spec says the hook of that kind observes.
pub fn state_with_status(state_json: &str, status: &str) -> String {
    match serde_json::from_str::<Value>(state_json) {
        Ok(mut v) => {
            v["status"] = Value::String(status.to_string());
            v.to_string()
        }
        Err(_) => state_json.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Hooks, HookError> {
        let h: oci_spec::runtime::Hooks = serde_json::from_str(json).unwrap();
        Hooks::from_spec(Some(&h))
    }

    #[test]
    fn kinds_keep_config_order() {
        let h = parse(
            r#"{"createRuntime":[{"path":"/a","args":["a","1"],"env":["X=1"],"timeout":3},{"path":"/b"}],
                "poststop":[{"path":"/c"}]}"#,
        )
        .unwrap();
        let cr = h.of(HookKind::CreateRuntime);
        assert_eq!(cr.len(), 2);
        assert_eq!(cr[0].path, PathBuf::from("/a"));
        assert_eq!(cr[0].args, ["a", "1"]);
        assert_eq!(cr[0].env.as_deref(), Some(&["X=1".to_string()][..]));
        assert_eq!(cr[0].timeout, Some(3));
        assert_eq!(cr[1].timeout, None);
        assert!(h.has(HookKind::Poststop));
        assert!(!h.has(HookKind::Prestart));
        assert!(h.init_needs_sync());
        assert!(!parse(r#"{"poststart":[{"path":"/x"}]}"#)
            .unwrap()
            .init_needs_sync());
    }

    #[test]
    fn relative_path_is_rejected() {
        let err = parse(r#"{"prestart":[{"path":"bin/hook"}]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: hooks.prestart[0]: path \"bin/hook\" is not absolute"
        );
    }

    #[test]
    fn non_positive_timeout_is_rejected() {
        let err = parse(r#"{"poststart":[{"path":"/x"},{"path":"/y","timeout":0}]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.json: hooks.poststart[1]: timeout 0 is not greater than zero"
        );
    }

    #[test]
    fn saved_config_round_trips() {
        let v = serde_json::json!({"hooks": {"startContainer": [{"path": "/s"}]}});
        let h = Hooks::from_saved(Some(&v)).unwrap();
        assert_eq!(h.of(HookKind::StartContainer)[0].path, PathBuf::from("/s"));
        assert_eq!(Hooks::from_saved(None).unwrap(), Hooks::default());
    }

    #[test]
    fn status_is_rewritten() {
        let s = state_with_status(r#"{"id":"c","status":"running"}"#, "stopped");
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["status"], "stopped");
        assert_eq!(v["id"], "c");
    }
}
