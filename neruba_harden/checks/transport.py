"""Transport checks: the HTTPS redirect, HSTS and the TLS handshake and certificate.

Check ids:

- ``transport.https-redirect``: ``http://`` answers with a redirect whose first hop is
  ``https://`` on the same host (the redirect is not followed).
- ``transport.hsts``: exactly one ``Strict-Transport-Security`` header whose ``max-age`` is
  at least ``transport.hsts_min_age`` (a warning under a year); ``includeSubDomains`` and
  ``preload`` are reported. Skipped, with the reason, when the URL is not https or its
  handshake fails (that is ``transport.tls``'s finding).
- ``transport.tls``: the certificate chain is valid for the host (``ca_bundle`` for private
  CAs) and expires more than ``transport.cert_fail_days`` away (a warning under
  ``transport.cert_warn_days``); TLS 1.0 and 1.1 are refused. Legacy versions are offered
  from a context limited to each one with ``@SECLEVEL=0`` ciphers; when the local OpenSSL
  cannot offer one at all, the evidence says so instead of passing silently.

Configuration (``[tool.neruba-harden]``):

- ``url``, ``http_url``, ``ca_bundle``: see :mod:`neruba_harden.checks.probes`.
- ``transport.hsts_min_age``: minimum HSTS max-age in seconds (default 15552000, 6 months).
- ``transport.cert_fail_days``: fail when the certificate expires sooner (default 14).
- ``transport.cert_warn_days``: warn when it expires sooner (default 30).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
import warnings
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from neruba_harden.checks import probes
from neruba_harden.checks.probes import ProbeError
from neruba_harden.config import Settings
from neruba_harden.errors import CheckError, ConfigError
from neruba_harden.findings import Finding, Status, failed, passed, skipped, warned
from neruba_harden.registry import CheckContext, check

REDIRECT_ID = "transport.https-redirect"
HSTS_ID = "transport.hsts"
TLS_ID = "transport.tls"

ONE_YEAR = 31_536_000
DEFAULT_HSTS_MIN_AGE = 15_552_000
DEFAULT_CERT_FAIL_DAYS = 14
DEFAULT_CERT_WARN_DAYS = 30
LEGACY_VERSIONS = (("TLSv1", "TLSv1"), ("TLSv1.1", "TLSv1_1"))


# -- transport.https-redirect --------------------------------------------------------------

@check(REDIRECT_ID, title="Plain HTTP redirects to HTTPS on the same host", area="transport",
       tags=("transport", "http"), needs=("url",))
async def check_https_redirect(ctx: CheckContext) -> list[Finding]:
    target = probes.target_from(ctx)
    if target is None:
        return [probes.no_target(REDIRECT_ID)]
    url = target.http_url
    async with target.client() as client:
        try:
            probe = await probes.fetch(client, url)
        except ProbeError as exc:
            if exc.kind == "refused" and target.url != url:
                await probes.fetch(client, target.url)  # the whole host down: that error
                return [warned(
                    REDIRECT_ID, "plain HTTP is refused: http:// links get no redirect",
                    "serve a permanent redirect to https on port 80, or waive this if plain "
                    "HTTP is closed on purpose", http_url=url, fault=exc.kind,
                )]
            raise
    evidence: dict[str, Any] = {"http_url": url, **probes.evidence_of(probe)}
    if not probe.is_redirect or probe.location is None:
        return [failed(REDIRECT_ID, f"http:// answers {probe.status} instead of redirecting",
                       "answer every plain-HTTP request with 301/308 to the https:// URL",
                       **evidence)]
    location = urlsplit(probe.location)
    if location.scheme != "https":
        return [failed(REDIRECT_ID, f"http:// redirects to {location.scheme}://, not https://",
                       "make the first hop go straight to https:// (no plain-HTTP hop)",
                       **evidence)]
    if location.hostname != urlsplit(url).hostname:
        return [failed(REDIRECT_ID, "http:// redirects to https on another host",
                       "redirect to the same host first, so HSTS can be set for it",
                       **evidence, expected_host=urlsplit(url).hostname)]
    evidence["permanent"] = probe.status in (301, 308)
    return [passed(REDIRECT_ID, f"http:// redirects ({probe.status}) to https on the same host",
                   **evidence)]


# -- transport.hsts ------------------------------------------------------------------------

def parse_hsts(value: str) -> dict[str, Any]:
    """Directives of one Strict-Transport-Security value; raises ValueError if malformed."""
    directives: dict[str, str | None] = {}
    for part in value.split(";"):
        name, sep, raw = part.strip().partition("=")
        name = name.strip().lower()
        if not name:
            continue
        if name in directives:
            raise ValueError(f"directive {name} appears twice")
        directives[name] = raw.strip().strip('"') if sep else None
    raw_age = directives.get("max-age")
    if raw_age is None or not raw_age.isdigit():
        raise ValueError("max-age is missing or not a number")
    return {
        "max_age": int(raw_age),
        "include_subdomains": "includesubdomains" in directives,
        "preload": "preload" in directives,
    }


@check(HSTS_ID, title="HTTPS responses carry a long-lived HSTS header", area="transport",
       tags=("transport", "http"), needs=("url",))
async def check_hsts(ctx: CheckContext) -> list[Finding]:
    target = probes.target_from(ctx)
    if target is None:
        return [probes.no_target(HSTS_ID)]
    if not target.is_https:
        return [skipped(HSTS_ID, "url is not https: HSTS only counts on HTTPS responses",
                        url=target.url)]
    min_age = _positive_int(ctx, "transport.hsts_min_age", DEFAULT_HSTS_MIN_AGE)
    async with target.client() as client:
        try:
            probe = await probes.fetch(client, target.url)
        except ProbeError as exc:
            if exc.kind == "tls":
                return [skipped(HSTS_ID, "HTTPS handshake failed: see transport.tls",
                                url=target.url, fault=exc.message)]
            raise
    values = probe.header_all("strict-transport-security")
    evidence: dict[str, Any] = {"url": target.url, "status": probe.status, "headers": values,
                                "min_age": min_age}
    hint = f"send one 'Strict-Transport-Security: max-age={ONE_YEAR}; includeSubDomains'"
    if not values:
        return [failed(HSTS_ID, "no Strict-Transport-Security header on HTTPS", hint, **evidence)]
    if len(values) > 1:
        return [failed(HSTS_ID, f"{len(values)} Strict-Transport-Security headers (need one)",
                       "set HSTS in one place (app or proxy, not both); browsers keep the first",
                       **evidence)]
    try:
        parsed = parse_hsts(values[0])
    except ValueError as exc:
        return [failed(HSTS_ID, f"malformed Strict-Transport-Security: {exc}", hint, **evidence)]
    evidence.update(parsed)
    age, days = parsed["max_age"], _days(parsed["max_age"])
    if age < min_age:
        return [failed(HSTS_ID, f"HSTS max-age is {days}, below {_days(min_age)}",
                       hint, **evidence)]
    if age < ONE_YEAR:
        return [warned(HSTS_ID, f"HSTS max-age is {days}, under a year", hint, **evidence)]
    subdomains = ", includeSubDomains" if parsed["include_subdomains"] else ""
    return [passed(HSTS_ID, f"HSTS max-age {days}{subdomains}", **evidence)]


def _days(seconds: int) -> str:
    if seconds < 86400:
        return f"{seconds} seconds"
    days = seconds // 86400
    return "1 day" if days == 1 else f"{days} days"


def _positive_int(ctx: CheckContext, key: str, default: int) -> int:
    return _whole_number(ctx.settings, key, default)


def _whole_number(settings: Settings, key: str, default: int,
                  error: Callable[[str, str], ConfigError] | None = None) -> int:
    value = settings.get_int(key, default)
    if value is None or value < 0:
        problem = "must be zero or a positive whole number"
        raise error(key, problem) if error else ConfigError(f"key '{key}' {problem}")
    return value


THRESHOLDS = (("transport.hsts_min_age", DEFAULT_HSTS_MIN_AGE),
              ("transport.cert_fail_days", DEFAULT_CERT_FAIL_DAYS),
              ("transport.cert_warn_days", DEFAULT_CERT_WARN_DAYS))


def validate_settings(settings: Settings) -> None:
    """Up-front validation (no network): raise ConfigError naming the file and the key for
    a malformed target key or transport.* threshold."""
    probes.validate_target_settings(settings)
    for key, default in THRESHOLDS:
        _whole_number(settings, key, default, settings.error)


# -- transport.tls -------------------------------------------------------------------------

def _verified_context(ca_bundle: bool | str) -> ssl.SSLContext:
    cafile = ca_bundle if isinstance(ca_bundle, str) else None
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise probes.bad_ca_bundle(cafile, exc) from None


def _legacy_context(attr: str) -> ssl.SSLContext:
    """A client context that offers exactly one legacy version (OpenSSL's seclevel 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        version = getattr(ssl.TLSVersion, attr)
        context.minimum_version = version
        context.maximum_version = version
    context.set_ciphers("ALL:@SECLEVEL=0")
    return context


def can_offer(attr: str) -> tuple[bool, str]:
    """Whether this machine's OpenSSL can send a ClientHello for that version, offline."""
    try:
        context = _legacy_context(attr)
        obj = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="probe.invalid")
        obj.do_handshake()
    except ssl.SSLWantReadError:
        return True, ""  # a ClientHello was written: the version can be offered
    except (ssl.SSLError, ValueError) as exc:
        return False, getattr(exc, "reason", None) or str(exc)
    return True, ""


async def _handshake(
    host: str, port: int, context: ssl.SSLContext, timeout: float
) -> dict[str, Any]:
    """Complete one handshake; return protocol, cipher, the peer cert (dict and DER)."""
    _reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context, server_hostname=host,
                                ssl_handshake_timeout=timeout),
        timeout + 1,
    )
    try:
        sslobj = writer.get_extra_info("ssl_object")
        cipher = sslobj.cipher() if sslobj is not None else None
        return {
            "protocol": sslobj.version() if sslobj is not None else None,
            "cipher": cipher[0] if cipher else None,
            "cert": (sslobj.getpeercert() or {}) if sslobj is not None else {},
            "der": sslobj.getpeercert(binary_form=True) if sslobj is not None else None,
        }
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1)


_SHORT = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
          "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST"}


def _name(parts: Any) -> str:
    """A distinguished name in RFC 4514 order and spelling, like `cryptography` prints it."""
    items = [f"{_SHORT.get(k, k)}={v}" for rdn in parts or () for k, v in rdn]
    return ",".join(reversed(items))


def cert_facts(cert: dict[str, Any]) -> dict[str, Any]:
    """Subject, issuer, SANs and expiry of a verified peer certificate."""
    not_after = cert.get("notAfter")
    facts: dict[str, Any] = {
        "subject": _name(cert.get("subject")),
        "issuer": _name(cert.get("issuer")),
        "san": [v for _k, v in cert.get("subjectAltName", ())][:10],
    }
    if not_after:
        expires = dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), dt.timezone.utc)
        facts["not_after"] = expires.isoformat()
        facts["days_left"] = (expires - dt.datetime.now(dt.timezone.utc)).days
    return facts


def _unverified_facts(der: bytes | None) -> dict[str, Any]:
    """Best-effort facts of a certificate that did not verify (needs `cryptography`)."""
    if not der:
        return {}
    try:
        from cryptography import x509
    except ImportError:  # pragma: no cover - optional
        return {}
    try:
        cert = x509.load_der_x509_certificate(der)
        expires = cert.not_valid_after_utc
        return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
                "not_after": expires.isoformat(),
                "days_left": (expires - dt.datetime.now(dt.timezone.utc)).days}
    except Exception:
        return {}


def _connect_error(exc: BaseException, host: str, port: int) -> CheckError:
    url = f"https://{host}:{port}/"
    evidence: dict[str, Any] = {"host": host, "port": port}
    if isinstance(exc, asyncio.TimeoutError) or "taking longer" in str(exc):
        kind, detail = "timeout", "TLS handshake timeout"
    elif isinstance(exc, socket.gaierror):
        kind, detail = "dns", ""
    elif isinstance(exc, ConnectionRefusedError):
        kind, detail = "refused", ""
    elif isinstance(exc, ssl.SSLError):
        kind, detail = "tls", ""
        evidence["reason"] = exc.reason or str(exc)
    else:
        kind, detail = "other", ""
        evidence["reason"] = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    evidence["fault"] = kind
    return CheckError(probes.fault_line(kind, url, detail), probes.HINTS.get(kind, ""), evidence)


async def _legacy_result(host: str, port: int, label: str, attr: str, timeout: float) -> str:
    offerable, why = can_offer(attr)
    if not offerable:
        return f"not tested: local OpenSSL cannot offer {label} ({why})"
    try:
        await _handshake(host, port, _legacy_context(attr), timeout)
    except asyncio.TimeoutError:
        return "no answer (timeout)"
    except ssl.SSLError as exc:
        return f"refused ({exc.reason or 'handshake failed'})"
    except (OSError, EOFError) as exc:
        return f"refused ({type(exc).__name__})"
    return "accepted"


async def _unverified_der(host: str, port: int, timeout: float) -> bytes | None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        info = await _handshake(host, port, context, timeout)
    except (OSError, ssl.SSLError, asyncio.TimeoutError, EOFError):
        return None
    der = info["der"]
    return der if isinstance(der, bytes) else None


@check(TLS_ID, title="TLS 1.2+ only, certificate valid for the host and not expiring",
       area="transport", tags=("transport", "tls"), needs=("url",))
async def check_tls(ctx: CheckContext) -> list[Finding]:
    target = probes.target_from(ctx)
    if target is None:
        return [probes.no_target(TLS_ID)]
    if not target.is_https:
        return [skipped(TLS_ID, "url is not https: no TLS to check", url=target.url)]
    fail_days = _positive_int(ctx, "transport.cert_fail_days", DEFAULT_CERT_FAIL_DAYS)
    warn_days = max(fail_days, _positive_int(ctx, "transport.cert_warn_days",
                                             DEFAULT_CERT_WARN_DAYS))
    parts = urlsplit(target.url)
    host, port = parts.hostname or "", parts.port or 443
    timeout = target.request_timeout
    base: dict[str, Any] = {"host": host, "port": port}
    try:
        info = await _handshake(host, port, _verified_context(target.verify), timeout)
    except ssl.SSLCertVerificationError as exc:
        facts = _unverified_facts(await _unverified_der(host, port, timeout))
        reason = exc.verify_message or exc.reason or "verification failed"
        return [failed(TLS_ID, probes.one_line(f"certificate not valid for {host}: {reason}",
                                               f"certificate not valid for {host}"),
                       "serve a certificate for this host name from a trusted CA (for a "
                       "private CA, pass its bundle with --ca-bundle)",
                       **base, verify_error=reason, **facts)]
    except (OSError, ssl.SSLError, asyncio.TimeoutError, EOFError) as exc:
        raise _connect_error(exc, host, port) from None
    evidence: dict[str, Any] = {
        **base, "protocol": info["protocol"], "cipher": info["cipher"], **cert_facts(info["cert"]),
    }
    legacy = {label: await _legacy_result(host, port, label, attr, timeout)
              for label, attr in LEGACY_VERSIONS}
    evidence["legacy"] = legacy
    return [_tls_verdict(evidence, legacy, fail_days, warn_days)]


def _tls_verdict(
    evidence: dict[str, Any], legacy: dict[str, str], fail_days: int, warn_days: int
) -> Finding:
    problems: list[tuple[Status, str, str]] = []
    accepted = [label for label, result in legacy.items() if result == "accepted"]
    if accepted:
        problems.append((Status.FAIL, f"server accepts {', '.join(accepted)} (TLS 1.2+ only)",
                         "disable TLS 1.0/1.1 (nginx: ssl_protocols TLSv1.2 TLSv1.3;)"))
    days = evidence.get("days_left")
    if isinstance(days, int) and days < fail_days:
        problems.append((Status.FAIL, f"certificate expires in {days} days (under {fail_days})",
                         "renew the certificate now and check the renewal job"))
    elif isinstance(days, int) and days < warn_days:
        problems.append((Status.WARN, f"certificate expires in {days} days (under {warn_days})",
                         "renew the certificate; check that automatic renewal runs"))
    untested = [label for label, result in legacy.items() if result.startswith("not tested")]
    if problems:
        status = Status.FAIL if any(p[0] is Status.FAIL for p in problems) else Status.WARN
        first = next(p for p in problems if p[0] is status)
        if len(problems) > 1:
            evidence["problems"] = [p[1] for p in problems]
        return Finding(TLS_ID, status, first[1], evidence, " ".join(p[2] for p in problems))
    tail = f"; {'/'.join(untested)} not tested locally" if untested else ""
    return passed(TLS_ID, f"{evidence['protocol']}, certificate valid {days} more days{tail}",
                  **evidence)
