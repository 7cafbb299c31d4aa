"""The database connections of requests: how a request's transaction ends, and how a pooled connection is
checked before use.

How a transaction ends, so that PostgreSQL keeps its prepared statements:

psycopg 3 prepares a statement on the server after it ran five times on a connection, and then skips parsing
and planning it: most of the server's work for the small queries of a page. It forgets every prepared
statement on ROLLBACK, and SQLAlchemy ends every request by rolling back: nothing would stay prepared. A
request that only read ends with COMMIT instead, which for a read-only transaction means the same and keeps
them. Anything that may have written (an INSERT, UPDATE or DELETE on the connection, or pending changes in
the session) is still rolled back, as before.

A view that only reads and is asked often (the live availability beside the booking form) can go further
with ``read_only``: on PostgreSQL its statements run outside a transaction, which saves the BEGIN and COMMIT
round trips; each statement still sees one consistent state.

On SQLite, which locks the whole database for a write, a transaction that has read and then writes is
refused at once ("database is locked") when another connection wrote in between. So SQLAlchemy emits BEGIN
itself: ``BEGIN IMMEDIATE``, which takes the write lock first (others wait for it), for the services'
``write_transaction`` and for every request that may write (any method but GET, HEAD and OPTIONS).

A pooled connection to PostgreSQL is checked without a round trip: when the server ends a connection (a
restart, an administrator terminating it, an idle timeout) it sends a last message and closes the socket,
so an idle connection whose socket has something to read is gone. SQLAlchemy's ``pool_pre_ping`` would
send a ``SELECT 1`` before every request for the same answer."""

from __future__ import annotations

import logging
import os
import select
import string
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache, wraps
from typing import Any

from flask import Flask, g, request
from sqlalchemy import ColumnElement, event, func, or_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from .extensions import db

log = logging.getLogger("tourbook.database")

_WROTE = "tourbook_wrote"
_READS = ("SELECT", "BEGIN")  # BEGIN alone is SQLite's deferred start (_sqlite_begin)
_BEGIN_IMMEDIATE: ContextVar[bool] = ContextVar("tourbook_begin_immediate", default=False)
_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn) -> None:  # noqa: ANN001
    """pysqlite's own BEGIN is switched off (see security._sqlite_pragmas); we emit it, IMMEDIATE on request."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _BEGIN_IMMEDIATE.get() else "BEGIN")


@contextmanager
def write_transaction(session: Session) -> Iterator[None]:
    """Run the body in a transaction that holds SQLite's write lock from its first statement."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    real = session() if hasattr(session, "registry") else session  # a scoped_session proxies the real one
    if real.in_transaction():
        session.commit()  # end the read transaction of the request: nothing is pending at a service's start
    token = _BEGIN_IMMEDIATE.set(True)
    try:
        session.connection()  # begins now, with the lock
    finally:
        _BEGIN_IMMEDIATE.reset(token)
    yield


def end_transaction_keeping_what_was_read() -> None:
    """End the request's transaction, keeping the loaded objects as they are (no reading them again): on
    SQLite a POST holds the write lock until then, which slow work (checking a password) must not keep."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def _writes_take_the_lock_first() -> None:
    """SQLite: a request that may write begins its transactions with the write lock (see the module's notes);
    others writing at the same moment wait for it (up to the busy timeout) instead of failing."""
    if request.method in _SAFE_METHODS or db.engine.dialect.name != "sqlite":
        return
    session = db.session()
    if session.in_transaction() and not (session.new or session.dirty or session.deleted):
        session.commit()  # something read before this hook: begin again, with the lock
    g.tourbook_immediate = _BEGIN_IMMEDIATE.set(True)


def _release_the_flag(exc: BaseException | None) -> None:
    token = g.pop("tourbook_immediate", None)
    if token is not None:
        _BEGIN_IMMEDIATE.reset(token)


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
    compiled = getattr(context, "compiled", None)
    if compiled is not None and not context.is_text:
        # A statement SQLAlchemy built says what it is: a SELECT with a WITH clause only reads.
        if context.isinsert or context.isupdate or context.isdelete:
            conn.info[_WROTE] = True
        return
    # SQL text: only what starts like a read is one (a WITH may hold an INSERT, so it counts as a write).
    head = statement.lstrip()[:16].upper()
    if not head.startswith(_READS) or head.startswith("BEGIN IMMEDIATE"):
        conn.info[_WROTE] = True


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _transaction_ended(conn) -> None:  # noqa: ANN001
    conn.info.pop(_WROTE, None)


def _end_read_only_transaction(exc: BaseException | None) -> None:
    """Runs before Flask-SQLAlchemy closes the session (teardown functions run in reverse order)."""
    if exc is not None or not db.session.registry.has():
        return
    session = db.session()
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return
    try:
        connection = session.connection()
        if connection.info.get(_WROTE) or connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # (read_only: no transaction on the server to end; closing the session costs less)
        session.commit()
    except Exception:  # noqa: BLE001 - the connection broke: closing the session rolls back and discards it
        log.warning("could not end a read-only transaction", exc_info=True)


@event.listens_for(Engine, "do_connect")
def _session_settings(dialect, connection_record, cargs, cparams) -> None:  # noqa: ANN001
    """PostgreSQL sessions run in UTC, whatever the server's default: instants are stored and compared as
    such anyway, a date taken of an instant in SQL does not depend on the server's setting, and psycopg
    hands out datetimes in UTC (with its zone database's "Etc/UTC" every conversion costs ten times as much,
    which the availability loader does thousands of times).

    And a statement psycopg has prepared (after its fifth run on a connection) keeps one plan: PostgreSQL
    would otherwise plan the loader's statement again for most runs, which costs it more than running it
    (the booking benchmark's throughput: +10 %). Tourbook's statements are small and their plans do not
    depend on the values asked for; a one-off statement (a report, the purge) is planned with its values."""
    if dialect.name == "postgresql":
        # Added to the options of the URL, or else of PGOPTIONS, which an options parameter would replace.
        given = cparams.get("options", os.environ.get("PGOPTIONS", ""))
        cparams["options"] = (given + " -c TimeZone=UTC -c plan_cache_mode=force_generic_plan").strip()


@event.listens_for(Pool, "checkout")
def _check_alive(dbapi_connection, connection_record, connection_proxy) -> None:  # noqa: ANN001
    """Raising DisconnectionError makes the pool throw this connection away and take another (or a new)."""
    if not type(dbapi_connection).__module__.startswith("psycopg"):
        return  # SQLite: a file, nothing to lose
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("the connection is closed")
    try:
        readable, _w, _x = select.select([dbapi_connection.fileno()], [], [], 0)
    except (OSError, ValueError) as exc:
        raise DisconnectionError(str(exc)) from exc
    if readable:
        raise DisconnectionError("the server ended the connection while it was idle")


def read_only(view: Callable) -> Callable:
    """Decorate a view that never writes: on PostgreSQL the request's session uses its connection in
    autocommit, so that no BEGIN and COMMIT go to the server (the sign-in check, which may note the time of
    the visit, is one statement and commits by itself anyway). Put it outside the access decorators, so that
    it comes before the first statement of the request; later than that it leaves the request as it is."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        session = db.session()
        if not session.in_transaction() and session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        return view(*args, **kwargs)

    return wrapped


def init_app(app: Flask) -> None:
    app.before_request(_writes_take_the_lock_first)
    app.teardown_request(_release_the_flag)
    app.teardown_appcontext(_end_read_only_transaction)


# --- searching names without their accents -------------------------------------------------------------------

def _folding() -> tuple[str, str]:
    """Letters as the search compares them, one for one: accented Latin letters (as in Czech, Polish, Turkish,
    French or Spanish names) and capitals become plain small letters. For translate() on both databases (the
    SQL function of PostgreSQL; SQLite gets the same function at connect, sqlite_translate)."""
    special = {"ı": "i", "ł": "l", "đ": "d", "ø": "o", "ħ": "h"}
    accented = "".join(chr(c) for c in range(0xC0, 0x180) if chr(c).isalpha() and chr(c).islower()
                       and (chr(c) in special or unicodedata.normalize("NFKD", chr(c))[0] != chr(c)))
    plain = [special.get(ch) or unicodedata.normalize("NFKD", ch)[0] for ch in accented]
    capitals = [ch.upper() for ch in accented]
    keep = [(c, p) for c, p in zip(capitals, plain, strict=True) if len(c) == 1 and not c.isascii()]
    source = accented + "".join(c for c, _p in keep) + string.ascii_uppercase
    target = "".join(plain) + "".join(p for _c, p in keep) + string.ascii_lowercase
    return source, target


FOLD_FROM, FOLD_TO = _folding()
_FOLD_TABLE = str.maketrans(FOLD_FROM, FOLD_TO)


def folded(text: str) -> str:
    """What a search for ``text`` compares: small letters without accents (as translate(column, FOLD_FROM,
    FOLD_TO) gives in SQL)."""
    return text.lower().translate(_FOLD_TABLE)


def any_contains_folded(columns: Iterable[ColumnElement], text: str) -> ColumnElement[bool]:
    """Whether one of ``columns`` contains ``text``, literally (% and _ are no wildcards) and with accents and
    capitals counting for nothing on both sides: "novakova" finds Nováková."""
    like = "%" + folded(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return or_(*(func.translate(column, FOLD_FROM, FOLD_TO).like(like, escape="\\") for column in columns))


@lru_cache(maxsize=8)
def _table(source: str, target: str) -> dict:
    return str.maketrans(source, target)


def sqlite_translate(value: str | None, source: str, target: str) -> str | None:
    """PostgreSQL's translate(), for SQLite (equal lengths only: all Tourbook asks of it)."""
    return None if value is None else value.translate(_table(source, target))
