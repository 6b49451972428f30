"""Fixtures for the command-line tests: receivers holding canary secrets, and `run_cli`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from neruba_harden.cli import main
from tests.conftest import CANARY_TOKEN, CANARY_WEBHOOK_SECRET
from tests.smoke.receivers import RunningReceiver, reference_receiver, sqlite_url

RunCli = Callable[..., tuple[int, str, str]]
SECRET_ENV = "NERUBA_CLI_TEST_SECRET"
TOKEN_ENV = "NERUBA_CLI_TEST_TOKEN"
SECRET_REF = f"env:{SECRET_ENV}"


@pytest.fixture(scope="module")
def good_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReceiver]:
    """The reference receiver, every control on, whose webhook secret is the canary."""
    db = sqlite_url(tmp_path_factory.mktemp("good"))
    with reference_receiver(db, secret=CANARY_WEBHOOK_SECRET, admin_token=CANARY_TOKEN) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def broken_receiver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReceiver]:
    """The same, with failed events marked processed before their handler runs."""
    db = sqlite_url(tmp_path_factory.mktemp("broken"))
    with reference_receiver(db, secret=CANARY_WEBHOOK_SECRET,
                            faults=["dedupe-before-processing"]) as receiver:
        yield receiver


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
            tmp_path: Path) -> RunCli:
    """Run `neruba-harden ARGS...` in-process: (exit code, stdout, stderr)."""
    monkeypatch.setenv(SECRET_ENV, CANARY_WEBHOOK_SECRET)
    monkeypatch.setenv(TOKEN_ENV, CANARY_TOKEN)
    monkeypatch.chdir(tmp_path)  # no stray configuration file is picked up
    for name in ("NERUBA_HARDEN_URL", "NERUBA_HARDEN_WEBHOOK_SECRET", "NERUBA_HARDEN_ENV"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        out, err = capsys.readouterr()
        code = exit_info.value.code
        return (code if isinstance(code, int) else 0), out, err

    return run
