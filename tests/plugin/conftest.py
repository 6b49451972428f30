"""Fixtures for the plugin tests: receivers holding canary secrets, and a clean environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import CANARY_TOKEN, CANARY_WEBHOOK_SECRET
from tests.smoke.receivers import RunningReceiver, reference_receiver, sqlite_url

SECRET_ENV = "NERUBA_PLUGIN_TEST_SECRET"
TOKEN_ENV = "NERUBA_PLUGIN_TEST_TOKEN"
PLUGIN_ENV = ("NERUBA_URL", "NERUBA_SECRET", "NERUBA_SCHEME", "NERUBA_WEBHOOK_PATH",
              "NERUBA_BURST", "NERUBA_TIMEOUT", "NERUBA_READBACK_PATH", "NERUBA_ADMIN_TOKEN",
              "NERUBA_SMOKE", "NERUBA_ALLOW_HTTP", "NERUBA_HARDEN_URL",
              "NERUBA_HARDEN_WEBHOOK_SECRET", "PYTEST_ADDOPTS")


def start(tmp_path_factory: pytest.TempPathFactory, name: str,
          *faults: str) -> Iterator[RunningReceiver]:
    db = sqlite_url(tmp_path_factory.mktemp(name))
    with reference_receiver(db, secret=CANARY_WEBHOOK_SECRET, admin_token=CANARY_TOKEN,
                            faults=faults) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def good_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReceiver]:
    yield from start(tmp_path_factory, "good")


@pytest.fixture(scope="module")
def broken_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReceiver]:
    yield from start(tmp_path_factory, "broken", "dedupe-before-processing")


@pytest.fixture(scope="module")
def status_only_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReceiver]:
    yield from start(tmp_path_factory, "status_only", "status-only")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner pytest runs see only the settings a test gives them (and the canaries)."""
    for name in PLUGIN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(SECRET_ENV, CANARY_WEBHOOK_SECRET)
    monkeypatch.setenv(TOKEN_ENV, CANARY_TOKEN)


# In-process runs import the plugin a second time: pytest warns it cannot rewrite it then.
# Hypothesis' plugin re-imports hypothesis (seconds) in every in-process run: not needed here.
QUIET = ("-W", "ignore::pytest.PytestAssertRewriteWarning", "-p", "no:hypothesispytest")


def smoke_args(receiver: RunningReceiver, *extra: str, readback: bool = False) -> list[str]:
    """The options a user passes to run the sequence against ``receiver``."""
    args = ["--neruba-url", receiver.url, "--neruba-secret", f"env:{SECRET_ENV}",
            "--neruba-smoke", "--neruba-burst", "5", "-p", "no:cacheprovider", *QUIET]
    if readback:
        args += ["--neruba-readback-path", "/webhooks/events/{event_id}",
                 "--neruba-admin-token", f"env:{TOKEN_ENV}"]
    return [*args, *extra]
