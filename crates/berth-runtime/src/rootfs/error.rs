//! `RootfsError`: one variant per failed operation of the rootfs module, each carrying the
//! path it was working on. Display strings name the operation and the object; the cause is
//! the `#[source]` and is never repeated in the message.

use std::path::PathBuf;

/// Everything that can go wrong while planning or building the container's root filesystem.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    #[error(transparent)]
    Hardening(#[from] HardeningError),
    // --- plan validation (no change to the world yet) ---
    #[error("config has no root.path")]
    NoRoot,
    #[error("stat rootfs {path}")]
    RootfsStat {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("rootfs {path} is not a directory")]
    RootfsNotDirectory { path: PathBuf },
    #[error("mount on {destination} refused: {reason}")]
    ForbiddenDestination {
        destination: PathBuf,
        reason: String,
    },
    #[error("mount destination {destination} is not an absolute path")]
    RelativeDestination { destination: PathBuf },
    #[error("mount on {destination} has no type")]
    MissingMountType { destination: PathBuf },
    #[error("bind mount on {destination} has no source")]
    MissingBindSource { destination: PathBuf },
    #[error("stat bind source {source_path} for {destination}")]
    BindSource {
        source_path: PathBuf,
        destination: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mount option {option} on {destination} is not supported")]
    UnsupportedOption {
        option: String,
        destination: PathBuf,
    },
    #[error("id-mapped mount on {destination}: {reason}")]
    IdmapPlan {
        destination: PathBuf,
        reason: String,
    },
    #[error("tmpcopyup on {destination}: only a tmpfs mount can start with a copy of the directory it covers")]
    TmpCopyUpNotTmpfs { destination: PathBuf },
    #[error("linux.rootfsPropagation {value} is not a propagation mode")]
    InvalidRootfsPropagation { value: String },
    #[error("device {path}: {reason}")]
    InvalidDevice { path: PathBuf, reason: &'static str },
    #[error("{kind} path {path} is not an absolute path")]
    RelativePath { kind: &'static str, path: PathBuf },

    // --- acting ---
    #[error("create the user namespace holding the mapping of the id-mapped mount on {destination}: {step}")]
    IdmapUserns {
        destination: PathBuf,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("mount_setattr(MOUNT_ATTR_IDMAP) on the bind of {source_path} for {destination}{}", idmap_hint(*.source))]
    Idmap {
        source_path: PathBuf,
        destination: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("an id-mapped mount on {destination} cannot be made by a berth that binds its sources by path (rootless in a nested user namespace)")]
    IdmapByPath { destination: PathBuf },
    #[error("tmpcopyup on {destination}: {op} {path}")]
    CopyUp {
        destination: PathBuf,
        op: &'static str,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("resolve {path} in {root}")]
    Resolve {
        root: PathBuf,
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("mkdir {path}")]
    Mkdir {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("create file {path}")]
    CreateFile {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("mount {source_desc} on {target}")]
    Mount {
        source_desc: String,
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("mount on {destination} refused: a symlink in {display} leads to {resolved} in the container; a mount there would cover what the container's protections are addressed by")]
    Redirected {
        destination: PathBuf,
        display: PathBuf,
        resolved: PathBuf,
    },
    #[error("mount on {destination} refused: {display} is on a kernel filesystem (statfs type {fs_type:#x}) outside /proc and /sys")]
    LandsInKernelTree {
        destination: PathBuf,
        display: PathBuf,
        fs_type: u64,
    },
    #[error("statfs {path}")]
    Statfs {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{call} {what} for {target}{}", kernel_says(.kernel))]
    FsContext {
        call: &'static str,
        what: String,
        target: PathBuf,
        /// The messages the kernel left on the filesystem context, if any.
        kernel: String,
        #[source]
        source: nix::Error,
    },
    #[error("open_tree {source_desc} for {target}")]
    OpenTree {
        source_desc: String,
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("move_mount {source_desc} onto {target}")]
    Attach {
        source_desc: String,
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("mount {fstype} on {target}: the destination is a symlink")]
    SymlinkDestination { fstype: String, target: PathBuf },
    #[error("remount {target} with flags {flags:#x}")]
    Remount {
        target: PathBuf,
        flags: u64,
        #[source]
        source: nix::Error,
    },
    #[error("set propagation {flags:#x} on {target}")]
    Propagation {
        target: PathBuf,
        flags: u64,
        #[source]
        source: nix::Error,
    },
    #[error("mount_setattr (set {set:#x}, clear {clear:#x}) on {target}")]
    MountSetattr {
        target: PathBuf,
        set: u64,
        clear: u64,
        #[source]
        source: nix::Error,
    },
    #[error("statvfs {path}")]
    Statvfs {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("read {path}")]
    ReadMountinfo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mknod {path}")]
    Mknod {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("chmod {path} to the mode of the directory it covers")]
    Chmod {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("chown {path}")]
    Chown {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("symlink {link} -> {target}")]
    Symlink {
        link: PathBuf,
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("remove {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("chdir {path}")]
    Chdir {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("pivot_root into {rootfs}")]
    PivotRoot {
        rootfs: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("move mount {rootfs} to /")]
    MoveRoot {
        rootfs: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("chroot {path}")]
    Chroot {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("unmount old root")]
    UnmountOldRoot {
        #[source]
        source: nix::Error,
    },
}

fn kernel_says(messages: &str) -> String {
    if messages.is_empty() {
        String::new()
    } else {
        format!(" (kernel: {messages})")
    }
}

/// Security checks of the hardening steps (docs/security.md).
#[derive(Debug, thiserror::Error)]
pub enum HardeningError {
    #[error("mask {path}: /dev/null in the container is not the null device 1:3 (CVE-2025-31133)")]
    NotDevNull { path: PathBuf },
    #[error("open {path}: not on procfs (CVE-2025-52881)")]
    NotProcfs { path: PathBuf },
    #[error("{kind} path {path}: resolves off the filesystem mounted at {mount} (statfs type {found:#x}, expected {expected:#x})")]
    OffMount {
        kind: &'static str,
        path: PathBuf,
        mount: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error("open {path} on procfs")]
    ProcOpen {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("write {path}")]
    ProcWrite {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

impl HardeningError {
    fn errno(&self) -> Option<i32> {
        match self {
            HardeningError::ProcOpen { source, .. } | HardeningError::ProcWrite { source, .. } => {
                Some(*source as i32)
            }
            _ => None,
        }
    }
}

/// What the kernel's refusal of `MOUNT_ATTR_IDMAP` usually means (mount_setattr(2) ERRORS).
fn idmap_hint(errno: nix::Error) -> &'static str {
    match errno {
        nix::Error::EINVAL | nix::Error::EOPNOTSUPP | nix::Error::ENOSYS => {
            " (the kernel or the source's filesystem does not support id-mapped mounts)"
        }
        _ => "",
    }
}

impl RootfsError {
    /// The errno behind a failed syscall, for the parent/child channel (STYLE.md point 7).
    pub fn errno(&self) -> Option<i32> {
        use RootfsError::*;
        match self {
            RootfsStat { source, .. }
            | BindSource { source, .. }
            | ReadMountinfo { source, .. } => source.raw_os_error(),
            Open { source, .. }
            | Resolve { source, .. }
            | Mkdir { source, .. }
            | CreateFile { source, .. }
            | Mount { source, .. }
            | Statfs { source, .. }
            | FsContext { source, .. }
            | OpenTree { source, .. }
            | Attach { source, .. }
            | Remount { source, .. }
            | Propagation { source, .. }
            | MountSetattr { source, .. }
            | Statvfs { source, .. }
            | Mknod { source, .. }
            | Chown { source, .. }
            | Chmod { source, .. }
            | Symlink { source, .. }
            | Remove { source, .. }
            | Chdir { source, .. }
            | PivotRoot { source, .. }
            | MoveRoot { source, .. }
            | Chroot { source, .. }
            | Idmap { source, .. }
            | CopyUp { source, .. }
            | UnmountOldRoot { source } => Some(*source as i32),
            IdmapUserns { source, .. } => source.raw_os_error(),
            Hardening(h) => h.errno(),
            _ => None,
        }
    }
}
