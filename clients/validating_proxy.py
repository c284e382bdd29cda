#!/usr/bin/env python3
"""A reverse proxy that checks every answer of a live Tollgate against openapi.yaml.

The generated clients' journeys (scripts/test-clients) talk to the server through it, so each
answer they get — status, headers and body — is validated by openapi-core against the
document, whichever client asked. Each answer is one JSON line in the log; `--report` reads
the log back, prints a summary and fails on any answer the document does not describe.

Usage: validating_proxy.py --upstream http://127.0.0.1:PORT --port P --document openapi.yaml --log FILE
       validating_proxy.py --report FILE
"""

import argparse
import http.client
import http.server
import json
import sys
import threading
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection", "host", "content-length"}


def serve(upstream: str, port: int, document: str, log_path: str) -> None:
    from openapi_core import Config, OpenAPI
    from openapi_core.testing import MockRequest, MockResponse

    # The document itself is YAML text: read as a string, as its schema says.
    config = Config(extra_media_type_deserializers={"application/yaml": lambda data: data.decode("utf-8")})
    openapi = OpenAPI.from_file_path(document, config=config)
    target = urllib.parse.urlsplit(upstream)
    lock = threading.Lock()
    log = open(log_path, "a", encoding="utf-8")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # the JSON log is the record
            pass

        def forward(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            connection.request(self.command, self.path, body=body if body or self.command in ("POST", "PATCH") else None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            answer_headers = answer.getheaders()
            connection.close()

            url = urllib.parse.urlsplit(self.path)
            request = MockRequest(
                f"http://127.0.0.1:{port}",
                self.command,
                url.path,
                args=dict(urllib.parse.parse_qsl(url.query)),
                headers=headers,
                data=body,
                content_type=self.headers.get("Content-Type") or "",
            )
            response = MockResponse(
                data,
                status_code=answer.status,
                headers=dict(answer_headers),
                content_type=(answer.getheader("Content-Type") or "").split(";")[0],
            )
            problem = None
            try:
                openapi.validate_response(request, response)
            except Exception as error:  # every kind of mismatch is a finding, reported as such
                problem = f"{type(error).__name__}: {error}"
                cause = getattr(error, "__cause__", None)
                if cause is not None:
                    problem += f" ({type(cause).__name__}: {cause})"
                    for detail in getattr(cause, "schema_errors", []) or []:
                        problem += f"; {detail.message}"
            with lock:
                log.write(json.dumps({"method": self.command, "path": url.path, "status": answer.status, "problem": problem}) + "\n")
                log.flush()

            self.send_response(answer.status)
            for name, value in answer_headers:
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"validating_proxy: listening on 127.0.0.1:{port} for {upstream}", flush=True)
    server.serve_forever()


def report(log_path: str) -> int:
    with open(log_path, encoding="utf-8") as log:
        answers = [json.loads(line) for line in log if line.strip()]
    problems = [a for a in answers if a["problem"]]
    statuses = sorted({str(a["status"]) for a in answers})
    operations = sorted({f"{a['method']} {a['path']}" for a in answers})
    print(f"validating_proxy: {len(answers)} answers checked against openapi.yaml ({len(operations)} distinct paths; statuses {', '.join(statuses)})")
    for answer in problems:
        print(f"validating_proxy: {answer['method']} {answer['path']} {answer['status']}: {answer['problem'][:600]}", file=sys.stderr)
    if not answers:
        print("validating_proxy: no answer went through the proxy", file=sys.stderr)
        return 1
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream")
    parser.add_argument("--port", type=int)
    parser.add_argument("--document")
    parser.add_argument("--log")
    parser.add_argument("--report")
    arguments = parser.parse_args()
    if arguments.report:
        return report(arguments.report)
    serve(arguments.upstream, arguments.port, arguments.document, arguments.log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
