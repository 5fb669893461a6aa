//! The identity record: what `delete --force` needs to find and kill a live container whose
//! state directory or `state.json` is lost (issue #21 item 5). runc leaks such a container;
//! berth must not.
//!
//! ```text
//! <root>/@identity/               mode 0700, removed when its last record goes
//! <root>/@identity/<id>/          mode 0700, made by Store::create right after <root>/<id>/
//! <root>/@identity/<id>/record.json   mode 0600, replaced atomically by rename(2)
//! ```
//!
//! Why here: outside the state directory, so that `rm -rf <root>/<id>` or a damaged
//! `state.json` does not take it along; under the same root, so that it names only this root's
//! containers (two roots may use the same id). `@` is not allowed in ids, so `@identity` can
//! never be a container's directory and [`super::Store::list`] skips it; one directory per id
//! keeps every name at most as long as the id itself (NAME_MAX), with the scratch file of the
//! atomic replace beside the record.
//!
//! What it holds is small and written early by `create`: the cgroup plan before the cgroup is
//! made (a custom `cgroupsPath` is not derivable from the id), then the init's pid and start
//! time before the init is committed (until then it dies with `create`). Killing every process
//! in the cgroup is the robust path; the pid, checked against its start time so that a
//! recycled pid is never signalled, covers a container without a cgroup.

use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::store::write_atomically;
use super::{ContainerId, LockedContainer, StateError, Store};
use crate::cgroups::CgroupPlan;

/// The directory under the root that holds one record directory per container.
pub const IDENTITY_DIR: &str = "@identity";
/// The record inside `<root>/@identity/<id>/`.
const RECORD_FILE: &str = "record.json";
/// Scratch name the atomic replace writes before renaming over [`RECORD_FILE`].
const RECORD_TMP_FILE: &str = "record.json.tmp";

/// `<root>/@identity/<id>/record.json` (camelCase JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub id: String,
    /// The container's cgroup (a disabled plan for `--cgroup-manager=disabled`).
    pub cgroup: Option<CgroupPlan>,
    /// Host pid of the init, once forked.
    pub pid: Option<i32>,
    /// Field 22 of `/proc/<pid>/stat` when `pid` was recorded.
    pub pid_start_time: Option<u64>,
}

impl Store {
    /// `<root>/@identity/<id>`: the container's record directory.
    pub fn identity_dir(&self, id: &ContainerId) -> PathBuf {
        self.root().join(IDENTITY_DIR).join(id.as_str())
    }

    /// Whether any trace of the record of `id` is left (the directory, even empty).
    pub fn has_identity(&self, id: &ContainerId) -> bool {
        fs::symlink_metadata(self.identity_dir(id)).is_ok()
    }

    /// Claims the record directory of `id` (mkdir: an existing one means a container of that
    /// id may still be alive, [`StateError::IdentityExists`]). `<root>/@identity` is made if
    /// needed; a concurrent [`LockedContainer::destroy`] may remove it between the two
    /// mkdirs, which is retried.
    pub(super) fn claim_identity(&self, id: &ContainerId) -> Result<(), StateError> {
        let parent = self.root().join(IDENTITY_DIR);
        let dir = self.identity_dir(id);
        let mut retries = 0;
        loop {
            match DirBuilder::new().mode(0o700).create(&parent) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    return Err(StateError::CreateDir {
                        path: parent,
                        source,
                    })
                }
            }
            match DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(StateError::IdentityExists {
                        id: id.as_str().to_owned(),
                        dir: self.root().join(id.as_str()),
                        record: dir,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && retries < 3 => retries += 1,
                Err(source) => return Err(StateError::CreateDir { path: dir, source }),
            }
        }
    }

    /// The record of `id`: `Ok(None)` when there is none (no directory, or a create that died
    /// before its first write); an unreadable or invalid one is [`StateError::Corrupt`].
    pub fn read_identity(&self, id: &ContainerId) -> Result<Option<Identity>, StateError> {
        let path = self.identity_dir(id).join(RECORD_FILE);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(StateError::Read { path, source }),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                path,
                source: e.into(),
            })
    }

    /// Removes the record of `id` (missing is fine), then `<root>/@identity` if that was the
    /// last one. Removes by name, which needs no fd (a create failing for lack of fds undoes
    /// itself through here too).
    pub fn remove_identity(&self, id: &ContainerId) -> Result<(), StateError> {
        let dir = self.identity_dir(id);
        for name in [RECORD_FILE, RECORD_TMP_FILE] {
            let _ = fs::remove_file(dir.join(name));
        }
        match fs::remove_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => return Err(StateError::Remove { path: dir, source }),
        }
        // Busy (ENOTEMPTY) while another container has a record: fine, it removes it later.
        let _ = fs::remove_dir(self.root().join(IDENTITY_DIR));
        Ok(())
    }
}

impl LockedContainer {
    /// Replaces the container's identity record atomically (like [`LockedContainer::save`]).
    pub fn save_identity(&self, identity: &Identity) -> Result<(), StateError> {
        let json = serde_json::to_vec(identity).map_err(|source| StateError::Encode {
            id: self.id().as_str().to_owned(),
            source,
        })?;
        let dir = identity_dir_of(self.dir(), self.id());
        write_atomically(&dir.join(RECORD_TMP_FILE), &dir.join(RECORD_FILE), &json)
    }
}

/// `<root>/@identity/<id>` from the container's state directory `<root>/<id>`.
fn identity_dir_of(state_dir: &Path, id: &ContainerId) -> PathBuf {
    let root = state_dir.parent().unwrap_or(Path::new("/"));
    root.join(IDENTITY_DIR).join(id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn id(s: &str) -> ContainerId {
        ContainerId::new(s).unwrap()
    }

    fn identity(pid: Option<i32>) -> Identity {
        Identity {
            id: "c".into(),
            cgroup: Some(CgroupPlan::none()),
            pid,
            pid_start_time: pid.map(|_| 99),
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn create_claims_the_record_and_destroy_removes_it_with_its_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let c = store.create(&id("c")).unwrap();
        assert_eq!(entries(tmp.path()), ["@identity", "c"]);
        assert_eq!(store.read_identity(&id("c")).unwrap(), None);
        c.save_identity(&identity(None)).unwrap();
        c.save_identity(&identity(Some(7))).unwrap();
        let dir = store.identity_dir(&id("c"));
        assert_eq!(dir, tmp.path().join("@identity/c"));
        assert_eq!(entries(&dir), [RECORD_FILE]);
        let mode = fs::metadata(dir.join(RECORD_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o600);
        assert_eq!(
            store.read_identity(&id("c")).unwrap(),
            Some(identity(Some(7)))
        );
        // `list` shows containers only: `@identity` is no valid id.
        let ids = store.list().unwrap();
        assert_eq!(ids, [id("c")]);
        c.destroy().unwrap();
        assert!(entries(tmp.path()).is_empty());
    }

    #[test]
    fn a_record_without_its_state_dir_is_named_and_keeps_the_id_claimed() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let c = store.create(&id("c")).unwrap();
        c.save_identity(&identity(Some(7))).unwrap();
        fs::remove_dir_all(c.dir()).unwrap();
        drop(c);
        let root = tmp.path().display();
        let lost = format!(
            "container \"c\" has lost its state directory {root}/c, but its identity record \
             {root}/@identity/c remains: it may still be alive (delete --force kills it and \
             cleans up)"
        );
        for err in [
            store.lock(&id("c")).unwrap_err(),
            store.read(&id("c")).unwrap_err(),
        ] {
            assert!(matches!(err, StateError::StateDirMissing { .. }), "{err:?}");
            assert_eq!(err.to_string(), lost);
        }
        let err = store.create(&id("c")).unwrap_err();
        assert!(matches!(err, StateError::IdentityExists { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("container \"c\" already exists: {lost}")
        );
        // The refused create removed the state directory it made, and kept the record.
        assert_eq!(entries(tmp.path()), ["@identity"]);
        assert!(store.read_identity(&id("c")).unwrap().is_some());

        store.remove_identity(&id("c")).unwrap();
        assert!(entries(tmp.path()).is_empty());
        assert!(matches!(
            store.read(&id("c")).unwrap_err(),
            StateError::NotFound { .. }
        ));
        store.create(&id("c")).unwrap().destroy().unwrap();
    }

    #[test]
    fn a_garbage_record_is_corrupt_and_named() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let c = store.create(&id("c")).unwrap();
        let path = store.identity_dir(&id("c")).join(RECORD_FILE);
        fs::write(&path, "{nope").unwrap();
        let err = store.read_identity(&id("c")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("state file {} is missing or corrupt", path.display())
        );
        c.destroy().unwrap();
    }
}
