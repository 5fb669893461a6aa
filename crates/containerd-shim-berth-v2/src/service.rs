//! The task service (containerd's `containerd.task.v2.Task`): one shim serves every task of a
//! pod, keyed by container id.
//!
//! Exit statuses are exact: the shim is the subreaper that reaps every container init (see
//! `worker.rs`), the containerd-shim crate's SIGCHLD thread turns each reaped child into an
//! exit event (`128 + signal` for a signal, as runc's shim), and [`Service::on_exit`] records it
//! on the task before any `Wait` returns.
//!
//! Event order: each task's events are sent while its lock is held, into one queue drained by
//! one publisher thread, so TaskCreate → TaskStart → TaskExit → TaskDelete reach containerd in
//! that order even when a process exits the instant it starts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_runtime::container;
use berth_runtime::state::{ContainerId, Store};
use containerd_shim::monitor::{monitor_subscribe, Subject, Topic};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExit, TaskIO, TaskOOM, TaskPaused, TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::{api, ExitSignal, Task, TtrpcContext, TtrpcResult};

use crate::console::{Console, ConsoleListener};
use crate::error::ShimError;
use crate::events::Events;
use crate::options;
use crate::rootfs::{self, RootMount};
use crate::stdio::{self, Stdio};
use crate::worker::{PlanFlags, Reply, Request, Worker, WorkerError};

/// Unclaimed exits kept for inits whose Create has not returned yet; older ones are dropped.
const MAX_UNCLAIMED: usize = 1024;
/// How long Shutdown waits for queued events to reach containerd.
const EVENT_FLUSH: Duration = Duration::from_secs(5);
/// How long Delete waits for the reaper to record the exit of a killed, never-started init.
const DELETE_REAP_WAIT: Duration = Duration::from_secs(5);

/// An exit status with its time, as containerd wants it.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub status: u32,
    pub secs: i64,
    pub nanos: i32,
}

impl Exit {
    pub fn now(status: i32) -> Exit {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Exit {
            status: status as u32,
            secs: d.as_secs() as i64,
            nanos: d.subsec_nanos() as i32,
        }
    }

    pub fn timestamp(&self) -> Timestamp {
        Timestamp {
            seconds: self.secs,
            nanos: self.nanos,
            ..Default::default()
        }
    }
}

/// What the shim keeps of one process it runs, a task's init or an exec'd process: the part
/// of a task and of an exec that is the same, kept and changed in one place.
#[derive(Debug, Default)]
struct Proc {
    exit: Option<Exit>,
    /// Deleted: waiters are released without an exit.
    deleted: bool,
    io: Stdio,
    /// The process's terminal (`terminal: true`).
    console: Option<Console>,
}

impl Proc {
    /// Records the exit unless one is recorded already (false then). The process's copies of
    /// its output are gone with it, so its clients read EOF; a stdin copy still waiting for
    /// its client is released.
    fn record_exit(&mut self, exit: Exit) -> bool {
        if self.exit.is_some() {
            return false;
        }
        self.exit = Some(exit);
        self.io.out_holders.clear();
        self.close_stdin();
        true
    }

    /// Releases a stdin copy whose client never attached (CloseIO, exit, delete).
    fn close_stdin(&mut self) {
        if let Some(path) = self.io.stdin_path.take() {
            stdio::unblock_stdin(&path);
        }
    }

    /// Forgets the process at Delete: its stdio and terminal are closed and its waiters
    /// released.
    fn forget(&mut self) {
        self.deleted = true;
        self.close_stdin();
        self.io = Stdio::default();
        self.console = None;
    }

    /// The exit status and time containerd's responses carry (0 and none before the exit).
    fn exit_fields(&self) -> (u32, MessageField<Timestamp>) {
        match self.exit {
            Some(e) => (e.status, MessageField::some(e.timestamp())),
            None => (0, MessageField::none()),
        }
    }
}

/// Waits on `changed` until the process `proc_of` picks out of the guarded state has exited
/// or was deleted. Unbounded by design: Wait lasts as long as the process (docs/waits-and-locks.md).
fn wait_for_exit<'a, S>(
    changed: &Condvar,
    guard: MutexGuard<'a, S>,
    proc_of: impl Fn(&S) -> &Proc,
) -> MutexGuard<'a, S> {
    changed
        .wait_while(guard, |s| {
            let p = proc_of(s);
            p.exit.is_none() && !p.deleted
        })
        .unwrap_or_else(|e| e.into_inner())
}

/// containerd's reply to a Wait, from the recorded exit.
fn wait_response(exit: Exit) -> api::WaitResponse {
    api::WaitResponse {
        exit_status: exit.status,
        exited_at: MessageField::some(exit.timestamp()),
        ..Default::default()
    }
}

/// containerd's reply to a Delete of process `pid` that ended with `exit`.
fn delete_response(pid: i32, exit: Exit) -> api::DeleteResponse {
    api::DeleteResponse {
        pid: pid as u32,
        exit_status: exit.status,
        exited_at: MessageField::some(exit.timestamp()),
        ..Default::default()
    }
}

/// A process handed to the runtime worker ([`Service::launch`]).
struct Launched {
    io: Stdio,
    listener: Option<ConsoleListener>,
    reply: Result<Reply, WorkerError>,
}

/// The mutable part of one task.
#[derive(Debug, Default)]
struct TaskState {
    /// The init: its exit, stdio and terminal.
    init: Proc,
    started: bool,
    /// A Start is in the library, without this mutex held (see `do_start`).
    starting: bool,
    /// A Delete is in the library, without this mutex held (see `do_delete`).
    deleting: bool,
    /// The init's exit seen while `starting`: recorded once the Start has sent TaskStart, so
    /// that containerd never sees a task exit before it started.
    exit_during_start: Option<Exit>,
    /// TaskOOM was sent (by the OOM watch, oom.rs): not again at the init's exit.
    oom_reported: bool,
}

/// One container this shim runs.
#[derive(Debug)]
struct TaskEntry {
    id: String,
    bundle: PathBuf,
    pid: i32,
    stdin: String,
    stdout: String,
    stderr: String,
    mounted: bool,
    terminal: bool,
    /// IoUid/IoGid of the task's runtime options: the owner of its processes' stdio.
    io_owner: Option<(u32, u32)>,
    state: Mutex<TaskState>,
    changed: Condvar,
    /// Exec'd processes by exec id (`service_exec.rs`); locked after `state`, never before.
    execs: Mutex<HashMap<String, Arc<exec::ExecEntry>>>,
}

impl TaskEntry {
    fn lock(&self) -> MutexGuard<'_, TaskState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Default)]
struct Table {
    tasks: HashMap<String, Arc<TaskEntry>>,
    /// Exits of pids no task claims (yet): an init can die before its Create returns.
    unclaimed: HashMap<i32, Exit>,
    /// Running exec'd processes: pid → (task id, exec id).
    exec_pids: HashMap<i32, (String, String)>,
}

/// Configuration the service needs from the shim's command line.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub namespace: String,
    /// berth's state root for this namespace.
    pub root: PathBuf,
    pub debug: bool,
    /// The shim's ttrpc socket (`unix:///run/containerd/s/…`), removed on Shutdown.
    pub socket: String,
}

/// The task service.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    config: ServiceConfig,
    store: Store,
    worker: Option<&'static Worker>,
    events: Events,
    exit: Arc<ExitSignal>,
    table: Mutex<Table>,
    /// The containers' memory.events watch (cgroup v2; unset if inotify failed).
    oom: std::sync::OnceLock<Arc<crate::oom::OomWatch>>,
}

impl Service {
    /// Builds the service and starts the thread that records exits.
    pub fn new(
        config: ServiceConfig,
        worker: Option<&'static Worker>,
        events: Events,
        exit: Arc<ExitSignal>,
    ) -> Service {
        let service = Service {
            inner: Arc::new(Inner {
                store: Store::new(&config.root),
                config,
                worker,
                events,
                exit,
                table: Mutex::new(Table::default()),
                oom: std::sync::OnceLock::new(),
            }),
        };
        let s = service.clone();
        match crate::oom::OomWatch::start(move |id| s.on_oom(id)) {
            Ok(watch) => {
                let _ = service.inner.oom.set(watch);
            }
            Err(e) => containerd_shim::warn!(
                "inotify for the OOM watch: {e}; OOM kills are read when a task exits"
            ),
        }
        match monitor_subscribe(Topic::Pid) {
            Ok(sub) => {
                let s = service.clone();
                std::thread::Builder::new()
                    .name("exits".into())
                    .spawn(move || {
                        for ev in sub.rx.iter() {
                            if let Subject::Pid(pid) = ev.subject {
                                s.on_exit(pid, ev.exit_code);
                            }
                        }
                    })
                    .expect("spawn the exit thread");
            }
            Err(e) => containerd_shim::error!("subscribe to exits: {e}"),
        }
        service
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.inner.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn task(&self, id: &str) -> Result<Arc<TaskEntry>, ShimError> {
        self.table()
            .tasks
            .get(id)
            .cloned()
            .ok_or_else(|| ShimError::TaskNotFound(id.to_string()))
    }

    /// Records the exit of a reaped child: a task's init, or (kept for a while) an unknown pid.
    pub fn on_exit(&self, pid: i32, code: i32) {
        // A runtime worker's exit belongs to the worker handle, which replaces it.
        if self.inner.worker.is_some_and(|w| w.claim_exit(pid, code)) {
            // Status 0 is a worker that read EOF: one retired while idle (Worker::retire_idle).
            if code == 0 {
                containerd_shim::debug!("the runtime worker {pid} exited");
            } else {
                containerd_shim::warn!("the runtime worker {pid} exited with {code}");
            }
            return;
        }
        let exit = Exit::now(code);
        let task = {
            let mut table = self.table();
            if let Some((id, exec_id)) = table.exec_pids.remove(&pid) {
                let task = table.tasks.get(&id).cloned();
                drop(table);
                if let Some(task) = task {
                    self.record_exec_exit(&task, &exec_id, exit);
                }
                return;
            }
            let task = table.tasks.values().find(|t| t.pid == pid).cloned();
            if task.is_none() {
                if table.unclaimed.len() >= MAX_UNCLAIMED {
                    table.unclaimed.clear();
                }
                table.unclaimed.insert(pid, exit);
            }
            task
        };
        if let Some(task) = task {
            self.record_exit(&task, exit);
        }
    }

    /// Records a task's exit. Called by the thread that records every exit, which must never
    /// wait behind one task's request: when the task's mutex is held (a Delete running poststop
    /// hooks, a Pause or Update waiting for the container's lock), a thread of its own records
    /// this exit once the holder is done.
    fn record_exit(&self, task: &Arc<TaskEntry>, exit: Exit) {
        let st = match task.state.try_lock() {
            Ok(st) => st,
            Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {
                let (service, entry) = (self.clone(), task.clone());
                let later = std::thread::Builder::new()
                    .name("exit".into())
                    .spawn(move || service.record_exit_locked(&entry, entry.lock(), exit));
                if later.is_err() {
                    self.record_exit_locked(task, task.lock(), exit);
                }
                return;
            }
        };
        self.record_exit_locked(task, st, exit);
    }

    /// The OOM watch saw container `id`'s `oom_kill` count grow: TaskOOM now, as the runc
    /// shim sends it, while the task runs.
    fn on_oom(&self, id: &str) {
        let task = self.table().tasks.get(id).cloned();
        let Some(task) = task else { return };
        let mut st = task.lock();
        if st.init.exit.is_some() {
            return; // the exit path has decided already
        }
        st.oom_reported = true;
        self.inner.events.send(TaskOOM {
            container_id: id.to_string(),
            ..Default::default()
        });
    }

    /// Starts watching the created container's memory.events (see oom.rs).
    fn watch_oom(&self, id: &str) {
        let (Some(watch), Ok(cid)) = (self.inner.oom.get(), ContainerId::new(id)) else {
            return;
        };
        if let Some(plan) = self.inner.store.read(&cid).ok().and_then(|s| s.cgroup) {
            watch.watch(id, &plan);
        }
    }

    fn record_exit_locked(&self, task: &TaskEntry, mut st: MutexGuard<'_, TaskState>, exit: Exit) {
        if st.starting {
            st.exit_during_start.get_or_insert(exit);
            return;
        }
        if !st.init.record_exit(exit) {
            return;
        }
        if !st.oom_reported && self.oom_killed(&task.id) {
            self.inner.events.send(TaskOOM {
                container_id: task.id.clone(),
                ..Default::default()
            });
        }
        self.inner.events.send(TaskExit {
            container_id: task.id.clone(),
            id: task.id.clone(),
            pid: task.pid as u32,
            exit_status: exit.status,
            exited_at: MessageField::some(exit.timestamp()),
            ..Default::default()
        });
        task.changed.notify_all();
    }

    fn oom_killed(&self, id: &str) -> bool {
        let Ok(cid) = ContainerId::new(id) else {
            return false;
        };
        self.inner
            .store
            .read(&cid)
            .ok()
            .and_then(|s| s.cgroup)
            .is_some_and(|plan| crate::oom::oom_kills(&plan) > 0)
    }

    fn runtime_err(op: &'static str, id: &str, e: &container::ContainerError) -> ShimError {
        ShimError::Runtime {
            op,
            id: id.to_string(),
            kind: crate::worker::fail_kind(e),
            message: crate::error::chain(e),
        }
    }

    fn do_create(
        &self,
        req: &api::CreateTaskRequest,
    ) -> Result<api::CreateTaskResponse, ShimError> {
        let id = req.id.clone();
        if self.table().tasks.contains_key(&id) {
            return Err(ShimError::TaskExists(id));
        }
        if !req.checkpoint.is_empty() {
            return Err(ShimError::Unimplemented {
                op: "create from a checkpoint",
                what: "berth's shim does not checkpoint or restore (the berth CLI does)",
            });
        }
        let worker = self.inner.worker.ok_or_else(|| ShimError::Precondition {
            op: "create",
            id: id.clone(),
            reason: "the runtime worker is not running".into(),
        })?;
        // Decoded and checked before anything exists: a refused option leaves nothing to undo.
        let state_base = self.inner.config.root.parent().unwrap_or(Path::new("/"));
        let options = options::decode(req.options.as_ref(), state_base).map_err(|source| {
            ShimError::Options {
                op: "create",
                id: id.clone(),
                source,
            }
        })?;
        stdio::check_owner("create", &id, options.io_owner, req.terminal, &req.stdout)?;
        let bundle = PathBuf::from(&req.bundle);
        let mounts: Vec<RootMount> = req
            .rootfs
            .iter()
            .map(|m| RootMount {
                fstype: m.type_.clone(),
                source: m.source.clone(),
                options: m.options.clone(),
            })
            .collect();
        let mounted = rootfs::mount_rootfs(&id, &bundle, &mounts)?;
        let undo_mount = |e: ShimError| {
            if mounted {
                rootfs::unmount_rootfs(&bundle);
            }
            e
        };
        let Launched {
            mut io,
            listener,
            reply,
        } = self
            .launch(
                worker,
                &id,
                [&req.stdin, &req.stdout, &req.stderr],
                req.terminal,
                options.io_owner,
                |stdio, console_socket| Request::Create {
                    root: self.inner.config.root.clone(),
                    id: id.clone(),
                    bundle: bundle.clone(),
                    log: bundle.join("log.json"),
                    debug: self.inner.config.debug || options.debug,
                    stdio,
                    console_socket,
                    plan: PlanFlags {
                        no_pivot: options.no_pivot_root,
                        no_new_keyring: options.no_new_keyring,
                        systemd_cgroup: options.systemd_cgroup,
                    },
                },
            )
            .map_err(undo_mount)?;
        let pid = match reply {
            Ok(Reply::Created { pid }) => pid,
            Ok(Reply::Failed { kind, message }) => {
                return Err(undo_mount(ShimError::Runtime {
                    op: "create",
                    id,
                    kind,
                    message,
                }))
            }
            Err(source) => {
                if matches!(source, WorkerError::Died { .. }) {
                    // The create child died with the worker, perhaps after creating the
                    // container: remove what it left (the forced delete waits for its lock).
                    let _ = container::delete(&self.inner.store, &id, true);
                }
                return Err(undo_mount(ShimError::Worker {
                    op: "create",
                    id,
                    source,
                }));
            }
        };
        let console = match &listener {
            Some(l) => match exec::attach_console(&id, l, &mut io) {
                Ok(c) => Some(c),
                Err(e) => {
                    // The init exists but nobody could ever talk to it: undo the create.
                    let _ = container::delete(&self.inner.store, &id, true);
                    return Err(undo_mount(e));
                }
            },
            None => None,
        };
        drop(listener);
        // The container holds its own copies now.
        io.container = Default::default();
        let task = Arc::new(TaskEntry {
            id: id.clone(),
            bundle,
            pid,
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            mounted,
            terminal: req.terminal,
            io_owner: options.io_owner,
            state: Mutex::new(TaskState {
                init: Proc {
                    io,
                    console,
                    ..Default::default()
                },
                ..Default::default()
            }),
            changed: Condvar::new(),
            execs: Mutex::new(HashMap::new()),
        });
        let early = self.register(task.clone());
        self.watch_oom(&id);
        {
            let _st = task.lock(); // TaskCreate before a TaskExit of an init that died already
            self.inner.events.send(TaskCreate {
                container_id: id.clone(),
                bundle: req.bundle.clone(),
                rootfs: req.rootfs.clone(),
                io: MessageField::some(TaskIO {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                    ..Default::default()
                }),
                pid: pid as u32,
                ..Default::default()
            });
        }
        if let Some(exit) = early {
            self.record_exit(&task, exit);
        }
        containerd_shim::info!("created task {id} with init pid {pid}");
        Ok(api::CreateTaskResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    /// What a Create and an exec Start share: opens the process's stdio (containerd's FIFOs),
    /// gives it the owner `io_owner` (IoUid/IoGid, checked by `stdio::check_owner`) asks for and, for a terminal, the socket its
    /// pty master will arrive on, then sends the worker the request `request` makes of them
    /// (which stdio fds are attached, the console socket), with the fds attached. A
    /// terminal's process gets the pty as its stdio, so none of ours goes to it.
    fn launch(
        &self,
        worker: &Worker,
        label: &str,
        [stdin, stdout, stderr]: [&str; 3],
        terminal: bool,
        io_owner: Option<(u32, u32)>,
        request: impl FnOnce([bool; 3], Option<PathBuf>) -> Request,
    ) -> Result<Launched, ShimError> {
        let io = stdio::open_stdio(label, &self.inner.config.namespace, stdin, stdout, stderr)?;
        if let Some((uid, gid)) = io_owner {
            io.set_owner(uid, gid)
                .map_err(|source| ShimError::IoOwner {
                    id: label.to_string(),
                    uid,
                    gid,
                    source,
                })?;
        }
        let listener = match terminal {
            true => Some(
                ConsoleListener::new(&std::env::temp_dir()).map_err(|source| {
                    ShimError::Console {
                        id: label.to_string(),
                        source,
                    }
                })?,
            ),
            false => None,
        };
        let (fds, present) = match terminal {
            true => (Vec::new(), [false; 3]),
            false => io.for_worker(),
        };
        let socket = listener.as_ref().map(|l| l.path().to_path_buf());
        let reply = worker.call(&request(present, socket), &fds);
        drop(fds);
        Ok(Launched {
            io,
            listener,
            reply,
        })
    }

    /// Adds a task to the table and returns the exit its init already had, if the reaper saw
    /// it first. Under the table lock, so an exit cannot slip between the check and the insert.
    fn register(&self, task: Arc<TaskEntry>) -> Option<Exit> {
        let mut table = self.table();
        let early = table.unclaimed.remove(&task.pid);
        table.tasks.insert(task.id.clone(), task);
        early
    }

    fn do_start(&self, req: &api::StartRequest) -> Result<api::StartResponse, ShimError> {
        if !req.exec_id.is_empty() {
            return self.start_exec(&req.id, &req.exec_id);
        }
        let task = self.task(&req.id)?;
        let refuse = |reason: &str| ShimError::Precondition {
            op: "start",
            id: req.id.clone(),
            reason: reason.to_string(),
        };
        {
            let mut st = task.lock();
            if st.init.exit.is_some() {
                return Err(refuse("the task has exited"));
            }
            if st.started {
                return Err(refuse("the task is already started"));
            }
            if st.starting {
                return Err(refuse("the task is being started"));
            }
            if st.deleting {
                return Err(refuse("the task is being deleted"));
            }
            st.starting = true;
        }
        // Without the task's mutex: the init's startContainer hooks may run without a
        // timeout, and State, Kill and the task's exit must not wait behind them
        // (docs/waits-and-locks.md). An exit meanwhile is recorded after TaskStart.
        let started = container::release(&self.inner.store, &req.id);
        let mut st = task.lock();
        st.starting = false;
        if started.is_ok() {
            st.started = true;
            self.inner.events.send(TaskStart {
                container_id: req.id.clone(),
                pid: task.pid as u32,
                ..Default::default()
            });
        }
        let early = st.exit_during_start.take();
        drop(st);
        if let Some(exit) = early {
            self.record_exit(&task, exit);
        }
        // The poststart hooks run once the task is reported started: an exit during them (a
        // Kill of a task whose hook hangs) is reported as it happens.
        started
            .map_err(|e| Self::runtime_err("start", &req.id, &e))?
            .run_poststart();
        Ok(api::StartResponse {
            pid: task.pid as u32,
            ..Default::default()
        })
    }

    fn do_state(&self, req: &api::StateRequest) -> Result<api::StateResponse, ShimError> {
        if !req.exec_id.is_empty() {
            return self.state_exec(&req.id, &req.exec_id);
        }
        let task = self.task(&req.id)?;
        let st = task.lock();
        let status = match (&st.init.exit, st.started) {
            (Some(_), _) => api::Status::STOPPED,
            (None, _) if self.is_paused(&req.id) => api::Status::PAUSED,
            (None, true) => api::Status::RUNNING,
            (None, false) => api::Status::CREATED,
        };
        let (exit_status, exited_at) = st.init.exit_fields();
        Ok(api::StateResponse {
            id: task.id.clone(),
            bundle: task.bundle.display().to_string(),
            pid: task.pid as u32,
            status: status.into(),
            stdin: task.stdin.clone(),
            stdout: task.stdout.clone(),
            stderr: task.stderr.clone(),
            terminal: task.terminal,
            exit_status,
            exited_at,
            ..Default::default()
        })
    }

    fn do_kill(&self, req: &api::KillRequest) -> Result<(), ShimError> {
        if !req.exec_id.is_empty() {
            return self.kill_exec(&req.id, &req.exec_id, req.signal as i32);
        }
        let task = self.task(&req.id)?;
        let finished = || ShimError::TaskNotFound(format!("{}: process already finished", req.id));
        if task.lock().init.exit.is_some() {
            return Err(finished());
        }
        match container::kill(&self.inner.store, &req.id, req.signal as i32, req.all) {
            Ok(()) => Ok(()),
            // Exited but not reaped yet: for containerd that is a finished process too.
            Err(
                container::ContainerError::WrongState { .. }
                | container::ContainerError::NotRunning { .. },
            ) => Err(finished()),
            Err(e) => Err(Self::runtime_err("kill", &req.id, &e)),
        }
    }

    fn do_delete(&self, req: &api::DeleteRequest) -> Result<api::DeleteResponse, ShimError> {
        if !req.exec_id.is_empty() {
            return self.delete_exec(&req.id, &req.exec_id);
        }
        let task = self.task(&req.id)?;
        let refuse = |reason: &str| ShimError::Precondition {
            op: "delete",
            id: req.id.clone(),
            reason: reason.to_string(),
        };
        {
            let mut st = task.lock();
            if st.starting {
                return Err(refuse("the task is being started; kill it first"));
            }
            if st.deleting {
                return Err(refuse("the task is being deleted"));
            }
            if st.init.exit.is_none() && st.started {
                return Err(refuse("the task is running; kill it first"));
            }
            st.deleting = true;
        }
        // Created and never started (or exited): the library kills what is left, runs the
        // poststop hooks and removes the state and the cgroup. Without the task's mutex: a
        // poststop hook may run without a timeout, and Kill and State must not wait behind it.
        let deleted = container::delete(&self.inner.store, &req.id, true);
        if deleted.is_ok() {
            if let Some(watch) = self.inner.oom.get() {
                watch.unwatch(&req.id);
            }
        }
        let mut st = task.lock();
        if let Err(e) = deleted {
            st.deleting = false;
            return Err(Self::runtime_err("delete", &req.id, &e));
        }
        if st.init.exit.is_none() {
            let (guard, _) = task
                .changed
                .wait_timeout_while(st, DELETE_REAP_WAIT, |s| s.init.exit.is_none())
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
        }
        if task.mounted {
            rootfs::unmount_rootfs(&task.bundle);
        }
        let exit = st
            .init
            .exit
            .unwrap_or_else(|| Exit::now(128 + libc::SIGKILL));
        st.init.forget();
        self.forget_execs(&task);
        self.table().tasks.remove(&req.id);
        self.inner.events.send(TaskDelete {
            container_id: req.id.clone(),
            id: req.id.clone(),
            pid: task.pid as u32,
            exit_status: exit.status,
            exited_at: MessageField::some(exit.timestamp()),
            ..Default::default()
        });
        task.changed.notify_all();
        Ok(delete_response(task.pid, exit))
    }

    fn do_wait(&self, req: &api::WaitRequest) -> Result<api::WaitResponse, ShimError> {
        if !req.exec_id.is_empty() {
            return self.wait_exec(&req.id, &req.exec_id);
        }
        let task = self.task(&req.id)?;
        let st = wait_for_exit(&task.changed, task.lock(), |s| &s.init);
        let exit = st
            .init
            .exit
            .ok_or_else(|| ShimError::TaskNotFound(req.id.clone()))?;
        Ok(wait_response(exit))
    }

    fn do_pids(&self, req: &api::PidsRequest) -> Result<api::PidsResponse, ShimError> {
        let task = self.task(&req.id)?;
        let mut pids = Vec::new();
        if let Ok(id) = ContainerId::new(&req.id) {
            if let Ok(state) = self.inner.store.read(&id) {
                if let Some(cg) = &state.cgroup {
                    pids = cg.pids().unwrap_or_default();
                }
            }
        }
        if pids.is_empty() && task.lock().init.exit.is_none() {
            pids.push(task.pid);
        }
        Ok(api::PidsResponse {
            processes: pids
                .into_iter()
                .map(|pid| ProcessInfo {
                    pid: pid as u32,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    fn do_close_io(&self, req: &api::CloseIORequest) -> Result<(), ShimError> {
        if !req.exec_id.is_empty() {
            return self.close_exec_io(&req.id, &req.exec_id, req.stdin);
        }
        let task = self.task(&req.id)?;
        // The copy thread ends at the client's EOF; CloseIO only releases a thread whose
        // client never attached.
        if req.stdin {
            task.lock().init.close_stdin();
        }
        Ok(())
    }

    fn is_paused(&self, id: &str) -> bool {
        let Ok(cid) = ContainerId::new(id) else {
            return false;
        };
        self.inner
            .store
            .read(&cid)
            .is_ok_and(|s| container::status(&s) == container::Status::Paused)
    }

    /// Pause (`pause: true`) or resume a task: the library freezes or thaws its cgroup.
    fn do_pause(&self, id: &str, pause: bool) -> Result<(), ShimError> {
        let op = if pause { "pause" } else { "resume" };
        let task = self.task(id)?;
        let st = task.lock();
        if st.init.exit.is_some() {
            return Err(ShimError::Precondition {
                op,
                id: id.to_string(),
                reason: "the task has exited".into(),
            });
        }
        let done = if pause {
            container::pause(&self.inner.store, id)
        } else {
            container::resume(&self.inner.store, id)
        };
        done.map_err(|e| Self::runtime_err(op, id, &e))?;
        if pause {
            self.inner.events.send(TaskPaused {
                container_id: id.to_string(),
                ..Default::default()
            });
        } else {
            self.inner.events.send(TaskResumed {
                container_id: id.to_string(),
                ..Default::default()
            });
        }
        Ok(())
    }

    fn do_update(&self, req: &api::UpdateTaskRequest) -> Result<(), ShimError> {
        let task = self.task(&req.id)?;
        let resources = match req.resources.as_ref() {
            Some(any) => crate::metrics::decode_resources(&req.id, any)?,
            None => return Ok(()),
        };
        let _st = task.lock();
        if _st.init.exit.is_some() {
            return Err(ShimError::Precondition {
                op: "update",
                id: req.id.clone(),
                reason: "the task has exited".into(),
            });
        }
        let ignored = container::update(&self.inner.store, &req.id, &resources)
            .map_err(|e| Self::runtime_err("update", &req.id, &e))?;
        for name in ignored {
            containerd_shim::warn!("update task {}: {name} has no effect here", req.id);
        }
        Ok(())
    }

    fn do_stats(&self, req: &api::StatsRequest) -> Result<api::StatsResponse, ShimError> {
        let _task = self.task(&req.id)?;
        let stats = container::stats(&self.inner.store, &req.id)
            .map_err(|e| Self::runtime_err("stats", &req.id, &e))?;
        Ok(api::StatsResponse {
            stats: MessageField::some(crate::metrics::stats_any(&req.id, &stats)?),
            ..Default::default()
        })
    }

    /// Whether the shim serves no task any more.
    pub fn is_empty(&self) -> bool {
        self.table().tasks.is_empty()
    }
}

impl Task for Service {
    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtrpcResult<api::CreateTaskResponse> {
        self.do_create(&req).map_err(log_err("create"))
    }

    fn start(
        &self,
        _ctx: &TtrpcContext,
        req: api::StartRequest,
    ) -> TtrpcResult<api::StartResponse> {
        self.do_start(&req).map_err(log_err("start"))
    }

    fn state(
        &self,
        _ctx: &TtrpcContext,
        req: api::StateRequest,
    ) -> TtrpcResult<api::StateResponse> {
        self.do_state(&req).map_err(Into::into)
    }

    fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        self.do_kill(&req).map_err(log_err("kill"))?;
        Ok(api::Empty::default())
    }

    fn delete(
        &self,
        _ctx: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> TtrpcResult<api::DeleteResponse> {
        self.do_delete(&req).map_err(log_err("delete"))
    }

    fn wait(&self, _ctx: &TtrpcContext, req: api::WaitRequest) -> TtrpcResult<api::WaitResponse> {
        self.do_wait(&req).map_err(Into::into)
    }

    fn pids(&self, _ctx: &TtrpcContext, req: api::PidsRequest) -> TtrpcResult<api::PidsResponse> {
        self.do_pids(&req).map_err(Into::into)
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: api::CloseIORequest) -> TtrpcResult<api::Empty> {
        self.do_close_io(&req)
            .map_err(containerd_shim::protos::ttrpc::Error::from)?;
        Ok(api::Empty::default())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: api::ExecProcessRequest) -> TtrpcResult<api::Empty> {
        self.do_exec(&req).map_err(log_err("exec"))?;
        Ok(api::Empty::default())
    }

    fn resize_pty(
        &self,
        _ctx: &TtrpcContext,
        req: api::ResizePtyRequest,
    ) -> TtrpcResult<api::Empty> {
        self.do_resize(&req).map_err(log_err("resize pty"))?;
        Ok(api::Empty::default())
    }

    fn pause(&self, _ctx: &TtrpcContext, req: api::PauseRequest) -> TtrpcResult<api::Empty> {
        self.do_pause(&req.id, true).map_err(log_err("pause"))?;
        Ok(api::Empty::default())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: api::ResumeRequest) -> TtrpcResult<api::Empty> {
        self.do_pause(&req.id, false).map_err(log_err("resume"))?;
        Ok(api::Empty::default())
    }

    fn update(&self, _ctx: &TtrpcContext, req: api::UpdateTaskRequest) -> TtrpcResult<api::Empty> {
        self.do_update(&req).map_err(log_err("update"))?;
        Ok(api::Empty::default())
    }

    fn stats(
        &self,
        _ctx: &TtrpcContext,
        req: api::StatsRequest,
    ) -> TtrpcResult<api::StatsResponse> {
        self.do_stats(&req).map_err(Into::into)
    }

    fn checkpoint(
        &self,
        _ctx: &TtrpcContext,
        _req: api::CheckpointTaskRequest,
    ) -> TtrpcResult<api::Empty> {
        Err(ShimError::Unimplemented {
            op: "checkpoint",
            what: "berth's shim does not checkpoint containers (the berth CLI does)",
        }
        .into())
    }

    fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> TtrpcResult<api::ConnectResponse> {
        let task_pid = self.task(&req.id).map(|t| t.pid as u32).unwrap_or(0);
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, req: api::ShutdownRequest) -> TtrpcResult<api::Empty> {
        // One shim serves a whole pod: it stays while any task remains.
        if req.now || self.is_empty() {
            containerd_shim::info!("shutting down");
            self.inner.events.flush(EVENT_FLUSH);
            // The containerd-shim crate removes the socket named in `<cwd>/address`, but for a
            // pod the cwd is the sandbox's bundle, which containerd has deleted by now.
            let path = self.inner.config.socket.trim_start_matches("unix://");
            if !path.is_empty() {
                let _ = std::fs::remove_file(path);
            }
            self.inner.exit.signal();
        }
        Ok(api::Empty::default())
    }
}

fn log_err(op: &'static str) -> impl Fn(ShimError) -> containerd_shim::protos::ttrpc::Error {
    move |e| {
        containerd_shim::warn!("{op}: {}", crate::error::chain(&e));
        e.into()
    }
}

/// berth's state root for one containerd namespace.
pub fn state_root(base: &Path, namespace: &str) -> PathBuf {
    base.join(namespace)
}

#[path = "service_exec.rs"]
mod exec;

#[cfg(test)]
#[path = "service_tests.rs"]
mod tests;
