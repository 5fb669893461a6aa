//! The corpus: probe bundles (the default config and the mutations the integration tests use),
//! shell cases (stdout, stderr, exit status, cgroup files), the lifecycle matrix (each CLI
//! verb in each state), exec and foreground-run sessions, client-shaped fixture configs
//! (containerd CRI, podman, docker: tests/differential/fixtures/*.json), the conformance
//! checks, the bad-input table and the fuzz seeds that are valid configs.

use crate::common::*;
use crate::observe::{Case, Kind, Names, Run, Script, Setup};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

fn setup(f: impl Fn(&mut Bundle) + Send + Sync + 'static) -> Setup {
    Arc::new(move |b: &mut Bundle, _: &Names| f(b))
}

fn probe(name: &str, args: &[&str], f: impl Fn(&mut Bundle) + Send + Sync + 'static) -> Case {
    Case {
        name: format!("probe/{name}"),
        kind: Kind::Probe {
            setup: setup(f),
            args: args.iter().map(|s| s.to_string()).collect(),
        },
    }
}

fn shell(name: &str, script: &str, f: impl Fn(&mut Bundle) + Send + Sync + 'static) -> Case {
    Case {
        name: format!("shell/{name}"),
        kind: Kind::Shell {
            setup: setup(f),
            script: script.into(),
        },
    }
}

fn session(
    name: &str,
    f: impl Fn(&mut Bundle) + Send + Sync + 'static,
    s: impl Fn(&mut Run) + Send + Sync + 'static,
) -> Case {
    Case {
        name: name.into(),
        kind: Kind::Session {
            setup: setup(f),
            script: Arc::new(s) as Script,
        },
    }
}

fn cfg(b: &mut Bundle) -> &mut Value {
    b.config_mut()
}

/// Every capability this kernel ABI knows, in number order (the caps crate's list).
fn all_caps() -> Vec<String> {
    let mut caps: Vec<caps::Capability> = caps::all().into_iter().collect();
    caps.sort_by_key(|c| c.index());
    caps.iter().map(|c| c.to_string()).collect()
}

/// Docker's and containerd's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Probe bundles: the default config and the mutations of tests/process.rs, mounts.rs,
/// namespaces.rs, devices.rs, seccomp.rs, runc_parity.rs.
fn probe_cases() -> Vec<Case> {
    let ro = &[
        "--write",
        "/",
        "--write",
        "/tmp/x",
        "--write",
        "/proc/sys/kernel/domainname",
    ][..];
    vec![
        probe("default", ro, |_| {}),
        probe("writable-root", ro, |b| {
            cfg(b)["root"]["readonly"] = json!(false)
        }),
        probe("user-1000-groups", &[], |b| {
            cfg(b)["process"]["user"] =
                json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 100]})
        }),
        probe("user-1000-home-from-passwd", &[], |b| {
            cfg(b)["process"]["user"] = json!({"uid": 1000, "gid": 1000})
        }),
        probe("user-unknown-uid", &[], |b| {
            cfg(b)["process"]["user"] = json!({"uid": 4242, "gid": 4242})
        }),
        probe("umask-027", &[], |b| {
            cfg(b)["process"]["user"]["umask"] = json!(0o027)
        }),
        probe("rlimits", &[], |b| {
            cfg(b)["process"]["rlimits"] = json!([
                {"type": "RLIMIT_NOFILE", "soft": 4096, "hard": 8192},
                {"type": "RLIMIT_NPROC", "soft": 512, "hard": 1024},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 18446744073709551615u64},
                {"type": "RLIMIT_MEMLOCK", "soft": 65536, "hard": 65536}
            ])
        }),
        probe("rlimits-none", &[], |b| {
            cfg(b)["process"].as_object_mut().unwrap().remove("rlimits");
        }),
        probe("caps-docker-default", &[], |b| {
            cfg(b)["process"]["capabilities"] = json!({
                "bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS, "permitted": DEFAULT_CAPS
            })
        }),
        probe("caps-all", &[], |b| {
            cfg(b)["process"]["capabilities"] = json!({
                "bounding": all_caps(), "effective": all_caps(), "permitted": all_caps(),
                "inheritable": all_caps(), "ambient": all_caps()
            })
        }),
        probe("caps-empty", &[], |b| {
            cfg(b)["process"]["capabilities"] = json!({})
        }),
        probe("caps-absent", &[], |b| {
            cfg(b)["process"]
                .as_object_mut()
                .unwrap()
                .remove("capabilities");
        }),
        probe("caps-user-ambient", &[], |b| {
            let c = ["CAP_NET_BIND_SERVICE", "CAP_KILL"];
            cfg(b)["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            cfg(b)["process"]["noNewPrivileges"] = json!(false);
            cfg(b)["process"]["capabilities"] = json!({
                "bounding": c, "effective": c, "permitted": c, "inheritable": c, "ambient": c
            })
        }),
        probe("caps-user-no-ambient", &[], |b| {
            cfg(b)["process"]["user"] = json!({"uid": 1000, "gid": 1000});
            cfg(b)["process"]["capabilities"] = json!({
                "bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS, "permitted": DEFAULT_CAPS
            })
        }),
        probe("no-new-privileges-false", &[], |b| {
            cfg(b)["process"]["noNewPrivileges"] = json!(false)
        }),
        probe("env-odd", &[], |b| {
            cfg(b)["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz", "EMPTY=", "A=1", "A=2"])
        }),
        probe("env-empty", &[], |b| cfg(b)["process"]["env"] = json!([])),
        probe("env-home-set", &[], |b| {
            cfg(b)["process"]["env"] = json!(["PATH=/bin", "HOME=/tmp"])
        }),
        probe("cwd-tmp", &[], |b| cfg(b)["process"]["cwd"] = json!("/tmp")),
        probe("cwd-missing", &[], |b| {
            cfg(b)["process"]["cwd"] = json!("/work/made/here")
        }),
        probe("cwd-missing-user", &[], |b| {
            cfg(b)["process"]["cwd"] = json!("/work/made/here");
            cfg(b)["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        }),
        probe("hostname-absent", &[], |b| {
            cfg(b).as_object_mut().unwrap().remove("hostname");
        }),
        probe("host-network", &["--sysctl", "net.ipv4.ip_forward"], |b| {
            b.remove_namespace("network");
        }),
        probe("host-pid", &[], |b| {
            b.remove_namespace("pid");
        }),
        probe("host-ipc", &[], |b| {
            b.remove_namespace("ipc");
        }),
        probe("host-uts", &[], |b| {
            b.remove_namespace("uts");
            cfg(b).as_object_mut().unwrap().remove("hostname");
        }),
        probe("cgroup-namespace", &[], |b| {
            b.namespace("cgroup", None);
        }),
        probe("user-namespace", &[], |b| {
            b.namespace("user", None);
            cfg(b)["linux"]["uidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            cfg(b)["linux"]["gidMappings"] =
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        }),
        probe(
            "sysctls",
            &[
                "--sysctl",
                "net.ipv4.ip_forward",
                "--sysctl",
                "kernel.shm_rmid_forced",
                "--sysctl",
                "net.core.somaxconn",
                "--sysctl",
                "kernel.msgmax",
            ],
            |b| {
                cfg(b)["linux"]["sysctl"] = json!({
                    "net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1",
                    "net.core.somaxconn": "1024", "kernel.msgmax": "16384"
                })
            },
        ),
        probe("oom-score-adj-500", &[], |b| {
            cfg(b)["process"]["oomScoreAdj"] = json!(500)
        }),
        probe("oom-score-adj-1000", &[], |b| {
            cfg(b)["process"]["oomScoreAdj"] = json!(1000)
        }),
        probe(
            "masked-readonly-extra",
            &[
                "--open",
                "/proc/sys/kernel/ostype",
                "--write",
                "/proc/sysrq-trigger",
            ],
            |b| {
                cfg(b)["linux"]["maskedPaths"]
                    .as_array_mut()
                    .unwrap()
                    .extend([json!("/proc/sys/kernel"), json!("/nonexistent/masked")]);
                cfg(b)["linux"]["readonlyPaths"]
                    .as_array_mut()
                    .unwrap()
                    .extend([json!("/tmp"), json!("/nonexistent/ro")]);
            },
        ),
        probe("masked-none", &[], |b| {
            cfg(b)["linux"]["maskedPaths"] = json!([]);
            cfg(b)["linux"]["readonlyPaths"] = json!([]);
        }),
        probe("tmpfs-options", &["--write", "/scratch/f"], |b| {
            b.mount(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "nodev", "noexec", "mode=1770", "size=1m", "uid=1000", "gid=1000"]}));
        }),
        probe("tmpfs-on-existing-dir-mode", &[], |b| {
            std::fs::create_dir_all(b.rootfs().join("data")).unwrap();
            std::fs::set_permissions(
                b.rootfs().join("data"),
                std::os::unix::fs::PermissionsExt::from_mode(0o700),
            )
            .unwrap();
            b.mount(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs"}));
        }),
        probe("tmpfs-ro", &["--write", "/ro/f"], |b| {
            b.mount(json!({"destination": "/ro", "type": "tmpfs", "source": "tmpfs", "options": ["ro"]}));
        }),
        probe(
            "bind-ro-and-rw",
            &["--write", "/ro/f", "--write", "/rw/f"],
            |b| {
                for d in ["ro-src", "rw-src"] {
                    std::fs::create_dir_all(b.path().join(d)).unwrap();
                }
                let p = b.path_str().to_string();
                b.mount(
                    json!({"destination": "/ro", "type": "bind", "source": format!("{p}/ro-src"),
                "options": ["bind", "ro", "nosuid", "nodev"]}),
                );
                b.mount(
                    json!({"destination": "/rw", "type": "none", "source": format!("{p}/rw-src"),
                "options": ["rbind", "rw", "rprivate"]}),
                );
            },
        ),
        probe("bind-file", &["--open", "/etc/bound"], |b| {
            std::fs::write(b.path().join("bound"), "x").unwrap();
            let p = format!("{}/bound", b.path_str());
            b.mount(
                json!({"destination": "/etc/bound", "type": "bind", "source": p,
                "options": ["rbind", "ro"]}),
            );
        }),
        probe("bind-propagation-options", &[], |b| {
            std::fs::create_dir_all(b.path().join("src")).unwrap();
            let p = format!("{}/src", b.path_str());
            for (d, o) in [
                ("/a", "rslave"),
                ("/b", "private"),
                ("/c", "rshared"),
                ("/d", "unbindable"),
            ] {
                b.mount(
                    json!({"destination": d, "type": "bind", "source": p, "options": ["rbind", o]}),
                );
            }
        }),
        probe("mount-flags", &[], |b| {
            b.mount(json!({"destination": "/m", "type": "tmpfs", "source": "tmpfs",
                "options": ["noexec", "nosuid", "nodev", "noatime", "nodiratime", "sync", "dirsync"]}));
        }),
        probe("mount-without-type-bind", &[], |b| {
            std::fs::create_dir_all(b.path().join("src")).unwrap();
            let p = format!("{}/src", b.path_str());
            b.mount(json!({"destination": "/nt", "source": p, "options": ["bind"]}));
        }),
        probe("dev-without-tmpfs", &[], |b| {
            b.remove_mount("/dev");
        }),
        probe(
            "devices",
            &["--open", "/dev/fuse", "--open", "/dev/net/tun"],
            |b| {
                cfg(b)["linux"]["devices"] = json!([
                    {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0},
                    {"path": "/dev/net/tun", "type": "c", "major": 10, "minor": 200, "fileMode": 384, "uid": 1000, "gid": 5}
                ]);
                cfg(b)["linux"]["resources"]["devices"] = json!([
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}
                ]);
            },
        ),
        probe("device-no-mode", &[], |b| {
            cfg(b)["linux"]["devices"] = json!([
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}
            ]);
        }),
        probe("devices-allow-all", &["--open", "/dev/null"], |b| {
            cfg(b)["linux"]["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
        }),
        probe(
            "seccomp-errno",
            &["--syscall", "83", "--syscall", "39"],
            |b| {
                cfg(b)["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                    "syscalls": [
                        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                        {"names": ["getpid"], "action": "SCMP_ACT_ERRNO"}
                    ]
                })
            },
        ),
        probe("seccomp-default-errno-ret", &["--syscall", "83"], |b| {
            cfg(b)["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "defaultErrnoRet": 1,
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
            })
        }),
        probe(
            "seccomp-args",
            &["--syscall", "83,0", "--syscall", "83,1"],
            |b| {
                cfg(b)["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 22,
                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}]
                })
            },
        ),
        probe("seccomp-unknown-syscall-name", &[], |b| {
            cfg(b)["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["no_such_syscall_xyz", "mkdir"], "action": "SCMP_ACT_ERRNO"}]
            })
        }),
        probe("seccomp-log-and-kill-thread-unused", &[], |b| {
            cfg(b)["linux"]["seccomp"] = json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [
                    {"names": ["kexec_load"], "action": "SCMP_ACT_KILL_THREAD"},
                    {"names": ["acct"], "action": "SCMP_ACT_LOG"},
                    {"names": ["reboot"], "action": "SCMP_ACT_TRAP"}
                ]
            })
        }),
        probe("root-propagation-private", &[], |b| {
            cfg(b)["linux"]["rootfsPropagation"] = json!("private")
        }),
        probe("root-propagation-rslave", &[], |b| {
            cfg(b)["linux"]["rootfsPropagation"] = json!("rslave")
        }),
        probe("resources", &[], |b| {
            cfg(b)["linux"]["resources"]["memory"] =
                json!({"limit": 67108864, "reservation": 33554432});
            cfg(b)["linux"]["resources"]["cpu"] =
                json!({"shares": 512, "quota": 50000, "period": 100000});
            cfg(b)["linux"]["resources"]["pids"] = json!({"limit": 64});
        }),
        probe(
            "annotations",
            &[],
            |b| {
                cfg(b)["annotations"] =
                    json!({"org.example/a": "1", "io.kubernetes.cri.container-type": "container"})
            },
        ),
        probe("no-mounts-at-all", &[], |b| {
            cfg(b)["mounts"] = json!([]);
            cfg(b)["linux"]["maskedPaths"] = json!([]);
            cfg(b)["linux"]["readonlyPaths"] = json!([]);
        }),
        probe("linux-absent", &[], |b| {
            cfg(b).as_object_mut().unwrap().remove("linux");
            cfg(b).as_object_mut().unwrap().remove("hostname");
        }),
        probe("linux-namespaces-absent", &[], |b| {
            cfg(b)["linux"]
                .as_object_mut()
                .unwrap()
                .remove("namespaces");
            cfg(b).as_object_mut().unwrap().remove("hostname");
        }),
        probe("mounts-absent", &[], |b| {
            cfg(b).as_object_mut().unwrap().remove("mounts");
        }),
        probe("masked-readonly-absent", &[], |b| {
            cfg(b)["linux"]
                .as_object_mut()
                .unwrap()
                .remove("maskedPaths");
            cfg(b)["linux"]
                .as_object_mut()
                .unwrap()
                .remove("readonlyPaths");
        }),
        probe("user-absent", &[], |b| {
            cfg(b)["process"].as_object_mut().unwrap().remove("user");
        }),
        probe("exit-code-7", &["--exit", "7"], |_| {}),
    ]
}

/// What reaches the container's stdout/stderr, and cgroup files as the container sees them.
fn shell_cases() -> Vec<Case> {
    vec![
        shell(
            "stdout-stderr-exit",
            "echo out; echo err >&2; echo out2; exit 3",
            |_| {},
        ),
        shell(
            "stdin-is-null",
            "cat; echo rc=$?; ls -l /proc/self/fd/0 | sed 's/.*-> //'",
            |_| {},
        ),
        shell(
            "signal-exit",
            "kill -TERM $$; sleep 1; echo survived",
            |_| {},
        ),
        shell(
            "child-killed",
            "sleep 100 & kill -9 $!; wait $!; echo rc=$?",
            |_| {},
        ),
        shell(
            "cgroup-files",
            "for f in memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes \
             cpu,cpuacct/cpu.shares cpu,cpuacct/cpu.cfs_quota_us cpu,cpuacct/cpu.cfs_period_us \
             pids/pids.max; do printf '%s=' $f; cat /sys/fs/cgroup/$f 2>&1 || echo missing; done",
            |b| {
                cfg(b)["linux"]["resources"]["memory"] =
                    json!({"limit": 67108864, "reservation": 33554432});
                cfg(b)["linux"]["resources"]["cpu"] =
                    json!({"shares": 512, "quota": 50000, "period": 100000});
                cfg(b)["linux"]["resources"]["pids"] = json!({"limit": 64});
            },
        ),
        shell("cgroup-mount-listing", "ls /sys/fs/cgroup | sort", |_| {}),
        shell(
            "devices-list",
            "sort /sys/fs/cgroup/devices/devices.list 2>&1",
            |_| {},
        ),
        shell(
            "hostname-files",
            "hostname; cat /etc/hostname 2>&1; uname -n",
            |_| {},
        ),
        shell(
            "ip-links",
            "ip -o link | sed 's/link\\/[a-z]* [0-9a-f:]*//'",
            |_| {},
        ),
        shell(
            "proc-self-attr",
            "cat /proc/self/attr/current 2>&1; echo",
            |_| {},
        ),
        shell("umask-default", "umask", |_| {}),
        shell("id", "id", |b| {
            cfg(b)["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [5]})
        }),
        shell("env-home", "echo HOME=$HOME", |b| {
            cfg(b)["process"]["user"] = json!({"uid": 1000, "gid": 1000})
        }),
        shell(
            "large-output",
            "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done",
            |_| {},
        ),
    ]
}

/// Bring a new container (`sleep 1000`) into `state`: created, running, paused or stopped.
fn reach(r: &mut Run, state: &str) -> bool {
    if state == "missing" {
        return true;
    }
    let out = r.cmd(&["create", "--bundle", "{bundle}", "{id}"]);
    if !out.success() {
        r.record("setup-failed", json!(r.ctx.text(&out.stderr)));
        return false;
    }
    if state == "created" {
        return true;
    }
    r.cmd(&["start", "{id}"]);
    r.wait_status("running", 10);
    match state {
        "paused" => {
            r.cmd(&["pause", "{id}"]);
        }
        "stopped" => {
            r.cmd(&["kill", "{id}", "KILL"]);
            r.wait_status("stopped", 10);
        }
        _ => {}
    }
    let st = r.status();
    if st != state {
        r.record(
            "setup-failed",
            json!(format!("status {st}, wanted {state}")),
        );
        return false;
    }
    true
}

/// Each verb in each state: accepted or refused, the status after it, and its output.
fn lifecycle_cases() -> Vec<Case> {
    type Op = (&'static str, &'static [&'static str]);
    const OPS: &[Op] = &[
        ("state", &["state", "{id}"]),
        ("start", &["start", "{id}"]),
        ("kill", &["kill", "{id}"]),
        ("kill-KILL", &["kill", "{id}", "KILL"]),
        ("kill-9", &["kill", "{id}", "9"]),
        ("kill-sigusr1-lowercase", &["kill", "{id}", "sigusr1"]),
        ("kill-all", &["kill", "--all", "{id}", "KILL"]),
        ("kill-0", &["kill", "{id}", "0"]),
        ("delete", &["delete", "{id}"]),
        ("delete-force", &["delete", "--force", "{id}"]),
        ("exec", &["exec", "{id}", "sh", "-c", "echo hi; exit 5"]),
        ("exec-detach", &["exec", "-d", "{id}", "true"]),
        ("pause", &["pause", "{id}"]),
        ("resume", &["resume", "{id}"]),
        ("ps", &["ps", "{id}"]),
        ("ps-json", &["ps", "--format", "json", "{id}"]),
        ("events-stats", &["events", "--stats", "{id}"]),
        ("update-pids", &["update", "--pids-limit", "100", "{id}"]),
        ("list", &["list"]),
        ("list-quiet", &["list", "-q"]),
        ("list-json", &["list", "--format", "json"]),
    ];
    let mut v = Vec::new();
    for state in ["created", "running", "paused", "stopped", "missing"] {
        for (op, args) in OPS {
            v.push(session(
                &format!("life/{state}/{op}"),
                |b| {
                    b.args(&["sleep", "1000"]);
                },
                move |r| {
                    if !reach(r, state) {
                        return;
                    }
                    let out = r.call(op, args);
                    record_op_output(r, op, &out);
                    if op.starts_with("kill")
                        && out.success()
                        && (args.contains(&"KILL") || args.contains(&"9"))
                    {
                        r.wait_status("stopped", 10);
                    }
                    if *op == "start" && out.success() {
                        r.wait_status("running", 10);
                    }
                    let st = r.status();
                    r.record("after.status", json!(st));
                },
            ));
        }
    }
    v
}

/// The output of an op, normalized by kind.
fn record_op_output(r: &mut Run, op: &str, out: &Output) {
    if !out.success() {
        return;
    }
    let text = r.ctx.text(&out.stdout);
    let v = match op {
        "state" => serde_json::from_str(out.stdout.trim())
            .map(|s| crate::normalize::state(&r.ctx, &s))
            .unwrap_or(json!(text)),
        "list-json" => serde_json::from_str(out.stdout.trim())
            .map(|s| crate::normalize::list(&r.ctx, &s))
            .unwrap_or(json!(text)),
        "ps-json" => serde_json::from_str::<Value>(out.stdout.trim())
            .map(|s| json!({"pids": s.as_array().map(Vec::len)}))
            .unwrap_or(json!(text)),
        // Columns: header line, and each row's last column (the command).
        "ps" | "list" => {
            let lines: Vec<&str> = text.lines().collect();
            let header: Vec<&str> = lines
                .first()
                .map(|l| l.split_whitespace().collect())
                .unwrap_or_default();
            let rows: Vec<String> = lines
                .iter()
                .skip(1)
                .map(|l| {
                    if op == "ps" {
                        l.split_whitespace().skip(7).collect::<Vec<_>>().join(" ")
                    } else {
                        let c: Vec<&str> = l.split_whitespace().collect();
                        format!("{} {}", c.first().unwrap_or(&""), c.get(2).unwrap_or(&""))
                    }
                })
                .collect();
            json!({"header": header, "rows": rows})
        }
        "events-stats" => serde_json::from_str::<Value>(out.stdout.trim())
            .map(|s| json!({"type": s["type"], "id": r.ctx.strings(&s["id"])}))
            .unwrap_or(json!(text)),
        "exec" => json!({"stdout": text, "code": out.code}),
        _ => json!(text),
    };
    r.record(&format!("{op}.output"), v);
    if op == "exec" {
        let err = crate::normalize::container_stderr(&r.ctx, &out.stderr);
        r.record("exec.stderr", json!(err));
    }
}

/// exec with its options, `run` variants, pid files, a second create of one id.
fn session_cases() -> Vec<Case> {
    let running = |b: &mut Bundle| {
        b.args(&["sleep", "1000"]);
    };
    let exec_probe = |name: &str, flags: &'static [&'static str]| {
        session(&format!("exec/{name}"), running, move |r| {
            if !reach(r, "running") {
                return;
            }
            let mut args = vec!["exec"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&["{id}", "/bin/berth-probe"]);
            let out = r.cmd(&args);
            r.output("exec", &out, true);
        })
    };
    let mut v = vec![
        exec_probe("default", &[]),
        exec_probe("user", &["--user", "1000:1000"]),
        exec_probe(
            "user-additional-gids",
            &["--user", "1000:1000", "--additional-gids", "5"],
        ),
        exec_probe(
            "env-cwd",
            &["--env", "FOO=bar", "--env", "PATH=/bin", "--cwd", "/tmp"],
        ),
        exec_probe("cap", &["--cap", "CAP_SYS_ADMIN"]),
        exec_probe("no-new-privs", &["--no-new-privs"]),
        session("exec/process-json", running, |r| {
            if !reach(r, "running") {
                return;
            }
            let p = json!({
                "terminal": false, "user": {"uid": 1000, "gid": 1000, "umask": 63},
                "args": ["/bin/berth-probe"], "env": ["PATH=/bin", "X=1"], "cwd": "/home/user",
                "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
                // soft = hard: runc 1.1.5 built with Go >= 1.19 sometimes leaves exec's soft NOFILE
                // raised to the hard limit (a runc bug, nondeterministic here).
                "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}],
                "noNewPrivileges": true, "oomScoreAdj": 600
            });
            let path = r.bundle.path().join("process.json");
            std::fs::write(&path, p.to_string()).unwrap();
            let out = r.cmd(&["exec", "--process", "{bundle}/process.json", "{id}"]);
            r.output("exec", &out, true);
        }),
        session("exec/missing-binary", running, |r| {
            if reach(r, "running") {
                let out = r.cmd(&["exec", "{id}", "/no/such/binary"]);
                r.record("exec.exit", json!(out.code));
            }
        }),
        session("exec/pid-file", running, |r| {
            if !reach(r, "running") {
                return;
            }
            let out = r.call(
                "exec",
                &[
                    "exec",
                    "-d",
                    "--pid-file",
                    "{bundle}/exec.pid",
                    "{id}",
                    "sleep",
                    "5",
                ],
            );
            let pid = std::fs::read_to_string(r.bundle.path().join("exec.pid")).ok();
            r.record("pid-file.written", json!(out.success() && pid.is_some()));
            r.record(
                "pid-file.newline",
                json!(pid.as_deref().map(|p| p.ends_with('\n'))),
            );
        }),
        session(
            "run/exit-codes",
            |_| {},
            |r| {
                r.foreground("true", &["true"], &[], false);
                r.foreground("exit3", &["sh", "-c", "exit 3"], &[], false);
                r.foreground("exit255", &["sh", "-c", "exit 255"], &[], false);
                r.foreground("notfound", &["/no/such/binary"], &[], false);
                r.foreground("notexec", &["/etc/passwd"], &[], false);
            },
        ),
        session("run/detach", running, |r| {
            let out = r.call("run-d", &["run", "-d", "--bundle", "{bundle}", "{id}"]);
            r.record("run-d.stdout", json!(r.ctx.text(&out.stdout)));
            r.state("after-run-d");
        }),
        session(
            "run/keep",
            |_| {},
            |r| {
                r.cmd(&["run", "--keep", "--bundle", "{bundle}", "{id}"]);
                r.state("after-run-keep");
            },
        ),
        session("create/pid-file", running, |r| {
            let out = r.call(
                "create",
                &[
                    "create",
                    "--pid-file",
                    "{bundle}/c.pid",
                    "--bundle",
                    "{bundle}",
                    "{id}",
                ],
            );
            let pid = std::fs::read_to_string(r.bundle.path().join("c.pid")).ok();
            let st = r.cmd(&["state", "{id}"]);
            let spid = serde_json::from_str::<Value>(st.stdout.trim())
                .ok()
                .and_then(|s| s["pid"].as_i64());
            r.record(
                "pid-file.matches-state",
                json!(
                    out.success()
                        && pid.as_deref().map(str::trim) == spid.map(|p| p.to_string()).as_deref()
                ),
            );
            r.record(
                "pid-file.newline",
                json!(pid.as_deref().map(|p| p.ends_with('\n'))),
            );
        }),
        session("create/twice", running, |r| {
            r.call("create1", &["create", "--bundle", "{bundle}", "{id}"]);
            r.call("create2", &["create", "--bundle", "{bundle}", "{id}"]);
            r.state("after");
        }),
        session("create/bundle-default-cwd", running, |r| {
            // Without --bundle the current directory is the bundle: from the test's cwd (the
            // package root, which has no config.json) both must refuse.
            r.call("create", &["create", "{id}"]);
        }),
        session("state/fields-running", running, |r| {
            if reach(r, "running") {
                r.state("running");
            }
        }),
        session(
            "state/fields-created-annotations",
            |b| {
                b.args(&["sleep", "1000"]);
                cfg(b)["annotations"] = json!({"a": "1", "org.example.b": "two words"});
            },
            |r| {
                if reach(r, "created") {
                    r.state("created");
                }
            },
        ),
        session(
            "state/stopped-by-exit",
            |b| {
                b.args(&["true"]);
            },
            |r| {
                r.cmd(&["create", "--bundle", "{bundle}", "{id}"]);
                r.cmd(&["start", "{id}"]);
                r.wait_status("stopped", 10);
                r.state("stopped");
            },
        ),
        session(
            "start/output-to-stdio",
            |b| {
                b.args(&["sh", "-c", "echo started-out; echo started-err >&2"]);
            },
            |r| {
                // The created container inherits create's stdio; start's own output is empty.
                let c = r.cmd(&["create", "--bundle", "{bundle}", "{id}"]);
                let s = r.cmd(&["start", "{id}"]);
                r.wait_status("stopped", 10);
                r.record("start.stdout", json!(r.ctx.text(&s.stdout)));
                r.record("create.accepted", json!(c.success()));
            },
        ),
        session("delete/stopped-twice", running, |r| {
            if reach(r, "stopped") {
                r.call("delete1", &["delete", "{id}"]);
                r.call("delete2", &["delete", "{id}"]);
                r.call("delete-force", &["delete", "--force", "{id}"]);
            }
        }),
        session("pause/twice-resume-twice", running, |r| {
            if reach(r, "running") {
                r.call("pause1", &["pause", "{id}"]);
                r.call("pause2", &["pause", "{id}"]);
                r.state("paused");
                r.call("resume1", &["resume", "{id}"]);
                r.call("resume2", &["resume", "{id}"]);
            }
        }),
    ];
    v.extend(fixture_cases());
    v
}

/// The fixture configs (tests/differential/fixtures/*.json): what containerd's CRI, podman and
/// docker send, with `{id}`, `{prefix}` and `{bundle}` placeholders. The process is the probe.
fn fixture_cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/fixtures");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut v = Vec::new();
    for f in files {
        if f.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = f.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&f).expect("read fixture");
        let fixture: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("fixture {}: {e}", f.display()));
        let config = Arc::new(fixture["config"].clone());
        let setup: Setup = Arc::new(move |b: &mut Bundle, n: &Names| {
            for file in [
                "hosts",
                "hostname",
                "resolv.conf",
                "termination-log",
                ".containerenv",
            ] {
                std::fs::write(b.path().join(file), format!("{file}\n")).unwrap();
            }
            std::fs::create_dir_all(b.path().join("shm")).unwrap();
            std::fs::create_dir_all(b.path().join("secrets")).unwrap();
            let mut c = n.fill(&config);
            c["root"]["path"] = json!("rootfs");
            *b.config_mut() = c;
        });
        let args: Vec<String> = fixture["probe_args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let flags: Vec<String> = fixture["create_flags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let pod = fixture["sandbox"].as_bool().unwrap_or(false);
        v.push(Case {
            name: format!("fixture/{name}"),
            kind: Kind::Session {
                setup,
                script: Arc::new(move |r: &mut Run| fixture_session(r, &args, &flags, pod)),
            },
        });
    }
    v
}

/// create (with the client's flags) → state → start → the probe's report → delete, the way a
/// shim drives it. A pod fixture first starts a sandbox (`sleep`) from the same config and
/// joins its ipc/uts/net namespaces by `/proc/<pid>/ns/*`, as CRI does.
fn fixture_session(r: &mut Run, probe_args: &[String], flags: &[String], pod: bool) {
    if pod {
        let mut sb = r.bundle.config().clone();
        sb["process"]["args"] = json!(["sleep", "1000"]);
        sb["mounts"] = crate::common::default_config()["mounts"].clone();
        if let Some(p) = sb["linux"]["cgroupsPath"].as_str() {
            sb["linux"]["cgroupsPath"] = json!(format!("{p}-sandbox"));
        }
        let saved = r.bundle.config().clone();
        r.bundle.write_config(&sb);
        let out = r.cmd(&["run", "-d", "--bundle", "{bundle}", "{id}-sandbox"]);
        r.record("sandbox.accepted", json!(out.success()));
        let st = r.cmd(&["state", "{id}-sandbox"]);
        let Some(pid) = serde_json::from_str::<Value>(st.stdout.trim())
            .ok()
            .and_then(|s| s["pid"].as_i64())
        else {
            return;
        };
        let mut c = saved;
        for ns in c["linux"]["namespaces"].as_array_mut().unwrap() {
            let file = match ns["type"].as_str() {
                Some("network") => "net",
                Some("ipc") => "ipc",
                Some("uts") => "uts",
                _ => continue,
            };
            ns["path"] = json!(format!("/proc/{pid}/ns/{file}"));
        }
        *r.bundle.config_mut() = c;
        r.ctx.label_namespaces_of("sandbox", &pid.to_string());
    }
    let mut c = r.bundle.config().clone();
    let mut args = vec![json!("/bin/berth-probe")];
    args.extend(probe_args.iter().map(|a| json!(a)));
    c["process"]["args"] = Value::Array(args);
    r.bundle.write_config(&c);
    let mut create: Vec<&str> = flags.iter().map(String::as_str).collect();
    create.extend_from_slice(&["create", "--bundle", "{bundle}", "{id}"]);
    // Global flags (e.g. --systemd-cgroup) come before the verb.
    let (out_path, err_path) = (r.bundle.path().join("c.out"), r.bundle.path().join("c.err"));
    let code = r.cmd_to_files(&create, &out_path, &err_path);
    r.record("create.accepted", json!(code == 0));
    if code != 0 {
        return;
    }
    r.state("created");
    // The container inherited create's stdout and stderr (files in the bundle): read them after
    // it stopped.
    r.call("start", &["start", "{id}"]);
    r.wait_status("stopped", 10);
    r.state("stopped");
    r.call("delete", &["delete", "{id}"]);
    let _ = r.cmd(&["delete", "--force", "{id}-sandbox"]);
    let out = Output {
        args: vec![],
        code: 0,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    };
    r.output("probe", &out, true);
}

/// The fuzz seeds that are valid configs, with the probe as the process.
fn fuzz_cases() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/config_plan");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter_map(|f| {
            let v: Value = serde_json::from_slice(&std::fs::read(&f).ok()?).ok()?;
            let name = f.file_stem()?.to_string_lossy().into_owned();
            Some(Case {
                name: format!("fuzz-seed/{name}"),
                kind: Kind::Probe {
                    setup: Arc::new(move |b: &mut Bundle, _: &Names| {
                        let mut c = v.clone();
                        c["root"] = json!({"path": "rootfs", "readonly": c["root"]["readonly"]});
                        c["process"]["terminal"] = json!(false);
                        *b.config_mut() = c;
                    }),
                    args: vec![],
                },
            })
        })
        .collect()
}

/// The conformance checks: probe and shell bundles are compared by observation, CLI checks by
/// whether they hold.
fn conformance_cases() -> Vec<Case> {
    use crate::conformance_framework::Kind as CKind;
    let mut all = crate::checks_config::checks();
    all.extend(crate::checks_linux::checks());
    all.extend(crate::checks_runtime::checks());
    all.into_iter()
        .map(|c| {
            let name = format!(
                "conf/{}",
                c.what
                    .chars()
                    .map(|ch| if ch.is_ascii_alphanumeric() { ch } else { '-' })
                    .collect::<String>()
                    .split('-')
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join("-")
            );
            let kind = match c.kind {
                CKind::Probe { setup: s, args, .. } => Kind::Probe {
                    setup: Arc::new(move |b: &mut Bundle, _: &Names| s(b)),
                    args: args.iter().map(|a| a.to_string()).collect(),
                },
                CKind::Shell {
                    setup: s, script, ..
                } => Kind::Shell {
                    setup: Arc::new(move |b: &mut Bundle, _: &Names| s(b)),
                    script: script.to_string(),
                },
                CKind::Cli(f) => Kind::Verdict(f),
            };
            Case { name, kind }
        })
        .collect()
}

fn bad_input_cases() -> Vec<Case> {
    crate::bad_cases::cases()
        .into_iter()
        .map(|c| Case {
            name: format!("bad/{}", c.name),
            kind: Kind::Bad(c.run),
        })
        .collect()
}

/// The whole corpus, in a fixed order.
pub fn all() -> Vec<Case> {
    let mut v = probe_cases();
    v.extend(shell_cases());
    v.extend(lifecycle_cases());
    v.extend(session_cases());
    v.extend(fuzz_cases());
    v.extend(conformance_cases());
    v.extend(bad_input_cases());
    v
}
