//! Resource census for the soak and concurrency tests (issue #7): what a berth run could leak,
//! counted before and after. Counts are scoped to this test (its bundle, its state root, cgroups
//! named with its id prefix, its own fds and children) so that other test processes running on
//! the same machine cannot make them differ; machine-wide totals are reported alongside.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

/// One snapshot. `PartialEq` compares only the scoped counts.
#[derive(Debug, Clone)]
pub struct Census {
    /// Mounts (host namespace) under the bundle or the state root.
    pub mounts: usize,
    /// Cgroup directories, in any hierarchy, whose name contains the id prefix.
    pub cgroups: usize,
    /// Entries in the state root other than `@identity` (container state directories).
    pub state_dirs: usize,
    /// Identity records: entries of `<root>/@identity`, plus that directory itself (an empty one
    /// left behind counts too).
    pub records: usize,
    /// Open fds of the test process.
    pub fds: usize,
    /// Zombie children of the test process.
    pub zombies: usize,
    /// Informational: all mounts, all zombies on the machine.
    pub all_mounts: usize,
    pub all_zombies: usize,
}

impl PartialEq for Census {
    fn eq(&self, o: &Self) -> bool {
        (
            self.mounts,
            self.cgroups,
            self.state_dirs,
            self.records,
            self.fds,
            self.zombies,
        ) == (
            o.mounts,
            o.cgroups,
            o.state_dirs,
            o.records,
            o.fds,
            o.zombies,
        )
    }
}

impl std::fmt::Display for Census {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "mounts {} cgroups {} state-dirs {} records {} fds {} zombies {} (machine: mounts {} zombies {})",
            self.mounts,
            self.cgroups,
            self.state_dirs,
            self.records,
            self.fds,
            self.zombies,
            self.all_mounts,
            self.all_zombies
        )
    }
}

pub fn take(bundle: &Path, state_root: &Path, id_prefix: &str) -> Census {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(crate::common::unescape_mountinfo(m)))
        .collect();
    let me = std::process::id().to_string();
    let (mut zombies, mut all_zombies) = (0, 0);
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // pid (comm) S ppid ...: comm may hold spaces, so split after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let (state, ppid) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
        if state == "Z" {
            all_zombies += 1;
            if ppid == me {
                zombies += 1;
            }
        }
    }
    Census {
        mounts: points
            .iter()
            .filter(|m| m.starts_with(bundle) || m.starts_with(state_root))
            .count(),
        cgroups: cgroups_containing(id_prefix),
        state_dirs: fs::read_dir(state_root)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name() != "@identity")
                    .count()
            })
            .unwrap_or(0),
        records: fs::read_dir(state_root.join("@identity"))
            .map(|rd| rd.count() + 1)
            .unwrap_or(0),
        fds: fs::read_dir("/proc/self/fd")
            .map(|rd| rd.count())
            .unwrap_or(0),
        zombies,
        all_mounts: points.len(),
        all_zombies,
    }
}

/// Cgroup directories under /sys/fs/cgroup whose name contains `needle` (6 levels deep).
pub fn cgroups_containing(needle: &str) -> usize {
    fn walk(dir: &Path, needle: &str, depth: usize) -> usize {
        let Ok(rd) = fs::read_dir(dir) else { return 0 };
        let mut n = 0;
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name().to_string_lossy().contains(needle) {
                n += 1;
            }
            if depth > 0 {
                n += walk(&e.path(), needle, depth - 1);
            }
        }
        n
    }
    walk(Path::new("/sys/fs/cgroup"), needle, 6)
}
