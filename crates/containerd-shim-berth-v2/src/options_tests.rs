use super::*;
use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::oci::Options as RuncOptions;

const BASE: &str = "/run/containerd/berth";

fn any(type_url: &str, value: Vec<u8>) -> Any {
    Any {
        type_url: type_url.to_string(),
        value,
        ..Default::default()
    }
}

fn runc(o: RuncOptions) -> Any {
    any("containerd.runc.v1.Options", o.write_to_bytes().unwrap())
}

/// A message of string fields (field number, value), as containerd's generic and legacy
/// option types are encoded.
fn encode(fields: &[(u32, &str)], flags: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut os = containerd_shim::protos::protobuf::CodedOutputStream::vec(&mut out);
    for (n, s) in fields {
        os.write_string(*n, s).unwrap();
    }
    for n in flags {
        os.write_bool(*n, true).unwrap();
    }
    os.flush().unwrap();
    drop(os);
    out
}

fn decode_any(a: &Any) -> Result<TaskOptions, OptionsError> {
    decode(Some(a), Path::new(BASE))
}

#[test]
fn no_options_change_nothing() {
    assert_eq!(
        decode(None, Path::new(BASE)).unwrap(),
        TaskOptions::default()
    );
    assert_eq!(
        decode_any(&runc(RuncOptions::default())).unwrap(),
        TaskOptions::default()
    );
}

#[test]
fn runc_options_berth_honours_are_applied() {
    let o = RuncOptions {
        no_pivot_root: true,
        no_new_keyring: true,
        systemd_cgroup: true,
        io_uid: 1234,
        io_gid: 5678,
        root: BASE.into(),
        task_api_version: 2,
        ..Default::default()
    };
    let got = decode_any(&runc(o)).unwrap();
    assert_eq!(
        got,
        TaskOptions {
            no_pivot_root: true,
            no_new_keyring: true,
            systemd_cgroup: true,
            io_owner: Some((1234, 5678)),
            debug: false,
        }
    );
    // A type URL with the usual prefix names the same type.
    let prefixed = any(
        "type.googleapis.com/containerd.runc.v1.Options",
        RuncOptions {
            no_pivot_root: true,
            ..Default::default()
        }
        .write_to_bytes()
        .unwrap(),
    );
    assert!(decode_any(&prefixed).unwrap().no_pivot_root);
}

#[test]
fn runc_options_berth_cannot_honour_are_refused_by_name() {
    let cases: [(RuncOptions, &str); 6] = [
        (
            RuncOptions {
                binary_name: "/usr/bin/runc".into(),
                ..Default::default()
            },
            "runtime option BinaryName = \"/usr/bin/runc\": berth's shim runs containers with the berth library in-process, not with a runtime binary",
        ),
        (
            RuncOptions {
                root: "/run/other".into(),
                ..Default::default()
            },
            "runtime option Root = \"/run/other\": berth's shim keeps container state in /run/containerd/berth/<namespace> and takes no other root",
        ),
        (
            RuncOptions {
                shim_cgroup: "/shims".into(),
                ..Default::default()
            },
            "runtime option ShimCgroup = \"/shims\": berth's shim does not move itself into another cgroup",
        ),
        (
            RuncOptions {
                criu_image_path: "/img".into(),
                ..Default::default()
            },
            "runtime option CriuImagePath = \"/img\": berth's shim does not checkpoint or restore containers (the berth CLI does: docs/checkpoint.md)",
        ),
        (
            RuncOptions {
                task_api_address: "ttrpc+unix:///x".into(),
                ..Default::default()
            },
            "runtime option TaskApiAddress = \"ttrpc+unix:///x\": berth's shim serves task API v2 on the socket containerd started it with, only",
        ),
        (
            RuncOptions {
                task_api_version: 3,
                ..Default::default()
            },
            "runtime option TaskApiVersion = 3: berth's shim serves task API v2 on the socket containerd started it with, only",
        ),
    ];
    for (o, message) in cases {
        assert_eq!(decode_any(&runc(o)).unwrap_err().to_string(), message);
    }
    // CriuPath (field 8, removed from containerd 2.x's proto) is still known by name.
    let criu = any("containerd.runc.v1.Options", encode(&[(8, "/criu")], &[]));
    assert_eq!(
        decode_any(&criu).unwrap_err().to_string(),
        "runtime option CriuPath = \"/criu\": berth's shim does not checkpoint or restore containers (the berth CLI does: docs/checkpoint.md)"
    );
    // A field no table knows (a newer containerd's) is refused by number.
    let future = any("containerd.runc.v1.Options", encode(&[(99, "x")], &[]));
    assert_eq!(
        decode_any(&future).unwrap_err().to_string(),
        "runtime options containerd.runc.v1.Options: field number 99 is not one this shim knows, so it cannot be honoured"
    );
    // The wrong wire type for a known field.
    let wrong = any("containerd.runc.v1.Options", encode(&[(1, "yes")], &[]));
    assert!(decode_any(&wrong)
        .unwrap_err()
        .to_string()
        .contains("field NoPivotRoot has wire type LengthDelimited"));
}

#[test]
fn unknown_types_are_refused() {
    let err = decode_any(&any("io.example.Other", vec![])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "runtime options of type \"io.example.Other\": not a type this shim decodes (containerd.runc.v1.Options, runtimeoptions.v1.Options or containerd.linux.runc.CreateOptions)"
    );
}

#[test]
fn legacy_create_options_from_ctr_no_pivot() {
    // `ctr run --no-pivot --no-new-keyring` for a runtime that is not runc's.
    let a = any("containerd.linux.runc.CreateOptions", encode(&[], &[1, 8]));
    let got = decode_any(&a).unwrap();
    assert!(got.no_pivot_root && got.no_new_keyring && !got.systemd_cgroup);
    let open_tcp = any("containerd.linux.runc.CreateOptions", encode(&[], &[2]));
    assert_eq!(
        decode_any(&open_tcp).unwrap_err().to_string(),
        "runtime option OpenTcp = true: berth's shim does not checkpoint or restore containers (the berth CLI does: docs/checkpoint.md)"
    );
}

#[test]
fn generic_options_read_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.toml");
    std::fs::write(
        &path,
        "no_pivot_root = true\nio_uid = 1000\nio_gid = 1001\nlog_level = \"debug\"\nroot = \"/run/containerd/berth\"\n",
    )
    .unwrap();
    let a = any(
        "runtimeoptions.v1.Options",
        encode(&[(2, path.to_str().unwrap())], &[]),
    );
    assert_eq!(
        decode_any(&a).unwrap(),
        TaskOptions {
            no_pivot_root: true,
            io_owner: Some((1000, 1001)),
            debug: true,
            ..Default::default()
        }
    );
    // No ConfigPath: nothing to read, nothing changes.
    let empty = any("runtimeoptions.v1.Options", vec![]);
    assert_eq!(decode_any(&empty).unwrap(), TaskOptions::default());
    // A TypeUrl would say the file is something else.
    let typed = any(
        "runtimeoptions.v1.Options",
        encode(&[(1, "io.example.Cfg"), (2, path.to_str().unwrap())], &[]),
    );
    assert_eq!(
        decode_any(&typed).unwrap_err().to_string(),
        "runtime option TypeUrl = \"io.example.Cfg\": berth reads its config file (ConfigPath) as its own TOML only; leave TypeUrl empty"
    );
}

#[test]
fn config_file_errors_name_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.toml");
    let decode_file = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let a = any(
            "runtimeoptions.v1.Options",
            encode(&[(2, path.to_str().unwrap())], &[]),
        );
        crate::error::chain(&decode_any(&a).unwrap_err())
    };
    let err = decode_file("binary_name = \"runc\"\n");
    assert!(
        err.starts_with(&format!(
            "parse the shim config file {} (runtime option ConfigPath): ",
            path.display()
        )) && err.contains("unknown field `binary_name`"),
        "{err}"
    );
    assert_eq!(
        decode_file("log_level = \"trace\"\n"),
        "runtime option log_level = \"trace\": berth's create log has two levels: \"debug\" and \"info\""
    );
    assert_eq!(
        decode_file("root = \"/var/lib/x\"\n"),
        "runtime option Root = \"/var/lib/x\": berth's shim keeps container state in /run/containerd/berth/<namespace> and takes no other root"
    );
    let missing = dir.path().join("missing.toml");
    let a = any(
        "runtimeoptions.v1.Options",
        encode(&[(2, missing.to_str().unwrap())], &[]),
    );
    assert_eq!(
        crate::error::chain(&decode_any(&a).unwrap_err()),
        format!(
            "read the shim config file {} (runtime option ConfigPath): No such file or directory (os error 2)",
            missing.display()
        )
    );
}
