#!/bin/bash
# Runs every unit test binary, fuzz-corpus replay and integration script, and prints
# "N passed, N failed" as its last line. Unit binaries print "ok - NAME" / "not ok - NAME"
# per test; an integration script counts as one test per "ok"/"not ok" line it prints,
# or one test judged by its exit status if it prints none.
#
# Tests run JOBS at a time (default: the online CPUs), because most of the suite waits
# on timers, child processes and sanitizer-slowed single threads: on a 2-core machine two
# at a time halves the wall time. A script whose checks measure time or CPU (an RLIMIT_CPU
# budget, a latency bound, an auto-stop timer) says so with a line "# test-serial" and runs
# alone after the others, so another test's load can never fail it.
# Environment: BIN (programs), TESTBIN (unit binaries), ONLY (substring filter), JOBS.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"   # callers say "sh tests/run.sh"; wait -n needs bash
set -u
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}; TESTBIN=${TESTBIN:-build/release/tests}
export BIN TESTBIN
export SHARED=${SHARED:-$(cd .. && pwd)/shared}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 1)}
[ "$JOBS" -ge 1 ] 2>/dev/null || JOBS=1
LOGDIR=$(mktemp -d /tmp/ss-test-logs.XXXXXX)
SUITE_START=$(date +%s)

# One test: runs it, counts its lines, prints one summary line (one write, so lines of
# tests finishing together never interleave) and leaves "ok nok skip" in NAME.res.
run_one() { # name, command...
    name=$1; shift
    slug=$(echo "$name" | tr '/ ' '__')
    log="$LOGDIR/$slug.log"
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
    out=$(printf '%-44s %3d ok %3d failed%s  (%ss)' "$name" "$ok" "$nok" \
        "$([ "$skip" -gt 0 ] && echo ", $skip skipped")" "$(( $(date +%s) - start ))")
    if [ "$nok" -ne 0 ]; then
        out="$out
$(grep -E '^not ok|FAIL|ERROR|runtime error|Sanitizer' "$log" | head -20 | sed 's/^/    /')
    (full log: $log)"
    fi
    printf '%s\n' "$out"
    echo "$ok $nok $skip $name" >"$LOGDIR/$slug.res"
}

selected() { case "$1" in *"${ONLY:-}"*) return 0 ;; esac; return 1; }

running=0
launch() { # name, command...: starts it, keeping at most JOBS running
    selected "$1" || return 0
    run_one "$@" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
}

serial=""
for t in "$TESTBIN"/test_*; do
    [ -x "$t" ] || continue
    launch "unit/$(basename "$t")" "$t"
done
for r in "$TESTBIN"/replay_*; do
    [ -x "$r" ] || continue
    n=$(basename "$r"); n=${n#replay_}
    launch "fuzz-replay/$n" "$r" "fuzz/corpus/$n"
done
for s in tests/integration/*.sh; do
    [ -f "$s" ] || continue
    if grep -q '^# test-serial' "$s"; then serial="$serial $s"; continue; fi
    launch "integration/$(basename "$s" .sh)" sh "$s"
done
wait
for s in $serial; do
    n="integration/$(basename "$s" .sh)"
    selected "$n" && run_one "$n" sh "$s"
done

pass=0; fail=0; skipped=0; failed_names=""
for f in "$LOGDIR"/*.res; do
    [ -f "$f" ] || continue
    read -r ok nok skip name <"$f"
    pass=$((pass + ok)); fail=$((fail + nok)); skipped=$((skipped + skip))
    [ "$nok" -ne 0 ] && failed_names="$failed_names $name"
done
[ -n "$failed_names" ] && echo "failed:$failed_names"
[ "$skipped" -gt 0 ] && echo "$skipped skipped (lines '# SKIP' in the logs say why)"
echo "suite wall time: $(( $(date +%s) - SUITE_START ))s with JOBS=$JOBS (logs: $LOGDIR)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
