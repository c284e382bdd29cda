#!/usr/bin/env bash
# The code-check hot path: POST /v1/auth/login/verify with a wrong code on one login
# challenge, against GET /health/live as the baseline, in one run of one server.
#
#   bench/verify.sh               # 10 s per case; DURATION, CONNECTIONS, PORT to change
#
# Turns 2FA on for the demo company directly in the private database (as its superuser),
# logs in to get a challenge, then hammers it. After CODE_MAX_ATTEMPTS (5) wrong entries the
# code is burned: most answers are then 401 too_many_attempts, the path an attacker who
# holds a token keeps hitting (the row is locked, looked up by token HMAC, and refused).
# The status counts in the BENCH line show exactly which answers were measured.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration="${DURATION:-10s}"
connections="${CONNECTIONS:-16}"
port="${PORT:-18081}"

start_tollgate "$port"
cd "$bench_root"

psql_superuser "UPDATE companies SET two_factor_enabled = true, two_factor_changed_at = now()
                WHERE id = (SELECT company_id FROM login_lookup('owner@demo.example'))" >/dev/null
answer="$(curl -fsS -X POST "$BENCH_URL/v1/auth/login" -H 'Content-Type: application/json' \
    -d '{"email":"owner@demo.example","password":"demo-owner-pass","client":"dashboard"}')"
token="$(printf '%s' "$answer" | python3 -c 'import json, sys; print(json.load(sys.stdin)["challenge"]["token"])')"

results="$BENCH_STATE/results.txt"
: >"$results"
run_wrk health_live -t2 -c"$connections" -d"$duration" -s bench/get.lua "$BENCH_URL/health/live" | tee -a "$results"
BENCH_CHALLENGE_TOKEN="$token" BENCH_CODE=000000 \
    run_wrk verify_wrong_code -t2 -c"$connections" -d"$duration" -s bench/verify.lua "$BENCH_URL" | tee -a "$results"

print_ratio "$results" verify_wrong_code health_live
