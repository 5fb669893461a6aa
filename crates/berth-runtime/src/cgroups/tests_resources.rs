//! Unit tests for the full resource set (v1 and v2 translations, validation messages),
//! freezing and stats, on tempdir fixtures with the recording fake.

use std::collections::HashMap;

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxHugepageLimitBuilder, LinuxInterfacePriorityBuilder,
    LinuxMemoryBuilder, LinuxNetworkBuilder, LinuxRdmaBuilder, LinuxResourcesBuilder,
    LinuxThrottleDeviceBuilder, LinuxWeightDeviceBuilder,
};

use super::*;

/// The VM tier's pure v2 host with every controller enabled and the files stats read.
fn full_v2() -> Fixture {
    let f = unified_fixture();
    f.file(
        "cg/cgroup.subtree_control",
        "cpuset cpu io memory hugetlb pids rdma\n",
    );
    for file in [
        "cpu.max.burst",
        "cpu.idle",
        "io.weight",
        "io.max",
        "hugetlb.2MB.max",
        "hugetlb.2MB.current",
        "hugetlb.2MB.events",
        "rdma.max",
        "cgroup.freeze",
        "cgroup.events",
        "memory.current",
        "memory.events",
        "memory.stat",
        "memory.peak",
        "memory.swap.current",
        "cpu.stat",
        "pids.current",
        "io.stat",
        "memory.high",
    ] {
        f.file(&format!("cg/{file}"), "");
    }
    f
}

fn full_v1() -> Fixture {
    let mut lines = HYBRID.to_vec();
    lines.push("42 31 0:39 / ROOT/cg/blkio rw - cgroup cgroup rw,blkio");
    lines.push("43 31 0:40 / ROOT/cg/hugetlb rw - cgroup cgroup rw,hugetlb");
    lines.push("44 31 0:41 / ROOT/cg/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio");
    lines.push("45 31 0:42 / ROOT/cg/freezer rw - cgroup cgroup rw,freezer");
    let f = fixture(&lines);
    let base = hybrid_fixture();
    // Copy the hybrid fixture's files into this one.
    copy_tree(&base.root().join("cg"), &f.root().join("cg"));
    for file in [
        "blkio/blkio.weight",
        "blkio/blkio.weight_device",
        "blkio/blkio.throttle.read_bps_device",
        "blkio/blkio.throttle.write_iops_device",
        "blkio/cgroup.procs",
        "hugetlb/hugetlb.2MB.limit_in_bytes",
        "hugetlb/cgroup.procs",
        "net_cls,net_prio/net_cls.classid",
        "net_cls,net_prio/net_prio.ifpriomap",
        "net_cls,net_prio/cgroup.procs",
        "freezer/freezer.state",
        "freezer/cgroup.procs",
        "memory/memory.swappiness",
        "memory/memory.oom_control",
        "memory/memory.usage_in_bytes",
        "cpu,cpuacct/cpu.cfs_burst_us",
    ] {
        f.file(&format!("cg/{file}"), "");
    }
    f
}

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn block_io() -> oci_spec::runtime::LinuxBlockIo {
    LinuxBlockIoBuilder::default()
        .weight(500u16)
        .weight_device(vec![LinuxWeightDeviceBuilder::default()
            .major(8)
            .minor(0)
            .weight(100u16)
            .build()
            .unwrap()])
        .throttle_read_bps_device(vec![LinuxThrottleDeviceBuilder::default()
            .major(8)
            .minor(0)
            .rate(1_048_576u64)
            .build()
            .unwrap()])
        .throttle_write_iops_device(vec![LinuxThrottleDeviceBuilder::default()
            .major(8)
            .minor(16)
            .rate(0u64)
            .build()
            .unwrap()])
        .build()
        .unwrap()
}

fn everything() -> LinuxResources {
    let mut rdma = HashMap::new();
    rdma.insert(
        "mlx5_0".to_string(),
        LinuxRdmaBuilder::default()
            .hca_handles(3u32)
            .hca_objects(1000u32)
            .build()
            .unwrap(),
    );
    let mut unified = HashMap::new();
    unified.insert("memory.high".to_string(), "50000000".to_string());
    LinuxResourcesBuilder::default()
        .cpu(
            LinuxCpuBuilder::default()
                .shares(512u64)
                .burst(10_000u64)
                .idle(0i64)
                .build()
                .unwrap(),
        )
        .block_io(block_io())
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4 << 20)
            .build()
            .unwrap()])
        .rdma(rdma)
        .unified(unified)
        .build()
        .unwrap()
}

fn created(f: &Fixture) -> (FakeFs, CgroupPlan) {
    let fs = FakeFs::default();
    let p = plan(f, None, "c1");
    p.create_with(&fs).unwrap();
    fs.writes.borrow_mut().clear();
    (fs, p)
}

#[test]
fn v2_every_resource_file_value() {
    let f = full_v2();
    let (fs, p) = created(&f);
    let unapplied = p
        .apply_resources_with(&fs, &everything(), ApplyMode::Create)
        .unwrap();
    assert_eq!(unapplied, Vec::<String>::new());
    assert_eq!(
        fs.writes_under(&f.root().join("cg/berth/c1")),
        pairs(&[
            ("cpu.weight", "59"),
            ("cpu.max.burst", "10000"),
            ("cpu.idle", "0"),
            ("io.weight", "default 4950"),
            ("io.weight", "8:0 910"),
            ("io.max", "8:0 rbps=1048576"),
            ("io.max", "8:16 wiops=max"),
            ("hugetlb.2MB.max", "4194304"),
            ("rdma.max", "mlx5_0 hca_handle=3 hca_object=1000"),
            ("memory.high", "50000000"),
        ])
    );
}

#[test]
fn v1_every_resource_file_value() {
    let f = full_v1();
    let (fs, p) = created(&f);
    let mut r = everything();
    r.set_rdma(None);
    r.set_unified(None);
    r.set_memory(Some(
        LinuxMemoryBuilder::default()
            .swappiness(10u64)
            .disable_oom_killer(true)
            .build()
            .unwrap(),
    ));
    r.set_network(Some(
        LinuxNetworkBuilder::default()
            .class_id(0x100001u32)
            .priorities(vec![LinuxInterfacePriorityBuilder::default()
                .name("eth0")
                .priority(5u32)
                .build()
                .unwrap()])
            .build()
            .unwrap(),
    ));
    let unapplied = p.apply_resources_with(&fs, &r, ApplyMode::Create).unwrap();
    // cpu.idle has no file in this fixture's v1 cpu hierarchy.
    assert_eq!(unapplied, ["cpu.idle"]);
    let leaf = |h: &str| f.root().join("cg").join(h).join("berth/c1");
    assert_eq!(
        fs.writes_under(&leaf("memory")),
        pairs(&[("memory.swappiness", "10"), ("memory.oom_control", "1")])
    );
    assert_eq!(
        fs.writes_under(&leaf("cpu,cpuacct")),
        pairs(&[("cpu.shares", "512"), ("cpu.cfs_burst_us", "10000")])
    );
    assert_eq!(
        fs.writes_under(&leaf("blkio")),
        pairs(&[
            ("blkio.weight", "500"),
            ("blkio.weight_device", "8:0 100"),
            ("blkio.throttle.read_bps_device", "8:0 1048576"),
            ("blkio.throttle.write_iops_device", "8:16 0"),
        ])
    );
    assert_eq!(
        fs.writes_under(&leaf("hugetlb")),
        pairs(&[("hugetlb.2MB.limit_in_bytes", "4194304")])
    );
    assert_eq!(
        fs.writes_under(&leaf("net_cls,net_prio")),
        pairs(&[
            ("net_cls.classid", "1048577"),
            ("net_prio.ifpriomap", "eth0 5")
        ])
    );
}

/// dockerd sends `"blockIO": {"weight": 0}` when --blkio-weight is not given; runc treats a
/// zero weight as unset. Found by the differential tier (tests/differential, docker fixture).
#[test]
fn zero_block_io_weight_is_unset_as_in_runc() {
    let f = full_v1();
    let (fs, p) = created(&f);
    let r = LinuxResourcesBuilder::default()
        .block_io(
            LinuxBlockIoBuilder::default()
                .weight(0u16)
                .leaf_weight(0u16)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    p.apply_resources_with(&fs, &r, ApplyMode::Create).unwrap();
    assert_eq!(
        fs.writes_under(&f.root().join("cg/blkio/berth/c1")),
        pairs(&[])
    );
}

/// Each bad value, the exact message, and nothing written.
#[test]
fn invalid_resources_fail_before_any_write_with_exact_messages() {
    let f = full_v2();
    let (fs, p) = created(&f);
    let unified = |k: &str| {
        let mut m = HashMap::new();
        m.insert(k.to_string(), "1".to_string());
        LinuxResourcesBuilder::default().unified(m).build().unwrap()
    };
    let cases: Vec<(LinuxResources, &str)> = vec![
        (
            LinuxResourcesBuilder::default()
                .memory(LinuxMemoryBuilder::default().limit(-5).build().unwrap())
                .build()
                .unwrap(),
            "invalid linux.resources.memory.limit: -5 is negative (only -1, unlimited, is allowed)",
        ),
        (
            LinuxResourcesBuilder::default()
                .cpu(LinuxCpuBuilder::default().period(10u64).build().unwrap())
                .build()
                .unwrap(),
            "invalid linux.resources.cpu.period: 10 is outside 1000..=1000000 µs",
        ),
        (
            LinuxResourcesBuilder::default()
                .cpu(LinuxCpuBuilder::default().quota(-7).build().unwrap())
                .build()
                .unwrap(),
            "invalid linux.resources.cpu.quota: -7 is negative (only -1, unlimited, is allowed)",
        ),
        (
            LinuxResourcesBuilder::default()
                .cpu(LinuxCpuBuilder::default().cpus("0-1;rm").build().unwrap())
                .build()
                .unwrap(),
            "invalid linux.resources.cpu.cpus: \"0-1;rm\" is not a list like \"0-2,4\"",
        ),
        (
            LinuxResourcesBuilder::default()
                .block_io(LinuxBlockIoBuilder::default().weight(5u16).build().unwrap())
                .build()
                .unwrap(),
            "invalid linux.resources.blockIO.weight: weight 5 is outside 10..=1000",
        ),
        (
            LinuxResourcesBuilder::default()
                .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
                    .page_size("3MB")
                    .limit(1)
                    .build()
                    .unwrap()])
                .build()
                .unwrap(),
            "invalid linux.resources.hugepageLimits[0]: page size \"3MB\" is not supported by this host (no hugetlb.3MB.max)",
        ),
        (
            unified("memory.nonexistent"),
            "invalid linux.resources.unified[\"memory.nonexistent\"]: no such file in the memory controller",
        ),
        (
            unified("misc.max"),
            "invalid linux.resources.unified[\"misc.max\"]: the misc controller is not available on this host",
        ),
        (
            unified("cgroup.procs"),
            "invalid linux.resources.unified[\"cgroup.procs\"]: this cgroup core file is managed by berth",
        ),
        (
            unified("../../memory.max"),
            "invalid linux.resources.unified[\"../../memory.max\"]: not a cgroup v2 file name (<controller>.<file>)",
        ),
        (
            unified("nodot"),
            "invalid linux.resources.unified[\"nodot\"]: not a cgroup v2 file name (<controller>.<file>)",
        ),
    ];
    for (r, want) in cases {
        let err = p
            .apply_resources_with(&fs, &r, ApplyMode::Create)
            .unwrap_err();
        assert_eq!(err.to_string(), want);
        assert!(fs.writes.borrow().is_empty(), "{want}");
        assert!(fs.programs.borrow().is_empty(), "{want}");
    }
}

#[test]
fn unified_is_refused_without_a_v2_controller() {
    // Hybrid: the cgroup2 hierarchy has no memory controller.
    let f = hybrid_fixture();
    let (fs, p) = created(&f);
    let mut m = HashMap::new();
    m.insert("memory.high".to_string(), "1".to_string());
    let r = LinuxResourcesBuilder::default().unified(m).build().unwrap();
    let err = p
        .apply_resources_with(&fs, &r, ApplyMode::Create)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid linux.resources.unified[\"memory.high\"]: the memory controller is not available on this host"
    );
}

#[test]
fn update_skips_devices_and_checks_usage_before_lowering() {
    let f = full_v2();
    let (fs, p) = created(&f);
    let leaf = f.root().join("cg/berth/c1");
    std::fs::write(leaf.join("memory.current"), "10000000\n").unwrap();
    let r = LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(5_000_000)
                .check_before_update(true)
                .build()
                .unwrap(),
        )
        .devices(resources().devices().clone().unwrap())
        .build()
        .unwrap();
    let err = p
        .apply_resources_with(&fs, &r, ApplyMode::Update)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid linux.resources.memory.limit: 5000000 is below the current usage 10000000 (checkBeforeUpdate)"
    );
    let mut r = r;
    r.set_memory(Some(
        LinuxMemoryBuilder::default()
            .limit(20_000_000)
            .build()
            .unwrap(),
    ));
    let unapplied = p.apply_resources_with(&fs, &r, ApplyMode::Update).unwrap();
    assert_eq!(unapplied, ["devices"]);
    assert!(fs.programs.borrow().is_empty());
    assert_eq!(fs.writes_under(&leaf), pairs(&[("memory.max", "20000000")]));
}

#[test]
fn freeze_v2_writes_cgroup_freeze_and_reads_events() {
    let f = full_v2();
    let (fs, p) = created(&f);
    let leaf = f.root().join("cg/berth/c1");
    assert_eq!(p.freezer_state_with(&fs), FreezerState::Thawed);
    // The fixture "kernel" reports frozen as soon as it is asked.
    std::fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    p.set_frozen_with(&fs, true).unwrap();
    assert_eq!(fs.writes_under(&leaf), pairs(&[("cgroup.freeze", "1")]));
    assert_eq!(p.freezer_state_with(&fs), FreezerState::Frozen);
    std::fs::write(leaf.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
    p.set_frozen_with(&fs, false).unwrap();
    assert_eq!(p.freezer_state_with(&fs), FreezerState::Thawed);
}

#[test]
fn freeze_prefers_the_v1_freezer_and_fails_without_one() {
    let f = full_v1();
    let (fs, p) = created(&f);
    p.set_frozen_with(&fs, true).unwrap();
    let leaf = f.root().join("cg/freezer/berth/c1");
    assert_eq!(
        fs.writes_under(&leaf),
        pairs(&[("freezer.state", "FROZEN")])
    );
    assert_eq!(p.freezer_state_with(&fs), FreezerState::Frozen);

    let f = fixture(&["31 25 0:27 / ROOT/pids rw - cgroup cgroup rw,pids"]);
    f.file("pids/cgroup.procs", "");
    let (fs, p) = created(&f);
    assert_eq!(
        p.set_frozen_with(&fs, true).unwrap_err().to_string(),
        "the container's cgroup has no freezer (neither a v1 freezer hierarchy nor cgroup.freeze)"
    );
}

#[test]
fn stats_v2_read_every_controller() {
    let f = full_v2();
    let (fs, p) = created(&f);
    let leaf = f.root().join("cg/berth/c1");
    let w = |file: &str, text: &str| std::fs::write(leaf.join(file), text).unwrap();
    w("memory.current", "1000\n");
    w("memory.max", "max\n");
    w("memory.peak", "4000\n");
    w("memory.swap.current", "0\n");
    w("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    w("memory.stat", "anon 500\nfile 300\n");
    w(
        "cpu.stat",
        "usage_usec 20\nuser_usec 15\nsystem_usec 5\nnr_periods 4\nnr_throttled 2\nthrottled_usec 7\n",
    );
    w("pids.current", "3\n");
    w("pids.max", "max\n");
    w(
        "io.stat",
        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n",
    );
    w("hugetlb.2MB.current", "0\n");
    w("hugetlb.2MB.max", "2097152\n");
    w("hugetlb.2MB.events", "max 0\n");
    let s = p.stats_with(&fs).unwrap();
    assert_eq!(s.memory.usage.usage, 1000);
    assert_eq!(s.memory.usage.limit, u64::MAX);
    assert_eq!(s.memory.usage.max, 4000);
    assert_eq!(s.memory.usage.failcnt, 3);
    assert_eq!(s.memory.oom_kill, 1);
    assert_eq!(s.memory.cache, 300);
    assert_eq!(s.memory.raw["anon"], 500);
    assert_eq!(s.cpu.usage.total, 20_000);
    assert_eq!(s.cpu.usage.user, 15_000);
    assert_eq!(s.cpu.usage.kernel, 5_000);
    assert_eq!(s.cpu.throttling.throttled_time, 7_000);
    assert_eq!(s.pids.current, 3);
    assert_eq!(s.pids.limit, 0);
    assert_eq!(
        s.blkio.io_service_bytes_recursive,
        vec![
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Read".into(),
                value: 4096
            },
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Write".into(),
                value: 8192
            }
        ]
    );
    assert_eq!(s.hugetlb["2MB"].max, 2097152);
    let json = serde_json::to_value(&s).unwrap();
    for key in ["cpu", "memory", "pids", "blkio", "hugetlb"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    assert_eq!(json["cpu"]["throttling"]["throttledPeriods"], 2);
    assert!(json.get("v2").is_none(), "runc's events JSON has no v2 key");
    // The raw v2 numbers containerd's v2 metrics carry: microseconds, `max` as u64::MAX.
    let v2 = s.v2.expect("a pure v2 host has the v2 numbers");
    assert_eq!(v2.cpu_stat["usage_usec"], 20);
    assert_eq!(v2.cpu_stat["throttled_usec"], 7);
    assert_eq!(v2.memory_stat["anon"], 500);
    assert_eq!(v2.memory_events.unwrap()["oom_kill"], 1);
    assert_eq!(
        (v2.memory_current, v2.memory_max, v2.memory_peak),
        (1000, u64::MAX, 4000)
    );
    assert_eq!((v2.pids_current, v2.pids_max), (3, u64::MAX));
    assert_eq!((v2.io[0].rbytes, v2.io[0].wios), (4096, 2));
    assert_eq!(v2.hugetlb["2MB"].max, 2097152);
}

#[test]
fn stats_on_a_hybrid_host_have_no_v2_numbers() {
    let f = hybrid_fixture();
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    p.create_with(&fs).unwrap();
    assert_eq!(p.stats_with(&fs).unwrap().v2, None);
}

#[test]
fn stats_of_a_missing_cgroup_is_an_error() {
    let f = full_v2();
    let p = plan(&f, None, "gone");
    let err = p.stats_with(&FakeFs::default()).unwrap_err();
    assert!(err.to_string().starts_with("read "), "{err}");
    assert!(err.to_string().ends_with("cg/berth/gone"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// root tests on this host

/// The eBPF device program really filters opens: attach it to a cgroup berth creates in the
/// host's cgroup2 hierarchy (the empty `unified` one on this hybrid host, whose root device
/// controller v1 allows everything) and open devices from a child placed there.
#[test]
fn root_bpf_device_program_allows_listed_devices_and_denies_others() {
    let test = "root_bpf_device_program_allows_listed_devices_and_denies_others";
    let Some(host) = real_host_or_skip(test) else {
        return;
    };
    let Some(v2) = host.hierarchies.iter().find(|h| h.is_v2()).cloned() else {
        crate::test_skip(test, "no cgroup2 hierarchy on this host");
        return;
    };
    let only_v2 = HostCgroups {
        hierarchies: vec![v2],
    };
    let p = CgroupPlan::new(&only_v2, None, &unique("bpf"), false).unwrap();
    let _guard = RemoveOnDrop(&p);
    p.create().unwrap();
    let dir = p.v2_dir().unwrap();
    let rules = [
        super::bpf::DeviceRule::parse(false, "a *:* rwm").unwrap(),
        super::bpf::DeviceRule::parse(true, "c 1:3 rwm").unwrap(), // /dev/null
        super::bpf::DeviceRule::parse(true, "c 1:5 r").unwrap(),   // /dev/zero, read only
    ];
    super::bpf::install(&dir, &rules).unwrap();
    let child = fork_child(|| {
        if p.join_self(false).is_err() {
            return 2;
        }
        let open = |path: &str, write: bool| {
            std::fs::OpenOptions::new()
                .read(!write)
                .write(write)
                .open(path)
                .map(|_| ())
                .map_err(|e| e.raw_os_error())
        };
        let results = [
            open("/dev/null", true) == Ok(()),
            open("/dev/zero", false) == Ok(()),
            open("/dev/zero", true) == Err(Some(libc::EPERM)),
            open("/dev/full", false) == Err(Some(libc::EPERM)),
        ];
        if results.iter().all(|ok| *ok) {
            0
        } else {
            eprintln!("device checks (null w, zero r, zero w denied, full denied): {results:?}");
            1
        }
    });
    let status = nix::sys::wait::waitpid(child, None).unwrap();
    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
}

/// A process frozen through berth's freezer makes no progress until thawed.
#[test]
fn root_freeze_stops_and_thaw_resumes_a_process() {
    let test = "root_freeze_stops_and_thaw_resumes_a_process";
    let Some(host) = real_host_or_skip(test) else {
        return;
    };
    let p = CgroupPlan::new(&host, None, &unique("freeze"), false).unwrap();
    let _guard = RemoveOnDrop(&p);
    p.create().unwrap();
    let counter = tempfile::NamedTempFile::new().unwrap();
    let path = counter.path().to_path_buf();
    let child = fork_child(|| {
        if p.join_self(false).is_err() {
            return 2;
        }
        let mut n = 0u64;
        loop {
            n += 1;
            let _ = std::fs::write(&path, n.to_string());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    let read = || {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .parse::<u64>()
            .unwrap_or(0)
    };
    std::thread::sleep(std::time::Duration::from_millis(100));
    p.freeze().unwrap();
    assert_eq!(p.freezer_state(), FreezerState::Frozen);
    let frozen_at = read();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(read(), frozen_at, "the counter moved while frozen");
    p.thaw().unwrap();
    assert_eq!(p.freezer_state(), FreezerState::Thawed);
    // The writer truncates before it writes, so one read may see 0: wait (bounded) for a
    // value past the frozen one rather than trusting a single read.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while read() <= frozen_at {
        assert!(
            std::time::Instant::now() < deadline,
            "the counter did not resume"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stats = p.stats().unwrap();
    assert!(stats.pids.current >= 1, "{stats:?}");
    p.signal_all(libc::SIGKILL).unwrap();
    nix::sys::wait::waitpid(child, None).unwrap();
}

#[test]
fn requested_sections_names_what_the_config_asks_for() {
    let r: LinuxResources = serde_json::from_value(serde_json::json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 1048576},
        "blockIO": {"weight": 100},
        "cpu": {},
        "hugepageLimits": [],
        "unified": {}
    }))
    .unwrap();
    assert_eq!(requested_sections(&r), ["blockIO", "devices", "memory"]);
    assert!(requested_sections(&LinuxResources::default()).is_empty());
}

/// On a cgroup2 host, the controllers the container's cgroup will get are known before it
/// exists: what the hierarchy's root (or a directory berth does not own) hands down in its
/// `cgroup.subtree_control`. A setting whose controller is not among them fails in
/// `ResourcesPlan::new`, before anything is created, with the apply step's message; for an
/// existing cgroup (update) its own `cgroup.controllers` decides.
#[test]
fn v2_controllers_to_come_are_checked_before_the_cgroup_exists() {
    let f = unified_fixture(); // the root hands down "cpuset cpu io memory pids"
    let fs = FakeFs::default();
    let hugetlb = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(1 << 21)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    let pids = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(5).build().unwrap())
        .build()
        .unwrap();
    // Default path berth/<id>: berth's own parent enables what the root hands down.
    let p = plan(&f, None, "c1");
    let err = ResourcesPlan::new_with(&fs, &hugetlb, &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid linux.resources.hugepageLimits: the hugetlb controller is not available on this host"
    );
    assert!(ResourcesPlan::new_with(&fs, &pids, &p).is_ok());
    assert!(fs.writes.borrow().is_empty(), "nothing written");
    assert!(!f.root().join("cg/berth").exists(), "nothing created");

    // Below someone else's cgroup, its subtree_control is what reaches the container.
    f.file(
        "cg/theirs/cgroup.controllers",
        "cpuset cpu io memory pids\n",
    );
    f.file("cg/theirs/cgroup.subtree_control", "memory\n");
    let theirs = plan(&f, Some("/theirs/c2"), "c2");
    let err = ResourcesPlan::new_with(&fs, &pids, &theirs).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid linux.resources.pids.limit: the pids controller is not available on this host"
    );

    // An existing cgroup (update): its own cgroup.controllers (the fake, like the kernel,
    // answers with what its parent enables: "memory" below theirs).
    f.file("cg/theirs/c3/cgroup.procs", "");
    let existing = plan(&f, Some("/theirs/c3"), "c3");
    assert_eq!(
        existing.v2_controllers_to_come(&fs).map(|(c, _)| c),
        Some(vec!["memory".to_string()])
    );
    assert!(ResourcesPlan::new_with(&fs, &pids, &existing).is_err());
}

/// Rootless in a delegated subtree (delegation.rs): the subtree is the root berth may not
/// write, so a controller it does not hand down is refused as not delegated, naming the file
/// that says so; and no device program is planned (loading one needs privilege).
#[test]
fn delegated_subtree_refuses_a_controller_not_handed_down_and_programs_no_devices() {
    let f = unified_fixture();
    let fs = FakeFs::default();
    f.file("cg/user/app.slice/cgroup.controllers", "cpu memory pids\n");
    f.file("cg/user/app.slice/cgroup.subtree_control", "memory pids\n");
    let mut host = f.host();
    let base = f.root().join("cg/user/app.slice");
    host.hierarchies[0].mount_point = base.clone();
    let mut p = CgroupPlan::new(&host, None, "c1", false).unwrap();
    p.delegated = true;
    assert_eq!(p.dir(&p.hierarchies[0]), base.join("berth/c1"));
    let cpu = LinuxResourcesBuilder::default()
        .cpu(LinuxCpuBuilder::default().shares(512u64).build().unwrap())
        .build()
        .unwrap();
    let err = ResourcesPlan::new_with(&fs, &cpu, &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid linux.resources.cpu.shares: rootless: the cpu controller is not delegated to berth: the container's cgroup.controllers would list only \"memory pids\" (as {}/cgroup.subtree_control says)",
            base.display()
        )
    );
    let pids = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(5).build().unwrap())
        .build()
        .unwrap();
    let planned = ResourcesPlan::new_with(&fs, &pids, &p).unwrap();
    f.file(
        "cg/user/app.slice/berth/c1/cgroup.controllers",
        "memory pids\n",
    );
    f.file("cg/user/app.slice/berth/c1/pids.max", "max\n");
    let writes = p.resource_plan(&fs, &planned, ApplyMode::Create).unwrap();
    assert!(
        writes.device_program.is_none(),
        "no device program rootless"
    );
    assert_eq!(writes.writes.len(), 1, "{:?}", writes.writes);
}

/// Issue #14, config-linux.md (1.1+): hugepage limits apply to reservations where the kernel
/// has the rsvd files, and to page faults always; without the rsvd file the fault limit alone
/// is written (the spec's fallback).
#[test]
fn hugetlb_limits_reach_the_rsvd_files_where_the_kernel_has_them() {
    let r = LinuxResourcesBuilder::default()
        .hugepage_limits(vec![LinuxHugepageLimitBuilder::default()
            .page_size("2MB")
            .limit(4 << 20)
            .build()
            .unwrap()])
        .build()
        .unwrap();
    let f = full_v2();
    f.file("cg/hugetlb.2MB.rsvd.max", "");
    let (fs, p) = created(&f);
    p.apply_resources_with(&fs, &r, ApplyMode::Create).unwrap();
    assert_eq!(
        fs.writes_under(&f.root().join("cg/berth/c1")),
        pairs(&[
            ("hugetlb.2MB.max", "4194304"),
            ("hugetlb.2MB.rsvd.max", "4194304")
        ])
    );
    let f = full_v1();
    f.file("cg/hugetlb/hugetlb.2MB.rsvd.limit_in_bytes", "");
    let (fs, p) = created(&f);
    p.apply_resources_with(&fs, &r, ApplyMode::Create).unwrap();
    assert_eq!(
        fs.writes_under(&f.root().join("cg/hugetlb/berth/c1")),
        pairs(&[
            ("hugetlb.2MB.limit_in_bytes", "4194304"),
            ("hugetlb.2MB.rsvd.limit_in_bytes", "4194304")
        ])
    );
}

/// Issue #14, runtime-spec 1.3 (runc ≥ 1.4): `pids.limit` 0 is written as a limit of 0
/// tasks, a negative limit as "max".
#[test]
fn pids_limit_zero_is_a_limit_and_negative_is_max() {
    for (limit, written) in [(0, "0"), (-1, "max"), (-5, "max"), (7, "7")] {
        let f = full_v2();
        let (fs, p) = created(&f);
        let r = LinuxResourcesBuilder::default()
            .pids(
                oci_spec::runtime::LinuxPidsBuilder::default()
                    .limit(limit)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        p.apply_resources_with(&fs, &r, ApplyMode::Create).unwrap();
        assert_eq!(
            fs.writes_under(&f.root().join("cg/berth/c1")),
            pairs(&[("pids.max", written)]),
            "{limit}"
        );
    }
}
