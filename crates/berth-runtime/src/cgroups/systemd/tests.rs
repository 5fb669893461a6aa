use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use super::*;
use crate::cgroups::{CgroupPlan, Hierarchy, HostCgroups};

fn unit(path: &str, id: &str) -> Result<SystemdUnit, String> {
    SystemdUnit::parse(Some(path).filter(|p| !p.is_empty()), id).map_err(|e| e.to_string())
}

#[test]
fn empty_path_is_system_slice_berth_id() {
    let u = unit("", "c1").unwrap();
    assert_eq!(u.slice, "system.slice");
    assert_eq!(u.unit, "berth-c1.scope");
    assert_eq!(u.relative_path(), Path::new("system.slice/berth-c1.scope"));
}

#[test]
fn slice_prefix_name_makes_prefix_name_scope_under_the_expanded_slice() {
    let u = unit("kubepods-burstable-pod1a.slice:cri-containerd:abc", "x").unwrap();
    assert_eq!(u.unit, "cri-containerd-abc.scope");
    assert_eq!(
        u.relative_path(),
        PathBuf::from(
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a.slice/cri-containerd-abc.scope"
        )
    );
}

#[test]
fn root_slice_and_empty_fields() {
    let u = unit("-.slice:p:n", "x").unwrap();
    assert_eq!(u.relative_path(), Path::new("p-n.scope"));
    let u = unit(":p:n", "x").unwrap();
    assert_eq!(u.slice, "system.slice");
    let u = unit("machine.slice::n", "x").unwrap();
    assert_eq!(u.unit, "n.scope");
}

#[test]
fn bad_paths_are_refused_with_the_reason() {
    let cases = [
        ("system.slice/x", "takes the form"),
        ("a:b", "takes the form \"slice:prefix:name\""),
        ("a.slice:b:c:d", "takes the form"),
        ("system:berth:x", "the slice field must name a slice unit"),
        ("-a.slice:p:n", "empty dash-separated part"),
        ("a--b.slice:p:n", "empty dash-separated part"),
        ("a-.slice:p:n", "empty dash-separated part"),
        ("a/b.slice:p:n", "may hold only"),
        ("a.slice:p:", "the name field"),
        ("a.slice:p:n.slice", "is not supported"),
        ("a.slice:p/q:n", "may hold only"),
        ("a.slice:p:n m", "may hold only"),
    ];
    for (path, want) in cases {
        let err = unit(path, "x").unwrap_err();
        assert!(err.contains(want), "{path:?}: {err}");
        assert!(
            err.starts_with(&format!("invalid cgroupsPath {path:?}")),
            "{err}"
        );
    }
    let long = format!("a.slice:p:{}", "n".repeat(250));
    assert!(unit(&long, "x").unwrap_err().contains("255 bytes"));
}

fn host(hierarchies: &[(&str, &str)]) -> HostCgroups {
    HostCgroups {
        hierarchies: hierarchies
            .iter()
            .map(|(mount, fs_type)| Hierarchy {
                mount_point: PathBuf::from(mount),
                fs_type: fs_type.to_string(),
                options: String::new(),
                root: PathBuf::from("/"),
            })
            .collect(),
    }
}

#[test]
fn plan_is_the_scope_on_a_unified_host_and_refused_elsewhere() {
    let unified = host(&[("/sys/fs/cgroup", "cgroup2")]);
    let plan = CgroupPlan::new(&unified, Some(Path::new("a-b.slice:p:n")), "id", true).unwrap();
    assert_eq!(plan.relative_path, Path::new("a.slice/a-b.slice/p-n.scope"));
    assert_eq!(plan.owned_parent_depth, 0);
    assert_eq!(plan.systemd.as_ref().unwrap().unit, "p-n.scope");
    // Recorded in the state and read back.
    let json = serde_json::to_string(&plan).unwrap();
    assert_eq!(serde_json::from_str::<CgroupPlan>(&json).unwrap(), plan);

    let hybrid = host(&[
        ("/sys/fs/cgroup/memory", "cgroup"),
        ("/sys/fs/cgroup/unified", "cgroup2"),
    ]);
    let err = CgroupPlan::new(&hybrid, None, "id", true)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "the systemd cgroup driver needs a pure cgroup v2 host; this host's cgroups are Hybrid"
    );
    // Without the driver, the same string is an ordinary relative path.
    let plan = CgroupPlan::new(&unified, Some(Path::new("a.slice:p:n")), "id", false).unwrap();
    assert_eq!(plan.relative_path, Path::new("berth/a.slice:p:n"));
    assert!(plan.systemd.is_none());
}

fn resources(json: serde_json::Value) -> LinuxResources {
    serde_json::from_value(json).unwrap()
}

#[test]
fn resources_become_the_properties_systemd_understands() {
    let r = resources(serde_json::json!({
        "memory": {"limit": 268435456, "reservation": 1048576, "swap": 536870912},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1,3", "mems": "0"},
        "pids": {"limit": 64},
        "blockIO": {"weight": 500}
    }));
    let props = resource_properties(&r).unwrap();
    let want: Vec<Property> = vec![
        ("MemoryMax", PropValue::U64(268435456)),
        ("MemoryLow", PropValue::U64(1048576)),
        ("MemorySwapMax", PropValue::U64(268435456)),
        ("CPUWeight", PropValue::U64(100)),
        ("CPUQuotaPerSecUSec", PropValue::U64(500_000)),
        ("CPUQuotaPeriodUSec", PropValue::U64(100_000)),
        ("AllowedCPUs", PropValue::Bytes(vec![0b1011])),
        ("AllowedMemoryNodes", PropValue::Bytes(vec![1])),
        ("TasksMax", PropValue::U64(64)),
        ("IOWeight", PropValue::U64(4950)),
    ];
    assert_eq!(props, want);
}

#[test]
fn unlimited_values_are_infinity_and_quota_rounds_up_to_10ms() {
    let r = resources(serde_json::json!({
        "memory": {"limit": -1},
        "cpu": {"quota": 12345, "period": 100000},
        "pids": {"limit": -1}
    }));
    let props = resource_properties(&r).unwrap();
    assert_eq!(props[0], ("MemoryMax", PropValue::U64(u64::MAX)));
    // 123450 µs per second → 130000 (13 %).
    assert_eq!(props[1], ("CPUQuotaPerSecUSec", PropValue::U64(130_000)));
    assert_eq!(props[3], ("TasksMax", PropValue::U64(u64::MAX)));
    // runtime-spec 1.3: a pids limit of 0 is TasksMax=0, not infinity.
    let r = resources(serde_json::json!({"pids": {"limit": 0}}));
    assert_eq!(
        resource_properties(&r).unwrap(),
        vec![("TasksMax", PropValue::U64(0))]
    );
    let none = resource_properties(&LinuxResources::default()).unwrap();
    assert!(none.is_empty());
}

#[test]
fn cpu_lists_are_checked() {
    let r = resources(serde_json::json!({"cpu": {"cpus": "3-1"}}));
    let err = resource_properties(&r).unwrap_err().to_string();
    assert!(err.contains("linux.resources.cpu.cpus"), "{err}");
    assert_eq!(list_to_mask("8", "x").unwrap(), vec![0, 1]);
}

#[test]
fn scope_properties_delegate_and_carry_the_pid() {
    let u = unit("", "c1").unwrap();
    let props = scope_properties(&u, "c1", 42);
    assert!(props.contains(&("Delegate", PropValue::Bool(true))));
    assert!(props.contains(&("PIDs", PropValue::U32s(vec![42]))));
    assert!(props.contains(&("Slice", PropValue::Str("system.slice".into()))));
}
