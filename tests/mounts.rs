//! Mounts and the root filesystem (config.md "Root", "Mounts"; config-linux.md "Masked Paths",
//! "Readonly Paths", "Rootfs Mount Propagation"; runc's `--no-pivot`), observed through the
//! probe's parsed /proc/self/mountinfo and its `--write` / `--open` checks.

mod common;
use common::*;
use serde_json::{json, Value};

fn mount_of<'a>(r: &'a Value, mp: &str) -> &'a Value {
    find_mount(r, mp).unwrap_or_else(|| {
        let all: Vec<&Value> = r["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| &m["mount_point"])
            .collect();
        panic!("no mount at {mp}; mounts: {all:?}")
    })
}

#[test]
fn tmpfs_mount_with_options() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.mount(
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "noexec", "mode=1700", "size=1m"]}),
    );
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &["--write", "/data/f"]);
    let m = mount_of(&r, "/data");
    assert_eq!(m["fstype"], "tmpfs");
    for o in ["nosuid", "nodev", "noexec", "rw"] {
        assert!(has(&m["options"], o), "{o} missing: {m}");
    }
    assert!(has(&m["super_options"], "mode=1700"), "{m}");
    assert!(has(&m["super_options"], "size=1024k"), "{m}");
    assert_eq!(r["write"]["/data/f"]["ok"], true, "{}", r["write"]);
}

#[test]
fn readonly_bind_mount() {
    if !require_root() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("file"), "hello").unwrap();
    let mut b = Bundle::new();
    b.mount(json!({"destination": "/ro", "type": "bind",
        "source": src.path().to_str().unwrap(), "options": ["bind", "ro"]}));
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &["--open", "/ro/file", "--write", "/ro/new"]);
    let m = mount_of(&r, "/ro");
    assert!(has(&m["options"], "ro"), "{m}");
    assert_eq!(r["open"]["/ro/file"]["ok"], true);
    assert_eq!(r["write"]["/ro/new"]["error"], "EROFS");
    assert!(!src.path().join("new").exists());
}

#[test]
fn bind_mount_is_writable_and_shared_with_host_dir() {
    if !require_root() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let mut b = Bundle::new();
    b.mount(json!({"destination": "/rw", "type": "bind",
        "source": src.path().to_str().unwrap(), "options": ["bind"]}));
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &["--write", "/rw/new"]);
    assert_eq!(r["write"]["/rw/new"]["ok"], true, "{}", r["write"]);
    assert!(src.path().join("new").exists());
}

#[test]
fn rbind_with_rro_makes_submounts_readonly() {
    if !require_root() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let s = src.path().to_str().unwrap().to_string();
    std::fs::create_dir(src.path().join("sub")).unwrap();
    let mut b = Bundle::new();
    b.mount(json!({"destination": "/rb", "type": "bind", "source": s,
        "options": ["rbind", "rro"]}));
    let rt = Runtime::new();
    let id = unique_id();
    let mut cfg = b.config().clone();
    cfg["process"]["args"] = json!([
        "/bin/berth-probe",
        "--write",
        "/rb/x",
        "--write",
        "/rb/sub/x"
    ]);
    b.write_config(&cfg);
    // The submount exists only in a private mount namespace around the runtime.
    let out = rt.cmd_in_mntns(
        &format!("mount -t tmpfs sub {s}/sub"),
        &["run", "--bundle", b.path_str(), &id],
    );
    out.ok();
    let r = out.json();
    let sub = mount_of(&r, "/rb/sub");
    assert_eq!(
        sub["fstype"], "tmpfs",
        "rbind must carry the submount: {sub}"
    );
    assert!(
        has(&sub["options"], "ro"),
        "rro must reach submounts: {sub}"
    );
    assert!(has(&mount_of(&r, "/rb")["options"], "ro"));
    assert_eq!(r["write"]["/rb/x"]["error"], "EROFS");
    assert_eq!(r["write"]["/rb/sub/x"]["error"], "EROFS");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn default_special_mounts() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    assert_eq!(mount_of(&r, "/proc")["fstype"], "proc");
    let sys = mount_of(&r, "/sys");
    assert_eq!(sys["fstype"], "sysfs");
    assert!(has(&sys["options"], "ro"), "{sys}");
    assert_eq!(mount_of(&r, "/dev")["fstype"], "tmpfs");
    assert_eq!(mount_of(&r, "/dev/mqueue")["fstype"], "mqueue");
    assert_eq!(mount_of(&r, "/dev/shm")["fstype"], "tmpfs");
    let pts = mount_of(&r, "/dev/pts");
    assert_eq!(pts["fstype"], "devpts");
    for o in ["ptmxmode=666", "mode=620", "gid=5"] {
        assert!(has(&pts["super_options"], o), "{o}: {pts}");
    }
    // cgroup: v1 (tmpfs + one cgroup mount per controller) or v2 (one cgroup2 mount),
    // read-only either way.
    let cg: Vec<&Value> = r["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["mount_point"]
                .as_str()
                .is_some_and(|p| p.starts_with("/sys/fs/cgroup"))
                && (m["fstype"] == "cgroup" || m["fstype"] == "cgroup2")
        })
        .collect();
    assert!(!cg.is_empty(), "no cgroup mount under /sys/fs/cgroup");
    for m in cg {
        assert!(has(&m["options"], "ro"), "{m}");
    }
}

#[test]
fn mount_destination_symlink_stays_inside_rootfs() {
    if !require_root() {
        return;
    }
    let b0 = Bundle::new();
    let escape = format!("berth-escape-{}", unique_id());
    // A symlink in the rootfs pointing far above it: it must resolve inside the rootfs
    // (CVE-2021-30465 class), never on the host.
    std::os::unix::fs::symlink(
        format!("../../../../../../../../tmp/{escape}"),
        b0.rootfs().join("evil"),
    )
    .unwrap();
    let mut b = b0;
    b.mount(json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs"}));
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    let host_path = std::path::Path::new("/tmp").join(&escape);
    assert!(
        !host_path.exists(),
        "mount escaped to the host: {}",
        host_path.display()
    );
    let inside = format!("/tmp/{escape}");
    assert_eq!(mount_of(&r, &inside)["fstype"], "tmpfs");
}

#[test]
fn root_readonly() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &["--write", "/newfile"]);
    assert_eq!(r["write"]["/newfile"]["error"], "EROFS");
    assert!(has(&mount_of(&r, "/")["options"], "ro"));
    assert!(!b.rootfs().join("newfile").exists());
}

#[test]
fn root_writable_when_not_readonly() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["root"]["readonly"] = json!(false);
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &["--write", "/newfile"]);
    assert_eq!(r["write"]["/newfile"]["ok"], true, "{}", r["write"]);
    assert!(b.rootfs().join("newfile").exists());
}

#[test]
fn masked_paths_hide_files_and_directories() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    std::fs::create_dir(b.rootfs().join("secretdir")).unwrap();
    std::fs::write(b.rootfs().join("secretdir/key"), "x").unwrap();
    std::fs::write(b.rootfs().join("secretfile"), "x").unwrap();
    let masked = b.config_mut()["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap();
    masked.push(json!("/secretdir"));
    masked.push(json!("/secretfile"));
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &["--open", "/secretdir/key", "--open", "/secretfile"]);
    assert_eq!(r["open"]["/secretdir/key"]["error"], "ENOENT");
    // A masked file is /dev/null bound over it: opening works, content is gone.
    assert!(find_mount(&r, "/secretfile").is_some(), "file not masked");
    // (/proc/kcore does not exist on this kernel; masking skips missing paths.)
    assert!(
        find_mount(&r, "/proc/keys").is_some(),
        "/proc/keys not masked"
    );
    assert!(
        find_mount(&r, "/sys/firmware").is_some(),
        "/sys/firmware not masked"
    );
}

#[test]
fn readonly_paths() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["root"]["readonly"] = json!(false);
    std::fs::create_dir(b.rootfs().join("rodir")).unwrap();
    b.config_mut()["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/rodir"));
    let rt = Runtime::new();
    let r = rt.run_probe(
        &b,
        &[
            "--write",
            "/rodir/x",
            "--write",
            "/rwfile",
            "--write",
            "/proc/sys/kernel/domainname",
        ],
    );
    assert_eq!(r["write"]["/rodir/x"]["error"], "EROFS");
    assert_eq!(r["write"]["/rwfile"]["ok"], true);
    assert_eq!(r["write"]["/proc/sys/kernel/domainname"]["error"], "EROFS");
    assert!(has(&mount_of(&r, "/rodir")["options"], "ro"));
}

fn root_propagation(prop: &str) -> String {
    let mut b = Bundle::new();
    b.config_mut()["linux"]["rootfsPropagation"] = json!(prop);
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    mount_of(&r, "/")["propagation"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn rootfs_propagation_private() {
    if !require_root() {
        return;
    }
    assert_eq!(root_propagation("private"), "private");
}

// runc 1.1.5 applies rootfsPropagation to the mount tree before binding the rootfs, whose
// parent it then makes private, so "/" always ends up private (checked: plain directory and
// rootfs-as-mount-point alike). The spec says the value is the rootfs's propagation.
const RUNC_PROPAGATION_GAP: &str =
    "runc 1.1.5 leaves \"/\" private whatever rootfsPropagation says";

/// `/`'s propagation inside the container when the bundle sits on a shared mount (a slave
/// needs a master: on this host nothing is shared, so the bundle is bind-mounted shared in a
/// private mount namespace of the test).
fn root_propagation_on_shared_host(prop: &str) -> String {
    let mut b = Bundle::new();
    b.config_mut()["linux"]["rootfsPropagation"] = json!(prop);
    b.config_mut()["process"]["args"] = json!(["/bin/berth-probe"]);
    b.write();
    let rt = Runtime::new();
    let id = unique_id();
    let bundle = b.path_str();
    let out = rt.cmd_in_mntns(
        &format!("mount --bind {bundle} {bundle}; mount --make-shared {bundle}"),
        &["run", "--bundle", bundle, &id],
    );
    rt.assert_nothing_left(&id, &b);
    assert!(out.success(), "{out}");
    mount_of(&out.json(), "/")["propagation"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn rootfs_propagation_slave() {
    if !require_root() || runc_gap(RUNC_PROPAGATION_GAP) {
        return;
    }
    assert_eq!(root_propagation_on_shared_host("slave"), "slave");
}

#[test]
fn rootfs_propagation_shared() {
    if !require_root() || runc_gap(RUNC_PROPAGATION_GAP) {
        return;
    }
    assert_eq!(root_propagation("shared"), "shared");
}

#[test]
fn no_pivot_run_works() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run_args(&b, &id, &["/bin/berth-probe"], &["--no-pivot"]);
    out.ok();
    let r = out.json();
    assert_eq!(r["pid"], 1);
    assert_eq!(r["hostname"], "berth");
    // The host's root is not reachable: only the container's mounts are listed under /.
    assert!(find_mount(&r, "/proc").is_some());
    assert_eq!(r["open"], json!({}));
    rt.assert_nothing_left(&id, &b);
}
