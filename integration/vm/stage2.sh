#!/bin/sh
# Stage 2 (PID 1 on a tmpfs root): a pure cgroup v2 host, then the cgroup suite, then power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 none /sys/fs/cgroup
for c in cpuset cpu io memory hugetlb pids rdma misc; do
    echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
done
# The loop driver is a module in Debian's kernel: a block device for io.max / io.weight.
insmod /vm/loop.ko 2>/dev/null
echo
echo "VM-BOOTED uptime $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r)"
echo "VM-CONTROLLERS $(cat /sys/fs/cgroup/cgroup.subtree_control)"
sh /vm/tests.sh
echo "VM-DONE uptime $(cut -d' ' -f1 /proc/uptime)s"
sync
poweroff -f
