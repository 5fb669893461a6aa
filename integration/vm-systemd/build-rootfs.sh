#!/usr/bin/env bash
# Build (or reuse) the systemd VM tier's root filesystem: a Debian 12 ext4 image made by
# mmdebstrap from Debian packages (systemd as PID 1, dbus, udev, busybox, containerd and the CNI
# plugins for the CRI suite, criu for checkpoint/restore, iproute2, uidmap), with the modules of
# the kernel the tier boots, and a small initramfs that mounts it. Prints the cache directory.
#
# Cache: /var/cache/berth/vm-systemd/<key>/{rootfs.img,initrd.cpio.gz,vmlinuz}, where <key> is
# the sha256 of this script and the kernel release, so editing this script (or a new Debian
# kernel) builds a new image; older keys are removed. The image is never written by a run: qemu
# opens it with snapshot=on. BERTH_VM_CACHE overrides /var/cache/berth/vm-systemd.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${BERTH_VM_CACHE:-/var/cache/berth/vm-systemd}

# 1. Host tools (a fresh CI machine has none of them); apt only when something is missing.
pkgs="qemu-system-x86 linux-image-amd64 busybox-static mmdebstrap e2fsprogs"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [[ -n $missing ]]; then
    echo "vm-systemd: installing$missing" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
fi
kernel=$(ls /boot/vmlinuz-* | sort -V | tail -1)
kver=${kernel#/boot/vmlinuz-}

key=$( (sha256sum < "${BASH_SOURCE[0]}"; echo "$kver") | sha256sum | cut -c1-16)
dir=$cache_root/$key
if [[ -f $dir/complete ]]; then
    echo "$dir"
    exit 0
fi

echo "vm-systemd: building the root filesystem in $dir (cold: a few minutes)" >&2
start=$(date +%s)
mkdir -p "$cache_root"
find "$cache_root" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} + 
rm -rf "$dir"
tmp=$dir.tmp
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

# 2. The Debian root filesystem. udev makes /dev/vdb a device unit the payload mount waits for.
mmdebstrap --variant=minbase --mode=root \
    --include=systemd,systemd-sysv,dbus,udev,kmod,busybox,procps,iproute2,uidmap,containerd,containernetworking-plugins,criu \
    bookworm "$root" http://deb.debian.org/debian >&2

# 3. The kernel's modules (the tier boots the host's Debian kernel, not one from the image).
mkdir -p "$root/lib/modules"
cp -a "/lib/modules/$kver" "$root/lib/modules/"
rm -rf "$root/lib/modules/$kver"/kernel/drivers/{gpu,media,net/wireless,infiniband,staging,iio,sound} \
    "$root/lib/modules/$kver"/kernel/sound
depmod -b "$root" "$kver"

# 4. Configuration: no login prompts, the test unit started at boot.
echo berth-vm > "$root/etc/hostname"
echo "/dev/vda / ext4 rw,noatime 0 1" > "$root/etc/fstab"
ln -sf /dev/null "$root/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$root/etc/systemd/system/getty@tty1.service"
ln -sf /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"
# containerd is not started at boot: the suites that need it start it with their own config.
rm -f "$root/etc/systemd/system/multi-user.target.wants/containerd.service"
mkdir -p "$root/vm"
# The runner mounts the per-run payload disk (/dev/vdb, ext4) on /vm and runs /vm/tests.sh;
# its output goes to the serial console, then the VM powers off whatever happened.
cat > "$root/usr/local/sbin/berth-vm-run" <<'RUN'
#!/bin/sh
echo "VM-BOOTED uptime $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r) init $(cat /proc/1/comm)"
n=0
while [ ! -b /dev/vdb ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
if mount -o ro /dev/vdb /vm; then
    sh /vm/tests.sh
else
    echo "VM-RESULT: 0 passed, 1 failed (no payload disk /dev/vdb)"
fi
echo "VM-DONE uptime $(cut -d' ' -f1 /proc/uptime)s"
sync
systemctl poweroff --force --force
RUN
chmod +x "$root/usr/local/sbin/berth-vm-run"
cat > "$root/etc/systemd/system/berth-vm.service" <<'UNIT'
[Unit]
Description=berth systemd VM tier
After=basic.target dbus.service
Wants=dbus.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/berth-vm-run
StandardOutput=tty
StandardError=inherit
TTYPath=/dev/ttyS0

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/berth-vm.service "$root/etc/systemd/system/multi-user.target.wants/berth-vm.service"
rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*

# 5. The ext4 image, filled from the directory (no loop mount needed).
size_mb=$(( $(du -sm "$root" | cut -f1) + 512 ))
mke2fs -q -t ext4 -L berth-vm -d "$root" "$tmp/rootfs.img" "${size_mb}M"

# 6. The initramfs: busybox and the modules needed to mount /dev/vda, then switch_root to
#    systemd.
ird=$tmp/initrd
mkdir -p "$ird"/{bin,proc,sys,dev,newroot,modules}
cp /bin/busybox "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"
for m in virtio_pci virtio_blk ext4; do
    modprobe -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' > "$tmp/mods"
while read -r m; do
    cp "$m" "$ird/modules/"
    echo "/bin/busybox insmod /modules/$(basename "$m") 2>/dev/null" >> "$tmp/insmods"
done < "$tmp/mods"
{
    echo '#!/bin/busybox sh'
    echo '/bin/busybox mount -t proc proc /proc'
    echo '/bin/busybox mount -t sysfs sysfs /sys'
    echo '/bin/busybox mount -t devtmpfs devtmpfs /dev'
    cat "$tmp/insmods"
    echo 'n=0; while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do /bin/busybox sleep 0.1; n=$((n + 1)); done'
    echo '/bin/busybox mount -t ext4 -o rw /dev/vda /newroot || { echo "VM-RESULT: 0 passed, 1 failed (cannot mount /dev/vda)"; /bin/busybox poweroff -f; }'
    echo '/bin/busybox umount /sys /proc'
    echo '/bin/busybox mount --move /dev /newroot/dev'
    echo 'exec /bin/busybox switch_root /newroot /lib/systemd/systemd'
} > "$ird/init"
chmod +x "$ird/init"
(cd "$ird" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$tmp/initrd.cpio.gz"
cp "$kernel" "$tmp/vmlinuz"

rm -rf "$root" "$ird"
mv "$tmp" "$dir"
trap - EXIT
touch "$dir/complete"
echo "vm-systemd: built in $(($(date +%s) - start)) s ($(du -sh "$dir" | cut -f1))" >&2
echo "$dir"
