"""Bounded HTTP probing shared by the exposure, transport and proxy checks.

Every probe is one request with a timeout on each phase and a total deadline; bodies are
streamed and cut at :data:`BODY_CAP` bytes (a huge or endless body never fills memory);
redirects are never followed except by :func:`follow`, which has a hop bound and detects
loops. Transport faults become :class:`ProbeError`, a :class:`CheckError` that carries a
``kind`` (``dns``, ``refused``, ``tls``, ``timeout``, ``redirect-loop``, ``protocol``,
``other``) so that a check can tell a dependency's failure from its own.

Configuration read here (top-level keys of ``[tool.neruba-harden]``):

- ``url``: the public HTTPS address of the API (required by every probe).
- ``http_url``: its plain-HTTP address; default: the same host on port 80.
- ``ca_bundle``: a CA bundle file for private CAs (staging); default: the system store.
- ``webhook_path``: the webhook route, default ``/webhooks``.
- ``admin_path``: an operator route that must stay denied, default ``/admin/status``.

The per-request timeout is a third of the check's timeout, between 1 and 10 seconds.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from neruba_harden.errors import CheckError, ConfigError, SecretError
from neruba_harden.findings import Finding, skipped

if TYPE_CHECKING:
    import httpx

    from neruba_harden.config import Settings
    from neruba_harden.registry import CheckContext

BODY_CAP = 1 << 20  # 1 MiB: enough for any marker, far below a memory problem
MAX_HOPS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_WEBHOOK_PATH = "/webhooks"
DEFAULT_ADMIN_PATH = "/admin/status"


class ProbeError(CheckError):
    """A request could not be completed; ``kind`` says why in one word."""

    def __init__(self, message: str, kind: str, url: str, hint: str = "") -> None:
        super().__init__(message, hint or HINTS.get(kind, ""), {"url": url, "fault": kind})
        self.kind = kind
        self.url = url


HINTS = {
    "dns": "check the host name in 'url' (or --url)",
    "refused": "check the port and that the service listens on it",
    "tls": "the address may not speak TLS, or its certificate is not trusted (--ca-bundle)",
    "timeout": "the target accepted the connection but did not answer in time",
    "redirect-loop": "the target redirects in a loop; fix the redirect rules",
    "protocol": "the target did not answer with valid HTTP",
}


@dataclass(frozen=True)
class Probe:
    """One response: status, headers, and at most BODY_CAP bytes of body."""

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    @property
    def is_redirect(self) -> bool:
        return self.status in REDIRECT_STATUSES and self.header("location") is not None

    @property
    def location(self) -> str | None:
        """The redirect target, made absolute against the request URL."""
        raw = self.header("location")
        return urljoin(self.url, raw) if raw is not None else None


@dataclass(frozen=True)
class Target:
    """Where the checks point, resolved from settings and validated."""

    url: str
    http_url: str
    verify: bool | str
    request_timeout: float
    webhook_path: str
    admin_path: str

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def is_https(self) -> bool:
        return urlsplit(self.url).scheme == "https"

    def join(self, path: str, base: str | None = None) -> str:
        """`path` under the base URL's own path (a base of https://h/api gives /api/docs)."""
        parts = urlsplit(base or self.url)
        prefix = parts.path.rstrip("/")
        return urlunsplit((parts.scheme, parts.netloc, prefix + path, "", ""))

    def client(self) -> httpx.AsyncClient:
        import ssl

        from neruba_harden.http import make_async_client

        try:
            return make_async_client(
                self.request_timeout, verify=self.verify,
                headers={"Accept-Encoding": "identity"}, max_connections=8,
            )
        except (OSError, ssl.SSLError) as exc:  # the CA bundle is missing or not PEM
            raise bad_ca_bundle(self.verify, exc) from None


def bad_ca_bundle(path: object, exc: BaseException) -> CheckError:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return CheckError("key 'ca_bundle' names a file that cannot be loaded",
                      "point ca_bundle (--ca-bundle) at a PEM file of CA certificates",
                      {"ca_bundle": str(path), "reason": reason})


def request_timeout(ctx: CheckContext) -> float:
    return max(1.0, min(10.0, ctx.timeout_s / 3))


def target_from(ctx: CheckContext) -> Target | None:
    """The configured target, or None when no `url` is configured (the check skips)."""
    settings = ctx.settings
    url = settings.get_str("url")
    if not url:
        return None
    url = validate_url(url, "url")
    http_url = settings.get_str("http_url")
    http_url = validate_url(http_url, "http_url") if http_url else default_http_url(url)
    ca_bundle = settings.get_str("ca_bundle")
    return Target(
        url=url,
        http_url=http_url,
        verify=ca_bundle or True,
        request_timeout=request_timeout(ctx),
        webhook_path=_path(settings.get_str("webhook_path", DEFAULT_WEBHOOK_PATH), "webhook_path"),
        admin_path=_path(settings.get_str("admin_path", DEFAULT_ADMIN_PATH), "admin_path"),
    )


def _key_error(settings: Settings | None, key: str, problem: str) -> ConfigError:
    """A ConfigError for ``key``: naming the file (or variable, or flag) when known."""
    if settings is not None:
        return settings.error(key, problem)
    return ConfigError(f"key '{key}' {problem}")


def validate_url(url: str, key: str, settings: Settings | None = None) -> str:
    """The URL normalised; ConfigError (naming where ``key`` came from, given ``settings``)
    when it is not an http(s) URL with a host. The value is never echoed: it may hold a
    password."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _key_error(settings, key, "must be an http:// or https:// URL with a host")
    try:
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise _key_error(settings, key, "has an invalid port") from None
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


# -- up-front validation (no network, no secrets) -------------------------------------------

def validate_ca_bundle(settings: Settings, key: str = "ca_bundle") -> None:
    """``key``, when set, names a readable file of PEM CA certificates (read locally)."""
    import ssl
    from pathlib import Path

    value = settings.get_str(key)
    if not value:
        return
    if not Path(value).expanduser().is_file():
        raise settings.error(key, f"names no file: {value}")
    try:
        ssl.create_default_context(cafile=str(Path(value).expanduser()))
    except (OSError, ssl.SSLError):
        raise settings.error(key, f"names a file that is not a PEM CA bundle: {value}") from None


def validate_target_settings(settings: Settings) -> None:
    """The target keys the exposure, transport and proxy checks read (see the module doc):
    raise ConfigError naming the file and the key for a malformed one."""
    for key in ("url", "http_url"):
        value = settings.get_str(key)
        if value:
            validate_url(value, key, settings)
    for key, default in (("webhook_path", DEFAULT_WEBHOOK_PATH), ("admin_path", DEFAULT_ADMIN_PATH)):
        path = settings.get_str(key, default)
        if not path or not path.startswith("/"):
            raise settings.error(key, "must be a path starting with '/'")
    validate_ca_bundle(settings)


def validate_proxy_settings(settings: Settings) -> None:
    """The proxy area's keys: the target keys plus ``origin_url``, ``scheme``,
    ``webhook_secret`` (its type only: it is never resolved here), ``allow_http`` and
    ``proxy.event_type``."""
    from neruba_harden.webhooks import SCHEMES

    validate_target_settings(settings)
    origin = settings.get_str("origin_url")
    if origin:
        validate_url(origin, "origin_url", settings)
    scheme = settings.get_str("scheme")
    if scheme and scheme not in SCHEMES:
        raise settings.error("scheme", f"must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    settings.get_str("webhook_secret")
    settings.get_bool("allow_http")
    settings.get_str("proxy.event_type")


# -- secret references met inside a check ---------------------------------------------------

def _secret_hint(exc: BaseException) -> str:
    kind = getattr(exc, "kind", None)
    return {
        "sealed": "unseal Vault (vault operator unseal, or check its auto-unseal), then rerun",
        "uninitialised": "initialise Vault and load the application's secrets",
        "unreachable": "check vault.addr (or VAULT_ADDR), the network path and vault.ca_bundle",
        "denied": "grant the token read on the secret's path, or fix vault.token",
        "config": "set vault.addr and vault.token (see secrets.vault)",
    }.get(kind or "", "fix the reference or write the secret it names (see secrets.refs)")


def unresolved_secret(key: str, ref: str, exc: SecretError) -> CheckError:
    """The CheckError for a secret reference that did not resolve: a summary that says
    why in under 80 characters (``cannot resolve webhook_secret: Vault ... is sealed``),
    the whole message as evidence."""
    message = str(exc)
    cause = getattr(exc, "cause", None) or message
    prefix = f"{ref}: "
    if cause.startswith(prefix):  # env:/file: errors lead with their reference
        cause = cause[len(prefix):]
    short = getattr(exc, "short", None)
    if not isinstance(short, str):  # env: and file: faults: the variable is in the evidence
        short = f"{ref} is not set" if cause.endswith(" is not set") else cause
    summary = one_line(f"cannot resolve {key}: {cause}", f"cannot resolve {key}: {short}")
    return CheckError(summary, _secret_hint(exc), {"key": key, "ref": ref, "cause": message})


def resolve_webhook_secret(ctx: CheckContext, ref: str | None = None) -> str:
    """Resolve ``webhook_secret`` (or ``ref``) for a check; a reference that does not
    resolve (Vault sealed, variable unset...) is a CheckError whose summary names the
    cause. A malformed reference stays a ConfigError."""
    ref = ref or ctx.settings.get_str("webhook_secret")
    if not ref:
        raise CheckError("no webhook_secret configured (a secret reference)",
                         "set webhook_secret to vault:MOUNT/PATH#KEY, env:NAME or file:PATH")
    try:
        return ctx.secret(ref)
    except SecretError as exc:
        raise unresolved_secret("webhook_secret", ref, exc) from None


def no_target(check_id: str) -> Finding:
    """The skip of a check that has no target URL configured."""
    return skipped(check_id, "no url configured (set 'url' or pass --url)")


def default_http_url(url: str) -> str:
    """The same host on port 80 (or the URL itself when it is already plain HTTP)."""
    parts = urlsplit(url)
    if parts.scheme == "http":
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    return urlunsplit(("http", netloc, parts.path or "/", "", ""))


def _path(value: str | None, key: str) -> str:
    if not value or not value.startswith("/"):
        raise ConfigError(f"key '{key}' must be a path starting with '/'")
    return value


def token() -> str:
    """A short random token, unique per probe."""
    return secrets.token_hex(6)


def canary_host() -> str:
    """A host name nobody owns, unique per probe, to spot reflection."""
    return f"neruba-{token()}.example"


def _kind(description: str) -> str:
    lowered = description.lower()
    for prefix, kind in (
        ("tls handshake", "tls"),
        ("dns lookup", "dns"),
        ("connection refused", "refused"),
        ("redirect loop", "redirect-loop"),
        ("protocol error", "protocol"),
    ):
        if lowered.startswith(prefix):
            return kind
    if "timeout" in lowered.split(" talking", 1)[0]:
        return "timeout"
    return "other"


def where(url: str) -> str:
    """host:port of a URL: short enough for a one-line summary."""
    parts = urlsplit(url)
    return parts.netloc or url


def fault_line(kind: str, url: str, detail: str = "") -> str:
    """The one-line summary of a transport fault, under 80 characters."""
    place = where(url)
    line = {
        "dns": f"DNS lookup failed for {urlsplit(url).hostname or place}",
        "refused": f"connection refused by {place}",
        "tls": f"TLS handshake failed with {place}",
        "timeout": f"{detail or 'timeout'} talking to {place}",
        "redirect-loop": f"redirect loop at {place}{urlsplit(url).path}",
        "protocol": f"protocol error from {place}",
    }.get(kind, f"request to {place} failed")
    return one_line(line)


def one_line(text: str, shorter: str = "") -> str:
    """``text`` if it fits a summary (under 80 characters), else ``shorter``, else cut."""
    for candidate in (text, shorter):
        if candidate and len(candidate) < 80:
            return candidate
    return (shorter or text)[:78] + "…"


def _fault(exc: BaseException, url: str) -> ProbeError:
    from neruba_harden.http import describe_transport_error

    if _caused_by(exc, ConnectionRefusedError):
        # anyio reports "All connection attempts failed"; the cause says refused
        kind, line = "refused", f"connection refused by {url}"
    else:
        line = describe_transport_error(exc, url)
        kind = _kind(line)
    timeout_kind = line.split(" talking", 1)[0] if kind == "timeout" else ""
    error = ProbeError(fault_line(kind, url, timeout_kind), kind, url)
    error.evidence["detail"] = line
    return error


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    cap: int = BODY_CAP,
    deadline: float | None = None,
) -> Probe:
    """One request, never following redirects; the body is cut at ``cap`` bytes."""
    import httpx

    total = deadline or _deadline(client)

    async def go() -> Probe:
        async with client.stream(method, url, headers=dict(headers or {}), content=content) as resp:
            body = bytearray()
            truncated = False
            async for chunk in resp.aiter_bytes():
                body.extend(chunk)
                if len(body) > cap:
                    truncated = True
                    del body[cap:]
                    break
            return Probe(url, resp.status_code, tuple(resp.headers.multi_items()), bytes(body),
                         truncated)

    try:
        return await asyncio.wait_for(go(), total)
    except asyncio.TimeoutError:
        raise ProbeError(fault_line("timeout", url, f"no complete answer in {total:g}s"),
                         "timeout", url) from None
    except (httpx.HTTPError, OSError) as exc:
        raise _fault(exc, url) from None


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _deadline(client: httpx.AsyncClient) -> float:
    timeout = client.timeout.read or 10.0
    return timeout * 2 + 1


async def follow(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    max_hops: int = MAX_HOPS,
) -> list[Probe]:
    """GET ``url`` and follow redirects on the same host up to ``max_hops``; every hop is
    returned. A redirect to another host ends the chain (nothing is sent there).

    A URL seen twice, or more hops than the bound, raises ProbeError(kind="redirect-loop").
    """
    chain: list[Probe] = []
    seen = {url}
    current = url
    while True:
        probe = await fetch(client, current, headers=headers)
        chain.append(probe)
        if not probe.is_redirect or probe.location is None:
            return chain
        nxt = probe.location
        if nxt in seen or len(chain) > max_hops:
            error = ProbeError(fault_line("redirect-loop", url), "redirect-loop", url)
            error.evidence["hops"] = [p.url for p in chain[:6]] + [nxt]
            raise error
        if urlsplit(nxt).scheme not in ("http", "https") or \
                urlsplit(nxt).hostname != urlsplit(url).hostname:
            return chain
        seen.add(nxt)
        current = nxt


async def reach(client: httpx.AsyncClient, url: str) -> list[Probe]:
    """The reachability probe every check starts with: one clear error when it fails."""
    return await follow(client, url)


async def gather_limited(coros: Sequence[Any], limit: int = 8) -> list[Any]:
    """Run coroutines with at most ``limit`` in flight; results in order."""
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with semaphore:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


def evidence_of(probe: Probe) -> dict[str, Any]:
    """A short, body-free summary of a response for evidence."""
    data: dict[str, Any] = {"status": probe.status}
    if probe.location:
        data["location"] = probe.location
    if probe.truncated:
        data["body"] = f"over {BODY_CAP} bytes, cut"
    return data


def is_login_url(url: str) -> bool:
    """A redirect target that looks like a sign-in page (the surface is gated)."""
    path = urlsplit(url).path.lower()
    query = urlsplit(url).query.lower()
    words = ("login", "signin", "sign-in", "sign_in", "auth", "sso", "oauth", "session")
    return any(w in path for w in words) or "return_to=" in query or "next=" in query
