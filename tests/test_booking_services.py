"""The booking services against a real database (SQLite, and PostgreSQL when configured): who gets a
tour, what rescheduling, cancelling and declining do, the interval rules, the buffer between two tours of
one guide (in the application and, on PostgreSQL, in the database itself), and that every change bumps
the sequence number and leaves an audit entry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta

import pytest
from conftest import PG_URL
from factories_tours import (  # noqa: F401 - fixtures
    BERLIN,
    NOW,
    OUTSIDE_REQUEST_CONFIG,
    audit_actions,
    book_fixture,
    count_tours,
    day_after_now,
    local,
    make_guide_fixture,
    make_tour_fixture,
)
from helpers_concurrency import held_a_second_at, in_another_connection
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tourbook.extensions import db
from tourbook.hours import add_absence, tours_hit_by
from tourbook.mail import render_message
from tourbook.models import AuditEntry, City, OutboxMessage, Role, Tour, User
from tourbook.overview import lacking_language
from tourbook.services import (
    PartnerDetails,
    TourError,
    accept_language,
    assign_tour,
    book_tour,
    cancel_tour,
    decline_tour,
    enter_absence,
    mark_outcome,
    release_tours_of_absent_guide,
    reschedule_tour,
    update_partner_wishes,
)

MORNINGS = tuple((weekday, time(8), time(13)) for weekday in range(7))
AFTERNOONS = tuple((weekday, time(13), time(20)) for weekday in range(7))


@pytest.fixture
def app_config() -> dict:
    return dict(OUTSIDE_REQUEST_CONFIG)


@pytest.fixture
def city(make_city: Callable[..., City]) -> City:
    return make_city()


@pytest.fixture
def coordinator(make_user: Callable[..., User], city: City) -> User:
    return make_user(Role.COORDINATOR, city=city, language="en")


def refreshed(tour: Tour) -> Tour:
    db.session.expire_all()
    return db.session.get(Tour, tour.id)


def code_of(service: Callable[..., object], *args: object, **kwargs: object) -> str:
    """The code of the TourError the service raises (the test fails if it raises none)."""
    with pytest.raises(TourError) as caught:
        service(*args, **kwargs)
    return caught.value.code


# --- who gets the tour -------------------------------------------------------------------------------------


def test_a_guide_who_speaks_the_partners_language_comes_first(city, make_guide, make_tour, book):
    day = day_after_now(7)
    german = make_guide(city, languages=("de",))
    english = make_guide(city, languages=("de", "en"))
    # The English speaker is busier and was assigned more recently: language still wins.
    make_tour(english, local(day + timedelta(days=1), 9), assigned_at=NOW - timedelta(hours=1))

    tour = book(city, local(day, 10), language="en")

    assert tour.guide_id == english.id
    assert german.id < english.id  # not the lowest id by chance


def test_without_a_free_speaker_another_free_guide_takes_the_tour(city, make_guide, book):
    german = make_guide(city, languages=("de",))
    assert book(city, local(day_after_now(7), 10), language="en").guide_id == german.id


def test_the_guide_with_fewest_tours_in_the_four_weeks_around_gets_the_tour(
    city, make_guide, make_tour, book
):
    day = day_after_now(21, weekday=2)
    busy = make_guide(city)
    quiet = make_guide(city)
    # busy: two tours within two weeks of the day, assigned long ago; quiet: one, assigned just now.
    make_tour(busy, local(day - timedelta(days=13), 9), assigned_at=NOW - timedelta(days=30))
    make_tour(busy, local(day + timedelta(days=13), 9), assigned_at=NOW - timedelta(days=30))
    make_tour(quiet, local(day + timedelta(days=2), 9), assigned_at=NOW)

    assert book(city, local(day, 10)).guide_id == quiet.id


def test_tours_outside_the_four_weeks_do_not_count(city, make_guide, make_tour, book):
    day = day_after_now(40, weekday=2)
    first = make_guide(city)
    second = make_guide(city)
    for weeks in (3, 4, 5):  # 15 days and more away
        make_tour(second, local(day - timedelta(days=weeks * 7 - 6), 9), assigned_at=NOW - timedelta(days=60))
    make_tour(first, local(day + timedelta(days=3), 9), assigned_at=NOW - timedelta(days=60))

    assert book(city, local(day, 10)).guide_id == second.id


def test_among_equally_busy_guides_the_least_recently_assigned_gets_the_tour(
    city, make_guide, make_tour, book
):
    day = day_after_now(14, weekday=1)
    recent = make_guide(city)
    earlier = make_guide(city)
    make_tour(recent, local(day + timedelta(days=1), 9), assigned_at=NOW - timedelta(hours=1))
    make_tour(earlier, local(day + timedelta(days=1), 9), assigned_at=NOW - timedelta(days=3))

    assert book(city, local(day, 10)).guide_id == earlier.id


def test_a_guide_never_assigned_comes_before_one_assigned_before(city, make_guide, make_tour, book):
    day = day_after_now(14, weekday=1)
    old_hand = make_guide(city)
    newcomer = make_guide(city)
    make_tour(old_hand, local(day - timedelta(days=30), 9), assigned_at=NOW - timedelta(days=300))

    assert book(city, local(day, 10)).guide_id == newcomer.id


def test_booking_without_any_free_guide_says_no_guide_with_alternatives(city, make_guide, book):
    make_guide(city, windows=MORNINGS)
    day = day_after_now(7)
    with pytest.raises(TourError) as caught:
        book(city, local(day, 15))
    assert caught.value.code == "no_guide"
    assert caught.value.alternatives, "the nearest slots that work are offered"
    assert all(a.start.astimezone(BERLIN).hour < 13 for a in caught.value.alternatives)
    assert count_tours() == 0


def test_a_booking_records_the_tour_with_consent_and_audit_entry(city, make_guide, book):
    guide = make_guide(city)
    tour = refreshed(book(city, local(day_after_now(7), 10), first_name="Mira", email="mira@example.org",
                          interests=["housing", "schools"], people=3))
    assert (tour.status, tour.guide_id, tour.sequence) == ("confirmed", guide.id, 0)
    assert tour.consent_at == NOW and tour.assigned_at == NOW
    assert tour.blocked_until == tour.ends_at + timedelta(minutes=city.buffer_minutes)
    assert tour.interest_list == ["housing", "schools"] and tour.people == 3
    assert len(tour.token) >= 32 and len(tour.uid) == 32  # ≥ 128 bits of randomness each
    assert audit_actions(tour) == ["tour_booked"]


# --- reschedule ---------------------------------------------------------------------------------------------


def test_reschedule_keeps_the_guide_when_they_are_free(city, make_guide, book):
    day = day_after_now(7)
    kept = make_guide(city)
    tour = book(city, local(day, 9))
    other = make_guide(city)  # never assigned: the rule would pick them for a new booking
    token, uid = tour.token, tour.uid

    reschedule_tour(db.session, tour.booked_by, tour, local(day, 14), local(day, 16), now=NOW)

    tour = refreshed(tour)
    assert tour.guide_id == kept.id != other.id
    assert (tour.starts_at, tour.ends_at) == (local(day, 14), local(day, 16))
    assert tour.blocked_until == local(day, 16, 15)
    assert (tour.token, tour.uid, tour.sequence) == (token, uid, 1)
    assert audit_actions(tour) == ["tour_booked", "tour_rescheduled"]


def test_reschedule_reassigns_when_the_guide_is_not_free(city, make_guide, book):
    day = day_after_now(7)
    morning = make_guide(city, windows=MORNINGS)
    afternoon = make_guide(city, windows=AFTERNOONS)
    tour = book(city, local(day, 9))
    assert tour.guide_id == morning.id
    token = tour.token

    reschedule_tour(db.session, tour.booked_by, tour, local(day, 14), local(day, 16), now=NOW)

    tour = refreshed(tour)
    assert tour.guide_id == afternoon.id
    assert tour.assigned_at == NOW
    assert (tour.token, tour.sequence, tour.status) == (token, 1, "confirmed")


def test_reschedule_to_a_time_without_a_free_guide_changes_nothing(city, make_guide, book):
    day = day_after_now(7)
    make_guide(city, windows=MORNINGS)
    tour = book(city, local(day, 9))
    assert code_of(reschedule_tour, db.session, tour.booked_by, tour, local(day, 15), local(day, 17),
                   now=NOW) == "no_guide"
    tour = refreshed(tour)
    assert (tour.starts_at, tour.sequence) == (local(day, 9), 0)
    assert audit_actions(tour) == ["tour_booked"]


def test_reschedule_of_a_needs_guide_tour_finds_a_guide_again(city, make_guide, book):
    day = day_after_now(7)
    guide = make_guide(city, windows=MORNINGS)
    tour = book(city, local(day, 9))
    assert decline_tour(db.session, guide, tour, "ill", now=NOW) == "needs_guide"
    late = make_guide(city, windows=AFTERNOONS)

    reschedule_tour(db.session, tour.booked_by, refreshed(tour), local(day, 14), local(day, 16), now=NOW)

    tour = refreshed(tour)
    assert (tour.status, tour.guide_id, tour.sequence) == ("confirmed", late.id, 2)


OUTSIDE_THE_RULES = [
    (NOW - timedelta(days=1), 120, "too_soon"),  # in the past
    (NOW + timedelta(hours=2), 120, "too_soon"),  # inside the lead time
    (NOW + timedelta(days=121), 120, "too_far"),  # beyond the horizon
    (datetime(9999, 12, 31, 10, tzinfo=BERLIN), 120, "too_far"),  # the end of the calendar: no overflow
    (datetime(1, 1, 1, 0, 15, tzinfo=BERLIN), 60, "too_soon"),  # before the first UTC instant
    (None, 45, "too_short"),  # shorter than the minimum
    (None, 5 * 60, "too_long"),
    (None, 0, "end_before_start"),
    (None, -60, "end_before_start"),
]


def test_reschedule_outside_the_rules_is_refused(city, make_guide, book, subtests):
    make_guide(city)
    day = day_after_now(7)
    tour = book(city, local(day, 9))
    for start, minutes, code in OUTSIDE_THE_RULES:
        with subtests.test(code=code, start=start, minutes=minutes):
            start = start or local(day, 14)
            end = start + timedelta(minutes=minutes)
            assert code_of(reschedule_tour, db.session, tour.booked_by, tour, start, end, now=NOW) == code
            tour = refreshed(tour)
            assert (tour.starts_at, tour.sequence, tour.status) == (local(day, 9), 0, "confirmed")
    assert audit_actions(tour) == ["tour_booked"]


def test_a_started_or_cancelled_tour_cannot_be_rescheduled(city, make_guide, book):
    make_guide(city)
    day = day_after_now(7)
    tour = book(city, local(day, 9))
    later = local(day, 9, 30)
    assert code_of(reschedule_tour, db.session, tour.booked_by, tour, later + timedelta(days=1),
                   later + timedelta(days=1, hours=2), now=later) == "started"
    cancel_tour(db.session, tour.booked_by, tour, "hr", "interview moved", now=NOW)
    assert code_of(reschedule_tour, db.session, tour.booked_by, tour, local(day, 14), local(day, 16),
                   now=NOW) == "not_changeable"


# --- cancel ------------------------------------------------------------------------------------------------


def test_cancelling_twice_is_refused_and_changes_nothing_the_second_time(city, make_guide, book):
    make_guide(city)
    tour = book(city, local(day_after_now(7), 9))
    cancel_tour(db.session, tour.booked_by, tour, "hr", "interview cancelled", now=NOW)
    tour = refreshed(tour)
    assert (tour.status, tour.cancelled_by, tour.cancel_reason, tour.sequence) == (
        "cancelled", "hr", "interview cancelled", 1)

    assert code_of(cancel_tour, db.session, None, tour, "partner", "again", now=NOW) == "already_cancelled"
    tour = refreshed(tour)
    assert (tour.cancelled_by, tour.sequence) == ("hr", 1)
    assert audit_actions(tour) == ["tour_booked", "tour_cancelled"]


def test_a_cancelled_tour_frees_its_guide(city, make_guide, book):
    guide = make_guide(city)
    day = day_after_now(7)
    tour = book(city, local(day, 9))
    cancel_tour(db.session, tour.booked_by, tour, "hr", "moved", now=NOW)
    assert book(city, local(day, 9)).guide_id == guide.id


def test_a_past_tour_cannot_be_cancelled(city, make_guide, book):
    make_guide(city)
    day = day_after_now(7)
    tour = book(city, local(day, 9))
    assert code_of(cancel_tour, db.session, None, tour, "partner", "", now=local(day, 12)) == "past"


# --- decline and absence ------------------------------------------------------------------------------------


def test_a_declined_tour_goes_to_another_free_guide(city, make_guide, book):
    day = day_after_now(7)
    first = make_guide(city)
    tour = book(city, local(day, 9))
    assert tour.guide_id == first.id
    second = make_guide(city)

    assert decline_tour(db.session, first, tour, "dentist", now=NOW) == "reassigned"

    tour = refreshed(tour)
    assert (tour.status, tour.guide_id, tour.sequence) == ("confirmed", second.id, 1)
    assert audit_actions(tour) == ["tour_booked", "tour_declined"]


def test_a_declined_tour_without_another_guide_needs_a_guide(city, coordinator, make_user, make_guide, book):
    guide = make_guide(city)
    german_coordinator = make_user(Role.COORDINATOR, city=city, language="de")
    make_user(Role.COORDINATOR, city=city, active=False)
    make_guide(city, windows=AFTERNOONS)  # not free in the morning
    tour = book(city, local(day_after_now(7), 9))

    assert decline_tour(db.session, guide, tour, "ill", now=NOW) == "needs_guide"

    tour = refreshed(tour)
    assert (tour.status, tour.guide_id, tour.sequence) == ("needs_guide", None, 1)
    # The guide who declined is not given the tour back, even though they are free.
    assert db.session.execute(select(Tour.guide_id)).scalars().all() == [None]
    # The city's (active) coordinators hear of it at once, each in their language.
    told = {m.recipient: m for m in db.session.execute(
        select(OutboxMessage).where(OutboxMessage.kind == "coordinator_needs_guide")).scalars()}
    assert set(told) == {coordinator.email, german_coordinator.email}
    for message in told.values():
        render_message(db.session, message)
    english, german = told[coordinator.email], told[german_coordinator.email]
    assert english.subject.startswith("Tour on ") and english.subject.endswith(" needs a guide")
    assert "The tour for Alex has no guide any more" in english.body_text
    assert "no other guide who speaks German is free" in english.body_text
    assert f"/tours/{tour.id}" in english.body_text and 'href="http' in english.body_html
    assert german.subject.startswith("Tour am ") and "braucht einen Guide" in german.subject


def test_a_declined_tour_goes_only_to_a_guide_who_speaks_the_partners_language(city, make_guide, make_tour, book):
    """Nobody looks at an automatic reassignment before the partner meets the guide, so a guide who does not
    speak the partner's language is no choice then: the tour waits for the coordinator, who may still pick
    one. (HR booking such a guide knowingly is another matter: test_without_a_free_speaker_another_free_guide…)"""
    day = day_after_now(7)
    english = make_guide(city, languages=("de", "en"))
    tour = book(city, local(day, 9), language="en")
    assert tour.guide_id == english.id
    make_guide(city, languages=("de",))  # free, no tours, never assigned: the rule's first choice but for language

    assert decline_tour(db.session, english, tour, "dentist", now=NOW) == "needs_guide"
    assert (refreshed(tour).status, refreshed(tour).guide_id) == ("needs_guide", None)


def test_a_declined_tour_goes_to_a_busier_guide_who_speaks_the_language(city, make_guide, make_tour, book):
    day = day_after_now(7)
    first = make_guide(city, languages=("en",))
    tour = book(city, local(day, 9), language="en")
    assert tour.guide_id == first.id
    make_guide(city, languages=("de",))
    busy = make_guide(city, languages=("fr", "en"))
    make_tour(busy, local(day + timedelta(days=1), 9), assigned_at=NOW - timedelta(hours=1))

    assert decline_tour(db.session, first, tour, "dentist", now=NOW) == "reassigned"
    assert refreshed(tour).guide_id == busy.id


def test_an_absence_does_not_hand_a_tour_to_a_guide_without_the_language(city, make_guide, book):
    day = day_after_now(7)
    english = make_guide(city, languages=("en",))
    tour = book(city, local(day, 9), language="en")
    make_guide(city, languages=("de",))

    add_absence(db.session, english, english, day, day, None, None, "illness")
    hit = tours_hit_by(db.session, english.id, local(day, 0), local(day + timedelta(days=1), 0))
    outcomes = release_tours_of_absent_guide(db.session, english, english, hit, now=NOW)
    db.session.commit()

    assert [o["outcome"] for o in outcomes] == ["needs_guide"]
    assert refreshed(tour).status == "needs_guide"


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs TOURBOOK_TEST_DATABASE_URL")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_guide_taken_between_the_choice_and_the_lock_is_not_given_a_declined_tour(city, make_guide, book,
                                                                                     monkeypatch):
    """On PostgreSQL the guide the choice picked is locked, and their tours are read again when the version
    the database counts for them moved on: here another HR user books that guide later the same day on
    another connection right after the choice, which reaches their daily limit of one tour (no overlap: the
    exclusion constraint would not notice), and the declined tour waits for the coordinator instead of going
    to a guide who is no longer free."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from tourbook import services
    from tourbook.models import Company

    first = make_guide(city)
    tour = book(city, local(day_after_now(7), 9))
    second = make_guide(city, daily_limit=1)
    hr_id, company_id, city_id = tour.booked_by_id, tour.company_id, city.id
    real_choose = services._choose
    taken: list[int] = []

    def choose_then_taken(session, city_, start, end, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        choice = real_choose(session, city_, start, end, *args, **kwargs)
        if session is not db.session or taken:  # the other booking's own choice, or a second attempt
            return choice
        engine = create_engine(db.engine.url)
        try:
            with Session(engine) as other:
                booked = book_tour(other, other.get(User, hr_id), other.get(City, city_id),
                                   other.get(Company, company_id), start + timedelta(hours=5),
                                   end + timedelta(hours=5), PartnerDetails(first_name="Kim"), now=NOW)
                taken.append(booked.guide_id)
        finally:
            engine.dispose()
        return choice

    monkeypatch.setattr(services, "_choose", choose_then_taken)
    assert decline_tour(db.session, first, tour, "ill", now=NOW) == "needs_guide"
    assert taken == [second.id]  # the other booking got the guide the choice had picked
    assert (refreshed(tour).status, refreshed(tour).guide_id) == ("needs_guide", None)


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs TOURBOOK_TEST_DATABASE_URL")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_guide_another_booking_holds_right_now_is_passed_over_for_the_next(city, make_guide, book):
    """While another booking holds the guide the rule picks first (its transaction locked their row and has
    not ended), a booking at the same moment goes to the next guide in the rule's order at once, instead of
    waiting for the other one to finish."""
    from sqlalchemy import create_engine, text

    first, second = make_guide(city), make_guide(city)
    engine = create_engine(db.engine.url)
    try:
        with engine.connect() as other:
            other.execute(select(User.id).where(User.id == first.id).with_for_update())
            db.session.execute(text("SET LOCAL lock_timeout = '3s'"))  # waiting would fail, not hang
            tour = book(city, local(day_after_now(7), 9))
            other.rollback()
    finally:
        engine.dispose()
    assert tour.guide_id == second.id
    # With nobody holding them, the rule's first choice would have been the other guide: equally busy before,
    # never assigned, lower id; and now the less busy one.
    assert book(city, local(day_after_now(7), 14)).guide_id == first.id


def test_declining_a_tour_that_started_is_refused(city, make_guide, book):
    guide = make_guide(city)
    make_guide(city)
    day = day_after_now(7)
    tour = book(city, local(day, 9))
    assert code_of(decline_tour, db.session, guide, tour, "late", now=local(day, 9, 1)) == "started"
    tour = refreshed(tour)
    assert (tour.status, tour.guide_id, tour.sequence) == ("confirmed", guide.id, 0)


def test_only_the_tours_guide_can_decline_it(city, make_guide, book):
    guide = make_guide(city)
    other = make_guide(city)
    tour = book(city, local(day_after_now(7), 9))
    assert tour.guide_id == guide.id
    assert code_of(decline_tour, db.session, other, tour, "not mine", now=NOW) == "not_changeable"


def test_an_absence_over_tours_reassigns_or_flags_them(city, make_guide, book):
    day = day_after_now(7)
    guide = make_guide(city)
    morning_tour = book(city, local(day, 9))
    afternoon_tour = book(city, local(day, 14))
    assert morning_tour.guide_id == afternoon_tour.guide_id == guide.id
    make_guide(city, windows=MORNINGS)  # can take the morning tour only

    _absence, outcomes = enter_absence(db.session, guide, guide, day, day, None, None, "illness", now=NOW)

    assert [o["outcome"] for o in outcomes] == ["reassigned", "needs_guide"]
    assert refreshed(morning_tour).guide_id not in (None, guide.id)
    assert refreshed(afternoon_tour).status == "needs_guide"
    assert audit_actions(afternoon_tour)[-1] == "tour_released_absence"


# --- assign and outcome ------------------------------------------------------------------------------------


def test_the_coordinator_assigns_a_free_guide_of_the_city_only(
    city, coordinator, make_guide, make_city, book
):
    day = day_after_now(7)
    first = make_guide(city)
    busy = make_guide(city, windows=AFTERNOONS)
    stranger = make_guide(make_city())
    tour = book(city, local(day, 9))
    second = make_guide(city)

    assert code_of(assign_tour, db.session, coordinator, tour, stranger.id, "x", now=NOW) == "unknown_guide"
    assert code_of(assign_tour, db.session, coordinator, tour, busy.id, "x", now=NOW) == "guide_not_free"
    assert code_of(assign_tour, db.session, coordinator, tour, first.id, "x", now=NOW) == "same_guide"

    assign_tour(db.session, coordinator, tour, second.id, "speaks Turkish", now=NOW)
    tour = refreshed(tour)
    assert (tour.guide_id, tour.sequence) == (second.id, 1)
    assert audit_actions(tour) == ["tour_booked", "tour_assigned"]


def test_the_guide_marks_the_outcome_only_after_the_start(city, make_guide, book):
    guide = make_guide(city)
    day = day_after_now(7)
    tour = book(city, local(day, 9))
    assert code_of(mark_outcome, db.session, guide, tour, "done", now=NOW) == "not_yet"
    assert code_of(mark_outcome, db.session, guide, tour, "great", now=local(day, 12)) == "bad_outcome"
    mark_outcome(db.session, guide, tour, "no_show", now=local(day, 12))
    tour = refreshed(tour)
    assert (tour.status, tour.sequence) == ("no_show", 1)
    assert audit_actions(tour) == ["tour_booked", "tour_marked"]


def test_a_cancellation_or_marking_that_meets_a_deadlock_is_tried_again(city, make_guide, book, monkeypatch):
    """PostgreSQL ends one of two transactions that wait for each other (a deadlock): that change is tried
    again with fresh data instead of ending in an error page; after three such rounds it says 'busy'."""
    from sqlalchemy.exc import OperationalError

    from tourbook import services

    guide = make_guide(city)
    day = day_after_now(7)
    cancelled, marked = book(city, local(day, 9)), book(city, local(day, 14))
    real_record = services.record
    deadlocks = {"left": 1}

    def record_after_a_deadlock(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if deadlocks["left"]:
            deadlocks["left"] -= 1
            raise OperationalError("UPDATE tours", {}, Exception("deadlock detected"))
        return real_record(*args, **kwargs)

    monkeypatch.setattr(services, "record", record_after_a_deadlock)
    cancel_tour(db.session, cancelled.booked_by, cancelled, "hr", "moved", now=NOW)
    assert (refreshed(cancelled).status, refreshed(cancelled).sequence) == ("cancelled", 1)
    assert audit_actions(cancelled) == ["tour_booked", "tour_cancelled"]

    deadlocks["left"] = 1
    mark_outcome(db.session, guide, marked, "done", now=local(day, 17))
    assert (refreshed(marked).status, refreshed(marked).sequence) == ("done", 1)
    assert audit_actions(marked) == ["tour_booked", "tour_marked"]

    other = book(city, local(day_after_now(8), 9))
    deadlocks["left"] = services.MAX_ATTEMPTS
    assert code_of(cancel_tour, db.session, other.booked_by, other, "hr", "moved", now=NOW) == "busy"
    assert refreshed(other).status == "confirmed"


# --- the buffer ---------------------------------------------------------------------------------------------


def test_two_tours_exactly_one_buffer_apart_are_allowed_a_minute_less_is_not(city, make_guide, book):
    guide = make_guide(city, daily_limit=5)
    day = day_after_now(7)
    book(city, local(day, 10), 120)  # 10:00–12:00; the buffer is 15 minutes

    assert code_of(book, city, local(day, 12, 14), 60) == "no_guide"  # starts 14 minutes after
    assert code_of(book, city, local(day, 8, 46), 60) == "no_guide"  # ends 14 minutes before
    assert book(city, local(day, 12, 15), 60).guide_id == guide.id
    assert book(city, local(day, 8, 45), 60).guide_id == guide.id
    starts = db.session.execute(select(Tour.starts_at).order_by(Tour.starts_at)).scalars().all()
    assert starts == [local(day, 8, 45), local(day, 10), local(day, 12, 15)]


def test_reschedule_respects_the_buffer_to_the_guides_other_tours(city, make_guide, book):
    guide = make_guide(city, daily_limit=5)
    day = day_after_now(7)
    book(city, local(day, 10), 120)
    other = book(city, local(day, 14), 60)
    assert code_of(reschedule_tour, db.session, other.booked_by, other, local(day, 12, 14),
                   local(day, 13, 14), now=NOW) == "no_guide"
    reschedule_tour(db.session, other.booked_by, other, local(day, 12, 15), local(day, 13, 15), now=NOW)
    assert refreshed(other).guide_id == guide.id


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs TOURBOOK_TEST_DATABASE_URL")
@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_database_refuses_tours_of_one_guide_closer_than_the_buffer(city, make_guide, make_tour):
    """Written straight to the table, past every application check: only the exclusion constraint stands."""
    guide = make_guide(city, daily_limit=10)
    day = day_after_now(7)
    make_tour(guide, local(day, 10), 120)
    make_tour(guide, local(day, 12, 15), 60)  # exactly one buffer after: allowed
    make_tour(guide, local(day, 8, 45), 60)  # ends exactly one buffer before: allowed
    make_tour(guide, local(day, 12, 14), 60, status="cancelled")  # cancelled tours block nobody
    make_tour(None, local(day, 12, 14), 60, city=city, status="needs_guide")

    for start, minutes in ((local(day, 13, 29), 60), (local(day, 7, 0), 106), (local(day, 10, 30), 30)):
        with pytest.raises(IntegrityError, match="ex_tours_guide_no_overlap"):
            make_tour(guide, start, minutes)
        db.session.rollback()

    # Moving a tour into the buffer of another is refused too.
    tour = db.session.execute(
        select(Tour).where(Tour.starts_at == local(day, 8, 45), Tour.guide_id == guide.id)).scalar_one()
    tour.starts_at, tour.ends_at = local(day, 9), local(day, 9, 50)
    tour.blocked_until = tour.ends_at + timedelta(minutes=15)
    with pytest.raises(IntegrityError, match="ex_tours_guide_no_overlap"):
        db.session.commit()
    db.session.rollback()
    assert count_tours(guide_id=guide.id, status="confirmed") == 3


# --- every change is visible to calendars and the audit log -------------------------------------------------


def test_every_change_bumps_the_sequence_and_writes_an_audit_entry(city, coordinator, make_guide,
                                                                    book):
    day = day_after_now(7)
    first = make_guide(city, languages=("de", "en"))
    tour = book(city, local(day, 9))
    second = make_guide(city, languages=("de", "en"))
    steps = [
        ("tour_rescheduled",
         lambda t: reschedule_tour(db.session, t.booked_by, t, local(day, 10), local(day, 12), now=NOW)),
        ("tour_partner_updated",
         lambda t: update_partner_wishes(db.session, t, ["culture"], "en", 2, now=NOW)),
        ("tour_assigned", lambda t: assign_tour(db.session, coordinator, t, second.id, "swap", now=NOW)),
        ("tour_declined", lambda t: decline_tour(db.session, second, t, "ill", now=NOW)),
        ("tour_cancelled",
         lambda t: cancel_tour(db.session, coordinator, t, "coordinator", "closed", now=NOW)),
    ]
    expected = ["tour_booked"]
    for number, (action, change) in enumerate(steps, start=1):
        change(refreshed(tour))
        expected.append(action)
        current = refreshed(tour)
        assert current.sequence == number, action
        assert audit_actions(current) == expected
    assert refreshed(tour).guide_id == first.id  # the decline handed it back to the free first guide
    assert db.session.execute(select(Tour.uid, Tour.token)).all() == [(tour.uid, tour.token)]


def test_a_language_the_guide_does_not_speak_hands_the_tour_to_a_free_guide_who_does(city, make_guide, book):
    day = day_after_now(7)
    german = make_guide(city, languages=("de",))
    tour = book(city, local(day, 9), language="de")
    assert tour.guide_id == german.id
    english = make_guide(city, languages=("en", "de"))

    assert update_partner_wishes(db.session, tour, [], "en", 2, now=NOW) == "reassigned"

    tour = refreshed(tour)
    assert (tour.guide_id, tour.status, tour.partner_language, tour.people) == (english.id, "confirmed", "en", 2)
    assert tour.assigned_at is not None and not tour.guide_lacks_language
    kinds = db.session.execute(select(OutboxMessage.kind, OutboxMessage.recipient)
                               .where(OutboxMessage.tour_id == tour.id)).all()
    assert ("guide_assigned", english.email) in kinds and ("guide_released", german.email) in kinds


@pytest.mark.parametrize(("reader", "told"), [
    ("en", ("Partner asks for English: tour on ", "would like it in English",
            "The tour stays with you; the city office knows.")),
    ("de", ("Partner/in wünscht Englisch: Tour am ", "möchte sie auf Englisch",
            "Die Tour bleibt bei Ihnen; die Servicestelle der Stadt weiß Bescheid.")),
], ids=["english", "german"])
def test_a_new_language_nobody_free_speaks_leaves_the_tour_with_its_guide(
    city, make_guide, make_tour, book, reader, told
):
    """A tour in another language is better than none: the guide keeps it, and the pages say so."""
    day = day_after_now(7)
    german = make_guide(city, languages=("de",), language=reader)
    tour = book(city, local(day, 9), language="de")
    english = make_guide(city, languages=("en",))
    make_tour(english, local(day, 9))  # busy then
    make_guide(city, languages=("de",))  # free, but no better

    assert update_partner_wishes(db.session, tour, [], "en", 1, now=NOW) == "guide_lacks_language"

    tour = refreshed(tour)
    assert (tour.guide_id, tour.status, tour.partner_language) == (german.id, "confirmed", "en")
    assert tour.guide_lacks_language
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "tour_partner_updated")).scalar_one()
    assert entry.details["outcome"] == "guide_lacks_language"
    # The guide is told by mail, nobody else (the partner chose it, the coordinator's page shows it).
    mails = db.session.execute(select(OutboxMessage).where(OutboxMessage.kind == "guide_language")).scalars().all()
    assert [m.recipient for m in mails] == [german.email]
    render_message(db.session, mails[0])
    subject, wish, kept = told  # in the guide's language
    assert mails[0].subject.startswith(subject)
    assert wish in mails[0].body_text and kept in " ".join(mails[0].body_text.split())
    assert db.session.execute(select(OutboxMessage.kind).where(OutboxMessage.kind.in_(
        ("partner_changed", "hr_changed")))).all() == []


def test_the_guide_is_told_when_the_partner_returns_to_a_language_they_speak(city, make_guide, make_tour, book):
    day = day_after_now(7)
    german = make_guide(city, languages=("de",))
    tour = book(city, local(day, 9), language="de")
    make_tour(make_guide(city, languages=("en",)), local(day, 9))  # the English guide is busy then
    assert update_partner_wishes(db.session, tour, [], "en", 1, now=NOW) == "guide_lacks_language"

    assert update_partner_wishes(db.session, refreshed(tour), [], "de", 1, now=NOW) is None

    told = db.session.execute(select(OutboxMessage).where(OutboxMessage.recipient == german.email)
                              .order_by(OutboxMessage.id)).scalars().all()
    assert [m.kind for m in told] == ["guide_assigned", "guide_language", "guide_language_spoken"]
    render_message(db.session, told[-1])
    assert told[-1].subject.startswith("Partner asks for German: tour on ")
    assert "would like it in German now, a language you speak." in told[-1].body_text
    # Interests alone tell the guide nothing by mail (their calendar shows them).
    update_partner_wishes(db.session, refreshed(tour), ["culture"], "de", 1, now=NOW)
    assert db.session.execute(select(OutboxMessage.id).where(OutboxMessage.recipient == german.email)).all() \
        == [(m.id,) for m in told]


def test_a_language_the_guide_speaks_keeps_the_guide(city, make_guide, book):
    first = make_guide(city, languages=("de", "en"))
    tour = book(city, local(day_after_now(7), 9), language="de")
    assert tour.guide_id == first.id
    make_guide(city, languages=("en",))  # free, never assigned: would win a new choice

    assert update_partner_wishes(db.session, tour, [], "en", 1, now=NOW) is None
    assert refreshed(tour).guide_id == first.id


def test_a_guide_who_falls_out_the_day_before_hands_the_tour_to_a_free_guide(city, make_guide, book):
    """The lead time is a rule for booking: automatic reassignment inside it works as a coordinator would."""
    day = day_after_now(7)
    first = make_guide(city, languages=("de",))
    tour = book(city, local(day, 9), language="de")
    other = make_guide(city, languages=("de",))
    third = make_guide(city, languages=("de",))
    day_before = local(day, 9) - timedelta(hours=20)

    assert decline_tour(db.session, first, tour, "ill", now=day_before) == "reassigned"
    taker = refreshed(tour).guide_id
    assert taker in (other.id, third.id)
    # An absence too: the last free guide who speaks German takes it (not the one who declined it).
    add_absence(db.session, refreshed(tour).guide, refreshed(tour).guide, day, day, None, None, "illness")
    absent = db.session.get(User, taker)
    assert release_tours_of_absent_guide(db.session, absent, absent, [refreshed(tour)], now=day_before)[0]["outcome"] \
        == "reassigned"
    assert refreshed(tour).guide_id == ({other.id, third.id} - {taker}).pop()


def test_a_new_language_inside_the_lead_time_leaves_the_tour_with_its_guide(city, make_guide, book):
    """The guide may be on the way already: no automatic handover then, however many guides are free."""
    day = day_after_now(7)
    german = make_guide(city, languages=("de",))
    tour = book(city, local(day, 9), language="de")
    make_guide(city, languages=("en",))  # free
    hours_before = local(day, 9) - timedelta(hours=3)

    assert update_partner_wishes(db.session, tour, [], "en", 1, now=hours_before) == "guide_lacks_language"

    tour = refreshed(tour)
    assert (tour.guide_id, tour.partner_language) == (german.id, "en") and tour.guide_lacks_language
    told = db.session.execute(select(OutboxMessage.kind, OutboxMessage.recipient)
                              .where(OutboxMessage.kind.in_(("guide_language", "guide_released")))).all()
    assert told == [("guide_language", german.email)]


def test_a_guide_who_declined_a_tour_does_not_get_it_back_by_themselves(city, coordinator, make_guide, book):
    day = day_after_now(7)
    first = make_guide(city)
    tour = book(city, local(day, 9))
    second = make_guide(city)
    assert decline_tour(db.session, first, tour, "ill", now=NOW) == "reassigned"
    assert refreshed(tour).guide_id == second.id

    add_absence(db.session, second, second, day, day, None, None, "illness")
    outcome = release_tours_of_absent_guide(db.session, second, second, [refreshed(tour)], now=NOW)

    assert outcome[0]["outcome"] == "needs_guide"  # not back to the guide who declined it
    assert (refreshed(tour).status, refreshed(tour).guide_id) == ("needs_guide", None)
    assign_tour(db.session, coordinator, refreshed(tour), first.id, "feels better, asked on the phone", now=NOW)
    assert refreshed(tour).guide_id == first.id  # the coordinator may


def test_saving_the_partners_wishes_unchanged_changes_nothing(city, make_guide, book):
    make_guide(city, languages=("de",))
    tour = book(city, local(day_after_now(7), 9), language="de")
    update_partner_wishes(db.session, tour, ["culture"], "de", 2, now=NOW)
    assert refreshed(tour).sequence == 1

    assert update_partner_wishes(db.session, refreshed(tour), ["culture"], "de", 2, now=NOW) is None
    assert refreshed(tour).sequence == 1
    assert audit_actions(tour) == ["tour_booked", "tour_partner_updated"]


def _meanwhile(app, change: Callable[[], object]) -> None:  # noqa: ANN001
    """Another request changes the tour and commits while this one holds what it read before."""
    with app.app_context():
        change()
        db.session.remove()


def test_a_decline_does_not_write_over_the_partners_new_guide_of_the_same_moment(app, city, make_guide, book):
    day = day_after_now(7)
    german = make_guide(city, languages=("de",))
    tour = book(city, local(day, 9), language="de")
    make_guide(city, languages=("de",))
    english = make_guide(city, languages=("en",))
    db.session.commit()
    read = db.session.get(Tour, tour.id)  # the guide's decline request has read the tour (tours.tour_for)
    assert read.partner_language == "de"

    _meanwhile(app, lambda: update_partner_wishes(db.session, db.session.get(Tour, tour.id), [], "en", 1, now=NOW))

    assert code_of(decline_tour, db.session, db.session.get(User, german.id), read, "ill", now=NOW) \
        == "not_changeable"  # the tour is no longer theirs
    tour = refreshed(tour)
    assert (tour.guide_id, tour.partner_language) == (english.id, "en")


def test_a_reschedule_reads_the_guide_the_partners_change_of_the_same_moment_gave_the_tour(
    app, city, make_guide, book
):
    day = day_after_now(7)
    make_guide(city, languages=("de",))  # all day
    tour = book(city, local(day, 9), language="de")
    english = make_guide(city, languages=("en",), windows=MORNINGS)  # mornings only
    hr = db.session.get(User, tour.booked_by_id)
    db.session.commit()
    read = db.session.get(Tour, tour.id)  # HR's request has read the tour
    assert read.partner_language == "de"

    _meanwhile(app, lambda: update_partner_wishes(db.session, db.session.get(Tour, tour.id), [], "en", 1, now=NOW))

    reschedule_tour(db.session, hr, read, local(day, 15), local(day, 17), now=NOW)
    tour = refreshed(tour)
    assert tour.guide_id != english.id  # who is not free in the afternoon
    assert (tour.partner_language, tour.sequence) == ("en", 2)  # both changes count
    told = db.session.execute(select(OutboxMessage.recipient).where(OutboxMessage.kind == "guide_released")).all()
    assert (english.email,) in told  # the English guide learns the tour is no longer theirs


def test_a_tour_that_needs_a_guide_tomorrow_gets_one_by_saving_its_time_again(city, make_guide, make_tour, make_user):
    """Not a new booking: the lead time does not hold for the time the tour already has."""
    free = make_guide(city)
    tour = make_tour(None, NOW + timedelta(hours=6), city=city, status="needs_guide")  # today, 14:00
    hr = make_user(Role.HR, company=tour.company)

    reschedule_tour(db.session, hr, tour, tour.starts_at, tour.ends_at, now=NOW)

    assert (refreshed(tour).status, refreshed(tour).guide_id) == ("confirmed", free.id)
    assert code_of(reschedule_tour, db.session, hr, refreshed(tour), tour.starts_at + timedelta(hours=1),
                   tour.ends_at + timedelta(hours=1), now=NOW) == "too_soon"  # another time is a new question


def test_an_absence_over_two_tours_while_the_second_is_cancelled_is_no_deadlock(
    app, backend, city, make_guide, book, monkeypatch
):
    """The absence locks the tours it hits first, all at once, then the guide's row: saving a tour locks its
    guide's row (the feed version trigger), and a cancellation of the next one, holding that tour, waits for
    the guide's row."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises whole transactions")
    from tourbook import services

    guide = make_guide(city)
    day = day_after_now(7)
    first, second = book(city, local(day, 9)), book(city, local(day, 14))
    assert first.guide_id == second.guide_id == guide.id
    hr_id, second_id = second.booked_by_id, second.id
    holding = held_a_second_at(monkeypatch, services, "record", "cancel")  # holding its tour, before saving it

    def cancel(other: Session) -> None:
        cancel_tour(other, other.get(User, hr_id), other.get(Tour, second_id), "hr", "moved", now=NOW)

    with in_another_connection(app, "cancel", cancel) as errors:
        assert holding.wait(5)
        try:
            enter_absence(db.session, guide, guide, day, day, None, None, "illness", now=NOW)
        except BaseException as error:  # noqa: BLE001
            errors["absence"] = error
            db.session.rollback()
    assert errors == {}
    assert (refreshed(first).status, refreshed(second).status) == ("needs_guide", "cancelled")


@pytest.mark.parametrize("change", ["absence", "window_removed"])
def test_a_booking_does_not_give_a_guide_a_tour_their_hours_lost_meanwhile(
    app, backend, city, make_guide, book, monkeypatch, change
):
    """PostgreSQL: the booking chose the only free guide on what it read; before it locks the guide, the guide's
    absence (or the removal of their window) is saved by another connection. Behind the lock the booking reads
    the guide's calendar again and answers that nobody is free, instead of a tour inside the absence."""
    if backend != "postgresql":
        pytest.skip("SQLite: a booking holds the write lock from its first read")
    from sqlalchemy import create_engine

    from tourbook import services
    from tourbook.hours import remove_window
    from tourbook.models import AvailabilityWindow

    guide = make_guide(city)
    day = day_after_now(7)
    guide_id = guide.id
    engine = create_engine(db.engine.url)
    real_choose = services._choose

    def choose_then_the_hours_change(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        choice = real_choose(*args, **kwargs)
        with app.app_context(), Session(engine) as other:
            me = other.get(User, guide_id)
            if change == "absence":
                enter_absence(other, me, me, day, day, None, None, "illness", now=NOW)
            else:
                for window in other.execute(select(AvailabilityWindow).where(
                        AvailabilityWindow.guide_id == guide_id)).scalars():
                    remove_window(other, me, window)
                other.commit()
        monkeypatch.setattr(services, "_choose", real_choose)  # once
        return choice

    monkeypatch.setattr(services, "_choose", choose_then_the_hours_change)
    try:
        assert code_of(book, city, local(day, 9)) in ("slot_taken", "no_guide")
    finally:
        engine.dispose()
    assert db.session.execute(select(Tour).where(Tour.guide_id == guide_id)).first() is None


def test_an_absence_while_the_tour_is_moved_waits_for_the_move_and_is_saved(
    app, backend, city, make_guide, book, monkeypatch
):
    """PostgreSQL: HR moves the guide's tour (holding the tour, about to lock the guide) while the guide's
    absence for that day is entered: the absence waits for the move, then hands the moved tour on. It used to
    take the guide's row first (its reference to the guide) and end in a deadlock, the absence lost."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises whole transactions")
    from tourbook import services
    from tourbook.models import Absence

    guide = make_guide(city)
    day = day_after_now(7)
    tour = book(city, local(day, 9))
    assert tour.guide_id == guide.id
    hr_id, tour_id = tour.booked_by_id, tour.id
    # The move holds its tour, before it locks the guide.
    holding = held_a_second_at(monkeypatch, services, "_lock_a_free_guide", "move")

    def move(other: Session) -> None:
        reschedule_tour(other, other.get(User, hr_id), other.get(Tour, tour_id), local(day, 13), local(day, 15),
                        now=NOW)

    outcomes: list[dict] = []
    with in_another_connection(app, "move", move) as errors:
        assert holding.wait(5)
        try:
            outcomes = enter_absence(db.session, guide, guide, day, day, None, None, "illness", now=NOW)[1]
        except BaseException as error:  # noqa: BLE001
            errors["absence"] = error
            db.session.rollback()
    assert errors == {}
    assert db.session.execute(select(Absence).where(Absence.guide_id == guide.id)).scalar_one().reason == "illness"
    moved = refreshed(tour)
    assert (moved.starts_at, moved.status, moved.guide_id) == (local(day, 13), "needs_guide", None)
    assert [o["outcome"] for o in outcomes] == ["needs_guide"]


def test_a_new_time_does_not_give_the_tour_back_to_the_guide_who_declined_it(city, make_guide, book):
    day = day_after_now(7)
    first = make_guide(city)
    tour = book(city, local(day, 9))
    assert decline_tour(db.session, first, tour, "ill", now=NOW) == "needs_guide"

    assert code_of(reschedule_tour, db.session, tour.booked_by, refreshed(tour), local(day, 9), local(day, 11),
                   now=NOW) == "no_guide"
    assert code_of(reschedule_tour, db.session, tour.booked_by, refreshed(tour), local(day, 13), local(day, 15),
                   now=NOW) == "no_guide"
    other = make_guide(city)
    reschedule_tour(db.session, tour.booked_by, refreshed(tour), local(day, 13), local(day, 15), now=NOW)
    assert (refreshed(tour).status, refreshed(tour).guide_id) == ("confirmed", other.id)


def lacking(city: City) -> list[int]:
    """The ids of the city's tours on the coordinator's attention list of guides without the language."""
    query = lacking_language(select(Tour).where(Tour.city_id == city.id), NOW)
    return [t.id for t in db.session.execute(query).unique().scalars()]


def test_a_coordinator_who_keeps_a_guide_without_the_language_takes_the_tour_off_the_attention_list(
    city, coordinator, make_guide, make_tour, book
):
    day = day_after_now(7)
    german = make_guide(city, languages=("de",))
    tour = book(city, local(day, 9), language="de")
    assert update_partner_wishes(db.session, tour, [], "en", 1, now=NOW) == "guide_lacks_language"
    assert lacking(city) == [tour.id]
    assert code_of(accept_language, db.session, german, tour, now=local(day, 12)) == "not_changeable"  # over

    accept_language(db.session, coordinator, refreshed(tour), now=NOW)

    tour = refreshed(tour)
    assert tour.language_accepted and tour.guide_lacks_language and tour.guide_id == german.id
    assert lacking(city) == []
    assert tour.sequence == 1  # nothing changed for guide or partner: no new sequence, no mail
    assert db.session.execute(select(OutboxMessage.kind).where(OutboxMessage.kind == "guide_language")).all() \
        == [("guide_language",)]
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "tour_language_accepted")).scalar_one()
    assert (entry.actor_id, entry.details["language"], entry.details["guide_id"]) == (coordinator.id, "en", german.id)
    assert code_of(accept_language, db.session, coordinator, tour, now=NOW) == "already_kept"  # twice

    # Another language later is a new question: the tour is on the list again.
    assert update_partner_wishes(db.session, tour, [], "fr", 1, now=NOW) == "guide_lacks_language"
    assert not refreshed(tour).language_accepted and lacking(city) == [tour.id]


def test_a_guide_who_speaks_the_language_has_nothing_to_keep(city, coordinator, make_guide, book):
    make_guide(city, languages=("de",))
    tour = book(city, local(day_after_now(7), 9), language="de")
    assert code_of(accept_language, db.session, coordinator, tour, now=NOW) == "language_spoken"
    assert not refreshed(tour).language_accepted


def test_assigning_a_guide_without_the_language_by_hand_keeps_them_knowingly(city, coordinator, make_guide, book):
    day = day_after_now(7)
    make_guide(city, languages=("en",))
    tour = book(city, local(day, 9), language="en")
    french = make_guide(city, languages=("fr",))
    speaker = make_guide(city, languages=("en", "fr"))

    assign_tour(db.session, coordinator, tour, french.id, "the partner speaks French too", now=NOW)
    assert refreshed(tour).language_accepted and lacking(city) == []

    # A guide who speaks it: nothing to keep any more; and the flag does not outlive its guide.
    assign_tour(db.session, coordinator, refreshed(tour), speaker.id, "back to English", now=NOW)
    assert not refreshed(tour).language_accepted
    assign_tour(db.session, coordinator, refreshed(tour), french.id, "again", now=NOW)
    decline_tour(db.session, french, refreshed(tour), "ill", now=NOW)
    tour = refreshed(tour)
    assert tour.guide_id != french.id and "en" in tour.guide.languages and not tour.language_accepted


def test_partner_wishes_cannot_change_a_cancelled_tour(city, make_guide, book):
    make_guide(city)
    tour = book(city, local(day_after_now(7), 9))
    cancel_tour(db.session, None, tour, "partner", "", now=NOW)
    assert code_of(update_partner_wishes, db.session, tour, [], "en", 1, now=NOW) == "not_changeable"
    assert refreshed(tour).sequence == 1


def test_tokens_are_unique_per_tour(city, make_guide, book):
    make_guide(city)
    day = day_after_now(7)
    tokens = {book(city, local(day + timedelta(days=i), 9)).token for i in range(3)}
    assert len(tokens) == 3
