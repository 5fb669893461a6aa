//! Checks from config.md: root, mounts, process, hostname, hooks, annotations, extensibility.

use super::prelude::*;
use serde_json::json;

fn writable_root(b: &mut Bundle) {
    b.config_mut()["root"]["readonly"] = json!(false);
}

pub fn checks() -> Vec<Check> {
    vec![
        Check {
            section: "config.md#root",
            level: Level::Must,
            what: "root.path is the container's root filesystem",
            kind: Kind::Probe {
                setup: |b| std::fs::write(b.rootfs().join("conformance-marker"), "x").unwrap(),
                args: &["--open", "/conformance-marker"],
                check: |r| {
                    ensure!(
                        r["open"]["/conformance-marker"]["ok"] == true,
                        "{}",
                        r["open"]
                    );
                    ensure!(find_mount(r, "/").is_some(), "no / mount");
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#root",
            level: Level::Must,
            what: "root.readonly true makes the root filesystem read-only",
            kind: Kind::Probe {
                setup: no_setup,
                args: &["--write", "/ro-test"],
                check: |r| {
                    ensure!(r["write"]["/ro-test"]["error"] == "EROFS", "{}", r["write"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#root",
            level: Level::Must,
            what: "root.readonly false leaves the root filesystem writable",
            kind: Kind::Probe {
                setup: writable_root,
                args: &["--write", "/tmp/rw-test"],
                check: |r| {
                    ensure!(r["write"]["/tmp/rw-test"]["ok"] == true, "{}", r["write"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#mounts",
            level: Level::Must,
            what: "a tmpfs mount appears at its destination with its type",
            kind: Kind::Probe {
                setup: |b| {
                    b.mount(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs"}));
                },
                args: &[],
                check: |r| {
                    let m = find_mount(r, "/data").ok_or("no /data mount")?;
                    ensure!(m["fstype"] == "tmpfs", "{m}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#mounts",
            level: Level::Must,
            what: "mounts are made in the listed order (a later mount covers an earlier one)",
            kind: Kind::Probe {
                setup: |b| {
                    b.mount(json!({"destination": "/data", "type": "tmpfs", "source": "first"}));
                    b.mount(json!({"destination": "/data", "type": "tmpfs", "source": "second"}));
                },
                args: &[],
                check: |r| {
                    let m = find_mount(r, "/data").ok_or("no /data mount")?;
                    ensure!(m["source"] == "second", "visible mount is {m}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#mounts",
            level: Level::Must,
            what: "mount options are applied (ro makes the mount read-only)",
            kind: Kind::Probe {
                setup: |b| {
                    b.mount(
                        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs",
                        "options": ["ro", "nosuid"]}),
                    );
                },
                args: &["--write", "/data/x"],
                check: |r| {
                    ensure!(r["write"]["/data/x"]["error"] == "EROFS", "{}", r["write"]);
                    let m = find_mount(r, "/data").ok_or("no /data mount")?;
                    ensure!(has(&m["options"], "nosuid"), "{m}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#mounts",
            level: Level::Must,
            what: "a bind mount shows the host source inside the container",
            kind: Kind::Probe {
                setup: |b| {
                    let src = b.path().join("bind-src");
                    std::fs::create_dir_all(&src).unwrap();
                    std::fs::write(src.join("hello"), "x").unwrap();
                    let s = src.to_string_lossy().into_owned();
                    b.mount(json!({"destination": "/data", "type": "bind", "source": s,
                        "options": ["rbind", "ro"]}));
                },
                args: &["--open", "/data/hello"],
                check: |r| {
                    ensure!(r["open"]["/data/hello"]["ok"] == true, "{}", r["open"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#mounts",
            level: Level::Runc,
            what: "a missing mount destination is created in the rootfs",
            kind: Kind::Probe {
                setup: |b| {
                    b.mount(json!({"destination": "/new/deep/dir", "type": "tmpfs",
                        "source": "tmpfs"}));
                },
                args: &[],
                check: |r| {
                    ensure!(find_mount(r, "/new/deep/dir").is_some(), "no mount");
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#process",
            level: Level::Must,
            what: "process.args runs, args[0] looked up like execvp",
            kind: Kind::Shell {
                setup: no_setup,
                script: "berth-probe >/dev/null && echo ran",
                check: |o| {
                    ensure!(o.trim() == "ran", "{o:?}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#process",
            level: Level::Must,
            what: "process.cwd is the working directory",
            kind: Kind::Probe {
                setup: |b| b.config_mut()["process"]["cwd"] = json!("/home/user"),
                args: &[],
                check: |r| {
                    ensure!(r["cwd"] == "/home/user", "cwd {}", r["cwd"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#process",
            level: Level::Runc,
            what: "a missing process.cwd is created",
            kind: Kind::Probe {
                setup: |b| b.config_mut()["process"]["cwd"] = json!("/made/by/runtime"),
                args: &[],
                check: |r| {
                    ensure!(r["cwd"] == "/made/by/runtime", "cwd {}", r["cwd"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#process",
            level: Level::Must,
            what: "process.env is the environment, exactly",
            kind: Kind::Probe {
                setup: |b| {
                    b.config_mut()["process"]["env"] =
                        json!(["PATH=/bin", "FOO=bar baz", "EMPTY="]);
                },
                args: &[],
                check: |r| {
                    let want = json!({"PATH": "/bin", "FOO": "bar baz", "EMPTY": ""});
                    // runc adds HOME when the user has one and env lacks it.
                    let mut got = r["env"].clone();
                    got.as_object_mut().map(|o| o.remove("HOME"));
                    ensure!(got == want, "env {}", r["env"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#process",
            level: Level::Runc,
            what: "HOME is set from /etc/passwd when process.env lacks it",
            kind: Kind::Probe {
                setup: |b| {
                    b.config_mut()["process"]["user"] = json!({"uid": 1000, "gid": 1000});
                },
                args: &[],
                check: |r| {
                    ensure!(r["env"]["HOME"] == "/home/user", "env {}", r["env"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#user",
            level: Level::Must,
            what: "process.user uid and gid are the process's real, effective and saved ids",
            kind: Kind::Probe {
                setup: |b| {
                    b.config_mut()["process"]["user"] = json!({"uid": 1000, "gid": 1001});
                },
                args: &[],
                check: |r| {
                    let i = &r["ids"];
                    for k in ["uid", "euid", "suid"] {
                        ensure!(i[k] == 1000, "{k} {i}");
                    }
                    for k in ["gid", "egid", "sgid"] {
                        ensure!(i[k] == 1001, "{k} {i}");
                    }
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#user",
            level: Level::Must,
            what: "process.user.additionalGids are the supplementary groups",
            kind: Kind::Probe {
                setup: |b| {
                    b.config_mut()["process"]["user"] =
                        json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 2000]});
                },
                args: &[],
                check: |r| {
                    let mut g: Vec<u64> = r["ids"]["groups"]
                        .as_array()
                        .ok_or("no groups")?
                        .iter()
                        .filter_map(Value::as_u64)
                        .collect();
                    g.sort();
                    g.dedup();
                    g.retain(|x| *x != 1000);
                    ensure!(g == vec![5, 2000], "groups {}", r["ids"]["groups"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#user",
            level: Level::Must,
            what: "process.user.umask is the process umask",
            kind: Kind::Probe {
                setup: |b| b.config_mut()["process"]["user"]["umask"] = json!(0o027),
                args: &[],
                check: |r| {
                    ensure!(r["umask"] == "0027", "umask {}", r["umask"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#posix-process",
            level: Level::Must,
            what: "process.rlimits are set (soft and hard)",
            kind: Kind::Probe {
                setup: |b| {
                    b.config_mut()["process"]["rlimits"] = json!([
                        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1000},
                        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
                    ]);
                },
                args: &[],
                check: |r| {
                    let l = &r["rlimits"];
                    ensure!(
                        l["RLIMIT_NOFILE"] == json!({"soft": 512, "hard": 1000}),
                        "{l}"
                    );
                    ensure!(l["RLIMIT_CORE"] == json!({"soft": 0, "hard": 0}), "{l}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#linux-process",
            level: Level::Must,
            what: "process.capabilities sets are exactly the configured sets",
            kind: Kind::Probe {
                setup: |b| {
                    let caps = json!(["CAP_CHOWN", "CAP_KILL"]);
                    b.config_mut()["process"]["capabilities"] = json!({
                        "bounding": caps, "effective": caps, "permitted": caps,
                        "inheritable": caps, "ambient": caps});
                },
                args: &[],
                check: |r| {
                    let want = vec!["CAP_CHOWN".to_string(), "CAP_KILL".to_string()];
                    for set in [
                        "bounding",
                        "effective",
                        "permitted",
                        "inheritable",
                        "ambient",
                    ] {
                        let got = strings(&r["capabilities"][set]["names"]);
                        ensure!(got == want, "{set}: {got:?}");
                    }
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#linux-process",
            level: Level::Must,
            what: "capabilities absent from every set are absent from the process",
            kind: Kind::Probe {
                setup: |b| {
                    b.config_mut()["process"]["capabilities"] = json!({});
                },
                args: &[],
                check: |r| {
                    for set in [
                        "bounding",
                        "effective",
                        "permitted",
                        "inheritable",
                        "ambient",
                    ] {
                        let got = strings(&r["capabilities"][set]["names"]);
                        ensure!(got.is_empty(), "{set}: {got:?}");
                    }
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#linux-process",
            level: Level::Must,
            what: "noNewPrivileges true sets no_new_privs",
            kind: Kind::Probe {
                setup: no_setup,
                args: &[],
                check: |r| {
                    ensure!(r["no_new_privs"] == 1, "{}", r["no_new_privs"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#linux-process",
            level: Level::Must,
            what: "noNewPrivileges false leaves no_new_privs clear",
            kind: Kind::Probe {
                setup: |b| b.config_mut()["process"]["noNewPrivileges"] = json!(false),
                args: &[],
                check: |r| {
                    ensure!(r["no_new_privs"] == 0, "{}", r["no_new_privs"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#linux-process",
            level: Level::Must,
            what: "oomScoreAdj is written to the process's oom_score_adj",
            kind: Kind::Probe {
                setup: |b| b.config_mut()["process"]["oomScoreAdj"] = json!(500),
                args: &[],
                check: |r| {
                    ensure!(r["oom_score_adj"] == 500, "{}", r["oom_score_adj"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#process",
            level: Level::Should,
            what: "terminal false: stdio are not terminals",
            kind: Kind::Probe {
                setup: no_setup,
                args: &[],
                check: |r| {
                    for fd in ["0", "1", "2"] {
                        let t = r["fds"][fd].as_str().unwrap_or_default();
                        ensure!(!t.starts_with("/dev/pts"), "fd {fd} is {t}");
                    }
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#hostname",
            level: Level::Must,
            what: "hostname is the container's hostname",
            kind: Kind::Probe {
                setup: |b| b.config_mut()["hostname"] = json!("conformance-host"),
                args: &[],
                check: |r| {
                    ensure!(r["hostname"] == "conformance-host", "{}", r["hostname"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#domainname",
            level: Level::Must,
            what: "domainname is the container's NIS domain name",
            kind: Kind::Probe {
                setup: |b| b.config_mut()["domainname"] = json!("conformance.example"),
                args: &[],
                check: |r| {
                    ensure!(
                        r["domainname"] == "conformance.example",
                        "{}",
                        r["domainname"]
                    );
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#extensibility",
            level: Level::Must,
            what: "unknown properties are ignored (top level, process, linux)",
            kind: Kind::Probe {
                setup: |b| {
                    let c = b.config_mut();
                    c["berthUnknownTop"] = json!({"x": [1, 2]});
                    c["process"]["berthUnknown"] = json!(true);
                    c["linux"]["berthUnknown"] = json!("y");
                },
                args: &[],
                check: |r| {
                    ensure!(r["pid"] == 1, "probe did not run as pid 1: {}", r["pid"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#annotations",
            level: Level::Must,
            what: "unknown annotation keys do not cause an error",
            kind: Kind::Probe {
                setup: |b| {
                    b.config_mut()["annotations"] =
                        json!({"org.example.unknown": "v", "x.y/z": ""});
                },
                args: &[],
                check: |r| {
                    ensure!(r["pid"] == 1, "{}", r["pid"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config.md#posix-platform-hooks",
            level: Level::Must,
            what: "createRuntime, poststart and poststop hooks run with the state on stdin",
            kind: Kind::Cli(|rt, b| {
                let log = b.path().join("hooks.log");
                let l = log.to_string_lossy().into_owned();
                let hook = |name: &str| {
                    json!({"path": "/bin/sh", "args": ["sh", "-c",
                        format!("read -r s; echo {name} \"$s\" >> {l}")]})
                };
                b.config_mut()["hooks"] = json!({
                    "createRuntime": [hook("createRuntime")],
                    "poststart": [hook("poststart")],
                    "poststop": [hook("poststop")]});
                b.args(&["true"]);
                b.write();
                let id = unique_id();
                must_ok(rt, &["run", "--bundle", b.path_str(), &id])?;
                let text = std::fs::read_to_string(&log).map_err(|e| format!("{e}"))?;
                let names: Vec<&str> = text.lines().filter_map(|l| l.split(' ').next()).collect();
                ensure!(
                    names == ["createRuntime", "poststart", "poststop"],
                    "hook order {names:?}"
                );
                for l in text.lines() {
                    let (_, s) = l.split_once(' ').unwrap_or_default();
                    let v: Value = serde_json::from_str(s).map_err(|e| format!("{e}: {s}"))?;
                    ensure!(v["id"] == id.as_str(), "state on stdin {v}");
                }
                Ok(())
            }),
        },
    ]
}
