"""The shared HTTP client factory and one-line descriptions of transport faults.

httpx is imported inside these functions: this module is imported by code paths that must
stay light until a network call is actually made.
"""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING, Any

from neruba_harden.errors import ConfigError

if TYPE_CHECKING:
    import httpx

USER_AGENT = "neruba-harden/0.1"


def _verify(verify: bool | str) -> bool | ssl.SSLContext:
    """True/False, or an SSL context trusting the CA bundle at that path."""
    if isinstance(verify, bool):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except FileNotFoundError:
        raise ConfigError(f"ca_bundle {verify}: file not found") from None
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"ca_bundle {verify}: not a PEM CA bundle ({_short(str(exc), 80)})") from None


def _client_options(
    timeout: float, verify: bool | str, follow_redirects: bool, headers: dict[str, str] | None
) -> dict[str, Any]:
    """What every client gets: a timeout on every phase, our CA choice, no proxy from env."""
    import httpx

    return {
        "timeout": httpx.Timeout(timeout),
        "verify": _verify(verify),
        "follow_redirects": follow_redirects,
        "headers": {"User-Agent": USER_AGENT, **(headers or {})},
        "trust_env": False,
    }


def make_async_client(
    timeout: float,
    *,
    verify: bool | str = True,
    follow_redirects: bool = False,
    headers: dict[str, str] | None = None,
    max_connections: int = 100,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """An AsyncClient with a timeout on every phase, no redirects followed by default.

    ``verify`` is True, False or the path of a CA bundle (private CAs in staging).
    """
    import httpx

    return httpx.AsyncClient(
        **_client_options(timeout, verify, follow_redirects, headers),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
        **kwargs,
    )


def make_client(
    timeout: float,
    *,
    verify: bool | str = True,
    follow_redirects: bool = False,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.Client:
    """The synchronous twin of :func:`make_async_client`."""
    import httpx

    return httpx.Client(**_client_options(timeout, verify, follow_redirects, headers), **kwargs)


def describe_transport_error(exc: BaseException, url: str = "") -> str:
    """One clear line for a failed request: DNS, refused, TLS, timeout or other."""
    import httpx

    where = f" {url}" if url else ""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, httpx.TimeoutException):
        kind = {
            httpx.ConnectTimeout: "connect timeout",
            httpx.ReadTimeout: "read timeout",
            httpx.WriteTimeout: "write timeout",
            httpx.PoolTimeout: "pool timeout",
        }.get(type(exc), "timeout")
        return f"{kind} talking to{where}"
    if isinstance(exc, httpx.ConnectError):
        # httpx (anyio) often says only "All connection attempts failed": the OS error is
        # further down the chain of causes.
        for cause in _causes(exc):
            if isinstance(cause, socket.gaierror):
                return f"DNS lookup failed for{where}"
            if isinstance(cause, ConnectionRefusedError):
                return f"connection refused by{where}"
            if isinstance(cause, ssl.SSLError):
                return f"TLS handshake failed with{where}: {_short(str(cause))}"
        if "certificate" in lowered or "ssl" in lowered or "tls" in lowered or "handshake" in lowered:
            return f"TLS handshake failed with{where}: {_short(text)}"
        if (
            "name or service not known" in lowered
            or "nodename nor servname" in lowered
            or "name resolution" in lowered
            or "no address associated" in lowered
            or "getaddrinfo" in lowered
        ):
            return f"DNS lookup failed for{where}"
        if "refused" in lowered:
            return f"connection refused by{where}"
        return f"cannot connect to{where}: {_short(text)}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error from{where}: {_short(text)}"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return f"unsupported URL{where}: {_short(text)}"
    if isinstance(exc, httpx.TooManyRedirects):
        return f"redirect loop at{where}"
    if isinstance(exc, httpx.InvalidURL):
        return f"invalid URL{where}: {_short(text)}"
    if isinstance(exc, httpx.HTTPError):
        return f"request to{where} failed: {_short(text)}"
    return f"request to{where} failed: {type(exc).__name__}: {_short(text)}"


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _short(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
