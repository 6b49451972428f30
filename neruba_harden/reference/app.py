"""The reference receiver's HTTP routes: a Starlette app that follows CONTRACT.md.

`create_app(settings)` wires the webhook route (verify on the raw bytes, then the store's
atomic claim), the admin-scoped read-back, `/healthz`, a denied operator route
(`/admin/status`) and the doc surfaces (`/docs`, `/redoc`, `/openapi.json`). Every response
carries an `X-Request-ID`; webhook answers carry it in the body too.
"""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neruba_harden.reference import docs
from neruba_harden.reference import faults as F
from neruba_harden.reference.settings import ReceiverSettings
from neruba_harden.reference.store import (
    STATUS,
    Delivery,
    EventStore,
    Outcome,
    first_line,
    payload_hash,
)
from neruba_harden.webhooks import (
    SignatureVerificationError,
    TimestampOutsideTolerance,
    sign_headers,
    verify,
)

log = logging.getLogger("neruba_harden.reference")

CONFLICT_TYPE = "urn:neruba-harden:problem:webhook-event-conflict"
MAX_EVENT_ID = 255


class RequestIdMiddleware:
    """Give every request a fresh uuid4 hex id, in `request.state` and `X-Request-ID`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        await self.app(scope, receive, send_with_id)


class Rejection(Exception):
    """The delivery is answered `rejected` or `replay` before it reaches the store."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome: Outcome = outcome
        self.detail = detail


class Receiver:
    """The route handlers, bound to one configuration and one store."""

    def __init__(self, settings: ReceiverSettings, store: EventStore) -> None:
        self.settings = settings
        self.store = store

    # -- webhook ---------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        s = self.settings
        request_id: str = request.state.request_id
        if s.has(F.REDIRECT) and request.url.path == s.webhook_path:
            return RedirectResponse(s.webhook_path.rstrip("/") + "/v2", status_code=307)
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        event_id: str | None = None
        try:
            self._verify(body, headers)
            event = _parse_event(body)
            event_id = self._event_id(event, headers)
        except Rejection as rejection:
            hint = _event_id_hint(body, headers, s.scheme)
            await self._record(hint, rejection.outcome, request_id)
            return self._answer(rejection.outcome, request_id, detail=rejection.detail)
        event_type = event.get("type")
        delivery = Delivery(
            event_id=event_id,
            payload_sha256=payload_hash(body),
            type=event_type if isinstance(event_type, str) else "",
            request_id=request_id,
        )
        try:
            # One trip to a worker thread: the store records the attempt itself.
            outcome = await run_in_threadpool(self.store.deliver, delivery)
        except Exception as exc:  # the database went away mid-flight
            log.error("request %s: storage error: %s", request_id, first_line(exc))
            return self._answer(
                "failed",
                request_id,
                event_id=event_id,
                detail="storage unavailable",
                status=503,
                headers={"Retry-After": "5"},
            )
        _log_outcome(request_id, event_id, outcome)
        if outcome == "conflict":
            return self._conflict(delivery)
        return self._answer(outcome, request_id, event_id=event_id)

    def _verify(self, body: bytes, headers: Mapping[str, str]) -> None:
        s = self.settings
        if s.has(F.NO_SIGNATURE_CHECK):
            return
        signed = body
        if s.has(F.RESERIALIZED_JSON):
            try:
                signed = json.dumps(json.loads(body), separators=(",", ":")).encode()
            except ValueError:
                raise Rejection("rejected", "body is not valid JSON") from None
        try:
            verify(
                s.scheme,
                signed,
                headers,
                s.secrets,
                tolerance=s.tolerance,
                check_future=not s.has(F.NO_FUTURE_CHECK),
            )
        except TimestampOutsideTolerance as exc:
            if not s.has(F.NO_REPLAY_WINDOW):
                raise Rejection("replay", str(exc)) from None
        except SignatureVerificationError as exc:
            raise Rejection("rejected", str(exc)) from None

    def _event_id(self, event: Mapping[str, Any], headers: Mapping[str, str]) -> str:
        found: Any = None
        if self.settings.scheme == "standard":
            found = headers.get("webhook-id")
        if not found:
            found = event.get("id")
        if not isinstance(found, str) or not found:
            raise Rejection("rejected", "the event has no id")
        if len(found) > MAX_EVENT_ID:
            raise Rejection("rejected", f"the event id is longer than {MAX_EVENT_ID} characters")
        return found

    async def _record(self, event_id: str | None, outcome: Outcome, request_id: str) -> None:
        """Record a delivery the store never saw (rejected, replayed)."""
        status = STATUS[outcome]
        _log_outcome(request_id, event_id, outcome)
        try:
            await run_in_threadpool(
                self.store.record_delivery, event_id, outcome, status, request_id
            )
        except Exception as exc:  # the answer stands even if its record could not be kept
            log.error("request %s: could not record the delivery: %s", request_id, first_line(exc))

    def _answer(
        self,
        outcome: Outcome,
        request_id: str,
        *,
        event_id: str | None = None,
        detail: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JSONResponse:
        content: dict[str, Any] = {}
        if not self.settings.has(F.STATUS_ONLY):
            content["outcome"] = outcome
        if event_id is not None:
            content["event_id"] = event_id
        if detail:
            content["detail"] = detail
        content["request_id"] = request_id
        return JSONResponse(content, status_code=status or STATUS[outcome], headers=headers)

    def _conflict(self, delivery: Delivery) -> JSONResponse:
        content: dict[str, Any] = {
            "type": CONFLICT_TYPE,
            "title": "Event id already seen with a different payload",
            "status": 422,
            "detail": (
                f"event {delivery.event_id} was first received with another payload; "
                f"the first payload stands (this one hashes to {delivery.payload_sha256})"
            ),
            "event_id": delivery.event_id,
            "request_id": delivery.request_id,
        }
        if not self.settings.has(F.STATUS_ONLY):
            content["outcome"] = "conflict"
        return JSONResponse(content, status_code=422, media_type="application/problem+json")

    # -- admin and operator surfaces -------------------------------------------------------

    def _is_admin(self, request: Request) -> bool:
        token = self.settings.admin_token
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if not token or scheme.lower() != "bearer" or not given:
            return False
        return hmac.compare_digest(given.strip().encode(), token.encode())

    async def readback(self, request: Request) -> Response:
        if not self._is_admin(request):
            return JSONResponse(
                {"detail": "admin token required"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        event_id = request.path_params["event_id"]
        found = await run_in_threadpool(self.store.readback, event_id)
        if found is None:
            return JSONResponse({"detail": "unknown event id"}, status_code=404)
        return JSONResponse(found)

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def admin_status(self, request: Request) -> Response:
        if not self._is_admin(request):
            return JSONResponse({"detail": "forbidden"}, status_code=403)
        return JSONResponse(
            {"status": "ok", "scheme": self.settings.scheme, "faults": sorted(self.settings.faults)}
        )

    def _docs_allowed(self, request: Request) -> Response | None:
        if self.settings.docs == "gated" and not self._is_admin(request):
            return JSONResponse(
                {"detail": "admin token required"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return None

    async def openapi(self, request: Request) -> Response:
        denied = self._docs_allowed(request)
        if denied is not None:
            return denied
        s = self.settings
        return JSONResponse(
            docs.openapi_document(
                s.webhook_path,
                s.readback_path if s.admin_token else None,
                s.scheme,
                with_outcome=not s.has(F.STATUS_ONLY),
            )
        )

    async def swagger_ui(self, request: Request) -> Response:
        return self._docs_allowed(request) or HTMLResponse(docs.SWAGGER_UI_HTML)

    async def redoc(self, request: Request) -> Response:
        return self._docs_allowed(request) or HTMLResponse(docs.REDOC_HTML)


def _log_outcome(request_id: str, event_id: str | None, outcome: Outcome) -> None:
    status = STATUS[outcome]
    log.info("request %s: event %s -> %s (%d)", request_id, event_id or "-", outcome, status)


def _parse_event(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except ValueError:
        raise Rejection("rejected", "body is not valid JSON") from None
    if not isinstance(event, dict):
        raise Rejection("rejected", "body is not a JSON object")
    return event


def _event_id_hint(body: bytes, headers: Mapping[str, str], scheme: str) -> str | None:
    """The id an unverified delivery claims, so that its attempt shows in the read-back."""
    if scheme == "standard" and headers.get("webhook-id"):
        found: Any = headers["webhook-id"]
    else:
        try:
            event = json.loads(body)
        except ValueError:
            return None
        found = event.get("id") if isinstance(event, dict) else None
    return found if isinstance(found, str) and 0 < len(found) <= MAX_EVENT_ID else None


def _check_secrets(settings: ReceiverSettings) -> None:
    """Fail at start-up, not per request, on a secret the scheme cannot use."""
    if settings.secrets:
        sign_headers(settings.scheme, b"{}", settings.secrets, event_id="msg_startup_probe")


def create_app(settings: ReceiverSettings, *, store: EventStore | None = None) -> Starlette:
    """The receiver as an ASGI app; it owns (and closes) its store unless one is passed."""
    _check_secrets(settings)
    owned = store is None
    active = store or EventStore(
        settings.db_url, faults=settings.faults, fail_event_type=settings.fail_event_type
    )
    receiver = Receiver(settings, active)
    s = settings
    routes = [
        Route(s.webhook_path, receiver.webhook, methods=["POST"]),
        Route("/healthz", receiver.healthz, methods=["GET"]),
        Route("/admin/status", receiver.admin_status, methods=["GET"]),
    ]
    if s.has(F.REDIRECT):
        routes.append(Route(s.webhook_path.rstrip("/") + "/v2", receiver.webhook, methods=["POST"]))
    if s.admin_token:
        routes.append(Route(s.readback_path, receiver.readback, methods=["GET"]))
    if s.docs != "disabled":
        routes += [
            Route("/openapi.json", receiver.openapi, methods=["GET"]),
            Route("/docs", receiver.swagger_ui, methods=["GET"]),
            Route("/redoc", receiver.redoc, methods=["GET"]),
        ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                active.close()

    app = Starlette(routes=routes, middleware=[Middleware(RequestIdMiddleware)], lifespan=lifespan)
    # A receiver never answers 3xx (CONTRACT.md): no trailing-slash redirects.
    app.router.redirect_slashes = False
    app.state.receiver = receiver
    return app
