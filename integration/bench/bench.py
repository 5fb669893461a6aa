#!/usr/bin/env python3
"""berth vs runc vs crun, interleaved and paired (make bench; docs/benchmarks.md).

berth and crun each run twice: with their cgroupfs manager and with --cgroup-manager=disabled
(no cgroup at all), so berth-nocg/crun-nocg compares the two under the same setting.

    bench.py WORKDIR BERTH PROBE

Runs inside the private mount namespace integration/bench/run.sh sets up. Every round runs each
runtime once, in a rotating order, so drift on a noisy machine hits all of them alike (hyperfine
runs one command's runs back to back, which is why it is not used for the table). Prints a
markdown table and writes it to WORKDIR/results.md.

Env: BENCH_ROUNDS (default 30), BENCH_PARALLEL (default 50), BENCH_SYSCALLS (default 5000000).
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

work, berth, probe = sys.argv[1], sys.argv[2], sys.argv[3]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
PARALLEL = int(os.environ.get("BENCH_PARALLEL", "50"))
SYSCALLS = int(os.environ.get("BENCH_SYSCALLS", "5000000"))
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CG_PARENT = "/berth-bench"  # every container's cgroupsPath is /berth-bench/<id>

# name -> argv prefix. crun 1.8.1 runs with cgroupfs (the v1 hierarchies, as berth and runc use
# them) and, as a second column, with no cgroup handling at all; berth likewise (berth-nocg).
RUNTIMES = {
    "berth": [berth, "--root", f"{work}/state/berth"],
    "runc": ["runc", "--root", f"{work}/state/runc"],
    "crun": ["crun", "--cgroup-manager=cgroupfs", "--root", f"{work}/state/crun"],
    "crun-nocg": ["crun", "--cgroup-manager=disabled", "--root", f"{work}/state/crun-nocg"],
    "berth-nocg": [berth, "--cgroup-manager=disabled", "--root", f"{work}/state/berth-nocg"],
}
# The ratio columns, (numerator, denominator): berth against each peer, and the two runtimes
# without cgroups against each other.
RATIOS = [("berth", "runc"), ("berth", "crun"), ("berth", "crun-nocg"),
          ("berth-nocg", "crun-nocg")]
HEADER = ["berth", "runc", "crun", "crun, no cgroups", "berth, no cgroups"]
assert len(HEADER) == len(RUNTIMES)
DEVNULL = subprocess.DEVNULL
counter = 0


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw).stdout


def make_rootfs():
    """One busybox rootfs (with the probe) shared read-only by every container."""
    base = f"{work}/base"
    shutil.rmtree(base, ignore_errors=True)
    env = dict(os.environ, BERTH_PROBE=probe, BERTH=berth)
    subprocess.run([f"{REPO}/integration/mkbundle.sh", base, "true"], check=True, env=env,
                   stderr=DEVNULL)
    with open(f"{base}/config.json") as f:
        config = json.load(f)
    config["root"] = {"path": f"{base}/rootfs", "readonly": True}
    config["process"]["args"] = ["/bin/true"]
    linux = config["linux"]
    # All namespaces runc and crun create by default, plus cgroup (user and time would need
    # id-mapped rootfs ownership and are off in `runc spec` too).
    linux["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]
    linux["resources"] = {
        "devices": [{"allow": False, "access": "rwm"}],
        "memory": {"limit": 256 * 1024 * 1024},
        "pids": {"limit": 1024},
        "cpu": {"shares": 512},
    }
    return config


def seccomp_profile():
    """berth's default profile (Docker-like allowlist, from `berth spec --hardened`: the plain
    spec is runc's, without seccomp), used for every runtime."""
    d = f"{work}/spec"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    sh(berth, "spec", "--hardened", "--bundle", d)
    with open(f"{d}/config.json") as f:
        return json.load(f)["linux"]["seccomp"]


def plain_config():
    """`berth spec` as it is (runc's default spec: no seccomp, no resources, the default
    mounts), on the shared rootfs, running /bin/true with `terminal: false`."""
    d = f"{work}/spec-plain"
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    sh(berth, "spec", "--bundle", d)
    with open(f"{d}/config.json") as f:
        config = json.load(f)
    config["root"] = {"path": f"{work}/base/rootfs", "readonly": True}
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False
    # crun 1.8.1 refuses berth spec's "1.2.0" ("unknown version specified"); runc 1.1.5's own
    # spec says 1.0.2-dev. The fields used here are all in 1.0.2.
    config["ociVersion"] = "1.0.2"
    return config


def bundle(config, args=None, seccomp=None):
    """A fresh bundle dir (config.json only) and container id for one container."""
    global counter
    counter += 1
    cid = f"bb{os.getpid()}-{counter}"
    c = json.loads(json.dumps(config))
    c["linux"]["cgroupsPath"] = f"{CG_PARENT}/{cid}"
    if args:
        c["process"]["args"] = args
    if seccomp:
        c["linux"]["seccomp"] = seccomp
    d = f"{work}/bundles/{cid}"
    os.makedirs(d)
    with open(f"{d}/config.json", "w") as f:
        json.dump(c, f)
    return cid, d


def timed(argv):
    # stderr to a file, not a pipe: a created container inherits the runtime's stdio and would
    # hold a pipe open until it exits.
    with open(f"{work}/stderr", "w+") as err:
        t0 = time.perf_counter_ns()
        r = subprocess.run(argv, stdin=DEVNULL, stdout=DEVNULL, stderr=err)
        dt = (time.perf_counter_ns() - t0) / 1e6
        if r.returncode != 0:
            err.seek(0)
            raise SystemExit(f"bench: {' '.join(argv)} failed ({r.returncode}): {err.read()}")
    return dt


def wait_stopped(rt, cid):
    for _ in range(400):
        out = subprocess.run(RUNTIMES[rt] + ["state", cid], capture_output=True, text=True)
        if out.returncode == 0 and json.loads(out.stdout)["status"] == "stopped":
            return
        time.sleep(0.005)
    raise SystemExit(f"bench: {rt} container {cid} did not stop")


def rotating(rnd):
    names = list(RUNTIMES)
    k = rnd % len(names)
    return names[k:] + names[:k]


# The floor every runtime pays for /bin/true in the same namespaces (but cgroup) and rootfs:
# fork into new mount, pid, ipc, uts and network namespaces, chroot, exec. No runtime can be
# faster than this; berth's `run` / floor says how much of its time is its own.
FLOOR = "floor"


def bench_run(config, rounds, floor=False):
    res = {rt: [] for rt in RUNTIMES}
    if floor:
        res[FLOOR] = []
    floor_argv = ["unshare", "-fmpiun", "chroot", f"{work}/base/rootfs", "/bin/true"]
    for rnd in range(rounds):
        # The floor takes its turn in the rotation like a runtime (first in some rounds).
        order = rotating(rnd) + ([FLOOR] if floor else [])
        if floor:
            k = rnd % len(order)
            order = order[k:] + order[:k]
        for rt in order:
            if rt == FLOOR:
                res[FLOOR].append(timed(floor_argv))
                continue
            cid, d = bundle(config)
            res[rt].append(timed(RUNTIMES[rt] + ["run", "--bundle", d, cid]))
    return res


def bench_lifecycle(config, rounds):
    steps = {s: {rt: [] for rt in RUNTIMES} for s in ("create", "start", "delete", "total")}
    for rnd in range(rounds):
        for rt in rotating(rnd):
            cid, d = bundle(config)
            rtv = RUNTIMES[rt]
            c = timed(rtv + ["create", "--bundle", d, cid])
            s = timed(rtv + ["start", cid])
            wait_stopped(rt, cid)  # not timed: /bin/true has to exit before a plain delete
            x = timed(rtv + ["delete", cid])
            for k, v in (("create", c), ("start", s), ("delete", x), ("total", c + s + x)):
                steps[k][rt].append(v)
    return steps


def bench_parallel(config, rounds, n):
    res = {rt: [] for rt in RUNTIMES}
    for rnd in range(rounds):
        for rt in rotating(rnd):
            jobs = [bundle(config) for _ in range(n)]
            t0 = time.perf_counter_ns()
            procs = [subprocess.Popen(RUNTIMES[rt] + ["run", "--bundle", d, cid], stdout=DEVNULL,
                                      stderr=subprocess.PIPE) for cid, d in jobs]
            errs = [(p.wait(), p.stderr.read()) for p in procs]
            res[rt].append((time.perf_counter_ns() - t0) / 1e6)
            bad = [e for rc, e in errs if rc != 0]
            if bad:
                raise SystemExit(f"bench: parallel {rt}: {len(bad)} failed: {bad[0].decode()}")
    return res


def bench_rss(config, rounds):
    """Max RSS (KiB) of the runtime process of `run`, from GNU time (wait4's ru_maxrss)."""
    res = {rt: [] for rt in RUNTIMES}
    for rnd in range(rounds):
        for rt in rotating(rnd):
            cid, d = bundle(config)
            out = subprocess.run(["/usr/bin/time", "-f", "%M"] + RUNTIMES[rt] +
                                 ["run", "--bundle", d, cid], capture_output=True, text=True)
            if out.returncode != 0:
                raise SystemExit(f"bench: rss {rt}: {out.stderr}")
            res[rt].append(float(out.stderr.strip().splitlines()[-1]))
    return res


def bench_syscall(config, rounds, profile, syscall):
    """ns per call of `syscall` (getppid or personality) inside the container, under the shared
    seccomp profile (and without)."""
    res = {rt: [] for rt in RUNTIMES}
    res["berth, no seccomp"] = []
    args = ["/bin/berth-probe", "--bench-syscall", str(SYSCALLS), syscall]
    for rnd in range(rounds):
        for rt in rotating(rnd) + ["berth, no seccomp"]:
            real = "berth" if rt == "berth, no seccomp" else rt
            cid, d = bundle(config, args, None if real != rt else profile)
            out = sh(*RUNTIMES[real], "run", "--bundle", d, cid)
            res[rt].append(json.loads(out.strip().splitlines()[-1])["bench_syscall"]["ns_per_call"])
    return res


def sizes():
    out = {}
    for name, path in (("berth", berth), ("runc", shutil.which("runc")),
                       ("crun", shutil.which("crun"))):
        real = os.path.realpath(path)
        ldd = subprocess.run(["ldd", real], capture_output=True, text=True).stdout
        libs = [l for l in ldd.splitlines() if "=>" in l]
        out[name] = (os.path.getsize(real), len(libs))
    return out


def fmt(values, unit):
    if not values:
        return "-"
    med = statistics.median(values)
    if unit == "ms":
        return f"{med:.1f} ({min(values):.1f}–{max(values):.1f})"
    if unit == "ns":
        return f"{med:.0f} ({min(values):.0f}–{max(values):.0f})"
    return f"{med / 1024:.1f} ({min(values) / 1024:.1f}–{max(values) / 1024:.1f})"


def ratio(a, b):
    if not a or not b:
        return "-"
    return f"{statistics.median(a) / statistics.median(b):.2f}"


def row(label, res, unit):
    cells = [fmt(res.get(rt, []), unit) for rt in RUNTIMES]
    ratios = [ratio(res.get(a, []), res.get(b, [])) for a, b in RATIOS]
    return f"| {label} | " + " | ".join(cells + ratios) + " |"


def main():
    os.makedirs(f"{work}/bundles", exist_ok=True)
    config = make_rootfs()
    profile = seccomp_profile()
    lines = []

    def emit(line=""):
        print(line, flush=True)
        lines.append(line)

    versions = {
        "berth": sh(berth, "--version").splitlines()[0],
        "runc": sh("runc", "--version").splitlines()[0],
        "crun": sh("crun", "--version").splitlines()[0],
    }
    emit(f"Machine: {os.uname().release}, {os.cpu_count()} CPUs; {ROUNDS} rounds, "
         f"interleaved; {', '.join(versions.values())}")
    emit()
    columns = ["median (min–max)"] + HEADER + [f"{a}/{b}" for a, b in RATIOS]
    emit("| " + " | ".join(columns) + " |")
    emit("|" + "---|" * len(columns))
    blanks = " |" * (len(columns) - 2)
    runs = bench_run(config, ROUNDS, floor=True)
    emit(row("`run` /bin/true, ms", runs, "ms"))
    emit(f"| floor: `unshare -fmpiun` + `chroot` rootfs /bin/true, ms | "
         f"{fmt(runs[FLOOR], 'ms')} |{blanks}")
    emit(f"| berth `run` / floor | {ratio(runs['berth'], runs[FLOOR])} |{blanks}")
    emit(row("`run` /bin/true, plain `berth spec` bundle, ms",
             bench_run(plain_config(), ROUNDS), "ms"))
    lc = bench_lifecycle(config, ROUNDS)
    for step in ("create", "start", "delete", "total"):
        emit(row(f"`{step}`{' (create+start+delete)' if step == 'total' else ''}, ms",
                 lc[step], "ms"))
    prounds = max(3, ROUNDS // 6)
    emit(row(f"{PARALLEL} × `run` in parallel, wall ms", bench_parallel(config, prounds,
                                                                       PARALLEL), "ms"))
    emit(row("max RSS of `run`, MiB", bench_rss(config, max(5, ROUNDS // 3)), "kb"))
    # getppid: allowed by number, so the kernel's seccomp cache answers it without the filter;
    # personality(0xffffffff): allowed by an argument rule, so the filter runs on every call.
    for syscall, label in (("getppid", "getppid()"), ("personality", "personality(0xffffffff)")):
        sc = bench_syscall(config, max(5, ROUNDS // 3), profile, syscall)
        emit(row(f"{label} in the container, seccomp profile, ns", sc, "ns"))
        emit(f"| {label} in the container, no seccomp (berth), ns | "
             f"{fmt(sc['berth, no seccomp'], 'ns')} |{blanks}")
    emit()
    emit("| binary | size (bytes) | shared libraries |")
    emit("|---|---|---|")
    for name, (size, libs) in sizes().items():
        emit(f"| {name} | {size} | {libs} |")
    with open(f"{work}/results.md", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
