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
#   challenge_poll     POST /v1/auth/login/challenge on the same challenges (the code
#                      screen's poll: the challenge read, locked while pending)
#
#   pgbench_used_each / pgbench_used_one
#                      the database's ceiling for verify_used (VERIFY_PGBENCH=0 skips it):
#                      its statements as the API role, one round trip each, and all in one
#   pgbench_used_server / pgbench_wrong_server / pgbench_poll_server
#                      exactly the statements the server sends for verify_used, for a wrong
#                      code (writes and COMMIT included) and for the poll, each request's in
#                      one round trip; the last lines give each case's share of the limit
#                      1 / (1 / health_live + 1 / its pgbench) (issue 27)
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

prepare_verify "$challenges"
used_token="$VERIFY_USED_TOKEN" used_code="$VERIFY_USED_CODE" burned_token="$VERIFY_BURNED_TOKEN" tokens="$VERIFY_TOKENS"

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
BENCH_TOKENS_FILE="$tokens" BENCH_CODE= BENCH_PATH=/v1/auth/login/challenge \
    run_wrk challenge_poll -t2 -c"$connections" -d"$duration" -s bench/verify.lua "$BENCH_URL" | tee -a "$results"
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
    # The server's own statements for a wrong code (verify_wrong_code) and for the challenge
    # poll (challenge_poll), as PostgreSQL logs them with log_statement = all, each request's
    # in one message: the lookup (a pending challenge locked), then for a wrong code the
    # attempt counted, the wrong total, the account's hourly count (rate_limit_hit), its run
    # of wrong codes and the event, and COMMIT. One file per challenge of the first
    # PGBENCH_CHALLENGES (100; pgbench takes at most 128 files) of verify_wrong_code's, picked
    # at random per transaction, as wrk spreads its requests; their max_attempts is raised
    # first so that every counted attempt still writes, as in the server's run.
    psql_superuser "UPDATE challenges SET max_attempts = 1000000 WHERE state = 'pending'" >/dev/null
    psql_superuser "SELECT ch.id, ch.user_id, upper(ch.user_id::text), encode(ch.token_hash, 'hex'), u.email, ch.company_id
                    FROM challenges ch JOIN users u ON u.id = ch.user_id
                    WHERE ch.state = 'pending' AND u.email LIKE 'bench-%' AND u.email <> 'bench-0@demo.example'
                    ORDER BY ch.id LIMIT ${PGBENCH_CHALLENGES:-100}" >"$BENCH_STATE/pending.txt"
    mkdir -p "$BENCH_STATE/wrong" "$BENCH_STATE/poll"
    wrong_files=() poll_files=()
    while IFS='|' read -r challenge user user_key token_hash email pending_company; do
        opening="BEGIN ISOLATION LEVEL READ COMMITTED \\; SELECT set_config('app.company_id', '$pending_company', true),
            set_config('statement_timeout', '10000', true) \\;"
        locate="SELECT ch.*, clock_timestamp() AS database_now, now() AS transaction_start"
        from="FROM challenge_locate('login', '{\"\\\\x$token_hash\"}'::bytea[], NULL, NULL) ch"
        printf '%s\n' "$opening $locate $from \\;
            UPDATE challenges SET attempts = attempts + 1 WHERE company_id = app_company() AND id = '$challenge' AND state = 'pending'
              AND attempts < max_attempts AND code_expires_at > now() AND lifetime_ends_at > now() \\;
            UPDATE challenges SET wrong_total = wrong_total + 1 WHERE company_id = app_company() AND id = '$challenge' \\;
            SELECT count(*) FROM (SELECT last_refused, refused, seconds FROM rate_limit_hit('wrong_codes:$user_key', 100000, 3600, true)) hit \\;
            UPDATE users SET consecutive_wrong_codes = consecutive_wrong_codes + 1,
                locked_until = CASE WHEN consecutive_wrong_codes + 1 >= 100 THEN now() + make_interval(secs => 86400) ELSE locked_until END
            WHERE company_id = app_company() AND id = '$user' \\;
            INSERT INTO events (company_id, type, user_id, email, ip, user_agent, detail)
            VALUES ('$pending_company', 'login.code_failed', '$user', '$email', '127.0.0.1', 'tollgate-bench/wrk',
                    '{\"challenge_id\": \"$challenge\", \"resends_remaining\": 3, \"attempts_remaining\": 99}') \\;
            COMMIT" | tr '\n' ' ' >"$BENCH_STATE/wrong/$challenge.sql"
        printf '%s\n' "$opening $locate, o.status AS email_status $from LEFT JOIN email_outbox o ON o.id = ch.email_id \\; COMMIT" |
            tr '\n' ' ' >"$BENCH_STATE/poll/$challenge.sql"
        echo >>"$BENCH_STATE/wrong/$challenge.sql"
        echo >>"$BENCH_STATE/poll/$challenge.sql"
        wrong_files+=(-f "$BENCH_STATE/wrong/$challenge.sql")
        poll_files+=(-f "$BENCH_STATE/poll/$challenge.sql")
    done <"$BENCH_STATE/pending.txt"
    # pgbench_NAME MODE FILE-ARGUMENTS...
    run_pgbench() {
        local name="$1" mode="$2"
        shift 2
        pgbench -n -c 4 -j 2 -T "${duration%s}" -M "$mode" "$@" \
            -h "$(sed -n 5p "$pidfile")" -p "$(sed -n 4p "$pidfile")" -U tollgate_api tollgate >"$BENCH_STATE/pgbench-$name.txt" 2>&1 || {
            cat "$BENCH_STATE/pgbench-$name.txt" >&2
            return 0
        }
        awk -v name="pgbench_$name" '/^tps = / { tps = $3 } /^latency average/ { lat = $4 }
            END { printf "BENCH name=%s rps=%.1f mean_ms=%.3f\n", name, tps, lat }' "$BENCH_STATE/pgbench-$name.txt" | tee -a "$results"
    }
    for variant in each:extended one:simple server:simple; do
        run_pgbench "used_${variant%%:*}" "${variant##*:}" -f "$BENCH_STATE/used-${variant%%:*}.sql"
    done
    if [ "${#wrong_files[@]}" -gt 0 ]; then
        run_pgbench wrong_server simple "${wrong_files[@]}"
        run_pgbench poll_server simple "${poll_files[@]}"
    fi
fi

for name in verify_used verify_burned verify_wrong_code challenge_poll; do
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
# The issue 27 share: each case against the limit its own database work and an empty request
# set together, 1 / (1 / health_live + 1 / pgbench of the server's statements in one round trip).
share() {
    local case="$1" pg="$2"
    grep -q "name=$pg " "$results" || return 0
    awk -v c="$case" -v r="$(bench_value "$results" "$case" rps)" -v p99="$(bench_value "$results" "$case" p99_ms)" \
        -v h="$(bench_value "$results" health_live rps)" -v p="$(bench_value "$results" "$pg" rps)" 'BEGIN {
            limit = 1 / (1 / h + 1 / p)
            printf "share %s: %.0f req/s of limit %.0f = %.2f (p99 %s ms; issue 27 goal >= 0.7)\n", c, r, limit, r / limit, p99
        }'
}
echo
share verify_used pgbench_used_server
share verify_wrong_code pgbench_wrong_server
share challenge_poll pgbench_poll_server

