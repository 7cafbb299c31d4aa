"""Calendar subscriptions: each guide's feed of their tours, each coordinator's feed of the city's tours, and
the single-tour .ics downloads. What a calendar client reads is checked with the parsers the clients use
(libical as in Evolution, ical.js as in Thunderbird), on both sides of the daylight-saving changes."""

from __future__ import annotations

import logging
import re
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from html import unescape
from urllib.parse import unquote

import pytest
from factories_tours import (  # noqa: F401 - fixtures
    BERLIN,
    OUTSIDE_REQUEST_CONFIG,
    book_fixture,
    bookable_day,
    local,
    make_guide_fixture,
    make_tour_fixture,
)
from helpers_foundation import fresh_request_globals  # noqa: F401 - fixture
from ical_parsers import ical_js_calendar, ical_js_events, libical_errors, libical_events
from sqlalchemy import select
from sqlalchemy import text as sql_text
from werkzeug.serving import make_server

from tourbook.calendars import CalendarEvent, render_calendar
from tourbook.extensions import db
from tourbook.feeds import feed_url, rotate_feed_token
from tourbook.mail import queue_tour_messages, render_message
from tourbook.models import OutboxMessage, Role, Tour, utcnow
from tourbook.services import cancel_tour, decline_tour, reschedule_tour

PUBLIC = OUTSIDE_REQUEST_CONFIG["PUBLIC_URL"]
DOMAIN = "tourbook.example"
FEED_PATH = re.compile(r"/feeds/([A-Za-z0-9_\-]+)\.ics")


@pytest.fixture
def app_config() -> dict:
    # Services queue mail with links also outside a request (the feed is fetched without one's cookies).
    return dict(OUTSIDE_REQUEST_CONFIG)


@pytest.fixture
def city(make_city):  # noqa: ANN001, ANN201
    return make_city(timezone="Europe/Berlin")


@pytest.fixture
def guide(make_guide, city):  # noqa: ANN001, ANN201
    return make_guide(city, language="en")


def path_of_feed(app, user) -> str:  # noqa: ANN001
    """The path of the user's current feed URL (made on first use, as the /calendar page does)."""
    with app.test_request_context():
        url = feed_url(user)
        db.session.commit()
    assert url.startswith(PUBLIC + "/feeds/")
    return url.removeprefix(PUBLIC)


def fetch(app, path: str, **headers: str):  # noqa: ANN001, ANN201
    """The feed as a calendar client fetches it: no cookies, a fresh connection."""
    return app.test_client().get(path, headers=headers)


def feed_text(app, path: str) -> str:  # noqa: ANN001
    response = fetch(app, path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def book_soon(book, city, days: int = 10, hour: int = 10, **partner):  # noqa: ANN001, ANN003, ANN201
    """A tour booked through the service an hour ago (so later changes are later to the second)."""
    return book(city, local(bookable_day(days=days), hour), now=utcnow() - timedelta(hours=1), **partner)


def event_for(events, tour: Tour):  # noqa: ANN001, ANN201
    uid = f"{tour.uid}@{DOMAIN}"
    matching = [e for e in events if e.uid == uid]
    assert len(matching) == 1, f"{uid} appears {len(matching)} times"
    return matching[0]


def both_parsers(ics: str) -> tuple[list, list]:
    return libical_events(ics), ical_js_events(ics)


# --- the writing itself (calendars.py, pure) -----------------------------------------------------------

TRICKY = [
    "Plain",
    "Commas, semicolons; a backslash \\ and a colon: all literal",
    "Two\nlines and a\r\nWindows line",
    " ".join(["Ümlaute äöüß – “quotes” – 東京 – 🚲🚲🚲"] * 6),  # long, multi-byte at every fold
    "x" * 74 + "é" + "y" * 200,
]


@pytest.mark.parametrize("text", TRICKY, ids=["plain", "specials", "newlines", "unicode", "boundary"])
def test_texts_come_back_unchanged_through_both_parsers_and_lines_stay_within_75_octets(text):
    start = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    item = CalendarEvent(uid="abc123", sequence=3, start=start, end=start + timedelta(hours=2),
                         summary=text, location=text, description=text, cancelled=False,
                         last_modified=start - timedelta(days=3))
    ics = render_calendar([item], DOMAIN, name=text, refresh_interval="PT1H")
    for line in ics.split(b"\r\n"):
        assert len(line) <= 75
        line.decode()  # never split inside a character
    text_ = ics.decode()
    assert libical_errors(text_) == []
    expected = text.replace("\r\n", "\n")
    for events in both_parsers(text_):
        (event,) = events
        assert (event.summary, event.location, event.description) == (expected, expected, expected)
        assert (event.uid, event.sequence, event.start) == (f"abc123@{DOMAIN}", 3, start)
    # (ical.js hands out NAME raw, as for any property it has no type for; libical's check covers it.)


def test_calendar_refuses_what_it_cannot_write_safely():
    start = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    item = CalendarEvent(uid="u", sequence=0, start=start.replace(tzinfo=None), end=start, summary="s",
                         location="", description="", cancelled=False, last_modified=start)
    with pytest.raises(ValueError):
        render_calendar([item], DOMAIN)
    with pytest.raises(ValueError):
        render_calendar([], DOMAIN, refresh_interval="PT1H\r\nX-EVIL:1")
    with pytest.raises(ValueError):
        render_calendar([], DOMAIN, method="REQUEST\r\nX-EVIL:1")


# --- HTTP ----------------------------------------------------------------------------------------------


def test_feed_is_a_private_utf8_calendar_with_a_strong_etag_and_sets_no_cookie(app, guide, city, book):
    book_soon(book, city)
    response = fetch(app, path_of_feed(app, guide))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "private" in response.headers["Cache-Control"]
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert parsedate_to_datetime(response.headers["Last-Modified"]) <= utcnow()
    assert "Set-Cookie" not in response.headers
    body = response.get_data(as_text=True)
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in body
    assert "X-PUBLISHED-TTL:PT1H" in body
    calendar = ical_js_calendar(body)
    assert (calendar["refresh_interval"], calendar["published_ttl"]) == ("PT1H", "PT1H")
    assert calendar["name"] == "Tourbook: my tours"
    assert calendar["method"] is None  # a published feed, not an iTIP message


def test_unchanged_feed_is_byte_identical_and_answers_304_until_a_tour_changes(app, guide, city, book):
    tour = book_soon(book, city)
    path = path_of_feed(app, guide)
    first, second = fetch(app, path), fetch(app, path)
    assert first.data == second.data
    etag, last_modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert second.headers["ETag"] == etag

    for headers in ({"If-None-Match": etag}, {"If-None-Match": f"W/{etag}"},
                    {"If-None-Match": f'"something-else", {etag}'}, {"If-Modified-Since": last_modified}):
        unchanged = fetch(app, path, **headers)
        assert unchanged.status_code == 304, headers
        assert unchanged.data == b""
        assert unchanged.headers["ETag"] == etag
        assert "Set-Cookie" not in unchanged.headers
    assert fetch(app, path, **{"If-None-Match": '"something-else"'}).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110): a stale ETag with a fresh date is a 200.
    both = fetch(app, path, **{"If-None-Match": '"stale"', "If-Modified-Since": last_modified})
    assert both.status_code == 200

    day = bookable_day(days=12)
    reschedule_tour(db.session, tour.booked_by, tour, local(day, 14), local(day, 16))

    by_etag = fetch(app, path, **{"If-None-Match": etag})
    by_date = fetch(app, path, **{"If-Modified-Since": last_modified})
    assert (by_etag.status_code, by_date.status_code) == (200, 200)
    assert by_etag.headers["ETag"] != etag
    assert parsedate_to_datetime(by_etag.headers["Last-Modified"]) > parsedate_to_datetime(last_modified)
    assert by_etag.data == by_date.data != first.data
    assert fetch(app, path, **{"If-None-Match": by_etag.headers["ETag"]}).status_code == 304


def test_a_change_made_straight_in_the_database_still_changes_both_guides_feeds(app, make_guide, city, book):
    """The guide's ETag counts the changes of their tours by triggers in the database: a tour moved to another
    guide with plain SQL (past every service) changes the feed it left and the feed it joined."""
    first_guide = make_guide(city, language="en")
    tour = book_soon(book, city)
    other = make_guide(city, language="en")
    paths = [path_of_feed(app, first_guide), path_of_feed(app, other)]
    etags = [fetch(app, path).headers["ETag"] for path in paths]
    assert [fetch(app, p, **{"If-None-Match": e}).status_code for p, e in zip(paths, etags, strict=True)] == [304, 304]

    db.session.execute(sql_text("UPDATE tours SET guide_id = :g WHERE id = :t"), {"g": other.id, "t": tour.id})
    db.session.commit()

    answers = [fetch(app, p, **{"If-None-Match": e}) for p, e in zip(paths, etags, strict=True)]
    assert [a.status_code for a in answers] == [200, 200]
    assert tour.uid not in answers[0].get_data(as_text=True) and tour.uid in answers[1].get_data(as_text=True)


def test_tour_given_to_another_guide_leaves_the_feed_and_if_modified_since_sees_it(app, make_guide, city,
                                                                                   book):
    first_guide = make_guide(city, language="en")
    tour = book_soon(book, city)
    assert tour.guide_id == first_guide.id
    other = make_guide(city, language="en")
    path = path_of_feed(app, first_guide)
    before = fetch(app, path)
    assert tour.uid in before.get_data(as_text=True)

    assert decline_tour(db.session, first_guide, tour, "ill") == "reassigned"
    assert db.session.get(Tour, tour.id).guide_id == other.id

    after = fetch(app, path, **{"If-Modified-Since": before.headers["Last-Modified"]})
    assert after.status_code == 200
    assert tour.uid not in after.get_data(as_text=True)
    assert fetch(app, path, **{"If-None-Match": before.headers["ETag"]}).status_code == 200
    assert tour.uid in feed_text(app, path_of_feed(app, other))


# --- the feed follows changes -------------------------------------------------------------------------


def test_rescheduled_tour_keeps_its_uid_with_a_higher_sequence_and_the_new_times(app, guide, city, book):
    tour = book_soon(book, city)
    path = path_of_feed(app, guide)
    for events in both_parsers(feed_text(app, path)):
        event = event_for(events, tour)
        assert (event.sequence, event.status) == (0, "CONFIRMED")
        assert (event.start, event.end) == (tour.starts_at, tour.ends_at)

    day = bookable_day(days=20)
    new_start, new_end = local(day, 15), local(day, 17, 30)
    reschedule_tour(db.session, tour.booked_by, tour, new_start, new_end)

    for events in both_parsers(feed_text(app, path)):
        assert len(events) == 1
        event = event_for(events, tour)
        assert event.sequence == 1
        assert (event.start, event.end) == (new_start.astimezone(UTC), new_end.astimezone(UTC))
        assert event.status == "CONFIRMED"


def test_cancelled_tour_stays_in_the_feed_as_cancelled_with_a_marked_title(app, guide, city, book):
    kept = book_soon(book, city, days=10)
    tour = book_soon(book, city, days=11)
    path = path_of_feed(app, guide)
    cancel_tour(db.session, tour.booked_by, tour, "hr", "The interview moved online")

    body = feed_text(app, path)
    assert libical_errors(body) == []
    for events in both_parsers(body):
        cancelled = event_for(events, tour)
        assert cancelled.status == "CANCELLED"
        assert cancelled.sequence == 1
        assert cancelled.summary.startswith("CANCELLED:")
        assert (cancelled.start, cancelled.end) == (tour.starts_at, tour.ends_at)
        other = event_for(events, kept)
        assert other.status == "CONFIRMED" and not other.summary.startswith("CANCELLED")


# --- tokens --------------------------------------------------------------------------------------------


def test_rotated_token_is_404_at_once_and_unknown_tokens_are_404(app, guide, city, book):
    book_soon(book, city)
    old = path_of_feed(app, guide)
    assert fetch(app, old).status_code == 200
    with app.test_request_context():
        rotate_feed_token(db.session, guide, guide)
        db.session.commit()
    new = path_of_feed(app, guide)

    assert new != old
    assert fetch(app, old).status_code == 404
    assert fetch(app, new).status_code == 200
    token = FEED_PATH.search(new).group(1)
    assert len(token) >= 22  # at least 128 bits in URL-safe base64
    for path in ("/feeds/" + "A" * len(token) + ".ics", "/feeds/" + token[:-1] + ".ics", "/feeds/x.ics",
                 "/feeds/" + token.swapcase() + ".ics"):
        assert fetch(app, path).status_code == 404, path


def test_feed_of_an_hr_user_or_a_deactivated_guide_does_not_exist(app, guide, city, book, make_user):
    book_soon(book, city)
    path = path_of_feed(app, guide)
    guide.active = False
    db.session.commit()
    assert fetch(app, path).status_code == 404
    hr = make_user(Role.HR, language="en")
    assert fetch(app, path_of_feed(app, hr)).status_code == 404


def test_after_a_new_secret_key_the_address_shown_is_one_that_works(app, guide, city, book):
    book_soon(book, city)
    old = path_of_feed(app, guide)
    app.config["SECRET_KEY"] = "a-new-secret-key-for-this-installation"
    new = path_of_feed(app, guide)  # as the /calendar page and `flask feed-url` show it
    assert new != old
    assert fetch(app, new).status_code == 200
    assert fetch(app, old).status_code == 404


# --- content -------------------------------------------------------------------------------------------

PARTNER = {"first_name": "Zoraida", "last_name": "Quistgaard-Vellmer", "email": "zoraida.q@partner.example",
           "phone": "+49 170 5550123"}


def test_no_feed_and_no_ics_carries_the_partners_name_email_or_phone(app, client, login, guide, city, book,
                                                                     make_user):
    tour = book_soon(book, city, language="en", accessibility_needs="Step-free route", **PARTNER)
    cancelled = book_soon(book, city, days=12, **PARTNER)
    cancel_tour(db.session, cancelled.booked_by, cancelled, "hr", "no longer needed")
    coordinator = make_user(Role.COORDINATOR, city=city, language="en")
    documents = {
        "guide feed": feed_text(app, path_of_feed(app, guide)),
        "coordinator feed": feed_text(app, path_of_feed(app, coordinator)),
        "partner .ics": fetch(app, f"/t/{tour.token}/tour.ics").get_data(as_text=True),
    }
    login(guide)
    documents["guide's .ics"] = client.get(f"/tours/{tour.id}/tour.ics").get_data(as_text=True)

    for name, text in documents.items():
        assert tour.uid in text, name
        unfolded = text.replace("\r\n ", "").replace("\\,", ",").lower()
        for value in (*PARTNER.values(), "5550123", "quistgaard"):
            assert value.lower() not in unfolded, f"{value} in the {name}"
    # What the guide does get: the company, the language, the needs.
    feed = documents["guide feed"].replace("\r\n ", "")
    assert tour.company.name in feed and "Step-free route" in feed


def test_coordinator_feed_has_the_citys_tours_and_a_guide_feed_only_theirs(app, make_guide, make_city,
                                                                           make_user, city, book):
    anna, ben = make_guide(city, language="en"), make_guide(city, language="en")
    first = book_soon(book, city, days=10)
    second = book_soon(book, city, days=10)  # the same time: the other guide takes it
    assert {first.guide_id, second.guide_id} == {anna.id, ben.id}
    elsewhere = make_city(timezone="Europe/Berlin")
    make_guide(elsewhere, language="en")
    foreign = book_soon(book, elsewhere, days=10)
    coordinator = make_user(Role.COORDINATOR, city=city, language="en")

    def uids(user) -> set[str]:  # noqa: ANN001
        return {e.uid for e in libical_events(feed_text(app, path_of_feed(app, user)))}

    def uid(tour: Tour) -> str:
        return f"{tour.uid}@{DOMAIN}"

    mine = first if first.guide_id == anna.id else second
    theirs = second if mine is first else first
    assert uids(anna) == {uid(mine)}
    assert uids(ben) == {uid(theirs)}
    assert uids(coordinator) == {uid(first), uid(second)}
    assert uid(foreign) not in uids(coordinator)
    calendar = ical_js_calendar(feed_text(app, path_of_feed(app, coordinator)))
    assert calendar["name"] == f"Tourbook: tours in {city.name}"


def test_feed_keeps_60_days_back_and_365_ahead(app, guide, city, make_tour, monkeypatch):
    now = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)
    monkeypatch.setattr("tourbook.feeds.utcnow", lambda: now)
    inside = [make_tour(guide, local(now.date() - timedelta(days=59), 10)),
              make_tour(guide, local(now.date() + timedelta(days=364), 10))]
    outside = [make_tour(guide, local(now.date() - timedelta(days=62), 10)),
               make_tour(guide, local(now.date() + timedelta(days=368), 10))]
    body = feed_text(app, path_of_feed(app, guide))
    assert all(t.uid in body for t in inside)
    assert not any(t.uid in body for t in outside)


# --- what the clients read -----------------------------------------------------------------------------

# The days daylight saving time starts and ends in Europe/Berlin in 2026: tours at these local wall-clock
# times, and the instants they are (written out in UTC, not computed).
DST_TOURS = [
    # (local start, local end, UTC start, UTC end)
    (datetime(2026, 3, 28, 10, 0, tzinfo=BERLIN), datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN),
     datetime(2026, 3, 28, 9, 0, tzinfo=UTC), datetime(2026, 3, 28, 11, 0, tzinfo=UTC)),
    # 01:30 CET to 03:30 CEST: one hour
    (datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN), datetime(2026, 3, 29, 3, 30, tzinfo=BERLIN),
     datetime(2026, 3, 29, 0, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    (datetime(2026, 3, 29, 10, 0, tzinfo=BERLIN), datetime(2026, 3, 29, 12, 0, tzinfo=BERLIN),
     datetime(2026, 3, 29, 8, 0, tzinfo=UTC), datetime(2026, 3, 29, 10, 0, tzinfo=UTC)),
    # 01:00 CEST to the first 02:30 (still CEST): an hour and a half
    (datetime(2026, 10, 25, 1, 0, tzinfo=BERLIN), datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BERLIN),
     datetime(2026, 10, 24, 23, 0, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    # the second 02:45 (CET already) to 04:00 CET
    (datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=BERLIN), datetime(2026, 10, 25, 4, 0, tzinfo=BERLIN),
     datetime(2026, 10, 25, 1, 45, tzinfo=UTC), datetime(2026, 10, 25, 3, 0, tzinfo=UTC)),
    (datetime(2026, 10, 25, 10, 0, tzinfo=BERLIN), datetime(2026, 10, 25, 12, 0, tzinfo=BERLIN),
     datetime(2026, 10, 25, 9, 0, tzinfo=UTC), datetime(2026, 10, 25, 11, 0, tzinfo=UTC)),
    (datetime(2026, 10, 26, 10, 0, tzinfo=BERLIN), datetime(2026, 10, 26, 11, 30, tzinfo=BERLIN),
     datetime(2026, 10, 26, 9, 0, tzinfo=UTC), datetime(2026, 10, 26, 10, 30, tzinfo=UTC)),
]


@pytest.fixture
def dst_tours(guide, city, make_tour, make_user, monkeypatch) -> list[tuple[Tour, datetime, datetime]]:
    """The tours of DST_TOURS, written straight to the database; the feed's clock is set to a day from
    which all of them are inside its window."""
    monkeypatch.setattr("tourbook.feeds.utcnow", lambda: datetime(2026, 4, 20, 8, 0, tzinfo=UTC))
    hr = make_user(Role.HR, language="en")
    hr.company.cities.append(city)
    db.session.commit()
    tours = []
    for start, end, utc_start, utc_end in DST_TOURS:
        # make_tour adds minutes to the start it is given: in UTC that is elapsed time, not wall-clock time.
        minutes = int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() // 60)
        tour = make_tour(guide, start.astimezone(UTC), minutes, company=hr.company, booked_by_id=hr.id,
                         partner_email="partner@partner.example", partner_language="en",
                         meeting_point="Hauptbahnhof")
        tours.append((tour, utc_start, utc_end))
    return tours


def test_feed_times_on_the_days_daylight_saving_changes_read_back_as_meant(app, guide, make_user, city,
                                                                           dst_tours):
    coordinator = make_user(Role.COORDINATOR, city=city, language="en")
    for user in (guide, coordinator):
        body = feed_text(app, path_of_feed(app, user))
        assert libical_errors(body) == []
        for events in both_parsers(body):
            assert len(events) == len(dst_tours)
            for tour, start, end in dst_tours:
                event = event_for(events, tour)
                assert (event.start, event.end) == (start, end), (tour.starts_at, event)


def test_single_tour_ics_on_the_days_daylight_saving_changes(app, client, login, guide, dst_tours):
    login(guide)
    for tour, start, end in dst_tours:
        response = client.get(f"/tours/{tour.id}/tour.ics")
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/calendar")
        assert response.headers["Content-Disposition"].startswith("attachment")
        body = response.get_data(as_text=True)
        assert libical_errors(body) == []
        for events in both_parsers(body):
            assert len(events) == 1
            assert events[0].uid == f"{tour.uid}@{DOMAIN}"  # the same UID as in the feed
            assert (events[0].start, events[0].end) == (start, end)


def _itip(tour: Tour, event: str) -> dict[str, str]:
    """The invitation attachments queued for this change, by kind, as the worker writes them."""
    queue_tour_messages(db.session, tour, event)
    db.session.commit()
    rows = db.session.execute(select(OutboxMessage).where(OutboxMessage.tour_id == tour.id)).scalars().all()
    for row in rows:
        render_message(db.session, row)
    db.session.commit()
    return {row.kind: row.ics for row in rows if row.ics is not None and row.kind.endswith(event)}


def test_itip_invitations_and_cancellations_pass_libical_and_carry_the_right_times(app, dst_tours):
    for tour, start, end in dst_tours:
        requests = _itip(tour, "booked")
        assert set(requests) == {"partner_booked", "hr_booked"}
        tour.status, tour.cancelled_at, tour.cancelled_by = "cancelled", utcnow(), "hr"
        tour.sequence += 1
        tour.updated_at = utcnow()
        db.session.commit()
        cancels = _itip(tour, "cancelled")
        assert set(cancels) == {"partner_cancelled", "hr_cancelled"}
        for method, attachments in (("REQUEST", requests), ("CANCEL", cancels)):
            for kind, ics in attachments.items():
                assert libical_errors(ics) == [], (kind, ics)
                calendar = ical_js_calendar(ics)
                assert calendar["method"] == method
                for events in (libical_events(ics), calendar["events"]):
                    (read,) = events
                    assert (read.start, read.end) == (start, end)
                    assert read.uid == f"{tour.uid}@{DOMAIN}"
                    assert read.sequence == (0 if method == "REQUEST" else 1)
                    assert read.status == ("CONFIRMED" if method == "REQUEST" else "CANCELLED")


def test_libical_finds_no_errors_in_feeds_and_downloads_of_all_kinds_of_tours(app, client, login, guide, city,
                                                                              book, make_user):
    tours = [book_soon(book, city, days=d, language="en", email=f"p{d}@partner.example",
                       accessibility_needs=n)
             for d, n in ((10, "Wheelchair; needs a lift, please"), (11, None), (12, "Ümlaute – “quotes”"))]
    cancel_tour(db.session, tours[1].booked_by, tours[1], "hr", "moved")
    coordinator = make_user(Role.COORDINATOR, city=city, language="en")
    documents = [feed_text(app, path_of_feed(app, guide)), feed_text(app, path_of_feed(app, coordinator))]
    documents += [fetch(app, f"/t/{t.token}/tour.ics").get_data(as_text=True) for t in tours]
    login(guide)
    documents += [client.get(f"/tours/{t.id}/tour.ics").get_data(as_text=True) for t in tours]
    for document in documents:
        assert document.startswith("BEGIN:VCALENDAR")
        assert libical_errors(document) == [], document


# --- the page and the command ----------------------------------------------------------------------------


def _links(response) -> dict[str, str]:  # noqa: ANN001
    html = response.get_data(as_text=True)
    hrefs = [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]
    values = [unescape(v) for v in re.findall(r'value="(https?://[^"]+)"', html)]
    webcal = [h for h in hrefs if h.startswith("webcal://")]
    google = [h for h in hrefs if h.startswith("https://calendar.google.com/")]
    https = [v for v in values if FEED_PATH.search(v)]
    assert len(webcal) == 1 and len(google) == 1 and len(https) == 1, (webcal, google, https)
    return {"webcal": webcal[0], "google": google[0], "https": https[0]}


@pytest.mark.parametrize("role", [Role.GUIDE, Role.COORDINATOR])
def test_calendar_page_offers_the_address_with_webcal_and_google_links_and_rotates_it(
        app, client, login, make_user, city, role):
    user = make_user(role, city=city, language="en")
    login(user)
    page = client.get("/calendar")
    assert page.status_code == 200
    links = _links(page)
    path = FEED_PATH.search(links["https"]).group(0)
    assert links["https"] == PUBLIC + path
    assert links["webcal"] == "webcal://" + DOMAIN + path
    assert links["google"].startswith("https://calendar.google.com/calendar/r?cid=")
    assert unquote(links["google"].split("cid=", 1)[1]) == links["webcal"]
    assert fetch(app, path).status_code == 200
    assert _links(client.get("/calendar"))["https"] == links["https"]  # stable until rotated

    rotated = client.post("/calendar/rotate")
    assert rotated.status_code in (302, 303)
    page = client.get(rotated.headers["Location"])
    assert "The old one no longer works" in page.get_data(as_text=True)
    new = _links(page)["https"]
    assert new != links["https"]
    assert fetch(app, path).status_code == 404
    assert fetch(app, FEED_PATH.search(new).group(0)).status_code == 200


def test_calendar_page_is_for_guides_and_coordinators_only(app, client, login, make_user):
    assert client.get("/calendar").status_code == 302  # to the login
    login(make_user(Role.HR, language="en"))
    assert client.get("/calendar").status_code == 403
    assert client.post("/calendar/rotate").status_code == 403


def test_the_first_visit_of_the_calendar_page_while_another_request_writes_is_shown_on_sqlite(
        app, client, login, make_user, city, backend, monkeypatch):
    """The first visit writes the feed token: after the read of the signed-in user, SQLite refuses a write at
    once when another connection wrote meanwhile (it was a 500)."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL locks rows")
    import sqlite3

    from tourbook import feeds

    user, other_id = make_user(Role.GUIDE, city=city, language="en"), make_user(Role.HR, language="en").id
    login(user)
    real = feeds.ensure_feed_token

    def someone_writes_before_the_token(who):  # noqa: ANN001, ANN202
        with sqlite3.connect(db.engine.url.database, timeout=5) as other:
            other.execute("UPDATE users SET name = name || '.' WHERE id = ?", (other_id,))
        return real(who)

    monkeypatch.setattr(feeds, "ensure_feed_token", someone_writes_before_the_token)
    page = client.get("/calendar")
    monkeypatch.undo()

    assert page.status_code == 200
    path = FEED_PATH.search(_links(page)["https"]).group(0)
    assert fetch(app, path).status_code == 200  # the token shown was stored


def test_feed_url_command_prints_the_url_and_changes_it_only_with_rotate(app, runner, guide, city, book,
                                                                         make_user):
    book_soon(book, city)
    first = runner.invoke(args=["feed-url", guide.email])
    assert first.exit_code == 0, first.output
    url = first.output.strip()
    assert FEED_PATH.fullmatch(url.removeprefix(PUBLIC))
    assert runner.invoke(args=["feed-url", guide.email]).output.strip() == url
    db.session.expire_all()
    assert fetch(app, url.removeprefix(PUBLIC)).status_code == 200

    rotated = runner.invoke(args=["feed-url", guide.email.upper(), "--rotate"])
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.strip()
    assert new != url and FEED_PATH.fullmatch(new.removeprefix(PUBLIC))
    db.session.expire_all()
    assert fetch(app, url.removeprefix(PUBLIC)).status_code == 404
    assert fetch(app, new.removeprefix(PUBLIC)).status_code == 200

    hr = make_user(Role.HR, language="en")
    for email in (hr.email, "nobody@example.org"):
        refused = runner.invoke(args=["feed-url", email])
        assert refused.exit_code != 0
        assert "no guide or coordinator" in refused.output


# --- logs ----------------------------------------------------------------------------------------------


def test_feed_tokens_never_reach_the_log_of_a_real_server(app, guide, city, book, caplog):
    book_soon(book, city)
    old = path_of_feed(app, guide)
    with app.test_request_context():
        rotate_feed_token(db.session, guide, guide)
        db.session.commit()
    current = path_of_feed(app, guide)
    tokens = [FEED_PATH.search(p).group(1) for p in (old, current)]

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    caplog.set_level(logging.DEBUG)
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with urllib.request.urlopen(base + current, timeout=10) as response:  # noqa: S310 - loopback
            assert response.status == 200
            etag = response.headers["ETag"]
        request = urllib.request.Request(base + current, headers={"If-None-Match": etag})  # noqa: S310
        with pytest.raises(urllib.error.HTTPError) as not_modified:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310
        not_modified.value.close()
        assert not_modified.value.code == 304
        with pytest.raises(urllib.error.HTTPError) as gone:
            urllib.request.urlopen(base + old, timeout=10)  # noqa: S310
        gone.value.close()
        assert gone.value.code == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    logged = [record.getMessage() for record in caplog.records]
    access = [line for line in logged if "/feeds/" in line]
    assert len(access) >= 3, logged  # the server's access log was captured at all
    assert all("/feeds/[redacted]" in line for line in access)
    for token in tokens:
        assert not any(token in line for line in logged)
        assert token not in caplog.text


def test_last_modified_is_an_http_date_in_gmt(app, guide, city, book):
    book_soon(book, city)
    header = fetch(app, path_of_feed(app, guide)).headers["Last-Modified"]
    assert header.endswith(" GMT")
    assert format_datetime(parsedate_to_datetime(header), usegmt=True) == header


def test_the_partners_calendar_has_the_city_offices_phone_and_their_page(app, make_guide, city, book):
    """The partner's .ics and the invitation in their mail: what they need on the day (the same event, UID and
    sequence, as everyone's); not the guide's name, which their page has as it is now."""
    from tourbook.mail import render_message

    city.office_phone = "+49 271 404-0"
    db.session.commit()
    make_guide(city, language="en", name="Greta Guide")
    tour = book_soon(book, city, language="en", email="partner@example.org")
    page = f"{app.config['PUBLIC_URL'].rstrip('/')}/t/{tour.token}/"
    message = db.session.execute(select(OutboxMessage).where(OutboxMessage.kind == "partner_booked")).scalar_one()
    with app.test_request_context():
        render_message(db.session, message)
    for name, text in {"download": fetch(app, f"/t/{tour.token}/tour.ics?lang=en").get_data(as_text=True),
                       "invitation": message.ics}.items():
        for events in both_parsers(text):
            event = event_for(events, tour)
            assert event.summary == f"Partner tour of {city.name}", name
            assert event.description.splitlines() == ["City office: +49 271 404-0", f"Your tour page: {page}"], name


def test_the_station_is_named_in_each_calendars_language(app, client, login, make_guide, make_user, city, book):
    """The meeting point "main station" is named in the language of whoever reads the calendar: the German
    guide's feed, the English coordinator's feed, the partner's and the guide's own .ics."""
    guide = make_guide(city, language="de")
    tour = book_soon(book, city, language="en", meeting_point=f"{city.name} main station", meeting_place="station")
    coordinator = make_user(Role.COORDINATOR, city=city, language="en")
    german, english = f"{city.name} Hauptbahnhof", f"{city.name} main station"
    login(guide)
    documents = {
        "guide feed": (feed_text(app, path_of_feed(app, guide)), german),
        "coordinator feed": (feed_text(app, path_of_feed(app, coordinator)), english),
        "partner .ics": (fetch(app, f"/t/{tour.token}/tour.ics").get_data(as_text=True), english),
        "partner .ics, German page": (fetch(app, f"/t/{tour.token}/tour.ics?lang=de").get_data(as_text=True), german),
        "guide's .ics": (client.get(f"/tours/{tour.id}/tour.ics").get_data(as_text=True), german),
    }
    for name, (text, expected) in documents.items():
        for events in both_parsers(text):
            assert event_for(events, tour).location == expected, name
