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
import email
import email.policy
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "browser"))
sys.path.insert(0, str(REPO / "Tests" / "ha"))

from aiosmtpd.controller import Controller  # noqa: E402
from support import Cluster, Company, Process, base_env, deadline_loop, free_port, run_tollgate
from support import http as call  # noqa: E402
from test_failover import HACluster  # noqa: E402

CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)


class Sink:
    """An SMTP server in this process: codes by recipient, Message-IDs received."""

    def __init__(self):
        self.lock = threading.Condition()
        self.codes = {}
        self.message_ids = []
        self.down = False  # while true, every recipient is refused 451 (bench/smtp-down.py)
        self.refused = 0
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if sink.down:
                    with sink.lock:
                        sink.refused += 1
                    return "451 4.3.0 Try again later"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
                text = next((part.get_content() for part in message.walk() if part.get_content_type() == "text/plain"), "")
                code = CODE.search(text)
                with sink.lock:
                    sink.message_ids.append(str(message.get("Message-ID", "")).strip().strip("<>"))
                    if code:
                        for to in envelope.rcpt_tos:
                            sink.codes.setdefault(to.lower(), []).append(code.group(1))
                    sink.lock.notify_all()
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def next_code(self, address, timeout):
        end = time.monotonic() + timeout
        with self.lock:
            while not self.codes.get(address.lower()):
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.lock.wait(left)
            return self.codes[address.lower()].pop(0)

    def stop(self):
        self.controller.stop()


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.answers = []  # (monotonic time, what, status)
        self.challenges = []
        self.sessions = []
        self.dropped = 0

    def add(self, what, status):
        with self.lock:
            self.answers.append((time.monotonic(), what, status))


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port, tally):
        self.port, self.tally = port, tally
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, what, path, body):
        for _ in range(2):
            try:
                self.connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                response = self.connection.getresponse()
                raw = response.read()
                parsed = json.loads(raw) if raw else None
                # 503 `busy` (password hashing saturated) is load, `unavailable` the database.
                code = (parsed or {}).get("error", {}).get("code") if response.status == 503 and isinstance(parsed, dict) else None
                self.tally.add(what, f"503/{code}" if code else response.status)
                return response.status, parsed, response.getheader("Retry-After")
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        with self.tally.lock:
            self.tally.dropped += 1
        return None, None, None


def whole_logins(port, sink, address, password, tally, stop):
    client = Client(port, tally)
    while not stop.is_set():
        status, body, _ = client.post("login", "/v1/auth/login", {"email": address, "password": password, "client": "dashboard"})
        if status != 202:
            continue
        token = body["challenge"]["token"]
        with tally.lock:
            tally.challenges.append(token)
        code = sink.next_code(address, 120)
        if code is None:
            continue
        give_up = time.monotonic() + 60  # a 503 is tried again, even after the load stops
        while True:
            status, body, _ = client.post("verify", "/v1/auth/login/verify", {"challenge_token": token, "code": code})
            if status != 503 or time.monotonic() > give_up:
                break
        if status == 200:
            with tally.lock:
                tally.sessions.append(body["session"]["token"])


def wrong_codes(port, sink, address, password, tally, stop):
    client = Client(port, tally)
    token = None
    while not stop.is_set():
        if token is None:
            status, body, _ = client.post("login", "/v1/auth/login", {"email": address, "password": password, "client": "dashboard"})
            if status == 202:
                token = body["challenge"]["token"]
                with tally.lock:
                    tally.challenges.append(token)
            continue
        status, body, _ = client.post("wrong_code", "/v1/auth/login/verify", {"challenge_token": token, "code": "000000"})
        if status in (403, 404, 410) or (status == 401 and body and body.get("error", {}).get("code") == "too_many_attempts"):
            token = None  # this challenge is spent: start another


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
        run_tollgate(["migrate"], base_env(DATABASE_URL=owner_url()))
        sink = Sink()
        stoppable.append(sink)
        port, metrics = free_port(), free_port()
        limits = dict(LIMIT_LOGINS_PER_IP=100000, LIMIT_FAILED_PASSWORDS=100000, LIMIT_CHALLENGES_PER_ACCOUNT=100000,
                      LIMIT_WRONG_CODES_PER_ACCOUNT=100000)
        server = Process("serve", [os.environ.get("TOLLGATE_BINARY") or binary_path(), "serve"], base_env(
            DATABASE_URL=owner_url("tollgate_api"), TOLLGATE_SECRET="bench-secret-" + "k" * 32, PORT=port, METRICS_PORT=metrics,
            PUBLIC_URL=f"http://127.0.0.1:{port}", DATABASE_STATEMENT_TIMEOUT=5, LOG_LEVEL="notice", **limits), logs)
        stoppable.append(server)
        worker = Process("worker", [os.environ.get("TOLLGATE_BINARY") or binary_path(), "worker"], base_env(
            DATABASE_URL=owner_url("tollgate_worker"), SMTP_URL=f"smtp://127.0.0.1:{sink.port}?starttls=never",
            DATABASE_STATEMENT_TIMEOUT=5, LOG_LEVEL="notice"), logs)
        stoppable.append(worker)
        url = f"http://127.0.0.1:{port}"
        for _ in deadline_loop(90, "serve to be ready", process=server):
            if not server.alive():
                raise SystemExit(f"bench: serve stopped:\n{server.output()}")
            try:
                if call("GET", url + "/health/ready")[0] == 200:
                    break
            except OSError:
                pass

        class Owner:
            def conninfo(self, user=None, database="tollgate"):
                return owner_url(user)

        company = Company(Owner(), "bench")

        class API:
            def api(self, method, path, body=None, token=None):
                return call(method, url + path, body, token)

        class Mail:
            def next_code(self, address):
                return sink.next_code(address, 60)

            def skip_all(self, address):
                sink.codes.pop(address.lower(), None)

        company.enable_two_factor(API(), Mail())
        users = [company.add(f"u{index}", "member", dashboard_access=True) for index in range(args.connections)]

        tally, stop = Tally(), threading.Event()
        threads = []
        for index, address in enumerate(users):
            target = whole_logins if index % 2 == 0 else wrong_codes
            threads.append(threading.Thread(target=target, args=(port, sink, address, company.password, tally, stop), daemon=True))
        started = time.monotonic()
        for thread in threads:
            thread.start()
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
        stop.set()
        for thread in threads:
            thread.join(timeout=150)
        ended = time.monotonic()

        answers = sorted(tally.answers, key=lambda answer: answer[0])
        statuses = {}
        for _, what, status in answers:
            statuses[f"{what}:{status}"] = statuses.get(f"{what}:{status}", 0) + 1
        unavailable = [t for t, _, status in answers if status == "503/unavailable"]
        window = 0.0
        if unavailable:
            recovered = next((t for t, _, status in answers if t > unavailable[-1] and status in (200, 202)), ended)
            window = recovered - unavailable[0]
        errors = sum(1 for _, _, status in answers if isinstance(status, int) and status >= 500)

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
        with sink.lock:
            received = list(sink.message_ids)
        missing = len(ids - set(received))
        duplicates = len(received) - len(set(received))
        counters = call("GET", f"http://127.0.0.1:{metrics}/metrics")[2]
        counters = counters.decode() if isinstance(counters, bytes) else str(counters)
        reconnects = re.search(r"^tollgate_db_reconnects_total (\S+)", counters, re.MULTILINE)

        seconds = ended - started
        line = (f"BENCH name=fault_{args.fault} connections={args.connections} seconds={seconds:.1f} "
                f"requests={len(answers)} rps={len(answers) / seconds:.0f} errors_5xx={errors} dropped={tally.dropped} "
                f"window_503_s={window:.2f} unavailable_503={len(unavailable)} "
                f"sessions={len(tally.sessions)} sessions_lost={lost_sessions} challenges={len(tally.challenges)} "
                f"challenges_lost={lost_challenges} emails_queued={queued} emails_sent={sent} emails_missing={missing} "
                f"duplicates={duplicates} reconnects={reconnects.group(1) if reconnects else '?'} "
                f"serve_restarted={not server.alive()} worker_restarted={not worker.alive()} "
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


def binary_path():
    for candidate in (REPO / ".build" / "release" / "tollgate", REPO / ".build" / "debug" / "tollgate"):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise SystemExit("bench: no tollgate binary (swift build -c release --product tollgate)")


if __name__ == "__main__":
    sys.exit(main())
