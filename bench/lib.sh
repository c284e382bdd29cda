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
    # TOLLGATE_WRAPPER (an array, e.g. instructions.sh's valgrind) runs in front of the binary.
    env -u DATABASE_URL HOST=127.0.0.1 PORT="$port" LOG_LEVEL="${LOG_LEVEL:-warning}" \
        LIMIT_LOGINS_PER_IP="${LIMIT_LOGINS_PER_IP:-1000000}" LIMIT_FAILED_PASSWORDS="${LIMIT_FAILED_PASSWORDS:-100000}" \
        LIMIT_CHALLENGES_PER_ACCOUNT="${LIMIT_CHALLENGES_PER_ACCOUNT:-100000}" \
        LIMIT_WRONG_CODES_PER_ACCOUNT="${LIMIT_WRONG_CODES_PER_ACCOUNT:-100000}" \
        ${TOLLGATE_WRAPPER[@]+"${TOLLGATE_WRAPPER[@]}"} "$binary" dev --state-directory "$BENCH_STATE" >"$BENCH_STATE/tollgate.log" 2>&1 &
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
    echo "bench: ready after ${waited} s; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores" >&2
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
        -v a50="$(bench_value "$1" "$2" p50_ms)" -v b50="$(bench_value "$1" "$3" p50_ms)" \
        -v a99="$(bench_value "$1" "$2" p99_ms)" -v b99="$(bench_value "$1" "$3" p99_ms)" 'BEGIN {
            printf "ratios (one run, one server): %s / %s: throughput %.3f, p50 %.1fx, p99 %.1fx\n", a, b, ar / br, a50 / b50, a99 / b99
        }'
}

# rss_mib PID: the resident set of a process in MiB (ps -o rss, which reports KiB).
rss_mib() {
    ps -o rss= -p "$1" | awk '{ printf "%.1f", $1 / 1024 }'
}

# latest_code EMAIL: the six-digit code of the newest email to EMAIL that `tollgate dev`'s
# worker wrote to its mail folder (waits at most 15 s for it to appear).
latest_code() {
    local waited=0 code
    while [ "$waited" -lt 30 ]; do
        code="$(python3 - "$BENCH_STATE/mail" "$1" <<'PY'
import email, email.policy, os, re, sys
folder, recipient = sys.argv[1], sys.argv[2]
found = []
for name in os.listdir(folder) if os.path.isdir(folder) else []:
    if not name.endswith(".eml"):
        continue
    path = os.path.join(folder, name)
    with open(path, "rb") as handle:
        message = email.message_from_binary_file(handle, policy=email.policy.default)
    if recipient not in str(message["To"]):
        continue
    part = message.get_body(preferencelist=("plain",))
    match = re.search(r"\b(\d{6})\b", part.get_content() if part else "")
    if match:
        found.append((os.path.getmtime(path), match.group(1)))
print(max(found)[1] if found else "")
PY
)"
        if [ -n "$code" ]; then
            echo "$code"
            return 0
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    echo "bench: no code email for $1 in $BENCH_STATE/mail" >&2
    return 1
}

# login_json EMAIL PASSWORD: POST /v1/auth/login as the dashboard client; prints the answer.
login_json() {
    curl -sS -X POST "$BENCH_URL/v1/auth/login" -H 'Content-Type: application/json' \
        -d "{\"email\":\"$1\",\"password\":\"$2\",\"client\":\"dashboard\"}"
}

# json_field PATH: one field of the JSON on standard input, e.g. json_field challenge.token.
json_field() {
    python3 -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[key]
print(value)' "$1"
}

# prepare_verify COUNT: turns 2FA on for the demo company directly in the private database (as
# its superuser), adds COUNT + 1 accounts there (with the owner's password hash, so no hashing
# is needed to make them) and logs each in once. Sets VERIFY_USED_TOKEN and VERIFY_USED_CODE
# (the owner's challenge, its code accepted once), VERIFY_BURNED_TOKEN (one more account's
# challenge) and VERIFY_TOKENS (a file of the other COUNT accounts' tokens, one a line).
prepare_verify() {
    local count="$1" first started
    psql_superuser "UPDATE companies SET two_factor_enabled = true, two_factor_changed_at = now()
                    WHERE id = (SELECT company_id FROM login_lookup('owner@demo.example'))" >/dev/null
    psql_superuser "INSERT INTO users (company_id, email, role, password_hash)
                    SELECT company_id, 'bench-' || g || '@demo.example', 'admin', password_hash
                    FROM users, generate_series(0, $count) g WHERE email = 'owner@demo.example'" >/dev/null

    # verify_used: a challenge whose code was accepted once.
    VERIFY_USED_TOKEN="$(login_json owner@demo.example demo-owner-pass | json_field challenge.token)"
    VERIFY_USED_CODE="$(latest_code owner@demo.example)"
    first="$(curl -sS -o /dev/null -w '%{http_code}' -X POST "$BENCH_URL/v1/auth/login/verify" \
        -H 'Content-Type: application/json' -d "{\"challenge_token\":\"$VERIFY_USED_TOKEN\",\"code\":\"$VERIFY_USED_CODE\"}")"
    if [ "$first" != 200 ]; then
        echo "bench: the first verify of the owner's code answered $first, not 200" >&2
        return 1
    fi

    # verify_burned: one more account's challenge; verify_wrong_code: the others', one each.
    VERIFY_BURNED_TOKEN="$(login_json bench-0@demo.example demo-owner-pass | json_field challenge.token)"
    VERIFY_TOKENS="$BENCH_STATE/tokens.txt"
    started=$(date +%s.%N)
    mkdir -p "$BENCH_STATE/logins"
    seq 1 "$count" | xargs -P "${BENCH_LOGIN_PARALLEL:-4}" -I{} curl -sS -o "$BENCH_STATE/logins/{}.json" -X POST "$BENCH_URL/v1/auth/login" \
        -H 'Content-Type: application/json' \
        -d '{"email":"bench-{}@demo.example","password":"demo-owner-pass","client":"dashboard"}'
    python3 - "$BENCH_STATE/logins" >"$VERIFY_TOKENS" <<'PY'
import json, os, sys
for name in sorted(os.listdir(sys.argv[1])):
    with open(os.path.join(sys.argv[1], name)) as handle:
        print(json.load(handle)["challenge"]["token"])
PY
    echo "bench: $(wc -l <"$VERIFY_TOKENS") challenges for verify_wrong_code in $(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s" >&2
}

# prepare_right_codes COUNT: COUNT more accounts, each logged in once, and RIGHT_CODES_FILE (one
# "token code" line per challenge, the code from the mail folder) for load_verify_right.
prepare_right_codes() {
    local count="$1"
    psql_superuser "INSERT INTO users (company_id, email, role, password_hash)
                    SELECT company_id, 'right-' || g || '@demo.example', 'admin', password_hash
                    FROM users, generate_series(1, $count) g WHERE email = 'owner@demo.example'" >/dev/null
    mkdir -p "$BENCH_STATE/right"
    seq 1 "$count" | xargs -P "${BENCH_LOGIN_PARALLEL:-2}" -I{} curl -sS -o "$BENCH_STATE/right/{}.json" -X POST "$BENCH_URL/v1/auth/login" \
        -H 'Content-Type: application/json' \
        -d '{"email":"right-{}@demo.example","password":"demo-owner-pass","client":"dashboard"}'
    latest_code "right-$count@demo.example" >/dev/null # the worker has written the emails by then
    sleep 2
    python3 - "$BENCH_STATE/right" "$BENCH_STATE/mail" "$count" >"$BENCH_STATE/right.txt" <<'PY'
import email, email.policy, json, os, re, sys
logins, mail, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
codes = {}
for name in os.listdir(mail):
    if name.endswith(".eml"):
        with open(os.path.join(mail, name), "rb") as handle:
            message = email.message_from_binary_file(handle, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",))
        found = re.search(r"\b(\d{6})\b", part.get_content() if part else "")
        if found:
            codes[str(message["To"]).strip("<>")] = found.group(1)
refused = 0
for n in range(1, count + 1):
    with open(os.path.join(logins, f"{n}.json")) as handle:
        answer = json.load(handle)
    if "challenge" not in answer:  # a login refused (503 busy on a loaded machine): one less
        refused += 1
        continue
    print(answer["challenge"]["token"], codes[f"right-{n}@demo.example"])
if refused:
    print(f"bench: {refused} of the right-code logins were refused; verify_right has {count - refused}", file=sys.stderr)
PY
    RIGHT_CODES_FILE="$BENCH_STATE/right.txt"
}

# Thread entry points, the executors' dispatch frames, closure thunks and the kernel's system
# call entry, which whole threads' costs pass through: left out of the inclusive lists, as they
# say which thread and not what work.
bench_frames='start_thread|ThreadOpsPosix|setupThreadAndEventLoop|partial apply for|thunk for|_dispatch_|swift_job_run|runJobInEstablishedExecutorContext|__clone|SelectableEventLoop.run\(\)|NIOThreadPool\._start|NIOThreadPool.runIfActive|Result<>.init\(catching:\)|entry_SYSCALL|do_syscall_64'

# The loads of cpu-per-request.sh and instructions.sh, each for $duration seconds over
# $connections connections (wrk), appending its BENCH line to $BENCH_STATE/bench.txt. The
# verifies need prepare_verify's VERIFY_USED_TOKEN, VERIFY_USED_CODE and VERIFY_TOKENS;
# load_verify_right needs prepare_right_codes.
wrk_case() {
    BENCH_DIR="$bench_root/bench" BENCH_NAME="$1" wrk -t1 -c"$connections" -d"${duration}s" "${@:2}" |
        tee -a "$BENCH_STATE/wrk.log" | grep '^BENCH ' >>"$BENCH_STATE/bench.txt"
}
load_health() { wrk_case health -s bench/get.lua "$BENCH_URL/health/live"; }
load_verify_used() {
    BENCH_CHALLENGE_TOKEN="$VERIFY_USED_TOKEN" BENCH_CODE="$VERIFY_USED_CODE" wrk_case verify_used -s bench/verify.lua "$BENCH_URL"
}
load_verify_wrong_code() { BENCH_TOKENS_FILE="$VERIFY_TOKENS" BENCH_CODE=000000 wrk_case verify_wrong_code -s bench/verify.lua "$BENCH_URL"; }
load_challenge_poll() {
    BENCH_TOKENS_FILE="$VERIFY_TOKENS" BENCH_CODE= BENCH_PATH=/v1/auth/login/challenge wrk_case challenge_poll -s bench/verify.lua "$BENCH_URL"
}
load_idle() { sleep "$duration"; echo "BENCH name=idle requests=0" >>"$BENCH_STATE/bench.txt"; }
load_verify_right() {
    python3 - "$BENCH_URL" "$RIGHT_CODES_FILE" >>"$BENCH_STATE/bench.txt" <<'PY'
import http.client, json, sys, urllib.parse
url = urllib.parse.urlparse(sys.argv[1])
connection = http.client.HTTPConnection(url.hostname, url.port)
statuses = {}
for line in open(sys.argv[2]):
    token, code = line.split()
    connection.request("POST", "/v1/auth/login/verify", json.dumps({"challenge_token": token, "code": code}),
                       {"Content-Type": "application/json", "User-Agent": "tollgate-bench/python"})
    response = connection.getresponse()
    response.read()
    statuses[response.status] = statuses.get(response.status, 0) + 1
print(f"BENCH name=verify_right requests={sum(statuses.values())} statuses=" + ",".join(f"{s}:{n}" for s, n in sorted(statuses.items())))
PY
}

