//! Running one case under one runtime and recording what a client observes: each call's
//! acceptance (exit code), normalized `state`/`list`/`ps` output, the probe's normalized report,
//! the container's stdout, stderr and exit status. Every run gets a fresh bundle, state root,
//! id and cgroup prefix, and is cleaned up afterwards (force-delete, then the leftovers check).

use crate::common::*;
use crate::conformance_framework::Verdict;
use crate::normalize::{self, Ctx};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a run observed: aspect key → normalized value.
pub type Obs = BTreeMap<String, Value>;

/// One runtime call may take this long before the case is recorded as an error.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Run-specific names a setup may use: `{id}`, `{prefix}` (a unique cgroup-path prefix the
/// tier removes afterwards) and the bundle directory.
pub struct Names {
    pub id: String,
    pub prefix: String,
    pub bundle: String,
}

impl Names {
    /// Substitute `{id}`, `{prefix}` and `{bundle}` in every string of `v`.
    pub fn fill(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.fill_str(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.fill(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (self.fill_str(k), self.fill(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    pub fn fill_str(&self, s: &str) -> String {
        s.replace("{id}", &self.id)
            .replace("{prefix}", &self.prefix)
            .replace("{bundle}", &self.bundle)
    }
}

pub type Setup = Arc<dyn Fn(&mut Bundle, &Names) + Send + Sync>;
pub type Script = Arc<dyn Fn(&mut Run) + Send + Sync>;

pub enum Kind {
    /// Foreground `run` of `/bin/berth-probe ARGS` after the setup.
    Probe { setup: Setup, args: Vec<String> },
    /// Foreground `run` of `sh -c SCRIPT` after the setup.
    Shell { setup: Setup, script: String },
    /// A scripted CLI session (lifecycle, exec, ps, list, ...).
    Session { setup: Setup, script: Script },
    /// A conformance CLI check: only whether it holds is compared.
    Verdict(fn(&Runtime, &mut Bundle) -> Verdict),
    /// A bad-input case: only accepted or refused is compared (messages differ legitimately).
    Bad(fn(&Runtime, &mut Bundle, &str) -> Output),
}

pub struct Case {
    pub name: String,
    pub kind: Kind,
}

/// The state of one run of one case under one runtime.
pub struct Run<'a> {
    pub rt: &'a Runtime,
    pub bundle: &'a mut Bundle,
    pub names: Names,
    pub ctx: Ctx,
    pub obs: Obs,
}

impl Run<'_> {
    /// `<runtime> --root <root> ARGS` with `{id}`, `{bundle}`, `{prefix}` substituted.
    pub fn cmd(&self, args: &[&str]) -> Output {
        let mut full = vec!["--root".to_string(), self.rt.root_str().to_string()];
        full.extend(args.iter().map(|a| self.names.fill_str(a)));
        run_command(&self.rt.bin().to_string_lossy(), &full, CALL_TIMEOUT)
    }

    /// Like [`Run::cmd`] with stdout and stderr going to the files `out` and `err` (a created
    /// container inherits them); the exit code, 124 on timeout.
    pub fn cmd_to_files(&self, args: &[&str], out: &Path, err: &Path) -> i32 {
        let mut full = vec!["--root".to_string(), self.rt.root_str().to_string()];
        full.extend(args.iter().map(|a| self.names.fill_str(a)));
        let mut child = std::process::Command::new(self.rt.bin())
            .args(&full)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(out).expect("create stdout file"))
            .stderr(std::fs::File::create(err).expect("create stderr file"))
            .spawn()
            .expect("spawn the runtime");
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            if let Some(st) = child.try_wait().expect("wait") {
                return st.code().unwrap_or(128);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return 124;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Like [`Run::cmd`], recording `<label>.exit` as accepted (0) or refused (non-zero).
    pub fn call(&mut self, label: &str, args: &[&str]) -> Output {
        let out = self.cmd(args);
        self.record(&format!("{label}.accepted"), json!(out.success()));
        out
    }

    pub fn record(&mut self, key: &str, v: Value) {
        self.obs.insert(key.to_string(), v);
    }

    /// Record the normalized `state` (or `refused`).
    pub fn state(&mut self, label: &str) -> Value {
        let out = self.cmd(&["state", "{id}"]);
        let v = if out.success() {
            match serde_json::from_str::<Value>(out.stdout.trim()) {
                Ok(v) => normalize::state(&self.ctx, &v),
                Err(_) => json!({"unparsable": self.ctx.text(out.stdout.trim())}),
            }
        } else {
            json!("refused")
        };
        self.record(&format!("{label}.state"), v.clone());
        v
    }

    /// The current status, or `missing`.
    pub fn status(&self) -> String {
        let out = self.cmd(&["state", "{id}"]);
        if !out.success() {
            return "missing".into();
        }
        serde_json::from_str::<Value>(out.stdout.trim())
            .ok()
            .and_then(|v| v["status"].as_str().map(str::to_string))
            .unwrap_or_else(|| "unparsable".into())
    }

    /// Poll until `status` (at most `secs`); true when reached.
    pub fn wait_status(&self, status: &str, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.status() == status {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Write the config with `args` as the process and `run` it in the foreground, recording
    /// the exit status, the container's stderr and (`probe`) the report or (`!probe`) stdout.
    pub fn foreground(&mut self, label: &str, args: &[&str], extra: &[&str], probe: bool) {
        let mut cfg = self.bundle.config().clone();
        cfg["process"]["args"] = json!(args);
        self.bundle.write_config(&cfg);
        let mut full = vec!["run"];
        full.extend_from_slice(extra);
        full.extend_from_slice(&["--bundle", "{bundle}", "{id}"]);
        let out = self.cmd(&full);
        self.output(label, &out, probe);
    }

    /// Record an output: exit code, container stderr, report or stdout.
    pub fn output(&mut self, label: &str, out: &Output, probe: bool) {
        self.record(&format!("{label}.exit"), json!(out.code));
        if out.success() || !probe {
            let err = normalize::container_stderr(&self.ctx, &out.stderr);
            self.record(&format!("{label}.stderr"), json!(err));
        }
        if probe {
            if out.success() {
                let v = match serde_json::from_str::<Value>(out.stdout.trim()) {
                    Ok(r) => normalize::probe(&self.ctx, &r),
                    Err(_) => json!({"unparsable": self.ctx.text(&out.stdout)}),
                };
                if let Value::Object(o) = v {
                    for (k, x) in o {
                        self.record(&format!("{label}.{k}"), x);
                    }
                } else {
                    self.record(&format!("{label}.report"), v);
                }
            }
        } else {
            let s = self.ctx.text(&out.stdout);
            self.record(&format!("{label}.stdout"), json!(s));
        }
    }
}

fn next_n() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Run `case` under the runtime `bin`; the observation, or the panic message of the harness.
pub fn run_case(case: &Case, bin: &Path, side: &str) -> Obs {
    let n = next_n();
    let id = format!("diff-{side}-{}-{n}", std::process::id());
    let prefix = format!("berth-diff-{side}-{}-{n}-parent", std::process::id());
    let rt = Runtime::with_bin(bin.to_path_buf());
    let mut bundle = Bundle::new();
    let names = Names {
        id: id.clone(),
        prefix: prefix.clone(),
        bundle: bundle.path_str().to_string(),
    };
    let ctx = Ctx::new(&id, bundle.path_str(), rt.root_str(), &prefix);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut run = Run {
            rt: &rt,
            bundle: &mut bundle,
            names,
            ctx,
            obs: Obs::new(),
        };
        execute(case, &mut run);
        run.obs
    }));
    let mut obs = result.unwrap_or_else(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panicked".into());
        let ctx = Ctx::new(&id, bundle.path_str(), rt.root_str(), &prefix);
        let mut o = Obs::new();
        o.insert("harness-error".into(), json!(ctx.text(&msg)));
        o
    });
    // Cleanup: force-delete everything in the private root, then check for leftovers.
    if let Ok(rd) = std::fs::read_dir(rt.root()) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let _ = run_command(
                &bin.to_string_lossy(),
                &[
                    "--root".into(),
                    rt.root_str().into(),
                    "delete".into(),
                    "--force".into(),
                    name,
                ],
                CALL_TIMEOUT,
            );
        }
    }
    let ctx = Ctx::new(&id, bundle.path_str(), rt.root_str(), &prefix);
    let left: Vec<String> = rt
        .leftovers(&id, &bundle)
        .iter()
        .map(|l| ctx.text(l))
        .collect();
    remove_prefix_cgroups(&prefix);
    if !left.is_empty() {
        obs.insert("leftovers".into(), json!(left));
    }
    obs
}

fn execute(case: &Case, run: &mut Run) {
    match &case.kind {
        Kind::Probe { setup, args } => {
            setup(run.bundle, &run.names);
            let mut full = vec!["/bin/berth-probe"];
            full.extend(args.iter().map(String::as_str));
            run.foreground("run", &full, &[], true);
        }
        Kind::Shell { setup, script } => {
            setup(run.bundle, &run.names);
            run.foreground("run", &["sh", "-c", script], &[], false);
        }
        Kind::Session { setup, script } => {
            setup(run.bundle, &run.names);
            run.bundle.write();
            script(run);
        }
        Kind::Verdict(f) => {
            let v = f(run.rt, run.bundle);
            run.record("verdict", json!(if v.is_ok() { "holds" } else { "fails" }));
        }
        Kind::Bad(f) => {
            let id = run.names.id.clone();
            let out = f(run.rt, run.bundle, &id);
            run.record("accepted", json!(out.success()));
        }
    }
}

/// Remove the cgroup directories under `/sys/fs/cgroup/*/<prefix>` (fixture cgroupsPaths nest
/// the container's cgroup under a unique prefix; runtimes remove only their leaf).
fn remove_prefix_cgroups(prefix: &str) {
    fn rmdir_tree(d: &Path) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    rmdir_tree(&e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(d);
    }
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for e in rd.flatten() {
        let d: PathBuf = e.path().join(prefix);
        if d.is_dir() {
            rmdir_tree(&d);
        }
    }
}
