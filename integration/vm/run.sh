#!/usr/bin/env bash
# The VM tier: boot Debian's kernel under qemu (TCG) on a pure cgroup v2 hierarchy and run the
# cgroup suite (tests.sh) with the real berth binary. Prints one PASS/FAIL line per test and
# "N passed, M failed"; exits non-zero on any failure or if the VM never reports a result.
#
# Env: BERTH (default target/release/berth, built if missing), VM_TIMEOUT (seconds, default
# 600), VM_KEEP=1 keeps the work directory for inspection.
# Other suites reuse the boot (integration/conformance/runtime-tools.sh): VM_TESTS is the script
# stage2.sh runs as /vm/tests.sh (default tests.sh here), VM_PAYLOAD a directory copied to
# /vm/payload (with the shared libraries of the executables in its bin/), VM_WORK the work
# directory (default integration/.work/vm; the console log is VM_WORK/console.log).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${VM_WORK:-$repo/integration/.work/vm}
tests=${VM_TESTS:-$here/tests.sh}
berth=${BERTH:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
timeout_s=${VM_TIMEOUT:-600}

# 1. Packages (a fresh CI machine has none of them); apt only when something is missing.
pkgs="qemu-system-x86 linux-image-amd64 busybox-static"
missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [[ -n $missing ]]; then
    echo "vm: installing$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
kernel=$(ls /boot/vmlinuz-* | sort -V | tail -1)
kver=${kernel#/boot/vmlinuz-}

# 2. The berth binary (release: the VM is ~25x slower than native).
if [[ ! -x $berth ]]; then
    make -C "$repo" --no-print-directory build
fi

# 3. The initramfs: busybox, berth (static; a dynamic build brings the shared libraries ldd
#    lists), the loop module, a
#    busybox bundle template, and the scripts.
rm -rf "$work"
root=$work/root
mkdir -p "$root"/{bin,sbin,etc,vm,proc,sys,dev,tmp,run}
cp /bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [[ -e $root/bin/$applet ]] || ln -s busybox "$root/bin/$applet"
done
cp "$berth" "$root/bin/berth"
bins=("$berth")
if [[ -n ${VM_PAYLOAD:-} ]]; then
    cp -a "$VM_PAYLOAD" "$root/vm/payload"
    for b in "$root"/vm/payload/bin/*; do
        if [[ -f $b && -x $b ]]; then bins+=("$b"); fi
    done
fi
for lib in $(for b in "${bins[@]}"; do ldd "$b" 2>/dev/null; done | grep -o '/[^ ]*' | sort -u); do
    [[ -e $root$lib ]] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
loop=/lib/modules/$kver/kernel/drivers/block/loop.ko
if [[ -f $loop ]]; then cp "$loop" "$root/vm/loop.ko"; fi
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
BERTH="$berth" "$repo/integration/mkbundle.sh" "$root/vm/bundle" sh /ct/X.sh > /dev/null
cp "$here/init" "$root/init"
cp "$here/stage2.sh" "$root/vm/"
cp "$tests" "$root/vm/tests.sh"
chmod +x "$root/init" "$root/vm/stage2.sh"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd.cpio.gz"

# 4. Boot. The console carries the results; \r from the serial line is dropped.
echo "vm: booting $kernel ($(du -h "$work/initrd.cpio.gz" | cut -f1) initramfs)"
start=$(date +%s)
set +e
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$work/initrd.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1" < /dev/null 2>&1 |
    tr -d '\r' | tee "$work/console.log" | grep --line-buffered -E '^(PASS|FAIL|RUN|VM-|RT-RESULT)'
set -e
echo "vm: $(($(date +%s) - start)) s"

result=$(grep '^VM-RESULT:' "$work/console.log" | tail -1 || true)
if [[ -z $result ]]; then
    echo "vm: no result line; the last console lines:"
    tail -30 "$work/console.log"
    exit 1
fi
echo "${result#VM-RESULT: }"
if [[ -z ${VM_KEEP:-} ]]; then rm -rf "$root"; fi
[[ $result == *" 0 failed" ]]
