//! Whether a recorded container pid is still the container's process: alive, not exiting nor
//! a zombie, and with the same start time (so a reused pid cannot pass for it).

use std::path::Path;

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 3: R, S, D, Z, T, …
    pub state: char,
    /// Field 9: the kernel's per-task flags (PF_*).
    pub flags: u64,
    /// Field 22: start time in clock ticks after boot.
    pub start_time: u64,
}

/// Reads `<proc>/<pid>/stat`; `None` if the process does not exist.
pub fn proc_stat(proc_root: &Path, pid: i32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<ProcStat> {
    // The command name (field 2) is in parentheses and may itself contain ") ", so split at
    // the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // `rest` starts at field 3; field 9 is 6 further on, and field 22 13 after that.
    let flags = fields.nth(5)?.parse().ok()?;
    let start_time = fields.nth(12)?.parse().ok()?;
    Some(ProcStat {
        state,
        flags,
        start_time,
    })
}

/// PF_EXITING (include/linux/sched.h): set when the task enters do_exit, before it closes
/// its files and long before it is a zombie.
const PF_EXITING: u64 = 0x4;

/// Whether `pid` is still the process that had `start_time`, and is neither exiting nor
/// exited. The exiting check matters to `start`: a SIGKILLed init closes exec.fifo on its way
/// out, which without it looked like an init that had gone on to execve.
pub fn is_alive(proc_root: &Path, pid: i32, start_time: u64) -> bool {
    matches!(proc_stat(proc_root, pid), Some(s) if s.start_time == start_time
        && s.state != 'Z' && s.state != 'X' && s.flags & PF_EXITING == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_state_and_start_time_even_with_parens_in_comm() {
        let line =
            "1234 (a) b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(ProcStat {
                state: 'S',
                flags: 4194560,
                start_time: 987654
            })
        );
    }

    #[test]
    fn an_exiting_process_is_not_alive() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("7")).unwrap();
        let stat = |flags: u64| {
            format!("7 (init) R 1 7 7 0 -1 {flags} 0 0 0 0 1 2 0 0 20 0 1 0 555 1000 10")
        };
        std::fs::write(dir.path().join("7/stat"), stat(0x400100)).unwrap();
        assert!(is_alive(dir.path(), 7, 555));
        // PF_EXITING: SIGKILLed, in do_exit, not yet a zombie.
        std::fs::write(dir.path().join("7/stat"), stat(0x400104)).unwrap();
        assert!(!is_alive(dir.path(), 7, 555));
    }

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = std::process::id() as i32;
        let stat = proc_stat(Path::new("/proc"), me).unwrap();
        assert!(is_alive(Path::new("/proc"), me, stat.start_time));
        assert!(!is_alive(Path::new("/proc"), me, stat.start_time + 1));
    }

    #[test]
    fn missing_process_is_not_alive() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_alive(dir.path(), 1, 0));
    }
}
