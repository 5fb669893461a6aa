//! The bad-input table: each case is a bundle mutation, CLI call or state-root corruption that
//! must fail, with the exact first line of stderr berth prints. Shared by tests/bad_input.rs
//! (exact messages, nothing left behind) and tests/differential.rs (accepted or refused, under
//! runc and berth).

use crate::common::*;
use serde_json::json;

pub type Step = fn(&Runtime, &mut Bundle, &str) -> Output;

pub struct Case {
    pub name: &'static str,
    /// The exact first non-empty line of stderr, after substituting `{id}`, `{bundle}` and
    /// `{root}`.
    pub expect: &'static str,
    /// The case creates a container on purpose (e.g. to start it twice): force-delete it
    /// before checking for leftovers.
    pub creates: bool,
    pub run: Step,
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

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "missing_config_json",
            expect: "berth: create container \"{id}\": read {bundle}/config.json: No such file or directory (os error 2)",
            creates: false,
            run: |rt, b, id| rt.cmd(&["create", "--bundle", b.path_str(), id]),
        },
        Case {
            name: "invalid_json",
            expect: "berth: create container \"{id}\": parse {bundle}/config.json: EOF while parsing a value at line 1 column 15",
            creates: false,
            run: |rt, b, id| {
                std::fs::write(b.path().join("config.json"), "{\"ociVersion\": ").unwrap();
                rt.cmd(&["create", "--bundle", b.path_str(), id])
            },
        },
        Case {
            name: "unsupported_oci_version",
            expect: "berth: create container \"{id}\": {bundle}/config.json: ociVersion \"2.0.0\" is not supported (berth runs runtime-spec 1.x configs, up to 1.3.0)",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["ociVersion"] = json!("2.0.0");
                create(rt, b, id)
            },
        },
        Case {
            name: "missing_rootfs",
            expect: "berth: create container \"{id}\": config.json: root.path: {bundle}/rootfs is not a directory",
            creates: false,
            run: |rt, b, id| {
                std::fs::remove_dir_all(b.rootfs()).unwrap();
                create(rt, b, id)
            },
        },
        Case {
            name: "missing_root_section",
            expect: "berth: create container \"{id}\": config.json: root: missing (root.path is required on Linux)",
            creates: false,
            run: |rt, b, id| {
                b.config_mut().as_object_mut().unwrap().remove("root");
                create(rt, b, id)
            },
        },
        Case {
            name: "missing_process_section",
            expect: "berth: create container \"{id}\": config.json: process: missing (create needs a process)",
            creates: false,
            run: |rt, b, id| {
                b.config_mut().as_object_mut().unwrap().remove("process");
                create(rt, b, id)
            },
        },
        Case {
            name: "empty_args",
            expect: "berth: create container \"{id}\": config.json: process.args: must not be empty",
            creates: false,
            run: |rt, b, id| {
                b.args(&[]);
                create(rt, b, id)
            },
        },
        Case {
            name: "relative_mount_destination",
            expect: "berth: create container \"{id}\": mount destination data is not an absolute path",
            creates: false,
            run: |rt, b, id| {
                b.mount(json!({"destination": "data", "type": "tmpfs", "source": "tmpfs"}));
                create(rt, b, id)
            },
        },
        Case {
            name: "missing_bind_source",
            expect: "berth: create container \"{id}\": stat bind source /nonexistent-berth-source for /data: No such file or directory (os error 2)",
            creates: false,
            run: |rt, b, id| {
                b.mount(json!({"destination": "/data", "type": "bind",
                    "source": "/nonexistent-berth-source", "options": ["bind"]}));
                create(rt, b, id)
            },
        },
        Case {
            name: "unknown_mount_type",
            expect: "berth: create container \"{id}\": fsopen nosuchfs for {bundle}/rootfs/data: ENODEV: No such device",
            creates: false,
            run: |rt, b, id| {
                b.mount(json!({"destination": "/data", "type": "nosuchfs", "source": "x"}));
                create(rt, b, id)
            },
        },
        Case {
            name: "bad_namespace_path",
            expect: "berth: create container \"{id}\": config.json: linux.namespaces path: /nonexistent/netns: No such file or directory (os error 2)",
            creates: false,
            run: |rt, b, id| {
                b.namespace("network", Some("/nonexistent/netns"));
                create(rt, b, id)
            },
        },
        Case {
            name: "namespace_path_of_wrong_type",
            expect: "berth: create container \"{id}\": config.json: linux.namespaces: /proc/self/ns/ipc is not a net namespace",
            creates: false,
            run: |rt, b, id| {
                // An ipc namespace file given as the network namespace.
                b.namespace("network", Some("/proc/self/ns/ipc"));
                create(rt, b, id)
            },
        },
        Case {
            name: "duplicate_namespace",
            expect: "berth: create container \"{id}\": config.json: linux.namespaces: duplicate namespace type \"pid\"",
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
            expect: "berth: create container \"{id}\": parse {bundle}/config.json: linux.namespaces[5].type: unknown variant `foo`, expected one of `mount`, `cgroup`, `uts`, `ipc`, `user`, `pid`, `network`, `time` at line 33 column 21",
            creates: false,
            run: |rt, b, id| {
                b.namespace("foo", None);
                create(rt, b, id)
            },
        },
        Case {
            name: "invalid_id_with_slash",
            expect: "berth: create container \"a/b\": invalid container id \"a/b\": may contain only letters, digits and _ + . -",
            creates: false,
            run: |rt, b, _| create(rt, b, "a/b"),
        },
        Case {
            name: "invalid_id_dotdot",
            expect: "berth: create container \"..\": invalid container id \"..\": must not be \".\" or \"..\"",
            creates: false,
            run: |rt, b, _| create(rt, b, ".."),
        },
        Case {
            name: "create_existing_id",
            expect: "berth: create container \"{id}\": container \"{id}\" already exists",
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
            expect: "berth: unknown signal \"SIGFOO\"",
            creates: true,
            run: |rt, b, id| {
                b.args(&["sleep", "1000"]);
                rt.create(b, id).ok();
                rt.cmd(&["kill", id, "SIGFOO"])
            },
        },
        Case {
            name: "uid_mappings_without_user_namespace",
            expect: "berth: create container \"{id}\": config.json: linux.uidMappings: uid/gid mappings need a user namespace in linux.namespaces",
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
            expect: "berth: start container \"{id}\": the container is running",
            creates: true,
            run: |rt, b, id| {
                running(rt, b, id);
                rt.cmd(&["start", id])
            },
        },
        Case {
            name: "delete_running_container",
            expect: "berth: delete container \"{id}\": the container is running (use --force to kill and delete it)",
            creates: true,
            run: |rt, b, id| {
                running(rt, b, id);
                rt.cmd(&["delete", id])
            },
        },
        Case {
            name: "start_unknown_id",
            expect: "berth: start container \"{id}\": container \"{id}\" does not exist",
            creates: false,
            run: |rt, _, id| rt.cmd(&["start", id]),
        },
        Case {
            name: "kill_unknown_id",
            expect: "berth: kill container \"{id}\": container \"{id}\" does not exist",
            creates: false,
            run: |rt, _, id| rt.cmd(&["kill", id, "KILL"]),
        },
        Case {
            name: "state_unknown_id",
            expect: "berth: state of container \"{id}\": container \"{id}\" does not exist",
            creates: false,
            run: |rt, _, id| rt.cmd(&["state", id]),
        },
        Case {
            name: "delete_unknown_id",
            expect: "berth: delete container \"{id}\": container \"{id}\" does not exist",
            creates: false,
            run: |rt, _, id| rt.cmd(&["delete", id]),
        },
        Case {
            name: "executable_not_found_in_path",
            expect: "berth: create container \"{id}\": exec \"no-such-binary\": executable file not found in $PATH",
            creates: false,
            run: |rt, b, id| {
                b.args(&["no-such-binary"]);
                create(rt, b, id)
            },
        },
        Case {
            name: "relative_cwd",
            expect: "berth: create container \"{id}\": config.json: process.cwd: \"tmp\" is not an absolute path",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["cwd"] = json!("tmp");
                create(rt, b, id)
            },
        },
        Case {
            name: "sysctl_without_its_namespace",
            expect: "berth: create container \"{id}\": config.json: linux.sysctl: \"net.ipv4.ip_forward\" needs a net namespace of the container's own in linux.namespaces (new, or joined and not the runtime's)",
            creates: false,
            run: |rt, b, id| {
                b.remove_namespace("network");
                b.config_mut()["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
                create(rt, b, id)
            },
        },
        Case {
            name: "unknown_rlimit_type",
            expect: "berth: create container \"{id}\": parse {bundle}/config.json: process.rlimits[0].type: unknown variant `RLIMIT_FOO`, expected one of `RLIMIT_CPU`, `RLIMIT_FSIZE`, `RLIMIT_DATA`, `RLIMIT_STACK`, `RLIMIT_CORE`, `RLIMIT_RSS`, `RLIMIT_NPROC`, `RLIMIT_NOFILE`, `RLIMIT_MEMLOCK`, `RLIMIT_AS`, `RLIMIT_LOCKS`, `RLIMIT_SIGPENDING`, `RLIMIT_MSGQUEUE`, `RLIMIT_NICE`, `RLIMIT_RTPRIO`, `RLIMIT_RTTIME` at line 162 column 28",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]);
                create(rt, b, id)
            },
        },
        Case {
            name: "kernel_hostname_sysctl",
            expect: "berth: create container \"{id}\": config.json: linux.sysctl: sysctl \"kernel.hostname\" is not allowed as it conflicts with the OCI \"hostname\" field",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["sysctl"] = json!({"kernel.hostname": "other"});
                create(rt, b, id)
            },
        },
        Case {
            name: "process_scheduler_iso_policy",
            expect: "berth: create container \"{id}\": config.json: process.scheduler.policy: SCHED_ISO is not implemented by Linux (sched(7))",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["scheduler"] = json!({"policy": "SCHED_ISO",
                    "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]});
                create(rt, b, id)
            },
        },
        Case {
            name: "linux_intel_rdt_not_applied",
            expect: "berth: create container \"{id}\": config.json: linux.intelRdt: berth does not implement Intel RDT (resctrl): remove the field",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["intelRdt"] = json!({"closID": "guaranteed_group", "l3CacheSchema": "L3:0=ff"});
                create(rt, b, id)
            },
        },
        Case {
            name: "linux_personality_flag",
            expect: "berth: create container \"{id}\": config.json: linux.personality.flags: \"ADDR_NO_RANDOMIZE\": the runtime-spec defines no personality flags",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["personality"] = json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]});
                create(rt, b, id)
            },
        },
        Case {
            name: "linux_memory_policy_bind_without_nodes",
            expect: "berth: create container \"{id}\": config.json: linux.memoryPolicy: MPOL_BIND needs nodes",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND"});
                create(rt, b, id)
            },
        },
        Case {
            name: "linux_net_devices_not_applied",
            expect: "berth: create container \"{id}\": config.json: linux.netDevices: berth does not move network devices into the container: remove the field",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["netDevices"] = json!({"eth9": {"name": "eth0"}});
                create(rt, b, id)
            },
        },
        Case {
            name: "process_io_priority_level_above_7",
            expect: "berth: create container \"{id}\": config.json: process.ioPriority.priority: 8 is outside 0..=7 for IOPRIO_CLASS_BE",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 8});
                create(rt, b, id)
            },
        },
        Case {
            name: "process_exec_cpu_affinity_beyond_cpu_setsize",
            expect: "berth: create container \"{id}\": config.json: process.execCPUAffinity.final: \"0,1024\": 1024 is not below 1024",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "0,1024"});
                create(rt, b, id)
            },
        },
        Case {
            name: "device_access_without_r_w_m",
            expect: "berth: create container \"{id}\": invalid linux.resources.devices[1]: access \"a\" has none of r, w and m",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "a"}]);
                create(rt, b, id)
            },
        },
        Case {
            name: "cgroups_path_with_dotdot",
            expect: "berth: create container \"{id}\": invalid cgroupsPath \"/../../escape-berth\": contains a \"..\" component",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["cgroupsPath"] = json!("/../../escape-berth");
                create(rt, b, id)
            },
        },
        Case {
            // Issue #15: was created as the directory berth/system.slice:x:y.
            name: "cgroups_path_in_systemd_form_without_the_systemd_driver",
            expect: "berth: create container \"{id}\": config.json: linux.cgroupsPath: \"system.slice:x:y\" is in the systemd cgroup driver's slice:prefix:name form, but the cgroup driver is cgroupfs (the systemd driver is chosen by --systemd-cgroup, --cgroup-manager=systemd or the shim's SystemdCgroup option)",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["cgroupsPath"] = json!("system.slice:x:y");
                create(rt, b, id)
            },
        },
        Case {
            name: "hostname_without_uts_namespace",
            expect: "berth: create container \"{id}\": config.json: hostname: setting hostname or domainname needs a uts namespace of the container's own (new, or joined and not the runtime's)",
            creates: false,
            run: |rt, b, id| {
                b.remove_namespace("uts");
                create(rt, b, id)
            },
        },
        Case {
            name: "oom_score_adj_out_of_range",
            expect: "berth: create container \"{id}\": config.json: process.oomScoreAdj: 1001 is outside -1000..=1000",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["oomScoreAdj"] = json!(1001);
                create(rt, b, id)
            },
        },
        Case {
            name: "bundle_directory_missing",
            expect: "berth: create container \"{id}\": bundle /nonexistent-berth-bundle: no such directory",
            creates: false,
            run: |rt, _, id| rt.cmd(&["create", "--bundle", "/nonexistent-berth-bundle", id]),
        },
        Case {
            // The machines these tests run on have hybrid cgroups (docs/ENVIRONMENT); the
            // driver itself is tested in the systemd VM tier (integration/vm-systemd).
            name: "systemd_cgroup_on_a_hybrid_host",
            expect: "berth: create container \"{id}\": the systemd cgroup driver needs a pure cgroup v2 host; this host's cgroups are Hybrid",
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
            // The path form is checked before the host's layout: refused on any host.
            // The host is checked before the path (no path would help on a host that is not
            // pure cgroup v2); the path forms are tested by the unit tests of
            // cgroups/systemd and in the systemd VM tier.
            name: "cgroup_manager_systemd_on_a_host_not_pure_v2",
            expect: "berth: create container \"{id}\": the systemd cgroup driver needs a pure cgroup v2 host; this host's cgroups are Hybrid",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["cgroupsPath"] = json!("system:berth:x");
                b.write();
                rt.cmd(&["--cgroup-manager=systemd", "run", "--bundle", b.path_str(), id])
            },
        },
        Case {
            name: "systemd_cgroup_with_cgroup_manager_disabled",
            expect: "berth: --systemd-cgroup and --cgroup-manager=disabled cannot be used together (one asks for the systemd cgroup driver, the other for no cgroup)",
            creates: false,
            run: |rt, b, id| {
                b.write();
                rt.cmd(&[
                    "--systemd-cgroup",
                    "--cgroup-manager",
                    "disabled",
                    "create",
                    "--bundle",
                    b.path_str(),
                    id,
                ])
            },
        },
        Case {
            name: "cgroup_manager_unknown",
            expect: "error: invalid value 'none' for '--cgroup-manager <CGROUP_MANAGER>'",
            creates: false,
            run: |rt, b, id| {
                b.write();
                rt.cmd(&["create", "--cgroup-manager=none", "--bundle", b.path_str(), id])
            },
        },
        Case {
            name: "unknown_cli_flag",
            expect: "error: unexpected argument '--frobnicate' found",
            creates: false,
            run: |rt, b, id| rt.cmd(&["create", "--frobnicate", "--bundle", b.path_str(), id]),
        },
        Case {
            name: "unknown_command",
            expect: "error: unrecognized subcommand 'frobnicate'",
            creates: false,
            run: |rt, _, _| rt.cmd(&["frobnicate"]),
        },
        // --- more config cases ---
        Case {
            name: "config_is_a_json_array",
            expect: "berth: create container \"{id}\": parse {bundle}/config.json: invalid type: sequence, expected a map",
            creates: false,
            run: |rt, b, id| {
                std::fs::write(b.path().join("config.json"), "[]").unwrap();
                rt.cmd(&["create", "--bundle", b.path_str(), id])
            },
        },
        Case {
            name: "config_is_empty",
            expect: "berth: create container \"{id}\": parse {bundle}/config.json: EOF while parsing a value at line 1 column 0",
            creates: false,
            run: |rt, b, id| {
                std::fs::write(b.path().join("config.json"), "").unwrap();
                rt.cmd(&["create", "--bundle", b.path_str(), id])
            },
        },
        Case {
            name: "negative_uid",
            expect: "berth: create container \"{id}\": parse {bundle}/config.json: process.user.uid: invalid value: integer `-1`, expected u32 at line 168 column 15",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["user"]["uid"] = json!(-1);
                create(rt, b, id)
            },
        },
        Case {
            name: "mount_without_destination",
            expect: "berth: create container \"{id}\": parse {bundle}/config.json: mounts[7]: missing field `destination` at line 127 column 5",
            creates: false,
            run: |rt, b, id| {
                b.mount(json!({"type": "tmpfs", "source": "tmpfs"}));
                create(rt, b, id)
            },
        },
        Case {
            name: "cpu_shares_not_a_number",
            expect: "berth: create container \"{id}\": parse {bundle}/config.json: linux.resources.cpu.shares: invalid type: string \"many\", expected u64 at line 42 column 24",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["resources"]["cpu"] = json!({"shares": "many"});
                create(rt, b, id)
            },
        },
        Case {
            name: "seccomp_unknown_action",
            expect: "berth: create container \"{id}\": config.json: linux.seccomp.defaultAction: unknown action \"SCMP_ACT_FOO\"",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_FOO"});
                create(rt, b, id)
            },
        },
        Case {
            name: "seccomp_unknown_architecture",
            expect: "berth: create container \"{id}\": config.json: linux.seccomp.architectures: unknown architecture \"SCMP_ARCH_FOO\"",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "architectures": ["SCMP_ARCH_FOO"]});
                create(rt, b, id)
            },
        },
        Case {
            name: "seccomp_unknown_operator",
            expect: "berth: create container \"{id}\": config.json: linux.seccomp.syscalls[0].args[0].op: unknown operator \"SCMP_CMP_FOO\"",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_FOO"}]}]});
                create(rt, b, id)
            },
        },
        Case {
            name: "seccomp_arg_index_out_of_range",
            expect: "berth: create container \"{id}\": config.json: linux.seccomp.syscalls[0].args[0].index: 6 is out of range (syscall arguments are numbered 0 to 5)",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]});
                create(rt, b, id)
            },
        },
        Case {
            name: "hook_with_relative_path",
            expect: "berth: create container \"{id}\": config.json: hooks.createRuntime[0]: path \"hook.sh\" is not absolute",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["hooks"] = json!({"createRuntime": [{"path": "hook.sh"}]});
                create(rt, b, id)
            },
        },
        Case {
            name: "device_with_relative_path",
            expect: "berth: create container \"{id}\": device dev/foo: path is not absolute",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["devices"] =
                    json!([{"path": "dev/foo", "type": "c", "major": 1, "minor": 3}]);
                create(rt, b, id)
            },
        },
        Case {
            name: "device_of_unknown_type",
            expect: "berth: create container \"{id}\": parse {bundle}/config.json: linux.devices[0].type: unknown variant `x`, expected one of `a`, `b`, `c`, `u`, `p` at line 9 column 19",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["devices"] =
                    json!([{"path": "/dev/foo", "type": "x", "major": 1, "minor": 3}]);
                create(rt, b, id)
            },
        },
        Case {
            name: "rootfs_propagation_bogus",
            expect: "berth: create container \"{id}\": linux.rootfsPropagation bogus is not a propagation mode",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["rootfsPropagation"] = json!("bogus");
                create(rt, b, id)
            },
        },
        Case {
            name: "time_offsets_without_time_namespace",
            expect: "berth: create container \"{id}\": config.json: linux.timeOffsets: time offsets need a new time namespace",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1}});
                create(rt, b, id)
            },
        },
        Case {
            name: "sysctl_not_namespaced",
            expect: "berth: create container \"{id}\": config.json: linux.sysctl: \"kernel.panic\" is not in a separate kernel namespace",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["sysctl"] = json!({"kernel.panic": "1"});
                create(rt, b, id)
            },
        },
        Case {
            name: "user_namespace_without_mappings",
            expect: "berth: create container \"{id}\": config.json: linux.uidMappings: a new user namespace needs both uidMappings and gidMappings",
            creates: false,
            run: |rt, b, id| {
                b.namespace("user", None);
                create(rt, b, id)
            },
        },
        Case {
            name: "terminal_without_console_socket",
            expect: "berth: create container \"{id}\": process.terminal is true but no --console-socket was given to receive the terminal (berth exits after create; use --console-socket, or run it in the foreground)",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["process"]["terminal"] = json!(true);
                create(rt, b, id)
            },
        },
        Case {
            name: "console_socket_without_terminal",
            expect: "berth: create container \"{id}\": --console-socket is only used with a terminal (process.terminal or exec --tty)",
            creates: false,
            run: |rt, b, id| {
                b.write();
                let sock = format!("{}/console.sock", rt.root_str());
                rt.cmd(&["create", "--console-socket", &sock, "--bundle", b.path_str(), id])
            },
        },
        // --- more CLI cases ---
        Case {
            name: "create_without_id",
            expect: "error: the following required arguments were not provided:",
            creates: false,
            run: |rt, b, _| {
                b.write();
                rt.cmd(&["create", "--bundle", b.path_str()])
            },
        },
        Case {
            name: "exec_cgroup_without_controller_prefix",
            expect: "berth: exec in container \"{id}\": --cgroup \"a\": missing <controller>: prefix",
            creates: true,
            run: |rt, b, id| {
                running(rt, b, id);
                rt.cmd(&["exec", "--cgroup", "a", "--cgroup", "pids:b", id, "true"])
            },
        },
        Case {
            name: "exec_cgroup_unknown_controller",
            expect: "berth: exec in container \"{id}\": --cgroup \"nosuch:sub\": the container has no cgroup v1 hierarchy for controller nosuch",
            creates: true,
            run: |rt, b, id| {
                running(rt, b, id);
                rt.cmd(&["exec", "--cgroup", "nosuch:sub", id, "true"])
            },
        },
        Case {
            name: "exec_cgroup_outside_the_container",
            expect: "berth: exec in container \"{id}\": --cgroup \"pids:../x\": ../x is not a sub-cgroup path",
            creates: true,
            run: |rt, b, id| {
                running(rt, b, id);
                rt.cmd(&["exec", "--cgroup", "pids:../x", id, "true"])
            },
        },
        Case {
            name: "update_l3_cache_schema_unsupported",
            expect: "berth: update container \"{id}\": --l3-cache-schema: Intel RDT is not supported by berth",
            creates: true,
            run: |rt, b, id| {
                running(rt, b, id);
                rt.cmd(&["update", "--l3-cache-schema", "L3:0=f", id])
            },
        },
        Case {
            // Rootless mode forced as root: no cgroup, so the default spec's device rule is
            // refused naming its field (docs/rootless.md).
            name: "rootless_true_refuses_resources",
            expect: "berth: create container \"{id}\": config.json: linux.resources.devices: rootless: the container gets no cgroup, so its resources cannot be applied: this host's cgroups are Hybrid, and cgroup delegation needs a pure cgroup v2 host",
            creates: false,
            run: |rt, b, id| {
                b.write();
                rt.cmd(&["--rootless", "true", "create", "--bundle", b.path_str(), id])
            },
        },
        Case {
            // On this hybrid host the default config mounts cgroup v1 at /sys/fs/cgroup, which
            // berth cannot describe to CRIU (docs/checkpoint.md); the VM tier checkpoints.
            name: "checkpoint_of_a_cgroup_v1_mount_refused",
            expect: "berth: checkpoint container \"{id}\": checkpoint of a container with a cgroup v1 mount on /sys/fs/cgroup (cgroup v2 hosts only) is not supported by berth",
            creates: true,
            run: |rt, b, id| {
                running(rt, b, id);
                rt.cmd(&["checkpoint", "--image-path", "/tmp/berth-no-checkpoint", id])
            },
        },
        Case {
            name: "kill_stopped_container",
            expect: "berth: kill container \"{id}\": container not running (it is stopped)",
            creates: true,
            run: |rt, b, id| {
                b.args(&["true"]);
                rt.create(b, id).ok();
                rt.cmd(&["start", id]).ok();
                rt.wait_status(id, "stopped");
                rt.cmd(&["kill", id, "KILL"])
            },
        },
        Case {
            name: "start_stopped_container",
            expect: "berth: start container \"{id}\": the container is stopped",
            creates: true,
            run: |rt, b, id| {
                b.args(&["true"]);
                rt.create(b, id).ok();
                rt.cmd(&["start", id]).ok();
                rt.wait_status(id, "stopped");
                rt.cmd(&["start", id])
            },
        },
        Case {
            name: "exec_unknown_id",
            expect: "berth: exec in container \"{id}\": container \"{id}\" does not exist",
            creates: false,
            run: |rt, _, id| rt.cmd(&["exec", id, "true"]),
        },
        Case {
            name: "pause_unknown_id",
            expect: "berth: pause container \"{id}\": container \"{id}\" does not exist",
            creates: false,
            run: |rt, _, id| rt.cmd(&["pause", id]),
        },
        Case {
            name: "root_is_a_file",
            expect: "berth: create container \"{id}\": create state root {root}/not-a-dir: File exists (os error 17)",
            creates: false,
            run: |rt, b, id| {
                b.write();
                let file = format!("{}/not-a-dir", rt.root_str());
                std::fs::write(&file, "x").unwrap();
                let out = rt.cmd(&["--root", &file, "create", "--bundle", b.path_str(), id]);
                std::fs::remove_file(&file).unwrap();
                out
            },
        },
        // --- state root cases: a damaged state.json in --root ---
        Case {
            name: "state_file_corrupted",
            expect: "berth: state of container \"{id}\": state file {root}/{id}/state.json is missing or corrupt: key must be a string at line 1 column 25",
            creates: true,
            run: |rt, _, id| {
                fake_state(rt, id, b"{\"ociVersion\": \"1.0.2\", garbage");
                rt.cmd(&["state", id])
            },
        },
        Case {
            name: "state_file_truncated",
            expect: "berth: state of container \"{id}\": state file {root}/{id}/state.json is missing or corrupt: EOF while parsing a value at line 1 column 121",
            creates: true,
            run: |rt, _, id| {
                // A real state file cut in half (a container process behind it would make
                // --force leak its cgroup: the path is in the lost half).
                let full = format!(
                    "{{\"ociVersion\":\"1.0.2\",\"id\":\"{id}\",\"bundle\":\"/b\",\
                     \"rootfs\":\"/b/rootfs\",\"pid\":null,\"pidStartTime\":null,\
                     \"created\":\"2026-01-01T00:00:00Z\",\"owner\":\"root\",\
                     \"annotations\":{{}},\"cgroup\":null,\"phase\":\"creating\"}}"
                );
                fake_state(rt, id, &full.as_bytes()[..full.len() / 2]);
                rt.cmd(&["state", id])
            },
        },
        Case {
            name: "state_file_empty",
            expect: "berth: start container \"{id}\": state file {root}/{id}/state.json is missing or corrupt: EOF while parsing a value at line 1 column 0",
            creates: true,
            run: |rt, _, id| {
                fake_state(rt, id, b"");
                rt.cmd(&["start", id])
            },
        },
        Case {
            name: "state_file_missing_in_state_dir",
            expect: "berth: kill container \"{id}\": state file {root}/{id}/state.json is missing or corrupt: No such file or directory (os error 2)",
            creates: true,
            run: |rt, _, id| {
                std::fs::create_dir_all(rt.root().join(id)).unwrap();
                rt.cmd(&["kill", id, "KILL"])
            },
        },
        Case {
            name: "state_file_wrong_types",
            expect: "berth: delete container \"{id}\": state file {root}/{id}/state.json is missing or corrupt: invalid type: integer `1`, expected a string at line 1 column 16",
            creates: true,
            run: |rt, _, id| {
                fake_state(rt, id, b"{\"ociVersion\": 1, \"id\": [\"x\"]}");
                rt.cmd(&["delete", id])
            },
        },
        // ---- issue #21 item 3: unbounded input
        Case {
            name: "config_json_is_a_fifo",
            expect: "berth: create container \"{id}\": read {bundle}/config.json: not a regular file (a FIFO)",
            creates: false,
            run: |rt, b, id| {
                b.write();
                let path = b.path().join("config.json");
                std::fs::remove_file(&path).unwrap();
                nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
                rt.cmd(&["create", "--bundle", b.path_str(), id])
            },
        },
        Case {
            name: "config_json_is_dev_zero",
            expect: "berth: create container \"{id}\": read {bundle}/config.json: not a regular file (a character device)",
            creates: false,
            run: |rt, b, id| {
                b.write();
                let path = b.path().join("config.json");
                std::fs::remove_file(&path).unwrap();
                std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
                rt.cmd(&["create", "--bundle", b.path_str(), id])
            },
        },
        Case {
            name: "config_json_larger_than_16_mib",
            expect: "berth: create container \"{id}\": read {bundle}/config.json: larger than 16777216 bytes",
            creates: false,
            run: |rt, b, id| {
                b.write();
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(b.path().join("config.json"))
                    .unwrap();
                f.set_len(17 << 20).unwrap();
                rt.cmd(&["create", "--bundle", b.path_str(), id])
            },
        },
        // ---- issue #21 item 4: values the kernel would not take, or would take wrongly
        Case {
            name: "device_major_wraps_dev_t",
            expect: "berth: create container \"{id}\": device /dev/wrap: major above 4095, the largest a device number holds",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["devices"] =
                    json!([{"path": "/dev/wrap", "type": "c", "major": 4294967297u64, "minor": 3}]);
                create(rt, b, id)
            },
        },
        Case {
            name: "device_minor_above_20_bits",
            expect: "berth: create container \"{id}\": device /dev/big: minor above 1048575, the largest a device number holds",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["devices"] =
                    json!([{"path": "/dev/big", "type": "c", "major": 1, "minor": 1048576}]);
                create(rt, b, id)
            },
        },
        Case {
            name: "device_rule_major_wraps_dev_t",
            expect: "berth: create container \"{id}\": invalid linux.resources.devices[1]: major 4294967297 is above 4095, the largest a device number holds",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["resources"]["devices"] = json!([
                    {"allow": false, "access": "rwm"},
                    {"allow": true, "type": "c", "major": 4294967297u64, "minor": 3, "access": "rwm"}]);
                create(rt, b, id)
            },
        },
        Case {
            name: "cpu_period_zero",
            expect: "berth: create container \"{id}\": invalid linux.resources.cpu.period: 0 is outside 1000..=1000000 µs",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["linux"]["resources"]["cpu"] = json!({"period": 0});
                create(rt, b, id)
            },
        },
        Case {
            name: "hooks_as_an_array",
            expect: "berth: create container \"{id}\": parse {bundle}/config.json: hooks: invalid type: sequence, expected a map",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["hooks"] = json!([]);
                create(rt, b, id)
            },
        },
        Case {
            name: "mount_as_an_array",
            expect: "berth: create container \"{id}\": parse {bundle}/config.json: mounts[0]: invalid type: sequence, expected a map",
            creates: false,
            run: |rt, b, id| {
                b.config_mut()["mounts"] = json!([["/x", "tmpfs"]]);
                create(rt, b, id)
            },
        },
        Case {
            name: "arg_longer_than_execve_takes",
            expect: "berth: create container \"{id}\": config.json: process.args: [1] is 10485760 bytes, execve takes at most 131071 per string",
            creates: false,
            run: |rt, b, id| {
                let long = "x".repeat(10 << 20);
                b.config_mut()["process"]["args"] = json!(["true", long]);
                create(rt, b, id)
            },
        },
        Case {
            name: "args_and_env_beyond_the_exec_budget",
            expect: "berth: create container \"{id}\": config.json: process.args and process.env: 4040218 bytes together, more than the 2097152 execve accepts with a stack limit of 8388608 bytes",
            creates: false,
            run: |rt, b, id| {
                let mut args = vec![json!("true")];
                args.extend((0..4000).map(|_| json!("x".repeat(1000))));
                b.config_mut()["process"]["args"] = json!(args);
                b.config_mut()["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_STACK", "soft": 8388608u64, "hard": 8388608u64}]);
                create(rt, b, id)
            },
        },
    ]
}

/// A state directory for `id` in the runtime's root holding `state.json` = `bytes`, as a crash
/// or a full disk could leave it. No container process exists behind it.
pub fn fake_state(rt: &Runtime, id: &str, bytes: &[u8]) {
    let dir = rt.root().join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("state.json"), bytes).unwrap();
}
