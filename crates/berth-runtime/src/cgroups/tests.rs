//! Unit tests on tempdir fixtures (no root), and root tests on this host's real hierarchies.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxCpuBuilder, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

use super::fs::CgroupFs;
use super::*;

// ---------------------------------------------------------------------------------------------
// A fake cgroupfs over a tempdir: mkdir populates the new directory the way the kernel does
// (the parent's control files, empty; cgroup.controllers = the parent's subtree_control), rmdir
// drops the control files first, write never creates a file, and every write is recorded.

#[derive(Default)]
struct FakeFs {
    writes: RefCell<Vec<(PathBuf, String)>>,
    /// Device programs "attached": the directory and the rules in kernel v1 spelling.
    programs: RefCell<Vec<(PathBuf, Vec<super::bpf::DeviceRule>)>>,
    /// rmdir of these paths fails with EBUSY this many more times.
    busy: RefCell<HashMap<PathBuf, u32>>,
}

impl FakeFs {
    fn writes_under(&self, dir: &Path) -> Vec<(String, String)> {
        self.writes
            .borrow()
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, v)| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, v.clone())
            })
            .collect()
    }
}

impl CgroupFs for FakeFs {
    fn mkdir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)?;
        let parent = path.parent().unwrap();
        for entry in std::fs::read_dir(parent)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let name = entry.file_name();
            let content = if name == "cgroup.controllers" {
                std::fs::read_to_string(parent.join("cgroup.subtree_control")).unwrap_or_default()
            } else {
                String::new()
            };
            std::fs::write(path.join(name), content)?;
        }
        std::fs::write(path.join("cgroup.procs"), "")?;
        Ok(())
    }
    fn rmdir(&self, path: &Path) -> io::Result<()> {
        if let Some(n) = self.busy.borrow_mut().get_mut(path) {
            if *n > 0 {
                *n -= 1;
                return Err(io::Error::from_raw_os_error(libc::EBUSY));
            }
        }
        if !path.exists() {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        if std::fs::read_dir(path)?.any(|e| e.map(|e| e.path().is_dir()).unwrap_or(false)) {
            // The kernel refuses to remove a cgroup with children.
            return Err(io::Error::from_raw_os_error(libc::EBUSY));
        }
        for entry in std::fs::read_dir(path)? {
            std::fs::remove_file(entry?.path())?;
        }
        std::fs::remove_dir(path)
    }
    fn read(&self, path: &Path) -> io::Result<String> {
        // Like the kernel, a child's cgroup.controllers is whatever its parent enables now.
        if path.file_name() == Some("cgroup.controllers".as_ref()) {
            let dir = path.parent().unwrap();
            let parent_control = dir.parent().unwrap().join("cgroup.subtree_control");
            if dir.exists() && parent_control.exists() {
                return std::fs::read_to_string(parent_control);
            }
        }
        std::fs::read_to_string(path)
    }
    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)?;
        if path.file_name() == Some("cgroup.subtree_control".as_ref()) {
            // The kernel applies "+ctrl -ctrl" edits to the enabled set.
            let mut enabled: Vec<String> = std::fs::read_to_string(path)?
                .split_whitespace()
                .map(String::from)
                .collect();
            for edit in value.split_whitespace() {
                let (op, name) = edit.split_at(1);
                enabled.retain(|c| c != name);
                if op == "+" {
                    enabled.push(name.to_string());
                }
            }
            std::fs::write(path, enabled.join(" "))?;
        } else {
            std::fs::write(path, value)?;
        }
        self.writes
            .borrow_mut()
            .push((path.to_path_buf(), value.to_string()));
        Ok(())
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn subdirs(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        super::fs::HostFs.subdirs(path)
    }
    fn attach_device_program(
        &self,
        dir: &Path,
        rules: &[super::bpf::DeviceRule],
    ) -> Result<(), super::bpf::BpfError> {
        self.programs
            .borrow_mut()
            .push((dir.to_path_buf(), rules.to_vec()));
        Ok(())
    }
}

/// A fixture host: a tempdir holding `mountinfo` and the hierarchy roots it names.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn mountinfo(&self) -> PathBuf {
        self.root().join("mountinfo")
    }
    fn host(&self) -> HostCgroups {
        HostCgroups::detect(&self.mountinfo()).unwrap()
    }
    fn file(&self, rel: &str, content: &str) {
        let path = self.root().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
}

/// `ROOT` in the lines is replaced by the tempdir path.
fn fixture(lines: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap().to_string();
    let text: String = lines
        .iter()
        .map(|l| format!("{}\n", l.replace("ROOT", &root)))
        .collect();
    std::fs::write(dir.path().join("mountinfo"), text).unwrap();
    Fixture { dir }
}

/// This host's layout (Debian 12 VM, hybrid).
const HYBRID: &[&str] = &[
    "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
    "31 23 0:28 / ROOT/cg ro,nosuid - tmpfs tmpfs ro,mode=755",
    "32 31 0:29 / ROOT/cg/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct",
    "34 31 0:31 / ROOT/cg/cpuset rw,relatime - cgroup cgroup rw,cpuset",
    "35 31 0:32 / ROOT/cg/memory rw,relatime - cgroup cgroup rw,memory",
    "36 31 0:33 / ROOT/cg/devices rw,relatime - cgroup cgroup rw,devices",
    "39 31 0:36 / ROOT/cg/pids rw,relatime - cgroup cgroup rw,pids",
    "40 31 0:37 / ROOT/cg/systemd rw,relatime - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd",
    "41 31 0:38 / ROOT/cg/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate",
];

fn hybrid_fixture() -> Fixture {
    let f = fixture(HYBRID);
    for d in ["cpu,cpuacct", "memory", "devices", "pids", "systemd"] {
        f.file(&format!("cg/{d}/cgroup.procs"), "1\n");
        f.file(&format!("cg/{d}/tasks"), "1\n");
    }
    f.file("cg/cpuset/cgroup.procs", "1\n");
    f.file("cg/cpuset/tasks", "1\n");
    f.file("cg/cpuset/cpuset.cpus", "0-1\n");
    f.file("cg/cpuset/cpuset.mems", "0\n");
    f.file("cg/memory/memory.limit_in_bytes", "9223372036854771712\n");
    f.file(
        "cg/memory/memory.memsw.limit_in_bytes",
        "9223372036854771712\n",
    );
    f.file(
        "cg/memory/memory.soft_limit_in_bytes",
        "9223372036854771712\n",
    );
    f.file("cg/pids/pids.max", "max\n");
    f.file("cg/cpu,cpuacct/cpu.shares", "1024\n");
    f.file("cg/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    f.file("cg/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    f.file("cg/devices/devices.allow", "");
    f.file("cg/devices/devices.deny", "");
    f.file("cg/unified/cgroup.procs", "1\n");
    f.file("cg/unified/cgroup.controllers", "hugetlb\n");
    f.file("cg/unified/cgroup.subtree_control", "");
    f
}

/// A pure v2 host as in the VM tier (controllers enabled at the root by the boot script).
fn unified_fixture() -> Fixture {
    let f = fixture(&["41 23 0:38 / ROOT/cg rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate"]);
    f.file("cg/cgroup.procs", "1\n");
    f.file(
        "cg/cgroup.controllers",
        "cpuset cpu io memory hugetlb pids rdma misc\n",
    );
    f.file("cg/cgroup.subtree_control", "cpuset cpu io memory pids\n");
    for file in [
        "cgroup.kill",
        "memory.max",
        "memory.low",
        "memory.swap.max",
        "pids.max",
        "cpu.weight",
        "cpu.max",
        "cpuset.cpus",
        "cpuset.mems",
    ] {
        f.file(&format!("cg/{file}"), "");
    }
    f
}

fn plan(f: &Fixture, path: Option<&str>, id: &str) -> CgroupPlan {
    CgroupPlan::new(&f.host(), path.map(Path::new), id, false).unwrap()
}

// ---------------------------------------------------------------------------------------------
// detect

#[test]
fn detect_hybrid_lists_every_hierarchy_with_its_controllers() {
    let f = hybrid_fixture();
    let host = f.host();
    assert_eq!(host.layout(), Layout::Hybrid);
    let summary: Vec<(String, &str, &str)> = host
        .hierarchies
        .iter()
        .map(|h| {
            let name = h.mount_point.strip_prefix(f.root()).unwrap();
            (
                name.display().to_string(),
                h.fs_type.as_str(),
                h.options.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("cg/cpu,cpuacct".to_string(), "cgroup", "cpu,cpuacct"),
            ("cg/cpuset".to_string(), "cgroup", "cpuset"),
            ("cg/memory".to_string(), "cgroup", "memory"),
            ("cg/devices".to_string(), "cgroup", "devices"),
            ("cg/pids".to_string(), "cgroup", "pids"),
            ("cg/systemd".to_string(), "cgroup", "name=systemd"),
            ("cg/unified".to_string(), "cgroup2", ""),
        ]
    );
    assert!(host.hierarchies[0].has_v1_controller("cpuacct"));
    assert!(host.hierarchies.iter().all(|h| h.root == Path::new("/")));
}

#[test]
fn detect_unified_with_optional_fields() {
    let host = unified_fixture().host();
    assert_eq!(host.layout(), Layout::Unified);
    assert_eq!(host.hierarchies.len(), 1);
    assert!(host.hierarchies[0].is_v2());
}

#[test]
fn detect_legacy_v1_only() {
    let f = fixture(&[
        "30 25 0:26 / ROOT/systemd rw shared:9 master:2 - cgroup cgroup rw,xattr,name=systemd",
        "31 25 0:27 / ROOT/memory rw shared:10 - cgroup cgroup rw,memory",
    ]);
    let host = f.host();
    assert_eq!(host.layout(), Layout::Legacy);
    assert_eq!(host.hierarchies[0].options, "name=systemd");
    assert_eq!(host.hierarchies[1].options, "memory");
}

#[test]
fn detect_unescapes_octal_in_mount_point_and_root() {
    let f = fixture(&["31 25 0:27 /a\\040b ROOT/my\\040cg\\011x rw - cgroup cgroup rw,memory"]);
    let host = f.host();
    assert_eq!(host.hierarchies[0].mount_point, f.root().join("my cg\tx"));
    assert_eq!(host.hierarchies[0].root, Path::new("/a b"));
    assert_eq!(
        super::detect::unescape_for_test("back\\134slash\\0"),
        Path::new("back\\slash\\0")
    );
}

#[test]
fn detect_prefers_the_hierarchy_root_over_a_bind_mounted_subtree() {
    let f = fixture(&[
        "31 25 0:27 /sub ROOT/elsewhere rw - cgroup cgroup rw,memory",
        "32 25 0:27 / ROOT/memory rw - cgroup cgroup rw,memory",
    ]);
    let host = f.host();
    assert_eq!(host.hierarchies.len(), 1);
    assert_eq!(host.hierarchies[0].mount_point, f.root().join("memory"));
}

#[test]
fn detect_ignores_mounts_shadowed_by_a_later_mount() {
    let f = fixture(&[
        "31 25 0:27 / ROOT/cg/memory rw - cgroup cgroup rw,memory",
        "40 25 0:50 / ROOT/cg rw - tmpfs tmpfs rw",
        "41 40 0:38 / ROOT/cg/unified rw - cgroup2 cgroup2 rw",
    ]);
    let host = f.host();
    assert_eq!(host.layout(), Layout::Unified);
    assert_eq!(host.hierarchies[0].mount_point, f.root().join("cg/unified"));
}

#[test]
fn detect_errors_name_the_file_and_line() {
    let f = fixture(&["31 25 0:27 / ROOT/memory rw cgroup cgroup rw,memory"]);
    let err = HostCgroups::detect(&f.mountinfo()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "parse mountinfo {} line 1: missing the \"-\" separator",
            f.mountinfo().display()
        )
    );

    let f = fixture(&["22 1 254:0 / / rw - ext4 /dev/vda rw"]);
    let err = HostCgroups::detect(&f.mountinfo()).unwrap_err();
    assert!(matches!(err, CgroupError::NoHierarchies { .. }), "{err}");

    let err = HostCgroups::detect(Path::new("/nonexistent/mountinfo")).unwrap_err();
    assert_eq!(err.to_string(), "read mountinfo /nonexistent/mountinfo");
}

// ---------------------------------------------------------------------------------------------
// plan

#[test]
fn plan_path_rules() {
    let f = hybrid_fixture();
    let host = f.host();
    let new = |p: Option<&str>, id: &str| CgroupPlan::new(&host, p.map(Path::new), id, false);

    let p = new(None, "c1").unwrap();
    assert_eq!(p.relative_path, Path::new("berth/c1"));
    assert_eq!(p.owned_parent_depth, 1);
    assert_eq!(p.hierarchies, host.hierarchies);
    assert_eq!(
        new(Some(""), "c1").unwrap().relative_path,
        Path::new("berth/c1")
    );
    assert_eq!(
        new(Some("a/b"), "c1").unwrap().relative_path,
        Path::new("berth/a/b")
    );
    let abs = new(Some("/kube//pod1/./c1"), "c1").unwrap();
    assert_eq!(abs.relative_path, Path::new("kube/pod1/c1"));
    assert_eq!(abs.owned_parent_depth, 0);
    assert_eq!(
        abs.dir(&host.hierarchies[2]),
        f.root().join("cg/memory/kube/pod1/c1")
    );
    assert_eq!(
        abs.cgroup_path(&host.hierarchies[2]),
        Path::new("/kube/pod1/c1")
    );
    // Without the systemd driver, colons are just characters of a path.
    assert_eq!(
        new(Some("system.slice:berth:c1"), "c1")
            .unwrap()
            .relative_path,
        Path::new("berth/system.slice:berth:c1")
    );

    let err = new(Some("/a/../../etc"), "c1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid cgroupsPath \"/a/../../etc\": contains a \"..\" component"
    );
    assert!(new(Some("../x"), "c1").is_err());
    assert_eq!(
        new(Some("/"), "c1").unwrap_err().to_string(),
        "invalid cgroupsPath \"/\": names the hierarchy root itself"
    );
    assert_eq!(
        new(None, "").unwrap_err().to_string(),
        "invalid container id \"\" for a cgroup path: empty"
    );
    assert!(new(None, "a/b").is_err());
    assert!(new(None, "..").is_err());
}

#[test]
fn plan_rejects_the_systemd_driver_on_a_hybrid_host() {
    let host = hybrid_fixture().host();
    let err =
        CgroupPlan::new(&host, Some(Path::new("system.slice:berth:c1")), "c1", true).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the systemd cgroup driver needs a pure cgroup v2 host; this host's cgroups are Hybrid"
    );
}

#[test]
fn the_plan_without_a_cgroup_touches_nothing_and_says_so_in_the_state() {
    let p = CgroupPlan::none();
    assert!(p.disabled && p.hierarchies.is_empty());
    let fs = FakeFs::default();
    assert_eq!(p.create_with(&fs).unwrap(), Created::default());
    p.join_self_with(&fs, false).unwrap();
    assert!(p.open_v2_dir().is_none(), "nothing to clone into");
    assert_eq!(p.pids_with(&fs).unwrap(), Vec::<i32>::new());
    p.signal_all_with(&fs, libc::SIGKILL).unwrap();
    p.remove_with(&fs).unwrap();
    assert!(fs.writes.borrow().is_empty(), "{:?}", fs.writes.borrow());
    assert_eq!(p.freezer_state_with(&fs), FreezerState::Thawed);

    let json = serde_json::to_value(&p).unwrap();
    assert_eq!(json["disabled"], true);
    assert_eq!(serde_json::from_value::<CgroupPlan>(json).unwrap(), p);
    // A state file written before the field existed describes a real cgroup.
    let f = hybrid_fixture();
    let mut old = serde_json::to_value(plan(&f, None, "c1")).unwrap();
    old.as_object_mut().unwrap().remove("disabled");
    assert!(!serde_json::from_value::<CgroupPlan>(old).unwrap().disabled);
}

// ---------------------------------------------------------------------------------------------
// create / join / pids / signal / remove on a fake tree

/// Two creates at once: the other one has made the shared `berth/` parent but not yet filled
/// its cpuset. This create must fill it (and the leaf), or no task can join the leaf (ENOSPC:
/// seen with 50 parallel lifecycles once joining became fast).
#[test]
fn create_fills_an_empty_cpuset_parent_made_by_a_concurrent_create() {
    let f = hybrid_fixture();
    let fs = FakeFs::default();
    fs.mkdir(&f.root().join("cg/cpuset/berth")).unwrap(); // empty cpuset.cpus/mems, as the kernel makes it
    std::fs::write(f.root().join("cg/cpuset/berth/cpuset.cpus"), "").unwrap();
    std::fs::write(f.root().join("cg/cpuset/berth/cpuset.mems"), "").unwrap();
    let p = plan(&f, None, "c2");
    p.create_with(&fs).unwrap();
    for dir in ["cg/cpuset/berth", "cg/cpuset/berth/c2"] {
        let dir = f.root().join(dir);
        assert_eq!(
            std::fs::read_to_string(dir.join("cpuset.cpus")).unwrap(),
            "0-1"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("cpuset.mems")).unwrap(),
            "0"
        );
    }
}

#[test]
fn create_makes_every_directory_and_copies_cpuset_from_the_parent() {
    let f = hybrid_fixture();
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    let created = p.create_with(&fs).unwrap();
    let expected: Vec<PathBuf> = p
        .hierarchies
        .iter()
        .flat_map(|h| [h.mount_point.join("berth"), p.dir(h)])
        .collect();
    assert_eq!(created.dirs, expected);
    for h in &p.hierarchies {
        assert!(p.dir(h).is_dir());
    }
    let cpuset = f.root().join("cg/cpuset/berth/c1");
    assert_eq!(
        std::fs::read_to_string(cpuset.join("cpuset.cpus")).unwrap(),
        "0-1"
    );
    assert_eq!(
        std::fs::read_to_string(cpuset.join("cpuset.mems")).unwrap(),
        "0"
    );
    assert_eq!(
        std::fs::read_to_string(f.root().join("cg/cpuset/berth/cpuset.cpus")).unwrap(),
        "0-1"
    );
    // Nothing is written in any hierarchy root.
    for (path, _) in fs.writes.borrow().iter() {
        assert!(
            path.components().any(|c| c.as_os_str() == "berth"),
            "{path:?}"
        );
    }

    // A second container finds berth/ already there and creates only its leaf.
    let created = plan(&f, None, "c2").create_with(&fs).unwrap();
    assert_eq!(created.dirs.len(), p.hierarchies.len());
}

#[test]
fn create_enables_v2_controllers_only_in_berth_parents() {
    let f = unified_fixture();
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    p.create_with(&fs).unwrap();
    let berth = f.root().join("cg/berth");
    assert_eq!(
        fs.writes_under(&berth),
        vec![(
            "cgroup.subtree_control".to_string(),
            "+cpuset +cpu +io +memory +pids".to_string()
        )]
    );
    assert!(fs.writes_under(&f.root().join("cg")).is_empty());
    assert!(fs.writes_under(&berth.join("c1")).is_empty());

    // An absolute path below a cgroup someone else made: that cgroup is left alone, the
    // directory berth creates below it is configured.
    std::fs::create_dir(f.root().join("cg/theirs")).unwrap();
    f.file("cg/theirs/cgroup.controllers", "cpu memory\n");
    f.file("cg/theirs/cgroup.subtree_control", "");
    let fs = FakeFs::default();
    plan(&f, Some("/theirs/mine/c1"), "c1")
        .create_with(&fs)
        .unwrap();
    assert!(fs.writes_under(&f.root().join("cg/theirs")).is_empty());
    assert_eq!(fs.writes_under(&f.root().join("cg/theirs/mine")), vec![]);
}

#[test]
fn create_failure_removes_what_it_created() {
    let f = hybrid_fixture();
    // The memory hierarchy's mount point vanished: create fails there.
    std::fs::remove_dir_all(f.root().join("cg/memory")).unwrap();
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    let err = p.create_with(&fs).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "create cgroup {}",
            f.root().join("cg/memory/berth").display()
        )
    );
    assert!(!f.root().join("cg/cpu,cpuacct/berth").exists());
    assert!(!f.root().join("cg/cpuset/berth").exists());
}

#[test]
fn join_self_writes_tasks_in_v1_and_cgroup_procs_in_v2() {
    let f = hybrid_fixture();
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    p.create_with(&fs).unwrap();
    for born_in_v2 in [false, true] {
        fs.writes.borrow_mut().clear();
        p.join_self_with(&fs, born_in_v2).unwrap();
        let written: Vec<_> = fs.writes.borrow().clone();
        // v1: `tasks` (the single-thread fast path); cgroup2: `cgroup.procs`, unless the
        // process was cloned into it.
        let expected: Vec<_> = p
            .hierarchies
            .iter()
            .filter(|h| !(h.is_v2() && born_in_v2))
            .map(|h| {
                let file = if h.is_v2() { "cgroup.procs" } else { "tasks" };
                (p.dir(h).join(file), "0".to_string())
            })
            .collect();
        assert_eq!(written, expected, "born_in_v2 = {born_in_v2}");
    }

    let err = plan(&f, None, "missing")
        .join_self_with(&fs, false)
        .unwrap_err();
    assert!(err.to_string().starts_with("add pid 0 to cgroup "), "{err}");
}

#[test]
fn exec_sub_cgroups_split_the_hierarchies_by_path() {
    use super::SubCgroups;
    let f = hybrid_fixture();
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    p.create_with(&fs).unwrap();
    let args = |a: &[&str]| SubCgroups::parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    // No --cgroup: the container's own plan.
    assert_eq!(
        p.for_exec_with(&fs, &args(&[]).unwrap()).unwrap(),
        vec![p.clone()]
    );
    // pids:sub: the pids hierarchy at berth/c1/sub, every other one at berth/c1.
    let pids = p
        .hierarchies
        .iter()
        .find(|h| h.has_v1_controller("pids"))
        .unwrap();
    let sub_dir = p.dir(pids).join("sub");
    let err = p
        .for_exec_with(&fs, &args(&["pids:sub"]).unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "--cgroup: sub-cgroup {} does not exist (create it first)",
            sub_dir.display()
        )
    );
    fs.mkdir(&sub_dir).unwrap();
    let plans = p.for_exec_with(&fs, &args(&["pids:sub"]).unwrap()).unwrap();
    assert_eq!(plans.len(), 2, "{plans:?}");
    assert_eq!(plans[0].relative_path, p.relative_path);
    assert_eq!(plans[0].hierarchies.len(), p.hierarchies.len() - 1);
    assert_eq!(plans[1].relative_path, p.relative_path.join("sub"));
    assert_eq!(plans[1].hierarchies, vec![pids.clone()]);
    // A bare path needs the sub-cgroup in every hierarchy, the cgroup2 one included.
    let err = p.for_exec_with(&fs, &args(&["sub"]).unwrap()).unwrap_err();
    assert!(matches!(err, CgroupError::SubCgroupMissing { .. }), "{err}");
    for h in &p.hierarchies {
        if !p.dir(h).join("sub").exists() {
            fs.mkdir(&p.dir(h).join("sub")).unwrap();
        }
    }
    let plans = p.for_exec_with(&fs, &args(&["/sub"]).unwrap()).unwrap();
    assert_eq!(plans.len(), 1);
    assert_eq!(plans[0].relative_path, p.relative_path.join("sub"));
    assert_eq!(plans[0].hierarchies, p.hierarchies);
    // A controller the container has no v1 hierarchy for.
    let err = p
        .for_exec_with(&fs, &args(&["rdma:sub"]).unwrap())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "--cgroup \"rdma:sub\": the container has no cgroup v1 hierarchy for controller rdma"
    );
}

#[test]
fn pids_reads_the_v2_hierarchy_including_child_cgroups() {
    let f = hybrid_fixture();
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    assert_eq!(p.pids_with(&fs).unwrap(), Vec::<i32>::new());
    p.create_with(&fs).unwrap();
    let leaf = f.root().join("cg/unified/berth/c1");
    std::fs::write(leaf.join("cgroup.procs"), "12\n34\n").unwrap();
    fs.mkdir(&leaf.join("nested")).unwrap();
    std::fs::write(leaf.join("nested/cgroup.procs"), "56\n").unwrap();
    let mut pids = p.pids_with(&fs).unwrap();
    pids.sort();
    assert_eq!(pids, vec![12, 34, 56]);

    std::fs::write(leaf.join("cgroup.procs"), "x\n").unwrap();
    assert!(matches!(
        p.pids_with(&fs),
        Err(CgroupError::ParsePid { .. })
    ));
}

#[test]
fn signal_all_uses_cgroup_kill_on_v2() {
    let f = unified_fixture();
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    p.create_with(&fs).unwrap();
    fs.writes.borrow_mut().clear();
    p.signal_all_with(&fs, libc::SIGKILL).unwrap();
    assert_eq!(
        fs.writes.borrow().clone(),
        vec![(f.root().join("cg/berth/c1/cgroup.kill"), "1".to_string())]
    );
    assert!(matches!(
        p.signal_all_with(&fs, 12345),
        Err(CgroupError::InvalidSignal { signal: 12345 })
    ));
}

#[test]
fn signal_all_signals_every_listed_pid_on_v1() {
    let f = fixture(&["31 25 0:27 / ROOT/pids rw - cgroup cgroup rw,pids"]);
    f.file("pids/cgroup.procs", "");
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    p.create_with(&fs).unwrap();
    let mut child = std::process::Command::new("sleep")
        .arg("100")
        .spawn()
        .unwrap();
    // A pid that no longer exists (ESRCH) is skipped.
    let gone = {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        c.wait().unwrap();
        c.id()
    };
    std::fs::write(
        p.dir(&p.hierarchies[0]).join("cgroup.procs"),
        format!("{gone}\n{}\n", child.id()),
    )
    .unwrap();
    p.signal_all_with(&fs, libc::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}

#[test]
fn remove_deletes_leaf_and_empty_berth_parent_and_is_idempotent() {
    let f = hybrid_fixture();
    let fs = FakeFs::default();
    let c1 = plan(&f, None, "c1");
    let c2 = plan(&f, None, "c2");
    c1.create_with(&fs).unwrap();
    c2.create_with(&fs).unwrap();
    // A child cgroup the container made for itself is removed first.
    fs.mkdir(&f.root().join("cg/unified/berth/c1/nested"))
        .unwrap();

    c1.remove_with(&fs).unwrap();
    for h in &c1.hierarchies {
        assert!(!c1.dir(h).exists());
        assert!(c2.dir(h).exists(), "the sibling and shared berth/ stay");
    }
    c2.remove_with(&fs).unwrap();
    for h in &c2.hierarchies {
        assert!(!h.mount_point.join("berth").exists());
        assert!(h.mount_point.exists());
    }
    c2.remove_with(&fs).unwrap();
}

#[test]
fn remove_keeps_parents_of_an_absolute_path() {
    let f = hybrid_fixture();
    let fs = FakeFs::default();
    let p = plan(&f, Some("/kube/c1"), "c1");
    p.create_with(&fs).unwrap();
    p.remove_with(&fs).unwrap();
    for h in &p.hierarchies {
        assert!(!p.dir(h).exists());
        assert!(h.mount_point.join("kube").exists());
    }
}

#[test]
fn remove_retries_a_busy_leaf_then_names_it() {
    let f = fixture(&["31 25 0:27 / ROOT/pids rw - cgroup cgroup rw,pids"]);
    f.file("pids/cgroup.procs", "");
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    p.create_with(&fs).unwrap();
    let leaf = p.dir(&p.hierarchies[0]);
    fs.busy.borrow_mut().insert(leaf.clone(), 3);
    p.remove_with(&fs).unwrap();
    assert!(!leaf.exists());

    p.create_with(&fs).unwrap();
    fs.busy.borrow_mut().insert(leaf.clone(), u32::MAX);
    let start = std::time::Instant::now();
    let err = p.remove_with(&fs).unwrap_err();
    let waited = start.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(1900),
        "{waited:?}"
    );
    assert!(waited < std::time::Duration::from_secs(3), "{waited:?}");
    assert_eq!(err.to_string(), format!("remove cgroup {}", leaf.display()));
    fs.busy.borrow_mut().clear();
    p.remove_with(&fs).unwrap();
}

// ---------------------------------------------------------------------------------------------
// resources

fn resources() -> LinuxResources {
    LinuxResourcesBuilder::default()
        .memory(
            LinuxMemoryBuilder::default()
                .limit(64 << 20)
                .reservation(32 << 20)
                .swap(128 << 20)
                .build()
                .unwrap(),
        )
        .pids(LinuxPidsBuilder::default().limit(100).build().unwrap())
        .cpu(
            LinuxCpuBuilder::default()
                .shares(1024u64)
                .quota(50_000)
                .period(100_000u64)
                .cpus("0")
                .mems("0")
                .build()
                .unwrap(),
        )
        .devices(vec![
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(10)
                .minor(229)
                .access("rw")
                .build()
                .unwrap(),
        ])
        .build()
        .unwrap()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn resources_v1_file_values() {
    let f = hybrid_fixture();
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    p.create_with(&fs).unwrap();
    fs.writes.borrow_mut().clear();
    let unapplied = p
        .apply_resources_with(&fs, &resources(), ApplyMode::Create)
        .unwrap();
    assert_eq!(unapplied, Vec::<String>::new());
    let leaf = |h: &str| f.root().join("cg").join(h).join("berth/c1");
    // Lowering from unlimited: the memory limit goes first, then memory+swap.
    assert_eq!(
        fs.writes_under(&leaf("memory")),
        pairs(&[
            ("memory.limit_in_bytes", "67108864"),
            ("memory.memsw.limit_in_bytes", "134217728"),
            ("memory.soft_limit_in_bytes", "33554432"),
        ])
    );
    assert_eq!(
        fs.writes_under(&leaf("pids")),
        pairs(&[("pids.max", "100")])
    );
    assert_eq!(
        fs.writes_under(&leaf("cpu,cpuacct")),
        pairs(&[
            ("cpu.shares", "1024"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "50000"),
        ])
    );
    assert_eq!(
        fs.writes_under(&leaf("cpuset")),
        pairs(&[("cpuset.cpus", "0"), ("cpuset.mems", "0")])
    );
    assert_eq!(
        fs.writes_under(&leaf("devices")),
        pairs(&[
            ("devices.deny", "a"),
            ("devices.deny", "a *:* rwm"),
            ("devices.allow", "c 10:229 rw"),
            ("devices.allow", "c *:* m"),
            ("devices.allow", "b *:* m"),
            ("devices.allow", "c 1:3 rwm"),
            ("devices.allow", "c 1:8 rwm"),
            ("devices.allow", "c 1:7 rwm"),
            ("devices.allow", "c 5:0 rwm"),
            ("devices.allow", "c 1:5 rwm"),
            ("devices.allow", "c 1:9 rwm"),
            ("devices.allow", "c 136:* rwm"),
            ("devices.allow", "c 5:2 rwm"),
        ])
    );
}

#[test]
fn resources_v1_memory_raise_writes_swap_first() {
    let mut plan = super::writes::Writes::default();
    let state = super::v1::MemoryState {
        has_memsw: true,
        current_limit: 1 << 20,
    };
    super::v1::memory(&mut plan, Path::new("/m"), 4 << 20, 0, 8 << 20, state).unwrap();
    let files: Vec<_> = plan.writes.iter().map(|w| w.path.clone()).collect();
    assert_eq!(
        files,
        vec![
            PathBuf::from("/m/memory.memsw.limit_in_bytes"),
            PathBuf::from("/m/memory.limit_in_bytes")
        ]
    );

    // Without swap accounting a swap limit is reported, unlimited memory needs nothing more.
    let mut plan = super::writes::Writes::default();
    let state = super::v1::MemoryState {
        has_memsw: false,
        current_limit: u64::MAX,
    };
    super::v1::memory(&mut plan, Path::new("/m"), 4 << 20, 0, 8 << 20, state).unwrap();
    assert_eq!(plan.unapplied, vec!["memory.swap".to_string()]);
    assert_eq!(plan.writes.len(), 1);

    let err = super::v1::memory(
        &mut super::writes::Writes::default(),
        Path::new("/m"),
        8 << 20,
        0,
        4 << 20,
        state,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid linux.resources.memory.swap: memory+swap limit 4194304 is below the memory limit 8388608"
    );
}

#[test]
fn resources_v2_file_values_and_device_program() {
    let f = unified_fixture();
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    p.create_with(&fs).unwrap();
    fs.writes.borrow_mut().clear();
    let unapplied = p
        .apply_resources_with(&fs, &resources(), ApplyMode::Create)
        .unwrap();
    assert_eq!(unapplied, Vec::<String>::new());
    let programs = fs.programs.borrow();
    assert_eq!(programs.len(), 1);
    assert_eq!(programs[0].0, f.root().join("cg/berth/c1"));
    // The config's two rules, then runc's ten defaults.
    assert_eq!(programs[0].1.len(), 12);
    assert_eq!(
        programs[0].1[1],
        super::bpf::DeviceRule::parse(true, "c 10:229 rw").unwrap()
    );
    assert_eq!(
        fs.writes_under(&f.root().join("cg/berth/c1")),
        pairs(&[
            ("memory.swap.max", "67108864"),
            ("memory.max", "67108864"),
            ("memory.low", "33554432"),
            ("pids.max", "100"),
            ("cpu.weight", "100"),
            ("cpu.max", "50000 100000"),
            ("cpuset.cpus", "0"),
            ("cpuset.mems", "0"),
        ])
    );
}

/// Issue #14: runc 1.1's linear map gave 1024 shares (v1's default) weight 39 where runc ≥ 1.3
/// and crun give 100 (v2's default): every container got ~0.4x the CPU weight. The values are
/// the curve's at its ends, at the two defaults and in between.
#[test]
fn cpu_shares_convert_to_weight_as_runc_1_3_and_crun() {
    use super::v2::shares_to_weight;
    for (shares, weight) in [
        (0, 0),
        (1, 1),
        (2, 1),
        (3, 2),
        (4, 2),
        (512, 59),
        (1024, 100),
        (2048, 174),
        (10_000, 627),
        (100_000, 4340),
        (262_143, 10_000),
        (262_144, 10_000),
        (1 << 20, 10_000),
    ] {
        assert_eq!(shares_to_weight(shares), weight, "shares {shares}");
    }
    // Monotonic over the whole range: more shares never mean less weight.
    let mut last = 0;
    for shares in (0..=262_144).step_by(7) {
        let w = shares_to_weight(shares);
        assert!(w >= last, "shares {shares}: {w} < {last}");
        last = w;
    }
}

#[test]
fn v2_conversions() {
    use super::v2::{shares_to_weight, swap_to_v2};
    assert_eq!(shares_to_weight(0), 0);
    assert_eq!(shares_to_weight(2), 1);
    assert_eq!(shares_to_weight(1024), 100);
    assert_eq!(shares_to_weight(262_144), 10_000);
    assert_eq!(swap_to_v2(0, 100).unwrap(), 0);
    assert_eq!(swap_to_v2(0, -1).unwrap(), -1);
    assert_eq!(swap_to_v2(-1, 100).unwrap(), -1);
    assert_eq!(swap_to_v2(300, 100).unwrap(), 200);
    assert!(swap_to_v2(50, 100).is_err());
    assert!(swap_to_v2(300, 0).is_err());

    let mut plan = super::writes::Writes::default();
    super::v2::cpu(&mut plan, Path::new("/c"), 0, -1, 250_000);
    super::v2::memory(&mut plan, Path::new("/c"), 100, 0, 100, true).unwrap();
    let values: Vec<_> = plan.writes.iter().map(|w| w.value.as_str()).collect();
    // swap == limit: no swap at all.
    assert_eq!(values, vec!["max 250000", "0", "100"]);
}

#[test]
fn resources_need_their_controller() {
    let f = fixture(&["31 25 0:27 / ROOT/pids rw - cgroup cgroup rw,pids"]);
    f.file("pids/cgroup.procs", "");
    f.file("pids/pids.max", "max");
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    p.create_with(&fs).unwrap();
    fs.writes.borrow_mut().clear();
    let err = p
        .apply_resources_with(&fs, &resources(), ApplyMode::Create)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid linux.resources.memory.limit: the memory controller is not available on this host"
    );
    assert!(fs.writes.borrow().is_empty());
    // Only pids and devices: devices have nowhere to go and are reported, not fatal.
    let r = LinuxResourcesBuilder::default()
        .pids(LinuxPidsBuilder::default().limit(5).build().unwrap())
        .devices(resources().devices().clone().unwrap())
        .build()
        .unwrap();
    let unapplied = p.apply_resources_with(&fs, &r, ApplyMode::Create).unwrap();
    assert_eq!(unapplied, ["devices"]);
}

#[test]
fn resources_reject_invalid_device_rules_before_writing() {
    let f = hybrid_fixture();
    let fs = FakeFs::default();
    let p = plan(&f, None, "c1");
    p.create_with(&fs).unwrap();
    fs.writes.borrow_mut().clear();
    let mut r = resources();
    r.set_devices(Some(vec![LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(LinuxDeviceType::P)
        .build()
        .unwrap()]));
    let err = p
        .apply_resources_with(&fs, &r, ApplyMode::Create)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid linux.resources.devices[0]: type \"p\" (FIFO) cannot be used in a device cgroup rule"
    );
    assert!(fs.writes.borrow().is_empty());
}

// ---------------------------------------------------------------------------------------------
// root tests on this host's real hierarchies

fn real_host_or_skip(test: &str) -> Option<HostCgroups> {
    if !nix::unistd::geteuid().is_root() {
        crate::test_skip(test, "needs root to create cgroups on this host");
        return None;
    }
    match HostCgroups::detect(Path::new("/proc/self/mountinfo")) {
        Ok(host) => Some(host),
        Err(e) => {
            crate::test_skip(test, &format!("no cgroup hierarchies on this host ({e})"));
            None
        }
    }
}

/// Removes the plan's cgroups when dropped, so a failing assertion still cleans up.
struct RemoveOnDrop<'a>(&'a CgroupPlan);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.remove() {
            eprintln!("cleanup of {}: {e}", self.0.relative_path.display());
        }
    }
}

/// Run `f` in a forked child (it changes the child's cgroups) and return the child's pid.
fn fork_child(f: impl FnOnce() -> i32) -> nix::unistd::Pid {
    // SAFETY: the child only runs `f` (file I/O and asserts) and leaves with _exit, never
    // returning into the test harness; glibc keeps malloc usable after fork.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Parent { child } => child,
        nix::unistd::ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: _exit ends the child without running the harness's destructors.
            unsafe { libc::_exit(code) }
        }
    }
}

fn unique(name: &str) -> String {
    format!("berth-test-{name}-{}", std::process::id())
}

/// True if /proc/self/cgroup lists the container cgroup of every hierarchy of `p`; prints
/// what it found otherwise.
fn in_every_hierarchy(p: &CgroupPlan) -> bool {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    for h in &p.hierarchies {
        let want = p.cgroup_path(h);
        let found = own.lines().any(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, ctrls, path) = (parts.next(), parts.next(), parts.next());
            let mut ctrls: Vec<_> = ctrls.unwrap_or("").split(',').collect();
            let mut have: Vec<_> = h.controllers().collect();
            ctrls.sort();
            have.sort();
            let same = if h.is_v2() {
                ctrls == [""]
            } else {
                ctrls == have
            };
            same && path.map(Path::new) == Some(want.as_path())
        });
        if !found {
            eprintln!("{} not in /proc/self/cgroup:\n{own}", want.display());
            return false;
        }
    }
    true
}

#[test]
fn root_join_places_the_process_in_every_hierarchy_and_remove_cleans_up() {
    let Some(host) = real_host_or_skip("root_join_places_the_process_in_every_hierarchy") else {
        return;
    };
    let p = CgroupPlan::new(&host, None, &unique("join"), false).unwrap();
    let guard = RemoveOnDrop(&p);
    let child = fork_child(|| {
        let _created = p.create().expect("create");
        p.join_self(false).expect("join");
        if in_every_hierarchy(&p) {
            0
        } else {
            1
        }
    });
    let status = nix::sys::wait::waitpid(child, None).unwrap();
    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
    p.remove().unwrap();
    drop(guard);
    for h in &p.hierarchies {
        assert!(!p.dir(h).exists(), "{} left behind", p.dir(h).display());
    }
}

/// The fast path of `create`: a child cloned straight into the cgroup2 directory
/// (CLONE_INTO_CGROUP) and joining the v1 hierarchies through `tasks` ends up in every
/// hierarchy, exactly like a full `cgroup.procs` join.
#[test]
fn root_clone_into_cgroup_then_join_self_places_the_process_everywhere() {
    let Some(host) = real_host_or_skip("root_clone_into_cgroup_then_join_self") else {
        return;
    };
    let p = CgroupPlan::new(&host, None, &unique("clone-into"), false).unwrap();
    let _guard = RemoveOnDrop(&p);
    p.create().unwrap();
    let has_v2 = p.hierarchies.iter().any(|h| h.is_v2());
    let v2 = p.open_v2_dir();
    assert_eq!(
        v2.is_some(),
        has_v2,
        "open_v2_dir finds the cgroup2 directory"
    );
    let (pid, born) = {
        use std::os::fd::AsFd;
        crate::sys::fork_into_cgroup(v2.as_ref().map(|fd| fd.as_fd())).unwrap()
    };
    if pid == 0 {
        let code = match p.join_self(born) {
            Ok(()) if in_every_hierarchy(&p) => 0,
            Ok(()) => 1,
            Err(e) => {
                eprintln!("join_self: {e}");
                2
            }
        };
        // SAFETY: _exit ends the child without running the harness's destructors.
        unsafe { libc::_exit(code) }
    }
    // This kernel (6.x) supports CLONE_INTO_CGROUP, so the child must have been born there.
    assert_eq!(
        born, has_v2,
        "CLONE_INTO_CGROUP used when there is a cgroup2 hierarchy"
    );
    let child = nix::unistd::Pid::from_raw(pid);
    let status = nix::sys::wait::waitpid(child, None).unwrap();
    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
}

/// When clone3 refuses (here: the fd is a directory, but not of a cgroup2 hierarchy, as on a
/// kernel or a cgroup that cannot take the clone), the child is forked plainly and told so,
/// so that `join_self` writes cgroup.procs instead of skipping the cgroup2 hierarchy.
#[test]
fn fork_into_cgroup_falls_back_to_a_plain_fork_when_clone3_refuses() {
    let not_a_cgroup = nix::fcntl::open(
        "/",
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    let (pid, born) = {
        use std::os::fd::AsFd;
        crate::sys::fork_into_cgroup(Some(not_a_cgroup.as_fd())).unwrap()
    };
    if pid == 0 {
        // SAFETY: _exit ends the child without running the harness's destructors.
        unsafe { libc::_exit(if born { 1 } else { 0 }) }
    }
    assert!(!born, "not born in a cgroup");
    let child = nix::unistd::Pid::from_raw(pid);
    let status = nix::sys::wait::waitpid(child, None).unwrap();
    assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
}

#[test]
fn root_signal_all_kills_every_process_then_remove_succeeds() {
    let Some(host) = real_host_or_skip("root_signal_all_kills_every_process") else {
        return;
    };
    let p = CgroupPlan::new(&host, None, &unique("kill"), false).unwrap();
    let _guard = RemoveOnDrop(&p);
    p.create().unwrap();
    let child = fork_child(|| {
        if p.join_self(false).is_err() {
            return 2;
        }
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !p.pids().unwrap().contains(&child.as_raw()) {
        assert!(std::time::Instant::now() < deadline, "child never joined");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    p.signal_all(libc::SIGKILL).unwrap();
    let status = nix::sys::wait::waitpid(child, None).unwrap();
    assert_eq!(
        status,
        nix::sys::wait::WaitStatus::Signaled(child, nix::sys::signal::Signal::SIGKILL, false)
    );
    p.remove().unwrap();
    for h in &p.hierarchies {
        assert!(!p.dir(h).exists());
    }
}

#[test]
fn root_memory_limit_and_devices_apply_on_v1() {
    let Some(host) = real_host_or_skip("root_memory_limit_and_devices_apply_on_v1") else {
        return;
    };
    let Some(memory) = host
        .hierarchies
        .iter()
        .find(|h| h.has_v1_controller("memory"))
        .cloned()
    else {
        crate::test_skip(
            "root_memory_limit_and_devices_apply_on_v1",
            "no v1 memory hierarchy",
        );
        return;
    };
    let p = CgroupPlan::new(&host, None, &unique("mem"), false).unwrap();
    let _guard = RemoveOnDrop(&p);
    p.create().unwrap();
    let planned = ResourcesPlan::new(&resources(), &p).unwrap();
    let unapplied = p.apply_resources(&planned).unwrap();
    assert_eq!(unapplied, Vec::<String>::new());
    let read = |h: &Hierarchy, file: &str| {
        std::fs::read_to_string(p.dir(h).join(file))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read(&memory, "memory.limit_in_bytes"), "67108864");
    if let Some(devices) = host
        .hierarchies
        .iter()
        .find(|h| h.has_v1_controller("devices"))
    {
        let list = read(devices, "devices.list");
        assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
        assert!(list.lines().any(|l| l == "c 10:229 rw"), "{list}");
        assert!(!list.lines().any(|l| l == "a *:* rwm"), "{list}");
    }
    if let Some(pids) = host
        .hierarchies
        .iter()
        .find(|h| h.has_v1_controller("pids"))
    {
        assert_eq!(read(pids, "pids.max"), "100");
    }
}

#[path = "tests_resources.rs"]
mod tests_resources;
