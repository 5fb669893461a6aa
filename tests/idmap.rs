//! Id-mapped binds (config.md "Mounts": `uidMappings`, `gidMappings`, options `idmap` and
//! `ridmap`), `tmpcopyup` on tmpfs, and a Kubernetes `hostUsers: false` pod shaped as
//! containerd 2.x writes it (issue #14 items 2 and 3). What is asserted is what the process
//! in the container sees (the probe's `--stat` and `--write`) and what reaches the host.

mod common;
use common::*;
use serde_json::{json, Value};
use std::os::unix::fs::{chown, MetadataExt};

fn map(c: u32, h: u32, s: u32) -> Value {
    json!([{"containerID": c, "hostID": h, "size": s}])
}

fn stat<'a>(r: &'a Value, path: &str) -> &'a Value {
    let s = &r["stat"][path];
    assert_eq!(s["ok"], true, "stat {path}: {s}");
    s
}

fn owner(r: &Value, path: &str) -> (u64, u64) {
    let s = stat(r, path);
    (s["uid"].as_u64().unwrap(), s["gid"].as_u64().unwrap())
}

/// A file owned by host uid 1000 / gid 1000 on the source, seen through a bind whose mapping
/// takes 1000 to 2000 (uid) and 3000 (gid), shows as 2000:3000 in the container; a file of an
/// id the mapping does not cover shows as the overflow id, and a write by one (the
/// container's root) is refused by the kernel without reaching the host.
#[test]
fn idmapped_bind_shows_the_mapped_owner() {
    if !require_root() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("mapped"), "x").unwrap();
    std::fs::write(src.path().join("unmapped"), "y").unwrap();
    chown(src.path().join("mapped"), Some(1000), Some(1000)).unwrap();
    chown(src.path().join("unmapped"), Some(1001), Some(1001)).unwrap();
    let mut b = Bundle::new();
    b.mount(json!({"destination": "/v", "type": "bind", "source": src.path(),
        "options": ["rbind"], "uidMappings": map(1000, 2000, 1), "gidMappings": map(1000, 3000, 1)}));
    let rt = Runtime::new();
    let r = rt.run_probe(
        &b,
        &[
            "--stat",
            "/v/mapped",
            "--stat",
            "/v/unmapped",
            "--write",
            "/v/new",
        ],
    );
    assert_eq!(owner(&r, "/v/mapped"), (2000, 3000));
    assert_eq!(owner(&r, "/v/unmapped"), (65534, 65534));
    // EOVERFLOW: uid 0 has no id on the source through this mapping.
    assert_eq!(
        r["write"]["/v/new"]["errno"],
        libc::EOVERFLOW,
        "{}",
        r["write"]
    );
    assert!(!src.path().join("new").exists());
    // The host's view is unchanged: the mapping is the mount's, not the files'.
    assert_eq!(
        std::fs::metadata(src.path().join("mapped")).unwrap().uid(),
        1000
    );
    // The same source bound plainly beside it keeps the on-disk owners.
    let mut plain = Bundle::new();
    plain.mount(
        json!({"destination": "/v", "type": "bind", "source": src.path(),
        "options": ["rbind"]}),
    );
    let r = rt.run_probe(&plain, &["--stat", "/v/mapped"]);
    assert_eq!(owner(&r, "/v/mapped"), (1000, 1000));
}

/// `idmap` maps the bound mount only, `ridmap` every mount below it too (runtime-spec
/// config.md; runc's semantics): a tmpfs submount of the source keeps its on-disk owners
/// through `idmap` and shows the mapped ones through `ridmap`.
#[test]
fn ridmap_maps_submounts_and_idmap_does_not() {
    if !require_root() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let s = src.path().to_str().unwrap().to_string();
    std::fs::create_dir(src.path().join("sub")).unwrap();
    std::fs::write(src.path().join("top"), "x").unwrap();
    chown(src.path().join("top"), Some(1000), Some(1000)).unwrap();
    let rt = Runtime::new();
    for (option, sub_owner) in [("idmap", (1000, 1000)), ("ridmap", (2000, 2000))] {
        let mut b = Bundle::new();
        b.mount(json!({"destination": "/v", "type": "bind", "source": s,
            "options": ["rbind", option],
            "uidMappings": map(1000, 2000, 1), "gidMappings": map(1000, 2000, 1)}));
        let id = unique_id();
        let mut cfg = b.config().clone();
        cfg["process"]["args"] =
            json!(["/bin/berth-probe", "--stat", "/v/top", "--stat", "/v/sub/f"]);
        b.write_config(&cfg);
        // The submount exists only in a private mount namespace around the runtime.
        let out = rt.cmd_in_mntns(
            &format!("mount -t tmpfs sub {s}/sub; touch {s}/sub/f; chown 1000:1000 {s}/sub/f"),
            &["run", "--bundle", b.path_str(), &id],
        );
        out.ok();
        let r = out.json();
        assert_eq!(owner(&r, "/v/top"), (2000, 2000), "{option}");
        assert_eq!(owner(&r, "/v/sub/f"), sub_owner, "{option}");
        rt.assert_nothing_left(&id, &b);
    }
}

/// `ridmap` without mappings on the mount takes the container's user namespace maps: a file
/// owned by the host's root on the source is the container's root inside, as for a rootfs
/// made for the namespace.
#[test]
fn idmap_without_mappings_takes_the_containers() {
    if !require_root() {
        return;
    }
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("f"), "x").unwrap();
    let mut b = Bundle::new();
    b.namespace("user", None);
    b.config_mut()["linux"]["uidMappings"] = map(0, 100000, 65536);
    b.config_mut()["linux"]["gidMappings"] = map(0, 100000, 65536);
    b.mount(
        json!({"destination": "/home", "type": "bind", "source": src.path(),
        "options": ["rbind", "ridmap"]}),
    );
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &["--stat", "/home/f", "--stat", "/bin/busybox"]);
    assert_eq!(owner(&r, "/home/f"), (0, 0));
    // The rootfs, not id-mapped, is the host's root's: unmapped in the namespace.
    assert_eq!(owner(&r, "/bin/busybox"), (65534, 65534));
}

/// Bad id maps and id-mapped non-binds are refused by `create` before anything exists.
#[test]
fn bad_idmapped_mounts_are_refused_before_anything_is_created() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let cases = [
        (
            json!({"destination": "/v", "type": "bind", "source": "/tmp", "options": ["rbind"],
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10},
                                {"containerID": 5, "hostID": 5000, "size": 10}],
                "gidMappings": map(0, 1000, 10)}),
            "id-mapped mount on /v: mount uidMappings: range 5:5000:10 overlaps 0:1000:10",
        ),
        (
            json!({"destination": "/v", "type": "tmpfs", "source": "tmpfs", "options": ["ridmap"],
                "uidMappings": map(0, 1000, 10), "gidMappings": map(0, 1000, 10)}),
            "id-mapped mount on /v: only bind mounts can be id-mapped",
        ),
        (
            json!({"destination": "/v", "type": "bind", "source": "/tmp", "options": ["rbind", "idmap"]}),
            "id-mapped mount on /v: idmap/ridmap without uidMappings and gidMappings on the mount take the container's linux.uidMappings and gidMappings, and it has none",
        ),
    ];
    for (mount, message) in cases {
        let mut b = Bundle::new();
        b.mount(mount);
        let id = unique_id();
        rt.create(&b, &id).fails_with(message);
        rt.assert_nothing_left(&id, &b);
    }
}

/// A source on a filesystem the kernel cannot id-map (sysfs has no FS_ALLOW_IDMAP) is
/// refused naming the mount and the syscall, and the half-made container is removed.
#[test]
fn idmap_on_a_filesystem_without_idmap_support_is_refused_naming_the_syscall() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.mount(
        json!({"destination": "/v", "type": "bind", "source": "/sys/kernel",
        "options": ["rbind"], "uidMappings": map(0, 1000, 10), "gidMappings": map(0, 1000, 10)}),
    );
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).fails_with(&format!(
        "berth: create container {id:?}: open the bind mount sources on the host: mount_setattr(MOUNT_ATTR_IDMAP) on the bind of /sys/kernel for /v (the kernel or the source's filesystem does not support id-mapped mounts): EINVAL: Invalid argument",
    ));
    rt.assert_nothing_left(&id, &b);
}

/// `tmpcopyup`: a tmpfs over the image's /etc starts with a copy of it (contents, owners,
/// modes, symlinks, fifos), and writes into it stay in the tmpfs.
#[test]
fn tmpcopyup_keeps_the_images_files_and_writes_stay_off_the_image() {
    if !require_root() {
        return;
    }
    let b = {
        let mut b = Bundle::new();
        b.mount(
            json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
            "options": ["nosuid", "nodev", "tmpcopyup", "size=1m"]}),
        );
        b
    };
    let etc = b.rootfs().join("etc");
    std::fs::create_dir(etc.join("conf.d")).unwrap();
    std::fs::write(etc.join("conf.d/app.conf"), "key=value\n").unwrap();
    chown(etc.join("conf.d/app.conf"), Some(1000), Some(1001)).unwrap();
    std::fs::set_permissions(
        etc.join("conf.d/app.conf"),
        std::os::unix::fs::PermissionsExt::from_mode(0o604),
    )
    .unwrap();
    std::os::unix::fs::symlink("/proc/self/mounts", etc.join("mtab")).unwrap();
    nix::unistd::mkfifo(
        &etc.join("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o620),
    )
    .unwrap();
    // chmod, as mkfifo's mode passes through the umask.
    std::fs::set_permissions(
        etc.join("fifo"),
        std::os::unix::fs::PermissionsExt::from_mode(0o620),
    )
    .unwrap();
    let passwd_before = std::fs::read(etc.join("passwd")).unwrap();
    let rt = Runtime::new();
    let r = rt.run_probe(
        &b,
        &[
            "--stat",
            "/etc/passwd",
            "--stat",
            "/etc/conf.d/app.conf",
            "--stat",
            "/etc/mtab",
            "--stat",
            "/etc/fifo",
            "--open",
            "/etc/conf.d/app.conf",
            "--write",
            "/etc/passwd",
            "--write",
            "/etc/new",
        ],
    );
    let m = find_mount(&r, "/etc").expect("a mount on /etc");
    assert_eq!(m["fstype"], "tmpfs", "{m}");
    assert_eq!(stat(&r, "/etc/passwd")["type"], "file");
    let conf = stat(&r, "/etc/conf.d/app.conf");
    assert_eq!(
        (conf["uid"].as_u64(), conf["gid"].as_u64()),
        (Some(1000), Some(1001))
    );
    assert_eq!(conf["mode"], "604");
    assert_eq!(conf["size"], 10);
    assert_eq!(r["open"]["/etc/conf.d/app.conf"]["ok"], true);
    let mtab = stat(&r, "/etc/mtab");
    assert_eq!(
        (&mtab["type"], &mtab["target"]),
        (&json!("symlink"), &json!("/proc/self/mounts"))
    );
    let fifo = stat(&r, "/etc/fifo");
    assert_eq!(
        (&fifo["type"], &fifo["mode"]),
        (&json!("fifo"), &json!("620"))
    );
    assert_eq!(r["write"]["/etc/passwd"]["ok"], true, "{}", r["write"]);
    assert_eq!(r["write"]["/etc/new"]["ok"], true, "{}", r["write"]);
    // Nothing reached the image.
    assert!(!etc.join("new").exists());
    assert_eq!(std::fs::read(etc.join("passwd")).unwrap(), passwd_before);
}

/// A Kubernetes `hostUsers: false` pod as containerd 2.x shapes it: the sandbox (pause)
/// container gets new user, pid, ipc, uts, net and mount namespaces with the pod's maps
/// 0:<base>:65536; an app container joins the sandbox's user, ipc, uts and net namespaces by
/// /proc/<pid>/ns path, repeats the same maps, sets the pod's hostname, a domainname and a
/// namespaced sysctl (allowed: the joined uts and net namespaces are not berth's own), and binds a volume id-mapped with the pod's maps. The volume's files, owned by the
/// host's root, are the app's root inside; what the app writes there is the host's root's on
/// the host (not the unprivileged <base>), which is what makes volumes shareable.
#[test]
fn kubernetes_user_namespaced_pod_runs_with_an_idmapped_volume() {
    if !require_root() {
        return;
    }
    const BASE: u32 = 458752; // kubelet allocates multiples of 65536
    let rt = Runtime::new();
    let mut sandbox = Bundle::new();
    sandbox.namespace("user", None);
    sandbox.namespace("cgroup", None);
    sandbox.config_mut()["linux"]["uidMappings"] = map(0, BASE, 65536);
    sandbox.config_mut()["linux"]["gidMappings"] = map(0, BASE, 65536);
    sandbox.config_mut()["hostname"] = json!("pod-a");
    sandbox.config_mut()["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "0"});
    sandbox.args(&["sleep", "1000"]);
    let sandbox_id = unique_id();
    rt.create(&sandbox, &sandbox_id).ok();
    rt.cmd(&["start", &sandbox_id]).ok();
    let pid = rt.state(&sandbox_id)["pid"].as_i64().unwrap();

    let volume = tempfile::tempdir().unwrap();
    std::fs::write(volume.path().join("data"), "from the host\n").unwrap();
    let mut app = Bundle::new();
    std::fs::create_dir(app.rootfs().join("volume")).unwrap();
    for ns in ["user", "ipc", "uts", "network"] {
        let file = if ns == "network" { "net" } else { ns };
        app.namespace(ns, Some(&format!("/proc/{pid}/ns/{file}")));
    }
    app.namespace("cgroup", None);
    app.config_mut()["linux"]["uidMappings"] = map(0, BASE, 65536);
    app.config_mut()["linux"]["gidMappings"] = map(0, BASE, 65536);
    app.config_mut()["hostname"] = json!("pod-a");
    app.config_mut()["domainname"] = json!("cluster.local");
    app.config_mut()["linux"]["sysctl"] = json!({"net.ipv4.ip_unprivileged_port_start": "0"});
    app.mount(
        json!({"destination": "/volume", "type": "bind", "source": volume.path(),
        "options": ["rbind", "rprivate", "rw"],
        "uidMappings": map(0, BASE, 65536), "gidMappings": map(0, BASE, 65536)}),
    );
    let r = rt.run_probe(
        &app,
        &[
            "--stat",
            "/volume/data",
            "--write",
            "/volume/written",
            "--stat",
            "/volume/written",
            "--sysctl",
            "net.ipv4.ip_unprivileged_port_start",
        ],
    );
    assert_eq!(r["ids"]["uid"], 0, "{}", r["ids"]);
    assert_eq!(r["hostname"], "pod-a");
    assert_eq!(r["domainname"], "cluster.local");
    assert_eq!(
        r["namespaces"]["user"].as_u64(),
        Some(ns_inode(&pid.to_string(), "user"))
    );
    assert_eq!(
        r["namespaces"]["net"].as_u64(),
        Some(ns_inode(&pid.to_string(), "net"))
    );
    assert_eq!(
        r["sysctl"]["net.ipv4.ip_unprivileged_port_start"]["value"],
        "0"
    );
    // Inside: the host root's file is the app's root's, not nobody's.
    assert_eq!(owner(&r, "/volume/data"), (0, 0));
    assert_eq!(r["write"]["/volume/written"]["ok"], true, "{}", r["write"]);
    assert_eq!(owner(&r, "/volume/written"), (0, 0));
    // On the host: written by the host's root through the mapping, not by uid 458752.
    let meta = std::fs::metadata(volume.path().join("written")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    eprintln!(
        "pod: app uid inside {} (host uid {BASE}); /volume/data inside {:?}, on the host 0:0",
        r["ids"]["uid"],
        owner(&r, "/volume/data")
    );

    rt.cmd(&["delete", "--force", &sandbox_id]).ok();
    rt.assert_nothing_left(&sandbox_id, &sandbox);
}
