"""Storage of the reference receiver: tables, engine setup and the atomic dedupe claim.

The contract's duplicate guarantee rests on one rule: an event is claimed by INSERTing it
under the UNIQUE constraint on `webhook_events.event_id` (`INSERT ... ON CONFLICT (event_id)
DO NOTHING`: the claim is won by the one insert that takes effect), never by checking first
and inserting after. A delivery whose insert did nothing reads the winner's row in the same
transaction and answers `duplicate`, `conflict` or `in_flight`; a `failed` event (or one left
`processing` for longer than STALE_PROCESSING_S by a crash) is taken over by a conditional
UPDATE, so only one retry processes it again. The side effect (one `side_effects` row, the
"billing" write), the `processed` mark and the delivery's own attempt record commit in one
transaction before the answer.

Every delivery attempt is recorded (`webhook_deliveries`), in the transaction that settles
its outcome where there is one: a fresh event costs two transactions (the claim, then the
work), a redelivery one.

Cost: statements are built once at import and executed with parameters, so SQLAlchemy's
compiled cache serves them without rebuilding or re-keying a construct per request.

SQLite: WAL, a busy timeout, `BEGIN IMMEDIATE` for every write transaction and an in-process
lock that serialises writers, so a burst of concurrent deliveries neither deadlocks nor sees
"database is locked"; reads (the read-back) run in deferred transactions outside the lock.
`synchronous=NORMAL`: in WAL mode a commit is in the log before the answer goes out, so it
survives a crash of the receiver process; only a power loss or an OS crash before the next
checkpoint can lose the last commits. That is the durability a reference receiver needs, at
a fraction of `FULL`'s fsync per commit; a production receiver on SQLite that must survive
power loss would set `synchronous=FULL`. PostgreSQL: the unique index does the serialising,
and its commits are durable as configured on the server.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
    bindparam,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.sql.expression import Executable

from neruba_harden.errors import NerubaError
from neruba_harden.reference import faults as F

log = logging.getLogger("neruba_harden.reference")

Outcome = Literal["accepted", "duplicate", "replay", "rejected", "conflict", "in_flight", "failed"]

# The status code of each outcome (CONTRACT.md); a delivery attempt is recorded with it.
STATUS: dict[str, int] = {
    "accepted": 200,
    "duplicate": 200,
    "replay": 400,
    "rejected": 400,
    "conflict": 422,
    "in_flight": 409,
    "failed": 500,
}

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

# -- statements ---------------------------------------------------------------------------
# Built once and executed with parameter dicts: SQLAlchemy's compiled cache keys each one once
# (the key is memoized on the construct) instead of rebuilding and re-keying it per request.

_ev = webhook_events.c
_INSERT_DELIVERY = insert(webhook_deliveries)
_INSERT_SIDE_EFFECT = insert(side_effects)
_SELECT_EVENT = select(_ev.payload_sha256, _ev.state, _ev.updated).where(
    _ev.event_id == bindparam("b_event_id")
)
# Settle a claim, under its lease: only while `updated` is still the claim's own timestamp.
_SETTLE = (
    update(webhook_events)
    .where(_ev.event_id == bindparam("b_event_id"))
    .where(_ev.updated == bindparam("b_claimed_at", type_=_ev.updated.type))
    .values(
        state=bindparam("b_state", type_=_ev.state.type),
        updated=bindparam("b_now", type_=_ev.updated.type),
    )
)
# Take a failed (or abandoned) event over: the WHERE makes only one retry win it.
_TAKE_OVER = (
    update(webhook_events)
    .where(_ev.event_id == bindparam("b_event_id"))
    .where(
        or_(
            _ev.state == FAILED,
            and_(
                _ev.state == PROCESSING,
                _ev.updated < bindparam("b_cutoff", type_=_ev.updated.type),
            ),
        )
    )
    .values(state=PROCESSING, updated=bindparam("b_now", type_=_ev.updated.type))
)
_COUNT_SIDE_EFFECTS = (
    select(func.count())
    .select_from(side_effects)
    .where(side_effects.c.event_id == bindparam("b_event_id"))
)
_READ_ATTEMPTS = (
    select(
        webhook_deliveries.c.outcome,
        webhook_deliveries.c.status,
        webhook_deliveries.c.request_id,
        webhook_deliveries.c.received_at,
    )
    .where(webhook_deliveries.c.event_id == bindparam("b_event_id"))
    .order_by(webhook_deliveries.c.id)
)


def _claim_statement(dialect: str) -> Executable:
    """`INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING id`: a row back = claim won.

    (The returned row, not the row count: with SQLAlchemy's implicit RETURNING of the primary
    key on PostgreSQL, the count reads -1.)
    """
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        pg = postgresql.insert(webhook_events).on_conflict_do_nothing(index_elements=["event_id"])
        return pg.returning(webhook_events.c.id)
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        lite = sqlite.insert(webhook_events).on_conflict_do_nothing(index_elements=["event_id"])
        return lite.returning(webhook_events.c.id)
    raise StoreError(f"the reference receiver supports SQLite and PostgreSQL, not {dialect}")


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


# Execution option of the connections that only read (SQLite: a deferred transaction).
READ_ONLY = "neruba_read_only"


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
    # Writes take the write lock up front: a deferred transaction that reads, then writes,
    # can fail with "database is locked" regardless of the busy timeout. Reads (the
    # READ_ONLY execution option) stay deferred: in WAL mode they never wait for a writer.
    # One statement with no parameters or result: sent on the driver connection directly.
    mode = "BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE"
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.execute(mode)


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
        dialect = self.engine.dialect.name
        self._claim = _claim_statement(dialect)
        self._write_lock = threading.Lock() if dialect == "sqlite" else None
        self._reader = self.engine.execution_options(**{READ_ONLY: True})

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A write transaction (on SQLite: under the writer lock, BEGIN IMMEDIATE)."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read-only transaction: one consistent snapshot, outside the writer lock."""
        with self._reader.begin() as conn:
            yield conn

    # -- delivery --------------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Outcome:
        """Claim, process, record and answer one verified delivery (see the module docstring).

        The attempt is in `webhook_deliveries` when this returns. When it raises (the
        database failed), the attempt may be unrecorded, and a claim it made may stay
        `processing` until a retry takes it over as stale.
        """
        if F.NO_DEDUPE in self.faults:
            return self._recorded(delivery, self._process_unguarded(delivery))
        if F.RACY_DEDUPE in self.faults:
            return self._recorded(delivery, self._deliver_racy(delivery))
        initial = PROCESSED if F.DEDUPE_BEFORE_PROCESSING in self.faults else PROCESSING
        now = utcnow()
        with self._transaction() as conn:
            claim = {
                "event_id": delivery.event_id,
                "payload_sha256": delivery.payload_sha256,
                "state": initial,
                "type": delivery.type,
                "first_seen": now,
                "updated": now,
            }
            if conn.execute(self._claim, claim).first() is not None:
                claimed_at = now
            else:
                seen = self._deliver_seen(conn, delivery)
                if not isinstance(seen, datetime):
                    self._record(conn, delivery.event_id, seen, delivery.request_id)
                    return seen
                claimed_at = seen
        return self._process(delivery, claimed_at=claimed_at)

    def _deliver_seen(self, conn: Connection, delivery: Delivery) -> Outcome | datetime:
        """The claim insert did nothing: the event exists; answer from its row.

        Returns the outcome, or the new lease (`updated`) when this delivery took a failed
        or abandoned event over and must process it again.
        """
        key = {"b_event_id": delivery.event_id}
        row = conn.execute(_SELECT_EVENT, key).first()
        if row is None:  # cannot happen (rows are never deleted); be safe, not sorry
            return "in_flight"
        if row.payload_sha256 != delivery.payload_sha256:
            return "duplicate" if F.CONFLICT_IGNORED in self.faults else "conflict"
        if row.state == PROCESSED:
            return "duplicate"
        cutoff = utcnow() - timedelta(seconds=self.stale_after_s)
        if row.state == PROCESSING and _aware(row.updated) >= cutoff:
            return "in_flight"
        # Failed before (or abandoned mid-processing by a crash): exactly one retry takes
        # it over and processes it again.
        claimed_at = utcnow()
        taken = conn.execute(_TAKE_OVER, {**key, "b_cutoff": cutoff, "b_now": claimed_at})
        if taken.rowcount == 1:
            return claimed_at
        row = conn.execute(_SELECT_EVENT, key).first()
        return "duplicate" if row is not None and row.state == PROCESSED else "in_flight"

    def _process(self, delivery: Delivery, *, claimed_at: datetime) -> Outcome:
        """Run the handler; its side effect, the `processed` mark and the attempt commit together.

        `claimed_at` (the row's `updated` when this delivery claimed it) is the lease: if a
        retry took a stale claim over meanwhile, this delivery's work is rolled back.
        """
        lease = {"b_event_id": delivery.event_id, "b_claimed_at": claimed_at}
        try:
            with self._transaction() as conn:
                self._handle(conn, delivery)
                marked = conn.execute(_SETTLE, {**lease, "b_state": PROCESSED, "b_now": utcnow()})
                if marked.rowcount != 1:
                    raise ClaimLost(delivery.event_id)
                self._record(conn, delivery.event_id, "accepted", delivery.request_id)
        except ClaimLost:
            log.warning(
                "event %s: claim taken over by a retry; work rolled back", delivery.event_id
            )
            return self._recorded(delivery, "in_flight")
        except Exception as exc:
            self._log_handler_failure(delivery, exc)
            with self._transaction() as conn:
                if F.DEDUPE_BEFORE_PROCESSING not in self.faults:
                    conn.execute(_SETTLE, {**lease, "b_state": FAILED, "b_now": utcnow()})
                self._record(conn, delivery.event_id, "failed", delivery.request_id)
            return "failed"
        return "accepted"

    def _handle(self, conn: Connection, delivery: Delivery) -> None:
        """The event handler: the "billing" side effect, or a raise for the failure type."""
        if delivery.type == self.fail_event_type:
            raise HandlerFailed(f"injected failure for event type {delivery.type}")
        conn.execute(
            _INSERT_SIDE_EFFECT,
            {
                "event_id": delivery.event_id,
                "kind": "billing.recorded",
                "request_id": delivery.request_id,
                "created_at": utcnow(),
            },
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
        with self._read() as conn:
            row = conn.execute(_SELECT_EVENT, {"b_event_id": event_id}).first()
        return None if row is None else dict(row._mapping)

    # -- deliveries and read-back -------------------------------------------------------------

    def _record(
        self, conn: Connection, event_id: str | None, outcome: str, request_id: str
    ) -> None:
        conn.execute(
            _INSERT_DELIVERY,
            {
                "event_id": event_id,
                "outcome": outcome,
                "status": STATUS[outcome],
                "request_id": request_id,
                "received_at": utcnow(),
            },
        )

    def _recorded(self, delivery: Delivery, outcome: Outcome) -> Outcome:
        """Record the attempt of a delivery whose outcome was settled without a record."""
        self.record_delivery(delivery.event_id, outcome, STATUS[outcome], delivery.request_id)
        return outcome

    def record_delivery(
        self, event_id: str | None, outcome: str, status: int, request_id: str
    ) -> None:
        """Record one delivery attempt, whatever its outcome (`deliver` records its own)."""
        with self._transaction() as conn:
            conn.execute(
                _INSERT_DELIVERY,
                {
                    "event_id": event_id,
                    "outcome": outcome,
                    "status": status,
                    "request_id": request_id,
                    "received_at": utcnow(),
                },
            )

    def readback(self, event_id: str) -> dict[str, Any] | None:
        """The event's state, side-effect count and every delivery; None if never seen."""
        key = {"b_event_id": event_id}
        with self._read() as conn:
            row = conn.execute(_SELECT_EVENT, key).first()
            count = conn.execute(_COUNT_SIDE_EFFECTS, key).scalar_one()
            attempts = conn.execute(_READ_ATTEMPTS, key).all()
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
