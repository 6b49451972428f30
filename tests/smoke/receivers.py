"""Receivers to run the sequence against: the real reference receiver, and canned misfits.

`reference_receiver` starts `neruba_harden.reference` under uvicorn on an ephemeral loopback
port (SQLite file or PostgreSQL database). `canned_server` answers every request with one
fixed response (a redirect, an HTML error page, a non-JSON body); `silent_server` accepts
connections and never answers; `closed_port_url` points at a port nobody listens on.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from neruba_harden import redact

READBACK_PATH = "/webhooks/events/{event_id}"


def new_secret(scheme: str = "stripe") -> str:
    raw = os.urandom(24)
    return "whsec_" + (raw.hex() if scheme == "stripe" else base64.b64encode(raw).decode())


def sqlite_url(folder: Path, name: str = "receiver") -> str:
    return f"sqlite:///{folder / (name + '.db')}"


@dataclass(frozen=True)
class RunningReceiver:
    """A reference receiver that is up: where it listens and what it was given."""

    url: str
    secret: str
    admin_token: str
    scheme: str
    faults: frozenset[str]

    def target(self, **changes: Any) -> Any:
        from neruba_harden.smoke.target import SmokeTarget

        values: dict[str, Any] = {
            "url": self.url, "secret": self.secret, "scheme": self.scheme,
            "readback_path": READBACK_PATH, "admin_token": self.admin_token,
        }
        values.update(changes)
        return SmokeTarget(**values)


@contextmanager
def reference_receiver(
    db_url: str,
    *,
    faults: Iterable[str] = (),
    scheme: str = "stripe",
    secret: str | None = None,
    admin_token: str | None = None,
) -> Iterator[RunningReceiver]:
    from neruba_harden.reference.server import running_receiver
    from neruba_harden.reference.settings import ReceiverSettings

    secret = secret or new_secret(scheme)
    token = admin_token or secrets.token_urlsafe(16)
    redact.register(secret)
    redact.register(token)
    settings = ReceiverSettings(
        db_url=db_url, secrets=[secret], scheme=scheme, admin_token=token,
        readback_path=READBACK_PATH, faults=frozenset(faults),
    )
    with running_receiver(settings) as url:
        yield RunningReceiver(url, secret, token, scheme, frozenset(faults))


@dataclass(frozen=True)
class CannedResponse:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@contextmanager
def canned_server(response: CannedResponse) -> Iterator[str]:
    """An HTTP server on loopback that answers every request with ``response``."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the sequence opens dozens of connections at once

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def silent_server() -> Iterator[str]:
    """A loopback socket that accepts connections (in its backlog) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def closed_port_url() -> str:
    """A loopback URL whose port nobody listens on (connection refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


REDIRECT = CannedResponse(307, b"", (("Location", "https://elsewhere.example/webhooks"),))
HTML_ERROR_PAGE = CannedResponse(
    502, b"<html><body><h1>502 Bad Gateway</h1></body></html>",
    (("Content-Type", "text/html"),),
)
PLAIN_OK = CannedResponse(200, b"OK", (("Content-Type", "text/plain"),))
