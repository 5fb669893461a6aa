//! #19 item 3: each failed step's error names the operation and the syscall that failed, and
//! the errno reaches the parent (the message chain and errno sent over the channel).

use super::channel::error_chain;
use super::exec_stage::ExecStageError;
use super::hook_steps::HookStepsError;
use super::init::InitError;
use super::stage1::Stage1Error;
use super::ProcessError;

/// The chain the parent prints and the errno it reports, as the child would send them.
fn sent(err: &(dyn std::error::Error + 'static)) -> (String, i32) {
    let (errno, chain) = error_chain(err);
    (chain.join(": "), errno)
}

#[test]
fn forks_and_hold_pipes_name_their_own_syscall() {
    use nix::errno::Errno::{EAGAIN, EMFILE, EPIPE};
    let cases: [(&(dyn std::error::Error + 'static), &str, i32); 7] = [
        (
            &Stage1Error::HoldPipe(EMFILE),
            "create the pipe that holds the init until its pid is sent (pipe2): EMFILE: Too many open files",
            libc::EMFILE,
        ),
        (
            &Stage1Error::Release(EPIPE),
            "release the init once its pid is sent (write to the hold pipe): EPIPE: Broken pipe",
            libc::EPIPE,
        ),
        (
            &Stage1Error::Fork(EAGAIN),
            "fork the container init (clone with CLONE_PARENT): EAGAIN: Try again",
            libc::EAGAIN,
        ),
        (
            &ExecStageError::HoldPipe(EMFILE),
            "create the pipe that passes the exec process its host pid (pipe2): EMFILE: Too many open files",
            libc::EMFILE,
        ),
        (
            &ExecStageError::SendPid(EPIPE),
            "pass the exec process its host pid (write to the hold pipe): EPIPE: Broken pipe",
            libc::EPIPE,
        ),
        (
            &ExecStageError::Fork(EAGAIN),
            "fork the exec process (clone with CLONE_PARENT): EAGAIN: Try again",
            libc::EAGAIN,
        ),
        (
            &ProcessError::Fork(EAGAIN),
            "fork stage 1 (fork, or clone3 into the container's cgroup): EAGAIN: Try again",
            libc::EAGAIN,
        ),
    ];
    for (err, text, errno) in cases {
        assert_eq!(sent(err), (text.to_string(), errno));
    }
}

#[test]
fn waiting_for_start_is_the_exec_fifo_open_only() {
    let err = InitError::WaitStart(nix::Error::EINTR);
    assert_eq!(
        sent(&err),
        (
            "open exec.fifo for writing (wait for start): EINTR: Interrupted system call".into(),
            libc::EINTR
        )
    );
}

/// The startContainer reply's write error keeps its errno (not 0) through the init's chain.
#[test]
fn the_exec_fifo_reply_keeps_the_write_errno() {
    let err = InitError::from(HookStepsError::FifoReply(
        std::io::Error::from_raw_os_error(libc::ENOSPC),
    ));
    let (text, errno) = sent(&err);
    assert_eq!(errno, libc::ENOSPC);
    assert!(
        text.starts_with("write the startContainer hooks' result to exec.fifo: "),
        "{text}"
    );
}

/// The init's own steps name the syscall beside the operation.
#[test]
fn init_steps_name_their_syscall() {
    use nix::errno::Errno::{EINVAL, EPERM};
    let cases: [(InitError, &str); 4] = [
        (InitError::Setsid(EPERM), "start a new session (setsid): EPERM: Operation not permitted"),
        (
            InitError::ParentDeath(EINVAL),
            "set the parent-death signal (prctl PR_SET_PDEATHSIG): EINVAL: Invalid argument",
        ),
        (
            InitError::Keyring(EPERM),
            "join a new session keyring (keyctl KEYCTL_JOIN_SESSION_KEYRING): EPERM: Operation not permitted",
        ),
        (
            InitError::Hostname("c1".into(), EPERM),
            "set hostname to \"c1\" (sethostname): EPERM: Operation not permitted",
        ),
    ];
    for (err, text) in cases {
        assert_eq!(sent(&err).0, text);
    }
}
