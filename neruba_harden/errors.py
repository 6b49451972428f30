"""The exceptions neruba-harden raises on purpose.

    NerubaError                 base of every expected fault
    ├── ConfigError             malformed or missing configuration, bad usage: exit 2
    ├── SecretError             a secret reference could not be resolved
    └── CheckError              a check could not verify: becomes that check's `error`

None of them ever carries a secret value in its message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class NerubaError(Exception):
    """An expected fault, shown to the user as one clear line."""


class ConfigError(NerubaError):
    """Configuration or usage is wrong: the message names the file and the key."""


class SecretError(NerubaError):
    """A secret reference (env:, file:, vault:) could not be resolved."""


class CheckError(NerubaError):
    """A check could not verify its control (unreachable, timeout, refused...)."""

    def __init__(
        self, message: str, hint: str = "", evidence: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.evidence: dict[str, Any] = dict(evidence or {})
