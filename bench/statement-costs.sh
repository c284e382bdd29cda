#!/usr/bin/env bash
# Where a login's database time goes: PostgreSQL's own timing of each statement's parse, bind
# (which plans, for the unnamed statements Tollgate sends) and execute, averaged over LOGINS
# logins with a wrong password, sent one after another (no contention), from the server's log
# (log_min_duration_statement = 0 on the private cluster of `tollgate dev`).
#
#   bench/statement-costs.sh      # LOGINS (200), PORT
#
# Prints one line per statement and phase, the costliest first, and the total per login.
# COMMIT's execute time is mostly the WAL flush (waiting for the disk, not CPU).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

logins="${LOGINS:-200}"
port="${PORT:-18094}"

start_tollgate "$port"
cd "$bench_root"
log="$BENCH_STATE/postgres/server.log"

# A few logins first, so that every pooled connection has its caches warm.
for _ in 1 2 3 4 5 6 7 8; do login_json owner@demo.example wrong-password >/dev/null; done
psql_superuser "ALTER SYSTEM SET log_min_duration_statement = 0" >/dev/null
psql_superuser "SELECT pg_reload_conf()" >/dev/null
# The reload reaches each backend before its next statement; mark where the measured part starts.
psql_superuser "SELECT 'bench: statement costs start'" >/dev/null
start_line="$(grep -n 'bench: statement costs start' "$log" | tail -1 | cut -d: -f1)"
for _ in $(seq 1 "$logins"); do login_json owner@demo.example wrong-password >/dev/null; done
psql_superuser "ALTER SYSTEM RESET log_min_duration_statement" >/dev/null
psql_superuser "SELECT pg_reload_conf()" >/dev/null

# Only the API's statements: the worker's (the email queue, retention) run on their own timers.
tail -n +"$start_line" "$log" | grep -F 'duration:' | grep -v -e 'WITH due AS' -e 'AS depth' -e 'bench: statement' \
    -e 'log_min_duration_statement' -e 'pg_reload_conf' |
    awk -v logins="$logins" '{
        ms = $7; phase = $9
        $1 = $2 = $3 = $4 = $5 = $6 = $7 = $8 = $9 = $10 = ""
        statement = substr($0, 11, 60)
        key = phase "\t" statement
        total[key] += ms
        if (phase != "execute" || statement !~ /^COMMIT/) cpu += ms
        all += ms
    }
    END {
        for (key in total) printf "%8.3f ms  %s\n", total[key] / logins, key
        printf "%8.3f ms  per login in all (%.3f ms without COMMIT'"'"'s execute)\n", all / logins, cpu / logins > "/dev/stderr"
    }' | sort -rn
