#!/bin/sh
# The systemd VM tier's driver, run inside the VM (integration/vm-systemd/run.sh) by
# berth-vm.service, with systemd as PID 1 on pure cgroup v2. It defines the helpers below and
# sources each suite in /vm/suites (run.sh copies the ones VM_SUITES names, default all). Every
# test prints "PASS name" or "FAIL name: why"; the last line is "VM-RESULT: N passed, M failed".
# Each test gets its own config.json made from the bundle template by sed (the image has no
# JSON tool), and runs /ct/<test>.sh inside the container (a copy of the busybox rootfs on /run).

export PATH=/vm/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
B="berth --root /run/berth"
ROOTFS=/run/rootfs
TEMPLATE=/vm/bundle/config.json
pass=0
fail=0
T=""

start_test() { T=$1; echo "RUN  $T (uptime $(cut -d' ' -f1 /proc/uptime)s)"; }
ok() { echo "PASS $T"; pass=$((pass + 1)); }
bad() { echo "FAIL $T: $*"; fail=$((fail + 1)); }

# bundle NAME RESOURCES [CGROUPS_PATH]: /b/NAME/config.json running /ct/NAME.sh in a cgroup
# namespace (so /sys/fs/cgroup in the container is its own cgroup).
bundle() {
    mkdir -p /b/$1
    sed -e "s|\"args\":\[\"sh\",\"/ct/X.sh\"\]|\"args\":[\"sh\",\"/ct/$1.sh\"]|" \
        -e "s|\"resources\":{\"devices\":\[[^]]*\]}|\"resources\":$2${3:+,\"cgroupsPath\":\"$3\"}|" \
        -e "s|\"path\":\"rootfs\"|\"path\":\"$ROOTFS\"|" \
        -e "s|{\"type\":\"mount\"}|{\"type\":\"mount\"},{\"type\":\"cgroup\"}|" \
        $TEMPLATE > /b/$1/config.json
}
script() { cat > $ROOTFS/ct/$1.sh; }

# wait_until SECONDS COMMAND...: poll every 0.2 s.
wait_until() {
    n=$(($1 * 5))
    shift
    while [ $n -gt 0 ]; do
        if "$@"; then return 0; fi
        sleep 0.2
        n=$((n - 1))
    done
    return 1
}
file_has() { grep -q "$2" "$1" 2>/dev/null; }
status_is() { $B state $1 2>/dev/null | grep -q "\"status\": \"$2\""; }
# prop UNIT NAME: one property of a unit, as systemctl show prints it.
prop() { systemctl show "$1" -p "$2" --value 2>/dev/null; }
unit_gone() { [ "$(prop $1 LoadState)" = not-found ] && [ ! -e /sys/fs/cgroup/$2 ]; }

cp -a /vm/bundle/rootfs $ROOTFS
mkdir -p $ROOTFS/ct /b
echo "VM-CGROUP pid1=$(cat /proc/1/comm) controllers=$(cat /sys/fs/cgroup/cgroup.controllers) mounts=$(grep -c ' cgroup ' /proc/mounts) v1"
echo "VM-SYSTEMD $(systemctl --version | head -1) state=$(systemctl is-system-running)"

for suite in /vm/suites/*.sh; do
    echo "INFO suite $(basename "$suite" .sh) (uptime $(cut -d' ' -f1 /proc/uptime)s)"
    . "$suite"
done

echo "VM-RESULT: $pass passed, $fail failed"
