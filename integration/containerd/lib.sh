# A private containerd 1.6 with its CRI plugin, for the containerd tier (run-tests.sh) and the
# containerd part of make bench (integration/bench/containerd.sh). Sourced, not run. Needs root.
#
# Set before sourcing:
#   WORK         absolute path of the work directory (created here; root, state, logs, CNI)
#   SHIM         containerd-shim-berth-v2 (linked into $WORK/bin, which is on containerd's PATH)
#   PAUSE        the sandbox image (integration/containerd/mkimage.sh builds one)
#   RUNC_BINARY  BinaryName of the `berth-runc` handler (containerd's runc shim running it)
# Defines SOCK, CNI_BRIDGE, host_network (non-empty: no CNI bridge plugin, pods must use the
# host's network), CTRD_PID, and the functions below.
#
# CRI runtime handlers: `berth` (containerd-shim-berth-v2), `berth-systemd` (the same with an
# options table naming $WORK/opts/systemd.toml), `berth-runc` (containerd's runc shim with
# BinaryName = $RUNC_BINARY) and `runc` (containerd's runc shim with runc itself).
# containerd runs on a private socket, root and state under $WORK and is stopped by its pid.
# It still creates /run/containerd/{s,fifo} (hard-coded shim socket and FIFO directories):
# callers hold /tmp/berth-containerd.lock (flock) while it runs.

mkdir -p "$WORK"/{bin,root,state,opt,cni,cni-ipam,logs}
SOCK=$WORK/containerd.sock
ln -sfn "$SHIM" "$WORK/bin/containerd-shim-berth-v2"
CTRD_PID=

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
    # berth with a handler options table: containerd 1.6 CRI sends it to the shim as the
    # generic runtime options (TypeUrl, ConfigPath); the config file (written by run-tests.sh's
    # test_options) asks for the systemd cgroup driver, which needs a pure cgroup v2 host.
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth-systemd]
      runtime_type = "io.containerd.berth.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth-systemd.options]
        ConfigPath = "$WORK/opts/systemd.toml"
    # containerd's own runc shim with berth as its runtime binary (how youki and crun are
    # deployed as drop-ins); containerd 1.6 decodes these options only for runc.v1/v2 types.
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth-runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth-runc.options]
        BinaryName = "$RUNC_BINARY"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$WORK/cni"
EOF

start_containerd() { # [CONFIG [DIRECTORY PUT FIRST IN CONTAINERD'S PATH]]; non-zero when containerd does not answer within 10 s
	PATH="${2:+$2:}$WORK/bin:$PATH" containerd --config "${1:-$WORK/config.toml}" >>"$WORK/logs/containerd.log" 2>&1 &
	CTRD_PID=$!
	for _ in $(seq 100); do
		command ctr -a "$SOCK" version >/dev/null 2>&1 && return 0
		kill -0 "$CTRD_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}

stop_containerd() { # [SIGNAL]
	[ -n "$CTRD_PID" ] || return 0
	kill -"${1:-TERM}" "$CTRD_PID" 2>/dev/null
	wait "$CTRD_PID" 2>/dev/null
	CTRD_PID=
}

shim_pids() { # the berth shim daemons (they run with -socket) on our containerd
	local p cmd ppid
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline")
		[[ "$cmd" == *"containerd-shim-berth-v2 "*"-address $SOCK -socket"* ]] || continue
		# Skip the runtime worker: a child of the daemon running the shim's binary (in its
		# `runtime-worker` mode).
		ppid=$(awk '{print $4}' "$p/stat" 2>/dev/null)
		[[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$ppid/cmdline")" == *"containerd-shim-berth-v2 "* ]] && continue
		echo "${p#/proc/}"
	done
}

runc_shim_pids() { # NAMESPACE: containerd-shim-runc-v2 daemons of NAMESPACE on our containerd
	local p
	for p in /proc/[0-9]*; do
		tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -q -- "containerd-shim-runc-v2 -namespace $1 .*-address $SOCK" && echo "${p#/proc/}"
	done
}

# What a failed run left: containerd stopped, shims killed, runtime state force-deleted,
# mounts under $WORK, the CNI bridge and the namespaces' empty parent cgroups removed.
# Arguments: the containerd namespaces used (k8s.io for CRI); BERTH must be set.
ctrd_cleanup() {
	local ns c r d p
	stop_containerd TERM
	for p in $(shim_pids); do kill -9 "$p" 2>/dev/null; done
	for ns in "$@"; do
		# berth's or runc's containers under the runc shim whose bundle is ours: force-delete
		# with whichever runtime owns the state, then stop those shims.
		for c in $(ls /run/containerd/runc/$ns 2>/dev/null); do
			for r in "$BERTH" runc; do
				"$r" --root /run/containerd/runc/$ns state "$c" 2>/dev/null | grep -q "\"bundle\": *\"$WORK/" &&
					"$r" --root /run/containerd/runc/$ns delete --force "$c" 2>/dev/null
			done
		done
		for p in $(runc_shim_pids "$ns"); do kill -9 "$p" 2>/dev/null; done
		rm -rf /run/containerd/berth/"$ns"
		# k8s.io's runc state directory may be a host containerd's too: only its entries whose
		# bundle is ours went above.
		[ "$ns" == k8s.io ] || rm -rf /run/containerd/runc/"$ns"
		# The per-namespace parent cgroups (ctr's "/$ns/<id>", CRI's "/k8s.io/<id>"), left
		# empty by the runtimes as runc leaves them; rmdir removes only empty ones.
		for d in /sys/fs/cgroup/*/"$ns" /sys/fs/cgroup/unified/"$ns"; do
			[ -d "$d" ] && rmdir "$d" 2>/dev/null
		done
	done
	# Anything still mounted under the work directory (a failed test's rootfs) goes too.
	grep -o " $WORK[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
	[ -n "$host_network" ] || ip link del "$CNI_BRIDGE" 2>/dev/null
}
