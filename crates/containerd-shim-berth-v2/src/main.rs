//! containerd-shim-berth-v2: a containerd runtime v2 shim (task API v2, containerd 1.6, 1.7
//! and 2.x) that runs containers with the berth runtime library in-process — no `berth` CLI
//! is executed per request.
//!
//! Process model (docs/containerd.md draws it):
//!
//! - `containerd-shim-berth-v2 start`: groups by pod (the `io.kubernetes.cri.sandbox-id`
//!   annotation), reuses a running shim of the pod or spawns the daemon, prints the socket
//!   address and exits.
//! - the daemon: first `main` starts the **runtime worker** (`worker.rs`: the shim's own
//!   binary re-executed in the hidden `runtime-worker` mode, on one end of a socketpair), which
//!   performs the library operations that fork (create, exec), and is replaced if it dies. Then the
//!   containerd-shim crate sets PR_SET_CHILD_SUBREAPER, starts its SIGCHLD reaper and the ttrpc
//!   server, and the task service (`service.rs`) answers containerd. Container inits end up as
//!   the daemon's children (they are orphaned when the worker's short-lived create child
//!   exits), so the daemon reaps them and reports exact exit statuses; exec'd processes
//!   likewise (`service_exec.rs`). Terminals come back over a console socket the shim listens
//!   on (`console.rs`); stats and Update's resources are converted in `metrics.rs`.
//! - `containerd-shim-berth-v2 delete`: cleanup after a lost shim (force-delete the container,
//!   unmount its rootfs), DeleteResponse on stdout.
//! - `containerd-shim-berth-v2 -info`: containerd 2.x's RuntimeInfo on stdout (`info.rs`).
//!
//! A Create's runtime options (`CreateTaskRequest.options`) are decoded in `options.rs`.

mod console;
mod error;
mod events;
mod info;
mod metrics;
mod oom;
mod options;
mod rootfs;
mod service;
mod shim;
mod stdio;
mod sys;
mod worker;

/// The runtime name containerd maps to this binary.
const RUNTIME_ID: &str = "io.containerd.berth.v2";

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The runtime worker the daemon started (never containerd: its flags come first).
    if args.get(1).is_some_and(|a| a == worker::WORKER_ARG) {
        worker::serve_inherited();
    }
    let flags = containerd_shim::parse(&args[1..]).unwrap_or_default();
    // containerd 2.x's runtime introspection (info.rs): options on stdin, RuntimeInfo on stdout.
    if flags.info {
        if let Err(e) = info::run(RUNTIME_ID, std::path::Path::new(shim::STATE_BASE)) {
            eprintln!("{RUNTIME_ID}: {}", error::chain(&e));
            std::process::exit(1);
        }
        return;
    }
    if flags.version {
        println!(
            "{RUNTIME_ID} (containerd-shim-berth-v2) {}",
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    // Only the daemon needs the worker. It is started here, not at the first Create, so that
    // the Create does not wait for the exec.
    if flags.action.is_empty() && !flags.socket.is_empty() {
        sys::one_malloc_arena();
        match worker::Worker::start(Box::new(worker::ExecSelf::new())) {
            Ok(w) => {
                let _ = shim::WORKER.set(w);
                worker::retire_when_idle(shim::WORKER.get().expect("just set"));
            }
            Err(e) => {
                eprintln!("{RUNTIME_ID}: {}", error::chain(&e));
                std::process::exit(1);
            }
        }
    }
    containerd_shim::run::<shim::BerthShim>(RUNTIME_ID, None);
}
