#!/usr/bin/env python3
"""A TCP relay that adds a round-trip time, standing in for the internet between a LAN and
an upstream (proxy.golang.org, sum.golang.org): every new connection waits one round trip
(its handshake) before its first byte goes on, and every byte waits half a round trip in
each direction. Bandwidth is not limited (only this relay's own speed).

    perf/delay.py TARGET_PORT RTT_MS

Prints `listening on PORT` once ready; runs until killed. Used by perf/pull.py --rtt, for
the go command's direct runs and the shelf's upstream alike.
"""

import asyncio
import sys


async def pipe(reader, writer, delay):
    """Copies reader to writer, each piece `delay` seconds after it was read."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def read():
        while True:
            try:
                data = await reader.read(1 << 18)
            except ConnectionError:
                data = b""
            await queue.put((loop.time() + delay, data))
            if not data:
                return

    async def write():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if not data:
                try:
                    writer.write_eof()
                except (OSError, RuntimeError):
                    pass
                return
            writer.write(data)
            try:
                await writer.drain()
            except ConnectionError:
                return

    await asyncio.gather(read(), write())


async def main():
    target, rtt = int(sys.argv[1]), float(sys.argv[2]) / 1000

    async def relay(creader, cwriter):
        await asyncio.sleep(rtt)  # the handshake with the far host
        try:
            ureader, uwriter = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(pipe(creader, uwriter, rtt / 2), pipe(ureader, cwriter, rtt / 2))
        for w in (cwriter, uwriter):
            w.close()

    server = await asyncio.start_server(relay, "127.0.0.1", 0, backlog=1024)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
