"""The mixed login load of issue 28's benches (failover.py, slow-clients.py, soak.py) and what it
runs against: `tollgate serve` and `tollgate worker` on a database, an SMTP sink in this process,
and a company with two-factor on whose users log in.

The load is keep-alive clients, one thread each: half run whole logins (password, the code from
the sink, verify), half send wrong codes to challenges of their own (and every fifth challenge
the right code, so that no account locks). Every answer is counted by
request and status, with its latency. Needs the test tools (.venv: aiosmtpd); loopback only.
"""
import contextlib
import email
import email.policy
import http.client
import json
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "browser"))

from aiosmtpd.controller import Controller  # noqa: E402
from support import Cluster, Company, Process, base_env, deadline_loop, free_port, run_tollgate  # noqa: E402
from support import http as call  # noqa: E402

CODE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)

# Abuse limits far above what a run reaches, so that a run measures the work, not a refusal.
LIMITS = dict(LIMIT_LOGINS_PER_IP=1000000, LIMIT_FAILED_PASSWORDS=100000, LIMIT_CHALLENGES_PER_ACCOUNT=100000,
              LIMIT_WRONG_CODES_PER_ACCOUNT=100000)


def binary_path():
    """$TOLLGATE_BINARY, else the release build, else the debug build of this checkout."""
    candidates = [os.environ.get("TOLLGATE_BINARY"), REPO / ".build" / "release" / "tollgate", REPO / ".build" / "debug" / "tollgate"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate)
    raise SystemExit("bench: no tollgate binary (swift build -c release --product tollgate)")


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

    def forget(self, address):
        """Drops the codes `address` was sent and nobody read (the wrong-code clients' own)."""
        with self.lock:
            self.codes.pop(address.lower(), None)

    def stop(self):
        self.controller.stop()


class Tally:
    """Answers by request and status; with `keep`, each answer's time and latency too."""

    def __init__(self, keep=True):
        self.lock = threading.Lock()
        self.keep = keep
        self.answers = []  # (monotonic time of the answer, what, status, seconds)
        self.counts = {}  # "what:status" -> answers
        self.challenges = []
        self.sessions = []
        self.dropped = 0

    def add(self, what, status, seconds):
        with self.lock:
            if self.keep:
                self.answers.append((time.monotonic(), what, status, seconds))
            key = f"{what}:{status}"
            self.counts[key] = self.counts.get(key, 0) + 1

    def acknowledged(self, kind, token):
        if self.keep:
            with self.lock:
                getattr(self, kind).append(token)


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, port, tally):
        self.port, self.tally = port, tally
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, what, path, body):
        for _ in range(2):
            try:
                sent = time.monotonic()
                self.connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
                response = self.connection.getresponse()
                raw = response.read()
                seconds = time.monotonic() - sent
                parsed = json.loads(raw) if raw else None
                # A refusal is counted with its error code: 503 `busy` (password hashing saturated)
                # is load, 503 `unavailable` the database, 401 `invalid_code` the wrong code.
                code = (parsed.get("error") or {}).get("code") if response.status >= 400 and isinstance(parsed, dict) else None
                self.tally.add(what, f"{response.status}/{code}" if code else response.status, seconds)
                return response.status, parsed, response.getheader("Retry-After")
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        with self.tally.lock:
            self.tally.dropped += 1
        return None, None, None


def enter_code(client, sink, address, token, tally):
    """Verifies the challenge `token` with the codes `address` was sent, oldest first, until one
    is right: under load the worker lags, and an earlier challenge's email can arrive after this
    challenge started, with a code that is wrong here. A 503 is tried again for up to a minute,
    even after the load stops. True on a 200."""
    give_up = time.monotonic() + 60
    code = sink.next_code(address, 120)
    while code is not None:
        status, body, _ = client.post("verify", "/v1/auth/login/verify", {"challenge_token": token, "code": code})
        if status == 200:
            tally.acknowledged("sessions", body["session"]["token"])
            return True
        if status == 503 and time.monotonic() < give_up:
            continue
        if status != 401 or (body or {}).get("error", {}).get("code") != "invalid_code":
            return False
        code = sink.next_code(address, 120)
    return False


def whole_logins(port, sink, addresses, password, tally, stop):
    """Logs in again and again, each time as the next of `addresses`: password, code, verify."""
    client = Client(port, tally)
    turn = 0
    while not stop.is_set():
        address = addresses[turn % len(addresses)]
        turn += 1
        status, body, _ = client.post("login", "/v1/auth/login", {"email": address, "password": password, "client": "dashboard"})
        if status == 202:
            tally.acknowledged("challenges", body["challenge"]["token"])
            enter_code(client, sink, address, body["challenge"]["token"], tally)


def wrong_codes(port, sink, addresses, password, tally, stop, right_every=5):
    """Sends wrong codes to a challenge until it is spent, then starts one as the next address.
    Every `right_every`-th challenge of an account takes the right code (from the sink) instead:
    a right code ends the account's run of wrong codes, which at 100 in a row would lock its
    login for a day (SPEC §5) and turn the rest of a long run into 403 refusals."""
    client = Client(port, tally)
    token = None
    turn = 0
    started = {address: 0 for address in addresses}  # challenges started, by account
    while not stop.is_set():
        if token is None:
            address = addresses[turn % len(addresses)]
            turn += 1
            sink.forget(address)
            status, body, _ = client.post("login", "/v1/auth/login", {"email": address, "password": password, "client": "dashboard"})
            if status == 202:
                token = body["challenge"]["token"]
                tally.acknowledged("challenges", token)
                started[address] += 1
            continue
        if started[address] % right_every == 0:
            enter_code(client, sink, address, token, tally)
            token = None
            continue
        status, body, _ = client.post("wrong_code", "/v1/auth/login/verify", {"challenge_token": token, "code": "000000"})
        if status in (403, 404, 410) or (status == 401 and body and body.get("error", {}).get("code") == "too_many_attempts"):
            token = None  # this challenge is spent: start another


class Stack:
    """`serve` and `worker` on the database `owner_url` names (a callable: the owner's conninfo,
    or a role's with `owner_url(role)`), the SMTP sink, and a company with two-factor on."""

    def __init__(self, root, owner_url, statement_timeout=5, log_level="notice", **serve_settings):
        # support.run_tollgate (migrate, company create) finds the binary through TOLLGATE_BINARY.
        os.environ["TOLLGATE_BINARY"] = binary_path()
        self.owner_url = owner_url
        self.logs = Path(root) / "logs"
        self.logs.mkdir(exist_ok=True)
        self.stoppable = []
        try:
            run_tollgate(["migrate"], base_env(DATABASE_URL=owner_url()))
            self.sink = Sink()
            self.stoppable.append(self.sink)
            self.port, self.metrics = free_port(), free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self.server = Process("serve", [binary_path(), "serve"], base_env(
                DATABASE_URL=owner_url("tollgate_api"), TOLLGATE_SECRET="bench-secret-" + "k" * 32, PORT=self.port,
                METRICS_PORT=self.metrics, PUBLIC_URL=self.url, DATABASE_STATEMENT_TIMEOUT=statement_timeout,
                LOG_LEVEL=log_level, **{**LIMITS, **serve_settings}), self.logs)
            self.stoppable.append(self.server)
            self.worker = Process("worker", [binary_path(), "worker"], base_env(
                DATABASE_URL=owner_url("tollgate_worker"), SMTP_URL=f"smtp://127.0.0.1:{self.sink.port}?starttls=never",
                DATABASE_STATEMENT_TIMEOUT=statement_timeout, LOG_LEVEL=log_level), self.logs)
            self.stoppable.append(self.worker)
            for _ in deadline_loop(90, "serve to be ready", process=self.server):
                if not self.server.alive():
                    raise SystemExit(f"bench: serve stopped:\n{self.server.output()}")
                try:
                    if call("GET", self.url + "/health/ready")[0] == 200:
                        break
                except OSError:
                    pass
            stack = self

            class Owner:
                def conninfo(self, user=None, database="tollgate"):
                    return owner_url(user)

            class API:
                def api(self, method, path, body=None, token=None):
                    return call(method, stack.url + path, body, token)

            class Mail:
                def next_code(self, address):
                    return stack.sink.next_code(address, 60)

                def skip_all(self, address):
                    stack.sink.forget(address)

            self.company = Company(Owner(), "bench")
            self.company.enable_two_factor(API(), Mail())
        except BaseException:
            self.stop()
            raise

    def add_users(self, count, prefix="u"):
        """`count` dashboard users of the company (made with the command line, one by one)."""
        return [self.company.add(f"{prefix}{index}", "member", dashboard_access=True) for index in range(count)]

    def load(self, users, connections, tally):
        """A Load of `connections` clients over `users` (each client its own share of them)."""
        return Load(self, users, connections, tally)

    def metric(self, name):
        """One unlabelled value of serve's /metrics, or None."""
        body = call("GET", f"http://127.0.0.1:{self.metrics}/metrics")[2]
        body = body.decode() if isinstance(body, bytes) else str(body)
        found = re.search(rf"^{re.escape(name)} (\S+)", body, re.MULTILINE)
        return found.group(1) if found else None

    def stop(self):
        for thing in reversed(self.stoppable):
            try:
                thing.stop()
            except Exception as error:  # keep stopping the rest
                print(f"bench: stopping {thing}: {error}", file=sys.stderr)
        self.stoppable = []


@contextlib.contextmanager
def single_node(name, **serve_settings):
    """A private PostgreSQL (unix socket, fsync off) and a Stack on it: yields (cluster, stack),
    then stops both and removes their folder (kept, logs and all, with BENCH_KEEP_STATE=1)."""
    root = Path(tempfile.mkdtemp(prefix=f"tollgate-bench-{name}-", dir="/tmp"))
    root.chmod(0o755)
    cluster = Cluster(root)
    stack = None
    try:
        cluster.start()
        stack = Stack(root, lambda user=None: cluster.conninfo(user=user), **serve_settings)
        yield cluster, stack
    finally:
        if stack:
            stack.stop()
        cluster.stop()
        if os.environ.get("BENCH_KEEP_STATE") == "1":
            print(f"bench: logs in {root / 'logs'}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


class Load:
    """The mixed load's threads: even-numbered clients run whole logins, odd ones wrong codes."""

    def __init__(self, stack, users, connections, tally):
        self.stop_event = threading.Event()
        self.threads = []
        for index in range(connections):
            target = whole_logins if index % 2 == 0 else wrong_codes
            share = users[index::connections]
            self.threads.append(threading.Thread(target=target, daemon=True, args=(
                stack.port, stack.sink, share, stack.company.password, tally, self.stop_event)))

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def stop(self, timeout=150):
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=timeout)


def is_failure(status):
    """A 5xx answer other than 503 `busy` (the password-hashing queue full: load, not a fault)."""
    return str(status).startswith("5") and str(status) != "503/busy"


def percentile(values, fraction):
    """The nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def process_sample(pid):
    """(RSS in KiB from /proc/PID/status VmRSS, open file descriptors) of a running process."""
    rss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
                break
    return rss, len(os.listdir(f"/proc/{pid}/fd"))
