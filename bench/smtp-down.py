#!/usr/bin/env python3
"""Issue 28: the SMTP server refuses everything (451) for a while as emails keep coming.

    bench/smtp-down.py [--rate 100] [--before 10] [--down 60] [--after 20] [--code-ttl 20]

One private PostgreSQL (unix socket), one worker, an SMTP sink in this process. Emails are
queued at `--rate` a second (one transaction per tenth of a second) for before + down + after
seconds; one in ten is a code email whose code expires `--code-ttl` seconds after it is queued.
The sink answers 451 to every recipient during `--down`. Then: every email must end `sent`
(received by Message-ID) or, for a code that expired first, `expired` and never received.
Prints a `BENCH` line with the time from the SMTP server's return to the last delivery.
Needs the test tools (.venv: aiosmtpd). Loopback only, bounded.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "browser"))
sys.path.insert(0, str(REPO / "bench"))

from mixed_load import Sink, binary_path  # noqa: E402
from support import Cluster, Company, Process, base_env, deadline_loop, run_tollgate  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--before", type=float, default=10)
    parser.add_argument("--down", type=float, default=60)
    parser.add_argument("--after", type=float, default=20)
    parser.add_argument("--code-ttl", type=int, default=20)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tollgate-bench-smtp-down-", dir="/tmp"))
    root.chmod(0o755)
    logs = root / "logs"
    logs.mkdir()
    cluster = Cluster(root)
    sink = worker = None
    try:
        cluster.start()
        run_tollgate(["migrate"], base_env(DATABASE_URL=cluster.conninfo()))
        sink = Sink()
        company = Company(cluster, "bench")

        def query(sql):
            return subprocess.run(["psql", cluster.conninfo(), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                                  capture_output=True, text=True, check=True).stdout.strip()

        worker = Process("worker", [os.environ.get("TOLLGATE_BINARY") or binary_path(), "worker"], base_env(
            DATABASE_URL=cluster.conninfo(user="tollgate_worker"), SMTP_URL=f"smtp://127.0.0.1:{sink.port}?starttls=never",
            LOG_LEVEL="error"), logs)
        per_tick = max(1, args.rate // 10)
        total = args.before + args.down + args.after
        stop = threading.Event()

        def produce():
            tick, started = 0, time.monotonic()
            while not stop.is_set() and time.monotonic() - started < total:
                codes = per_tick // 10 + (1 if tick % 10 < per_tick % 10 else 0)
                query(f"""INSERT INTO email_outbox (company_id, id, recipient, template, subject, body_text, body_html, message_id,
                                                    code_expires_at)
                          SELECT '{company.id}', id, 'r' || n || '@example.test',
                                 CASE WHEN n <= {codes} THEN 'login_code' ELSE 'two_factor_enabled' END, 'Bench', 'text', '<p>x</p>',
                                 id::text || '@tollgate',
                                 CASE WHEN n <= {codes} THEN clock_timestamp() + interval '{args.code_ttl} seconds' END
                          FROM (SELECT n, gen_random_uuid() AS id FROM generate_series(1, {per_tick}) AS n) AS made""")
                tick += 1
                time.sleep(max(0, started + tick / 10 - time.monotonic()))  # pacing the producer

        producer = threading.Thread(target=produce, daemon=True)
        producer.start()
        time.sleep(args.before)  # fixed phases of a measurement, not synchronisation
        sink.down = True
        time.sleep(args.down)
        sink.down = False
        back = time.monotonic()
        producer.join(timeout=total + 60)
        for _ in deadline_loop(900, "the queue to drain", interval=0.5):
            if query("SELECT count(*) FROM email_outbox WHERE status IN ('queued', 'sending')") == "0":
                break
        drained = time.monotonic() - back
        counts = dict(line.split("|") for line in query("SELECT status, count(*) FROM email_outbox GROUP BY status").splitlines())
        sent_ids = set(query("SELECT message_id FROM email_outbox WHERE status = 'sent'").split())
        expired_ids = set(query("SELECT message_id FROM email_outbox WHERE status = 'expired'").split())
        expired_codes = int(query("SELECT count(*) FROM email_outbox WHERE status = 'expired' AND template = 'login_code'"))
        with sink.lock:
            received = list(sink.message_ids)
            refused = sink.refused
        missing = len(sent_ids - set(received))
        expired_sent = len(expired_ids & set(received))
        duplicates = len(received) - len(set(received))
        queued = sum(int(value) for value in counts.values())
        print(f"BENCH name=smtp_down rate={args.rate} down_s={args.down:.0f} queued={queued} "
              f"statuses={','.join(f'{k}={v}' for k, v in sorted(counts.items()))} refused_451={refused} "
              f"sent_missing={missing} expired={len(expired_ids)} expired_codes={expired_codes} expired_but_received={expired_sent} "
              f"duplicates={duplicates} drained_after_smtp_back_s={drained:.1f}")
        return 0 if missing == 0 and expired_sent == 0 and counts.get("failed") is None else 1
    finally:
        if worker:
            worker.stop()
        if sink:
            sink.stop()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
