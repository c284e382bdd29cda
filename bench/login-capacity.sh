#!/usr/bin/env bash
# Login throughput against the raw hashing rate of the same machine, and the health
# endpoint's latency while logins hash, in one run of one server:
#
#   argon2id_raw            Argon2id verifications/s with the server's parameters (m = 19 MiB,
#                           t = 2, p = 1) through the libsodium the binary links, in
#                           PASSWORD_HASH_CONCURRENCY processes (bench/argon2-rate.py): the
#                           server's default, one per core, which is also the cores' best rate
#   wrong_password          POST /v1/auth/login, a wrong password (all 401), LOGIN_CONNECTIONS
#                           (twice the hashing threads)
#   health_live             GET /health/live alone (16 connections)
#   health_live_during_logins  the same, while LOGIN_FLOOD (100) connections send logins
#   logins_during_health    those logins (their statuses show how many waited for a hash
#                           slot and how many were refused 503 busy)
#
#   bench/login-capacity.sh       # 10 s per case; DURATION, PORT, LOGIN_FLOOD, LOGIN_CONNECTIONS
#
# Goals (issue 13): logins/s ≥ 0.9 × raw hashes/s; /health/live p99 < 10 ms while 100 logins hash.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration="${DURATION:-10s}"
port="${PORT:-18088}"
flood="${LOGIN_FLOOD:-100}"
hashers="${PASSWORD_HASH_CONCURRENCY:-$(nproc)}"
# Capacity is measured at saturation: twice as many connections as hashing threads, so that a
# thread always has a login waiting while another login is in the database or on the wire.
login_connections="${LOGIN_CONNECTIONS:-$(( 2 * hashers ))}"

start_tollgate "$port"
cd "$bench_root"

results="$BENCH_STATE/results.txt"
: >"$results"
python3 bench/argon2-rate.py --processes "$hashers" --seconds "${duration%s}" | tee -a "$results"
BENCH_EMAIL=owner@demo.example BENCH_PASSWORD=wrong-password \
    run_wrk wrong_password -t2 -c"$login_connections" -d"$duration" -s bench/login.lua "$BENCH_URL" | tee -a "$results"
run_wrk health_live -t2 -c16 -d"$duration" -s bench/get.lua "$BENCH_URL/health/live" | tee -a "$results"

# The flood starts first and runs a little longer, so that the health run sits inside it.
(BENCH_EMAIL=owner@demo.example BENCH_PASSWORD=wrong-password BENCH_COUNT_CODES=1 \
    run_wrk logins_during_health -t2 -c"$flood" -d"$(( ${duration%s} + 4 ))s" --timeout 30s -s bench/login.lua "$BENCH_URL" \
    >"$BENCH_STATE/flood.txt") &
flood_pid=$!
sleep 2
peak_rss="$(rss_mib "$TOLLGATE_PID")"
run_wrk health_live_during_logins -t1 -c16 -d"$duration" -s bench/get.lua "$BENCH_URL/health/live" | tee -a "$results"
peak_rss="$(printf '%s\n%s\n' "$peak_rss" "$(rss_mib "$TOLLGATE_PID")" | sort -n | tail -1)"
wait "$flood_pid"
tee -a "$results" <"$BENCH_STATE/flood.txt"
echo "bench: server RSS during the login flood: $peak_rss MiB" >&2

value() { bench_value "$results" "$1" "$2"; }
echo
echo "ratios (one run, one server):"
awk -v logins="$(value wrong_password rps)" -v raw="$(value argon2id_raw rps)" \
    -v h99="$(value health_live p99_ms)" -v f99="$(value health_live_during_logins p99_ms)" 'BEGIN {
        printf "  logins/s / raw Argon2id verifications/s: %.3f  (goal >= 0.9)\n", logins / raw
        printf "  /health/live p99 while logins hash: %.2f ms  (alone %.2f ms; goal < 10 ms)\n", f99, h99
    }'
