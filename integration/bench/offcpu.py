#!/usr/bin/env python3
"""Off-CPU time by the kernel stack a task blocked in (docs/benchmarks.md, "What serializes 50
parallel `run`s").

    perf record -e sched:sched_switch -a -g -o sw.data -- COMMAND
    perf script -i sw.data > sw.txt
    offcpu.py [COMM_REGEX] [sw.txt] [TOP]

For every task whose comm matches COMM_REGEX (default: berth, or true — the container's
program) and that was switched out blocked (prev_state not R), the time until it was switched
in again is added to the stack it blocked in (the first six frames below schedule()). Prints
the total and the TOP (25) stacks by summed time: state, count, frames.
"""
import re, sys, collections
comm_re = re.compile(sys.argv[1] if len(sys.argv) > 1 else r'^(berth|true)')
hdr = re.compile(r'^\s*(\S+)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:sched_switch:\s+prev_comm=(.*?) prev_pid=(\d+) prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)')
out = {}  # pid -> (t, stackkey, state)
tot = collections.Counter(); cnt = collections.Counter()
ev = None; stack = []
def flush():
    if ev is None: return
    t, pc, pp, st, nc, np = ev
    # the switched-in task ends its off-cpu interval
    if np in out:
        t0, key, s = out.pop(np)
        tot[(s, key)] += t - t0; cnt[(s, key)] += 1
    if comm_re.search(pc) and not st.startswith('R'):
        frames = [f for f in stack if not re.match(r'(__schedule|schedule|schedule_\w+|__traceiter\w*|__bpf\w*|perf_\w+|__perf\w*)$', f)]
        out[pp] = (t, ' < '.join(frames[:6]), st)
for line in open(sys.argv[2] if len(sys.argv) > 2 else '/dev/stdin', errors='replace'):
    m = hdr.match(line)
    if m:
        flush()
        ev = (float(m.group(4)), m.group(5), m.group(6), m.group(7), m.group(8), m.group(9)); stack = []
        continue
    s = line.strip()
    if s and ev is not None:
        parts = s.split()
        if len(parts) >= 2:
            stack.append(parts[1].split('+')[0])
flush()
total = sum(tot.values())
print(f"blocked time of matching tasks: {total*1000:.0f} ms total")
for (s, key), v in tot.most_common(int(sys.argv[3]) if len(sys.argv) > 3 else 25):
    print(f"{v*1000:9.1f} ms {cnt[(s,key)]:6d}x {s:3} {key}")
