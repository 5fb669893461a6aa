//! Exec'd processes of a task (containerd's `exec_id`), terminals and ResizePty.
//!
//! Exec only records the process (TaskExecAdded); Start(exec_id) runs it through the runtime
//! worker like a Create (an exec child calls `container::exec`, whose process is started with
//! CLONE_PARENT and is orphaned to the shim), so the shim reaps it and reports its exact
//! status for Wait(exec_id) and in a TaskExit whose `id` is the exec id. Delete(exec_id) only
//! forgets the process (no TaskDelete, as runc's shim).
//!
//! Locks: the table, then a task's `state`, then its `execs` map, then one exec's `state`;
//! never in another order. An exec's events are sent under its lock, so TaskExecStarted always
//! precedes its TaskExit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use containerd_shim::api;
use containerd_shim::protos::events::task::{TaskExecAdded, TaskExecStarted, TaskExit};
use containerd_shim::protos::protobuf::MessageField;

use super::{
    delete_response, wait_for_exit, wait_response, Exit, Launched, Proc, Service, TaskEntry,
};
use crate::console::{Console, ConsoleListener};
use crate::error::ShimError;
use crate::stdio::{self, Stdio};
use crate::worker::{Reply, Request};

static NEXT_SPEC: AtomicU64 = AtomicU64::new(0);

/// One exec'd process.
#[derive(Debug)]
pub struct ExecEntry {
    exec_id: String,
    /// The runtime-spec `process` JSON containerd sent.
    process: Vec<u8>,
    terminal: bool,
    stdin: String,
    stdout: String,
    stderr: String,
    state: Mutex<ExecState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
pub(super) struct ExecState {
    pub(super) pid: Option<i32>,
    /// The exec'd process: its exit, stdio and terminal.
    proc: Proc,
}

impl ExecEntry {
    pub(super) fn lock(&self) -> MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Receives the pty master a terminal process's library call sent to `listener`, and relays
/// it to the process's stdin/stdout streams (taken out of `io`).
pub(super) fn attach_console(
    id: &str,
    listener: &ConsoleListener,
    io: &mut Stdio,
) -> Result<Console, ShimError> {
    let err = |source| ShimError::Console {
        id: id.to_string(),
        source,
    };
    let master = listener.receive().map_err(err)?;
    let input = io.container[0].take();
    let out = io.container[1].take();
    io.container[2] = None;
    Console::relay(master, input, out).map_err(err)
}

impl Service {
    pub(super) fn exec_entry(
        &self,
        task: &TaskEntry,
        exec_id: &str,
    ) -> Result<Arc<ExecEntry>, ShimError> {
        task.execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(exec_id)
            .cloned()
            .ok_or_else(|| ShimError::ExecNotFound {
                id: task.id.clone(),
                exec_id: exec_id.to_string(),
            })
    }

    pub(super) fn do_exec(&self, req: &api::ExecProcessRequest) -> Result<(), ShimError> {
        let task = self.task(&req.id)?;
        let st = task.lock();
        if st.init.exit.is_some() {
            return Err(ShimError::Precondition {
                op: "exec in",
                id: req.id.clone(),
                reason: "the task has exited".into(),
            });
        }
        let process = req
            .spec
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        serde_json::from_slice::<oci_spec::runtime::Process>(&process).map_err(|source| {
            ShimError::ExecSpecJson {
                id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                source,
            }
        })?;
        let mut execs = task.execs.lock().unwrap_or_else(|e| e.into_inner());
        if execs.contains_key(&req.exec_id) {
            return Err(ShimError::ExecExists {
                id: req.id.clone(),
                exec_id: req.exec_id.clone(),
            });
        }
        execs.insert(
            req.exec_id.clone(),
            Arc::new(ExecEntry {
                exec_id: req.exec_id.clone(),
                process,
                terminal: req.terminal,
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                state: Mutex::new(ExecState::default()),
                changed: Condvar::new(),
            }),
        );
        self.inner.events.send(TaskExecAdded {
            container_id: req.id.clone(),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        });
        drop(execs);
        drop(st);
        Ok(())
    }

    pub(super) fn start_exec(
        &self,
        id: &str,
        exec_id: &str,
    ) -> Result<api::StartResponse, ShimError> {
        let task = self.task(id)?;
        let exec = self.exec_entry(&task, exec_id)?;
        let refuse = |reason: &str| ShimError::Precondition {
            op: "start exec in",
            id: id.to_string(),
            reason: format!("exec {exec_id:?}: {reason}"),
        };
        if task.lock().init.exit.is_some() {
            return Err(refuse("the task has exited"));
        }
        let worker = self
            .inner
            .worker
            .ok_or_else(|| refuse("the runtime worker is not running"))?;
        let mut est = exec.lock();
        if est.pid.is_some() || est.proc.exit.is_some() {
            return Err(refuse("already started"));
        }
        stdio::check_owner(
            "start exec in",
            &format!("{id}/{exec_id}"),
            task.io_owner,
            exec.terminal,
            &exec.stdout,
        )?;
        let label = format!("{id}/{exec_id}");
        let spec = task.bundle.join(format!(
            ".berth-exec-{}-{}.json",
            std::process::id(),
            NEXT_SPEC.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&spec, &exec.process).map_err(|source| ShimError::ExecSpec {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
            path: spec.display().to_string(),
            source,
        })?;
        let launched = self.launch(
            worker,
            &label,
            [&exec.stdin, &exec.stdout, &exec.stderr],
            exec.terminal,
            task.io_owner,
            |stdio, console_socket| Request::Exec {
                root: self.inner.config.root.clone(),
                id: id.to_string(),
                process: spec.clone(),
                log: task.bundle.join("log.json"),
                debug: self.inner.config.debug,
                stdio,
                console_socket,
            },
        );
        let _ = std::fs::remove_file(&spec);
        let Launched {
            mut io,
            listener,
            reply,
        } = launched?;
        let pid = match reply {
            Ok(Reply::Created { pid }) => pid,
            Ok(Reply::Failed { kind, message }) => {
                if let Some(path) = io.stdin_path.take() {
                    stdio::unblock_stdin(&path);
                }
                return Err(ShimError::Runtime {
                    op: "exec in",
                    id: id.to_string(),
                    kind,
                    message,
                });
            }
            // A worker that died mid-exec took its exec child with it; what the exec may
            // have started in the container goes with the container.
            Err(source) => {
                if let Some(path) = io.stdin_path.take() {
                    stdio::unblock_stdin(&path);
                }
                return Err(ShimError::Worker {
                    op: "exec in",
                    id: id.to_string(),
                    source,
                });
            }
        };
        // Registered before anything else can fail, so the process is always reaped into
        // this entry.
        let early = {
            let mut table = self.table();
            let early = table.unclaimed.remove(&pid);
            if early.is_none() {
                table
                    .exec_pids
                    .insert(pid, (id.to_string(), exec_id.to_string()));
            }
            early
        };
        est.pid = Some(pid);
        if let Some(l) = &listener {
            match attach_console(&label, l, &mut io) {
                Ok(c) => est.proc.console = Some(c),
                Err(e) => {
                    // Unreachable terminal: the process cannot be used; it is reaped as usual.
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                    containerd_shim::warn!("{}", crate::error::chain(&e));
                }
            }
        }
        io.container = Default::default();
        est.proc.io = io;
        self.inner.events.send(TaskExecStarted {
            container_id: id.to_string(),
            exec_id: exec_id.to_string(),
            pid: pid as u32,
            ..Default::default()
        });
        drop(est);
        if let Some(exit) = early {
            self.record_exec_exit(&task, exec_id, exit);
        }
        containerd_shim::info!("started exec {exec_id} in task {id} with pid {pid}");
        Ok(api::StartResponse {
            pid: pid as u32,
            ..Default::default()
        })
    }

    /// Records a reaped exec'd process's status and queues its TaskExit.
    pub(super) fn record_exec_exit(&self, task: &TaskEntry, exec_id: &str, exit: Exit) {
        let Ok(exec) = self.exec_entry(task, exec_id) else {
            return;
        };
        let mut est = exec.lock();
        if !est.proc.record_exit(exit) {
            return;
        }
        self.inner.events.send(TaskExit {
            container_id: task.id.clone(),
            id: exec_id.to_string(),
            pid: est.pid.unwrap_or(0) as u32,
            exit_status: exit.status,
            exited_at: MessageField::some(exit.timestamp()),
            ..Default::default()
        });
        exec.changed.notify_all();
    }

    pub(super) fn state_exec(
        &self,
        id: &str,
        exec_id: &str,
    ) -> Result<api::StateResponse, ShimError> {
        let task = self.task(id)?;
        let exec = self.exec_entry(&task, exec_id)?;
        let est = exec.lock();
        let status = match (&est.proc.exit, est.pid) {
            (Some(_), _) => api::Status::STOPPED,
            (None, Some(_)) => api::Status::RUNNING,
            (None, None) => api::Status::CREATED,
        };
        let (exit_status, exited_at) = est.proc.exit_fields();
        Ok(api::StateResponse {
            id: exec.exec_id.clone(),
            bundle: task.bundle.display().to_string(),
            pid: est.pid.unwrap_or(0) as u32,
            status: status.into(),
            stdin: exec.stdin.clone(),
            stdout: exec.stdout.clone(),
            stderr: exec.stderr.clone(),
            terminal: exec.terminal,
            exit_status,
            exited_at,
            exec_id: exec.exec_id.clone(),
            ..Default::default()
        })
    }

    pub(super) fn kill_exec(&self, id: &str, exec_id: &str, signal: i32) -> Result<(), ShimError> {
        let task = self.task(id)?;
        let exec = self.exec_entry(&task, exec_id)?;
        let est = exec.lock();
        let finished =
            || ShimError::TaskNotFound(format!("{id}: exec {exec_id:?}: process already finished"));
        let pid = match (est.proc.exit, est.pid) {
            (Some(_), _) => return Err(finished()),
            (None, None) => {
                return Err(ShimError::Precondition {
                    op: "kill exec in",
                    id: id.to_string(),
                    reason: format!("exec {exec_id:?} is not started"),
                })
            }
            (None, Some(pid)) => pid,
        };
        let sig = nix::sys::signal::Signal::try_from(signal).map_err(|_| ShimError::Runtime {
            op: "kill exec in",
            id: id.to_string(),
            kind: crate::worker::FailKind::InvalidArgument,
            message: format!("signal {signal} is not a valid signal"),
        })?;
        // The process is the shim's child until reaped, and its exit is recorded under this
        // lock; only the instant between the reap and that record could see a reused pid (the
        // same window runc's shim has).
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
            Ok(()) | Err(nix::Error::ESRCH) => Ok(()),
            Err(e) => Err(ShimError::Runtime {
                op: "kill exec in",
                id: id.to_string(),
                kind: crate::worker::FailKind::Internal,
                message: format!("kill pid {pid} with {sig}: {e}"),
            }),
        }
    }

    pub(super) fn delete_exec(
        &self,
        id: &str,
        exec_id: &str,
    ) -> Result<api::DeleteResponse, ShimError> {
        let task = self.task(id)?;
        let exec = self.exec_entry(&task, exec_id)?;
        let mut est = exec.lock();
        if est.pid.is_some() && est.proc.exit.is_none() {
            return Err(ShimError::Precondition {
                op: "delete exec in",
                id: id.to_string(),
                reason: format!("exec {exec_id:?} is running; kill it first"),
            });
        }
        task.execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(exec_id);
        est.proc.forget();
        exec.changed.notify_all();
        let exit = est.proc.exit.unwrap_or_else(|| Exit::now(0));
        Ok(delete_response(est.pid.unwrap_or(0), exit))
    }

    pub(super) fn wait_exec(
        &self,
        id: &str,
        exec_id: &str,
    ) -> Result<api::WaitResponse, ShimError> {
        let task = self.task(id)?;
        let exec = self.exec_entry(&task, exec_id)?;
        let est = wait_for_exit(&exec.changed, exec.lock(), |s| &s.proc);
        let exit = est.proc.exit.ok_or_else(|| ShimError::ExecNotFound {
            id: id.to_string(),
            exec_id: exec_id.to_string(),
        })?;
        Ok(wait_response(exit))
    }

    pub(super) fn close_exec_io(
        &self,
        id: &str,
        exec_id: &str,
        stdin: bool,
    ) -> Result<(), ShimError> {
        let task = self.task(id)?;
        let exec = self.exec_entry(&task, exec_id)?;
        if stdin {
            exec.lock().proc.close_stdin();
        }
        Ok(())
    }

    pub(super) fn do_resize(&self, req: &api::ResizePtyRequest) -> Result<(), ShimError> {
        let task = self.task(&req.id)?;
        let no_tty = || ShimError::Precondition {
            op: "resize the terminal of",
            id: req.id.clone(),
            reason: if req.exec_id.is_empty() {
                "the task has no terminal".to_string()
            } else {
                format!("exec {:?} has no terminal", req.exec_id)
            },
        };
        let resize = |c: &Console| {
            c.resize(req.width, req.height)
                .map_err(|source| ShimError::Console {
                    id: req.id.clone(),
                    source,
                })
        };
        if req.exec_id.is_empty() {
            let st = task.lock();
            st.init.console.as_ref().map(resize).ok_or_else(no_tty)?
        } else {
            let exec = self.exec_entry(&task, &req.exec_id)?;
            let est = exec.lock();
            est.proc.console.as_ref().map(resize).ok_or_else(no_tty)?
        }
    }

    /// A deleted task's exec'd processes: forgotten, their waiters released.
    pub(super) fn forget_execs(&self, task: &TaskEntry) {
        let execs: HashMap<String, Arc<ExecEntry>> =
            std::mem::take(&mut *task.execs.lock().unwrap_or_else(|e| e.into_inner()));
        self.table().exec_pids.retain(|_, (id, _)| *id != task.id);
        for exec in execs.values() {
            exec.lock().proc.forget();
            exec.changed.notify_all();
        }
    }
}
