"""Starting the CLI imports nothing heavy (DESIGN.md: import cost), in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("httpx", "hvac", "alembic", "sqlalchemy", "starlette")

REPORT_HEAVY = (
    "import sys\n"
    "HEAVY = {heavy!r}\n"
    "{body}\n"
    "loaded = sorted(m for m in sys.modules if m.split('.')[0] in HEAVY)\n"
    "print('HEAVY:' + ','.join(loaded))\n"
)


def heavy_modules_after(body: str) -> list[str]:
    code = REPORT_HEAVY.format(heavy=HEAVY, body=body)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERUBA_HARDEN_")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)
    marker = [line for line in proc.stdout.splitlines() if line.startswith("HEAVY:")]
    assert marker, proc.stdout + proc.stderr
    return [m for m in marker[-1].removeprefix("HEAVY:").split(",") if m]


def test_importing_the_cli_imports_nothing_heavy() -> None:
    assert heavy_modules_after("import neruba_harden.cli") == []


@pytest.mark.parametrize("argv", [["--help"], ["preflight", "--help"], ["migrations", "--help"]])
def test_help_imports_nothing_heavy(argv: list[str]) -> None:
    body = (
        "from neruba_harden.cli import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code in (0, None), exc.code\n"
    )
    assert heavy_modules_after(body) == []


def test_the_console_entry_point_imports_nothing_heavy() -> None:
    # `python -X importtime -m neruba_harden --help`: every module the real start imports.
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERUBA_HARDEN_")}
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "neruba_harden", "--help"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "preflight" in proc.stdout
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines() if line.startswith("import time:")
    }
    assert "neruba_harden.cli" in imported
    assert sorted(m for m in imported if m.split(".")[0] in HEAVY) == []
