//! Freezing and thawing the container's cgroup (`berth pause` / `resume`): the v1 `freezer`
//! controller (kernel cgroup-v1/freezer-subsystem.rst) where the host binds one, else the
//! cgroup v2 core file `cgroup.freeze` (cgroup-v2.rst "Core Interface Files"). Both are
//! asynchronous: the write starts freezing and the state file says when every task is frozen.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::fs::{write_file, CgroupFs, HostFs};
use super::{CgroupError, CgroupPlan};

/// How long freeze/thaw waits for the kernel to report the new state. Generous because the VM
/// tier runs under TCG, ~25× slower than native.
const FREEZE_TIMEOUT: Duration = Duration::from_secs(20);

/// The freezer state of a cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FreezerState {
    Thawed,
    /// v1 only: some tasks are not frozen yet.
    Freezing,
    Frozen,
}

/// Where this container's freezer lives.
enum Freezer {
    /// `freezer.state` in this v1 directory.
    V1(PathBuf),
    /// `cgroup.freeze` / `cgroup.events` in this v2 directory.
    V2(PathBuf),
}

impl CgroupPlan {
    fn freezer(&self, fs: &dyn CgroupFs) -> Option<Freezer> {
        if let Some(h) = self
            .hierarchies
            .iter()
            .find(|h| h.has_v1_controller("freezer"))
        {
            return Some(Freezer::V1(self.dir(h)));
        }
        let dir = self.v2_dir()?;
        fs.exists(&dir.join("cgroup.freeze"))
            .then_some(Freezer::V2(dir))
    }

    /// Freeze every process of the container and wait until the kernel reports it frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen_with(&HostFs, true)
    }

    /// Thaw a frozen container.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen_with(&HostFs, false)
    }

    /// Refuses a cgroup that is frozen (or freezing) before the container is placed in it: the
    /// init would stop at its first instruction and `create` would wait for it forever. A
    /// `cgroupsPath` may name an existing cgroup that someone froze; runc refuses it too
    /// ("container's cgroup unexpectedly frozen").
    pub fn ensure_not_frozen(&self) -> Result<(), CgroupError> {
        self.ensure_not_frozen_with(&HostFs)
    }

    pub(super) fn ensure_not_frozen_with(&self, fs: &dyn CgroupFs) -> Result<(), CgroupError> {
        if self.freezer_state_with(fs) == FreezerState::Thawed {
            return Ok(());
        }
        let path = match self.freezer(fs) {
            Some(Freezer::V1(dir) | Freezer::V2(dir)) => dir,
            None => PathBuf::new(),
        };
        Err(CgroupError::AlreadyFrozen { path })
    }

    /// The current freezer state; `Thawed` when the cgroup has no freezer or is gone.
    pub fn freezer_state(&self) -> FreezerState {
        self.freezer_state_with(&HostFs)
    }

    pub(super) fn freezer_state_with(&self, fs: &dyn CgroupFs) -> FreezerState {
        match self.freezer(fs) {
            Some(Freezer::V1(dir)) => match fs.read(&dir.join("freezer.state")) {
                Ok(s) if s.trim() == "FROZEN" => FreezerState::Frozen,
                Ok(s) if s.trim() == "FREEZING" => FreezerState::Freezing,
                _ => FreezerState::Thawed,
            },
            Some(Freezer::V2(dir)) => {
                let events = fs.read(&dir.join("cgroup.events")).unwrap_or_default();
                let frozen = events.lines().any(|l| l.trim() == "frozen 1");
                let requested = fs
                    .read(&dir.join("cgroup.freeze"))
                    .map(|s| s.trim() == "1")
                    .unwrap_or(false);
                match (requested, frozen) {
                    (_, true) => FreezerState::Frozen,
                    (true, false) => FreezerState::Freezing,
                    (false, false) => FreezerState::Thawed,
                }
            }
            None => FreezerState::Thawed,
        }
    }

    pub(super) fn set_frozen_with(
        &self,
        fs: &dyn CgroupFs,
        frozen: bool,
    ) -> Result<(), CgroupError> {
        let freezer = self.freezer(fs).ok_or(CgroupError::NoFreezer)?;
        let want = if frozen {
            FreezerState::Frozen
        } else {
            FreezerState::Thawed
        };
        let (path, value) = match &freezer {
            Freezer::V1(dir) => (
                dir.join("freezer.state"),
                if frozen { "FROZEN" } else { "THAWED" },
            ),
            Freezer::V2(dir) => (dir.join("cgroup.freeze"), if frozen { "1" } else { "0" }),
        };
        let deadline = Instant::now() + FREEZE_TIMEOUT;
        loop {
            // v1 can stay in FREEZING while a task is in an uninterruptible sleep; writing
            // FROZEN again retries (runc does the same).
            write_file(fs, &path, value)?;
            if self.freezer_state_with(fs) == want {
                return Ok(());
            }
            if Instant::now() >= deadline {
                if frozen {
                    // Leave it thawed rather than half frozen (runc does the same).
                    let thaw = if matches!(freezer, Freezer::V1(_)) {
                        "THAWED"
                    } else {
                        "0"
                    };
                    let _ = write_file(fs, &path, thaw);
                }
                return Err(CgroupError::FreezeTimeout {
                    path,
                    state: if frozen { "frozen" } else { "thawed" },
                    secs: FREEZE_TIMEOUT.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
