#!/usr/bin/env bash
# mkbundle.sh DIR [ARGS...]
#
# Build an OCI bundle in DIR from Debian's busybox-static (/bin/busybox):
#   DIR/rootfs     busybox + applet symlinks, proc sys dev tmp etc root, /etc/passwd and /etc/group
#                  (root and user 1000), and /bin/berth-probe when the probe is built
#   DIR/config.json `berth spec`'s config (= `runc spec`) with ociVersion 1.0.2-dev, terminal
#                  false and hostname "berth" (the changes tests/common/mod.rs `default_config`
#                  makes to it); process.args = ARGS (default: sh)
#
# The config is written out here, not produced by `berth spec`: the VM tier's tests
# (integration/vm/tests.sh) edit it line by line with busybox sed, which needs this layout
# (one line for "resources", for the namespaces, ...). tests/harness.rs
# `mkbundle_script_matches_rust_bundle` checks that it equals berth spec's config with those
# changes, so it cannot drift from the one source.
#
# Env: BUSYBOX (default /bin/busybox), BERTH_PROBE (default target/probe/.../berth-probe).
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

cat > "$dir/config.json" <<JSON
{
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": false,
    "user": { "uid": 0, "gid": 0 },
    "args": [ $args ],
    "env": [
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "TERM=xterm"
    ],
    "cwd": "/",
    "capabilities": {
      "bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
      "ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
    },
    "rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
    "noNewPrivileges": true
  },
  "root": { "path": "rootfs", "readonly": true },
  "hostname": "berth",
  "mounts": [
    { "destination": "/proc", "type": "proc", "source": "proc" },
    { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
      "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
    { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
      "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
    { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
      "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
    { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
      "options": [ "nosuid", "noexec", "nodev" ] },
    { "destination": "/sys", "type": "sysfs", "source": "sysfs",
      "options": [ "nosuid", "noexec", "nodev", "ro" ] },
    { "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
      "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
  ],
  "linux": {
    "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
    "namespaces": [
      { "type": "pid" }, { "type": "network" }, { "type": "ipc" },
      { "type": "uts" }, { "type": "mount" }
    ],
    "maskedPaths": [
      "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
      "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
    ],
    "readonlyPaths": [
      "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
    ]
  }
}
JSON
echo "mkbundle: bundle ready in $dir (args: $*)" >&2
