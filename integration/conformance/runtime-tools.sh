#!/usr/bin/env bash
# integration/conformance/runtime-tools.sh [PATTERN]
#
# The opencontainers/runtime-tools validation suite as a test tier (`make conformance`):
#   1. build (or take from the cache) the suite: build-runtime-tools.sh;
#   2. host tier: run every validation/<test>/<test>.t against RUNTIME (rt-run.sh);
#   3. VM tier: run the tests whose vm column in the expectations file is not "-" inside the
#      qemu guest on pure cgroup v2 (integration/vm/run.sh with vm-tests.sh);
#   4. compare with the expectations file and print a table.
# Fails (exit 1) when a test expected to PASS does not, or a test has no expectation; a test
# expected to FAIL that passes prints a loud note (update the file) but does not fail the run.
#
# PATTERN: a bash glob on test names (default `*`), e.g. 'linux_cgroups_*'.
# Env:
#   RUNTIME        runtime binary (default: the berth release binary; `runc` works too)
#   RT_TIERS       "host vm" (default), "host" or "vm"
#   TEST_TIMEOUT   seconds per test on the host (default 60); VM_TEST_TIMEOUT in the VM (300)
#   RT_RETRY       host tier: run a test that did not pass again, up to N times (default 1);
#                  (only tests expected to PASS); a pass on a retry is marked FLAKY in the table
#   EXPECTED       expectations file (default runtime-tools-expected.txt here); "none" reports
#                  only (no comparison, exit 0), for another runtime such as runc
#   RT_OUT         output directory (default integration/.work/runtime-tools/<runtime name>):
#                  <tier>/results, <tier>/logs/<test>.log (TAP), table.txt
#   RT_TRACE=1     host tier: log every runtime call's argv and exit status to host/calls.log,
#                  and pass `--log host/runtime.log --debug` to the runtime
#   RUNTIME_TOOLS_SRC, RT_CACHE, RT_REBUILD: see build-runtime-tools.sh
# Every runtime call gets a private `--root` (OUT/<tier>/state); containers a test leaves behind
# (a timeout kills the .t before its cleanup) are force-deleted after the tier. Needs root.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
pattern=${1:-*}
runtime=${RUNTIME:-$repo/target/x86_64-unknown-linux-gnu/release/berth}
runtime=$(command -v "$runtime") || { echo "runtime-tools: no runtime ${RUNTIME:-$runtime}" >&2; exit 2; }
tiers=${RT_TIERS:-host vm}
expected=${EXPECTED:-$here/runtime-tools-expected.txt}
out=${RT_OUT:-$repo/integration/.work/runtime-tools/$(basename "$runtime")}

if [[ $(id -u) -ne 0 ]]; then
    echo "runtime-tools: needs root (the validation tests create real containers)" >&2
    exit 2
fi
if [[ $expected != none && ! -f $expected ]]; then
    echo "runtime-tools: no expectations file $expected" >&2
    exit 2
fi

suite=$("$here/build-runtime-tools.sh") || exit 1
mapfile -t all < <(cd "$suite/validation" && for d in *; do
    [[ -x $d/$d.t ]] && echo "$d"; done)
tests=()
for t in "${all[@]}"; do
    # shellcheck disable=SC2053 # PATTERN is a glob on purpose
    [[ $t == $pattern ]] && tests+=("$t")
done
[[ ${#tests[@]} -gt 0 ]] || { echo "runtime-tools: no test matches $pattern" >&2; exit 2; }

# Expectations: "<test> <host> <vm> <reason...>"; '#' lines are comments (evidence).
declare -A exp_host exp_vm reason
if [[ $expected != none ]]; then
    while read -r name h v rest; do
        [[ -z $name || $name == \#* ]] && continue
        exp_host[$name]=$h
        exp_vm[$name]=$v
        reason[$name]=$rest
    done < "$expected"
fi
vm_tests=()
for t in "${tests[@]}"; do
    if [[ $expected == none ]]; then
        [[ $t == linux_cgroups_* ]] && vm_tests+=("$t")
    elif [[ ${exp_vm[$t]:--} != - ]]; then
        vm_tests+=("$t")
    fi
done

rm -rf "$out"
mkdir -p "$out"
echo "runtime-tools: suite $suite; runtime $runtime ($("$runtime" --version 2>/dev/null | head -1))"

# Force-delete what a tier left in its state root; prints the ids.
sweep() {
    local rt=$1 root=$2 id
    for id in $("$rt" --root "$root" list -q 2>/dev/null); do
        "$rt" --root "$root" delete --force "$id" >/dev/null 2>&1
        echo "$id"
    done
}

declare -A res_host res_vm secs_host secs_vm tries_host
host_secs=- vm_secs=-
if [[ " $tiers " == *" host "* ]]; then
    mkdir -p "$out/host"
    wrapper=$out/host/runtime
    if [[ -n ${RT_TRACE:-} ]]; then
        cat > "$wrapper" <<EOF
#!/bin/sh
echo "\$(date +%T.%N) \$\$ \$*" >> "$out/host/calls.log"
"$runtime" --root "$out/host/state" --log "$out/host/runtime.log" --debug "\$@"
rc=\$?
echo "\$(date +%T.%N) \$\$ exit \$rc" >> "$out/host/calls.log"
exit \$rc
EOF
    else
        printf '#!/bin/sh\nexec "%s" --root "%s" "$@"\n' "$runtime" "$out/host/state" > "$wrapper"
    fi
    chmod +x "$wrapper"
    echo "runtime-tools: host tier, ${#tests[@]} tests, ${TEST_TIMEOUT:-60} s each at most"
    start=$(date +%s)
    retry_only=""
    if [[ $expected != none ]]; then
        for t in "${tests[@]}"; do [[ ${exp_host[$t]:-} == PASS ]] && retry_only="$retry_only $t"; done
        export RT_RETRY_ONLY=$retry_only
    fi
    RT_RETRY=${RT_RETRY:-1} sh "$here/rt-run.sh" "$suite" "$wrapper" "$out/host/logs" "${TEST_TIMEOUT:-60}" "${tests[@]}" |
        tee "$out/host/results" | sed 's/^RT-RESULT /  /'
    host_secs=$(($(date +%s) - start))
    left=$(sweep "$runtime" "$out/host/state")
    [[ -z $left ]] || echo "runtime-tools: NOTE: host tier left containers behind (deleted): $left"
fi

if [[ " $tiers " == *" vm "* && ${#vm_tests[@]} -gt 0 ]]; then
    payload=$out/vm/payload
    mkdir -p "$payload/bin" "$payload/suite/validation"
    cp "$runtime" "$payload/bin/runtime"
    printf '#!/bin/sh\nexec busybox tar -z "$@"\n' > "$payload/bin/tar"
    chmod +x "$payload/bin/tar"
    cp "$suite/runtimetest" "$suite"/rootfs-amd64.tar.gz "$payload/suite/"
    for t in "${vm_tests[@]}"; do
        mkdir -p "$payload/suite/validation/$t"
        cp "$suite/validation/$t/$t.t" "$payload/suite/validation/$t/"
    done
    printf '%s\n' "${vm_tests[@]}" > "$payload/tests"
    echo "${VM_TEST_TIMEOUT:-300}" > "$payload/timeout"
    cp "$here/rt-run.sh" "$payload/"
    echo "runtime-tools: VM tier, ${#vm_tests[@]} tests"
    start=$(date +%s)
    VM_WORK=$out/vm/work VM_TESTS=$here/vm-tests.sh VM_PAYLOAD=$payload \
        VM_TIMEOUT=$((120 + ${#vm_tests[@]} * ${VM_TEST_TIMEOUT:-300})) \
        BERTH=$runtime "$repo/integration/vm/run.sh" | grep --line-buffered -v '^RT-RESULT' |
        sed 's/^/  /'
    vm_secs=$(($(date +%s) - start))
    console=$out/vm/work/console.log
    grep '^RT-RESULT ' "$console" > "$out/vm/results"
    mkdir -p "$out/vm/logs"
    awk -v dir="$out/vm/logs" '
        /^RT-LOG-BEGIN / { f = dir "/" $2 ".log"; next }
        /^RT-LOG-END / { close(f); f = ""; next }
        f != "" { print > f }' "$console"
fi

for tier in host vm; do
    [[ -f $out/$tier/results ]] || continue
    while read -r _ name verdict _ _ _ _ secs tries; do
        if [[ $tier == host ]]; then
            res_host[$name]=$verdict; secs_host[$name]=${secs#secs=}; tries_host[$name]=${tries#tries=}
        else res_vm[$name]=$verdict; secs_vm[$name]=${secs#secs=}; fi
    done < "$out/$tier/results"
done
# A test the tier ran but that printed no result line (the VM died or timed out) counts as NONE.
[[ -f $out/host/results ]] && for t in "${tests[@]}"; do res_host[$t]=${res_host[$t]:-NONE}; done
[[ -f $out/vm/results ]] && for t in "${vm_tests[@]}"; do res_vm[$t]=${res_vm[$t]:-NONE}; done

# The table. A test that ran and was expected: ok / REGRESSION / NEW PASS.
regressions=0 newpass=0 unlisted=0
npass_host=0 nrun_host=0 npass_vm=0 nrun_vm=0
{
    printf '%-34s %-9s %-9s %-9s %-9s %s\n' test host expected vm expected note
    for t in "${tests[@]}"; do
        h=${res_host[$t]:--} v=${res_vm[$t]:--}
        eh=${exp_host[$t]:-?} ev=${exp_vm[$t]:-?}
        [[ $expected == none ]] && eh=- ev=-
        note=""
        [[ ${tries_host[$t]:-1} -gt 1 && $h == PASS ]] && note="FLAKY(host: passed on try ${tries_host[$t]})"
        [[ $h != - ]] && nrun_host=$((nrun_host + 1))
        [[ $h == PASS ]] && npass_host=$((npass_host + 1))
        [[ $v != - ]] && nrun_vm=$((nrun_vm + 1))
        [[ $v == PASS ]] && npass_vm=$((npass_vm + 1))
        if [[ $expected != none ]]; then
            if [[ -z ${exp_host[$t]:-} ]]; then
                note="NOT IN $(basename "$expected")"
                unlisted=$((unlisted + 1))
            else
                for pair in "$h:$eh:host" "$v:$ev:vm"; do
                    IFS=: read -r got want tier <<< "$pair"
                    [[ $got == - ]] && continue
                    if [[ $want == PASS && $got != PASS ]]; then
                        note="$note REGRESSION($tier)"
                        regressions=$((regressions + 1))
                    elif [[ $want != PASS && $got == PASS ]]; then
                        note="$note NEW-PASS($tier)"
                        newpass=$((newpass + 1))
                    fi
                done
            fi
        fi
        printf '%-34s %-9s %-9s %-9s %-9s %s\n' "$t" "$h" "$eh" "$v" "$ev" "${note# }"
        if [[ $h != PASS || ($v != - && $v != PASS) ]] && [[ -n ${reason[$t]:-} ]]; then
            printf '    why: %s\n' "${reason[$t]}"
        fi
    done
    echo "host: $npass_host/$nrun_host passed in ${host_secs} s; vm: $npass_vm/$nrun_vm passed in ${vm_secs} s (boot included); runtime $runtime"
} > "$out/table.txt" # not a pipe: the counters must survive this block
cat "$out/table.txt"

echo "runtime-tools: TAP logs in $out/{host,vm}/logs/, table in $out/table.txt"
if [[ $newpass -gt 0 ]]; then
    echo
    echo "runtime-tools: NOTE: $newpass result(s) expected to FAIL now PASS (NEW-PASS above):"
    echo "runtime-tools: NOTE: update $expected"
fi
status=0
if [[ $expected != none ]]; then
    if [[ $regressions -gt 0 ]]; then
        echo "runtime-tools: FAILED: $regressions result(s) expected to PASS did not (REGRESSION above)"
        status=1
    fi
    if [[ $unlisted -gt 0 ]]; then
        echo "runtime-tools: FAILED: $unlisted test(s) have no line in $expected"
        status=1
    fi
    if [[ " $tiers " == *" vm "* && ${#vm_tests[@]} -gt 0 && ! -s $out/vm/results ]]; then
        echo "runtime-tools: FAILED: the VM reported no result (see $out/vm/work/console.log)"
        status=1
    fi
fi
exit $status
