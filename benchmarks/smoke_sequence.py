"""How long the whole smoke sequence takes, measured against one request's round trip.

Starts the reference receiver in a child process (SQLite in a temporary folder, or the
database given with --db) and an emulated network in front of it (latency_proxy.py, another
child: 10 ms each way by default, plus one round trip for each new connection's handshake),
then measures in one run, straight over loopback and again through the emulated network:

  round trip   one signed delivery of a fresh event on a warm connection, median of --rounds
  sequence     the whole sequence (burst 20, read-back on, fresh connections), median of --runs
  burst-50     50 concurrent deliveries of one fresh event, median of --runs

and prints one table for each, with the ratio sequence / round trip (target: <= 8).

The sequence's critical path is a connection set-up and three requests (accepted ->
duplicate/conflict -> read-back, which waits for every delivery's answer); everything else
runs concurrently. Against a deployed receiver, whose round trip is dominated by latency,
the ratio approaches that: the emulated table shows it. Over raw loopback the ~35 requests
queue for the same CPUs instead, the client's as much as the receiver's, so that ratio
measures throughput: the CPU line says what each side spends per request. (A client that
spends c of CPU per request cannot send n requests in less than n * c, whatever the
receiver does.)

    .venv/bin/python benchmarks/smoke_sequence.py [--db postgresql://...] [--runs 5]
        [--one-way-ms 10] [--no-handshake]
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
from dataclasses import dataclass
from pathlib import Path

from neruba_harden.smoke.client import WebhookClient, signed_headers
from neruba_harden.smoke.events import build_event, payment_intent
from neruba_harden.smoke.runner import run_sequence_async
from neruba_harden.smoke.target import SmokeTarget

TARGET_RATIO = 8.0
BURST = 50
READBACK = "/webhooks/events/{event_id}"
PROXY = Path(__file__).resolve().parent / "latency_proxy.py"
CHILD = """
import sys, time
from neruba_harden.reference.server import running_receiver
from neruba_harden.reference.settings import ReceiverSettings
settings = ReceiverSettings(db_url=sys.argv[1], secrets=[sys.argv[2]], admin_token=sys.argv[3])
with running_receiver(settings) as url:
    print(url, flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""


def start_child(argv: list[str], what: str) -> tuple[subprocess.Popen[str], str]:
    """A child that prints its URL on its first line and serves until its stdin closes."""
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    if not url.startswith("http"):
        child.kill()
        child.wait(timeout=10)
        raise SystemExit(f"the {what} did not start")
    return child, url


def stop_child(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.close()
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=10)


def make_target(url: str, secret: str, token: str) -> SmokeTarget:
    return SmokeTarget(url=url, secret=secret, readback_path=READBACK, admin_token=token)


def start_receiver(db_url: str, secret: str, token: str) -> tuple[subprocess.Popen[str], str]:
    return start_child([sys.executable, "-c", CHILD, db_url, secret, token], "reference receiver")


def start_relay(upstream_url: str, args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    argv = [
        sys.executable,
        str(PROXY),
        "--upstream",
        upstream_url.split("//", 1)[1],
        "--one-way-ms",
        str(args.one_way_ms),
        "--until-stdin-closes",
        "--max-seconds",
        "300",
    ]
    if args.no_handshake:
        argv.append("--no-handshake")
    return start_child(argv, "latency proxy")


def cpu_seconds(pid: int | None = None) -> float | None:
    """User + system CPU time of a process (this one by default); None where unknown."""
    if pid is None:
        return time.process_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Figures:
    """One table: the three timings (seconds) and the CPU spent per sequence request."""

    round_trip: float
    sequence: float
    requests: int
    burst: float
    client_cpu: float | None = None
    receiver_cpu: float | None = None


async def round_trip_s(target: SmokeTarget, rounds: int) -> float:
    times = []
    async with WebhookClient.connect(target) as client:
        await client.send("payment_intent.succeeded", {"warm": "up"})
        for i in range(rounds):
            started = time.perf_counter()
            seen = await client.send(
                "payment_intent.succeeded", payment_intent(client.run_id, f"rt{i}")
            )
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
            event = build_event(
                "payment_intent.succeeded",
                {"burst": run},
                run_id=client.run_id,
                step=f"burst{run}",
            )
            headers = signed_headers(
                target, event.body, event_id=event.event_id, timestamp=int(time.time())
            )
            started = time.perf_counter()
            answers = await asyncio.gather(
                *(
                    client.post("burst", event.body, headers, event_id=event.event_id)
                    for _ in range(size)
                )
            )
            times.append(time.perf_counter() - started)
            accepted = sum(1 for a in answers if a.outcome and a.outcome.name == "accepted")
            assert accepted == 1, [a.received_line() for a in answers]
    return statistics.median(times)


async def measure(target: SmokeTarget, args: argparse.Namespace, receiver_pid: int) -> Figures:
    rt = await round_trip_s(target, args.rounds)
    client_before, receiver_before = cpu_seconds(), cpu_seconds(receiver_pid)
    seq, requests = await sequence_s(target, args.runs)
    client_after, receiver_after = cpu_seconds(), cpu_seconds(receiver_pid)
    burst = await burst_s(target, BURST, args.runs)
    figures = Figures(rt, seq, requests, burst)
    per_request = args.runs * requests
    if client_before is not None and client_after is not None:
        figures.client_cpu = (client_after - client_before) / per_request
    if receiver_before is not None and receiver_after is not None:
        figures.receiver_cpu = (receiver_after - receiver_before) / per_request
    return figures


def print_table(title: str, f: Figures, args: argparse.Namespace) -> None:
    ratio = f.sequence / f.round_trip
    verdict = "met" if ratio <= TARGET_RATIO else "missed"
    print(title)
    print(f"  one request round trip:    {f.round_trip * 1000:8.1f} ms (median of {args.rounds})")
    print(
        f"  whole sequence (burst 20): {f.sequence * 1000:8.1f} ms (median of {args.runs}, "
        f"{f.requests} deliveries + read-backs)"
    )
    print(f"  burst of {BURST}:              {f.burst * 1000:8.1f} ms (median of {args.runs})")
    print(f"  ratio sequence / round trip: {ratio:6.1f}  (target <= {TARGET_RATIO:g}: {verdict})")
    print(f"  ratio burst-{BURST} / round trip: {f.burst / f.round_trip:6.1f}")
    print(
        f"  requests/s: sequential {1 / f.round_trip:6.0f}, "
        f"during the sequence {f.requests / f.sequence:6.0f}"
    )
    if f.client_cpu is not None and f.receiver_cpu is not None:
        print(
            f"  CPU per sequence request: client {f.client_cpu * 1000:.1f} ms, "
            f"receiver {f.receiver_cpu * 1000:.1f} ms ({os.cpu_count()} CPUs)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--one-way-ms", type=float, default=10.0, help="emulated one-way delay (default 10)"
    )
    parser.add_argument(
        "--no-handshake",
        action="store_true",
        help="emulated network: no extra round trip for a new connection",
    )
    args = parser.parse_args()
    if args.runs < 1 or args.rounds < 1 or args.one_way_ms < 0:
        parser.error("--runs and --rounds must be 1 or more, --one-way-ms 0 or more")
    secret, token = "whsec_" + os.urandom(16).hex(), os.urandom(12).hex()
    with tempfile.TemporaryDirectory() as folder:
        db_url = args.db or f"sqlite:///{Path(folder) / 'bench.db'}"
        receiver, url = start_receiver(db_url, secret, token)
        try:
            relay, relay_url = start_relay(url, args)
            try:
                raw = asyncio.run(measure(make_target(url, secret, token), args, receiver.pid))
                emulated = asyncio.run(
                    measure(make_target(relay_url, secret, token), args, receiver.pid)
                )
            finally:
                stop_child(relay)
        finally:
            stop_child(receiver)
    backend = db_url.split(":", 1)[0]
    handshake = "" if args.no_handshake else ", +1 round trip per new connection"
    print(f"receiver: reference, {backend}, one uvicorn process at {url}")
    print()
    print_table("raw loopback", raw, args)
    print()
    print_table(
        f"emulated {2 * args.one_way_ms:g} ms round trip "
        f"(latency_proxy.py: {args.one_way_ms:g} ms each way{handshake})",
        emulated,
        args,
    )


if __name__ == "__main__":
    main()
