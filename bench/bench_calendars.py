"""How fast calendar feeds answer and how fast the outbox sends (issue 5):

- ``feed_render``: the whole feed request (token lookup, ETag, rendering 500 tours) of a guide with 500
  tours in the feed's window; target: median under 20 ms;
- ``feed_304``: the same request with the ETag the client has (``If-None-Match``): the 304 answer, without
  rendering; target: median under 2 ms;
- ``outbox_send_1000``: 1,000 queued messages (partner, HR and guide mail of 334 bookings, with their
  invitations) written from their snapshots and sent to a local SMTP server (aiosmtpd in a thread of this
  process) by ``send_due``; target: under 30 s. Each round starts from unwritten messages.

Times are the application's own (the WSGI call, response body included, no HTTP server in front), beside
``baseline_median_ms``: a bare endpoint of the same app measured the same way in the same run.

This module brings its own data (one city, one guide with 500 tours around today), in databases of its own:
``instance/bench_calendars.sqlite`` and, when the benchmark PostgreSQL server answers, the database
``<benchmark database>_calendars`` there; both are rebuilt on every run. ``python -m bench calendars``
runs it with the others' data sets prepared; ``python -m bench.bench_calendars`` runs it alone."""

from __future__ import annotations

import json
import random
import secrets
import socket
import statistics
import sys
import threading
import time as clock
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from sqlalchemy import bindparam, create_engine, delete, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from werkzeug.test import EnvironBuilder

from tourbook.extensions import db
from tourbook.models import City, Company, OutboxMessage, Role, Tour, User, utcnow

from . import data

TARGETS_MS = {"feed_render": 20.0, "feed_304": 2.0, "outbox_send_1000": 30_000.0}
ITERATIONS = {"feed_render": 100, "feed_304": 1000, "baseline": 1000}
WARMUP = 10
TOURS = 500
MESSAGES = 1000
SEND_ROUNDS = 3
SEED = 5_2026
ZONE = ZoneInfo("Europe/Berlin")
SQLITE_PATH = data.SQLITE_PATH.with_name("bench_calendars.sqlite")


# --- the data --------------------------------------------------------------------------------------------


def _sqlite_app() -> Flask:
    for suffix in ("", "-wal", "-shm"):
        SQLITE_PATH.with_name(SQLITE_PATH.name + suffix).unlink(missing_ok=True)
    SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return data._app(f"sqlite:///{SQLITE_PATH}")


def _postgres_app() -> Flask | None:
    if data.POSTGRES_URL == "off":
        return None
    url = make_url(data.POSTGRES_URL)
    url = url.set(database=f"{url.database}_calendars").render_as_string(hide_password=False)
    try:
        data._ensure_postgres_database(url)
    except OperationalError as error:
        data.note(f"calendars: PostgreSQL not reachable, skipped ({str(error.orig).strip().splitlines()[0]})")
        return None
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return data._app(url)


def _app(backend: str) -> Flask | None:
    app = _sqlite_app() if backend == "sqlite" else _postgres_app()
    if app is None:
        return None
    app.add_url_rule("/_bench/ping", "bench_ping", lambda: "ok")  # the baseline: a bare endpoint
    data._migrate(app)
    return app


def _fill(app: Flask) -> dict:
    """One city, one company with an HR user, one guide with TOURS tours from 55 days back, two a day (5 %
    of them cancelled), with partners who have email addresses. Returns what the measurements need."""
    rng = random.Random(SEED)
    today = utcnow().astimezone(ZONE).date()
    with app.app_context():
        city = City(name="Benchstadt", slug="benchstadt", timezone="Europe/Berlin", office_phone="+49 271 0",
                    office_email="tours@benchstadt.example")
        company = Company(name="Bench GmbH", address="Hauptstraße 1, 57072 Siegen", cities=[city])
        guide = User(email="guide@bench.example", name="Gabi Guide", role=Role.GUIDE, city=city,
                     language="de", active=True, password_hash=None)
        hr = User(email="hr@bench.example", name="Hanna HR", role=Role.HR, company=company, language="en",
                  active=True, password_hash=None)
        db.session.add_all([city, company, guide, hr])
        db.session.flush()
        rows = []
        now = utcnow()
        for i in range(TOURS):
            day = today - timedelta(days=55) + timedelta(days=i // 2)
            start = _instant(day, 9 if i % 2 == 0 else 14)
            end = start + timedelta(minutes=rng.choice((90, 120, 150)))
            cancelled = rng.random() < 0.05
            rows.append({
                "uid": secrets.token_hex(16), "token": secrets.token_urlsafe(24), "city_id": city.id,
                "company_id": company.id, "booked_by_id": hr.id, "guide_id": guide.id,
                "status": "cancelled" if cancelled else "confirmed", "starts_at": start, "ends_at": end,
                "blocked_until": end + timedelta(minutes=15), "assigned_at": now,
                "partner_first_name": f"Partner {i}", "partner_email": f"partner{i}@partner.example",
                "partner_language": rng.choice(("de", "en")), "interests": ",".join(
                    rng.sample(["housing", "schools", "sports", "culture", "nature"], rng.randint(0, 3))),
                "people": rng.randint(1, 4), "meeting_point": "Hauptbahnhof Benchstadt, Bahnhofstraße 1",
                "accessibility_needs": "Stufenlos, bitte; mit Rollstuhl" if rng.random() < 0.1 else None,
                "consent_at": now, "sequence": rng.randint(0, 3), "created_at": now, "updated_at": now,
                "cancelled_at": now if cancelled else None,
            })
        db.session.execute(Tour.__table__.insert(), rows)
        db.session.commit()
        with app.test_request_context():
            from tourbook.feeds import ensure_feed_token

            token = ensure_feed_token(guide)
            db.session.commit()
        return {"guide_id": guide.id, "city_id": city.id, "feed_path": f"/feeds/{token}.ics"}


def _instant(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), ZONE).astimezone(UTC)


# --- measuring -------------------------------------------------------------------------------------------


def _wsgi_ms(app: Flask, path: str, headers: dict[str, str] | None = None) -> tuple[float, str, bytes]:
    """One request through the application's WSGI callable: milliseconds, status, body."""
    environ = EnvironBuilder(path=path, headers=headers or {}).get_environ()
    status: list[str] = []

    def start_response(value: str, _headers: list, _exc_info: object = None) -> Callable:
        status.append(value)
        return lambda _chunk: None

    began = clock.perf_counter_ns()
    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return (clock.perf_counter_ns() - began) / 1e6, status[0], body


def _samples(app: Flask, path: str, iterations: int, headers: dict[str, str] | None = None,
             expect: str = "200") -> list[float]:
    for _ in range(WARMUP):
        _wsgi_ms(app, path, headers)
    samples = []
    for _ in range(iterations):
        ms, status, _body = _wsgi_ms(app, path, headers)
        assert status.startswith(expect), f"{path}: {status}"
        samples.append(ms)
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples), 3),
        "p95_ms": round(statistics.quantiles(samples, n=100, method="inclusive")[94], 3),
    }


# --- the SMTP server -------------------------------------------------------------------------------------


class _Counter:
    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        with self.lock:
            self.count += len(envelope.rcpt_tos)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _queue_messages(app: Flask, city_id: int) -> int:
    """Mail of the first bookings (partner, HR, guide; invitations for partner and HR) up to MESSAGES."""
    from tourbook.mail import queue_tour_messages

    with app.test_request_context():
        tours = db.session.execute(
            select(Tour).where(Tour.city_id == city_id, Tour.status == "confirmed").order_by(Tour.id)
            .limit(MESSAGES // 3 + 1)
        ).scalars().all()
        for tour in tours:
            queue_tour_messages(db.session, tour, "booked")
        db.session.commit()
        extra = list(db.session.execute(
            select(OutboxMessage.id).order_by(OutboxMessage.id).offset(MESSAGES)).scalars())
        db.session.execute(delete(OutboxMessage).where(OutboxMessage.id.in_(extra)))
        db.session.commit()
        return len(db.session.execute(select(OutboxMessage.id)).all())


def _send_all(app: Flask, port: int, snapshots: dict[int, str]) -> tuple[float, int]:
    from tourbook.mail import SMTPSettings, SMTPTransport, send_due

    settings = SMTPSettings.from_url(f"smtp://127.0.0.1:{port}?timeout=10")
    # As `flask outbox send` runs it: in a request context on the public address (the worker writes the
    # messages of tour changes, with links).
    with app.test_request_context(base_url="https://tourbook.example"):
        # Every round from unwritten messages: their snapshots back, bodies empty.
        outbox = OutboxMessage.__table__
        db.session.execute(
            update(outbox).where(outbox.c.id == bindparam("mid")).values(
                snapshot=bindparam("snap"), status="pending", attempts=0, sent_at=None, claimed_at=None,
                next_attempt_at=utcnow(), body_text="", body_html="", ics=None),
            [{"mid": mid, "snap": snap} for mid, snap in snapshots.items()],
        )
        db.session.commit()
        began = clock.perf_counter()
        rounds = 0
        while True:
            stats = send_due(db.session, transport=SMTPTransport(settings))
            rounds += 1
            if not any(stats.values()):
                break
            assert stats["retry"] == stats["failed"] == 0, stats
        elapsed = clock.perf_counter() - began
        sent = len(db.session.execute(select(OutboxMessage.id).where(OutboxMessage.status == "sent")).all())
    return elapsed, sent


# --- the run ---------------------------------------------------------------------------------------------


def run(datasets: list) -> Iterator[dict]:  # noqa: ARG001 - this module brings its own data
    backends = [d.backend for d in datasets] if datasets else ["sqlite", "postgresql"]
    for backend in backends:
        yield from run_backend(backend)


def run_backend(backend: str) -> Iterator[dict]:
    app = _app(backend)
    if app is None:
        return
    data.note(f"calendars[{backend}]: a guide with {TOURS} tours")
    prepared = _fill(app)
    path = prepared["feed_path"]

    baseline = statistics.median(_samples(app, "/_bench/ping", ITERATIONS["baseline"]))

    _ms, status, body = _wsgi_ms(app, path)
    assert status.startswith("200") and body.count(b"BEGIN:VEVENT") == TOURS, (status, body[:200])
    render = _samples(app, path, ITERATIONS["feed_render"])
    yield {"name": f"feed_render[{backend}]", **summary(render), "tours": TOURS,
           "iterations": len(render), "target_ms": TARGETS_MS["feed_render"], "feed_bytes": len(body),
           "baseline_median_ms": round(baseline, 3), "ratio": round(statistics.median(render) / baseline, 1)}

    with app.test_client() as client:
        etag = client.get(path).headers["ETag"]
    not_modified = _samples(app, path, ITERATIONS["feed_304"], {"If-None-Match": etag}, expect="304")
    yield {"name": f"feed_304[{backend}]", **summary(not_modified), "tours": TOURS,
           "iterations": len(not_modified), "target_ms": TARGETS_MS["feed_304"],
           "baseline_median_ms": round(baseline, 3),
           "ratio": round(statistics.median(not_modified) / baseline, 1)}

    from aiosmtpd.controller import Controller

    queued = _queue_messages(app, prepared["city_id"])
    assert queued == MESSAGES, queued
    with app.app_context():
        snapshots = dict(db.session.execute(select(OutboxMessage.id, OutboxMessage.snapshot)).all())
    assert all(snapshots.values()), "messages of tour changes are written by the worker"
    counter = _Counter()
    port = _free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=port, server_hostname="localhost")
    controller.start()
    try:
        seconds = []
        for _ in range(SEND_ROUNDS):
            before = counter.count
            elapsed, sent = _send_all(app, port, snapshots)
            assert sent == MESSAGES and counter.count - before == MESSAGES, (sent, counter.count - before)
            seconds.append(elapsed)
    finally:
        controller.stop()
    yield {"name": f"outbox_send_1000[{backend}]", "median_ms": round(statistics.median(seconds) * 1000, 1),
           "max_ms": round(max(seconds) * 1000, 1), "messages": MESSAGES, "rounds": SEND_ROUNDS,
           "messages_per_second": round(MESSAGES / statistics.median(seconds), 1),
           "target_ms": TARGETS_MS["outbox_send_1000"]}
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":  # python -m bench.bench_calendars: alone, without the shared data sets
    for line in run([]):
        print(json.dumps(line, ensure_ascii=False), flush=True)
    sys.exit(0)
