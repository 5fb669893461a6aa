//! A tiny process-global logger shared by the CLI and the shim.
//!
//! Lines look like runc's (logrus) so that tools reading runc's `--log` file read ours:
//!
//! ```text
//! {"level":"info","msg":"container started","time":"2026-11-22T06:33:01.123456789Z"}   (Json)
//! time="2026-11-22T06:33:01.123456789Z" level=info msg="container started"               (Text)
//! ```
//!
//! containerd's runc shim parses `level`, `msg` and `time` out of the JSON form; the keys come in
//! logrus' (alphabetical) order and levels use logrus' names (`warning`, not `warn`).
//!
//! Until [`init`] is called, lines go to stderr as text and debug lines are dropped. Each line is
//! written with one `write(2)`, so processes appending to the same file (`O_APPEND`) do not
//! interleave within a line. A disabled level costs one atomic load: the macros check
//! [`enabled`] before evaluating their arguments.
//!
//! The sink sits behind a mutex: a forked child must not log before `exec` if another thread
//! could have held it at fork time (the CLI is single-threaded there).

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::state::now_rfc3339;

/// How each line is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// logrus' text formatter: `time="..." level=info msg="..."`.
    Text,
    /// One JSON object per line: `{"level":"info","msg":"...","time":"..."}`.
    Json,
}

/// Severity of a line, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    /// The level as logrus spells it in its output.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

enum Target {
    Stderr,
    File(File),
}

struct Sink {
    target: Target,
    format: LogFormat,
}

static DEBUG: AtomicBool = AtomicBool::new(false);
static SINK: Mutex<Sink> = Mutex::new(Sink {
    target: Target::Stderr,
    format: LogFormat::Text,
});

/// Send log lines to `path` (appended to, created 0644 if missing, like runc's `--log`) or to
/// stderr when `None`, in `format`; emit debug lines only if `debug`. May be called again to
/// switch sinks.
pub fn init(path: Option<&Path>, format: LogFormat, debug: bool) -> io::Result<()> {
    let target = match path {
        Some(path) => Target::File(
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o644)
                .open(path)?,
        ),
        None => Target::Stderr,
    };
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    *sink = Sink { target, format };
    DEBUG.store(debug, Ordering::Relaxed);
    Ok(())
}

/// Whether a line at `level` would be written.
#[inline]
pub fn enabled(level: Level) -> bool {
    level != Level::Debug || DEBUG.load(Ordering::Relaxed)
}

/// Write one line at `level`; use the `log_*!` macros instead. Failures to write are ignored:
/// the log is where errors would be reported.
#[doc(hidden)]
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    let owned;
    let msg = match args.as_str() {
        Some(s) => s,
        None => {
            owned = args.to_string();
            &owned
        }
    };
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    let line = format_line(sink.format, level, &now_rfc3339(), msg);
    let _ = match &mut sink.target {
        Target::Stderr => io::stderr().lock().write_all(line.as_bytes()),
        Target::File(file) => file.write_all(line.as_bytes()),
    };
}

/// Render one line, newline included.
pub fn format_line(format: LogFormat, level: Level, time: &str, msg: &str) -> String {
    match format {
        LogFormat::Json => {
            // serde_json's string encoding is the JSON escaping; it cannot fail for a &str.
            let msg = serde_json::to_string(msg).unwrap_or_default();
            let time = serde_json::to_string(time).unwrap_or_default();
            format!(
                "{{\"level\":\"{}\",\"msg\":{msg},\"time\":{time}}}\n",
                level.as_str()
            )
        }
        LogFormat::Text => {
            let mut line = String::with_capacity(msg.len() + time.len() + 32);
            line.push_str("time=");
            push_go_quoted(&mut line, time);
            line.push_str(" level=");
            line.push_str(level.as_str());
            line.push_str(" msg=");
            push_go_quoted(&mut line, msg);
            line.push('\n');
            line
        }
    }
}

/// Append `s` quoted the way Go's `%q` (logrus' text formatter) does: `"` and `\` escaped,
/// control characters as `\n`, `\t`, `\r` or `\xNN`, so one message is always one line.
fn push_go_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Log at debug level (only when [`init`] enabled debug), `format!` style.
#[macro_export]
macro_rules! log_debug {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Debug) {
            $crate::log::write($crate::log::Level::Debug, format_args!($($arg)+))
        }
    };
}

/// Log at info level, `format!` style.
#[macro_export]
macro_rules! log_info {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Info) {
            $crate::log::write($crate::log::Level::Info, format_args!($($arg)+))
        }
    };
}

/// Log at warning level, `format!` style.
#[macro_export]
macro_rules! log_warn {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Warn) {
            $crate::log::write($crate::log::Level::Warn, format_args!($($arg)+))
        }
    };
}

/// Log at error level, `format!` style.
#[macro_export]
macro_rules! log_error {
    ($($arg:tt)+) => {
        if $crate::log::enabled($crate::log::Level::Error) {
            $crate::log::write($crate::log::Level::Error, format_args!($($arg)+))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-11-22T06:33:01.123456789Z";

    #[test]
    fn json_line_has_exactly_level_msg_time() {
        assert_eq!(
            format_line(LogFormat::Json, Level::Info, T, "hello"),
            format!("{{\"level\":\"info\",\"msg\":\"hello\",\"time\":\"{T}\"}}\n")
        );
    }

    #[test]
    fn json_line_escapes_and_round_trips() {
        let msg = "say \"hi\"\\ now\nnext\tline \u{1} é";
        let line = format_line(LogFormat::Json, Level::Warn, T, msg);
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(
            line.contains(r#""msg":"say \"hi\"\\ now\nnext\tline \u0001 é""#),
            "{line}"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["msg"], msg);
        assert_eq!(v["level"], "warning");
        assert_eq!(v["time"], T);
        assert_eq!(v.as_object().unwrap().len(), 3);
    }

    #[test]
    fn text_line_is_logrus_shaped_and_escaped() {
        assert_eq!(
            format_line(LogFormat::Text, Level::Error, T, "File config.json exists"),
            format!("time=\"{T}\" level=error msg=\"File config.json exists\"\n")
        );
        assert_eq!(
            format_line(LogFormat::Text, Level::Debug, T, "a \"b\"\\\n\u{7f}"),
            format!("time=\"{T}\" level=debug msg=\"a \\\"b\\\"\\\\\\n\\x7f\"\n")
        );
    }

    /// The only test touching the global sink (tests run in parallel in one process).
    #[test]
    fn init_appends_to_file_and_filters_debug() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        std::fs::write(&path, "earlier\n").unwrap();

        init(Some(&path), LogFormat::Json, false).unwrap();
        crate::log_debug!("hidden {}", 1);
        crate::log_info!("shown {}", 2);
        crate::log_error!("plain");
        init(Some(&path), LogFormat::Text, true).unwrap();
        crate::log_debug!("now visible");
        init(None, LogFormat::Text, false).unwrap();

        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "earlier");
        let info: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(
            (info["level"].as_str(), info["msg"].as_str()),
            (Some("info"), Some("shown 2"))
        );
        assert!(
            lines[2].starts_with("{\"level\":\"error\",\"msg\":\"plain\""),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].ends_with("level=debug msg=\"now visible\""),
            "{}",
            lines[3]
        );
        assert!(!enabled(Level::Debug));
    }
}
