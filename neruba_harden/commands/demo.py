"""`neruba-harden demo`: the whole sequence against the embedded reference receiver, twice.

First against the reference receiver with every control on (SQLite in a temporary folder,
a fresh random secret, read-back on): everything passes. Then against the same receiver
with one control broken by a fault switch, so that a new user sees what a failure looks
like. Exit 0 when both come out as they should, 1 otherwise. Reports go to stdout,
progress to stderr.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

import click

from neruba_harden import redact
from neruba_harden.findings import EXIT_FAILED, EXIT_OK, Report, Status

# What each fault switch of the reference receiver breaks: the check ids that must fail.
BREAKS: dict[str, frozenset[str]] = {
    "dedupe-before-processing": frozenset({"smoke.failed"}),
    "no-dedupe": frozenset({"smoke.duplicate"}),
    "racy-dedupe": frozenset({"smoke.burst"}),
    "conflict-ignored": frozenset({"smoke.conflict"}),
    "no-signature-check": frozenset({"smoke.rejected"}),
    "no-replay-window": frozenset({"smoke.replay"}),
    "reserialized-json": frozenset({"smoke.accepted"}),
    "redirect": frozenset({"smoke.accepted"}),
}
READBACK_PATH = "/webhooks/events/{event_id}"


def _secret(scheme: str) -> str:
    import base64

    raw = secrets.token_bytes(24)
    value = "whsec_" + (raw.hex() if scheme == "stripe" else base64.b64encode(raw).decode())
    redact.register(value)
    return value


def _run_against(
    folder: Path, name: str, faults: frozenset[str], scheme: str, burst: int
) -> Report:
    from neruba_harden.reference.server import running_receiver
    from neruba_harden.reference.settings import ReceiverSettings
    from neruba_harden.smoke.runner import run_sequence
    from neruba_harden.smoke.target import SmokeTarget

    secret, token = _secret(scheme), secrets.token_urlsafe(24)
    redact.register(token)
    db_url = f"sqlite:///{folder / (name + '.db')}"
    settings = ReceiverSettings(db_url=db_url, secrets=[secret], scheme=scheme,
                                admin_token=token, readback_path=READBACK_PATH, faults=faults)
    click.echo(f"demo: starting the reference receiver ({name}) on SQLite in {folder}", err=True)
    with running_receiver(settings) as base_url:
        click.echo(f"demo: running the smoke sequence against {base_url}", err=True)
        target = SmokeTarget(url=base_url, secret=secret, scheme=scheme, burst=burst,
                             readback_path=READBACK_PATH, admin_token=token,
                             secret_ref="(demo: a random secret)")
        result = run_sequence(target)
    meta = {**target.describe(), "run_id": result.run_id,
            "duration_s": round(result.duration_s, 3)}
    return Report(result.findings, title=f"neruba-harden demo: {name}", meta=meta)


def _failed_ids(report: Report) -> set[str]:
    return {f.check_id for f in report.findings if f.status in (Status.FAIL, Status.ERROR)}


@click.command("demo")
@click.option("--fault", type=click.Choice(sorted(BREAKS)), default="dedupe-before-processing",
              show_default=True, help="The control to break in the second run.")
@click.option("--scheme", type=click.Choice(["stripe", "standard"]), default="stripe",
              show_default=True, help="Signing scheme of both runs.")
@click.option("--burst", type=click.IntRange(1, 200), default=20, show_default=True,
              help="Concurrent deliveries in the burst step.")
def demo(fault: str, scheme: str, burst: int) -> int:
    """Run the sequence against the embedded reference receiver: intact, then broken."""
    from neruba_harden.reference.faults import FAULTS
    from neruba_harden.report import render

    with tempfile.TemporaryDirectory(prefix="neruba-demo-") as tmp:
        folder = Path(tmp)
        good = _run_against(folder, "every control on", frozenset(), scheme, burst)
        click.echo("== 1/2: the reference receiver, every control on ==\n")
        click.echo(render(good, "text"))
        broken = _run_against(folder, f"fault {fault}", frozenset({fault}), scheme, burst)
        click.echo(f"== 2/2: the same receiver with one control broken: {fault} ==")
        click.echo(f"   ({FAULTS[fault]})\n")
        click.echo(render(broken, "text"))

    good_ok = not _failed_ids(good)
    broken_ok = _failed_ids(broken) == set(BREAKS[fault])
    if good_ok and broken_ok:
        click.echo(f"demo: as expected: the intact receiver passes; with {fault} "
                   f"the sequence fails {', '.join(sorted(BREAKS[fault]))}")
        return EXIT_OK
    if not good_ok:
        click.echo(f"demo: unexpected: the intact receiver failed "
                   f"{', '.join(sorted(_failed_ids(good)))}")
    if not broken_ok:
        click.echo(f"demo: unexpected: with {fault} the sequence failed "
                   f"{', '.join(sorted(_failed_ids(broken))) or 'nothing'}, expected "
                   f"{', '.join(sorted(BREAKS[fault]))}")
    return EXIT_FAILED
