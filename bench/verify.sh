#!/usr/bin/env bash
# The code-check hot path, POST /v1/auth/login/verify, against GET /health/live as the
# baseline, in one run of one server (64 connections each by default):
#
#   verify_used        the right code again on a challenge that was already used: found
#                      used (an ended challenge is read without its row lock, migration
#                      0015) and the replay refused
#   verify_burned      a wrong code on one challenge: the first 99 answers count a wrong
#                      code (401 invalid_code), the 100th locks the account (403
#                      account_locked) and closes the challenge, and every later
#                      answer is the refusal an attacker holding one token keeps getting
#                      (410 challenge_closed)
#   verify_wrong_code  a wrong code spread over VERIFY_CHALLENGES challenges (one per
#                      account): every answer counts the attempt, the account's limit and
#                      writes an event (the 401 invalid_code path)
#
#   pgbench_used_each / pgbench_used_one
#                      the database's ceiling for verify_used (VERIFY_PGBENCH=0 skips it):
#                      its statements as the API role, one round trip each, and all in one
#
#   bench/verify.sh               # 10 s per case; DURATION, CONNECTIONS, PORT, VERIFY_CHALLENGES
#
# Turns 2FA on for the demo company directly in the private database (as its superuser),
# adds VERIFY_CHALLENGES accounts there (with the owner's password hash, so no hashing is
# needed to make them) and logs each in once to get a challenge. CODE_MAX_ATTEMPTS is raised
# to 100 so that about VERIFY_CHALLENGES × 99 wrong codes can be sent before the accounts lock. The
# BENCH lines count answers by status and error code, so each shows what it measured.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration="${DURATION:-10s}"
connections="${CONNECTIONS:-64}"
port="${PORT:-18081}"
challenges="${VERIFY_CHALLENGES:-300}"
export CODE_MAX_ATTEMPTS="${CODE_MAX_ATTEMPTS:-100}"

start_tollgate "$port"
cd "$bench_root"

psql_superuser "UPDATE companies SET two_factor_enabled = true, two_factor_changed_at = now()
                WHERE id = (SELECT company_id FROM login_lookup('owner@demo.example'))" >/dev/null
psql_superuser "INSERT INTO users (company_id, email, role, password_hash)
                SELECT company_id, 'bench-' || g || '@demo.example', 'admin', password_hash
                FROM users, generate_series(0, $challenges) g WHERE email = 'owner@demo.example'" >/dev/null

# verify_used: a challenge whose code was accepted once.
token="$(login_json owner@demo.example demo-owner-pass | json_field challenge.token)"
code="$(latest_code owner@demo.example)"
first="$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$BENCH_URL/v1/auth/login/verify" \
    -H 'Content-Type: application/json' -d "{\"challenge_token\":\"$token\",\"code\":\"$code\"}")"
if [ "$first" != 200 ]; then
    echo "bench: the first verify of the owner's code answered $first, not 200" >&2
    exit 1
fi
used_token="$token"
used_code="$code"

# verify_burned: one more account's challenge; verify_wrong_code: the others', one each.
burned_token="$(login_json bench-0@demo.example demo-owner-pass | json_field challenge.token)"
tokens="$BENCH_STATE/tokens.txt"
started=$(date +%s.%N)
mkdir -p "$BENCH_STATE/logins"
seq 1 "$challenges" | xargs -P 4 -I{} curl -sS -o "$BENCH_STATE/logins/{}.json" -X POST "$BENCH_URL/v1/auth/login" \
    -H 'Content-Type: application/json' \
    -d '{"email":"bench-{}@demo.example","password":"demo-owner-pass","client":"dashboard"}'
python3 - "$BENCH_STATE/logins" >"$tokens" <<'PY'
import json, os, sys
for name in sorted(os.listdir(sys.argv[1])):
    with open(os.path.join(sys.argv[1], name)) as handle:
        print(json.load(handle)["challenge"]["token"])
PY
echo "bench: $(wc -l <"$tokens") challenges for verify_wrong_code in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s" >&2

results="$BENCH_STATE/results.txt"
: >"$results"
export BENCH_COUNT_CODES=1
run_wrk health_live -t2 -c"$connections" -d"$duration" -s bench/get.lua "$BENCH_URL/health/live" | tee -a "$results"
BENCH_CHALLENGE_TOKEN="$used_token" BENCH_CODE="$used_code" \
    run_wrk verify_used -t2 -c"$connections" -d"$duration" -s bench/verify.lua "$BENCH_URL" | tee -a "$results"
BENCH_CHALLENGE_TOKEN="$burned_token" BENCH_CODE=000000 \
    run_wrk verify_burned -t2 -c"$connections" -d"$duration" -s bench/verify.lua "$BENCH_URL" | tee -a "$results"
BENCH_TOKENS_FILE="$tokens" BENCH_CODE=000000 \
    run_wrk verify_wrong_code -t2 -c"$connections" -d"$duration" -s bench/verify.lua "$BENCH_URL" | tee -a "$results"
echo "bench: server RSS after the run: $(rss_mib "$TOLLGATE_PID") MiB" >&2

# The database's ceiling for verify_used, by pgbench as the API role on the same cluster, 4
# clients (the server's pool): the refusal's statements (tenant setting, the challenge locked
# and joined to its account, commit) sent one per round trip, and all in one message.
if [ "${VERIFY_PGBENCH:-1}" = 1 ] && command -v pgbench >/dev/null; then
    pidfile="$BENCH_STATE/postgres/postmaster.pid"
    read -r company hash <<<"$(psql_superuser "SELECT company_id, encode(token_hash, 'hex') FROM challenges
                                               WHERE state = 'used' AND token_hash IS NOT NULL LIMIT 1" | tr '|' ' ')"
    lookup="SELECT c.state, c.attempts, c.max_attempts, c.code_expires_at, u.role, u.locked_until
            FROM challenges c JOIN users u ON u.company_id = c.company_id AND u.id = c.user_id
            WHERE c.company_id = '$company' AND c.token_hash = '\\x$hash'::bytea FOR UPDATE OF c"
    printf '%s\n' "BEGIN;" "SELECT set_config('app.company_id', '$company', true);" "$lookup;" "COMMIT;" \
        >"$BENCH_STATE/used-each.sql"
    printf '%s\n' "BEGIN \\; SELECT set_config('app.company_id', '$company', true) \\; $lookup \\; COMMIT" \
        >"$BENCH_STATE/used-one.sql"
    # The server's own statements for verify_used, as ChallengeStore.locate writes them (the
    # token matched against an array of candidate MACs by challenge_locate, which reads an
    # ended challenge without its lock and joins its user, the statement timeout set), in one
    # message: the ceiling for exactly the work the server asks for.
    server_lookup="SELECT ch.*, clock_timestamp() AS database_now, now() AS transaction_start
            FROM challenge_locate('login', '{\"\\\\x$hash\"}'::bytea[], NULL, NULL) ch"
    printf '%s\n' "BEGIN ISOLATION LEVEL READ COMMITTED \\; SELECT set_config('app.company_id', '$company', true),
        set_config('statement_timeout', '10000', true) \\; $server_lookup \\; COMMIT" | tr '\n' ' ' >"$BENCH_STATE/used-server.sql"
    echo >>"$BENCH_STATE/used-server.sql"
    for variant in each:extended one:simple server:simple; do
        file="${variant%%:*}"
        pgbench -n -c 4 -j 2 -T "${duration%s}" -M "${variant##*:}" -f "$BENCH_STATE/used-$file.sql" \
            -h "$(sed -n 5p "$pidfile")" -p "$(sed -n 4p "$pidfile")" -U tollgate_api tollgate >"$BENCH_STATE/pgbench-$file.txt" 2>&1 || {
            cat "$BENCH_STATE/pgbench-$file.txt" >&2
            continue
        }
        awk -v name="pgbench_used_$file" '/^tps = / { tps = $3 } /^latency average/ { lat = $4 }
            END { printf "BENCH name=%s rps=%.1f mean_ms=%.3f\n", name, tps, lat }' "$BENCH_STATE/pgbench-$file.txt" | tee -a "$results"
    done
fi

for name in verify_used verify_burned verify_wrong_code; do
    print_ratio "$results" "$name" health_live
done
if grep -q 'name=pgbench_used_one ' "$results"; then
    awk -v v="$(bench_value "$results" verify_used rps)" -v each="$(bench_value "$results" pgbench_used_each rps)" \
        -v one="$(bench_value "$results" pgbench_used_one rps)" 'BEGIN {
            printf "\nverify_used / pgbench ceiling: %.2f of one statement per round trip, %.2f of one round trip (issue 13 goal: >= 0.6 of one round trip)\n", v / each, v / one
        }'
fi
if grep -q 'name=pgbench_used_server ' "$results"; then
    awk -v v="$(bench_value "$results" verify_used rps)" -v server="$(bench_value "$results" pgbench_used_server rps)" \
        -v one="$(bench_value "$results" pgbench_used_one rps)" 'BEGIN {
            printf "verify_used / the server'"'"'s own statements in one round trip: %.2f (and those statements / the plain lookup: %.2f)\n", v / server, server / one
        }'
fi
