"""Fixtures for the reference receiver: real uvicorn on loopback, SQLite and PostgreSQL.

The databases are migrated once per session and shared by every receiver the tests start
(event ids are unique per test). PostgreSQL gets a fresh `neruba_test_<random>` database,
dropped at the end; `NERUBA_TEST_POSTGRES_URL` names another server. Without a reachable
server the PostgreSQL cases skip, or fail under NERUBA_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from neruba_harden.reference.schema import migrate
from neruba_harden.reference.server import running_receiver
from neruba_harden.reference.settings import ReceiverSettings
from neruba_harden.webhooks import sign_headers
from tests.conftest import require_service

STRIPE_SECRET = "whsec_reference_tests_2f1c9a7e5b3d"
OLD_STRIPE_SECRET = "whsec_reference_tests_rotated_out_8e4a"
STANDARD_SECRET = "whsec_" + base64.b64encode(b"reference-tests-standard-key-32b").decode()
ADMIN_TOKEN = "admin-token-reference-tests-4d7f"
DEFAULT_PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

_RUN = uuid.uuid4().hex[:10]
_counter = itertools.count(1)


def new_event_id(step: str = "evt") -> str:
    return f"evt_smoke_{_RUN}_{step}_{next(_counter)}"


def stripe_event(
    event_id: str | None = None, type: str = "invoice.paid", **obj: Any
) -> dict[str, Any]:
    """A Stripe-shaped, test-mode event like the smoke client sends."""
    return {
        "id": event_id or new_event_id(),
        "object": "event",
        "type": type,
        "created": int(time.time()),
        "livemode": False,
        "data": {"object": {"object": "invoice", "amount_paid": 1200, **obj}},
        "metadata": {"neruba_smoke": "true", "run_id": _RUN},
        "request": {"id": None, "idempotency_key": uuid.uuid4().hex},
    }


def encode(event: Mapping[str, Any], *, pretty: bool = False) -> bytes:
    if pretty:
        return json.dumps(event, indent=2).encode()
    return json.dumps(event, separators=(",", ":")).encode()


@dataclass
class Target:
    """A running receiver and the means to talk to it like a sender would."""

    base_url: str
    settings: ReceiverSettings
    client: httpx.Client = field(repr=False)

    @property
    def webhook_url(self) -> str:
        return self.base_url + self.settings.webhook_path

    def deliver(
        self,
        event: Mapping[str, Any] | bytes,
        *,
        timestamp: int | None = None,
        secrets: str | list[str] | None = None,
        sign: bool = True,
        headers: Mapping[str, str] | None = None,
        event_id: str | None = None,
    ) -> httpx.Response:
        body = event if isinstance(event, bytes) else encode(event)
        if event_id is None and not isinstance(event, bytes):
            event_id = str(event["id"])
        sent = {"content-type": "application/json"}
        if sign:
            sent.update(
                sign_headers(
                    self.settings.scheme,
                    body,
                    secrets if secrets is not None else self.settings.secrets,
                    timestamp=timestamp,
                    event_id=event_id or "msg_unknown",
                )
            )
        sent.update(headers or {})
        return self.client.post(self.webhook_url, content=body, headers=sent)

    def burst(self, event: Mapping[str, Any], n: int = 20) -> list[httpx.Response]:
        """`n` deliveries of one event, released at the same instant."""
        gate = threading.Barrier(n)

        def one(_: int) -> httpx.Response:
            gate.wait(timeout=10)
            return self.deliver(event)

        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(one, range(n)))

    def readback(self, event_id: str, token: str | None = ADMIN_TOKEN) -> httpx.Response:
        auth = {"authorization": f"Bearer {token}"} if token else {}
        path = self.settings.readback_path.format(event_id=event_id)
        return self.client.get(self.base_url + path, headers=auth)


def outcomes(responses: list[httpx.Response]) -> list[str]:
    return [r.json().get("outcome") for r in responses]


# -- databases -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('reference') / 'receiver.db'}"
    migrate(url)
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated database on the PostgreSQL server, dropped after the session."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    server = make_url(os.environ.get("NERUBA_TEST_POSTGRES_URL") or DEFAULT_PG_SERVER)
    if server.drivername in ("postgresql", "postgres"):
        server = server.set(drivername="postgresql+psycopg")
    name = f"neruba_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        admin.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        require_service("postgresql", False, f"{server.render_as_string()}: {reason}")
    url = server.set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{backend}_url"))


# -- receivers -----------------------------------------------------------------------------


def _start(stack: ExitStack, client: httpx.Client, db_url: str, **overrides: Any) -> Target:
    values: dict[str, Any] = {
        "db_url": db_url,
        "secrets": [STRIPE_SECRET],
        "admin_token": ADMIN_TOKEN,
    }
    values.update(overrides)
    settings = ReceiverSettings(**values)
    base_url = stack.enter_context(running_receiver(settings, migrate_first=False))
    return Target(base_url, settings, client)


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=0)
    with httpx.Client(timeout=20.0, limits=limits) as client:
        yield client


class GoodReceivers:
    """One contract-following receiver per database, started on first use."""

    def __init__(self, stack: ExitStack, client: httpx.Client) -> None:
        self.stack = stack
        self.client = client
        self.started: dict[str, Target] = {}

    def get_for(self, backend: str, db_url: str) -> Target:
        if backend not in self.started:
            self.started[backend] = _start(self.stack, self.client, db_url)
        return self.started[backend]


@pytest.fixture(scope="session")
def good_receivers(http: httpx.Client) -> Iterator[GoodReceivers]:
    with ExitStack() as stack:
        yield GoodReceivers(stack, http)


@pytest.fixture
def target(good_receivers: GoodReceivers, backend: str, db_url: str) -> Target:
    """The contract-following receiver (stripe scheme) on SQLite and on PostgreSQL."""
    return good_receivers.get_for(backend, db_url)


@pytest.fixture
def start_receiver(http: httpx.Client, sqlite_url: str) -> Iterator[Callable[..., Target]]:
    """Start a receiver with settings overrides (SQLite unless `db_url=` is given)."""
    with ExitStack() as stack:

        def start(**overrides: Any) -> Target:
            overrides.setdefault("db_url", sqlite_url)
            return _start(stack, http, **overrides)

        yield start
