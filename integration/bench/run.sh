#!/bin/bash
# make bench: berth side by side with runc and crun, berth and crun each also with
# --cgroup-manager=disabled (docs/benchmarks.md). Needs root.
#
#   run.sh BERTH PROBE
#
# Installs what it needs from Debian when missing (runc crun hyperfine time python3), then runs
# integration/bench/bench.py — every case interleaved, round by round — and the containerd
# comparison, ctr and CRI (integration/bench/containerd.sh, skipped with a reason when the shim
# or containerd is missing; its CRI rows need the CRI client, make cri-client). Results: integration/.work/bench/results.md (and stdout).
#
# Why a private mount namespace: crun 1.8.1 refuses to run at all on this hybrid host ("cgroups
# in hybrid mode not supported, drop all controllers from cgroupv2": the host's cgroup2 holds
# hugetlb), even with --cgroup-manager=disabled. So the benchmark runs all three runtimes in one
# private mount namespace (unshare -m, propagation private) where an empty tmpfs covers
# /sys/fs/cgroup/unified: there the host looks like a legacy cgroup v1 host to all three. The v1
# controller hierarchies are untouched and real; the host's own mount namespace is not changed.
# The runtimes' state roots (WORK/state) are a tmpfs in the same namespace.
set -euo pipefail

BERTH=$(readlink -f "$1") PROBE=$(readlink -f "$2")
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${BENCH_WORK:-$HERE/../.work/bench}
PKGS="runc crun hyperfine time python3"

if [ "${BERTH_BENCH_IN_NS:-}" != 1 ]; then
	[ "$(id -u)" == 0 ] || { echo "bench: needs root" >&2; exit 1; }
	missing=""
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "bench: installing$missing"
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
	fi
	[ -x "$BERTH" ] && [ -x "$PROBE" ] || { echo "bench: build berth and the probe first (make bench does)" >&2; exit 1; }
	BERTH_BENCH_IN_NS=1 exec unshare -m --propagation private "$0" "$BERTH" "$PROBE"
fi

# Inside the private mount namespace from here on.
if [ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" == cgroup2fs ]; then
	mount -t tmpfs -o size=16m,mode=755 berth-bench-hide-cgroup2 /sys/fs/cgroup/unified
fi
rm -rf "$WORK"
mkdir -p "$WORK/state"
WORK=$(readlink -f "$WORK")
# The runtimes' state roots on a tmpfs, as in production (/run/berth, /run/runc, /run/crun): on
# this host's ext4 root (mounted with `discard`) every file a runtime frees costs a synchronous
# discard that queues on the disk, which serialized the parallel runs (docs/benchmarks.md).
mount -t tmpfs -o size=64m,mode=700 berth-bench-state "$WORK/state"

cleanup() {
	for rt in berth berth-nocg runc crun crun-nocg; do
		case $rt in
			berth) cmd=("$BERTH" --root "$WORK/state/berth") ;;
			berth-nocg) cmd=("$BERTH" --cgroup-manager=disabled --root "$WORK/state/berth-nocg") ;;
			runc) cmd=(runc --root "$WORK/state/runc") ;;
			crun) cmd=(crun --cgroup-manager=cgroupfs --root "$WORK/state/crun") ;;
			crun-nocg) cmd=(crun --cgroup-manager=disabled --root "$WORK/state/crun-nocg") ;;
		esac
		[ -d "$WORK/state/$rt" ] || continue
		for id in $(ls "$WORK/state/$rt" 2>/dev/null); do
			[ -d "$WORK/state/$rt/$id" ] && "${cmd[@]}" delete -f "$id" >/dev/null 2>&1 || true
		done
	done
	# The /berth-bench parents the runtimes made for the containers' cgroupsPath.
	for d in /sys/fs/cgroup/*/berth-bench; do
		[ -d "$d" ] && rmdir "$d" 2>/dev/null || true
	done
	umount "$WORK/state" 2>/dev/null
	rm -rf "$WORK/bundles" "$WORK/base" "$WORK/spec" "$WORK/state"
}
trap cleanup EXIT

python3 "$HERE/bench.py" "$WORK" "$BERTH" "$PROBE"
echo
# containerd creates /run/containerd/{s,fifo} whatever its config says: one private containerd
# at a time on this host (wrap `make test-containerd` in the same lock when both may run).
flock /tmp/berth-containerd.lock "$HERE/containerd.sh" "$BERTH" "$WORK" | tee -a "$WORK/results.md"
echo
echo "bench: results in $WORK/results.md"
