#!/usr/bin/env python3
"""A minimal SMTP server for bench/mail.sh that accepts every message and keeps nothing
(Python standard library only): it answers the dialogue a mailer needs (EHLO/HELO, MAIL,
RCPT, DATA, RSET, NOOP, QUIT) and counts messages, so that a drain measures the workers
rather than a sink that parses and writes each message to disk.

    smtp-discard.py --info FILE      # writes {"port": N} to FILE (by rename) when listening

Loopback only; one asyncio task per connection; the count is printed at exit (SIGTERM).
"""
import argparse
import asyncio
import json
import os
import signal


class Counter:
    messages = 0


async def session(reader, writer):
    def send(line):
        writer.write(line.encode() + b"\r\n")

    send("220 bench-discard ESMTP")
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            verb = line[:4].upper()
            if verb == b"EHLO":
                send("250-bench-discard")
                send("250-8BITMIME")
                send("250 SIZE 10485760")
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                send("250 OK")
            elif verb == b"DATA":
                send("354 end with <CRLF>.<CRLF>")
                await writer.drain()
                while True:
                    data = await reader.readline()
                    if not data or data == b".\r\n":
                        break
                Counter.messages += 1
                send("250 OK queued")
            elif verb == b"QUIT":
                send("221 bye")
                await writer.drain()
                break
            else:
                send("502 not implemented")
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--info", required=True)
    args = parser.parse_args()
    server = await asyncio.start_server(session, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    with open(args.info + ".tmp", "w") as handle:
        json.dump({"port": port}, handle)
    os.rename(args.info + ".tmp", args.info)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()
    print(f"smtp-discard: {Counter.messages} messages", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
