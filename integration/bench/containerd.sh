#!/bin/bash
# The containerd part of make bench: `ctr run --rm` of a hello container through berth's shim
# (containerd-shim-berth-v2) vs containerd's runc shim, and the RSS of one idle shim holding a
# running container. Called by run.sh; prints a markdown table, or a SKIP line with the reason.
#
#   containerd.sh BERTH WORKDIR
set -uo pipefail

BERTH=$(readlink -f "$1") WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
SHIM=${BERTH_SHIM:-$REPO/target/x86_64-unknown-linux-gnu/release/containerd-shim-berth-v2}
ROUNDS=${BENCH_CTR_ROUNDS:-10}
skip() { echo "SKIP containerd comparison: $*"; exit 0; }

command -v containerd >/dev/null && command -v ctr >/dev/null \
	|| skip "containerd is not installed (apt-get install -y containerd)"
[ -x "$SHIM" ] || skip "no shim binary at $SHIM (make build)"
[ -x "$REPO/integration/containerd/mkimage.sh" ] || skip "integration/containerd/mkimage.sh has not landed yet"

C=$WORK/containerd
rm -rf "$C"
mkdir -p "$C"/{bin,root,state}
ln -s "$SHIM" "$C/bin/containerd-shim-berth-v2"
ln -s "$BERTH" "$C/bin/berth"
SOCK=$C/containerd.sock
NS=berth-bench
IMG=docker.io/library/berth-bench-hello:latest
cat >"$C/config.toml" <<TOML
version = 2
root = "$C/root"
state = "$C/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$C/opt"
TOML
PATH=$C/bin:$PATH containerd --config "$C/config.toml" >"$C/containerd.log" 2>&1 &
CTRD=$!
stop() {
	ctr -a "$SOCK" -n "$NS" tasks kill -s KILL idle-berth >/dev/null 2>&1
	ctr -a "$SOCK" -n "$NS" tasks kill -s KILL idle-runc >/dev/null 2>&1
	sleep 0.3
	for c in idle-berth idle-runc; do
		ctr -a "$SOCK" -n "$NS" tasks delete "$c" >/dev/null 2>&1
		ctr -a "$SOCK" -n "$NS" containers delete "$c" >/dev/null 2>&1
	done
	kill "$CTRD" 2>/dev/null
	wait "$CTRD" 2>/dev/null
	rm -rf "$C"
}
trap stop EXIT
for _ in $(seq 100); do command ctr -a "$SOCK" version >/dev/null 2>&1 && break; sleep 0.1; done
command ctr -a "$SOCK" version >/dev/null 2>&1 || skip "containerd did not start (see $C/containerd.log)"
ctr() { command ctr -a "$SOCK" -n "$NS" "$@"; }
"$REPO/integration/containerd/mkimage.sh" "$C/hello.tar" "$IMG" echo hello >/dev/null \
	|| skip "mkimage.sh failed"
ctr images import "$C/hello.tar" >/dev/null || skip "ctr images import failed"

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
echo "| containerd 1.6, $ROUNDS rounds | berth shim | runc shim | berth/runc |"
echo "|---|---|---|---|"
echo "| \`ctr run --rm\` hello, ms | $(stats "${berth[@]}") | $(stats "${runc[@]}") | $(awk -v a="$mb" -v b="$mr" 'BEGIN{printf "%.2f", a/b}') |"
echo "| idle shim RSS, KiB | $rb | $rr | $(awk -v a="$rb" -v b="$rr" 'BEGIN{printf "%.2f", a/b}') |"
