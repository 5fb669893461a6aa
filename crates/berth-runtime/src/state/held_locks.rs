//! The container-directory lock fds this process holds, so that a child forked by `create`
//! can close its inherited copies right away.
//!
//! Why: the lock is a `flock(2)` on the directory fd, and flock locks belong to the open file
//! description, which `fork` shares. The container init waits for `start` with every fd of
//! `berth create` still open (O_CLOEXEC only acts at its execve), so if `berth create` dies
//! after the commit (kill -9, OOM) the init alone keeps the lock, and every later `delete
//! --force` or `start` of that id blocks forever. Found by crash injection (tests/crash.rs,
//! failpoint `create:after-commit`).
//!
//! A fixed table of atomics rather than a `Mutex<Vec>`: [`close_in_child`] runs right after
//! `fork`, where only async-signal-safe work is allowed.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

/// More than any berth command holds at once (create holds one).
const SLOTS: usize = 8;

static HELD: [AtomicI32; SLOTS] = [const { AtomicI32::new(-1) }; SLOTS];

/// Records `fd` as a held lock. With every slot taken the fd is simply not recorded: the
/// child then keeps it, which is the behaviour without this table.
pub(super) fn register(fd: RawFd) {
    for slot in &HELD {
        if slot
            .compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

/// Forgets `fd` (the lock is about to be released and the fd closed).
pub(super) fn unregister(fd: RawFd) {
    for slot in &HELD {
        if slot
            .compare_exchange(fd, -1, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

/// Closes this process's copies of every held lock fd. Only for a freshly forked child: the
/// parent keeps its own fds, and with them the locks.
pub fn close_in_child() {
    for slot in &HELD {
        let fd = slot.swap(-1, Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: close(2) on an fd this (forked) process inherited and never uses again;
            // async-signal-safe.
            unsafe { libc::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_unregister_round_trip() {
        register(1000);
        assert!(HELD.iter().any(|s| s.load(Ordering::SeqCst) == 1000));
        unregister(1000);
        assert!(!HELD.iter().any(|s| s.load(Ordering::SeqCst) == 1000));
    }
}
