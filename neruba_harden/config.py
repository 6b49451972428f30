"""Settings: `[tool.neruba-harden]` in pyproject.toml or `neruba-harden.toml`, named
environments, `NERUBA_HARDEN_*` environment variables and command-line flags.

Precedence, lowest first: the file's base table, the selected environment's table
(`[tool.neruba-harden.environments.NAME]`), environment variables, flags. Keys are dotted
paths (`migrations.db`, `clock.servers`); an environment variable names one with `__` for
each dot: `NERUBA_HARDEN_MIGRATIONS__DB`.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neruba_harden.errors import ConfigError
from neruba_harden.findings import Waiver

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILE_NAME = "neruba-harden.toml"
ENV_PREFIX = "NERUBA_HARDEN_"
TABLE = "tool.neruba-harden"
PRODUCTION_NAMES = frozenset({"production", "prod"})
WELL_KNOWN_ENVIRONMENTS = frozenset(
    {"development", "dev", "local", "test", "qa", "staging", "stage", "preview", *PRODUCTION_NAMES}
)
_MISSING = object()


def _deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


@dataclass
class Settings:
    """Resolved settings for one run: one merged table plus where it came from."""

    data: dict[str, Any] = field(default_factory=dict)
    env_name: str | None = None
    source: Path | None = None
    waivers: list[Waiver] = field(default_factory=list)
    # dotted key -> where its value came from ("file", "env", "flag"), for messages
    origins: dict[str, str] = field(default_factory=dict)

    # -- lookup ---------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return default
            node = node[part]
        return node

    def has(self, key: str) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    def section(self, name: str) -> dict[str, Any]:
        value = self.get(name, {})
        if not isinstance(value, Mapping):
            raise self.error(name, "must be a table")
        return dict(value)

    def _where(self, key: str) -> str:
        origin = self.origins.get(key)
        if origin == "flag":
            return "command line"
        if origin == "env":
            return f"environment variable {ENV_PREFIX}{key.upper().replace('.', '__')}"
        return str(self.source) if self.source else "configuration"

    def error(self, key: str, problem: str) -> ConfigError:
        """A ConfigError that names where ``key`` came from (file, variable or flag)."""
        return ConfigError(f"{self._where(key)}: key '{key}' {problem}")



    def get_str(self, key: str, default: str | None = None) -> str | None:
        value = self.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise self.error(key, f"must be a string, got {type(value).__name__}")

    def get_float(self, key: str, default: float | None = None) -> float | None:
        value = self.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool):
            raise self.error(key, "must be a number, got a boolean")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise self.error(key, f"must be a number, got {value!r}") from None

    def get_int(self, key: str, default: int | None = None) -> int | None:
        value = self.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool):
            raise self.error(key, "must be a whole number, got a boolean")
        if isinstance(value, float) and not value.is_integer():
            raise self.error(key, f"must be a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise self.error(key, f"must be a whole number, got {value!r}") from None

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off", ""):
            return False
        raise self.error(key, f"must be true or false, got {value!r}")

    def get_list(self, key: str, default: list[str] | None = None) -> list[str]:
        value = self.get(key, _MISSING)
        if value is _MISSING or value is None:
            return list(default or [])
        if isinstance(value, str):  # from an environment variable: comma-separated
            return [v.strip() for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)) and all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value
        ):
            return [str(v) for v in value]
        raise self.error(key, "must be a list of strings")

    # -- environment ----------------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        explicit = self.get("production", None)
        if explicit is not None:
            return self.get_bool("production")
        return (self.env_name or "").lower() in PRODUCTION_NAMES

    def with_overrides(self, overrides: Mapping[str, Any]) -> Settings:
        data = _deep_merge({}, self.data)
        origins = dict(self.origins)
        for key, value in overrides.items():
            if value is None:
                continue
            _set_dotted(data, key, value)
            origins[key] = "flag"
        return Settings(data, self.env_name, self.source, list(self.waivers), origins)


def find_config_file(cwd: Path) -> Path | None:
    """`neruba-harden.toml`, else a pyproject.toml with [tool.neruba-harden], upwards."""
    for folder in (cwd, *cwd.parents):
        candidate = folder / CONFIG_FILE_NAME
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                text = pyproject.read_text(encoding="utf-8")
            except OSError:
                continue
            if "[tool.neruba-harden" in text:
                return pyproject
    return None


def _read_table(path: Path) -> dict[str, Any]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if path.name == "pyproject.toml" or "tool" in raw:
        table = raw.get("tool", {}).get("neruba-harden", {})
    else:
        table = raw
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{TABLE}] must be a table")
    return table


def _parse_waivers(table: Any, source: Path | None) -> list[Waiver]:
    where = str(source) if source else "configuration"
    if table is None:
        return []
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: key 'waive' must be a table of check ids")
    waivers = []
    for check_id, spec in table.items():
        key = f"waive.{check_id}"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: key '{key}' must be a table with reason and until")
        reason = spec.get("reason")
        until = spec.get("until")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where}: key '{key}.reason' must be a non-empty string")
        if isinstance(until, dt.datetime):
            until = until.date()
        if isinstance(until, str):
            try:
                until = dt.date.fromisoformat(until)
            except ValueError:
                raise ConfigError(f"{where}: key '{key}.until' must be a date (YYYY-MM-DD)") from None
        if not isinstance(until, dt.date):
            raise ConfigError(f"{where}: key '{key}.until' must be a date (YYYY-MM-DD)")
        waivers.append(Waiver(check_id, reason.strip(), until.isoformat()))
    return waivers


def _env_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    overrides = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "ENV":
            continue
        key = name[len(ENV_PREFIX):].lower().replace("__", ".")
        if key:
            overrides[key] = value
    return overrides


def load_settings(
    config_file: str | Path | None = None,
    env_name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Read the configuration, select the environment and apply env vars and flags."""
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    source = Path(config_file) if config_file else find_config_file(cwd)
    table = _read_table(source) if source else {}
    where = str(source) if source else "configuration"

    environments = table.pop("environments", {})
    if not isinstance(environments, Mapping):
        raise ConfigError(f"{where}: key 'environments' must be a table")
    waivers = _parse_waivers(table.pop("waive", None), source)

    chosen = env_name or environ.get(ENV_PREFIX + "ENV") or table.get("env")
    if chosen is not None and not isinstance(chosen, str):
        raise ConfigError(f"{where}: key 'env' must be a string")
    data = dict(table)
    origins = {key: "file" for key in data}
    if chosen:
        if environments and chosen not in environments:
            known = ", ".join(sorted(environments)) or "none"
            raise ConfigError(f"{where}: environment '{chosen}' is not defined (defined: {known})")
        if not environments and chosen not in WELL_KNOWN_ENVIRONMENTS:
            # Without an [environments] table the name only selects a policy (production or
            # not): a typo such as "producton" must not quietly select the lenient one.
            known = ", ".join(sorted(WELL_KNOWN_ENVIRONMENTS))
            raise ConfigError(
                f"{where}: environment '{chosen}' is not defined (no [environments] table; "
                f"without one, use one of: {known})"
            )
        overlay = environments.get(chosen, {})
        if not isinstance(overlay, Mapping):
            raise ConfigError(f"{where}: key 'environments.{chosen}' must be a table")
        data = _deep_merge(data, overlay)
        env_waivers = overlay.get("waive") if isinstance(overlay, Mapping) else None
        if env_waivers:
            data.pop("waive", None)
            waivers = [*waivers, *_parse_waivers(env_waivers, source)]

    settings = Settings(data, chosen, source, waivers, origins)
    env_values = _env_overrides(environ)
    settings = settings.with_overrides(env_values)
    for key in env_values:
        settings.origins[key] = "env"
    return settings.with_overrides(overrides or {})
