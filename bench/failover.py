#!/usr/bin/env python3
"""Issue 28's fault figures: a database fault under load, and what every acknowledged answer
became afterwards.

    bench/failover.py switchover|kill|restart [--connections 64] [--before 10] [--after 20]

`switchover` and `kill` run on a pg_auto_failover cluster (scripts/ha-cluster: a monitor and two
nodes in synchronous replication) with serve and worker on the two-host DATABASE_URL;
`restart` on one plain PostgreSQL (`pg_ctl restart -m fast`). The load is `--connections`
keep-alive clients: half run whole logins (password, the code from the SMTP sink, verify), half
send wrong codes to challenges of their own. After `--before` seconds the fault; `--after`
seconds later the load stops. Then: answers by request and status (no 500 allowed), the 503
window (from the first 503 to the first success after the last one), every acknowledged
session (200) and challenge (202) read back through the API on the database that now serves,
and every queued email against what the SMTP sink received (duplicates counted).

Prints a `BENCH` line and a Markdown table row; needs the test tools (.venv: aiosmtpd).
Loopback only; every run is bounded.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "browser"))
sys.path.insert(0, str(REPO / "Tests" / "ha"))
sys.path.insert(0, str(REPO / "bench"))

from mixed_load import Stack, Tally, is_failure  # noqa: E402
from support import Cluster, deadline_loop  # noqa: E402
from support import http as call  # noqa: E402
from test_failover import HACluster  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("fault", choices=["switchover", "kill", "freeze", "restart"])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--before", type=float, default=10)
    parser.add_argument("--after", type=float, default=20)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="tollgate-bench-failover-", dir="/tmp"))
    root.chmod(0o755)
    logs = root / "logs"
    logs.mkdir()
    stoppable = []
    try:
        if args.fault == "restart":
            cluster = Cluster(root)
            cluster.start()
            owner_url = lambda user=None: cluster.conninfo(user=user)  # noqa: E731
        else:
            cluster = HACluster(root)
            owner_url = lambda user=None: cluster.conninfo(user)  # noqa: E731
        stoppable.append(cluster)
        stack = Stack(root, owner_url)
        stoppable.append(stack)
        url = stack.url
        users = stack.add_users(args.connections)
        tally = Tally()
        load = stack.load(users, args.connections, tally)
        started = time.monotonic()
        load.start()
        time.sleep(args.before)  # the load runs for a fixed time: a measurement, not synchronisation
        fault_at = time.monotonic()
        if args.fault == "switchover":
            cluster.command("switchover")
        elif args.fault == "kill":
            cluster.command("kill-primary")
        elif args.fault == "freeze":
            cluster.command("freeze-primary")
        else:
            subprocess.run(["runuser", "-u", "postgres", "--"] * (os.geteuid() == 0) +
                           ["/usr/lib/postgresql/15/bin/pg_ctl", "-D", str(cluster.data), "-m", "fast", "-w", "restart"],
                           check=True, stdout=subprocess.DEVNULL)
        time.sleep(max(0, fault_at + args.after - time.monotonic()))
        load.stop()
        ended = time.monotonic()

        answers = sorted(tally.answers, key=lambda answer: answer[0])
        statuses = tally.counts
        unavailable = [t for t, _, status, _ in answers if status == "503/unavailable"]
        window = 0.0
        if unavailable:
            recovered = next((t for t, _, status, _ in answers if t > unavailable[-1] and status in (200, 202)), ended)
            window = recovered - unavailable[0]
        errors = sum(1 for _, _, status, _ in answers if is_failure(status) and status != "503/unavailable")

        lost_sessions = sum(1 for token in tally.sessions if call("GET", url + "/v1/me", token=token)[0] != 200)
        lost_challenges = sum(1 for token in tally.challenges
                              if call("POST", url + "/v1/auth/login/challenge", {"challenge_token": token})[0] not in (200, 410))

        def query(sql):
            return subprocess.run(["psql", owner_url(), "-X", "-At", "-c", sql], capture_output=True, text=True, check=True).stdout.strip()

        for _ in deadline_loop(180, "every queued email to be sent or expired", interval=0.5):
            if query("SELECT count(*) FROM email_outbox WHERE status IN ('queued', 'sending')") == "0":
                break
        queued = int(query("SELECT count(*) FROM email_outbox"))
        sent = int(query("SELECT count(*) FROM email_outbox WHERE status = 'sent'"))
        ids = set(query("SELECT message_id FROM email_outbox WHERE status = 'sent'").split())
        with stack.sink.lock:
            received = list(stack.sink.message_ids)
        missing = len(ids - set(received))
        duplicates = len(received) - len(set(received))
        reconnects = stack.metric("tollgate_db_reconnects_total")

        seconds = ended - started
        line = (f"BENCH name=fault_{args.fault} connections={args.connections} seconds={seconds:.1f} "
                f"requests={len(answers)} rps={len(answers) / seconds:.0f} errors_5xx={errors} dropped={tally.dropped} "
                f"window_503_s={window:.2f} unavailable_503={len(unavailable)} "
                f"sessions={len(tally.sessions)} sessions_lost={lost_sessions} challenges={len(tally.challenges)} "
                f"challenges_lost={lost_challenges} emails_queued={queued} emails_sent={sent} emails_missing={missing} "
                f"duplicates={duplicates} reconnects={reconnects or '?'} "
                f"serve_restarted={not stack.server.alive()} worker_restarted={not stack.worker.alive()} "
                f"statuses={','.join(f'{k}={v}' for k, v in sorted(statuses.items()))}")
        print(line)
        return 0 if answers and errors == 0 and lost_sessions == 0 and lost_challenges == 0 and missing == 0 else 1
    finally:
        for thing in reversed(stoppable):
            try:
                thing.stop()
            except Exception as error:  # keep stopping the rest
                print(f"bench: stopping {thing}: {error}", file=sys.stderr)
        if os.environ.get("BENCH_KEEP_STATE") == "1":
            print(f"bench: logs in {logs}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
