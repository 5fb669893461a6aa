//! Issue #13, "Done when": the mount code never resolves a container path twice. A create runs
//! under `strace -f` with a config that exercises every kind of mount berth makes (binds rw
//! and ro under a volume, an id-mapped bind, a tmpcopyup tmpfs, a read-only tmpfs, propagation flags, the cgroup mount, masked and
//! read-only paths, rootfsPropagation, a read-only root), with pivot_root and with
//! `--no-pivot`, and every mount-changing call in the trace must address its target by fd. Needs root and strace (`make deps`); skips loudly
//! otherwise.

mod common;
use common::*;
use serde_json::json;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// The calls that change or create mounts. fsopen/fsconfig/fsmount build a detached mount
/// (nothing is resolved in the tree), so they are traced only to show the order.
const MOUNT_CALLS: &[&str] = &[
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "fspick",
    "umount2",
];

/// One traced call, as strace printed it with `-y` (fds annotated with their paths).
#[derive(Debug)]
struct Call {
    pid: String,
    line: String,
    name: String,
    /// The top-level arguments, strings still quoted.
    args: Vec<String>,
    /// A `pivot_root` or `chroot` succeeded earlier in this process: "/" is the container's.
    pivoted: bool,
}

/// Splits strace's argument list on top-level commas (not inside quotes, `{}`, `[]`, `<>`).
fn split_args(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted, mut escaped) =
        (Vec::new(), String::new(), 0i32, false, false);
    for c in s.chars() {
        if quoted {
            cur.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => quoted = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            '{' | '[' | '<' | '(' => depth += 1,
            '}' | ']' | '>' | ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Reads the per-process files of `strace -ff -o <prefix>`: the successful calls of
/// [`MOUNT_CALLS`] (a failed call changed nothing), in order per process.
fn read_trace(dir: &Path) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut files: Vec<_> = fs::read_dir(dir).unwrap().flatten().collect();
    files.sort_by_key(|e| e.file_name());
    for f in files {
        let name = f.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("t.") else {
            continue;
        };
        let mut pivoted = false;
        for line in fs::read_to_string(f.path()).unwrap().lines() {
            let Some((call, rest)) = line.split_once('(') else {
                continue;
            };
            // `...) = 0`, strace pads short calls: `pivot_root(".", ".")    = 0`.
            let Some((args, ret)) = rest.rsplit_once(" = ") else {
                continue;
            };
            let Some(args) = args.trim_end().strip_suffix(')') else {
                continue;
            };
            if !ret.starts_with('0') && !ret.chars().next().is_some_and(|c| c.is_ascii_digit()) {
                continue; // failed: -1 E...
            }
            if call == "pivot_root" || call == "chroot" {
                pivoted = true;
            }
            calls.push(Call {
                pid: pid.to_string(),
                line: line.to_string(),
                name: call.to_string(),
                args: split_args(args),
                pivoted,
            });
        }
    }
    calls
}

/// The path strings a call resolves, with the directory each is relative to (`AT_FDCWD`, or
/// an fd as `-y` prints it: `5</path>`). An empty string with AT_EMPTY_PATH (or the
/// MOVE_MOUNT_*_EMPTY_PATH flags) resolves nothing.
fn resolved_paths(c: &Call) -> Vec<(String, String)> {
    let a = &c.args;
    let pair = |dir: usize, path: usize| (a[dir].clone(), a[path].clone());
    let list = match c.name.as_str() {
        // mount(source, target, type, flags, data): the target always; the source when it is
        // a bind or a move (for a filesystem it is a name, not a path).
        "mount" => {
            let mut v = vec![("AT_FDCWD".to_string(), a[1].clone())];
            if a[3].contains("MS_BIND") || a[3].contains("MS_MOVE") {
                v.push(("AT_FDCWD".to_string(), a[0].clone()));
            }
            v
        }
        "umount2" => vec![("AT_FDCWD".to_string(), a[0].clone())],
        "open_tree" | "fspick" | "mount_setattr" => vec![pair(0, 1)],
        "move_mount" => vec![pair(0, 1), pair(2, 3)],
        _ => Vec::new(),
    };
    list.into_iter()
        .filter(|(_, p)| p != "\"\"" && p != "NULL")
        .collect()
}

/// Path-based calls berth makes on purpose, each with why it cannot be redirected: the call,
/// its path argument exactly as strace prints it (the rootfs as `ROOTFS`), and whether it comes
/// after pivot_root in its process.
const ALLOWED: &[(&str, &str, bool)] = &[
    // Host side, before pivot_root, in the init's new mount namespace: "/" is the host's root
    // (nothing of the container's is involved), made rslave so nothing propagates back; with
    // `--no-pivot`, the target of the rootfs's MS_MOVE, before the chroot.
    ("mount", "\"/\"", false),
    // The rootfs bound onto itself: root.path from the caller, resolved here for the first
    // time; every destination is then walked from an fd of this mount. With `--no-pivot`
    // also the source of the MS_MOVE onto "/".
    ("mount", "\"ROOTFS\"", false),
    // After pivot_root(".", "."): the old root is stacked on the new one and "." is the cwd,
    // set by fchdir to an fd of the old root opened before the pivot; "." names the cwd
    // itself, not a lookup through anything the container controls, and the old root is the
    // host's (its propagation made rslave, then detached).
    ("mount", "\".\"", true),
    ("umount2", "\".\"", true),
];

/// Host-side paths outside the rootfs are the caller's (bind sources, the rootfs's parent
/// made private for pivot_root): resolved once, by the kernel, like any host path. Not
/// `/proc/...`: `/proc/self/fd/N` is a path back to an fd, into the container (runc's way,
/// and the string issue #13's attack 1 redirected).
fn is_host_path(path: &str, rootfs: &str) -> bool {
    let p = path.trim_matches('"');
    p.starts_with('/')
        && !p.starts_with("/proc/")
        && p != rootfs
        && !p.starts_with(&format!("{rootfs}/"))
}

/// The calls that resolve a path string inside the container's root, minus [`ALLOWED`].
fn re_resolutions(calls: &[Call], rootfs: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for c in calls
        .iter()
        .filter(|c| MOUNT_CALLS.contains(&c.name.as_str()))
    {
        for (dir, path) in resolved_paths(c) {
            let shown = path.replace(rootfs, "ROOTFS");
            if ALLOWED
                .iter()
                .any(|&(name, p, after)| name == c.name && p == shown && after == c.pivoted)
            {
                continue;
            }
            // Before the pivot, an absolute host path outside the rootfs is the caller's.
            if !c.pivoted && dir.starts_with("AT_FDCWD") && is_host_path(&path, rootfs) {
                continue;
            }
            bad.push(format!(
                "pid {}: {} (path {path} relative to {dir})",
                c.pid, c.line
            ));
        }
    }
    bad
}

#[test]
fn mount_calls_address_every_container_target_by_fd() {
    if !require_root() || runc_gap("runc mounts container destinations by path") {
        return;
    }
    if run_command("strace", &["-V".to_string()], Duration::from_secs(10)).code != 0 {
        loud("SKIP mount_calls_address_every_container_target_by_fd: strace not installed (make deps)");
        return;
    }
    let rt = Runtime::new();
    let mut b = Bundle::new();
    let host = tempfile::Builder::new()
        .prefix("berth-it-trace-")
        .tempdir()
        .unwrap();
    let (vol, ro_src, prop_src) = (
        host.path().join("vol"),
        host.path().join("ro-src"),
        host.path().join("prop-src"),
    );
    for d in [&vol, &ro_src, &prop_src] {
        fs::create_dir(d).unwrap();
    }
    fs::create_dir(vol.join("a")).unwrap();
    fs::write(ro_src.join("f"), "host").unwrap();
    b.mount(json!({"destination": "/vol", "type": "bind", "source": vol,
        "options": ["rbind", "rw"]}));
    b.mount(
        json!({"destination": "/vol/a", "type": "bind", "source": ro_src,
        "options": ["bind", "ro", "nosuid", "nodev"]}),
    );
    b.mount(
        json!({"destination": "/prop", "type": "bind", "source": prop_src,
        "options": ["rbind", "rslave", "noexec"]}),
    );
    b.mount(
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["ro", "nosuid", "mode=700", "size=1m", "private"]}),
    );
    // An id-mapped bind (opened and id-mapped on the host, attached by fd in the init) and a
    // tmpcopyup tmpfs over the image's /etc (filled by fd before it is attached).
    b.mount(
        json!({"destination": "/idmapped", "type": "bind", "source": prop_src,
        "options": ["rbind", "ridmap"],
        "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}],
        "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 10}]}),
    );
    b.mount(
        json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "tmpcopyup", "size=1m"]}),
    );
    // The default config already has proc, /dev tmpfs, devpts, shm, mqueue, sysfs, the cgroup
    // mount (ro) and runc's masked and read-only paths.
    let cfg = b.config_mut();
    assert!(
        cfg["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["type"] == "cgroup"),
        "the default config mounts cgroup"
    );
    assert!(!cfg["linux"]["maskedPaths"].as_array().unwrap().is_empty());
    assert!(!cfg["linux"]["readonlyPaths"].as_array().unwrap().is_empty());
    cfg["linux"]["rootfsPropagation"] = json!("rslave");
    cfg["root"]["readonly"] = json!(true);
    b.args(&["/bin/berth-probe"]);
    b.write();

    for extra in [&[][..], &["--no-pivot"]] {
        traced_run_resolves_nothing_in_the_container(&rt, &b, extra);
    }
}

/// Runs the bundle under strace (`berth run [extra]`) and checks the trace.
fn traced_run_resolves_nothing_in_the_container(rt: &Runtime, b: &Bundle, extra: &[&str]) {
    let traces = tempfile::tempdir().unwrap();
    let id = unique_id();
    let mut args: Vec<String> = [
        "-f",
        "-ff",
        "-qq",
        "-y",
        "-s",
        "4096",
        "-e",
        "trace=mount,mount_setattr,move_mount,open_tree,fspick,umount2,fsopen,fsmount,pivot_root,chroot",
        "-o",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(traces.path().join("t").display().to_string());
    args.push(rt.bin().display().to_string());
    for a in ["--root", rt.root_str(), "run"] {
        args.push(a.to_string());
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    for a in ["--bundle", b.path_str(), &id] {
        args.push(a.to_string());
    }
    let out = run_command("strace", &args, Duration::from_secs(120));
    rt.assert_nothing_left(&id, b);
    assert_eq!(out.code, 0, "the run under strace failed: {out}");
    // The probe saw the mounts it was given (the trace is of a working create).
    let report: serde_json::Value = serde_json::from_str(
        out.stdout
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no probe report: {out}")),
    )
    .unwrap();
    let mounts = report["mounts"].to_string();
    for dest in ["/vol/a", "/prop", "/scratch", "/sys/fs/cgroup"] {
        assert!(mounts.contains(dest), "{dest} not mounted: {mounts}");
    }

    let rootfs = b.rootfs().display().to_string();
    let calls = read_trace(traces.path());
    let mounting: Vec<&Call> = calls
        .iter()
        .filter(|c| MOUNT_CALLS.contains(&c.name.as_str()))
        .collect();
    let by_fd = mounting
        .iter()
        .filter(|c| resolved_paths(c).is_empty())
        .count();
    eprintln!(
        "mount_trace {extra:?}: {} mount-changing calls, {by_fd} of them by fd alone; {} traced calls in all",
        mounting.len(),
        calls.len()
    );
    let bad = re_resolutions(&calls, &rootfs);
    assert!(
        bad.is_empty(),
        "{extra:?}: mount calls that resolve a path inside the container's root:\n{}",
        bad.join("\n")
    );
    // Enough of each kind to know the config was exercised.
    for (name, at_least) in [("move_mount", 10), ("mount_setattr", 5), ("open_tree", 3)] {
        let n = mounting.iter().filter(|c| c.name == name).count();
        assert!(n >= at_least, "only {n} {name} calls: {calls:#?}");
    }
    let enter = if extra.is_empty() {
        "pivot_root"
    } else {
        "chroot"
    };
    let names: std::collections::BTreeSet<&str> = calls.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(enter), "no {enter} in the trace: {names:?}");
}
