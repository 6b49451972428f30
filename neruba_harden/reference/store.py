"""Storage of the reference receiver: tables, engine setup and the atomic dedupe claim.

The contract's duplicate guarantee rests on one rule: an event is claimed by INSERTing it
under the UNIQUE constraint on `webhook_events.event_id`, never by checking first and
inserting after. A delivery that loses the insert reads the winner's row and answers
`duplicate`, `conflict` or `in_flight`; a `failed` event (or one left `processing` for
longer than STALE_PROCESSING_S by a crash) is taken over by a conditional UPDATE, so only
one retry processes it again. The side effect (one `side_effects` row, the
"billing" write) and the `processed` mark commit in one transaction before the answer.

SQLite: WAL, a busy timeout, `BEGIN IMMEDIATE` for every transaction and an in-process lock
that serialises writers, so a burst of concurrent deliveries neither deadlocks nor sees
"database is locked". PostgreSQL: the unique index does the serialising.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    and_,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError

from neruba_harden.errors import NerubaError
from neruba_harden.reference import faults as F

log = logging.getLogger("neruba_harden.reference")

Outcome = Literal["accepted", "duplicate", "replay", "rejected", "conflict", "in_flight", "failed"]

PROCESSING = "processing"
PROCESSED = "processed"
FAILED = "failed"

# How long `racy-dedupe` sleeps between its check and its insert: wide enough that a burst
# of concurrent deliveries all pass the check before the first one records its claim.
RACE_WINDOW_S = 0.25

# A `processing` row older than this was abandoned (the process died mid-handler): the next
# delivery takes it over instead of answering `in_flight` forever.
STALE_PROCESSING_S = 120.0

metadata = MetaData()

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(255), nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("type", String(255), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("updated", DateTime(timezone=True), nullable=False),
    UniqueConstraint("event_id", name="uq_webhook_events_event_id"),
    CheckConstraint(
        "state IN ('processing', 'processed', 'failed')", name="ck_webhook_events_state"
    ),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(255), nullable=True, index=True),
    Column("outcome", String(16), nullable=False),
    Column("status", Integer, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

side_effects = Table(
    "side_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(255), nullable=False, index=True),
    Column("kind", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# Claims of the `racy-dedupe` fault: deliberately without a unique constraint.
webhook_claims = Table(
    "webhook_claims",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(255), nullable=False, index=True),
    Column("payload_sha256", String(64), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("claimed_at", DateTime(timezone=True), nullable=False),
)


class StoreError(NerubaError):
    """The database URL is unusable or the database cannot be reached."""


class ClaimLost(Exception):
    """A retry took this delivery's stale claim over: its work must not commit."""


class HandlerFailed(Exception):
    """The event handler raised: the delivery is answered `failed`."""


@dataclass(frozen=True)
class Delivery:
    """One verified delivery, as the store sees it."""

    event_id: str
    payload_sha256: str
    type: str
    request_id: str


def payload_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def normalize_db_url(db_url: str) -> URL:
    """Parse a database URL; a bare `postgresql://` means psycopg 3 (the installed driver)."""
    try:
        url = make_url(db_url)
    except ArgumentError:
        raise StoreError("not a database URL (expected e.g. sqlite:///path.db)") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise StoreError("an in-memory SQLite database cannot be shared; use sqlite:///FILE")
    return url


def make_engine(db_url: str) -> Engine:
    """An engine set up for concurrent webhook bursts on SQLite or PostgreSQL."""
    url = normalize_db_url(db_url)
    try:
        if url.get_backend_name() == "sqlite":
            engine = create_engine(
                url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=10
            )
            event.listen(engine, "connect", _sqlite_on_connect)
            event.listen(engine, "begin", _sqlite_on_begin)
            return engine
        connect_args: dict[str, Any] = {}
        if url.get_backend_name() == "postgresql":
            connect_args["connect_timeout"] = 5
        return create_engine(
            url,
            pool_size=10,
            max_overflow=30,  # with pool_size: anyio's 40 worker threads
            pool_timeout=30,
            pool_pre_ping=True,
            connect_args=connect_args,
        )
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        raise StoreError(f"unusable database URL ({url.drivername}): {first_line(exc)}") from None


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from pysqlite so that BEGIN IMMEDIATE is ours.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Take the write lock up front: a deferred transaction that reads, then writes, can
    # fail with "database is locked" regardless of the busy timeout.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, without SQLAlchemy's background link."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class EventStore:
    """The receiver's database: the dedupe claim, processing, deliveries and read-back."""

    def __init__(
        self,
        db_url: str,
        *,
        faults: frozenset[str] = frozenset(),
        fail_event_type: str = "neruba.smoke.fail",
        stale_after_s: float = STALE_PROCESSING_S,
    ) -> None:
        self.engine = make_engine(db_url)
        self.stale_after_s = stale_after_s
        self.faults = faults
        self.fail_event_type = fail_event_type
        self._write_lock = threading.Lock() if self.engine.dialect.name == "sqlite" else None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        guard: AbstractContextManager[Any] = self._write_lock or nullcontext()
        with guard, self.engine.begin() as conn:
            yield conn

    # -- delivery --------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Outcome:
        """Claim, process and answer one verified delivery (see the module docstring)."""
        if F.NO_DEDUPE in self.faults:
            return self._process_unguarded(delivery)
        if F.RACY_DEDUPE in self.faults:
            return self._deliver_racy(delivery)
        initial = PROCESSED if F.DEDUPE_BEFORE_PROCESSING in self.faults else PROCESSING
        now = utcnow()
        try:
            with self._transaction() as conn:
                conn.execute(
                    insert(webhook_events).values(
                        event_id=delivery.event_id,
                        payload_sha256=delivery.payload_sha256,
                        state=initial,
                        type=delivery.type,
                        first_seen=now,
                        updated=now,
                    )
                )
        except IntegrityError:
            return self._deliver_seen(delivery)
        return self._process(delivery, claimed_at=now)

    def _deliver_seen(self, delivery: Delivery) -> Outcome:
        """The claim insert lost: the event exists; answer from its row."""
        row = self._event_row(delivery.event_id)
        if row is None:  # cannot happen (rows are never deleted); be safe, not sorry
            return "in_flight"
        if row["payload_sha256"] != delivery.payload_sha256:
            return "duplicate" if F.CONFLICT_IGNORED in self.faults else "conflict"
        if row["state"] == PROCESSED:
            return "duplicate"
        cutoff = utcnow() - timedelta(seconds=self.stale_after_s)
        if row["state"] == PROCESSING and _aware(row["updated"]) >= cutoff:
            return "in_flight"
        # Failed before (or abandoned mid-processing by a crash): exactly one retry takes
        # it over and processes it again.
        claimed_at = utcnow()
        with self._transaction() as conn:
            taken = conn.execute(
                update(webhook_events)
                .where(webhook_events.c.event_id == delivery.event_id)
                .where(
                    or_(
                        webhook_events.c.state == FAILED,
                        and_(
                            webhook_events.c.state == PROCESSING,
                            webhook_events.c.updated < cutoff,
                        ),
                    )
                )
                .values(state=PROCESSING, updated=claimed_at)
            ).rowcount
        if taken == 1:
            return self._process(delivery, claimed_at=claimed_at)
        row = self._event_row(delivery.event_id)
        return "duplicate" if row is not None and row["state"] == PROCESSED else "in_flight"

    def _process(self, delivery: Delivery, *, claimed_at: datetime) -> Outcome:
        """Run the handler; its side effect and the `processed` mark commit together.

        `claimed_at` (the row's `updated` when this delivery claimed it) is the lease: if a
        retry took a stale claim over meanwhile, this delivery's work is rolled back.
        """
        mine = (webhook_events.c.event_id == delivery.event_id) & (
            webhook_events.c.updated == claimed_at
        )
        try:
            with self._transaction() as conn:
                self._handle(conn, delivery)
                marked = conn.execute(
                    update(webhook_events).where(mine).values(state=PROCESSED, updated=utcnow())
                ).rowcount
                if marked != 1:
                    raise ClaimLost(delivery.event_id)
        except ClaimLost:
            log.warning(
                "event %s: claim taken over by a retry; work rolled back", delivery.event_id
            )
            return "in_flight"
        except Exception as exc:
            self._log_handler_failure(delivery, exc)
            if F.DEDUPE_BEFORE_PROCESSING not in self.faults:
                with self._transaction() as conn:
                    conn.execute(
                        update(webhook_events).where(mine).values(state=FAILED, updated=utcnow())
                    )
            return "failed"
        return "accepted"

    def _handle(self, conn: Connection, delivery: Delivery) -> None:
        """The event handler: the "billing" side effect, or a raise for the failure type."""
        if delivery.type == self.fail_event_type:
            raise HandlerFailed(f"injected failure for event type {delivery.type}")
        conn.execute(
            insert(side_effects).values(
                event_id=delivery.event_id,
                kind="billing.recorded",
                request_id=delivery.request_id,
                created_at=utcnow(),
            )
        )

    def _process_unguarded(self, delivery: Delivery) -> Outcome:
        """Process without any claim (faults `no-dedupe`, `racy-dedupe`): upsert the row."""
        try:
            with self._transaction() as conn:
                self._handle(conn, delivery)
                self._upsert_state(conn, delivery, PROCESSED)
        except Exception as exc:
            self._log_handler_failure(delivery, exc)
            with self._transaction() as conn:
                self._upsert_state(conn, delivery, FAILED)
            return "failed"
        return "accepted"

    def _upsert_state(self, conn: Connection, delivery: Delivery, state: str) -> None:
        now = utcnow()
        values = {
            "event_id": delivery.event_id,
            "payload_sha256": delivery.payload_sha256,
            "state": state,
            "type": delivery.type,
            "first_seen": now,
            "updated": now,
        }
        # The first payload hash and first_seen stand; only the state moves.
        changes = {"state": state, "updated": now}
        dialect = conn.dialect.name
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            pg = postgresql.insert(webhook_events).values(**values)
            conn.execute(pg.on_conflict_do_update(index_elements=["event_id"], set_=changes))
        elif dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            lite = sqlite.insert(webhook_events).values(**values)
            conn.execute(lite.on_conflict_do_update(index_elements=["event_id"], set_=changes))
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise StoreError(f"unsupported database {dialect}")

    def _deliver_racy(self, delivery: Delivery) -> Outcome:
        """Fault `racy-dedupe`: check, pause, insert — the window a burst slips through."""
        with self._transaction() as conn:
            seen = conn.execute(
                select(webhook_claims.c.payload_sha256)
                .where(webhook_claims.c.event_id == delivery.event_id)
                .order_by(webhook_claims.c.id)
                .limit(1)
            ).scalar_one_or_none()
        if seen is not None:
            if seen != delivery.payload_sha256:
                return "duplicate" if F.CONFLICT_IGNORED in self.faults else "conflict"
            row = self._event_row(delivery.event_id)
            if row is None or row["state"] == PROCESSING:
                return "in_flight"
            if row["state"] == PROCESSED:
                return "duplicate"
            return self._process_unguarded(delivery)
        time.sleep(RACE_WINDOW_S)
        with self._transaction() as conn:
            conn.execute(
                insert(webhook_claims).values(
                    event_id=delivery.event_id,
                    payload_sha256=delivery.payload_sha256,
                    request_id=delivery.request_id,
                    claimed_at=utcnow(),
                )
            )
        return self._process_unguarded(delivery)

    def _log_handler_failure(self, delivery: Delivery, exc: Exception) -> None:
        if isinstance(exc, HandlerFailed):
            log.info("event %s: handler failed: %s", delivery.event_id, exc)
        else:
            log.warning(
                "event %s: processing raised %s: %s",
                delivery.event_id,
                type(exc).__name__,
                first_line(exc),
            )

    def _event_row(self, event_id: str) -> dict[str, Any] | None:
        with self._transaction() as conn:
            row = conn.execute(
                select(webhook_events).where(webhook_events.c.event_id == event_id)
            ).first()
        return None if row is None else dict(row._mapping)

    # -- deliveries and read-back -------------------------------------------------------------

    def record_delivery(
        self, event_id: str | None, outcome: str, status: int, request_id: str
    ) -> None:
        """Record one delivery attempt, whatever its outcome."""
        with self._transaction() as conn:
            conn.execute(
                insert(webhook_deliveries).values(
                    event_id=event_id,
                    outcome=outcome,
                    status=status,
                    request_id=request_id,
                    received_at=utcnow(),
                )
            )

    def readback(self, event_id: str) -> dict[str, Any] | None:
        """The event's state, side-effect count and every delivery; None if never seen."""
        with self._transaction() as conn:
            row = conn.execute(
                select(webhook_events).where(webhook_events.c.event_id == event_id)
            ).first()
            count = conn.execute(
                select(func.count())
                .select_from(side_effects)
                .where(side_effects.c.event_id == event_id)
            ).scalar_one()
            attempts = conn.execute(
                select(webhook_deliveries)
                .where(webhook_deliveries.c.event_id == event_id)
                .order_by(webhook_deliveries.c.id)
            ).all()
        if row is None and not attempts:
            return None
        return {
            "event_id": event_id,
            "state": None if row is None else row.state,
            "payload_sha256": None if row is None else row.payload_sha256,
            "side_effects": int(count),
            "deliveries": [
                {
                    "outcome": a.outcome,
                    "status": a.status,
                    "request_id": a.request_id,
                    "received_at": _iso(a.received_at),
                }
                for a in attempts
            ],
        }


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes: they were written in UTC.
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def _iso(value: datetime) -> str:
    return _aware(value).astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
