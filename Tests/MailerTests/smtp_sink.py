#!/usr/bin/env python3
"""A controllable SMTP server for Tollgate's mailer tests (needs `pip install aiosmtpd`).

    smtp_sink.py --dir DIR [--port 0] [--mode accept|tempfail|permfail] [--mode-file FILE]
                 [--starttls] [--auth USER:PASSWORD] [--delay-ms N] [--info FILE]

Prints `PORT <n>` (and `CAFILE <path>` with --starttls), then `READY`, on stdout; with
--info, also writes {"port", "cafile"} as JSON to FILE (by rename) when ready.
Each accepted message is written to DIR as `<id>.eml` (the raw bytes) and `<id>.json`
(envelope, decoded headers, text and HTML parts, whether TLS and AUTH were used); the JSON
file appears last, by rename, so a reader never sees half a message.

Modes: accept; tempfail (451 to RCPT TO); permfail (550 to RCPT TO). With --mode-file, the
file's content (when present) replaces --mode for each new message, so a test can switch
modes while the server runs. --starttls requires STARTTLS with a self-signed certificate
made at start (for localhost and 127.0.0.1); --auth requires AUTH with those credentials.
--delay-ms pauses before answering each DATA (to make a batch take time).
"""
import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import subprocess
import sys
import tempfile
import uuid

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def make_certificate(folder):
    key = os.path.join(folder, "key.pem")
    cert = os.path.join(folder, "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return cert, key


class Handler:
    def __init__(self, args):
        self.args = args

    def mode(self):
        if self.args.mode_file and os.path.exists(self.args.mode_file):
            with open(self.args.mode_file) as f:
                text = f.read().strip()
                if text:
                    return text
        return self.args.mode

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        mode = self.mode()
        if mode == "tempfail":
            return "451 4.3.0 Mailbox temporarily unavailable, try again later"
        if mode == "permfail":
            return f"550 5.1.1 <{address}>: No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.args.delay_ms:
            await asyncio.sleep(self.args.delay_ms / 1000)
        raw = envelope.original_content or envelope.content
        message = email.message_from_bytes(raw, policy=email.policy.default)
        text = html = None
        for part in message.walk():
            if part.get_content_type() == "text/plain" and text is None:
                text = part.get_content()
            elif part.get_content_type() == "text/html" and html is None:
                html = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {name: str(value) for name, value in message.items()},
            "content_type": message.get_content_type(),
            "text": text,
            "html": html,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
        }
        name = uuid.uuid4().hex
        folder = self.args.dir
        with open(os.path.join(folder, name + ".eml"), "wb") as f:
            f.write(raw)
        temporary = os.path.join(folder, "." + name + ".json.tmp")
        with open(temporary, "w") as f:
            json.dump(record, f)
        os.rename(temporary, os.path.join(folder, name + ".json"))
        return "250 2.0.0 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mode", default="accept", choices=["accept", "tempfail", "permfail"])
    parser.add_argument("--mode-file")
    parser.add_argument("--starttls", action="store_true")
    parser.add_argument("--auth")
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--info", help="also write {port, cafile} as JSON to this file when ready")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    tls_context = None
    cafile = None
    if args.starttls:
        cafile, key = make_certificate(tempfile.mkdtemp(prefix="smtp-sink-"))
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(cafile, key)

    authenticator = None
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and auth_data.password == password.encode()
            return AuthResult(success=ok)

    handler = Handler(args)

    def factory():
        return SMTP(
            handler, hostname="localhost", tls_context=tls_context, require_starttls=args.starttls,
            auth_required=bool(args.auth), auth_require_tls=args.starttls, authenticator=authenticator,
        )

    async def serve():
        server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", args.port, reuse_address=True)
        port = server.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        if cafile:
            print(f"CAFILE {cafile}", flush=True)
        if args.info:
            with open(args.info + ".tmp", "w") as f:
                json.dump({"port": port, "cafile": cafile}, f)
            os.rename(args.info + ".tmp", args.info)
        print("READY", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
