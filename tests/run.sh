#!/bin/sh
# Runs every unit test binary, fuzz-corpus replay and integration script, and prints
# "N passed, N failed" as its last line. Unit binaries print "ok - NAME" / "not ok - NAME"
# per test; an integration script counts as one test per "ok"/"not ok" line it prints,
# or one test judged by its exit status if it prints none.
# Environment: BIN (programs), TESTBIN (unit binaries), ONLY (substring filter).
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}; TESTBIN=${TESTBIN:-build/release/tests}
export BIN TESTBIN
export SHARED=${SHARED:-$(cd .. && pwd)/shared}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pass=0; fail=0; skipped=0; failed_names=""
LOGDIR=$(mktemp -d /tmp/ss-test-logs.XXXXXX)

run_one() { # name, command...
    name=$1; shift
    case "$name" in *"${ONLY:-}"*) ;; *) return ;; esac
    log="$LOGDIR/$(echo "$name" | tr '/ ' '__').log"
    start=$(date +%s)
    timeout "${TEST_TIMEOUT:-600}" "$@" >"$log" 2>&1; rc=$?
    [ $rc -eq 124 ] && echo "not ok - $name timed out after ${TEST_TIMEOUT:-600}s" >>"$log"
    ok=$(grep -c '^ok ' "$log"); nok=$(grep -c '^not ok ' "$log")
    skip=$(grep -c '^ok .*# SKIP' "$log")   # TAP skips: neither passed nor failed
    if [ "$ok" -eq 0 ] && [ "$nok" -eq 0 ]; then
        if [ $rc -eq 0 ]; then ok=1; else nok=1; fi
    elif [ $rc -ne 0 ] && [ "$nok" -eq 0 ]; then
        nok=1   # crashed or failed after its last reported test
    fi
    ok=$((ok - skip))
    pass=$((pass + ok)); fail=$((fail + nok)); skipped=$((skipped + skip))
    printf '%-44s %3d ok %3d failed%s  (%ss)\n' "$name" "$ok" "$nok" \
        "$([ "$skip" -gt 0 ] && echo ", $skip skipped")" "$(( $(date +%s) - start ))"
    if [ "$nok" -ne 0 ]; then
        failed_names="$failed_names $name"
        grep -E '^not ok|FAIL|ERROR|runtime error|Sanitizer' "$log" | head -20 | sed 's/^/    /'
        echo "    (full log: $log)"
    fi
}

for t in "$TESTBIN"/test_*; do
    [ -x "$t" ] || continue
    run_one "unit/$(basename "$t")" "$t"
done
for r in "$TESTBIN"/replay_*; do
    [ -x "$r" ] || continue
    n=$(basename "$r"); n=${n#replay_}
    run_one "fuzz-replay/$n" "$r" "fuzz/corpus/$n"
done
for s in tests/integration/*.sh; do
    [ -f "$s" ] || continue
    run_one "integration/$(basename "$s" .sh)" sh "$s"
done
[ -n "$failed_names" ] && echo "failed:$failed_names"
[ "$skipped" -gt 0 ] && echo "$skipped skipped (lines '# SKIP' in the logs say why)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
