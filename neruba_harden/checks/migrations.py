"""Migrations checks: the database is at every Alembic head, with one head and no drift.

Read-only by design: the checks load the script directory, open one connection and read
the version table (``MigrationContext.get_current_heads``); they never run a migration.

One function emits the three ids so that one root cause gives one finding: a script
directory that cannot be loaded, or a database that cannot be reached, is reported once
(on ``migrations.current``) and the checks that depend on it skip with the reason.

Settings (``[tool.neruba-harden.migrations]``):

``script_location``  the Alembic script directory (or ``package:dir``)
``alembic_ini``      an alembic.ini to take ``script_location`` (and ``sqlalchemy.url``) from
``db``               a secret reference (``vault:…``, ``env:…``, ``file:…``) or a plain URL
``target_metadata``  ``package.module:attr``, a SQLAlchemy MetaData, for the drift check
``version_table``, ``version_table_schema``   when env.py configures non-default ones
"""

from __future__ import annotations

import importlib
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neruba_harden.config import Settings
from neruba_harden.errors import CheckError, ConfigError, NerubaError
from neruba_harden.findings import Finding, Status
from neruba_harden.registry import CheckContext, check

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import URL, Connection

CURRENT = "migrations.current"
SINGLE_HEAD = "migrations.single-head"
DRIFT = "migrations.drift"

TITLES = {
    CURRENT: "Database is at every Alembic head",
    SINGLE_HEAD: "Alembic script directory has a single head",
    DRIFT: "Database schema matches the models",
}

DEFAULT_VERSION_TABLE = "alembic_version"
# Upper bound on the connect timeout, whatever the check's own budget: a database that has
# not answered in this long is not going to.
MAX_CONNECT_TIMEOUT_S = 10.0
MAX_LISTED = 20

SKIP_NOT_CONFIGURED = "not configured: set migrations.script_location or alembic_ini"
SKIP_NO_DB = "no database configured: set migrations.db"
SKIP_NO_METADATA = "not configured: set migrations.target_metadata"
SKIP_SCRIPTS_BLOCKED = "script directory not loaded (see migrations.current)"
SKIP_DB_BLOCKED = "database not checked (see migrations.current)"
SKIP_NOT_AT_HEAD = "database not at head: drift is compared at head (see migrations.current)"

HINT_SCRIPTS = (
    "point migrations.script_location (or migrations.alembic_ini) at the directory that "
    "holds env.py and versions/"
)
HINT_DB = "check migrations.db: host, port, credentials, and that the server is up"
HINT_PENDING = "run `alembic upgrade heads` against this database before deploying"
HINT_UNKNOWN = (
    "the database was migrated by newer code than this: deploy code that contains these "
    "revisions, or downgrade the database with the code that has them (rollback hazard)"
)
HINT_NO_TABLE = (
    "this database was never migrated with Alembic: run `alembic upgrade heads`, or "
    "`alembic stamp` if the schema was created another way"
)
HINT_EMPTY = "the version table is empty (downgraded to base?): run `alembic upgrade heads`"
HINT_HEADS = (
    "run `alembic merge heads -m 'merge'` and commit the merge revision, so that "
    "`upgrade head` is unambiguous"
)
HINT_NO_HEADS = "add a first revision with `alembic revision -m 'initial'`"
HINT_DRIFT = (
    "generate a migration for these differences (`alembic revision --autogenerate`) "
    "or fix the models; then upgrade"
)
HINT_METADATA = "set migrations.target_metadata to 'package.module:attr', a SQLAlchemy MetaData"


@dataclass(frozen=True)
class MigrationsOptions:
    """The migrations.* settings, validated (the database still a reference or URL)."""

    script_location: str | None
    alembic_ini: Path | None
    db: str | None
    target_metadata: str | None
    version_table: str = DEFAULT_VERSION_TABLE
    version_table_schema: str | None = None

    @property
    def configured(self) -> bool:
        return bool(self.script_location or self.alembic_ini)


def migrations_options(settings: Settings) -> MigrationsOptions:
    """Read and type-check the migrations.* keys; raises ConfigError naming the key."""
    settings.section("migrations")  # a scalar `migrations = …` is a configuration error
    ini = settings.get_str("migrations.alembic_ini")
    metadata = settings.get_str("migrations.target_metadata")
    if metadata is not None and (":" not in metadata or metadata.startswith(":")):
        raise ConfigError(
            f"{settings._where('migrations.target_metadata')}: key "
            f"'migrations.target_metadata' must look like 'package.module:attr'"
        )
    return MigrationsOptions(
        script_location=settings.get_str("migrations.script_location") or None,
        alembic_ini=Path(ini).expanduser() if ini else None,
        db=settings.get_str("migrations.db") or None,
        target_metadata=metadata or None,
        version_table=settings.get_str("migrations.version_table") or DEFAULT_VERSION_TABLE,
        version_table_schema=settings.get_str("migrations.version_table_schema") or None,
    )


def validate_settings(settings: Settings) -> None:
    """Preflight's up-front validation hook: raise ConfigError for a malformed key."""
    migrations_options(settings)


def _finding(check_id: str, status: Status, summary: str, hint: str = "",
             duration_s: float = 0.0, **evidence: Any) -> Finding:
    return Finding(check_id, status, summary, evidence, hint, duration_s=duration_s,
                   title=TITLES[check_id])


def _one_line(exc: BaseException) -> str:
    """The first line of an exception's message, without SQLAlchemy's trailing notes."""
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else ""
    line = line.split(" (Background on this error at:", 1)[0]
    return line or type(exc).__name__


def _listed(items: Sequence[str]) -> list[str]:
    items = list(items)
    if len(items) > MAX_LISTED:
        return [*items[:MAX_LISTED], f"... {len(items) - MAX_LISTED} more"]
    return items


# -- script directory --------------------------------------------------------------------

@dataclass(frozen=True)
class Scripts:
    """A loaded script directory and the database URL its alembic.ini names, if any."""

    directory: ScriptDirectory
    location: str
    ini_url: str | None


def load_scripts(options: MigrationsOptions) -> Scripts:
    """Load the Alembic script directory; CheckError with one clear line on any fault."""
    import configparser

    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    ini_url = None
    if options.alembic_ini is not None:
        ini = options.alembic_ini
        if not ini.is_file():
            raise CheckError("alembic.ini not found", HINT_SCRIPTS, {"alembic_ini": str(ini)})
        config = Config(str(ini))
        try:
            config.file_config  # noqa: B018 - parse now, so a bad file is reported here
            if options.script_location is None:
                location = config.get_main_option("script_location")
                if not location:
                    raise CheckError("alembic.ini has no script_location", HINT_SCRIPTS,
                                     {"alembic_ini": str(ini)})
            ini_url = config.get_main_option("sqlalchemy.url") or None
        except configparser.Error as exc:
            raise CheckError("alembic.ini is not a valid INI file", HINT_SCRIPTS,
                             {"alembic_ini": str(ini), "error": _one_line(exc)}) from None
        except CommandError as exc:  # no [alembic] section
            raise CheckError("alembic.ini has no [alembic] section", HINT_SCRIPTS,
                             {"alembic_ini": str(ini), "error": _one_line(exc)}) from None
    else:
        config = Config()
    if options.script_location is not None:
        config.set_main_option("script_location", options.script_location.replace("%", "%%"))
    location = config.get_main_option("script_location") or ""
    try:
        directory = ScriptDirectory.from_config(config)
        if not Path(directory.dir).is_dir():
            raise CheckError("Alembic script directory not found", HINT_SCRIPTS,
                             {"script_location": location, "path": str(directory.dir)})
        if (not config.get_main_option("version_locations")
                and not (Path(directory.dir) / "versions").is_dir()):
            # An empty folder would pass for a script directory with no revisions, and every
            # database revision would look unknown.
            raise CheckError("no versions/ folder in the Alembic script directory",
                             HINT_SCRIPTS, {"script_location": location,
                                            "path": str(directory.dir)})
        directory.get_heads()  # loads every revision file: a broken one shows up here
    except CheckError:
        raise
    except CommandError as exc:
        message = _one_line(exc)
        summary = ("Alembic script directory not found" if "doesn't exist" in message
                   else "Alembic script directory cannot be loaded")
        raise CheckError(summary, HINT_SCRIPTS,
                         {"script_location": location, "error": message}) from None
    except Exception as exc:  # a revision file that does not import, a cycle...
        raise CheckError("Alembic script directory cannot be loaded", HINT_SCRIPTS,
                         {"script_location": location,
                          "error": f"{type(exc).__name__}: {_one_line(exc)}"}) from None
    return Scripts(directory, location, ini_url)


def single_head_finding(scripts: Scripts, duration_s: float) -> Finding:
    heads = sorted(scripts.directory.get_heads())
    evidence: dict[str, Any] = {"script_location": scripts.location, "heads": heads}
    if len(heads) == 1:
        return _finding(SINGLE_HEAD, Status.PASS, f"one head: {heads[0]}",
                        duration_s=duration_s, **evidence)
    if not heads:
        return _finding(SINGLE_HEAD, Status.FAIL, "script directory has no revisions",
                        HINT_NO_HEADS, duration_s, **evidence)
    summary = f"{len(heads)} heads: {', '.join(heads)}"
    if len(summary) > 79:
        summary = f"{len(heads)} heads in the script directory"
    return _finding(SINGLE_HEAD, Status.FAIL, summary, HINT_HEADS, duration_s, **evidence)


# -- database ------------------------------------------------------------------------------

def _database_url(url_text: str) -> URL:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(url_text)
    except (ArgumentError, ValueError):
        raise CheckError("migrations.db is not a database URL",
                         "use a SQLAlchemy URL such as postgresql+psycopg://user@host/db, "
                         "or a secret reference that holds one") from None
    if url.drivername == "postgresql":
        # SQLAlchemy's default PostgreSQL driver is psycopg2; use psycopg 3 when only it is here.
        import importlib.util

        if importlib.util.find_spec("psycopg2") is None and importlib.util.find_spec("psycopg"):
            url = url.set(drivername="postgresql+psycopg")
    return url


def _describe_connect_error(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    message = _one_line(orig)
    lowered = str(orig).lower()
    for needle, reason in (
        ("connection refused", "connection refused"),
        ("timeout expired", "connect timed out"),
        ("timed out", "connect timed out"),
        ("could not translate host name", "unknown host"),
        ("name or service not known", "unknown host"),
        ("password authentication failed", "authentication failed"),
        ("authentication failed", "authentication failed"),
        ("no password supplied", "authentication failed"),
        ("does not exist", "database does not exist"),
        ("unable to open database file", "cannot open database file"),
        ("no such file or directory", "server socket not found"),
    ):
        if needle in lowered:
            return reason
    return message if len(message) <= 50 else message[:49] + "…"


def connect(url: URL, timeout_s: float) -> Connection:
    """Open one read-only connection with a connect timeout; CheckError when it fails."""
    import sqlite3

    from sqlalchemy import create_engine
    from sqlalchemy.exc import NoSuchModuleError
    from sqlalchemy.pool import NullPool

    # Half the check's budget: a database that does not answer is reported by this check,
    # with its own clear line, before the runner's timeout cuts the whole check short.
    connect_timeout = max(1, math.floor(min(timeout_s / 2, MAX_CONNECT_TIMEOUT_S)))
    shown = url.render_as_string(hide_password=True)
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {"poolclass": NullPool}
    if backend == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser().resolve()
            if not path.is_file():
                raise CheckError("SQLite database file not found", HINT_DB,
                                 {"database": shown, "path": str(path)})
            # mode=ro: a check never creates or writes the database it looks at.
            uri = f"{path.as_uri()}?mode=ro"
            kwargs["creator"] = lambda: sqlite3.connect(uri, uri=True, timeout=connect_timeout)
    elif backend in ("postgresql", "mysql", "mariadb"):
        kwargs["connect_args"] = {"connect_timeout": connect_timeout}
    try:
        engine = create_engine(url, **kwargs)
    except NoSuchModuleError:
        raise CheckError(f"unsupported database URL scheme '{url.drivername}'", HINT_DB,
                         {"database": shown}) from None
    except ModuleNotFoundError as exc:
        raise CheckError(f"database driver not installed: {exc.name}",
                         f"install the driver module {exc.name} for {url.drivername} URLs",
                         {"database": shown}) from None
    try:
        return engine.connect()
    except Exception as exc:
        engine.dispose()
        reason = _describe_connect_error(exc)
        host = f"{url.host}:{url.port}" if url.host and url.port else url.host or backend
        raise CheckError(f"database unreachable: {host} ({reason})"[:79], HINT_DB,
                         {"database": shown, "error": _one_line(getattr(exc, "orig", None) or exc)}
                         ) from None


def _ancestors(scripts: ScriptDirectory, revisions: Iterable[str]) -> set[str]:
    applied: set[str] = set()
    for revision in revisions:
        applied.update(r.revision for r in scripts.iterate_revisions(revision, "base"))
    return applied


def _unknown(scripts: ScriptDirectory, revisions: Iterable[str]) -> list[str]:
    from alembic.script.revision import RevisionError

    unknown = []
    for revision in revisions:
        try:
            found = scripts.revision_map.get_revision(revision)
        except RevisionError:
            found = None
        # get_revision also matches prefixes: a database holds full ids, so demand equality.
        if found is None or found.revision != revision:
            unknown.append(revision)
    return unknown


def current_finding(scripts: Scripts, connection: Connection, options: MigrationsOptions,
                    database: str, duration_s: float = 0.0) -> Finding:
    """Compare the database's revisions with the script directory's heads."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import inspect

    directory = scripts.directory
    heads = sorted(directory.get_heads())
    evidence: dict[str, Any] = {"database": database, "script_location": scripts.location}
    table = options.version_table
    if not inspect(connection).has_table(table, schema=options.version_table_schema):
        return _finding(CURRENT, Status.FAIL, f"database has no {table} table", HINT_NO_TABLE,
                        duration_s, **evidence, heads=heads)
    context = MigrationContext.configure(connection, opts={
        "version_table": table, "version_table_schema": options.version_table_schema,
    })
    db_revisions = sorted(context.get_current_heads())
    evidence.update(database_revisions=db_revisions, heads=heads)
    if not db_revisions:
        return _finding(CURRENT, Status.FAIL, f"{table} table is empty: no revision applied",
                        HINT_EMPTY, duration_s, **evidence,
                        pending=_listed([r.revision for r in _oldest_first(directory)]))
    unknown = _unknown(directory, db_revisions)
    if unknown:
        summary = f"database at revision unknown to this code: {', '.join(unknown)}"
        if len(summary) > 79:
            summary = f"database at {len(unknown)} revisions unknown to this code"
        return _finding(CURRENT, Status.FAIL, summary, HINT_UNKNOWN, duration_s, **evidence,
                        unknown_revisions=unknown)
    applied = _ancestors(directory, db_revisions)
    pending = [r.revision for r in _oldest_first(directory) if r.revision not in applied]
    if pending:
        noun = "migration" if len(pending) == 1 else "migrations"
        return _finding(CURRENT, Status.FAIL, f"{len(pending)} {noun} pending: database behind "
                        "head", HINT_PENDING, duration_s, **evidence, pending=_listed(pending))
    return _finding(CURRENT, Status.PASS, f"database at head: {', '.join(db_revisions)}"[:79],
                    duration_s=duration_s, **evidence, pending=[])


def _oldest_first(directory: ScriptDirectory) -> list[Any]:
    # walk_revisions goes from the heads down to base; reversed, it is a topological order.
    return list(reversed(list(directory.walk_revisions())))


# -- drift ---------------------------------------------------------------------------------

def load_metadata(target: str) -> Any:
    """Import ``package.module:attr``; a declarative base's ``.metadata`` is accepted."""
    from sqlalchemy import MetaData

    module_name, _, attr = target.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:  # like alembic's prepend_sys_path = .
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise CheckError(f"cannot import target metadata module {module_name}"[:79],
                         HINT_METADATA, {"target_metadata": target,
                                         "error": f"{type(exc).__name__}: {_one_line(exc)}"}
                         ) from None
    value: Any = module
    for part in attr.split("."):
        value = getattr(value, part, None)
    value = getattr(value, "metadata", value)
    if not isinstance(value, MetaData):
        raise CheckError("target metadata is not a SQLAlchemy MetaData", HINT_METADATA,
                         {"target_metadata": target, "found": type(value).__name__})
    return value


def _name(obj: Any) -> str:
    table = getattr(obj, "table", None)
    name = getattr(obj, "name", None) or type(obj).__name__
    if table is not None and getattr(table, "name", None):
        return f"{table.name}.{name}" if name != table.name else str(name)
    return str(name)


def describe_diff(diff: Any) -> str:
    """One line for one entry of compare_metadata's result."""
    if isinstance(diff, list):  # modify_* entries come grouped per column
        return "; ".join(describe_diff(d) for d in diff)
    op = str(diff[0])
    if op.startswith("modify_") and len(diff) == 7:
        # (op, schema, table, column, info, existing, new)
        _, _, table, column, _, existing, new = diff
        return f"{op} {table}.{column}: {existing} -> {new}"
    if op in ("add_column", "remove_column") and len(diff) == 4:
        _, _, table, column = diff
        return f"{op} {table}.{getattr(column, 'name', column)}"
    if op in ("add_table", "remove_table", "add_index", "remove_index", "add_constraint",
              "remove_constraint", "add_fk", "remove_fk") and len(diff) >= 2:
        return f"{op} {_name(diff[1])}"
    return f"{op} {' '.join(str(part) for part in diff[1:])}"[:200]


def drift_finding(connection: Connection, options: MigrationsOptions,
                  duration_start: float) -> Finding:
    """`alembic check`'s comparison: the live schema against the target metadata."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    target = options.target_metadata or ""
    metadata = load_metadata(target)
    context = MigrationContext.configure(connection, opts={
        "compare_type": True,
        # The version table is Alembic's own, not a model: leave it out of the comparison.
        "version_table": options.version_table,
        "version_table_schema": options.version_table_schema,
    })
    differences = [describe_diff(d) for d in compare_metadata(context, metadata)]
    elapsed = time.perf_counter() - duration_start
    if not differences:
        return _finding(DRIFT, Status.PASS, "schema matches the models",
                        duration_s=elapsed, target_metadata=target, differences=[])
    noun = "difference" if len(differences) == 1 else "differences"
    return _finding(DRIFT, Status.FAIL, f"schema drift: {len(differences)} {noun} from the "
                    "models", HINT_DRIFT, elapsed, target_metadata=target,
                    differences=_listed(differences))


# -- the check -----------------------------------------------------------------------------

def _error(check_id: str, exc: NerubaError, duration_s: float) -> Finding:
    if isinstance(exc, CheckError):
        return _finding(check_id, Status.ERROR, exc.message, exc.hint, duration_s,
                        **exc.evidence)
    message = str(exc).splitlines()[0]
    if not isinstance(exc, ConfigError):  # SecretError: names the reference, never the value
        summary = message if len(message) < 80 else "cannot resolve migrations.db"
        return _finding(check_id, Status.ERROR, summary, HINT_DB, duration_s, error=message)
    # A ConfigError names the file and the key: the key makes the summary, all of it the
    # evidence.
    key = re.search(r"key '([^']+)'", message)
    summary = f"malformed setting {key.group(1)}" if key else "malformed migrations settings"
    return _finding(check_id, Status.ERROR, summary[:79], "fix the setting named in 'error'",
                    duration_s, error=message)


def _skip(check_id: str, reason: str, **evidence: Any) -> Finding:
    return _finding(check_id, Status.SKIP, reason, **evidence)


@check(
    CURRENT,
    title="Alembic migrations: at every head, one head, no drift",
    titles={
        CURRENT: "The database is at every head of the script directory",
        SINGLE_HEAD: "The script directory has a single head",
        DRIFT: "The models match the database schema (alembic check)",
    },
    area="migrations",
    tags=("database", "alembic"),
    needs=("migrations.script_location", "migrations.db"),
    emits=(CURRENT, SINGLE_HEAD, DRIFT),
)
def migrations_checks(ctx: CheckContext) -> list[Finding]:
    """Script directory heads, the database's revisions, and (optionally) schema drift."""
    started = time.perf_counter()
    try:
        options = migrations_options(ctx.settings)
    except ConfigError as exc:
        return [_error(CURRENT, exc, 0.0), _skip(SINGLE_HEAD, SKIP_SCRIPTS_BLOCKED),
                _skip(DRIFT, SKIP_SCRIPTS_BLOCKED)]
    if not options.configured:
        return [_skip(CURRENT, SKIP_NOT_CONFIGURED), _skip(SINGLE_HEAD, SKIP_NOT_CONFIGURED),
                _skip(DRIFT, SKIP_NOT_CONFIGURED)]
    try:
        scripts = load_scripts(options)
    except CheckError as exc:
        return [_error(CURRENT, exc, time.perf_counter() - started),
                _skip(SINGLE_HEAD, SKIP_SCRIPTS_BLOCKED), _skip(DRIFT, SKIP_SCRIPTS_BLOCKED)]
    findings = [single_head_finding(scripts, time.perf_counter() - started)]

    db_text = options.db or scripts.ini_url
    if not db_text:
        return [_skip(CURRENT, SKIP_NO_DB), *findings, _skip(DRIFT, SKIP_NO_DB)]
    try:
        from neruba_harden.secretrefs import resolve_maybe_ref

        url = _database_url(resolve_maybe_ref(db_text, settings=ctx.settings))
        connection = connect(url, ctx.timeout_s)
    except NerubaError as exc:
        return [_error(CURRENT, exc, time.perf_counter() - started), *findings,
                _skip(DRIFT, SKIP_DB_BLOCKED)]
    database = url.render_as_string(hide_password=True)
    try:
        current = current_finding(scripts, connection, options, database)
        current = current.with_(duration_s=time.perf_counter() - started)
        findings.insert(0, current)
        if options.target_metadata is None:
            findings.append(_skip(DRIFT, SKIP_NO_METADATA))
        elif current.status is not Status.PASS:
            findings.append(_skip(DRIFT, SKIP_NOT_AT_HEAD))
        else:
            drift_started = time.perf_counter()
            try:
                findings.append(drift_finding(connection, options, drift_started))
            except CheckError as exc:
                findings.append(_error(DRIFT, exc, time.perf_counter() - drift_started))
    except Exception as exc:  # the database answered, then a query failed
        if not any(f.check_id == CURRENT for f in findings):
            findings.insert(0, _finding(
                CURRENT, Status.ERROR, "cannot read the database's Alembic revisions",
                HINT_DB, time.perf_counter() - started, database=database,
                error=f"{type(exc).__name__}: {_one_line(exc)}"))
        else:
            findings.append(_finding(
                DRIFT, Status.ERROR, "cannot compare the schema with the models", HINT_DB,
                time.perf_counter() - started, database=database,
                error=f"{type(exc).__name__}: {_one_line(exc)}"))
    finally:
        connection.close()
        connection.engine.dispose()
    return findings
