//! Tests of the test harness itself: helpers that need no root, and the agreement between
//! `integration/mkbundle.sh` and the Rust bundle builder.

mod common;
use common::*;
use serde_json::json;

#[test]
fn id_matching_for_cgroup_leftovers() {
    assert!(name_matches_id("t-1-2", "t-1-2"));
    assert!(name_matches_id("berth-t-1-2", "t-1-2"));
    assert!(name_matches_id("cri:t-1-2", "t-1-2"));
    assert!(!name_matches_id("t-1-22", "t-1-2"));
    assert!(!name_matches_id("xt-1-2", "t-1-2"));
}

#[test]
fn mountinfo_unescape() {
    assert_eq!(unescape_mountinfo(r"/a\040b"), "/a b");
    assert_eq!(unescape_mountinfo(r"/plain"), "/plain");
}

#[test]
fn unique_ids_differ_and_name_the_test() {
    let a = unique_id();
    let b = unique_id();
    assert_ne!(a, b);
    assert!(a.starts_with("unique-ids-differ-and-name-the-test-"), "{a}");
}

#[test]
fn run_command_reports_exit_code_and_signal() {
    let out = run_command(
        "/bin/sh",
        &["-c".into(), "echo o; echo e >&2; exit 7".into()],
        CMD_TIMEOUT,
    );
    assert_eq!(
        (out.code, out.stdout.trim(), out.stderr.trim()),
        (7, "o", "e")
    );
    let out = run_command(
        "/bin/sh",
        &["-c".into(), "kill -TERM $$".into()],
        CMD_TIMEOUT,
    );
    assert_eq!(out.code, 128 + libc::SIGTERM);
}

#[test]
fn mkbundle_script_matches_rust_bundle() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The berth under test writes the config (`berth spec`), as default_config()'s.
    let out = run_command(
        "env",
        &[
            format!("BERTH={}", env!("CARGO_BIN_EXE_berth")),
            concat!(env!("CARGO_MANIFEST_DIR"), "/integration/mkbundle.sh").into(),
            dir.path().to_str().unwrap().into(),
            "sh".into(),
            "-c".into(),
            "echo \"a\\b\"".into(),
        ],
        CMD_TIMEOUT,
    );
    out.ok();
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap())
            .expect("mkbundle.sh writes valid JSON");
    let mut want = default_config();
    want["process"]["args"] = json!(["sh", "-c", "echo \"a\\b\""]);
    assert_eq!(cfg, want, "mkbundle.sh and default_config() drifted apart");
    let rootfs = dir.path().join("rootfs");
    for p in [
        "bin/busybox",
        "bin/sh",
        "etc/passwd",
        "etc/group",
        "proc",
        "dev",
        "tmp",
    ] {
        assert!(rootfs.join(p).exists(), "rootfs/{p} missing");
    }
}

#[test]
fn bundle_builder_populates_rootfs() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    for p in [
        "bin/busybox",
        "bin/sleep",
        "bin/berth-probe",
        "etc/passwd",
        "home/user",
    ] {
        assert!(b.rootfs().join(p).exists(), "rootfs/{p} missing");
    }
    b.write();
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["process"]["terminal"], false);
}
