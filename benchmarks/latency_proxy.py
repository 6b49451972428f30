"""An emulated network on loopback: a TCP relay that delays every chunk by a one-way time.

Bytes go both ways unchanged. Each chunk read from one side is written to the other side
`one_way` seconds after it was read, in order, without waiting for the chunks before it to
land (a link with latency, not a slow link). A new connection's first bytes also wait one
extra round trip, as the TCP handshake makes them wait on a real network: the relay's own
accept is local and instant. The default, 10 ms each way (a 20 ms round trip), is about a
CD runner talking to a staging deployment in the same cloud region.

In a script (see smoke_sequence.py), as a child process that prints its URL, or imported:

    python benchmarks/latency_proxy.py --upstream 127.0.0.1:8000 [--one-way-ms 10]

    async with LatencyRelay(("127.0.0.1", 8000), one_way=0.010) as (host, port): ...

Listens on loopback only. The relay stops on SIGINT or SIGTERM, when stdin closes if
--until-stdin-closes is given, and after --max-seconds in any case.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from types import TracebackType

CHUNK = 64 * 1024
QUEUED_CHUNKS = 256  # per direction and connection: reading waits when this many are in flight
CONNECT_TIMEOUT_S = 5.0
DEFAULT_ONE_WAY_MS = 10.0
DEFAULT_MAX_SECONDS = 300.0

# A chunk to deliver at a deadline (loop time); None: the sending side closed.
Parcel = tuple[float, bytes | None]


class LatencyRelay:
    """Relay 127.0.0.1:<ephemeral> to `upstream`, `one_way` seconds each way."""

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        one_way: float = DEFAULT_ONE_WAY_MS / 1000,
        handshake: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        if one_way < 0:
            raise ValueError("the one-way delay must be zero or more seconds")
        self.upstream = upstream
        self.one_way = one_way
        self.handshake = handshake
        self.host = host
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None, "the relay is not started"
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def start(self) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._accepted, self.host, 0)
        return self.address

    async def stop(self, grace: float = 1.0) -> None:
        """Stop listening; give open connections `grace` seconds to close, then cut them."""
        if self._server is not None:
            self._server.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> tuple[str, int]:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await self._relay(reader, writer)
        except asyncio.CancelledError:
            pass  # the relay is stopping: the connection ends here, quietly
        finally:
            self._tasks.discard(task)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        # SYN out and SYN-ACK back: the client's first bytes leave one round trip late.
        first_bytes_at = loop.time() + (2 * self.one_way if self.handshake else 0.0)
        try:
            up_r, up_w = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), CONNECT_TIMEOUT_S
            )
        except (OSError, asyncio.TimeoutError):
            client_w.close()
            return
        try:
            await asyncio.gather(
                self._pipe(client_r, up_w, not_before=first_bytes_at),
                self._pipe(up_r, client_w, not_before=0.0),
            )
        finally:
            for w in (client_w, up_w):
                w.close()
            for w in (client_w, up_w):
                with contextlib.suppress(OSError):
                    await w.wait_closed()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, not_before: float
    ) -> None:
        """Read chunks as they come; write each one `one_way` after it was read."""
        loop = asyncio.get_running_loop()
        parcels: asyncio.Queue[Parcel] = asyncio.Queue(QUEUED_CHUNKS)

        async def deliver() -> None:
            while True:
                due, data = await parcels.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        courier = asyncio.create_task(deliver())
        try:
            while True:
                try:
                    data = await reader.read(CHUNK)
                except OSError:
                    data = b""
                await parcels.put((max(loop.time(), not_before) + self.one_way, data or None))
                if not data:
                    break
            await courier
        except OSError:
            pass  # the other side went away: the relay's finally closes both
        finally:
            if not courier.done():
                courier.cancel()
                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await courier


def parse_upstream(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, e.g. 127.0.0.1:8000")
    return host.strip("[]") or "127.0.0.1", int(port)


async def serve(args: argparse.Namespace) -> None:
    relay = LatencyRelay(
        args.upstream, one_way=args.one_way_ms / 1000, handshake=not args.no_handshake
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.until_stdin_closes:
        # A daemon thread: a blocked read must not hold the interpreter's exit.
        def watch_stdin() -> None:
            sys.stdin.read()
            with contextlib.suppress(RuntimeError):  # the loop is already gone
                loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_stdin, name="stdin watch", daemon=True).start()
    async with relay as (host, port):
        print(f"http://{host}:{port}", flush=True)
        try:
            await asyncio.wait_for(stop.wait(), args.max_seconds)
        except asyncio.TimeoutError:
            print(f"latency_proxy: stopping after {args.max_seconds:.0f}s", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", type=parse_upstream, required=True, help="HOST:PORT")
    parser.add_argument("--one-way-ms", type=float, default=DEFAULT_ONE_WAY_MS)
    parser.add_argument(
        "--no-handshake",
        action="store_true",
        help="do not delay a new connection's first bytes by one round trip",
    )
    parser.add_argument("--until-stdin-closes", action="store_true")
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS)
    args = parser.parse_args()
    if args.one_way_ms < 0:
        parser.error("--one-way-ms must be zero or more")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
