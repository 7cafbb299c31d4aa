"""Odd input: a time that is no time, a checkbox value nobody offered or sent forty times, a calendar
request header with a year no date holds. The answer is a 422 with the error at the field, in the reader's
language, and what was typed kept (or, for the header, the feed) -- never a 500."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from factories_tours import bookable_day, make_guide_fixture, make_tour_fixture  # noqa: F401 - fixtures
from flask import Flask
from helpers_foundation import field_error, input_value, text_of
from sqlalchemy import select

from tourbook.extensions import db
from tourbook.feeds import feed_url
from tourbook.models import Absence, City, Company, Role, Tour, User


@pytest.fixture
def city(make_city: Callable[..., City]) -> City:
    return make_city(name="Siegen", slug="siegen")


@pytest.fixture
def company(make_company: Callable[..., Company], city: City) -> Company:
    return make_company(cities=[city], name="Hüttenwerk GmbH", address="Hüttenstraße 12, 57072 Siegen")


@pytest.fixture
def guide(make_guide: Callable[..., User], city: City) -> User:
    return make_guide(city, name="Gisela Guide", languages=("de", "en"), language="de")


@pytest.fixture
def tour(make_tour: Callable[..., Tour], guide: User, company: Company) -> Tour:
    return make_tour(guide, datetime.now(UTC) + timedelta(days=10), company=company)


def signed_in(app: Flask, user: User, language: str | None = None):  # noqa: ANN201
    """A browser signed in as ``user``; ``language`` switches the pages to it (else the account's)."""
    browser = app.test_client()
    response = browser.post("/login", data={"email": user.email, "password": "correct horse battery staple"})
    assert response.status_code == 303
    if language:
        browser.get(f"/?lang={language}")
    return browser


# --- wtforms' own messages, which it has in English only ---------------------------------------------


@pytest.mark.parametrize(("language", "message"), [
    ("de", "Bitte geben Sie eine Uhrzeit ein, z. B. 09:00."),
    ("en", "Please enter a time, e.g. 09:00."),
])
def test_an_absence_time_that_is_no_time_is_explained_in_the_readers_language(
        app: Flask, guide: User, language: str, message: str):
    # A browser without a time picker sends what was typed.
    browser = signed_in(app, guide, language)
    day = bookable_day(days=20).isoformat()
    for headers in ({}, {"HX-Request": "true"}):
        response = browser.post(f"/guides/{guide.id}/absences", headers=headers, data={
            "absence-first_day": day, "absence-last_day": day, "absence-start_time": "9 Uhr",
            "absence-end_time": "25:61", "absence-reason": "training",
        })
        assert response.status_code == 422
        assert field_error(response, "absence-start_time") == message
        assert field_error(response, "absence-end_time") == message.replace("09:00", "12:00")
        assert "Not a valid time value" not in text_of(response)
        assert input_value(response, "absence-start_time") == "9 Uhr"
        assert input_value(response, "absence-first_day") == day
    assert db.session.execute(select(Absence)).first() is None


def test_a_language_nobody_offered_is_refused_in_german_without_repeating_it(app: Flask, guide: User):
    browser = signed_in(app, guide)
    sent = "klingonisch" + "x" * 5000
    response = browser.post(f"/guides/{guide.id}/profile", data={
        "profile-languages": ["de", sent], "profile-daily_limit": "2", "profile-weekly_limit": "5",
    })
    assert response.status_code == 422
    assert field_error(response, "profile-languages") == "Keine gültige Auswahl."
    assert sent not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, guide.id).languages == ["de", "en"]


def test_an_interest_nobody_offered_is_refused_in_the_booking_form_in_german(
        app: Flask, make_user: Callable[..., User], company: Company, city: City, guide: User):
    hr = make_user(Role.HR, company=company, language="de")
    browser = signed_in(app, hr)
    day = bookable_day(days=10).isoformat()
    response = browser.post("/tours/new", data={
        "city": str(city.id), "day": day, "start": "10:00", "end": "12:00", "language": "de",
        "first_name": "Mira", "people": "2", "interests": ["housing", "<b>mars</b>"],
        "meeting_point": "company", "consent": "y",
    })
    assert response.status_code == 422
    assert field_error(response, "interests") == "Keine gültige Auswahl."
    assert "mars" not in response.get_data(as_text=True)
    assert input_value(response, "first_name") == "Mira"
    assert db.session.execute(select(Tour)).first() is None


@pytest.mark.parametrize(("language", "message"), [("de", "Keine gültige Auswahl."), ("en", "Not a valid choice.")])
def test_an_interest_nobody_offered_is_refused_on_the_partners_page_in_their_language(
        app: Flask, tour: Tour, language: str, message: str):
    db.session.get(Tour, tour.id).partner_language = language
    db.session.commit()
    response = app.test_client().post(f"/t/{tour.token}/wishes", data={
        "interests": ["culture", "🙂"], "language": language, "people": "3",
    })
    assert response.status_code == 422
    assert field_error(response, "interests") == message
    assert "🙂" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Tour, tour.id).people == 1


# --- a box ticked twice ----------------------------------------------------------------------------
# The codes are stored joined, in columns as long as all codes once: on PostgreSQL forty of one were a 500.


def test_an_interest_sent_many_times_is_booked_once(
        app: Flask, make_user: Callable[..., User], company: Company, city: City, guide: User):
    hr = make_user(Role.HR, company=company, language="en")
    browser = signed_in(app, hr)
    response = browser.post("/tours/new", data={
        "city": str(city.id), "day": bookable_day(days=10).isoformat(), "start": "10:00", "end": "12:00",
        "language": "de", "first_name": "Mira", "people": "2", "interests": ["housing", "nature"] * 40,
        "meeting_point": "company", "consent": "y",
    })
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.execute(select(Tour)).scalar_one().interest_list == ["housing", "nature"]


def test_a_partner_interest_sent_many_times_is_saved_once(app: Flask, tour: Tour):
    response = app.test_client().post(f"/t/{tour.token}/wishes", data={
        "interests": ["culture"] * 40 + ["work"], "language": "de", "people": "3",
    })
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Tour, tour.id).interest_list == ["culture", "work"]


def test_a_guide_language_sent_many_times_is_saved_once(app: Flask, guide: User):
    response = signed_in(app, guide).post(f"/guides/{guide.id}/profile", data={
        "profile-languages": ["fr"] * 40 + ["de"], "profile-daily_limit": "2", "profile-weekly_limit": "5",
    })
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, guide.id).languages == ["fr", "de"]


# --- the calendar feed ------------------------------------------------------------------------------


@pytest.mark.parametrize("since", [
    "Tue, 01 Jan 2999999999 00:00:00 GMT",  # a year no datetime holds
    "Mon, 01 Jan 2020 00:00:00 +9999",  # an offset no time zone has
    "Fri, 31 Dec 9999 23:59:59 -0100",
    "yesterday",
])
def test_a_feed_asked_with_an_odd_if_modified_since_is_sent_in_full(app: Flask, guide: User, tour: Tour,
                                                                      since: str):
    with app.test_request_context():
        url = feed_url(guide)
    db.session.commit()
    response = app.test_client().get("/" + url.split("://", 1)[1].split("/", 1)[1],
                                     headers={"If-Modified-Since": since})
    if since.startswith("Fri, 31 Dec 9999"):  # a date after every change: nothing new
        assert response.status_code == 304
        return
    assert response.status_code == 200
    assert b"BEGIN:VEVENT" in response.data
