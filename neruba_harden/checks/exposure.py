"""Exposure checks: API docs per environment policy; debug, admin and config surfaces never.

Check ids:

- ``exposure.docs``: the API docs surfaces (Swagger UI, ReDoc, OpenAPI/Swagger documents
  under their common spellings) must be disabled or gated (401/403/404, or a redirect to a
  sign-in page) where the policy is ``deny``; where it is ``allow`` they may be open.
- ``exposure.debug``: debug consoles, Spring actuators, ``/.env``, ``/.git/config``,
  server-status pages, phpinfo, Prometheus metrics, pprof and admin routes must never answer.

A surface counts as open only on status 200 *and* its content marker (an OpenAPI document
with ``openapi``/``swagger`` and ``paths``, Swagger UI or ReDoc markup, ``[core]`` in a git
config...), so a soft-404 page (200 "Not Found" for every path) is never a false positive.
Evidence names each path, its status and verdict, never a body: a leaked ``.env`` holds
secrets, so only its path and the marker ("KEY=VALUE lines") are reported.

Configuration (``[tool.neruba-harden]``, per environment under ``environments.NAME``):

- ``url``, ``ca_bundle``, ``admin_path``: see :mod:`neruba_harden.checks.probes`.
- ``exposure.docs_policy``: ``deny`` or ``allow``; default ``deny`` when the environment is
  production (``settings.is_production``), ``allow`` otherwise (set ``deny`` for staging).
- ``exposure.docs_paths``: extra doc paths to probe (list of paths).
- ``exposure.debug_paths``: extra paths that must never answer 200 (a soft 404 is ignored).
- ``exposure.admin_paths``: admin routes that must not answer 200 without credentials;
  default ``["/admin", "/admin/"]`` plus ``admin_path``. A sign-in form counts as gated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from neruba_harden.checks import probes
from neruba_harden.checks.probes import Probe, ProbeError, Target
from neruba_harden.config import Settings
from neruba_harden.errors import ConfigError
from neruba_harden.findings import Finding, errored, failed, passed
from neruba_harden.registry import CheckContext, check

if TYPE_CHECKING:
    import httpx

DOCS_ID = "exposure.docs"
DEBUG_ID = "exposure.debug"

DOCS_PATHS = (
    "/docs", "/docs/", "/redoc", "/openapi.json", "/openapi.yaml", "/openapi.yml",
    "/docs/oauth2-redirect", "/docs/openapi.json", "/swagger-ui.html", "/swagger-ui/",
    "/swagger-ui/index.html", "/swagger", "/swagger/", "/swagger/index.html", "/swagger.json",
    "/swagger.yaml", "/swagger/v1/swagger.json", "/api-docs", "/api-docs/", "/v2/api-docs",
    "/v3/api-docs", "/api/docs", "/api/openapi.json", "/api/swagger.json", "/api/schema/",
    "/schema/", "/rapidoc", "/scalar",
)
DEFAULT_ADMIN_PATHS = ("/admin", "/admin/")
MAX_EXTRA_PATHS = 50
DOCS_HINT = (
    "disable the docs routes in production (e.g. docs_url=None) or gate them behind "
    "authentication at the app or the proxy"
)
DEBUG_HINT = (
    "remove these routes from the public listener, or deny them at the proxy; rotate any "
    "secret a leaked .env or config exposed"
)

Marker = Callable[[Probe], bool]


@dataclass(frozen=True)
class Surface:
    """A path that must not be open, the marker that proves it is, and its name."""

    path: str
    marker: str
    matches: Marker
    method: str = "GET"


def _has(*needles: str, case: bool = True) -> Marker:
    def match(probe: Probe) -> bool:
        text = probe.text if case else probe.text.lower()
        return all((n if case else n.lower()) in text for n in needles)

    return match


def _regex(pattern: str, flags: int = 0) -> Marker:
    compiled = re.compile(pattern, flags)
    return lambda probe: compiled.search(probe.text) is not None


def _json_keys(*keys: str) -> Marker:
    def match(probe: Probe) -> bool:
        try:
            data = json.loads(probe.body)
        except ValueError:
            return False
        return isinstance(data, dict) and all(k in data for k in keys)

    return match


_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=\S*", re.M)


def _env_file(probe: Probe) -> bool:
    """KEY=VALUE lines (no spaces around '='), in a body that is neither HTML nor JSON."""
    text = probe.text
    head = text.lstrip()[:2048].lower()
    if head.startswith(("{", "[", "<")) or "<html" in head:
        return False
    keys = _ENV_LINE.findall(text)
    return len(keys) >= 2 or any(k.isupper() for k in keys)


def _octet_stream(probe: Probe) -> bool:
    disposition = (probe.header("content-disposition") or "").lower()
    return probe.content_type == "application/octet-stream" or ".hprof" in disposition


DEBUG_SURFACES: tuple[Surface, ...] = (
    Surface("/console", "Werkzeug debugger console",
            lambda p: "Werkzeug" in p.text and ("__debugger__" in p.text or "CONSOLE_MODE" in p.text)),
    Surface("/actuator", "Spring actuator index (_links)", _json_keys("_links")),
    Surface("/actuator/env", "Spring actuator env (propertySources)",
            lambda p: _json_keys("propertySources")(p) or _json_keys("activeProfiles")(p)),
    Surface("/actuator/heapdump", "heap dump download", _octet_stream, method="HEAD"),
    Surface("/actuator/configprops", "Spring actuator configprops", _json_keys("contexts")),
    Surface("/actuator/mappings", "Spring actuator mappings", _json_keys("contexts")),
    Surface("/actuator/threaddump", "Spring actuator thread dump", _json_keys("threads")),
    Surface("/actuator/loggers", "Spring actuator loggers", _json_keys("levels", "loggers")),
    Surface("/.env", "KEY=VALUE lines", _env_file),
    Surface("/.git/config", "git config ([core])", _has("[core]")),
    Surface("/.git/HEAD", "git HEAD (ref: refs/)", _regex(r"^ref: refs/", re.M)),
    Surface("/server-status", "Apache server-status", _has("Apache Server Status")),
    Surface("/nginx_status", "nginx stub_status", _has("Active connections:", "server accepts")),
    Surface("/phpinfo.php", "phpinfo()", _regex(r"phpinfo\(\)|PHP Version", re.I)),
    Surface("/info.php", "phpinfo()", _regex(r"phpinfo\(\)|PHP Version", re.I)),
    Surface("/metrics", "Prometheus metrics (# HELP/# TYPE)", _has("# HELP ", "# TYPE ")),
    Surface("/debug/pprof/", "Go pprof index", _regex(r"Types of profiles available|/debug/pprof/goroutine")),
    Surface("/debug/vars", "Go expvar (memstats)", _json_keys("memstats", "cmdline")),
    Surface("/_profiler/", "Symfony profiler", _has("Symfony Profiler")),
    Surface("/elmah.axd", "ELMAH error log", _has("Error Log for")),
)

_SOFT_404 = re.compile(r"\b(404|not found|page not found|does not exist|no such page)\b", re.I)
_PASSWORD_FIELD = re.compile(r"<input[^>]+type=[\"']?password", re.I)


def docs_marker(probe: Probe) -> str | None:
    """The docs surface a 200 response proves, or None."""
    head = probe.text.lstrip()[:4096]
    if head.startswith("{"):
        try:
            data = json.loads(probe.body)
        except ValueError:
            data = None
        if isinstance(data, dict) and "paths" in data:
            if "openapi" in data:
                return "OpenAPI document"
            if "swagger" in data:
                return "Swagger document"
    text = probe.text
    if re.search(r"^\s*[\"']?(openapi|swagger)[\"']?\s*:", text, re.M) and re.search(
        r"^\s*[\"']?paths[\"']?\s*:", text, re.M
    ):
        return "OpenAPI document"
    lowered = text.lower()
    for needle, name in (
        ("swaggeruibundle", "Swagger UI"),
        ("swagger-ui", "Swagger UI"),
        ("swagger ui", "Swagger UI"),
        ("<redoc", "ReDoc"),
        ("redoc.standalone", "ReDoc"),
        ("redoc.init", "ReDoc"),
        ("<rapi-doc", "RapiDoc"),
        ("@scalar/api-reference", "Scalar"),
    ):
        if needle in lowered:
            return name
    return None


@dataclass
class Verdict:
    """What one path turned out to be."""

    path: str
    status: int | None
    verdict: str
    open: bool = False
    unverified: bool = False
    marker: str = ""

    def line(self) -> str:
        status = "-" if self.status is None else str(self.status)
        return f"{status} {self.verdict}"


class Scanner:
    """Probes paths under one target: soft-404 baseline, bounded same-host redirects."""

    def __init__(self, target: Target, client: httpx.AsyncClient) -> None:
        self.target = target
        self.client = client
        self.soft404: Probe | None = None

    async def start(self) -> None:
        # The reachability probe: unreachable, TLS, timeout, loop -> one clear error.
        await probes.reach(self.client, self.target.url)
        baseline = await probes.fetch(
            self.client, self.target.join(f"/neruba-absent-{probes.token()}")
        )
        self.soft404 = baseline if baseline.status == 200 else None

    def is_soft_404(self, probe: Probe) -> bool:
        if self.soft404 is not None:
            if probe.body == self.soft404.body:
                return True
            a, b = len(probe.body), len(self.soft404.body)
            same_type = probe.content_type == self.soft404.content_type
            # a soft-404 page often echoes the path: allow a small difference in length
            if a and b and same_type and abs(a - b) <= max(64, 0.05 * max(a, b)):
                return True
        if probe.content_type in ("text/html", "text/plain", ""):
            title = re.search(r"<title>(.*?)</title>", probe.text[:4096], re.I | re.S)
            sample = title.group(1) if title else probe.text[:512]
            return _SOFT_404.search(sample) is not None
        return False

    async def resolve(self, path: str, method: str = "GET") -> tuple[Probe, str]:
        """The final response for ``path``, following at most 3 same-host redirects.

        Returns (response, "") or (the redirect, verdict) when the path ends at a sign-in
        page, on another host, or after too many hops.
        """
        url = self.target.join(path)
        host = self.target.host
        for _hop in range(4):
            probe = await probes.fetch(self.client, url, method=method)
            if not probe.is_redirect or probe.location is None:
                return probe, ""
            nxt = probe.location
            if probes.is_login_url(nxt):
                return probe, "gated (redirect to sign-in)"
            if urlsplit(nxt).hostname != host:
                return probe, "absent (redirect off-host)"
            url = nxt
        return probe, "unverified (too many redirects)"

    async def classify(
        self, path: str, marker: Callable[[Probe], str | None], method: str = "GET"
    ) -> Verdict:
        try:
            probe, reason = await self.resolve(path, method)
        except ProbeError as exc:
            return Verdict(path, None, f"unverified ({exc.kind})", unverified=True)
        if reason:
            return Verdict(path, probe.status, reason, unverified=reason.startswith("unverified"))
        status = probe.status
        if status in (401, 403, 407):
            return Verdict(path, status, "gated")
        if status in (404, 410):
            return Verdict(path, status, "absent")
        if status != 200:
            return Verdict(path, status, "not open")
        found = marker(probe)
        if found:
            return Verdict(path, status, f"open ({found})", open=True, marker=found)
        if probe.truncated:
            return Verdict(path, status, f"unverified (body over {probes.BODY_CAP} bytes)",
                           unverified=True)
        if self.is_soft_404(probe):
            return Verdict(path, status, "soft 404")
        return Verdict(path, status, "no marker")

    async def scan(
        self, items: Iterable[tuple[str, Callable[[Probe], str | None], str]]
    ) -> list[Verdict]:
        return await probes.gather_limited(
            [self.classify(path, marker, method) for path, marker, method in items]
        )


ErrorFor = Callable[[str, str], ConfigError]


def _plain_error(key: str, problem: str) -> ConfigError:
    return ConfigError(f"key '{key}' {problem}")


def _paths(settings: Settings, key: str, default: Iterable[str] = (),
           error: ErrorFor = _plain_error) -> list[str]:
    paths = settings.get_list(key, list(default))
    for path in paths:
        if not path.startswith("/"):
            raise error(key, f"must list paths starting with '/', got {path!r}")
    return paths[:MAX_EXTRA_PATHS]


def _docs_policy(settings: Settings, error: ErrorFor = _plain_error) -> str:
    default = "deny" if settings.is_production else "allow"
    policy = (settings.get_str("exposure.docs_policy", default) or default).lower()
    if policy not in ("deny", "allow"):
        raise error("exposure.docs_policy", f"must be deny or allow, got {policy!r}")
    return policy


def _extra_paths(ctx: CheckContext, key: str, default: Iterable[str] = ()) -> list[str]:
    return _paths(ctx.settings, key, default)


def docs_policy(ctx: CheckContext) -> str:
    return _docs_policy(ctx.settings)


def validate_settings(settings: Settings) -> None:
    """Up-front validation (no network): raise ConfigError naming the file and the key for
    a malformed target key or exposure.* key."""
    probes.validate_target_settings(settings)
    _docs_policy(settings, settings.error)
    for key in ("exposure.docs_paths", "exposure.debug_paths", "exposure.admin_paths"):
        _paths(settings, key, error=settings.error)


def _unique(paths: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(paths))


def _table(verdicts: list[Verdict]) -> dict[str, str]:
    return {v.path: v.line() for v in verdicts}


def _unverified(check_id: str, verdicts: list[Verdict], **evidence: Any) -> Finding:
    bad = [v for v in verdicts if v.unverified]
    return errored(
        check_id, f"could not verify {len(bad)} of {len(verdicts)} paths",
        "see the verdict of each path; retry with a longer --timeout",
        unverified=[v.path for v in bad], **evidence, paths=_table(verdicts),
    )


@check(DOCS_ID, title="API docs surfaces follow the environment's policy", area="exposure",
       tags=("exposure", "http"), needs=("url",))
async def check_docs(ctx: CheckContext) -> list[Finding]:
    target = probes.target_from(ctx)
    if target is None:
        return [probes.no_target(DOCS_ID)]
    policy = docs_policy(ctx)
    paths = _unique([*DOCS_PATHS, *_extra_paths(ctx, "exposure.docs_paths")])
    async with target.client() as client:
        scanner = Scanner(target, client)
        await scanner.start()
        verdicts = await scanner.scan((p, docs_marker, "GET") for p in paths)
    env = ctx.settings.env_name or ("production" if ctx.settings.is_production else "default")
    opened = [v.path for v in verdicts if v.open]
    evidence: dict[str, Any] = {"policy": policy, "environment": env, "open": opened}
    if opened and policy == "deny":
        return [failed(DOCS_ID, f"API docs open at {len(opened)} paths; policy here is deny",
                       DOCS_HINT, **evidence, paths=_table(verdicts))]
    if any(v.unverified for v in verdicts):
        return [_unverified(DOCS_ID, verdicts, **evidence)]
    if opened:
        return [passed(DOCS_ID, f"API docs open at {len(opened)} paths (allowed in {env})",
                       **evidence, paths=_table(verdicts))]
    return [passed(DOCS_ID, f"no API docs surface is open ({len(paths)} paths checked)",
                   **evidence, paths=_table(verdicts))]


def _admin_marker(scanner: Scanner) -> Callable[[Probe], str | None]:
    def marker(probe: Probe) -> str | None:
        if scanner.is_soft_404(probe) or _PASSWORD_FIELD.search(probe.text):
            return None  # a sign-in form gates the route
        return "answers 200 without credentials"

    return marker


def _surface_marker(surface: Surface) -> Callable[[Probe], str | None]:
    return lambda probe: surface.marker if surface.matches(probe) else None


@check(DEBUG_ID, title="No debug, admin or config surface is public", area="exposure",
       tags=("exposure", "http"), needs=("url",))
async def check_debug(ctx: CheckContext) -> list[Finding]:
    target = probes.target_from(ctx)
    if target is None:
        return [probes.no_target(DEBUG_ID)]
    known = {s.path for s in DEBUG_SURFACES}
    extra = [p for p in _extra_paths(ctx, "exposure.debug_paths") if p not in known]
    admin = _extra_paths(ctx, "exposure.admin_paths", DEFAULT_ADMIN_PATHS)
    admin = _unique([*admin, target.admin_path])
    async with target.client() as client:
        scanner = Scanner(target, client)
        await scanner.start()
        generic = _admin_marker(scanner)
        items = [(s.path, _surface_marker(s), s.method) for s in DEBUG_SURFACES]
        items += [(p, generic, "GET") for p in _unique([*extra, *admin]) if p not in known]
        verdicts = await scanner.scan(items)
    opened = [v for v in verdicts if v.open]
    evidence: dict[str, Any] = {"open": {v.path: v.marker for v in opened}}
    if opened:
        names = ", ".join(v.path for v in opened)
        summary = f"public debug/admin surface: {names}"
        if len(summary) >= 80:
            summary = f"{len(opened)} debug/admin surfaces are public"
        return [failed(DEBUG_ID, summary, DEBUG_HINT, **evidence, paths=_table(verdicts))]
    if any(v.unverified for v in verdicts):
        return [_unverified(DEBUG_ID, verdicts, **evidence)]
    return [passed(DEBUG_ID, f"no debug or admin surface answers ({len(verdicts)} paths)",
                   paths=_table(verdicts))]
