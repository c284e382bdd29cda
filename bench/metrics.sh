#!/usr/bin/env bash
# The cost of a Prometheus scrape: GET /metrics, which counts the open challenges of every
# company at each scrape (open_challenges()), against GET /health/live, in one run of one
# server, with many ended challenges in the table (ENDED, default 200000) and some open
# ones (OPEN, default 1000).
#
#   bench/metrics.sh              # 10 s per case; DURATION, CONNECTIONS, PORT, ENDED, OPEN
#
# Scrapers ask every 15 s or so; the number that matters is that a scrape stays cheap as
# the table grows, which is what the partial index challenges_awaiting_code is for. The
# plan of the counting query is printed too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration="${DURATION:-10s}"
connections="${CONNECTIONS:-4}"
port="${PORT:-18082}"
ended="${ENDED:-200000}"
open="${OPEN:-1000}"

# /metrics has a listener of its own (METRICS_PORT), never the API's port.
export METRICS_PORT="${METRICS_PORT:-$((port + 1))}"
metrics_url="http://127.0.0.1:$METRICS_PORT/metrics"
start_tollgate "$port"
cd "$bench_root"

fill() {
    psql_superuser "INSERT INTO challenges (company_id, user_id, purpose, code_hash, code_expires_at, max_attempts, max_resends, state)
                    SELECT u.company_id, u.id, 'login', sha256(g::text::bytea), $2, 5, 3, '$3'
                    FROM users u, generate_series(1, $1) g WHERE u.email = 'owner@demo.example'" >/dev/null
}
fill "$ended" "now() - interval '1 day'" used
fill "$open" "now() + interval '1 day'" pending
psql_superuser "ANALYZE challenges" >/dev/null
scraped="$(curl -fsS "$metrics_url" | grep '^tollgate_challenges_open{purpose="login"}')"
echo "bench: $scraped (expected $open)" >&2

echo "bench: the counting query's plan:" >&2
psql_superuser "EXPLAIN (ANALYZE, COSTS OFF) SELECT c.purpose, count(*) FROM public.challenges c
                WHERE c.state = 'pending' AND c.code_expires_at > now() GROUP BY c.purpose" >&2

results="$BENCH_STATE/results.txt"
: >"$results"
run_wrk health_live -t2 -c"$connections" -d"$duration" -s bench/get.lua "$BENCH_URL/health/live" | tee -a "$results"
run_wrk metrics -t2 -c"$connections" -d"$duration" -s bench/get.lua "$metrics_url" | tee -a "$results"

print_ratio "$results" metrics health_live
