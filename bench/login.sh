#!/usr/bin/env bash
# Login timing: a wrong password for a real account against an unknown address, with
# GET /health/live as the baseline, in one run of one server. Both failures must answer
# alike in body and in time; the ratio of their latencies should be ~1.
#
#   bench/login.sh                # 10 s per case; DURATION=20s CONNECTIONS=4 PORT=18080 to change
#
# Starts `tollgate dev` itself (loopback, throwaway state folder) and stops it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration="${DURATION:-10s}"
# Password checks run PASSWORD_HASH_CONCURRENCY (one per core) at once; more connections only
# queue (and eventually answer 503 busy), which would measure the queue.
connections="${CONNECTIONS:-$(nproc)}"
port="${PORT:-18080}"

start_tollgate "$port"
cd "$bench_root"

results="$BENCH_STATE/results.txt"
: >"$results"
run_wrk health_live -t2 -c16 -d"$duration" -s bench/get.lua "$BENCH_URL/health/live" | tee -a "$results"
# The demo account of `tollgate dev` (DevCommand.swift), with a wrong password.
BENCH_EMAIL=owner@demo.example BENCH_PASSWORD=wrong-password \
    run_wrk wrong_password -t2 -c"$connections" -d"$duration" -s bench/login.lua "$BENCH_URL" | tee -a "$results"
BENCH_EMAIL=nobody@demo.example BENCH_PASSWORD=wrong-password \
    run_wrk unknown_email -t2 -c"$connections" -d"$duration" -s bench/login.lua "$BENCH_URL" | tee -a "$results"

value() { bench_value "$results" "$1" "$2"; }
echo
echo "ratios (one run, one server):"
awk -v wm="$(value wrong_password mean_ms)" -v um="$(value unknown_email mean_ms)" \
    -v w50="$(value wrong_password p50_ms)" -v u50="$(value unknown_email p50_ms)" \
    -v w99="$(value wrong_password p99_ms)" -v u99="$(value unknown_email p99_ms)" \
    -v h50="$(value health_live p50_ms)" 'BEGIN {
        printf "  wrong password / unknown email: mean %.2f, p50 %.2f, p99 %.2f  (1.00 = indistinguishable)\n", wm / um, w50 / u50, w99 / u99
        printf "  login p50 / health p50: wrong password %.0fx, unknown email %.0fx\n", w50 / h50, u50 / h50
    }'
# Every login answer must be 401: anything else (429, 503) means a limit was measured.
for name in wrong_password unknown_email; do
    statuses="$(value "$name" statuses)"
    if [ "$statuses" != "${statuses%%,*}" ] || [ "${statuses%%:*}" != 401 ]; then
        echo "bench: $name answered $statuses, not only 401: the timing includes refusals" >&2
        exit 1
    fi
done
