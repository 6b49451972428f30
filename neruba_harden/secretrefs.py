"""Secret references: `env:NAME`, `file:PATH`, `vault:MOUNT/PATH#KEY`.

Configuration names where a secret lives, never what it is. Resolving a reference registers
the value with :mod:`neruba_harden.redact` before anybody else sees it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from neruba_harden import redact
from neruba_harden.errors import ConfigError, SecretError

if TYPE_CHECKING:
    from neruba_harden.config import Settings

KINDS = ("env", "file", "vault")


@dataclass(frozen=True)
class SecretRef:
    """A parsed secret reference."""

    kind: str
    target: str

    @property
    def text(self) -> str:
        return f"{self.kind}:{self.target}"

    # vault:MOUNT/PATH#KEY
    @property
    def vault_mount(self) -> str:
        return self.target.split("#", 1)[0].split("/", 1)[0]

    @property
    def vault_path(self) -> str:
        return self.target.split("#", 1)[0].split("/", 1)[1]

    @property
    def vault_key(self) -> str:
        return self.target.split("#", 1)[1]

    @classmethod
    def parse(cls, text: str, *, where: str = "") -> SecretRef:
        place = f"{where}: " if where else ""
        kind, sep, target = text.partition(":")
        if not sep or kind not in KINDS or not target:
            raise ConfigError(
                f"{place}not a secret reference (expected env:NAME, file:PATH or "
                f"vault:MOUNT/PATH#KEY)"
            )
        if kind == "vault":
            path, hash_, key = target.partition("#")
            if not hash_ or not key or "/" not in path or path.startswith("/"):
                raise ConfigError(f"{place}vault reference must look like vault:MOUNT/PATH#KEY")
        return cls(kind, target)

    def __str__(self) -> str:
        return self.text


def is_reference(text: str) -> bool:
    kind, sep, _ = text.partition(":")
    return bool(sep) and kind in KINDS


def resolve_secret(ref: str | SecretRef, *, settings: Settings | None = None) -> str:
    """Resolve a reference to its value and register the value for redaction."""
    parsed = ref if isinstance(ref, SecretRef) else SecretRef.parse(ref)
    if parsed.kind == "env":
        value = os.environ.get(parsed.target)
        if value is None or value == "":
            raise SecretError(f"{parsed.text}: environment variable {parsed.target} is not set")
    elif parsed.kind == "file":
        path = Path(parsed.target).expanduser()
        try:
            value = path.read_text(encoding="utf-8").rstrip("\r\n")
        except FileNotFoundError:
            raise SecretError(f"{parsed.text}: file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"{parsed.text}: cannot read file ({type(exc).__name__})") from None
        if not value:
            raise SecretError(f"{parsed.text}: file is empty")
    else:
        from neruba_harden.vault import read_secret

        value = read_secret(parsed, settings=settings)
    redact.register(value)
    return value


def resolve_maybe_ref(text: str, *, settings: Settings | None = None) -> str:
    """Resolve `text` if it is a reference; otherwise return it (a plain URL, say).

    Either way, a password embedded in the resulting URL is registered for redaction.
    """
    value = resolve_secret(text, settings=settings) if is_reference(text) else text
    redact.register_url(value)
    return value
