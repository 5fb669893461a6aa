#!/bin/bash
# berth with real containerd (Debian's 1.6.20): ctr, the runc shim with BinaryName=berth, and
# CRI as kubelet calls it. Started by `make test-containerd`; needs root.
#
#   run-tests.sh SHIM_BINARY BERTH_BINARY CRI_TEST_BINARY
#
# containerd runs on a private socket, root and state under $WORK (integration/.work/containerd
# by default) and is stopped by its pid at the end. containerd itself still creates
# /run/containerd/{s,fifo} (hard-coded shim socket and FIFO directories).
#
# Prints "ok"/"FAIL" per check, the measurements, and exits non-zero if any check failed.
# Skips LOUDLY (exit 0 with a SKIP banner) only when containerd cannot run here.
set -uo pipefail

SHIM=$(readlink -f "$1") BERTH=$(readlink -f "$2") CRI_TEST=${3:+$(readlink -f "$3")}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${WORK:-$HERE/../.work/containerd}
NS=berth-test
IMG=docker.io/library/berth-busybox:test
PAUSE=docker.io/library/berth-pause:test
failures=0
CTRD_PID=

skip() { printf '\n*** SKIP containerd tests: %s ***\n\n' "$*" >&2; exit 0; }
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; failures=$((failures + 1)); }
expect() { # expect DESCRIPTION EXPECTED ACTUAL
	if [ "$2" == "$3" ]; then ok "$1"; else bad "$1: expected [$2], got [$3]"; fi
}
contains() { # contains DESCRIPTION NEEDLE HAYSTACK
	if [[ "$3" == *"$2"* ]]; then ok "$1"; else bad "$1: [$2] not in [$3]"; fi
}

[ "$(id -u)" == 0 ] || skip "not root (containerd needs root)"
command -v containerd >/dev/null || skip "containerd is not installed (make test-containerd installs it)"
[ -x "$SHIM" ] || { echo "no shim binary at $1" >&2; exit 1; }

rm -rf "$WORK" /run/containerd/berth/"$NS"
mkdir -p "$WORK"/{bin,root,state,opt,cni,cni-ipam,logs}
WORK=$(readlink -f "$WORK")
SOCK=$WORK/containerd.sock
ln -s "$SHIM" "$WORK/bin/containerd-shim-berth-v2"
# Every client call is bounded: a hang is a failure, not a stuck test run.
ctr() { timeout 60 ctr -a "$SOCK" -n "$NS" "$@"; }

# ---- containerd --------------------------------------------------------------------------
CNI_BRIDGE=berthcni0
host_network=${BERTH_CRI_HOST_NETWORK:-}
if [ -z "$host_network" ] && [ -x /usr/lib/cni/bridge ]; then
	cat >"$WORK/cni/10-berth.conflist" <<EOF
{"cniVersion":"0.4.0","name":"berth-test","plugins":[{"type":"bridge","bridge":"$CNI_BRIDGE","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.77.0/24"}]],"dataDir":"$WORK/cni-ipam"}}]}
EOF
else
	host_network=1
fi
cat >"$WORK/config.toml" <<EOF
version = 2
root = "$WORK/root"
state = "$WORK/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "$WORK/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.berth.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$WORK/cni"
EOF

start_containerd() {
	PATH="$WORK/bin:$PATH" containerd --config "$WORK/config.toml" >>"$WORK/logs/containerd.log" 2>&1 &
	CTRD_PID=$!
	for _ in $(seq 100); do
		command ctr -a "$SOCK" version >/dev/null 2>&1 && return 0
		kill -0 "$CTRD_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
stop_containerd() { # SIGNAL
	[ -n "$CTRD_PID" ] || return 0
	kill -"${1:-TERM}" "$CTRD_PID" 2>/dev/null
	wait "$CTRD_PID" 2>/dev/null
	CTRD_PID=
}

shim_pids() { # the berth shim daemons (they run with -socket)
	local p cmd ppid
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")
		[[ "$cmd" == *"containerd-shim-berth-v2 "*"-address $SOCK -socket"* ]] || continue
		# Skip the runtime worker: a child of the daemon with the same command line.
		ppid=$(awk '{print $4}' "$p/stat" 2>/dev/null)
		[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$ppid/cmdline")" == "$cmd" ] && continue
		echo "${p#/proc/}"
	done
}

cleanup() {
	ctr tasks ls -q 2>/dev/null | while read -r t; do ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1; ctr tasks delete -f "$t" >/dev/null 2>&1; done
	ctr containers ls -q 2>/dev/null | while read -r c; do ctr containers delete "$c" >/dev/null 2>&1; done
	stop_containerd TERM
	for p in $(shim_pids); do kill -9 "$p" 2>/dev/null; done
	# Anything still mounted under the test directory (a failed test's rootfs) goes too.
	grep -o " $WORK[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
	[ -n "$host_network" ] || ip link del "$CNI_BRIDGE" 2>/dev/null
	rm -rf /run/containerd/berth/"$NS" /run/containerd/berth/k8s.io /run/containerd/runc/"$NS"
	# ctr leaves the FIFO directories of detached (-d) runs.
	for f in $(comm -13 <(echo "$fifos_before") <(ls /run/containerd/fifo 2>/dev/null | sort)); do
		rm -rf "/run/containerd/fifo/$f"
	done
	# The per-namespace parent cgroups (ctr's "/$NS/<id>", CRI's "/k8s.io/<id>"), left empty by
	# the runtimes as runc leaves them; rmdir removes only empty ones.
	for d in /sys/fs/cgroup/*/"$NS" /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/unified/"$NS" /sys/fs/cgroup/unified/k8s.io; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null
	done
	[ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

sockets_before=$(ls /run/containerd/s 2>/dev/null | sort)
fifos_before=$(ls /run/containerd/fifo 2>/dev/null | sort)
start_containerd || { tail -20 "$WORK/logs/containerd.log" >&2; skip "containerd did not start (log above)"; }
# Every task event, for the exit statuses and the event order.
watch_events() {
	command ctr -a "$SOCK" -n "$NS" events >>"$WORK/events.log" 2>/dev/null &
	sleep 0.2
}
exit_status() { # ID: exit_status of its /tasks/exit event (protobuf omits 0)
	local line
	line=$(grep " /tasks/exit " "$WORK/events.log" | grep "\"container_id\":\"$1\"" | tail -1)
	[ -n "$line" ] || { echo none; return; }
	[[ "$line" =~ \"exit_status\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo 0
}
task_topics() { # ID: the order of its /tasks/ events
	grep "\"container_id\":\"$1\"" "$WORK/events.log" | grep -o " /tasks/[a-z-]* " | tr -d ' ' | tr '\n' ' ' | sed 's/ $//'
}
watch_events
echo "info containerd $(containerd --version | awk '{print $3}') on $SOCK (pid $CTRD_PID)"

"$HERE/mkimage.sh" "$WORK/busybox.tar" "$IMG" sh
"$HERE/mkimage.sh" "$WORK/pause.tar" "$PAUSE" sleep 2147483647
ctr images import "$WORK/busybox.tar" >/dev/null || bad "import $IMG"
for ns in k8s.io; do
	command ctr -a "$SOCK" -n $ns images import "$WORK/busybox.tar" >/dev/null || bad "import $IMG into $ns"
	command ctr -a "$SOCK" -n $ns images import "$WORK/pause.tar" >/dev/null || bad "import $PAUSE into $ns"
done

RT="--runtime io.containerd.berth.v2"

# ---- ctr run: output, exit codes, signals, stdin ----------------------------------------------
out=$(ctr run --rm $RT "$IMG" t-hello echo hello-from-berth 2>&1)
expect "ctr run prints the container's output" "hello-from-berth" "$out"
sleep 0.2
expect "events in order" "/tasks/create /tasks/start /tasks/exit /tasks/delete" "$(task_topics t-hello)"

ctr run --rm $RT "$IMG" t-exit sh -c 'exit 7' </dev/null >/dev/null 2>&1
expect "exit code 7 reported" 7 $?
expect "TaskExit carries 7" 7 "$(exit_status t-exit)"

out=$(echo piped-input | ctr run --rm $RT "$IMG" t-stdin cat 2>&1)
expect "stdin reaches the container and EOF ends it" "piped-input" "$out"

out=$(ctr run --rm $RT "$IMG" t-pid1 sh -c 'echo $$' </dev/null 2>&1)
expect "the process is PID 1 in its own pid namespace" "1" "$out"

# SIGTERM to a trapping shell, SIGKILL to a plain one: statuses 42 and 137.
ctr run $RT "$IMG" t-term sh -c 'trap "exit 42" TERM; echo up; while :; do sleep 0.1; done' </dev/null >"$WORK/t-term.out" 2>&1 &
runpid=$!
for _ in $(seq 50); do grep -q up "$WORK/t-term.out" && break; sleep 0.1; done
ctr tasks kill -s SIGTERM t-term
wait $runpid
expect "ctr task kill SIGTERM: the trap's exit status 42" 42 $?
ctr tasks delete t-term >/dev/null 2>&1; ctr containers delete t-term >/dev/null 2>&1

ctr run -d $RT "$IMG" t-kill sleep 1000 >/dev/null
st=$(ctr tasks ls | awk '$1=="t-kill"{print $3}')
expect "ctr task ls: RUNNING" RUNNING "$st"
pids=$(ctr tasks ps t-kill | awk 'NR>1{print $1}' | wc -l)
expect "ctr task ps lists the init" 1 "$pids"
ctr tasks kill -s SIGKILL t-kill
for _ in $(seq 50); do st=$(ctr tasks ls | awk '$1=="t-kill"{print $3}'); [ "$st" == STOPPED ] && break; sleep 0.1; done
expect "killed task is STOPPED" STOPPED "$st"
err=$(ctr tasks kill -s SIGKILL t-kill 2>&1)
expect "kill of an exited task fails" 1 $?
contains "…with a not-found error" "not found" "$err"
ctr tasks delete t-kill >/dev/null 2>&1
expect "TaskExit carries the SIGKILL status" 137 "$(exit_status t-kill)"
err=$(ctr tasks delete t-kill 2>&1)
expect "delete twice fails" 1 $?
contains "…with not found" "not found" "$err"
ctr containers delete t-kill

# kill --all signals every process of the container's cgroup.
ctr run -d $RT "$IMG" t-killall sh -c 'sleep 1000 & sleep 1000 & wait' >/dev/null
for _ in $(seq 50); do [ "$(ctr tasks ps t-killall | awk 'NR>1' | wc -l)" -ge 3 ] && break; sleep 0.1; done
expect "three processes in the task" 3 "$(ctr tasks ps t-killall | awk 'NR>1' | wc -l)"
# SIGTERM: PID 1 (sh, no handler) ignores it, so the task stops only if the sleeps get it.
ctr tasks kill --all -s SIGTERM t-killall
for _ in $(seq 50); do st=$(ctr tasks ls | awk '$1=="t-killall"{print $3}'); [ "$st" == STOPPED ] && break; sleep 0.1; done
expect "kill --all stops the task" STOPPED "$st"
ctr tasks delete t-killall >/dev/null 2>&1; ctr containers delete t-killall

# Not implemented yet (exec, pause, metrics): a clear error, never a fake success or a hang.
ctr run -d $RT "$IMG" t-unimpl sleep 1000 >/dev/null
err=$(ctr tasks exec --exec-id e1 t-unimpl echo hi 2>&1)
expect "exec fails (until berth-runtime's exec lands)" 1 $?
contains "…naming what is missing" "container::exec" "$err"
err=$(ctr tasks pause t-unimpl 2>&1)
contains "pause fails naming what is missing" "container::pause" "$err"
err=$(ctr tasks metrics t-unimpl 2>&1)
expect "metrics fails (containerd 1.6 drops the shim's Unimplemented)" 1 $?
contains "…and reports no metrics, not fake ones" "no metrics received" "$err"
ctr tasks kill -s SIGKILL t-unimpl; sleep 0.3; ctr tasks delete t-unimpl >/dev/null 2>&1; ctr containers delete t-unimpl

# Bad input: a program that does not exist fails create with the runtime's message, and
# leaves nothing behind.
err=$(ctr run --rm $RT "$IMG" t-bad /no/such/program 2>&1)
expect "create of a missing program fails" 1 $?
contains "…with the runtime's error" "/no/such/program" "$err"
ctr containers delete t-bad >/dev/null 2>&1
[ ! -e /run/containerd/berth/$NS/t-bad ] && ok "…and no berth state is left" || bad "state of t-bad left behind"

# ---- stdio URIs: file:// and binary:// ---------------------------------------------------------
ctr run --rm $RT --log-uri "file://$WORK/file-log/out.log" "$IMG" t-file sh -c 'echo to-file; echo err-to-file >&2' >/dev/null 2>&1
expect "file:// log receives stdout and stderr" "to-file err-to-file" "$(tr '\n' ' ' <"$WORK/file-log/out.log" | sed 's/ $//')"

cat >"$WORK/bin/test-logger" <<EOF
#!/bin/bash
# containerd's logging-binary protocol: fd 3 stdout, fd 4 stderr, close fd 5 when ready.
exec 6>>"$WORK/binary.log"
exec 5>&- # ready: the readers below already hold fds 3 and 4
{ while IFS= read -r l; do echo "\$CONTAINER_ID out \$l" >&6; done <&3; } &
{ while IFS= read -r l; do echo "\$CONTAINER_ID err \$l" >&6; done <&4; } &
wait
EOF
chmod +x "$WORK/bin/test-logger"
ctr run --rm $RT --log-uri "binary://$WORK/bin/test-logger" "$IMG" t-bin sh -c 'echo via-binary; echo e-via-binary >&2' >/dev/null 2>&1
sleep 0.3
contains "binary:// logger gets stdout with CONTAINER_ID" "t-bin out via-binary" "$(cat "$WORK/binary.log" 2>/dev/null)"
contains "binary:// logger gets stderr" "t-bin err e-via-binary" "$(cat "$WORK/binary.log" 2>/dev/null)"

# ---- resilience ------------------------------------------------------------------------------------
ctr run -d $RT "$IMG" t-restart sh -c 'trap "exit 42" TERM; while :; do sleep 0.1; done' >/dev/null
stop_containerd KILL
start_containerd || bad "containerd restarts"
watch_events
st=$(ctr tasks ls | awk '$1=="t-restart"{print $3}')
expect "a task survives containerd's restart" RUNNING "$st"
ctr tasks kill -s SIGTERM t-restart
for _ in $(seq 50); do st=$(ctr tasks ls | awk '$1=="t-restart"{print $3}'); [ "$st" == STOPPED ] && break; sleep 0.1; done
ctr tasks delete t-restart >/dev/null 2>&1
expect "after the restart containerd still gets the exit status" 42 "$(exit_status t-restart)"
ctr containers delete t-restart

ctr run -d $RT "$IMG" t-lost sleep 1000 >/dev/null
init=$(ctr tasks ls | awk '$1=="t-lost"{print $2}')
shim=$(for p in $(shim_pids); do tr '\0' ' ' </proc/$p/cmdline | grep -q -- "-id t-lost " && echo $p; done)
kill -9 $shim
for _ in $(seq 100); do kill -0 "$init" 2>/dev/null || break; sleep 0.1; done
kill -0 "$init" 2>/dev/null && bad "the container of a SIGKILLed shim is cleaned up" || ok "the container of a SIGKILLed shim is killed by 'shim delete'"
ctr tasks delete t-lost >/dev/null 2>&1; ctr containers delete t-lost >/dev/null 2>&1
[ ! -e /run/containerd/berth/$NS/t-lost ] && ok "…its berth state is removed" || bad "state of t-lost left behind"
grep -q "/t-lost/rootfs" /proc/self/mounts && bad "rootfs of t-lost still mounted" || ok "…its rootfs is unmounted"

# ---- berth as BinaryName under containerd's runc shim ----------------------------------------------
out=$(ctr run --rm --runtime io.containerd.runc.v2 --runc-binary "$BERTH" "$IMG" t-runcshim sh -c 'echo via-runc-shim; exit 5' </dev/null 2>&1)
rc=$?
expect "runc shim + berth binary: output" "via-runc-shim" "$out"
expect "runc shim + berth binary: exit status" 5 $rc

# ---- measurements ----------------------------------------------------------------------------------
rss() { awk '/VmRSS/{print $2}' /proc/$1/status; }
ctr run -d $RT "$IMG" m-berth sleep 1000 >/dev/null
ctr run -d --runtime io.containerd.runc.v2 "$IMG" m-runc sleep 1000 >/dev/null
sleep 1
bshim=$(for p in $(shim_pids); do tr '\0' ' ' </proc/$p/cmdline | grep -q -- "-id m-berth " && echo $p; done)
rshim=$(pgrep -f -- "containerd-shim-runc-v2 -namespace $NS -id m-runc" | head -1)
wshim=$(pgrep -P "$bshim" | while read -r c; do [ "$(tr '\0' ' ' </proc/$c/cmdline)" == "$(tr '\0' ' ' </proc/$bshim/cmdline)" ] && echo $c; done | head -1)
echo "MEASURE idle shim RSS (kB): berth shim daemon $(rss $bshim) + runtime worker $(rss $wshim 2>/dev/null || echo ?); containerd-shim-runc-v2 $(rss $rshim)"
for t in m-berth m-runc; do ctr tasks kill -s SIGKILL $t; done; sleep 0.5
for t in m-berth m-runc; do ctr tasks delete $t >/dev/null 2>&1; ctr containers delete $t; done

N=${MEASURE_RUNS:-10}
tb=0 tr=0
for i in $(seq "$N"); do
	s=$(date +%s%N); ctr run --rm $RT "$IMG" mb-$i echo hello </dev/null >/dev/null 2>&1; e=$(date +%s%N); tb=$((tb + e - s))
	s=$(date +%s%N); ctr run --rm --runtime io.containerd.runc.v2 "$IMG" mr-$i echo hello </dev/null >/dev/null 2>&1; e=$(date +%s%N); tr=$((tr + e - s))
done
echo "MEASURE ctr run --rm hello, mean of $N paired runs: berth shim $((tb / N / 1000000)) ms, runc shim (runc 1.1.5) $((tr / N / 1000000)) ms"

# ---- CRI --------------------------------------------------------------------------------------------
if [ -n "$CRI_TEST" ] && [ -x "$CRI_TEST" ]; then
	BERTH_CRI_HOST_NETWORK=$host_network "$CRI_TEST" "$SOCK" berth "$IMG" "$WORK" | tee "$WORK/cri.out"
	[ "${PIPESTATUS[0]}" == 0 ] || bad "CRI scenario (see above)"
	pod=$(awk '/^POD /{print $2}' "$WORK/cri.out")
	sleep 0.5
	left=$(for p in $(shim_pids); do tr '\0' ' ' </proc/$p/cmdline | grep -q -- "-namespace k8s.io" && echo $p; done)
	expect "CRI: no shim process left after RemovePodSandbox" "" "$left"
	expect "CRI: no berth state left" "" "$(ls /run/containerd/berth/k8s.io 2>/dev/null)"
	if [ -n "$pod" ]; then
		expect "CRI: no mount of the pod left" "" "$(grep -c "$pod" /proc/self/mounts | grep -v '^0$')"
		expect "CRI: no cgroup of the pod left" "" "$(find /sys/fs/cgroup/*/ -maxdepth 3 -type d -name "*$pod*" 2>/dev/null)"
	fi
else
	bad "CRI test binary missing ($3)"
fi

sleep 0.5
expect "no shim socket left in /run/containerd/s" "" "$(comm -13 <(echo "$sockets_before") <(ls /run/containerd/s 2>/dev/null | sort) | tr '\n' ' ')"

echo
if [ $failures -eq 0 ]; then echo "containerd tests: PASS"; else echo "containerd tests: $failures FAILED"; exit 1; fi
