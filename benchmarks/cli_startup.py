"""CLI start-up cost: `neruba-harden --help` against a bare `python -c pass`.

Prints the medians over repetitions, their ratio (target <= 4) and the heavy modules
(httpx, hvac, alembic, sqlalchemy, starlette) that `--help` imported (target: none).
Exits 1 when a target is missed.

    python benchmarks/cli_startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("httpx", "hvac", "alembic", "sqlalchemy", "starlette")
TARGET_RATIO = 4.0


def entry_point() -> list[str]:
    """The installed console script next to this interpreter, else `python -m`."""
    script = Path(sys.executable).with_name("neruba-harden")
    if script.exists():
        return [str(script)]
    found = shutil.which("neruba-harden")
    return [found] if found else [sys.executable, "-m", "neruba_harden"]


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=True, timeout=60)
    return time.perf_counter() - started


def median_time(argv: list[str], repeat: int, env: dict[str, str]) -> float:
    timed(argv, env)  # warm the OS file cache and .pyc files
    return statistics.median(timed(argv, env) for _ in range(repeat))


def heavy_imports(env: dict[str, str]) -> list[str]:
    """Modules from HEAVY that the real `--help` start imports (python -X importtime)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "neruba_harden", "--help"],
                          capture_output=True, text=True, env=env, timeout=60, check=True)
    names = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:")}
    return sorted(n for n in names if n.split(".")[0] in HEAVY)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NERUBA_HARDEN_")}

    cli = [*entry_point(), "--help"]
    bare = [sys.executable, "-c", "pass"]
    bare_s = median_time(bare, args.repeat, env)
    cli_s = median_time(cli, args.repeat, env)
    ratio = cli_s / bare_s
    heavy = heavy_imports(env)

    print(f"python -c pass          median {bare_s * 1000:7.1f} ms  ({args.repeat} runs)")
    print(f"{Path(cli[0]).name + ' --help':<23} median {cli_s * 1000:7.1f} ms  "
          f"({args.repeat} runs)")
    print(f"ratio                   {ratio:7.2f}   (target <= {TARGET_RATIO:g})")
    print(f"heavy modules imported  {', '.join(heavy) or 'none'}   (target: none)")
    ok = ratio <= TARGET_RATIO and not heavy
    print("result                  " + ("ok" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
