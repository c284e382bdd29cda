#!/usr/bin/env python3
"""Issue 28's soak: the mixed login load for a long time, and whether anything grows.

    bench/soak.py [--minutes 30] [--connections 16] [--interval 10] [--warmup-minutes 5]
                  [--csv bench/results/soak-DATE.csv]

One private PostgreSQL, `serve` and `worker` (bench/mixed_load.py's Stack: the release build if
there is one), the load of failover.py at a moderate rate (`--connections` clients, half whole
logins with the code from the SMTP sink, half wrong codes, each client over four accounts of its
own so that no per-account limit is reached). Every `--interval` seconds: the RSS (VmRSS) and the
open file descriptors of serve and of the worker, and the database connections of each (its role
in pg_stat_activity), written to the CSV. At the end: each series' level and its least-squares
slope per hour after the warm-up, and the answers by status. Exits non-zero on a 5xx other than
503 `busy`, or a dropped connection. Needs the test tools (.venv: aiosmtpd). Loopback only; bounded.
"""
import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "Tests" / "browser"))
sys.path.insert(0, str(REPO / "bench"))

from mixed_load import Tally, is_failure, process_sample, single_node  # noqa: E402

COLUMNS = ["seconds", "serve_rss_kib", "serve_fds", "worker_rss_kib", "worker_fds", "db_api", "db_worker", "requests"]


def slope_per_hour(points):
    """The least-squares slope of (seconds, value) points, per hour."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    return 3600 * sum((t - mean_t) * (v - mean_v) for t, v in points) / spread if spread else 0.0


def database_connections(cluster):
    """Open connections to the tollgate database by role: (tollgate_api, tollgate_worker)."""
    rows = subprocess.run(
        ["psql", cluster.conninfo(), "-X", "-At", "-F", " ", "-c",
         "SELECT usename, count(*) FROM pg_stat_activity WHERE datname = 'tollgate' "
         "AND usename IN ('tollgate_api', 'tollgate_worker') GROUP BY usename"],
        capture_output=True, text=True, check=True).stdout.split("\n")
    counts = dict(row.split() for row in rows if row.strip())
    return int(counts.get("tollgate_api", 0)), int(counts.get("tollgate_worker", 0))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--interval", type=float, default=10)
    parser.add_argument("--warmup-minutes", type=float, default=5)
    parser.add_argument("--csv", type=Path, default=REPO / "bench" / "results" / time.strftime("soak-%Y%m%d-%H%M.csv", time.gmtime()))
    args = parser.parse_args()

    with single_node("soak") as (cluster, stack):
        users = stack.add_users(args.connections * 4)
        tally = Tally(keep=False)
        load = stack.load(users, args.connections, tally)
        args.csv.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        print(f"bench: soak of {args.minutes} min, {args.connections} connections; load average "
              f"{open('/proc/loadavg').read().split()[0]} at the start; samples in {args.csv}", file=sys.stderr)
        try:
            with open(args.csv, "w", newline="") as output:
                writer = csv.writer(output)
                writer.writerow(COLUMNS)
                started = time.monotonic()
                load.start()
                for step in range(int(args.minutes * 60 / args.interval) + 1):
                    time.sleep(max(0, started + step * args.interval - time.monotonic()))  # the sampling clock
                    if not (stack.server.alive() and stack.worker.alive()):
                        raise SystemExit(f"bench: a process stopped:\n{stack.server.output()}\n{stack.worker.output()}")
                    with tally.lock:
                        requests = sum(tally.counts.values())
                    row = [round(time.monotonic() - started, 1), *process_sample(stack.server.popen.pid),
                           *process_sample(stack.worker.popen.pid), *database_connections(cluster), requests]
                    rows.append(row)
                    writer.writerow(row)
                    output.flush()
        finally:
            load.stop()
    report(args, rows, tally)
    errors = sum(count for key, count in tally.counts.items() if is_failure(key.split(":", 1)[1]))
    print(f"  5xx other than 503 busy: {errors}")
    return 1 if errors or tally.dropped else 0


def report(args, rows, tally):
    """Each series' level and slope after the warm-up, and the answers by status."""
    elapsed = rows[-1][0]
    warm = [row for row in rows if row[0] >= args.warmup_minutes * 60]
    print(f"BENCH name=soak minutes={elapsed / 60:.1f} connections={args.connections} samples={len(rows)} "
          f"after_warmup={len(warm)} requests={rows[-1][-1]} rps={rows[-1][-1] / elapsed:.1f} dropped={tally.dropped}")
    for index, name in enumerate(COLUMNS[1:-1], start=1):
        points = [(row[0], row[index]) for row in warm]
        values = [value for _, value in points]
        slope = slope_per_hour(points)
        level = sum(values) / len(values)
        if name.endswith("_kib"):
            print(f"  {name[:-4]}: mean {level / 1024:.1f} MiB, {min(values) / 1024:.1f}–{max(values) / 1024:.1f}, "
                  f"slope {slope / 1024:+.2f} MiB/h ({100 * slope / level:+.2f} %/h)")
        else:
            print(f"  {name}: mean {level:.1f}, {min(values)}–{max(values)}, slope {slope:+.2f}/h")
    print(f"  statuses: {','.join(f'{key}={value}' for key, value in sorted(tally.counts.items()))}")


if __name__ == "__main__":
    sys.exit(main())
