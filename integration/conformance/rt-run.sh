#!/bin/sh
# integration/conformance/rt-run.sh SUITE_DIR RUNTIME LOG_DIR TIMEOUT TEST...
#
# Run runtime-tools validation tests (validation/<TEST>/<TEST>.t) from SUITE_DIR against RUNTIME,
# each under `timeout TIMEOUT`, and print one machine-readable line per test:
#
#     RT-RESULT <test> <PASS|FAIL|TIMEOUT> ok=<n> skip=<n> notok=<n> rc=<exit> secs=<s.ss> tries=<n>
#
# RT_RETRY (default 0): a test that does not pass is run again up to this many times (some
# tests race, e.g. killsig signals the container right after `start`); tries=<n> > 1 in the
# result line says so, and the earlier logs are kept as <test>.log.<try>. RT_RETRY_ONLY (a
# space-separated list of test names), when set, limits retries to those tests.
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

# run_one TEST LOG: sets verdict ok skip notok rc secs.
run_one() {
    bin=validation/$1/$1.t
    log=$2
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
}

for t in "$@"; do
    tries=1
    run_one "$t" "$logs/$t.log"
    retry=${RT_RETRY:-0}
    case " ${RT_RETRY_ONLY- $t } " in *" $t "*) ;; *) retry=0 ;; esac
    while [ "$verdict" != PASS ] && [ "$tries" -le "$retry" ]; do
        mv "$logs/$t.log" "$logs/$t.log.$tries"
        tries=$((tries + 1))
        run_one "$t" "$logs/$t.log"
    done
    echo "RT-RESULT $t $verdict ok=$((ok - skip)) skip=$skip notok=$notok rc=$rc secs=$secs tries=$tries"
done
