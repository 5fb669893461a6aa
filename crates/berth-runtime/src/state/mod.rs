//! The state store: one directory per container under the runtime root.
//!
//! Layout (like runc's `/run/runc/<id>/state.json`):
//!
//! ```text
//! <root>/                 mode 0711, created on first use
//! <root>/<id>/            mode 0700, one per container, flock(2)ed by whoever mutates it
//! <root>/<id>/state.json  mode 0600, replaced atomically by rename(2)
//! <root>/@identity/<id>/record.json   the identity record (identity.rs), outside <id>/ so
//!                         that `delete --force` finds a container whose state is lost
//! ```
//!
//! Writers ([`LockedContainer`]) hold an exclusive `flock` on the container directory fd, so two
//! `berth` invocations on the same id serialise. Readers ([`Store::read`], [`Store::list`]) take
//! no lock: `state.json` is only ever replaced by `rename(2)`, so they see the old or the new
//! file, never a half-written one.
//!
//! This module records what berth did (phase, pid, cgroup); the *live* status (`running`,
//! `stopped`) is derived by the container module from the phase plus a liveness check of the pid
//! (with [`ContainerState::pid_start_time`] guarding against pid reuse).

mod held_locks;
mod id;
mod identity;
mod model;
mod store;
mod time;

use std::io;
use std::path::PathBuf;

pub use held_locks::close_in_child as close_lock_fds_in_child;
pub use id::ContainerId;
pub use identity::{Identity, IDENTITY_DIR};
pub use model::{process_start_time, ContainerState, Phase};
pub use store::{LockHolders, LockedContainer, Store, EXEC_FIFO, LOCK_WAIT, STATE_FILE};
pub use time::{format_rfc3339, now_rfc3339};

/// Every way the state store can fail. Each variant names the operation and the object; the
/// underlying cause is the `source`, printed by whoever prints the chain.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The id is not a valid container id (the reason says which rule it breaks).
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },

    /// `create` found a directory for this id already.
    #[error("container {id:?} already exists")]
    AlreadyExists { id: String },

    /// There is no container with this id (or it was deleted while we waited for its lock).
    #[error("container {id:?} does not exist")]
    NotFound { id: String },

    /// The state directory is gone but the identity record is not: the container may live.
    #[error("container {id:?} has lost its state directory {dir}, but its identity record {record} remains: it may still be alive (delete --force kills it and cleans up)")]
    StateDirMissing {
        id: String,
        dir: PathBuf,
        record: PathBuf,
    },

    /// `create` of an id whose state directory is gone but whose identity record remains: a
    /// new container must not adopt the old one's cgroup and processes.
    #[error("container {id:?} already exists: container {id:?} has lost its state directory {dir}, but its identity record {record} remains: it may still be alive (delete --force kills it and cleans up)")]
    IdentityExists {
        id: String,
        dir: PathBuf,
        record: PathBuf,
    },

    #[error("create state root {path}")]
    CreateRoot {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("create container directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("open container directory {path}")]
    OpenDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Another command holds the container's lock: every holder is stopped, or it held the
    /// lock past [`store::LOCK_WAIT`].
    #[error("{}", busy_message(id, holders, *stopped, *waited_secs))]
    Busy {
        id: String,
        holders: store::LockHolders,
        stopped: bool,
        waited_secs: u64,
    },

    #[error("lock container directory {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: nix::errno::Errno,
    },

    #[error("stat container directory {path}")]
    StatDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("encode state of container {id:?}")]
    Encode {
        id: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("rename {from} to {to}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// `state.json` is missing, truncated or not valid state (the source says which).
    #[error("state file {path} is missing or corrupt")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("remove container directory {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("list state root {path}")]
    List {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("read start time of process {pid} from {path}")]
    ProcStat {
        pid: i32,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn busy_message(id: &str, holders: &store::LockHolders, stopped: bool, waited_secs: u64) -> String {
    if stopped {
        format!("container {id:?} is locked by a stopped process, {holders}: continue it (SIGCONT), or remove the container with delete --force")
    } else {
        format!("container {id:?} is still locked after {waited_secs} s by {holders}: let it finish, or remove the container with delete --force")
    }
}
