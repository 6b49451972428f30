"""The secrets area: where secrets come from, Vault's state and policy, rotation, DB role.

Checks (stable ids):

    secrets.env-files      no .env-style file with values tracked by git or in the deploy dir
    secrets.sources        in production every secret reference is vault:, not env:/file:
    secrets.vault          Vault reachable, initialised, unsealed; the token valid, not root,
                           lasting, and read-only on the referenced paths
    secrets.refs           every vault: reference resolves to a present key in a live version
    secrets.rotation       the current version of each referenced secret is recent enough
    secrets.db-privileges  the application's PostgreSQL role holds no excess privilege

Configuration keys (``[tool.neruba-harden]``, dotted):

    secrets.repo           repository to scan for env files (default "."); relative paths
                           in the configuration file are taken from that file's folder
    secrets.deploy_dir     a deploy directory to scan too (optional)
    secrets.refs           extra vault:MOUNT/PATH#KEY references to verify (list)
    secrets.max_age_days   rotation threshold in days (default 90)
    secrets.min_token_ttl  seconds a non-renewable Vault token must have left (default 3600)
    secrets.db             REF_OR_URL of the application's PostgreSQL role (not the
                           migration role: that one owns the schema by design)
    vault.addr, vault.token, vault.namespace, vault.ca_bundle, vault.timeout: see vault.py

"Every secret reference in the configuration" is every string value anywhere in the settings
that parses as ``env:``/``file:``/``vault:``, named by its dotted key (list items as
``key[i]``). Two more kinds count as secrets given inline ("literal"): a password embedded in
a URL (``postgresql://app:pw@db/app``) and a non-reference value under a key named
``webhook_secret``, ``admin_token`` or ``token`` at any depth. ``vault.token`` is Vault's own
credential, so it cannot come from Vault: ``secrets.sources`` lists it but accepts it from
``env:`` or ``file:`` (Vault Agent's token sink), and ``vault.token`` is never a literal.

One finding per root cause: when Vault is not configured, unreachable, sealed or rejects the
token, ``secrets.vault`` says so and ``secrets.refs``/``secrets.rotation`` skip, naming it.
No value is ever placed in a finding: env files are reported by file and key name only.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from neruba_harden import redact
from neruba_harden.config import Settings
from neruba_harden.errors import CheckError, ConfigError, NerubaError
from neruba_harden.findings import Finding, Status, errored, failed, passed, skipped, warned
from neruba_harden.registry import CheckContext, check
from neruba_harden.secretrefs import SecretRef, is_reference, resolve_maybe_ref
from neruba_harden.vault import (
    CONFIG,
    DELETED,
    DENIED,
    DESTROYED,
    MISSING_PATH,
    SEALED,
    UNINITIALISED,
    UNREACHABLE,
    KvVersion,
    VaultClient,
    VaultFault,
    check_token_reference,
    token_source,
    vault_addr,
    vault_client,
    vault_token,
)

T = TypeVar("T")

ENV_FILES = "secrets.env-files"
SOURCES = "secrets.sources"
VAULT = "secrets.vault"
REFS = "secrets.refs"
ROTATION = "secrets.rotation"
DB_PRIVILEGES = "secrets.db-privileges"

DEFAULT_MAX_AGE_DAYS = 90
DEFAULT_MIN_TOKEN_TTL = 3600
GIT_TIMEOUT_S = 10.0
SUMMARY_MAX = 79

# Capabilities that let a token change or remove secrets; an application token needs none.
WRITE_CAPABILITIES = ("create", "update", "patch", "delete", "sudo", "root")
# sys/health status codes (Vault API docs): serving nodes, then the failing states.
HEALTH_OK = {200: "active", 429: "standby", 472: "DR secondary", 473: "performance standby"}
# Predefined PostgreSQL roles that reach beyond the application's own tables.
DANGEROUS_PG_ROLES = (
    "pg_write_all_data",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
)
PG_ATTRIBUTES = (
    ("rolsuper", "SUPERUSER"),
    ("rolcreaterole", "CREATEROLE"),
    ("rolcreatedb", "CREATEDB"),
    ("rolreplication", "REPLICATION"),
    ("rolbypassrls", "BYPASSRLS"),
)
# Keys whose plain (non-reference) value is itself a secret.
LITERAL_SECRET_KEYS = frozenset({"webhook_secret", "admin_token", "token"})
BOOTSTRAP_KEY = "vault.token"


def _short(text: str, limit: int = SUMMARY_MAX) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _memo(ctx: CheckContext, key: str, compute: Callable[[], T]) -> T:
    """Compute once per run, shared by the checks of this area (they run concurrently)."""
    lock = ctx.cache.setdefault(f"{key}#lock", threading.Lock())
    with lock:
        if key not in ctx.cache:
            ctx.cache[key] = compute()
        result: T = ctx.cache[key]
        return result


# -- the secrets the configuration names ----------------------------------------------------


@dataclass(frozen=True)
class ConfiguredSecret:
    """A configuration value that is (or holds) a secret: where it is and what kind."""

    key: str  # dotted, list items as key[i]
    kind: str  # env | file | vault | literal | invalid
    ref: SecretRef | None = None


def _walk(node: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for name, value in node.items():
            yield from _walk(value, f"{prefix}.{name}" if prefix else str(name))
    elif isinstance(node, (list, tuple)):
        for index, value in enumerate(node):
            yield from _walk(value, f"{prefix}[{index}]")
    elif isinstance(node, str):
        yield prefix, node


def _url_password(text: str) -> str | None:
    if "://" not in text:
        return None
    try:
        return urlsplit(text.strip()).password
    except ValueError:
        return None


def configured_secrets(settings: Settings) -> list[ConfiguredSecret]:
    """Every secret the settings name, by dotted key."""
    found = []
    for key, value in _walk(settings.data, ""):
        last = key.rsplit(".", 1)[-1].split("[", 1)[0]
        if is_reference(value):
            try:
                ref = SecretRef.parse(value)
            except ConfigError:
                found.append(ConfiguredSecret(key, "invalid"))
                continue
            found.append(ConfiguredSecret(key, ref.kind, ref))
        elif value.strip() and (last in LITERAL_SECRET_KEYS or _url_password(value)):
            redact.register(_url_password(value) or value)
            found.append(ConfiguredSecret(key, "literal"))
    return found


def vault_refs(settings: Settings) -> dict[str, tuple[SecretRef, list[str]]]:
    """Every vault: reference, once each: ref text -> (ref, the keys that name it)."""
    refs: dict[str, tuple[SecretRef, list[str]]] = {}
    for item in configured_secrets(settings):
        if item.ref is not None and item.ref.kind == "vault":
            refs.setdefault(item.ref.text, (item.ref, []))[1].append(item.key)
    return refs


def listed_refs(settings: Settings) -> list[SecretRef]:
    """The ``secrets.refs`` list, each item parsed; a malformed item, or one that is not a
    ``vault:`` reference, is a ConfigError naming it (``secrets.refs[0]``)."""
    refs = []
    for index, text in enumerate(settings.get_list("secrets.refs")):
        key = f"secrets.refs[{index}]"
        try:
            ref = SecretRef.parse(text)
        except ConfigError:
            ref = None
        if ref is None or ref.kind != "vault":
            raise ConfigError(f"{settings._where('secrets.refs')}: key '{key}' must be a "
                              f"vault:MOUNT/PATH#KEY reference")
        refs.append(ref)
    return refs


def max_age_days(settings: Settings) -> int:
    max_age = settings.get_int("secrets.max_age_days", DEFAULT_MAX_AGE_DAYS)
    if max_age is None or max_age <= 0:
        raise settings.error("secrets.max_age_days",
                             f"must be a positive number of days, got {max_age!r}")
    return max_age


def validate_settings(settings: Settings) -> None:
    """Up-front validation (no Vault, no database, no secret resolved): raise ConfigError
    naming the file and the key for a malformed secrets.* or vault.* key."""
    listed_refs(settings)
    max_age_days(settings)
    min_ttl = settings.get_int("secrets.min_token_ttl", DEFAULT_MIN_TOKEN_TTL)
    if min_ttl is not None and min_ttl < 0:
        raise settings.error("secrets.min_token_ttl", f"must be 0 or more seconds, got {min_ttl}")
    for key in ("secrets.repo", "secrets.deploy_dir", "secrets.db", "vault.addr",
                "vault.namespace", "vault.ca_bundle"):
        settings.get_str(key)
    timeout = settings.get_float("vault.timeout")
    if timeout is not None and timeout <= 0:
        raise settings.error("vault.timeout", f"must be more than 0 seconds, got {timeout:g}")
    token = settings.get_str("vault.token")
    if token:
        check_token_reference(token, f"{settings._where('vault.token')}: key 'vault.token'")


def _kv_paths(settings: Settings) -> list[tuple[str, str]]:
    """The (mount, path) pairs the vault: references point at, once each, in order."""
    seen: dict[tuple[str, str], None] = {}
    for ref, _ in vault_refs(settings).values():
        seen.setdefault((ref.vault_mount, ref.vault_path), None)
    return list(seen)


def _configured_path(settings: Settings, key: str, default: str | None) -> Path | None:
    value = settings.get_str(key, default)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and settings.origins.get(key) not in ("flag", "env") \
            and settings.source is not None and settings.has(key):
        path = settings.source.parent / path
    return path


# -- secrets.env-files ------------------------------------------------------------------------

TEMPLATE_WORDS = frozenset({"example", "template", "sample", "dist", "tmpl", "tpl"})
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__",
                       ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
MAX_SCANNED_FILES = 100_000
_PLACEHOLDER_WORDS = frozenset({
    "changeme", "change-me", "change_me", "changeit", "replaceme", "replace-me", "replace_me",
    "todo", "tbd", "fixme", "secret", "password", "token", "example", "placeholder", "dummy",
    "none", "null", "nil", "redacted", "test", "xxx", "...", "-", "_", "*",
})
_PLACEHOLDER_SHAPES = re.compile(
    r"x{3,}|X{3,}|\*{3,}|\.{3,}|0+|<[^<>]*>|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|"
    r"\{\{[^}]*\}\}|%\([^)]*\)s|\[[^\]]*\]"
)
_PLACEHOLDER_PARTS = ("changeme", "change_me", "change-me", "example", "placeholder",
                      "your_", "your-", "replace", "dummy", "<", ">", "${")
_SECRET_KEY = re.compile(
    r"secret|token|passw|pwd|api[_-]?key|private|credential|auth|signing|salt|dsn|"
    r"(^|_)key($|_)", re.IGNORECASE,
)
_SECRET_PREFIXES = ("whsec_", "sk_live_", "sk_test_", "rk_live_", "rk_test_", "hvs.", "hvb.",
                    "hvr.", "AKIA", "ASIA", "ghp_", "gho_", "ghs_", "github_pat_", "glpat-",
                    "xoxb-", "xoxp-", "-----BEGIN", "eyJ")
_KEY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
_TOKENISH = re.compile(r"[A-Za-z0-9_\-+=]{20,}")


def is_env_file(name: str) -> bool:
    return name == ".env" or name.startswith(".env.") or (name.endswith(".env") and name != ".env")


def is_template(name: str) -> bool:
    return any(part in TEMPLATE_WORDS for part in name.lower().split("."))


def is_placeholder(value: str | None) -> bool:
    text = (value or "").strip()
    if not text:
        return True
    lowered = text.lower()
    if lowered in _PLACEHOLDER_WORDS or _PLACEHOLDER_SHAPES.fullmatch(text):
        return True
    return any(part in lowered for part in _PLACEHOLDER_PARTS)


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def looks_like_secret(value: str) -> bool:
    """A value shaped like a credential: a known prefix, or a long high-entropy token."""
    text = value.strip()
    if text.startswith(_SECRET_PREFIXES):
        return True
    return bool(
        _TOKENISH.fullmatch(text)
        and re.search(r"\d", text) and re.search(r"[a-z]", text) and re.search(r"[A-Z]", text)
        and _entropy(text) >= 3.5
    )


def real_values_in_template(values: Mapping[str, str | None]) -> list[str]:
    """The keys of a template that hold a real-looking value instead of a placeholder."""
    bad = []
    for key, value in values.items():
        if value is None or is_placeholder(value):
            continue
        password = _url_password(value)
        if (
            (_SECRET_KEY.search(key) and not value.strip().startswith(("http://", "https://")))
            or (password is not None and not is_placeholder(password))
            or looks_like_secret(value)
        ):
            bad.append(key)
    return bad


def _safe_key_names(keys: list[str]) -> list[str]:
    # A line without "=" is parsed as a key: never echo one that could be a bare secret.
    return [k if _KEY_NAME.fullmatch(k) and not looks_like_secret(k) else "(unnamed line)"
            for k in keys]


def _parse_env(text: str) -> dict[str, str | None]:
    from dotenv import dotenv_values

    # interpolate=False: ${VAR} must stay a placeholder, not become this machine's value.
    return dict(dotenv_values(stream=io.StringIO(text), interpolate=False))


def _git(repo: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[bytes] | None:
    """Run git in ``repo``; None when git is not installed."""
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                              timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return None
    except subprocess.TimeoutExpired:
        raise CheckError(f"git {args[0]} timed out after {timeout:g}s",
                         "check the repository (a network file system?) or raise --timeout",
                         {"repo": str(repo)}) from None


def _tracked_files(repo: Path, timeout: float) -> tuple[list[str] | None, str]:
    """Files git tracks under ``repo``; (None, why) when it is not a git work tree."""
    proc = _git(repo, "ls-files", "-z", "--cached", timeout=timeout)
    if proc is None:
        return None, "git not installed"
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        first = message[0] if message else f"exit {proc.returncode}"
        if "not a git repository" in first.lower():
            return None, "not a git repository"
        raise CheckError("git ls-files failed in the repository", "check secrets.repo",
                         {"repo": str(repo), "git": _short(first, 200)})
    names = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
    return [n for n in names if n], ""


def _scan_directory(root: Path) -> Iterator[Path]:
    count = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        for name in files:
            count += 1
            if count > MAX_SCANNED_FILES:
                return
            if is_env_file(name):
                yield Path(folder) / name


@dataclass
class _EnvFileVerdicts:
    problems: dict[str, str] = field(default_factory=dict)  # file -> what is wrong
    templates_ok: list[str] = field(default_factory=list)
    first_location: str | None = None

    def judge(self, label: str, name: str, text: str | None, where: str) -> None:
        if text is None:
            if not is_template(name):
                self._problem(label, f"{where} (unreadable)")
            return
        values = _parse_env(text)
        if is_template(name):
            bad = real_values_in_template(values)
            if bad:
                keys = ", ".join(_safe_key_names(bad))
                self._problem(label, f"template with real-looking values: {keys}")
            else:
                self.templates_ok.append(label)
            return
        keys = ", ".join(_safe_key_names(list(values))) or "no keys"
        self._problem(label, f"{where}; keys: {keys}")

    def _problem(self, label: str, text: str) -> None:
        self.problems[label] = text
        self.first_location = self.first_location or label


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


@check(ENV_FILES, title="No env files with values in the repository or deploy directory",
       needs=("secrets.repo", "secrets.deploy_dir"))
def check_env_files(ctx: CheckContext) -> list[Finding]:
    settings = ctx.settings
    repo = _configured_path(settings, "secrets.repo", ".")
    assert repo is not None
    deploy_dir = _configured_path(settings, "secrets.deploy_dir", None)
    for key, folder in (("secrets.repo", repo), ("secrets.deploy_dir", deploy_dir)):
        if folder is not None and not folder.is_dir():
            raise CheckError(f"{key} directory not found", f"point {key} at a directory",
                             {key: str(folder)})
    timeout = min(GIT_TIMEOUT_S, ctx.timeout_s)
    verdicts = _EnvFileVerdicts()
    evidence: dict[str, Any] = {"repo": str(repo)}

    tracked, why_not = _tracked_files(repo, timeout)
    if tracked is not None:
        evidence["scan"] = "git ls-files (tracked files)"
        for name in tracked:
            base = name.rsplit("/", 1)[-1]
            if not is_env_file(base):
                continue
            proc = _git(repo, "show", f":./{name}", timeout=timeout)  # relative to repo
            text = proc.stdout.decode("utf-8", "replace") if proc and proc.returncode == 0 \
                else _read_text(repo / name)
            verdicts.judge(name, base, text, "tracked by git")
    else:
        evidence["scan"] = f"directory scan ({why_not})"
        for path in _scan_directory(repo):
            verdicts.judge(str(path.relative_to(repo)), path.name, _read_text(path),
                           "present in the repository")
    if deploy_dir is not None:
        evidence["deploy_dir"] = str(deploy_dir)
        for path in _scan_directory(deploy_dir):
            verdicts.judge(str(path), path.name, _read_text(path),
                           "present in the deploy directory")

    where = "the repository" + (" or deploy directory" if deploy_dir is not None else "")
    if verdicts.templates_ok:
        evidence["templates with placeholders"] = ", ".join(verdicts.templates_ok)
    if not verdicts.problems:
        return [passed(ENV_FILES, _short(f"no env files with values in {where}"), **evidence)]
    count = len(verdicts.problems)
    finding = failed(
        ENV_FILES,
        _short(f"{_plural(count, 'env file')} with values in {where}"),
        "remove env files from git (git rm --cached) and the deploy directory, rotate what "
        "they held, and load secrets from Vault; keep only templates with placeholders",
        **evidence, **verdicts.problems,
    )
    return [finding.with_(location=verdicts.first_location)]


# -- secrets.sources --------------------------------------------------------------------------


@check(SOURCES, title="Production secrets come from Vault")
def check_sources(ctx: CheckContext) -> list[Finding]:
    settings = ctx.settings
    items = configured_secrets(settings)
    if not items:
        return [skipped(SOURCES, "no secret references in the configuration")]
    production = settings.is_production
    evidence: dict[str, Any] = {"environment": settings.env_name or "(default)",
                                "production": production}
    offending = []
    for item in items:
        if item.key == BOOTSTRAP_KEY and item.kind in ("env", "file"):
            evidence[item.key] = f"{item.kind} (Vault's own credential: allowed)"
            continue
        evidence[item.key] = "literal (value inline)" if item.kind == "literal" else item.kind
        if item.kind != "vault":
            offending.append(item)
    if not offending:
        return [passed(SOURCES, _short(f"all {_plural(len(items), 'secret')} come from Vault"
                                       if len(items) > 1 else "the secret comes from Vault"),
                       **evidence)]
    kinds = sorted({i.kind for i in offending})
    noun = _plural(len(offending), "secret")
    hint = ("reference these secrets as vault:MOUNT/PATH#KEY"
            + ("; fix malformed references" if "invalid" in kinds else ""))
    if production:
        return [failed(SOURCES, _short(f"{noun} not from Vault in production "
                                       f"({', '.join(kinds)})"), hint, **evidence)]
    return [warned(SOURCES, _short(f"{noun} not from Vault ({', '.join(kinds)}); "
                                   f"production must use Vault"), hint, **evidence)]


# -- Vault: one probe shared by secrets.vault, secrets.refs and secrets.rotation -------------

_BLOCKED = {
    CONFIG: "Vault is not configured",
    UNREACHABLE: "Vault is unreachable",
    SEALED: "Vault is sealed",
    UNINITIALISED: "Vault is not initialised",
    DENIED: "the Vault token was rejected",
}


@dataclass
class VaultProbe:
    """Vault as a whole: address, health, and the token's lookup (once per run)."""

    addr: str | None
    fault: VaultFault | None = None  # Vault-wide: unconfigured, unreachable, sealed...
    status_code: int | None = None
    health: dict[str, Any] = field(default_factory=dict)
    seal: dict[str, Any] = field(default_factory=dict)
    token_fault: NerubaError | None = None
    token: dict[str, Any] = field(default_factory=dict)

    def blocked(self) -> tuple[str, str] | None:
        """(short reason, cause) when Vault cannot be asked about paths; None when it can."""
        if self.fault is not None:
            return _BLOCKED.get(self.fault.kind, "Vault is unavailable"), self.fault.message
        if self.token_fault is not None:
            kind = getattr(self.token_fault, "kind", CONFIG)
            reason = _BLOCKED[DENIED] if kind == DENIED else "no usable Vault token"
            return reason, str(self.token_fault)
        return None


def _probe(settings: Settings) -> VaultProbe:
    addr = vault_addr(settings)
    probe = VaultProbe(addr)
    if not addr:
        probe.fault = VaultFault("no Vault address: set vault.addr or VAULT_ADDR", CONFIG)
        return probe
    try:
        vault_token(settings)
    except NerubaError as exc:
        probe.token_fault = exc
    try:
        client = vault_client(settings, require_token=False)
        probe.status_code, probe.health = client.health()
        if probe.status_code == 501:
            probe.fault = VaultFault(f"Vault at {addr} is not initialised", UNINITIALISED)
        elif probe.status_code == 503:
            probe.fault = VaultFault(f"Vault at {addr} is sealed", SEALED)
            probe.seal = client.seal_status()
        elif probe.status_code not in HEALTH_OK:
            probe.fault = VaultFault(
                f"Vault at {addr} answered sys/health with HTTP {probe.status_code}", "unavailable")
        if probe.fault is None and probe.token_fault is None:
            probe.token = client.lookup_self()
    except VaultFault as exc:
        if exc.kind == DENIED:
            probe.token_fault = exc
        else:
            probe.fault = probe.fault or exc
    return probe


def vault_probe(ctx: CheckContext) -> VaultProbe:
    return _memo(ctx, "secrets.vault-probe", lambda: _probe(ctx.settings))


def _client(ctx: CheckContext) -> VaultClient:
    return _memo(ctx, "secrets.vault-client", lambda: vault_client(ctx.settings))


def _blocked_skip(check_id: str, probe: VaultProbe) -> Finding | None:
    blocked = probe.blocked()
    if blocked is None:
        return None
    reason, cause = blocked
    return skipped(check_id, f"{reason}; see secrets.vault", cause=cause)


def _duration(seconds: int) -> str:
    if seconds >= 86400:
        return f"{seconds // 86400}d {seconds % 86400 // 3600}h"
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    if seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"


@dataclass
class _Problems:
    items: list[tuple[Status, str, str]] = field(default_factory=list)

    def add(self, status: Status, summary: str, hint: str) -> None:
        self.items.append((status, summary, hint))

    def finding(self, check_id: str, ok_summary: str, evidence: dict[str, Any]) -> Finding:
        if not self.items:
            return passed(check_id, _short(ok_summary), **evidence)
        order = {Status.FAIL: 0, Status.ERROR: 1, Status.WARN: 2}
        ranked = sorted(self.items, key=lambda p: order[p[0]])
        status, summary, _ = ranked[0]
        if len(ranked) > 1:
            summary = f"{summary} (+{len(ranked) - 1} more)"
            evidence = {**evidence, "problems": [p[1] for p in ranked]}
        hint = "; ".join(dict.fromkeys(p[2] for p in ranked if p[2]))
        return Finding(check_id, status, _short(summary), evidence, hint)


@check(VAULT, title="Vault is healthy and the token is least-privileged",
       needs=("vault.addr", "vault.token", "secrets.min_token_ttl"))
def check_vault(ctx: CheckContext) -> list[Finding]:
    settings = ctx.settings
    refs = vault_refs(settings)
    probe = vault_probe(ctx)
    if probe.addr is None:
        if not refs:
            return [skipped(VAULT, "no Vault configured (vault.addr and VAULT_ADDR unset)")]
        return [errored(VAULT, _short(f"no Vault address for {_plural(len(refs), 'vault: reference')}"),
                        "set vault.addr (or --vault-addr) or VAULT_ADDR",
                        references=", ".join(refs))]
    evidence: dict[str, Any] = {"addr": probe.addr, "token_source": token_source(settings)}
    if probe.status_code is not None:
        evidence["health"] = HEALTH_OK.get(probe.status_code, f"HTTP {probe.status_code}")
    if probe.health.get("version"):
        evidence["vault_version"] = str(probe.health["version"])

    fault = probe.fault
    if fault is not None:
        if fault.kind == SEALED:
            if probe.seal:
                evidence["unseal_progress"] = (f"{probe.seal.get('progress', '?')}/"
                                               f"{probe.seal.get('t', '?')}")
            return [failed(VAULT, "Vault is sealed", "unseal Vault (vault operator unseal, or "
                           "check the auto-unseal key) before deploying", **evidence)]
        if fault.kind == UNINITIALISED:
            return [failed(VAULT, "Vault is not initialised", "initialise Vault (vault operator "
                           "init) and load the application's secrets", **evidence)]
        hint = ("check vault.addr, the network path and vault.ca_bundle"
                if fault.kind == UNREACHABLE else "check the Vault configuration")
        return [errored(VAULT, _short(fault.message), hint, **evidence, cause=fault.message)]

    token_fault = probe.token_fault
    if token_fault is not None:
        if getattr(token_fault, "kind", None) == DENIED:
            return [failed(VAULT, "Vault rejected the token (permission denied)",
                           "issue a valid token for the application's policy", **evidence)]
        return [errored(VAULT, "no usable Vault token", "set vault.token to env:NAME or "
                        "file:PATH holding the application's token", **evidence,
                        cause=str(token_fault))]

    token = probe.token
    policies = [str(p) for p in token.get("policies") or []]
    ttl = int(token.get("ttl") or 0)
    renewable = bool(token.get("renewable"))
    evidence.update({
        "token": str(token.get("display_name") or "?"),
        "policies": ", ".join(policies) or "(none)",
        "ttl": _duration(ttl) if ttl else "none (does not expire)",
        "renewable": renewable,
    })
    problems = _Problems()
    if "root" in policies:
        problems.add(Status.FAIL, "the Vault token has the root policy",
                     "give the application a token whose policy only reads its own paths; "
                     "revoke root tokens after setup")
        return [problems.finding(VAULT, "", evidence)]

    min_ttl = settings.get_int("secrets.min_token_ttl", DEFAULT_MIN_TOKEN_TTL)
    min_ttl = DEFAULT_MIN_TOKEN_TTL if min_ttl is None else min_ttl
    if ttl == 0 and not token.get("expire_time"):
        problems.add(Status.WARN, "the Vault token never expires",
                     "use a TTL-bound or periodic token renewed by Vault Agent")
    elif not renewable and ttl < min_ttl:
        problems.add(Status.FAIL, f"the Vault token expires in {_duration(ttl)} and is not "
                     "renewable", f"issue a renewable token or one with more than "
                     f"{_duration(min_ttl)} left (secrets.min_token_ttl)")

    paths = [f"{mount}/{kind}/{path}" for mount, path in _kv_paths(settings)
             for kind in ("data", "metadata")]
    if not paths:
        evidence["capabilities"] = "no vault: references to check"
    else:
        try:
            caps = _client(ctx).capabilities(paths)
        except VaultFault as exc:
            problems.add(Status.ERROR, "cannot read the token's capabilities",
                         _short(exc.message, 200))
            caps = {}
        writable = {}
        for path, granted in caps.items():
            evidence[f"caps {path}"] = ", ".join(granted) or "(none)"
            excess = [c for c in granted if c in WRITE_CAPABILITIES]
            if excess:
                writable[path] = excess
        if writable:
            evidence["writable"] = "; ".join(f"{p} ({', '.join(c)})" for p, c in writable.items())
            problems.add(Status.FAIL, f"the Vault token can write {_plural(len(writable), 'path')}"
                         f": {', '.join(sorted({c for v in writable.values() for c in v}))}",
                         "restrict the application's policy to read (and list) on its paths")
    return [problems.finding(VAULT, "Vault is unsealed; the token is read-only and lasting",
                             evidence)]


# -- secrets.refs -------------------------------------------------------------------------


def _read_kv(ctx: CheckContext, mount: str, path: str) -> KvVersion | VaultFault:
    def compute() -> KvVersion | VaultFault:
        try:
            return _client(ctx).read_kv(mount, path)
        except VaultFault as exc:
            return exc

    return _memo(ctx, f"secrets.kv:{mount}/{path}", compute)


def _read_metadata(ctx: CheckContext, mount: str, path: str) -> dict[str, Any] | VaultFault:
    def compute() -> dict[str, Any] | VaultFault:
        try:
            return _client(ctx).read_metadata(mount, path)
        except VaultFault as exc:
            return exc

    return _memo(ctx, f"secrets.kv-metadata:{mount}/{path}", compute)


_REF_FAILS = {MISSING_PATH: "missing path", DENIED: "permission denied",
              DELETED: "deleted", DESTROYED: "destroyed"}


@check(REFS, title="Every vault: reference resolves", needs=("secrets.refs", "vault.addr"))
def check_refs(ctx: CheckContext) -> list[Finding]:
    listed_refs(ctx.settings)  # a malformed secrets.refs item is a configuration error
    refs = vault_refs(ctx.settings)
    if not refs:
        return [skipped(REFS, "no vault: references configured")]
    probe = vault_probe(ctx)
    blocked = _blocked_skip(REFS, probe)
    if blocked is not None:
        return [blocked]
    evidence: dict[str, Any] = {}
    broken = unverified = 0
    for text, (ref, keys) in refs.items():
        result = _read_kv(ctx, ref.vault_mount, ref.vault_path)
        if isinstance(result, VaultFault):
            if result.kind in _REF_FAILS:
                label = _REF_FAILS[result.kind] + (f" ({result.detail})" if result.detail else "")
                broken += 1
            else:
                label = f"not verified: {result.message}"
                unverified += 1
        elif ref.vault_key not in result.values:
            label = "missing key" + (f" (version {result.version})" if result.version else "")
            broken += 1
        else:
            label = "ok" + (f" (version {result.version})" if result.version else "")
        evidence[text] = f"{label} [{', '.join(keys)}]"
    total = len(refs)
    if broken:
        return [failed(REFS, _short(f"{broken} of {_plural(total, 'vault reference')} do not "
                                    "resolve"),
                       "write the missing secrets or keys, undelete deleted versions "
                       "(vault kv undelete), and fix the references or the policy",
                       **evidence)]
    if unverified:
        return [errored(REFS, _short(f"could not read {unverified} of "
                                     f"{_plural(total, 'vault reference')}"),
                        "check Vault's availability and retry", **evidence)]
    return [passed(REFS, _short(f"all {_plural(total, 'vault reference')} resolve"
                                if total > 1 else "the vault reference resolves"), **evidence)]


# -- secrets.rotation ---------------------------------------------------------------------

_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def parse_vault_time(text: str) -> dt.datetime | None:
    """Vault's RFC 3339 timestamps carry nanoseconds; Python takes microseconds."""
    match = _RFC3339.match(text.strip())
    if not match:
        return None
    base, fraction, zone = match.groups()
    micro = (fraction or ".0")[1:7].ljust(6, "0")
    offset = "+00:00" if zone in (None, "Z") else zone
    try:
        return dt.datetime.fromisoformat(f"{base}.{micro}{offset}")
    except ValueError:
        return None


@check(ROTATION, title="Referenced secrets were rotated recently",
       needs=("secrets.max_age_days", "secrets.refs"))
def check_rotation(ctx: CheckContext) -> list[Finding]:
    settings = ctx.settings
    paths = _kv_paths(settings)
    if not paths:
        return [skipped(ROTATION, "no vault: references configured")]
    probe = vault_probe(ctx)
    blocked = _blocked_skip(ROTATION, probe)
    if blocked is not None:
        return [blocked]
    max_age = max_age_days(settings)
    now = dt.datetime.now(dt.timezone.utc)
    evidence: dict[str, Any] = {"max_age_days": max_age}
    stale = unverified = dated = 0
    for mount, path in paths:
        where = f"{mount}/{path}"
        meta = _read_metadata(ctx, mount, path)
        if isinstance(meta, VaultFault):
            if meta.kind == MISSING_PATH:
                evidence[where] = "missing (see secrets.refs)"
            else:
                evidence[where] = f"not verified: {meta.message}"
                unverified += 1
            continue
        current = meta.get("current_version")
        versions = meta.get("versions") if isinstance(meta.get("versions"), dict) else {}
        info = versions.get(str(current)) if isinstance(versions, dict) else None
        if not isinstance(info, dict):
            evidence[where] = f"not verified: no metadata for version {current}"
            unverified += 1
            continue
        if info.get("destroyed") or info.get("deletion_time"):
            evidence[where] = f"version {current} deleted or destroyed (see secrets.refs)"
            continue
        created = parse_vault_time(str(info.get("created_time") or ""))
        if created is None:
            evidence[where] = f"not verified: unreadable created_time for version {current}"
            unverified += 1
            continue
        age = max(0, int((now - created).total_seconds() // 86400))
        dated += 1
        if age > max_age:
            stale += 1
            evidence[where] = f"{age} days old (version {current}): rotate"
        else:
            evidence[where] = f"{age} days old (version {current})"
    if stale:
        return [failed(ROTATION, _short(f"{_plural(stale, 'secret')} older than {max_age} days"),
                       "rotate these secrets (write a new version) and update their consumers",
                       **evidence)]
    if unverified:
        return [errored(ROTATION, _short(f"could not date {_plural(unverified, 'secret')}"),
                        "grant read on MOUNT/metadata/PATH to the token used for the check",
                        **evidence)]
    if not dated:
        return [skipped(ROTATION, "no readable secret to date; see secrets.refs", **evidence)]
    return [passed(ROTATION, _short(f"{_plural(dated, 'secret')} rotated within {max_age} days"),
                   **evidence)]


# -- secrets.db-privileges ------------------------------------------------------------------

_PG_SCHEMES = ("postgresql+psycopg2://", "postgresql+psycopg://", "postgresql+asyncpg://",
               "postgresql+pg8000://", "postgres://", "postgresql://")


def libpq_url(url: str) -> str | None:
    """A libpq connection string for a PostgreSQL URL (any SQLAlchemy driver); else None."""
    for scheme in _PG_SCHEMES:
        if url.startswith(scheme):
            return "postgresql://" + url[len(scheme):]
    if "://" not in url and "=" in url:  # key=value conninfo
        return url
    return None


def _describe_target(conninfo: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(conninfo)
    except Exception:
        return "(unparsable connection string)"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    user = parts.get("user") or "(default user)"
    dbname = parts.get("dbname") or "(default database)"
    return f"{user}@{host}:{port}/{dbname}"


_ROLE_QUERY = """
SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication,
       r.rolbypassrls, current_database(), pg_get_userbyid(d.datdba),
       pg_has_role(current_user, d.datdba, 'MEMBER'), current_setting('server_version')
FROM pg_roles r, pg_database d
WHERE r.rolname = current_user AND d.datname = current_database()
"""
_MEMBERSHIP_QUERY = """
SELECT rolname FROM pg_roles
WHERE rolname = ANY(%s) AND pg_has_role(current_user, oid, 'MEMBER')
ORDER BY rolname
"""


def _role_privileges(conninfo: str, timeout: float) -> tuple[dict[str, Any], list[str]]:
    import psycopg

    connect_timeout = max(2, int(min(timeout, 10)))
    target = _describe_target(conninfo)
    try:
        with psycopg.connect(conninfo, connect_timeout=connect_timeout, autocommit=True,
                             application_name="neruba-harden") as conn:
            conn.execute(f"SET statement_timeout = {int(connect_timeout * 1000)}")
            row = conn.execute(_ROLE_QUERY).fetchone()
            if row is None:
                raise CheckError("the current role is not in pg_roles", evidence={"target": target})
            members = conn.execute(_MEMBERSHIP_QUERY, [list(DANGEROUS_PG_ROLES)]).fetchall()
    except psycopg.OperationalError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckError("cannot connect to PostgreSQL",
                         "check secrets.db, the network path and the server",
                         {"target": target, "cause": _short(first, 200)}) from None
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckError("a privilege query failed", "check the role can read pg_roles",
                         {"target": target, "cause": _short(first, 200)}) from None
    names = ("role", *(a for a, _ in PG_ATTRIBUTES), "database", "owner", "owner_member",
             "server_version")
    return dict(zip(names, row, strict=True)), [m[0] for m in members]


@check(DB_PRIVILEGES, title="The application's database role is least-privileged",
       needs=("secrets.db",))
def check_db_privileges(ctx: CheckContext) -> list[Finding]:
    settings = ctx.settings
    raw = settings.get_str("secrets.db")
    if not raw:
        return [skipped(DB_PRIVILEGES, "secrets.db (the application's database URL) is not set")]
    try:
        url = resolve_maybe_ref(raw, settings=settings)
    except NerubaError as exc:
        raise CheckError("cannot resolve secrets.db", "fix the secrets.db reference",
                         {"cause": _short(str(exc), 200)}) from None
    if url.startswith("sqlite"):
        return [skipped(DB_PRIVILEGES, "SQLite has no roles or grants to check")]
    conninfo = libpq_url(url)
    if conninfo is None:
        scheme = url.split("://", 1)[0] if "://" in url else "unknown"
        return [skipped(DB_PRIVILEGES, _short(f"only PostgreSQL is checked, not {scheme}"))]
    info, memberships = _role_privileges(conninfo, ctx.timeout_s)
    role = str(info["role"])
    evidence: dict[str, Any] = {"target": _describe_target(conninfo), "role": role,
                                "database": info["database"],
                                "server_version": info["server_version"]}
    if info["rolsuper"]:
        evidence["excess"] = ["SUPERUSER (implies every other privilege)"]
        return [failed(DB_PRIVILEGES, _short(f"role {role} is a superuser"),
                       f"connect the application as a role without SUPERUSER "
                       f"(ALTER ROLE {role} NOSUPERUSER)", **evidence)]
    excess = [label for attr, label in PG_ATTRIBUTES[1:] if info[attr]]
    if info["owner"] == role:
        excess.append(f"owns database {info['database']}")
    elif info["owner_member"]:
        excess.append(f"member of database owner {info['owner']}")
    excess.extend(f"member of {name}" for name in memberships)
    if not excess:
        return [passed(DB_PRIVILEGES, _short(f"role {role} holds no excess privilege"),
                       **evidence)]
    evidence["excess"] = excess
    return [failed(
        DB_PRIVILEGES, _short(f"role {role} has {_plural(len(excess), 'excess privilege')}"),
        "revoke them (ALTER ROLE ... NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS, "
        "REVOKE pg_... FROM ...); let a separate migration role own the database",
        **evidence,
    )]
