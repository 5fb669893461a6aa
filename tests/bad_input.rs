//! Table-driven bad input: each case is a bundle mutation and/or CLI call that must fail, the
//! substrings a good error message contains (case-insensitive; `{id}` is the container id),
//! and the guarantee that nothing is left behind (state dir, mounts, cgroups, processes).
//!
//! The expected substrings describe what berth's messages should say (STYLE.md: name the
//! operation and the object); they are deliberately not runc's exact strings. Run one case with
//! `BERTH_BAD_CASE=<name> cargo test --test bad_input`.

mod common;
use common::*;
use serde_json::json;

type Step = fn(&Runtime, &mut Bundle, &str) -> Output;

struct Case {
    name: &'static str,
    /// All must appear in the error output (case-insensitive); `{id}` is replaced.
    expect: &'static [&'static str],
    /// The case creates a container on purpose (e.g. to start it twice): force-delete it
    /// before checking for leftovers.
    creates: bool,
    run: Step,
}

fn create(rt: &Runtime, b: &mut Bundle, id: &str) -> Output {
    rt.create(b, id)
}

fn create_with(b: &mut Bundle, f: impl FnOnce(&mut serde_json::Value)) {
    f(b.config_mut());
}

fn running(rt: &Runtime, b: &mut Bundle, id: &str) {
    b.args(&["sleep", "1000"]);
    rt.create(b, id).ok();
    rt.cmd(&["start", id]).ok();
    rt.wait_status(id, "running");
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "missing_config_json",
            expect: &["config.json"],
            creates: false,
            run: |rt, b, id| rt.cmd(&["create", "--bundle", b.path_str(), id]),
        },
        Case {
            name: "invalid_json",
            expect: &["config.json"],
            creates: false,
            run: |rt, b, id| {
                std::fs::write(b.path().join("config.json"), "{\"ociVersion\": ").unwrap();
                rt.cmd(&["create", "--bundle", b.path_str(), id])
            },
        },
        Case {
            name: "unsupported_oci_version",
            expect: &["ociVersion", "2.0.0"],
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["ociVersion"] = json!("2.0.0");
                create(rt, b, id)
            },
        },
        Case {
            name: "missing_rootfs",
            expect: &["rootfs"],
            creates: false,
            run: |rt, b, id| {
                std::fs::remove_dir_all(b.rootfs()).unwrap();
                create(rt, b, id)
            },
        },
        Case {
            name: "missing_root_section",
            expect: &["root"],
            creates: false,
            run: |rt, b, id| {
                b.config_mut().as_object_mut().unwrap().remove("root");
                create(rt, b, id)
            },
        },
        Case {
            name: "missing_process_section",
            expect: &["process"],
            creates: false,
            run: |rt, b, id| {
                b.config_mut().as_object_mut().unwrap().remove("process");
                create(rt, b, id)
            },
        },
        Case {
            name: "empty_args",
            expect: &["args"],
            creates: false,
            run: |rt, b, id| {
                b.args(&[]);
                create(rt, b, id)
            },
        },
        Case {
            name: "relative_mount_destination",
            expect: &["destination", "data"],
            creates: false,
            run: |rt, b, id| {
                b.mount(json!({"destination": "data", "type": "tmpfs", "source": "tmpfs"}));
                create(rt, b, id)
            },
        },
        Case {
            name: "missing_bind_source",
            expect: &["/nonexistent-berth-source"],
            creates: false,
            run: |rt, b, id| {
                b.mount(json!({"destination": "/data", "type": "bind",
                    "source": "/nonexistent-berth-source", "options": ["bind"]}));
                create(rt, b, id)
            },
        },
        Case {
            name: "unknown_mount_type",
            expect: &["nosuchfs", "/data"],
            creates: false,
            run: |rt, b, id| {
                b.mount(json!({"destination": "/data", "type": "nosuchfs", "source": "x"}));
                create(rt, b, id)
            },
        },
        Case {
            name: "bad_namespace_path",
            expect: &["/nonexistent/netns"],
            creates: false,
            run: |rt, b, id| {
                b.namespace("network", Some("/nonexistent/netns"));
                create(rt, b, id)
            },
        },
        Case {
            name: "namespace_path_of_wrong_type",
            expect: &["/proc/self/ns/ipc"],
            creates: false,
            run: |rt, b, id| {
                // An ipc namespace file given as the network namespace.
                b.namespace("network", Some("/proc/self/ns/ipc"));
                create(rt, b, id)
            },
        },
        Case {
            name: "duplicate_namespace",
            expect: &["pid", "duplicate"],
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "pid"}));
                create(rt, b, id)
            },
        },
        Case {
            name: "unknown_namespace_type",
            expect: &["foo", "namespace"],
            creates: false,
            run: |rt, b, id| {
                b.namespace("foo", None);
                create(rt, b, id)
            },
        },
        Case {
            name: "invalid_id_with_slash",
            expect: &["a/b", "invalid"],
            creates: false,
            run: |rt, b, _| create(rt, b, "a/b"),
        },
        Case {
            name: "invalid_id_dotdot",
            expect: &["invalid"],
            creates: false,
            run: |rt, b, _| create(rt, b, ".."),
        },
        Case {
            name: "create_existing_id",
            expect: &["{id}", "exist"],
            creates: true,
            run: |rt, b, id| {
                b.args(&["sleep", "1000"]);
                rt.create(b, id).ok();
                let other = Bundle::new();
                let out = rt.create(&other, id);
                rt.assert_nothing_left("no-such-id", &other);
                out
            },
        },
        Case {
            name: "unknown_signal",
            expect: &["SIGFOO"],
            creates: true,
            run: |rt, b, id| {
                b.args(&["sleep", "1000"]);
                rt.create(b, id).ok();
                rt.cmd(&["kill", id, "SIGFOO"])
            },
        },
        Case {
            name: "uid_mappings_without_user_namespace",
            expect: &["user namespace"],
            creates: false,
            run: |rt, b, id| {
                create_with(b, |c| {
                    c["linux"]["uidMappings"] =
                        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                    c["linux"]["gidMappings"] =
                        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                });
                create(rt, b, id)
            },
        },
        Case {
            name: "start_running_container",
            expect: &["{id}", "running"],
            creates: true,
            run: |rt, b, id| {
                running(rt, b, id);
                rt.cmd(&["start", id])
            },
        },
        Case {
            name: "delete_running_container",
            expect: &["{id}", "running"],
            creates: true,
            run: |rt, b, id| {
                running(rt, b, id);
                rt.cmd(&["delete", id])
            },
        },
        Case {
            name: "start_unknown_id",
            expect: &["{id}"],
            creates: false,
            run: |rt, _, id| rt.cmd(&["start", id]),
        },
        Case {
            name: "kill_unknown_id",
            expect: &["{id}"],
            creates: false,
            run: |rt, _, id| rt.cmd(&["kill", id, "KILL"]),
        },
        Case {
            name: "state_unknown_id",
            expect: &["{id}"],
            creates: false,
            run: |rt, _, id| rt.cmd(&["state", id]),
        },
        Case {
            name: "delete_unknown_id",
            expect: &["{id}"],
            creates: false,
            run: |rt, _, id| rt.cmd(&["delete", id]),
        },
        Case {
            name: "executable_not_found_in_path",
            expect: &["no-such-binary"],
            creates: false,
            run: |rt, b, id| {
                b.args(&["no-such-binary"]);
                create(rt, b, id)
            },
        },
        Case {
            name: "relative_cwd",
            expect: &["cwd"],
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["cwd"] = json!("tmp");
                create(rt, b, id)
            },
        },
        Case {
            name: "sysctl_without_its_namespace",
            expect: &["net.ipv4.ip_forward"],
            creates: false,
            run: |rt, b, id| {
                b.remove_namespace("network");
                b.config_mut()["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
                create(rt, b, id)
            },
        },
        Case {
            name: "unknown_rlimit_type",
            expect: &["RLIMIT_FOO"],
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]);
                create(rt, b, id)
            },
        },
        Case {
            name: "bad_capability_name",
            expect: &["CAP_FOO"],
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["capabilities"]["bounding"] =
                    json!(["CAP_KILL", "CAP_FOO"]);
                create(rt, b, id)
            },
        },
        Case {
            name: "cgroups_path_with_dotdot",
            expect: &["cgroupsPath"],
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["cgroupsPath"] = json!("/../../escape-berth");
                create(rt, b, id)
            },
        },
        Case {
            name: "hostname_without_uts_namespace",
            expect: &["hostname", "uts"],
            creates: false,
            run: |rt, b, id| {
                b.remove_namespace("uts");
                create(rt, b, id)
            },
        },
        Case {
            name: "oom_score_adj_out_of_range",
            expect: &["oomScoreAdj", "1001"],
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["oomScoreAdj"] = json!(1001);
                create(rt, b, id)
            },
        },
        Case {
            name: "bundle_directory_missing",
            expect: &["/nonexistent-berth-bundle"],
            creates: false,
            run: |rt, _, id| rt.cmd(&["create", "--bundle", "/nonexistent-berth-bundle", id]),
        },
        Case {
            name: "systemd_cgroup_unsupported",
            expect: &["systemd"],
            creates: false,
            run: |rt, b, id| {
                b.write();
                rt.cmd(&[
                    "--root",
                    rt.root_str(),
                    "--systemd-cgroup",
                    "create",
                    "--bundle",
                    b.path_str(),
                    id,
                ])
            },
        },
        Case {
            name: "unknown_cli_flag",
            expect: &["frobnicate"],
            creates: false,
            run: |rt, b, id| rt.cmd(&["create", "--frobnicate", "--bundle", b.path_str(), id]),
        },
        Case {
            name: "unknown_command",
            expect: &["frobnicate"],
            creates: false,
            run: |rt, _, _| rt.cmd(&["frobnicate"]),
        },
    ]
}

#[test]
fn bad_input_is_rejected_clearly_and_leaves_nothing() {
    if !require_root() {
        return;
    }
    let only = std::env::var("BERTH_BAD_CASE").ok();
    let table = cases();
    assert!(table.len() >= 25, "the table must keep at least 25 cases");
    let mut failures = Vec::new();
    for case in table {
        if only.as_deref().is_some_and(|o| o != case.name) {
            continue;
        }
        let mut b = Bundle::new();
        let rt = Runtime::new();
        let id = unique_id();
        let out = (case.run)(&rt, &mut b, &id);
        let mut problems = Vec::new();
        if out.success() {
            problems.push("succeeded".to_string());
        }
        for e in case.expect {
            let e = e.replace("{id}", &id);
            if !out.mentions(&e) {
                problems.push(format!("no {e:?} in the message"));
            }
        }
        if case.creates || out.success() {
            let _ = rt.cmd(&["delete", "--force", &id]);
        }
        let mut left = rt.leftovers(&id, &b);
        let entries: Vec<_> = std::fs::read_dir(rt.root())
            .map(|rd| rd.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        if !entries.is_empty() {
            left.push(format!("state root not empty: {entries:?}"));
        }
        if !left.is_empty() {
            problems.push(format!("left things behind: {}", left.join(", ")));
        }
        let msg = out
            .stderr
            .lines()
            .chain(out.stdout.lines())
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join(" | ");
        if problems.is_empty() {
            loud(&format!("PASS {:<38} {msg}", case.name));
        } else {
            loud(&format!(
                "FAIL {:<38} {} -- exit {}: {msg}",
                case.name,
                problems.join("; "),
                out.code
            ));
            failures.push(case.name);
        }
    }
    assert!(failures.is_empty(), "failing bad-input cases: {failures:?}");
}
