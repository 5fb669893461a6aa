#!/bin/sh
# integration/conformance/rt-run.sh SUITE_DIR RUNTIME LOG_DIR TIMEOUT TEST...
#
# Run runtime-tools validation tests (validation/<TEST>/<TEST>.t) from SUITE_DIR against RUNTIME,
# each under `timeout TIMEOUT`, and print one machine-readable line per test:
#
#     RT-RESULT <test> <PASS|FAIL|TIMEOUT> ok=<n> skip=<n> notok=<n> rc=<exit> secs=<s.ss>
#
# The full TAP output of each test is kept in LOG_DIR/<test>.log. A test passes when it exits 0,
# prints at least one `ok` and no `not ok` (the .t programs copy ./runtimetest and unpack
# ./rootfs-<arch>.tar.gz, so they run from SUITE_DIR). POSIX sh + busybox only: the VM tier
# (integration/conformance/vm-tests.sh) runs this same file inside the guest.
set -u
suite=$1 runtime=$2 logs=$3 limit=$4
shift 4
mkdir -p "$logs"
cd "$suite" || exit 2

# Seconds since boot with hundredths (busybox date has no %N).
now() { cut -d' ' -f1 /proc/uptime; }

for t in "$@"; do
    bin=validation/$t/$t.t
    log=$logs/$t.log
    t0=$(now)
    if [ -x "$bin" ]; then
        RUNTIME=$runtime timeout "$limit" "./$bin" > "$log" 2>&1
        rc=$?
    else
        echo "no executable $bin in $suite" > "$log"
        rc=127
    fi
    t1=$(now)
    ok=$(grep -cE '^ok [0-9]+' "$log")
    skip=$(grep -ciE '^ok [0-9]+.*# *skip' "$log")
    notok=$(grep -cE '^not ok [0-9]+' "$log")
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 143 ]; then
        verdict=TIMEOUT
    elif [ "$rc" -eq 0 ] && [ "$notok" -eq 0 ] && [ "$ok" -gt 0 ]; then
        verdict=PASS
    else
        verdict=FAIL
    fi
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    echo "RT-RESULT $t $verdict ok=$((ok - skip)) skip=$skip notok=$notok rc=$rc secs=$secs"
done
