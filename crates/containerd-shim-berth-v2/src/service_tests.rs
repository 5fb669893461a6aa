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
        state: Mutex::new(TaskState {
            started,
            ..Default::default()
        }),
        changed: Condvar::new(),
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
        code(s.unimplemented("c6", "pause", "x")),
        Code::UNIMPLEMENTED
    );
    assert_eq!(
        code(s.unimplemented("missing", "pause", "x")),
        Code::NOT_FOUND
    );
}

#[test]
fn create_refuses_duplicates_terminals_and_a_missing_worker() {
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
    assert_eq!(code(tty), Code::UNIMPLEMENTED);
    assert_eq!(
        code(s.do_create(&req("c8", false)).unwrap_err()),
        Code::FAILED_PRECONDITION
    );
    assert!(topics(&s).is_empty(), "no TaskCreate for a failed create");
}
