//! Terminals (config.md `process.terminal`, `consoleSize`; runc's `--console-socket`): the
//! test holds a pty as berth's stdio (foreground relay) or receives the master on a console
//! socket, types into the container and reads the echo, and checks the window size.

mod common;
#[path = "common/exec_support.rs"]
mod exec_support;

use std::io::Write;
use std::time::Duration;

use common::*;
use exec_support::*;
use serde_json::json;

const T: Duration = Duration::from_secs(20);

#[test]
fn foreground_run_relays_the_callers_terminal() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.args(&["sh"]).write();
    let rt = Runtime::new();
    let id = unique_id();
    let mut s = PtySession::spawn(&rt, &["run", "--bundle", b.path_str(), &id], 41, 133);
    s.send("stty size; tty; echo typed-$((6*7))\r");
    let out = s.expect("typed-42", T);
    // The caller's window size reached the container's pty, which is in its own devpts.
    assert!(out.contains("41 133"), "{out}");
    assert!(out.contains("/dev/pts/0"), "{out}");
    s.send("exit 3\r");
    assert_eq!(s.wait(T), 3, "{}", s.output());
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_tty_relays_the_callers_terminal() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    let mut s = PtySession::spawn(&rt, &["exec", "-t", &id, "sh"], 22, 77);
    s.send("stty size; [ -t 0 ] && echo is-a-tty-$((1+1))\r");
    let out = s.expect("is-a-tty-2", T);
    assert!(out.contains("22 77"), "{out}");
    s.send("exit 5\r");
    assert_eq!(s.wait(T), 5, "{}", s.output());
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn console_socket_receives_the_pty_master() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.config_mut()["process"]["consoleSize"] = json!({"height": 30, "width": 90});
    b.args(&["sh"]);
    let rt = Runtime::new();
    let id = unique_id();
    let console = ConsoleListener::new();
    b.write();
    rt.cmd(&[
        "create",
        "--console-socket",
        console.path_str(),
        "--bundle",
        b.path_str(),
        &id,
    ])
    .ok();
    let (name, mut master) = console.recv(T);
    assert!(!name.is_empty());
    rt.cmd(&["start", &id]).ok();
    master
        .write_all(b"stty size; echo via-socket-$((2*21))\n")
        .unwrap();
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "via-socket-42", T);
    assert!(seen.contains("30 90"), "consoleSize not applied: {seen}");
    master.write_all(b"exit\n").unwrap();
    rt.wait_status(&id, "stopped");
    rt.cmd(&["delete", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn exec_tty_with_console_socket() {
    if !require_root() {
        return;
    }
    let b = Bundle::new();
    let rt = Runtime::new();
    let id = unique_id();
    run_detached_sleeper(&rt, &b, &id);
    let console = ConsoleListener::new();
    rt.cmd(&[
        "exec",
        "-d",
        "-t",
        "--console-socket",
        console.path_str(),
        &id,
        "sh",
    ])
    .ok();
    let (_, mut master) = console.recv(T);
    master.write_all(b"tty; echo exec-sock-$((3*3))\n").unwrap();
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "exec-sock-9", T);
    assert!(seen.contains("/dev/pts/"), "{seen}");
    rt.cmd(&["delete", "--force", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn terminal_without_console_socket_is_refused_when_detaching() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["terminal"] = json!(true);
    let rt = Runtime::new();
    let id = unique_id();
    let out = rt.create(&b, &id);
    assert_eq!(
        out.stderr.trim(),
        format!("berth: create container {id:?}: process.terminal is true but no --console-socket was given to receive the terminal (berth exits after create; use --console-socket, or run it in the foreground)")
    );
    rt.assert_nothing_left(&id, &b);
    rt.cmd(&["run", "-d", "--bundle", b.path_str(), &id])
        .fails_with("no --console-socket was given");
    rt.assert_nothing_left(&id, &b);
}

#[test]
fn bad_console_sockets_are_named_and_leave_nothing() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.write();
    let rt = Runtime::new();
    let id = unique_id();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sock");
    let out = rt.cmd(&[
        "create",
        "--console-socket",
        missing.to_str().unwrap(),
        "--bundle",
        b.path_str(),
        &id,
    ]);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "berth: create container {id:?}: console socket {}: no such file",
            missing.display()
        )
    );
    rt.assert_nothing_left(&id, &b);
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let out = rt.cmd(&[
        "create",
        "--console-socket",
        file.to_str().unwrap(),
        "--bundle",
        b.path_str(),
        &id,
    ]);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "berth: create container {id:?}: console socket {} is not a unix socket",
            file.display()
        )
    );
    rt.assert_nothing_left(&id, &b);
    // A console socket without a terminal.
    b.config_mut()["process"]["terminal"] = json!(false);
    b.write();
    let console = ConsoleListener::new();
    rt.cmd(&[
        "create",
        "--console-socket",
        console.path_str(),
        "--bundle",
        b.path_str(),
        &id,
    ])
    .fails_with("--console-socket is only used with a terminal");
    rt.assert_nothing_left(&id, &b);
}

/// runtime-linux.md: with a terminal, /dev/console is the container's pty (bind-mounted).
#[test]
fn dev_console_is_the_containers_pty() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.args(&["sh"]);
    let rt = Runtime::new();
    let id = unique_id();
    let console = ConsoleListener::new();
    b.write();
    rt.cmd(&[
        "create",
        "--console-socket",
        console.path_str(),
        "--bundle",
        b.path_str(),
        &id,
    ])
    .ok();
    let (_name, mut master) = console.recv(T);
    rt.cmd(&["start", &id]).ok();
    // Same device as stdin: "136:N" twice (stat prints major:minor in hex). The terminal
    // echoes the typed line, so the marker is spelled so that only the output contains it.
    master
        .write_all(
            b"echo C=$(stat -c %t:%T /dev/console) I=$(stat -L -c %t:%T /proc/self/fd/0) d''one\n",
        )
        .unwrap();
    let mut seen = String::new();
    read_until(&mut master, &mut seen, " done", T);
    let line = seen
        .lines()
        .find(|l| l.starts_with("C="))
        .unwrap_or_else(|| panic!("{seen}"))
        .to_string();
    let (c, i) = line
        .trim_end_matches(" done")
        .split_once(' ')
        .unwrap_or_else(|| panic!("{line}"));
    assert!(c.starts_with("C=88:"), "/dev/console is not a pty: {line}");
    assert_eq!(
        &c[2..],
        &i[2..],
        "/dev/console is not the process's pty: {line}"
    );
    master.write_all(b"exit\n").unwrap();
    rt.wait_status(&id, "stopped");
    rt.cmd(&["delete", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}

/// CVE-2025-52565: a rootfs whose /dev/console is a symlink (here to a file the attacker
/// wants covered, as runc's bind once followed it to procfs files) is refused; the link's
/// target is never mounted over.
#[test]
fn dev_console_symlink_is_refused_and_not_followed() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.args(&["sh"]);
    // No tmpfs on /dev: the rootfs's own /dev is used, attacker symlink included.
    b.remove_mount("/dev");
    b.remove_mount("/dev/pts");
    b.mount(
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                   "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]}),
    );
    let victim = b.rootfs().join("victim");
    std::fs::write(&victim, "untouched").unwrap();
    std::fs::create_dir_all(b.rootfs().join("dev")).unwrap();
    std::os::unix::fs::symlink("/victim", b.rootfs().join("dev/console")).unwrap();
    let rt = Runtime::new();
    let id = unique_id();
    let console = ConsoleListener::new();
    b.write();
    let out = rt.cmd(&[
        "create",
        "--console-socket",
        console.path_str(),
        "--bundle",
        b.path_str(),
        &id,
    ]);
    out.fails_with("/dev/console in the container is a symlink: refusing to bind the terminal through it (CVE-2025-52565)");
    rt.assert_nothing_left(&id, &b);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
}

/// As runc: the pty peer belongs to the process's uid; its group stays devpts' `gid=5` (tty)
/// and its mode devpts' `mode=0620`.
#[test]
fn console_pty_belongs_to_the_process_uid() {
    if !require_root() {
        return;
    }
    let mut b = Bundle::new();
    b.config_mut()["process"]["terminal"] = json!(true);
    b.config_mut()["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.args(&["sh"]);
    let rt = Runtime::new();
    let id = unique_id();
    let console = ConsoleListener::new();
    b.write();
    rt.cmd(&[
        "create",
        "--console-socket",
        console.path_str(),
        "--bundle",
        b.path_str(),
        &id,
    ])
    .ok();
    let (_name, mut master) = console.recv(T);
    rt.cmd(&["start", &id]).ok();
    master
        .write_all(b"echo owner=$(stat -c %u:%g:%a $(tty))-e''nd\n")
        .unwrap();
    let mut seen = String::new();
    read_until(&mut master, &mut seen, "-end\r\n", T);
    assert!(seen.contains("owner=1000:5:620-end"), "{seen}");
    master.write_all(b"exit\n").unwrap();
    rt.wait_status(&id, "stopped");
    rt.cmd(&["delete", &id]).ok();
    rt.assert_nothing_left(&id, &b);
}
