#!/bin/bash
# The containerd part of make bench, berth's shim (containerd-shim-berth-v2) vs containerd's runc
# shim with runc, on one private containerd 1.6 started as the containerd tier starts it
# (integration/containerd/lib.sh):
# - ctr: `ctr run --rm` of a hello container, and the RSS of one idle shim holding a running
#   container;
# - CRI, with the project's CRI client (integration/containerd/cri-client, `bench-pods` and
#   `bench-density`): pod start (RunPodSandbox → CreateContainer → StartContainer → until
#   ContainerStatus says RUNNING) and pod teardown (StopPodSandbox + RemovePodSandbox), handlers
#   `berth` and `runc` interleaved; node density: PODS one-container pods at once per handler,
#   each on a freshly started containerd, the shims' memory (sum of Pss, and of VmRSS) and
#   containerd's VmRSS growth, per pod; then everything is torn down and checked gone.
# Called by run.sh under flock /tmp/berth-containerd.lock; prints a markdown table, or a SKIP
# line with the reason. Exits non-zero when a CRI step fails or a pod leaves something behind.
#
#   containerd.sh BERTH WORKDIR
#
# Environment: BENCH_CTR_ROUNDS (10), BENCH_CRI_ROUNDS (20), BENCH_CRI_PODS (100),
# BENCH_CRI_SETTLE (seconds between the last pod's start and the density measurement, 20), BERTH_SHIM,
# BERTH_CRI_CLIENT (the berth-cri-test binary).
set -uo pipefail

BERTH=$(readlink -f "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHIM=${BERTH_SHIM:-$REPO/target/x86_64-unknown-linux-gnu/release/containerd-shim-berth-v2}
CRI=${BERTH_CRI_CLIENT:-$REPO/integration/containerd/cri-client/target/release/berth-cri-test}
ROUNDS=${BENCH_CTR_ROUNDS:-10}
CRI_ROUNDS=${BENCH_CRI_ROUNDS:-20}
CRI_PODS=${BENCH_CRI_PODS:-100}
export BENCH_CRI_SETTLE=${BENCH_CRI_SETTLE:-20}
skip() { echo "SKIP containerd comparison: $*"; exit 0; }

command -v containerd >/dev/null && command -v ctr >/dev/null \
	|| skip "containerd is not installed (apt-get install -y containerd)"
[ -x "$SHIM" ] || skip "no shim binary at $SHIM (make build)"
SHIM=$(readlink -f "$SHIM")

WORK=$2/containerd
rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(readlink -f "$WORK")
NS=berth-bench
IMG=docker.io/library/berth-bench-hello:latest
BUSYBOX=docker.io/library/berth-busybox:bench
PAUSE=docker.io/library/berth-pause:bench
RUNC_BINARY=$BERTH
. "$REPO/integration/containerd/lib.sh"
stop() {
	local c
	for c in idle-berth idle-runc; do
		timeout 10 ctr -a "$SOCK" -n "$NS" tasks delete -f "$c" >/dev/null 2>&1
		timeout 10 ctr -a "$SOCK" -n "$NS" containers delete "$c" >/dev/null 2>&1
	done
	ctrd_cleanup "$NS" k8s.io
	rm -rf "$WORK"
}
trap stop EXIT
start_containerd || skip "containerd did not start (see $WORK/logs/containerd.log)"
ctr() { timeout 60 ctr -a "$SOCK" -n "$NS" "$@"; } # every client call bounded
"$REPO/integration/containerd/mkimage.sh" "$WORK/hello.tar" "$IMG" echo hello >/dev/null \
	|| skip "mkimage.sh failed"
ctr images import "$WORK/hello.tar" >/dev/null || skip "ctr images import failed"

ms() { local t0=$(date +%s%N); "$@" >/dev/null 2>&1 || echo "bench: failed: $*" >&2; echo $((($(date +%s%N) - t0) / 1000)); }
berth=() runc=()
for i in $(seq "$ROUNDS"); do
	# alternate which goes first
	if ((i % 2)); then order="berth runc"; else order="runc berth"; fi
	for rt in $order; do
		case $rt in
			berth) berth+=("$(ms ctr run --rm --runtime io.containerd.berth.v2 "$IMG" "hb$i")") ;;
			runc) runc+=("$(ms ctr run --rm --runtime io.containerd.runc.v2 "$IMG" "hr$i")") ;;
		esac
	done
done
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f (%.1f–%.1f)", m/1000, a[1]/1000, a[NR]/1000}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }

# One idle shim each, holding a running container: RSS of the shim process.
ctr run -d --runtime io.containerd.berth.v2 "$IMG" idle-berth sleep 3600 >/dev/null
ctr run -d --runtime io.containerd.runc.v2 "$IMG" idle-runc sleep 3600 >/dev/null
sleep 1
shim_rss() { # KiB: every process of that shim on our socket (berth's shim has a worker child)
	local p total=0
	for p in /proc/[0-9]*; do
		[[ "$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")" == *"containerd-shim-$1-v2 "*"-address $SOCK "* ]] || continue
		total=$((total + $(awk '/VmRSS/ {print $2}' "$p/status" 2>/dev/null || echo 0)))
	done
	echo "$total"
}
rb=$(shim_rss berth) rr=$(shim_rss runc)
mb=$(median "${berth[@]}") mr=$(median "${runc[@]}")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if (b == 0) printf "–"; else printf "%.2f", a/b}'; }
rows=("| \`ctr run --rm\` hello, $ROUNDS rounds, ms | $(stats "${berth[@]}") | $(stats "${runc[@]}") | $(ratio "$mb" "$mr") | ≤ 0.6 |"
	"| idle shim RSS (\`ctr run -d\`), KiB | $rb | $rr | $(ratio "$rb" "$rr") | ≤ 0.33 |")
for c in idle-berth idle-runc; do ctr tasks kill -s KILL "$c" >/dev/null 2>&1; done
sleep 0.3
for c in idle-berth idle-runc; do ctr tasks delete "$c" >/dev/null 2>&1; ctr containers delete "$c" >/dev/null 2>&1; done

# ---- CRI ---------------------------------------------------------------------------------------
table() {
	echo "| containerd 1.6 | berth shim | runc shim | berth/runc | target |"
	echo "|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
}
[ -x "$CRI" ] || { table; echo "SKIP CRI rows: no CRI client at $CRI (make cri-client)"; exit 0; }
"$REPO/integration/containerd/mkimage.sh" "$WORK/busybox.tar" "$BUSYBOX" sh >/dev/null &&
	"$REPO/integration/containerd/mkimage.sh" "$WORK/pause.tar" "$PAUSE" sleep 2147483647 >/dev/null &&
	command ctr -a "$SOCK" -n k8s.io images import "$WORK/busybox.tar" >/dev/null &&
	command ctr -a "$SOCK" -n k8s.io images import "$WORK/pause.tar" >/dev/null ||
	{ table; echo "FAIL CRI rows: the busybox and pause images could not be made or imported"; exit 1; }
export BERTH_CRI_HOST_NETWORK=$host_network
failed=0
# Bounded like every client run: a hang is a failure.
timeout 600 "$CRI" bench-pods "$SOCK" "$BUSYBOX" "$WORK" "$CRI_ROUNDS" berth runc >"$WORK/pods.out" 2>&1 ||
	{ echo "FAIL CRI bench-pods: $(grep -v '^POD_' "$WORK/pods.out" | tail -3)"; failed=1; }
col() { awk -v k="$1" -v h="$2" '$1==k && $2==h {print $3}' "$WORK/pods.out"; }
cri_row() { # KEY LABEL TARGET
	local b r
	b=($(col "$1" berth)) r=($(col "$1" runc))
	[ ${#b[@]} -gt 0 ] && [ ${#r[@]} -gt 0 ] || return
	rows+=("| $2, $CRI_ROUNDS rounds, ms | $(stats "${b[@]}") | $(stats "${r[@]}") | $(ratio "$(median "${b[@]}")" "$(median "${r[@]}")") | $3 |")
}
cri_row POD_START "CRI pod start (RunPodSandbox → CreateContainer → StartContainer → RUNNING)" "≤ 0.6"
cri_row POD_TEARDOWN "CRI pod teardown (StopPodSandbox + RemovePodSandbox)" ""

# Node density: each handler on a freshly started containerd, so that neither inherits the
# other's heap.
declare -A dens
for h in berth runc; do
	stop_containerd TERM
	start_containerd || { echo "FAIL containerd did not restart for the density run"; failed=1; break; }
	timeout 900 "$CRI" bench-density "$SOCK" "$h" "$BUSYBOX" "$WORK" "$CRI_PODS" "$CTRD_PID" >"$WORK/density-$h.out" 2>&1 ||
		{ echo "FAIL CRI bench-density $h: $(grep -v '^DENSITY' "$WORK/density-$h.out" | tail -3)"; failed=1; }
	line=$(grep '^DENSITY ' "$WORK/density-$h.out")
	# DENSITY h pods N shim_procs K shim_rss_kib R shim_pss_kib P containerd_before_kib B containerd_after_kib A
	[ -n "$line" ] && read -r _ _ _ n _ k _ r _ p _ cb _ ca <<<"$line" &&
		dens[$h]="$n $k $r $p $((ca - cb))"
	# Nothing may be left: no runtime state, no mount under the work directory, no pod cgroup.
	left=$(ls /run/containerd/berth/k8s.io 2>/dev/null; grep -o " $WORK/[^ ]*" /proc/self/mounts;
		find /sys/fs/cgroup/*/k8s.io -mindepth 1 -maxdepth 1 -type d 2>/dev/null)
	[ -z "$left" ] || { echo "FAIL CRI density $h: left after the teardown: $(echo $left)"; failed=1; }
done
if [ -n "${dens[berth]:-}" ] && [ -n "${dens[runc]:-}" ]; then
	read -r nb kb rb pb gb <<<"${dens[berth]}"
	read -r nr kr rr pr gr <<<"${dens[runc]}"
	per() { awk -v a="$1" -v n="$2" 'BEGIN{printf "%.0f", a/n}'; }
	rows+=("| $nb pods, measured ${BENCH_CRI_SETTLE} s after the last one started: shim processes | $kb | $kr | | |"
		"| $nb pods: shim memory per pod (sum of Pss), KiB | $(per "$pb" "$nb") | $(per "$pr" "$nr") | $(ratio "$(per "$pb" "$nb")" "$(per "$pr" "$nr")") | |"
		"| $nb pods: shim memory per pod (sum of VmRSS), KiB | $(per "$rb" "$nb") | $(per "$rr" "$nr") | $(ratio "$(per "$rb" "$nb")" "$(per "$rr" "$nr")") | |"
		"| $nb pods: containerd VmRSS growth per pod, KiB | $(per "$gb" "$nb") | $(per "$gr" "$nr") | $(ratio "$(per "$gb" "$nb")" "$(per "$gr" "$nr")") | |"
		"| $nb pods: node memory per pod (shim Pss + containerd growth), KiB | $(per $((pb + gb)) "$nb") | $(per $((pr + gr)) "$nr") | $(ratio $((pb + gb)) $((pr + gr))) | ≤ 0.3 |")
fi
table
[ $failed == 0 ] && echo "CRI teardown: no pod, shim process, runtime state, mount or pod cgroup left"
exit $failed
