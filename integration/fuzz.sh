#!/usr/bin/env bash
# integration/fuzz.sh SECONDS TARGET...
#
# Run each cargo-fuzz target (fuzz/fuzz_targets/) for SECONDS, starting from its seeds
# (fuzz/seeds/<target>) and the corpus kept between runs (fuzz/corpus/<target>, not committed).
# Seeds and saved crashes (fuzz/regressions/<target>) run first. Prints executions and the time
# of each run; a crash stops with libFuzzer's report, and the input is left in
# fuzz/artifacts/<target>/ — copy it to fuzz/regressions/<target>/ once fixed: every later run,
# and `make fuzz-regressions` (plain cargo test), replays it. Stable toolchain: RUSTC_BOOTSTRAP=1 unlocks -Zsanitizer.
set -euo pipefail
if [[ $# -lt 2 ]]; then
    echo "usage: $0 SECONDS TARGET..." >&2
    exit 2
fi
secs=$1
shift
cd "$(dirname "${BASH_SOURCE[0]}")/../fuzz"
export RUSTC_BOOTSTRAP=1
status=0
for t in "$@"; do
    mkdir -p "corpus/$t"
    log=$(mktemp)
    start=$(date +%s)
    # -O: the same optimised build as `make fuzz-build`, so this does not rebuild.
    # libFuzzer runs every input of every corpus dir first (so saved crashes are replayed) and
    # writes new inputs to the first one only.
    if cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" "regressions/$t" -- -max_total_time="$secs" \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        verdict=ok
    else
        verdict=CRASH
        status=1
    fi
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "fuzz $t: $verdict, ${execs:-?} executions in $(($(date +%s) - start)) s, corpus $(find "corpus/$t" -type f | wc -l) inputs"
    if [[ $verdict != ok ]]; then
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20 >&2
    fi
    rm -f "$log"
done
exit "$status"
