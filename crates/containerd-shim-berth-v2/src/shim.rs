//! The shim binary's lifecycle verbs (containerd runtime v2 "start" and "delete") and the
//! daemon's construction.
//!
//! `start` prints only the socket address: one shim serves a whole pod, so a container whose
//! bundle carries `io.kubernetes.cri.sandbox-id` joins the shim of its sandbox when that shim
//! answers on its socket (runc's shim groups the same way).

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use berth_runtime::container;
use berth_runtime::state::Store;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::util::write_address;
use containerd_shim::{Config, DeleteResponse, ExitSignal, Flags, StartOpts};

use crate::events::Events;
use crate::service::{state_root, Exit, Service, ServiceConfig};
use crate::worker::Worker;

/// Where berth keeps container state for the shim, one directory per containerd namespace.
pub const STATE_BASE: &str = "/run/containerd/berth";

/// The annotation containerd's CRI puts on every container of a pod.
pub const SANDBOX_ID_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

/// The handle on the runtime worker, started in `main`.
pub static WORKER: OnceLock<Worker> = OnceLock::new();

pub struct BerthShim {
    exit: Arc<ExitSignal>,
    namespace: String,
    id: String,
    bundle: PathBuf,
    debug: bool,
    socket: String,
}

impl containerd_shim::Shim for BerthShim {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        let bundle = if args.bundle.is_empty() {
            std::env::current_dir().unwrap_or_default()
        } else {
            PathBuf::from(&args.bundle)
        };
        BerthShim {
            exit: Arc::new(ExitSignal::default()),
            namespace: args.namespace.clone(),
            id: args.id.clone(),
            bundle,
            debug: args.debug,
            socket: args.socket.clone(),
        }
    }

    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        let grouping = grouping_id(&self.bundle.join("config.json"), &opts.id);
        let address = containerd_shim::socket_address(&opts.address, &opts.namespace, &grouping);
        if is_serving(&address) {
            write_address(&address)?;
            return Ok(address);
        }
        let (_, address) = containerd_shim::spawn(opts, &grouping, Vec::new())?;
        write_address(&address)?;
        Ok(address)
    }

    /// Cleanup after a shim that is gone (killed, crashed): containerd runs `delete` in the
    /// bundle directory.
    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let store = Store::new(state_root(Path::new(STATE_BASE), &self.namespace));
        if let Err(e) = container::delete(&store, &self.id, true) {
            eprintln!(
                "delete container {:?}: {}",
                self.id,
                crate::error::chain(&e)
            );
        }
        crate::rootfs::unmount_rootfs(&self.bundle);
        // A shim that died could not remove its socket. containerd also runs `delete` after a
        // container of a live pod shim is removed, so the socket goes only if nobody answers.
        if let Ok(address) = std::fs::read_to_string(self.bundle.join("address")) {
            let address = address.trim();
            let path = address.trim_start_matches("unix://");
            let is_socket = std::fs::symlink_metadata(path)
                .map(|m| std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()))
                .unwrap_or(false);
            if is_socket && !is_serving(address) {
                let _ = std::fs::remove_file(path);
            }
        }
        let exit = Exit::now(128 + libc::SIGKILL);
        Ok(DeleteResponse {
            exit_status: exit.status,
            exited_at: containerd_shim::protos::protobuf::MessageField::some(exit.timestamp()),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
    }

    /// `publisher` (the crate's connection to containerd) is dropped: events.rs forwards events
    /// on a connection of its own.
    fn create_task_service(&self, _publisher: RemotePublisher) -> Service {
        let config = ServiceConfig {
            namespace: self.namespace.clone(),
            root: state_root(Path::new(STATE_BASE), &self.namespace),
            debug: self.debug,
            socket: self.socket.clone(),
        };
        let events = Events::start(self.namespace.clone());
        Service::new(config, WORKER.get(), events, self.exit.clone())
    }
}

/// The id the shim is grouped by: the pod's sandbox id for CRI containers, else the task id.
pub fn grouping_id(config: &Path, id: &str) -> String {
    berth_runtime::bundle::read_bounded(config)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| {
            v.get("annotations")?
                .get(SANDBOX_ID_ANNOTATION)?
                .as_str()
                .map(str::to_string)
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| id.to_string())
}

/// Whether a shim already answers on `address`.
fn is_serving(address: &str) -> bool {
    let path = address.strip_prefix("unix://").unwrap_or(address);
    UnixStream::connect(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_group_by_sandbox_id() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.json");
        std::fs::write(
            &cfg,
            r#"{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1","x":"y"}}"#,
        )
        .unwrap();
        assert_eq!(grouping_id(&cfg, "c2"), "pod1");
        std::fs::write(&cfg, r#"{"annotations":{}}"#).unwrap();
        assert_eq!(grouping_id(&cfg, "c2"), "c2");
        assert_eq!(grouping_id(&dir.path().join("missing"), "c3"), "c3");
    }
}
