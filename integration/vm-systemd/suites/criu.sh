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

# ---------------------------------------------------------------------------------------
# berth checkpoint / restore. The counter containers have no cgroup namespace (the default
# config's namespaces), their stdio is the container's own /dev/null, and they count into
# /out/count: a bind mount of /run/criu-out/NAME, so the dump has an external mount to
# describe.

# criu_bundle NAME: /b/NAME/config.json running /ct/NAME.sh with /run/criu-out/NAME on /out.
criu_bundle() {
    mkdir -p /b/$1 /run/criu-out/$1 $ROOTFS/out
    sed -e "s|\"args\":\[\"sh\",\"/ct/X.sh\"\]|\"args\":[\"sh\",\"/ct/$1.sh\"]|" \
        -e "s|\"path\":\"rootfs\"|\"path\":\"$ROOTFS\"|" \
        -e "s|\"mounts\":\[|\"mounts\":[{\"destination\":\"/out\",\"type\":\"bind\",\"source\":\"/run/criu-out/$1\",\"options\":[\"rbind\",\"rw\"]},|" \
        $TEMPLATE > /b/$1/config.json
    script $1 <<'S'
exec < /dev/null > /dev/null 2>&1
i=0
while :; do i=$((i + 1)); echo $i >> /out/count; sleep 0.1; done
S
}
# follows FILE N: the counter in FILE went on from N (the line after the last N is N+1).
follows() {
    line=$(grep -n -x "$2" "$1" | tail -1 | cut -d: -f1)
    [ -n "$line" ] && [ "$(sed -n "$((line + 1))p" "$1")" = "$(($2 + 1))" ]
}
# nothing_left NAME: no state, no cgroup, no counter process.
nothing_left() {
    [ ! -e /run/berth/$1 ] && [ ! -e /sys/fs/cgroup/berth/$1 ] && ! pgrep -f "/ct/$1.sh" > /dev/null
}
criu_cleanup() {
    $B delete --force $1 > /dev/null 2>&1
    rm -rf /run/criu-out/$1 /run/criu-img/$1 /b/$1
}

# ---------------------------------------------------------------------------------------
start_test checkpoint_then_restore_keeps_counting_and_is_manageable
criu_bundle cr1
C=/run/criu-out/cr1/count
if ! out=$($B run -d --bundle /b/cr1 cr1 2>&1); then
    bad "run: $out"
elif ! wait_until 30 counter_above $C 5; then
    bad "counter never started: $(cat $C 2>&1)"
else
    t0=$(uptime_ms)
    ck=$($B checkpoint --image-path /run/criu-img/cr1 cr1 2>&1)
    ckrc=$?
    t1=$(uptime_ms)
    at_dump=$(counter_value $C)
    sleep 1
    after_dump=$(counter_value $C)
    if [ $ckrc -ne 0 ]; then
        bad "checkpoint exit $ckrc: $ck $(grep -i error /run/criu-img/cr1/dump.log | tail -5)"
    elif [ "$after_dump" != "$at_dump" ] || pgrep -f /ct/cr1.sh > /dev/null; then
        bad "the counter went on after the dump ($at_dump, then $after_dump)"
    elif [ -e /run/berth/cr1 ] || [ -e /sys/fs/cgroup/berth/cr1 ]; then
        bad "checkpoint left the container: $(ls -d /run/berth/cr1 /sys/fs/cgroup/berth/cr1 2>&1)"
    else
        t2=$(uptime_ms)
        rs=$($B restore -d --bundle /b/cr1 --image-path /run/criu-img/cr1 --pid-file /run/criu-out/cr1.pid cr1 2>&1)
        rsrc=$?
        t3=$(uptime_ms)
        echo "INFO counter container: checkpoint $((t1 - t0)) ms, restore $((t3 - t2)) ms (VM under TCG)"
        pid=$(cat /run/criu-out/cr1.pid 2>/dev/null)
        if [ $rsrc -ne 0 ]; then
            bad "restore exit $rsrc: $rs $(grep -i error /run/criu-img/cr1/restore.log | tail -5)"
        elif ! status_is cr1 running; then
            bad "restored container's state: $($B state cr1 2>&1)"
        elif [ "$($B state cr1 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')" != "$pid" ]; then
            bad "state pid $($B state cr1 2>&1) is not the pid file's $pid"
        elif ! wait_until 30 counter_above $C $((at_dump + 3)); then
            bad "the counter did not go on after restore: $(tail -n 3 $C | tr '\n' ' ')"
        elif ! follows $C $at_dump; then
            bad "the counter restarted instead of going on from $at_dump: $(grep -n -x -A2 "$at_dump" $C | tr '\n' ' ')"
        elif ! grep -qx "$pid" /sys/fs/cgroup/berth/cr1/cgroup.procs; then
            bad "restored init $pid not in berth/cr1: $(cat /proc/$pid/cgroup 2>&1)"
        else
            # exec joins the restored namespaces: pid 1 there is the restored counter, and
            # /out is the bind mount.
            ex=$($B exec cr1 sh -c 'echo "$(cat /proc/1/cmdline | tr "\0" " ")|$(hostname)|$(tail -n 1 /out/count)"' 2>&1)
            case $ex in
            "sh /ct/cr1.sh |berth|"[0-9]*)
                $B kill cr1 KILL
                if ! wait_until 30 status_is cr1 stopped; then
                    bad "not stopped after kill: $($B state cr1 2>&1)"
                elif del=$($B delete cr1 2>&1) && [ -n "$del" ]; then
                    bad "delete said: $del"
                elif ! wait_until 10 nothing_left cr1; then
                    bad "left after delete: $(ls -d /run/berth/cr1 /sys/fs/cgroup/berth/cr1 2>&1) $(pgrep -af /ct/cr1.sh)"
                else
                    ok
                fi
                ;;
            *) bad "exec in the restored container saw: $ex" ;;
            esac
        fi
    fi
fi
criu_cleanup cr1

# ---------------------------------------------------------------------------------------
start_test checkpoint_leave_running_leaves_it_counting
criu_bundle cr2
C=/run/criu-out/cr2/count
if ! out=$($B run -d --bundle /b/cr2 cr2 2>&1); then
    bad "run: $out"
elif ! wait_until 30 counter_above $C 5; then
    bad "counter never started: $(cat $C 2>&1)"
else
    pid=$($B state cr2 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
    ck=$($B checkpoint --leave-running --image-path /run/criu-img/cr2 cr2 2>&1)
    ckrc=$?
    at_dump=$(counter_value $C)
    if [ $ckrc -ne 0 ]; then
        bad "checkpoint exit $ckrc: $ck $(grep -i error /run/criu-img/cr2/dump.log | tail -5)"
    elif [ ! -s /run/criu-img/cr2/inventory.img ]; then
        bad "no images: $(ls /run/criu-img/cr2)"
    elif ! status_is cr2 running || [ "$($B state cr2 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')" != "$pid" ]; then
        bad "after --leave-running: $($B state cr2 2>&1)"
    elif ! wait_until 30 counter_above $C $((at_dump + 3)); then
        bad "the counter stopped at $at_dump"
    else
        ok
    fi
fi
criu_cleanup cr2

# ---------------------------------------------------------------------------------------
start_test pre_dump_then_dump_with_parent_restores
criu_bundle cr3
C=/run/criu-out/cr3/count
if ! out=$($B run -d --bundle /b/cr3 cr3 2>&1); then
    bad "run: $out"
elif ! wait_until 30 counter_above $C 5; then
    bad "counter never started: $(cat $C 2>&1)"
else
    pre=$($B checkpoint --pre-dump --image-path /run/criu-img/cr3/pre cr3 2>&1)
    prerc=$?
    at_pre=$(counter_value $C)
    running_after_pre=$(wait_until 30 counter_above $C $((at_pre + 3)) && echo yes)
    ck=$($B checkpoint --parent-path ../pre --image-path /run/criu-img/cr3/final cr3 2>&1)
    ckrc=$?
    at_dump=$(counter_value $C)
    # CRIU links the parent in the final images; the pre-dump's pages are not dumped again.
    parent=$(readlink /run/criu-img/cr3/final/parent)
    if [ $prerc -ne 0 ]; then
        bad "pre-dump exit $prerc: $pre $(grep -i error /run/criu-img/cr3/pre/pre-dump.log | tail -5)"
    elif [ "$running_after_pre" != yes ]; then
        bad "the counter stopped after the pre-dump at $at_pre"
    elif [ $ckrc -ne 0 ]; then
        bad "dump exit $ckrc: $ck $(grep -i error /run/criu-img/cr3/final/dump.log | tail -5)"
    elif [ "$parent" != ../pre ]; then
        bad "final images' parent link: '$parent' ($(ls /run/criu-img/cr3/final | tr '\n' ' '))"
    elif ! rs=$($B restore -d --bundle /b/cr3 --image-path /run/criu-img/cr3/final cr3 2>&1); then
        bad "restore: $rs $(grep -i error /run/criu-img/cr3/final/restore.log | tail -5)"
    elif ! wait_until 30 counter_above $C $((at_dump + 3)); then
        bad "the counter did not go on after restore from $at_dump"
    elif ! follows $C $at_dump; then
        bad "the counter restarted instead of going on from $at_dump"
    else
        ok
    fi
fi
criu_cleanup cr3
wait_until 10 nothing_left cr3 || echo "INFO left after cr3: $(pgrep -af /ct/cr3.sh)"

# ---------------------------------------------------------------------------------------
start_test unsupported_checkpoint_and_restore_flags_are_refused_by_name
ck=$($B checkpoint --tcp-established cr4 2>&1)
ckrc=$?
rs=$($B restore --console-socket /x --bundle /b/none cr4 2>&1)
rsrc=$?
if [ $ckrc -eq 0 ] || [ "$ck" != "berth: checkpoint: --tcp-established is not supported by berth (docs/checkpoint.md)" ]; then
    bad "checkpoint --tcp-established (exit $ckrc): $ck"
elif [ $rsrc -eq 0 ] || [ "$rs" != "berth: restore: --console-socket is not supported by berth (docs/checkpoint.md)" ]; then
    bad "restore --console-socket (exit $rsrc): $rs"
else
    ok
fi
