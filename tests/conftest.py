"""Shared test helpers: services that may be missing, and canary secrets.

A test that needs a service this machine lacks skips with the reason; with
NERUBA_REQUIRE_SERVICES=1 (set by .ci/run) the same test fails instead, so CI proves it.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_SERVICES = os.environ.get("NERUBA_REQUIRE_SERVICES") == "1"

# Canary secrets: planted in tests, grepped for in every output.
CANARY_WEBHOOK_SECRET = "whsec_CANARYwebhook7f3a9c2e1d"
CANARY_TOKEN = "hvs.CANARYtoken5b8e2f7a91"
CANARY_DB_PASSWORD = "CANARYdbpw4c1e9a"


def require_service(name: str, available: bool, reason: str = "") -> None:
    """Skip (or, under NERUBA_REQUIRE_SERVICES=1, fail) when a service is missing."""
    if available:
        return
    message = f"{name} is not available" + (f": {reason}" if reason else "")
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (NERUBA_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def require_binary(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}", f"/sbin/{name}") if os.path.exists(p)),
        None,
    )
    require_service(name, path is not None, f"install the Debian package that provides {name}")
    assert path is not None
    return path


def assert_no_canary(*outputs: str | bytes) -> None:
    for output in outputs:
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
        for canary in (CANARY_WEBHOOK_SECRET, CANARY_TOKEN, CANARY_DB_PASSWORD):
            assert canary not in text, "a canary secret leaked into output"
