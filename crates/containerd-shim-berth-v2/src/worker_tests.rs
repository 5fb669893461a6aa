//! The worker handle without a real worker: [`Spawn`] is a fake whose "workers" are threads
//! serving the socket (fake pids far above pid_max), so replacement, the single retry and the
//! refusal to repeat a received request are checked without root or exec.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use nix::sys::socket::{shutdown, Shutdown};

use super::*;

const FAKE_PID: i32 = 1 << 30;

/// What the next fake worker does with the first request it receives.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    Answer,
    /// Close the socket without replying, as a worker SIGKILLed mid-create.
    DieWithTheRequest,
    /// Keep the request and never reply, reporting itself stopped, as a SIGSTOPped worker.
    StopWithTheRequest,
}

#[derive(Default)]
struct Fakes {
    /// Our copy of each fake worker's socket (index = spawn order), to "kill" it.
    socks: Vec<Arc<OwnedFd>>,
    /// Behaviour of the worker spawned next; `Answer` once this is empty.
    script: Vec<Then>,
    /// Fake pids that are "stopped", and those the handle killed.
    stopped: Vec<i32>,
    killed: Vec<i32>,
}

#[derive(Clone, Default)]
struct FakeSpawn(Arc<Mutex<Fakes>>);

impl Spawn for FakeSpawn {
    fn spawn(&self, sock: OwnedFd) -> Result<i32, WorkerError> {
        let mut fakes = self.0.lock().unwrap();
        let n = fakes.socks.len() as i32;
        let then = if fakes.script.is_empty() {
            Then::Answer
        } else {
            fakes.script.remove(0)
        };
        let sock = Arc::new(sock);
        fakes.socks.push(sock.clone());
        let fakes = self.0.clone();
        std::thread::spawn(move || {
            while let Ok(Some(_request)) = packet::recv(sock.as_fd()) {
                if then == Then::DieWithTheRequest {
                    break;
                }
                if then == Then::StopWithTheRequest {
                    // Stopped: hold the socket open until killed (FakeSpawn::kill).
                    fakes.lock().unwrap().stopped.push(FAKE_PID + n);
                    continue;
                }
                let reply = serde_json::to_vec(&Reply::Created {
                    pid: FAKE_PID + 100 + n,
                })
                .unwrap();
                let _ = packet::send(sock.as_fd(), &reply, &[]);
            }
            let _ = shutdown(sock.as_raw_fd(), Shutdown::Both);
        });
        Ok(FAKE_PID + n)
    }

    fn is_stopped(&self, pid: i32) -> bool {
        self.0.lock().unwrap().stopped.contains(&pid)
    }

    fn kill(&self, pid: i32) {
        let mut fakes = self.0.lock().unwrap();
        fakes.killed.push(pid);
        let sock = fakes.socks[(pid - FAKE_PID) as usize].clone();
        let _ = shutdown(sock.as_raw_fd(), Shutdown::Both);
    }
}

impl FakeSpawn {
    fn spawned(&self) -> usize {
        self.0.lock().unwrap().socks.len()
    }

    /// The worker's end closes, as when the process dies.
    fn kill(&self, n: usize) {
        let sock = self.0.lock().unwrap().socks[n].clone();
        let _ = shutdown(sock.as_raw_fd(), Shutdown::Both);
    }
}

fn request() -> Request {
    Request::Exec {
        root: "/nonexistent/state".into(),
        id: "c1".into(),
        process: "/nonexistent/process.json".into(),
        log: "/nonexistent/log.json".into(),
        debug: false,
        stdio: [false; 3],
        console_socket: None,
    }
}

/// The pid of the container process the answering fake worker reported.
fn answered_by(w: &Worker) -> i32 {
    match w.call(&request(), &[]) {
        Ok(Reply::Created { pid }) => pid - FAKE_PID - 100,
        other => panic!("expected an answer, got {other:?}"),
    }
}

#[test]
fn a_worker_reaped_while_idle_is_replaced_for_the_next_request_again_and_again() {
    let fake = FakeSpawn::default();
    let w = Worker::start(Box::new(fake.clone())).unwrap();
    assert_eq!(answered_by(&w), 0);
    for n in 0..3 {
        fake.kill(n);
        assert!(
            w.claim_exit(FAKE_PID + n as i32, 128 + 9),
            "worker {n}'s exit is claimed"
        );
        assert_eq!(answered_by(&w), n as i32 + 1, "after kill {}", n + 1);
    }
    assert_eq!(fake.spawned(), 4);
    assert!(
        !w.claim_exit(FAKE_PID - 1, 0),
        "a container's exit is not the worker's"
    );
    fake.kill(3);
    assert!(w.claim_exit(FAKE_PID + 3, 128 + 9));
    assert!(
        !w.claim_exit(FAKE_PID + 3, 0),
        "a reaped worker's pid, reused by a container process, is the container's"
    );
}

#[test]
fn a_request_the_dead_worker_never_received_is_sent_once_more_to_a_new_one() {
    let fake = FakeSpawn::default();
    let w = Worker::start(Box::new(fake.clone())).unwrap();
    // Dead, and the reaper has not said so yet: the send fails with EPIPE.
    fake.kill(0);
    assert_eq!(answered_by(&w), 1);
    assert_eq!(fake.spawned(), 2);
}

#[test]
fn a_request_the_worker_died_with_fails_naming_how_and_is_not_repeated() {
    let fake = FakeSpawn::default();
    fake.0.lock().unwrap().script = vec![Then::DieWithTheRequest];
    let w = Arc::new(Worker::start(Box::new(fake.clone())).unwrap());
    let reaper = {
        let w = w.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            w.claim_exit(FAKE_PID, 128 + 9)
        })
    };
    let err = w.call(&request(), &[]).unwrap_err();
    assert!(reaper.join().unwrap());
    assert_eq!(
        err.to_string(),
        format!("the runtime worker (pid {FAKE_PID}) died (signal 9, SIGKILL) before replying")
    );
    assert_eq!(
        fake.spawned(),
        1,
        "the request was not sent to another worker"
    );
    let shim = crate::error::ShimError::Worker {
        op: "exec in",
        id: "c1".into(),
        source: err,
    };
    assert_eq!(
        crate::error::chain(&shim),
        format!(
            "exec in task \"c1\": the runtime worker (pid {FAKE_PID}) died (signal 9, SIGKILL) \
             before replying"
        )
    );
    // The next request gets a new worker.
    assert_eq!(answered_by(&w), 1);
}

#[test]
fn a_worker_death_the_reaper_does_not_report_still_ends_the_wait() {
    let fake = FakeSpawn::default();
    fake.0.lock().unwrap().script = vec![Then::DieWithTheRequest];
    let w = Worker::start(Box::new(fake.clone())).unwrap();
    let started = std::time::Instant::now();
    let err = w.call(&request(), &[]).unwrap_err();
    assert!(matches!(
        err,
        WorkerError::Died {
            end: WorkerEnd(None),
            ..
        }
    ));
    assert!(err.to_string().ends_with(" died before replying"), "{err}");
    assert!(started.elapsed() < REAP_WAIT + Duration::from_secs(1));
}

#[test]
fn a_second_refused_send_is_reported_not_looped_on() {
    struct DeadOnArrival;
    impl Spawn for DeadOnArrival {
        fn spawn(&self, sock: OwnedFd) -> Result<i32, WorkerError> {
            drop(sock); // as a worker whose exec failed
            Ok(FAKE_PID)
        }
    }
    let w = Worker::start(Box::new(DeadOnArrival)).unwrap();
    let err = w.call(&request(), &[]).unwrap_err();
    assert!(
        matches!(
            err,
            WorkerError::Send {
                source: nix::Error::EPIPE,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A worker stopped (SIGSTOP) holding a request would neither reply nor die: the wait checks
/// for that, kills it, and the request fails as one the worker died with; the next request
/// gets a new worker. Without the check this call never returns.
#[test]
fn a_stopped_worker_holding_a_request_is_killed_and_the_request_fails() {
    let fake = FakeSpawn::default();
    fake.0.lock().unwrap().script = vec![Then::StopWithTheRequest];
    let w = Arc::new(Worker::start(Box::new(fake.clone())).unwrap());
    let call = {
        let w = w.clone();
        std::thread::spawn(move || w.call(&request(), &[]))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !call.is_finished() {
        assert!(std::time::Instant::now() < deadline, "the call still waits");
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = call.join().unwrap().unwrap_err();
    assert!(
        matches!(err, WorkerError::Died { pid: FAKE_PID, .. }),
        "{err:?}"
    );
    assert_eq!(fake.0.lock().unwrap().killed, [FAKE_PID]);
    assert_eq!(answered_by(&w), 1);
}

#[test]
fn an_idle_worker_is_retired_and_the_next_request_starts_a_new_one() {
    let fake = FakeSpawn::default();
    let w = Worker::start(Box::new(fake.clone())).unwrap();
    assert_eq!(answered_by(&w), 0);
    assert_eq!(
        w.retire_idle(Duration::from_secs(3600)),
        None,
        "a worker that just answered is not idle"
    );
    assert_eq!(w.retire_idle(Duration::ZERO), Some(FAKE_PID));
    assert_eq!(
        w.retire_idle(Duration::ZERO),
        None,
        "nothing left to retire"
    );
    // Our end is closed: the fake worker reads EOF and ends, as the real one exits 0.
    assert!(
        w.claim_exit(FAKE_PID, 0),
        "the retired worker's exit is claimed"
    );
    assert_eq!(answered_by(&w), 1, "the next request goes to a new worker");
    assert_eq!(fake.spawned(), 2);
}

#[test]
fn a_worker_busy_with_a_request_is_not_retired() {
    let fake = FakeSpawn::default();
    fake.0.lock().unwrap().script = vec![Then::StopWithTheRequest];
    let w = Arc::new(Worker::start(Box::new(fake.clone())).unwrap());
    let caller = {
        let w = w.clone();
        std::thread::spawn(move || w.call(&request(), &[]))
    };
    // The call holds the worker until the stopped fake is found and killed (STOPPED_CHECK).
    while fake.0.lock().unwrap().stopped.is_empty() {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        w.retire_idle(Duration::ZERO),
        None,
        "the worker in the middle of a request is left to it"
    );
    assert!(matches!(
        caller.join().unwrap(),
        Err(WorkerError::Died { .. })
    ));
}
