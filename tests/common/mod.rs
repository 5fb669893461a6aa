//! Integration-test harness shared by every `tests/*.rs` file: the runtime under test (berth, or
//! any OCI runtime named by `BERTH_TEST_RUNTIME`), busybox bundles with the probe inside, command
//! helpers with timeouts, loud root skips and the leftovers check.
//!
//! Conventions:
//! - Every runtime call passes `--root <per-test tempdir>` as the first global flag, so tests
//!   never see each other's state and never touch the host's default state root.
//! - Container ids are `<test name>-<pid>-<n>`: unique across parallel tests and processes.
//! - Runtime stdout/stderr go to files, not pipes: after `create` the container process inherits
//!   them, and a pipe would keep the reader waiting until the container exits.
//! - Nothing here changes the state of the test process itself (no unshare/setns/mount); fixtures
//!   that need mounts run the runtime under `unshare --mount` (see [`Runtime::cmd_in_mntns`]).

#![allow(dead_code)] // each test binary uses a different subset of the helpers

use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Default time a single runtime invocation may take before the test fails.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(60);

/// The name of the running test (libtest names the thread after it), last path segment.
pub fn test_name() -> String {
    let t = std::thread::current();
    let name = t.name().unwrap_or("test").to_string();
    name.rsplit("::").next().unwrap_or("test").to_string()
}

/// A container id unique to this test, process and call: `<test>-<pid>-<n>`.
pub fn unique_id() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let mut name: String = test_name()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.truncate(40);
    format!("{name}-{}-{n}", std::process::id())
}

/// Write a line straight to fd 2. libtest captures `eprintln!` of passing tests; a skip
/// notice must be seen, so it bypasses the capture.
pub fn loud(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

/// True when running as root. Otherwise prints `SKIP <test>: needs root` to stderr: a skipped
/// test must never pass silently. Use as `if !require_root() { return; }`.
pub fn require_root() -> bool {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        loud(&format!(
            "SKIP {}: needs root (euid {euid}); run `make test` as root",
            test_name()
        ));
        return false;
    }
    true
}

/// The runtime binary under test: `BERTH_TEST_RUNTIME` (a path or a name on PATH), else berth.
pub fn runtime_bin() -> PathBuf {
    match std::env::var_os("BERTH_TEST_RUNTIME") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_berth")),
    }
}

/// True when the runtime under test is runc (used to mark known runc gaps).
pub fn runtime_is_runc() -> bool {
    runtime_bin()
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("runc"))
}

/// For behaviours the reference runc 1.1.5 lacks: when testing runc, print a loud
/// `SKIP <test>: runc gap: <reason>` and return true. The test stays in force for berth.
pub fn runc_gap(reason: &str) -> bool {
    if runtime_is_runc() {
        loud(&format!(
            "SKIP {}: runc gap (kept for berth): {reason}",
            test_name()
        ));
        return true;
    }
    false
}

/// For what only berth has (its own commands, flags, logs and messages): when testing runc,
/// print a loud `SKIP <test>: berth only: <what>` and return true.
pub fn berth_only(what: &str) -> bool {
    berth_only_skip("", what)
}

/// [`berth_only`] for the rest of a test whose first part ran under runc too:
/// `SKIP <test> (part): berth only: <what>`.
pub fn berth_only_part(what: &str) -> bool {
    berth_only_skip(" (part)", what)
}

fn berth_only_skip(part: &str, what: &str) -> bool {
    if runtime_is_runc() {
        loud(&format!("SKIP {}{part}: berth only: {what}", test_name()));
        return true;
    }
    false
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of the static probe: `BERTH_PROBE`, else `target/probe/...`, built on first use when
/// missing (the Makefile's `probe` target does the same build).
pub fn probe_path() -> PathBuf {
    static PROBE: OnceLock<PathBuf> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("BERTH_PROBE").filter(|p| !p.is_empty()) {
                let p = PathBuf::from(p);
                assert!(p.is_file(), "BERTH_PROBE={} does not exist", p.display());
                return p;
            }
            let p = repo_root().join("target/probe/x86_64-unknown-linux-gnu/release/berth-probe");
            if !p.is_file() {
                eprintln!("harness: building the static probe (make probe)");
                let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
                let st = Command::new(cargo)
                    .current_dir(repo_root())
                    .env("RUSTFLAGS", "-C target-feature=+crt-static")
                    .args([
                        "build",
                        "-p",
                        "berth-probe",
                        "--release",
                        "--target",
                        "x86_64-unknown-linux-gnu",
                        "--target-dir",
                        "target/probe",
                    ])
                    .status()
                    .expect("run cargo to build the probe");
                assert!(
                    st.success(),
                    "building berth-probe failed; run `make probe`"
                );
            }
            p
        })
        .clone()
}

fn busybox_applets() -> &'static [String] {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("run /bin/busybox --list (apt-get install -y busybox-static)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    })
}

/// The config of test bundles: `berth spec`'s (which is runc 1.1.5's `runc spec` example,
/// tests/cli.rs `spec_default_is_runc_spec`) with the three changes every test bundle makes:
/// ociVersion 1.0.2-dev (what runc 1.1.5's spec writes, so a bundle is the same under both
/// runtimes), terminal false (tests run without a console), hostname "berth". One source:
/// integration/mkbundle.sh makes the same changes to `berth spec`'s config (with jq), and
/// tests/harness.rs checks that the two are equal.
pub fn default_config() -> Value {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let mut config = SPEC
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir for berth spec");
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
                .args(["spec", "--bundle"])
                .arg(dir.path())
                .output()
                .expect("run berth spec");
            assert!(out.status.success(), "berth spec: {out:?}");
            let text = fs::read(dir.path().join("config.json")).expect("read berth spec's config");
            serde_json::from_slice(&text).expect("berth spec writes JSON")
        })
        .clone();
    config["ociVersion"] = json!("1.0.2-dev");
    config["process"]["terminal"] = json!(false);
    config["hostname"] = json!("berth");
    config
}

/// An OCI bundle in a tempdir: a busybox rootfs with the probe at /bin/berth-probe, and a
/// config kept as a JSON value until [`Bundle::write`].
pub struct Bundle {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    config: Value,
}

impl Bundle {
    /// A populated bundle with [`default_config`].
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-it-")
            .tempdir()
            .expect("create bundle tempdir");
        let path = dir.path().canonicalize().expect("canonicalize bundle dir");
        // 0755 so that mapped (user namespace) ids can traverse to the rootfs.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod bundle");
        let b = Bundle {
            dir: Some(dir),
            path,
            config: default_config(),
        };
        b.populate_rootfs();
        b
    }

    fn populate_rootfs(&self) {
        let r = self.rootfs();
        for d in [
            "bin",
            "proc",
            "sys",
            "dev",
            "tmp",
            "etc",
            "root",
            "home/user",
        ] {
            fs::create_dir_all(r.join(d)).expect("mkdir in rootfs");
        }
        fs::set_permissions(r.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod");
        // Copies, never hard links: a test writing into the rootfs must not alter the host.
        fs::copy("/bin/busybox", r.join("bin/busybox")).expect("copy /bin/busybox");
        for applet in busybox_applets() {
            let l = r.join("bin").join(applet);
            if !l.exists() {
                std::os::unix::fs::symlink("busybox", l).expect("applet symlink");
            }
        }
        fs::copy(probe_path(), r.join("bin/berth-probe")).expect("copy probe");
        fs::write(
            r.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
        )
        .expect("write passwd");
        fs::write(r.join("etc/group"), "root:x:0:\ntty:x:5:\nuser:x:1000:\n").expect("write group");
        std::os::unix::fs::chown(r.join("home/user"), Some(1000), Some(1000)).expect("chown");
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("utf-8 bundle path")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }

    pub fn config(&self) -> &Value {
        &self.config
    }

    pub fn config_mut(&mut self) -> &mut Value {
        &mut self.config
    }

    /// Set `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// Append a mount entry.
    pub fn mount(&mut self, m: Value) -> &mut Self {
        self.config["mounts"]
            .as_array_mut()
            .expect("mounts array")
            .push(m);
        self
    }

    /// Add (or replace) a namespace entry; `path` joins an existing namespace.
    pub fn namespace(&mut self, ty: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespace(ty);
        let mut ns = json!({"type": ty});
        if let Some(p) = path {
            ns["path"] = json!(p);
        }
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces array")
            .push(ns);
        self
    }

    pub fn remove_namespace(&mut self, ty: &str) -> &mut Self {
        if let Some(a) = self.config["linux"]["namespaces"].as_array_mut() {
            a.retain(|n| n["type"] != ty);
        }
        self
    }

    /// Remove the mount at `destination` from the config.
    pub fn remove_mount(&mut self, destination: &str) -> &mut Self {
        if let Some(a) = self.config["mounts"].as_array_mut() {
            a.retain(|m| m["destination"] != destination);
        }
        self
    }

    /// Write config.json.
    pub fn write(&self) -> &Self {
        self.write_config(&self.config);
        self
    }

    /// Write an arbitrary config.json (for cases where the value is not a valid config).
    pub fn write_config(&self, config: &Value) {
        fs::write(
            self.path.join("config.json"),
            serde_json::to_vec_pretty(config).expect("serialize config"),
        )
        .expect("write config.json");
    }
}

impl Default for Bundle {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // Never recurse into a mount a failed runtime left behind (it could be a bind of a host
        // directory): detach any such mount first, and leak the directory if that fails.
        let left = mounts_under(&self.path);
        for m in left.iter().rev() {
            let _ = nix::mount::umount2(m.as_path(), nix::mount::MntFlags::MNT_DETACH);
        }
        if !mounts_under(&self.path).is_empty() {
            eprintln!(
                "harness: leaking {} because mounts remain under it",
                self.path.display()
            );
            if let Some(d) = self.dir.take() {
                let _ = d.keep();
            }
        }
    }
}

/// Undo mountinfo's octal escapes.
pub fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points in this (the host's) mount namespace at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// What a runtime invocation produced.
#[derive(Debug)]
pub struct Output {
    pub args: Vec<String>,
    /// Exit code, or `128 + signal` when killed by a signal (shell convention).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    /// Panic with the whole output unless the command succeeded.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "command failed: {self}");
        self
    }

    /// Panic unless the command failed with `needle` (case-insensitive) in stderr or stdout.
    #[track_caller]
    pub fn fails_with(&self, needle: &str) -> &Self {
        assert!(!self.success(), "command unexpectedly succeeded: {self}");
        assert!(
            self.mentions(needle),
            "error output does not mention {needle:?}: {self}"
        );
        self
    }

    /// True when stderr or stdout contains `needle`, case-insensitively.
    pub fn mentions(&self, needle: &str) -> bool {
        let n = needle.to_lowercase();
        self.stderr.to_lowercase().contains(&n) || self.stdout.to_lowercase().contains(&n)
    }

    /// stdout parsed as JSON (the last non-empty line when several are printed).
    #[track_caller]
    pub fn json(&self) -> Value {
        let line = self
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        serde_json::from_str(self.stdout.trim())
            .or_else(|_| serde_json::from_str(line))
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.args.join(" "),
            self.code,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// The runtime under test with a private state root.
pub struct Runtime {
    bin: PathBuf,
    root: tempfile::TempDir,
}

impl Runtime {
    pub fn new() -> Self {
        Self::with_bin(runtime_bin())
    }

    /// A runtime named by path with its own private state root (tests/differential.rs runs
    /// runc and berth side by side).
    pub fn with_bin(bin: PathBuf) -> Self {
        let root = tempfile::Builder::new()
            .prefix("berth-it-root-")
            .tempdir()
            .expect("create state root tempdir");
        Runtime { bin, root }
    }

    pub fn bin(&self) -> &Path {
        &self.bin
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn root_str(&self) -> &str {
        self.root.path().to_str().expect("utf-8 root")
    }

    /// Where berth keeps container `id`'s identity record (state/identity.rs).
    pub fn identity_record(&self, id: &str) -> PathBuf {
        self.root().join("@identity").join(id)
    }

    /// Run `<runtime> --root <root> ARGS...` and wait (at most [`CMD_TIMEOUT`]).
    #[track_caller]
    pub fn cmd(&self, args: &[&str]) -> Output {
        let mut full = vec![self.root_str().to_string()];
        full.insert(0, "--root".into());
        full.extend(args.iter().map(|s| s.to_string()));
        run_command(&self.bin.to_string_lossy(), &full, CMD_TIMEOUT)
    }

    /// Like [`Runtime::cmd`], but inside a fresh private mount namespace (`unshare --mount
    /// --propagation private`) after running the shell snippet `setup` there. Fixture mounts
    /// made by `setup` vanish with the namespace; the test process is never touched.
    #[track_caller]
    pub fn cmd_in_mntns(&self, setup: &str, args: &[&str]) -> Output {
        let script = format!("set -e; {setup}\nexec \"$@\"");
        let mut full: Vec<String> = [
            "--mount",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            &script,
            "sh",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        full.push(self.bin.to_string_lossy().into_owned());
        full.push("--root".into());
        full.push(self.root_str().into());
        full.extend(args.iter().map(|s| s.to_string()));
        run_command("unshare", &full, CMD_TIMEOUT)
    }

    /// Write the bundle's config and `create` container `id`.
    #[track_caller]
    pub fn create(&self, bundle: &Bundle, id: &str) -> Output {
        bundle.write();
        self.cmd(&["create", "--bundle", bundle.path_str(), id])
    }

    /// `state ID` parsed; panics when the command fails.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.cmd(&["state", id]);
        out.ok();
        out.json()
    }

    /// The host pid of container `id`'s init, from `state`.
    #[track_caller]
    pub fn init_pid(&self, id: &str) -> i64 {
        let st = self.state(id);
        st["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("state of {id} has no pid: {st}"))
    }

    /// `create` and `start` a container that runs beside the one under test (a racing
    /// attacker, say), force-deleted when the returned guard drops, also when the test panics.
    #[track_caller]
    pub fn start_beside(&self, bundle: &Bundle) -> Beside<'_> {
        let id = unique_id();
        let guard = Beside {
            rt: self,
            id: id.clone(),
        };
        self.create(bundle, &id).ok();
        self.cmd(&["start", &id]).ok();
        guard
    }

    /// Poll `state` until `status` is reached (or panic after `CMD_TIMEOUT`).
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + CMD_TIMEOUT;
        loop {
            let st = self.state(id);
            if st["status"] == status {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} never reached {status:?}: {st}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Write the bundle with the given args and `run` it in the foreground as `id`.
    #[track_caller]
    pub fn run_args(&self, bundle: &Bundle, id: &str, args: &[&str], extra: &[&str]) -> Output {
        let mut cfg = bundle.config().clone();
        cfg["process"]["args"] = json!(args);
        bundle.write_config(&cfg);
        let mut cmd = vec!["run"];
        cmd.extend_from_slice(extra);
        cmd.extend_from_slice(&["--bundle", bundle.path_str(), id]);
        self.cmd(&cmd)
    }

    /// Run the probe with `probe_args` in the bundle (foreground `run`), check that nothing is
    /// left behind, and return its report. Panics with the runtime's output on failure.
    #[track_caller]
    pub fn run_probe(&self, bundle: &Bundle, probe_args: &[&str]) -> Value {
        match self.try_run_probe(bundle, probe_args) {
            Ok(v) => v,
            Err(out) => panic!("probe run failed: {out}"),
        }
    }

    /// [`Runtime::run_probe`] returning the runtime's output when the run fails.
    #[track_caller]
    pub fn try_run_probe(&self, bundle: &Bundle, probe_args: &[&str]) -> Result<Value, Output> {
        let id = unique_id();
        let mut args = vec!["/bin/berth-probe"];
        args.extend_from_slice(probe_args);
        let out = self.run_args(bundle, &id, &args, &[]);
        self.assert_nothing_left(&id, bundle);
        if !out.success() {
            return Err(out);
        }
        Ok(out.json())
    }

    /// Assert that container `id` left nothing behind: no state dir under the root, no identity
    /// record (`<root>/@identity/<id>`, what `delete --force` finds a container by when its
    /// state is lost), no mount under the bundle (host namespace), no cgroup directory named after the id under
    /// /sys/fs/cgroup/*/, no process whose cmdline or cwd references the bundle.
    #[track_caller]
    pub fn assert_nothing_left(&self, id: &str, bundle: &Bundle) {
        let problems = self.leftovers(id, bundle);
        assert!(
            problems.is_empty(),
            "container {id} left things behind:\n  {}",
            problems.join("\n  ")
        );
    }

    /// What [`Runtime::assert_nothing_left`] checks, as a list of problems.
    pub fn leftovers(&self, id: &str, bundle: &Bundle) -> Vec<String> {
        let mut problems = Vec::new();
        let state = self.root().join(id);
        if state.exists() {
            problems.push(format!("state dir {} exists", state.display()));
        }
        let record = self.identity_record(id);
        if record.exists() {
            problems.push(format!("identity record {} exists", record.display()));
        }
        for m in mounts_under(bundle.path()) {
            problems.push(format!("mount {} remains", m.display()));
        }
        for c in cgroups_named(id) {
            problems.push(format!("cgroup {} remains", c.display()));
        }
        for p in processes_referencing(bundle.path()) {
            problems.push(format!("process {p} references the bundle"));
        }
        problems
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Force-delete whatever a failed test left in our private root, also containers
        // known only by their identity record.
        let records = self.root.path().join("@identity");
        for dir in [self.root.path(), records.as_path()] {
            if let Ok(rd) = fs::read_dir(dir) {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if e.path().is_dir() && name != "@identity" {
                        let _ = self.cmd(&["delete", "--force", &name]);
                    }
                }
            }
        }
    }
}

/// A container started by [`Runtime::start_beside`]: `delete --force`d on drop.
pub struct Beside<'a> {
    rt: &'a Runtime,
    id: String,
}

impl Beside<'_> {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// True while the container's state is `running` (its process has not exited).
    pub fn is_running(&self) -> bool {
        self.rt.state(&self.id)["status"] == "running"
    }

    /// Delete it now and assert that it left nothing behind.
    #[track_caller]
    pub fn delete(self, bundle: &Bundle) {
        self.rt.cmd(&["delete", "--force", &self.id]).ok();
        self.rt.assert_nothing_left(&self.id, bundle);
    }
}

impl Drop for Beside<'_> {
    fn drop(&mut self) {
        // Idempotent after `delete` (the state is gone; the error is ignored).
        let _ = self.rt.cmd(&["delete", "--force", &self.id]);
    }
}

/// Run a command with stdin from /dev/null and stdout/stderr captured in files, killing it
/// after `timeout`.
#[track_caller]
pub fn run_command(program: &str, args: &[String], timeout: Duration) -> Output {
    let out_f = tempfile::tempfile().expect("stdout tempfile");
    let err_f = tempfile::tempfile().expect("stderr tempfile");
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out_f.try_clone().expect("dup"))
        .stderr(err_f.try_clone().expect("dup"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for child") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{program} {}` timed out after {timeout:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let read = |mut f: fs::File| {
        use std::io::{Read, Seek};
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0)).expect("seek");
        let mut buf = Vec::new();
        f.read_to_end(&mut buf).expect("read output");
        s.push_str(&String::from_utf8_lossy(&buf));
        s
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    let mut all = vec![program.to_string()];
    all.extend(args.iter().cloned());
    Output {
        args: all,
        code,
        stdout: read(out_f),
        stderr: read(err_f),
    }
}

/// True when `name` is `id` or ends with `id` after a separator (`x-<id>`, `x:<id>`).
pub fn name_matches_id(name: &str, id: &str) -> bool {
    name == id
        || name
            .strip_suffix(id)
            .is_some_and(|p| p.ends_with(|c: char| !c.is_ascii_alphanumeric()))
}

/// Cgroup directories named after `id` under /sys/fs/cgroup/* (searched 4 levels deep, which
/// covers `<id>`, `berth/<id>`, `system.slice/berth-<id>.scope`-style placements).
pub fn cgroups_named(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".scope").unwrap_or(&name);
            if name_matches_id(stem, id) {
                out.push(e.path());
            } else if depth > 0 {
                walk(&e.path(), id, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(rd) = fs::read_dir("/sys/fs/cgroup") {
        for e in rd.flatten() {
            walk(&e.path(), id, 3, &mut out);
        }
    }
    out
}

/// Pids (other than ours) whose cmdline or cwd mentions `dir`.
pub fn processes_referencing(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == me {
            continue;
        }
        let cmdline = fs::read(e.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        let cwd = fs::read_link(e.path().join("cwd"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if cmdline.contains(&needle) || cwd.starts_with(&needle) {
            out.push(format!("{pid} ({})", cmdline.trim()));
        }
    }
    out
}

/// The namespace inode of `/proc/<pid>/ns/<ns>` as seen from the host.
pub fn ns_inode(pid: &str, ns: &str) -> u64 {
    let t = fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{ns}: {e}"));
    let t = t.to_string_lossy();
    t[t.find('[').expect("ns link") + 1..]
        .trim_end_matches(']')
        .parse()
        .expect("ns inode")
}

/// The probe's mount entry for `mount_point` (the last one: the visible mount).
pub fn find_mount<'a>(report: &'a Value, mount_point: &str) -> Option<&'a Value> {
    report["mounts"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["mount_point"] == mount_point)
}

/// True when a JSON string array contains `s`.
pub fn has(list: &Value, s: &str) -> bool {
    list.as_array()
        .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(s)))
}

/// Sorted string list out of a JSON string array.
pub fn strings(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}
