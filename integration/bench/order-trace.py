#!/usr/bin/env python3
"""Record which functions of an ELF binary run while a command runs, in first-call order.

    order-trace.py BINARY OUT -- COMMAND [ARGS...]

A small ptrace tracer: it starts COMMAND, and in every process that runs BINARY — the first
one, every fork (stage 1, the container init with CLONE_PARENT, the shim's daemon and worker),
every thread — it puts a breakpoint (int3) on the entry of every function the symbol table
names. A hit records the function, puts the original byte back in that process and resumes it,
so each function traps at most once per process. A process that execs another program is
let go. When the last traced process is gone, OUT gets the functions in first-call order, one
per line: the linker's symbol-ordering file (build/link_args.rs). BINARY must be unstripped
(BERTH_NO_STRIP=1).

The process that ran COMMAND keeps COMMAND's stdio; the tracer itself detaches from it and
exits with COMMAND's status as soon as COMMAND's own process exits (containerd waits for the
shim's `start` that way), then keeps tracing its descendants in the background until they end.

ORDER_TRACE_DEBUG=1 keeps the tracer's stderr (its own errors) instead of /dev/null.

Why not valgrind: Debian 12's valgrind 3.19 does not know openat2(2), which berth needs.
"""
import ctypes
import os
import struct
import subprocess
import sys

PTRACE_TRACEME, PTRACE_CONT, PTRACE_GETREGS, PTRACE_SETREGS = 0, 7, 12, 13
PTRACE_DETACH, PTRACE_SETOPTIONS, PTRACE_GETEVENTMSG = 17, 0x4200, 0x4201
O_TRACEFORK, O_TRACEVFORK, O_TRACECLONE, O_TRACEEXEC = 0x2, 0x4, 0x8, 0x10
EV_FORK, EV_VFORK, EV_CLONE, EV_EXEC = 1, 2, 3, 4
WALL = 0x40000000
RIP = 16  # index of rip in struct user_regs_struct (27 unsigned longs)

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]


def ptrace(req, pid, addr=None, data=None):
    r = libc.ptrace(req, pid, addr, data)
    if r == -1 and ctypes.get_errno():
        raise OSError(ctypes.get_errno(), f"ptrace({req}, {pid})")
    return r


def functions(path):
    """{vaddr: name} of every defined function symbol."""
    out = subprocess.run(["nm", "--defined-only", path], capture_output=True, text=True,
                         check=True).stdout
    funcs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in ("t", "T") and int(parts[0], 16):
            funcs.setdefault(int(parts[0], 16), parts[2])
    if not funcs:
        sys.exit(f"order-trace: {path} has no function symbols (build with BERTH_NO_STRIP=1)")
    return funcs


class Tracer:
    def __init__(self, binary, funcs):
        self.binary, self.funcs = os.path.realpath(binary), funcs
        self.procs = {}  # tid -> [base, armed set] (one list shared by a process's threads)
        self.order, self.seen = [], set()

    def base(self, pid):
        """Where BINARY is loaded in `pid`, or None when it does not run BINARY."""
        with open(f"/proc/{pid}/maps") as maps:
            for line in maps:
                f = line.split()
                if len(f) >= 6 and os.path.realpath(f[5]) == self.binary and int(f[2], 16) == 0:
                    return int(f[0].split("-")[0], 16)
        return None

    def arm(self, pid):
        """A fresh image of BINARY in `pid`: breakpoints on every function entry."""
        base = self.base(pid)
        if base is None:
            return False
        fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
        try:
            for vaddr in self.funcs:
                os.pwrite(fd, b"\xcc", base + vaddr)
        finally:
            os.close(fd)
        self.procs[pid] = [base, set(self.funcs)]
        return True

    def entry(self, pid):
        """The [base, armed] of `pid`, made on first sight: threads share their process's; a
        fork (whose stop may come before its parent's fork event) starts with every function
        counted as armed — putting back a byte that is already original is harmless, and a
        function whose byte was restored before the fork cannot trap."""
        if pid not in self.procs:
            with open(f"/proc/{pid}/status") as f:
                tgid = int(f.read().split("Tgid:")[1].split()[0])
            if tgid in self.procs:
                self.procs[pid] = self.procs[tgid]
            else:
                base = self.base(pid)
                if base is None:
                    return None
                self.procs[pid] = [base, set(self.funcs)]
        return self.procs[pid]

    def hit(self, pid, orig_bytes):
        entry = self.entry(pid)
        if entry is None:
            return False
        base, armed = entry
        regs = (ctypes.c_ulong * 27)()
        ptrace(PTRACE_GETREGS, pid, None, ctypes.addressof(regs))
        vaddr = regs[RIP] - 1 - base
        if vaddr not in self.funcs:
            return False  # a real SIGTRAP
        if vaddr in armed:
            armed.discard(vaddr)
            fd = os.open(f"/proc/{pid}/mem", os.O_RDWR)
            try:
                os.pwrite(fd, orig_bytes[vaddr], base + vaddr)
            finally:
                os.close(fd)
        # (A thread that trapped on a byte another thread already restored just re-executes.)
        regs[RIP] -= 1
        ptrace(PTRACE_SETREGS, pid, None, ctypes.addressof(regs))
        if vaddr not in self.seen:
            self.seen.add(vaddr)
            self.order.append(self.funcs[vaddr])
        return True


def original_bytes(path, funcs):
    """The first byte of every function, read from the file through its PT_LOAD segments."""
    data = open(path, "rb").read()
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    segs = []
    for i in range(phnum):
        p_type, _f, off, vaddr, _pa, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if p_type == 1:
            segs.append((vaddr, off, filesz))
    out = {}
    for v in funcs:
        for sv, so, sz in segs:
            if sv <= v < sv + sz:
                out[v] = data[so + v - sv:so + v - sv + 1]
    return out


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    binary, out, command = sys.argv[1], sys.argv[2], sys.argv[4:]
    funcs = functions(binary)
    orig = original_bytes(binary, funcs)
    funcs = {v: n for v, n in funcs.items() if v in orig}
    status_r, status_w = os.pipe()
    if os.fork():  # what the caller sees: COMMAND's exit status, as soon as it is known
        os.close(status_w)
        code = os.read(status_r, 16)
        sys.exit(int(code) if code else 1)
    os.close(status_r)
    os.setsid()
    first = os.fork()
    if first == 0:
        ptrace(PTRACE_TRACEME, 0)
        os.execvp(command[0], command)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1) if os.environ.get("ORDER_TRACE_DEBUG") else (0, 1, 2):
        os.dup2(null, fd)
    tracer = Tracer(binary, funcs)
    _, st = os.waitpid(first, WALL)  # stopped at the exec
    ptrace(PTRACE_SETOPTIONS, first, None, O_TRACEFORK | O_TRACEVFORK | O_TRACECLONE | O_TRACEEXEC)
    if not tracer.arm(first):
        sys.exit(f"order-trace: {command[0]} does not run {binary}")
    ptrace(PTRACE_CONT, first, None, None)
    live = {first}
    while live:
        try:
            pid, st = os.waitpid(-1, WALL)
        except ChildProcessError:
            break
        if os.WIFEXITED(st) or os.WIFSIGNALED(st):
            live.discard(pid)
            tracer.procs.pop(pid, None)
            if pid == first:
                code = os.WEXITSTATUS(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st)
                os.write(status_w, str(code).encode())
                os.close(status_w)
            continue
        if not os.WIFSTOPPED(st):
            continue
        try:
            sig, event = os.WSTOPSIG(st), st >> 16
            deliver = 0
            if pid not in live:  # a new child's first stop, possibly before its parent's event
                live.add(pid)
            if event in (EV_FORK, EV_VFORK, EV_CLONE):
                msg = ctypes.c_ulong()
                ptrace(PTRACE_GETEVENTMSG, pid, None, ctypes.addressof(msg))
                live.add(msg.value)
            elif event == EV_EXEC:
                if os.path.realpath(f"/proc/{pid}/exe") == tracer.binary:
                    tracer.arm(pid)
                else:
                    tracer.procs.pop(pid, None)
                    live.discard(pid)
                    ptrace(PTRACE_DETACH, pid, None, None)
                    continue
            elif sig == 5 and tracer.hit(pid, orig):
                pass
            elif sig != 19 or event:  # pass every signal on except the SIGSTOP of a new tracee
                deliver = sig if not event else 0
            ptrace(PTRACE_CONT, pid, None, deliver)
        except (ProcessLookupError, FileNotFoundError):
            # It died between two calls (another thread's exit_group, a SIGKILL).
            live.discard(pid)
            tracer.procs.pop(pid, None)
    with open(out, "w") as f:
        f.write("".join(name + "\n" for name in tracer.order))


if __name__ == "__main__":
    main()
