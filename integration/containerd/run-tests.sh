#!/bin/bash
# berth with real containerd (Debian's 1.6.20): ctr, the runc shim with BinaryName=berth, and
# CRI as kubelet calls it, through the handlers `berth` (containerd-shim-berth-v2), `berth-runc`
# (containerd's runc shim with BinaryName = berth) and `runc` (runc shim + runc 1.1.5, the
# reference). Started by `make test-containerd`; needs root.
#
#   run-tests.sh SHIM_BINARY BERTH_BINARY CRI_TEST_BINARY
#
# Environment: BERTH_CRI_HANDLERS (default "berth berth-runc runc"), BERTH_CRI_ONLY=1 (skip the ctr
# checks and measurements), BERTH_WORKER_ONLY=1 (only the runtime-worker replacement case, then
# exit), BERTH_OPTIONS_ONLY=1 (only the runtime-options cases, then exit), BERTH_RUNC_TRACE=1 (log the runc shim's berth calls, see below),
# KEEP_WORK=1 (keep $WORK, with containerd's log in $WORK/logs), MEASURE_RUNS=N.
#
# containerd runs on a private socket, root and state under $WORK (integration/.work/containerd
# by default) and is stopped by its pid at the end. containerd itself still creates
# /run/containerd/{s,fifo} (hard-coded shim socket and FIFO directories).
#
# Prints "ok"/"FAIL" per check, the measurements, the CRI scenario × handler table, and exits
# non-zero if any check failed.
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
mkdir -p "$WORK"/{bin,logs}
WORK=$(readlink -f "$WORK")
# BinaryName of the berth-runc handler: berth itself, or with BERTH_RUNC_TRACE=1 a wrapper that
# logs every call the runc shim makes (argv; exit status and stderr except for create, run and
# exec, whose container inherits berth's stdio) to $WORK/logs/runc-calls.log.
RUNC_BINARY=$BERTH
if [ -n "${BERTH_RUNC_TRACE:-}" ]; then
	RUNC_BINARY=$WORK/bin/berth-trace
	cat >"$RUNC_BINARY" <<'EOF'
#!/bin/bash
log=@LOG@
echo "$(date +%T.%N) $$ argv: $*" >>"$log"
for a in "$@"; do case "$a" in create | run | exec) exec @BERTH@ "$@" ;; esac; done
err=$(mktemp)
@BERTH@ "$@" 2>"$err"
rc=$?
echo "$(date +%T.%N) $$ exit $rc stderr: $(tr '\n' ' ' <"$err")" >>"$log"
cat "$err" >&2
rm -f "$err"
exit $rc
EOF
	sed -i "s|@LOG@|$WORK/logs/runc-calls.log|; s|@BERTH@|$BERTH|g" "$RUNC_BINARY"
	chmod +x "$RUNC_BINARY"
fi
# The private containerd: its config, start_containerd, stop_containerd, shim_pids, ctrd_cleanup.
. "$HERE/lib.sh"
# Every client call is bounded: a hang is a failure, not a stuck test run.
ctr() { timeout 60 ctr -a "$SOCK" -n "$NS" "$@"; }

cleanup() {
	ctr tasks ls -q 2>/dev/null | while read -r t; do ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1; ctr tasks delete -f "$t" >/dev/null 2>&1; done
	ctr containers ls -q 2>/dev/null | while read -r c; do ctr containers delete "$c" >/dev/null 2>&1; done
	ctrd_cleanup "$NS" k8s.io
	# ctr leaves the FIFO directories of detached (-d) runs.
	for f in $(comm -13 <(echo "$fifos_before") <(ls /run/containerd/fifo 2>/dev/null | sort)); do
		rm -rf "/run/containerd/fifo/$f"
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

# ---- the runtime worker, SIGKILLed, is replaced (issue #21 item 7) -----------------------------
shim_workers() { # DAEMON_PID: its runtime worker (a child running the shim's binary)
	[ -n "$1" ] || return 0
	local c
	for c in $(pgrep -P "$1"); do
		[[ "$(tr '\0' ' ' 2>/dev/null </proc/$c/cmdline)" == *"containerd-shim-berth-v2 "* ]] && echo "$c"
	done
}
shim_procs_of() { # ID: every shim process (daemon or worker) started for task ID on our containerd
	local p cmd
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")
		[[ "$cmd" == *"containerd-shim-berth-v2 "*"-id $1 "*"-address $SOCK "* ]] && echo "${p#/proc/}"
	done
}
kill_worker() { # DAEMON_PID: SIGKILLs its worker, waits until the shim reaped it; prints its pid
	local w
	w=$(shim_workers "$1")
	[ -n "$w" ] || return 1
	kill -9 $w
	for _ in $(seq 50); do [ -e /proc/$w ] || break; sleep 0.1; done
	[ -e /proc/$w ] && return 1
	echo "$w"
}
test_worker_replaced() {
	local daemon w1 w2 w3 w4 w5 w7 w8 out rc st execpid
	ctr run -d $RT "$IMG" t-worker sh -c 'while :; do sleep 0.1; done' >/dev/null
	daemon=$(for p in $(shim_pids); do tr '\0' ' ' </proc/$p/cmdline | grep -q -- "-id t-worker " && echo $p; done)
	w1=$(shim_workers "$daemon")
	expect "runtime worker: one per shim daemon" 1 "$(echo $w1 | wc -w)"
	w1=$(kill_worker "$daemon") && ok "runtime worker $w1 SIGKILLed and reaped" || bad "runtime worker of $daemon could not be killed"
	st=$(ctr tasks ls | awk '$1=="t-worker"{print $3}')
	expect "…the task is still RUNNING" RUNNING "$st"
	expect "…and the worker's exit is not the task's (no TaskExit)" none "$(exit_status t-worker)"
	out=$(ctr tasks exec --exec-id wk1 t-worker sh -c 'echo exec-after-worker-kill; cat /proc/1/cmdline | tr "\0" " "' </dev/null 2>&1)
	rc=$?
	expect "…ctr task exec still works (exit status 0)" 0 $rc
	contains "…prints the process's output" "exec-after-worker-kill" "$out"
	contains "…from inside the container (its PID 1)" "while :" "$out"
	w2=$(shim_workers "$daemon")
	[ -n "$w2" ] && [ "$w2" != "$w1" ] && ok "…a new worker ($w2) replaced $w1" || bad "no new runtime worker (before: $w1, now: [$w2])"
	# Killed while idle, twice in a row: each replacement serves the next exec.
	w2=$(kill_worker "$daemon") || bad "second worker could not be killed"
	out=$(ctr tasks exec --exec-id wk2 t-worker echo after-second-kill </dev/null 2>&1)
	expect "second idle worker kill: exec prints its output" "after-second-kill" "$out"
	w3=$(kill_worker "$daemon") || bad "third worker could not be killed"
	out=$(ctr tasks exec --exec-id wk3 t-worker echo after-third-kill </dev/null 2>&1)
	expect "third idle worker kill in a row: exec prints its output" "after-third-kill" "$out"
	w4=$(shim_workers "$daemon")
	[ -n "$w4" ] && [ "$w4" != "$w3" ] && ok "…served by a fresh worker ($w1 → $w2 → $w3 → $w4)" || bad "worker not replaced after the third kill ([$w3] → [$w4])"
	# Killed with a request in hand (stopped first, so the exec's request waits in its socket):
	# not repeated, and the error names the operation, the task and how the worker died.
	w4=$(shim_workers "$daemon")
	kill -STOP $w4
	ctr tasks exec --exec-id wk4 t-worker echo never-printed </dev/null >"$WORK/wk4.out" 2>&1 &
	execpid=$!
	for _ in $(seq 100); do [ "$(ss -xpn 2>/dev/null | grep "pid=$w4," | awk '$3 > 0' | wc -l)" -gt 0 ] && break; sleep 0.05; done
	kill -9 $w4
	wait $execpid
	expect "worker killed holding an exec request: the exec fails" 1 $?
	out=$(cat "$WORK/wk4.out")
	contains "…naming the operation, the task and the worker's death" "exec in task \"t-worker\": the runtime worker (pid $w4) died (signal 9, SIGKILL) before replying" "$out"
	[[ "$out" == *never-printed* ]] && bad "…the request was repeated: $out" || ok "…and the request was not repeated"
	out=$(ctr tasks exec --exec-id wk5 t-worker echo after-in-flight-kill </dev/null 2>&1)
	expect "…the next exec is served by a new worker" "after-in-flight-kill" "$out"
	# The same with a Create: a second container joins this shim (as a pod's containers do,
	# by the sandbox-id annotation); its create fails clearly and leaves nothing behind.
	w5=$(shim_workers "$daemon")
	kill -STOP $w5
	ctr run -d --annotation io.kubernetes.cri.sandbox-id=t-worker $RT "$IMG" t-worker2 sleep 1000 >"$WORK/wk-create.out" 2>&1 &
	execpid=$!
	for _ in $(seq 100); do [ "$(ss -xpn 2>/dev/null | grep "pid=$w5," | awk '$3 > 0' | wc -l)" -gt 0 ] && break; sleep 0.05; done
	kill -9 $w5
	wait $execpid
	expect "worker killed holding a create request: ctr run fails" 1 $?
	contains "…naming the operation, the task and the worker's death" "create task \"t-worker2\": the runtime worker (pid $w5) died (signal 9, SIGKILL) before replying" "$(cat "$WORK/wk-create.out")"
	expect "…no task t-worker2" "" "$(ctr tasks ls | awk '$1=="t-worker2"')"
	[ ! -e /run/containerd/berth/$NS/t-worker2 ] && ok "…no berth state of t-worker2" || bad "state of t-worker2 left behind"
	grep -q "/t-worker2/rootfs" /proc/self/mounts && bad "rootfs of t-worker2 still mounted" || ok "…its rootfs is unmounted"
	ctr containers delete t-worker2 >/dev/null 2>&1
	out=$(ctr tasks exec --exec-id wk6 t-worker echo after-create-kill </dev/null 2>&1)
	expect "…and the shim's next exec works" "after-create-kill" "$out"
	# Stopped holding a request and left so: the shim sees it stopped within a second, kills
	# it, and the exec fails as above (before: the exec waited for ever).
	w6=$(shim_workers "$daemon")
	kill -STOP $w6
	out=$(ctr tasks exec --exec-id wk7 t-worker echo never-printed </dev/null 2>&1)
	expect "worker stopped holding an exec request: the exec fails, no hang" 1 $?
	contains "…the shim killed the stopped worker" "exec in task \"t-worker\": the runtime worker (pid $w6) died (signal 9, SIGKILL) before replying" "$out"
	out=$(ctr tasks exec --exec-id wk8 t-worker echo after-stopped-worker </dev/null 2>&1)
	expect "…and the next exec is served by a new worker" "after-stopped-worker" "$out"
	# Idle: the shim lets the worker go 10–15 s after its last request (worker.rs IDLE_RETIRE);
	# the task runs on, and the next exec starts a new worker.
	w7=$(shim_workers "$daemon")
	for _ in $(seq 250); do [ -z "$(shim_workers "$daemon")" ] && break; sleep 0.1; done
	expect "idle worker $w7 retired within 25 s of the last request" "" "$(shim_workers "$daemon")"
	expect "…the task is still RUNNING" RUNNING "$(ctr tasks ls | awk '$1=="t-worker"{print $3}')"
	out=$(ctr tasks exec --exec-id wk9 t-worker echo after-idle </dev/null 2>&1)
	expect "…the next exec works" "after-idle" "$out"
	w8=$(shim_workers "$daemon")
	[ -n "$w8" ] && [ "$w8" != "$w7" ] && ok "…served by a new worker ($w7 → $w8)" || bad "no new worker after the idle one ([$w7] → [$w8])"
	ctr tasks kill -s SIGKILL t-worker
	expect "…ctr task kill works" 0 $?
	for _ in $(seq 50); do st=$(ctr tasks ls | awk '$1=="t-worker"{print $3}'); [ "$st" == STOPPED ] && break; sleep 0.1; done
	expect "…the task is STOPPED" STOPPED "$st"
	ctr tasks delete t-worker >/dev/null 2>&1
	expect "…ctr task delete works" 0 $?
	expect "…TaskExit carries the init's SIGKILL status" 137 "$(exit_status t-worker)"
	ctr containers delete t-worker
	expect "…ctr container delete works" 0 $?
	for _ in $(seq 50); do [ -z "$(shim_procs_of t-worker)" ] && break; sleep 0.1; done
	expect "…no shim process (daemon or worker) of t-worker is left" "" "$(shim_procs_of t-worker | tr '\n' ' ')"
	[ ! -e /run/containerd/berth/$NS/t-worker ] && ok "…and no berth state" || bad "state of t-worker left behind"
}
# ---- runtime options (issue #15) ----------------------------------------------------------------
# What the shim does with CreateTaskRequest.options: the generic options (ConfigPath: ctr
# --runtime-config-path, a CRI handler's options table), runc's options (containerd restarted
# with berth's shim as containerd-shim-runc-v2: ctr --runc-*, --no-pivot) and the legacy create
# options (ctr --no-pivot for another runtime). Each option applied is observed (inside the
# container, or in the create's debug log where nothing inside tells), each refused one fails
# the create with its name in the client's error.
bundle_of() { echo "$WORK/state/io.containerd.runtime.v2.task/$NS/$1"; }
stop_task() { # ID
	ctr tasks kill -s SIGKILL "$1" >/dev/null 2>&1
	for _ in $(seq 50); do [ "$(ctr tasks ls | awk -v t="$1" '$1==t{print $3}')" == STOPPED ] && break; sleep 0.1; done
	ctr tasks delete "$1" >/dev/null 2>&1; ctr containers delete "$1" >/dev/null 2>&1
}
left_behind() { # ID: what a refused create left (berth state, a rootfs mount)
	[ -e /run/containerd/berth/$NS/$1 ] && echo "state"
	grep -q "/$1/rootfs" /proc/self/mounts && echo "rootfs mount"
}
refused() { # DESCRIPTION ID NEEDLE ARGS...: ctr run ARGS fails, NEEDLE in its error, nothing left
	local what=$1 id=$2 needle=$3 rc # err stays set for the caller's further checks
	shift 3
	err=$(ctr run --rm "$@" "$IMG" "$id" true </dev/null 2>&1)
	rc=$?
	[ $rc -ne 0 ] && ok "$what: ctr run fails" || bad "$what: ctr run succeeded: $err"
	contains "…naming it" "$needle" "$err"
	expect "…and leaves nothing behind" "" "$(left_behind "$id")"
	ctr containers delete "$id" >/dev/null 2>&1
}
test_options() {
	local opts=$WORK/opts out log
	mkdir -p "$opts"
	# -- ConfigPath (runtimeoptions.v1.Options)
	printf 'io_uid = 4321\nio_gid = 4322\n' >"$opts/io.toml"
	out=$(ctr run --rm $RT --runtime-config-path "$opts/io.toml" "$IMG" t-iouid sh -c 'stat -L -c %u:%g /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2' </dev/null 2>&1)
	expect "ConfigPath io_uid/io_gid: the init's stdin pipe and stdout/stderr FIFOs belong to 4321:4322" "4321:4322 4321:4322 4321:4322" "$(echo $out)"
	ctr run -d $RT --runtime-config-path "$opts/io.toml" "$IMG" t-iouid2 sleep 1000 >/dev/null
	out=$(ctr tasks exec --exec-id io1 t-iouid2 sh -c 'stat -L -c %u:%g /proc/self/fd/0 /proc/self/fd/1' </dev/null 2>&1)
	expect "…and so do an exec'd process's" "4321:4322 4321:4322" "$(echo $out)"
	out=$(timeout 60 script -qec "ctr -a $SOCK -n $NS tasks exec -t --exec-id io2 t-iouid2 true" /dev/null </dev/null 2>&1)
	contains "…an exec with a terminal is refused, naming the options" "start exec in task \"t-iouid2/io2\": runtime option IoUid/IoGid = 4321/4322: the process has a terminal" "$out"
	stop_task t-iouid2
	refused "ConfigPath io_uid with a file:// log" t-iofile "runtime option IoUid/IoGid = 4321/4322: stdout is the file $WORK/io-file.log (file://)" \
		$RT --runtime-config-path "$opts/io.toml" --log-uri "file://$WORK/io-file.log"
	out=$(ctr run --rm $RT "$IMG" t-iodefault sh -c 'stat -L -c %u:%g /proc/self/fd/1' </dev/null 2>&1)
	expect "…without the option they stay root's" "0:0" "$out"
	# ctr -t needs a terminal of its own: script(1) gives it one.
	out=$(timeout 60 script -qec "ctr -a $SOCK -n $NS run --rm -t $RT --runtime-config-path $opts/io.toml $IMG t-iotty true" /dev/null </dev/null 2>&1)
	contains "ConfigPath io_uid with a terminal: refused, naming the options" "runtime option IoUid/IoGid = 4321/4322: the process has a terminal" "$out"
	expect "…and leaves nothing behind" "" "$(left_behind t-iotty)"
	ctr containers delete t-iotty >/dev/null 2>&1

	printf 'no_pivot_root = true\nlog_level = "debug"\n' >"$opts/nopivot.toml"
	printf 'log_level = "debug"\n' >"$opts/debug.toml"
	ctr run -d $RT --runtime-config-path "$opts/nopivot.toml" "$IMG" t-nopivot sleep 1000 >/dev/null
	log=$(cat "$(bundle_of t-nopivot)/log.json" 2>&1)
	contains "ConfigPath no_pivot_root: the rootfs is entered by MS_MOVE + chroot (log_level = \"debug\" puts it in log.json)" "no pivot: MS_MOVE onto / and chroot" "$log"
	stop_task t-nopivot
	ctr run -d $RT --runtime-config-path "$opts/debug.toml" "$IMG" t-pivot sleep 1000 >/dev/null
	log=$(cat "$(bundle_of t-pivot)/log.json" 2>&1)
	contains "…without it, by pivot_root" "rootfs $(bundle_of t-pivot)/rootfs: pivot_root" "$log"
	stop_task t-pivot
	ctr run -d $RT "$IMG" t-nodebug sleep 1000 >/dev/null
	log=$(cat "$(bundle_of t-nodebug)/log.json" 2>/dev/null)
	[[ "$log" != *'"level":"debug"'* ]] && ok "…and without log_level = \"debug\" log.json has no debug line" || bad "debug lines without log_level: $log"
	stop_task t-nodebug

	printf 'no_new_keyring = true\n' >"$opts/keyring.toml"
	out=$(ctr run --rm --privileged $RT "$IMG" t-keyring sh -c 'grep -c "_ses\.t-keyring" /proc/keys' </dev/null 2>&1)
	expect "without no_new_keyring the init has a session keyring of its own (_ses.<id> in /proc/keys)" 1 "$out"
	out=$(ctr run --rm --privileged $RT --runtime-config-path "$opts/keyring.toml" "$IMG" t-keyring2 sh -c 'grep -c "_ses\.t-keyring2" /proc/keys' </dev/null 2>&1)
	expect "ConfigPath no_new_keyring: it has none" 0 "$out"

	printf 'systemd_cgroup = true\n' >"$opts/systemd.toml"
	refused "ConfigPath systemd_cgroup = true (the library's refusal of the systemd driver)" t-systemd \
		"(runtime options: SystemdCgroup): the systemd cgroup driver needs a pure cgroup v2 host" $RT --runtime-config-path "$opts/systemd.toml"
	contains "…naming this host's layout" "this host's cgroups are Hybrid" "$err"
	printf 'binary_name = "runc"\n' >"$opts/unknown.toml"
	refused "ConfigPath with a key berth does not know" t-unknown "parse the shim config file $opts/unknown.toml (runtime option ConfigPath): " \
		$RT --runtime-config-path "$opts/unknown.toml"
	contains "…naming the key" "unknown field \`binary_name\`" "$err"
	printf 'root = "/var/lib/elsewhere"\n' >"$opts/root.toml"
	refused "ConfigPath root other than the shim's state base" t-root \
		"runtime option Root = \"/var/lib/elsewhere\": berth's shim keeps container state in /run/containerd/berth/<namespace>" \
		$RT --runtime-config-path "$opts/root.toml"
	refused "ConfigPath naming a missing file" t-nofile "read the shim config file $opts/missing.toml (runtime option ConfigPath): No such file or directory" \
		$RT --runtime-config-path "$opts/missing.toml"

	# -- a cgroupsPath in systemd's slice:prefix:name form, without the systemd driver
	refused "ctr run --cgroup system.slice:x:y" t-slice \
		"linux.cgroupsPath: \"system.slice:x:y\" is in the systemd cgroup driver's slice:prefix:name form, but the cgroup driver is cgroupfs" \
		$RT --cgroup system.slice:x:y
	expect "…and no cgroup named after it" "" "$(ls -d /sys/fs/cgroup/*/berth/system.slice:x:y 2>/dev/null)"

	# -- a CRI handler's options table (ConfigPath = $WORK/opts/systemd.toml): the pod's sandbox
	# create is refused and the error reaches the CRI client.
	if [ -n "$CRI_TEST" ] && [ -x "$CRI_TEST" ]; then
		out=$(BERTH_CRI_HOST_NETWORK=1 timeout 120 "$CRI_TEST" "$SOCK" berth-systemd "$IMG" "$WORK" 2>&1)
		contains "CRI handler berth-systemd (options ConfigPath, systemd_cgroup = true): RunPodSandbox fails naming the option" "(runtime options: SystemdCgroup): " "$out"
		contains "…with the library's refusal" "the systemd cgroup driver needs a pure cgroup v2 host" "$out"
	else
		bad "CRI test binary missing ($3): the CRI handler with options is not tested"
	fi

	# -- legacy create options: ctr run --no-pivot for a runtime that is not runc's, and runc's
	# options, with berth's shim registered as io.containerd.runc.v2. containerd runs with debug
	# logging here, so the shims run with -debug and log.json has the rootfs line.
	stop_containerd TERM
	mkdir -p "$WORK/runc-as-berth"
	ln -sf "$SHIM" "$WORK/runc-as-berth/containerd-shim-runc-v2"
	sed 's/^  level = "info"/  level = "debug"/' "$WORK/config.toml" >"$WORK/config-debug.toml"
	start_containerd "$WORK/config-debug.toml" "$WORK/runc-as-berth" || bad "containerd restarts with berth's shim as containerd-shim-runc-v2"
	ctr run -d $RT --no-pivot "$IMG" t-legacy sleep 1000 >/dev/null
	contains "ctr run --no-pivot (containerd.linux.runc.CreateOptions NoPivotRoot): MS_MOVE + chroot" "no pivot: MS_MOVE onto / and chroot" "$(cat "$(bundle_of t-legacy)/log.json" 2>&1)"
	stop_task t-legacy
	local RUNC="--runtime io.containerd.runc.v2"
	ctr run -d $RUNC --no-pivot "$IMG" t-runcopt sleep 1000 >/dev/null
	contains "runc options NoPivotRoot (ctr --no-pivot, runtime io.containerd.runc.v2 = berth's shim): MS_MOVE + chroot" "no pivot: MS_MOVE onto / and chroot" "$(cat "$(bundle_of t-runcopt)/log.json" 2>&1)"
	expect "…served by berth's shim" "$(readlink -f "$SHIM")" "$(for p in $(shim_procs_of t-runcopt); do readlink /proc/$p/exe; done | sort -u)"
	stop_task t-runcopt
	out=$(ctr run --rm $RUNC --runc-root /run/containerd/berth "$IMG" t-runcroot echo root-accepted </dev/null 2>&1)
	expect "runc options Root = the shim's state base: accepted" "root-accepted" "$out"
	refused "runc options Root elsewhere" t-runcroot2 "runtime option Root = \"/tmp/elsewhere\"" $RUNC --runc-root /tmp/elsewhere
	refused "runc options BinaryName" t-runcbin "runtime option BinaryName = \"runc\": berth's shim runs containers with the berth library in-process" \
		$RUNC --runc-binary runc
	refused "runc options SystemdCgroup (ctr --runc-systemd-cgroup)" t-runcsd \
		"(runtime options: SystemdCgroup): the systemd cgroup driver needs a pure cgroup v2 host" \
		$RUNC --runc-systemd-cgroup --cgroup system.slice:berth:t-runcsd
	stop_containerd TERM
	for p in $(pgrep -f "containerd-shim-runc-v2 -namespace $NS .*-address $SOCK"); do kill -9 "$p" 2>/dev/null; done
	start_containerd || bad "containerd restarts with its own configuration"
	watch_events
}
if [ -n "${BERTH_OPTIONS_ONLY:-}" ]; then
	test_options
	echo
	if [ $failures -eq 0 ]; then echo "containerd tests (runtime options only): PASS"; else echo "containerd tests (runtime options only): $failures FAILED"; exit 1; fi
	exit 0
fi
if [ -n "${BERTH_WORKER_ONLY:-}" ]; then
	test_worker_replaced
	echo
	if [ $failures -eq 0 ]; then echo "containerd tests (worker case only): PASS"; else echo "containerd tests (worker case only): $failures FAILED"; exit 1; fi
	exit 0
fi

# BERTH_CRI_ONLY=1 skips the ctr checks and measurements below (a quicker loop on the CRI part).
if [ -z "${BERTH_CRI_ONLY:-}" ]; then

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

# ---- exec, terminals, pause/resume, metrics ---------------------------------------------------
# ctr -t needs its own stdin to be a terminal: script(1) gives it one.
tty_run() { timeout 60 script -qec "$1" /dev/null </dev/null; }
ctr run -d $RT "$IMG" t-exec sh -c 'i=0; while :; do i=$((i+1)); echo $i >/tmp/count; sleep 0.1; done' >/dev/null
initpid=$(ctr tasks ls | awk '$1=="t-exec"{print $2}')
out=$(ctr tasks exec --exec-id e1 t-exec sh -c 'echo exec-out; echo exec-err >&2; exit 5' </dev/null 2>&1)
expect "ctr task exec: the process's exit status 5" 5 $?
contains "…its stdout" "exec-out" "$out"
contains "…its stderr" "exec-err" "$out"
out=$(ctr tasks exec --exec-id e2 t-exec sh -c 'cat /proc/1/cmdline | tr "\0" " "; [ -t 0 ] && echo tty || echo no-tty' </dev/null 2>&1)
contains "exec joins the container (sees its PID 1)" "while :" "$out"
contains "…and has no terminal without -t" "no-tty" "$out"
out=$(echo exec-stdin | ctr tasks exec --exec-id e3 t-exec cat 2>&1)
expect "exec: stdin reaches the process and EOF ends it" "exec-stdin" "$out"
out=$(tty_run "ctr -a $SOCK -n $NS tasks exec -t --exec-id e4 t-exec sh -c 'tty; exit 4'" 2>&1)
expect "ctr task exec -t: exit status 4" 4 $?
contains "…with a terminal (a pty of the container's devpts)" "/dev/pts/" "$out"
sleep 0.2
expect "exec events in order" "/tasks/exec-added /tasks/exec-started /tasks/exit" \
	"$(grep '"exec_id":"e1"\|"id":"e1"' "$WORK/events.log" | grep -o " /tasks/[a-z-]* " | tr -d ' ' | tr '\n' ' ' | sed 's/ $//')"
expect "TaskExit of exec e1 carries 5" 5 \
	"$(grep ' /tasks/exit ' "$WORK/events.log" | grep '"id":"e1"' | grep -o '"exit_status":[0-9]*' | cut -d: -f2)"
# Bad input: a duplicate exec id, an exec of a paused task.
ctr tasks exec -d --exec-id dup t-exec sleep 100 </dev/null >/dev/null 2>&1
err=$(ctr tasks exec --exec-id dup t-exec true </dev/null 2>&1)
expect "exec with a duplicate exec id fails" 1 $?
contains "…with already exists" "already exists" "$err"
ctr tasks kill -s SIGKILL --exec-id dup t-exec >/dev/null 2>&1
expect "exec processes are visible to ps" 1 "$(ctr tasks ps t-exec | awk 'NR>1' | wc -l | awk '{print ($1>=1)}')"

count() { cat /proc/$initpid/root/tmp/count; }
ctr tasks pause t-exec
expect "ctr task pause: PAUSED" PAUSED "$(ctr tasks ls | awk '$1=="t-exec"{print $3}')"
sleep 0.3; c1=$(count); sleep 0.6; c2=$(count)
expect "…the counter stops" "$c1" "$c2"
err=$(ctr tasks exec --exec-id e5 t-exec true </dev/null 2>&1)
expect "exec in a paused task fails" 1 $?
contains "…saying it is paused" "paused" "$err"
ctr tasks resume t-exec
expect "ctr task resume: RUNNING" RUNNING "$(ctr tasks ls | awk '$1=="t-exec"{print $3}')"
sleep 0.6; c3=$(count)
[ "${c3:-0}" -gt "${c2:-0}" ] && ok "…the counter resumes ($c2 → $c3)" || bad "counter did not resume ($c2 → $c3)"
expect "pause/resume events" "/tasks/paused /tasks/resumed" "$(task_topics t-exec | grep -o '/tasks/paused\|/tasks/resumed' | tr '\n' ' ' | sed 's/ $//')"

out=$(ctr tasks metrics t-exec 2>&1)
mem=$(echo "$out" | awk '$1=="memory.usage_in_bytes"{print $2}')
[ "${mem:-0}" -gt 0 ] && ok "ctr task metrics: memory usage $mem bytes" || bad "no memory usage in metrics: $out"
pids=$(echo "$out" | awk '$1=="pids.current"{print $2}')
[ "${pids:-0}" -ge 1 ] && ok "ctr task metrics: pids.current $pids" || bad "no pids.current in metrics: $out"

ctr tasks kill -s SIGKILL t-exec
for _ in $(seq 50); do [ "$(ctr tasks ls | awk '$1=="t-exec"{print $3}')" == STOPPED ] && break; sleep 0.1; done
err=$(ctr tasks pause t-exec 2>&1)
expect "pause of a stopped task fails" 1 $?
contains "…because it exited" "exited" "$err"
ctr tasks delete t-exec >/dev/null 2>&1; ctr containers delete t-exec

# ctr run -t: the init gets a terminal; its output and exit status come back.
out=$(tty_run "ctr -a $SOCK -n $NS run --rm -t $RT $IMG t-tty sh -c 'tty; stty size; exit 6'" 2>&1)
expect "ctr run -t: exit status 6" 6 $?
contains "…the init's stdio is a pty" "/dev/pts/0" "$out"
ctr containers delete t-tty >/dev/null 2>&1
[ -z "$(ls /tmp/berth-console-* 2>/dev/null)" ] && ok "no console socket left" || bad "console sockets left: $(ls /tmp/berth-console-*)"

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

test_worker_replaced
test_options

# ---- berth as BinaryName under containerd's runc shim ----------------------------------------------
out=$(ctr run --rm --runtime io.containerd.runc.v2 --runc-binary "$BERTH" "$IMG" t-runcshim sh -c 'echo via-runc-shim; exit 5' </dev/null 2>&1)
rc=$?
expect "runc shim + berth binary: output" "via-runc-shim" "$out"
expect "runc shim + berth binary: exit status" 5 $rc
# The other task RPCs as the runc shim serves them: `berth ps`, `exec` (with and without a
# console socket), `pause`/`resume`, `kill`, `kill --all`, and `create --console-socket`.
RB="--runtime io.containerd.runc.v2 --runc-binary $RUNC_BINARY"
ctr run -d $RB "$IMG" t-rb sh -c 'sleep 1000 & while :; do sleep 0.1; done' >/dev/null
for _ in $(seq 50); do [ "$(ctr tasks ps t-rb 2>/dev/null | awk 'NR>1' | wc -l)" -ge 3 ] && break; sleep 0.1; done
expect "runc shim + berth: ctr task ps lists the processes (berth ps)" 1 "$(ctr tasks ps t-rb | awk 'NR>1' | wc -l | awk '{print ($1>=3)}')"
out=$(ctr tasks exec --exec-id e1 t-rb sh -c 'echo rb-out; echo rb-err >&2; exit 5' </dev/null 2>&1)
expect "runc shim + berth: exec exit status 5" 5 $?
contains "…its stdout" "rb-out" "$out"
contains "…its stderr" "rb-err" "$out"
out=$(tty_run "ctr -a $SOCK -n $NS tasks exec -t --exec-id e2 t-rb sh -c 'tty; exit 4'" 2>&1)
expect "runc shim + berth: exec -t exit status 4" 4 $?
contains "…with a pty" "/dev/pts/" "$out"
ctr tasks pause t-rb
expect "runc shim + berth: pause → PAUSED" PAUSED "$(ctr tasks ls | awk '$1=="t-rb"{print $3}')"
ctr tasks resume t-rb
expect "runc shim + berth: resume → RUNNING" RUNNING "$(ctr tasks ls | awk '$1=="t-rb"{print $3}')"
mem=$(ctr tasks metrics t-rb 2>&1 | awk '$1=="memory.usage_in_bytes"{print $2}')
[ "${mem:-0}" -gt 0 ] && ok "runc shim + berth: metrics, memory usage $mem bytes" || bad "runc shim + berth: no memory usage in metrics"
ctr tasks kill --all -s SIGKILL t-rb
for _ in $(seq 50); do st=$(ctr tasks ls | awk '$1=="t-rb"{print $3}'); [ "$st" == STOPPED ] && break; sleep 0.1; done
expect "runc shim + berth: kill --all → STOPPED" STOPPED "$st"
ctr tasks delete t-rb >/dev/null 2>&1
expect "…TaskExit carries 137" 137 "$(exit_status t-rb)"
ctr containers delete t-rb
out=$(tty_run "ctr -a $SOCK -n $NS run --rm -t $RB $IMG t-rbtty sh -c 'tty; exit 6'" 2>&1)
expect "runc shim + berth: run -t exit status 6" 6 $?
contains "…the init's stdio is a pty" "/dev/pts/0" "$out"
ctr containers delete t-rbtty >/dev/null 2>&1
err=$(ctr run --rm $RB "$IMG" t-rbbad /no/such/program 2>&1)
expect "runc shim + berth: create of a missing program fails" 1 $?
contains "…with berth's error (the shim reads it from log.json)" "/no/such/program" "$err"
ctr containers delete t-rbbad >/dev/null 2>&1
expect "runc shim + berth: no berth state left in /run/containerd/runc/$NS" "" "$(ls /run/containerd/runc/$NS 2>/dev/null)"

# ---- measurements ----------------------------------------------------------------------------------
rss() { awk '/VmRSS/{print $2}' /proc/$1/status; }
ctr run -d $RT "$IMG" m-berth sleep 1000 >/dev/null
ctr run -d --runtime io.containerd.runc.v2 "$IMG" m-runc sleep 1000 >/dev/null
sleep 1
bshim=$(for p in $(shim_pids); do tr '\0' ' ' </proc/$p/cmdline | grep -q -- "-id m-berth " && echo $p; done)
rshim=$(pgrep -f -- "containerd-shim-runc-v2 -namespace $NS -id m-runc" | head -1)
wshim=$(shim_workers "$bshim" | head -1)
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

fi # BERTH_CRI_ONLY

# ---- CRI --------------------------------------------------------------------------------------------
# The same scenarios (cri-client's Scenario::ALL) through each handler: berth's own shim,
# containerd's runc shim running berth as its BinaryName, and runc's shim with runc itself (the
# reference: a scenario it fails is a wrong scenario, not a berth bug).
CRI_HANDLERS=${BERTH_CRI_HANDLERS:-berth berth-runc runc}
declare -A scenario_result
scenarios=()
if [ -n "$CRI_TEST" ] && [ -x "$CRI_TEST" ]; then
	for handler in $CRI_HANDLERS; do
		echo "---- CRI scenarios, handler $handler"
		BERTH_CRI_HOST_NETWORK=$host_network timeout 900 "$CRI_TEST" "$SOCK" "$handler" "$IMG" "$WORK" | tee "$WORK/cri-$handler.out"
		[ "${PIPESTATUS[0]}" == 0 ] || bad "CRI scenarios, handler $handler (see above)"
		while read -r _ name result _; do
			[[ " ${scenarios[*]} " == *" $name "* ]] || scenarios+=("$name")
			scenario_result[$handler/$name]=$result
		done < <(grep '^SCENARIO ' "$WORK/cri-$handler.out")
		pod=$(awk '/^POD /{print $2}' "$WORK/cri-$handler.out")
		sleep 0.5
		case $handler in
		berth)
			left=$(for p in $(shim_pids); do tr '\0' ' ' </proc/$p/cmdline | grep -q -- "-namespace k8s.io" && echo $p; done)
			state=/run/containerd/berth/k8s.io ;;
		*)
			left=$(runc_shim_pids k8s.io)
			state=/run/containerd/runc/k8s.io ;; # the runc shim's --root for its binary
		esac
		expect "CRI $handler: no shim process left after RemovePodSandbox" "" "$left"
		expect "CRI $handler: no runtime state left in $state" "" "$(ls $state 2>/dev/null)"
		expect "CRI $handler: no berth process left" "" "$(pgrep -f "^$BERTH " | tr '\n' ' ')"
		if [ -n "$pod" ]; then
			expect "CRI $handler: no mount of the pod left" "" "$(grep -c "$pod" /proc/self/mounts | grep -v '^0$')"
			expect "CRI $handler: no cgroup of the pod left" "" "$(find /sys/fs/cgroup/*/ -maxdepth 3 -type d -name "*$pod*" 2>/dev/null)"
		else
			bad "CRI $handler: no pod was created"
		fi
	done
	echo
	printf '%-18s' scenario; for handler in $CRI_HANDLERS; do printf ' %-12s' "$handler"; done; echo
	for name in "${scenarios[@]}"; do
		printf '%-18s' "$name"
		for handler in $CRI_HANDLERS; do printf ' %-12s' "${scenario_result[$handler/$name]:-missing}"; done
		echo
	done
	echo
else
	bad "CRI test binary missing ($3)"
fi

sleep 0.5
expect "no shim socket left in /run/containerd/s" "" "$(comm -13 <(echo "$sockets_before") <(ls /run/containerd/s 2>/dev/null | sort) | tr '\n' ' ')"

echo
if [ $failures -eq 0 ]; then echo "containerd tests: PASS"; else echo "containerd tests: $failures FAILED"; exit 1; fi
