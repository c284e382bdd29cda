#!/usr/bin/env python3
"""Issue 28's slow clients: the mixed login load alone, then the same load while hundreds of
connections trickle their request heads one byte at a time (slowloris).

    bench/slow-clients.py [--connections 64] [--seconds 60] [--tricklers 500] [--interval 3]
                          [--header-timeout 10] [--warmup 10]

One private PostgreSQL, `serve` and `worker` (bench/mixed_load.py's Stack: the release build if
there is one). After an untimed warm-up the load (half whole logins with the code from the SMTP
sink, half wrong codes) runs `--seconds` alone, then `--seconds` again while a second process
keeps `--tricklers` connections open to the API port, each sending one byte of a request head
every `--interval` seconds and connecting again when the server cuts it (`HTTP_HEADER_TIMEOUT`,
`--header-timeout`). Prints a `BENCH` line per run: throughput, p50 and p99 of the legitimate
requests (all and by kind), answers by status, the tricklers open and cut; and the ratio of the
two p99s (goal: at most 2). Exits non-zero on a 5xx other than 503 `busy`, or a dropped
connection. Needs the test tools (.venv: aiosmtpd). Loopback only; every run is bounded.
"""
import argparse
import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "browser"))
sys.path.insert(0, str(REPO / "bench"))

from mixed_load import Tally, is_failure, percentile, process_sample, single_node  # noqa: E402

# What a trickler sends, one byte each interval: a request head that never completes in time.
HEAD = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow-clients\r\n" + b"X-Trickle: " + b"a" * 4000


async def trickle(port, connections, interval, seconds):
    """The trickling process: keeps `connections` sockets sending HEAD byte by byte, connecting
    again whenever the server cuts one. Prints its counters as a JSON line every second."""
    counters = dict(open=0, opened=0, cut=0, answered=0, failed=0, lifetimes=[])
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)

    async def one(index):
        await asyncio.sleep(interval * index / connections)  # spread the bytes over the interval
        while not stopping.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                counters["failed"] += 1
                await asyncio.sleep(interval)
                continue
            counters["opened"] += 1
            counters["open"] += 1
            opened = time.monotonic()
            try:
                for byte in range(len(HEAD)):
                    writer.write(HEAD[byte:byte + 1])
                    await writer.drain()
                    try:
                        data = await asyncio.wait_for(reader.read(4096), timeout=interval)
                    except asyncio.TimeoutError:
                        continue  # still open, nothing said: the next byte
                    counters["answered" if data else "cut"] += 1
                    break
                counters["lifetimes"].append(time.monotonic() - opened)  # from connecting to the cut (or answer)
            except (ConnectionError, OSError):
                counters["cut"] += 1
                counters["lifetimes"].append(time.monotonic() - opened)
            finally:
                counters["open"] -= 1
                writer.close()

    def report():
        lifetimes = sorted(counters["lifetimes"])
        return json.dumps({key: value for key, value in counters.items() if key != "lifetimes"} | {
            "lifetime_p50": lifetimes[len(lifetimes) // 2] if lifetimes else None,
            "lifetime_min": lifetimes[0] if lifetimes else None,
            "lifetime_max": lifetimes[-1] if lifetimes else None,
        })

    tasks = [asyncio.create_task(one(index)) for index in range(connections)]
    end = time.monotonic() + seconds  # bounded even if nobody stops it
    while not stopping.is_set() and time.monotonic() < end:
        print(report(), flush=True)
        try:
            await asyncio.wait_for(stopping.wait(), timeout=1)
        except asyncio.TimeoutError:
            pass
    stopping.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(report(), flush=True)


class Tricklers:
    """The trickling process, seen from here: its latest counters and the fewest open seen."""

    def __init__(self, port, connections, interval, seconds):
        self.process = subprocess.Popen([sys.executable, __file__, "--trickle", str(port), "--tricklers", str(connections),
                                         "--interval", str(interval), "--seconds", str(seconds)],
                                        stdout=subprocess.PIPE, text=True)
        self.latest = {}
        self.fewest_open = None
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def read(self):
        for line in self.process.stdout:
            counters = json.loads(line)
            with self.lock:
                self.latest = counters
                if self.fewest_open is not None:
                    self.fewest_open = min(self.fewest_open, counters["open"])

    def counters(self):
        with self.lock:
            return dict(self.latest)

    def watch(self):
        """From now on, remember the fewest connections open."""
        with self.lock:
            self.fewest_open = self.latest.get("open", 0)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=5)
        return self.counters()


def measure(stack, users, connections, seconds):
    """The mixed load for `seconds`: what it answered in that window, and serve's highest
    descriptor count and RSS meanwhile."""
    tally = Tally()
    load = stack.load(users, connections, tally)
    loadavg = open("/proc/loadavg").read().split()[0]
    started = time.monotonic()
    load.start()
    peak_fds = peak_rss = 0
    while time.monotonic() < started + seconds:
        time.sleep(1)  # sampling while the load runs for a fixed time: a measurement, not synchronisation
        rss, fds = process_sample(stack.server.popen.pid)
        peak_fds, peak_rss = max(peak_fds, fds), max(peak_rss, rss)
    ended = started + seconds
    load.stop()
    window = [answer for answer in tally.answers if answer[0] <= ended]
    result = dict(seconds=seconds, loadavg=loadavg, requests=len(window), rps=len(window) / seconds,
                  logins=sum(1 for _, what, status, _ in window if what == "verify" and status == 200) / seconds,
                  p50_ms=1000 * percentile([latency for *_, latency in window], 0.50),
                  p99_ms=1000 * percentile([latency for *_, latency in window], 0.99),
                  errors_5xx=sum(1 for _, _, status, _ in tally.answers if is_failure(status)),
                  dropped=tally.dropped, serve_fds_peak=peak_fds, serve_rss_peak_mib=peak_rss / 1024)
    for kind in ("login", "verify", "wrong_code"):
        latencies = [latency for _, what, _, latency in window if what == kind]
        result[f"{kind}_p50_ms"] = 1000 * (percentile(latencies, 0.50) or 0)
        result[f"{kind}_p99_ms"] = 1000 * (percentile(latencies, 0.99) or 0)
    result["statuses"] = ",".join(f"{key}={value}" for key, value in sorted(tally.counts.items()))
    return result


def line(name, values):
    def shown(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)
    return f"BENCH name={name} " + " ".join(f"{key}={shown(value)}" for key, value in values.items())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=10)
    parser.add_argument("--tricklers", type=int, default=500)
    parser.add_argument("--interval", type=float, default=3)
    parser.add_argument("--header-timeout", type=int, default=10)
    parser.add_argument("--trickle", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the trickling process
    args = parser.parse_args()
    if args.trickle:
        asyncio.run(trickle(args.trickle, args.tricklers, args.interval, args.seconds))
        return 0

    with single_node("slow-clients", HTTP_HEADER_TIMEOUT=args.header_timeout) as (_, stack):
        users = stack.add_users(args.connections)
        if args.warmup:
            measure(stack, users, args.connections, args.warmup)
        alone = measure(stack, users, args.connections, args.seconds)
        print(line("mixed_alone", alone), flush=True)

        tricklers = Tricklers(stack.port, args.tricklers, args.interval, args.seconds * 3 + 300)
        try:
            deadline = time.monotonic() + 60
            while tricklers.counters().get("open", 0) < args.tricklers and time.monotonic() < deadline:
                time.sleep(0.2)  # polling until the tricklers are all connected, with a deadline
            tricklers.watch()
            before = tricklers.counters()
            slowed = measure(stack, users, args.connections, args.seconds)
            after = tricklers.counters()
            fewest = tricklers.fewest_open
        finally:
            final = tricklers.stop()
        slowed.update(tricklers_open_min=fewest, tricklers_cut=after["cut"] - before["cut"],
                      tricklers_answered=after["answered"] - before["answered"], tricklers_failed=after["failed"] - before["failed"],
                      trickler_lifetime_p50_s=final["lifetime_p50"], trickler_lifetime_max_s=final["lifetime_max"])
        print(line("mixed_with_tricklers", slowed), flush=True)
        time.sleep(args.header_timeout + 2)  # long enough for the server to have cut any trickler it still held
        rss, fds = process_sample(stack.server.popen.pid)
        ratio = slowed["p99_ms"] / alone["p99_ms"]
        print(f"BENCH name=slow_clients_ratio p99_ratio={ratio:.2f} goal=2 met={ratio <= 2} "
              f"throughput_ratio={slowed['rps'] / alone['rps']:.2f} serve_fds_after={fds} serve_rss_after_mib={rss / 1024:.1f}")
        failed = any(run["errors_5xx"] or run["dropped"] for run in (alone, slowed))
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
