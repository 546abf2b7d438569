#!/usr/bin/env python3
"""A TCP proxy that delays every byte by a fixed time in each direction: a
long link between two sites on one machine (this kernel has no netem).

    bench/delay_proxy.py LISTEN_PORT TARGET_HOST:TARGET_PORT [--delay-ms 25]
                         [--window-bytes 4194304]

Each direction holds at most --window-bytes in flight, like a TCP window
over the link, so a bulk transfer is bounded by window / delay as on a real
long link (4 MiB over 25 ms: about 160 MiB/s one way), while request and
answer pairs pay the round trip (2 x delay). Prints "ready" once listening.
"""
import argparse
import asyncio
import sys
import time


async def pump(reader, writer, delay, window):
    """Copies reader to writer, each chunk written `delay` after it was read."""
    queue = asyncio.Queue()
    in_flight = 0
    room = asyncio.Event()
    room.set()

    async def send():
        nonlocal in_flight
        while True:
            due, chunk = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if chunk is None:
                break
            writer.write(chunk)
            await writer.drain()
            in_flight -= len(chunk)
            if in_flight < window:
                room.set()
        try:
            if writer.can_write_eof():
                writer.write_eof()
        except OSError:
            pass

    sender = asyncio.ensure_future(send())
    try:
        while True:
            await room.wait()
            chunk = await reader.read(256 * 1024)
            due = time.monotonic() + delay
            if not chunk:
                queue.put_nowait((due, None))
                break
            in_flight += len(chunk)
            if in_flight >= window:
                room.clear()
            queue.put_nowait((due, chunk))
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
    finally:
        writer.close()


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("listen_port", type=int)
    p.add_argument("target", help="HOST:PORT")
    p.add_argument("--delay-ms", type=float, default=25.0, help="one way (default 25)")
    p.add_argument("--window-bytes", type=int, default=4 << 20)
    a = p.parse_args()
    host, _, port = a.target.rpartition(":")
    if not host or not port.isdigit():
        p.error(f"target {a.target!r} is not HOST:PORT")
    delay = a.delay_ms / 1000.0

    async def handle(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(host, int(port))
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            pump(client_r, server_w, delay, a.window_bytes),
            pump(server_r, client_w, delay, a.window_bytes),
            return_exceptions=True,
        )

    server = await asyncio.start_server(handle, "127.0.0.1", a.listen_port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
