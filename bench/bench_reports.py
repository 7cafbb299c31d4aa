"""How fast the reports answer, and how long the purge of partner data takes, on the 200-guide city.

- ``report_year``: the coordinator's page ``/reports/?from=…&to=…`` for one year (September 2025 to August
  2026: about 20,000 of the city's 40,000 tours), rendered in full — the view's ``build_report`` and the
  template with its eight SVG charts and tables. Each iteration is a fresh request context and a fresh
  database session (nothing cached in the identity map). The signed-in coordinator is a transient account
  (never written to the shared data set). Target (issue 6): under 200 ms median. The line also carries
  ``build_median_ms`` (``build_report`` alone) and ``baseline_median_ms`` (a fresh session loading the city,
  the fixed cost every request pays), measured in the same run.
- ``purge_year``: ``purge_partner_data`` erasing a year of tours (those that ended more than 30 days before
  1 March 2026 + 30 days, about 20,000), with two outbox messages per tour to delete. It runs on a copy:
  on SQLite a backup of the benchmark file into a temporary file; on PostgreSQL inside a transaction that is
  rolled back (the purge's commits become savepoints), so the shared data set never changes. Target: under
  10 s. ``second_run_ms`` is the run right after, which must erase nothing.

Run alone with ``python -m bench reports`` (``bench/__main__.py`` finds every ``bench_*.py``)."""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time as clock
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from flask import Flask
from flask_login import login_user
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from tourbook import create_app
from tourbook.extensions import db
from tourbook.models import City, OutboxMessage, Role, Tour, User
from tourbook.privacy import purge_partner_data
from tourbook.reports import build_report

from .data import BENCH_CONFIG, FIRST_DAY, ZONE, Dataset, note

TARGETS_MS = {"report_year": 200.0, "purge_year": 10_000.0}
ITERATIONS = {"report_year": 40, "baseline": 200}
WARMUP = 3
YEAR = (date(2025, 9, 1), date(2026, 8, 31))
# The purge's clock: the first year of tours (from FIRST_DAY on) is more than the city's 30 days past.
PURGE_NOW = datetime.combine(FIRST_DAY + timedelta(days=365 + 30), time(3), ZONE).astimezone(UTC)
MESSAGES_PER_TOUR = 2


def _measure(once: Callable[[], object], iterations: int,
             warmup: int = WARMUP) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each of ``iterations`` calls (after ``warmup`` untimed ones)."""
    for _ in range(warmup):
        once()
    wall, cpu = [], []
    for _ in range(iterations):
        began, began_cpu = clock.perf_counter_ns(), clock.process_time_ns()
        once()
        cpu.append((clock.process_time_ns() - began_cpu) / 1e6)
        wall.append((clock.perf_counter_ns() - began) / 1e6)
    return wall, cpu


def _summary(wall: list[float], cpu: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(wall), 3),
        "p95_ms": round(statistics.quantiles(wall, n=100, method="inclusive")[94], 3),
        "cpu_median_ms": round(statistics.median(cpu), 3),
    }


def run(datasets: list[Dataset]) -> Iterator[dict]:
    for dataset in datasets:
        with dataset.app.app_context():
            yield report_year(dataset)
        yield purge_year(dataset)


# --- report_year -----------------------------------------------------------------------------------------


def report_year(dataset: Dataset) -> dict:
    app = dataset.app
    city_id = dataset.city_id
    start, end = YEAR
    path = f"/reports/?from={start.isoformat()}&to={end.isoformat()}"
    view = app.view_functions["reports.index"]
    sizes: list[int] = []

    def page_once() -> None:
        with app.test_request_context(path, headers={"Accept-Language": "de"}):
            coordinator = User(id=0, email="bench-coordinator@bench.example", name="Bench Coordinator",
                               role=Role.COORDINATOR, city_id=city_id, language="de", active=True,
                               city=db.session.get(City, city_id))
            login_user(coordinator)
            response = view()
            body = response.get_data()
            assert response.status_code == 200, response.status
            sizes.append(len(body))
        db.session.remove()

    def build_once() -> None:
        with app.test_request_context(path):
            build_report(db.session, [city_id], start, end, "Europe/Berlin")
        db.session.remove()

    def baseline_once() -> None:
        with Session(db.engine) as session:
            session.get(City, city_id)

    with app.test_request_context(path):
        report = build_report(db.session, [city_id], start, end, "Europe/Berlin")
        booked = report.totals["booked"] + report.totals["cancelled"]
    db.session.remove()
    assert booked > 15_000, f"the year should hold most of 20,000 tours, found {booked}"

    baseline, _ = _measure(baseline_once, ITERATIONS["baseline"])
    build, _ = _measure(build_once, ITERATIONS["report_year"])
    wall, cpu = _measure(page_once, ITERATIONS["report_year"])
    return {
        "name": f"report_year[{dataset.backend}]", **_summary(wall, cpu), **dataset.sizes(),
        "iterations": len(wall), "target_ms": TARGETS_MS["report_year"],
        "build_median_ms": round(statistics.median(build), 3),
        "baseline_median_ms": round(statistics.median(baseline), 3),
        "tours_in_period": booked, "page_bytes": sizes[-1],
    }


# --- purge_year ------------------------------------------------------------------------------------------


def _add_messages(session: Session, city_id: int) -> int:
    """Two messages per tour of the year to erase (partner and guide), as the outbox holds them."""
    ids = session.execute(
        select(Tour.id).where(Tour.city_id == city_id, Tour.ends_at < PURGE_NOW - timedelta(days=30))
    ).scalars().all()
    rows = [
        {"dedupe_key": f"bench-purge:{tour_id}:{n}", "kind": "partner_booked",
         "recipient": "alex@mail.example",
         "subject": "Ihre Stadtführung", "body_text": "Hallo Alex", "body_html": "<p>Hallo Alex</p>",
         "tour_id": tour_id, "city_id": city_id, "status": "sent", "attempts": 1,
         "next_attempt_at": PURGE_NOW, "created_at": PURGE_NOW}
        for tour_id in ids for n in range(MESSAGES_PER_TOUR)
    ]
    for i in range(0, len(rows), 5_000):
        session.execute(insert(OutboxMessage), rows[i:i + 5_000])
    return len(rows)


def _purge(session: Session, city_id: int) -> dict:
    messages = _add_messages(session, city_id)
    session.commit()
    began = clock.perf_counter_ns()
    totals = purge_partner_data(session, now=PURGE_NOW)
    elapsed = (clock.perf_counter_ns() - began) / 1e6
    began = clock.perf_counter_ns()
    again = purge_partner_data(session, now=PURGE_NOW)
    second = (clock.perf_counter_ns() - began) / 1e6
    erased = sum(totals.values())
    left = session.execute(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.city_id == city_id)
    ).scalar_one()
    assert erased > 15_000, f"a year of tours should be erased, got {totals}"
    assert again == {}, f"a second run must erase nothing, got {again}"
    assert left == 0, f"{left} messages of erased tours are left in the outbox"
    return {"median_ms": round(elapsed, 3), "tours_erased": erased, "messages_deleted": messages,
            "second_run_ms": round(second, 3)}


def _sqlite_copy(dataset: Dataset, directory: Path) -> Flask:
    source = dataset.app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    target = directory / "purge.sqlite"
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()
    return create_app({**BENCH_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{target}"})


def purge_year(dataset: Dataset) -> dict:
    if dataset.backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="tourbook-bench-purge-") as directory:
            note("sqlite: copying the data set for purge_year")
            app = _sqlite_copy(dataset, Path(directory))
            with app.app_context():
                try:
                    result = _purge(db.session, dataset.city_id)
                finally:
                    db.session.remove()
                    db.engine.dispose()
    else:
        # One outer transaction, rolled back at the end; the session's commits release savepoints.
        with dataset.app.app_context():
            connection = db.engine.connect()
            outer = connection.begin()
            session = Session(bind=connection, join_transaction_mode="create_savepoint")
            try:
                result = _purge(session, dataset.city_id)
            finally:
                session.close()
                outer.rollback()
                connection.close()
    return {"name": f"purge_year[{dataset.backend}]", **result, **dataset.sizes(),
            "target_ms": TARGETS_MS["purge_year"]}
