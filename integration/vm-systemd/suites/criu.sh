# The checkpoint/restore suite (sourced by ../tests.sh): CRIU itself on this kernel first (criu
# check, a plain process dumped and restored), then berth checkpoint / restore on containers.

# counter_value FILE: the last number a counter wrote to FILE (empty if none yet).
counter_value() { tail -n 1 "$1" 2>/dev/null; }
# counter_above FILE N: the counter in FILE has passed N.
counter_above() { v=$(counter_value "$1"); [ -n "$v" ] && [ "$v" -gt "$2" ]; }
# uptime_ms: /proc/uptime in milliseconds (it has two decimals; busybox date has no %N).
uptime_ms() { echo $(($(cut -d' ' -f1 /proc/uptime | tr -d .) * 10)); }

echo "INFO criu $(criu --version 2>&1 | head -1) kernel $(uname -r)"

# ---------------------------------------------------------------------------------------
start_test criu_check_passes_on_this_kernel
out=$(criu check 2>&1)
rc=$?
echo "INFO criu check (exit $rc): $(echo "$out" | tr '\n' ' ' | cut -c1-400)"
for f in mnt_id mem_dirty_track fdinfo_lock timens pidfd_store ns_pid; do
    echo "INFO criu check --feature $f: $(criu check --feature $f 2>&1 | tr '\n' ' ' | cut -c1-200)"
done
if [ $rc -ne 0 ]; then
    bad "criu check exit $rc: $out"
else
    ok
fi

# ---------------------------------------------------------------------------------------
start_test criu_dumps_and_restores_a_plain_counter_process
rm -rf /tmp/criu-plain && mkdir -p /tmp/criu-plain/img
# A session leader with no terminal: criu needs no --shell-job for it.
setsid sh -c 'i=0; while :; do i=$((i + 1)); echo $i >> /tmp/criu-plain/count; sleep 0.1; done' \
    < /dev/null > /dev/null 2>&1 &
wait_until 30 counter_above /tmp/criu-plain/count 5 || true
pid=$(pgrep -f 'criu-plain/count' | head -1)
t0=$(uptime_ms)
dump=$(criu dump -t "$pid" -D /tmp/criu-plain/img -o dump.log -v4 2>&1)
drc=$?
t1=$(uptime_ms)
at_dump=$(counter_value /tmp/criu-plain/count)
sleep 1
still=$(counter_value /tmp/criu-plain/count)
if [ $drc -ne 0 ]; then
    bad "criu dump exit $drc: $dump $(grep -i error /tmp/criu-plain/img/dump.log | tail -5)"
    kill "$pid" 2> /dev/null
elif kill -0 "$pid" 2> /dev/null || [ "$still" != "$at_dump" ]; then
    bad "process still running after dump (pid $pid, counter $at_dump then $still)"
else
    t2=$(uptime_ms)
    rest=$(criu restore -D /tmp/criu-plain/img -o restore.log -v4 --restore-detached 2>&1)
    rrc=$?
    t3=$(uptime_ms)
    echo "INFO plain counter: dump $((t1 - t0)) ms, restore $((t3 - t2)) ms (VM under TCG)"
    if [ $rrc -ne 0 ]; then
        bad "criu restore exit $rrc: $rest $(grep -i error /tmp/criu-plain/img/restore.log | tail -5)"
    elif ! wait_until 30 counter_above /tmp/criu-plain/count $((at_dump + 3)); then
        bad "counter did not continue after restore: $(tail -n 3 /tmp/criu-plain/count | tr '\n' ' ')"
    else
        # The restored process kept its pid and its shell variable: the line after the dump's
        # last value is that value plus one.
        next=$(grep -n -x "$at_dump" /tmp/criu-plain/count | tail -1 | cut -d: -f1)
        after=$(sed -n "$((next + 1))p" /tmp/criu-plain/count)
        if ! kill -0 "$pid" 2> /dev/null; then
            bad "restored process does not have its pid $pid"
        elif [ "$after" != "$((at_dump + 1))" ]; then
            bad "counter went from $at_dump to $after"
        else
            ok
        fi
    fi
    kill "$pid" 2> /dev/null
fi
rm -rf /tmp/criu-plain
