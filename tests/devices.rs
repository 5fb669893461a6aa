//! /dev (config-linux.md "Default Devices", "Devices"; runtime-linux.md "Dev symbolic
//! links"), observed through the probe's listing of /dev.

mod common;
use common::*;
use serde_json::{json, Value};

fn dev<'a>(r: &'a Value, name: &str) -> &'a Value {
    let d = &r["dev"][name];
    assert!(
        !d.is_null(),
        "/dev/{name} missing; /dev has {:?}",
        r["dev"].as_object().map(|o| o.keys().collect::<Vec<_>>())
    );
    d
}

#[test]
fn default_devices_exist_with_numbers() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &["--open", "/dev/null", "--open", "/dev/zero"]);
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        let d = dev(&r, name);
        assert_eq!(d["kind"], "char", "{d}");
        assert_eq!(
            (d["major"].as_u64(), d["minor"].as_u64()),
            (Some(major), Some(minor)),
            "{d}"
        );
        assert_eq!(d["mode"], "0666", "{d}");
        assert_eq!(
            (d["uid"].as_u64(), d["gid"].as_u64()),
            (Some(0), Some(0)),
            "{d}"
        );
    }
    // The device cgroup (deny all + the default allow list) must let the defaults open.
    assert_eq!(r["open"]["/dev/null"]["ok"], true, "{}", r["open"]);
    assert_eq!(r["open"]["/dev/zero"]["ok"], true, "{}", r["open"]);
}

#[test]
fn dev_symlinks() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let d = dev(&r, name);
        assert_eq!(d["kind"], "symlink", "{d}");
        assert_eq!(d["target"], target, "{d}");
    }
    // /proc/kcore is absent on this kernel, so /dev/core is optional.
    if !r["dev"]["core"].is_null() {
        assert_eq!(r["dev"]["core"]["target"], "/proc/kcore");
    }
}

#[test]
fn ptmx_points_into_devpts() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &["--open", "/dev/ptmx"]);
    let ptmx = dev(&r, "ptmx");
    assert_eq!(ptmx["kind"], "symlink", "{ptmx}");
    assert_eq!(ptmx["target"], "pts/ptmx", "{ptmx}");
    let inner = dev(&r, "pts/ptmx");
    assert_eq!(inner["kind"], "char");
    assert_eq!(
        (inner["major"].as_u64(), inner["minor"].as_u64()),
        (Some(5), Some(2))
    );
    assert_eq!(inner["mode"], "0666", "ptmxmode=0666: {inner}");
    assert_eq!(r["open"]["/dev/ptmx"]["ok"], true, "{}", r["open"]);
}

#[test]
fn linux_devices_created_with_mode_and_owner() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
         "fileMode": 0o640, "uid": 1000, "gid": 1000},
        {"path": "/dev/sub/loopx", "type": "b", "major": 7, "minor": 200,
         "fileMode": 0o600, "uid": 0, "gid": 0}
    ]);
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    let fuse = dev(&r, "fuse");
    assert_eq!(fuse["kind"], "char");
    assert_eq!(
        (fuse["major"].as_u64(), fuse["minor"].as_u64()),
        (Some(10), Some(229))
    );
    assert_eq!(fuse["mode"], "0640");
    assert_eq!(
        (fuse["uid"].as_u64(), fuse["gid"].as_u64()),
        (Some(1000), Some(1000))
    );
    let loopx = dev(&r, "sub/loopx");
    assert_eq!(loopx["kind"], "block");
    assert_eq!(
        (loopx["major"].as_u64(), loopx["minor"].as_u64()),
        (Some(7), Some(200))
    );
    assert_eq!(loopx["mode"], "0600");
}

#[test]
fn only_expected_fds_are_open() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let r = rt.run_probe(&b, &[]);
    let fds: Vec<&String> = r["fds"].as_object().unwrap().keys().collect();
    let mut fds: Vec<u32> = fds.iter().map(|f| f.parse().unwrap()).collect();
    fds.sort();
    assert_eq!(fds, vec![0, 1, 2], "leaked fds: {}", r["fds"]);
}
