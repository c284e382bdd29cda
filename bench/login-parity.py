#!/usr/bin/env python3
"""Login timing parity: does a login for a known address take as long as one for an unknown one?

Two subcommands, used by bench/login-parity.sh (which starts and stops the server):

  measure  sends COUNT logins for a known address and COUNT for an unknown one, shuffled
           together (so that drift on the machine hits both kinds alike), one at a time over
           one keep-alive connection, times each on the client side and appends the samples
           to a CSV file. Every answer must be the branch's status, or it stops with an error.
  analyse  reads such files and prints, per branch: medians, means and p99s of both kinds, the
           ratio of the medians (known / unknown) and a two-sided Mann-Whitney U test.

Only the standard library: CI machines need not have numpy or scipy.
"""

import argparse
import csv
import http.client
import json
import math
import random
import sys
import time
import urllib.parse

# The branches of issue 11, item 1: what every measured login must answer.
BRANCHES = {
    "wrong_password": (401, "invalid_credentials"),
    # An invited account (created without a password, so no Argon2id hash is stored yet)
    # against an unknown address: both must spend one Argon2id verification (issue 22).
    "invited_password": (401, "invalid_credentials"),
    "over_ip_limit": (429, "rate_limited"),
    # "Forgot password" answers 202 alike for every address, in body and time.
    "forgot_password": (202, None),
}
# The demo account of `tollgate dev` (DevCommand.swift) and an address no account has, both
# with a wrong password.
ADDRESSES = {"known": "owner@demo.example", "unknown": "nobody@demo.example"}
# The invited owner login-parity.sh creates through the provisioning API for that branch.
INVITED = "invited-owner@bench.example"


def address(branch, kind):
    if branch == "invited_password" and kind == "known":
        return INVITED
    return ADDRESSES[kind]
PASSWORD = "wrong-password-for-timing"
# Goals of issue 11: the medians within 5 % of each other and no significant difference.
RATIO_GOAL = (0.95, 1.05)
ALPHA = 0.01


class Client:
    """One keep-alive connection; each login is timed from sending to the last byte read."""

    def __init__(self, url, branch=None):
        self.branch = branch
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname, parts.port or 80
        self.connection = None
        self.reconnects = -1

    def login(self, email):
        if self.branch == "forgot_password":
            path, body = "/v1/auth/password/forgot", json.dumps({"email": email})
        else:
            path, body = "/v1/auth/login", json.dumps({"email": email, "password": PASSWORD, "client": "dashboard"})
        headers = {"Content-Type": "application/json", "User-Agent": "tollgate-bench/login-parity"}
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
                self.connection.connect()  # outside the timed part
                self.reconnects += 1
            try:
                started = time.perf_counter()
                self.connection.request("POST", path, body=body, headers=headers)
                response = self.connection.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - started
            except (ConnectionError, http.client.HTTPException):
                # The server closed the idle connection: open a new one and send again.
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.connection.close()
                self.connection = None
            return response.status, payload, response.getheader("Retry-After"), elapsed
        raise AssertionError("unreachable")


def error_code(payload):
    try:
        return json.loads(payload)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


def expect(branch, what, status, payload):
    want_status, want_code = BRANCHES[branch]
    if status != want_status or error_code(payload) != want_code:
        sys.exit(f"login-parity: {branch}: {what} answered {status} {payload[:200]!r}, "
                 f"not {want_status} {want_code}: the timing would mix branches")


def spend_budget(client):
    """Uses the IP's whole login budget (LIMIT_LOGINS_PER_IP=1): logs in until a login is
    counted (401), so that the next ones are refused for the rest of the window."""
    for _ in range(10):
        status, payload, retry_after, _ = client.login(ADDRESSES["unknown"])
        if status == 401:
            return
        if status != 429:
            sys.exit(f"login-parity: spending the IP's budget answered {status} {payload[:200]!r}")
        time.sleep(min(float(retry_after or 1), 61))
    sys.exit("login-parity: the IP's login window never ended; is LIMIT_LOGINS_PER_IP=1?")


def measure(args):
    client = Client(args.url, args.branch)
    rng = random.Random(args.seed)
    order = ["known"] * args.count + ["unknown"] * args.count
    rng.shuffle(order)
    # Warm-up, not recorded: connections of the server's pool, prepared statements, caches.
    # In the over-the-limit branch the first refusal of a window also writes the event
    # `login.rate_limited` (once per window); a warm-up login takes it.
    warmup = [kind for _ in range(args.warmup) for kind in ("known", "unknown")]
    window_left = math.inf
    if args.branch == "over_ip_limit":
        spend_budget(client)
    for kind in warmup:
        status, payload, retry_after, _ = client.login(address(args.branch, kind))
        expect(args.branch, f"warm-up login ({kind})", status, payload)
        window_left = float(retry_after) if retry_after else math.inf
    rows, windows = [], 1
    for index, kind in enumerate(order):
        if args.branch == "over_ip_limit" and window_left <= 2:
            # The IP's fixed window is about to end, and the first login of the next would be
            # counted (401), not refused: wait for it, spend the budget again, and let one
            # unmeasured refusal write the window's event.
            time.sleep(window_left + 0.5)
            spend_budget(client)
            for warm in ("known", "unknown"):
                status, payload, _, _ = client.login(address(args.branch, warm))
                expect(args.branch, f"warm-up login ({warm})", status, payload)
            windows += 1
        status, payload, retry_after, elapsed = client.login(address(args.branch, kind))
        expect(args.branch, f"login {index + 1} ({kind})", status, payload)
        window_left = float(retry_after) if retry_after else math.inf
        rows.append((args.branch, index, kind, status, f"{elapsed:.9f}"))
    with open(args.out, "a", newline="") as file:
        writer = csv.writer(file)
        if file.tell() == 0:
            writer.writerow(("branch", "index", "kind", "status", "seconds"))
        writer.writerows(rows)
    note = f", {windows} rate-limit windows" if args.branch == "over_ip_limit" else ""
    print(f"login-parity: {args.branch}: {len(rows)} logins measured (seed {args.seed}, "
          f"{client.reconnects} reconnects{note})", file=sys.stderr)


def percentile(sorted_values, fraction):
    """Linear interpolation between closest ranks (numpy's default)."""
    position = (len(sorted_values) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def mann_whitney(first, second):
    """Two-sided Mann-Whitney U test, normal approximation with tie and continuity correction
    (as scipy.stats.mannwhitneyu(..., method="asymptotic")). Returns U of `first`, z and p."""
    n1, n2 = len(first), len(second)
    combined = sorted([(value, 0) for value in first] + [(value, 1) for value in second])
    n = n1 + n2
    rank_sum, ties, i = 0.0, 0.0, 0
    while i < n:
        j = i
        while j + 1 < n and combined[j + 1][0] == combined[i][0]:
            j += 1
        average_rank = (i + j) / 2 + 1  # ranks i+1 … j+1
        group = j - i + 1
        rank_sum += average_rank * sum(1 for k in range(i, j + 1) if combined[k][1] == 0)
        ties += group**3 - group
        i = j + 1
    u = rank_sum - n1 * (n1 + 1) / 2
    mean = n1 * n2 / 2
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    if sigma == 0:
        return u, 0.0, 1.0
    deviation = u - mean
    z = (deviation - math.copysign(0.5, deviation)) / sigma if deviation else 0.0
    p = min(1.0, math.erfc(abs(z) / math.sqrt(2)))
    return u, z, p


def analyse(args):
    samples = {}
    for path in args.files:
        with open(path, newline="") as file:
            for row in csv.DictReader(file):
                samples.setdefault(row["branch"], {"known": [], "unknown": []})[row["kind"]].append(float(row["seconds"]))
    missed = []
    for branch in [name for name in BRANCHES if name in samples]:
        known, unknown = sorted(samples[branch]["known"]), sorted(samples[branch]["unknown"])
        want_status, want_code = BRANCHES[branch]
        print(f"\n{branch} (every answer {want_status} {want_code}; {len(known)} known, {len(unknown)} unknown, interleaved)")
        for kind, values in (("known address", known), ("unknown address", unknown)):
            print(f"  {kind:16} median {percentile(values, 0.5) * 1000:8.3f} ms   mean {sum(values) / len(values) * 1000:8.3f} ms"
                  f"   p99 {percentile(values, 0.99) * 1000:8.3f} ms")
        ratio = percentile(known, 0.5) / percentile(unknown, 0.5)
        p99_ratio = percentile(known, 0.99) / percentile(unknown, 0.99)
        u, z, p = mann_whitney(known, unknown)
        # P(a known-address login is slower than an unknown one), ties counted half: 0.5 = alike.
        slower = u / (len(known) * len(unknown))
        ratio_ok = RATIO_GOAL[0] <= ratio <= RATIO_GOAL[1]
        print(f"  median ratio known/unknown {ratio:.3f} (goal {RATIO_GOAL[0]:.2f}-{RATIO_GOAL[1]:.2f}: "
              f"{'met' if ratio_ok else 'MISSED'}); p99 ratio {p99_ratio:.3f}")
        print(f"  Mann-Whitney U {u:.0f}, z {z:+.2f}, two-sided p {p:.4f}; P(known slower) {slower:.3f}")
        if p >= ALPHA:
            print(f"  no significant difference at alpha={ALPHA}")
        else:
            print(f"  SIGNIFICANT difference at alpha={ALPHA}: the timing tells the kinds apart")
        if not ratio_ok or p < ALPHA:
            missed.append(branch)
    if missed:
        print(f"\nlogin-parity: goal missed in: {', '.join(missed)}")
        if args.strict:
            return 2
    else:
        print("\nlogin-parity: goal met in every branch")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("measure", help="time logins against a running server")
    run.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:18084")
    run.add_argument("--branch", required=True, choices=sorted(BRANCHES))
    run.add_argument("--count", type=int, default=1000, help="logins of each kind (default 1000)")
    run.add_argument("--warmup", type=int, default=20, help="unrecorded logins of each kind first (default 20)")
    run.add_argument("--seed", type=int, default=None, help="the shuffle's seed (default: random, printed)")
    run.add_argument("--out", required=True, help="CSV file to append the samples to")
    report = commands.add_parser("analyse", help="medians, ratio and Mann-Whitney U of measured samples")
    report.add_argument("files", nargs="+")
    report.add_argument("--strict", action="store_true", help="exit 2 when a goal is missed")
    args = parser.parse_args()
    if args.command == "measure":
        if args.seed is None:
            args.seed = random.SystemRandom().randrange(2**31)
        measure(args)
        return 0
    return analyse(args)


if __name__ == "__main__":
    sys.exit(main())
