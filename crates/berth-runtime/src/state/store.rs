//! The store itself: creating, locking, reading, listing and destroying container directories.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::{ContainerId, ContainerState, StateError};

/// Name of the state file inside a container directory.
pub const STATE_FILE: &str = "state.json";
/// Scratch name `save` writes before renaming over [`STATE_FILE`].
const STATE_TMP_FILE: &str = "state.json.tmp";
/// The name of the FIFO the init blocks on until `start` (as in runc), made by `create`.
pub const EXEC_FIFO: &str = "exec.fifo";

/// The runtime root (`--root`, `/run/berth` by default in the CLI) holding one directory per
/// container. Constructing it touches nothing on disk.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir_of(&self, id: &ContainerId) -> PathBuf {
        self.root.join(id.as_str())
    }

    /// Make `<root>/<id>` (mode 0700) and return it locked. The root is created first if needed
    /// (mode 0711 like runc: others may traverse to a known id but not list the containers).
    ///
    /// The `mkdir` of the container directory is the atomic "claim" of the id: a second `create`
    /// of the same id gets `EEXIST` and [`StateError::AlreadyExists`]. Callers should `save` a
    /// `Creating` state right away, because a concurrent [`Store::read`] of a directory without
    /// `state.json` reports it as corrupt.
    pub fn create(&self, id: &ContainerId) -> Result<LockedContainer, StateError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .map_err(|source| StateError::CreateRoot {
                path: self.root.clone(),
                source,
            })?;
        let dir = self.dir_of(id);
        match DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StateError::AlreadyExists {
                    id: id.as_str().to_owned(),
                })
            }
            Err(source) => return Err(StateError::CreateDir { path: dir, source }),
        }
        // A blocking flock is never busy; were it ever, the id is not claimed either.
        let lock = open_and_lock(&dir, id, FlockArg::LockExclusive).and_then(|lock| {
            lock.ok_or_else(|| StateError::Lock {
                path: dir.clone(),
                source: nix::errno::Errno::EWOULDBLOCK,
            })
        });
        // The identity record's directory is claimed too: if it is left from a container whose
        // state directory was removed, that container may live on in its cgroup.
        let lock = lock.and_then(|lock| self.claim_identity(id).map(|()| lock));
        let lock = match lock {
            Ok(lock) => lock,
            Err(e) => {
                // Do not leave a claimed-but-unusable id behind; the dir is still empty.
                let _ = fs::remove_dir(&dir);
                return Err(e);
            }
        };
        Ok(LockedContainer::new(id.clone(), dir, lock))
    }

    /// Lock an existing container directory exclusively, waiting for another holder at most
    /// [`LOCK_WAIT`], and not at all when every holder is stopped: either way the answer is
    /// [`StateError::Busy`], naming the holders, rather than a wait that may never end (a
    /// holder stopped by SIGSTOP or a debugger, or running a hook without a timeout).
    ///
    /// While we wait, the holder may `destroy` the container (and someone may even `create` it
    /// again), so after the lock is ours we check that the path still names the directory we
    /// locked: gone means [`StateError::NotFound`], a new directory means start over on it.
    pub fn lock(&self, id: &ContainerId) -> Result<LockedContainer, StateError> {
        self.lock_within(id, LOCK_WAIT)
    }

    /// [`Store::lock`] without waiting: `Ok(None)` when another command holds the lock.
    pub fn try_lock(&self, id: &ContainerId) -> Result<Option<LockedContainer>, StateError> {
        // `None` is also a directory replaced while we looked: try the new one, a few times.
        for _ in 0..3 {
            if let Some(locked) = self.lock_with(id, FlockArg::LockExclusiveNonblock)? {
                return Ok(Some(locked));
            }
        }
        Ok(None)
    }

    /// [`Store::lock`] with the wait bounded by `limit`. The lock is polled rather than waited
    /// for in `flock(2)`, which cannot time out; the poll interval grows from 1 ms to
    /// [`LOCK_POLL_MAX`], so a lock released at once is taken at once.
    fn lock_within(
        &self,
        id: &ContainerId,
        limit: std::time::Duration,
    ) -> Result<LockedContainer, StateError> {
        let dir = self.dir_of(id);
        let started = std::time::Instant::now();
        let mut pause = std::time::Duration::from_millis(1);
        // The directory is opened once and its lock tried again and again on that open file,
        // as a blocking flock would wait on it: a holder that destroys the container and
        // creates it anew meanwhile leaves us on the old directory, found replaced below (and
        // not gone, as a fresh open in between could see it).
        let mut file = open_dir(&dir, id).map_err(|e| self.named_missing(id, e))?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => match self.verify_locked(id, &dir, lock)? {
                    Some(locked) => return Ok(locked),
                    None => {
                        // Replaced while we waited: wait on the new directory.
                        file = open_dir(&dir, id).map_err(|e| self.named_missing(id, e))?;
                        continue;
                    }
                },
                Err((f, nix::errno::Errno::EWOULDBLOCK)) => file = f,
                Err((_, source)) => {
                    return Err(StateError::Lock {
                        path: dir.clone(),
                        source,
                    })
                }
            }
            let holders = lock_holders(&dir);
            let all_stopped = !holders.is_empty() && holders.iter().all(|&pid| is_stopped(pid));
            let waited = started.elapsed();
            if all_stopped || waited >= limit {
                return Err(StateError::Busy {
                    id: id.as_str().to_owned(),
                    holders: LockHolders::of(&holders),
                    stopped: all_stopped,
                    waited_secs: waited.as_secs(),
                });
            }
            std::thread::sleep(pause.min(limit - waited));
            pause = (pause * 2).min(LOCK_POLL_MAX);
        }
    }

    /// One attempt at [`Store::lock`]: `Ok(None)` when the lock was busy (only with a
    /// non-blocking `how`) or the directory was replaced while we waited.
    fn lock_with(
        &self,
        id: &ContainerId,
        how: FlockArg,
    ) -> Result<Option<LockedContainer>, StateError> {
        let dir = self.dir_of(id);
        let lock = match open_and_lock(&dir, id, how) {
            Ok(Some(lock)) => lock,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.named_missing(id, e)),
        };
        self.verify_locked(id, &dir, lock)
    }

    /// The lock is ours: does `dir` still name the directory we locked? Gone is
    /// [`StateError::NotFound`] (or the lost-state-dir error), replaced is `Ok(None)`.
    fn verify_locked(
        &self,
        id: &ContainerId,
        dir: &Path,
        lock: Flock<File>,
    ) -> Result<Option<LockedContainer>, StateError> {
        let locked = lock.metadata().map_err(|source| StateError::StatDir {
            path: dir.to_owned(),
            source,
        })?;
        match fs::symlink_metadata(dir) {
            Ok(now) if now.dev() == locked.dev() && now.ino() == locked.ino() => {
                Ok(Some(LockedContainer::new(id.clone(), dir.to_owned(), lock)))
            }
            Ok(_) => Ok(None), // destroyed and re-created while we waited: lock the new one
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(self.missing(id)),
            Err(source) => Err(StateError::StatDir {
                path: dir.to_owned(),
                source,
            }),
        }
    }

    /// `NotFound` from opening the directory becomes [`Store::missing`]'s finer answer.
    fn named_missing(&self, id: &ContainerId, e: StateError) -> StateError {
        match e {
            StateError::NotFound { .. } => self.missing(id),
            e => e,
        }
    }

    /// [`Store::lock`] for `delete --force`, which must always finish: while the lock is busy,
    /// a holder that is stopped (SIGSTOP, a debugger) is SIGKILLed at once, and any holder
    /// still there after [`FORCE_LOCK_WAIT`] is SIGKILLed too — berth's own commands are the
    /// only holders, and a forced delete overrides a create, start or update of the same
    /// container. Each kill is logged as a warning. The holders come from `/proc/locks`.
    pub fn lock_forcibly(&self, id: &ContainerId) -> Result<LockedContainer, StateError> {
        let dir = self.dir_of(id);
        let started = std::time::Instant::now();
        loop {
            match self.lock_with(id, FlockArg::LockExclusiveNonblock)? {
                Some(locked) => return Ok(locked),
                None => {
                    let waited = started.elapsed();
                    if waited >= FORCE_LOCK_WAIT + std::time::Duration::from_secs(5) {
                        // The holders were killed and the lock is still busy: an fd of it
                        // lives on in a process /proc/locks does not name. Give up, loudly.
                        return Err(StateError::Lock {
                            path: dir,
                            source: nix::errno::Errno::EWOULDBLOCK,
                        });
                    }
                    let overdue = waited >= FORCE_LOCK_WAIT;
                    for holder in lock_holders(&dir) {
                        if overdue || is_stopped(holder) {
                            crate::log_warn!(
                                "delete --force {}: killing pid {holder}, which holds the container's lock ({})",
                                id.as_str(),
                                if overdue { "still busy after 10 s" } else { "stopped" }
                            );
                            let _ = nix::sys::signal::kill(
                                nix::unistd::Pid::from_raw(holder),
                                nix::sys::signal::Signal::SIGKILL,
                            );
                        }
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
    }

    /// Read a container's state without locking (safe because `save` replaces the file by
    /// rename). A missing container directory is [`StateError::NotFound`]; a directory without a
    /// readable, valid `state.json` is [`StateError::Corrupt`].
    pub fn read(&self, id: &ContainerId) -> Result<ContainerState, StateError> {
        let dir = self.dir_of(id);
        // A directory without state.json is, for a moment, normal: `create` has claimed the id
        // but not saved yet, or `delete` has removed the file but not the directory. Wait that
        // moment out (bounded) rather than report a corrupt state; found by tests/concurrency.rs.
        let mut waits = 0;
        loop {
            match read_state(&dir.join(STATE_FILE)) {
                Err(StateError::Corrupt { source, .. })
                    if source.kind() == io::ErrorKind::NotFound && !dir.exists() =>
                {
                    return Err(self.missing(id))
                }
                Err(StateError::Corrupt { ref source, .. })
                    if source.kind() == io::ErrorKind::NotFound && waits < TRANSIENT_WAITS =>
                {
                    waits += 1;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                other => return other,
            }
        }
    }

    /// Why there is no state directory for `id`: [`StateError::NotFound`], or
    /// [`StateError::StateDirMissing`] when its identity record remains.
    fn missing(&self, id: &ContainerId) -> StateError {
        if self.has_identity(id) {
            return StateError::StateDirMissing {
                id: id.as_str().to_owned(),
                dir: self.dir_of(id),
                record: self.identity_dir(id),
            };
        }
        StateError::NotFound {
            id: id.as_str().to_owned(),
        }
    }

    /// The ids of all containers, sorted; empty when the root does not exist yet. Entries whose
    /// names are not valid ids, or that are not directories, are not containers and are skipped.
    pub fn list(&self) -> Result<Vec<ContainerId>, StateError> {
        let fail = |source| StateError::List {
            path: self.root.clone(),
            source,
        };
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(fail(e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(fail)?;
            let is_dir = entry.file_type().map_err(fail)?.is_dir();
            let id = entry.file_name().to_str().map(ContainerId::new);
            if let (true, Some(Ok(id))) = (is_dir, id) {
                ids.push(id);
            }
        }
        ids.sort();
        Ok(ids)
    }
}

/// How many 1 ms waits [`Store::read`] gives a state directory without state.json to become
/// whole (or vanish) before calling it corrupt: far longer than create's or delete's window.
const TRANSIENT_WAITS: u32 = 200;

/// Open `dir` and take an exclusive `flock(2)` on the directory fd itself, waiting or not as
/// `how` says (`None`: busy). Locking the directory rather than a lock file means there is
/// nothing extra to create or clean up.
fn open_and_lock(
    dir: &Path,
    id: &ContainerId,
    how: FlockArg,
) -> Result<Option<Flock<File>>, StateError> {
    let file = open_dir(dir, id)?;
    match Flock::lock(file, how) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, source)) => Err(StateError::Lock {
            path: dir.to_owned(),
            source,
        }),
    }
}

/// Opens the container directory `dir` for locking; a missing one is [`StateError::NotFound`].
fn open_dir(dir: &Path, id: &ContainerId) -> Result<File, StateError> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
    {
        Ok(file) => Ok(file),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StateError::NotFound {
            id: id.as_str().to_owned(),
        }),
        Err(source) => Err(StateError::OpenDir {
            path: dir.to_owned(),
            source,
        }),
    }
}

/// How long [`Store::lock`] waits for another command to release the container's lock: far
/// longer than any berth command holds it for its own work (delete's kill and cgroup waits are
/// bounded well below it); only hooks without a timeout and stopped holders hold it longer.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The longest pause between two tries of a busy lock.
const LOCK_POLL_MAX: std::time::Duration = std::time::Duration::from_millis(20);

/// The processes holding a container's lock with their command lines (from
/// `/proc/<pid>/cmdline`, shortened; empty for one that has just exited), taken when the
/// error is made and printed as `pid N (command line)` each.
#[derive(Debug)]
pub struct LockHolders(pub Vec<(i32, String)>);

impl LockHolders {
    fn of(pids: &[i32]) -> LockHolders {
        let command = |pid: i32| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let words: Vec<String> = cmdline
                .split(|&b| b == 0)
                .filter(|w| !w.is_empty())
                .map(|w| String::from_utf8_lossy(w).into_owned())
                .collect();
            let line = words.join(" ");
            match line.char_indices().nth(197) {
                Some((cut, _)) if line.chars().count() > 200 => format!("{}...", &line[..cut]),
                _ => line,
            }
        };
        LockHolders(pids.iter().map(|&pid| (pid, command(pid))).collect())
    }
}

impl std::fmt::Display for LockHolders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("a process /proc/locks does not name");
        }
        for (i, (pid, command)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "pid {pid}")?;
            if !command.is_empty() {
                write!(f, " ({command})")?;
            }
        }
        Ok(())
    }
}

/// How long `delete --force` waits for a running holder of the container's lock.
pub const FORCE_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The pids holding a flock on `dir`, from `/proc/locks` (`N: FLOCK ADVISORY WRITE <pid>
/// <major>:<minor>:<inode> 0 EOF`, device numbers in hex; waiters' `->` lines skipped).
fn lock_holders(dir: &Path) -> Vec<i32> {
    let Ok(meta) = fs::metadata(dir) else {
        return Vec::new();
    };
    let want = format!(
        "{:02x}:{:02x}:{}",
        libc::major(meta.dev()),
        libc::minor(meta.dev()),
        meta.ino()
    );
    let text = fs::read_to_string("/proc/locks").unwrap_or_default();
    text.lines()
        .filter(|l| !l.contains("->"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&want.as_str()))
                .then(|| f.get(4)?.parse().ok())
                .flatten()
        })
        .collect()
}

/// Whether `pid` is stopped (`T`, or `t` under a tracer) per `/proc/<pid>/stat`.
fn is_stopped(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_string))
        })
        .is_some_and(|state| state == "T" || state == "t")
}

fn read_state(path: &Path) -> Result<ContainerState, StateError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(source) if source.kind() == io::ErrorKind::NotFound => {
            return Err(StateError::Corrupt {
                path: path.to_owned(),
                source,
            })
        }
        Err(source) => {
            return Err(StateError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
        path: path.to_owned(),
        source: e.into(),
    })
}

/// Writes `bytes` to `tmp` (0600, no symlink followed) and renames it over `dest`.
pub(super) fn write_atomically(tmp: &Path, dest: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let write = |path: &Path| -> io::Result<()> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?
            .write_all(bytes)
    };
    write(tmp).map_err(|source| StateError::Write {
        path: tmp.to_owned(),
        source,
    })?;
    fs::rename(tmp, dest).map_err(|source| StateError::Rename {
        from: tmp.to_owned(),
        to: dest.to_owned(),
        source,
    })
}

/// A container directory with the exclusive lock held; the lock is released on drop.
#[derive(Debug)]
pub struct LockedContainer {
    id: ContainerId,
    dir: PathBuf,
    _lock: Flock<File>,
}

impl LockedContainer {
    fn new(id: ContainerId, dir: PathBuf, lock: Flock<File>) -> Self {
        // Children of `create` close their copy of the lock fd (held_locks.rs says why).
        super::held_locks::register(std::os::fd::AsRawFd::as_raw_fd(&*lock));
        LockedContainer {
            id,
            dir,
            _lock: lock,
        }
    }

    pub fn id(&self) -> &ContainerId {
        &self.id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replace `state.json` atomically: write `state.json.tmp` (0600) and rename it over. Like
    /// runc, no fsync: the state lives on a tmpfs (`/run`) and does not outlive a reboot anyway.
    pub fn save(&self, state: &ContainerState) -> Result<(), StateError> {
        let json = serde_json::to_vec(state).map_err(|source| StateError::Encode {
            id: self.id.as_str().to_owned(),
            source,
        })?;
        write_atomically(
            &self.dir.join(STATE_TMP_FILE),
            &self.dir.join(STATE_FILE),
            &json,
        )
    }

    /// Read `state.json`; missing, truncated or invalid is [`StateError::Corrupt`].
    pub fn load(&self) -> Result<ContainerState, StateError> {
        read_state(&self.dir.join(STATE_FILE))
    }

    /// Remove the identity record, then the container directory and everything in it. In
    /// this order a lock-free reader never sees a record without its state directory, which
    /// would mean a damaged container; and a berth that dies in between leaves an intact
    /// state directory, which `delete --force` handles as usual (its processes and cgroup are
    /// gone before `destroy`). The lock is released only after both are gone, so a waiter in
    /// [`Store::lock`] then sees [`StateError::NotFound`].
    pub fn destroy(self) -> Result<(), StateError> {
        let root = self.dir.parent().unwrap_or(Path::new("/"));
        Store::new(root).remove_identity(&self.id)?;
        self.remove_dir()
    }

    fn remove_dir(&self) -> Result<(), StateError> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            // remove_dir_all opens each directory; out of fds (a create failing for that very
            // reason), remove what berth puts there by name, which needs no fd.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) => {
                for name in [STATE_FILE, STATE_TMP_FILE, EXEC_FIFO] {
                    let _ = fs::remove_file(self.dir.join(name));
                }
                fs::remove_dir(&self.dir).map_err(|source| StateError::Remove {
                    path: self.dir.clone(),
                    source,
                })
            }
            Err(source) => Err(StateError::Remove {
                path: self.dir.clone(),
                source,
            }),
        }
    }
}

impl Drop for LockedContainer {
    fn drop(&mut self) {
        super::held_locks::unregister(std::os::fd::AsRawFd::as_raw_fd(&*self._lock));
    }
}

#[cfg(test)]
mod tests {
    use super::super::Phase;
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::mpsc;
    use std::time::Duration;

    fn id(s: &str) -> ContainerId {
        ContainerId::new(s).unwrap()
    }

    fn state(id: &str) -> ContainerState {
        ContainerState {
            oci_version: "1.0.2".into(),
            id: id.into(),
            bundle: "/bundle".into(),
            rootfs: "/bundle/rootfs".into(),
            pid: None,
            pid_start_time: None,
            created: super::super::now_rfc3339(),
            owner: "root".into(),
            annotations: Default::default(),
            cgroup: None,
            phase: Phase::Creating,
            config: Some(serde_json::json!({"hooks": {}})),
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn new_touches_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("root"));
        assert_eq!(store.root(), tmp.path().join("root"));
        assert!(!store.root().exists());
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn create_save_read_load_round_trip_with_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("run/berth"));
        let c = store.create(&id("c1")).unwrap();
        assert_eq!(c.id().as_str(), "c1");
        assert_eq!(c.dir(), store.root().join("c1"));
        assert_eq!(mode(store.root()), 0o711);
        assert_eq!(mode(c.dir()), 0o700);

        let mut s = state("c1");
        c.save(&s).unwrap();
        assert_eq!(mode(&c.dir().join(STATE_FILE)), 0o600);
        assert!(!c.dir().join(STATE_TMP_FILE).exists());
        assert_eq!(c.load().unwrap(), s);
        assert_eq!(store.read(&id("c1")).unwrap(), s);

        s.phase = Phase::Created;
        s.pid = Some(7);
        c.save(&s).unwrap();
        assert_eq!(store.read(&id("c1")).unwrap(), s);
    }

    #[test]
    fn create_twice_is_already_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let _c = store.create(&id("x")).unwrap();
        let err = store.create(&id("x")).unwrap_err();
        assert!(matches!(err, StateError::AlreadyExists { .. }));
        assert_eq!(err.to_string(), "container \"x\" already exists");
    }

    #[test]
    fn missing_container_is_not_found_everywhere() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        for err in [
            store.lock(&id("nope")).unwrap_err(),
            store.read(&id("nope")).unwrap_err(),
        ] {
            assert!(matches!(err, StateError::NotFound { .. }), "{err:?}");
            assert_eq!(err.to_string(), "container \"nope\" does not exist");
        }
    }

    #[test]
    fn missing_or_truncated_state_file_is_corrupt_and_named() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let c = store.create(&id("c")).unwrap();
        let path = c.dir().join(STATE_FILE);
        let expected = format!("state file {} is missing or corrupt", path.display());

        let err = c.load().unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }), "{err:?}");
        assert_eq!(err.to_string(), expected);
        assert!(matches!(
            store.read(&id("c")).unwrap_err(),
            StateError::Corrupt { .. }
        ));

        let full = serde_json::to_string(&state("c")).unwrap();
        fs::write(&path, &full[..full.len() / 2]).unwrap();
        let err = store.read(&id("c")).unwrap_err();
        assert_eq!(err.to_string(), expected);
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("EOF"), "{source}");
    }

    #[test]
    fn destroy_removes_everything() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let c = store.create(&id("c")).unwrap();
        c.save(&state("c")).unwrap();
        fs::write(c.dir().join("extra"), "x").unwrap();
        let dir = c.dir().to_owned();
        c.destroy().unwrap();
        assert!(!dir.exists());
        assert!(matches!(
            store.lock(&id("c")).unwrap_err(),
            StateError::NotFound { .. }
        ));
        // The id is free again.
        store.create(&id("c")).unwrap();
    }

    #[test]
    fn list_is_sorted_and_skips_non_containers() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        for name in ["b", "a", "c.1"] {
            store.create(&id(name)).unwrap();
        }
        fs::write(tmp.path().join("file"), "").unwrap();
        fs::create_dir(tmp.path().join("bad name")).unwrap();
        let ids: Vec<String> = store
            .list()
            .unwrap()
            .iter()
            .map(|i| i.as_str().to_owned())
            .collect();
        assert_eq!(ids, ["a", "b", "c.1"]);
    }

    #[test]
    fn lock_waits_for_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let held = store.create(&id("c")).unwrap();
        held.save(&state("c")).unwrap();
        let (tx, rx) = mpsc::channel();
        let store2 = store.clone();
        let waiter = std::thread::spawn(move || {
            let c = store2.lock(&id("c")).unwrap();
            tx.send(()).unwrap();
            c.load().unwrap()
        });
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(held);
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(waiter.join().unwrap().id, "c");
    }

    #[test]
    fn lock_gives_up_after_its_limit_naming_the_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let held = store.create(&id("c")).unwrap();
        held.save(&state("c")).unwrap();
        assert!(store.try_lock(&id("c")).unwrap().is_none());
        let start = std::time::Instant::now();
        let err = store
            .lock_within(&id("c"), Duration::from_millis(300))
            .map(|_| ())
            .unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(300));
        let me = std::process::id() as i32;
        match &err {
            StateError::Busy {
                holders, stopped, ..
            } => {
                assert_eq!(holders.0.iter().map(|h| h.0).collect::<Vec<_>>(), [me]);
                assert!(!stopped);
            }
            other => panic!("{other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "container \"c\" is still locked after 0 s by pid {me} ("
            )) && msg.ends_with("): let it finish, or remove the container with delete --force"),
            "{msg}"
        );
        drop(held);
        assert!(store.try_lock(&id("c")).unwrap().is_some());
    }

    /// A process that takes `dir`'s lock and stops itself (or, with `stop` false, sleeps).
    fn holder_process(dir: &Path, stop: bool) -> nix::unistd::Pid {
        let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: the child only makes raw syscalls (open, flock, kill, pause) and never
        // returns into the test harness.
        let holder = match unsafe { nix::unistd::fork() }.unwrap() {
            // SAFETY: as above; `path` is a valid NUL-terminated string made before the fork.
            nix::unistd::ForkResult::Child => unsafe {
                let fd = libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                libc::flock(fd, libc::LOCK_EX);
                if stop {
                    libc::kill(libc::getpid(), libc::SIGSTOP);
                }
                loop {
                    libc::pause();
                }
            },
            nix::unistd::ForkResult::Parent { child } => child,
        };
        let start = std::time::Instant::now();
        while !lock_holders(dir).contains(&holder.as_raw()) && start.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        while stop && !is_stopped(holder.as_raw()) && start.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        holder
    }

    #[test]
    fn lock_fails_at_once_when_the_holder_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let id = ContainerId::new("stopped").unwrap();
        drop(store.create(&id).unwrap());
        let holder = holder_process(&store.dir_of(&id), true);
        let start = std::time::Instant::now();
        let err = store.lock(&id).map(|_| ()).unwrap_err();
        let waited = start.elapsed();
        let _ = nix::sys::signal::kill(holder, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(holder, None);
        assert!(waited < Duration::from_secs(5), "waited {waited:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "container \"stopped\" is locked by a stopped process, pid {holder} ("
            )),
            "{msg}"
        );
        assert!(matches!(err, StateError::Busy { stopped: true, .. }));
    }

    #[test]
    fn lock_forcibly_kills_a_stopped_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let id = ContainerId::new("held").unwrap();
        drop(store.create(&id).unwrap());
        let cdir = store.dir_of(&id);
        let holder = holder_process(&cdir, true);
        assert!(
            !lock_holders(&cdir).is_empty(),
            "no holder seen in /proc/locks"
        );
        let start = std::time::Instant::now();
        let locked = store.lock_forcibly(&id).unwrap();
        assert!(
            start.elapsed() < FORCE_LOCK_WAIT,
            "waited for the stopped holder"
        );
        drop(locked);
        let status = nix::sys::wait::waitpid(holder, None).unwrap();
        assert!(
            matches!(
                status,
                nix::sys::wait::WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)
            ),
            "{status:?}"
        );
    }

    #[test]
    fn lock_after_concurrent_destroy_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let held = store.create(&id("c")).unwrap();
        let store2 = store.clone();
        let waiter = std::thread::spawn(move || store2.lock(&id("c")).map(|_| ()));
        std::thread::sleep(Duration::from_millis(100));
        held.destroy().unwrap();
        let err = waiter.join().unwrap().unwrap_err();
        assert!(matches!(err, StateError::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn lock_after_destroy_and_recreate_locks_the_new_container() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let held = store.create(&id("c")).unwrap();
        let store2 = store.clone();
        let waiter = std::thread::spawn(move || store2.lock(&id("c")).map(|c| c.load()));
        std::thread::sleep(Duration::from_millis(100));
        // Destroy while holding the lock on the old dir, then create anew and save.
        let dir = held.dir().to_owned();
        fs::remove_dir_all(&dir).unwrap();
        store.remove_identity(&id("c")).unwrap();
        let fresh = store.create(&id("c")).unwrap();
        fresh.save(&state("c")).unwrap();
        drop(held);
        drop(fresh);
        let loaded = waiter.join().unwrap().unwrap().unwrap();
        assert_eq!(loaded.id, "c");
    }
}
