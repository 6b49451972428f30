"""A project to run preflight on: an Alembic script directory, a SQLite database and a
neruba-harden.toml, plus a helper that runs the CLI in-process."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest

from neruba_harden.cli import main
from tests.migrations.conftest import ScriptDir, sqlite_url


@dataclass
class Project:
    root: Path
    scripts: ScriptDir
    db_url: str

    @property
    def config(self) -> Path:
        return self.root / "neruba-harden.toml"

    def write_config(self, extra: str = "") -> Path:
        self.config.write_text(
            f'[migrations]\nscript_location = "{self.scripts.path}"\ndb = "{self.db_url}"\n'
            + extra,
            encoding="utf-8",
        )
        return self.config


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """Two revisions, the database at the first: migrations.current fails (one pending)."""
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("NERUBA_HARDEN_")]:
        monkeypatch.delenv(name)
    scripts = ScriptDir(tmp_path).add("a1").add("b2", "a1")
    url = sqlite_url(tmp_path)
    scripts.upgrade(url, "a1")
    project = Project(tmp_path, scripts, url)
    project.write_config()
    return project


def days_from_today(days: int) -> str:
    return (dt.date.today() + dt.timedelta(days=days)).isoformat()


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `neruba-harden ARGS` in-process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err
