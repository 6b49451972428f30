"""Vault access for secret references and the secrets checks: KV v2 reads through hvac.

Vault's own conventions decide where to go and who to be:

- address: ``vault.addr`` (or ``--vault-addr``), else the ``VAULT_ADDR`` environment variable;
- token: ``vault.token``, itself a secret reference (``env:VAULT_TOKEN``,
  ``file:~/.vault-token``), never a literal; else ``VAULT_TOKEN``; else ``~/.vault-token``;
- ``vault.namespace`` (Vault Enterprise / HCP), ``vault.ca_bundle`` (a private CA; without it
  hvac honours ``VAULT_CACERT``/``VAULT_CAPATH``), ``vault.timeout`` (seconds per request,
  default 5: every hvac call made from here carries it).

Faults become :class:`VaultFault` (a :class:`~neruba_harden.errors.SecretError`) with one
clear line and a ``kind`` the checks branch on. No message ever holds the token or a value:
the token and every value read are registered with :mod:`neruba_harden.redact` first.

hvac (and requests under it) is imported inside the functions that need it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from neruba_harden import redact
from neruba_harden.errors import ConfigError, SecretError
from neruba_harden.secretrefs import SecretRef, is_reference, resolve_secret

if TYPE_CHECKING:
    from neruba_harden.config import Settings

DEFAULT_TIMEOUT_S = 5.0
TOKEN_FILE = "~/.vault-token"

T = TypeVar("T")

# Fault kinds: what went wrong, for the checks to branch on.
CONFIG = "config"  # no address, no token, bad address
UNREACHABLE = "unreachable"  # refused, DNS, TLS, timeout, other transport faults
SEALED = "sealed"
UNINITIALISED = "uninitialised"
DENIED = "denied"  # 401/403: token rejected or policy lacks the capability
MISSING_PATH = "missing-path"
MISSING_KEY = "missing-key"
DELETED = "deleted"
DESTROYED = "destroyed"
UNAVAILABLE = "unavailable"  # 5xx other than sealed, 429 rate limit, odd answers

#: Kinds that concern Vault as a whole rather than one path: a check that depends on
#: Vault stops at the first one instead of repeating it for every reference.
GLOBAL_KINDS = frozenset({CONFIG, UNREACHABLE, SEALED, UNINITIALISED, UNAVAILABLE})


#: The cause of each kind in a few words: what a one-line summary says when the whole
#: message (reference, address) does not fit in it.
SHORT_CAUSES = {
    CONFIG: "Vault is not configured",
    UNREACHABLE: "Vault is unreachable",
    SEALED: "Vault is sealed",
    UNINITIALISED: "Vault is not initialised",
    DENIED: "Vault denied the read",
    MISSING_PATH: "no secret at that Vault path",
    MISSING_KEY: "no such key in the Vault secret",
    DELETED: "the Vault secret's version was deleted",
    DESTROYED: "the Vault secret's version is destroyed",
    UNAVAILABLE: "Vault is unavailable",
}


class VaultFault(SecretError):
    """A Vault request failed in an expected way: one line, a kind, never a secret.

    ``message`` is the whole line (for a reference: ``vault:kv/app#key: <cause>``);
    ``cause`` is the fault alone, without the reference it concerned (``Vault at
    https://vault:8200 is sealed``); ``short`` is the cause in a few words (``Vault is
    sealed``), for summaries that must stay under 80 characters.
    """

    def __init__(self, message: str, kind: str, detail: str = "", cause: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.detail = detail  # e.g. "version 3, deleted 2026-01-31T10:00:00Z"
        self.cause = cause or message

    @property
    def short(self) -> str:
        return SHORT_CAUSES.get(self.kind, "Vault request failed")


@dataclass(frozen=True)
class KvVersion:
    """One read of a KV v2 secret: its keys (values kept out of repr) and version metadata."""

    values: Mapping[str, Any] = field(repr=False)
    version: int | None
    created_time: str


# -- settings -----------------------------------------------------------------------------


def vault_addr(settings: Settings | None) -> str | None:
    """The Vault address: ``vault.addr``, else ``VAULT_ADDR``; None when neither is set."""
    addr = settings.get_str("vault.addr") if settings is not None else None
    addr = addr or os.environ.get("VAULT_ADDR") or None
    return addr.rstrip("/") if addr else None


def vault_timeout(settings: Settings | None) -> float:
    value = settings.get_float("vault.timeout", DEFAULT_TIMEOUT_S) if settings else None
    return value if value and value > 0 else DEFAULT_TIMEOUT_S


def token_source(settings: Settings | None) -> str:
    """Where the token comes from, for evidence (never the token)."""
    ref = settings.get_str("vault.token") if settings is not None else None
    if ref:
        return f"vault.token ({ref})" if is_reference(ref) else "vault.token (literal)"
    if os.environ.get("VAULT_TOKEN"):
        return "VAULT_TOKEN"
    return TOKEN_FILE


def check_token_reference(text: str, where: str) -> SecretRef:
    """Parse the configured token reference; a literal token is refused (and masked)."""
    if not is_reference(text):
        redact.register(text)
        raise ConfigError(
            f"{where} must be a secret reference such as env:VAULT_TOKEN or "
            f"file:~/.vault-token, not the token itself"
        )
    ref = SecretRef.parse(text, where=where)
    if ref.kind == "vault":
        raise ConfigError(f"{where} cannot be a vault: reference (it is how Vault is reached)")
    return ref


def vault_token(settings: Settings | None) -> str:
    """Resolve the Vault token and register it for redaction."""
    configured = settings.get_str("vault.token") if settings is not None else None
    if configured:
        ref = check_token_reference(configured, "key 'vault.token'")
        token = resolve_secret(ref, settings=settings).strip()
    elif os.environ.get("VAULT_TOKEN", "").strip():
        token = os.environ["VAULT_TOKEN"].strip()
    else:
        path = Path(TOKEN_FILE).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            token = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise VaultFault(f"cannot read {TOKEN_FILE} ({type(exc).__name__})", CONFIG) from None
    if not token:
        raise VaultFault(
            "no Vault token: set vault.token (env:VAULT_TOKEN or file:~/.vault-token), "
            "VAULT_TOKEN, or log in to create ~/.vault-token",
            CONFIG,
        )
    redact.register(token)
    return token


# -- errors -------------------------------------------------------------------------------

_SSL_REASON = re.compile(r"\[SSL: [A-Z_]+\] ([^()]+?)\s*\(_ssl")
_DNS_MARKERS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "nameresolutionerror",
    "getaddrinfo failed",
)
_STATUS_BY_CLASS = {
    "InvalidRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "InvalidPath": 404,
    "RateLimitExceeded": 429,
    "InternalServerError": 500,
    "VaultNotInitialized": 501,
    "BadGateway": 502,
    "VaultDown": 503,
}


def describe_transport_fault(exc: BaseException, addr: str, timeout: float) -> VaultFault:
    """One line for a requests-level failure talking to Vault."""
    import requests

    text = str(exc)
    lowered = text.lower()
    if isinstance(exc, requests.exceptions.SSLError):
        match = _SSL_REASON.search(text)
        reason = f": {match.group(1)}" if match else ""
        return VaultFault(f"TLS handshake with Vault at {addr} failed{reason}", UNREACHABLE)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return VaultFault(f"connect timeout after {timeout:g}s to Vault at {addr}", UNREACHABLE)
    if isinstance(exc, requests.exceptions.Timeout):
        return VaultFault(f"no answer from Vault at {addr} within {timeout:g}s", UNREACHABLE)
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        requests.exceptions.InvalidSchema)):
        return VaultFault(f"invalid Vault address {addr}", CONFIG)
    if isinstance(exc, requests.exceptions.ConnectionError):
        if any(marker in lowered for marker in _DNS_MARKERS):
            host = urlsplit(addr).hostname or addr
            return VaultFault(f"DNS lookup failed for Vault host {host}", UNREACHABLE)
        if "refused" in lowered:
            return VaultFault(f"connection refused by Vault at {addr}", UNREACHABLE)
        return VaultFault(f"cannot connect to Vault at {addr}", UNREACHABLE)
    return VaultFault(f"request to Vault at {addr} failed ({type(exc).__name__})", UNREACHABLE)


def _status_of(exc: BaseException) -> int | None:
    return _STATUS_BY_CLASS.get(type(exc).__name__)


def _errors_text(exc: Any) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list):
        return "; ".join(str(e) for e in errors if e)
    return ""


# -- the client -----------------------------------------------------------------------------


class VaultClient:
    """Vault's HTTP API as the checks use it: hvac underneath, faults made one line."""

    def __init__(self, client: Any, addr: str, timeout: float) -> None:
        self.hvac = client
        self.addr = addr
        self.timeout = timeout

    def _call(self, what: str, func: Callable[[], T]) -> T:
        try:
            return func()
        except Exception as exc:
            fault = self._translate(exc, what)
            if fault is None:
                raise
            raise fault from None

    def _translate(self, exc: Exception, what: str) -> VaultFault | None:
        """The fault for an hvac or requests exception; None for anything else (a bug)."""
        import hvac.exceptions
        import requests

        if isinstance(exc, requests.exceptions.RequestException):
            return describe_transport_fault(exc, self.addr, self.timeout)
        if not isinstance(exc, hvac.exceptions.VaultError):
            return None
        status = _status_of(exc)
        errors = _errors_text(exc).lower()
        if status == 503:
            if "seal" in errors or not errors:
                return VaultFault(f"Vault at {self.addr} is sealed", SEALED)
            return VaultFault(f"Vault at {self.addr} is unavailable (HTTP 503)", UNAVAILABLE)
        if status == 501:
            return VaultFault(f"Vault at {self.addr} is not initialised", UNINITIALISED)
        if status in (401, 403):
            return VaultFault(f"permission denied: {what}", DENIED)
        if status == 404:
            return VaultFault(f"not found: {what}", MISSING_PATH)
        label = f"HTTP {status}" if status else type(exc).__name__
        return VaultFault(f"Vault answered {label}: {what}", UNAVAILABLE)

    # sys ---------------------------------------------------------------------------------
    def health(self) -> tuple[int, dict[str, Any]]:
        """GET sys/health: (status code, body). The status code is the answer."""
        result = self._call(
            "sys/health", lambda: self.hvac.sys.read_health_status(method="GET")
        )
        if isinstance(result, dict):
            return 200, result
        try:
            body = result.json()
        except ValueError:
            body = {}
        return int(result.status_code), body if isinstance(body, dict) else {}

    def seal_status(self) -> dict[str, Any]:
        result = self._call("sys/seal-status", self.hvac.sys.read_seal_status)
        return result if isinstance(result, dict) else {}

    def lookup_self(self) -> dict[str, Any]:
        """auth/token/lookup-self: the token's policies, TTL, renewability (not its id)."""
        result = self._call("token lookup", self.hvac.auth.token.lookup_self)
        data = result.get("data") if isinstance(result, dict) else None
        if not isinstance(data, dict):
            raise VaultFault(f"unexpected token lookup answer from {self.addr}", UNAVAILABLE)
        data = dict(data)
        data.pop("id", None)  # the token itself
        return data

    def capabilities(self, paths: list[str]) -> dict[str, list[str]]:
        """sys/capabilities-self for each path."""
        result = self._call(
            "sys/capabilities-self", lambda: self.hvac.sys.get_capabilities(paths=paths)
        )
        if not isinstance(result, dict):
            raise VaultFault(f"unexpected capabilities answer from {self.addr}", UNAVAILABLE)
        nested = result.get("data")
        data: dict[str, Any] = nested if isinstance(nested, dict) else result
        caps: dict[str, list[str]] = {}
        for path in paths:
            found = data.get(path)
            if found is None and len(paths) == 1:
                found = data.get("capabilities")
            caps[path] = [str(c) for c in found] if isinstance(found, list) else []
        return caps

    # KV v2 -------------------------------------------------------------------------------
    def read_kv(self, mount: str, path: str) -> KvVersion:
        """Read the current version; deleted, destroyed and missing paths are faults."""
        import hvac.exceptions

        where = f"{mount}/{path}"
        try:
            result = self.hvac.secrets.kv.v2.read_secret_version(
                path=path, mount_point=mount, raise_on_deleted_version=True
            )
        except hvac.exceptions.InvalidPath as exc:
            # Vault answers 404 for a deleted or destroyed version too, with its metadata.
            meta = _nested(exc.json, "data", "metadata")
            if isinstance(meta, dict):
                version = meta.get("version")
                if meta.get("destroyed"):
                    raise VaultFault(f"version {version} of {where} is destroyed", DESTROYED,
                                     f"version {version}") from None
                if meta.get("deletion_time"):
                    raise VaultFault(
                        f"version {version} of {where} was deleted", DELETED,
                        f"version {version}, deleted {meta['deletion_time']}",
                    ) from None
            raise VaultFault(f"no secret at {where}", MISSING_PATH) from None
        except Exception as exc:
            fault = self._translate(exc, f"reading {mount}/data/{path}")
            if fault is None:
                raise
            raise fault from None
        values = _nested(result, "data", "data")
        meta = _nested(result, "data", "metadata")
        if not isinstance(values, dict):
            raise VaultFault(f"{where} is not a KV v2 secret (is {mount} a KV v2 mount?)",
                             UNAVAILABLE)
        for value in values.values():
            if isinstance(value, str):
                redact.register(value)
        meta = meta if isinstance(meta, dict) else {}
        version = meta.get("version")
        return KvVersion(values, version if isinstance(version, int) else None,
                         str(meta.get("created_time") or ""))

    def read_metadata(self, mount: str, path: str) -> dict[str, Any]:
        """KV v2 metadata: current_version and versions{n: created_time, deletion_time, ...}."""
        result = self._call(
            f"reading {mount}/metadata/{path}",
            lambda: self.hvac.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount),
        )
        data = result.get("data") if isinstance(result, dict) else None
        if not isinstance(data, dict):
            raise VaultFault(f"unexpected metadata answer for {mount}/{path}", UNAVAILABLE)
        return data


def _nested(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def vault_client(settings: Settings | None, *, require_token: bool = True) -> VaultClient:
    """A client for the configured Vault. Without ``require_token`` a missing token is
    allowed (the unauthenticated sys/health and sys/seal-status still work)."""
    import hvac

    addr = vault_addr(settings)
    if not addr:
        raise VaultFault("no Vault address: set vault.addr (or --vault-addr) or VAULT_ADDR",
                         CONFIG)
    if urlsplit(addr).scheme not in ("http", "https") or not urlsplit(addr).hostname:
        raise VaultFault(f"invalid Vault address {addr} (expected https://HOST:PORT)", CONFIG)
    try:
        token = vault_token(settings)
    except (SecretError, ConfigError):
        if require_token:
            raise
        token = ""
    timeout = vault_timeout(settings)
    options: dict[str, Any] = {"url": addr, "token": token, "timeout": timeout}
    if settings is not None:
        namespace = settings.get_str("vault.namespace")
        if namespace:
            options["namespace"] = namespace
        ca_bundle = settings.get_str("vault.ca_bundle")
        if ca_bundle:
            bundle = Path(ca_bundle).expanduser()
            if not bundle.is_file():
                raise VaultFault(f"vault.ca_bundle {ca_bundle}: file not found", CONFIG)
            options["verify"] = str(bundle)
    return VaultClient(hvac.Client(**options), addr, timeout)


def read_secret(ref: SecretRef, *, settings: Settings | None) -> str:
    """Resolve ``vault:MOUNT/PATH#KEY`` to its value (registered for redaction)."""
    try:
        client = vault_client(settings)
        secret = client.read_kv(ref.vault_mount, ref.vault_path)
    except VaultFault as exc:
        raise VaultFault(f"{ref.text}: {exc.message}", exc.kind, exc.detail,
                         cause=exc.cause) from None
    key = ref.vault_key
    if key not in secret.values:
        cause = f"no key '{key}' in the current version"
        raise VaultFault(f"{ref.text}: {cause}", MISSING_KEY, cause=cause)
    value = secret.values[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        cause = f"key '{key}' does not hold a string"
        raise VaultFault(f"{ref.text}: {cause}", MISSING_KEY, cause=cause)
    text = str(value)
    redact.register(text)
    return text
