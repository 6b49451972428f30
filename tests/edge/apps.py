"""Small upstreams for the edge tests, each wrong (or right) in one way, and how to serve them.

Plain ASGI callables, served by uvicorn on a pre-bound loopback socket in a thread
(`serving(app)`), plus `silent_listener()`, a socket that accepts and never answers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

LEAKED_ENV_VALUE = "sk_test_CANARYenvfile9d8c7b6a"  # must never show in any report

NOT_FOUND_PAGE = (
    b"<!DOCTYPE html><html><head><title>Page Not Found</title></head><body>"
    b"<h1>Not Found</h1><p>Sorry, the page you asked for does not exist.</p></body></html>"
)
SPA_SHELL = (
    b"<!DOCTYPE html><html><head><title>Neruba Console</title>"
    b"<script src=\"/static/app.3f9a.js\" defer></script></head>"
    b"<body><div id=\"root\">Loading...</div></body></html>"
)
SWAGGER_UI = (
    b"<!DOCTYPE html><html><head><title>API - Swagger UI</title>"
    b"<link rel=\"stylesheet\" href=\"/static/swagger-ui.css\"></head><body>"
    b"<div id=\"swagger-ui\"></div><script>SwaggerUIBundle({url: '/openapi.json'})</script>"
    b"</body></html>"
)
WERKZEUG_CONSOLE = (
    b"<!doctype html><html><head><title>Console // Werkzeug Debugger</title>"
    b"<script>var CONSOLE_MODE = true, EVALEX = true;</script></head>"
    b"<body><div class=\"debugger\"><h1>Interactive Console</h1>"
    b"<a href=\"?__debugger__=yes&cmd=resource\">x</a></div></body></html>"
)


async def _drain(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


async def respond(
    send: Send, status: int, body: bytes, content_type: str = "text/html; charset=utf-8",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]})
    await send({"type": "http.response.body", "body": body})


def _host(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"host":
            return str(value.decode("latin-1"))
    return "unknown"


async def soft404_app(scope: Scope, receive: Receive, send: Send) -> None:
    """200 with an HTML 'Not Found' page for every path."""
    await _drain(receive)
    await respond(send, 200, NOT_FOUND_PAGE)


async def spa_app(scope: Scope, receive: Receive, send: Send) -> None:
    """200 with the same single-page-app shell for every path (the other soft 404)."""
    await _drain(receive)
    await respond(send, 200, SPA_SHELL)


async def host_reflecting_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Builds absolute URLs from the Host header, as many frameworks do."""
    await _drain(receive)
    host = _host(scope)
    if scope["path"] == "/":
        body = json.dumps({"self": f"https://{host}/", "webhooks": f"https://{host}/webhooks"})
        await respond(send, 200, body.encode(), "application/json")
    else:
        await respond(send, 302, b"", headers=[(b"location", f"https://{host}/login".encode())])


async def leaky_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Debug and config surfaces left open, with real-looking content."""
    await _drain(receive)
    pages: dict[str, tuple[bytes, str]] = {
        "/.env": (f"APP_ENV=production\nSTRIPE_SECRET_KEY={LEAKED_ENV_VALUE}\n".encode(),
                  "text/plain"),
        "/.git/config": (b"[core]\n\trepositoryformatversion = 0\n\tbare = false\n", "text/plain"),
        "/metrics": (b"# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"
                     b"http_requests_total 3\n", "text/plain; version=0.0.4"),
        "/actuator/env": (b'{"activeProfiles": [], "propertySources": []}', "application/json"),
        "/console": (WERKZEUG_CONSOLE, "text/html"),
        "/admin": (b"<html><body><h1>Admin</h1><table><tr><td>users</td></tr></table></body>"
                   b"</html>", "text/html"),
        "/docs": (SWAGGER_UI, "text/html"),
    }
    page = pages.get(scope["path"])
    if page is None:
        await respond(send, 404, b"not found", "text/plain")
    else:
        await respond(send, 200, page[0], page[1])


async def redirect_loop_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Every path redirects to itself."""
    await _drain(receive)
    await respond(send, 302, b"", headers=[(b"location", scope["path"].encode())])


async def huge_body_app(scope: Scope, receive: Receive, send: Send) -> None:
    """200 with a 64 MiB body for every path (the client must stop reading on its own)."""
    await _drain(receive)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/html")]})
    chunk = b"<p>" + b"x" * 65_532 + b"</p>"
    for _ in range(1024):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


@contextmanager
def serving(app: App, *, host: str = "127.0.0.1", start_timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn on an ephemeral port in a thread; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="error", lifespan="off", server_header=False,
                            timeout_graceful_shutdown=2, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"test upstream on port {port} did not start")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        if thread.is_alive():
            server.force_exit = True
            thread.join(2)
        sock.close()


@contextmanager
def silent_listener(host: str = "127.0.0.1") -> Iterator[int]:
    """A port whose connections complete (kernel backlog) but never get an answer."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen(16)
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def closed_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
