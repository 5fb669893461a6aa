//! The processes of a container that has no cgroup (`--cgroup-manager=disabled`), for
//! `kill --all`: without a cgroup the only kernel object that holds exactly the container's
//! processes is its pid namespace — when the container created it.
//!
//! The container created its pid namespace exactly when its init is pid 1 there (the last
//! `NSpid` field of `/proc/<pid>/status`, proc(5)); a pid namespace it shares or joined
//! (`linux.namespaces[].path`) holds processes that are not the container's, so it is never
//! scanned. Members are the processes whose `/proc/<pid>/ns/pid` is the init's (namespaces(7):
//! same link target, same namespace). Processes of pid namespaces nested inside the
//! container's are not members; they die with the container's init all the same
//! (pid_namespaces(7): the kernel SIGKILLs every process of a namespace whose init exits).

use std::path::Path;

/// The pid namespace a container's init created, and who was in it when it was scanned.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct OwnPidNs {
    /// The target of the init's `/proc/<pid>/ns/pid`, e.g. `pid:[4026532123]`.
    link: String,
    /// Every process in it, the init included, in pid order.
    pub members: Vec<i32>,
}

impl OwnPidNs {
    /// The pid namespace of `init` and its members, read from `proc_root` (`/proc` outside
    /// tests); `None` when `init` is not pid 1 of its pid namespace or is gone. The caller
    /// checks that `init` is still the container's init (pid and start time) around this call.
    /// Processes that exit while the namespace is scanned are skipped.
    pub fn of(proc_root: &Path, init: i32) -> Option<OwnPidNs> {
        if !is_namespace_init(proc_root, init) {
            return None;
        }
        let link = pid_ns_of(proc_root, init)?;
        let mut members: Vec<i32> = std::fs::read_dir(proc_root)
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|&pid| pid_ns_of(proc_root, pid).as_deref() == Some(link.as_str()))
            .collect();
        members.sort_unstable();
        Some(OwnPidNs { link, members })
    }

    /// True when `pid` is (still) in this namespace: checked again once a pidfd pins the
    /// process, so a pid reused by a process outside the container is never signalled.
    pub fn holds(&self, proc_root: &Path, pid: i32) -> bool {
        pid_ns_of(proc_root, pid).as_deref() == Some(self.link.as_str())
    }
}

/// True when `pid` is pid 1 of its own (non-initial) pid namespace: its `NSpid` line has more
/// than one field and the last, its pid in the innermost namespace, is 1.
fn is_namespace_init(proc_root: &Path, pid: i32) -> bool {
    let Ok(status) = std::fs::read_to_string(proc_root.join(pid.to_string()).join("status")) else {
        return false;
    };
    let Some(line) = status.lines().find_map(|l| l.strip_prefix("NSpid:")) else {
        return false;
    };
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields.len() > 1 && fields.last() == Some(&"1")
}

/// The target of `/proc/<pid>/ns/pid`, e.g. `pid:[4026532123]`.
fn pid_ns_of(proc_root: &Path, pid: i32) -> Option<String> {
    std::fs::read_link(proc_root.join(pid.to_string()).join("ns/pid"))
        .ok()
        .map(|t| t.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake /proc: each entry is (pid, NSpid fields, pid namespace inode).
    fn fake_proc(entries: &[(i32, &str, u64)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (pid, nspid, ns) in entries {
            let p = dir.path().join(pid.to_string());
            std::fs::create_dir_all(p.join("ns")).unwrap();
            std::fs::write(
                p.join("status"),
                format!("Name:\tx\nPid:\t{pid}\nNSpid:\t{nspid}\n"),
            )
            .unwrap();
            std::os::unix::fs::symlink(format!("pid:[{ns}]"), p.join("ns/pid")).unwrap();
        }
        std::fs::create_dir(dir.path().join("self")).unwrap(); // not a pid: ignored
        dir
    }

    #[test]
    fn members_of_the_namespace_the_init_created() {
        let proc = fake_proc(&[
            (1, "1", 100),
            (50, "50\t1", 200),    // the container's init
            (51, "51\t2", 200),    // its child
            (60, "60\t7", 200),    // an exec'd process
            (70, "70", 100),       // a host process
            (80, "80\t1\t1", 300), // the init of a namespace nested in the container's
        ]);
        let ns = OwnPidNs::of(proc.path(), 50).expect("the init's own namespace");
        assert_eq!(ns.members, [50, 51, 60]);
        assert!(ns.holds(proc.path(), 60));
        assert!(!ns.holds(proc.path(), 70), "a host process");
        assert!(!ns.holds(proc.path(), 99), "a gone process");
    }

    #[test]
    fn no_members_without_an_own_pid_namespace() {
        let proc = fake_proc(&[
            (1, "1", 100),
            (50, "50", 100),    // shares the host's pid namespace
            (60, "60\t9", 200), // joined a namespace whose init is someone else
            (61, "61\t1", 200),
        ]);
        assert_eq!(OwnPidNs::of(proc.path(), 50), None);
        assert_eq!(OwnPidNs::of(proc.path(), 60), None);
        assert_eq!(
            OwnPidNs::of(proc.path(), 99),
            None,
            "a gone init has no namespace"
        );
    }
}
