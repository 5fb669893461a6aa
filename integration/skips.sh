#!/bin/bash
# The skip summary of a test run: every `SKIP <test>: <reason>` line the unit and integration
# tests printed (they print them past libtest's output capture, docs/testing.md), counted and
# listed once each, so a skipped test is never mistaken for a passed one.
#
#   skips.sh LOG
set -euo pipefail
log=${1:?usage: skips.sh LOG}
# A line may carry a test's own output before the word (libtest prints `test x ... ` first).
mapfile -t skips < <(grep -o 'SKIP .*' "$log" | sort -u)
# Tests marked #[ignore] (measurements, run by hand): libtest prints `test NAME ... ignored[, reason]`.
mapfile -t ignored < <(sed -n 's/^test \(.*\) \.\.\. ignored\(, \)\{0,1\}\(.*\)$/IGNORED \1: \3/p' "$log" | sort -u)
echo
if [ ${#skips[@]} -eq 0 ]; then
	echo "skipped: none"
else
	echo "skipped: ${#skips[@]} (tests or parts of tests that did not run here; see each reason)"
	printf '  %s\n' "${skips[@]}"
fi
if [ ${#ignored[@]} -gt 0 ]; then
	echo "ignored: ${#ignored[@]} (#[ignore]: run by hand with --ignored)"
	printf '  %s\n' "${ignored[@]}"
fi
