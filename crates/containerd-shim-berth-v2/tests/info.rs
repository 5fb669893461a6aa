//! `containerd-shim-berth-v2 -info` as containerd 2.x runs it (core/runtime/v2 PluginInfo): the
//! runtime options on stdin, one protobuf `containerd.types.RuntimeInfo` on stdout, decoded
//! here the way containerd decodes it. No root needed.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::oci::Options as RuncOptions;
use containerd_shim::protos::types::introspection::RuntimeInfo;

fn run_info(stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_containerd-shim-berth-v2"))
        .arg("-info")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the shim binary");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn runc_options(o: RuncOptions) -> Vec<u8> {
    Any {
        type_url: "containerd.runc.v1.Options".into(),
        value: o.write_to_bytes().unwrap(),
        ..Default::default()
    }
    .write_to_bytes()
    .unwrap()
}

#[test]
fn info_writes_a_runtime_info_with_berths_features() {
    let out = run_info(b"");
    assert!(
        out.status.success(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = RuntimeInfo::parse_from_bytes(&out.stdout).expect("stdout is a RuntimeInfo");
    assert_eq!(info.name, "io.containerd.berth.v2");
    assert_eq!(info.version.version, env!("CARGO_PKG_VERSION"));
    assert!(info.options.is_none());
    assert_eq!(
        info.features.type_url,
        "types.containerd.io/opencontainers/runtime-spec/1/features/Features"
    );
    // The features are `berth features`' document, and a valid runtime-spec features.md one.
    let features: serde_json::Value = serde_json::from_slice(&info.features.value).unwrap();
    assert_eq!(features, berth_runtime::features::features());
    let parsed: oci_spec::runtime::Features = serde_json::from_value(features).unwrap();
    assert_eq!(parsed.oci_version_max(), "1.3.0");
}

#[test]
fn info_echoes_the_options_and_refuses_those_create_would_refuse() {
    let options = runc_options(RuncOptions {
        no_pivot_root: true,
        systemd_cgroup: true,
        ..Default::default()
    });
    let out = run_info(&options);
    assert!(
        out.status.success(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = RuntimeInfo::parse_from_bytes(&out.stdout).unwrap();
    let echoed = info.options.into_option().expect("options echoed");
    let back = RuncOptions::parse_from_bytes(&echoed.value).unwrap();
    assert!(back.no_pivot_root && back.systemd_cgroup);

    let out = run_info(&runc_options(RuncOptions {
        criu_work_path: "/tmp/criu".into(),
        ..Default::default()
    }));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "io.containerd.berth.v2: -info: runtime option CriuWorkPath = \"/tmp/criu\": berth's shim does not checkpoint or restore containers (the berth CLI does: docs/checkpoint.md)"
    );
}
