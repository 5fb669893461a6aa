//! Whether the kernel's OOM killer acted in a container's memory cgroup, so that TaskOOM
//! precedes TaskExit (containerd's CRI then reports `OOMKilled`).
//!
//! cgroup v2: [`OomWatch`] watches each container's `memory.events` with inotify while it runs
//! (the kernel signals a modification when a count in it changes) and reports an OOM kill the
//! moment its `oom_kill` count grows. That matters under the systemd driver: once the init is
//! gone, systemd stops the emptied scope and removes its cgroup, often before the shim has
//! reaped the init, so a read at exit finds nothing. The read at exit ([`oom_kills`]) stays as
//! the fallback (a kill before the watch was added; no inotify) and is the only way on cgroup
//! v1, where it reads the `oom_kill` line of `memory.oom_control`.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_runtime::cgroups::CgroupPlan;

/// The number of OOM kills recorded for the container's cgroup (0 if unknown).
pub fn oom_kills(plan: &CgroupPlan) -> u64 {
    for h in &plan.hierarchies {
        let file = if h.is_v2() {
            "memory.events"
        } else if h.controllers().any(|c| c == "memory") {
            "memory.oom_control"
        } else {
            continue;
        };
        let n = read_oom_kill(&plan.dir(h).join(file));
        if n > 0 {
            return n;
        }
    }
    0
}

/// One watched `memory.events`: whose it is, and the `oom_kill` count last seen.
struct Watched {
    id: String,
    file: PathBuf,
    kills: u64,
}

/// The inotify watches on the containers' `memory.events` (cgroup v2), and the thread that
/// reads their events.
pub struct OomWatch {
    inotify: OwnedFd,
    /// By watch descriptor.
    watches: Mutex<HashMap<i32, Watched>>,
}

impl OomWatch {
    /// Starts the watching thread; `on_oom(id)` is called for each growth of a container's
    /// `oom_kill` count. The thread blocks in read(2) on the inotify fd and ends with the shim.
    pub fn start(on_oom: impl Fn(&str) + Send + 'static) -> std::io::Result<Arc<OomWatch>> {
        // SAFETY: inotify_init1 takes no pointers; a non-negative result is a new fd we own.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by inotify_init1 and nothing else owns it.
        let inotify = unsafe { OwnedFd::from_raw_fd(fd) };
        let watch = Arc::new(OomWatch {
            inotify,
            watches: Mutex::new(HashMap::new()),
        });
        let w = watch.clone();
        std::thread::Builder::new()
            .name("oom".into())
            .stack_size(64 * 1024)
            .spawn(move || w.serve(on_oom))?;
        Ok(watch)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Watched>> {
        self.watches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Watches the `memory.events` of container `id`'s v2 cgroup, if it has one.
    pub fn watch(&self, id: &str, plan: &CgroupPlan) {
        for h in plan.hierarchies.iter().filter(|h| h.is_v2()) {
            let file = plan.dir(h).join("memory.events");
            let Ok(path) = std::ffi::CString::new(file.as_os_str().as_encoded_bytes()) else {
                continue;
            };
            // Under the lock, so that the thread finds the entry of an event on the new watch.
            let mut watches = self.lock();
            // SAFETY: `path` is a NUL-terminated string that outlives the call.
            let wd = unsafe {
                libc::inotify_add_watch(self.inotify.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY)
            };
            if wd < 0 {
                // No memory controller in the cgroup (no file), or no watch left: the read at
                // exit still applies.
                containerd_shim::debug!(
                    "watch {} for OOM kills: {}",
                    file.display(),
                    std::io::Error::last_os_error()
                );
                continue;
            }
            let kills = read_oom_kill(&file);
            watches.insert(
                wd,
                Watched {
                    id: id.to_string(),
                    file,
                    kills,
                },
            );
        }
    }

    /// Stops watching container `id` (its cgroup is going away).
    pub fn unwatch(&self, id: &str) {
        self.lock().retain(|wd, w| {
            if w.id != id {
                return true;
            }
            // SAFETY: plain syscall on our inotify fd; a stale wd is EINVAL, which is harmless.
            unsafe { libc::inotify_rm_watch(self.inotify.as_raw_fd(), *wd) };
            false
        });
    }

    /// The id of the container whose `oom_kill` count grew, if the event on `wd` says so.
    fn check(&self, wd: i32, mask: u32) -> Option<String> {
        let mut watches = self.lock();
        if mask & libc::IN_IGNORED != 0 {
            // The file is gone (the cgroup was removed): the kernel dropped the watch.
            watches.remove(&wd);
            return None;
        }
        let w = watches.get_mut(&wd)?;
        let kills = read_oom_kill(&w.file);
        if kills > w.kills {
            w.kills = kills;
            return Some(w.id.clone());
        }
        None
    }

    fn serve(&self, on_oom: impl Fn(&str)) {
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: `buf` is writable for its whole length.
            let n =
                unsafe { libc::read(self.inotify.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                containerd_shim::error!(
                    "read the OOM watch's inotify events: {}",
                    std::io::Error::last_os_error()
                );
                return;
            }
            for (wd, mask) in events(&buf[..n as usize]) {
                if let Some(id) = self.check(wd, mask) {
                    on_oom(&id);
                }
            }
        }
    }
}

/// The (watch descriptor, mask) of each `struct inotify_event` in `buf` (inotify(7): wd, mask,
/// cookie, len, then `len` bytes of name).
fn events(buf: &[u8]) -> Vec<(i32, u32)> {
    const HEADER: usize = 16;
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEADER <= buf.len() {
        let word = |i: usize| {
            let b = &buf[at + i..at + i + 4];
            [b[0], b[1], b[2], b[3]]
        };
        let wd = i32::from_ne_bytes(word(0));
        let mask = u32::from_ne_bytes(word(4));
        let len = u32::from_ne_bytes(word(12)) as usize;
        out.push((wd, mask));
        at += HEADER + len;
    }
    out
}

fn read_oom_kill(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .map(|s| parse_oom_kill(&s))
        .unwrap_or(0)
}

/// The value of the `oom_kill` key of a flat-keyed cgroup file.
pub fn parse_oom_kill(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .find(|(k, _)| *k == "oom_kill")
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inotify_events_are_split_at_their_lengths() {
        let mut buf = Vec::new();
        for (wd, mask, name) in [
            (3i32, libc::IN_MODIFY, &b""[..]),
            (4, libc::IN_IGNORED, b"abcd"),
        ] {
            buf.extend_from_slice(&wd.to_ne_bytes());
            buf.extend_from_slice(&mask.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&(name.len() as u32).to_ne_bytes());
            buf.extend_from_slice(name);
        }
        assert_eq!(
            events(&buf),
            vec![(3, libc::IN_MODIFY), (4, libc::IN_IGNORED)]
        );
    }

    /// The watch itself, on a plain file standing in for memory.events (inotify works the same
    /// on any file): a growth of `oom_kill` is reported once, other changes are not.
    #[test]
    fn a_growing_oom_kill_count_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("memory.events");
        std::fs::write(&file, "oom 0\noom_kill 0\n").unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let w = OomWatch::start(move |id| tx.send(id.to_string()).unwrap()).unwrap();
        let path = std::ffi::CString::new(file.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        let wd = unsafe {
            libc::inotify_add_watch(w.inotify.as_raw_fd(), path.as_ptr(), libc::IN_MODIFY)
        };
        assert!(wd >= 0);
        w.lock().insert(
            wd,
            Watched {
                id: "c1".into(),
                file: file.clone(),
                kills: 0,
            },
        );
        std::fs::write(&file, "oom 1\noom_kill 0\n").unwrap();
        std::fs::write(&file, "oom 1\noom_kill 1\n").unwrap();
        let got = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(got, "c1");
        std::fs::write(&file, "oom 2\noom_kill 1\n").unwrap();
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "no second report without a new kill"
        );
        w.unwatch("c1");
        assert!(w.lock().is_empty());
    }

    #[test]
    fn oom_kill_lines_of_v1_and_v2() {
        assert_eq!(
            parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            2
        );
        assert_eq!(
            parse_oom_kill("low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n"),
            1
        );
        assert_eq!(parse_oom_kill("oom_kill_disable 0\nunder_oom 0\n"), 0);
    }
}
