#!/bin/bash
# make order-files: record which functions a container's lifecycle executes in berth and in
# its containerd shim, and write them, in first-execution order, to build/berth.order and
# build/containerd-shim-berth-v2.order — the linker's symbol-ordering files
# (build/link_args.rs), which place them together at the start of .text so that a `create`
# touches few pages of the binary (docs/benchmarks.md, "Where RSS goes").
#
#   order-file.sh
#
# Builds the release binaries exactly as `make build` does but unstripped (BERTH_NO_STRIP=1
# keeps the symbol names identical), runs berth's run / create+start+state+exec+kill+delete /
# list / spec / run --cgroup-manager=disabled under integration/bench/order-trace.py (a breakpoint on every function entry, in
# every process that runs the binary: stage 1 and the init too), then the shim under containerd
# through integration/bench/containerd.sh with one round (ctr run --rm, an idle container,
# kill, delete), and unions the functions in first-call order. Needs root, busybox-static and
# containerd (make containerd-deps). Rerun it after larger code changes; a stale file only
# costs locality.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TARGET=x86_64-unknown-linux-gnu
WORK=$REPO/integration/.work/order

[ "$(id -u)" == 0 ] || { echo "order-file: needs root" >&2; exit 1; }

cd "$REPO"
BERTH_NO_STRIP=1 CARGO_TARGET_DIR=$REPO/target/order-profile make --no-print-directory build
BIN=$REPO/target/order-profile/$TARGET/release/berth
SHIM=$REPO/target/order-profile/$TARGET/release/containerd-shim-berth-v2

rm -rf "$WORK"
mkdir -p "$WORK/trace/berth" "$WORK/trace/shim" "$WORK/wrap"
STATE=$WORK/state
trap 'for id in o-run o-life o-nocg; do "$BIN" --root "$STATE" delete -f $id >/dev/null 2>&1 || true; done; rm -rf "$WORK"' EXIT

BERTH="$BIN" integration/mkbundle.sh "$WORK/bundle" sleep 5 >/dev/null
python3 - "$WORK/bundle/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["linux"]["resources"] = {
    "devices": [{"allow": False, "access": "rwm"}],
    "memory": {"limit": 268435456},
    "pids": {"limit": 1024},
    "cpu": {"shares": 512},
}
c["linux"]["cgroupsPath"] = "/berth-order/c"
json.dump(c, open(path, "w"))
PY
cp -a "$WORK/bundle" "$WORK/bundle-true"
python3 - "$WORK/bundle-true/config.json" <<'PY'
import json, sys
path = sys.argv[1]
c = json.load(open(path))
c["process"]["args"] = ["/bin/true"]
c["linux"]["cgroupsPath"] = "/berth-order/t"
json.dump(c, open(path, "w"))
PY

n=0
trace() { # one berth command under the tracer; the container's own programs are not traced
	n=$((n + 1))
	python3 "$HERE/order-trace.py" "$BIN" "$WORK/trace/berth/$(printf %02d $n)" -- \
		"$BIN" --root "$STATE" "$@"
}
trace run --bundle "$WORK/bundle-true" o-run
trace create --bundle "$WORK/bundle" o-life
trace start o-life
trace state o-life >/dev/null
trace exec o-life /bin/true
trace list >/dev/null
trace kill o-life KILL
sleep 0.3
trace delete o-life
trace spec --bundle "$WORK" >/dev/null
trace --cgroup-manager=disabled run --bundle "$WORK/bundle-true" o-nocg 2>/dev/null

# The shim: containerd starts the wrapper, which runs the real shim under the tracer (each
# invocation — start, the daemon it spawns, the worker, delete — writes its own file).
cat >"$WORK/wrap/containerd-shim-berth-v2" <<SH
#!/bin/sh
echo >>$WORK/shim-invocations
exec python3 $HERE/order-trace.py $SHIM $WORK/trace/shim/\$(date +%s%N)-\$\$ -- $SHIM "\$@"
SH
chmod +x "$WORK/wrap/containerd-shim-berth-v2"
BERTH_SHIM=$WORK/wrap/containerd-shim-berth-v2 BENCH_CTR_ROUNDS=1 \
	"$HERE/containerd.sh" "$BIN" "$WORK" >/dev/null
# Each tracer writes its file once the last shim process it follows is gone.
for _ in $(seq 300); do
	[ "$(ls "$WORK/trace/shim" | wc -l)" -ge "$(wc -l <"$WORK/shim-invocations")" ] && break
	sleep 0.1
done

for pair in "berth:berth" "shim:containerd-shim-berth-v2"; do
	files=("$WORK/trace/${pair%%:*}"/*)
	[ -e "${files[0]}" ] || { echo "order-file: no trace of ${pair#*:}" >&2; exit 1; }
	# Union in first-call order: the files sort by time (berth: step number, shim: start time).
	awk '!seen[$0]++' "${files[@]}" >"$REPO/build/${pair#*:}.order"
	echo "order-file: $(wc -l <"$REPO/build/${pair#*:}.order") functions -> build/${pair#*:}.order"
done
