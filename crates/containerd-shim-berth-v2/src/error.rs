//! The shim's errors and their ttrpc status codes.
//!
//! containerd tells errors apart by gRPC code (errdefs): NotFound for an unknown task or exec,
//! AlreadyExists for a duplicate id, FailedPrecondition for an operation the task's state
//! forbids, Unimplemented for what this shim cannot do yet. The message is the whole error
//! chain, printed once.

use containerd_shim::protos::ttrpc::{self, Code};

use crate::console::ConsoleError;
use crate::metrics::MetricsError;
use crate::options::OptionsError;
use crate::worker::{FailKind, WorkerError};

/// One variant per failed operation, carrying the id or path involved.
#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("task {0:?} not found")]
    TaskNotFound(String),
    #[error("exec {exec_id:?} of task {id:?} not found")]
    ExecNotFound { id: String, exec_id: String },
    #[error("task {0:?} already exists")]
    TaskExists(String),
    #[error("exec {exec_id:?} of task {id:?} already exists")]
    ExecExists { id: String, exec_id: String },
    #[error("exec {exec_id:?} in task {id:?}: write the process spec {path}")]
    ExecSpec {
        id: String,
        exec_id: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("exec {exec_id:?} in task {id:?}: the process spec is not runtime-spec process JSON")]
    ExecSpecJson {
        id: String,
        exec_id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("terminal of task {id:?}")]
    Console {
        id: String,
        #[source]
        source: ConsoleError,
    },
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("{op} task {id:?}: {reason}")]
    Precondition {
        op: &'static str,
        id: String,
        reason: String,
    },
    #[error("{op}: {what}")]
    Unimplemented {
        op: &'static str,
        what: &'static str,
    },
    #[error("{op} task {id:?}: {kind:?}: {message}")]
    Runtime {
        op: &'static str,
        id: String,
        kind: FailKind,
        message: String,
    },
    #[error("mount the rootfs of task {id:?} on {target}")]
    Mount {
        id: String,
        target: String,
        #[source]
        source: nix::Error,
    },
    #[error("task {id:?}: unsupported rootfs: {reason}")]
    RootfsInput { id: String, reason: String },
    #[error("set up {stream} of task {id:?} from {uri:?}")]
    Stdio {
        id: String,
        stream: &'static str,
        uri: String,
        #[source]
        source: std::io::Error,
    },
    #[error("task {id:?}: {uri:?} is not a stdio address this shim understands")]
    StdioUri { id: String, uri: String },
    /// The task's runtime options (`CreateTaskRequest.options`) ask for what berth does not do.
    #[error("{op} task {id:?}")]
    Options {
        op: &'static str,
        id: String,
        #[source]
        source: OptionsError,
    },
    #[error(
        "set the owner of the stdio of task {id:?} to {uid}:{gid} (runtime options IoUid/IoGid)"
    )]
    IoOwner {
        id: String,
        uid: u32,
        gid: u32,
        #[source]
        source: nix::Error,
    },
    #[error("{op} task {id:?}")]
    Worker {
        op: &'static str,
        id: String,
        #[source]
        source: WorkerError,
    },
}

impl ShimError {
    /// The ttrpc code containerd expects for this error.
    pub fn code(&self) -> Code {
        match self {
            ShimError::TaskNotFound(_) | ShimError::ExecNotFound { .. } => Code::NOT_FOUND,
            ShimError::TaskExists(_) | ShimError::ExecExists { .. } => Code::ALREADY_EXISTS,
            ShimError::ExecSpecJson { .. } => Code::INVALID_ARGUMENT,
            ShimError::ExecSpec { .. } | ShimError::Console { .. } => Code::INTERNAL,
            ShimError::Metrics(MetricsError::Encode { .. }) => Code::INTERNAL,
            ShimError::Metrics(_) => Code::INVALID_ARGUMENT,
            ShimError::Precondition { .. } => Code::FAILED_PRECONDITION,
            ShimError::Unimplemented { .. } => Code::UNIMPLEMENTED,
            ShimError::Runtime { kind, .. } => match kind {
                FailKind::InvalidArgument => Code::INVALID_ARGUMENT,
                FailKind::AlreadyExists => Code::ALREADY_EXISTS,
                FailKind::NotFound => Code::NOT_FOUND,
                FailKind::FailedPrecondition => Code::FAILED_PRECONDITION,
                FailKind::Internal => Code::INTERNAL,
            },
            ShimError::Mount { .. } => Code::INTERNAL,
            ShimError::RootfsInput { .. } | ShimError::StdioUri { .. } => Code::INVALID_ARGUMENT,
            ShimError::Stdio { .. } => Code::INTERNAL,
            ShimError::Worker { .. } => Code::INTERNAL,
            ShimError::Options {
                source: OptionsError::ReadConfig { .. },
                ..
            } => Code::FAILED_PRECONDITION,
            ShimError::Options { .. } => Code::INVALID_ARGUMENT,
            ShimError::IoOwner { .. } => Code::INTERNAL,
        }
    }
}

impl From<ShimError> for ttrpc::Error {
    fn from(e: ShimError) -> ttrpc::Error {
        ttrpc::Error::RpcStatus(ttrpc::get_status(e.code(), chain(&e)))
    }
}

/// The error and its sources joined with ": ", each message once.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let msg = s.to_string();
        if !msg.is_empty() && !out.ends_with(&msg) {
            out.push_str(": ");
            out.push_str(&msg);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_errdefs() {
        assert_eq!(ShimError::TaskNotFound("a".into()).code(), Code::NOT_FOUND);
        assert_eq!(
            ShimError::Unimplemented {
                op: "exec",
                what: "x"
            }
            .code(),
            Code::UNIMPLEMENTED
        );
        assert_eq!(
            ShimError::TaskExists("a".into()).code(),
            Code::ALREADY_EXISTS
        );
    }

    #[test]
    fn chain_joins_sources_once() {
        let e = ShimError::Mount {
            id: "c1".into(),
            target: "/b/rootfs".into(),
            source: nix::Error::EPERM,
        };
        assert_eq!(
            chain(&e),
            "mount the rootfs of task \"c1\" on /b/rootfs: EPERM: Operation not permitted"
        );
    }
}
