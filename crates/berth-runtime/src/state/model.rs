//! What `state.json` holds: the container's recorded state, plus the helpers that fill in the
//! pid start time and the owner.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::StateError;
use crate::cgroups::CgroupPlan;

/// How far berth got with the container. The OCI status (`creating`, `created`, `running`,
/// `stopped`) is derived from this plus whether [`ContainerState::pid`] is still alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `create` is in progress: the init process may not exist yet.
    Creating,
    /// `create` finished: init waits for `start`.
    Created,
    /// `start` is releasing the init, or died while doing so. Whether the program was exec'd
    /// is read from the init itself: until its execve it holds a handle on `exec.fifo`
    /// (`container::status`).
    Starting,
    /// `start` told init to exec the user process.
    Started,
}

/// The persistent state of one container (`<root>/<id>/state.json`, camelCase JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContainerState {
    /// The bundle config's `ociVersion`.
    pub oci_version: String,
    pub id: String,
    /// Absolute path of the bundle directory.
    pub bundle: PathBuf,
    /// Absolute path of the root filesystem.
    pub rootfs: PathBuf,
    /// Host pid of the container init; `None` while creating.
    pub pid: Option<i32>,
    /// Field 22 (`starttime`) of `/proc/<pid>/stat` when `pid` was recorded, so a recycled pid
    /// is not mistaken for the container (see [`process_start_time`]).
    pub pid_start_time: Option<u64>,
    /// Creation time, RFC 3339 UTC with nanoseconds ([`super::now_rfc3339`]).
    pub created: String,
    /// User name (or numeric uid) of the creator.
    pub owner: String,
    pub annotations: BTreeMap<String, String>,
    pub cgroup: Option<CgroupPlan>,
    pub phase: Phase,
    /// Parts of config.json later operations need (hooks, ...), kept verbatim.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

/// Field 22 (`starttime`, clock ticks since boot) of `<proc_root>/<pid>/stat`, or `None` when
/// there is no such process. `proc_root` is `/proc` outside tests.
///
/// proc(5): the second field is the command name in parentheses and may itself contain spaces
/// and `)`, so fields are counted from the *last* `)`.
pub fn process_start_time(proc_root: &Path, pid: i32) -> Result<Option<u64>, StateError> {
    let path = proc_root.join(pid.to_string()).join("stat");
    let fail = |source| StateError::ProcStat {
        pid,
        path: path.clone(),
        source,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        // ESRCH: the process died between open and read.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            return Ok(None)
        }
        Err(e) => return Err(fail(e)),
    };
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "no starttime field");
    let after_comm = &text[text.rfind(')').ok_or_else(|| fail(bad()))? + 1..];
    // After the comm come field 3 (state) onwards, so field 22 is the 20th.
    let field = after_comm
        .split_whitespace()
        .nth(19)
        .ok_or_else(|| fail(bad()))?;
    field
        .parse()
        .map(Some)
        .map_err(|e| fail(io::Error::new(io::ErrorKind::InvalidData, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ContainerState {
        ContainerState {
            oci_version: "1.0.2".into(),
            id: "c1".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            pid: Some(42),
            pid_start_time: Some(12345),
            created: "2026-11-22T06:33:01.123456789Z".into(),
            owner: "root".into(),
            annotations: [("k".to_string(), "v".to_string())].into(),
            cgroup: None,
            phase: Phase::Created,
            config: None,
        }
    }

    #[test]
    fn json_uses_camel_case_and_lowercase_phase() {
        let v = serde_json::to_value(sample()).unwrap();
        assert_eq!(v["ociVersion"], "1.0.2");
        assert_eq!(v["pidStartTime"], 12345);
        assert_eq!(v["phase"], "created");
        let back: ContainerState = serde_json::from_value(v).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn config_may_be_absent_from_json() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v.as_object_mut().unwrap().remove("config");
        let back: ContainerState = serde_json::from_value(v).unwrap();
        assert_eq!(back.config, None);
    }

    #[test]
    fn start_time_is_field_22_even_with_parens_in_comm() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("7")).unwrap();
        let mut fields: Vec<String> = (3..=52).map(|n| n.to_string()).collect();
        fields[22 - 3] = "987654".into();
        let stat = format!("7 (a) b) (c) {}\n", fields.join(" "));
        std::fs::write(dir.path().join("7/stat"), stat).unwrap();
        assert_eq!(process_start_time(dir.path(), 7).unwrap(), Some(987654));
        assert_eq!(process_start_time(dir.path(), 8).unwrap(), None);
    }

    #[test]
    fn start_time_of_self_is_stable() {
        let me = std::process::id() as i32;
        let a = process_start_time(Path::new("/proc"), me).unwrap();
        assert!(a.is_some());
        assert_eq!(a, process_start_time(Path::new("/proc"), me).unwrap());
    }

    #[test]
    fn truncated_stat_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("7")).unwrap();
        std::fs::write(dir.path().join("7/stat"), "7 (x) S 1 2").unwrap();
        let err = process_start_time(dir.path(), 7).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "read start time of process 7 from {}/7/stat",
                dir.path().display()
            )
        );
    }
}
