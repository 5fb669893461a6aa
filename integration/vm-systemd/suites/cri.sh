# The CRI scenario with kubelet's systemd cgroup layout (sourced by ../tests.sh): containerd
# 1.6 (the image's) with its CRI plugin, handler `berth` = containerd-shim-berth-v2 with a
# ConfigPath options file asking for the systemd driver (`systemd_cgroup = true`), and the
# slices kubelet's `cgroupDriver: systemd` makes: kubepods.slice / kubepods-burstable.slice /
# kubepods-burstable-pod<uid>.slice, started as transient units over D-Bus as kubelet does,
# the pod slice with a MemoryMax. berth-cri-test (static, from the Makefile's test-systemd
# target, with the shim and an image tarball in /vm/bin) drives RunPodSandbox(cgroup_parent =
# the pod slice) → CreateContainer → StartContainer and checks the scopes, ContainerStats (the
# shim's cgroup v2 metrics) and an OOM kill by the pod slice's limit; see
# integration/containerd/cri-client/src/podslice.rs. Everything is undone at the end:
# containerd stopped, its shims gone, its directories and mounts removed, the slices stopped.

CRI_W=/run/berth-cri
CRI_SOCK=$CRI_W/containerd.sock
CRI_IMG=docker.io/library/berth-pause:vm
# kubelet names the pod slice after the pod's UID with its dashes as underscores.
CRI_POD_SLICE=kubepods-burstable-pod0d1e5f00_b3e7_4c1a_9f00_000000000015.slice
CRI_SLICE_DIR=/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/$CRI_POD_SLICE
CRI_POD_MEMORY_MAX=67108864
CRI_PID=
CRI_BRIDGE=berthcni0

# cri_slice NAME PROPERTY-COUNT PROPERTIES...: start a transient slice through systemd's
# StartTransientUnit, as kubelet's systemd cgroup manager does (parents by the dashes).
cri_slice() {
    name=$1
    shift
    busctl call org.freedesktop.systemd1 /org/freedesktop/systemd1 \
        org.freedesktop.systemd1.Manager StartTransientUnit 'ssa(sv)a(sa(sv))' \
        "$name" replace "$@" 0 > /dev/null && wait_until 30 cri_active "$name"
}
cri_active() { [ "$(prop "$1" ActiveState)" = active ]; }
# containerd is this shell's child: a zombie until waited for (kill -0 still succeeds then).
cri_exited() { [ ! -e /proc/$CRI_PID ] || [ "$(cut -d' ' -f3 /proc/$CRI_PID/stat 2> /dev/null)" = Z ]; }
cri_ctr_up() { ctr -a $CRI_SOCK version > /dev/null 2>&1; }
cri_shims() {
    for p in /proc/[0-9]*; do
        tr '\0' ' ' 2> /dev/null < $p/cmdline | grep -q "containerd-shim-berth-v2 .*-address $CRI_SOCK" && echo ${p#/proc/}
    done
}
cri_no_shim() { [ -z "$(cri_shims)" ]; }
# Stopped and its cgroup gone (systemd may keep the inactive transient unit loaded a while).
cri_gone() { [ "$(prop kubepods.slice ActiveState)" != active ] && [ ! -e /sys/fs/cgroup/kubepods.slice ]; }

cri_cleanup() {
    if [ -n "$CRI_PID" ]; then
        kill -TERM $CRI_PID 2> /dev/null
        wait_until 30 cri_exited || kill -KILL $CRI_PID 2> /dev/null
        wait $CRI_PID 2> /dev/null
        CRI_PID=
    fi
    # Shims outlive containerd; the teardown made them exit, a failed run may not have.
    wait_until 10 cri_no_shim || for p in $(cri_shims); do kill -KILL $p; done
    grep -o " $CRI_W[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf $CRI_W /run/containerd
    ip link del $CRI_BRIDGE 2> /dev/null
    # Stopping the top slice stops what is below it (a scope a failed run left too).
    systemctl stop kubepods.slice 2> /dev/null
    wait_until 30 cri_gone || systemctl reset-failed 2> /dev/null
}

# ---------------------------------------------------------------------------------------
start_test cri_pod_in_kubelets_systemd_pod_slice_scope_limit_stats_oom
t0=$(cut -d' ' -f1 /proc/uptime)
missing=
for f in containerd ctr busctl /vm/bin/containerd-shim-berth-v2 /vm/bin/berth-cri-test; do
    command -v $f > /dev/null || missing="$missing $f"
done
[ -f /vm/bin/berth-pause-vm.tar ] || missing="$missing /vm/bin/berth-pause-vm.tar"
if [ -n "$missing" ]; then
    bad "missing:$missing (make test-systemd passes the shim, the CRI client and the image)"
else
    mkdir -p $CRI_W/root $CRI_W/state $CRI_W/opt $CRI_W/cni $CRI_W/logs
    printf 'systemd_cgroup = true\n' > $CRI_W/berth.toml
    # A pod network of its own (CRI needs the pod's eth0 and its address): a bridge with
    # host-local addresses, removed at the end.
    echo '{"cniVersion":"0.4.0","name":"berth-vm","plugins":[{"type":"bridge","bridge":"'$CRI_BRIDGE'","isGateway":true,"ipMasq":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.78.0/24"}]],"dataDir":"'$CRI_W/cni-ipam'"}}]}' > $CRI_W/cni/10-berth.conflist
    cat > $CRI_W/config.toml << EOF
version = 2
root = "$CRI_W/root"
state = "$CRI_W/state"
[grpc]
  address = "$CRI_SOCK"
[ttrpc]
  address = "$CRI_SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CRI_W/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$CRI_IMG"
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "berth"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.berth.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
        ConfigPath = "$CRI_W/berth.toml"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CRI_W/cni"
EOF
    containerd --config $CRI_W/config.toml > $CRI_W/logs/containerd.log 2>&1 &
    CRI_PID=$!
    if ! wait_until 60 cri_ctr_up; then
        bad "containerd did not answer within 60 s: $(tail -5 $CRI_W/logs/containerd.log)"
    elif ! ctr -a $CRI_SOCK -n k8s.io images import /vm/bin/berth-pause-vm.tar > $CRI_W/logs/import 2>&1; then
        bad "import the image: $(cat $CRI_W/logs/import)"
    elif ! cri_slice kubepods.slice 1 MemoryAccounting b true ||
        ! cri_slice kubepods-burstable.slice 1 MemoryAccounting b true ||
        ! cri_slice $CRI_POD_SLICE 2 MemoryAccounting b true MemoryMax t $CRI_POD_MEMORY_MAX; then
        bad "start the kubepods slices: $(systemctl status --no-pager kubepods.slice 2>&1 | head -5)"
    elif [ "$(cat $CRI_SLICE_DIR/memory.max 2> /dev/null)" != $CRI_POD_MEMORY_MAX ]; then
        bad "the pod slice's memory.max is $(cat $CRI_SLICE_DIR/memory.max 2>&1), not $CRI_POD_MEMORY_MAX"
    else
        echo "INFO containerd and slices ready in $(echo "$(cut -d' ' -f1 /proc/uptime) $t0" | awk '{print $1 - $2}') s"
        timeout 400 berth-cri-test pod-slice $CRI_SOCK berth $CRI_IMG $CRI_W $CRI_POD_SLICE $CRI_SLICE_DIR > $CRI_W/logs/client 2>&1
        sed 's/^/INFO cri: /' $CRI_W/logs/client | grep -v '^INFO cri: POD-SLICE'
        if grep -q '^POD-SLICE PASS' $CRI_W/logs/client; then
            ok
        else
            bad "$(grep '^POD-SLICE' $CRI_W/logs/client || tail -3 $CRI_W/logs/client); containerd log: $(grep -i 'level=error' $CRI_W/logs/containerd.log | tail -3)"
        fi
    fi
    cri_cleanup
fi
missing=
echo "INFO cri suite took $(echo "$(cut -d' ' -f1 /proc/uptime) $t0" | awk '{print $1 - $2}') s"

# ---------------------------------------------------------------------------------------
start_test cri_cleanup_left_nothing
left=""
[ -z "$(cri_shims)" ] || left="$left shims:$(cri_shims)"
[ ! -e $CRI_W ] || left="$left $CRI_W"
[ ! -e /run/containerd ] || left="$left /run/containerd"
cri_gone || left="$left kubepods.slice($(prop kubepods.slice ActiveState))"
pgrep -x containerd > /dev/null && left="$left containerd:$(pgrep -x containerd)"
grep -q " $CRI_W" /proc/self/mounts && left="$left mounts"
ip link show $CRI_BRIDGE > /dev/null 2>&1 && left="$left $CRI_BRIDGE"
if [ -z "$left" ]; then ok; else bad "left behind:$left"; fi
