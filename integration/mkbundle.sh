#!/usr/bin/env bash
# mkbundle.sh DIR [ARGS...]
#
# Build an OCI bundle in DIR from Debian's busybox-static (/bin/busybox):
#   DIR/rootfs     busybox + applet symlinks, proc sys dev tmp etc root, /etc/passwd and /etc/group
#                  (root and user 1000), and /bin/berth-probe when the probe is built
#   DIR/config.json `berth spec`'s config (= `runc spec`), the one source of the default config,
#                  with the changes tests/common/mod.rs `default_config` makes to it
#                  (ociVersion 1.0.2-dev, terminal false, hostname "berth"); process.args = ARGS
#                  (default: sh)
#
# The config is written compact, on one line: the VM tiers' tests (integration/vm/tests.sh,
# integration/vm-systemd/tests.sh) edit it with busybox sed by exact substrings (the VM has no
# JSON tool). tests/harness.rs `mkbundle_script_matches_rust_bundle` checks that it equals
# `default_config()`.
#
# Env: BERTH (the berth binary whose `spec` is used; default the release build, else the debug
# build), BUSYBOX (default /bin/busybox), BERTH_PROBE (default target/probe/.../berth-probe).
set -euo pipefail

if [[ $# -lt 1 ]]; then
    echo "usage: $0 DIR [ARGS...]" >&2
    exit 2
fi
dir=$1
shift
if [[ $# -eq 0 ]]; then set -- sh; fi

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
busybox=${BUSYBOX:-/bin/busybox}
probe=${BERTH_PROBE:-$repo/target/probe/x86_64-unknown-linux-gnu/release/berth-probe}
berth=${BERTH:-}
if [[ -z $berth ]]; then
    for b in "$repo/target/x86_64-unknown-linux-gnu/release/berth" "$repo/target/debug/berth"; do
        if [[ -x $b ]]; then berth=$b; break; fi
    done
fi
if [[ -z $berth || ! -x $berth ]]; then
    echo "mkbundle: no berth binary${berth:+ at $berth} (make build, or set BERTH)" >&2
    exit 1
fi
if ! command -v jq > /dev/null; then
    echo "mkbundle: jq not found (apt-get install -y jq)" >&2
    exit 1
fi

if [[ ! -x $busybox ]]; then
    echo "mkbundle: $busybox not found (apt-get install -y busybox-static)" >&2
    exit 1
fi

rootfs=$dir/rootfs
mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,etc,root,home/user}
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
    [[ -e $rootfs/bin/$applet ]] || ln -s busybox "$rootfs/bin/$applet"
done
if [[ -x $probe ]]; then
    cp "$probe" "$rootfs/bin/berth-probe"
else
    echo "mkbundle: note: probe $probe not built (make probe); bundle has no /bin/berth-probe" >&2
fi
cat > "$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
PASSWD
cat > "$rootfs/etc/group" <<'GROUP'
root:x:0:
tty:x:5:
user:x:1000:
GROUP
chown 1000:1000 "$rootfs/home/user"

spec=$(mktemp -d)
trap 'rm -rf "$spec"' EXIT
"$berth" spec --bundle "$spec"
# Each argument as a named jq variable (a0, a1, ...): jq would read an argument that starts
# with "-" as one of its own options, even after --args.
named=()
i=0
for a in "$@"; do named+=(--arg "a$i" "$a"); i=$((i + 1)); done
jq -c --argjson n $# '.ociVersion = "1.0.2-dev" | .process.terminal = false | .hostname = "berth"
       | .process.args = [range($n) as $i | $ARGS.named["a\($i)"]]' \
    "${named[@]}" "$spec/config.json" > "$dir/config.json"
echo "mkbundle: bundle ready in $dir (args: $*)" >&2
