//! Thin wrappers over the raw syscalls nix does not cover, shared by the process model and the
//! other subsystems (hooks, terminal, bundle, container, the channel framing). Every `unsafe`
//! block of the process module lives here (style point 9); a subsystem's own syscalls stay in
//! its own `sys.rs` (`rootfs/`, `terminal/`, `seccomp/`).

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// fork(2). Returns 0 in the child.
///
/// Callers must be single-threaded (the berth CLI is), so the child's copy of every lock is
/// consistent.
pub fn fork() -> nix::Result<libc::pid_t> {
    // SAFETY: fork has no memory-safety preconditions for a single-threaded caller; the child
    // only continues the caller's own code.
    let pid = unsafe { libc::fork() };
    nix::errno::Errno::result(pid)
}

/// Runs `f` in a forked child (for steps that change the process, such as setns into a user
/// namespace, which needs a single-threaded caller anyway) and returns the text it produced,
/// passed back over a pipe. The child exits right after; its exit is reaped here.
///
/// Callers must be single-threaded, as for [`fork`].
pub fn in_forked_child(f: impl FnOnce() -> std::io::Result<String>) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let pid = fork()?;
    if pid == 0 {
        drop(r);
        let mut w = std::fs::File::from(w);
        let code = match f() {
            Ok(text) => w
                .write_all(format!("ok\n{text}").as_bytes())
                .map_or(2, |_| 0),
            Err(e) => w
                .write_all(format!("err\n{}", e.raw_os_error().unwrap_or(0)).as_bytes())
                .map_or(2, |_| 1),
        };
        exit_child(code);
    }
    drop(w);
    let mut out = String::new();
    let read = std::fs::File::from(r).read_to_string(&mut out);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    read?;
    match out.split_once('\n') {
        Some(("ok", text)) => Ok(text.to_string()),
        Some(("err", errno)) => Err(std::io::Error::from_raw_os_error(
            errno.trim().parse().unwrap_or(libc::EIO),
        )),
        _ => Err(std::io::ErrorKind::UnexpectedEof.into()),
    }
}

/// fork(2), with the child started inside the cgroup2 directory `cgroup` when one is given:
/// `clone3(CLONE_INTO_CGROUP)` (Linux 5.7). Returns the pid (0 in the child) and whether the
/// child was born in that cgroup. Any clone3 failure (an older kernel, or a cgroup the kernel
/// will not start a process in) falls back to a plain fork: the caller then joins the cgroup
/// by writing `cgroup.procs`, which reports the real problem if there is one.
///
/// Callers must be single-threaded, as for [`fork`].
pub fn fork_into_cgroup(
    cgroup: Option<std::os::fd::BorrowedFd>,
) -> nix::Result<(libc::pid_t, bool)> {
    use std::os::fd::AsRawFd;
    let Some(cgroup) = cgroup else {
        return fork().map(|pid| (pid, false));
    };
    // <linux/sched.h>; libc's constant is a c_int, which this 64-bit flag overflows.
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    // struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2, 88 bytes).
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup.as_raw_fd() as u64,
    };
    // SAFETY: `args` is a valid clone_args of the size passed; with no stack, clone3 behaves
    // like fork (the child continues on a copy-on-write copy of this stack), and the caller is
    // single-threaded, so no lock is held by another thread across the clone.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match nix::errno::Errno::result(pid) {
        Ok(pid) => Ok((pid as libc::pid_t, true)),
        Err(_) => fork().map(|pid| (pid, false)),
    }
}

/// clone(2) with CLONE_PARENT and no new stack: like fork, but the new process is a child of
/// the caller's parent, so `berth run` can wait for the container init directly.
pub fn fork_sibling() -> nix::Result<libc::pid_t> {
    // SAFETY: with a NULL stack, clone behaves like fork (copy-on-write stack); the caller is
    // single-threaded, so no lock is held by another thread across the clone.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    nix::errno::Errno::result(pid).map(|p| p as libc::pid_t)
}

/// pidfd_open(2): a handle on a process that stays valid (and never refers to another
/// process) even after the pid is reused.
pub fn pidfd_open(pid: libc::pid_t) -> nix::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = nix::errno::Errno::result(fd)? as RawFd;
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// pidfd_send_signal(2).
pub fn pidfd_send_signal(pidfd: RawFd, sig: libc::c_int) -> nix::Result<()> {
    // SAFETY: plain syscall; a NULL siginfo means "as kill(2) would send it".
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    nix::errno::Errno::result(r).map(drop)
}

/// Marks every fd from `first` on close-on-exec, so only stdio and the preserved fds reach
/// the container (CVE-2024-21626: a leaked runtime fd let a container reach the host
/// filesystem). close_range(2) with CLOSE_RANGE_CLOEXEC (Linux 5.11); on older kernels, or
/// wherever it is refused, each open fd listed in /proc/self/fd gets FD_CLOEXEC.
///
/// Runs before the seccomp filter is loaded: a profile need not allow close_range (older
/// profiles cannot name it), and every fd berth opens afterwards is close-on-exec already.
pub fn cloexec_from(first: u32) -> Result<(), CloexecError> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: plain syscall with integer arguments; it only changes fd flags.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    match nix::errno::Errno::result(r) {
        Ok(_) => Ok(()),
        Err(range) => cloexec_by_listing(first).map_err(|list| CloexecError { range, list }),
    }
}

/// Neither way of marking the fds close-on-exec worked.
#[derive(Debug, thiserror::Error)]
#[error("mark fds close-on-exec: close_range: {range}; fcntl(F_SETFD) over /proc/self/fd")]
pub struct CloexecError {
    range: nix::Error,
    #[source]
    list: std::io::Error,
}

fn cloexec_by_listing(first: u32) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    // Collect first: the directory's own fd appears in the listing while it is read.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd: &i32| fd >= first as i32)
        .collect();
    for fd in fds {
        // SAFETY: the fd number came from this process's fd table; F_SETFD only sets a flag.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        match fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)) {
            Ok(_) | Err(nix::Error::EBADF) => {} // EBADF: the listing's own, now closed
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Empty the signal mask and turn every ignored signal back to its default, so the container
/// starts with defaults rather than what berth blocked, what Rust's runtime ignores (SIGPIPE)
/// or what berth's caller ignored (nohup's SIGHUP): execve resets handlers but keeps SIG_IGN.
/// runc's containers start with nothing ignored, whatever its caller ignored.
pub fn reset_signals() {
    let empty = nix::sys::signal::SigSet::empty();
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&empty),
        None,
    );
    // Every signal the kernel has (_NSIG = 64).
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        set_default_if_ignored(sig);
    }
}

/// The kernel's `struct sigaction` for rt_sigaction(2) on x86_64 (not glibc's,
/// whose wrapper also refuses signals 32 and 33, which glibc keeps for itself).
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// SIG_DFL for `sig` when it is SIG_IGN; anything else is left (execve resets handlers).
/// Raw rt_sigaction, so that 32 and 33 are reset too (an ignored 32 reaches runc's programs).
fn set_default_if_ignored(sig: libc::c_int) {
    let mut old = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    let size = std::mem::size_of::<u64>();
    // SAFETY: a query (null new action) into a valid out-parameter of the kernel's layout.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            std::ptr::null::<KernelSigaction>(),
            &mut old as *mut KernelSigaction,
            size,
        )
    };
    if r != 0 || old.handler != libc::SIG_IGN {
        return;
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: SIG_DFL installs no handler code (so no restorer is needed).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &default as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            size,
        )
    };
}

/// Runs `f` with SIGPIPE ignored, then restores the default (which [`reset_signals`] set for
/// the program): for the init's one write that may meet a vanished reader.
pub fn with_sigpipe_ignored<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: SIG_IGN and SIG_DFL install no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let out = f();
    // SAFETY: as above.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    out
}

/// Sets the parent-death signal, then checks the parent did not die before it took effect.
pub fn die_with_parent(expected_parent: libc::pid_t) -> nix::Result<()> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
    if expected_parent != 0 && nix::unistd::getppid().as_raw() != expected_parent {
        return Err(nix::Error::ESRCH);
    }
    Ok(())
}

/// What `/proc/<pid>/cmdline` of a berth process that enters a container shows once
/// [`scrub_cmdline_and_environ`] ran.
pub const SCRUBBED_CMDLINE: &str = "berth";

/// Overwrite this process's argument and environment blocks with zeros (the argument block
/// starting with [`SCRUBBED_CMDLINE`]): they are what `/proc/<pid>/cmdline` (readable by every
/// process of the pid namespace) and `/proc/<pid>/environ` show, and a fork of the berth CLI
/// that enters a container would otherwise show the caller's command line (`exec -e KEY=...`,
/// the bundle path) and environment to the container until its execve. Only for a forked
/// child that no longer reads its own arguments or environment: `std::env` reads the blocks
/// in place. The addresses come from `/proc/self/stat` (fields 48–51); PR_SET_MM would move
/// them instead but needs CAP_SYS_RESOURCE.
pub fn scrub_cmdline_and_environ() -> std::io::Result<()> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let bad = || std::io::Error::from(std::io::ErrorKind::InvalidData);
    // Fields after the command name, which is in parentheses and may contain anything.
    let rest = stat.rsplit_once(')').ok_or_else(bad)?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field n (1-based, man 5 proc) is fields[n - 3].
    let field = |n: usize| -> std::io::Result<usize> {
        fields
            .get(n - 3)
            .and_then(|f| f.parse().ok())
            .ok_or_else(bad)
    };
    let (arg_start, arg_end) = (field(48)?, field(49)?);
    let (env_start, env_end) = (field(50)?, field(51)?);
    for (start, end) in [(arg_start, arg_end), (env_start, env_end)] {
        if end > start {
            // SAFETY: [start, end) is this process's own argument or environment block, mapped
            // and writable (the initial stack); the caller guarantees nothing borrows it.
            unsafe { std::ptr::write_bytes(start as *mut u8, 0, end - start) };
        }
    }
    let name = SCRUBBED_CMDLINE.as_bytes();
    if arg_end > arg_start + name.len() {
        // SAFETY: as above; the name and its NUL fit in the block.
        unsafe { std::ptr::copy_nonoverlapping(name.as_ptr(), arg_start as *mut u8, name.len()) };
    }
    Ok(())
}

/// Exits the child without running the parent's atexit handlers or flushing its buffers.
pub fn exit_child(code: i32) -> ! {
    // SAFETY: _exit is always safe to call; it never returns.
    unsafe { libc::_exit(code) }
}

/// setrlimit(2) with a raw resource number.
pub fn setrlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> nix::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `limit` is a valid rlimit that outlives the call.
    let r = unsafe { libc::setrlimit(resource, &limit) };
    nix::errno::Errno::result(r).map(drop)
}

/// prctl(PR_SET_KEEPCAPS): keep permitted capabilities across the setuid away from root.
pub fn set_keepcaps(on: bool) -> nix::Result<()> {
    nix::sys::prctl::set_keepcaps(on)
}

/// setdomainname(2).
pub fn setdomainname(name: &str) -> nix::Result<()> {
    // SAFETY: the pointer and length describe `name`, which outlives the call.
    let r = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    nix::errno::Errno::result(r).map(drop)
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): join a new session keyring; its serial.
pub fn join_session_keyring(name: &str) -> nix::Result<i32> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_int = 1;
    let name = std::ffi::CString::new(name).map_err(|_| nix::Error::EINVAL)?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    nix::errno::Errno::result(r).map(|serial| serial as i32)
}

/// The permission mask of key `serial` (the fourth field of KEYCTL_DESCRIBE, keyctl(2)).
pub fn key_perm(serial: i32) -> nix::Result<u32> {
    const KEYCTL_DESCRIBE: libc::c_int = 6;
    let mut buf = [0u8; 512];
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_DESCRIBE,
            serial,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    let n = nix::errno::Errno::result(r)? as usize;
    let text = String::from_utf8_lossy(&buf[..n.min(buf.len())]);
    text.split(';')
        .nth(3)
        .and_then(|p| u32::from_str_radix(p.trim_end_matches('\0'), 16).ok())
        .ok_or(nix::Error::EINVAL)
}

/// keyctl(KEYCTL_SETPERM, serial, perm).
pub fn set_key_perm(serial: i32, perm: u32) -> nix::Result<()> {
    const KEYCTL_SETPERM: libc::c_int = 5;
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_SETPERM, serial, perm) };
    nix::errno::Errno::result(r).map(drop)
}

/// Takes ownership of an fd that recvmsg(2) just installed from an SCM_RIGHTS message.
pub fn adopt_received_fd(raw: RawFd) -> OwnedFd {
    // SAFETY: the kernel installed `raw` in our fd table while receiving the message; no other
    // owner exists, and it is adopted exactly once.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

/// Sets IFF_UP on `lo` in the calling process's network namespace (SIOCGIFFLAGS, then
/// SIOCSIFFLAGS on a datagram socket; netdevice(7)). The kernel adds 127.0.0.1 and ::1 itself.
pub fn loopback_up() -> nix::Result<()> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the name and writes ifru_flags of `req`, which we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: the union member the kernel just filled in.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads `req`, which we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

/// `struct sched_attr` up to `sched_period` (SCHED_ATTR_SIZE_VER0, include/uapi/linux/sched/types.h).
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// sched_setattr(2) on the calling thread.
pub fn sched_setattr(s: &crate::bundle::Scheduler) -> nix::Result<()> {
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: s.policy,
        flags: s.flags,
        nice: s.nice,
        priority: s.priority,
        runtime: s.runtime,
        deadline: s.deadline,
        period: s.period,
    };
    // SAFETY: `attr` is a valid sched_attr whose `size` says how much of it the kernel reads;
    // pid 0 is the calling thread.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    nix::errno::Errno::result(r).map(drop)
}

/// ioprio_set(IOPRIO_WHO_PROCESS, 0, value): the calling thread's I/O priority.
pub fn ioprio_set(value: u16) -> nix::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    // SAFETY: ioprio_set takes three integers and reads no memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0,
            libc::c_int::from(value),
        )
    };
    nix::errno::Errno::result(r).map(drop)
}

/// personality(2).
pub fn set_personality(persona: u64) -> nix::Result<()> {
    // SAFETY: personality takes an integer and reads no memory.
    let r = unsafe { libc::personality(persona as libc::c_ulong) };
    nix::errno::Errno::result(r).map(drop)
}

/// set_mempolicy(2) with a node mask holding `nodes` (empty: no mask).
pub fn set_mempolicy(mode: i32, nodes: &[usize]) -> nix::Result<()> {
    let max = crate::bundle::MAX_NODES;
    let mut mask = vec![0 as libc::c_ulong; max / libc::c_ulong::BITS as usize];
    let bits = libc::c_ulong::BITS as usize;
    for &n in nodes {
        mask[n / bits] |= 1 << (n % bits);
    }
    let (ptr, maxnode) = if nodes.is_empty() {
        (std::ptr::null(), 0)
    } else {
        (mask.as_ptr(), max as libc::c_ulong + 1)
    };
    // SAFETY: `mask` holds `max` bits and outlives the call; the kernel reads maxnode - 1
    // bits (set_mempolicy(2)), or nothing from a null mask.
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) };
    nix::errno::Errno::result(r).map(drop)
}

/// The calling thread's CPU affinity (sched_getaffinity(2)).
pub fn affinity() -> nix::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain old data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a writable cpu_set_t of the size passed.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    nix::errno::Errno::result(r).map(|_| set)
}

/// sched_setaffinity(2) of the calling thread to a set.
pub fn set_affinity(set: &libc::cpu_set_t) -> nix::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    nix::errno::Errno::result(r).map(drop)
}

/// The set holding `cpus` (each below CPU_SETSIZE, checked by the plan).
pub fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain old data; zeroed is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
        // SAFETY: `cpu` is below CPU_SETSIZE, so the bit is inside `set`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}
