//! Acting on a [`CgroupPlan`]: create, join, list, signal and remove the container's cgroup.
//!
//! Every cgroupfs access goes through the small [`CgroupFs`] trait so unit tests can run the
//! same code on a tempdir tree with a fake that mimics what the kernel does on mkdir/rmdir.
//! Paths always come from the plan (its hierarchies' mount points), never from the caller's own
//! cgroup.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::{CgroupError, CgroupPlan, Hierarchy};

/// How long `remove` keeps retrying a busy (EBUSY) cgroup while its last tasks exit.
pub(super) const REMOVE_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// The cgroupfs operations this module performs.
pub(crate) trait CgroupFs {
    fn mkdir(&self, path: &Path) -> io::Result<()>;
    fn rmdir(&self, path: &Path) -> io::Result<()>;
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Write an existing control file (never creates one: cgroupfs files exist or are absent).
    fn write(&self, path: &Path, value: &str) -> io::Result<()>;
    fn exists(&self, path: &Path) -> bool;
    /// The sub-directories (child cgroups) of `path`.
    fn subdirs(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// cgroup v2: compile `rules` into an eBPF device program and attach it to `dir`.
    fn attach_device_program(
        &self,
        dir: &Path,
        rules: &[super::bpf::DeviceRule],
    ) -> Result<(), super::bpf::BpfError>;
}

/// The real cgroupfs.
pub(crate) struct HostFs;

impl CgroupFs for HostFs {
    fn mkdir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }
    fn rmdir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        use std::io::Write;
        // One write(2) per value: cgroupfs parses each write as a whole.
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.write_all(value.as_bytes())
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn subdirs(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            }
        }
        Ok(dirs)
    }
    fn attach_device_program(
        &self,
        dir: &Path,
        rules: &[super::bpf::DeviceRule],
    ) -> Result<(), super::bpf::BpfError> {
        super::bpf::install(dir, rules)
    }
}

/// The directories one [`CgroupPlan::create`] call made, in creation order (parents first), so a
/// failed container create can undo exactly them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    pub dirs: Vec<PathBuf>,
}

impl Created {
    /// rmdir every recorded directory, children first. A directory already gone is fine; the
    /// first other failure is returned after trying the rest.
    pub fn undo(&self) -> Result<(), CgroupError> {
        undo_with(&HostFs, &self.dirs)
    }
}

pub(super) fn undo_with(fs: &dyn CgroupFs, dirs: &[PathBuf]) -> Result<(), CgroupError> {
    let mut first_error = None;
    for dir in dirs.iter().rev() {
        if let Err(e) = rmdir_retrying(fs, dir) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

impl CgroupPlan {
    /// mkdir -p the container directory in every hierarchy.
    ///
    /// v1 cpuset: `cpuset.cpus` and `cpuset.mems` of every empty directory on the container's
    /// path are copied from its parent, because a new v1 cpuset cgroup starts empty and tasks
    /// cannot join it (cgroups(7), kernel cgroup-v1/cpusets.rst). v2: the controllers listed in
    /// `cgroup.controllers` are enabled in the `cgroup.subtree_control` of berth's parents (the
    /// directories created here and berth's own `berth/` prefix, never the hierarchy root or a
    /// cgroup someone else made), so the leaf gets the controllers its resources need.
    ///
    /// Nothing is recorded on disk; on failure whatever this call created is removed again.
    pub fn create(&self) -> Result<Created, CgroupError> {
        self.create_with(&HostFs)
    }

    /// Moves the calling process into the container cgroup of every hierarchy, except the
    /// cgroup2 one when `born_in_v2` says the process was cloned straight into it
    /// ([`Self::open_v2_dir`], `CLONE_INTO_CGROUP`).
    ///
    /// The caller must be single-threaded, which a freshly forked child always is (fork copies
    /// only the calling thread). v1 hierarchies get `0` written to `tasks`, which moves the
    /// calling thread only: for a single-threaded process that is the whole process, and the
    /// kernel (since commit 9a3284fad42f, 2021) then skips the global
    /// `cgroup_threadgroup_rwsem`, whose write side waits for an RCU grace period — 10–25 ms
    /// on these machines for a write to `cgroup.procs`, ~0.2 ms for `tasks`
    /// (docs/benchmarks.md). cgroup2 has no such per-thread path for a domain cgroup
    /// (`cgroup.threads` only moves threads within one threaded subtree), so it gets
    /// `cgroup.procs`.
    pub fn join_self(&self, born_in_v2: bool) -> Result<(), CgroupError> {
        self.join_self_with(&HostFs, born_in_v2)
    }

    /// The container's cgroup2 directory (pure v2, or the unified hierarchy of a hybrid host),
    /// opened for `clone3(CLONE_INTO_CGROUP)`: a process cloned into it starts there without a
    /// migration, so without the rwsem wait described at [`Self::join_self`]. `None` when there
    /// is no cgroup2 hierarchy or the directory cannot be opened (the caller then forks plainly
    /// and `join_self` reports the real error).
    pub fn open_v2_dir(&self) -> Option<std::os::fd::OwnedFd> {
        let h = self.hierarchies.iter().find(|h| h.is_v2())?;
        nix::fcntl::open(
            &self.dir(h),
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok()
    }

    /// Pids in the container cgroup and its child cgroups, read from the cgroup2 hierarchy if
    /// there is one, else the v1 `pids` hierarchy, else the first. A cgroup that does not exist
    /// has no processes.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        self.pids_with(&HostFs)
    }

    /// How many processes sit directly in the container's directory of any hierarchy (the
    /// most of any one). Unlike [`Self::pids`], which reads one hierarchy, this also sees a
    /// process someone put into only one v1 controller of a shared `cgroupsPath`.
    pub fn occupants(&self) -> usize {
        self.hierarchies
            .iter()
            .filter_map(|h| HostFs.read(&self.dir(h).join("cgroup.procs")).ok())
            .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
            .max()
            .unwrap_or(0)
    }

    /// Send `sig` to every process in the cgroup. SIGKILL on a kernel with `cgroup.kill` (v2,
    /// Linux 5.14) is one atomic write; otherwise each listed pid is signalled (a process that
    /// exits meanwhile is not an error). Without a freezer a process forked during the loop can
    /// escape one round; callers that must be sure call it again until `pids()` is empty.
    pub fn signal_all(&self, sig: i32) -> Result<(), CgroupError> {
        self.signal_all_with(&HostFs, sig)
    }

    /// rmdir the container directory in every hierarchy (child cgroups first, EBUSY retried for
    /// up to 2 s while the last tasks exit), then berth's own parents (`berth/`) if empty. A
    /// missing directory is not an error, so delete is idempotent.
    ///
    /// With the systemd driver the scope is stopped instead (systemd removes its cgroup).
    pub fn remove(&self) -> Result<(), CgroupError> {
        if let Some(unit) = &self.systemd {
            return self.stop_systemd_scope(unit);
        }
        self.remove_with(&HostFs)
    }

    pub(super) fn create_with(&self, fs: &dyn CgroupFs) -> Result<Created, CgroupError> {
        let mut created = Created::default();
        match self.create_steps(fs, &mut created) {
            Ok(()) => Ok(created),
            Err(e) => {
                // Best effort: the create error is the one worth reporting.
                let _ = undo_with(fs, &created.dirs);
                Err(e)
            }
        }
    }

    fn create_steps(&self, fs: &dyn CgroupFs, created: &mut Created) -> Result<(), CgroupError> {
        for h in &self.hierarchies {
            let first_new = created.dirs.len();
            mkdir_p(fs, &h.mount_point, &self.relative_path, created)?;
            let new_dirs = &created.dirs[first_new..];
            if h.has_v1_controller("cpuset") {
                // Every directory on the path, not only the ones this call made: a concurrent
                // create may have made a shared parent (`berth/`) and not yet filled it, and a
                // child of an empty cpuset stays empty (no task can join it: ENOSPC). An empty
                // cpuset cgroup holds no task, so filling it changes nothing for anyone; runc
                // fills the path the same way.
                let mut dir = h.mount_point.clone();
                for component in self.relative_path.components() {
                    dir.push(component);
                    copy_cpuset_from_parent(fs, &dir)?;
                }
            }
            if h.is_v2() {
                self.enable_v2_controllers(fs, h, new_dirs)?;
            }
        }
        Ok(())
    }

    /// Enable every available controller in each parent berth owns, top-down, so that each
    /// child (ultimately the leaf) lists them in its own `cgroup.controllers`.
    fn enable_v2_controllers(
        &self,
        fs: &dyn CgroupFs,
        h: &Hierarchy,
        new_dirs: &[PathBuf],
    ) -> Result<(), CgroupError> {
        let components: Vec<_> = self.relative_path.components().collect();
        let mut dir = h.mount_point.clone();
        // Every directory except the leaf: a v2 cgroup with controllers enabled in its
        // subtree_control may not hold processes itself ("no internal processes" rule).
        for (depth, component) in components[..components.len() - 1].iter().enumerate() {
            dir.push(component);
            let owned = depth < self.owned_parent_depth || new_dirs.contains(&dir);
            if !owned {
                continue;
            }
            let available = read_file(fs, &dir.join("cgroup.controllers"))?;
            let enabled = read_file(fs, &dir.join("cgroup.subtree_control"))?;
            let missing: Vec<String> = available
                .split_whitespace()
                .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
                .map(|c| format!("+{c}"))
                .collect();
            if !missing.is_empty() {
                write_file(fs, &dir.join("cgroup.subtree_control"), &missing.join(" "))?;
            }
        }
        Ok(())
    }

    pub(super) fn join_self_with(
        &self,
        fs: &dyn CgroupFs,
        born_in_v2: bool,
    ) -> Result<(), CgroupError> {
        for h in &self.hierarchies {
            let file = match (h.is_v2(), born_in_v2) {
                (true, true) => continue,
                (true, false) => "cgroup.procs",
                (false, _) => "tasks",
            };
            let path = self.dir(h).join(file);
            fs.write(&path, "0").map_err(|source| CgroupError::Join {
                path,
                pid: 0,
                source,
            })?;
        }
        Ok(())
    }

    /// The hierarchy whose `cgroup.procs` lists the container's processes.
    fn process_hierarchy(&self) -> Option<&Hierarchy> {
        self.hierarchies
            .iter()
            .find(|h| h.is_v2())
            .or_else(|| {
                self.hierarchies
                    .iter()
                    .find(|h| h.has_v1_controller("pids"))
            })
            .or_else(|| self.hierarchies.first())
    }

    pub(super) fn pids_with(&self, fs: &dyn CgroupFs) -> Result<Vec<i32>, CgroupError> {
        let Some(h) = self.process_hierarchy() else {
            return Ok(Vec::new());
        };
        let mut pids = Vec::new();
        let mut pending = vec![self.dir(h)];
        while let Some(dir) = pending.pop() {
            let procs = dir.join("cgroup.procs");
            let text = match fs.read(&procs) {
                Ok(text) => text,
                // The cgroup (or a child cgroup) is gone: no processes there.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(CgroupError::Read {
                        path: procs,
                        source,
                    })
                }
            };
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let pid = line.parse().map_err(|_| CgroupError::ParsePid {
                    path: procs.clone(),
                    value: line.to_string(),
                })?;
                pids.push(pid);
            }
            match fs.subdirs(&dir) {
                Ok(children) => pending.extend(children),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(CgroupError::Read { path: dir, source }),
            }
        }
        Ok(pids)
    }

    pub(super) fn signal_all_with(&self, fs: &dyn CgroupFs, sig: i32) -> Result<(), CgroupError> {
        // 0 (no signal: kill(2) only checks each process exists) is `None` for nix.
        let signal = match sig {
            0 => None,
            _ => Some(
                Signal::try_from(sig).map_err(|_| CgroupError::InvalidSignal { signal: sig })?,
            ),
        };
        if signal == Some(Signal::SIGKILL) {
            if let Some(h) = self.hierarchies.iter().find(|h| h.is_v2()) {
                let kill_file = self.dir(h).join("cgroup.kill");
                if fs.exists(&kill_file) {
                    return write_file(fs, &kill_file, "1");
                }
            }
        }
        let path = self
            .process_hierarchy()
            .map(|h| self.dir(h))
            .unwrap_or_default();
        for pid in self.pids_with(fs)? {
            match kill(Pid::from_raw(pid), signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                Err(source) => {
                    return Err(CgroupError::Signal {
                        path,
                        pid,
                        signal: sig,
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    pub(super) fn remove_with(&self, fs: &dyn CgroupFs) -> Result<(), CgroupError> {
        // Every hierarchy is tried; the first failure is returned after the rest are removed.
        let mut first_error = None;
        for h in &self.hierarchies {
            if let Err(e) = self.remove_in(fs, h) {
                first_error.get_or_insert(e);
            }
        }
        self.release_rt_budget_with(fs);
        first_error.map_or(Ok(()), Err)
    }

    fn remove_in(&self, fs: &dyn CgroupFs, h: &Hierarchy) -> Result<(), CgroupError> {
        let leaf = self.dir(h);
        remove_tree(fs, &leaf)?;
        // berth's own parents (e.g. `berth/`): only if empty; another container may still
        // live there, which makes rmdir fail with EBUSY or ENOTEMPTY.
        let components: Vec<_> = self.relative_path.components().collect();
        for depth in (0..components.len().saturating_sub(1)).rev() {
            if depth >= self.owned_parent_depth {
                continue;
            }
            let parent: PathBuf = components[..=depth].iter().collect();
            let parent = h.mount_point.join(parent);
            match fs.rmdir(&parent) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if is_busy_or_not_empty(&e) => break,
                Err(source) => {
                    return Err(CgroupError::Remove {
                        path: parent,
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}

/// Create `base/relative` and any missing parents, recording what was made.
fn mkdir_p(
    fs: &dyn CgroupFs,
    base: &Path,
    relative: &Path,
    created: &mut Created,
) -> Result<(), CgroupError> {
    let mut retries = 0;
    'walk: loop {
        let mut dir = base.to_path_buf();
        for component in relative.components() {
            dir.push(component);
            if fs.exists(&dir) {
                continue;
            }
            match fs.mkdir(&dir) {
                Ok(()) => created.dirs.push(dir.clone()),
                // Another container's create made it between our check and mkdir.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                // Another container's delete removed a shared parent (`berth/`) after we saw
                // it: walk again from the root.
                Err(e) if e.kind() == io::ErrorKind::NotFound && retries < 3 => {
                    retries += 1;
                    continue 'walk;
                }
                Err(source) => return Err(CgroupError::Create { path: dir, source }),
            }
        }
        return Ok(());
    }
}

/// rmdir `dir` after its child cgroups (deepest first). Missing is fine.
fn remove_tree(fs: &dyn CgroupFs, dir: &Path) -> Result<(), CgroupError> {
    match fs.subdirs(dir) {
        Ok(children) => {
            for child in children {
                remove_tree(fs, &child)?;
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Read {
                path: dir.to_path_buf(),
                source,
            })
        }
    }
    rmdir_retrying(fs, dir)
}

/// rmdir with a bounded backoff on EBUSY: right after a kill the last tasks may still be exiting
/// and the kernel refuses to remove a cgroup that has tasks.
fn rmdir_retrying(fs: &dyn CgroupFs, dir: &Path) -> Result<(), CgroupError> {
    let deadline = Instant::now() + REMOVE_BUSY_TIMEOUT;
    let mut delay = Duration::from_millis(5);
    loop {
        match fs.rmdir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(delay.min(deadline.saturating_duration_since(Instant::now())));
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

fn is_busy_or_not_empty(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::ENOTEMPTY))
}

/// Copy `cpuset.cpus` and `cpuset.mems` from the parent when the new cgroup's are empty.
fn copy_cpuset_from_parent(fs: &dyn CgroupFs, dir: &Path) -> Result<(), CgroupError> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = read_file(fs, &dir.join(file))?;
        if !own.trim().is_empty() {
            continue;
        }
        let inherited = read_file(fs, &parent.join(file))?;
        let inherited = inherited.trim();
        if !inherited.is_empty() {
            write_file(fs, &dir.join(file), inherited)?;
        }
    }
    Ok(())
}

pub(super) fn read_file(fs: &dyn CgroupFs, path: &Path) -> Result<String, CgroupError> {
    fs.read(path).map_err(|source| CgroupError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub(super) fn write_file(fs: &dyn CgroupFs, path: &Path, value: &str) -> Result<(), CgroupError> {
    fs.write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}
