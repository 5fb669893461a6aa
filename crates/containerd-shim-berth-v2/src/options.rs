//! The runtime options containerd sends with a Create (`CreateTaskRequest.options`, a
//! `google.protobuf.Any`), decoded into what the shim applies ([`TaskOptions`]). Every field
//! berth can honour is applied; every other field that is set is refused with an error naming
//! it, never ignored.
//!
//! Three message types arrive, depending on the client and on the runtime type berth is
//! registered under (docs/containerd.md "Runtime options"):
//!
//! - `containerd.runc.v1.Options`, runc's shim options: containerd 2.x, or berth registered as
//!   `io.containerd.runc.v2` (CRI decodes a handler's `options` table into it only for the
//!   runc runtime types; `ctr run --runc-*`, `--no-pivot` and `--no-new-keyring` send it).
//! - `runtimeoptions.v1.Options` (`TypeUrl`, `ConfigPath`): what containerd 1.6/1.7 CRI sends
//!   for any other runtime type, and `ctr run --runtime-config-path`. `ConfigPath` names the
//!   shim's TOML config file ([`ConfigFile`]), read at each Create.
//! - `containerd.linux.runc.CreateOptions`, the legacy runc create options that `ctr run
//!   --no-pivot` / `--no-new-keyring` send for a runtime that is not runc's.
//!
//! The fields are read with protobuf's own wire decoder, against a table per type, so that a
//! field this shim does not know (a newer containerd's) is refused by number like any other.

use std::path::{Path, PathBuf};

use containerd_shim::protos::protobuf::rt::WireType;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::CodedInputStream;
use serde::Deserialize;

/// The largest config file the shim reads.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// What a task's runtime options ask of the shim, decoded and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskOptions {
    /// NoPivotRoot: `create --no-pivot` (MS_MOVE + chroot instead of pivot_root).
    pub no_pivot_root: bool,
    /// NoNewKeyring: `create --no-new-keyring`.
    pub no_new_keyring: bool,
    /// SystemdCgroup: the library's `systemd_cgroup` plan option.
    pub systemd_cgroup: bool,
    /// IoUid/IoGid: the owner given to the stdio pipes and FIFOs of the task's processes
    /// (None when both are 0: they stay as containerd made them).
    pub io_owner: Option<(u32, u32)>,
    /// `log_level = "debug"` in the config file: the create's log.json gets debug lines.
    pub debug: bool,
}

/// Why a task's runtime options are refused.
#[derive(Debug, thiserror::Error)]
pub enum OptionsError {
    #[error("runtime options of type {type_url:?}: not a type this shim decodes (containerd.runc.v1.Options, runtimeoptions.v1.Options or containerd.linux.runc.CreateOptions)")]
    UnknownType { type_url: String },
    #[error("runtime options {type_name}: decode the protobuf message")]
    Decode {
        type_name: &'static str,
        #[source]
        source: containerd_shim::protos::protobuf::Error,
    },
    #[error("runtime options {type_name}: field number {number} is not one this shim knows, so it cannot be honoured")]
    UnknownField {
        type_name: &'static str,
        number: u32,
    },
    #[error("runtime options {type_name}: field {name} has wire type {wire_type:?}, not the one its type has")]
    WireType {
        type_name: &'static str,
        name: &'static str,
        wire_type: WireType,
    },
    #[error("runtime option {name} = {value}: {reason}")]
    Unsupported {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("read the shim config file {path} (runtime option ConfigPath)")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "shim config file {path} (runtime option ConfigPath): larger than {MAX_CONFIG_BYTES} bytes"
    )]
    ConfigTooLarge { path: PathBuf },
    #[error("parse the shim config file {path} (runtime option ConfigPath)")]
    ParseConfig {
        path: PathBuf,
        /// Boxed: toml's error is large, and every shim error would carry its size.
        #[source]
        source: Box<toml::de::Error>,
    },
}

/// The shim's config file (`ConfigPath`), TOML. Every key is optional; an unknown key is an
/// error naming it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub systemd_cgroup: bool,
    #[serde(default)]
    pub no_pivot_root: bool,
    #[serde(default)]
    pub no_new_keyring: bool,
    #[serde(default)]
    pub io_uid: u32,
    #[serde(default)]
    pub io_gid: u32,
    /// Must be the shim's state base if given (see [`check_root`]).
    pub root: Option<PathBuf>,
    /// `debug` or `info` (the two levels of berth's log).
    pub log_level: Option<String>,
}

/// How a field is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    U32,
    Text,
}

/// A decoded field value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Bool(bool),
    U32(u32),
    Text(String),
}

impl Value {
    fn is_set(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::U32(n) => *n != 0,
            Value::Text(s) => !s.is_empty(),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::U32(n) => write!(f, "{n}"),
            Value::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// One message type: its name and its fields (number, containerd's name, encoding).
struct MessageType {
    name: &'static str,
    fields: &'static [(u32, &'static str, Kind)],
}

/// runc's shim options (containerd api/types/runc/options/oci.proto).
const RUNC_OPTIONS: MessageType = MessageType {
    name: "containerd.runc.v1.Options",
    fields: &[
        (1, "NoPivotRoot", Kind::Bool),
        (2, "NoNewKeyring", Kind::Bool),
        (3, "ShimCgroup", Kind::Text),
        (4, "IoUid", Kind::U32),
        (5, "IoGid", Kind::U32),
        (6, "BinaryName", Kind::Text),
        (7, "Root", Kind::Text),
        (8, "CriuPath", Kind::Text),
        (9, "SystemdCgroup", Kind::Bool),
        (10, "CriuImagePath", Kind::Text),
        (11, "CriuWorkPath", Kind::Text),
        (12, "TaskApiAddress", Kind::Text),
        (13, "TaskApiVersion", Kind::U32),
    ],
};

/// containerd's generic runtime options (pkg/runtimeoptions/v1/api.proto).
const GENERIC_OPTIONS: MessageType = MessageType {
    name: "runtimeoptions.v1.Options",
    fields: &[(1, "TypeUrl", Kind::Text), (2, "ConfigPath", Kind::Text)],
};

/// The legacy runc create options (runtime/linux/runctypes/runc.proto).
const LEGACY_CREATE_OPTIONS: MessageType = MessageType {
    name: "containerd.linux.runc.CreateOptions",
    fields: &[
        (1, "NoPivotRoot", Kind::Bool),
        (2, "OpenTcp", Kind::Bool),
        (3, "ExternalUnixSockets", Kind::Bool),
        (4, "Terminal", Kind::Bool),
        (5, "FileLocks", Kind::Bool),
        (6, "EmptyNamespaces", Kind::Text),
        (7, "CgroupsMode", Kind::Text),
        (8, "NoNewKeyring", Kind::Bool),
        (9, "ShimCgroup", Kind::Text),
        (10, "IoUid", Kind::U32),
        (11, "IoGid", Kind::U32),
        (12, "CriuWorkPath", Kind::Text),
        (13, "CriuImagePath", Kind::Text),
    ],
};

/// Decodes the options of a Create. `state_base` is where the shim keeps container state (the
/// only `Root` it accepts). No options at all is the default: nothing changes.
pub fn decode(options: Option<&Any>, state_base: &Path) -> Result<TaskOptions, OptionsError> {
    let Some(any) = options else {
        return Ok(TaskOptions::default());
    };
    // An Any's type URL is `[prefix/]full.message.Name`; containerd's typeurl sends the bare
    // name.
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    let ty = [&RUNC_OPTIONS, &GENERIC_OPTIONS, &LEGACY_CREATE_OPTIONS]
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| OptionsError::UnknownType {
            type_url: any.type_url.clone(),
        })?;
    let fields = read_fields(ty, &any.value)?;
    if ty.name == GENERIC_OPTIONS.name {
        return from_generic(&fields, state_base);
    }
    let mut opts = TaskOptions::default();
    let (mut uid, mut gid) = (0, 0);
    for (name, value) in fields {
        match (name, value) {
            ("NoPivotRoot", Value::Bool(b)) => opts.no_pivot_root = b,
            ("NoNewKeyring", Value::Bool(b)) => opts.no_new_keyring = b,
            ("SystemdCgroup", Value::Bool(b)) => opts.systemd_cgroup = b,
            ("IoUid", Value::U32(n)) => uid = n,
            ("IoGid", Value::U32(n)) => gid = n,
            ("Root", Value::Text(root)) => check_root(Path::new(&root), state_base)?,
            // The task API this shim serves (v2; 0 is "unset").
            ("TaskApiVersion", Value::U32(0 | 2)) => {}
            (name, value) => return Err(refused(name, value)),
        }
    }
    opts.io_owner = io_owner(uid, gid);
    Ok(opts)
}

/// `runtimeoptions.v1.Options`: the config file, if any.
fn from_generic(
    fields: &[(&'static str, Value)],
    state_base: &Path,
) -> Result<TaskOptions, OptionsError> {
    let mut config_path = None;
    for (name, value) in fields {
        match (*name, value) {
            ("ConfigPath", Value::Text(p)) => config_path = Some(PathBuf::from(p)),
            (name, value) => return Err(refused(name, value.clone())),
        }
    }
    match config_path {
        None => Ok(TaskOptions::default()),
        Some(path) => {
            let config = read_config(&path)?;
            from_config(&config, state_base)
        }
    }
}

/// Reads and parses the config file at `path`.
pub fn read_config(path: &Path) -> Result<ConfigFile, OptionsError> {
    let read = |source| OptionsError::ReadConfig {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut text = String::new();
    let n = std::io::Read::read_to_string(
        &mut std::io::Read::take(file, MAX_CONFIG_BYTES + 1),
        &mut text,
    )
    .map_err(read)?;
    if n as u64 > MAX_CONFIG_BYTES {
        return Err(OptionsError::ConfigTooLarge {
            path: path.to_path_buf(),
        });
    }
    toml::from_str(&text).map_err(|source| OptionsError::ParseConfig {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// The options a config file gives.
pub fn from_config(config: &ConfigFile, state_base: &Path) -> Result<TaskOptions, OptionsError> {
    if let Some(root) = &config.root {
        check_root(root, state_base)?;
    }
    let debug = match config.log_level.as_deref() {
        None | Some("info") => false,
        Some("debug") => true,
        Some(other) => {
            return Err(OptionsError::Unsupported {
                name: "log_level",
                value: format!("{other:?}"),
                reason: "berth's create log has two levels: \"debug\" and \"info\"".into(),
            })
        }
    };
    Ok(TaskOptions {
        no_pivot_root: config.no_pivot_root,
        no_new_keyring: config.no_new_keyring,
        systemd_cgroup: config.systemd_cgroup,
        io_owner: io_owner(config.io_uid, config.io_gid),
        debug,
    })
}

fn io_owner(uid: u32, gid: u32) -> Option<(u32, u32)> {
    (uid != 0 || gid != 0).then_some((uid, gid))
}

/// `Root` (runc's state root): the shim keeps every container's state under one base, so only
/// that base is accepted.
fn check_root(root: &Path, state_base: &Path) -> Result<(), OptionsError> {
    if root == state_base {
        return Ok(());
    }
    Err(OptionsError::Unsupported {
        name: "Root",
        value: format!("{:?}", root.display().to_string()),
        reason: format!(
            "berth's shim keeps container state in {}/<namespace> and takes no other root",
            state_base.display()
        ),
    })
}

/// The refusal of a field that is set and not applied.
fn refused(name: &'static str, value: Value) -> OptionsError {
    let reason = match name {
        "BinaryName" => "berth's shim runs containers with the berth library in-process, not with a runtime binary",
        "ShimCgroup" => "berth's shim does not move itself into another cgroup",
        "TaskApiAddress" | "TaskApiVersion" => {
            "berth's shim serves task API v2 on the socket containerd started it with, only"
        }
        "TypeUrl" => "berth reads its config file (ConfigPath) as its own TOML only; leave TypeUrl empty",
        "CriuPath" | "CriuImagePath" | "CriuWorkPath" | "OpenTcp" | "ExternalUnixSockets"
        | "Terminal" | "FileLocks" | "EmptyNamespaces" | "CgroupsMode" => {
            "berth's shim does not checkpoint or restore containers (the berth CLI does: docs/checkpoint.md)"
        }
        _ => "not supported by berth's shim",
    };
    OptionsError::Unsupported {
        name,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Reads the fields of a message of type `ty`, in wire order, keeping only those set (proto3:
/// a default value means unset). A field number not in the table is refused.
fn read_fields(ty: &MessageType, bytes: &[u8]) -> Result<Vec<(&'static str, Value)>, OptionsError> {
    let decode = |source| OptionsError::Decode {
        type_name: ty.name,
        source,
    };
    let mut input = CodedInputStream::from_bytes(bytes);
    let mut fields = Vec::new();
    while let Some(tag) = input.read_raw_tag_or_eof().map_err(decode)? {
        let (number, wire) = (tag >> 3, tag & 7);
        let Some(&(_, name, kind)) = ty.fields.iter().find(|(n, _, _)| *n == number) else {
            return Err(OptionsError::UnknownField {
                type_name: ty.name,
                number,
            });
        };
        let expected = match kind {
            Kind::Bool | Kind::U32 => WireType::Varint,
            Kind::Text => WireType::LengthDelimited,
        };
        if wire != expected as u32 {
            return Err(OptionsError::WireType {
                type_name: ty.name,
                name,
                wire_type: WireType::new(wire).unwrap_or(expected),
            });
        }
        let value = match kind {
            Kind::Bool => Value::Bool(input.read_bool().map_err(decode)?),
            Kind::U32 => Value::U32(input.read_uint32().map_err(decode)?),
            Kind::Text => Value::Text(input.read_string().map_err(decode)?),
        };
        if value.is_set() {
            fields.retain(|(n, _)| *n != name); // proto3: the last occurrence wins
            fields.push((name, value));
        }
    }
    Ok(fields)
}

#[cfg(test)]
#[path = "options_tests.rs"]
mod tests;
