"""SPEC §15 through a real failover: a pg_auto_failover cluster (scripts/ha-cluster, a monitor and
two nodes in synchronous replication), the real `tollgate serve` and `tollgate worker` on the
two-host DATABASE_URL, clients logging in throughout a planned switchover, a kill -9 of the
primary's postmaster, and a SIGSTOP of the next primary (a server that keeps its connections
open and never answers).

Asserted: no answer is a 500 (503s carry Retry-After); every acknowledged challenge (202) and
session (200) is on the new primary; every queued email reaches the SMTP sink; the same server
and worker processes recover by themselves. The worker polls only once an hour here, so its
recovery after the failover is its LISTEN reconnecting and rescanning, not the fallback poll.

Nothing sleeps to synchronise: each phase waits for a condition (so many successes, the cluster
settled, every email delivered) under a deadline.
"""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tests" / "browser"))

from support import CODE_LINE, Company, Mailbox, Process, base_env, binary, deadline_loop, free_port, http, run_tollgate  # noqa: E402

CLIENTS = 6
SCRIPT = REPO / "scripts" / "ha-cluster"


def free_port_block(count):
    """The first of `count` consecutive free ports in 20000–32000."""
    for _ in range(200):
        first = random.randint(20000, 32000 - count)
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError("no free ports")


class HACluster:
    """scripts/ha-cluster in a folder of its own; conninfo() is the two-host URL as a role."""

    def __init__(self, root):
        self.env = dict(os.environ, HA_CLUSTER_DIR=str(Path(root) / "ha"), HA_CLUSTER_PORT=str(free_port_block(3)))
        self.url = self.command("start").strip().splitlines()[-1]

    def command(self, *args, timeout=240):
        result = subprocess.run([str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"ha-cluster {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
        return result.stdout

    def primary(self):
        return int(self.command("primary").strip())

    def conninfo(self, user=None, database="tollgate"):
        assert database == "tollgate"
        return self.url.replace("postgres@", f"{user or 'postgres'}@", 1)

    def query(self, sql):
        """One value, read as the superuser on whichever node is the primary now."""
        args = ["psql", self.conninfo(), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]
        return subprocess.run(args, capture_output=True, text=True, check=True, timeout=30).stdout.strip()

    def stop(self):
        subprocess.run([str(SCRIPT), "stop"], env=self.env, capture_output=True, timeout=120)


class Tally:
    """What the clients saw, shared between their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = {}
        self.challenges = []  # tokens of acknowledged (202) challenges
        self.sessions = []  # tokens of acknowledged (200) sessions
        self.problems = []  # answers that break the promise: 500s, 503s without Retry-After, dropped connections
        self.unavailable_after_ack = 0  # verifies answered 503 whose retry found the challenge used (ambiguous commit)
        self.codes_of_unacknowledged_logins = 0  # codes of logins answered 503 that had committed

    def saw(self, what, status, headers, body):
        with self.lock:
            self.statuses[f"{what} {status}"] = self.statuses.get(f"{what} {status}", 0) + 1
            if status >= 500 and status != 503:
                self.problems.append(f"{what} answered {status}: {body}")
            if status == 503 and not (headers and headers.get("Retry-After")):
                self.problems.append(f"{what} answered 503 without Retry-After: {body}")

    def successes(self):
        with self.lock:
            return len(self.sessions)


def call(tally, what, server, path, body, token=None):
    try:
        status, headers, parsed = http("POST" if body is not None else "GET", server + path, body, token)
    except (OSError, urllib.error.URLError) as error:
        with tally.lock:
            tally.problems.append(f"{what}: no answer ({error})")
        return None, None
    tally.saw(what, status, headers, parsed)
    return status, parsed


def client(tally, server, mailbox, address, password, stop):
    """Runs `logins` until the test ends; whatever it raises is a problem, not a silent thread death."""
    try:
        logins(tally, server, mailbox, address, password, stop)
    except Exception as error:  # noqa: BLE001 - reported through the tally
        with tally.lock:
            tally.problems.append(f"client {address} stopped: {error!r}")


def logins(tally, server, mailbox, address, password, stop):
    """Logs in over and over: password (202 and a challenge), the code from the SMTP sink, verify
    (200 and a session). A 503 is tried again; the test ends the loop.

    A login answered 503 may still have committed (its answer was lost with the connection), and
    then its code email arrives too. Each such login explains at most one wrong code: the client
    then takes the next email. Resent emails (same Message-ID) are skipped by the mailbox."""
    unacknowledged_logins = 0
    while not stop.is_set():
        status, body = call(tally, "login", server, "/v1/auth/login", {"email": address, "password": password, "client": "dashboard"})
        if status != 202:
            if status == 503:
                unacknowledged_logins += 1
            time.sleep(0.05)  # pacing the retry of a 503, not synchronisation
            continue
        token = body["challenge"]["token"]
        with tally.lock:
            tally.challenges.append(token)
        # The code arrives once the worker sends it, failover or not; the mailbox waits.
        code = mailbox.next_code(address, timeout=120)
        unavailable = False
        while True:
            status, body = call(tally, "verify", server, "/v1/auth/login/verify", {"challenge_token": token, "code": code})
            if status == 503:
                unavailable = True
                time.sleep(0.05)
                continue
            if status == 401 and body["error"]["code"] == "invalid_code" and unacknowledged_logins > 0:
                unacknowledged_logins -= 1
                with tally.lock:
                    tally.codes_of_unacknowledged_logins += 1
                code = mailbox.next_code(address, timeout=120)
                continue
            break
        if status == 200:
            with tally.lock:
                tally.sessions.append(body["session"]["token"])
        elif status == 410 and unavailable:
            # The COMMIT went through but its answer was lost with the connection: the 503 was
            # not an acknowledgement, and the retry finds the challenge used. Not a loss.
            with tally.lock:
                tally.unavailable_after_ack += 1
        else:
            with tally.lock:
                tally.problems.append(f"verify of an acknowledged challenge answered {status}: {body}")


def wait_for(what, condition, seconds, processes=()):
    for _ in deadline_loop(seconds, what, interval=0.2):
        for process in processes:
            assert process.alive(), f"{process.name} stopped:\n{process.output()}"
        if condition():
            return


@pytest.fixture(scope="module")
def world():
    if shutil.which("pg_autoctl") is None:
        if os.environ.get("REQUIRE_HA_TEST") == "1":
            pytest.fail("pg_autoctl is missing (scripts/setup --test installs postgresql-15-auto-failover)")
        pytest.skip("pg_autoctl is missing: apt-get install postgresql-15-auto-failover (scripts/setup --test does)")
    root = Path(tempfile.mkdtemp(prefix="tollgate-ha-test-", dir="/tmp"))
    root.chmod(0o755)  # the cluster's user must reach its folder inside
    logs = root / "logs"
    logs.mkdir()
    stoppable = []
    try:
        cluster = HACluster(root)
        stoppable.append(cluster)
        run_tollgate(["migrate"], base_env(DATABASE_URL=cluster.conninfo()))
        mailbox = Mailbox(root, logs)
        stoppable.append(mailbox)
        server_port, metrics_port, worker_metrics = free_port(), free_port(), free_port()
        server = Process("serve", [binary(), "serve"], base_env(
            DATABASE_URL=cluster.conninfo("tollgate_api"), TOLLGATE_SECRET="ha-test-secret-" + "k" * 32, PORT=server_port,
            METRICS_PORT=metrics_port, LIMIT_LOGINS_PER_IP=100000, LIMIT_CHALLENGES_PER_ACCOUNT=100000,
            PUBLIC_URL=f"http://127.0.0.1:{server_port}", DATABASE_STATEMENT_TIMEOUT=5, LOG_LEVEL="info",
        ), logs)
        stoppable.append(server)
        worker = Process("worker", [binary(), "worker"], base_env(
            DATABASE_URL=cluster.conninfo("tollgate_worker"), SMTP_URL=f"smtp://127.0.0.1:{mailbox.port}?starttls=never",
            WORKER_METRICS_PORT=worker_metrics, WORKER_POLL_INTERVAL=3600, DATABASE_STATEMENT_TIMEOUT=5,
            LOG_LEVEL="info",
        ), logs)
        stoppable.append(worker)
        url = f"http://127.0.0.1:{server_port}"
        for target in (f"{url}/health/ready", f"http://127.0.0.1:{worker_metrics}/health/ready"):
            for _ in deadline_loop(60, f"{target} to answer 200"):
                assert server.alive() and worker.alive(), server.output() + worker.output()
                try:
                    if http("GET", target)[0] == 200:
                        break
                except (OSError, urllib.error.URLError):
                    pass
        yield {"cluster": cluster, "mailbox": mailbox, "server": server, "worker": worker, "url": url,
               "metrics": f"http://127.0.0.1:{metrics_port}/metrics", "worker_metrics": f"http://127.0.0.1:{worker_metrics}/metrics",
               "logs": logs}
    finally:
        for thing in reversed(stoppable):
            thing.stop()
        shutil.rmtree(root, ignore_errors=True)


def metric(url, name):
    """The sum of a Prometheus metric's samples (0 when absent)."""
    text = http("GET", url)[2]
    text = text.decode() if isinstance(text, bytes) else str(text)
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + " ") or line.startswith(name + "{"))


def test_switchover_kill_and_freeze_keep_every_promise(world):
    cluster, mailbox, server, worker, url = world["cluster"], world["mailbox"], world["server"], world["worker"], world["url"]
    serve_pid, worker_pid = server.popen.pid, worker.popen.pid
    company = Company(cluster, "failover")

    class Adapter:  # Company.enable_two_factor speaks to a server through .api
        def api(self, method, path, body=None, token=None):
            return http(method, url + path, body, token)

    company.enable_two_factor(Adapter(), mailbox)
    users = [company.add(f"user{index}", "member", dashboard_access=True) for index in range(CLIENTS)]

    tally, stop = Tally(), threading.Event()
    threads = [threading.Thread(target=client, args=(tally, url, mailbox, address, company.password, stop), daemon=True)
               for address in users]
    for thread in threads:
        thread.start()
    processes = (server, worker)
    phases = []
    try:
        wait_for("logins before the switchover", lambda: tally.successes() >= 2 * CLIENTS, 120, processes)
        first = cluster.primary()
        cluster.command("switchover")
        assert cluster.primary() != first
        after_switchover = tally.successes()
        wait_for("logins after the switchover", lambda: tally.successes() >= after_switchover + 2 * CLIENTS, 120, processes)
        phases.append(("switchover", after_switchover))

        second = cluster.primary()
        cluster.command("kill-primary")
        wait_for("the standby's promotion", lambda: cluster.command("primary").strip() not in ("", str(second)), 120, processes)
        after_kill = tally.successes()
        wait_for("logins after the kill -9 failover", lambda: tally.successes() >= after_kill + 2 * CLIENTS, 120, processes)
        phases.append(("kill -9", after_kill))

        # A primary that stops answering but keeps its connections open: requests on them are
        # abandoned after DATABASE_STATEMENT_TIMEOUT + 3 s instead of waiting for ever.
        cluster.command("rejoin")
        cluster.command("wait")  # the killed node is back as the synchronous standby
        third = cluster.primary()
        cluster.command("freeze-primary")
        wait_for("the frozen primary's replacement", lambda: cluster.command("primary").strip() not in ("", str(third)), 180, processes)
        after_freeze = tally.successes()
        wait_for("logins after the freeze", lambda: tally.successes() >= after_freeze + 2 * CLIENTS, 120, processes)
        cluster.command("thaw")
        phases.append(("freeze", after_freeze))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=150)
    assert not any(thread.is_alive() for thread in threads), "a client is stuck"

    assert tally.problems == [], "\n".join(tally.problems[:20])
    assert server.popen.pid == serve_pid and server.alive(), "serve restarted or stopped"
    assert worker.popen.pid == worker_pid and worker.alive(), "worker restarted or stopped"

    # Every acknowledged session answers on the new primary.
    for token in tally.sessions:
        status, _, body = http("GET", url + "/v1/me", token=token)
        assert status == 200, f"an acknowledged session is gone: {status} {body}"
    # Every acknowledged challenge is there: used (410, the client verified it) or open (200).
    for token in tally.challenges:
        status, _, body = http("POST", url + "/v1/auth/login/challenge", {"challenge_token": token})
        assert status in (200, 410), f"an acknowledged challenge is gone: {status} {body}"
    # Every queued email was sent, and the SMTP sink has each one (by Message-ID).
    queued = int(cluster.query("SELECT count(*) FROM email_outbox"))
    assert queued >= len(tally.challenges)

    def all_sent():
        return cluster.query("SELECT count(*) FROM email_outbox WHERE status <> 'sent'") == "0"

    wait_for("every queued email to be sent", all_sent, 120, processes)
    ids = set(cluster.query("SELECT message_id FROM email_outbox").split())
    received = [json.loads(path.read_text()) for path in mailbox.folder.glob("*.json")]
    received_ids = [record["headers"].get("Message-ID", "").strip().strip("<>") for record in received]
    missing = ids - set(received_ids)
    assert not missing, f"{len(missing)} queued emails never reached the SMTP server"
    duplicates = len(received_ids) - len(set(received_ids))

    reconnects = metric(world["metrics"], "tollgate_db_reconnects_total")
    refusals = metric(world["metrics"], "tollgate_db_unavailable_total")
    statuses = ", ".join(f"{key}: {value}" for key, value in sorted(tally.statuses.items()))
    print(f"\nHA: {len(tally.challenges)} challenges and {len(tally.sessions)} sessions acknowledged, 0 lost; "
          f"{len(ids)} emails queued, {len(ids)} delivered, {duplicates} duplicates; "
          f"{tally.unavailable_after_ack} verifies and {tally.codes_of_unacknowledged_logins} logins committed behind a 503; answers: {statuses}; "
          f"serve: {reconnects:.0f} reconnects, {refusals:.0f} unavailable answers; no restart")
