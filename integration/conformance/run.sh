#!/usr/bin/env bash
# integration/conformance/run.sh [RUNTIME]
#
# berth's runtime-spec conformance suite (tests/conformance.rs and tests/conformance/*.rs): every
# check cites its spec section and level (MUST, SHOULD, or RUNC where the spec is silent) and
# judges what the process inside the container observed. Prints TAP, then a pass/fail table by
# level, and keeps the TAP in integration/.work/conformance.tap.
#
# RUNTIME: another OCI runtime to hold to the same checks (e.g. `runc`); default berth.
# Env: BERTH_CONFORMANCE_ONLY=<substring of a check's description> runs matching checks only.
# Needs root.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
mkdir -p integration/.work
tap=$repo/integration/.work/conformance.tap
make -s probe
export BERTH_PROBE=$repo/target/probe/x86_64-unknown-linux-gnu/release/berth-probe
export BERTH_CONFORMANCE_TAP=$tap
if [[ $# -ge 1 ]]; then
    export BERTH_TEST_RUNTIME=$1
fi
status=0
cargo test -q -p berth --test conformance -- --nocapture >/dev/null 2>"$tap.log" || status=$?
if [[ -s $tap ]]; then
    cat "$tap"
else
    cat "$tap.log" >&2
fi
echo "TAP kept in $tap"
exit "$status"
