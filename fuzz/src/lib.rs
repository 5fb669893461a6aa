//! The bodies of berth's fuzz targets, shared by the libFuzzer binaries (fuzz_targets/) and the
//! regression test that replays every saved crash and corpus seed (tests/regressions.rs), so a
//! crash once found stays fixed under plain `cargo test`.
//!
//! Each body takes arbitrary bytes and must never panic: invalid input is an `Err`, never a
//! crash. Nothing here needs root or changes the machine (files go to a private tempdir).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use berth_runtime::bundle::{Plan, PlanOptions};
use berth_runtime::cgroups::HostCgroups;
use berth_runtime::seccomp::SeccompPlan;
use berth_runtime::state::{ContainerId, ContainerState, Store, STATE_FILE};

/// A mountinfo of a hybrid v1 host like the CI machines (cgroups/detect.rs reads it).
const MOUNTINFO: &str = "\
24 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,pids
35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu,cpuacct
36 30 0:32 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,devices
37 30 0:33 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,freezer
";

/// A bundle directory (with an empty rootfs/) and the host cgroups, made once per process.
struct Fixture {
    _dir: tempfile::TempDir,
    bundle: PathBuf,
    host: HostCgroups,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        // /dev/shm when present: the config is rewritten for every input.
        let base = Path::new("/dev/shm");
        let dir = if base.is_dir() {
            tempfile::Builder::new()
                .prefix("berth-fuzz-")
                .tempdir_in(base)
        } else {
            tempfile::Builder::new().prefix("berth-fuzz-").tempdir()
        }
        .expect("fuzz tempdir");
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(bundle.join("rootfs")).expect("mkdir rootfs");
        let mi = dir.path().join("mountinfo");
        std::fs::write(&mi, MOUNTINFO).expect("write mountinfo");
        let host = HostCgroups::detect(&mi).expect("fixture mountinfo parses");
        std::fs::create_dir_all(dir.path().join("state")).expect("mkdir state");
        Fixture {
            _dir: dir,
            bundle,
            host,
        }
    })
}

/// config.json bytes → the validated plan `create` would act on (or a bundle error).
pub fn config_plan(data: &[u8]) {
    let f = fixture();
    std::fs::write(f.bundle.join("config.json"), data).expect("write config.json");
    let _ = Plan::new("fuzz", &f.bundle, &f.host, PlanOptions::default());
}

/// A `linux.seccomp` section (any JSON) → the compiled BPF program. A program that compiles
/// must be non-empty, within the kernel's BPF_MAXINSNS, and end in a return.
pub fn seccomp_bpf(data: &[u8]) {
    let Ok(section) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let config = serde_json::json!({"linux": {"seccomp": section}});
    if let Ok(Some(plan)) = SeccompPlan::from_config(&config) {
        let prog = plan.program();
        assert!(!prog.is_empty(), "empty BPF program");
        assert!(
            prog.len() <= 4096,
            "BPF program of {} instructions",
            prog.len()
        );
        let last = prog[prog.len() - 1];
        assert_eq!(last.code & 0x07, 0x06, "program does not end in BPF_RET");
        // Every jump stays inside the program.
        for (i, ins) in prog.iter().enumerate() {
            if ins.code & 0x07 == 0x05 && ins.code & 0xf0 != 0x00 {
                let end = i + 1 + ins.jt.max(ins.jf) as usize;
                assert!(end < prog.len(), "jump out of the program at {i}");
            }
        }
    }
}

/// Newline-separated mount options → the parsed flags and data.
pub fn mount_options(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let opts: Vec<&str> = text.split('\n').collect();
    let parsed = berth_runtime::rootfs::parse_mount_options(&opts);
    let _ = parsed.remount_flags();
    let _ = parsed.is_bind();
    assert!(parsed.data.len() <= text.len(), "data grew");
}

/// A state.json in the state root → what every command reads first.
pub fn state_file(data: &[u8]) {
    if let Ok(state) = serde_json::from_slice::<ContainerState>(data) {
        // What was read writes back and reads again to the same value.
        let again = serde_json::to_vec(&state).expect("serialize state");
        let back: ContainerState = serde_json::from_slice(&again).expect("re-read state");
        assert_eq!(state, back);
    }
    let f = fixture();
    let root = f._dir.path().join("state");
    let dir = root.join("fuzz");
    std::fs::create_dir_all(&dir).expect("mkdir state dir");
    std::fs::write(dir.join(STATE_FILE), data).expect("write state.json");
    let id = ContainerId::new("fuzz").expect("valid id");
    let _ = Store::new(&root).read(&id);
}
