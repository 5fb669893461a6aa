//! The conformance suite's check model (Level, Kind, Check, ensure!) and CLI helpers, shared by
//! tests/conformance.rs (which judges each check) and tests/differential.rs (which runs each
//! check's bundle under runc and berth and compares what the container observed).

use crate::common::*;
use serde_json::Value;
use std::time::Duration;

/// The requirement level of a check, as written in the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Must,
    Should,
    /// The spec is silent; berth follows runc (common2.md: "where it is silent, do what runc does").
    Runc,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Runc => "RUNC",
        }
    }
}

pub type Verdict = Result<(), String>;

/// How a check observes the container.
pub enum Kind {
    /// Mutate the bundle, run the probe with `args`, judge its report.
    Probe {
        setup: fn(&mut Bundle),
        args: &'static [&'static str],
        check: fn(&Value) -> Verdict,
    },
    /// Mutate the bundle, run `sh -c script` in the foreground, judge its stdout.
    Shell {
        setup: fn(&mut Bundle),
        script: &'static str,
        check: fn(&str) -> Verdict,
    },
    /// Drive the CLI directly (lifecycle and state rules).
    Cli(fn(&Runtime, &mut Bundle) -> Verdict),
}

pub struct Check {
    /// File and section of the runtime-spec, e.g. `config.md#hostname`.
    pub section: &'static str,
    pub level: Level,
    pub what: &'static str,
    pub kind: Kind,
}

/// `ensure!(cond, "why {x}")`: the check fails with the message unless `cond`.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

pub fn no_setup(_: &mut Bundle) {}

/// `status` from `state ID`, or the error output.
pub fn status_of(rt: &Runtime, id: &str) -> Result<String, String> {
    let out = rt.cmd(&["state", id]);
    if !out.success() {
        return Err(format!("state {id} failed: {out}"));
    }
    Ok(out.json()["status"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}

/// Polls until `status` (at most 10 s).
pub fn wait_for(rt: &Runtime, id: &str, status: &str) -> Verdict {
    for _ in 0..500 {
        if status_of(rt, id)? == status {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("{id} never reached {status:?}"))
}

/// Runs `args`, failing the check when the command fails.
pub fn must_ok(rt: &Runtime, args: &[&str]) -> Result<Output, String> {
    let out = rt.cmd(args);
    if out.success() {
        Ok(out)
    } else {
        Err(format!("unexpected failure: {out}"))
    }
}

/// Runs `args`, failing the check when the command succeeds.
pub fn must_fail(rt: &Runtime, args: &[&str]) -> Result<Output, String> {
    let out = rt.cmd(args);
    if out.success() {
        Err(format!("unexpectedly succeeded: {out}"))
    } else {
        Ok(out)
    }
}
