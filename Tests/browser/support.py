"""The pieces the browser tests run against: a private PostgreSQL cluster, a real SMTP server,
the real `tollgate serve` and `tollgate worker` processes, and a Chromium driven by Selenium.

Nothing here sleeps to synchronise: every wait polls a condition until a deadline.
"""
import json
import os
import random
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SECRET = "browser-tests-secret-" + "k" * 32


def deadline_loop(seconds, what, interval=0.1, process=None):
    """Yields until `seconds` have passed, then fails naming `what` (and showing the output of
    `process`, when given). Polling, with a deadline."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        yield
        time.sleep(interval)
    shown = f"; its output:\n{process.output()}" if process else ""
    raise AssertionError(f"timed out after {seconds} s waiting for {what}{shown}")


def free_port():
    """A free TCP port in 20000–32000 (below the ephemeral range, so nothing else takes it)."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def binary():
    path = os.environ.get("TOLLGATE_BINARY") or str(REPO / ".build" / "debug" / "tollgate")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"no tollgate binary at {path}: build it (swift build --product tollgate) or set TOLLGATE_BINARY")
    return path


def as_cluster_user(args):
    """PostgreSQL refuses to run as root: then its commands run as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--"] + args if os.geteuid() == 0 else args


class Cluster:
    """A throw-away PostgreSQL 15 cluster on a unix socket (no TCP), trust authentication."""

    def __init__(self, root):
        self.data = Path(root) / "pg"
        self.socket = Path(tempfile.mkdtemp(prefix="tg-browser-pg-", dir="/tmp"))
        self.port = free_port()
        self.superuser = "tollgate"

    def start(self):
        self.data.mkdir()
        if os.geteuid() == 0:
            for path in (self.data, self.socket):
                shutil.chown(path, "postgres", "postgres")
        subprocess.run(
            as_cluster_user([str(PG_BIN / "initdb"), "-D", str(self.data), "-U", self.superuser, "--auth=trust",
                             "--encoding=UTF8", "--no-locale", "--no-sync"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        options = (f"-k {self.socket} -p {self.port} -c listen_addresses='' -c max_connections=200 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        subprocess.run(
            as_cluster_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "server.log"),
                             "-o", options, "-w", "-t", "60", "start"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        subprocess.run(["psql", self.conninfo(database="postgres"), "-q", "-v", "ON_ERROR_STOP=1",
                        "-c", "CREATE DATABASE tollgate"], check=True, stdout=subprocess.DEVNULL)
        # A watchdog in a session of its own: if this test process dies without stopping the
        # cluster (killed by a time limit), the cluster stops too instead of running on.
        stop = shlex.join(as_cluster_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]))
        subprocess.Popen(["sh", "-c", f"while kill -0 {os.getpid()} 2>/dev/null; do sleep 1; done; {stop}"],
                         start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        subprocess.run(as_cluster_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.socket, ignore_errors=True)

    def query(self, sql, *values):
        """One value from the database, read as its owner with psql (values bound as variables)."""
        args = ["psql", self.conninfo(), "-At", "-v", "ON_ERROR_STOP=1"]
        for index, value in enumerate(values, 1):
            args += ["-v", f"v{index}={value}"]
        result = subprocess.run(args, input=sql, capture_output=True, text=True, check=True)
        return result.stdout.strip()

    def conninfo(self, user=None, database="tollgate"):
        return f"host={self.socket} port={self.port} user={user or self.superuser} dbname={database}"


class Process:
    """A child process whose output goes to a log file (shown when something fails)."""

    def __init__(self, name, args, env, logs):
        self.name = name
        self.log_path = Path(logs) / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def alive(self):
        return self.popen.poll() is None

    def output(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self):
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


def run_tollgate(args, env):
    """Runs a tollgate command to completion; returns its stdout."""
    result = subprocess.run([binary()] + args, env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"tollgate {' '.join(args[:2])} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result.stdout


def base_env(**extra):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DASHBOARD_", "CORS_", "TLS_", "CODE_", "RESEND_"))}
    env.update({"LOG_LEVEL": "warning", "TZ": "UTC"})
    env.update({key: str(value) for key, value in extra.items()})
    return env


def http(method, url, body=None, token=None, cafile=None, headers=None):
    """One HTTP call: (status, headers, parsed JSON or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=20, context=context) as response:
            raw = response.read()
            is_json = (response.headers.get("Content-Type") or "").startswith("application/json")
            return response.status, response.headers, (json.loads(raw) if raw and is_json else raw)
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return error.code, error.headers, parsed


class Server:
    """One `tollgate serve` process."""

    def __init__(self, name, cluster, logs, tls=None, port=None, **settings):
        self.port = port or free_port()
        self.tls = tls
        scheme = "https" if tls else "http"
        host = settings.pop("url_host", "127.0.0.1")
        self.url = f"{scheme}://{host}:{self.port}"
        env = base_env(
            DATABASE_URL=cluster.conninfo(user="tollgate_api"), TOLLGATE_SECRET=SECRET, PORT=self.port,
            # Every test logs in from 127.0.0.1: the per-address limit (60 a minute) is not under test here.
            LIMIT_LOGINS_PER_IP=100000, PUBLIC_URL=self.url, **settings,
        )
        if tls:
            env.update(TLS_CERT_PATH=str(tls.cert), TLS_KEY_PATH=str(tls.key))
        self.process = Process(name, [binary(), "serve"], env, logs)
        self.cafile = str(tls.ca) if tls else None
        for _ in deadline_loop(60, f"{name} to be ready", process=self.process):
            if not self.process.alive():
                raise RuntimeError(f"{name} stopped:\n{self.process.output()}")
            try:
                if http("GET", f"{self.url}/health/ready", cafile=self.cafile)[0] == 200:
                    break
            except (OSError, urllib.error.URLError):
                pass

    def api(self, method, path, body=None, token=None):
        return http(method, self.url + path, body, token, cafile=self.cafile)

    def stop(self):
        self.process.stop()


class Worker:
    def __init__(self, cluster, smtp_port, logs, name="worker"):
        self.metrics = free_port()
        env = base_env(DATABASE_URL=cluster.conninfo(user="tollgate_worker"),
                       SMTP_URL=f"smtp://127.0.0.1:{smtp_port}?starttls=never", WORKER_METRICS_PORT=self.metrics)
        self.process = Process(name, [binary(), "worker"], env, logs)
        for _ in deadline_loop(60, "the worker to be ready", process=self.process):
            if not self.process.alive():
                raise RuntimeError(f"worker stopped:\n{self.process.output()}")
            try:
                if http("GET", f"http://127.0.0.1:{self.metrics}/health/ready")[0] == 200:
                    break
            except (OSError, urllib.error.URLError):
                pass

    def stop(self):
        self.process.stop()


CODE_LINE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)


class Mailbox:
    """The SMTP sink (Tests/MailerTests/smtp_sink.py) and what it received."""

    def __init__(self, root, logs):
        self.folder = Path(root) / "mail"
        info = Path(root) / "smtp.json"
        self.process = Process("smtp", [sys.executable, str(REPO / "Tests" / "MailerTests" / "smtp_sink.py"),
                                        "--dir", str(self.folder), "--port", "0", "--info", str(info)], os.environ.copy(), logs)
        for _ in deadline_loop(30, "the SMTP sink to start"):
            if not self.process.alive():
                raise RuntimeError(f"SMTP sink stopped:\n{self.process.output()}")
            if info.exists():
                self.port = json.loads(info.read_text())["port"]
                break
        self.seen = set()  # file names read
        self.seen_ids = set()  # Message-IDs read: delivery is at least once, and a resent email is no new code

    @staticmethod
    def message_id(record):
        return (record.get("headers") or {}).get("Message-ID", "").strip().strip("<>")

    def messages(self, address):
        found = []
        for path in sorted(self.folder.glob("*.json"), key=lambda p: p.stat().st_mtime_ns):
            record = json.loads(path.read_text())
            if address.lower() in [to.lower() for to in record["rcpt_tos"]]:
                found.append((path.name, record))
        return found

    def next_code(self, address, timeout=30):
        """The code of the newest code email to `address` not read before (waits for it)."""
        return self.next_code_email(address, timeout)[0]

    def next_code_email(self, address, timeout=30):
        """(code, text) of the newest code email to `address` not read before (waits for it)."""
        for _ in deadline_loop(timeout, f"a code email to {address}"):
            fresh = [(name, record) for name, record in self.messages(address) if name not in self.seen]
            new = [record for _, record in fresh if not self.message_id(record) or self.message_id(record) not in self.seen_ids]
            codes = [(CODE_LINE.search(record["text"] or ""), record["text"]) for record in new]
            codes = [(match.group(1), text) for match, text in codes if match]
            if codes:
                self.seen.update(name for name, _ in fresh)
                self.seen_ids.update(self.message_id(record) for _, record in fresh if self.message_id(record))
                return codes[-1]

    def next_link(self, address, marker, timeout=30):
        """The first URL containing `marker` in an email to `address` not read before."""
        pattern = re.compile(r"https?://\S*" + re.escape(marker) + r"[^\s<>\"]+")
        for _ in deadline_loop(timeout, f"an email to {address} with {marker}"):
            for name, record in self.messages(address):
                if name in self.seen:
                    continue
                match = pattern.search(record["text"] or "")
                if match:
                    self.seen.add(name)
                    return match.group(0)

    def skip_all(self, address):
        """Marks every email to `address` so far as read."""
        self.seen.update(name for name, _ in self.messages(address))

    def stop(self):
        self.process.stop()


class Company:
    """A company made with the command line, with an owner and any other users."""

    def __init__(self, cluster, label):
        self.cluster = cluster
        self.tag = uuid.uuid4().hex[:8]
        self.name = f"{label.title()} {self.tag}"
        self.password = f"pass-{self.tag}-Kestrel"
        self.owner = self.email("owner")
        created = json.loads(run_tollgate(
            ["company", "create", "--name", self.name, "--owner-email", self.owner, "--owner-password", self.password,
             "--owner-name", "Olivia Owner", "--json"],
            base_env(DATABASE_URL=cluster.conninfo()),
        ))
        self.id = created["company_id"]

    def email(self, who):
        return f"{who}-{self.tag}@example.test"

    def add(self, who, role, dashboard_access=False, name=None):
        address = self.email(who)
        args = ["user", "add", "--company-id", self.id, "--email", address, "--password", self.password, "--role", role, "--json"]
        if dashboard_access:
            args.append("--dashboard-access")
        if name:
            args += ["--name", name]
        run_tollgate(args, base_env(DATABASE_URL=self.cluster.conninfo()))
        return address

    def enable_two_factor(self, server, mailbox):
        """Turns 2FA on through the API, as an owner would (the browser test of that is separate)."""
        status, _, body = server.api("POST", "/v1/auth/login", {"email": self.owner, "password": self.password, "client": "dashboard"})
        assert status == 200, body
        token = body["session"]["token"]
        status, _, body = server.api("POST", "/v1/company/security/two-factor/activation", {}, token)
        assert status == 202, body
        activation = body["activation"]["id"]
        code = mailbox.next_code(self.owner)
        status, _, body = server.api("POST", f"/v1/company/security/two-factor/activation/{activation}/verify", {"code": code}, token)
        assert status == 200, body
        status, _, body = server.api("POST", "/v1/company/security/two-factor/enable", {"activation_id": activation, "confirm": True}, token)
        assert status == 200, body
        server.api("POST", "/v1/auth/logout", {}, token)
        mailbox.skip_all(self.owner)


class TLSFiles:
    """A test certificate authority and a server certificate for localhost and 127.0.0.1."""

    def __init__(self, root):
        folder = Path(root) / "tls"
        folder.mkdir()
        self.ca, self.ca_key = folder / "ca.pem", folder / "ca.key"
        self.cert, self.key = folder / "server.pem", folder / "server.key"
        quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.ca_key, "-out", self.ca,
                        "-days", "2", "-subj", "/CN=Tollgate browser tests CA",
                        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], **quiet)
        csr = folder / "server.csr"
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out", csr,
                        "-subj", "/CN=localhost"], **quiet)
        extensions = folder / "server.ext"
        extensions.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                              "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key, "-CAcreateserial",
                        "-out", self.cert, "-days", "2", "-extfile", extensions], **quiet)
        if os.geteuid() == 0:
            # The server reads these as the user that runs it (root here); nothing else needs them.
            os.chmod(self.key, 0o600)

    def browser_home(self, root):
        """A HOME whose NSS database trusts the test CA: Chromium on Linux reads ~/.pki/nssdb."""
        home = Path(root) / "chromium-home"
        if home.exists():
            return home
        nssdb = home / ".pki" / "nssdb"
        nssdb.mkdir(parents=True)
        subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-N", "--empty-password"], check=True)
        subprocess.run(["certutil", "-d", f"sql:{nssdb}", "-A", "-t", "C,,", "-n", "tollgate-browser-tests", "-i", str(self.ca)],
                       check=True)
        return home
