"""Preflight concurrency: the whole run's wall time against its slowest single check.

Checks are I/O bound and run side by side, so a preflight should take little longer than
its slowest check (target: ratio <= 1.3). The run is the real `neruba-harden preflight`
(in-process: settings, area loading, the concurrent runner, waivers, the JSON report on
disk) over every registered area, with:

- migrations configured for real: an Alembic script directory, a SQLite database at head,
  and a target metadata, so current, single-head and drift all do their work;
- a benchmark-only area, `bench`, registered through the registry's AREA_MODULES extension
  point: probes that each open a TCP connection to a local server that answers after a set
  delay (0.2 to 0.8 s), standing in for the HTTP, NTP and Vault round trips of the other
  areas; one probe is async, the others run in the runner's threads;
- every other area unconfigured (they skip).

The first run is cold (it imports alembic and each area's module); the following ones are
warm. Prints per-check durations and the ratios; exits 1 when the cold ratio misses.

    python benchmarks/preflight_concurrency.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import socketserver
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

from neruba_harden import registry
from neruba_harden.errors import CheckError
from neruba_harden.findings import Finding, passed
from neruba_harden.registry import CheckContext, check

TARGET_RATIO = 1.3
PROBE_DELAYS_S = {"bench.probe-a": 0.2, "bench.probe-b": 0.4, "bench.probe-c": 0.6,
                  "bench.probe-d": 0.8}
ASYNC_PROBE = "bench.probe-async"
ASYNC_DELAY_S = 0.5


# -- a slow local service ---------------------------------------------------------------------

class SlowHandler(socketserver.StreamRequestHandler):
    """Reads `DELAY\\n`, waits that long, answers `ok\\n`: a remote endpoint's latency."""

    def handle(self) -> None:
        delay = float(self.rfile.readline().decode().strip() or 0)
        time.sleep(min(delay, 5.0))
        self.wfile.write(b"ok\n")


class SlowServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def probe(port: int, delay: float, timeout: float) -> float:
    started = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(f"{delay}\n".encode())
            if conn.makefile("rb").readline().strip() != b"ok":
                raise CheckError("unexpected answer from the bench server")
    except OSError as exc:
        raise CheckError(f"bench server unreachable: {exc}") from None
    return time.perf_counter() - started


def make_probe(check_id: str, delay: float) -> None:
    @check(check_id, title=f"Bench probe ({delay:g} s round trip)", area="bench")
    def run_probe(ctx: CheckContext) -> list[Finding]:
        port = ctx.settings.get_int("bench.port")
        if port is None:
            raise CheckError("bench.port not set")
        took = probe(port, delay, ctx.timeout_s)
        return [passed(check_id, f"answered in {took:.2f}s", round_trip_s=round(took, 3))]


for _id, _delay in PROBE_DELAYS_S.items():
    make_probe(_id, _delay)


@check(ASYNC_PROBE, title=f"Bench async probe ({ASYNC_DELAY_S:g} s)", area="bench")
async def async_probe(ctx: CheckContext) -> list[Finding]:
    port = ctx.settings.get_int("bench.port")
    started = time.perf_counter()
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port), ctx.timeout_s)
    writer.write(f"{ASYNC_DELAY_S}\n".encode())
    await writer.drain()
    await reader.readline()
    writer.close()
    await writer.wait_closed()
    took = time.perf_counter() - started
    return [passed(ASYNC_PROBE, f"answered in {took:.2f}s", round_trip_s=round(took, 3))]


# -- a real Alembic project -----------------------------------------------------------------

ENV_PY = textwrap.dedent('''\
    from alembic import context
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool
    engine = create_engine(context.config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
''')

REVISION = textwrap.dedent('''\
    import sqlalchemy as sa
    from alembic import op
    revision = {rev!r}
    down_revision = {down!r}
    branch_labels = None
    depends_on = None
    def upgrade():
        op.create_table({table!r}, sa.Column("id", sa.Integer, primary_key=True),
                        sa.Column("name", sa.String(40), nullable=False))
    def downgrade():
        op.drop_table({table!r})
''')

REVISIONS = ["r001", "r002", "r003", "r004", "r005", "r006"]


def build_project(root: Path, port: int) -> Path:
    """Script directory, a migrated SQLite database, models, and neruba-harden.toml."""
    scripts = root / "migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(ENV_PY)
    (scripts / "script.py.mako").write_text("# unused\n")
    down = None
    for rev in REVISIONS:
        (scripts / "versions" / f"{rev}.py").write_text(
            REVISION.format(rev=rev, down=down, table=f"t_{rev}"))
        down = rev
    models = "import sqlalchemy as sa\nmetadata = sa.MetaData()\n" + "".join(
        f'sa.Table("t_{rev}", metadata, sa.Column("id", sa.Integer, primary_key=True), '
        f'sa.Column("name", sa.String(40), nullable=False))\n' for rev in REVISIONS)
    (root / "bench_models.py").write_text(models)
    db = root / "app.db"
    url = f"sqlite:///{db}"
    # Migrate in a child process: this one must import alembic first in the measured run.
    subprocess.run([sys.executable, "-c", (
        "import sys; from alembic import command; from alembic.config import Config; "
        "c = Config(); c.set_main_option('script_location', sys.argv[1]); "
        "c.set_main_option('sqlalchemy.url', sys.argv[2]); command.upgrade(c, 'heads')"
    ), str(scripts), url], check=True, timeout=120)
    toml = root / "neruba-harden.toml"
    toml.write_text(
        f'[migrations]\nscript_location = "{scripts}"\ndb = "{url}"\n'
        f'target_metadata = "bench_models:metadata"\n\n[bench]\nport = {port}\n')
    return toml


# -- the measurement ----------------------------------------------------------------------------

def run_once(config: Path, output: Path) -> tuple[float, dict[str, Any]]:
    from neruba_harden.cli import main

    started = time.perf_counter()
    try:
        main(["preflight", "--config", str(config), "--format", "json", "--output", str(output)])
    except SystemExit as exc:
        code = exc.code
    wall = time.perf_counter() - started
    report: dict[str, Any] = json.loads(output.read_text())
    if code != 0:
        problems = [f for f in report["findings"] if f["status"] in ("fail", "error")]
        raise SystemExit(f"preflight exited {code}: {json.dumps(problems, indent=2)}")
    return wall, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm runs after the cold one")
    args = parser.parse_args()
    for name in [n for n in os.environ if n.startswith("NERUBA_HARDEN_")]:
        del os.environ[name]
    # The registry's extension point: area name -> module that registers its checks.
    registry.AREA_MODULES["bench"] = __name__

    server = SlowServer(("127.0.0.1", 0), SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="neruba-bench-") as tmp:
        root = Path(tmp)
        os.chdir(root)  # the models module imports from here
        config = build_project(root, server.server_address[1])
        assert "alembic" not in sys.modules  # the cold run pays for it, as the CLI would
        runs = [run_once(config, root / f"report-{i}.json") for i in range(1 + args.runs)]
    server.shutdown()

    cold_wall, cold_report = runs[0]
    print("per-check durations, cold run (s):")
    durations = {f["check_id"]: f["duration_s"] for f in cold_report["findings"]}
    statuses = {f["check_id"]: f["status"] for f in cold_report["findings"]}
    for check_id, duration in sorted(durations.items(), key=lambda kv: -kv[1]):
        print(f"  {check_id:<28} {duration:6.3f}  {statuses[check_id]}")
    ratios = []
    for wall, report in runs:
        slowest = max(f["duration_s"] for f in report["findings"])
        ratios.append(wall / slowest)
    slowest_cold = max(durations.values())
    print(f"cold: wall {cold_wall:.3f} s, slowest check {slowest_cold:.3f} s, "
          f"ratio {ratios[0]:.3f}")
    if len(runs) > 1:
        warm_walls = [wall for wall, _ in runs[1:]]
        print(f"warm ({len(runs) - 1} runs): median wall {statistics.median(warm_walls):.3f} s, "
              f"median ratio {statistics.median(ratios[1:]):.3f}, worst {max(ratios[1:]):.3f}")
    print(f"sum of check durations / wall (cold): {sum(durations.values()) / cold_wall:.2f}x "
          "concurrency")
    ok = ratios[0] <= TARGET_RATIO
    print(f"ratio target <= {TARGET_RATIO:g}: " + ("ok" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
