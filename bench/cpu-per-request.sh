#!/usr/bin/env bash
# The server's own cost per request: CPU time of the `tollgate dev` process (all its threads,
# from /proc/PID/task/*/schedstat) over the answers, and where it goes (`perf record`, inclusive costs), for
# health, verify_used, verify_wrong_code, the challenge poll and a right code (a session made).
#
#   bench/cpu-per-request.sh                  # DURATION (5 s per case), CONNECTIONS (4), PORT
#   TOLLGATE_BIN=/path/to/tollgate bench/cpu-per-request.sh
#
# CPU time at low concurrency (4 connections: the server is not saturated, so it is not
# spinning or queueing) splits a request's cost by thread kind, which instruction counts
# (instructions.sh, the same loads under callgrind) cannot; but unlike instructions it moves
# with the machine's other tenants, caches and frequency: compare binaries back-to-back.
#
#   health             GET /health/live
#   verify_used        the right code again on a used challenge (refused 410)
#   verify_wrong_code  a wrong code spread over VERIFY_CHALLENGES (40) challenges (401)
#   challenge_poll     POST /v1/auth/login/challenge on the same challenges
#   verify_right       the right code once per challenge of RIGHT_CODES (300) more accounts: a
#                      session made (one keep-alive connection, Python's http.client)
#
# Each case: an idle interval's CPU (the worker's timers) is taken off pro rata; CPU by thread
# kind (event loop, Swift's cooperative pool, the database pool's threads, other); and, with
# PERF=1 (the default when `perf` is installed), the TOP (10) symbols by inclusive cost
# (`perf report --children`) of a `perf record -g` of the case, demangled.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration="${DURATION:-5}"
connections="${CONNECTIONS:-4}"
port="${PORT:-18095}"
challenges="${VERIFY_CHALLENGES:-40}"
right_codes="${RIGHT_CODES:-300}"
top="${TOP:-10}"
use_perf="${PERF:-$(command -v perf >/dev/null && echo 1 || echo 0)}"
export CODE_MAX_ATTEMPTS="${CODE_MAX_ATTEMPTS:-100}"

start_tollgate "$port"
cd "$bench_root"
prepare_verify "$challenges"
tokens="$VERIFY_TOKENS"

prepare_right_codes "$right_codes"

# CPU time of the process's threads in nanoseconds (the scheduler's own count, schedstat's
# first field, not the 10 ms ticks of /proc/PID/stat), one line per thread: its kind and its ns.
thread_ns() {
    local task name
    for task in /proc/"$TOLLGATE_PID"/task/*; do
        name="$(cat "$task/comm" 2>/dev/null)" || continue
        case "$name" in
            NIO-*) name=event_loop ;;          # NIO-SGLTN-…: the singleton event loops
            *qos*) name=cooperative_pool ;;    # Swift's global executor (libdispatch's workers)
            *TP-#*) name=thread_pools ;;       # NIOThreadPools: the database pools, password hashing
            *) name=other ;;
        esac
        echo "$name $(cut -d' ' -f1 "$task/schedstat" 2>/dev/null || echo 0)"
    done
}
# By kind from the living threads, and "all" from /proc/PID/stat, which keeps the time of
# threads that have exited too (in clock ticks: 10 ms, fine over a case's seconds of CPU).
snapshot() {
    {
        thread_ns | awk '{ t[$1] += $2 } END { for (k in t) print k, t[k] }'
        sed 's/.*) //' "/proc/$TOLLGATE_PID/stat" | awk -v hz="$(getconf CLK_TCK)" '{ printf "all %.0f\n", ($12 + $13) * 1e9 / hz }'
    } | sort
}

# A few of each first, so that first calls (plans, caches, allocations) are not counted.
export BENCH_COUNT_CODES=1
BENCH_DIR="$bench_root/bench" BENCH_NAME=warm wrk -t1 -c2 -d1s -s bench/get.lua "$BENCH_URL/health/live" >/dev/null
BENCH_DIR="$bench_root/bench" BENCH_NAME=warm BENCH_TOKENS_FILE="$tokens" BENCH_CODE= BENCH_PATH=/v1/auth/login/challenge \
    wrk -t1 -c2 -d1s -s bench/verify.lua "$BENCH_URL" >/dev/null

: >"$BENCH_STATE/bench.txt"
results="$BENCH_STATE/cpu.txt"
: >"$results"
for case in idle health verify_used verify_wrong_code challenge_poll verify_right; do
    snapshot >"$BENCH_STATE/before.txt"
    started="$(date +%s.%N)"
    if [ "$use_perf" = 1 ] && [ "$case" != idle ]; then
        perf record -q -e cpu-clock -F 499 -g -p "$TOLLGATE_PID" -o "$BENCH_STATE/perf-$case.data" >/dev/null 2>&1 &
        perf_pid=$!
        "load_$case"
        kill -INT "$perf_pid"
        wait "$perf_pid" || true
    else
        "load_$case"
    fi
    elapsed="$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')"
    snapshot >"$BENCH_STATE/after.txt"
    requests="$(bench_value "$BENCH_STATE/bench.txt" "$case" requests)"
    # CPU µs per request by thread kind, the idle rate taken off the total.
    join "$BENCH_STATE/before.txt" "$BENCH_STATE/after.txt" | awk -v n="$case" -v r="$requests" -v e="$elapsed" \
        -v idle="${idle_rate:-0}" '{ us[$1] = ($3 - $2) / 1000 }
        END {
            if (n == "idle") { printf "IDLE cpu_us_per_s=%.0f\n", us["all"] / e; exit }
            line = sprintf("CPU name=%s requests=%d seconds=%.2f cpu_us_per_request=%.1f", n, r, e, (us["all"] - idle * e) / r)
            for (k in us) if (k != "all") line = line sprintf(" %s=%.1f", k, us[k] / r)
            print line
        }' >>"$results"
    if [ "$case" = idle ]; then idle_rate="$(awk -F= '/^IDLE/ { print $2 }' "$results")"; fi
done

if [ "$use_perf" = 1 ]; then
    for case in health verify_used verify_wrong_code challenge_poll verify_right; do
        echo
        echo "== $case: top $top symbols by inclusive share of the server's samples (children, self)"
        # bench_frames (lib.sh) are left out: they say which thread, not what work.
        perf report -i "$BENCH_STATE/perf-$case.data" --children --sort symbol --stdio -g none 2>/dev/null |
            grep -E '^ +[0-9.]+%' | swift demangle --simplified 2>/dev/null |
            grep -v -E "$bench_frames" | awk -v top="$top" 'NR <= top' | cut -c1-190
    done
fi
echo
grep -h '^BENCH' "$BENCH_STATE/bench.txt"
cat "$results"
