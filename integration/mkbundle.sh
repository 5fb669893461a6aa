#!/usr/bin/env bash
# mkbundle.sh DIR [ARGS...]
#
# Build an OCI bundle in DIR from Debian's busybox-static (/bin/busybox):
#   DIR/rootfs     busybox + applet symlinks, proc sys dev tmp etc root, /etc/passwd and /etc/group
#                  (root and user 1000), and /bin/berth-probe when the probe is built
#   DIR/config.json `berth spec` (= `runc spec`) with ociVersion 1.0.2-dev, terminal false and
#                  hostname "berth"; process.args = ARGS (default: sh)
#
# Env: BUSYBOX (default /bin/busybox), BERTH_PROBE (default target/probe/.../berth-probe),
# BERTH (the berth binary; default the release build, else the debug build).
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
# The berth whose `spec` is the base config: BERTH, else the release build, else the debug one.
berth=${BERTH:-}
for candidate in "$repo/target/x86_64-unknown-linux-gnu/release/berth" "$repo/target/debug/berth"; do
    [[ -n $berth ]] && break
    [[ -x $candidate ]] && berth=$candidate
done
if [[ -z $berth || ! -x $berth ]]; then
    echo "mkbundle: no berth binary for \`berth spec\` (set BERTH, or make build)" >&2
    exit 1
fi
probe=${BERTH_PROBE:-$repo/target/probe/x86_64-unknown-linux-gnu/release/berth-probe}

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

# JSON string literal for one argument (escapes \ " and control characters we expect in args).
json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/\\t}
    s=${s//$'\n'/\\n}
    printf '"%s"' "$s"
}
args=""
for a in "$@"; do
    args+="${args:+, }$(json_str "$a")"
done

# The config is `berth spec`'s (runc's `runc spec` example) with the changes every test bundle
# makes (tests/common/mod.rs `default_config`, the same three): ociVersion 1.0.2-dev (what
# runc 1.1.5's spec writes, so the bundle is the same under both runtimes), terminal false,
# hostname "berth"; and process.args = ARGS. One source: the harness test
# mkbundle_script_matches_rust_bundle checks that both agree.
rm -f "$dir/config.json"
"$berth" spec --bundle "$dir"
ARGS_JSON=$args awk '
    $0 == "\t\"ociVersion\": \"1.2.0\"," { print "\t\"ociVersion\": \"1.0.2-dev\","; n++; next }
    $0 == "\t\t\"terminal\": true," { print "\t\t\"terminal\": false,"; n++; next }
    $0 == "\t\"hostname\": \"runc\"," { print "\t\"hostname\": \"berth\","; n++; next }
    $0 == "\t\t\"args\": [" { print "\t\t\"args\": [ " ENVIRON["ARGS_JSON"] " ],"; skip = 1; n++; next }
    skip && $0 == "\t\t]," { skip = 0; next }
    skip { next }
    { print }
    END { if (n != 4) { print "mkbundle: berth spec output changed: " n " of 4 edits applied" > "/dev/stderr"; exit 1 } }
' "$dir/config.json" > "$dir/config.json.tmp"
mv "$dir/config.json.tmp" "$dir/config.json"
echo "mkbundle: bundle ready in $dir (args: $*)" >&2
