"""The receiver the smoke sequence runs against, resolved from settings.

Keys (top level of ``[tool.neruba-harden]``, or flags): ``url``, ``webhook_path``
(``/webhooks``), ``scheme`` (``stripe`` | ``standard``), ``webhook_secret`` (a secret
reference), ``tolerance`` (300), ``burst`` (20), ``allow_http`` (false), ``outcome_field``
(``outcome``), ``fail_event_type`` (``neruba.smoke.fail``), ``readback_path`` (e.g.
``/webhooks/events/{event_id}``), ``admin_token`` (a secret reference, for the read-back),
``ca_bundle`` and ``timeout`` (seconds per request, 10).

Signed requests never go over plain ``http://`` to a host other than loopback unless
``allow_http`` is set: building such a target raises :class:`ConfigError`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from neruba_harden.config import Settings
from neruba_harden.errors import ConfigError

__all__ = ["SmokeTarget", "is_loopback", "target_configured", "validate_settings"]

SCHEMES = ("stripe", "standard")
MAX_BURST = 500
MAX_TIMEOUT_S = 120.0

SecretResolver = Callable[[str], str]


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: the only hosts plain HTTP may carry a signature to."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def target_configured(settings: Settings) -> bool:
    """Whether a target URL is configured at all (the sequence is skipped otherwise)."""
    return bool(settings.get_str("url"))


def validate_settings(settings: Settings, *, request_timeout: bool = False) -> None:
    """Check the target keys that are set, before anything is resolved or sent: raise
    ConfigError naming the file (or variable, or flag) and the key.

    No secret is resolved and nothing touches the network: ``webhook_secret`` and
    ``admin_token`` are checked for their type only (whether they are references at all is
    for ``secrets.sources`` to report; resolving them is for the run). Neither is the
    plain-http refusal checked here (a run-time refusal of the sequence, not a malformed
    key). ``timeout`` is the per-check timeout as well as the smoke request timeout: its
    upper bound (MAX_TIMEOUT_S) applies only with ``request_timeout``, when the target is
    built.
    """
    url = settings.get_str("url")
    if url:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise settings.error("url", "must be an http:// or https:// URL with a host")
        try:
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise settings.error("url", "has an invalid port") from None
    settings.get_str("webhook_secret")
    settings.get_str("admin_token")
    scheme = settings.get_str("scheme")
    if scheme and scheme not in SCHEMES:
        raise settings.error("scheme", f"must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    webhook_path = settings.get_str("webhook_path")
    if webhook_path and not webhook_path.startswith("/"):
        raise settings.error("webhook_path", "must be a path starting with '/'")
    readback_path = settings.get_str("readback_path")
    if readback_path and (not readback_path.startswith("/") or "{event_id}" not in readback_path):
        raise settings.error("readback_path", "must start with '/' and contain {event_id}")
    burst = settings.get_int("burst")
    if burst is not None and not 1 <= burst <= MAX_BURST:
        raise settings.error("burst", f"must be between 1 and {MAX_BURST}, got {burst}")
    tolerance = settings.get_int("tolerance")
    if tolerance is not None and tolerance < 1:
        raise settings.error("tolerance", f"must be at least 1 second, got {tolerance}")
    timeout = settings.get_float("timeout")
    if timeout is not None and timeout <= 0:
        raise settings.error("timeout", f"must be more than 0 seconds, got {timeout:g}")
    if request_timeout and timeout is not None and timeout > MAX_TIMEOUT_S:
        raise settings.error(
            "timeout", f"must be at most {MAX_TIMEOUT_S:g} seconds per request, got {timeout:g}")
    settings.get_bool("allow_http")
    settings.get_str("outcome_field")
    settings.get_str("fail_event_type")
    ca_bundle = settings.get_str("ca_bundle")
    if ca_bundle and not Path(ca_bundle).is_file():
        raise settings.error("ca_bundle", f"names no file: {ca_bundle}")


@dataclass(frozen=True, repr=False)
class SmokeTarget:
    """A webhook receiver plus everything needed to sign and judge deliveries to it.

    ``secret`` and ``admin_token`` hold resolved values (registered for redaction when they
    were resolved); ``repr`` never shows them.
    """

    url: str
    secret: str
    scheme: str = "stripe"
    webhook_path: str = "/webhooks"
    tolerance: int = 300
    burst: int = 20
    allow_http: bool = False
    outcome_field: str = "outcome"
    fail_event_type: str = "neruba.smoke.fail"
    readback_path: str | None = None
    admin_token: str | None = None
    ca_bundle: str | None = None
    timeout: float = 10.0
    secret_ref: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "url", self.url.rstrip("/"))
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"key 'url': {self.url!r} is not an http(s) URL with a host")
        if self.scheme not in SCHEMES:
            raise ConfigError(f"key 'scheme': {self.scheme!r} is not one of {', '.join(SCHEMES)}")
        if not self.webhook_path.startswith("/"):
            raise ConfigError(f"key 'webhook_path': {self.webhook_path!r} must start with '/'")
        if self.readback_path is not None and (
            not self.readback_path.startswith("/") or "{event_id}" not in self.readback_path
        ):
            raise ConfigError("key 'readback_path' must start with '/' and contain {event_id}")
        if not 1 <= self.burst <= MAX_BURST:
            raise ConfigError(f"key 'burst' must be between 1 and {MAX_BURST}, got {self.burst}")
        if self.tolerance < 1:
            raise ConfigError(f"key 'tolerance' must be at least 1 second, got {self.tolerance}")
        if not 0 < self.timeout <= MAX_TIMEOUT_S:
            raise ConfigError(
                f"key 'timeout' must be more than 0 and at most {MAX_TIMEOUT_S:g} seconds, "
                f"got {self.timeout:g}"
            )
        if not self.outcome_field:
            raise ConfigError("key 'outcome_field' must not be empty")
        if self.ca_bundle is not None and not Path(self.ca_bundle).is_file():
            raise ConfigError(f"key 'ca_bundle': {self.ca_bundle}: file not found")
        _check_secret(self.scheme, self.secret)
        if parts.scheme == "http" and not self.allow_http and not is_loopback(parts.hostname):
            raise ConfigError(
                f"refusing to send signed webhooks over plain http:// to {parts.hostname}: "
                "use https, or pass --allow-http (key 'allow_http') if you mean it"
            )

    @property
    def webhook_url(self) -> str:
        return self.url + self.webhook_path

    def readback_url(self, event_id: str) -> str | None:
        if self.readback_path is None:
            return None
        return self.url + self.readback_path.replace("{event_id}", event_id)

    @property
    def verify(self) -> bool | str:
        """What the HTTP client verifies TLS against: the system store or a CA bundle.

        Plain http:// has no TLS to verify; skipping the CA store saves ~80ms per client.
        """
        if self.url.startswith("http://"):
            return False
        return self.ca_bundle or True

    def describe(self) -> dict[str, object]:
        """What a report may show about the target: never a secret value."""
        shown: dict[str, object] = {
            "url": self.webhook_url,
            "scheme": self.scheme,
            "burst": self.burst,
            "tolerance_s": self.tolerance,
        }
        if self.secret_ref:
            shown["secret_ref"] = self.secret_ref
        if self.readback_path:
            shown["readback_path"] = self.readback_path
        return shown

    def __repr__(self) -> str:
        return (
            f"SmokeTarget(url={self.webhook_url!r}, scheme={self.scheme!r}, "
            f"secret=<{self.secret_ref or 'set'}>, burst={self.burst}, "
            f"readback={'on' if self.readback_path else 'off'})"
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, resolve: SecretResolver | None = None
    ) -> SmokeTarget:
        """Read the keys above; resolve the secret references (SecretError if one fails).

        The keys are validated first (:func:`validate_settings`), so a malformed one is a
        ConfigError naming the file and the key before any secret is resolved.
        """
        validate_settings(settings, request_timeout=True)
        if resolve is None:
            from neruba_harden.secretrefs import resolve_secret

            def resolve(ref: str) -> str:
                return resolve_secret(ref, settings=settings)

        url = settings.get_str("url")
        if not url:
            raise ConfigError("no target: set key 'url' (or pass --url)")
        secret_ref = settings.get_str("webhook_secret")
        if not secret_ref:
            raise ConfigError("the smoke sequence needs key 'webhook_secret' (or --secret)")
        admin_ref = settings.get_str("admin_token")
        return cls(
            url=url,
            secret=_resolve(resolve, secret_ref, "webhook_secret"),
            secret_ref=secret_ref,
            scheme=settings.get_str("scheme", "stripe") or "stripe",
            webhook_path=settings.get_str("webhook_path", "/webhooks") or "/webhooks",
            tolerance=settings.get_int("tolerance", 300) or 300,
            burst=_int(settings, "burst", 20),
            allow_http=settings.get_bool("allow_http", False),
            outcome_field=settings.get_str("outcome_field", "outcome") or "outcome",
            fail_event_type=settings.get_str("fail_event_type", "neruba.smoke.fail")
            or "neruba.smoke.fail",
            readback_path=settings.get_str("readback_path") or None,
            admin_token=_resolve(resolve, admin_ref, "admin_token") if admin_ref else None,
            ca_bundle=settings.get_str("ca_bundle") or None,
            timeout=_float(settings, "timeout", 10.0),
        )


def _check_secret(scheme: str, secret: str) -> None:
    """Fail now, not mid-sequence, on a secret the scheme cannot sign with (never echoed)."""
    from neruba_harden.webhooks import sign_headers

    try:
        sign_headers(scheme, b"{}", secret, timestamp=0, event_id="evt_probe")
    except ValueError as exc:
        raise ConfigError(f"key 'webhook_secret': cannot sign with it: {exc}") from None


def _int(settings: Settings, key: str, default: int) -> int:
    value = settings.get_int(key, default)
    return default if value is None else value


def _float(settings: Settings, key: str, default: float) -> float:
    value = settings.get_float(key, default)
    return default if value is None else value


def _resolve(resolve: SecretResolver, ref: str, key: str) -> str:
    from neruba_harden.secretrefs import SecretRef

    parsed = SecretRef.parse(ref, where=f"key '{key}'")
    return resolve(parsed.text)
