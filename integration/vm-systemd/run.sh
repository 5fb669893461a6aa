#!/usr/bin/env bash
# The systemd VM tier: boot Debian's kernel under qemu (TCG) with systemd as PID 1 on a pure
# cgroup v2 hierarchy (a Debian 12 root filesystem from build-rootfs.sh, cached), and run
# tests.sh there with the real berth binary and probe. Prints one PASS/FAIL line per test and
# "N passed, M failed"; exits non-zero on any failure or if the VM never reports a result.
#
# The root image is opened with snapshot=on (never written). The per-run payload (berth, the
# probe, a busybox bundle, tests.sh) is a second ext4 disk built here with mke2fs -d; the
# image's berth-vm.service mounts it on /vm, runs /vm/tests.sh with its output on the serial
# console, and powers the VM off.
#
# Env: BERTH (default target/<triple>/release/berth, built if missing), BERTH_PROBE (default
# target/probe/<triple>/release/berth-probe, built if missing), VM_SUITES (names of the suites
# in suites/ to run, space-separated; default all of them), VM_EXTRA_BINS (more files for
# /vm/bin: static binaries, and the CRI suite's image tarball), VM_TIMEOUT (seconds for the whole VM, default 900), VM_KEEP=1 keeps the work
# directory (integration/.work/vm-systemd).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=${VM_WORK:-$repo/integration/.work/vm-systemd}
triple=x86_64-unknown-linux-gnu
berth=${BERTH:-$repo/target/$triple/release/berth}
probe=${BERTH_PROBE:-$repo/target/probe/$triple/release/berth-probe}
timeout_s=${VM_TIMEOUT:-900}

t0=$(date +%s)
cache=$("$here/build-rootfs.sh")
t_image=$(($(date +%s) - t0))
[[ -x $berth ]] || make -C "$repo" --no-print-directory build
[[ -x $probe ]] || make -C "$repo" --no-print-directory probe

# The payload disk. berth and the probe are static (crt-static), so they need no libraries.
rm -rf "$work"
pay=$work/payload
mkdir -p "$pay/bin"
cp "$berth" "$pay/bin/berth"
cp "$probe" "$pay/bin/berth-probe"
BERTH="$berth" "$repo/integration/mkbundle.sh" "$pay/bundle" sh /ct/X.sh > /dev/null
for b in ${VM_EXTRA_BINS:-}; do cp "$b" "$pay/bin/"; done
cp "$here/tests.sh" "$pay/tests.sh"
mkdir -p "$pay/suites"
for s in ${VM_SUITES:-$(cd "$here/suites" && ls *.sh | sed 's/[.]sh$//')}; do
    cp "$here/suites/$s.sh" "$pay/suites/$s.sh"
done
mke2fs -q -t ext4 -d "$pay" "$work/payload.img" "$(( $(du -sm "$pay" | cut -f1) + 32 ))M"

echo "vm-systemd: booting $cache/vmlinuz (image ready in ${t_image} s)"
start=$(date +%s)
set +e
timeout "$timeout_s" qemu-system-x86_64 -accel tcg -m 1536 -smp 2 -nographic -no-reboot \
    -kernel "$cache/vmlinuz" -initrd "$cache/initrd.cpio.gz" \
    -drive "file=$cache/rootfs.img,format=raw,if=virtio,snapshot=on" \
    -drive "file=$work/payload.img,format=raw,if=virtio,readonly=on" \
    -append "console=ttyS0 root=/dev/vda panic=-1 quiet systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all systemd.show_status=0" \
    < /dev/null 2>&1 |
    tr -d '\r' | sed -u 's/\x1bc//g; s/\x1b\[[0-9;?]*[A-Za-z]//g' | tee "$work/console.log" |
    grep --line-buffered -E '^(PASS|FAIL|RUN|VM-|INFO)'
set -e
echo "vm-systemd: VM ran $(($(date +%s) - start)) s (whole tier $(($(date +%s) - t0)) s)"

result=$(grep '^VM-RESULT:' "$work/console.log" | tail -1 || true)
if [[ -z $result ]]; then
    echo "vm-systemd: no result line; the last console lines:"
    tail -40 "$work/console.log"
    exit 1
fi
echo "${result#VM-RESULT: }"
if [[ -z ${VM_KEEP:-} ]]; then rm -rf "$pay"; fi
[[ $result == *" 0 failed" ]]
