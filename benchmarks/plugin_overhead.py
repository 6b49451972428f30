"""What the pytest plugin costs a run that does not use it.

Times an empty pytest run (one trivial test, fresh interpreter each time) with the plugin
installed and loaded, and the same with ``-p no:neruba_harden``, interleaved, several
repetitions each; prints the medians and their ratio (target <= 1.05).

    .venv/bin/python benchmarks/plugin_overhead.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=120)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        (cwd / "test_empty.py").write_text("def test_nothing():\n    pass\n", encoding="utf-8")
        with_plugin, without_plugin = [], []
        timed(BASE, cwd)  # warm the file-system cache and the bytecode caches
        timed([*BASE, "-p", "no:neruba_harden"], cwd)
        for _ in range(args.repeat):
            with_plugin.append(timed(BASE, cwd))
            without_plugin.append(timed([*BASE, "-p", "no:neruba_harden"], cwd))
    loaded, disabled = statistics.median(with_plugin), statistics.median(without_plugin)
    print(f"empty pytest run, plugin loaded:        {loaded * 1000:7.1f} ms "
          f"(median of {args.repeat})")
    print(f"empty pytest run, -p no:neruba_harden:  {disabled * 1000:7.1f} ms")
    print(f"ratio loaded / disabled: {loaded / disabled:.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
