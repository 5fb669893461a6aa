#!/usr/bin/env bash
# runtime-tools.sh SUITE_DIR [PATTERN]
#
# Run an externally built opencontainers/runtime-tools validation suite against berth and print
# each test's result and a total. The suite is not vendored here and Debian does not package it
# (golang-github-opencontainers-runtime-tools-dev ships the library only: no validation/ and no
# runtimetest), so SUITE_DIR is a runtime-tools checkout you built yourself:
#
#     git clone https://github.com/opencontainers/runtime-tools && cd runtime-tools
#     make runtimetest validation-executables        # needs Go (Debian: golang-go)
#
# SUITE_DIR must hold `runtimetest`, `rootfs-amd64.tar.gz` and `validation/**/*.t` (the .t
# programs copy ./runtimetest and unpack ./rootfs-<arch>.tar.gz, so they run from SUITE_DIR).
# PATTERN (a bash glob on the test path, default `*`) picks tests, e.g. `*kill*`.
#
# Env: RUNTIME (default: the berth release binary, else the debug one), TEST_TIMEOUT (seconds
# per .t, default 120), RESULTS (file for the per-test table, default SUITE_DIR/berth-results.txt).
# Exit status: 0 when every test passed, 1 otherwise, 2 on usage errors. Needs root.
set -uo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 SUITE_DIR [PATTERN]" >&2
    exit 2
fi
suite=$(cd "$1" 2>/dev/null && pwd) || { echo "runtime-tools: no directory $1" >&2; exit 2; }
pattern=${2:-*}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ -z ${RUNTIME:-} ]]; then
    RUNTIME=$repo/target/x86_64-unknown-linux-gnu/release/berth
    [[ -x $RUNTIME ]] || RUNTIME=$repo/target/debug/berth
fi
timeout_s=${TEST_TIMEOUT:-120}
results=${RESULTS:-$suite/berth-results.txt}

for need in "$suite/runtimetest" "$RUNTIME"; do
    if [[ ! -x $need ]]; then
        echo "runtime-tools: $need is missing or not executable (see the header of $0)" >&2
        exit 2
    fi
done
if ! compgen -G "$suite/rootfs-*.tar.gz" >/dev/null; then
    echo "runtime-tools: no rootfs-<arch>.tar.gz in $suite (run make in the suite first)" >&2
    exit 2
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "runtime-tools: needs root (the validation tests create real containers)" >&2
    exit 2
fi

# Both layouts: validation/<name>/<name>.t (current) and validation/<name>.t (older).
mapfile -t tests < <(cd "$suite" && find validation -name '*.t' -type f -perm -u+x | sort)
if [[ ${#tests[@]} -eq 0 ]]; then
    echo "runtime-tools: no validation/*.t executables in $suite (make validation-executables)" >&2
    exit 2
fi

: >"$results"
total_t=0 pass_t=0 fail_t=0 total_c=0 pass_c=0 fail_c=0 skip_c=0
log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT
cd "$suite" || exit 2
for t in "${tests[@]}"; do
    # shellcheck disable=SC2053 # PATTERN is a glob on purpose
    [[ $t == $pattern ]] || continue
    total_t=$((total_t + 1))
    log=$log_dir/$(echo "$t" | tr / _).log
    RUNTIME=$RUNTIME timeout "$timeout_s" "./$t" >"$log" 2>&1
    rc=$?
    # TAP: "ok N - ...", "not ok N - ...", "# SKIP" directives count as skipped.
    ok=$(grep -cE '^ok [0-9]+' "$log")
    skip=$(grep -cE '^ok [0-9]+.*# *(SKIP|skip)' "$log")
    notok=$(grep -cE '^not ok [0-9]+' "$log")
    total_c=$((total_c + ok + notok))
    pass_c=$((pass_c + ok - skip))
    skip_c=$((skip_c + skip))
    fail_c=$((fail_c + notok))
    if [[ $rc -eq 0 && $notok -eq 0 && $((ok + notok)) -gt 0 ]]; then
        verdict=PASS
        pass_t=$((pass_t + 1))
    else
        verdict=FAIL
        fail_t=$((fail_t + 1))
        [[ $rc -eq 124 ]] && verdict="FAIL (timeout ${timeout_s}s)"
    fi
    line=$(printf '%-6s %-55s checks: %3d ok, %3d not ok, %3d skipped (exit %d)' \
        "$verdict" "$t" "$((ok - skip))" "$notok" "$skip" "$rc")
    echo "$line" | tee -a "$results"
    if [[ $verdict != PASS ]]; then
        grep -E '^not ok|^#' "$log" | head -20 | sed 's/^/        /' | tee -a "$results"
    fi
done
summary="runtime-tools: $pass_t/$total_t tests passed ($fail_t failed); checks: $pass_c ok, $fail_c not ok, $skip_c skipped; runtime $RUNTIME"
echo "$summary" | tee -a "$results"
[[ $fail_t -eq 0 && $total_t -gt 0 ]]
