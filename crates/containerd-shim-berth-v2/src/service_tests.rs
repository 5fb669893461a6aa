//! Task-service behaviour without containerd or root: the exit bookkeeping, the error codes
//! containerd relies on, and the event order. Tasks are registered directly with fake pids;
//! exits are fed to `on_exit` as the reaper would.

use super::*;
use containerd_shim::protos::ttrpc::Code;

fn service() -> (Service, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = ServiceConfig {
        namespace: "test".into(),
        root: dir.path().join("state"),
        debug: false,
        socket: String::new(),
    };
    let s = Service::new(
        config,
        None,
        Events::recording(),
        Arc::new(ExitSignal::default()),
    );
    (s, dir)
}

fn task(id: &str, pid: i32, started: bool) -> Arc<TaskEntry> {
    Arc::new(TaskEntry {
        id: id.into(),
        bundle: PathBuf::from("/nonexistent/bundle"),
        pid,
        stdin: String::new(),
        stdout: String::new(),
        stderr: String::new(),
        mounted: false,
        terminal: false,
        io_owner: None,
        state: Mutex::new(TaskState {
            started,
            ..Default::default()
        }),
        changed: Condvar::new(),
        execs: Mutex::new(HashMap::new()),
    })
}

fn topics(s: &Service) -> Vec<String> {
    s.inner
        .events
        .recorded
        .as_ref()
        .unwrap()
        .lock()
        .unwrap()
        .clone()
}

fn code(e: ShimError) -> Code {
    e.code()
}

// Fake pids far above pid_max, so no real child's exit can collide.
const PID: i32 = 1 << 30;

#[test]
fn wait_blocks_until_the_exact_exit_status() {
    let (s, _d) = service();
    s.register(task("c1", PID, true));
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || {
            s.do_wait(&api::WaitRequest {
                id: "c1".into(),
                ..Default::default()
            })
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    assert!(!waiter.is_finished(), "Wait returned before the exit");
    s.on_exit(PID, 128 + 9);
    let resp = waiter.join().unwrap().unwrap();
    assert_eq!(resp.exit_status, 137);
    assert!(resp.exited_at.seconds > 0);
    assert_eq!(topics(&s), vec!["/tasks/exit"]);
}

#[test]
fn an_exit_seen_before_create_returns_is_claimed() {
    let (s, _d) = service();
    s.on_exit(PID + 1, 3); // the reaper was faster than Create
    let early = s.register(task("c2", PID + 1, false));
    assert_eq!(early.map(|e| e.status), Some(3));
    assert!(s.table().unclaimed.is_empty());
}

#[test]
fn state_reports_created_running_stopped() {
    let (s, _d) = service();
    s.register(task("c3", PID + 2, false));
    let st = |s: &Service| {
        s.do_state(&api::StateRequest {
            id: "c3".into(),
            ..Default::default()
        })
        .unwrap()
    };
    assert_eq!(st(&s).status.enum_value(), Ok(api::Status::CREATED));
    s.task("c3").unwrap().lock().started = true;
    assert_eq!(st(&s).status.enum_value(), Ok(api::Status::RUNNING));
    s.on_exit(PID + 2, 7);
    let resp = st(&s);
    assert_eq!(resp.status.enum_value(), Ok(api::Status::STOPPED));
    assert_eq!(resp.exit_status, 7);
}

#[test]
fn kill_delete_wait_after_exit_follow_errdefs() {
    let (s, _d) = service();
    s.register(task("c4", PID + 3, true));
    let running = s
        .do_delete(&api::DeleteRequest {
            id: "c4".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(code(running), Code::FAILED_PRECONDITION);

    s.on_exit(PID + 3, 42);
    let kill = s
        .do_kill(&api::KillRequest {
            id: "c4".into(),
            signal: 9,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(code(kill), Code::NOT_FOUND, "kill of an exited task");

    let del = s
        .do_delete(&api::DeleteRequest {
            id: "c4".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(del.exit_status, 42);
    assert_eq!(del.pid, (PID + 3) as u32);
    let again = s
        .do_delete(&api::DeleteRequest {
            id: "c4".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(code(again), Code::NOT_FOUND, "delete twice");
    let wait = s
        .do_wait(&api::WaitRequest {
            id: "c4".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(code(wait), Code::NOT_FOUND, "wait on a deleted task");
    assert_eq!(topics(&s), vec!["/tasks/exit", "/tasks/delete"]);
    assert!(s.is_empty());
}

#[test]
fn a_waiter_blocked_when_the_task_is_deleted_gets_its_status() {
    let (s, _d) = service();
    s.register(task("c5", PID + 4, false));
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || {
            s.do_wait(&api::WaitRequest {
                id: "c5".into(),
                ..Default::default()
            })
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    s.on_exit(PID + 4, 0);
    s.do_delete(&api::DeleteRequest {
        id: "c5".into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(waiter.join().unwrap().unwrap().exit_status, 0);
}

#[test]
fn unknown_ids_and_missing_features_have_their_codes() {
    let (s, _d) = service();
    s.register(task("c6", PID + 5, true));
    let exec = s
        .do_state(&api::StateRequest {
            id: "c6".into(),
            exec_id: "nope".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(code(exec), Code::NOT_FOUND);
    assert_eq!(
        code(
            s.do_start(&api::StartRequest {
                id: "missing".into(),
                ..Default::default()
            })
            .unwrap_err()
        ),
        Code::NOT_FOUND
    );
    assert_eq!(
        code(s.do_pause("missing", true).unwrap_err()),
        Code::NOT_FOUND
    );
    assert_eq!(
        code(
            s.do_stats(&api::StatsRequest {
                id: "missing".into(),
                ..Default::default()
            })
            .unwrap_err()
        ),
        Code::NOT_FOUND
    );
}

#[test]
fn create_refuses_duplicates_and_a_missing_worker() {
    let (s, _d) = service();
    s.register(task("c7", PID + 6, true));
    let req = |id: &str, terminal: bool| api::CreateTaskRequest {
        id: id.into(),
        bundle: "/nonexistent".into(),
        terminal,
        ..Default::default()
    };
    assert_eq!(
        code(s.do_create(&req("c7", false)).unwrap_err()),
        Code::ALREADY_EXISTS
    );
    let tty = s.do_create(&req("c8", true)).unwrap_err();
    assert_eq!(code(tty), Code::FAILED_PRECONDITION);
    assert_eq!(
        code(s.do_create(&req("c8", false)).unwrap_err()),
        Code::FAILED_PRECONDITION
    );
    assert!(topics(&s).is_empty(), "no TaskCreate for a failed create");
}

const PROCESS: &str = r#"{"terminal":false,"user":{"uid":0,"gid":0},"args":["sh"],"cwd":"/"}"#;

fn exec_req(id: &str, exec_id: &str, spec: &str) -> api::ExecProcessRequest {
    use containerd_shim::protos::protobuf::well_known_types::any::Any;
    api::ExecProcessRequest {
        id: id.into(),
        exec_id: exec_id.into(),
        spec: MessageField::some(Any {
            type_url: "types.containerd.io/opencontainers/runtime-spec/1/Process".into(),
            value: spec.as_bytes().to_vec(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn exec_ids_are_unique_and_unknown_ones_are_not_found() {
    let (s, _d) = service();
    s.register(task("e1", PID + 10, true));
    s.do_exec(&exec_req("e1", "x1", PROCESS)).unwrap();
    assert_eq!(
        code(s.do_exec(&exec_req("e1", "x1", PROCESS)).unwrap_err()),
        Code::ALREADY_EXISTS
    );
    assert_eq!(
        code(s.do_exec(&exec_req("e1", "x2", "not json")).unwrap_err()),
        Code::INVALID_ARGUMENT
    );
    assert_eq!(
        code(s.do_exec(&exec_req("nope", "x1", PROCESS)).unwrap_err()),
        Code::NOT_FOUND
    );
    let unknown = "x9";
    let nf = |r: Result<(), ShimError>| assert_eq!(code(r.unwrap_err()), Code::NOT_FOUND);
    nf(s.start_exec("e1", unknown).map(drop));
    nf(s.state_exec("e1", unknown).map(drop));
    nf(s.kill_exec("e1", unknown, 9));
    nf(s.delete_exec("e1", unknown).map(drop));
    nf(s.wait_exec("e1", unknown).map(drop));
    nf(s.close_exec_io("e1", unknown, true));
    nf(s.do_resize(&api::ResizePtyRequest {
        id: "e1".into(),
        exec_id: unknown.into(),
        width: 80,
        height: 24,
        ..Default::default()
    }));
    // Known but never started: created state; kill refused; start needs the worker.
    let st = s.state_exec("e1", "x1").unwrap();
    assert_eq!(st.status.enum_value(), Ok(api::Status::CREATED));
    assert_eq!(
        code(s.kill_exec("e1", "x1", 9).unwrap_err()),
        Code::FAILED_PRECONDITION
    );
    assert_eq!(
        code(s.start_exec("e1", "x1").unwrap_err()),
        Code::FAILED_PRECONDITION
    );
    assert_eq!(topics(&s), vec!["/tasks/exec-added"]);
}

#[test]
fn an_exec_exit_is_reported_with_its_exec_id() {
    let (s, _d) = service();
    s.register(task("e2", PID + 11, true));
    s.do_exec(&exec_req("e2", "x", PROCESS)).unwrap();
    let pid = PID + 12;
    // As start_exec registers a started process.
    s.table().exec_pids.insert(pid, ("e2".into(), "x".into()));
    let t = s.task("e2").unwrap();
    s.exec_entry(&t, "x").unwrap().lock().pid = Some(pid);
    let waiter = {
        let s = s.clone();
        std::thread::spawn(move || s.wait_exec("e2", "x"))
    };
    std::thread::sleep(Duration::from_millis(30));
    assert!(!waiter.is_finished());
    assert_eq!(
        code(s.delete_exec("e2", "x").unwrap_err()),
        Code::FAILED_PRECONDITION,
        "delete of a running exec"
    );
    s.on_exit(pid, 5);
    assert_eq!(waiter.join().unwrap().unwrap().exit_status, 5);
    let st = s.state_exec("e2", "x").unwrap();
    assert_eq!(st.status.enum_value(), Ok(api::Status::STOPPED));
    assert_eq!((st.exit_status, st.pid), (5, pid as u32));
    assert_eq!(
        code(s.kill_exec("e2", "x", 9).unwrap_err()),
        Code::NOT_FOUND,
        "kill of a finished exec"
    );
    // The init is untouched.
    assert!(s.task("e2").unwrap().lock().init.exit.is_none());
    assert_eq!(s.delete_exec("e2", "x").unwrap().exit_status, 5);
    assert_eq!(code(s.state_exec("e2", "x").unwrap_err()), Code::NOT_FOUND);
    assert_eq!(topics(&s), vec!["/tasks/exec-added", "/tasks/exit"]);
}

#[test]
fn resize_without_terminal_and_pause_of_stopped_task_are_refused() {
    let (s, _d) = service();
    s.register(task("e3", PID + 13, true));
    let resize = s
        .do_resize(&api::ResizePtyRequest {
            id: "e3".into(),
            width: 80,
            height: 24,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(code(resize), Code::FAILED_PRECONDITION);
    s.on_exit(PID + 13, 0);
    assert_eq!(
        code(s.do_pause("e3", true).unwrap_err()),
        Code::FAILED_PRECONDITION
    );
    assert_eq!(
        code(s.do_pause("e3", false).unwrap_err()),
        Code::FAILED_PRECONDITION
    );
    assert_eq!(
        code(s.do_exec(&exec_req("e3", "late", PROCESS)).unwrap_err()),
        Code::FAILED_PRECONDITION,
        "exec in an exited task"
    );
}

#[test]
fn a_runtime_worker_exit_is_not_taken_for_a_task_exit() {
    struct Idle;
    impl crate::worker::Spawn for Idle {
        fn spawn(&self, sock: std::os::fd::OwnedFd) -> Result<i32, crate::worker::WorkerError> {
            std::mem::forget(sock); // a worker that lives on, idle
            Ok(PID + 20)
        }
    }
    let worker: &'static Worker = Box::leak(Box::new(Worker::start(Box::new(Idle)).unwrap()));
    let dir = tempfile::tempdir().unwrap();
    let s = Service::new(
        ServiceConfig {
            namespace: "test".into(),
            root: dir.path().join("state"),
            debug: false,
            socket: String::new(),
        },
        Some(worker),
        Events::recording(),
        Arc::new(ExitSignal::default()),
    );
    s.register(task("c20", PID + 21, true));
    s.on_exit(PID + 20, 128 + 9); // the reaper reaped the SIGKILLed worker
    assert!(topics(&s).is_empty(), "no TaskExit for the worker's exit");
    assert!(s.table().unclaimed.is_empty(), "not kept for a future init");
    assert!(s.task("c20").unwrap().lock().init.exit.is_none());
    s.on_exit(PID + 21, 128 + 9);
    assert_eq!(topics(&s), vec!["/tasks/exit"]);
}

/// The thread that records every exit must not wait behind one task's request holding that
/// task's mutex (a Delete in poststop hooks, a Pause waiting for the container's lock): the
/// other tasks' exits are recorded at once, the busy task's once its mutex is free.
#[test]
fn an_exit_never_waits_behind_a_held_task_mutex() {
    let (s, _d) = service();
    s.register(task("busy", PID + 30, true));
    s.register(task("free", PID + 31, true));
    let busy = s.task("busy").unwrap();
    let held = busy.lock();
    let reaper = {
        let s = s.clone();
        std::thread::spawn(move || {
            s.on_exit(PID + 30, 1);
            s.on_exit(PID + 31, 2);
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !reaper.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the reaper waited behind the held mutex"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        s.task("free").unwrap().lock().init.exit.map(|e| e.status),
        Some(2)
    );
    assert!(held.init.exit.is_none());
    drop(held);
    let resp = s
        .do_wait(&api::WaitRequest {
            id: "busy".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(resp.exit_status, 1);
    assert_eq!(topics(&s), vec!["/tasks/exit", "/tasks/exit"]);
}

/// An init that exits while its Start is in the library (outside the task's mutex) is held
/// back until Start has sent TaskStart, so containerd never sees the exit first; Delete is
/// refused meanwhile (it would kill the starting init under the Start).
#[test]
fn an_exit_during_start_waits_for_task_start_and_delete_is_refused() {
    let (s, _d) = service();
    s.register(task("st", PID + 32, false));
    s.task("st").unwrap().lock().starting = true;
    s.on_exit(PID + 32, 137);
    let t = s.task("st").unwrap();
    assert!(t.lock().init.exit.is_none());
    assert_eq!(t.lock().exit_during_start.map(|e| e.status), Some(137));
    assert!(topics(&s).is_empty());
    let err = s
        .do_delete(&api::DeleteRequest {
            id: "st".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(code(err), Code::FAILED_PRECONDITION);
}

/// While a Delete is in the library (outside the task's mutex, so that a poststop hook
/// without a timeout does not hold up Kill and State), a second Delete and a Start are
/// refused; State still answers at once.
#[test]
fn a_task_being_deleted_refuses_start_and_delete_and_answers_state() {
    let (s, _d) = service();
    s.register(task("del", PID + 33, false));
    s.task("del").unwrap().lock().deleting = true;
    let del = s
        .do_delete(&api::DeleteRequest {
            id: "del".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(code(del), Code::FAILED_PRECONDITION);
    let start = s
        .do_start(&api::StartRequest {
            id: "del".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(code(start), Code::FAILED_PRECONDITION);
    let st = s
        .do_state(&api::StateRequest {
            id: "del".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(st.status.enum_value(), Ok(api::Status::CREATED));
}
