"""A fixed number of requests over keep-alive connections, each answered before this exits:
instructions.sh's load, so that the server's instruction count between two dumps covers exactly
these requests (wrk stops at a time, and the requests it leaves in flight would be counted by
the server but not by wrk). Python's standard library only.

    fixed-load.py NAME URL PATH COUNT CONNECTIONS [--get] [--tokens FILE] [--token T] [--code C]

POSTs {"challenge_token": …, "code": …} (no code when --code is empty) to PATH, taking the
tokens of FILE in turn, or GETs PATH. Prints one BENCH line: name, requests, statuses.
"""
import argparse
import http.client
import json
import threading
import urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("name")
parser.add_argument("url")
parser.add_argument("path")
parser.add_argument("count", type=int)
parser.add_argument("connections", type=int)
parser.add_argument("--get", action="store_true")
parser.add_argument("--tokens")
parser.add_argument("--token")
parser.add_argument("--code", default="")
args = parser.parse_args()

tokens = [line.strip() for line in open(args.tokens) if line.strip()] if args.tokens else [args.token]
url = urllib.parse.urlparse(args.url)
lock = threading.Lock()
statuses = {}


def run(first, count):
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    for index in range(first, first + count):
        if args.get:
            connection.request("GET", args.path, headers={"User-Agent": "tollgate-bench/python"})
        else:
            body = {"challenge_token": tokens[index % len(tokens)]}
            if args.code:
                body["code"] = args.code
            connection.request("POST", args.path, json.dumps(body),
                               {"Content-Type": "application/json", "User-Agent": "tollgate-bench/python"})
        response = connection.getresponse()
        response.read()
        with lock:
            statuses[response.status] = statuses.get(response.status, 0) + 1
    connection.close()


share = args.count // args.connections
threads = [threading.Thread(target=run, args=(n * share, share + (args.count % args.connections if n == 0 else 0)))
           for n in range(args.connections)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(f"BENCH name={args.name} requests={sum(statuses.values())} statuses="
      + ",".join(f"{status}:{count}" for status, count in sorted(statuses.items())))
