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
# list / spec under valgrind's callgrind (which names every function executed, even once; it
# follows the forks into stage 1 and the init), then the shim under containerd through
# integration/bench/containerd.sh with one round (ctr run --rm, an idle container, kill,
# delete), and unions the functions of every process. Needs root, valgrind (installed when
# missing), busybox-static and containerd (make containerd-deps). Rerun it after larger code
# changes; a stale file only costs locality.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TARGET=x86_64-unknown-linux-gnu
WORK=$REPO/integration/.work/order

[ "$(id -u)" == 0 ] || { echo "order-file: needs root" >&2; exit 1; }
command -v valgrind >/dev/null || {
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind
}

cd "$REPO"
BERTH_NO_STRIP=1 CARGO_TARGET_DIR=$REPO/target/order-profile make --no-print-directory build
BIN=$REPO/target/order-profile/$TARGET/release/berth
SHIM=$REPO/target/order-profile/$TARGET/release/containerd-shim-berth-v2

rm -rf "$WORK"
mkdir -p "$WORK/cg" "$WORK/cg-shim" "$WORK/wrap"
STATE=$WORK/state
trap 'for id in o-run o-life; do "$BIN" --root "$STATE" delete -f $id >/dev/null 2>&1 || true; done; rm -rf "$WORK"' EXIT

integration/mkbundle.sh "$WORK/bundle" sleep 5 >/dev/null
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

SKIP='/bin/*,*/busybox,/usr/*,/sbin/*'
n=0
cg() { # run one berth command under callgrind; the container's own programs are not traced
	n=$((n + 1))
	valgrind --tool=callgrind --demangle=no --trace-children=yes \
		--trace-children-skip="$SKIP" \
		--callgrind-out-file="$WORK/cg/$(printf %02d $n).%p" -q "$BIN" --root "$STATE" "$@"
}
cg run --bundle "$WORK/bundle-true" o-run
cg create --bundle "$WORK/bundle" o-life
cg start o-life
cg state o-life >/dev/null
cg exec o-life /bin/true
cg list >/dev/null
cg kill o-life KILL
sleep 0.3
cg delete o-life
cg spec --bundle "$WORK" >/dev/null 2>&1 || true

# The shim: containerd starts the wrapper, which runs the real shim under callgrind (the
# daemon it re-executes and the worker it forks are followed too). -q keeps callgrind silent:
# containerd reads the shim's `start` output as the socket address.
cat >"$WORK/wrap/containerd-shim-berth-v2" <<SH
#!/bin/sh
exec valgrind --tool=callgrind --demangle=no --trace-children=yes --trace-children-skip='$SKIP' \\
	--callgrind-out-file=$WORK/cg-shim/%p -q $SHIM "\$@"
SH
chmod +x "$WORK/wrap/containerd-shim-berth-v2"
BERTH_SHIM=$WORK/wrap/containerd-shim-berth-v2 BENCH_CTR_ROUNDS=1 \
	"$HERE/containerd.sh" "$BIN" "$WORK" >/dev/null

for pair in "cg:berth" "cg-shim:containerd-shim-berth-v2"; do
python3 - "$WORK/${pair%%:*}" "$REPO/build/${pair#*:}.order" <<'PY'
import os, re, sys
src, out = sys.argv[1], sys.argv[2]
names, seen = [], set()
for f in sorted(os.listdir(src)):
    for line in open(os.path.join(src, f), errors="replace"):
        m = re.match(r"^c?fn=\(\d+\) (\S+)$", line.strip())
        # Skip valgrind's address-only names; "'2" marks a recursion level of a known name.
        if m and not m.group(1).startswith("0x") and "'" not in m.group(1):
            if m.group(1) not in seen:
                seen.add(m.group(1))
                names.append(m.group(1))
with open(out, "w") as fh:
    fh.write("\n".join(names) + "\n")
print(f"order-file: {len(names)} functions -> {out}")
PY
done
