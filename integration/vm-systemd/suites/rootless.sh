# The rootless suite (sourced by ../tests.sh; issue #16): berth run by an unprivileged user
# whose user manager (user@<uid>.service, Delegate=) owns a cgroup v2 subtree. berth runs in a
# delegated scope of that manager (systemd-run --user --scope -p Delegate=yes), so the parent
# of its own cgroup (app.slice) is the user's, and the container's cgroup is app.slice/berth/<id>.
# Checked from inside the container (its cgroup namespace): limits, update, pause, and from the
# host: the cgroup's place, that it is gone after delete. Also: a controller the subtree does
# not hand down is refused by name, a user without delegation gets the one warning and no
# cgroup, the systemd driver is refused rootless. Everything made here (the user, its manager,
# its cgroups and state) is removed at the end.

RL_USER=berthrl
useradd -M -s /bin/sh -d /nonexistent $RL_USER
RL_UID=$(id -u $RL_USER)
RL_RUN=/run/user/$RL_UID
RL_MGR=user@$RL_UID.service
RL_APP=/sys/fs/cgroup/user.slice/user-$RL_UID.slice/$RL_MGR/app.slice
RL_DIR=/tmp/rl
mkdir -p $RL_DIR && chown $RL_USER: $RL_DIR
# The image has no pam_systemd (libpam-systemd), which would give the manager its
# XDG_RUNTIME_DIR: a runtime drop-in does (/run/user/<uid> is made by user-runtime-dir@).
RL_DROPIN=/run/systemd/system/$RL_MGR.d
mkdir -p $RL_DROPIN
printf '[Service]\nEnvironment=XDG_RUNTIME_DIR=%s\n' $RL_RUN > $RL_DROPIN/berth-test.conf
systemctl daemon-reload
systemctl start $RL_MGR || echo "INFO $RL_MGR did not start: $(systemctl status --no-pager $RL_MGR 2>&1 | tail -5)"

# as_user CMD...: run as the test user with the user manager's environment.
as_user() {
    runuser -u $RL_USER -- env PATH=$PATH HOME=$RL_DIR XDG_RUNTIME_DIR=$RL_RUN \
        DBUS_SESSION_BUS_ADDRESS=unix:path=$RL_RUN/bus "$@"
}
# in_scope CMD...: as the user, in a new delegated scope of its manager.
in_scope() { as_user systemd-run --user --scope --quiet -p Delegate=yes "$@"; }
# rl_bundle NAME RESOURCES [CGROUPS_PATH]: `berth spec --rootless` as the user (its uid and
# gid mapped to 0, no network namespace) plus a cgroup namespace, running /ct/NAME.sh.
rl_bundle() {
    as_user mkdir -p $RL_DIR/$1
    (cd $RL_DIR/$1 && as_user berth spec --rootless)
    sed -i -e 's|"terminal": true|"terminal": false|' \
        -e "s|^\t\t\t\"sh\"\$|\t\t\t\"sh\", \"/ct/$1.sh\"|" \
        -e "s|\"path\": \"rootfs\"|\"path\": \"$ROOTFS\"|" \
        -e 's|^\t\t\t\t"type": "mount"$|\t\t\t\t"type": "mount" }, { "type": "cgroup"|' \
        -e "s|^\t\"linux\": {\$|\t\"linux\": { \"resources\": $2,${3:+ \"cgroupsPath\": \"$3\",}|" \
        $RL_DIR/$1/config.json
}
RB="berth"
no_procs() { [ -z "$(cat $1/cgroup.procs 2> /dev/null)" ]; }

echo "INFO rootless: uid $RL_UID, $RL_MGR $(prop $RL_MGR ActiveState) Delegate=$(prop $RL_MGR Delegate) DelegateControllers=$(prop $RL_MGR DelegateControllers); $RL_MGR/cgroup.controllers: $(cat /sys/fs/cgroup/user.slice/user-$RL_UID.slice/$RL_MGR/cgroup.controllers 2>&1); app.slice: $(ls -ld $RL_APP 2>&1)"

# ---------------------------------------------------------------------------------------
start_test rootless_delegated_cgroup_limits_update_pause_ps_kill_all_delete
script rl1 <<'S'
echo "in: mem=$(cat /sys/fs/cgroup/memory.max) pids=$(cat /sys/fs/cgroup/pids.max) cg=$(cat /proc/self/cgroup) uid=$(id -u)"
sleep 600 &
exec sleep 600
S
rl_bundle rl1 '{ "memory": { "limit": 268435456 }, "pids": { "limit": 64 } }'
CG=$RL_APP/berth/rl1
in_scope $RB run -d --bundle $RL_DIR/rl1 rl1 > $RL_DIR/rl1.out 2>&1
rc=$?
wait_until 30 file_has $RL_DIR/rl1.out "in: " || true
echo "INFO app.slice/cgroup.subtree_control: $(cat $RL_APP/cgroup.subtree_control 2>&1)"
pid=$(as_user $RB state rl1 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
host_cg=$(cat /proc/$pid/cgroup 2>&1)
if [ $rc != 0 ] || [ -z "$pid" ]; then
    bad "run (exit $rc): $(cat $RL_DIR/rl1.out)"
elif [ "$host_cg" != "0::${CG#/sys/fs/cgroup}" ]; then
    bad "the init's cgroup seen from the host: $host_cg (expected 0::${CG#/sys/fs/cgroup})"
elif [ "$(stat -c %U $CG)" != $RL_USER ]; then
    bad "$CG belongs to $(stat -c %U $CG)"
elif ! file_has $RL_DIR/rl1.out "in: mem=268435456 pids=64 cg=0::/ uid=0$"; then
    bad "container saw: $(cat $RL_DIR/rl1.out)"
elif grep -q "no cgroup" $RL_DIR/rl1.out; then
    bad "warned: $(cat $RL_DIR/rl1.out)"
else
    up=$(as_user $RB update --memory 134217728 --pids-limit 32 rl1 2>&1)
    inside=$(in_scope $RB exec rl1 sh -c 'echo "$(cat /sys/fs/cgroup/memory.max) $(cat /sys/fs/cgroup/pids.max) $(cat /proc/self/cgroup)"' 2>&1)
    ps=$(as_user $RB ps rl1 2>&1 | tail -n +2 | wc -l)
    as_user $RB pause rl1
    frozen="$(cat $CG/cgroup.freeze) $(grep frozen $CG/cgroup.events) $(as_user $RB state rl1 | grep -o '"status": "[a-z]*"')"
    as_user $RB resume rl1
    thawed="$(cat $CG/cgroup.freeze) $(as_user $RB state rl1 | grep -o '"status": "[a-z]*"')"
    if [ -n "$up" ]; then
        bad "update said: $up"
    elif [ "$inside" != "134217728 32 0::/" ]; then
        bad "after update the container sees: $inside"
    elif [ "$ps" != 2 ]; then
        bad "ps lists $ps processes: $(as_user $RB ps rl1 2>&1)"
    elif [ "$frozen" != '1 frozen 1 "status": "paused"' ] || [ "$thawed" != '0 "status": "running"' ]; then
        bad "pause/resume: $frozen / $thawed"
    else
        as_user $RB kill --all rl1 KILL
        wait_until 30 no_procs $CG || true
        left=$(cat $CG/cgroup.procs 2>&1)
        del=$(as_user $RB delete rl1 2>&1)
        if [ -n "$left" ]; then
            bad "processes left after kill --all: $left"
        elif [ -n "$del" ]; then
            bad "delete said: $del"
        elif [ -e $CG ] || [ -e $RL_APP/berth ] || [ -e $RL_RUN/berth/rl1 ]; then
            bad "left after delete: $(ls -d $CG $RL_APP/berth $RL_RUN/berth/rl1 2>&1)"
        else
            ok
        fi
    fi
fi
as_user $RB delete --force rl1 > /dev/null 2>&1

# ---------------------------------------------------------------------------------------
start_test rootless_relative_cgroups_path_is_below_berth_in_the_delegated_subtree
script rl5 <<'S'
echo "in: pids=$(cat /sys/fs/cgroup/pids.max)"
exec sleep 600
S
rl_bundle rl5 '{ "pids": { "limit": 20 } }' "rl5-cg"
in_scope $RB run -d --bundle $RL_DIR/rl5 rl5 > $RL_DIR/rl5.out 2>&1
rc=$?
wait_until 30 file_has $RL_DIR/rl5.out "in: " || true
pid=$(as_user $RB state rl5 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
host_cg=$(cat /proc/$pid/cgroup 2>&1)
del=$(as_user $RB delete --force rl5 2>&1)
if [ $rc != 0 ] || [ -z "$pid" ]; then
    bad "run (exit $rc): $(cat $RL_DIR/rl5.out)"
elif [ "$host_cg" != "0::${RL_APP#/sys/fs/cgroup}/berth/rl5-cg" ]; then
    bad "the init's cgroup seen from the host: $host_cg"
elif ! file_has $RL_DIR/rl5.out "in: pids=20$"; then
    bad "container saw: $(cat $RL_DIR/rl5.out)"
elif [ -n "$del" ] || [ -e $RL_APP/berth ]; then
    bad "delete --force: $del; left: $(ls -d $RL_APP/berth 2>&1)"
else
    ok
fi

# ---------------------------------------------------------------------------------------
start_test rootless_controller_not_delegated_is_refused_by_name
script rl2 <<'S'
exit 0
S
rl_bundle rl2 '{ "hugepageLimits": [ { "pageSize": "2MB", "limit": 2097152 } ] }'
out=$(in_scope $RB run --bundle $RL_DIR/rl2 rl2 2>&1)
rc=$?
case "$rc $out" in
0*) bad "run succeeded: $out" ;;
*"linux.resources.hugepageLimits: rootless: the hugetlb controller is not delegated to berth: the container's cgroup.controllers would list only \""*"\" (as $RL_APP/cgroup.subtree_control says)"*)
    if [ -e $RL_APP/berth ] || [ -e $RL_RUN/berth/rl2 ]; then
        bad "something was left: $(ls -d $RL_APP/berth $RL_RUN/berth/rl2 2>&1)"
    else
        echo "INFO refusal: $out"
        ok
    fi ;;
*) bad "exit $rc: $out" ;;
esac

# ---------------------------------------------------------------------------------------
start_test rootless_without_delegation_warns_once_and_makes_no_cgroup
script rl3 <<'S'
echo "in: cg=$(cat /proc/self/cgroup) files=$(ls /sys/fs/cgroup | wc -l)"
S
rl_bundle rl3 '{}'
# Not in a scope of the user's manager: berth's cgroup is this service's (or a login session's
# scope, if runuser's PAM session registers one), whose parent is root's.
own=$(as_user sed -n 's/^0:://p' /proc/self/cgroup)
out=$(as_user $RB run --bundle $RL_DIR/rl3 rl3 2>&1)
rc=$?
rl_bundle rl3b '{ "pids": { "limit": 10 } }'
refused=$(as_user $RB run --bundle $RL_DIR/rl3b rl3b 2>&1)
parent=/sys/fs/cgroup${own%/*}
case "$rc $out" in
"0 "*"rootless: no cgroup is created, the container stays in the caller's cgroups: $parent is not writable by uid $RL_UID"*"in: cg=0::/ files=0")
    if [ "$(echo "$out" | grep -c 'no cgroup is created')" != 1 ]; then
        bad "not one warning: $out"
    elif [ -e $parent/berth ]; then
        bad "a cgroup was made in $parent/berth"
    else
        case $refused in
        *"linux.resources.pids: rootless: the container gets no cgroup, so its resources cannot be applied: $parent is not writable by uid $RL_UID"*) ok ;;
        *) bad "resources without a cgroup: $refused" ;;
        esac
    fi ;;
*) bad "exit $rc: $out" ;;
esac
as_user $RB delete --force rl3 > /dev/null 2>&1

# ---------------------------------------------------------------------------------------
start_test rootless_systemd_cgroup_driver_is_refused
rl_bundle rl4 '{}'
out=$(in_scope $RB --systemd-cgroup run --bundle $RL_DIR/rl4 rl4 2>&1)
rc=$?
case "$rc $out" in
0*) bad "run succeeded: $out" ;;
*"the systemd cgroup driver (--systemd-cgroup, --cgroup-manager=systemd) is not supported rootless"*)
    if [ -e $RL_RUN/berth/rl4 ]; then bad "state left"; else ok; fi ;;
*) bad "exit $rc: $out" ;;
esac

# ---------------------------------------------------------------------------------------
# Clean up: the user's containers, its slice (its manager, /run/user/<uid>), and the user.
start_test rootless_suite_leaves_no_user_manager_cgroup_or_state
for c in rl1 rl2 rl3 rl3b rl4 rl5; do as_user $RB delete --force $c > /dev/null 2>&1; done
rmdir $RL_APP/berth 2> /dev/null
systemctl stop user-$RL_UID.slice
RL_SLICE=/sys/fs/cgroup/user.slice/user-$RL_UID.slice
wait_until 30 sh -c "[ ! -e $RL_SLICE ]" || true
userdel $RL_USER
rm -rf $RL_DIR $RL_DROPIN
systemctl daemon-reload
if [ -e $RL_SLICE ]; then
    bad "left: $(find $RL_SLICE -type d 2>&1 | head -5)"
elif [ -e $RL_RUN ] || id $RL_USER > /dev/null 2>&1; then
    bad "left: $(ls -d $RL_RUN 2>&1) $(id $RL_USER 2>&1)"
elif [ "$(prop $RL_MGR ActiveState)" = active ]; then
    bad "$RL_MGR still active"
else
    ok
fi
