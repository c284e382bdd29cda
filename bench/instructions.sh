#!/usr/bin/env bash
# Instructions per request of the server process, counted by valgrind's callgrind: the figure
# that does not move with the machine's other tenants (the same binary and load give the same
# count within a fraction of a percent), for health, verify_used, verify_wrong_code, the
# challenge poll and a right code (a session made), the loads of cpu-per-request.sh. Also the
# TOP (10) functions by inclusive instructions of each case.
#
#   bench/instructions.sh                                 # REQUESTS (400 a case), CONNECTIONS (4)
#   TOLLGATE_BIN=/path/to/tollgate bench/instructions.sh  # another build, e.g. a baseline
#
# Needs valgrind, gcc and binutils (Debian packages). Under valgrind the server runs some 30 to
# 50 times slower and one thread at a time; the count is per answer, so that does not matter,
# so each case sends a fixed number of requests (bench/fixed-load.py) rather than running wrk
# for a time: every request counted by the client is one the server finished before the dump.
#
# Two things let valgrind 3.19 (Debian 12's) run a Swift 6.3 binary at all:
# - it cannot read Swift 6.3's DWARF 5 ("possibly corrupted debuginfo"): the server runs from a
#   copy without debug information (objcopy --strip-debug; the symbols stay, so the inclusive
#   list still has names);
# - it dies in start-up on libdispatch's read-only sigsuspend mask: valgrind-sigsuspend.c,
#   preloaded, passes a writable copy.
#
# Counting: instrumentation is off while the server starts and the accounts are made, on from
# the warm-up; each case zeroes the counters (callgrind_control -z), runs its load and dumps
# (--dump). valgrind names its pipe after $HOST, which start_tollgate sets for
# the server: callgrind_control is given the same. An idle interval's count (the worker's timers) is taken off pro rata
# to each case's wall time. The counts include the libraries the process runs (libpq, the
# Swift runtime, libc), not the kernel and not PostgreSQL.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

duration="${DURATION:-5}" # the idle interval
requests_per_case="${REQUESTS:-400}" # health: three times as many
connections="${CONNECTIONS:-4}"
port="${PORT:-18096}"
challenges="${VERIFY_CHALLENGES:-20}"
right_codes="${RIGHT_CODES:-30}"
top="${TOP:-10}"
export CODE_MAX_ATTEMPTS="${CODE_MAX_ATTEMPTS:-100}"
for tool in valgrind callgrind_control callgrind_annotate gcc objcopy wrk; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install valgrind gcc binutils wrk)" >&2; exit 1; }
done

binary="$(find_tollgate)"
copy="$(mktemp -d /tmp/tollgate-instructions.XXXXXX)"
objcopy --strip-debug "$binary" "$copy/tollgate"
cp -r "$(dirname "$binary")"/*.resources "$copy/" 2>/dev/null || true # the bundles beside the binary
gcc -shared -fPIC -O2 -o "$copy/sigsuspend.so" "$bench_root/bench/valgrind-sigsuspend.c"
chmod -R a+rX "$copy"
TOLLGATE_BIN="$copy/tollgate"
TOLLGATE_WRAPPER=(env LD_PRELOAD="$copy/sigsuspend.so" valgrind -q --tool=callgrind --instr-atstart=no
    --callgrind-out-file="$copy/callgrind.%p" --vgdb-prefix="$copy/vgdb")
control() { HOST=127.0.0.1 callgrind_control --vgdb-prefix="$copy/vgdb" "$@" "$TOLLGATE_PID" >/dev/null; }
echo "bench: $binary under callgrind (valgrind $(valgrind --version | sed 's/valgrind-//'))" >&2

start_tollgate "$port"
cd "$bench_root"
export BENCH_LOGIN_PARALLEL=1 # one login at a time: Argon2id under valgrind outlasts the hashing queue's wait
prepare_verify "$challenges"
prepare_right_codes "$right_codes"

control -i on
# A few of each first, so that first calls (plans, caches, translations) are not counted.
export BENCH_COUNT_CODES=1
BENCH_DIR="$bench_root/bench" BENCH_NAME=warm wrk -t1 -c2 -d2s -s bench/get.lua "$BENCH_URL/health/live" >/dev/null
BENCH_DIR="$bench_root/bench" BENCH_NAME=warm BENCH_TOKENS_FILE="$VERIFY_TOKENS" BENCH_CODE= \
    BENCH_PATH=/v1/auth/login/challenge wrk -t1 -c2 -d2s -s bench/verify.lua "$BENCH_URL" >/dev/null

: >"$BENCH_STATE/bench.txt"
results="$BENCH_STATE/instructions.txt"
: >"$results"
# Fixed counts (fixed-load.py), every answer in before the dump. verify_right: each of
# RIGHT_CODES challenges once, one connection (lib.sh's load).
fixed() { python3 bench/fixed-load.py "$1" "$BENCH_URL" "${@:2}" >>"$BENCH_STATE/bench.txt"; }
count_health() { fixed health /health/live "$((requests_per_case * 3))" "$connections" --get; }
count_verify_used() {
    fixed verify_used /v1/auth/login/verify "$requests_per_case" "$connections" --token "$VERIFY_USED_TOKEN" --code "$VERIFY_USED_CODE"
}
count_verify_wrong_code() { fixed verify_wrong_code /v1/auth/login/verify "$requests_per_case" "$connections" --tokens "$VERIFY_TOKENS" --code 000000; }
count_challenge_poll() { fixed challenge_poll /v1/auth/login/challenge "$requests_per_case" "$connections" --tokens "$VERIFY_TOKENS"; }
count_idle() { load_idle; }
count_verify_right() { load_verify_right; }

for case in idle health verify_used verify_wrong_code challenge_poll verify_right; do
    control -z
    started="$(date +%s.%N)"
    "count_$case"
    elapsed="$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')"
    control --dump="$case"
    # shellcheck disable=SC2012 # our own file names: callgrind.PID.N
    dump="$(ls -t "$copy"/callgrind.*.* | head -1)"
    mv "$dump" "$copy/$case.callgrind"
    total="$(awk '/^(summary|totals):/ { print $2; exit }' "$copy/$case.callgrind")"
    requests="$(bench_value "$BENCH_STATE/bench.txt" "$case" requests)"
    awk -v n="$case" -v r="$requests" -v e="$elapsed" -v t="$total" -v idle="${idle_rate:-0}" 'BEGIN {
        if (n == "idle") { printf "IDLE instructions_per_s=%.0f\n", t / e; exit }
        printf "INSTRUCTIONS name=%s requests=%d seconds=%.1f instructions_per_request=%.0f idle_share=%.3f\n",
            n, r, e, (t - idle * e) / r, idle * e / t
    }' >>"$results"
    if [ "$case" = idle ]; then idle_rate="$(awk -F= '/^IDLE/ { print $2 }' "$results")"; fi
done

# Besides bench_frames, the frames an async request's work passes through whatever it is: the
# executor's job loop, task switches, the middleware chain and the connection's request loop.
# Read the inclusive list with care: an async function resumed after an `await` runs the rest
# of its callers' work inside that resumption, so its inclusive count holds everything after
# the await too (JSONBody.bytes(of:), which awaits the body, holds most of the handler). The
# own counts have no such overlap.
# Callgrind's names for a function met again further down its own stack (`'2`) and shares above
# 100 % (recursion counted twice) are left out too, and `clone`, to which callgrind 3.19 books a
# copy of its threads' whole cost as its own (the list's own costs then add up to more than the
# total, by twice that; the total itself is right); a function specialised twice is listed once.
async_frames="clone\.S:clone|swift_task_switch|jobInvoke|__swift_run_job|runJobInEstablishedExecutorContext|withTaskCancellationHandler|MiddlewareResponder|constructResponder|HTTPResponder.respond|ApplicationProtocol.run|handleHTTP|AsyncSequenceProducer|NIOAsyncChannelInboundStream|AsyncIteratorProtocol.next|RouterResponder.respond|CallbackResponder.respond|MiddlewareProtocol.handle|(LogRequests|Header|Metrics|Session|ErrorEnvelope)Middleware.handle|'2"
top_list() { # FILE INCLUSIVE(yes|no)
    callgrind_annotate --inclusive="$2" "$1" 2>/dev/null |
        grep -E '^ *[0-9,]+ \( *[0-9.]+%\) ' | grep -v 'PROGRAM TOTALS' | swift demangle --simplified 2>/dev/null |
        grep -v -E "$bench_frames|$async_frames|\?\?\?:0x|\(below main\)" | sed -E 's/ \[[^]]*\]$//; s/\?\?\?://; s/ \.\/[^ ]*\.[cS]:/ /; s/^ *//' |
        awk -v top="$top" '{ share = $2; gsub(/[()%]/, "", share); name = $0; sub(/^[^)]*\) +/, "", name); sub(/^specialized /, "", name) }
            share + 0 <= 100 && !seen[name]++ && n++ < top { print }' | cut -c1-190
}
for case in health verify_used verify_wrong_code challenge_poll verify_right; do
    echo
    echo "== $case: top $top functions by inclusive instructions (share of the case's count)"
    top_list "$copy/$case.callgrind" yes
    echo "-- and by their own instructions"
    top_list "$copy/$case.callgrind" no
done
echo
grep -h '^BENCH' "$BENCH_STATE/bench.txt"
cat "$results"
if [ -n "${BENCH_KEEP_STATE:-}" ]; then echo "bench: callgrind dumps kept in $copy" >&2; else rm -rf "$copy"; fi
