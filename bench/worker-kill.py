#!/usr/bin/env python3
"""Issue 28: `kill -9` of the email worker, over and over, while it drains a burst.

    bench/worker-kill.py [--emails 5000] [--kills 100]

One private PostgreSQL (unix socket), `--emails` emails queued in one transaction (the
notification template: no code to expire), one worker; each time the SMTP sink has received
another `emails / (kills + 1)` messages, the worker is killed with SIGKILL and started again at
once. Then every email must be `sent` and received by Message-ID; duplicates (sent by a worker
killed between the SMTP server's acceptance and its bookkeeping, SPEC §8) are counted.
Prints a `BENCH` line; needs the test tools (.venv: aiosmtpd). Loopback only, bounded.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "browser"))
sys.path.insert(0, str(REPO / "bench"))

from mixed_load import Sink, binary_path  # noqa: E402
from support import Cluster, Company, Process, base_env, deadline_loop, run_tollgate  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=5000)
    parser.add_argument("--kills", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tollgate-bench-worker-kill-", dir="/tmp"))
    root.chmod(0o755)
    logs = root / "logs"
    logs.mkdir()
    cluster = Cluster(root)
    sink = None
    worker = None
    try:
        cluster.start()
        run_tollgate(["migrate"], base_env(DATABASE_URL=cluster.conninfo()))
        sink = Sink()
        company = Company(cluster, "bench")

        def query(sql):
            return subprocess.run(["psql", cluster.conninfo(), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
                                  capture_output=True, text=True, check=True).stdout.strip()

        query(f"""INSERT INTO email_outbox (company_id, id, recipient, template, subject, body_text, body_html, message_id)
                  SELECT '{company.id}', id, 'r' || n || '@example.test', 'two_factor_enabled', 'Bench', 'text', '<p>html</p>',
                         id::text || '@tollgate'
                  FROM (SELECT n, gen_random_uuid() AS id FROM generate_series(1, {args.emails}) AS n) AS made""")
        env = base_env(DATABASE_URL=cluster.conninfo(user="tollgate_worker"), SMTP_URL=f"smtp://127.0.0.1:{sink.port}?starttls=never",
                       LOG_LEVEL="warning")
        binary = os.environ.get("TOLLGATE_BINARY") or binary_path()
        started = time.monotonic()
        worker = Process("worker-0", [binary, "worker"], env, logs)
        step = max(1, args.emails // (args.kills + 1))
        for kill in range(1, args.kills + 1):
            target = min(args.emails, kill * step)
            for _ in deadline_loop(120, f"{target} emails received before kill {kill}", interval=0.01):
                with sink.lock:
                    if len(sink.message_ids) >= target:
                        break
            worker.popen.send_signal(signal.SIGKILL)
            worker.popen.wait()
            worker.log.close()
            worker = Process(f"worker-{kill}", [binary, "worker"], env, logs)
        # The killed workers' leases (60 s) run out and the last worker sends what they held.
        for _ in deadline_loop(300, "every email to be sent", interval=0.5):
            if query("SELECT count(*) FROM email_outbox WHERE status <> 'sent'") == "0":
                break
        elapsed = time.monotonic() - started
        ids = set(query("SELECT message_id FROM email_outbox").split())
        with sink.lock:
            received = list(sink.message_ids)
        missing = len(ids - set(received))
        duplicates = len(received) - len(set(received))
        print(f"BENCH name=worker_kill emails={len(ids)} kills={args.kills} seconds={elapsed:.1f} sent={len(ids) - missing} "
              f"missing={missing} received={len(received)} duplicates={duplicates}")
        return 0 if missing == 0 else 1
    finally:
        if worker:
            worker.stop()
        if sink:
            sink.stop()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
