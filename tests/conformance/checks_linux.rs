//! Checks from config-linux.md and runtime-linux.md: namespaces, user namespace mappings,
//! devices, masked and read-only paths, sysctl, propagation, cgroups, seccomp, file
//! descriptors and /dev symlinks.

use super::prelude::*;
use serde_json::json;

fn host_ns(ns: &str) -> u64 {
    ns_inode("self", ns)
}

/// Shell checks reading cgroup files see the container's own cgroup at /sys/fs/cgroup/<ctrl>.
fn cgroup_path(b: &mut Bundle) {
    let id = unique_id();
    b.config_mut()["linux"]["cgroupsPath"] = json!(format!("/berth-conf-{id}"));
}

macro_rules! new_ns_check {
    ($ns:literal, $probe_name:literal) => {
        Check {
            section: "config-linux.md#namespaces",
            level: Level::Must,
            what: concat!(
                "a listed ",
                $ns,
                " namespace without path is a new namespace"
            ),
            kind: Kind::Probe {
                setup: |b| {
                    b.namespace($ns, None);
                },
                args: &[],
                check: |r| {
                    let got = r["namespaces"][$probe_name].as_u64();
                    ensure!(
                        got.is_some(),
                        "no {} namespace in {}",
                        $probe_name,
                        r["namespaces"]
                    );
                    ensure!(
                        got != Some(host_ns($probe_name)),
                        "shares the host's {}",
                        $ns
                    );
                    Ok(())
                },
            },
        }
    };
}

pub fn checks() -> Vec<Check> {
    vec![
        new_ns_check!("pid", "pid"),
        new_ns_check!("network", "net"),
        new_ns_check!("ipc", "ipc"),
        new_ns_check!("uts", "uts"),
        new_ns_check!("mount", "mnt"),
        new_ns_check!("cgroup", "cgroup"),
        Check {
            section: "config-linux.md#namespaces",
            level: Level::Must,
            what: "a new pid namespace makes the container process PID 1",
            kind: Kind::Probe {
                setup: no_setup,
                args: &[],
                check: |r| {
                    ensure!(r["pid"] == 1, "pid {}", r["pid"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#namespaces",
            level: Level::Must,
            what: "a namespace type not listed is inherited from the runtime",
            kind: Kind::Probe {
                setup: |b| {
                    b.remove_namespace("ipc");
                },
                args: &[],
                check: |r| {
                    ensure!(r["namespaces"]["ipc"].as_u64() == Some(host_ns("ipc")), "new ipc ns");
                    ensure!(
                        r["namespaces"]["user"].as_u64() == Some(host_ns("user")),
                        "new user ns"
                    );
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#namespaces",
            level: Level::Must,
            what: "a namespace with a path is joined",
            kind: Kind::Probe {
                setup: |b| {
                    b.namespace("ipc", Some(&format!("/proc/{}/ns/ipc", std::process::id())));
                },
                args: &[],
                check: |r| {
                    ensure!(
                        r["namespaces"]["ipc"].as_u64() == Some(host_ns("ipc")),
                        "ipc {} != host {}",
                        r["namespaces"]["ipc"],
                        host_ns("ipc")
                    );
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#user-namespace-mappings",
            level: Level::Must,
            what: "uidMappings and gidMappings are the user namespace's maps",
            kind: Kind::Probe {
                setup: |b| {
                    b.namespace("user", None);
                    b.config_mut()["linux"]["uidMappings"] =
                        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                    b.config_mut()["linux"]["gidMappings"] =
                        json!([{"containerID": 0, "hostID": 200000, "size": 1000}]);
                },
                args: &[],
                check: |r| {
                    let norm = |v: &Value| {
                        v.as_str()
                            .unwrap_or_default()
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                    };
                    ensure!(norm(&r["uid_map"]) == "0 100000 65536", "{}", r["uid_map"]);
                    ensure!(norm(&r["gid_map"]) == "0 200000 1000", "{}", r["gid_map"]);
                    ensure!(r["namespaces"]["user"].as_u64() != Some(host_ns("user")), "no userns");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#offset-for-time-namespace",
            level: Level::Must,
            what: "timeOffsets are the time namespace's offsets",
            kind: Kind::Probe {
                setup: |b| {
                    b.namespace("time", None);
                    b.config_mut()["linux"]["timeOffsets"] =
                        json!({"monotonic": {"secs": 86400, "nanosecs": 0}});
                },
                args: &[],
                check: |r| {
                    let t = r["timens_offsets"].as_str().unwrap_or_default();
                    let line = t.lines().find(|l| l.starts_with("monotonic"));
                    let f: Vec<&str> = line.unwrap_or_default().split_whitespace().collect();
                    ensure!(f.get(1) == Some(&"86400"), "timens_offsets {t:?}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#devices",
            level: Level::Must,
            what: "linux.devices are created with type, numbers, mode and owner",
            kind: Kind::Probe {
                setup: |b| {
                    b.config_mut()["linux"]["devices"] = json!([{"path": "/dev/berthnull",
                        "type": "c", "major": 1, "minor": 3, "fileMode": 0o666,
                        "uid": 1000, "gid": 5}]);
                    b.config_mut()["linux"]["resources"]["devices"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"allow": true, "type": "c", "major": 1, "minor": 3,
                            "access": "rwm"}));
                },
                args: &["--open", "/dev/berthnull"],
                check: |r| {
                    let d = &r["dev"]["berthnull"];
                    ensure!(d["kind"] == "char" && d["major"] == 1 && d["minor"] == 3, "{d}");
                    ensure!(d["mode"] == "0666" && d["uid"] == 1000 && d["gid"] == 5, "{d}");
                    ensure!(r["open"]["/dev/berthnull"]["ok"] == true, "{}", r["open"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#default-devices",
            level: Level::Must,
            what: "the default devices exist (null zero full random urandom tty)",
            kind: Kind::Probe {
                setup: no_setup,
                args: &["--open", "/dev/null", "--open", "/dev/urandom"],
                check: |r| {
                    for (n, maj, min) in [
                        ("null", 1, 3),
                        ("zero", 1, 5),
                        ("full", 1, 7),
                        ("random", 1, 8),
                        ("urandom", 1, 9),
                        ("tty", 5, 0),
                    ] {
                        let d = &r["dev"][n];
                        ensure!(
                            d["kind"] == "char" && d["major"] == maj && d["minor"] == min,
                            "/dev/{n}: {d}"
                        );
                    }
                    ensure!(r["open"]["/dev/null"]["ok"] == true, "{}", r["open"]);
                    ensure!(r["open"]["/dev/urandom"]["ok"] == true, "{}", r["open"]);
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#default-devices",
            level: Level::Must,
            what: "/dev/ptmx is the container's pts/ptmx",
            kind: Kind::Probe {
                setup: no_setup,
                args: &[],
                check: |r| {
                    let d = &r["dev"]["ptmx"];
                    let ok = (d["kind"] == "symlink" && d["target"] == "pts/ptmx")
                        || (d["kind"] == "char" && d["major"] == 5 && d["minor"] == 2);
                    ensure!(ok, "{d}");
                    Ok(())
                },
            },
        },
        Check {
            section: "runtime-linux.md#dev-symbolic-links",
            level: Level::Must,
            what: "/dev/fd, /dev/stdin, /dev/stdout, /dev/stderr symlinks exist",
            kind: Kind::Probe {
                setup: no_setup,
                args: &[],
                check: |r| {
                    for (n, t) in [
                        ("fd", "/proc/self/fd"),
                        ("stdin", "/proc/self/fd/0"),
                        ("stdout", "/proc/self/fd/1"),
                        ("stderr", "/proc/self/fd/2"),
                    ] {
                        let d = &r["dev"][n];
                        ensure!(d["kind"] == "symlink" && d["target"] == t, "/dev/{n}: {d}");
                    }
                    Ok(())
                },
            },
        },
        Check {
            section: "runtime-linux.md#file-descriptors",
            level: Level::Must,
            what: "only stdin, stdout and stderr are open in the container process",
            kind: Kind::Probe {
                setup: no_setup,
                args: &[],
                check: |r| {
                    let fds = r["fds"].as_object().ok_or("no fds")?;
                    // The probe's own directory handle on /proc/self/fd is the only extra.
                    let extra: Vec<_> = fds
                        .iter()
                        .filter(|(k, v)| {
                            !["0", "1", "2"].contains(&k.as_str())
                                && !v.as_str().unwrap_or_default().contains("/fd")
                        })
                        .collect();
                    ensure!(extra.is_empty(), "extra fds {extra:?}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#masked-paths",
            level: Level::Must,
            what: "maskedPaths cannot be read (file and directory)",
            kind: Kind::Shell {
                setup: no_setup,
                script: "wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l",
                check: |o| {
                    let v: Vec<&str> = o.split_whitespace().collect();
                    ensure!(v == ["0", "0"], "timer_list bytes, /sys/firmware entries: {o:?}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#readonly-paths",
            level: Level::Must,
            what: "readonlyPaths are read-only",
            kind: Kind::Probe {
                setup: no_setup,
                args: &["--write", "/proc/sys/kernel/hostname"],
                check: |r| {
                    let w = &r["write"]["/proc/sys/kernel/hostname"];
                    ensure!(w["error"] == "EROFS", "{w}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#sysctl",
            level: Level::Must,
            what: "linux.sysctl values are set in the container's namespaces",
            kind: Kind::Probe {
                setup: |b| {
                    b.config_mut()["linux"]["sysctl"] =
                        json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
                },
                args: &["--sysctl", "net.ipv4.ip_forward", "--sysctl", "kernel.shmmni"],
                check: |r| {
                    let s = &r["sysctl"];
                    ensure!(s["net.ipv4.ip_forward"]["value"] == "1", "{s}");
                    ensure!(s["kernel.shmmni"]["value"] == "1234", "{s}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#rootfs-mount-propagation",
            level: Level::Must,
            what: "rootfsPropagation sets the propagation of /",
            kind: Kind::Probe {
                setup: |b| b.config_mut()["linux"]["rootfsPropagation"] = json!("unbindable"),
                args: &[],
                check: |r| {
                    let m = find_mount(r, "/").ok_or("no /")?;
                    ensure!(m["propagation"] == "unbindable", "{m}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#cgroups-path",
            level: Level::Must,
            what: "cgroupsPath places the container in that cgroup",
            kind: Kind::Probe {
                setup: cgroup_path,
                args: &[],
                check: |r| {
                    let lines = r["cgroup"].as_array().ok_or("no cgroup")?;
                    let mem = lines
                        .iter()
                        .find(|l| l["controllers"].as_str().is_some_and(|c| c.contains("memory")))
                        .ok_or("no memory line")?;
                    let p = mem["path"].as_str().unwrap_or_default();
                    ensure!(p.starts_with("/berth-conf-"), "memory cgroup {p}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#memory",
            level: Level::Must,
            what: "resources.memory.limit is the cgroup's memory limit",
            kind: Kind::Shell {
                setup: |b| {
                    cgroup_path(b);
                    b.config_mut()["linux"]["resources"]["memory"] = json!({"limit": 67108864});
                },
                script: "cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
                check: |o| {
                    ensure!(o.trim() == "67108864", "{o:?}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#pids",
            level: Level::Must,
            what: "resources.pids.limit is the cgroup's pids.max",
            kind: Kind::Shell {
                setup: |b| {
                    cgroup_path(b);
                    b.config_mut()["linux"]["resources"]["pids"] = json!({"limit": 42});
                },
                script: "cat /sys/fs/cgroup/pids/pids.max",
                check: |o| {
                    ensure!(o.trim() == "42", "{o:?}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#cpu",
            level: Level::Must,
            what: "resources.cpu.shares and quota/period are the cgroup's values",
            kind: Kind::Shell {
                setup: |b| {
                    cgroup_path(b);
                    b.config_mut()["linux"]["resources"]["cpu"] =
                        json!({"shares": 512, "quota": 50000, "period": 100000});
                },
                script: "cd /sys/fs/cgroup/cpu && cat cpu.shares cpu.cfs_quota_us cpu.cfs_period_us",
                check: |o| {
                    let v: Vec<&str> = o.split_whitespace().collect();
                    ensure!(v == ["512", "50000", "100000"], "{o:?}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#allowed-device-list",
            level: Level::Must,
            what: "the device cgroup denies devices not allowed (mknod'ed /dev/sda-like node)",
            kind: Kind::Shell {
                setup: |b| {
                    b.config_mut()["process"]["capabilities"]["bounding"] =
                        json!(["CAP_MKNOD"]);
                    b.config_mut()["process"]["capabilities"]["effective"] =
                        json!(["CAP_MKNOD"]);
                    b.config_mut()["process"]["capabilities"]["permitted"] =
                        json!(["CAP_MKNOD"]);
                },
                script: "mknod /dev/berth-disk b 8 0 2>/dev/null; cat /dev/berth-disk >/dev/null 2>&1 && echo readable || echo denied",
                check: |o| {
                    ensure!(o.trim() == "denied", "{o:?}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#seccomp",
            level: Level::Must,
            what: "the seccomp filter is installed and its actions apply",
            kind: Kind::Shell {
                setup: |b| {
                    b.config_mut()["root"]["readonly"] = json!(false);
                    b.config_mut()["linux"]["seccomp"] = json!({
                        "defaultAction": "SCMP_ACT_ALLOW",
                        "architectures": ["SCMP_ARCH_X86_64"],
                        "syscalls": [{"names": ["mkdir", "mkdirat"],
                            "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]});
                },
                script: "grep Seccomp: /proc/self/status; mkdir /tmp/x 2>&1; true",
                check: |o| {
                    ensure!(o.contains("Seccomp:\t2"), "{o:?}");
                    ensure!(o.contains("Operation not permitted"), "{o:?}");
                    Ok(())
                },
            },
        },
        Check {
            section: "config-linux.md#default-filesystems",
            level: Level::Should,
            what: "/proc, /sys, /dev/pts and /dev/shm are mounted with their types",
            kind: Kind::Probe {
                setup: no_setup,
                args: &[],
                check: |r| {
                    for (p, t) in [
                        ("/proc", "proc"),
                        ("/sys", "sysfs"),
                        ("/dev/pts", "devpts"),
                        ("/dev/shm", "tmpfs"),
                    ] {
                        let m = find_mount(r, p).ok_or(format!("no {p}"))?;
                        ensure!(m["fstype"] == t, "{p}: {m}");
                    }
                    Ok(())
                },
            },
        },
    ]
}
