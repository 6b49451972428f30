"""Running the whole sequence: deliveries in parallel where they are independent, then verdicts.

Order of deliveries (independent chains run concurrently)::

    accepted -> [compact-JSON probe, only if refused] -> duplicate + conflict
    failed   -> retry (only if the first answer was 'failed')
    replay, future, 4 x rejected, burst (N at once)
    ... then, when a read-back path is configured, the read-back of the events that passed

Verdicts follow one root cause, one finding: when ``smoke.accepted`` does not pass, every
other step is skipped with that reason; when bad signatures get through, the timestamp steps
are skipped; when redeliveries are processed again, conflict and burst are skipped.
Nothing is retried except the failure-injection event, on purpose.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from neruba_harden.findings import Finding, Status, exit_code_for
from neruba_harden.smoke.client import WebhookClient, signed_headers
from neruba_harden.smoke.events import (
    SmokeEvent,
    build_event,
    compact,
    event_id_for,
    new_run_id,
    payment_intent,
)
from neruba_harden.smoke.observation import Observation
from neruba_harden.smoke.readback import ReadBackCase, judge_readback
from neruba_harden.smoke.steps import (
    ACCEPTED,
    BURST,
    CHECK_IDS,
    CONFLICT,
    DUPLICATE,
    FAILED,
    FUTURE,
    READBACK,
    REJECTED,
    REJECTION_CASES,
    REPLAY,
    TITLES,
    skip_because,
)
from neruba_harden.smoke.target import SmokeTarget
from neruba_harden.smoke.verdicts import (
    judge_accepted,
    judge_burst,
    judge_conflict,
    judge_duplicate,
    judge_failed,
    judge_future,
    judge_rejected,
    judge_replay,
)

__all__ = ["SequenceResult", "run_sequence", "run_sequence_async"]

EVENT_TYPE = "payment_intent.succeeded"
# How far beyond the tolerance the replay and future deliveries are signed.
MARGIN_S = 60
OK = (Status.PASS, Status.WARN)


@dataclass
class SequenceResult:
    """The findings of one run of the sequence (one per check id) and every observation."""

    run_id: str
    target: SmokeTarget
    findings: list[Finding]
    observations: list[Observation]
    duration_s: float

    def finding(self, check_id: str) -> Finding:
        for found in self.findings:
            if found.check_id == check_id:
                return found
        raise KeyError(check_id)

    def statuses(self) -> dict[str, str]:
        return {f.check_id: f.status.value for f in self.findings}

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.findings)


@dataclass
class SequencePlan:
    """The events of one run, built up front so that redeliveries are byte-identical."""

    target: SmokeTarget
    run_id: str
    events: dict[str, SmokeEvent] = field(default_factory=dict)

    def __post_init__(self) -> None:
        def event(step: str, event_type: str = EVENT_TYPE, amount: int = 2000) -> SmokeEvent:
            data = payment_intent(self.run_id, step, amount=amount)
            return build_event(event_type, data, run_id=self.run_id, step=step)

        self.events = {
            "accepted": event("accepted"),
            # Same event id as `accepted`, another payload: the conflict step.
            "conflict": event("accepted", amount=2500),
            "replay": event("replay"),
            "future": event("future"),
            "failed": event("failed", self.target.fail_event_type),
            "burst": event("burst"),
            **{case: event(f"rejected_{case}") for case in REJECTION_CASES},
        }
        self.events["compact_probe"] = compact(
            self.events["accepted"], event_id=event_id_for(self.run_id, "compact_probe")
        )

    def bad_delivery(self, case: str, now: int) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one rejection sub-case (see REJECTION_CASES)."""
        event = self.events[case]
        headers = signed_headers(self.target, event.body, event_id=event.event_id, timestamp=now)
        signature = "Stripe-Signature" if self.target.scheme == "stripe" else "webhook-signature"
        if case == "wrong_secret":
            other = _other_secret(self.target.scheme)
            return event.body, signed_headers(
                self.target, event.body, event_id=event.event_id, timestamp=now, secret=other
            )
        if case == "tampered_body":
            tampered = event.body.replace(b'"amount": 2000', b'"amount": 1', 1)
            return tampered, headers
        if case == "missing_header":
            del headers[signature]
            return event.body, headers
        headers[signature] = "not-a-signature" if self.target.scheme == "stripe" else "v1"
        return event.body, headers


def _other_secret(scheme: str) -> str:
    """A random secret of the scheme's format: never the receiver's."""
    if scheme == "stripe":
        return "whsec_" + os.urandom(16).hex()
    return "whsec_" + base64.b64encode(os.urandom(24)).decode("ascii")


@dataclass
class Deliveries:
    """What every delivery of the sequence came back with."""

    accepted: Observation | None = None
    probe: Observation | None = None
    duplicate: Observation | None = None
    conflict: Observation | None = None
    replay: Observation | None = None
    future: Observation | None = None
    rejections: dict[str, Observation] = field(default_factory=dict)
    failed: Observation | None = None
    retry: Observation | None = None
    burst: list[Observation] = field(default_factory=list)

    def all(self) -> list[Observation]:
        singles = [self.accepted, self.probe, self.duplicate, self.conflict, self.replay,
                   self.future, self.failed, self.retry]
        return [o for o in singles if o is not None] + [*self.rejections.values(), *self.burst]


def _refused(obs: Observation) -> bool:
    return obs.status in (400, 401)


def _succeeded(obs: Observation | None) -> bool:
    return obs is not None and obs.status is not None and 200 <= obs.status < 300


async def deliver_all(client: WebhookClient, plan: SequencePlan) -> Deliveries:
    """Send every delivery of the sequence, the independent chains concurrently."""
    target, seen, events = plan.target, Deliveries(), plan.events

    async def accepted_chain() -> None:
        seen.accepted = await client.deliver(events["accepted"], step="accepted")
        if _refused(seen.accepted):
            # Diagnose why a correctly signed event was refused: compact JSON accepted means
            # the receiver verifies re-serialised JSON, not the raw bytes.
            seen.probe = await client.deliver(events["compact_probe"], step="compact_probe")
        if _succeeded(seen.accepted):
            seen.duplicate, seen.conflict = await asyncio.gather(
                client.deliver(events["accepted"], step="duplicate"),
                client.deliver(events["conflict"], step="conflict"),
            )

    async def failed_chain() -> None:
        seen.failed = await client.deliver(events["failed"], step="failed")
        if seen.failed.status in (500, 503):
            seen.retry = await client.deliver(events["failed"], step="retry")

    async def timestamps() -> None:
        now = int(time.time())
        seen.replay, seen.future = await asyncio.gather(
            client.deliver(events["replay"], step="replay",
                           timestamp=now - target.tolerance - MARGIN_S),
            client.deliver(events["future"], step="future",
                           timestamp=now + target.tolerance + MARGIN_S),
        )

    async def rejections() -> None:
        now = int(time.time())

        async def one(case: str) -> tuple[str, Observation]:
            body, headers = plan.bad_delivery(case, now)
            event = events[case]
            obs = await client.post(case, body, headers, event_id=event.event_id,
                                    idempotency_key=event.idempotency_key, timestamp=now)
            return case, obs

        seen.rejections = dict(await asyncio.gather(*(one(c) for c in REJECTION_CASES)))

    async def burst() -> None:
        event, now = events["burst"], int(time.time())
        headers = signed_headers(target, event.body, event_id=event.event_id, timestamp=now)
        seen.burst = list(await asyncio.gather(*(
            client.post("burst", event.body, headers, event_id=event.event_id,
                        idempotency_key=event.idempotency_key, timestamp=now)
            for _ in range(target.burst)
        )))

    await asyncio.gather(accepted_chain(), failed_chain(), timestamps(), rejections(), burst())
    return seen


def judge(seen: Deliveries, target: SmokeTarget) -> dict[str, Finding]:
    """One finding per step, dependent steps skipped with the reason (see module doc)."""
    assert seen.accepted is not None
    verdicts: dict[str, Finding] = {ACCEPTED: judge_accepted(seen.accepted, seen.probe)}
    accepted = verdicts[ACCEPTED]
    if accepted.status not in OK:
        reason = f"depends on smoke.accepted, which came out {accepted.status.value}"
        return {**verdicts, **{i: skip_because(i, reason) for i in CHECK_IDS if i != ACCEPTED}}
    assert seen.replay is not None and seen.future is not None and seen.failed is not None
    if seen.duplicate is None or seen.conflict is None:
        reason = "the first delivery was not answered 2xx, so it was not redelivered"
        verdicts[DUPLICATE] = skip_because(DUPLICATE, reason)
        verdicts[CONFLICT] = skip_because(CONFLICT, reason)
    else:
        verdicts[DUPLICATE] = judge_duplicate(seen.duplicate)
        verdicts[CONFLICT] = judge_conflict(seen.conflict)
    verdicts[REPLAY] = judge_replay(seen.replay, target.tolerance + MARGIN_S)
    verdicts[FUTURE] = judge_future(seen.future, target.tolerance + MARGIN_S)
    verdicts[REJECTED] = judge_rejected(seen.rejections)
    verdicts[FAILED] = judge_failed(seen.failed, seen.retry)
    verdicts[BURST] = judge_burst(seen.burst)

    if any(_succeeded(o) for o in seen.rejections.values()):
        reason = "signatures are not enforced (see smoke.rejected): timestamps prove nothing"
        verdicts[REPLAY] = skip_because(REPLAY, reason)
        verdicts[FUTURE] = skip_because(FUTURE, reason)
    elif verdicts[REPLAY].status is Status.FAIL and _succeeded(seen.replay):
        verdicts[FUTURE] = skip_because(
            FUTURE, "signed timestamps are not checked at all (see smoke.replay)")
    duplicate = seen.duplicate.outcome if seen.duplicate is not None else None
    if duplicate is not None and duplicate.named_by_body and duplicate.name == "accepted":
        reason = "redeliveries are processed again (see smoke.duplicate)"
        verdicts[CONFLICT] = skip_because(CONFLICT, reason)
        verdicts[BURST] = skip_because(BURST, reason)
    return verdicts


def readback_cases(
    seen: Deliveries, verdicts: dict[str, Finding]
) -> tuple[list[ReadBackCase], list[str]]:
    """The events whose steps passed (to read back), and the others with the reason."""
    cases: list[ReadBackCase] = []
    left_out: list[str] = []

    def consider(label: str, ids: tuple[str, ...], deliveries: list[Observation | None],
                 side_effects: int, ok: tuple[Status, ...] = OK) -> None:
        shown = [o for o in deliveries if o is not None]
        bad = [i for i in ids if verdicts[i].status not in ok]
        if bad or not shown or shown[0].event_id is None:
            left_out.append(f"{label} event ({', '.join(bad) or 'not sent'} did not pass)")
            return
        cases.append(ReadBackCase(label, shown[0].event_id, side_effects, tuple(shown)))

    consider("accepted", (ACCEPTED, DUPLICATE, CONFLICT),
             [seen.accepted, seen.duplicate, seen.conflict], 1)
    consider("burst", (BURST,), list(seen.burst), 1)
    retried_ok = seen.retry is not None and _succeeded(seen.retry)
    consider("failed", (FAILED,), [seen.failed, seen.retry], 1 if retried_ok else 0,
             ok=(Status.PASS,))
    return cases, left_out


async def read_back(
    client: WebhookClient, seen: Deliveries, verdicts: dict[str, Finding]
) -> tuple[Finding, list[Observation]]:
    """The read-back verdict, and the read-back requests it made."""
    target = client.target
    if target.readback_path is None:
        return skip_because(READBACK, "no read-back path configured (key 'readback_path')"), []
    if verdicts[ACCEPTED].status not in OK:
        return verdicts[READBACK], []
    cases, left_out = readback_cases(seen, verdicts)
    if not cases:
        skip = skip_because(READBACK, "nothing to read back: no event's steps passed")
        return skip.with_(evidence={"not_read_back": left_out}), []
    results = await asyncio.gather(*(client.read_back(c.event_id) for c in cases))
    finding = judge_readback(list(zip(cases, results, strict=True)), left_out)
    return finding, [r.observation for r in results]


def _duration(check_id: str, seen: Deliveries) -> float:
    step_of = {ACCEPTED: ("accepted", "compact_probe"), DUPLICATE: ("duplicate",),
               CONFLICT: ("conflict",), REPLAY: ("replay",), FUTURE: ("future",),
               REJECTED: tuple(REJECTION_CASES), FAILED: ("failed", "retry"), BURST: ("burst",)}
    steps = step_of.get(check_id, ())
    return max((o.elapsed_s for o in seen.all() if o.step in steps), default=0.0)


async def host_resolves(target: SmokeTarget) -> bool:
    """Whether the target's host name resolves (IP literals always do), within the timeout."""
    host = (urlsplit(target.url).hostname or "").strip("[]")
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM),
                               target.timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    return True


async def run_sequence_async(target: SmokeTarget, *, run_id: str | None = None) -> SequenceResult:
    """Run the sequence against ``target`` and judge it (see the module docstring)."""
    run_id = run_id or new_run_id()
    started = time.perf_counter()
    async with WebhookClient.connect(target, run_id=run_id) as client:
        plan = SequencePlan(target, run_id)
        if await host_resolves(target):
            seen = await deliver_all(client, plan)
        else:
            # One delivery says why (httpx's own DNS error); the ~30 concurrent lookups of
            # the full sequence would each wait out the resolver's retries for nothing.
            seen = Deliveries(accepted=await client.deliver(plan.events["accepted"],
                                                            step="accepted"))
        verdicts = judge(seen, target)
        verdicts[READBACK], read_backs = await read_back(client, seen, verdicts)
    findings = [
        verdicts[i].with_(title=TITLES[i], duration_s=verdicts[i].duration_s or _duration(i, seen))
        for i in CHECK_IDS
    ]
    observations = [*seen.all(), *read_backs]
    return SequenceResult(run_id, target, findings, observations, time.perf_counter() - started)


def run_sequence(target: SmokeTarget, *, run_id: str | None = None) -> SequenceResult:
    """The blocking entry point; safe to call from inside a running event loop's thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_sequence_async(target, run_id=run_id))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="neruba-smoke") as pool:
        return pool.submit(asyncio.run, run_sequence_async(target, run_id=run_id)).result()
