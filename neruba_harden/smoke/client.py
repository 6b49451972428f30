"""Sending signed deliveries and recording what came back, asynchronously or blocking.

:class:`WebhookClient` (asyncio, used by the sequence) and :class:`BlockingWebhookClient`
(for users' synchronous tests and the ``webhook send`` tool) share one way of signing a
request and one way of turning a response into an :class:`Observation`. Neither retries
anything: a step that wants a retry sends it on purpose. httpx is imported here, so this
module is only imported once a request is about to be made.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from neruba_harden.http import describe_transport_error, make_async_client, make_client
from neruba_harden.smoke.classify import classify_outcome
from neruba_harden.smoke.events import SmokeEvent, build_event, new_run_id
from neruba_harden.smoke.observation import Observation, ReadBack, body_excerpt, request_id_of
from neruba_harden.smoke.target import SmokeTarget
from neruba_harden.webhooks import sign_headers

__all__ = ["BlockingWebhookClient", "ReadBack", "WebhookClient", "signed_headers"]

# A response body is read up to this many bytes: enough for any outcome document.
MAX_BODY_BYTES = 64 * 1024
TRANSPORT_ERRORS = (httpx.HTTPError, httpx.InvalidURL, OSError)


def signed_headers(
    target: SmokeTarget,
    body: bytes,
    *,
    event_id: str,
    timestamp: int | None = None,
    secret: str | None = None,
) -> dict[str, str]:
    """Content type plus the signature headers of ``target.scheme`` over ``body``."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    headers.update(
        sign_headers(
            target.scheme,
            body,
            secret if secret is not None else target.secret,
            timestamp=timestamp,
            event_id=event_id,
        )
    )
    return headers


@dataclass(frozen=True)
class Sending:
    """What a request carried, captured as it leaves."""

    step: str
    url: str
    event_id: str | None = None
    idempotency_key: str | None = None
    timestamp: int | None = None


def observe(
    sending: Sending, response: httpx.Response, content: bytes, *, outcome_field: str,
    sent_at: float, started: float,
) -> Observation:
    """The observation of an answered request."""
    status = response.status_code
    return Observation(
        step=sending.step,
        url=sending.url,
        event_id=sending.event_id,
        idempotency_key=sending.idempotency_key,
        timestamp=sending.timestamp,
        sent_at=sent_at,
        status=status,
        outcome=classify_outcome(status, content, outcome_field),
        request_id=request_id_of(dict(response.headers), content),
        elapsed_s=time.perf_counter() - started,
        body=body_excerpt(content),
        content_type=response.headers.get("content-type"),
        location=response.headers.get("location"),
        retry_after=response.headers.get("retry-after"),
    )


def transport_fault(
    sending: Sending, exc: BaseException, *, sent_at: float, started: float
) -> Observation:
    """The observation of a request that got no answer: one line saying why."""
    return Observation(
        step=sending.step,
        url=sending.url,
        event_id=sending.event_id,
        idempotency_key=sending.idempotency_key,
        timestamp=sending.timestamp,
        sent_at=sent_at,
        elapsed_s=time.perf_counter() - started,
        error=describe_transport_error(exc, sending.url),
    )


def parse_document(content: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


class WebhookClient:
    """Signed deliveries to one target over a shared ``httpx.AsyncClient``."""

    def __init__(self, target: SmokeTarget, http: httpx.AsyncClient, *, run_id: str) -> None:
        self.target = target
        self.http = http
        self.run_id = run_id
        self._sends = 0

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, target: SmokeTarget, *, run_id: str | None = None
    ) -> AsyncIterator[WebhookClient]:
        # Room for the whole burst at once: a queued request would eat its own timeout.
        http = make_async_client(
            target.timeout, verify=target.verify, max_connections=target.burst + 20
        )
        async with http:
            yield cls(target, http, run_id=run_id or new_run_id())

    async def send(
        self,
        event_type: str,
        data: Mapping[str, Any],
        *,
        event_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        step: str | None = None,
    ) -> Observation:
        """Build a test-mode event of ``event_type`` around ``data``, sign it, deliver it."""
        self._sends += 1
        step = step or f"send{self._sends}"
        event = build_event(event_type, data, run_id=self.run_id, step=step, event_id=event_id)
        return await self.deliver(event, step=step, timestamp=timestamp, secret=secret)

    async def deliver(
        self,
        event: SmokeEvent,
        *,
        step: str,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Observation:
        """Sign ``event`` (now, or at ``timestamp``) and deliver its exact bytes."""
        stamp = int(time.time()) if timestamp is None else timestamp
        headers = signed_headers(
            self.target, event.body, event_id=event.event_id, timestamp=stamp, secret=secret
        )
        return await self.post(
            step, event.body, headers, event_id=event.event_id,
            idempotency_key=event.idempotency_key, timestamp=stamp,
        )

    async def post(
        self,
        step: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        event_id: str | None = None,
        idempotency_key: str | None = None,
        timestamp: int | None = None,
    ) -> Observation:
        """POST raw bytes with exactly these headers to the webhook URL; never retried."""
        sending = Sending(step, self.target.webhook_url, event_id, idempotency_key, timestamp)
        sent_at, started = time.time(), time.perf_counter()
        try:
            rsp, content = await self._exchange("POST", sending.url, body, headers)
        except TRANSPORT_ERRORS as exc:
            return transport_fault(sending, exc, sent_at=sent_at, started=started)
        return observe(sending, rsp, content, outcome_field=self.target.outcome_field,
                       sent_at=sent_at, started=started)

    async def read_back(self, event_id: str) -> ReadBack:
        """GET the read-back document of ``event_id`` with the admin token."""
        sending = Sending("readback", self.target.readback_url(event_id) or "", event_id)
        headers = {"Accept": "application/json"}
        if self.target.admin_token:
            headers["Authorization"] = f"Bearer {self.target.admin_token}"
        sent_at, started = time.time(), time.perf_counter()
        try:
            rsp, content = await self._exchange("GET", sending.url, None, headers)
        except TRANSPORT_ERRORS as exc:
            return ReadBack(transport_fault(sending, exc, sent_at=sent_at, started=started), None)
        seen = observe(sending, rsp, content, outcome_field=self.target.outcome_field,
                       sent_at=sent_at, started=started)
        # A read-back answer is a document, not a delivery outcome.
        seen = dataclasses.replace(seen, outcome=None)
        return ReadBack(seen, parse_document(content) if rsp.status_code == 200 else None)


    async def _exchange(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[httpx.Response, bytes]:
        """One request and its bounded body, all within the per-request timeout."""

        async def exchange() -> tuple[httpx.Response, bytes]:
            async with self.http.stream(method, url, content=body, headers=dict(headers)) as rsp:
                return rsp, await _read_bounded(rsp)

        try:
            return await asyncio.wait_for(exchange(), self.target.timeout)
        except asyncio.TimeoutError:
            # httpx bounds each phase; this bounds the whole exchange (a slow drip).
            raise httpx.ReadTimeout(f"no complete answer within {self.target.timeout:g}s") from None


class BlockingWebhookClient:
    """The synchronous twin of :class:`WebhookClient`, for synchronous tests and tools."""

    def __init__(self, target: SmokeTarget, *, run_id: str | None = None) -> None:
        self.target = target
        self.run_id = run_id or new_run_id()
        self.http = make_client(target.timeout, verify=target.verify)
        self._sends = 0

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> BlockingWebhookClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(
        self,
        event_type: str,
        data: Mapping[str, Any],
        *,
        event_id: str | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        step: str | None = None,
    ) -> Observation:
        """Build a test-mode event of ``event_type`` around ``data``, sign it, deliver it."""
        self._sends += 1
        step = step or f"send{self._sends}"
        event = build_event(event_type, data, run_id=self.run_id, step=step, event_id=event_id)
        return self.deliver(event, step=step, timestamp=timestamp, secret=secret)

    def deliver(
        self,
        event: SmokeEvent,
        *,
        step: str,
        timestamp: int | None = None,
        secret: str | None = None,
    ) -> Observation:
        stamp = int(time.time()) if timestamp is None else timestamp
        headers = signed_headers(
            self.target, event.body, event_id=event.event_id, timestamp=stamp, secret=secret
        )
        return self.post(step, event.body, headers, event_id=event.event_id,
                         idempotency_key=event.idempotency_key, timestamp=stamp)

    def post(
        self,
        step: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        event_id: str | None = None,
        idempotency_key: str | None = None,
        timestamp: int | None = None,
    ) -> Observation:
        """POST raw bytes with exactly these headers to the webhook URL; never retried."""
        sending = Sending(step, self.target.webhook_url, event_id, idempotency_key, timestamp)
        sent_at, started = time.time(), time.perf_counter()
        try:
            with self.http.stream("POST", sending.url, content=body, headers=dict(headers)) as rsp:
                content = b""
                for chunk in rsp.iter_bytes():
                    content += chunk
                    if len(content) >= MAX_BODY_BYTES:
                        break
        except TRANSPORT_ERRORS as exc:
            return transport_fault(sending, exc, sent_at=sent_at, started=started)
        return observe(sending, rsp, content[:MAX_BODY_BYTES],
                       outcome_field=self.target.outcome_field, sent_at=sent_at, started=started)


async def _read_bounded(response: httpx.Response) -> bytes:
    content = b""
    async for chunk in response.aiter_bytes():
        content += chunk
        if len(content) >= MAX_BODY_BYTES:
            break
    return content[:MAX_BODY_BYTES]
