"""Running the reference receiver under uvicorn: in a background thread, or in the foreground.

`running_receiver(settings)` migrates the database, serves the app on a pre-bound loopback
socket (an ephemeral port by default), waits until `/healthz` answers and yields the base
URL; leaving the block shuts uvicorn down. Start-up and shut-down are both bounded.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from neruba_harden.errors import NerubaError
from neruba_harden.reference.schema import migrate
from neruba_harden.reference.settings import ReceiverSettings

if TYPE_CHECKING:
    import uvicorn

__all__ = ["ServerError", "bind_socket", "migrate", "running_receiver", "serve"]

log = logging.getLogger("neruba_harden.reference")


class ServerError(NerubaError):
    """The receiver could not listen, or did not come up in time."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: an ephemeral one); ServerError if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def base_url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _server(
    settings: ReceiverSettings, *, log_level: str, configure_logging: bool
) -> uvicorn.Server:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from neruba_harden.reference.app import create_app

    config = uvicorn.Config(
        create_app(settings),
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=5,
        server_header=False,
        log_config=LOGGING_CONFIG if configure_logging else None,
    )
    return uvicorn.Server(config)


@contextmanager
def running_receiver(
    settings: ReceiverSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    migrate_first: bool = True,
    startup_timeout: float = 15.0,
    shutdown_timeout: float = 10.0,
    log_level: str = "warning",
) -> Iterator[str]:
    """Serve the receiver in a background thread; yield its base URL (`http://host:port`)."""
    if migrate_first:
        migrate(settings.db_url)
    sock = bind_socket(host, port)
    base_url = base_url_of(sock)
    try:
        server = _server(settings, log_level=log_level, configure_logging=False)
    except BaseException:
        sock.close()
        raise
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"receiver {base_url}", daemon=True
    )
    thread.start()
    try:
        _wait_healthy(base_url, thread, startup_timeout)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(shutdown_timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(2.0)
        sock.close()
        if thread.is_alive():
            log.warning("the receiver at %s did not stop within %.0fs", base_url, shutdown_timeout)


def _wait_healthy(base_url: str, thread: threading.Thread, timeout: float) -> None:
    import httpx

    from neruba_harden.http import make_client

    deadline = time.monotonic() + timeout
    with make_client(1.0) as client:
        while True:
            if not thread.is_alive():
                raise ServerError(f"the receiver at {base_url} stopped during start-up")
            try:
                if client.get(f"{base_url}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServerError(
                    f"the receiver at {base_url} did not answer within {timeout:.0f}s"
                )
            time.sleep(0.02)


def serve(
    settings: ReceiverSettings,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log_level: str = "info",
) -> None:
    """Bind, migrate, then serve in the foreground until interrupted (the CLI's `serve`)."""
    sock = bind_socket(host, port)
    try:
        migrate(settings.db_url)
        server = _server(settings, log_level=log_level, configure_logging=True)
        from neruba_harden.redact import install_logging_filter

        ours = logging.getLogger("neruba_harden.reference")
        if not ours.handlers:  # one line per delivery, in uvicorn's format
            ours.handlers = list(logging.getLogger("uvicorn").handlers)
            ours.setLevel(log_level.upper())
            ours.propagate = False
        # Not on uvicorn.access: its formatter needs record.args, which the filter clears;
        # access lines carry the client address, method, path and status, no secrets.
        for name in ("uvicorn.error", "neruba_harden.reference"):
            install_logging_filter(logging.getLogger(name))
        logging.getLogger("uvicorn.error").info(
            "reference receiver on %s%s (scheme %s)",
            base_url_of(sock),
            settings.webhook_path,
            settings.scheme,
        )
        server.run(sockets=[sock])
    finally:
        sock.close()
