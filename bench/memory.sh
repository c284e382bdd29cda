#!/usr/bin/env bash
# The server's resident memory (ps -o rss of the `tollgate dev` process: the API, its email
# worker and retention timer in one process; PostgreSQL's processes are not counted), idle
# and under load, in one run:
#
#   idle            after start-up, before any request
#   logins          peak while LOGIN_FLOOD (100) connections send logins (one hash a core at a time)
#                   and 64 connections ask GET /health/live
#   verify          peak while 64 connections send a wrong code to one challenge
#   after           5 s after the load stopped
#
#   bench/memory.sh               # 10 s per load; DURATION, PORT, LOGIN_FLOOD
#
# Goal (issue 13): < 64 MiB besides the hashing memory, PASSWORD_HASH_CONCURRENCY × 19 MiB.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration="${DURATION:-10s}"
port="${PORT:-18086}"
flood="${LOGIN_FLOOD:-100}"
hashers="${PASSWORD_HASH_CONCURRENCY:-$(nproc)}"

start_tollgate "$port"
cd "$bench_root"
sleep 3
idle="$(rss_mib "$TOLLGATE_PID")"

sample_peak() { # sample_peak FILE: the largest RSS seen every 0.2 s, until FILE.stop exists
    local peak=0 now
    while [ ! -e "$1.stop" ]; do
        now="$(rss_mib "$TOLLGATE_PID")"
        peak="$(awk -v a="$peak" -v b="$now" 'BEGIN { print (b > a ? b : a) }')"
        echo "$peak" >"$1"
        sleep 0.2
    done
}

results="$BENCH_STATE/results.txt"
: >"$results"
sample_peak "$BENCH_STATE/peak-logins" &
sampler=$!
BENCH_EMAIL=owner@demo.example BENCH_PASSWORD=wrong-password BENCH_COUNT_CODES=1 \
    run_wrk logins -t1 -c"$flood" -d"$duration" --timeout 30s -s bench/login.lua "$BENCH_URL" >>"$results" &
loader=$!
run_wrk health_live -t1 -c64 -d"$duration" -s bench/get.lua "$BENCH_URL/health/live" >>"$results"
wait "$loader"
touch "$BENCH_STATE/peak-logins.stop"
wait "$sampler"

psql_superuser "UPDATE companies SET two_factor_enabled = true, two_factor_changed_at = now()
                WHERE id = (SELECT company_id FROM login_lookup('owner@demo.example'))" >/dev/null
token="$(login_json owner@demo.example demo-owner-pass | json_field challenge.token)"
sample_peak "$BENCH_STATE/peak-verify" &
sampler=$!
BENCH_CHALLENGE_TOKEN="$token" BENCH_CODE=000000 BENCH_COUNT_CODES=1 \
    run_wrk verify -t2 -c64 -d"$duration" -s bench/verify.lua "$BENCH_URL" >>"$results"
touch "$BENCH_STATE/peak-verify.stop"
wait "$sampler"
sleep 5
after="$(rss_mib "$TOLLGATE_PID")"

cat "$results"
budget=$((64 + hashers * 19))
awk -v idle="$idle" -v logins="$(cat "$BENCH_STATE/peak-logins")" -v verify="$(cat "$BENCH_STATE/peak-verify")" \
    -v after="$after" -v budget="$budget" -v hashers="$hashers" 'BEGIN {
        printf "BENCH name=rss idle_mib=%s logins_peak_mib=%s verify_peak_mib=%s after_mib=%s goal_mib=%d\n", idle, logins, verify, after, budget
        printf "\nRSS: idle %s MiB, peak during logins %s MiB, during verify %s MiB, 5 s after %s MiB; goal < 64 + %d x 19 = %d MiB\n", idle, logins, verify, after, hashers, budget
    }'
