//! Rootless berth (issue #16, docs/rootless.md): berth run by an unprivileged user on a bundle
//! from `berth spec --rootless`. Each test creates a throwaway user (`useradd -M`, removed by a
//! guard even when the test fails), runs berth as that user through `setpriv` with
//! XDG_RUNTIME_DIR set to a tempdir the user owns, and checks what the container's process
//! observes and what is left on the host.
//!
//! Needs root (to create the user) and a kernel that lets unprivileged users create user
//! namespaces; otherwise each test prints `SKIP <test>: <reason>`.

mod common;
use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// useradd/userdel take a lock on /etc/passwd and fail rather than wait: one at a time.
static USERS: Mutex<()> = Mutex::new(());

/// A throwaway user, `userdel`ed on drop (after any process left under its uid, all started by
/// this test, is killed).
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TestUser {
    fn new() -> TestUser {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("berth-rl-{}-{n}", std::process::id());
        {
            let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
            run_command(
                "useradd",
                &[
                    "-M".into(),
                    "-s".into(),
                    "/usr/sbin/nologin".into(),
                    name.clone(),
                ],
                CMD_TIMEOUT,
            )
            .ok();
        }
        let id = |flag: &str| -> u32 {
            let out = run_command("id", &[flag.into(), name.clone()], CMD_TIMEOUT);
            out.ok().stdout.trim().parse().expect("numeric id")
        };
        // Built before the ids are read, so that a failure there still removes the user.
        let mut user = TestUser {
            name: name.clone(),
            uid: u32::MAX,
            gid: u32::MAX,
        };
        user.uid = id("-u");
        user.gid = id("-g");
        user
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        for pid in processes_of(self.uid) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let out = run_command("userdel", &["-f".into(), self.name.clone()], CMD_TIMEOUT);
        if !out.success() {
            loud(&format!(
                "rootless tests: could not remove user {}: {out}",
                self.name
            ));
        }
    }
}

/// Pids of the live (not zombie) processes whose real uid is `uid`.
fn processes_of(uid: u32) -> Vec<i32> {
    let mut pids = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(status) = fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .map(str::to_string)
        };
        let zombie = field("State:").is_some_and(|s| s.starts_with('Z'));
        let real_uid = field("Uid:").and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok());
        if !zombie && real_uid == Some(uid) {
            pids.push(pid);
        }
    }
    pids
}

/// Whether the kernel lets an unprivileged user create a user namespace; prints the SKIP line
/// when it does not (or when not root, since the tests create a user).
fn rootless_possible() -> bool {
    if !require_root() {
        return false;
    }
    let read = |p: &str| fs::read_to_string(p).ok().map(|s| s.trim().to_string());
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        loud(&format!(
            "SKIP {}: kernel.unprivileged_userns_clone is 0 (unprivileged user namespaces are disabled)",
            test_name()
        ));
        return false;
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        loud(&format!(
            "SKIP {}: user.max_user_namespaces is 0 (no user namespace may be created)",
            test_name()
        ));
        return false;
    }
    true
}

/// One test's setup: the user, its XDG_RUNTIME_DIR, and a busybox bundle whose config is
/// `berth spec --rootless` as written for that user.
struct Rootless {
    // Dropped in this order: the bundle and the runtime dir before the user.
    bundle: Bundle,
    xdg: tempfile::TempDir,
    config: Value,
    user: TestUser,
}

impl Rootless {
    fn new() -> Rootless {
        let user = TestUser::new();
        let xdg = tempfile::Builder::new()
            .prefix("berth-rl-xdg-")
            .tempdir()
            .expect("XDG_RUNTIME_DIR tempdir");
        std::os::unix::fs::chown(xdg.path(), Some(user.uid), Some(user.gid)).expect("chown xdg");
        fs::set_permissions(xdg.path(), fs::Permissions::from_mode(0o700)).expect("chmod xdg");
        // The bundle (0755 tempdir under /tmp, rootfs copied from the host's busybox) is
        // readable and traversable by the user; the config comes from the user's own
        // `berth spec --rootless`, written into its runtime dir.
        let bundle = Bundle::new();
        let spec_dir = xdg.path().join("spec");
        let mut r = Rootless {
            bundle,
            xdg,
            config: Value::Null,
            user,
        };
        fs::create_dir(&spec_dir).expect("mkdir spec dir");
        std::os::unix::fs::chown(&spec_dir, Some(r.user.uid), Some(r.user.gid)).expect("chown");
        r.berth(&["spec", "--rootless", "--bundle", spec_dir.to_str().unwrap()])
            .ok();
        let text = fs::read(spec_dir.join("config.json")).expect("read the rootless spec");
        r.config = serde_json::from_slice(&text).expect("rootless spec is JSON");
        r.config["process"]["terminal"] = json!(false);
        r.config["hostname"] = json!("rootless-host");
        r
    }

    /// berth as the user, with its XDG_RUNTIME_DIR and no `--root`.
    fn berth(&self, args: &[&str]) -> Output {
        self.berth_env(
            &[("XDG_RUNTIME_DIR", self.xdg.path().to_str().unwrap())],
            args,
        )
    }

    /// berth as the user with exactly this environment (plus PATH).
    fn berth_env(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        self.as_user(runtime_bin().to_str().unwrap(), env, args)
    }

    /// `bin` as the user with exactly this environment (plus PATH).
    fn as_user(&self, bin: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
        let mut argv: Vec<String> = [
            "--reuid",
            &self.user.uid.to_string(),
            "--regid",
            &self.user.gid.to_string(),
            "--init-groups",
            "env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        argv.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        argv.push(bin.to_string());
        argv.extend(args.iter().map(|s| s.to_string()));
        run_command("setpriv", &argv, CMD_TIMEOUT)
    }

    fn state_root(&self) -> PathBuf {
        self.xdg.path().join("berth")
    }

    /// Writes the config with these process args.
    fn write(&self, args: &[&str]) {
        let mut c = self.config.clone();
        c["process"]["args"] = json!(args);
        self.bundle.write_config(&c);
    }

    /// No state directory, no process of the user, no mount under the bundle.
    #[track_caller]
    fn assert_nothing_left(&self, id: &str) {
        let state = self.state_root().join(id);
        assert!(!state.exists(), "state dir {} remains", state.display());
        // The init is reaped by whoever it was reparented to: give that a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_of(self.user.uid).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(
            processes_of(self.user.uid),
            Vec::<i32>::new(),
            "processes of {} remain",
            self.user.name
        );
        assert_eq!(mounts_under(self.bundle.path()), Vec::<PathBuf>::new());
    }
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// `berth run` by an unprivileged user: root in the container is the user's uid and gid (one
/// id each), the hostname is set, the exit code is the process's, and the one warning says
/// there is no cgroup.
#[test]
fn rootless_run_maps_the_callers_ids_to_root_and_returns_the_exit_code() {
    if !rootless_possible() {
        return;
    }
    let r = Rootless::new();
    r.write(&[
        "sh",
        "-c",
        "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; hostname; exit 7",
    ]);
    let id = unique_id();
    let out = r.berth(&["run", "--bundle", r.bundle.path_str(), &id]);
    assert_eq!(out.code, 7, "{out}");
    assert_eq!(
        lines(&out.stdout),
        [
            "0".to_string(),
            "0".to_string(),
            format!("0 {} 1", r.user.uid),
            format!("0 {} 1", r.user.gid),
            "deny".to_string(),
            "rootless-host".to_string(),
        ],
        "{out}"
    );
    assert_eq!(
        out.stderr.matches("rootless: no cgroup is created").count(),
        1,
        "{out}"
    );
    // The state root is $XDG_RUNTIME_DIR/berth, the user's, 0700 with the sticky bit.
    let meta = fs::metadata(r.state_root()).expect("state root exists");
    assert_eq!(meta.uid(), r.user.uid);
    assert_eq!(meta.mode() & 0o7777, 0o1700);
    r.assert_nothing_left(&id);

    r.write(&["true"]);
    let id = unique_id();
    assert_eq!(
        r.berth(&["run", "--bundle", r.bundle.path_str(), &id]).code,
        0
    );
    r.assert_nothing_left(&id);
}

/// create, state, start, exec, kill, delete as the user; the state lives under
/// $XDG_RUNTIME_DIR/berth and nothing is left after delete.
#[test]
fn rootless_lifecycle_create_start_exec_kill_delete() {
    if !rootless_possible() {
        return;
    }
    let r = Rootless::new();
    r.write(&["sleep", "1000"]);
    let id = unique_id();
    r.berth(&["create", "--bundle", r.bundle.path_str(), &id])
        .ok();
    assert!(
        r.state_root().join(&id).join("state.json").is_file(),
        "no state under {}",
        r.state_root().display()
    );
    let state = r.berth(&["state", &id]).ok().json();
    assert_eq!(state["status"], "created");
    let pid = state["pid"].as_i64().expect("pid") as u32;
    let owner = fs::metadata(format!("/proc/{pid}")).expect("init").uid();
    assert_eq!(owner, r.user.uid, "the init runs as the user on the host");

    r.berth(&["start", &id]).ok();
    assert_eq!(r.berth(&["state", &id]).ok().json()["status"], "running");
    let out = r.berth(&["exec", &id, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    assert_eq!(
        lines(&out.ok().stdout),
        ["0".to_string(), format!("0 {} 1", r.user.uid)]
    );
    // Supplementary groups cannot be set where setgroups is denied: refused by name.
    r.berth(&["exec", "--additional-gids", "5", &id, "true"])
        .fails_with("additional gids [5]: the container's user namespace denies setgroups");

    r.berth(&["kill", &id, "KILL"]).ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.berth(&["state", &id]).ok().json()["status"] != "stopped" {
        assert!(Instant::now() < deadline, "container did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    r.berth(&["delete", &id]).ok();
    r.assert_nothing_left(&id);
}

/// What an unprivileged berth cannot do is refused before anything exists, naming the field.
#[test]
fn rootless_refuses_resources_other_ids_and_groups_naming_the_field() {
    if !rootless_possible() {
        return;
    }
    let r = Rootless::new();
    let cases: Vec<(Value, String)> = vec![
        (
            json!({"linux": {"resources": {"pids": {"limit": 10}}}}),
            "config.json: linux.resources.pids: rootless: the container gets no cgroup, so its resources cannot be applied: this host's cgroups are Hybrid, and cgroup delegation needs a pure cgroup v2 host".into(),
        ),
        (
            json!({"process": {"user": {"uid": 0, "gid": 0, "additionalGids": [5]}}}),
            "config.json: process.user.additionalGids: rootless: supplementary groups cannot be set, since setgroups is denied in the container's user namespace (an unprivileged berth writes \"deny\" before gid_map, and a namespace inherits \"deny\" from berth's own; user_namespaces(7)); map more gids through newgidmap (linux.gidMappings backed by /etc/subgid) to keep setgroups allowed".into(),
        ),
        (
            json!({"process": {"user": {"uid": 1000, "gid": 0}}}),
            "config.json: process.user.uid: rootless: uid 1000 is not mapped in the container's user namespace".into(),
        ),
        (
            json!({"mounts": [{"destination": "/v", "type": "bind", "source": "/tmp", "options": ["rbind", "ridmap"]}]}),
            "config.json: mounts[].uidMappings: rootless: an id-mapped mount needs a berth privileged over the source's filesystem".into(),
        ),
    ];
    for (patch, message) in cases {
        let mut c = r.config.clone();
        c["process"]["args"] = json!(["true"]);
        merge(&mut c, &patch);
        r.bundle.write_config(&c);
        let id = unique_id();
        let out = r.berth(&["run", "--bundle", r.bundle.path_str(), &id]);
        assert_eq!(out.code, 1, "{out}");
        assert_eq!(
            out.stderr.trim(),
            format!("berth: create container {id:?}: {message}"),
            "{out}"
        );
        r.assert_nothing_left(&id);
    }
}

/// Without XDG_RUNTIME_DIR nor --root an unprivileged berth uses /run/berth, as runc uses
/// /run/runc; the permission error then says how to choose a state root.
#[test]
fn rootless_without_xdg_runtime_dir_says_how_to_choose_a_state_root() {
    if !rootless_possible() {
        return;
    }
    let r = Rootless::new();
    r.write(&["true"]);
    let id = unique_id();
    let out = r.berth_env(&[], &["run", "--bundle", r.bundle.path_str(), &id]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.trim_end().ends_with(&format!(
            "(berth runs as uid {} without XDG_RUNTIME_DIR, so its state root is /run/berth: set XDG_RUNTIME_DIR or pass --root to use a directory of your own)",
            r.user.uid
        )),
        "{out}"
    );
    assert!(out.mentions("/run/berth"), "{out}");
    assert!(!Path::new("/run/berth").join(&id).exists());
    // --root wins over the default.
    let root = r.xdg.path().join("explicit");
    let out = r.berth_env(
        &[],
        &[
            "--root",
            root.to_str().unwrap(),
            "run",
            "--bundle",
            r.bundle.path_str(),
            &id,
        ],
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(root.is_dir());
    assert!(!root.join(&id).exists());
    r.assert_nothing_left(&id);
}

/// Mountinfo lines of the container whose mount point is `point`, as (root, mount options,
/// fstype, super options).
fn mounts_at(mountinfo: &str, point: &str) -> Vec<(String, String, String, String)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let pre: Vec<&str> = pre.split_whitespace().collect();
            let post: Vec<&str> = post.split_whitespace().collect();
            (pre.get(4) == Some(&point)).then(|| {
                (
                    pre[3].to_string(),
                    pre[5].to_string(),
                    post[0].to_string(),
                    post.get(2).unwrap_or(&"").to_string(),
                )
            })
        })
        .collect()
}

/// `berth spec --rootless` as the user is `runc spec --rootless` as the user (but for
/// `ociVersion`), and that config runs as written (only the terminal off and the args set):
/// root is the user, no network namespace of its own, `/sys` the host's bound read-only,
/// devpts without `gid=5`, hostname `runc`.
#[test]
fn rootless_spec_is_runc_spec_for_the_user_and_runs_as_written() {
    if !rootless_possible() {
        return;
    }
    let r = Rootless::new();
    if Path::new("/usr/sbin/runc").exists() || Path::new("/usr/bin/runc").exists() {
        let dir = r.xdg.path().join("runc-spec");
        fs::create_dir(&dir).expect("mkdir");
        std::os::unix::fs::chown(&dir, Some(r.user.uid), Some(r.user.gid)).expect("chown");
        r.as_user(
            "runc",
            &[],
            &["spec", "--rootless", "--bundle", dir.to_str().unwrap()],
        )
        .ok();
        let mut runc: Value =
            serde_json::from_slice(&fs::read(dir.join("config.json")).expect("runc's config"))
                .expect("JSON");
        let text = fs::read(r.xdg.path().join("spec/config.json")).expect("berth's config");
        let mut berth: Value = serde_json::from_slice(&text).expect("JSON");
        runc.as_object_mut().unwrap().remove("ociVersion");
        berth.as_object_mut().unwrap().remove("ociVersion");
        assert_eq!(berth, runc, "berth spec --rootless differs from runc's");
        assert_eq!(berth["linux"]["uidMappings"][0]["hostID"], r.user.uid);
    } else {
        loud(&format!(
            "SKIP {} (part): runc not installed; berth's spec not compared with runc's",
            test_name()
        ));
    }
    let mut c = r.config.clone();
    c["hostname"] = json!("runc"); // as written (Rootless::new sets its own)
    c["process"]["args"] = json!([
        "sh",
        "-c",
        "hostname; id -u; readlink /proc/self/ns/net; cat /proc/self/mountinfo"
    ]);
    r.bundle.write_config(&c);
    let id = unique_id();
    let out = r.berth(&["run", "--bundle", r.bundle.path_str(), &id]);
    assert_eq!(out.code, 0, "{out}");
    let mut it = out.stdout.lines();
    assert_eq!(it.next(), Some("runc"), "{out}");
    assert_eq!(it.next(), Some("0"), "{out}");
    let host_net = fs::read_link("/proc/self/ns/net").expect("host netns");
    assert_eq!(
        it.next(),
        host_net.to_str(),
        "no network namespace of its own: {out}"
    );
    let mountinfo: String = it.map(|l| format!("{l}\n")).collect();
    let sys = mounts_at(&mountinfo, "/sys");
    assert_eq!(sys.len(), 1, "{mountinfo}");
    assert_eq!((sys[0].0.as_str(), sys[0].2.as_str()), ("/", "sysfs"));
    assert!(sys[0].1.split(',').any(|o| o == "ro"), "{sys:?}");
    let pts = mounts_at(&mountinfo, "/dev/pts");
    assert_eq!(pts.len(), 1, "{mountinfo}");
    assert_eq!(pts[0].2, "devpts");
    assert!(!pts[0].3.contains("gid="), "no gid=5: {pts:?}");
    r.assert_nothing_left(&id);
}

/// The mounts an unprivileged user namespace allows, observed inside: with the starter's
/// `sysfs` mount (runc's default, not the rootless one) and no network namespace of its own,
/// `/sys` is a recursive bind of the host's (its network devices are the host's); with a
/// network namespace, which the container's user namespace then owns, a new sysfs (only
/// `lo`). The default devices are bind mounts of the host's nodes, since mknod is not
/// permitted: each is a mount point of its own, the right character device, and usable.
#[test]
fn rootless_sysfs_is_bound_without_an_owned_netns_and_devices_are_host_binds() {
    if !rootless_possible() {
        return;
    }
    let r = Rootless::new();
    let mut c = r.config.clone();
    for m in c["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/sys" {
            *m = json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]});
        }
    }
    c["process"]["args"] = json!([
        "sh",
        "-c",
        "ls /sys/class/net | tr '\\n' ' '; echo; \
         for d in null zero full random urandom tty; do stat -c \"$d %F %t:%T\" /dev/$d; done; \
         echo hello > /dev/null && head -c 4 /dev/zero | od -An -tx1; \
         cat /proc/self/mountinfo"
    ]);
    let host_net: Vec<String> = {
        let mut v: Vec<String> = fs::read_dir("/sys/class/net")
            .expect("host /sys/class/net")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    for own_netns in [false, true] {
        let mut c = c.clone();
        if own_netns {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "network"}));
        }
        r.bundle.write_config(&c);
        let id = unique_id();
        let out = r.berth(&["run", "--bundle", r.bundle.path_str(), &id]);
        assert_eq!(out.code, 0, "{out}");
        let all: Vec<&str> = out.stdout.lines().collect();
        let mut net: Vec<&str> = all[0].split_whitespace().collect();
        net.sort();
        let sys = mounts_at(&out.stdout, "/sys");
        assert_eq!(sys.len(), 1, "{out}");
        assert_eq!(sys[0].2, "sysfs", "{out}");
        if own_netns {
            assert_eq!(
                net,
                ["lo"],
                "a new sysfs shows the container's netns: {out}"
            );
        } else {
            assert_eq!(net, host_net, "the host's /sys, bound: {out}");
        }
        assert_eq!(
            all[1..7],
            [
                "null character special file 1:3",
                "zero character special file 1:5",
                "full character special file 1:7",
                "random character special file 1:8",
                "urandom character special file 1:9",
                "tty character special file 5:0",
            ],
            "{out}"
        );
        assert_eq!(all[7].trim(), "00 00 00 00", "{out}");
        for d in ["null", "zero", "full", "random", "urandom", "tty"] {
            let m = mounts_at(&out.stdout, &format!("/dev/{d}"));
            assert_eq!(
                m.len(),
                1,
                "/dev/{d} is a bind mount of the host's node: {out}"
            );
            assert_eq!(
                m[0].0,
                format!("/{d}"),
                "bound from the host's /dev/{d}: {out}"
            );
        }
        r.assert_nothing_left(&id);
    }
}

/// Pids of `pid`'s children once there are `n` of them (bounded wait).
fn children_of(pid: i64, n: usize) -> Vec<i64> {
    let deadline = Instant::now() + CMD_TIMEOUT;
    loop {
        let children: Vec<i64> = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        if children.len() == n {
            return children;
        }
        assert!(
            Instant::now() < deadline,
            "{pid} has children {children:?}, expected {n}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `ps`, `exec -d`, `kill --all` and `delete` of a rootless container (no cgroup): ps lists
/// the processes of the pid namespace the init created, `kill --all TERM` reaches every one of
/// them (sh as pid 1 ignores SIGTERM unless it handles it, so the container stops only if its
/// sleeps get the signal), and nothing is left after delete. Without a pid namespace of its
/// own, ps is refused rather than partial, and `delete --force` still leaves nothing.
#[test]
fn rootless_ps_exec_kill_all_and_delete_reach_every_process_and_leave_nothing() {
    if !rootless_possible() {
        return;
    }
    let r = Rootless::new();
    r.write(&["sh", "-c", "sleep 1000 & sleep 1001 & wait"]);
    let id = unique_id();
    r.berth(&["create", "--bundle", r.bundle.path_str(), &id])
        .ok();
    let init = r.berth(&["state", &id]).ok().json()["pid"]
        .as_i64()
        .expect("pid");
    r.berth(&["start", &id]).ok();
    let sleeps = children_of(init, 2);
    let pid_file = r.xdg.path().join("exec.pid");
    r.berth(&[
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "sleep",
        "2000",
    ])
    .ok();
    let exec_pid: i64 = fs::read_to_string(&pid_file)
        .expect("exec pid file")
        .trim()
        .parse()
        .expect("a pid");
    let out = r.berth(&["ps", "--format", "json", &id]);
    let mut pids: Vec<i64> = out
        .ok()
        .json()
        .as_array()
        .expect("a JSON list")
        .iter()
        .map(|p| p.as_i64().unwrap())
        .collect();
    pids.sort_unstable();
    let mut expected = vec![init, exec_pid];
    expected.extend(&sleeps);
    expected.sort_unstable();
    assert_eq!(pids, expected, "{out}");
    let table = r.berth(&["ps", &id, "-o", "pid,args"]);
    let text = &table.ok().stdout;
    assert_eq!(text.lines().count(), 5, "header and 4 processes: {table}");
    assert!(
        text.contains("sleep 2000") && text.contains("sleep 1001"),
        "{table}"
    );

    r.berth(&["kill", "--all", &id, "TERM"]).ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.berth(&["state", &id]).ok().json()["status"] != "stopped" {
        assert!(
            Instant::now() < deadline,
            "container did not stop on kill --all TERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    r.berth(&["delete", &id]).ok();
    r.assert_nothing_left(&id);

    // The host's pid namespace: nothing but a cgroup would tell the container's processes
    // apart, so ps refuses.
    let mut c = r.config.clone();
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .retain(|n| n["type"] != "pid");
    // A new proc needs a pid namespace the user namespace owns: the host's, bound.
    for m in c["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/proc" {
            *m = json!({"destination": "/proc", "type": "bind", "source": "/proc",
                "options": ["rbind", "nosuid", "noexec", "nodev"]});
        }
    }
    c["process"]["args"] = json!(["sleep", "1000"]);
    r.bundle.write_config(&c);
    let id = unique_id();
    r.berth(&["run", "-d", "--bundle", r.bundle.path_str(), &id])
        .ok();
    let out = r.berth(&["ps", "--format", "json", &id]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(
        out.stderr.trim(),
        format!("berth: ps of container {id:?}: container {id:?} has no cgroup (created with --cgroup-manager=disabled, or rootless) and its init is not pid 1 of a live pid namespace of its own, so nothing tells its processes apart from others"),
        "{out}"
    );
    r.berth(&["delete", "--force", &id]).ok();
    r.assert_nothing_left(&id);
}

/// The first subordinate id the tests give their users (login.defs' SUB_UID_MIN is 100000;
/// ranges of different users may overlap, newuidmap checks only the caller's own lines).
const SUB_START: u32 = 300000;
const SUB_COUNT: u32 = 65536;

/// `<user>:SUB_START:SUB_COUNT` lines in /etc/subuid and /etc/subgid, added by the test and
/// removed on drop (only the lines of this user; the files are created if missing and left).
struct SubIds {
    name: String,
}

const SUB_FILES: [&str; 2] = ["/etc/subuid", "/etc/subgid"];

impl SubIds {
    fn add(user: &TestUser) -> SubIds {
        let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
        for file in SUB_FILES {
            let mut text = fs::read_to_string(file).unwrap_or_default();
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("{}:{SUB_START}:{SUB_COUNT}\n", user.name));
            fs::write(file, text).unwrap_or_else(|e| panic!("write {file}: {e}"));
        }
        SubIds {
            name: user.name.clone(),
        }
    }
}

impl Drop for SubIds {
    fn drop(&mut self) {
        let _lock = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let prefix = format!("{}:", self.name);
        for file in SUB_FILES {
            let Ok(text) = fs::read_to_string(file) else {
                continue;
            };
            let kept: String = text
                .lines()
                .filter(|l| !l.starts_with(&prefix))
                .map(|l| format!("{l}\n"))
                .collect();
            if let Err(e) = fs::write(file, kept) {
                loud(&format!("rootless tests: could not clean {file}: {e}"));
            }
        }
    }
}

/// newuidmap and newgidmap (Debian's uidmap, installed by `make deps`); prints the SKIP line
/// when they are missing.
fn id_map_helpers_installed() -> bool {
    let missing: Vec<&str> = ["/usr/bin/newuidmap", "/usr/bin/newgidmap"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    loud(&format!(
        "SKIP {}: {} not installed (apt-get install uidmap, or make deps)",
        test_name(),
        missing.join(", ")
    ));
    false
}

/// The maps of a config that maps the user to 0 and 1..=65536 to its subordinate range.
fn sub_id_maps(r: &Rootless) -> Value {
    json!({"linux": {
        "uidMappings": [
            {"containerID": 0, "hostID": r.user.uid, "size": 1},
            {"containerID": 1, "hostID": SUB_START, "size": SUB_COUNT}],
        "gidMappings": [
            {"containerID": 0, "hostID": r.user.gid, "size": 1},
            {"containerID": 1, "hostID": SUB_START, "size": SUB_COUNT}]
    }})
}

/// With /etc/subuid and /etc/subgid ranges, a config mapping 0 → the user and 1..=65536 → the
/// range is written by newuidmap/newgidmap: a file chowned to 1000 in the container belongs to
/// SUB_START + 999 on the host, setgroups stays allowed, and additional gids (config and
/// `exec --additional-gids`) are set.
#[test]
fn rootless_subordinate_ids_are_mapped_through_newuidmap_and_groups_work() {
    if !rootless_possible() || !id_map_helpers_installed() {
        return;
    }
    let r = Rootless::new();
    let _sub = SubIds::add(&r.user);
    // A directory of the user's, bound read-write into the container.
    let shared = r.xdg.path().join("shared");
    fs::create_dir(&shared).expect("mkdir shared");
    std::os::unix::fs::chown(&shared, Some(r.user.uid), Some(r.user.gid)).expect("chown");
    // The mount point: the rootfs is root's, so the user cannot create it.
    fs::create_dir(r.bundle.rootfs().join("shared")).expect("mkdir rootfs/shared");
    let mut c = r.config.clone();
    merge(&mut c, &sub_id_maps(&r));
    c["process"]["user"] = json!({"uid": 0, "gid": 0, "additionalGids": [5, 1000]});
    // chown needs CAP_CHOWN (in the container's user namespace), which the starter lacks.
    for set in ["bounding", "effective", "permitted"] {
        c["process"]["capabilities"][set] = json!(["CAP_CHOWN"]);
    }
    c["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/shared", "type": "none", "source": shared,
        "options": ["rbind", "rw"]}));
    c["process"]["args"] = json!([
        "sh",
        "-c",
        "id -G; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; \
         touch /shared/f && chown 1000:1000 /shared/f && stat -c '%u %g' /shared/f"
    ]);
    r.bundle.write_config(&c);
    let id = unique_id();
    let out = r.berth(&["run", "--bundle", r.bundle.path_str(), &id]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        lines(&out.stdout),
        [
            "0 5 1000".to_string(),
            format!("0 {} 1", r.user.uid),
            format!("1 {SUB_START} {SUB_COUNT}"),
            format!("0 {} 1", r.user.gid),
            format!("1 {SUB_START} {SUB_COUNT}"),
            "allow".to_string(),
            "1000 1000".to_string(),
        ],
        "{out}"
    );
    let meta = fs::metadata(shared.join("f")).expect("the file chowned in the container");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (SUB_START + 999, SUB_START + 999),
        "container id 1000 is the range's 1000th id on the host"
    );
    r.assert_nothing_left(&id);

    // exec --additional-gids: setgroups is allowed, so the gids are set.
    c["process"]["args"] = json!(["sleep", "1000"]);
    r.bundle.write_config(&c);
    let id = unique_id();
    r.berth(&["create", "--bundle", r.bundle.path_str(), &id])
        .ok();
    r.berth(&["start", &id]).ok();
    let out = r.berth(&[
        "exec",
        "--additional-gids",
        "7",
        "--user",
        "1000:1000",
        &id,
        "grep",
        "-E",
        "^(Uid|Gid|Groups):",
        "/proc/self/status",
    ]);
    assert_eq!(
        lines(&out.ok().stdout),
        [
            "Uid: 1000 1000 1000 1000",
            "Gid: 1000 1000 1000 1000",
            "Groups: 7"
        ],
        "{out}"
    );
    r.berth(&["kill", &id, "KILL"]).ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    while r.berth(&["state", &id]).ok().json()["status"] != "stopped" {
        assert!(Instant::now() < deadline, "container did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    r.berth(&["delete", &id]).ok();
    r.assert_nothing_left(&id);
}

/// More than the caller's own ids: newuidmap's refusal (no /etc/subuid range for the user) is
/// reported with its own words, and a PATH without newuidmap is refused before anything is
/// created, naming it; nothing is left either way.
#[test]
fn rootless_newuidmap_missing_or_refusing_is_reported_by_name() {
    if !rootless_possible() || !id_map_helpers_installed() {
        return;
    }
    let r = Rootless::new();
    let mut c = r.config.clone();
    merge(&mut c, &sub_id_maps(&r));
    c["process"]["args"] = json!(["true"]);
    r.bundle.write_config(&c);

    let id = unique_id();
    let out = r.berth(&["run", "--bundle", r.bundle.path_str(), &id]);
    assert_eq!(out.code, 1, "{out}");
    // The last line: the one warning (no cgroup) comes first.
    let stderr = out.stderr.trim().lines().last().unwrap_or("");
    let prefix = format!("berth: create container {id:?}: /usr/bin/newuidmap ");
    let args = format!(
        " 0 {} 1 1 {SUB_START} {SUB_COUNT} (writing the container's id map) failed with exit status 1: newuidmap: uid range [1-{}) -> [{SUB_START}-{}) not allowed",
        r.user.uid,
        1 + SUB_COUNT,
        SUB_START + SUB_COUNT
    );
    assert!(
        stderr.starts_with(&prefix) && stderr.ends_with(&args),
        "{out}"
    );
    r.assert_nothing_left(&id);

    let id = unique_id();
    let out = r.berth_env(
        &[
            ("XDG_RUNTIME_DIR", r.xdg.path().to_str().unwrap()),
            ("PATH", "/nonexistent"),
        ],
        &["run", "--bundle", r.bundle.path_str(), &id],
    );
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(
        out.stderr.trim(),
        format!("berth: create container {id:?}: config.json: linux.uidMappings: rootless: berth runs as uid {} and maps other ids than that one, which needs newuidmap (package uidmap): newuidmap is not in PATH", r.user.uid),
        "{out}"
    );
    r.assert_nothing_left(&id);
}

/// `--rootless auto` as root in a user namespace other than the host's (the user's
/// `unshare --user --map-root-user`, setgroups "deny"): rootless, so the state is under
/// XDG_RUNTIME_DIR, there is no cgroup (one warning), bind sources are cloned by path, and
/// the container's user namespace inherits "deny"; its maps are relative to berth's namespace.
#[test]
fn rootless_auto_as_root_in_a_user_namespace() {
    if !rootless_possible() {
        return;
    }
    let r = Rootless::new();
    let xdg = r.xdg.path().to_str().unwrap();
    let env = [("XDG_RUNTIME_DIR", xdg), ("USER", r.user.name.as_str())];
    let berth = runtime_bin();
    let in_userns = |args: &[&str]| -> Output {
        let mut argv = vec!["--user", "--map-root-user", berth.to_str().unwrap()];
        argv.extend_from_slice(args);
        r.as_user("unshare", &env, &argv)
    };
    let spec_dir = r.xdg.path().join("userns-spec");
    fs::create_dir(&spec_dir).expect("mkdir");
    std::os::unix::fs::chown(&spec_dir, Some(r.user.uid), Some(r.user.gid)).expect("chown");
    in_userns(&["spec", "--rootless", "--bundle", spec_dir.to_str().unwrap()]).ok();
    let mut c: Value =
        serde_json::from_slice(&fs::read(spec_dir.join("config.json")).expect("config"))
            .expect("JSON");
    assert_eq!(
        c["linux"]["uidMappings"][0]["hostID"], 0,
        "berth's euid there"
    );
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!([
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map /proc/self/setgroups"
    ]);
    r.bundle.write_config(&c);
    let id = unique_id();
    let out = in_userns(&["run", "--bundle", r.bundle.path_str(), &id]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(lines(&out.stdout), ["0", "0 0 1", "deny"], "{out}");
    assert_eq!(
        out.stderr.matches("rootless: no cgroup is created").count(),
        1,
        "{out}"
    );
    let meta = fs::metadata(r.state_root()).expect("the state root is under XDG_RUNTIME_DIR");
    assert_eq!(meta.uid(), r.user.uid);
    r.assert_nothing_left(&id);
}

/// Rootless podman (Debian's podman 4.3, vfs storage, no network) as the user, with berth as
/// its OCI runtime: podman runs berth as root in the user namespace it made with
/// newuidmap/newgidmap, which berth's `--rootless auto` takes as rootless. `run` (the
/// process's ids and maps), `run -d`, `exec`, `logs`, `stop` (the process's TERM handler
/// runs: it logs `bye` and exits 0) and `rm`; then nothing of berth's is left: no state, and
/// no process of the user but podman's own pause process (which holds podman's user namespace
/// and is killed with the user).
#[test]
fn rootless_podman_runs_execs_logs_and_stops_with_berth() {
    if !rootless_possible() || !id_map_helpers_installed() {
        return;
    }
    if !Path::new("/usr/bin/podman").exists() {
        loud(&format!(
            "SKIP {}: podman not installed (apt-get install podman)",
            test_name()
        ));
        return;
    }
    let r = Rootless::new();
    let _sub = SubIds::add(&r.user);
    let xdg = r.xdg.path().to_str().unwrap().to_string();
    let home = r.xdg.path().join("home");
    fs::create_dir(&home).expect("mkdir home");
    std::os::unix::fs::chown(&home, Some(r.user.uid), Some(r.user.gid)).expect("chown home");
    // The image: the bundle's busybox rootfs as a tarball the user can read.
    let tar = r.xdg.path().join("rootfs.tar");
    run_command(
        "tar",
        &[
            "-C".into(),
            r.bundle.rootfs().to_str().unwrap().into(),
            "-cf".into(),
            tar.to_str().unwrap().into(),
            ".".into(),
        ],
        CMD_TIMEOUT,
    )
    .ok();
    std::os::unix::fs::chown(&tar, Some(r.user.uid), Some(r.user.gid)).expect("chown tar");
    let storage = format!("{xdg}/storage");
    let runroot = format!("{xdg}/runroot");
    let env = [
        ("XDG_RUNTIME_DIR", xdg.as_str()),
        ("HOME", home.to_str().unwrap()),
        ("USER", r.user.name.as_str()),
    ];
    let berth = runtime_bin();
    let podman = |args: &[&str]| -> Output {
        let mut argv = vec![
            "--root",
            &storage,
            "--runroot",
            &runroot,
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--runtime",
            berth.to_str().unwrap(),
        ];
        argv.extend_from_slice(args);
        r.as_user("podman", &env, &argv)
    };
    const IMAGE: &str = "localhost/berth-busybox:latest";
    podman(&["import", tar.to_str().unwrap(), IMAGE]).ok();

    let out = podman(&[
        "run",
        "--rm",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "id -u; id -g; cat /proc/self/uid_map",
    ]);
    let got = lines(&out.ok().stdout);
    assert_eq!(got[..2], ["0", "0"], "{out}");
    assert!(got.contains(&format!("0 {} 1", r.user.uid)), "{out}");
    assert!(
        got.iter()
            .any(|l| l.ends_with(&format!(" {SUB_START} {SUB_COUNT}"))),
        "the user's /etc/subuid range is mapped: {out}"
    );

    podman(&[
        "run",
        "-d",
        "--name",
        "c",
        "--network",
        "none",
        IMAGE,
        "sh",
        "-c",
        "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done",
    ])
    .ok();
    let out = podman(&["exec", "c", "sh", "-c", "echo in-exec; id -u"]);
    assert_eq!(lines(&out.ok().stdout), ["in-exec", "0"], "{out}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !podman(&["logs", "c"]).ok().stdout.contains("started") {
        assert!(Instant::now() < deadline, "no `started` in podman logs");
        std::thread::sleep(Duration::from_millis(50));
    }
    podman(&["stop", "-t", "20", "c"]).ok();
    let logs = podman(&["logs", "c"]);
    assert!(
        logs.ok().stdout.lines().any(|l| l == "bye"),
        "the TERM handler ran: {logs}"
    );
    let code = podman(&["inspect", "--format", "{{.State.ExitCode}}", "c"]);
    assert_eq!(code.ok().stdout.trim(), "0", "{code}");
    podman(&["rm", "c"]).ok();

    let left: Vec<_> = fs::read_dir(r.state_root())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(left, Vec::<std::ffi::OsString>::new(), "berth state left");
    let others: Vec<(i32, String)> = processes_of(r.user.uid)
        .into_iter()
        .map(|pid| {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (pid, comm.trim().to_string())
        })
        .filter(|(_, comm)| comm != "podman pause")
        .collect();
    assert_eq!(
        others,
        Vec::new(),
        "processes of the user besides podman's pause process"
    );
}

/// Merge `patch` into `doc` (objects recursively, everything else replaced).
fn merge(doc: &mut Value, patch: &Value) {
    match (doc, patch) {
        (Value::Object(d), Value::Object(p)) => {
            for (k, v) in p {
                merge(d.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (d, p) => *d = p.clone(),
    }
}
