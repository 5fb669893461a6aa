# The systemd cgroup driver suite (sourced by ../tests.sh): scopes started over D-Bus with the
# container's resources, update through SetUnitProperties, pause/resume, stats, delete, and the
# refusals that must leave nothing behind.

# ---------------------------------------------------------------------------------------
start_test scope_started_with_properties_limits_bind_update_pause_delete
SCOPE=system.slice/berth-sd1.scope
script sd1 <<'S'
echo "in: mem=$(cat /sys/fs/cgroup/memory.max) pids=$(cat /sys/fs/cgroup/pids.max) cpu=$(cat /sys/fs/cgroup/cpu.max) cg=$(cat /proc/self/cgroup)"
exec sleep 600
S
bundle sd1 '{ "memory": { "limit": 268435456 }, "cpu": { "shares": 1024, "quota": 50000, "period": 100000 }, "pids": { "limit": 64 } }'
if ! $B --systemd-cgroup run -d --bundle /b/sd1 sd1 > /tmp/sd1.out 2>&1; then
    bad "run: $(cat /tmp/sd1.out)"
else
    pid=$($B state sd1 | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
    wait_until 30 file_has /tmp/sd1.out "in: " || true
    show="$(prop berth-sd1.scope ActiveState) $(prop berth-sd1.scope Slice) $(prop berth-sd1.scope ControlGroup) Delegate=$(prop berth-sd1.scope Delegate) MemoryMax=$(prop berth-sd1.scope MemoryMax) TasksMax=$(prop berth-sd1.scope TasksMax) CPUWeight=$(prop berth-sd1.scope CPUWeight) Quota=$(prop berth-sd1.scope CPUQuotaPerSecUSec)"
    echo "INFO systemctl show: $show"
    status=$(systemctl status --no-pager berth-sd1.scope 2>&1)
    if [ "$show" != "active system.slice /$SCOPE Delegate=yes MemoryMax=268435456 TasksMax=64 CPUWeight=100 Quota=500ms" ]; then
        bad "systemctl show: $show"
    elif ! grep -qx "$pid" /sys/fs/cgroup/$SCOPE/cgroup.procs; then
        bad "container pid $pid not in $SCOPE: $(cat /sys/fs/cgroup/$SCOPE/cgroup.procs)"
    elif ! echo "$status" | grep -q "$pid.*sleep 600"; then
        bad "systemctl status does not list the container's process $pid: $status"
    elif ! file_has /tmp/sd1.out "in: mem=268435456 pids=64 cpu=50000 100000 cg=0::/$"; then
        bad "container saw: $(cat /tmp/sd1.out)"
    else
        # update: through systemd (SetUnitProperties) and the files.
        up=$($B update --memory 134217728 --pids-limit 32 --cpu-quota 20000 sd1 2>&1)
        inside=$($B exec sd1 sh -c 'echo "$(cat /sys/fs/cgroup/memory.max) $(cat /sys/fs/cgroup/pids.max) $(cat /sys/fs/cgroup/cpu.max)"' 2>&1)
        after="$(prop berth-sd1.scope MemoryMax) $(prop berth-sd1.scope TasksMax) $(prop berth-sd1.scope CPUQuotaPerSecUSec)"
        # systemd re-applies the unit's properties to the cgroup on daemon-reload: the
        # limits must survive it (they are the unit's, not only files berth wrote).
        systemctl daemon-reload
        reloaded=$(cat /sys/fs/cgroup/$SCOPE/memory.max /sys/fs/cgroup/$SCOPE/pids.max | tr '\n' ' ')
        if [ -n "$up" ]; then
            bad "update said: $up"
        elif [ "$inside" != "134217728 32 20000 100000" ]; then
            bad "after update the container sees: $inside"
        elif [ "$after" != "134217728 32 200ms" ]; then
            bad "after update systemctl show: $after"
        elif [ "$reloaded" != "134217728 32 " ]; then
            bad "after daemon-reload the scope's files: $reloaded"
        else
            $B pause sd1
            frozen=$(cat /sys/fs/cgroup/$SCOPE/cgroup.freeze)
            st1=$($B state sd1 | grep -o '"status": "[a-z]*"')
            $B resume sd1
            st2=$($B state sd1 | grep -o '"status": "[a-z]*"')
            stats=$($B events --stats sd1 2>&1)
            if [ "$frozen $st1 $st2" != '1 "status": "paused" "status": "running"' ]; then
                bad "pause/resume: freeze=$frozen $st1 $st2"
            else
                case $stats in
                *'"type":"stats"'*'"limit":134217728'*) ;;
                *) bad "stats: $stats" ;;
                esac
                $B kill sd1 KILL
                wait_until 30 status_is sd1 stopped || bad "not stopped after kill"
                del=$($B delete sd1 2>&1)
                if [ -n "$del" ]; then
                    bad "delete said: $del"
                elif ! wait_until 10 unit_gone berth-sd1.scope $SCOPE; then
                    bad "left after delete: $(prop berth-sd1.scope LoadState) $(ls -d /sys/fs/cgroup/$SCOPE 2>&1)"
                else
                    ok
                fi
            fi
        fi
    fi
fi
$B delete --force sd1 > /dev/null 2>&1

# ---------------------------------------------------------------------------------------
start_test delete_force_stops_a_running_scope
script sd2 <<'S'
sleep 600 &
exec sleep 600
S
bundle sd2 '{}' "berthtest-a.slice:pfx:sd2"
SCOPE=berthtest.slice/berthtest-a.slice/pfx-sd2.scope
if ! $B --cgroup-manager=systemd run -d --bundle /b/sd2 sd2 > /tmp/sd2.out 2>&1; then
    bad "run: $(cat /tmp/sd2.out)"
else
    n=$(wc -l < /sys/fs/cgroup/$SCOPE/cgroup.procs 2>/dev/null)
    cg=$(prop pfx-sd2.scope ControlGroup)
    $B delete --force sd2 > /tmp/sd2.del 2>&1
    if [ "$cg" != "/$SCOPE" ]; then
        bad "ControlGroup of pfx-sd2.scope: $cg"
    elif [ "$n" -lt 1 ]; then
        bad "no process in $SCOPE"
    elif ! wait_until 10 unit_gone pfx-sd2.scope $SCOPE; then
        bad "left after delete --force: $(prop pfx-sd2.scope ActiveState) $(cat /tmp/sd2.del)"
    elif [ -e /run/berth/sd2 ]; then
        bad "state left"
    else
        ok
    fi
fi

# ---------------------------------------------------------------------------------------
start_test container_exit_then_delete_leaves_nothing
script sd3 <<'S'
cat /proc/self/cgroup
S
bundle sd3 '{ "memory": { "limit": 67108864 } }' "system.slice:berth:sd3"
out=$($B --systemd-cgroup run --bundle /b/sd3 sd3 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ "$out" != "0::/" ]; then
    bad "run (exit $rc): $out"
elif ! wait_until 10 unit_gone berth-sd3.scope system.slice/berth-sd3.scope; then
    bad "left after run: $(prop berth-sd3.scope ActiveState)"
elif [ -e /run/berth/sd3 ]; then
    bad "state left"
else
    ok
fi

# ---------------------------------------------------------------------------------------
start_test bad_slice_name_refused_before_anything_exists
bundle sd4 '{}' "bad--name.slice:pfx:sd4"
out=$($B --systemd-cgroup create --bundle /b/sd4 sd4 2>&1)
rc=$?
want='berth: create container "sd4": invalid cgroupsPath "bad--name.slice:pfx:sd4": the slice name has an empty dash-separated part ("-" first, last or doubled)'
if [ $rc -eq 0 ] || [ "$out" != "$want" ]; then
    bad "exit $rc: $out"
elif [ -e /run/berth/sd4 ] || [ "$(prop pfx-sd4.scope LoadState)" != not-found ]; then
    bad "something was created"
else
    ok
fi

# ---------------------------------------------------------------------------------------
start_test unreachable_bus_named_in_the_error
bundle sd5 '{}'
out=$(DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/berth-no-bus $B --systemd-cgroup create --bundle /b/sd5 sd5 2>&1)
rc=$?
want='berth: create container "sd5": systemd cgroup driver: cannot reach systemd over the system D-Bus at unix:path=/run/berth-no-bus: the socket does not exist (is systemd PID 1 and dbus running?)'
if [ $rc -eq 0 ] || [ "$out" != "$want" ]; then
    bad "exit $rc: $out"
elif [ -e /run/berth/sd5 ] || [ "$(prop berth-sd5.scope LoadState)" != not-found ]; then
    bad "something was left"
else
    ok
fi

# ---------------------------------------------------------------------------------------
start_test existing_unit_name_refused_and_undone
script sd6 <<'S'
exec sleep 600
S
bundle sd6 '{}' "system.slice:berth:sd6"
$B --systemd-cgroup run -d --bundle /b/sd6 sd6 > /tmp/sd6.out 2>&1
# A second container asking for the same scope: systemd refuses the unit, berth undoes.
mkdir -p /b/sd6b && cp /b/sd6/config.json /b/sd6b/
out=$($B --systemd-cgroup create --bundle /b/sd6b sd6b 2>&1)
rc=$?
procs=$(wc -l < /sys/fs/cgroup/system.slice/berth-sd6.scope/cgroup.procs)
case "$rc $out" in
0*) bad "second create succeeded" ;;
*"StartTransientUnit berth-sd6.scope"*)
    if [ -e /run/berth/sd6b ]; then bad "state of sd6b left"
    elif [ "$procs" != 1 ]; then bad "the first scope holds $procs processes"
    else ok; fi ;;
*) bad "exit $rc: $out" ;;
esac
$B delete --force sd6 > /dev/null 2>&1
wait_until 10 unit_gone berth-sd6.scope system.slice/berth-sd6.scope || bad "sd6 left"


# ---------------------------------------------------------------------------------------
# An update the cgroup files refuse (a unified key the kernel has no file for) is refused
# before SetUnitProperties: the scope keeps its MemoryMax and the file its value, not half an
# update (systemd's property changed, the files not).
start_test refused_update_leaves_the_scope_properties_and_files_alone
script sd7 <<'S'
exec sleep 600
S
bundle sd7 '{ "memory": { "limit": 268435456 } }'
$B --systemd-cgroup run -d --bundle /b/sd7 sd7 > /tmp/sd7.out 2>&1
echo '{ "memory": { "limit": 134217728 }, "unified": { "memory.bogus": "1" } }' > /tmp/sd7.json
out=$($B update -r /tmp/sd7.json sd7 2>&1)
rc=$?
want='berth: update container "sd7": invalid linux.resources.unified["memory.bogus"]: no such file in the memory controller'
seen="MemoryMax=$(prop berth-sd7.scope MemoryMax) memory.max=$(cat /sys/fs/cgroup/system.slice/berth-sd7.scope/memory.max 2>&1)"
if ! status_is sd7 running; then
    bad "sd7 not running: $(cat /tmp/sd7.out)"
elif [ $rc -eq 0 ] || [ "$out" != "$want" ]; then
    bad "exit $rc: $out"
elif [ "$seen" != "MemoryMax=268435456 memory.max=268435456" ]; then
    bad "half applied: $seen"
else
    ok
fi
$B delete --force sd7 > /dev/null 2>&1
wait_until 10 unit_gone berth-sd7.scope system.slice/berth-sd7.scope || bad "sd7 left"
