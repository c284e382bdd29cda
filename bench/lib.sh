# Shared by the bench scripts: start `tollgate dev` on loopback with a throwaway state
# folder, wait until it is ready, stop it (and its private PostgreSQL) on exit.
# shellcheck shell=bash

bench_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The binary: $TOLLGATE_BIN, else a release build, else a debug build of this checkout.
find_tollgate() {
    local candidate
    for candidate in "${TOLLGATE_BIN:-}" "$bench_root/.build/release/tollgate" "$bench_root/.build/debug/tollgate"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    echo "bench: no tollgate binary; run 'swift build -c release --product tollgate' or set TOLLGATE_BIN" >&2
    return 1
}

# start_tollgate PORT: starts `tollgate dev` in the background, sets TOLLGATE_PID,
# BENCH_STATE and BENCH_URL, and waits (at most 180 s) for /health/ready.
start_tollgate() {
    local port="$1" binary
    binary="$(find_tollgate)" || return 1
    BENCH_STATE="${BENCH_STATE:-$(mktemp -d /tmp/tollgate-bench.XXXXXX)}"
    # The private cluster runs as the unprivileged 'postgres' user when we are root: it
    # must be able to enter the state folder.
    chmod 755 "$BENCH_STATE"
    BENCH_URL="http://127.0.0.1:$port"
    echo "bench: $binary dev --state-directory $BENCH_STATE (log: $BENCH_STATE/tollgate.log)" >&2
    # Limits far above what a 10-second run reaches, so that the run measures the work of
    # a login and not the refusal of an abuse limit (the status counts below show it). A
    # caller's LIMIT_* wins: login-parity.sh sets LIMIT_LOGINS_PER_IP=1 to time refusals.
    env -u DATABASE_URL HOST=127.0.0.1 PORT="$port" LOG_LEVEL="${LOG_LEVEL:-warning}" \
        LIMIT_LOGINS_PER_IP="${LIMIT_LOGINS_PER_IP:-1000000}" LIMIT_FAILED_PASSWORDS="${LIMIT_FAILED_PASSWORDS:-100000}" \
        LIMIT_CHALLENGES_PER_ACCOUNT="${LIMIT_CHALLENGES_PER_ACCOUNT:-100000}" \
        LIMIT_WRONG_CODES_PER_ACCOUNT="${LIMIT_WRONG_CODES_PER_ACCOUNT:-100000}" \
        "$binary" dev --state-directory "$BENCH_STATE" >"$BENCH_STATE/tollgate.log" 2>&1 &
    TOLLGATE_PID=$!
    trap stop_tollgate EXIT
    local waited=0
    until curl -fsS -o /dev/null "$BENCH_URL/health/ready" 2>/dev/null; do
        if ! kill -0 "$TOLLGATE_PID" 2>/dev/null; then
            echo "bench: tollgate exited during start-up:" >&2
            tail -20 "$BENCH_STATE/tollgate.log" >&2
            return 1
        fi
        if [ "$waited" -ge 180 ]; then
            echo "bench: tollgate not ready after 180 s" >&2
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "bench: ready after ${waited} s" >&2
}

stop_tollgate() {
    if [ -n "${TOLLGATE_PID:-}" ] && kill -0 "$TOLLGATE_PID" 2>/dev/null; then
        kill -TERM "$TOLLGATE_PID"
        local waited=0
        while kill -0 "$TOLLGATE_PID" 2>/dev/null && [ "$waited" -lt 30 ]; do
            sleep 1
            waited=$((waited + 1))
        done
        kill -KILL "$TOLLGATE_PID" 2>/dev/null || true
    fi
    TOLLGATE_PID=
    # If the process died before stopping its cluster, stop the cluster here.
    if [ -n "${BENCH_STATE:-}" ] && [ -f "$BENCH_STATE/postgres/postmaster.pid" ]; then
        local pg_ctl
        # shellcheck disable=SC2012 # the folder names are PostgreSQL versions
        pg_ctl="$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -1)"
        if [ -n "$pg_ctl" ]; then
            if [ "$(id -u)" = 0 ]; then
                runuser -u postgres -- "$pg_ctl" -D "$BENCH_STATE/postgres" -m fast -w stop >/dev/null 2>&1 || true
            else
                "$pg_ctl" -D "$BENCH_STATE/postgres" -m fast -w stop >/dev/null 2>&1 || true
            fi
        fi
    fi
    if [ -n "${BENCH_STATE:-}" ] && [ -z "${BENCH_KEEP_STATE:-}" ]; then
        rm -rf "$BENCH_STATE"
    fi
}

# psql_superuser SQL: runs SQL on the dev database as the private cluster's superuser
# (the socket folder and port are in postmaster.pid, lines 5 and 4).
psql_superuser() {
    local pidfile="$BENCH_STATE/postgres/postmaster.pid" socket port
    socket="$(sed -n 5p "$pidfile")"
    port="$(sed -n 4p "$pidfile")"
    psql "host=$socket port=$port user=tollgate dbname=tollgate" -X -q -At -v ON_ERROR_STOP=1 -c "$1"
}

# run_wrk NAME ARGS...: runs wrk (loopback only) and prints the one BENCH line of its
# Lua script's done() (or of report.lua for GET runs).
run_wrk() {
    local name="$1"
    shift
    BENCH_DIR="$bench_root/bench" BENCH_NAME="$name" wrk --latency "$@" | tee -a "$BENCH_STATE/wrk.log" | grep '^BENCH '
}

# bench_value RESULTS NAME FIELD: one field (rps, p50_ms, statuses, ...) of a BENCH line.
bench_value() {
    grep "name=$2 " "$1" | tr ' ' '\n' | grep "^$3=" | cut -d= -f2
}

# print_ratio RESULTS A B: case A against case B of the same run (throughput and p50).
print_ratio() {
    echo
    awk -v a="$2" -v b="$3" -v ar="$(bench_value "$1" "$2" rps)" -v br="$(bench_value "$1" "$3" rps)" \
        -v a50="$(bench_value "$1" "$2" p50_ms)" -v b50="$(bench_value "$1" "$3" p50_ms)" 'BEGIN {
            printf "ratios (one run, one server): %s / %s: throughput %.3f, p50 %.1fx\n", a, b, ar / br, a50 / b50
        }'
}
