#!/usr/bin/env bash
# Email delivery to a local SMTP sink (Tests/MailerTests/smtp_sink.py, aiosmtpd, no TLS),
# with 1, 2 and 4 workers, in one run:
#
#   sink_ceiling_1conn / sink_ceiling_4conn
#                  the sink alone: Python smtplib sends SINK_COUNT messages over 1 (and over
#                  4) reused connections; the most any number of workers can reach here
#   latency_wN     commit → SMTP accepted: LATENCY_COUNT emails, each committed on its own,
#                  one every 50 ms; latency = email_outbox.sent_at − created_at (sent_at is
#                  written after the sink accepted the message; created_at is the inserting
#                  transaction's start, a few hundred µs before its commit)
#   drain_wN       MAIL_COUNT emails committed in one INSERT … SELECT generate_series; emails/s
#                  = MAIL_COUNT / (last sent_at − created_at)
#
#   drain_wN_smtp  of those, the SMTP dialogue alone (email_attempts.started_at, taken by the
#                  worker before the send, to finished_at, when it records the result)
#
#   bench/mail.sh                 # WORKERS="1 2 4" MAIL_COUNT=2000 LATENCY_COUNT=100 PORT
#   SINK=discard bench/mail.sh    # bench/smtp-discard.py instead: accepts and keeps nothing, so
#                                 # the drain measures the workers, not the sink's disk writes
#
# The workers: `tollgate dev` runs one worker in its own process; it is started with SMTP_URL
# pointing at the sink, so it is worker 1. For 2 and 4 workers the script starts 1 and 3
# `tollgate worker` processes on dev's private cluster (unix socket, role tollgate_worker)
# and stops them after the case. Every worker reuses one SMTP connection (libcurl's cache).
# Emails are queued as the cluster's superuser, for the demo company, as login-code emails
# whose code expires in an hour. Goals (issue 13): p50 < 50 ms, p99 < 250 ms, ≥ 500 emails/s.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port="${PORT:-18085}"
workers_list="${WORKERS:-1 2 4}"
mail_count="${MAIL_COUNT:-2000}"
latency_count="${LATENCY_COUNT:-100}"
sink_count="${SINK_COUNT:-2000}"
python="$bench_root/.venv/bin/python"
[ -x "$python" ] || python=python3
binary="$(find_tollgate)"

BENCH_STATE="${BENCH_STATE:-$(mktemp -d /tmp/tollgate-bench.XXXXXX)}"
sink_dir="$BENCH_STATE/sink"
mkdir -p "$sink_dir"
if [ "${SINK:-test}" = discard ]; then
    python3 "$bench_root/bench/smtp-discard.py" --info "$BENCH_STATE/sink-info.json" >"$BENCH_STATE/sink.log" 2>&1 &
else
    "$python" "$bench_root/Tests/MailerTests/smtp_sink.py" --dir "$sink_dir" --port 0 --info "$BENCH_STATE/sink-info.json" \
        >"$BENCH_STATE/sink.log" 2>&1 &
fi
sink_pid=$!
extra_pids=()
stop_all() {
    local pid
    for pid in "${extra_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${extra_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    stop_tollgate
    kill -TERM "$sink_pid" 2>/dev/null || true
    wait "$sink_pid" 2>/dev/null || true
}
for _ in $(seq 1 100); do [ -s "$BENCH_STATE/sink-info.json" ] && break; sleep 0.1; done
sink_port="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["port"])' "$BENCH_STATE/sink-info.json")"
echo "bench: SMTP sink on 127.0.0.1:$sink_port (writes $sink_dir)" >&2
export SMTP_URL="smtp://127.0.0.1:$sink_port?starttls=never"

start_tollgate "$port"
trap stop_all EXIT
cd "$bench_root"

pidfile="$BENCH_STATE/postgres/postmaster.pid"
worker_url="host=$(sed -n 5p "$pidfile") port=$(sed -n 4p "$pidfile") user=tollgate_worker dbname=tollgate"
company="$(psql_superuser "SELECT company_id FROM login_lookup('owner@demo.example')")"

results="$BENCH_STATE/results.txt"
: >"$results"

# The sink's own ceiling: the same kind of message, smtplib, reused connections.
for conns in 1 4; do
    "$python" - "$sink_port" "$sink_count" "$conns" <<'PY' | tee -a "$results"
import smtplib, sys, threading, time
port, count, conns = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
body = ("From: tollgate@bench.invalid\r\nTo: someone@bench.invalid\r\nSubject: Your sign-in code\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n\r\n" + "Your code is 123456.\r\n" * 20)
def send(n):
    with smtplib.SMTP("127.0.0.1", port) as client:
        for _ in range(n):
            client.sendmail("tollgate@bench.invalid", ["someone@bench.invalid"], body)
threads = [threading.Thread(target=send, args=(count // conns,)) for _ in range(conns)]
start = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - start
sent = count // conns * conns
print(f"BENCH name=sink_ceiling_{conns}conn emails={sent} rps={sent / elapsed:.1f} seconds={elapsed:.2f}")
PY
done

queue_sql() { # queue_sql TAG COUNT: one INSERT of COUNT emails tagged TAG (in the subject)
    echo "INSERT INTO email_outbox (company_id, recipient, template, subject, body_text, body_html, code_expires_at, message_id)
          SELECT '$company', 'bench-' || g || '@demo.example', 'login_code', 'Your sign-in code ($1)',
                 repeat('Your code is 123456. ', 20), '<p>' || repeat('Your code is 123456. ', 20) || '</p>',
                 now() + interval '1 hour', gen_random_uuid()::text || '@bench.invalid'
          FROM generate_series(1, $2) g;"
}
wait_drained() { # wait_drained TAG: until no email tagged TAG is queued or sending (at most 120 s)
    local waited=0
    while [ "$(psql_superuser "SELECT count(*) FROM email_outbox WHERE subject = 'Your sign-in code ($1)' AND status IN ('queued', 'sending')")" != 0 ]; do
        if [ "$waited" -ge 600 ]; then echo "bench: $1 not drained after 120 s" >&2; return 1; fi
        sleep 0.2
        waited=$((waited + 1))
    done
}
report() { # report NAME TAG: latency percentiles and throughput of the emails tagged TAG
    psql_superuser "SELECT format('BENCH name=%s emails=%s sent=%s rps=%s p50_ms=%s p99_ms=%s max_ms=%s', '$1', count(*),
                        count(*) FILTER (WHERE status = 'sent'),
                        round((count(*) / nullif(extract(epoch FROM max(sent_at) - min(created_at)), 0))::numeric, 1),
                        round((1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY sent_at - created_at)))::numeric, 2),
                        round((1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY sent_at - created_at)))::numeric, 2),
                        round((1000 * extract(epoch FROM max(sent_at - created_at)))::numeric, 2))
                    FROM email_outbox WHERE subject = 'Your sign-in code ($2)'"
    # Where the time goes: the SMTP dialogue (the attempt's started_at, taken by the worker just
    # before the send, to finished_at, the start of the transaction that records it).
    psql_superuser "SELECT format('BENCH name=%s_smtp attempts=%s p50_ms=%s p99_ms=%s', '$1', count(*),
                        round((1000 * extract(epoch FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY a.finished_at - a.started_at)))::numeric, 2),
                        round((1000 * extract(epoch FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY a.finished_at - a.started_at)))::numeric, 2))
                    FROM email_attempts a JOIN email_outbox e ON e.id = a.email_id WHERE e.subject = 'Your sign-in code ($2)'"
}

for workers in $workers_list; do
    extra_pids=()
    for i in $(seq 2 "$workers"); do
        env DATABASE_URL="$worker_url" SMTP_URL="$SMTP_URL" LOG_LEVEL=warning "$binary" worker \
            >"$BENCH_STATE/worker-$workers-$i.log" 2>&1 &
        extra_pids+=($!)
    done
    sleep 2 # the extra workers connect and LISTEN
    # Latency: one email per transaction, one every 50 ms.
    for _ in $(seq 1 "$latency_count"); do queue_sql "latency-w$workers" 1; echo "SELECT pg_sleep(0.05);"; done >"$BENCH_STATE/latency.sql"
    pidfile_socket="$(sed -n 5p "$pidfile")"
    psql "host=$pidfile_socket port=$(sed -n 4p "$pidfile") user=tollgate dbname=tollgate" -X -q -At -v ON_ERROR_STOP=1 \
        -f "$BENCH_STATE/latency.sql" >/dev/null
    wait_drained "latency-w$workers"
    report "latency_w$workers" "latency-w$workers" | tee -a "$results"
    # Drain: MAIL_COUNT emails in one commit.
    psql_superuser "$(queue_sql "drain-w$workers" "$mail_count")" >/dev/null
    wait_drained "drain-w$workers"
    report "drain_w$workers" "drain-w$workers" | tee -a "$results"
    echo "bench: server RSS after drain_w$workers: $(rss_mib "$TOLLGATE_PID") MiB" >&2
    for pid in "${extra_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${extra_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    extra_pids=()
done
[ "${SINK:-test}" = discard ] || echo "bench: messages the sink wrote: $(find "$sink_dir" -name '*.json' | wc -l)" >&2

echo
echo "ratios (one run):"
for workers in $workers_list; do
    awk -v w="$workers" -v rate="$(bench_value "$results" "drain_w$workers" rps)" \
        -v sink1="$(bench_value "$results" sink_ceiling_1conn rps)" -v sink4="$(bench_value "$results" sink_ceiling_4conn rps)" \
        -v p50="$(bench_value "$results" "latency_w$workers" p50_ms)" -v p99="$(bench_value "$results" "latency_w$workers" p99_ms)" 'BEGIN {
            printf "  %s worker(s): %.0f emails/s = %.2f of the sink over 1 connection, %.2f over 4 (goal >= 500/s); commit -> accepted p50 %.1f ms, p99 %.1f ms (goals < 50, < 250)\n", w, rate, rate / sink1, rate / sink4, p50, p99
        }'
done
