"""No guide is ever booked twice: many bookings at once for the only free guide, on PostgreSQL from threads
with their own connections and on a SQLite file from separate processes; and a random mix of booking,
rescheduling, cancelling and declining (a hypothesis state machine) after which no guide has two tours
closer than the city's buffer."""

from __future__ import annotations

import multiprocessing
import pkgutil
import queue
import threading
import time as time_module
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, time, timedelta

import pytest
from conftest import BASE_CONFIG, PG_URL
from factories_tours import (  # noqa: F401 - fixtures
    NOW,
    OUTSIDE_REQUEST_CONFIG,
    day_after_now,
    local,
    make_guide_fixture,
)
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, select

import tourbook
from tourbook.extensions import db
from tourbook.models import BLOCKING_STATES, City, Company, Role, Tour, User
from tourbook.services import (
    PartnerDetails,
    TourError,
    availability_for,
    book_tour,
    cancel_tour,
    decline_tour,
    reschedule_tour,
    update_partner_wishes,
)

ATTEMPTS = 20
# Every module of the app, imported once by the fork server.
APP_MODULES = ["tourbook"] + [f"tourbook.{m.name}" for m in pkgutil.iter_modules(tourbook.__path__)]
CLEAR_ANSWERS = {"slot_taken", "no_guide"}


@pytest.fixture
def app_config() -> dict:
    # Every thread holds its own connection at the same moment.
    pool = {"pool_pre_ping": True, "pool_size": ATTEMPTS + 2, "max_overflow": 4}
    return {"SQLALCHEMY_ENGINE_OPTIONS": pool, **OUTSIDE_REQUEST_CONFIG}


@pytest.fixture
def contest(make_city, make_company, make_user, make_guide) -> dict:
    """One city with exactly one guide, and one HR user per attempt."""
    city = make_city()
    company = make_company(cities=[city])
    guide = make_guide(city)
    hr_ids = [make_user(Role.HR, company=company).id for _ in range(ATTEMPTS)]
    day = day_after_now(7)
    return {"city_id": city.id, "company_id": company.id, "guide_id": guide.id, "hr_ids": hr_ids,
            "start": local(day, 10), "end": local(day, 12)}


def attempt_booking(number: int, contest: dict, wait: Callable[[], object]) -> dict:
    """One booking attempt in the current application context; the answer as plain data."""
    try:
        actor = db.session.get(User, contest["hr_ids"][number])
        city = db.session.get(City, contest["city_id"])
        company = db.session.get(Company, contest["company_id"])
        # Warm up like a running server (holiday tables, engine): the race is about the booking itself.
        availability_for(db.session, city, contest["start"], contest["end"], "de", now=NOW)
        db.session.commit()  # nothing held while waiting for the others
        wait()
        tour = book_tour(db.session, actor, city, company, contest["start"], contest["end"],
                         PartnerDetails(first_name=f"Partner {number}"), now=NOW)
        return {"booked": tour.id, "guide": tour.guide_id}
    except TourError as error:
        return {"error": error.code}
    except Exception as error:  # noqa: BLE001 - any other answer is what the test looks for
        return {"exception": repr(error)}
    finally:
        db.session.remove()


def assert_one_winner(answers: list[dict], contest: dict) -> None:
    assert [a for a in answers if "exception" in a] == []
    booked = [a for a in answers if "booked" in a]
    assert len(booked) == 1, answers
    assert booked[0]["guide"] == contest["guide_id"]
    codes = Counter(a["error"] for a in answers if "error" in a)
    assert sum(codes.values()) == ATTEMPTS - 1
    assert set(codes) <= CLEAR_ANSWERS, codes
    db.session.expire_all()
    tours = db.session.execute(select(Tour).where(Tour.city_id == contest["city_id"])).scalars().all()
    winner = (booked[0]["booked"], contest["guide_id"], "confirmed")
    assert [(t.id, t.guide_id, t.status) for t in tours] == [winner]


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.skipif(not PG_URL, reason="needs TOURBOOK_TEST_DATABASE_URL (real connections to PostgreSQL)")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_twenty_threads_booking_the_only_free_guide_on_postgresql_make_one_tour(app: Flask, contest: dict):
    start_together = threading.Barrier(ATTEMPTS)

    def one(number: int) -> dict:
        with app.app_context():  # its own session and connection
            return attempt_booking(number, contest, lambda: start_together.wait(timeout=60))

    with ThreadPoolExecutor(ATTEMPTS) as pool:
        answers = list(pool.map(one, range(ATTEMPTS)))
    assert_one_winner(answers, contest)


TWINS = 5


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs TOURBOOK_TEST_DATABASE_URL (real connections to PostgreSQL)")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_one_booking_form_sent_five_times_at_once_books_one_tour(app: Flask, make_city, make_company, make_user,
                                                                 make_guide):
    """A double click, many times over: the same form (its key) from five threads, with three guides free (each
    post alone would book one of them). One tour; every post gets it."""
    city = make_city()
    company = make_company(cities=[city])
    guides = [make_guide(city).id for _ in range(3)]
    hr_id = make_user(Role.HR, company=company).id
    day = day_after_now(7)
    start_together = threading.Barrier(TWINS)

    def one(number: int) -> dict:
        with app.app_context():
            try:
                actor, town, firm = db.session.get(User, hr_id), db.session.get(City, city.id), db.session.get(
                    Company, company.id)
                availability_for(db.session, town, local(day, 10), local(day, 12), "de", now=NOW)
                db.session.commit()
                start_together.wait(timeout=60)
                tour = book_tour(db.session, actor, town, firm, local(day, 10), local(day, 12),
                                 PartnerDetails(first_name="Mira"), now=NOW, request_key="k" * 22)
                return {"booked": tour.id, "guide": tour.guide_id}
            except Exception as error:  # noqa: BLE001 - any other answer is what the test looks for
                return {"exception": repr(error)}
            finally:
                db.session.remove()

    with ThreadPoolExecutor(TWINS) as pool:
        answers = list(pool.map(one, range(TWINS)))
    assert [a for a in answers if "exception" in a] == []
    assert len({a["booked"] for a in answers}) == 1, answers
    db.session.expire_all()
    tours = db.session.execute(select(Tour).where(Tour.city_id == city.id)).scalars().all()
    assert len(tours) == 1 and tours[0].guide_id in guides


def _process_attempt(uri: str, number: int, contest: dict, barrier, answers) -> None:  # noqa: ANN001
    """In a process of its own: its own app, engine and connection to the same SQLite file."""
    from tourbook import create_app

    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": uri, **OUTSIDE_REQUEST_CONFIG})
    with app.app_context():
        answer = attempt_booking(number, contest, lambda: barrier.wait(timeout=120))
        db.engine.dispose()
    answers.put(answer)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
def test_twenty_processes_booking_the_only_free_guide_on_a_sqlite_file_make_one_tour(
    app: Flask, contest: dict
):
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    assert uri.startswith("sqlite:///") and ":memory:" not in uri
    db.session.remove()
    # A fork server that imported Tourbook once starts each process cheaply and cleanly (no state of this
    # process is inherited); every process then builds its own app and engine.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(APP_MODULES)
    barrier = context.Barrier(ATTEMPTS)
    results = context.Queue()
    processes = [context.Process(target=_process_attempt, args=(uri, n, contest, barrier, results))
                 for n in range(ATTEMPTS)]
    for process in processes:
        process.start()
    answers: list[dict] = []
    deadline = time_module.monotonic() + 120
    try:
        while len(answers) < ATTEMPTS and time_module.monotonic() < deadline:
            try:
                answers.append(results.get(timeout=0.5))
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in processes):
                    barrier.abort()  # a process died: do not let the others wait for it
                    break
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert len(answers) == ATTEMPTS, f"{len(answers)} of {ATTEMPTS} processes answered: {answers}"
    assert [p.exitcode for p in processes] == [0] * ATTEMPTS
    assert_one_winner(answers, contest)


# --- a random mix of changes --------------------------------------------------------------------------------

# The machine books on a Tuesday and the Wednesday after: windows on those days are all that matter.
MORNINGS = tuple((weekday, time(8), time(13)) for weekday in (1, 2))
AFTERNOONS = tuple((weekday, time(12), time(20)) for weekday in (1, 2))
ALL_DAY = tuple((weekday, time(8), time(20)) for weekday in (1, 2))
KNOWN_CODES = {"no_guide", "slot_taken", "busy", "already_cancelled", "not_changeable", "started", "past", "too_soon",
               "too_short", "too_long", "too_far", "end_before_start"}


def no_guide_has_tours_closer_than_the_buffer(city_id: int) -> None:
    city = db.session.get(City, city_id)
    buffer = timedelta(minutes=city.buffer_minutes)
    rows = db.session.execute(
        select(Tour.guide_id, Tour.starts_at, Tour.ends_at, Tour.status)
        .where(Tour.city_id == city_id, Tour.status.in_(BLOCKING_STATES))
        .order_by(Tour.guide_id, Tour.starts_at)
    ).all()
    for before, after in zip(rows, rows[1:], strict=False):
        if before.guide_id == after.guide_id:
            assert after.starts_at >= before.ends_at + buffer, (before, after)
    for row in rows:
        assert row.guide_id is not None


def make_machine(make_city, make_company, make_user, make_guide, seen: Counter  # noqa: ANN001
                 ) -> type[RuleBasedStateMachine]:
    """The machine class; ``seen`` counts the states the examples' tours ended in."""
    day = day_after_now(7, weekday=1)

    def slot(offset: int, quarter: int, quarters: int) -> tuple[datetime, datetime]:
        start = local(day + timedelta(days=offset), 8) + timedelta(minutes=15 * quarter)
        return start, start + timedelta(minutes=15 * quarters)

    # One city for every example; each example starts without tours.
    city = make_city()
    company = make_company(cities=[city])
    hr = make_user(Role.HR, company=company)
    limits = {"daily_limit": 6, "weekly_limit": 30}
    guides = [
        make_guide(city, ALL_DAY, ("de",), **limits),
        make_guide(city, MORNINGS, ("de",), **limits),
        make_guide(city, AFTERNOONS, ("en",), **limits),
        make_guide(city, ALL_DAY, ("en",), **limits),
    ]

    class BookingMachine(RuleBasedStateMachine):
        tours = Bundle("tours")

        def __init__(self) -> None:
            super().__init__()
            self.city, self.company, self.hr, self.guides = city, company, hr, guides
            db.session.execute(delete(Tour).where(Tour.city_id == city.id))
            db.session.commit()

        def teardown(self) -> None:
            seen.update(db.session.execute(select(Tour.status).where(Tour.city_id == city.id)).scalars())

        def tour(self, tour_id: int) -> Tour:
            db.session.expire_all()
            return db.session.get(Tour, tour_id)

        @rule(target=tours, offset=st.integers(0, 1), quarter=st.integers(0, 40), quarters=st.integers(3, 12),
              language=st.sampled_from(["de", "en"]))
        def book(self, offset: int, quarter: int, quarters: int, language: str):  # noqa: ANN201
            start, end = slot(offset, quarter, quarters)
            try:
                tour = book_tour(db.session, self.hr, self.city, self.company, start, end,
                                 PartnerDetails(first_name="Sam", language=language), now=NOW)
            except TourError as error:
                assert error.code in KNOWN_CODES
                return multiple()
            return tour.id

        @rule(tour_id=tours, offset=st.integers(0, 1), quarter=st.integers(0, 40),
              quarters=st.integers(3, 12))
        def reschedule(self, tour_id: int, offset: int, quarter: int, quarters: int) -> None:
            start, end = slot(offset, quarter, quarters)
            try:
                reschedule_tour(db.session, self.hr, self.tour(tour_id), start, end, now=NOW)
            except TourError as error:
                assert error.code in KNOWN_CODES

        @rule(tour_id=tours)
        def cancel(self, tour_id: int) -> None:
            try:
                cancel_tour(db.session, self.hr, self.tour(tour_id), "hr", "changed plans", now=NOW)
            except TourError as error:
                assert error.code == "already_cancelled"

        @rule(tour_id=tours)
        def decline(self, tour_id: int) -> None:
            tour = self.tour(tour_id)
            if tour.guide_id is None:
                return
            guide = db.session.get(User, tour.guide_id)
            try:
                outcome = decline_tour(db.session, guide, tour, "cannot", now=NOW)
                assert outcome in ("reassigned", "needs_guide")
            except TourError as error:
                assert error.code == "not_changeable"  # a tour that is no longer confirmed
            assert self.tour(tour_id).guide_id != guide.id or self.tour(tour_id).status != "confirmed"

        @rule(tour_id=tours, language=st.sampled_from(["de", "en"]))
        def partner_changes_language(self, tour_id: int, language: str) -> None:
            try:
                outcome = update_partner_wishes(db.session, self.tour(tour_id), [], language, 1, now=NOW)
            except TourError as error:
                assert error.code == "not_changeable"  # cancelled
                return
            seen[f"language:{outcome}"] += 1
            tour = self.tour(tour_id)
            assert tour.partner_language == language
            if outcome == "reassigned":
                assert language in tour.guide.languages

        @invariant()
        def no_double_booking(self) -> None:
            no_guide_has_tours_closer_than_the_buffer(self.city.id)

    return BookingMachine


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite"])
def test_no_mix_of_book_reschedule_cancel_decline_language_change_double_books_a_guide(
    make_city, make_company, make_user, make_guide
):
    seen: Counter = Counter()
    machine = make_machine(make_city, make_company, make_user, make_guide, seen)
    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=25, stateful_step_count=10, deadline=None, database=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow]),
    )
    # The mix really happened: tours were booked, cancelled and left without a guide along the way.
    assert {"confirmed", "cancelled", "needs_guide"} <= set(seen), seen
    # A new language moved a tour to another guide, and another time left it with one who does not speak it.
    assert seen["language:reassigned"] and seen["language:guide_lacks_language"], seen
