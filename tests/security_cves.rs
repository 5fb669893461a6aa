//! One attack per known runtime CVE (docs/security.md lists the defence each one checks).
//! Each test performs the attack through a bundle or from inside a container and asserts both
//! that it failed as seen from inside and that the host was left untouched. All need root and
//! skip loudly otherwise.

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

fn file_digest(path: &Path) -> (u64, Vec<u8>) {
    let data = fs::read(path).unwrap();
    (fs::metadata(path).unwrap().len(), data)
}

/// CVE-2019-5736: the container's program is `/proc/self/exe` (the init is still berth until
/// execve) — directly, or as the `#!` interpreter of the entrypoint.
#[test]
fn cve_2019_5736_host_binary_never_runs_in_the_container() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let before = file_digest(rt.bin());
    let b = Bundle::new();
    fs::write(b.rootfs().join("bin/evil.sh"), "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(
        b.rootfs().join("bin/evil.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    fs::write(b.rootfs().join("bin/evil2.sh"), "#!/bin/evil.sh\n").unwrap();
    fs::set_permissions(
        b.rootfs().join("bin/evil2.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    for args in [
        &["/proc/self/exe", "--version"][..],
        &["/bin/evil.sh"],
        &["/bin/evil2.sh"],
    ] {
        let id = unique_id();
        let out = rt.run_args(&b, &id, args, &[]);
        assert!(!out.success(), "{args:?}: {out}");
        assert!(out.mentions("CVE-2019-5736"), "{args:?}: {out}");
        assert!(!out.mentions("berth version"), "berth ran inside: {out}");
        rt.assert_nothing_left(&id, &b);
    }
    assert!(file_digest(rt.bin()) == before, "the host binary changed");
}

/// CVE-2019-5736 via /proc/<pid>/exe: while a container waits for `start` its init is still
/// berth. A second container sharing the host pid namespace (root, default capabilities) must
/// not be able to open that exe, nor the create process's.
#[test]
fn cve_2019_5736_init_exe_is_unreachable_during_setup() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let mut victim = Bundle::new();
    victim.args(&["true"]);
    let id = unique_id();
    rt.create(&victim, &id).ok();
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    let fd_dir = format!("/proc/{pid}/fd/0");
    let mut attacker = Bundle::new();
    attacker.remove_namespace("pid");
    let r = rt.run_probe(&attacker, &["--open", &exe, "--open", &fd_dir]);
    for p in [&exe, &fd_dir] {
        assert_eq!(
            r["open"][p]["ok"], false,
            "{p} opened from a container: {}",
            r["open"]
        );
        let e = r["open"][p]["error"].as_str().unwrap_or("");
        assert!(e == "EACCES" || e == "EPERM", "{p}: {}", r["open"]);
    }
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &victim);
}

/// CVE-2024-21626: only stdio reaches the container, and `cwd = /proc/self/fd/N` (a leaked
/// host directory fd at chdir time) is refused.
#[test]
fn cve_2024_21626_no_leaked_fds_and_cwd_stays_in_root() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new();
    let r = rt.run_probe(&b, &[]);
    let mut fds: Vec<String> = r["fds"].as_object().unwrap().keys().cloned().collect();
    fds.sort();
    assert_eq!(fds, ["0", "1", "2"], "{}", r["fds"]);

    let mut outside = Vec::new();
    for n in 3..=10 {
        let mut b = Bundle::new();
        b.config_mut()["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        let id = unique_id();
        let out = rt.run_args(&b, &id, &["/bin/berth-probe"], &[]);
        if out.success() {
            // Whatever fd it was, the probe must be inside its root.
            let cwd = out.json()["cwd"].as_str().unwrap_or("").to_string();
            assert!(!cwd.starts_with("(unreachable)"), "cwd {n} escaped: {cwd}");
        } else if out.mentions("CVE-2024-21626") {
            outside.push(n);
        }
        rt.assert_nothing_left(&id, &b);
    }
    assert!(
        !outside.is_empty(),
        "no fd was a host directory: the attack did not exercise the check"
    );
}

/// CVE-2021-30465 / CVE-2024-45310: mount destinations that are symlinks to host paths, or
/// `..` chains, resolve inside the rootfs; the host is never touched.
#[test]
fn cve_2021_30465_symlinked_mount_destinations_stay_in_the_rootfs() {
    if !require_root() {
        return;
    }
    let host = tempfile::tempdir().unwrap();
    let target = host.path().join("target");
    let target2 = host.path().join("target2");
    fs::create_dir(&target).unwrap();
    fs::create_dir(&target2).unwrap();
    let b0 = Bundle::new();
    symlink(&target, b0.rootfs().join("abs")).unwrap();
    symlink(
        format!("../../../../../../../..{}", target2.display()),
        b0.rootfs().join("rel"),
    )
    .unwrap();
    let mut b = b0;
    b.mount(json!({"destination": "/abs", "type": "tmpfs", "source": "tmpfs"}));
    b.mount(json!({"destination": "/rel/sub/dir", "type": "tmpfs", "source": "tmpfs"}));
    b.mount(
        json!({"destination": "/abs/../../../../etc/evil", "type": "tmpfs", "source": "tmpfs"}),
    );
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run_args(
        &b,
        &id,
        &[
            "sh",
            "-c",
            "touch /abs/x /rel/sub/dir/y 2>/dev/null; echo done",
        ],
        &[],
    );
    rt.assert_nothing_left(&id, &b);
    // Inside or refused: never on the host.
    assert_eq!(
        fs::read_dir(&target).unwrap().count(),
        0,
        "host dir touched: {out}"
    );
    assert_eq!(
        fs::read_dir(&target2).unwrap().count(),
        0,
        "host dir touched: {out}"
    );
    assert!(!Path::new("/etc/evil").exists(), "{out}");
    assert!(mounts_under(host.path()).is_empty());
}

/// CVE-2019-16884 / CVE-2023-27561 / CVE-2023-28642: a rootfs whose /proc or /sys is a
/// symlink, or a config putting another filesystem on /proc, is refused.
#[test]
fn cve_2019_16884_proc_and_sys_must_be_the_real_filesystems() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    for dir in ["proc", "sys"] {
        let b = Bundle::new();
        fs::remove_dir(b.rootfs().join(dir)).unwrap();
        symlink("/tmp", b.rootfs().join(dir)).unwrap();
        let id = unique_id();
        rt.create(&b, &id).fails_with("symlink");
        rt.assert_nothing_left(&id, &b);
    }
    let mut b = Bundle::new();
    b.remove_mount("/proc");
    b.mount(json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}));
    let id = unique_id();
    let out = rt.create(&b, &id);
    assert!(
        out.stderr.contains(
            "mount on /proc refused: only procfs may be mounted on /proc (CVE-2019-16884)"
        ),
        "{out}"
    );
    rt.assert_nothing_left(&id, &b);
}

/// CVE-2025-52881 class: a bind mount placed over a /proc/sys file would receive berth's
/// sysctl write. Refused (mount plan and the verified procfs write); the host file keeps its
/// content.
#[test]
fn cve_2025_52881_sysctl_write_cannot_be_redirected() {
    if !require_root() {
        return;
    }
    let host = tempfile::tempdir().unwrap();
    let decoy = host.path().join("decoy");
    fs::write(&decoy, "untouched\n").unwrap();
    let mut b = Bundle::new();
    b.mount(
        json!({"destination": "/proc/sys/kernel/shm_rmid_forced", "type": "bind",
                   "source": decoy, "options": ["bind"]}),
    );
    b.config_mut()["linux"]["sysctl"] = json!({"kernel.shm_rmid_forced": "1"});
    b.namespace("ipc", None);
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.create(&b, &id);
    assert!(!out.success(), "{out}");
    rt.assert_nothing_left(&id, &b);
    assert_eq!(fs::read_to_string(&decoy).unwrap(), "untouched\n");
}

/// CVE-2025-31133: with the rootfs's own /dev, a /dev/null that is a symlink to a procfs file
/// must not be bound over a masked path.
#[test]
fn cve_2025_31133_masking_needs_the_real_dev_null() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.remove_mount("/dev");
    b.remove_mount("/dev/pts");
    b.remove_mount("/dev/shm");
    b.remove_mount("/dev/mqueue");
    symlink("/proc/sys/kernel/core_pattern", b.rootfs().join("dev/null")).unwrap();
    let rt = Runtime::new();
    let id = unique_id();
    let core_pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let out = rt.run_args(
        &b,
        &id,
        &[
            "sh",
            "-c",
            "stat -c %t:%T /proc/kcore; cat /proc/kcore | head -c 100",
        ],
        &[],
    );
    rt.assert_nothing_left(&id, &b);
    if out.success() {
        // berth replaced the symlink by the real node before masking.
        assert!(out.stdout.starts_with("1:3"), "{out}");
        assert!(!out.stdout.contains(core_pattern.trim()), "{out}");
    } else {
        assert!(
            out.mentions("CVE-2025-31133") || out.mentions("symlink"),
            "{out}"
        );
    }
    assert_eq!(
        fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        core_pattern
    );
}

/// CVE-2026-41579 class: the rootfs's /dev is a symlink to a host directory and the config
/// does not mount /dev: device nodes and links must land inside the rootfs.
#[test]
fn dev_symlink_cannot_create_files_on_the_host() {
    if !require_root() {
        return;
    }
    let host = tempfile::tempdir().unwrap();
    let hostdev = host.path().join("dev");
    fs::create_dir(&hostdev).unwrap();
    let mut b = Bundle::new();
    for m in ["/dev", "/dev/pts", "/dev/shm", "/dev/mqueue"] {
        b.remove_mount(m);
    }
    fs::remove_dir(b.rootfs().join("dev")).unwrap();
    symlink(&hostdev, b.rootfs().join("dev")).unwrap();
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run_args(&b, &id, &["/bin/berth-probe"], &[]);
    rt.assert_nothing_left(&id, &b);
    assert_eq!(
        fs::read_dir(&hostdev).unwrap().count(),
        0,
        "files created on the host: {out}"
    );
    assert!(mounts_under(host.path()).is_empty());
}

/// CVE-2022-29162: no inheritable or ambient capability the config did not ask for.
#[test]
fn cve_2022_29162_no_unrequested_inheritable_capabilities() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]
    });
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    let caps = &r["capabilities"];
    assert!(strings(&caps["inheritable"]["names"]).is_empty(), "{caps}");
    assert!(strings(&caps["ambient"]["names"]).is_empty(), "{caps}");
    assert_eq!(strings(&caps["effective"]["names"]), ["CAP_KILL"], "{caps}");
}

/// User namespaces: root in the container is an unprivileged host uid; files it creates are
/// owned by the mapped id on the host; device nodes are bind mounts of the host's.
#[test]
fn user_namespace_root_is_unprivileged_on_the_host() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.namespace("user", None);
    b.config_mut()["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.config_mut()["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.config_mut()["root"]["readonly"] = json!(false);
    let data = b.rootfs().join("data");
    fs::create_dir(&data).unwrap();
    std::os::unix::fs::chown(&data, Some(200000), Some(200000)).unwrap();
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.run_args(
        &b,
        &id,
        &[
            "sh",
            "-c",
            "touch /data/made-inside && touch /etc/owned-by-host-root; echo rc=$?",
        ],
        &[],
    );
    out.ok();
    rt.assert_nothing_left(&id, &b);
    use std::os::unix::fs::MetadataExt;
    let md = fs::metadata(data.join("made-inside")).unwrap();
    assert_eq!((md.uid(), md.gid()), (200000, 200000));
    // /etc belongs to host root, which is unmapped: container root may not write there.
    assert!(out.stdout.contains("rc=1"), "{out}");
    assert!(!b.rootfs().join("etc/owned-by-host-root").exists());
    let r = rt.run_probe(&b, &[]);
    assert!(
        find_mount(&r, "/dev/null").is_some(),
        "/dev/null must be a bind mount in a user namespace"
    );
    assert_eq!(r["dev"]["null"]["major"], 1, "{}", r["dev"]);
}

/// CVE-2019-5736 through `exec` (the original attack): the exec'd process is berth until its
/// execve, inside the container. `/proc/self/exe` as the program, or as the `#!` interpreter,
/// is refused, and the exec'd process is non-dumpable until then.
#[test]
fn cve_2019_5736_exec_never_runs_the_host_binary() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let before = file_digest(rt.bin());
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    fs::write(b.rootfs().join("bin/evil.sh"), "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(
        b.rootfs().join("bin/evil.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    for args in [&["/proc/self/exe", "--version"][..], &["/bin/evil.sh"]] {
        let mut cmd = vec!["exec", id.as_str()];
        cmd.extend_from_slice(args);
        let out = rt.cmd(&cmd);
        assert!(!out.success(), "{args:?}: {out}");
        assert!(out.mentions("CVE-2019-5736"), "{args:?}: {out}");
        assert!(!out.mentions("berth version"), "berth ran inside: {out}");
    }
    // A normal exec still works, and the container is unharmed.
    let out = rt.cmd(&["exec", &id, "sh", "-c", "echo fine"]);
    assert!(out.ok().stdout.contains("fine"), "{out}");
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
    assert!(file_digest(rt.bin()) == before, "the host binary changed");
}

/// CVE-2019-5736 through `exec`, raced (issue #13, attack 4): a process in the container keeps
/// exchanging `/w/true` (a symlink to /bin/true) with `/w/evil` (one to /proc/self/exe) while
/// the host runs `exec c /w/true` again and again. With a check by path and an execve by path, the
/// swap lands between them within a few dozen tries and berth's binary runs in the container
/// (its usage text on the exec's output). berth now opens the program once, checks that fd
/// and execveat()s it: every try runs /bin/true or is refused, never berth.
#[test]
fn cve_2019_5736_exec_race_cannot_swap_the_checked_program() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let before = file_digest(rt.bin());
    let mut b = Bundle::new();
    // /w/true and /w/evil swapped with renameat2(RENAME_EXCHANGE) in a tight loop, on a
    // writable directory of the container's own (the root is read-only).
    b.args(&[
        "sh",
        "-c",
        "ln -s /bin/true /w/true && ln -s /proc/self/exe /w/evil && \
         exec /bin/berth-probe --exchange-loop /w/true /w/evil",
    ]);
    b.mount(
        json!({"destination": "/w", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]}),
    );
    let id = unique_id();
    rt.create(&b, &id).ok();
    rt.cmd(&["start", &id]).ok();
    let (mut ran_true, mut refused, mut berth_ran) = (0, 0, 0);
    for _ in 0..300 {
        let out = rt.cmd(&["exec", &id, "/w/true"]); // busybox dispatches on the name
        if out.mentions("Usage: ") || out.mentions("low-level OCI container runtime") {
            berth_ran += 1;
        } else if out.success() {
            ran_true += 1;
        } else if out.mentions("CVE-2019-5736") {
            refused += 1;
        } else {
            panic!("neither ran nor refused: {out}");
        }
    }
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
    loud(&format!(
        "exec race: {ran_true} ran /bin/true, {refused} refused, {berth_ran} ran berth"
    ));
    assert_eq!(berth_ran, 0, "berth's binary ran inside the container");
    assert!(
        ran_true > 0 && refused > 0,
        "the race never alternated: {ran_true} / {refused}"
    );
    assert!(file_digest(rt.bin()) == before, "the host binary changed");
}

/// Issue #13, attack 5: the init waiting for `start` held an O_PATH handle on the host's
/// /proc (to reopen exec.fifo), so a process in the container with CAP_SYS_PTRACE read host
/// files through `/proc/1/fd/N/<host pid>/root/...`. The init now swaps it for a procfs of the
/// container's own pid namespace before anything of the container can run.
#[test]
fn waiting_init_holds_no_handle_on_the_hosts_proc() {
    if !require_root() {
        return;
    }
    let secret = tempfile::NamedTempFile::new().unwrap();
    fs::write(secret.path(), "host-only secret\n").unwrap();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    for set in ["bounding", "effective", "permitted"] {
        b.config_mut()["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_PTRACE"));
    }
    let rt = Runtime::new();
    let id = unique_id();
    rt.create(&b, &id).ok(); // the init now waits for start, holding its handles
                             // Through a host procfs, this test's own pid leads to the host's root.
    let (path, me) = (secret.path().display().to_string(), std::process::id());
    let script = format!(
        "for fd in /proc/1/fd/*; do cat $fd/{me}/root{path} 2>/dev/null; done; \
         ls -l /proc/1/fd/; true"
    );
    let out = rt.cmd(&["exec", &id, "sh", "-c", &script]);
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
    out.ok();
    assert!(
        !out.stdout.contains("host-only secret"),
        "read a host file: {out}"
    );
}
