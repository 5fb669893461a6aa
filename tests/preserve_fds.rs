//! Preserved fds: `--preserve-fds N` passes fds 3..3+N-1 in order (create/run and exec), and
//! systemd socket activation (`LISTEN_FDS`) passes the listening fds with `LISTEN_FDS=n`,
//! `LISTEN_PID=1` in the container's environment, as runc does. Observed by the probe.

mod common;
#[path = "common/exec_support.rs"]
mod exec_support;

use common::*;
use exec_support::*;

fn marker_files(n: usize) -> (tempfile::TempDir, Vec<std::fs::File>) {
    let dir = tempfile::tempdir().unwrap();
    let files = (0..n)
        .map(|i| {
            let p = dir.path().join(format!("fd-marker-{i}"));
            std::fs::write(&p, "x").unwrap();
            std::fs::File::open(&p).unwrap()
        })
        .collect();
    (dir, files)
}

#[test]
fn preserve_fds_passes_exactly_n_fds_in_order() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.args(&["/bin/berth-probe"]).write();
    let rt = Runtime::new();
    let id = unique_id();
    let (_d, files) = marker_files(3);
    let refs: Vec<&std::fs::File> = files.iter().collect();
    let out = run_with_fds(
        &rt,
        &["run", "--preserve-fds", "2", "--bundle", b.path_str(), &id],
        &refs,
        &[],
    );
    out.ok();
    let r = out.json();
    let fds = &r["fds"];
    assert!(fds["3"].as_str().unwrap().ends_with("fd-marker-0"), "{fds}");
    assert!(fds["4"].as_str().unwrap().ends_with("fd-marker-1"), "{fds}");
    // The third was not asked for: it must not leak (nor anything of berth's).
    let leaked: Vec<_> = fds
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.parse::<u32>().unwrap() > 4)
        .filter(|(_, v)| !v.as_str().unwrap_or("").starts_with("/proc"))
        .collect();
    assert!(leaked.is_empty(), "unexpected fds: {leaked:?}");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn socket_activation_fds_and_env_reach_the_init() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.args(&["/bin/berth-probe"]).write();
    let rt = Runtime::new();
    let id = unique_id();
    let (_d, files) = marker_files(2);
    let refs: Vec<&std::fs::File> = files.iter().collect();
    let out = run_with_fds(
        &rt,
        &["run", "--bundle", b.path_str(), &id],
        &refs,
        &[("LISTEN_FDS", "2")],
    );
    out.ok();
    let r = out.json();
    assert_eq!(r["env"]["LISTEN_FDS"], "2");
    assert_eq!(r["env"]["LISTEN_PID"], "1");
    assert_eq!(r["pid"], 1);
    assert!(r["fds"]["3"].as_str().unwrap().ends_with("fd-marker-0"));
    assert!(r["fds"]["4"].as_str().unwrap().ends_with("fd-marker-1"));
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn listen_fds_for_another_pid_is_ignored() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.args(&["/bin/berth-probe"]).write();
    let rt = Runtime::new();
    let id = unique_id();
    let (_d, files) = marker_files(1);
    let out = run_with_fds(
        &rt,
        &["run", "--bundle", b.path_str(), &id],
        &[&files[0]],
        &[("LISTEN_FDS", "1"), ("LISTEN_PID", "1")],
    );
    out.ok();
    let r = out.json();
    assert!(r["env"].get("LISTEN_FDS").is_none(), "{}", r["env"]);
    assert!(r["fds"].get("3").is_none(), "{}", r["fds"]);
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_preserve_fds() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    let (_d, files) = marker_files(2);
    let refs: Vec<&std::fs::File> = files.iter().collect();
    let out = run_with_fds(
        &rt,
        &["exec", "--preserve-fds", "1", &id, "/bin/berth-probe"],
        &refs,
        &[],
    );
    out.ok();
    let r = out.json();
    assert!(r["fds"]["3"].as_str().unwrap().ends_with("fd-marker-0"));
    assert!(r["fds"].get("4").is_none(), "{}", r["fds"]);
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}
