//! Signal names and numbers as the CLI and the OCI spec spell them.
//!
//! [`parse_signal`] follows runc's `parseSignal`: a decimal number is taken as is, otherwise the
//! name is upper-cased and a missing `SIG` prefix is added (`kill`, `KILL`, `SIGKILL` and `9` all
//! mean SIGKILL). On top of runc it accepts the real-time signals by name, spelled as kill(1) and
//! Docker do: `RTMIN`, `RTMIN+N`, `RTMAX-N`, `RTMAX` (with or without `SIG`).
//!
//! The result is a raw `i32`, not a `nix::sys::signal::Signal`, because nix's enum cannot
//! represent real-time signals. Pass it to `kill(2)` directly (`libc::kill`), or convert with
//! `Signal::try_from` where only a standard signal makes sense.

/// The standard (non real-time) Linux signals by name, including the historical aliases
/// (`IOT`, `POLL`, `CLD`) that signal(7) lists.
const STANDARD_SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGABRT", libc::SIGABRT),
    ("SIGIOT", libc::SIGIOT),
    ("SIGBUS", libc::SIGBUS),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    ("SIGSTKFLT", libc::SIGSTKFLT),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGPROF", libc::SIGPROF),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGIO", libc::SIGIO),
    ("SIGPOLL", libc::SIGPOLL),
    ("SIGPWR", libc::SIGPWR),
    ("SIGSYS", libc::SIGSYS),
];

/// Why a signal could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignalError {
    /// Not a signal name nor a number in 0..=SIGRTMAX.
    #[error("unknown signal {0:?}")]
    Unknown(String),
}

/// The lowest real-time signal a program may use: the C library reserves the first two or three
/// above the kernel's 32 for its own threads (glibc: 34, musl: 35), so ask it.
fn sigrtmin() -> i32 {
    libc::SIGRTMIN()
}

fn sigrtmax() -> i32 {
    libc::SIGRTMAX()
}

/// Parse a signal as `berth kill` and the OCI `kill` operation accept it (see the module doc).
/// Returns the signal number; unknown names and numbers outside `0..=SIGRTMAX` are
/// `unknown signal "FOO"`. 0 is accepted as runc accepts it: kill(2) with signal 0 delivers
/// nothing and only checks that the process exists (a liveness probe).
pub fn parse_signal(s: &str) -> Result<i32, SignalError> {
    let unknown = || SignalError::Unknown(s.to_owned());
    // runc takes any decimal number; we at least refuse ones kill(2) would reject. 0 stays:
    // runc passes it on, and clients use `kill ID 0` to ask whether the init still lives.
    if let Ok(n) = s.parse::<i32>() {
        return if (0..=sigrtmax()).contains(&n) {
            Ok(n)
        } else {
            Err(unknown())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = STANDARD_SIGNALS.iter().find(|(full, _)| &full[3..] == name) {
        return Ok(n);
    }
    realtime(name).ok_or_else(unknown)
}

/// `RTMIN`, `RTMIN+N`, `RTMAX-N`, `RTMAX`, staying within `SIGRTMIN..=SIGRTMAX`.
fn realtime(name: &str) -> Option<i32> {
    let offset = |rest: &str, sign: char| -> Option<i32> {
        match rest {
            "" => Some(0),
            _ => {
                let digits = rest.strip_prefix(sign)?;
                // No second sign ("RTMIN+-1"): i32::from_str would accept "+1".
                if !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                digits.parse().ok()
            }
        }
    };
    let n = if let Some(rest) = name.strip_prefix("RTMIN") {
        sigrtmin().checked_add(offset(rest, '+')?)?
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        sigrtmax().checked_sub(offset(rest, '-')?)?
    } else {
        return None;
    };
    (sigrtmin()..=sigrtmax()).contains(&n).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    #[test]
    fn kill_in_every_spelling() {
        for s in ["KILL", "SIGKILL", "kill", "sigkill", "SigKill", "9"] {
            assert_eq!(parse_signal(s), Ok(libc::SIGKILL), "{s}");
        }
    }

    #[test]
    fn every_standard_nix_signal_by_name_and_number() {
        for sig in Signal::iterator() {
            let n = sig as i32;
            assert_eq!(parse_signal(sig.as_str()), Ok(n), "{sig}");
            assert_eq!(parse_signal(&sig.as_str()[3..]), Ok(n), "{sig}");
            assert_eq!(parse_signal(&n.to_string()), Ok(n), "{sig}");
        }
    }

    #[test]
    fn aliases() {
        assert_eq!(parse_signal("IOT"), Ok(libc::SIGABRT));
        assert_eq!(parse_signal("SIGPOLL"), Ok(libc::SIGIO));
        assert_eq!(parse_signal("cld"), Ok(libc::SIGCHLD));
    }

    #[test]
    fn realtime_signals() {
        let (min, max) = (sigrtmin(), sigrtmax());
        assert_eq!(max, 64);
        assert_eq!(parse_signal("RTMIN"), Ok(min));
        assert_eq!(parse_signal("SIGRTMIN+3"), Ok(min + 3));
        assert_eq!(parse_signal("rtmin+0"), Ok(min));
        assert_eq!(parse_signal("RTMAX"), Ok(max));
        assert_eq!(parse_signal("SIGRTMAX-2"), Ok(max - 2));
        assert_eq!(parse_signal(&format!("RTMIN+{}", max - min)), Ok(max));
        assert_eq!(parse_signal("34"), Ok(34));
        assert_eq!(parse_signal("64"), Ok(64));
    }

    #[test]
    fn zero_is_the_existence_probe() {
        assert_eq!(parse_signal("0"), Ok(0));
    }

    #[test]
    fn unknown_signals() {
        for s in [
            "FOO",
            "",
            "SIG",
            "-9",
            "65",
            "RTMIN+100",
            "RTMIN-1",
            "RTMAX+1",
            "RTMIN+-1",
            "RTMIN++1",
            "RTMIN 1",
            "9x",
        ] {
            assert_eq!(
                parse_signal(s),
                Err(SignalError::Unknown(s.to_owned())),
                "{s:?}"
            );
        }
        assert_eq!(
            parse_signal("FOO").unwrap_err().to_string(),
            "unknown signal \"FOO\""
        );
    }
}
