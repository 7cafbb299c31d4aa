"""How requests use their database connection: a request that wrote but did not commit leaves nothing behind,
one that only read keeps PostgreSQL's prepared statements, and a connection the server ended while it lay in
the pool is replaced without an error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text

from tourbook import create_app
from tourbook.database import read_only
from tourbook.extensions import db
from tourbook.models import City, Company


@pytest.fixture
def routes(app: Flask) -> Iterator[Flask]:
    """A second application on the test's database, with two views of the kind the application has: one
    reads, the others change something and then refuse without committing. (The test's own application
    keeps one app context open for the whole test, which its requests share; this one's requests each get
    their own, with its end, as in a server.)"""
    server = create_app(dict(app.config))

    def read():  # noqa: ANN202
        return str(db.session.execute(select(func.count()).select_from(City)).scalar())

    def read_with_cte():  # noqa: ANN202 - a SELECT with a WITH clause, as the availability loader sends
        named = select(City.id).where(City.name.is_not(None)).cte("named")
        return str(db.session.execute(select(func.count()).select_from(named)).scalar())

    def write_in_text_cte():  # noqa: ANN202 - SQL text starting with WITH may write: it counts as a write
        db.session.execute(text(
            "WITH made AS (INSERT INTO companies (name, address, created_at) "
            "VALUES ('Nirgendwo GmbH', '', CURRENT_TIMESTAMP) RETURNING id) SELECT count(*) FROM made"))
        return "refused", 422

    def transaction_state():  # noqa: ANN202 - whether the statement ran inside a transaction
        db.session.execute(select(func.count()).select_from(City)).scalar()
        return db.session.connection().connection.driver_connection.info.transaction_status.name

    def write_without_commit():  # noqa: ANN202
        db.session.add(City(name="Nirgendwo", slug="nirgendwo", timezone="Europe/Berlin"))
        db.session.flush()  # written inside the transaction, as a service does before its checks
        return "refused", 422

    def change_without_flush():  # noqa: ANN202
        city = db.session.execute(select(City)).scalars().first()
        city.name = "Umbenannt"
        return "refused", 422

    server.add_url_rule("/_test/read", "test_read", read)
    server.add_url_rule("/_test/read-cte", "test_read_cte", read_with_cte)
    server.add_url_rule("/_test/state", "test_state", transaction_state)
    server.add_url_rule("/_test/state-read-only", "test_state_read_only", read_only(transaction_state))
    server.add_url_rule("/_test/write", "test_write", write_without_commit)
    server.add_url_rule("/_test/write-cte", "test_write_cte", write_in_text_cte)
    server.add_url_rule("/_test/change", "test_change", change_without_flush)
    yield server
    with server.app_context():
        db.engine.dispose()


def test_a_request_that_wrote_without_committing_leaves_nothing(routes, make_city):  # noqa: ANN001
    make_city(name="Siegen")
    client = routes.test_client()
    assert client.get("/_test/write").status_code == 422
    assert client.get("/_test/change").status_code == 422
    assert client.get("/_test/read").get_data(as_text=True) == "1"
    with routes.app_context():
        assert [c.name for c in db.session.execute(select(City)).scalars()] == ["Siegen"]


def _prepared_statements(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar()


@pytest.mark.parametrize("path", ["/_test/read", "/_test/read-cte"])  # a plain SELECT, one with a WITH
def test_reading_requests_keep_prepared_statements_on_postgresql(routes, backend, make_city, path):  # noqa: ANN001
    if backend != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    make_city(name="Siegen")
    client = routes.test_client()
    # One pooled connection serves the requests one after the other; psycopg prepares after five runs.
    # Ended with a ROLLBACK, each request would have dropped what psycopg prepared after the fifth.
    for _ in range(8):
        assert client.get(path).get_data(as_text=True) == "1"
    assert _prepared_statements(routes) >= 1


def test_sql_text_starting_with_with_counts_as_a_write(routes, backend):  # noqa: ANN001
    if backend != "postgresql":
        pytest.skip("SQLite has no INSERT inside a WITH")
    client = routes.test_client()
    assert client.get("/_test/write-cte").status_code == 422
    with routes.app_context():
        assert db.session.execute(select(func.count()).select_from(Company)).scalar() == 0


def test_a_read_only_view_runs_without_a_transaction_and_leaves_none_behind(routes, backend):  # noqa: ANN001
    if backend != "postgresql":
        pytest.skip("SQLite has no round trips to save")
    client = routes.test_client()
    # The pool holds one connection for these requests, one after the other: the read-only view's
    # autocommit must not stay with it, or the next request's writes would each commit on their own.
    for _ in range(3):
        assert client.get("/_test/state-read-only").get_data(as_text=True) == "IDLE"
        assert client.get("/_test/state").get_data(as_text=True) == "INTRANS"


def test_postgresql_sessions_run_in_utc_with_one_plan_per_prepared_statement(routes, backend):  # noqa: ANN001
    if backend != "postgresql":
        pytest.skip("SQLite has no session time zone")
    with routes.app_context():
        zone, instant, plans = db.session.execute(
            text("SELECT current_setting('TimeZone'), now(), current_setting('plan_cache_mode')")).one()
        # A date taken of an instant in SQL is the UTC date, whatever the server's default zone.
        day = db.session.execute(text("SELECT CAST(TIMESTAMPTZ '2026-03-29 23:30:00+00' AS DATE)")).scalar()
    assert zone == "UTC"
    assert plans == "force_generic_plan"
    assert instant.tzinfo is UTC
    assert day.isoformat() == "2026-03-29"


def test_a_connection_the_server_ended_is_replaced_without_an_error(routes, backend, make_city):  # noqa: ANN001
    if backend != "postgresql":
        pytest.skip("SQLite has no server to end a connection")
    make_city(name="Siegen")
    client = routes.test_client()
    assert client.get("/_test/read").get_data(as_text=True) == "1"
    with routes.app_context():
        url = db.engine.url
    db.session.remove()  # the test's own connection goes back to its pool too
    # The server ends every connection of this database, as on a restart, while they lie in the pools
    # (waiting until each backend has gone, so that its last message is there to be read).
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ended = conn.execute(
            text("SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                 "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": url.database}
        ).scalar()
    admin.dispose()
    assert ended >= 1
    health = client.get("/healthz")
    assert (health.status_code, health.get_json()["database"]) == (200, "ok")
    assert "Tourbook" in client.get("/login").get_data(as_text=True)
    assert client.get("/_test/read").get_data(as_text=True) == "1"
