"""Fixtures for the browser tests: one private PostgreSQL, one SMTP sink and one worker for the
whole run; `serve` processes with the settings a test needs; a fresh Chromium per test."""
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from page import Page, start_chromium
from support import REPO, Cluster, Company, Mailbox, Server, TLSFiles, Worker, base_env, free_port, run_tollgate

SCREENSHOTS = REPO / ".build" / "screenshots"


class World:
    """Everything shared by the run; servers are started on first use and kept."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="tollgate-browser-", dir="/tmp"))
        self.root.chmod(0o755)  # the cluster's user must reach its data folder inside
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.stoppable = []
        self.cluster = Cluster(self.root)
        self.cluster.start()
        self.stoppable.append(self.cluster)
        run_tollgate(["migrate"], base_env(DATABASE_URL=self.cluster.conninfo()))
        self.mailbox = Mailbox(self.root, self.logs)
        self.stoppable.append(self.mailbox)
        self.worker = Worker(self.cluster, self.mailbox.port, self.logs)
        self.stoppable.append(self.worker)
        self.servers = {}
        self._tls = None

    def restart_worker(self):
        """Stops the email worker; call the returned function to start it again."""
        self.worker.stop()
        self.stoppable.remove(self.worker)

        def start():
            self.worker = Worker(self.cluster, self.mailbox.port, self.logs, name=f"worker-{len(self.stoppable)}")
            self.stoppable.append(self.worker)

        return start

    def server(self, name, **settings):
        if name not in self.servers:
            self.servers[name] = Server(name, self.cluster, self.logs, **settings)
            self.stoppable.append(self.servers[name])
        return self.servers[name]

    @property
    def tls(self):
        if self._tls is None:
            self._tls = TLSFiles(self.root)
        return self._tls

    def company(self, label):
        return Company(self.cluster, label)

    def logs_text(self):
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.logs.glob("*.log")))

    def close(self):
        for thing in reversed(self.stoppable):
            thing.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def world():
    made = World()
    yield made
    made.close()


@pytest.fixture(scope="session")
def main_server(world):
    """Default code rules (10-minute codes, 3 new codes, 30 s between them)."""
    return world.server("main")


@pytest.fixture(scope="session")
def quick_server(world):
    """Short code rules, for expiry, resend and closing within seconds."""
    return world.server("quick", CODE_TTL=20, RESEND_COOLDOWN=4, CODE_MAX_RESENDS=1)


PASSKEY_ELSEWHERE_PORT = free_port()


@pytest.fixture(scope="session")
def passkey_server(world):
    """The API and dashboard at http://localhost:PORT (PUBLIC_URL too): a secure context for
    Chromium, so the relying party ID is `localhost`. It lets the page of `passkey_elsewhere`
    call it (CORS), so that page can try a ceremony from an origin the company does not use."""
    return world.server("passkeys", url_host="localhost", CORS_ALLOWED_ORIGINS=f"http://localhost:{PASSKEY_ELSEWHERE_PORT}")


@pytest.fixture(scope="session")
def passkey_elsewhere(world, passkey_server):
    """A second `serve` whose page, at http://localhost:OTHER, uses `passkey_server` as its API:
    an origin where the browser allows passkeys for `localhost` and the server does not."""
    return world.server("passkeys-elsewhere", port=PASSKEY_ELSEWHERE_PORT, url_host="localhost", DASHBOARD_API_URL=passkey_server.url)


@pytest.fixture
def browser_factory(request):
    """Starts Chromium(s) for a test and quits them afterwards."""
    drivers = []
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def make(width=1024, height=900, home=None, label=None):
        driver = start_chromium(width, height, home)
        drivers.append(driver)
        folder = SCREENSHOTS / (name if label is None else f"{name}-{label}")
        made = Page(driver, folder)
        request.node.browser_pages = getattr(request.node, "browser_pages", []) + [made]
        return made

    yield make
    for driver in drivers:
        driver.quit()


@pytest.fixture
def page(browser_factory):
    return browser_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, show the servers' logs (they are the first thing one asks for)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and "world" in item.funcargs:
        report.sections.append(("tollgate logs", item.funcargs["world"].logs_text()))
    if report.failed:
        for made in getattr(item, "browser_pages", []):
            try:
                made.shot("failed", axe=False)
                console = "\n".join(str(entry) for entry in made.driver.get_log("browser"))
                report.sections.append(("browser console", console or "(empty)"))
            except Exception as error:  # the browser itself may be gone
                report.sections.append(("browser console", f"unavailable: {error}"))
