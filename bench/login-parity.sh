#!/usr/bin/env bash
# Login timing parity (issue 11, item 1): a login for a known address against one for an
# unknown address, on both branches where they must not be told apart:
#   wrong_password  a wrong password (401 invalid_credentials), limits raised far away;
#   invited_password  the same for an invited account (no password set yet, so no Argon2id
#                   hash stored) against the unknown address;
#   over_ip_limit   the caller's IP over its login limit (429 rate_limited), with
#                   LIMIT_LOGINS_PER_IP=1 and its one login spent first;
#   forgot_password "forgot password" (202 with {} for every address).
# Per branch: COUNT logins of each kind, shuffled together, sent one at a time and timed
# one by one on the client side (login-parity.py); then the medians, their ratio and a
# two-sided Mann-Whitney U test. Goal: ratio within 0.95-1.05, no significant difference
# at alpha = 0.01. Any answer other than the branch's status stops the run (exit 1).
#
#   bench/login-parity.sh                  # COUNT=1000 WARMUP=20 PORT=18084
#   COUNT=300 SEED=7 bench/login-parity.sh # fewer logins, a fixed shuffle
#   PARITY_STRICT=1 bench/login-parity.sh  # exit 2 when a goal is missed
#   BENCH_KEEP_STATE=1 BENCH_STATE=/tmp/parity bench/login-parity.sh  # keep logs and samples.csv
#
# Starts `tollgate dev` itself (loopback, throwaway state folder) once per branch, and stops it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

count="${COUNT:-1000}"
warmup="${WARMUP:-20}"
port="${PORT:-18084}"
seed="${SEED:-}"
state_base="${BENCH_STATE:-}"
if [ -n "$state_base" ]; then
    mkdir -p "$state_base"
    chmod 755 "$state_base"
    results="$state_base"
else
    results="$(mktemp -d /tmp/tollgate-parity.XXXXXX)"
fi
samples="$results/samples.csv"
: >"$samples"

# Each branch runs on a server of its own (its limits differ), in a state folder of its own.
finish() {
    local status=$?
    stop_tollgate
    if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then
        echo "bench: samples so far kept in $samples" >&2
    elif [ -z "$state_base" ] && [ -z "${BENCH_KEEP_STATE:-}" ]; then
        rm -rf "$results"
    else
        echo "bench: samples kept in $samples" >&2
    fi
}

run_branch() {
    local branch="$1" ip_limit="$2"
    if [ -n "$state_base" ]; then
        BENCH_STATE="$state_base/$branch"
        mkdir -p "$BENCH_STATE"
    else
        unset BENCH_STATE
    fi
    LIMIT_LOGINS_PER_IP="$ip_limit" start_tollgate "$port"
    trap finish EXIT
    if [ "$branch" = invited_password ]; then
        # A company whose owner is invited: created without a password, as the API allows.
        curl -fsS -o /dev/null "$BENCH_URL/v1/admin/companies" -H "Authorization: Bearer $(cat "$BENCH_STATE/api-key")" \
            -H 'Content-Type: application/json' \
            -d '{"name": "Invited Ltd", "owner": {"email": "invited-owner@bench.example", "name": "Invited"}}'
    fi
    python3 "$bench_root/bench/login-parity.py" measure --url "$BENCH_URL" --branch "$branch" \
        --count "$count" --warmup "$warmup" ${seed:+--seed "$seed"} --out "$samples"
    stop_tollgate
}

echo "bench: $(find_tollgate), $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)" >&2
run_branch wrong_password 1000000
run_branch invited_password 1000000
run_branch over_ip_limit 1
run_branch forgot_password 1000000
python3 "$bench_root/bench/login-parity.py" analyse ${PARITY_STRICT:+--strict} "$samples"
