"""Tours in the browser's words: HR books through the form (plain and htmx, good and bad input, the live
availability answer and its alternatives, the race loser's message), lists and filters, the tour page,
reschedule and cancel; the guide's list, decline and outcome; the coordinator's queue and assignment; the
partner's page in their language, wishes, cancel, expiry; and the .ics downloads.

The office accounts read English (their language setting wins over Accept-Language) and the texts asserted
are the English ones; the partner's page is checked in both languages."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from babel.dates import format_date
from factories_tours import (  # noqa: F401 - fixtures
    AFTERNOONS_ONLY,
    BERLIN,
    MORNINGS_ONLY,
    bookable_day,
    local,
    make_guide_fixture,
    make_tour_fixture,
)
from flask import Flask
from helpers_foundation import (  # noqa: F401 - fixtures
    HTMX,
    english_client,
    english_make_user,
    field_error,
    fresh_request_globals,
    input_value,
    text_of,
)
from sqlalchemy import event, func, select

from tourbook import tours as tours_views
from tourbook.extensions import db
from tourbook.mail import render_message
from tourbook.models import AuditEntry, City, Company, OutboxMessage, Role, Tour, User, utcnow
from tourbook.services import TourError


@pytest.fixture
def city(make_city: Callable[..., City]) -> City:
    return make_city(name="Siegen Testcity")


@pytest.fixture
def company(make_company: Callable[..., Company], city: City) -> Company:
    return make_company(cities=[city], name="Hüttenwerk Test GmbH", address="Hüttenstraße 12, 57072 Siegen")


@pytest.fixture
def hr(make_user: Callable[..., User], company: Company) -> User:
    return make_user(Role.HR, company=company, name="Hanna Personal")


@pytest.fixture
def guide(make_guide: Callable[..., User], city: City) -> User:
    return make_guide(city, name="Greta Guide", languages=("de", "en"))


@pytest.fixture
def coordinator(make_user: Callable[..., User], city: City) -> User:
    return make_user(Role.COORDINATOR, city=city, name="Cora Coordinator")


@pytest.fixture
def day() -> date:
    return bookable_day(days=10)


def tour_form(city: City, day: date, /, **fields: object) -> dict:
    data: dict = {
        "city": str(city.id), "day": day.isoformat(), "start": "10:00", "end": "12:00", "language": "en",
        "first_name": "Mira", "last_name": "Okafor", "email": "mira@example.org", "phone": "+49 171 1234567",
        "people": "3", "interests": ["housing", "schools"], "accessibility_needs": "Pram",
        "guide_note": "Likes football", "meeting_point": "company", "consent": "y",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def only_tour() -> Tour:
    db.session.expire_all()
    return db.session.execute(select(Tour)).scalar_one()


def tour_count() -> int:
    db.session.expire_all()
    return len(db.session.execute(select(Tour.id)).all())


def is_fragment(response) -> bool:  # noqa: ANN001
    return "<html" not in response.get_data(as_text=True)


def availability_text(response) -> str:  # noqa: ANN001
    html = response.get_data(as_text=True)
    match = re.search(r'<div id="availability".*?</div>', html, re.S)
    assert match, "no availability answer on the page"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(0))).split())


def times_shown(response) -> tuple:  # noqa: ANN001
    return input_value(response, "day"), input_value(response, "start"), input_value(response, "end")


def alternatives_of(response) -> list[str]:  # noqa: ANN001
    return re.findall(r'name="adopt" value="([^"]+)"', response.get_data(as_text=True))


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def ics_lines(response) -> list[str]:  # noqa: ANN001
    body = response.get_data(as_text=True).replace("\r\n ", "")  # unfold
    return body.split("\r\n")


# --- booking through the form -------------------------------------------------------------------------------


def test_the_new_tour_form_offers_the_companys_cities_and_defaults(client, login, hr, city, make_city):
    make_city(name="Elsewhere")  # not enrolled
    login(hr)
    response = client.get("/tours/new")
    assert response.status_code == 200
    page = text_of(response)
    assert "Book a partner tour" in page and "Siegen Testcity" in page and "Elsewhere" not in page
    assert "Enter date and times to see whether a guide is free." in page


def test_without_javascript_the_booking_form_checks_a_time_without_booking(client, login, hr, guide, city, day):
    """The "Check this time" button (shown without JavaScript): the answer beside the form, what was typed kept,
    no tour and no errors for fields not filled in yet."""
    login(hr)
    assert '<noscript><p><button type="submit" name="check"' in client.get("/tours/new").get_data(as_text=True)
    data = {**tour_form(city, day), "check": "1", "first_name": ""}
    response = client.post("/tours/new", data=data)
    assert response.status_code == 200
    page = text_of(response)
    assert "A guide is free at this time." in page and "Please" not in page
    assert tour_count() == 0
    assert f'value="{day.isoformat()}"' in response.get_data(as_text=True)


def test_hr_books_with_a_plain_post_and_sees_the_partner_link_and_ics(client, login, hr, guide, city, day):
    login(hr)
    response = client.post("/tours/new", data=tour_form(city, day))
    assert response.status_code == 303, text_of(response)[:800]
    tour = only_tour()
    assert response.headers["Location"] == f"/tours/{tour.id}?booked=1"
    assert (tour.guide_id, tour.status, tour.booked_by_id) == (guide.id, "confirmed", hr.id)
    assert (tour.starts_at, tour.ends_at) == (local(day, 10), local(day, 12))
    assert (tour.partner_first_name, tour.partner_email, tour.people) == ("Mira", "mira@example.org", 3)
    assert tour.interest_list == ["housing", "schools"]
    assert tour.meeting_point == "Hüttenstraße 12, 57072 Siegen"
    assert tour.consent_at is not None

    page = client.get(response.headers["Location"])
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    # One message, and the link to pass on is in it.
    success = re.search(r'<section class="kern-alert kern-alert--success".*?</section>', body, re.S).group(0)
    assert "Booked. Please pass this link on to Mira." in success
    assert re.search(rf'id="partner-link"[^>]*value="http://localhost/t/{tour.token}/"', success)
    assert body.count('id="partner-link"') == 1 and body.count("kern-alert--success") == 1
    assert f'href="/tours/{tour.id}/tour.ics"' in body
    assert "Greta" in text_of(page)


def test_the_same_booking_form_sent_twice_books_one_tour(client, login, hr, guide, make_guide, city, day):
    """A double click or a post sent again: the form's own key finds the tour it booked; a second guide was free,
    so without it a second tour would have been booked."""
    make_guide(city, name="Second Guide", languages=("de", "en"))
    login(hr)
    key = input_value(client.get("/tours/new"), "request_key")
    assert key and len(key) >= 16
    first = client.post("/tours/new", data=tour_form(city, day, request_key=key))
    again = client.post("/tours/new", data=tour_form(city, day, request_key=key))
    assert first.status_code == again.status_code == 303
    assert again.headers["Location"] == first.headers["Location"]
    assert tour_count() == 1
    assert db.session.execute(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "tour_booked")).scalar_one() == 1, "booked once: one audit entry (and one set of mails)"
    # Back in the browser, another partner typed into the same form: a booking of its own.
    other = client.post("/tours/new", data=tour_form(city, day, request_key=key, first_name="Jonas"))
    assert other.status_code == 303 and other.headers["Location"] != first.headers["Location"]
    assert tour_count() == 2
    # Cancelled meanwhile, and the same form sent again from the browser's history: booked anew.
    client.post(first.headers["Location"].split("?")[0] + "/cancel", data={"reason": "Interview moved"})
    anew = client.post("/tours/new", data=tour_form(city, day, request_key=key))
    assert anew.status_code == 303 and anew.headers["Location"] != first.headers["Location"]
    assert tour_count() == 3
    # A key of another shape counts as none (and is not shown again).
    odd = client.post("/tours/new", data=tour_form(city, day, request_key="x\"><b>", first_name="Ola",
                                                   start="14:00", end="16:00"))
    assert odd.status_code == 303 and tour_count() == 4


def test_hr_books_with_htmx_and_is_sent_on_with_hx_redirect(client, login, hr, guide, city, day):
    login(hr)
    response = client.post("/tours/new", data=tour_form(city, day, meeting_point="station"), headers=HTMX)
    assert response.status_code == 204
    tour = only_tour()
    assert response.headers["HX-Redirect"] == f"/tours/{tour.id}?booked=1"
    assert tour.meeting_point == "Siegen Testcity main station"
    assert tour.meeting_place == "station"


def test_station_and_city_hall_are_named_in_the_language_of_each_page_and_mail(client, login, hr, guide, city, day):
    """The HR user's pages are English, the partner speaks German: the place is named in each reader's
    language, and stored in the partner's."""
    login(hr)
    response = client.post("/tours/new", data=tour_form(city, day, meeting_point="city_hall", language="de"))
    assert response.status_code == 303, text_of(response)[:800]
    tour = only_tour()
    assert (tour.meeting_place, tour.meeting_point) == ("city_hall", "Rathaus Siegen Testcity")
    assert "City hall Siegen Testcity" in text_of(client.get(f"/tours/{tour.id}"))

    partner = client.application.test_client()
    assert "Rathaus Siegen Testcity" in text_of(partner.get(f"/t/{tour.token}/"))
    assert "City hall Siegen Testcity" in text_of(partner.get(f"/t/{tour.token}/?lang=en"))

    messages = {m.kind: m for m in db.session.execute(select(OutboxMessage)).scalars()}
    with client.application.test_request_context():  # as the worker writes them
        for message in messages.values():
            render_message(db.session, message)
    assert "Rathaus Siegen Testcity" in messages["partner_booked"].body_text
    assert "City hall Siegen Testcity" in messages["hr_booked"].body_text
    assert "METHOD:REQUEST" in messages["partner_booked"].ics and "LOCATION:Rathaus Siegen Testcity" in \
        messages["partner_booked"].ics
    guide_says = "Rathaus" if guide.language == "de" else "City hall"
    assert f"{guide_says} Siegen Testcity" in messages["guide_assigned"].body_text


BAD_INPUT = [
    ("first_name", {"first_name": ""}, "Please enter the partner's first name."),
    ("first_name", {"first_name": "M" * 81}, "Field cannot be longer than 80 characters."),
    ("last_name", {"last_name": "O" * 81}, "Field cannot be longer than 80 characters."),
    ("email", {"email": "mira(at)example"}, "Please enter an email address like name@example.org."),
    ("phone", {"phone": "call me maybe"}, "A phone number, e.g. +49 171 1234567."),
    ("people", {"people": "0"}, "Between 1 and 20."),
    ("people", {"people": "21"}, "Between 1 and 20."),
    ("people", {"people": "abc"}, "Not a valid integer value."),
    ("people", {"people": ""}, "Please enter a number."),
    ("consent", {"consent": None}, "Please confirm the partner's consent."),
    ("language", {"language": "xx"}, "Not a valid choice."),
    ("meeting_point", {"meeting_point": "the moon"}, "Not a valid choice."),
    ("interests", {"interests": ["housing", "casino"]}, "Not a valid choice."),
    ("guide_note", {"guide_note": "x" * 1001}, "Field cannot be longer than 1000 characters."),
    ("accessibility_needs", {"accessibility_needs": "bad\x00byte"},
     "Contains characters that are not allowed."),
    ("start", {"start": "11:00", "end": "10:00"}, "The end must be after the start."),
    ("start", {"start": "10:00", "end": "10:45"}, "A tour lasts at least 60 minutes."),
    ("start", {"start": "08:00", "end": "12:30"}, "A tour lasts at most 240 minutes."),
    ("start", {"day": "PAST"}, "Tours are booked at least 24 hours ahead."),
    ("start", {"day": "FAR"}, "Tours are booked at most 120 days ahead."),
    ("start", {"day": "9999-12-31"}, "Tours are booked at most 120 days ahead."),  # the end of the calendar
    ("start", {"day": "0001-01-01", "start": "00:15"}, "Tours are booked at least 24 hours ahead."),
    ("city", {"city": "999999"}, "Not a valid choice."),
    ("city", {"city": "OTHER"}, "Not a valid choice."),
    ("city", {"city": "Siegen"}, "Invalid Choice: could not coerce."),
    ("day", {"day": "2031-02-31"}, "Please enter a date."),
    ("day", {"day": "tomorrow"}, "Please enter a date."),
    ("day", {"day": ""}, "Please enter a date."),
    ("start", {"start": "25:99"}, "Please enter a time, e.g. 09:00."),
    ("end", {"end": "noon"}, "Please enter a time, e.g. 11:00."),
]


def test_bad_input_on_every_field_is_refused_with_a_message_and_keeps_what_was_typed(
    client, login, hr, guide, city, day, make_city, subtests
):
    other_city = make_city(name="Not Enrolled")
    login(hr)
    for number, (field, change, message) in enumerate(BAD_INPUT):
        change = dict(change)
        if change.get("day") == "PAST":
            change["day"] = (datetime.now(BERLIN).date() - timedelta(days=3)).isoformat()
        elif change.get("day") == "FAR":
            change["day"] = bookable_day(days=125).isoformat()
        if change.get("city") == "OTHER":
            change["city"] = str(other_city.id)
        for headers in ({}, HTMX):
            with subtests.test(field=field, case=number, htmx=bool(headers)):
                response = client.post("/tours/new", data=tour_form(city, day, **change), headers=headers)
                assert response.status_code == 422, text_of(response)[:600]
                assert message.lower() in field_error(response, field).lower(), field_error(response, field)
                assert is_fragment(response) == bool(headers)
                assert "Please correct the marked fields." in text_of(response) or field == "start"
                # What was typed is still there.
                if field != "first_name":
                    assert input_value(response, "first_name") == "Mira"
                assert input_value(response, "guide_note") == change.get("guide_note", "Likes football")
                for name in ("email", "phone", "day", "start", "end", "people"):
                    if name in change:
                        assert input_value(response, name) == change[name], name
    assert tour_count() == 0


def test_the_error_summary_names_each_wrong_field_and_leads_to_it(client, login, hr, guide, city, day):
    login(hr)
    response = client.post("/tours/new", data=tour_form(city, day, first_name="", phone="call me maybe",
                                                        consent=None))
    assert response.status_code == 422
    summary = re.search(r'<div class="kern-alert kern-alert--danger".*?</ul>', response.get_data(as_text=True), re.S)
    links = re.findall(r'<a class="kern-link" href="#(\w+)">([^<]*)</a>', summary.group(0))
    assert [(target, unescape(text)) for target, text in links] == [
        ("first_name", "Partner's first name: Please enter the partner's first name."),
        ("phone", "Phone: A phone number, e.g. +49 171 1234567."),
        # The consent's label is a sentence: its full stop does not stand before the colon.
        ("consent", "The partner has agreed that these details may be passed on to the city for the tour: "
                    "Please confirm the partner's consent."),
    ]


def test_the_availability_fragment_says_a_guide_is_free(client, login, hr, guide, city, day):
    login(hr)
    response = client.get("/tours/availability", query_string={
        "city": city.id, "day": day.isoformat(), "start": "10:00", "end": "12:00", "language": "en"},
        headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    assert availability_text(response) == "A guide is free at this time."
    assert "Vary" in response.headers and "HX-Request" in response.headers["Vary"]


def test_the_availability_fragment_warns_when_no_free_guide_speaks_the_language(
    client, login, hr, make_guide, city, day
):
    make_guide(city, languages=("de",))
    login(hr)
    response = client.get("/tours/availability", query_string={
        "city": city.id, "day": day.isoformat(), "start": "10:00", "end": "12:00", "language": "en"},
        headers=HTMX)
    assert availability_text(response) == "A guide is free, but none who speaks English. The free guides speak: German."
    assert alternatives_of(response) == []  # nobody speaks it at any time


def test_when_no_free_guide_speaks_the_language_the_fragment_offers_times_when_one_does(
    client, login, hr, make_guide, city, day
):
    make_guide(city, languages=("de",))
    make_guide(city, languages=("en",), windows=MORNINGS_ONLY)
    login(hr)
    query = {"city": city.id, "day": day.isoformat(), "start": "15:00", "end": "17:00", "language": "en"}
    response = client.get("/tours/availability", query_string=query, headers=HTMX)
    assert availability_text(response).startswith(
        "A guide is free, but none who speaks English. The free guides speak: German. "
        "Nearest times with a guide who speaks English – choose one to use it:")
    alternatives = alternatives_of(response)
    assert len(alternatives) == 5 and all(alternative.endswith("|13:00") for alternative in alternatives)
    assert f"{day.isoformat()}|11:00|13:00" in alternatives

    # Taking one over books the English-speaking guide.
    taken = client.post("/tours/new", data=tour_form(city, day, start="11:00", end="13:00", language="en"))
    assert taken.status_code == 303 and only_tour().guide.guide_languages == "en"


def test_when_nobody_is_free_the_fragment_offers_times_with_a_guide_who_speaks_the_language(
    client, login, hr, make_guide, city, day
):
    """Nobody is free late in the evening. A German-only guide is free until 20:00, nearer; the English
    speaker only in the mornings: an English partner is offered the mornings."""
    make_guide(city, languages=("de",), windows=AFTERNOONS_ONLY)
    make_guide(city, languages=("en",), windows=MORNINGS_ONLY)
    login(hr)
    query = {"city": city.id, "day": day.isoformat(), "start": "20:00", "end": "21:30", "language": "en"}
    response = client.get("/tours/availability", query_string=query, headers=HTMX)
    assert availability_text(response).startswith(
        "No guide is free at this time. Nearest times with a guide who speaks English – choose one to use it:")
    alternatives = alternatives_of(response)
    assert alternatives and all(int(a.split("|")[2][:2]) <= 13 for a in alternatives), alternatives

    # Nobody speaks German any more: the times when any guide is free, said as such.
    query["language"] = "de"
    for guide in db.session.execute(select(User).where(User.role == Role.GUIDE)).scalars():
        guide.guide_languages = "en"
    db.session.commit()
    response = client.get("/tours/availability", query_string=query, headers=HTMX)
    assert availability_text(response).startswith(
        "No guide is free at this time. Nearest times with a free guide – choose one to use it:")
    assert alternatives_of(response)


def test_the_availability_fragment_explains_a_broken_interval(client, login, hr, guide, city, day):
    login(hr)
    response = client.get("/tours/availability", query_string={
        "city": city.id, "day": day.isoformat(), "start": "10:00", "end": "10:30"}, headers=HTMX)
    assert availability_text(response) == "A tour lasts at least 60 minutes."
    for day_far, start, message in (("9999-12-31", "10:00", "Tours are booked at most 120 days ahead."),
                                    ("0001-01-01", "00:15", "Tours are booked at least 24 hours ahead. For an "
                                     "earlier tour, please call the city office: +49 271 404-0")):
        far = client.get("/tours/availability", query_string={
            "city": city.id, "day": day_far, "start": start, "end": "12:00"}, headers=HTMX)
        assert far.status_code == 200 and availability_text(far) == message
    city.office_phone = ""  # no number to call: the rule alone
    db.session.commit()
    soon = client.get("/tours/availability", query_string={
        "city": city.id, "day": "0001-01-01", "start": "00:15", "end": "12:00"}, headers=HTMX)
    assert availability_text(soon) == "Tours are booked at least 24 hours ahead."
    incomplete = client.get("/tours/availability", query_string={"city": city.id, "day": "garbage"},
                            headers=HTMX)
    assert incomplete.status_code == 200
    assert availability_text(incomplete) == "Enter date and times to see whether a guide is free."


def test_a_time_the_clocks_skip_is_named_as_such_not_as_end_before_start(client, login, hr, guide, city):
    login(hr)
    # 28 March 2027: in Germany the clocks go from 02:00 to 03:00; 02:30 does not exist.
    live = client.get("/tours/availability", query_string={
        "city": city.id, "day": "2027-03-28", "start": "02:30", "end": "03:30"}, headers=HTMX)
    assert availability_text(live) == ("On 28 March 2027 the clocks go forward one hour: "
                                       "02:30 does not exist that night.")
    hr.language = "de"
    db.session.commit()
    posted = client.post("/tours/new", data=tour_form(city, date(2027, 3, 28), start="01:30", end="02:15"))
    assert posted.status_code == 422
    assert ("Am 28. März 2027 werden die Uhren eine Stunde vorgestellt: 02:15 gibt es in dieser Nacht nicht."
            in text_of(posted))
    assert times_shown(posted) == ("2027-03-28", "01:30", "02:15")
    assert tour_count() == 0


def test_a_tour_too_soon_names_the_city_office_to_call_in_german(client, login, hr, guide, city):
    hr.language = "de"
    db.session.commit()
    login(hr)
    today = datetime.now(BERLIN).date()  # this evening is always less than 24 hours ahead (or past)
    response = client.post("/tours/new", data=tour_form(city, today, start="20:00", end="22:00"))
    assert response.status_code == 422
    assert ("Touren werden mindestens 24 Stunden im Voraus gebucht. Für eine frühere Tour rufen Sie bitte die "
            "Servicestelle der Stadt an: +49 271 404-0") in text_of(response)
    assert db.session.scalar(select(Tour.id)) is None


def test_no_free_guide_offers_alternatives_and_adopting_one_fills_the_times(
    client, login, hr, make_guide, city, day
):
    make_guide(city, windows=MORNINGS_ONLY)
    login(hr)
    query = {"city": city.id, "day": day.isoformat(), "start": "15:00", "end": "17:00", "language": "de"}
    fragment = client.get("/tours/availability", query_string=query, headers=HTMX)
    assert "No guide is free at this time." in availability_text(fragment)
    alternatives = alternatives_of(fragment)
    assert alternatives, "the nearest slots that work are offered"
    assert alternatives == sorted(alternatives), "shown in the order of the day"
    no_language = client.get("/tours/availability", query_string={**query, "language": ""}, headers=HTMX)
    assert alternatives_of(no_language) == alternatives  # an empty choice is no language nobody speaks
    # Choices, not five starts a quarter of an hour apart: the latest start on the day, then other days.
    days = [alternative.split("|")[0] for alternative in alternatives]
    assert len(alternatives) == 5 and len(set(days)) == 5
    assert f"{day.isoformat()}|11:00|13:00" in alternatives
    chosen = alternatives[0]
    alt_day, alt_start, alt_end = chosen.split("|")
    assert alt_start < "13:00" and alt_end <= "13:00"

    for headers in ({}, HTMX):
        response = client.post("/tours/new", data=tour_form(city, day, start="15:00", end="17:00",
                                                            language="de", adopt=chosen), headers=headers)
        assert response.status_code == 200
        assert times_shown(response) == (alt_day, alt_start, alt_end)
        assert availability_text(response) == "A guide is free at this time."
        assert input_value(response, "first_name") == "Mira"  # the rest of the form stays
        assert "Please correct" not in text_of(response)
    assert tour_count() == 0

    booked = client.post("/tours/new", data=tour_form(city, date.fromisoformat(alt_day), start=alt_start,
                                                      end=alt_end, language="de"))
    assert booked.status_code == 303
    assert only_tour().starts_at == datetime.combine(date.fromisoformat(alt_day),
                                                      datetime.strptime(alt_start, "%H:%M").time(), BERLIN)


def test_booking_when_nobody_is_free_says_so_with_alternatives(client, login, hr, make_guide, city, day):
    make_guide(city, windows=AFTERNOONS_ONLY)
    login(hr)
    response = client.post("/tours/new", data=tour_form(city, day))
    assert response.status_code == 422
    assert field_error(response, "start") == "No guide is free at this time."
    assert alternatives_of(response)
    assert tour_count() == 0


def test_the_race_loser_gets_the_form_back_with_a_clear_message(
    client, login, hr, guide, city, day, monkeypatch
):
    def taken(*args: object, **kwargs: object) -> Tour:
        raise TourError("slot_taken")

    monkeypatch.setattr(tours_views, "book_tour", taken)
    login(hr)
    for headers in ({}, HTMX):
        response = client.post("/tours/new", data=tour_form(city, day), headers=headers)
        assert response.status_code == 422
        assert "This guide or time was just taken by another booking. Please choose again." in text_of(
            response)
        assert input_value(response, "first_name") == "Mira"
        assert input_value(response, "email") == "mira@example.org"
        assert "availability" in response.get_data(as_text=True)
    assert tour_count() == 0


def test_the_second_hr_user_cannot_take_a_booked_guide(
    client, login, hr, make_user, company, guide, city, day
):
    other = make_user(Role.HR, company=company)
    login(hr)
    assert client.post("/tours/new", data=tour_form(city, day)).status_code == 303
    client.post("/logout")
    login(other)
    response = client.post("/tours/new", data=tour_form(city, day, first_name="Noor"))
    assert response.status_code == 422
    assert field_error(response, "start") == "No guide is free at this time."
    assert tour_count() == 1


# --- lists --------------------------------------------------------------------------------------------------


@pytest.fixture
def hr_tours(hr, company, city, make_guide, make_tour) -> dict[str, Tour]:
    now = datetime.now(UTC)
    soon = local(bookable_day(days=5), 10)
    greta = make_guide(city, name="Greta Guide")
    paul = make_guide(city, name="Paul Pfad")
    tours = {
        "mira": make_tour(greta, soon, company=company, partner_first_name="Mira", booked_by_id=hr.id),
        "noor": make_tour(paul, soon + timedelta(days=1), company=company, partner_first_name="Noor",
                          partner_last_name="Nováková-Çağlar"),
        "cancelled": make_tour(paul, soon + timedelta(days=2), company=company, partner_first_name="Cleo",
                               status="cancelled"),
        "past": make_tour(greta, now - timedelta(days=3), company=company, partner_first_name="Pia",
                          status="done"),
    }
    make_tour(greta, soon + timedelta(days=3), partner_first_name="Stranger")  # another company
    return tours


def names_in_list(response) -> list[str]:  # noqa: ANN001
    """The partner names of the list's rows, in order."""
    html = response.get_data(as_text=True)
    body = re.search(r'<div id="tour-list".*?<tbody[^>]*>(.*?)</tbody>', html, re.S).group(1)
    names = []
    for row in re.findall(r"<tr\b.*?</tr>", body, re.S):
        cell = re.search(r'<td class="kern-table__cell">(.*?)(?:<br>|</td>)', row, re.S)
        if cell and "No tours found." not in cell.group(1):
            names.append(" ".join(unescape(cell.group(1)).split()))
    return names


NOOR = "Noor Nováková-Çağlar"
FILTERS = [
    ({}, ["Mira", NOOR, "Cleo"]),
    ({"q": "noor"}, [NOOR]),
    ({"q": "GRETA"}, ["Mira"]),  # by guide
    ({"q": "nobody"}, []),
    ({"q": "novakova"}, [NOOR]),  # accents and capitals count for nothing, typed or stored
    ({"q": "NOVÁKOVÁ-caglar"}, [NOOR]),
    ({"q": "Çağ"}, [NOOR]),
    ({"when": "past"}, ["Pia"]),
    ({"status": "cancelled"}, ["Cleo"]),
    ({"status": "confirmed", "q": "i"}, ["Mira"]),
    ({"when": "whenever", "status": "bogus"}, ["Mira", NOOR, "Cleo"]),
    ({"q": "%"}, []),  # typed literally, not a wildcard
    ({"q": "_"}, []),
    ({"q": "a\x00b"}, []),
]


def test_hr_filters_and_searches_the_list_as_page_and_fragment(client, login, hr, hr_tours, subtests):
    login(hr)
    for query, names in FILTERS:
        with subtests.test(query=query):
            page = client.get("/tours/", query_string=query)
            fragment = client.get("/tours/", query_string=query, headers=HTMX)
            assert page.status_code == fragment.status_code == 200
            assert names_in_list(page) == names_in_list(fragment) == names
            assert not is_fragment(page) and is_fragment(fragment)
            assert fragment.get_data(as_text=True).lstrip().startswith('<div id="tour-list"')
            # The count, in the status line that stays on the page (htmx swaps it out of band) and is announced.
            found = f"{len(names)} tour{'' if len(names) == 1 else 's'} found"
            assert re.search(r'<p id="tour-count" class="muted" role="status">' + found, page.get_data(as_text=True))
            assert re.search(r'<p id="tour-count" class="muted" role="status" hx-swap-oob="innerHTML">' + found,
                             fragment.get_data(as_text=True))
            if names == []:
                assert "No tours found." in text_of(fragment)
            for response in (page, fragment):
                assert "HX-Request" in response.headers["Vary"]
            assert 'hx-push-url="true"' in page.get_data(as_text=True)  # the URL is kept in history


def test_a_search_typed_in_the_page_is_shown_again(client, login, hr, hr_tours):
    login(hr)
    page = client.get("/tours/", query_string={"q": "Noor", "when": "past", "status": "done"})
    html = page.get_data(as_text=True)
    assert 'id="q" name="q" value="Noor"' in html
    assert '<option value="past" selected>' in html and '<option value="done" selected>' in html


@pytest.mark.parametrize("role", ["hr", "coordinator", "guide", "admin"])
def test_the_lists_queries_do_not_grow_with_the_number_of_tours(
    app: Flask, client, login, city, company, hr, coordinator, make_user, make_company, make_tour, role
):
    guide = make_user(Role.GUIDE, city=city, name="Listed Guide")
    admin = make_user(Role.ADMIN)
    users = {"hr": hr, "coordinator": coordinator, "guide": guide, "admin": admin}
    login(users[role])
    counts = []
    for total in (2, 20):
        db.session.execute(Tour.__table__.delete())
        db.session.commit()
        companies = [make_company(cities=[city]) for _ in range(2)] + [company]
        soon = bookable_day(days=5)
        for n in range(total):
            other_guide = guide if role == "guide" else make_user(Role.GUIDE, city=city)
            status = "needs_guide" if n % 5 == 4 and role != "guide" else "confirmed"
            make_tour(other_guide if status == "confirmed" else None,
                      local(soon + timedelta(days=n % 20), 9) + timedelta(minutes=n), city=city,
                      company=company if role == "hr" else companies[n % 3], status=status,
                      booked_by_id=hr.id, partner_first_name=f"P{n}")
        db.session.expire_all()
        client.get("/tours/")  # warm up (session refresh and the like)
        with counted_queries() as statements:
            response = client.get("/tours/")
        assert response.status_code == 200
        assert f"P{total - 1}" in text_of(response)
        counts.append(len(statements))
    assert counts[0] == counts[1], f"{role}: {counts[0]} queries for 2 tours, {counts[1]} for 20"


# --- the tour page, reschedule, cancel ----------------------------------------------------------------------


@pytest.fixture
def booked(client, login, hr, guide, city, day) -> Tour:
    login(hr)
    assert client.post("/tours/new", data=tour_form(city, day)).status_code == 303
    return only_tour()


def test_hr_sees_the_tour_page_with_partner_details(client, booked, guide):
    response = client.get(f"/tours/{booked.id}")
    page = text_of(response)
    assert response.status_code == 200
    for shown in ("Mira Okafor", "mira@example.org", "+49 171 1234567", "Housing, Schools & childcare",
                  "Pram", "Likes football", "Hüttenstraße 12, 57072 Siegen", "Greta", "Change the time",
                  "Cancel the tour"):
        assert shown in page, shown
    assert "Greta Guide" not in page  # HR sees the guide's first name only


def test_hr_reschedules_and_the_partner_link_stays(client, booked, day):
    token, uid = booked.token, booked.uid
    form = client.get(f"/tours/{booked.id}/reschedule")
    assert form.status_code == 200
    assert times_shown(form) == (day.isoformat(), "10:00", "12:00")
    assert f"Now: {format_date(day, 'full', locale='en_GB')}, 10:00–12:00, with {booked.partner_first_name}." in \
        text_of(form)

    response = client.post(f"/tours/{booked.id}/reschedule", data={"day": day.isoformat(), "start": "14:00",
                                                                   "end": "16:30"})
    assert response.status_code == 303 and response.headers["Location"] == f"/tours/{booked.id}"
    tour = only_tour()
    assert (tour.starts_at, tour.ends_at, tour.token, tour.uid, tour.sequence) == (
        local(day, 14), local(day, 16, 30), token, uid, 1)
    page = text_of(client.get(f"/tours/{booked.id}"))
    assert "The tour is moved. The partner's link stays the same." in page


def test_the_reschedule_form_checks_a_new_time_without_saving_it(client, booked, make_guide, city, day):
    """The form asks (live with htmx, by its "Check" button without) whether a guide is free at the time typed;
    nothing is saved or sent."""
    for headers in (HTMX, {}):
        response = client.post(f"/tours/{booked.id}/reschedule", headers=headers,
                               data={"day": day.isoformat(), "start": "20:00", "end": "21:30", "check": "1"})
        assert response.status_code == 200
        assert availability_text(response).startswith("No guide is free at this time.")
        assert times_shown(response) == (day.isoformat(), "20:00", "21:30")
        free = client.post(f"/tours/{booked.id}/reschedule", headers=headers,
                           data={"day": day.isoformat(), "start": "14:00", "end": "16:00", "check": "1"})
        assert availability_text(free) == "A guide is free at this time."
    assert (only_tour().sequence, only_tour().starts_at) == (0, local(day, 10))
    page = client.get(f"/tours/{booked.id}/reschedule").get_data(as_text=True)
    assert 'hx-vals=\'{"check": "1"}\'' in page and '<noscript><button type="submit" name="check"' in page


def test_saving_the_same_time_changes_nothing_and_tells_nobody(client, booked, day):
    messages = len(db.session.execute(select(OutboxMessage.id)).all())
    response = client.post(f"/tours/{booked.id}/reschedule", data={"day": day.isoformat(), "start": "10:00",
                                                                   "end": "12:00"})
    assert response.status_code == 303 and response.headers["Location"] == f"/tours/{booked.id}"
    assert "Nothing changed: the tour already is at this time." in text_of(client.get(f"/tours/{booked.id}"))
    tour = only_tour()
    assert (tour.sequence, tour.starts_at) == (0, local(day, 10))
    assert len(db.session.execute(select(OutboxMessage.id)).all()) == messages


def test_saving_the_same_time_of_a_tour_that_needs_a_guide_gives_it_one_who_is_free_now(
    client, booked, day, guide, make_guide, city
):
    booked.guide_id, booked.status = None, "needs_guide"  # Greta declined; nobody was free then
    guide.active = False
    db.session.commit()
    newcomer = make_guide(city, name="Nora New", languages=("de",))

    check = client.post(f"/tours/{booked.id}/reschedule",
                        data={"day": day.isoformat(), "start": "10:00", "end": "12:00", "check": "1"})
    assert availability_text(check) == "A guide is free at this time."
    response = client.post(f"/tours/{booked.id}/reschedule", data={"day": day.isoformat(), "start": "10:00",
                                                                   "end": "12:00"})

    assert response.status_code == 303
    assert "Nothing changed" not in text_of(client.get(response.headers["Location"]))
    tour = only_tour()
    assert (tour.status, tour.guide_id, tour.sequence) == ("confirmed", newcomer.id, 1)


RESCHEDULE_BAD_INPUT = [
    ({"day": "PAST"}, "Tours are booked at least 24 hours ahead."),
    ({"day": "FAR"}, "Tours are booked at most 120 days ahead."),
    ({"day": "9999-12-31"}, "Tours are booked at most 120 days ahead."),
    ({"start": "10:00", "end": "10:30"}, "A tour lasts at least 60 minutes."),
    ({"start": "12:00", "end": "10:00"}, "The end must be after the start."),
    ({"day": "someday"}, "Please enter a date."),
    ({"start": ""}, "Please enter a time, e.g. 09:00."),
]


def test_reschedule_outside_the_rules_is_refused_with_422(client, booked, day, subtests):
    for change, message in RESCHEDULE_BAD_INPUT:
        data = {"day": day.isoformat(), "start": "14:00", "end": "16:00", **change}
        if data["day"] == "PAST":
            data["day"] = (datetime.now(BERLIN).date() - timedelta(days=2)).isoformat()
        elif data["day"] == "FAR":
            data["day"] = bookable_day(days=130).isoformat()
        for headers in ({}, HTMX):
            with subtests.test(change=change, htmx=bool(headers)):
                response = client.post(f"/tours/{booked.id}/reschedule", data=data, headers=headers)
                assert response.status_code == 422
                assert message in text_of(response)
                assert input_value(response, "day") == data["day"]
                assert is_fragment(response) == bool(headers)
    tour = only_tour()
    assert (tour.starts_at, tour.sequence) == (local(day, 10), 0)


def test_a_coordinator_rescheduling_too_soon_is_not_sent_to_the_city_office(client, login, booked, coordinator):
    client.post("/logout")
    login(coordinator)  # they are the city office
    today = datetime.now(BERLIN).date()
    response = client.post(f"/tours/{booked.id}/reschedule", data={"day": today.isoformat(), "start": "20:00",
                                                                   "end": "22:00"})
    assert response.status_code == 422
    assert field_error(response, "start") == "Tours are booked at least 24 hours ahead."


def test_reschedule_offers_alternatives_and_adopts_one(client, booked, make_guide, city, day):
    response = client.post(f"/tours/{booked.id}/reschedule", data={"day": day.isoformat(), "start": "21:00",
                                                                   "end": "22:00"})
    assert response.status_code == 422
    alternatives = alternatives_of(response)
    assert alternatives
    adopted = client.post(f"/tours/{booked.id}/reschedule", data={
        "day": day.isoformat(), "start": "21:00", "end": "22:00", "adopt": alternatives[0]})
    assert adopted.status_code == 200
    alt_day, alt_start, alt_end = alternatives[0].split("|")
    assert times_shown(adopted) == (alt_day, alt_start, alt_end)
    assert only_tour().sequence == 0


def test_the_reschedule_check_does_not_count_the_guide_who_declined(client, login, booked, guide, hr, day):
    """The save passes over the guide who declined the tour; so does the answer beside the form."""
    client.post("/logout")
    login(guide)
    client.post(f"/tours/{booked.id}/decline", data={"reason": "Ill"})
    client.post("/logout")
    login(hr)
    response = client.post(f"/tours/{booked.id}/reschedule", data={"day": day.isoformat(), "start": "14:00",
                                                                   "end": "16:00", "check": "1"})
    page = text_of(response)
    assert "No guide is free at this time." in page and "A guide is free" not in page
    assert alternatives_of(response) == []  # nobody else has hours in the days around
    assert only_tour().status == "needs_guide"


def test_reschedule_does_not_offer_the_tours_own_time_as_an_alternative(client, booked, guide, day):
    """Moving the tour to the next day, when its only guide is away: the nearest free time is the tour's own,
    which is no alternative (it was offered first)."""
    from tourbook.hours import add_absence

    next_day = day + timedelta(days=1)
    add_absence(db.session, guide, guide, next_day, next_day, None, None, "illness")
    db.session.commit()
    response = client.post(f"/tours/{booked.id}/reschedule", data={"day": next_day.isoformat(), "start": "10:00",
                                                                   "end": "12:00", "check": "1"})
    alternatives = alternatives_of(response)
    assert alternatives and f"{day.isoformat()}|10:00|12:00" not in alternatives
    assert only_tour().sequence == 0


def test_hr_cancels_behind_a_confirmation_and_cancelling_twice_says_so(client, booked):
    confirmation = client.get(f"/tours/{booked.id}/cancel")
    assert confirmation.status_code == 200
    assert "Cancel the tour?" in text_of(confirmation)
    assert only_tour().status == "confirmed"

    missing = client.post(f"/tours/{booked.id}/cancel", data={"reason": "  "})
    assert missing.status_code == 422 and field_error(missing, "reason") == "Please give a reason."

    done = client.post(f"/tours/{booked.id}/cancel", data={"reason": "Interview moved"}, headers=HTMX)
    assert done.status_code == 204 and done.headers["HX-Redirect"] == f"/tours/{booked.id}"
    tour = only_tour()
    assert (tour.status, tour.cancelled_by, tour.cancel_reason, tour.sequence) == (
        "cancelled", "hr", "Interview moved", 1)

    again = client.post(f"/tours/{booked.id}/cancel", data={"reason": "again"})
    assert again.status_code == 409
    assert field_error(again, "reason") == "This tour is already cancelled."
    assert only_tour().sequence == 1
    page = text_of(client.get(f"/tours/{booked.id}"))
    assert "Interview moved" in page and "This tour can no longer be changed." in page


# --- the guide ----------------------------------------------------------------------------------------------


def test_the_guide_lists_their_tours_upcoming_first_with_what_they_need(
    client, login, guide, city, company, make_tour, make_guide
):
    soon = bookable_day(days=5)
    make_tour(guide, local(soon + timedelta(days=2), 10), company=company, partner_first_name="Later")
    make_tour(guide, local(soon, 10), company=company, partner_first_name="Sooner", partner_language="en",
              people=4, partner_last_name="Secret", partner_email="secret@example.org")
    make_tour(make_guide(city), local(soon, 14), company=company, partner_first_name="NotMine")
    login(guide)
    response = client.get("/tours/")
    page = text_of(response)
    assert "My tours" in page
    assert names_in_list(response)[:2] == ["Sooner", "Later"]
    assert "NotMine" not in page and "Secret" not in page
    assert "English · 4 people" in page
    assert "Search by partner" in page and "or guide" not in page  # they only see their own tours


def test_the_guide_sees_the_tour_page_without_the_partners_contact_data(
    client, login, guide, city, company, make_tour
):
    tour = make_tour(guide, local(bookable_day(days=5), 10), company=company, partner_last_name="Secret",
                     partner_email="secret@example.org", partner_phone="+49 1",
                     accessibility_needs="Wheelchair",
                     guide_note="Bring an umbrella", interests="culture,nature", people=2,
                     meeting_point="City hall Siegen")
    login(guide)
    response = client.get(f"/tours/{tour.id}")
    page = text_of(response)
    assert response.status_code == 200
    for shown in ("Alex", "Wheelchair", "Bring an umbrella", "Culture & leisure, Nature", "City hall Siegen",
                  "I cannot do this tour"):
        assert shown in page, shown
    for hidden in ("Secret", "secret@example.org", "+49 1", "Link for the partner", f"/t/{tour.token}"):
        assert hidden not in response.get_data(as_text=True), hidden


def test_the_guide_declines_and_another_free_guide_takes_the_tour(
    client, login, booked, guide, make_guide, city
):
    other = make_guide(city, name="Olga Other", languages=("en",))
    client.post("/logout")
    login(guide)
    form = client.get(f"/tours/{booked.id}/decline")
    assert form.status_code == 200 and "You cannot do this tour?" in text_of(form)
    assert only_tour().guide_id == guide.id

    empty = client.post(f"/tours/{booked.id}/decline", data={"reason": ""})
    assert empty.status_code == 422 and field_error(empty, "reason") == "Please give a reason."

    response = client.post(f"/tours/{booked.id}/decline", data={"reason": "Doctor's appointment"})
    assert response.status_code == 303 and response.headers["Location"] == "/tours/"
    assert "You declined the tour. Another guide takes it." in text_of(client.get("/tours/"))
    tour = only_tour()
    assert (tour.guide_id, tour.status, tour.sequence) == (other.id, "confirmed", 1)
    assert client.get(f"/tours/{booked.id}").status_code == 404  # no longer theirs


def test_a_decline_without_another_guide_puts_the_tour_in_the_coordinators_queue(
    app: Flask, client, login, booked, guide, hr, coordinator, make_guide, city
):
    spare = make_guide(city, name="Sam Spare", windows=AFTERNOONS_ONLY)
    client.post("/logout")
    login(guide)
    response = client.post(f"/tours/{booked.id}/decline", data={"reason": "Ill"}, headers=HTMX)
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/tours/"
    tour = only_tour()
    assert (tour.status, tour.guide_id) == ("needs_guide", None)

    client.post("/logout")
    login(hr)
    hr_page = text_of(client.get("/tours/"))
    assert "1 tour needs a new guide" in hr_page
    assert "The city's coordinator is looking for another guide" in hr_page

    client.post("/logout")
    login(coordinator)
    queue = client.get("/tours/")
    assert "1 tour needs a new guide" in text_of(queue)
    assert f'href="/tours/{tour.id}"' in queue.get_data(as_text=True)
    show = client.get(f"/tours/{tour.id}")
    assert "Assign a guide by hand" in text_of(show)
    assert '<a class="kern-link" href="#assign-heading">This tour needs a guide: assign one below.</a>' in \
        show.get_data(as_text=True)  # at the top of the page, the form being at its end
    # Who declined and why; the guides in the order to choose from: free ones first, the one who declined last.
    assert re.search(r"Greta Guide on .*: Ill", text_of(show))
    options = re.findall(r'<option[^>]*value="(\d+)"[^>]*>([^<]*)</option>', show.get_data(as_text=True))
    assert [unescape(label) for _value, label in options] == [
        "Choose a guide", "Sam Spare – not free at this time", "Greta Guide – declined this tour"]
    # Nobody to choose: the page says so and how a guide becomes free, and chooses nobody by itself.
    assert "No guide of the city is free at this time." in text_of(show)
    html = show.get_data(as_text=True)
    assert f'href="/c/{city.slug}/week?start={tour.starts_at.astimezone(BERLIN).date().isoformat()}"' in html
    assert f'href="/tours/{tour.id}/reschedule"' in html and "Change the time" in text_of(show)
    nobody = client.post(f"/tours/{tour.id}/assign", data={"assign-guide": "0", "assign-reason": "x"})
    assert nobody.status_code == 422 and "Please choose a guide of this city." in text_of(nobody)

    no_reason = client.post(f"/tours/{tour.id}/assign",
                            data={"assign-guide": str(spare.id), "assign-reason": ""})
    assert no_reason.status_code == 422 and "Please give a reason." in text_of(no_reason)
    assert "This guide is not free at that time." in text_of(no_reason)  # both at once, not one after the other
    busy = client.post(f"/tours/{tour.id}/assign", data={"assign-guide": str(spare.id),
                                                         "assign-reason": "Only one left"})
    assert busy.status_code == 422 and "This guide is not free at that time." in text_of(busy)
    stranger = client.post(f"/tours/{tour.id}/assign", data={"assign-guide": "999999", "assign-reason": "x"})
    assert stranger.status_code == 422 and "Not a valid choice." in text_of(stranger)

    # Free guides who speak the partner's language (English) first; one who does not is said to be so.
    make_guide(city, name="Anna Alt", languages=("de",))
    back = make_guide(city, name="Bea Back", languages=("de", "en"))
    options = re.findall(r'<option[^>]*>([^<]*)</option>', client.get(f"/tours/{tour.id}").get_data(as_text=True))
    assert options[:2] == ["Bea Back – free at this time", "Anna Alt – free at this time, does not speak English"]
    assert "No guide of the city is free" not in text_of(client.get(f"/tours/{tour.id}"))
    assigned = client.post(f"/tours/{tour.id}/assign", data={"assign-guide": str(back.id),
                                                             "assign-reason": "Bea speaks English"})
    assert assigned.status_code == 303
    tour = only_tour()
    assert (tour.status, tour.guide_id, tour.sequence) == ("confirmed", back.id, 2)
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "tour_assigned")).scalar_one()
    assert entry.details["reason"] == "Bea speaks English" and entry.actor_id == coordinator.id
    assert "needs a new guide" not in text_of(client.get("/tours/"))


def test_assigning_inside_the_lead_time_offers_the_free_guides(
    client, login, coordinator, city, company, make_guide, make_tour
):
    """The lead time binds bookings, not the coordinator (a guide ill the day before): the form offers who
    is free, as the assignment itself allows."""
    city.lead_time_hours = 24 * 10
    db.session.commit()
    frieda = make_guide(city, name="Frieda Frei")
    tour = make_tour(None, local(bookable_day(days=5), 10), city=city, company=company, status="needs_guide")
    login(coordinator)
    page = client.get(f"/tours/{tour.id}")
    assert "No guide of the city is free" not in text_of(page)
    options = re.findall(r'<option[^>]*>([^<]*)</option>', page.get_data(as_text=True))
    assert options[0] == "Frieda Frei – free at this time"
    assigned = client.post(f"/tours/{tour.id}/assign", data={"assign-guide": str(frieda.id),
                                                             "assign-reason": "Greta is ill"})
    assert assigned.status_code == 303 and only_tour().guide_id == frieda.id


def test_the_guide_marks_the_outcome_after_the_start_only(client, login, guide, city, company, make_tour):
    started = make_tour(guide, datetime.now(UTC) - timedelta(hours=1), company=company)
    upcoming = make_tour(guide, local(bookable_day(days=5), 10), company=company)
    login(guide)
    page = text_of(client.get(f"/tours/{started.id}"))
    assert "The tour took place" in page and "I cannot do this tour" not in page

    early = client.post(f"/tours/{upcoming.id}/outcome", data={"outcome": "done"})
    assert early.status_code == 409
    assert "This can only be marked after the tour has started." in text_of(early)
    bogus = client.post(f"/tours/{started.id}/outcome", data={"outcome": "party"})
    assert bogus.status_code == 409 and "Unknown result." in text_of(bogus)

    response = client.post(f"/tours/{started.id}/outcome", data={"outcome": "no_show"})
    assert response.status_code == 303
    db.session.expire_all()
    assert (db.session.get(Tour, started.id).status, db.session.get(Tour, upcoming.id).status) == (
        "no_show", "confirmed")
    # The page says what was marked and offers only the other answer, in case it was a slip.
    page = text_of(client.get(f"/tours/{started.id}"))
    assert "You marked: the partner did not come. If the tour took place after all, change it:" in page
    assert "The tour took place" in page and "The partner did not come" not in page.replace(
        "You marked: the partner did not come", "")
    cancelled = make_tour(guide, local(bookable_day(days=6), 10), company=company, status="cancelled")
    assert "This tour is cancelled: there is nothing to do." in text_of(client.get(f"/tours/{cancelled.id}"))
    declined_late = client.post(f"/tours/{started.id}/decline", data={"reason": "too late"})
    assert declined_late.status_code == 409
    assert "This tour cannot be changed any more." in text_of(declined_late)


def test_declining_a_tour_that_started_is_refused(client, login, guide, city, company, make_tour):
    started = make_tour(guide, datetime.now(UTC) - timedelta(minutes=10), company=company)
    login(guide)
    response = client.post(f"/tours/{started.id}/decline", data={"reason": "late"})
    assert response.status_code == 409
    assert field_error(response, "reason") == "This tour has already started."
    db.session.expire_all()
    assert db.session.get(Tour, started.id).guide_id == guide.id


def test_the_coordinator_lists_every_tour_of_the_city_only(
    client, login, coordinator, city, company, make_company, make_guide, make_city, make_tour
):
    soon = local(bookable_day(days=5), 10)
    other_company = make_company(cities=[city], name="Zweite Firma GmbH")
    make_tour(make_guide(city), soon, company=company, partner_first_name="Ada")
    make_tour(make_guide(city), soon, company=other_company, partner_first_name="Ben")
    elsewhere = make_city()
    make_tour(make_guide(elsewhere), soon, city=elsewhere, partner_first_name="Far")
    login(coordinator)
    response = client.get("/tours/")
    assert names_in_list(response) == ["Ada", "Ben"] or names_in_list(response) == ["Ben", "Ada"]
    page = text_of(response)
    assert "Far" not in page and "Zweite Firma GmbH" in page and "Hüttenwerk Test GmbH" in page


# --- the partner's page -------------------------------------------------------------------------------------


@pytest.fixture
def browser(app: Flask):  # noqa: ANN201
    """A partner's phone: no account, no Accept-Language."""
    return app.test_client()


def german_date(day: date) -> str:
    weekdays = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
    months = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
              "November", "Dezember"]
    return f"{weekdays[day.weekday()]}, {day.day}. {months[day.month - 1]} {day.year}"


def test_the_partner_page_speaks_the_partners_language_and_switches(browser, booked, day):
    booked.partner_language = "en"
    db.session.commit()
    response = browser.get(f"/t/{booked.token}/")
    html = response.get_data(as_text=True)
    page = text_of(response)
    assert response.status_code == 200
    assert '<html lang="en">' in html
    assert f"{day:%A}, {day.day} {day:%B} {day:%Y}" in page  # English date
    assert "Your tour of Siegen Testcity" in page
    assert "Hello Mira" in page and "Greta" in page and "+49 271 404-0" in page
    assert "Greta Guide" not in page and "Okafor" not in page
    assert "What to bring" in page

    german = browser.get(f"/t/{booked.token}/?lang=de")
    assert '<html lang="de">' in german.get_data(as_text=True)
    weekdays_de = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"]
    weekday_de = weekdays_de[day.weekday()]
    assert f"{weekday_de}, {day.day}." in text_of(german)
    assert "Ihre Tour durch Siegen Testcity" in text_of(german)
    assert ("Hallo Mira, während des Vorstellungsgesprächs führt Sie ein Guide der Stadt durch Siegen Testcity."
            in text_of(german))
    assert "Was Sie mitbringen sollten" in text_of(german) and 'id="feedback"' not in german.get_data(as_text=True)
    # The choice is remembered for this tour.
    assert '<html lang="de">' in browser.get(f"/t/{booked.token}/").get_data(as_text=True)


def test_the_partner_page_is_private(browser, booked):
    response = browser.get(f"/t/{booked.token}/")
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response.headers["X-Robots-Tag"]
    assert '<meta name="robots" content="noindex, nofollow">' in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_partner_updates_wishes_and_the_sequence_goes_up(browser, booked):
    booked.partner_language = "en"
    db.session.commit()
    response = browser.post(f"/t/{booked.token}/wishes", data={"interests": ["culture", "nature"],
                                                                "language": "en", "people": "4"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/t/{booked.token}/"
    tour = only_tour()
    assert (tour.interest_list, tour.people, tour.sequence) == (["culture", "nature"], 4, 1)
    assert "Thank you, we passed this on to your guide." in text_of(browser.get(response.headers["Location"]))
    # Once: reloading the page, or opening the link again later, does not thank again.
    assert "Thank you" not in text_of(browser.get(response.headers["Location"]))

    fragment = browser.post(f"/t/{booked.token}/wishes", data={"interests": ["work"], "language": "en",
                                                               "people": "2"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert only_tour().sequence == 2
    html = fragment.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="wishes"')  # the section answers in place, the page stays
    assert "Thank you, we passed this on to your guide." in text_of(fragment)

    # A new language: the whole page comes again in it.
    german = browser.post(f"/t/{booked.token}/wishes", data={"interests": ["work"], "language": "de",
                                                             "people": "2"}, headers={"HX-Request": "true"})
    assert german.status_code == 204 and german.headers["HX-Redirect"] == f"/t/{booked.token}/"
    assert '<html lang="de">' in browser.get(german.headers["HX-Redirect"]).get_data(as_text=True)
    assert only_tour().partner_language == "de"
    browser.post(f"/t/{booked.token}/wishes", data={"language": "en", "people": "2"})
    assert only_tour().sequence == 4

    bad = browser.post(f"/t/{booked.token}/wishes", data={"language": "en", "people": "99"})
    assert bad.status_code == 422 and "Between 1 and 20." in text_of(bad)
    assert only_tour().sequence == 4

    # The page switched to German, the tour's language kept as English: the page stays in German, and the
    # section answers in place.
    browser.get(f"/t/{booked.token}/?lang=de")
    shown = browser.post(f"/t/{booked.token}/wishes", data={"language": "en", "people": "3"},
                         headers={"HX-Request": "true"})
    assert shown.status_code == 200
    assert "Vielen Dank, wir haben das an Ihren Guide weitergegeben." in text_of(shown)


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}], ids=["plain", "htmx"])
def test_the_partner_page_stays_in_the_language_the_partner_chose_when_the_tour_keeps_its_own(
    browser, booked, headers
):
    """A German tour, the page switched to English: saving interests and people (German still) keeps the
    page in English; only choosing another language for the tour brings the page in that language."""
    booked.partner_language = "de"
    db.session.commit()
    browser.get(f"/t/{booked.token}/?lang=en")

    saved = browser.post(f"/t/{booked.token}/wishes", headers=headers,
                         data={"interests": ["nature"], "language": "de", "people": "5"})

    if headers:
        assert saved.status_code == 200
        assert "Thank you, we passed this on to your guide." in text_of(saved)
        assert "Vielen Dank" not in text_of(saved)
    else:
        assert saved.status_code == 303
    page = browser.get(f"/t/{booked.token}/")
    assert '<html lang="en">' in page.get_data(as_text=True)
    assert "Your tour of Siegen Testcity" in text_of(page)
    assert (only_tour().interest_list, only_tour().people) == (["nature"], 5)

    # A real change of the tour's language: the page follows it, the earlier choice of English is gone.
    browser.post(f"/t/{booked.token}/wishes", data={"language": "en", "people": "5"}, headers=headers)
    browser.post(f"/t/{booked.token}/wishes", data={"language": "de", "people": "5"}, headers=headers)
    assert only_tour().partner_language == "de"
    assert "Ihre Tour durch Siegen Testcity" in text_of(browser.get(f"/t/{booked.token}/"))


def test_a_partner_who_chooses_a_language_their_guide_does_not_speak_gets_a_guide_who_does(
    browser, booked, guide, make_guide, city
):
    guide.guide_languages = "en"  # Greta: English only now
    db.session.commit()
    make_guide(city, name="Gustav Guide", languages=("de",))

    response = browser.post(f"/t/{booked.token}/wishes", data={"language": "de", "people": "3"},
                            headers={"HX-Request": "true"})

    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/t/{booked.token}/"
    tour = only_tour()
    assert (tour.partner_language, tour.guide.name) == ("de", "Gustav Guide")
    page = text_of(browser.get(response.headers["HX-Redirect"]))
    assert "Vielen Dank. Gustav, ein Guide, der Deutsch spricht, führt Sie jetzt durch die Stadt." in page
    assert "spricht Englisch" not in page


def test_a_new_guide_shows_on_the_whole_page_also_when_the_page_was_in_that_language_already(
    browser, booked, guide, make_guide, city
):
    """The page was switched to German while the tour was in English: choosing German changes no page
    language, but the guide, so the whole page comes again (not only the form's thanks)."""
    guide.guide_languages = "en"
    db.session.commit()
    make_guide(city, name="Gustav Guide", languages=("de",))
    browser.get(f"/t/{booked.token}/?lang=de")

    response = browser.post(f"/t/{booked.token}/wishes", data={"language": "de", "people": "3"},
                            headers={"HX-Request": "true"})

    assert response.status_code == 204 and response.headers["HX-Redirect"] == f"/t/{booked.token}/"
    assert "Gustav" in text_of(browser.get(response.headers["HX-Redirect"]))


def test_wishes_that_cannot_be_saved_right_now_keep_what_the_partner_chose(browser, booked, monkeypatch):
    def busy(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise TourError("busy")  # what the service says after three lost races in a row

    monkeypatch.setattr("tourbook.partner.update_partner_wishes", busy)
    for headers in ({}, {"HX-Request": "true"}):
        response = browser.post(f"/t/{booked.token}/wishes", headers=headers,
                                data={"interests": ["nature"], "language": "en", "people": "5"})
        assert response.status_code == 422
        page = text_of(response)
        assert "Your changes could not be saved just now. Please try again." in page
        assert "just taken by another booking" not in page
        html = response.get_data(as_text=True)
        assert re.search(r'<input(?=[^>]*value="nature")(?=[^>]*\bchecked\b)[^>]*>', html) and 'value="5"' in html


def partner_asks_for_german_which_greta_does_not_speak(browser, booked: Tour, guide: User) -> None:  # noqa: ANN001
    """Greta speaks English only now, and nobody free speaks German: she keeps the tour."""
    guide.guide_languages = "en"
    db.session.commit()
    assert browser.post(f"/t/{booked.token}/wishes", data={"language": "de", "people": "3"}).status_code == 303


def test_when_nobody_free_speaks_the_new_language_everyone_sees_that_the_guide_does_not(
    client, login, browser, booked, guide, hr, coordinator, city
):
    partner_asks_for_german_which_greta_does_not_speak(browser, booked, guide)

    tour = only_tour()
    assert (tour.partner_language, tour.guide_id) == ("de", guide.id)  # a tour in English rather than none
    partner_page = text_of(browser.get(f"/t/{booked.token}/"))
    assert ("Greta spricht Englisch, aber kein Deutsch. Zu dieser Zeit ist kein Guide frei, der Deutsch spricht. "
            "Wenn das für Sie ein Problem ist, rufen Sie bitte die Servicestelle der Stadt an: +49 271 404-0"
            ) in partner_page
    assert "Vielen Dank, wir haben das an Ihren Guide weitergegeben." in partner_page

    client.post("/logout")
    login(hr)
    assert "Greta does not speak German" in text_of(client.get("/tours/"))  # HR sees first names
    assert "does not speak German" in text_of(client.get(f"/tours/{tour.id}"))

    client.post("/logout")
    login(coordinator)
    tours_page = text_of(client.get("/tours/"))
    assert "1 tour has a guide who does not speak the partner's language" in tours_page
    assert "Greta Guide · partner speaks German" in tours_page
    home = client.get(f"/c/{city.slug}/")
    assert "1 tour has a guide who does not speak the partner's language" in text_of(home)
    assert f'href="/tours/{tour.id}"' in home.get_data(as_text=True)

    # The guide turns out to speak German after all (their profile): the warnings go.
    guide.guide_languages = "de,en"
    db.session.commit()
    assert "does not speak" not in text_of(client.get("/tours/"))
    assert "does not speak" not in text_of(client.get(f"/c/{city.slug}/"))


def test_the_coordinator_keeps_a_guide_without_the_language_and_the_attention_lists_let_go(
    client, login, browser, booked, guide, hr, coordinator, city
):
    partner_asks_for_german_which_greta_does_not_speak(browser, booked, guide)
    tour = only_tour()
    client.post("/logout")  # HR booked it
    login(coordinator)
    page = text_of(client.get(f"/tours/{tour.id}"))
    assert ("Keep Greta? Greta does not speak German. If that is fine, for example after a call with the partner, "
            "keep Greta: the tour then no longer appears among the tours that need attention.") in page

    kept = client.post(f"/tours/{tour.id}/keep-guide")

    assert kept.status_code == 303 and kept.headers["Location"] == f"/tours/{tour.id}"
    page = text_of(client.get(kept.headers["Location"]))
    assert "Greta Guide keeps the tour." in page
    assert "Greta Guide does not speak German The city office keeps this guide knowingly." in page
    assert "Keep Greta?" not in page
    tours_page = text_of(client.get("/tours/"))
    assert "does not speak the partner's language" not in tours_page  # no longer among what needs attention
    assert "does not speak German" in tours_page  # the row still says it
    assert "does not speak the partner's language" not in text_of(client.get(f"/c/{city.slug}/"))
    assert only_tour().sequence == tour.sequence  # nothing changed for guide and partner
    log = text_of(client.get("/audit/"))
    assert "Guide kept without the partner's language" in log

    again = client.post(f"/tours/{tour.id}/keep-guide")
    assert again.status_code == 409
    assert "This guide is kept already." in text_of(again)

    client.post("/logout")
    login(hr)
    assert "Greta does not speak German The city office keeps this guide knowingly." in text_of(
        client.get(f"/tours/{tour.id}"))
    assert "Greta spricht kein Deutsch Die Servicestelle der Stadt behält diesen Guide bewusst." in text_of(
        client.get(f"/tours/{tour.id}?lang=de"))
    # The partner still reads that their guide does not speak German (and whom to call).
    assert "Greta spricht Englisch, aber kein Deutsch." in text_of(browser.get(f"/t/{booked.token}/"))


def test_the_partner_cancels_with_a_post_behind_a_confirmation(app, browser, booked, day):
    booked.partner_language = "en"
    db.session.commit()
    when = "{} at {}".format(*in_english(app, local(day, 10)))
    confirmation = browser.get(f"/t/{booked.token}/cancel")
    assert confirmation.status_code == 200
    assert "Cancel the tour?" in text_of(confirmation)
    assert f"Your tour on {when} will be cancelled, and your guide is told." in text_of(confirmation)
    assert 'method="post"' in confirmation.get_data(as_text=True)
    assert only_tour().status == "confirmed"

    response = browser.post(f"/t/{booked.token}/cancel", data={"reason": "We found a flat elsewhere"})
    assert response.status_code == 303 and response.headers["Location"] == f"/t/{booked.token}/"
    tour = only_tour()
    assert (tour.status, tour.cancelled_by, tour.sequence) == ("cancelled", "partner", 1)
    cancelled = browser.get(f"/t/{booked.token}/")
    page = text_of(cancelled)
    assert f"Your tour on {when} is cancelled." in page
    assert "If you have questions, please call the city office: +49 271 404-0" in page
    assert '<a class="kern-link" href="tel:+49271404-0">+49 271 404-0</a>' in cancelled.get_data(as_text=True)
    for before_the_tour in ("What to bring", "Add to my calendar", "Cancel the tour", "How was your tour?"):
        assert before_the_tour not in page, before_the_tour

    # Nothing left to cancel: the confirmation leads back to the page, and a POST says why.
    assert browser.get(f"/t/{booked.token}/cancel").headers["Location"] == f"/t/{booked.token}/"
    again = browser.post(f"/t/{booked.token}/cancel", data={"reason": ""})
    assert again.status_code == 409 and "This tour is already cancelled." in text_of(again)
    # Wishes sent from a page opened before: the page again, which says the tour is cancelled.
    wishes = {"interests": ["nature"], "language": "en", "people": "2"}
    late = browser.post(f"/t/{booked.token}/wishes", data=wishes)
    assert late.status_code == 409 and f"Your tour on {when} is cancelled." in text_of(late)
    late = browser.post(f"/t/{booked.token}/wishes", data=wishes, headers={"HX-Request": "true"})
    assert late.status_code == 204 and late.headers["HX-Redirect"] == f"/t/{booked.token}/"
    assert only_tour().sequence == 1

    german = text_of(browser.get(f"/t/{booked.token}/?lang=de"))
    assert f"Ihre Tour am {german_date(day)} um 10:00 ist abgesagt." in german
    assert "Bei Fragen rufen Sie bitte die Servicestelle der Stadt an: +49 271 404-0" in german


def test_the_partner_link_expires_with_a_friendly_410(browser, city, company, guide, make_tour):
    ended = datetime.now(UTC) - timedelta(days=city.partner_link_days, hours=1)
    old = make_tour(guide, ended - timedelta(hours=2), company=company, partner_language="en")
    recent = make_tour(guide, datetime.now(UTC) - timedelta(days=city.partner_link_days - 1),
                       company=company, partner_language="en")
    for path in ("/", "/cancel", "/tour.ics"):
        response = browser.get(f"/t/{old.token}{path}")
        assert response.status_code == 410, path
        assert response.headers["Referrer-Policy"] == "no-referrer"
    expired = text_of(browser.get(f"/t/{old.token}/?lang=en"))
    assert "This link has expired" in expired and "The tour was some time ago" in expired
    assert "If you have questions, please call the city office: +49 271 404-0" in expired
    assert browser.post(f"/t/{old.token}/cancel", data={}).status_code == 410
    assert browser.get(f"/t/{recent.token}/").status_code == 200


def test_an_unknown_partner_token_is_not_found(browser, booked):
    for token in ("unknown-token", "x" * 65, "%00", "' OR 1=1 --", booked.token[:-1]):
        response = browser.get(f"/t/{token}/")
        assert response.status_code == 404, token
        assert "Mira" not in response.get_data(as_text=True)


# --- calendar downloads -------------------------------------------------------------------------------------


def test_the_ics_downloads_are_the_same_event_without_personal_data(client, browser, booked, login, guide):
    hr_download = client.get(f"/tours/{booked.id}/tour.ics")
    partner_download = browser.get(f"/t/{booked.token}/tour.ics")
    client.post("/logout")
    login(guide)
    guide_download = client.get(f"/tours/{booked.id}/tour.ics")
    uids = set()
    for response in (hr_download, partner_download, guide_download):
        assert response.status_code == 200
        assert response.mimetype == "text/calendar"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        assert ".ics" in response.headers["Content-Disposition"]
        lines = ics_lines(response)
        assert lines[0] == "BEGIN:VCALENDAR"
        uids.update(line for line in lines if line.startswith("UID:"))
        assert "SEQUENCE:0" in lines
        body = response.get_data(as_text=True)
        for personal in ("Mira", "Okafor", "mira@example.org", "171 1234567", "+49171"):
            assert personal not in body, personal
    assert len(uids) == 1


# --- the partner's page after the tour, and a tour without a guide -----------------------------------------


def in_english(app: Flask, when: datetime) -> tuple[str, str]:
    """The date and time as the English partner page writes them (the English format is decided elsewhere)."""
    from flask_babel import force_locale

    from tourbook.i18n import fmt_date, fmt_time

    with app.test_request_context(), force_locale("en"):
        return (" ".join(fmt_date(when, "full", BERLIN.key).split()),
                " ".join(fmt_time(when, BERLIN.key).split()))


BEFORE_THE_TOUR = ("What to bring", "Add to my calendar", "tour.ics", "will be announced soon", "while the interview",
                   "Cancel the tour", "Tell us what interests you")


def test_after_the_tour_the_partner_page_looks_back_and_asks_for_feedback_first(
    app, browser, city, company, guide, make_tour
):
    yesterday = datetime.now(BERLIN).date() - timedelta(days=1)
    done = make_tour(guide, local(yesterday, 10), company=company, status="done", partner_first_name="Mira",
                     partner_language="en")
    response = browser.get(f"/t/{done.token}/")
    html, page = response.get_data(as_text=True), text_of(response)
    assert response.status_code == 200
    assert "Thank you for visiting Siegen Testcity" in page
    on_day = in_english(app, local(yesterday, 10))[0]
    assert (f"Hello Mira, on {on_day}, a guide of the city showed you around Siegen Testcity. "
            "We hope you enjoyed it.") in page
    assert "Your guide Greta" in page and "Greta Guide" not in page
    assert 'name="feedback-rating"' in html
    assert "Your feedback How was your tour?" in page  # a heading, then the question: not the same words twice
    assert html.index('id="feedback"') < html.index("Your guide"), "the form the feedback mail links to comes first"
    assert '<a class="kern-link" href="tel:+49271404-0">+49 271 404-0</a>' in html
    for before_the_tour in BEFORE_THE_TOUR:
        assert before_the_tour not in html, before_the_tour
    assert browser.get(f"/t/{done.token}/cancel").headers["Location"] == f"/t/{done.token}/"

    german = text_of(browser.get(f"/t/{done.token}/?lang=de"))
    assert "Danke für Ihren Besuch in Siegen Testcity" in german
    assert (f"Hallo Mira, am {german_date(yesterday)} hat Sie ein Guide der Stadt durch Siegen Testcity geführt. "
            "Wir hoffen, es hat Ihnen gefallen.") in german
    assert "Ihr Guide Greta" in german and "Ihre Rückmeldung Wie war Ihre Tour?" in german
    assert "Was Sie mitbringen sollten" not in german and "wird bald bekannt gegeben" not in german

    assert browser.post(f"/t/{done.token}/feedback", data={"feedback-rating": "5"}).status_code == 303
    thanked = browser.get(f"/t/{done.token}/?lang=en")
    assert "Your feedback Thank you for your feedback!" in text_of(thanked)
    assert 'name="feedback-rating"' not in thanked.get_data(as_text=True)


def test_a_past_tour_not_yet_marked_looks_back_too_and_a_missed_one_says_when_it_was_planned(
    app, browser, city, company, guide, make_tour
):
    yesterday = datetime.now(BERLIN).date() - timedelta(days=1)
    unmarked = make_tour(guide, local(yesterday, 10), company=company, partner_language="en")
    missed = make_tour(guide, local(yesterday, 14), company=company, status="no_show", partner_language="en")

    response = browser.get(f"/t/{unmarked.token}/")
    page, html = text_of(response), response.get_data(as_text=True)
    assert "Thank you for visiting Siegen Testcity" in page and "Your guide Greta" in page
    assert 'name="feedback-rating"' in html
    for before_the_tour in BEFORE_THE_TOUR:
        assert before_the_tour not in html, before_the_tour

    response = browser.get(f"/t/{missed.token}/")
    page, html = text_of(response), response.get_data(as_text=True)
    assert "Your tour of Siegen Testcity" in page and "Thank you for visiting" not in page
    assert "Hello Alex, your tour was planned for {} at {}.".format(*in_english(app, local(yesterday, 14))) in page
    assert 'id="feedback"' not in html and 'href="tel:+49271404-0"' in html
    for before_the_tour in BEFORE_THE_TOUR:
        assert before_the_tour not in html, before_the_tour
    german = text_of(browser.get(f"/t/{missed.token}/?lang=de"))
    assert f"Hallo Alex, Ihre Tour war am {german_date(yesterday)} um 14:00 geplant." in german


def test_cancelling_a_tour_without_a_guide_promises_no_guide_to_tell(app, browser, city, company, make_tour):
    day = bookable_day(days=5)
    waiting = make_tour(None, local(day, 10), city=city, company=company, status="needs_guide",
                        partner_language="en")
    assert "will be announced soon" in text_of(browser.get(f"/t/{waiting.token}/"))
    confirmation = text_of(browser.get(f"/t/{waiting.token}/cancel"))
    assert "Your tour on {} at {} will be cancelled.".format(*in_english(app, local(day, 10))) in confirmation
    assert "guide" not in confirmation.lower()
    german = text_of(browser.get(f"/t/{waiting.token}/cancel?lang=de"))
    assert f"Ihre Tour am {german_date(day)} um 10:00 wird abgesagt." in german
    assert "Guide" not in german and "informiert" not in german


def test_a_file_where_text_is_expected_is_no_text_in_the_tour_forms(client, browser, booked, city, day):
    """Hand-made posts only (browsers send no file for a text field): the form says the field is missing."""
    def upload():  # noqa: ANN202
        return (io.BytesIO(b"%PDF-1.7"), "cv.pdf", "application/pdf")

    for name in ("first_name", "day", "start", "end"):
        response = client.post("/tours/new", data={**tour_form(city, day + timedelta(days=1)), name: upload()})
        assert response.status_code == 422, name
        assert "Please correct the marked fields." in text_of(response), name
    for url, data in ((f"/tours/{booked.id}/reschedule", {"day": upload(), "start": "14:00", "end": "16:00"}),
                      (f"/tours/{booked.id}/cancel", {"reason": upload()})):
        assert client.post(url, data=data).status_code == 422, url
    assert browser.post(f"/t/{booked.token}/wishes", data={"language": "de", "people": upload()}).status_code == 422
    assert (only_tour().sequence, only_tour().starts_at) == (0, local(day, 10))
    # The reason of a cancellation may be left out: a file there is such a cancellation.
    assert browser.post(f"/t/{booked.token}/cancel", data={"reason": upload()}).status_code == 303
    assert (only_tour().status, only_tour().cancel_reason) == ("cancelled", "")


def test_assigning_a_tour_that_can_no_longer_change_says_why_on_its_page(
    client, login, booked, coordinator, make_guide, city
):
    other = make_guide(city, name="Otto Other")
    client.post("/logout")
    login(coordinator)
    assert client.post(f"/tours/{booked.id}/cancel", data={"reason": "moved"}).status_code == 303

    response = client.post(f"/tours/{booked.id}/assign", data={"assign-guide": str(other.id), "assign-reason": "x"})

    assert response.status_code == 409
    assert "This tour cannot be changed any more." in text_of(response)
    # And keeping a guide of a tour that meanwhile needs one says that there is nobody to keep.
    tour = only_tour()
    tour.status, tour.guide_id, tour.cancelled_at = "needs_guide", None, None
    db.session.commit()
    kept = client.post(f"/tours/{booked.id}/keep-guide")
    assert kept.status_code == 409
    assert "Nothing to keep: the tour's guide or language has changed meanwhile." in text_of(kept)
    assert "cannot be changed" not in text_of(kept)


def test_a_partner_whose_tour_is_soon_reads_that_their_guide_stays(browser, booked, guide):
    guide.guide_languages = "en"
    booked.starts_at = utcnow() + timedelta(hours=3)
    booked.ends_at = booked.blocked_until = booked.starts_at + timedelta(hours=2)
    db.session.commit()

    assert browser.post(f"/t/{booked.token}/wishes", data={"language": "de", "people": "3"}).status_code == 303

    page = text_of(browser.get(f"/t/{booked.token}/"))
    assert ("Greta spricht Englisch, aber kein Deutsch. Ihre Tour ist bald, deshalb bleibt Greta Ihr Guide. "
            "Wenn das für Sie ein Problem ist, rufen Sie bitte die Servicestelle der Stadt an: +49 271 404-0") in page
    assert "kein Guide frei" not in page
