"""How long the whole smoke sequence takes, measured against one request's round trip.

Starts the reference receiver in a child process (SQLite in a temporary folder, or the
database given with --db), then measures in one run:

  round trip   one signed delivery of a fresh event, sequential, median of --rounds
  sequence     the whole sequence (burst 20, read-back on), median of --runs
  burst-50     50 concurrent deliveries of one fresh event, median of --runs

and prints the ratios (target: sequence / round trip <= 8).

The sequence's critical path is three requests (accepted -> duplicate/conflict -> read-back);
everything else runs concurrently. Against a receiver whose round trip is dominated by
latency (any deployed one) the ratio approaches that. Against one local uvicorn process the
~35 requests queue for the same CPU, and the ratio measures the receiver's throughput: the
last lines print both rates so that the two effects can be told apart.

    .venv/bin/python benchmarks/smoke_sequence.py [--db postgresql://...] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neruba_harden.smoke.client import WebhookClient, signed_headers
from neruba_harden.smoke.events import build_event, payment_intent
from neruba_harden.smoke.runner import run_sequence_async
from neruba_harden.smoke.target import SmokeTarget

READBACK = "/webhooks/events/{event_id}"
CHILD = """
import sys, time
from neruba_harden.reference.server import running_receiver
from neruba_harden.reference.settings import ReceiverSettings
settings = ReceiverSettings(db_url=sys.argv[1], secrets=[sys.argv[2]], admin_token=sys.argv[3])
with running_receiver(settings) as url:
    print(url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""


def start_receiver(db_url: str, secret: str, token: str) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, db_url, secret, token],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    if not url.startswith("http"):
        child.kill()
        raise SystemExit("the reference receiver did not start")
    return child, url


async def round_trip_s(target: SmokeTarget, rounds: int) -> float:
    times = []
    async with WebhookClient.connect(target) as client:
        await client.send("payment_intent.succeeded", {"warm": "up"})
        for i in range(rounds):
            started = time.perf_counter()
            seen = await client.send("payment_intent.succeeded", payment_intent(client.run_id,
                                                                                f"rt{i}"))
            times.append(time.perf_counter() - started)
            assert seen.status == 200, seen.received_line()
    return statistics.median(times)


async def sequence_s(target: SmokeTarget, runs: int) -> tuple[float, int]:
    times, requests = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        result = await run_sequence_async(target)
        times.append(time.perf_counter() - started)
        assert result.exit_code == 0, result.statuses()
        requests = len(result.observations)
    return statistics.median(times), requests


async def burst_s(target: SmokeTarget, size: int, runs: int) -> float:
    times = []
    async with WebhookClient.connect(target) as client:
        for run in range(runs):
            event = build_event("payment_intent.succeeded", {"burst": run},
                                run_id=client.run_id, step=f"burst{run}")
            headers = signed_headers(target, event.body, event_id=event.event_id,
                                     timestamp=int(time.time()))
            started = time.perf_counter()
            answers = await asyncio.gather(*(
                client.post("burst", event.body, headers, event_id=event.event_id)
                for _ in range(size)))
            times.append(time.perf_counter() - started)
            accepted = sum(1 for a in answers if a.outcome and a.outcome.name == "accepted")
            assert accepted == 1, [a.received_line() for a in answers]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    secret, token = "whsec_" + os.urandom(16).hex(), os.urandom(12).hex()
    with tempfile.TemporaryDirectory() as folder:
        db_url = args.db or f"sqlite:///{Path(folder) / 'bench.db'}"
        child, url = start_receiver(db_url, secret, token)
        try:
            target = SmokeTarget(url=url, secret=secret, readback_path=READBACK,
                                 admin_token=token)
            rt = asyncio.run(round_trip_s(target, args.rounds))
            seq, requests = asyncio.run(sequence_s(target, args.runs))
            burst = asyncio.run(burst_s(target, 50, args.runs))
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=30)
    backend = db_url.split(":", 1)[0]
    print(f"receiver: reference, {backend}, one uvicorn process at {url}")
    print(f"one request round trip:   {rt * 1000:8.1f} ms (median of {args.rounds})")
    print(f"whole sequence (burst 20): {seq * 1000:7.1f} ms (median of {args.runs}, "
          f"{requests} deliveries + read-backs)")
    print(f"burst of 50:              {burst * 1000:8.1f} ms (median of {args.runs})")
    print(f"ratio sequence / round trip: {seq / rt:6.1f}  (target <= 8)")
    print(f"ratio burst-50 / round trip: {burst / rt:6.1f}")
    print(f"requests/s: sequential {1 / rt:6.0f}, during the sequence {requests / seq:6.0f}")


if __name__ == "__main__":
    main()
