//! The control-file writes one translation of `linux.resources` makes ([`Writes`]): filled by
//! the per-version translations in `v1.rs` and `v2.rs`, ordered and performed by
//! `resources.rs`. Its own module so that the translations and their caller do not import
//! each other.

use std::path::{Path, PathBuf};

use super::bpf::DeviceRule;

/// One control-file write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileWrite {
    pub path: PathBuf,
    pub value: String,
}

/// What applying a `LinuxResources` does, in order, and what it leaves unapplied.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Writes {
    pub writes: Vec<FileWrite>,
    /// cgroup v2: the device rules to compile into an eBPF program attached to this directory.
    pub device_program: Option<(PathBuf, Vec<DeviceRule>)>,
    /// Names as in the spec below `linux.resources`, e.g. `memory.swappiness`.
    pub unapplied: Vec<String>,
}

impl Writes {
    pub fn write(&mut self, dir: &Path, file: &str, value: impl Into<String>) {
        self.writes.push(FileWrite {
            path: dir.join(file),
            value: value.into(),
        });
    }

    pub fn unapplied(&mut self, name: &str) {
        self.unapplied.push(name.to_string());
    }
}
