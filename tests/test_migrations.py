"""`flask db upgrade` builds exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import BASE_CONFIG, PG_URL
from flask import Flask
from sqlalchemy import Table, column, create_engine, inspect, make_url, table, text

from tourbook import PROJECT_ROOT, create_app
from tourbook.extensions import db
from tourbook.models import UTCDateTime

BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _postgres_scratch_url() -> str:
    """A database of its own next to the test database, emptied for each test."""
    url = make_url(PG_URL)
    scratch = url.set(database=f"{url.database}_migrations")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": scratch.database}
        ).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{scratch.database}"'))
    admin.dispose()
    engine = create_engine(scratch)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return scratch.render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def empty_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An application on an empty database (no tables at all)."""
    uri = f"sqlite:///{tmp_path / 'empty.sqlite'}" if request.param == "sqlite" else _postgres_scratch_url()
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": uri})
    yield app
    with app.app_context():
        db.engine.dispose()


def flask_db(app: Flask, *args: str) -> None:
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, (result.output, result.exception)


def _only_about_utc_datetime(diff: object) -> bool:
    """A type difference the comparison reports because UTCDateTime wraps DateTime(timezone=True)."""
    changes = diff if isinstance(diff, list) else [diff]
    return all(
        isinstance(change, tuple) and change[0] == "modify_type" and isinstance(change[-1], UTCDateTime)
        for change in changes
    )


def schema_differences(app: Flask) -> list:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, db.metadata)
    return [d for d in diffs if not _only_about_utc_datetime(d)]


def test_upgrade_builds_the_schema_of_the_models(empty_app: Flask):
    flask_db(empty_app, "upgrade")
    assert schema_differences(empty_app) == []
    with empty_app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


def test_migrations_go_down_and_up_again(empty_app: Flask):
    flask_db(empty_app, "upgrade")
    flask_db(empty_app, "downgrade", "base")
    with empty_app.app_context():
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    flask_db(empty_app, "upgrade")
    assert schema_differences(empty_app) == []


def test_the_migrations_have_one_head():
    """Two branches (two features adding migrations at once) would make `flask db upgrade` stop."""
    heads = ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_heads()
    assert len(heads) == 1, heads


def test_sqlite_enforces_foreign_keys(empty_app: Flask):
    flask_db(empty_app, "upgrade")
    from sqlalchemy.exc import IntegrityError

    from tourbook.models import User

    with empty_app.app_context():
        db.session.add(User(email="x@example.org", name="X", role="guide", city_id=4711))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()


def _tours_without(tours: Table, *later: str) -> Table:
    """The tours table as it was before later migrations added ``later`` columns (which the model inserts)."""
    return table("tours", *(column(c.name, c.type) for c in tours.columns if c.name not in later))


def _triggers_on_tours(app: Flask) -> set[str]:
    with app.app_context(), db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'tours'"))
        else:
            rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE tgrelid = 'tours'::regclass "
                                     "AND NOT tgisinternal"))
        return {name for (name,) in rows}


def test_0012_adds_language_accepted_as_false_and_keeps_the_feed_triggers(empty_app: Flask):
    flask_db(empty_app, "upgrade", "0011_tour_meeting_place")
    triggers = _triggers_on_tours(empty_app)
    assert triggers  # the guides' feed versions count with every change of their tours (0007, 0010)
    from datetime import UTC, datetime, timedelta

    from tourbook.models import City, Company, Tour

    at = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    with empty_app.app_context(), db.engine.begin() as conn:
        city_id = conn.execute(City.__table__.insert().values(name="Siegen", slug="siegen")).inserted_primary_key[0]
        company_id = conn.execute(Company.__table__.insert().values(name="Firma", address="Hüttenstraße 12")
                                  ).inserted_primary_key[0]
        conn.execute(_tours_without(Tour.__table__, "language_accepted").insert().values(
            uid="u", token="t", city_id=city_id, company_id=company_id, status="needs_guide", starts_at=at,
            ends_at=at + timedelta(hours=2), blocked_until=at + timedelta(hours=2), consent_at=at, meeting_point="",
            partner_language="en", interests="", people=1, sequence=0, created_at=at, updated_at=at,
        ))
    flask_db(empty_app, "upgrade")
    with empty_app.app_context(), db.engine.connect() as conn:
        assert conn.execute(text("SELECT language_accepted FROM tours")).scalar_one() in (False, 0)
    assert _triggers_on_tours(empty_app) == triggers
    flask_db(empty_app, "downgrade", "0011_tour_meeting_place")
    with empty_app.app_context():
        assert "language_accepted" not in {c["name"] for c in inspect(db.engine).get_columns("tours")}
    assert _triggers_on_tours(empty_app) == triggers


def test_tours_booked_before_0011_have_their_station_and_city_hall_recognised(empty_app: Flask):
    """0011 keeps which meeting point was chosen; for tours booked before, the station and the city hall are
    recognised by the name the form wrote then, in English or German, and anything else stays text."""
    from datetime import UTC, datetime, timedelta

    from tourbook.models import City, Company, Tour

    flask_db(empty_app, "upgrade", "0010_feed_version_per_statement")
    at = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
    points = {"Siegen main station": "station", "Siegen Hauptbahnhof": "station", "City hall Siegen": "city_hall",
              "Rathaus Siegen": "city_hall", "Hüttenstraße 12, 57072 Siegen": None, "Olpe Hauptbahnhof": None}
    with empty_app.app_context(), db.engine.begin() as conn:
        city_id = conn.execute(City.__table__.insert().values(name="Siegen", slug="siegen")).inserted_primary_key[0]
        company_id = conn.execute(Company.__table__.insert().values(name="Firma", address="Hüttenstraße 12")
                                  ).inserted_primary_key[0]
        tours = _tours_without(Tour.__table__, "meeting_place", "language_accepted")
        for number, point in enumerate(points):
            conn.execute(tours.insert().values(
                uid=f"uid-{number}", token=f"token-{number}", city_id=city_id, company_id=company_id,
                status="needs_guide", starts_at=at, ends_at=at + timedelta(hours=2),
                blocked_until=at + timedelta(hours=2), consent_at=at, meeting_point=point, partner_language="de",
                interests="", people=1, sequence=0, created_at=at, updated_at=at,
            ))
    flask_db(empty_app, "upgrade")
    with empty_app.app_context(), db.engine.connect() as conn:
        found = dict(conn.execute(text("SELECT meeting_point, meeting_place FROM tours")).all())
    assert found == points
    flask_db(empty_app, "downgrade", "0010_feed_version_per_statement")
    with empty_app.app_context():
        columns = {c["name"] for c in inspect(db.engine).get_columns("tours")}
    assert "meeting_point" in columns and "meeting_place" not in columns
