"""Run every benchmark script in this folder, one after the other, in one process tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = [
    "cli_startup.py",
    "plugin_overhead.py",
    "preflight_concurrency.py",
    "smoke_sequence.py",
]


def main() -> int:
    here = Path(__file__).resolve().parent
    worst = 0
    for name in SCRIPTS:
        print(f"== {name}", flush=True)
        rc = subprocess.call([sys.executable, str(here / name)])
        worst = max(worst, rc)
        print(flush=True)
    return worst


if __name__ == "__main__":
    sys.exit(main())
