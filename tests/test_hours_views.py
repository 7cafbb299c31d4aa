"""Guides' hours in the browser's words: every form of /guides/<id>/hours (windows, absences, languages and
limits, holiday opt-ins) with good and bad input, as htmx fragment and as plain form; who may open and change
what; the coordinator's week view; and an absence entered over booked tours.

German translations are not filled in yet: the accounts read English (their language setting wins over
Accept-Language) and the texts asserted are the English ones."""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from factories_hours import store_window as add_window
from helpers_foundation import (  # noqa: F401 - fresh_request_globals is an autouse fixture
    EN,
    HTMX,
    field_error,
    fresh_request_globals,
    input_value,
    snapshot,
    text_of,
)
from sqlalchemy import func, select

from tourbook.extensions import db
from tourbook.hours import public_holidays
from tourbook.models import Absence, AuditEntry, AvailabilityWindow, City, HolidayOptIn, Role, Tour, User

BERLIN = ZoneInfo("Europe/Berlin")


# --- fixtures and helpers --------------------------------------------------------------------------------


@pytest.fixture
def city(make_city: Callable[..., City]) -> City:
    return make_city()


@pytest.fixture
def guide(make_user: Callable[..., User], city: City) -> User:
    return make_user(Role.GUIDE, city=city, language="en", name="Greta Guide")


@pytest.fixture
def coordinator(make_user: Callable[..., User], city: City) -> User:
    return make_user(Role.COORDINATOR, city=city, language="en", name="Cora Coordinator")


@pytest.fixture
def make_tour(make_company: Callable[..., object]) -> Callable[..., Tour]:
    """A tour written straight to the database (the booking forms come with another issue)."""

    def make(
        guide: User | None,
        starts_at: datetime,
        minutes: int = 120,
        status: str = "confirmed",
        city: City | None = None,
        company: object = None,
    ) -> Tour:
        city = city or db.session.get(City, guide.city_id)
        company = company or make_company(cities=[city], name=f"Firma {secrets.token_hex(3)} GmbH")
        now = datetime.now(UTC)
        ends_at = starts_at + timedelta(minutes=minutes)
        tour = Tour(
            uid=secrets.token_hex(16),
            token=secrets.token_urlsafe(24),
            city_id=city.id,
            company_id=company.id,
            guide_id=guide.id if guide else None,
            status=status,
            starts_at=starts_at,
            ends_at=ends_at,
            blocked_until=ends_at + timedelta(minutes=city.buffer_minutes),
            assigned_at=now,
            partner_first_name="Alex",
            partner_language="de",
            consent_at=now,
        )
        db.session.add(tour)
        db.session.commit()
        return tour

    return make


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BERLIN)


def working_day(city: City, weekday: int, at_least: int = 7) -> date:
    """The first ``weekday`` at least ``at_least`` days ahead that is no public holiday of the city."""
    day = datetime.now(BERLIN).date() + timedelta(days=at_least)
    day += timedelta(days=(weekday - day.weekday()) % 7)
    holidays = public_holidays(city, day, day + timedelta(days=60))
    while day in holidays:
        day += timedelta(days=7)
    return day


def next_holiday(city: City) -> date:
    today = datetime.now(BERLIN).date()
    upcoming = public_holidays(city, today, today + timedelta(days=city.horizon_days))
    assert upcoming, "the test needs a public holiday within the city's horizon"
    return min(upcoming)


def is_fragment(response) -> bool:  # noqa: ANN001
    return "<html" not in response.get_data(as_text=True)


def section(response, section_id: str) -> str:  # noqa: ANN001
    """The text of one section of the hours page (the page or a fragment)."""
    html = response.get_data(as_text=True)
    match = re.search(rf'<section id="{section_id}".*?</section>', html, re.S)
    assert match, f"no section #{section_id} in the answer"
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(0))).split())


def windows_of(guide: User) -> list[tuple[int, int, int]]:
    db.session.expire_all()
    return [
        (w.weekday, w.start_minute, w.end_minute)
        for w in db.session.execute(
            select(AvailabilityWindow)
            .where(AvailabilityWindow.guide_id == guide.id)
            .order_by(AvailabilityWindow.weekday, AvailabilityWindow.start_minute)
        ).scalars()
    ]


def absences_of(guide: User) -> list[Absence]:
    db.session.expire_all()
    return list(db.session.execute(select(Absence).where(Absence.guide_id == guide.id)).scalars())


def window_data(**fields: str) -> dict[str, str]:
    data = {"weekday": "0", "start": "09:00", "end": "12:00", "valid_from": "", "valid_until": ""}
    data.update(fields)
    return {f"window-{k}": v for k, v in data.items()}


def absence_data(**fields: str) -> dict[str, str]:
    day = (datetime.now(BERLIN).date() + timedelta(days=30)).isoformat()
    data = {"first_day": day, "last_day": day, "start_time": "", "end_time": "", "reason": "holiday"}
    data.update(fields)
    return {f"absence-{k}": v for k, v in data.items()}


def profile_data(languages: tuple[str, ...] = ("de", "en"), **fields: str) -> dict:
    data: dict = {
        "profile-languages": list(languages),
        "profile-daily_limit": "2",
        "profile-weekly_limit": "6",
    }
    data.update({f"profile-{k}": v for k, v in fields.items()})
    return data


def add_absence(guide: User, first: date, last: date, reason: str = "illness") -> Absence:
    absence = Absence(
        guide_id=guide.id,
        first_day=first,
        last_day=last,
        starts_at=local(first, 0),
        ends_at=local(last + timedelta(days=1), 0),
        reason=reason,
    )
    db.session.add(absence)
    db.session.commit()
    return absence


# --- the page --------------------------------------------------------------------------------------------


def test_guide_sees_their_hours_page_with_windows_absences_limits_and_holidays(client, login, guide, city):
    add_window(guide, 0, time(9), time(12))
    add_window(guide, 0, time(13), time(16, 30))
    add_absence(guide, date.today() + timedelta(days=10), date.today() + timedelta(days=12), "training")
    login(guide)
    response = client.get(f"/guides/{guide.id}/hours", headers=EN)
    assert response.status_code == 200
    assert "<html" in response.get_data(as_text=True)
    assert "My hours" in text_of(response)
    windows = section(response, "windows")
    assert "Monday 09:00–12:00" in windows and "13:00–16:30" in windows
    assert "Training:" in section(response, "absences")
    assert section(response, "profile")
    holiday = next_holiday(city)
    assert public_holidays(city, holiday, holiday)[holiday] in section(response, "holidays")


def test_hours_page_as_htmx_request_is_still_the_full_page_when_boosted(client, login, guide):
    login(guide)
    boosted = client.get(f"/guides/{guide.id}/hours", headers={**HTMX, "HX-Boosted": "true"})
    assert boosted.status_code == 200
    assert not is_fragment(boosted)
    assert "HX-Request" in boosted.headers.get("Vary", "")


# --- weekly windows: good input --------------------------------------------------------------------------


def test_guide_adds_a_window_in_place_with_htmx(client, login, guide):
    login(guide)
    response = client.post(
        f"/guides/{guide.id}/windows", data=window_data(weekday="2", start="09:15", end="12:45"), headers=HTMX
    )
    assert response.status_code == 200
    assert is_fragment(response)
    assert response.get_data(as_text=True).lstrip().startswith('<section id="windows"')
    assert "Wednesday 09:15–12:45" in section(response, "windows")
    assert "The window is added." in section(response, "windows")  # announced in the live region
    assert windows_of(guide) == [(2, 9 * 60 + 15, 12 * 60 + 45)]


def test_after_adding_a_window_in_place_the_form_is_blank_again(client, login, guide):
    login(guide)
    response = client.post(
        f"/guides/{guide.id}/windows", data=window_data(start="09:15", end="12:45"), headers=HTMX
    )
    assert response.status_code == 200
    assert input_value(response, "window-start") == ""
    assert input_value(response, "window-end") == ""


def test_a_plain_form_error_keeps_the_other_sections_as_saved(client, login, guide):
    login(guide)
    response = client.post(f"/guides/{guide.id}/windows", data=window_data(start="09:10"), headers=EN)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    checked = re.findall(r'<input[^>]*name="profile-languages"[^>]*>', html)
    assert [tag for tag in checked if "checked" in tag], "the guide's language is no longer ticked"
    assert input_value(response, "profile-daily_limit") == "2"


def test_plain_form_adds_a_window_then_redirects_to_the_page_showing_it(client, login, guide):
    login(guide)
    response = client.post(f"/guides/{guide.id}/windows", data=window_data(weekday="4"), headers=EN)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/guides/{guide.id}/hours"
    page = client.get(response.headers["Location"], headers=EN)
    assert "The window is added." in text_of(page)
    assert "Friday 09:00–12:00" in section(page, "windows")


@pytest.mark.parametrize(
    ("start", "end"),
    [("06:00", "22:00"), ("06:00", "06:15"), ("21:45", "22:00")],
    ids=["whole-day", "first-quarter", "last-quarter"],
)
def test_windows_at_the_edges_of_the_day_are_accepted(client, login, guide, start, end):
    login(guide)
    response = client.post(
        f"/guides/{guide.id}/windows", data=window_data(start=start, end=end), headers=HTMX
    )
    assert response.status_code == 200, field_error(response, "window-start") + field_error(
        response, "window-end"
    )
    assert len(windows_of(guide)) == 1


def test_windows_may_touch_and_may_overlap_when_their_validity_does_not(client, login, guide):
    add_window(guide, 0, time(9), time(12), valid_until=date(2027, 3, 31))
    login(guide)
    touching = client.post(
        f"/guides/{guide.id}/windows", data=window_data(start="12:00", end="13:00"), headers=HTMX
    )
    assert touching.status_code == 200
    later = client.post(
        f"/guides/{guide.id}/windows",
        data=window_data(start="08:00", end="12:00", valid_from="2027-04-01"),
        headers=HTMX,
    )
    assert later.status_code == 200, field_error(later, "window-start")
    assert "from 1 Apr 2027" in section(later, "windows")
    assert len(windows_of(guide)) == 3


def test_a_window_on_another_weekday_does_not_overlap(client, login, guide):
    add_window(guide, 0, time(9), time(12))
    login(guide)
    response = client.post(f"/guides/{guide.id}/windows", data=window_data(weekday="1"), headers=HTMX)
    assert response.status_code == 200
    assert len(windows_of(guide)) == 2


# --- weekly windows: bad input ---------------------------------------------------------------------------

ORDER = "The end must be after the start."
QUARTER = "Please use quarter hours, e.g. 09:00, 09:15, 09:30."
RANGE = "Tours take place between 06:00 and 22:00."
OVERLAP = "This window overlaps another window on the same day."
VALIDITY = "“Valid until” must not be before “valid from”."
NO_TIME = "Please enter a time, e.g. 09:00."
NO_END = "Please enter a time, e.g. 12:00."
BAD_DATE = "Not a valid date value."
BAD_CHOICE = "Not a valid choice."
NO_COERCE = "Invalid Choice: could not coerce."

BAD_WINDOWS = [
    pytest.param({"start": "12:00", "end": "09:00"}, "end", ORDER, id="end-before-start"),
    pytest.param({"start": "12:00", "end": "12:00"}, "end", ORDER, id="end-equals-start"),
    pytest.param({"start": "05:00", "end": "09:00"}, "start", RANGE, id="starts-before-six"),
    pytest.param({"start": "05:45", "end": "09:00"}, "start", RANGE, id="quarter-before-six"),
    pytest.param({"start": "20:00", "end": "22:15"}, "end", RANGE, id="ends-after-ten"),
    pytest.param({"start": "22:00", "end": "23:00"}, "end", RANGE, id="late-evening"),
    pytest.param({"start": "09:10", "end": "12:00"}, "start", QUARTER, id="start-not-quarter"),
    pytest.param({"start": "09:00", "end": "11:59"}, "end", QUARTER, id="end-not-quarter"),
    pytest.param({"start": "", "end": "12:00"}, "start", NO_TIME, id="empty-start"),
    pytest.param({"start": "09:00", "end": ""}, "end", NO_END, id="empty-end"),
    pytest.param({"start": "   ", "end": "12:00"}, "start", NO_TIME, id="blank-start"),
    pytest.param({"start": "morning", "end": "12:00"}, "start", NO_TIME, id="garbage-start"),
    pytest.param({"start": "9", "end": "12:00"}, "start", NO_TIME, id="hour-only"),
    pytest.param({"start": "25:00", "end": "26:00"}, "start", NO_TIME, id="no-such-hour"),
    pytest.param({"start": "09:00:30", "end": "12:00"}, "start", NO_TIME, id="seconds"),
    pytest.param({"start": "09:00" * 400, "end": "12:00"}, "start", NO_TIME, id="too-long"),
    pytest.param({"start": "０９:００", "end": "12:00"}, "start", NO_TIME, id="fullwidth-digits"),
    pytest.param({"start": "neun Uhr ☀", "end": "12:00"}, "start", NO_TIME, id="unicode-words"),
    pytest.param({"start": "09:00\x00", "end": "12:00"}, "start", NO_TIME, id="nul-byte"),
    pytest.param({"valid_from": "2027-02-30"}, "valid_from", BAD_DATE, id="no-such-date"),
    pytest.param({"valid_from": "30.01.2027"}, "valid_from", BAD_DATE, id="german-date-format"),
    pytest.param({"valid_until": "tomorrow"}, "valid_until", BAD_DATE, id="garbage-date"),
    pytest.param({"valid_until": "2027–01–01"}, "valid_until", BAD_DATE, id="unicode-dashes"),
    pytest.param(
        {"valid_from": "2027-05-01", "valid_until": "2027-04-30"},
        "valid_until",
        VALIDITY,
        id="valid-until-before-from",
    ),
    pytest.param({"weekday": "7"}, "weekday", BAD_CHOICE, id="weekday-7"),
    pytest.param({"weekday": "-1"}, "weekday", BAD_CHOICE, id="weekday-negative"),
    pytest.param({"weekday": "Montag"}, "weekday", NO_COERCE, id="weekday-garbage"),
    pytest.param({"weekday": "9" * 40}, "weekday", BAD_CHOICE, id="weekday-huge"),
]


@pytest.mark.parametrize(("fields", "field", "message"), BAD_WINDOWS)
def test_bad_window_is_refused_in_the_fragment_with_the_input_kept(
    client, login, guide, fields, field, message
):
    login(guide)
    data = window_data(**fields)
    response = client.post(f"/guides/{guide.id}/windows", data=data, headers=HTMX)
    assert response.status_code == 422
    assert is_fragment(response)
    assert re.search("|".join(map(re.escape, message.split("|"))), field_error(response, f"window-{field}"))
    assert "Please correct the marked fields." in text_of(response)
    for name in ("start", "end", "valid_from", "valid_until"):
        assert input_value(response, f"window-{name}") == data[f"window-{name}"]  # what was typed comes back
    assert windows_of(guide) == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param({"start": "12:00", "end": "09:00"}, "end", ORDER, id="end-before-start"),
        pytest.param({"start": "09:10"}, "start", QUARTER, id="not-quarter"),
        pytest.param({"start": "05:00"}, "start", RANGE, id="too-early"),
        pytest.param({"valid_from": "2027-13-01"}, "valid_from", BAD_DATE, id="bad-date"),
        pytest.param({"start": "ünicode ☀"}, "start", NO_TIME, id="unicode"),
    ],
)
def test_bad_window_as_plain_form_gets_the_full_page_with_errors(
    client, login, guide, fields, field, message
):
    login(guide)
    data = window_data(**fields)
    response = client.post(f"/guides/{guide.id}/windows", data=data, headers=EN)
    assert response.status_code == 422
    assert not is_fragment(response)
    assert "My hours" in text_of(response)
    assert message in field_error(response, f"window-{field}")
    assert input_value(response, f"window-{field}") == data[f"window-{field}"]
    assert windows_of(guide) == []


@pytest.mark.parametrize(
    ("start", "end", "valid_from"),
    [
        ("09:00", "12:00", ""),
        ("11:00", "13:00", ""),
        ("08:00", "09:15", ""),
        ("10:00", "11:00", ""),
        ("06:00", "22:00", ""),
        ("08:00", "10:00", "2027-01-01"),
    ],
    ids=["same", "overlaps-end", "overlaps-start", "inside", "around", "open-validity-overlaps"],
)
def test_overlapping_window_is_refused(client, login, guide, start, end, valid_from):
    add_window(guide, 0, time(9), time(12))
    login(guide)
    data = window_data(start=start, end=end, valid_from=valid_from)
    response = client.post(f"/guides/{guide.id}/windows", data=data, headers=HTMX)
    assert response.status_code == 422
    assert OVERLAP in field_error(response, "window-start")
    assert input_value(response, "window-start") == start
    assert input_value(response, "window-end") == end
    # the list above the form still shows the existing window
    assert "Monday 09:00–12:00" in section(response, "windows")
    assert windows_of(guide) == [(0, 9 * 60, 12 * 60)]


def test_window_form_without_csrf_token_changes_nothing(client, login, guide):
    login(guide)
    response = client.post(f"/guides/{guide.id}/windows", data=window_data(), headers=EN, csrf=False)
    assert response.status_code == 400
    assert windows_of(guide) == []


# --- removing a window -----------------------------------------------------------------------------------


def test_guide_removes_a_window_in_place(client, login, guide):
    keep = add_window(guide, 0, time(9), time(12))
    gone = add_window(guide, 0, time(13), time(16))
    login(guide)
    response = client.post(f"/guides/{guide.id}/windows/{gone.id}/delete", headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    windows = section(response, "windows")
    assert "09:00–12:00" in windows and "13:00–16:00" not in windows
    assert "The window is removed." in windows
    assert windows_of(guide) == [(keep.weekday, keep.start_minute, keep.end_minute)]
    audit = (
        db.session.execute(select(AuditEntry.action).where(AuditEntry.object_type == "availabilitywindow"))
        .scalars()
        .all()
    )
    assert "window_removed" in audit


def test_plain_form_removes_a_window_and_redirects(client, login, guide):
    window = add_window(guide, 3, time(9), time(12))
    login(guide)
    response = client.post(f"/guides/{guide.id}/windows/{window.id}/delete", headers=EN)
    assert response.status_code == 303
    page = client.get(response.headers["Location"], headers=EN)
    assert "The window is removed." in text_of(page)
    assert "09:00–12:00" not in section(page, "windows")
    assert windows_of(guide) == []


def test_removing_another_guides_window_through_ones_own_address_is_404(
    client, login, guide, make_user, city
):
    other = make_user(Role.GUIDE, city=city, language="en")
    window = add_window(other, 0, time(9), time(12))
    login(guide)
    response = client.post(f"/guides/{guide.id}/windows/{window.id}/delete", headers=HTMX)
    assert response.status_code == 404
    assert windows_of(other) == [(0, 540, 720)]
    assert client.post(f"/guides/{guide.id}/windows/99999/delete", headers=HTMX).status_code == 404


# --- absences --------------------------------------------------------------------------------------------


def test_guide_enters_a_whole_day_absence_in_place(client, login, guide):
    login(guide)
    first = date.today() + timedelta(days=40)
    data = absence_data(
        first_day=first.isoformat(), last_day=(first + timedelta(days=2)).isoformat(), reason="illness"
    )
    response = client.post(f"/guides/{guide.id}/absences", data=data, headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    absences = section(response, "absences")
    assert "The absence is saved." in absences
    assert "Illness:" in absences
    (absence,) = absences_of(guide)
    assert (absence.first_day, absence.last_day, absence.reason) == (
        first,
        first + timedelta(days=2),
        "illness",
    )
    assert absence.starts_at == local(first, 0)
    assert absence.ends_at == local(first + timedelta(days=3), 0)


def test_absence_with_times_runs_from_the_first_days_time_to_the_last_days_time(client, login, guide):
    login(guide)
    first = date.today() + timedelta(days=40)
    data = absence_data(
        first_day=first.isoformat(),
        last_day=(first + timedelta(days=1)).isoformat(),
        start_time="14:00",
        end_time="10:30",
        reason="training",
    )
    response = client.post(f"/guides/{guide.id}/absences", data=data, headers=HTMX)
    assert response.status_code == 200, field_error(response, "absence-end_time")
    assert "14:00" in section(response, "absences") and "10:30" in section(response, "absences")
    (absence,) = absences_of(guide)
    assert absence.starts_at == local(first, 14)
    assert absence.ends_at == local(first + timedelta(days=1), 10, 30)


def test_plain_form_saves_an_absence_and_redirects_to_the_page_showing_it(client, login, guide):
    login(guide)
    first = date.today() + timedelta(days=50)
    data = absence_data(first_day=first.isoformat(), last_day=first.isoformat(), reason="other")
    response = client.post(f"/guides/{guide.id}/absences", data=data, headers=EN)
    assert response.status_code == 303
    assert response.headers["Location"] == f"/guides/{guide.id}/hours"
    page = client.get(response.headers["Location"], headers=EN)
    assert "The absence is saved." in text_of(page)
    assert "Other:" in section(page, "absences")
    assert len(absences_of(guide)) == 1


NO_DATE = "Please enter a date."
TOO_LONG = "An absence can last one year at most."

BAD_ABSENCES = [
    pytest.param(
        {"first_day": "2027-03-10", "last_day": "2027-03-09"}, "last_day", ORDER, id="last-before-first"
    ),
    pytest.param(
        {"first_day": "2027-03-10", "last_day": "2027-03-10", "start_time": "14:00", "end_time": "10:00"},
        "end_time",
        ORDER,
        id="same-day-end-before-start",
    ),
    pytest.param(
        {"first_day": "2027-03-10", "last_day": "2027-03-10", "start_time": "10:00", "end_time": "10:00"},
        "end_time",
        ORDER,
        id="same-day-no-time-between",
    ),
    pytest.param({"first_day": "2027-01-01", "last_day": "2028-01-03"}, "last_day", TOO_LONG, id="too-long"),
    pytest.param({"first_day": ""}, "first_day", NO_DATE, id="empty-first"),
    pytest.param({"last_day": ""}, "last_day", NO_DATE, id="empty-last"),
    pytest.param({"first_day": "2027-02-29"}, "first_day", NO_DATE, id="no-such-date"),
    pytest.param({"first_day": "10.03.2027"}, "first_day", NO_DATE, id="german-format"),
    pytest.param({"last_day": "next week"}, "last_day", NO_DATE, id="garbage"),
    pytest.param({"last_day": "2027-03-10" * 300}, "last_day", NO_DATE, id="very-long-text"),
    pytest.param({"first_day": "２０２７-０３-１０"}, "first_day", NO_DATE, id="fullwidth-digits"),
    pytest.param({"first_day": "März ☂"}, "first_day", NO_DATE, id="unicode"),
    pytest.param({"start_time": "9.07 Uhr"}, "start_time", "Please enter a time, e.g. 09:00.", id="garbage-time"),
    pytest.param({"end_time": "halb zehn"}, "end_time", "Please enter a time, e.g. 12:00.", id="garbage-end-time"),
    pytest.param({"reason": "bored"}, "reason", BAD_CHOICE, id="unknown-reason"),
]


@pytest.mark.parametrize(("fields", "field", "message"), BAD_ABSENCES)
def test_bad_absence_is_refused_in_the_fragment_with_the_input_kept(
    client, login, guide, fields, field, message
):
    login(guide)
    data = absence_data(**fields)
    response = client.post(f"/guides/{guide.id}/absences", data=data, headers=HTMX)
    assert response.status_code == 422
    assert is_fragment(response)
    assert response.get_data(as_text=True).lstrip().startswith('<section id="absences"')
    assert message in field_error(response, f"absence-{field}")
    for name in ("first_day", "last_day", "start_time", "end_time"):
        assert input_value(response, f"absence-{name}") == data[f"absence-{name}"]
    assert absences_of(guide) == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param({"first_day": "2027-03-10", "last_day": "2027-03-09"}, "last_day", ORDER, id="order"),
        pytest.param({"first_day": "soon"}, "first_day", NO_DATE, id="garbage"),
        pytest.param(
            {"first_day": "2027-01-01", "last_day": "2028-06-01"}, "last_day", TOO_LONG, id="too-long"
        ),
    ],
)
def test_bad_absence_as_plain_form_gets_the_full_page_with_errors(
    client, login, guide, fields, field, message
):
    login(guide)
    data = absence_data(**fields)
    response = client.post(f"/guides/{guide.id}/absences", data=data, headers=EN)
    assert response.status_code == 422
    assert not is_fragment(response)
    assert message in field_error(response, f"absence-{field}")
    assert input_value(response, f"absence-{field}") == data[f"absence-{field}"]
    assert absences_of(guide) == []


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"], ids=["year-1", "year-9999"])
def test_absence_at_the_ends_of_the_calendar_is_refused_not_a_server_error(client, login, guide, day):
    login(guide)
    data = absence_data(first_day=day, last_day=day)
    response = client.post(f"/guides/{guide.id}/absences", data=data, headers=HTMX)
    assert response.status_code == 422
    assert field_error(response, "absence-first_day") or field_error(response, "absence-last_day")
    assert absences_of(guide) == []
    preview = client.get(
        f"/guides/{guide.id}/absences/check",
        query_string={"absence-first_day": day, "absence-last_day": day},
        headers=HTMX,
    )
    assert preview.status_code == 200


def test_guide_removes_an_absence_in_place_and_as_plain_form(client, login, guide):
    first = add_absence(
        guide, date.today() + timedelta(days=20), date.today() + timedelta(days=21), "holiday"
    )
    second = add_absence(
        guide, date.today() + timedelta(days=30), date.today() + timedelta(days=30), "training"
    )
    login(guide)
    response = client.post(f"/guides/{guide.id}/absences/{first.id}/delete", headers=HTMX)
    assert response.status_code == 200
    assert is_fragment(response)
    text = section(response, "absences")
    assert "The absence is removed." in text
    assert "Holiday:" not in text and "Training:" in text
    plain = client.post(f"/guides/{guide.id}/absences/{second.id}/delete", headers=EN)
    assert plain.status_code == 303
    page = client.get(plain.headers["Location"], headers=EN)
    assert "No absences planned." in section(page, "absences")
    assert absences_of(guide) == []


def test_removing_an_absence_of_another_guide_is_404(client, login, guide, make_user, city):
    other = make_user(Role.GUIDE, city=city, language="en")
    absence = add_absence(other, date.today() + timedelta(days=20), date.today() + timedelta(days=21))
    login(guide)
    assert client.post(f"/guides/{guide.id}/absences/{absence.id}/delete", headers=HTMX).status_code == 404
    assert len(absences_of(other)) == 1


# --- languages and limits --------------------------------------------------------------------------------


def test_guide_saves_languages_and_limits_in_place(client, login, guide):
    login(guide)
    response = client.post(
        f"/guides/{guide.id}/profile",
        data=profile_data(("en", "tr", "uk"), daily_limit="3", weekly_limit="12"),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert is_fragment(response)
    assert "Languages and limits are saved." in section(response, "profile")
    assert input_value(response, "profile-daily_limit") == "3"
    db.session.expire_all()
    saved = db.session.get(User, guide.id)
    assert (saved.languages, saved.daily_limit, saved.weekly_limit) == (["en", "tr", "uk"], 3, 12)
    assert re.search(
        r'<input[^>]*checked[^>]*value="tr"|<input[^>]*value="tr"[^>]*checked',
        response.get_data(as_text=True),
    )


def test_plain_form_saves_languages_and_limits_and_redirects(client, login, guide):
    login(guide)
    response = client.post(
        f"/guides/{guide.id}/profile",
        data=profile_data(("de",), daily_limit="0", weekly_limit="100"),
        headers=EN,
    )
    assert response.status_code == 303
    page = client.get(response.headers["Location"], headers=EN)
    assert "Languages and limits are saved." in text_of(page)
    assert input_value(page, "profile-weekly_limit") == "100"
    db.session.expire_all()
    assert db.session.get(User, guide.id).weekly_limit == 100


@pytest.mark.parametrize(
    ("languages", "fields", "field", "message"),
    [
        pytest.param((), {}, "languages", "Choose at least one language.", id="no-language"),
        pytest.param(("xx",), {}, "languages", "Not a valid choice.", id="unknown-language"),
        pytest.param(("de", "klingon ☄"), {}, "languages", "Not a valid choice.", id="unicode-language"),
        pytest.param(("de",), {"daily_limit": ""}, "daily_limit", "Please enter a number.", id="empty-daily"),
        pytest.param(("de",), {"daily_limit": "21"}, "daily_limit", "Between 0 and 20.", id="daily-too-high"),
        pytest.param(("de",), {"daily_limit": "-1"}, "daily_limit", "Between 0 and 20.", id="daily-negative"),
        pytest.param(
            ("de",), {"daily_limit": "zwei"}, "daily_limit", "Not a valid integer value.", id="garbage"
        ),
        pytest.param(("de",), {"daily_limit": "２"}, "daily_limit", "", id="fullwidth-digit"),
        pytest.param(("de",), {"weekly_limit": "9" * 300}, "weekly_limit", "Between 0 and 100.", id="huge"),
        pytest.param(
            ("de",), {"weekly_limit": "101"}, "weekly_limit", "Between 0 and 100.", id="weekly-too-high"
        ),
    ],
)
def test_bad_languages_or_limits_are_refused_with_the_input_kept(
    client, login, guide, languages, fields, field, message
):
    login(guide)
    data = profile_data(languages, **fields)
    response = client.post(f"/guides/{guide.id}/profile", data=data, headers=HTMX)
    if field == "daily_limit" and fields.get("daily_limit") == "２":
        # Python's int() reads a fullwidth digit as 2: accepted like "2" (harmless, stored as 2).
        assert response.status_code == 200
        db.session.expire_all()
        assert db.session.get(User, guide.id).daily_limit == 2
        return
    assert response.status_code == 422
    assert is_fragment(response)
    if field == "languages":
        assert message in text_of(response)
        assert 'aria-describedby="profile-languages-error"' in response.get_data(as_text=True)
    else:
        assert message in field_error(response, f"profile-{field}")
        assert input_value(response, f"profile-{field}") == data[f"profile-{field}"]
    db.session.expire_all()
    saved = db.session.get(User, guide.id)
    assert (saved.guide_languages, saved.daily_limit, saved.weekly_limit) == ("de", 2, 6)


def test_bad_limits_as_plain_form_get_the_full_page(client, login, guide):
    login(guide)
    response = client.post(f"/guides/{guide.id}/profile", data=profile_data(daily_limit="99"), headers=EN)
    assert response.status_code == 422
    assert not is_fragment(response)
    assert "Between 0 and 20." in field_error(response, "profile-daily_limit")
    assert input_value(response, "profile-daily_limit") == "99"


# --- public holidays -------------------------------------------------------------------------------------


def test_guide_opts_in_to_work_on_a_holiday_and_out_again(client, login, guide, city):
    holiday = next_holiday(city)
    login(guide)
    response = client.post(
        f"/guides/{guide.id}/holidays/{holiday.isoformat()}", data={"works": "1"}, headers=HTMX
    )
    assert response.status_code == 200
    assert is_fragment(response)
    name = public_holidays(city, holiday, holiday)[holiday]
    text = section(response, "holidays")
    assert re.search(rf"{re.escape(name)} – you work Take the day off", text), text
    assert db.session.execute(
        select(HolidayOptIn.day).where(HolidayOptIn.guide_id == guide.id)
    ).scalars().all() == [holiday]
    # a second "I work" changes nothing (no duplicate row, no error)
    again = client.post(
        f"/guides/{guide.id}/holidays/{holiday.isoformat()}", data={"works": "1"}, headers=HTMX
    )
    assert again.status_code == 200
    out = client.post(f"/guides/{guide.id}/holidays/{holiday.isoformat()}", data={"works": "0"}, headers=HTMX)
    assert out.status_code == 200
    assert re.search(rf"{re.escape(name)} – free I work that day", section(out, "holidays"))
    db.session.expire_all()
    assert db.session.execute(select(func.count()).select_from(HolidayOptIn)).scalar() == 0


def test_holiday_opt_in_as_plain_form_redirects_to_the_holidays_section(client, login, guide, city):
    holiday = next_holiday(city)
    login(guide)
    response = client.post(
        f"/guides/{guide.id}/holidays/{holiday.isoformat()}", data={"works": "1"}, headers=EN
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/guides/{guide.id}/hours#holidays"
    page = client.get(f"/guides/{guide.id}/hours", headers=EN)
    assert "you work" in section(page, "holidays")


def test_the_coordinator_reads_a_guides_hours_in_the_third_person(client, login, coordinator, guide, city):
    holiday = next_holiday(city)
    login(coordinator)
    client.post(f"/guides/{guide.id}/holidays/{holiday.isoformat()}", data={"works": "1"}, headers=EN)
    page = client.get(f"/guides/{guide.id}/hours", headers=EN)
    text = text_of(page)
    first = guide.name.split()[0]
    assert f"Tours are booked with {first} only inside their weekly windows" in text
    assert f"Languages {first} guides in" in text
    assert f"On public holidays no tours are booked with {first}" in section(page, "holidays")
    assert f"{first} works" in section(page, "holidays")
    assert "your weekly windows" not in text and "you work" not in text and "Languages you guide in" not in text


@pytest.mark.parametrize(
    "day",
    [
        "2027-01-04",
        "2027-02-30",
        "christmas",
        "2026-12-25T00:00",
        "２０２６-12-25",
        "0001-01-01",
        "9999-12-31",
    ],
)
def test_opting_in_for_a_day_that_is_no_public_holiday_is_404(client, login, guide, day):
    login(guide)
    response = client.post(f"/guides/{guide.id}/holidays/{day}", data={"works": "1"}, headers=HTMX)
    assert response.status_code == 404
    assert db.session.execute(select(func.count()).select_from(HolidayOptIn)).scalar() == 0


def test_a_holiday_of_another_region_is_404(client, login, make_user, make_city):
    # Corpus Christi is a holiday in North Rhine-Westphalia, not in Berlin.
    berlin = make_city(holiday_subdivision="BE")
    guide = make_user(Role.GUIDE, city=berlin, language="en")
    login(guide)
    assert (
        client.post(f"/guides/{guide.id}/holidays/2027-05-27", data={"works": "1"}, headers=HTMX).status_code
        == 404
    )


# --- who may keep whose hours ----------------------------------------------------------------------------


def _requests(guide: User, window: AvailabilityWindow, absence: Absence, holiday: date) -> list:
    g = guide.id
    return [
        ("get", f"/guides/{g}/hours", None),
        ("post", f"/guides/{g}/windows", window_data(weekday="5")),
        ("post", f"/guides/{g}/windows/{window.id}/delete", {}),
        ("post", f"/guides/{g}/absences", absence_data()),
        ("get", f"/guides/{g}/absences/check?absence-first_day=2027-01-01&absence-last_day=2027-01-02", None),
        ("post", f"/guides/{g}/absences/{absence.id}/delete", {}),
        ("post", f"/guides/{g}/profile", profile_data(("fr",))),
        ("post", f"/guides/{g}/holidays/{holiday.isoformat()}", {"works": "1"}),
    ]


@pytest.fixture
def guarded(guide: User, city: City) -> list:
    window = add_window(guide, 0, time(9), time(12))
    absence = add_absence(guide, date.today() + timedelta(days=20), date.today() + timedelta(days=21))
    return _requests(guide, window, absence, next_holiday(city))


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("other city's coordinator", 404),
        ("another guide of the city", 404),
        ("guide of another city", 404),
        ("hr", 403),
    ],
)
def test_forbidden_roles_can_neither_see_nor_change_a_guides_hours(
    app, client, login, make_user, city, guarded, who, status
):
    users = {
        "other city's coordinator": lambda: make_user(Role.COORDINATOR, language="en"),
        "another guide of the city": lambda: make_user(Role.GUIDE, city=city, language="en"),
        "guide of another city": lambda: make_user(Role.GUIDE, language="en"),
        "hr": lambda: make_user(Role.HR, language="en"),
    }
    login(users[who]())
    before = snapshot(app)
    for method, url, data in guarded:
        for headers in (EN, HTMX):
            response = (
                getattr(client, method)(url, data=data, headers=headers)
                if method == "post"
                else client.get(url, headers=headers)
            )
            assert response.status_code == status, (who, method, url)
    after = snapshot(app)
    # signing in writes a login session; nothing about the guide changed
    for table in ("availability_windows", "absences", "holiday_opt_ins", "users", "tours"):
        assert before[table] == after[table], table


def test_signed_out_visitors_are_sent_to_the_login_page(app, client, guarded):
    before = snapshot(app)
    for method, url, data in guarded:
        response = (
            client.post(url, data=data, headers=EN) if method == "post" else client.get(url, headers=EN)
        )
        assert response.status_code == 302, url
        assert response.headers["Location"].startswith("/login")
        htmx = (
            client.post(url, data=data, headers=HTMX) if method == "post" else client.get(url, headers=HTMX)
        )
        assert htmx.status_code == 401, url
        assert htmx.headers["HX-Redirect"].startswith("/login")
    assert snapshot(app) == before
    hours = client.get(guarded[0][1], headers=EN)
    assert hours.headers["Location"] == f"/login?next={guarded[0][1]}"  # back to the page after signing in


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.ADMIN])
def test_coordinator_of_the_city_and_the_admin_keep_a_guides_hours(
    client, login, make_user, guide, city, role
):
    keeper = (
        make_user(role, city=city, language="en")
        if role == Role.COORDINATOR
        else make_user(role, language="en")
    )
    login(keeper)
    page = client.get(f"/guides/{guide.id}/hours", headers=EN)
    assert page.status_code == 200
    assert "Hours of Greta Guide" in text_of(page)
    assert "My hours" not in text_of(page)
    added = client.post(f"/guides/{guide.id}/windows", data=window_data(weekday="1"), headers=HTMX)
    assert added.status_code == 200
    assert windows_of(guide) == [(1, 540, 720)]
    day = (date.today() + timedelta(days=60)).isoformat()
    absent = client.post(
        f"/guides/{guide.id}/absences", data=absence_data(first_day=day, last_day=day), headers=HTMX
    )
    assert absent.status_code == 200
    limits = client.post(
        f"/guides/{guide.id}/profile", data=profile_data(("fr",), daily_limit="1"), headers=HTMX
    )
    assert limits.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, guide.id).guide_languages == "fr"
    entries = db.session.execute(
        select(AuditEntry.actor_id, AuditEntry.action).where(
            AuditEntry.action.in_(("window_added", "absence_added", "guide_profile_updated"))
        )
    ).all()
    assert sorted(entries) == sorted(
        [(keeper.id, "window_added"), (keeper.id, "absence_added"), (keeper.id, "guide_profile_updated")]
    )


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.GUIDE, Role.HR])
def test_hours_of_someone_who_is_not_a_guide_are_404(client, login, make_user, coordinator, city, role):
    target = make_user(role, city=city, language="en") if role != Role.HR else make_user(role, language="en")
    login(coordinator)
    expected = 200 if role == Role.GUIDE else 404
    assert client.get(f"/guides/{target.id}/hours", headers=EN).status_code == expected
    assert client.get("/guides/999999/hours", headers=EN).status_code == 404


# --- the coordinator's week view -------------------------------------------------------------------------


def week_cells(response, guide_name: str) -> list[str]:  # noqa: ANN001
    """The seven day cells of a guide's row, as text."""
    html = response.get_data(as_text=True)
    row = re.search(
        rf'<tr class="kern-table__row">\s*<th scope="row"[^>]*><a[^>]*>{re.escape(guide_name)}</a></th>'
        r"(.*?)</tr>",
        html,
        re.S,
    )
    assert row, f"no row for {guide_name}"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert len(cells) == 7
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", c)).split()) for c in cells]


@pytest.fixture
def week_setup(make_user, guide, city, make_tour):
    """Greta works Mon 09–12 and Wed 13–17; Hakan is ill on Tuesday and Wednesday, has a tour on Thursday."""
    monday = working_day(city, 0, at_least=14)
    while any(
        d in public_holidays(city, monday, monday + timedelta(days=6))
        for d in (monday + timedelta(days=i) for i in range(7))
    ):
        monday += timedelta(days=7)
    hakan = make_user(Role.GUIDE, city=city, language="en", name="Hakan Helper")
    add_window(guide, 0, time(9), time(12))
    add_window(guide, 2, time(13), time(17))
    add_window(hakan, 3, time(9), time(17))
    add_window(hakan, 4, time(9), time(17), valid_until=monday + timedelta(days=3))  # ends before Friday
    add_absence(hakan, monday + timedelta(days=1), monday + timedelta(days=2), "illness")
    tour = make_tour(hakan, local(monday + timedelta(days=3), 10), minutes=90)
    make_tour(hakan, local(monday + timedelta(days=3), 14), minutes=60, status="cancelled")
    other_city_guide = make_user(Role.GUIDE, language="en", name="Otto Elsewhere")
    add_window(other_city_guide, 0, time(9), time(12))
    make_user(Role.GUIDE, city=city, language="en", name="Ina Inactive", active=False)
    return {"monday": monday, "hakan": hakan, "tour": tour}


def test_week_view_shows_windows_absences_and_tours_per_guide_and_day(
    client, login, coordinator, city, week_setup
):
    login(coordinator)
    monday = week_setup["monday"]
    response = client.get(
        f"/c/{city.slug}/week", query_string={"start": (monday + timedelta(days=2)).isoformat()}, headers=EN
    )
    assert response.status_code == 200
    assert not is_fragment(response)
    assert "HX-Request" in response.headers["Vary"]
    text = text_of(response)
    assert f"Week of {monday.day} {monday.strftime('%b')} {monday.year}" in text
    greta = week_cells(response, "Greta Guide")
    assert greta == ["09:00–12:00", "–", "13:00–17:00", "–", "–", "–", "–"]
    hakan = week_cells(response, "Hakan Helper")
    assert hakan[0] == "–"
    assert hakan[1] == "absent: Illness"
    assert hakan[2] == "absent: Illness"
    assert hakan[3].startswith("09:00–17:00 Tour 10:00")
    assert "11:30" in hakan[3]
    assert hakan[3].count("Tour") == 1  # the cancelled tour is not shown
    assert hakan[4] == "–"  # the Friday window is no longer valid
    assert "Otto Elsewhere" not in text and "Ina Inactive" not in text
    tour_link = f'href="/tours/{week_setup["tour"].id}"'
    assert tour_link in response.get_data(as_text=True)  # the tour's badge leads to the tour
    # On a phone the table scrolls in its box: a named region the keyboard reaches (axe: scrollable-region-focusable)
    assert '<div class="table-wrap" role="region" aria-labelledby="week-heading" tabindex="0">' in \
        response.get_data(as_text=True)
    # The weekdays as in Britain, day first; an absence of part of a day says which part.
    assert f"Mon {monday.day}/{monday.month}" in text
    tuesday, friday = monday + timedelta(days=1), monday + timedelta(days=4)
    db.session.add(Absence(guide_id=week_setup["hakan"].id, first_day=friday, last_day=friday + timedelta(days=1),
                           start_minute=14 * 60, end_minute=11 * 60, starts_at=local(friday, 14),
                           ends_at=local(friday + timedelta(days=1), 11), reason="holiday"))
    db.session.commit()
    hakan = week_cells(client.get(f"/c/{city.slug}/week", query_string={"start": tuesday.isoformat()}, headers=EN),
                       "Hakan Helper")
    assert hakan[4:6] == ["absent from 14:00: Holiday", "absent until 11:00: Holiday"]


def test_week_view_navigates_by_week_as_fragment_and_full_page(client, login, coordinator, city, week_setup):
    login(coordinator)
    monday = week_setup["monday"]
    following = monday + timedelta(days=7)
    first = client.get(f"/c/{city.slug}/week", query_string={"start": monday.isoformat()}, headers=EN)
    html = first.get_data(as_text=True)
    previous_url = f"/c/{city.slug}/week?start={(monday - timedelta(days=7)).isoformat()}"
    next_url = f"/c/{city.slug}/week?start={following.isoformat()}"
    assert f'href="{previous_url}"' in html and f'hx-get="{next_url}"' in html
    assert 'hx-push-url="true"' in html

    fragment = client.get(next_url, headers=HTMX)
    assert fragment.status_code == 200
    assert is_fragment(fragment)
    assert fragment.get_data(as_text=True).lstrip().startswith('<section id="week"')
    assert "HX-Request" in fragment.headers["Vary"]
    assert f"Week of {following.day} {following.strftime('%b')} {following.year}" in text_of(fragment)
    # next week Hakan is neither ill nor booked, and his Friday window has ended
    assert week_cells(fragment, "Hakan Helper") == ["–", "–", "–", "09:00–17:00", "–", "–", "–"]

    # the URL pushed to the history is a full page when loaded directly or restored
    for headers in (EN, {**HTMX, "HX-History-Restore-Request": "true"}, {**HTMX, "HX-Boosted": "true"}):
        page = client.get(next_url, headers=headers)
        assert page.status_code == 200
        assert not is_fragment(page)
        assert "Guides' week" in text_of(page)


def test_week_view_without_or_with_a_bad_start_shows_the_current_week(client, login, coordinator, city):
    login(coordinator)
    today = datetime.now(BERLIN).date()
    monday = today - timedelta(days=today.weekday())
    expected = f"Week of {monday.day} {monday.strftime('%b')} {monday.year}"
    for query in ("", "?start=", "?start=garbage", "?start=2026-02-30", "?start=☃"):
        response = client.get(f"/c/{city.slug}/week{query}", headers=EN)
        assert response.status_code == 200, query
        assert expected in text_of(response), query


@pytest.mark.parametrize("start", ["0001-01-01", "9999-12-31"])
def test_week_view_at_the_ends_of_the_calendar_is_no_server_error(client, login, coordinator, city, start):
    login(coordinator)
    response = client.get(f"/c/{city.slug}/week?start={start}", headers=EN)
    assert response.status_code in (200, 404)


def test_week_view_is_for_the_citys_coordinator_and_the_admin_only(client, login, make_user, city, guide):
    url = f"/c/{city.slug}/week"
    anonymous = client.get(url, headers=EN)
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    assert client.get(url, headers=HTMX).headers["HX-Redirect"].startswith("/login")
    cases = [
        (make_user(Role.ADMIN, language="en"), 200),
        (make_user(Role.COORDINATOR, city=city, language="en"), 200),
        (make_user(Role.COORDINATOR, language="en"), 404),
        (guide, 403),
        (make_user(Role.HR, language="en"), 403),
    ]
    for user, status in cases:
        client.post("/logout")
        login(user)
        assert client.get(url, headers=EN).status_code == status, user.role
        assert client.get(url, headers=HTMX).status_code == status, user.role
    client.post("/logout")
    login(cases[1][0])
    assert client.get("/c/no-such-city/week", headers=EN).status_code == 404


def test_week_view_shows_public_holidays_in_the_header(client, login, coordinator, city):
    holiday = next_holiday(city)
    login(coordinator)
    response = client.get(f"/c/{city.slug}/week?start={holiday.isoformat()}", headers=EN)
    assert public_holidays(city, holiday, holiday)[holiday] in text_of(response)


# --- an absence over booked tours ------------------------------------------------------------------------


@pytest.fixture
def booked(make_user, guide, city, make_tour):
    """Greta has a tour on a Wednesday two weeks ahead, 10:00–12:00, inside her window."""
    wednesday = working_day(city, 2, at_least=14)
    add_window(guide, 2, time(9), time(17))
    tour = make_tour(guide, local(wednesday, 10))
    return {"day": wednesday, "tour": tour}


def test_absence_check_lists_the_tours_it_would_hit(client, login, guide, booked):
    login(guide)
    day = booked["day"]
    tour = booked["tour"]
    response = client.get(
        f"/guides/{guide.id}/absences/check",
        headers=HTMX,
        query_string={
            "absence-first_day": (day - timedelta(days=1)).isoformat(),
            "absence-last_day": day.isoformat(),
        },
    )
    assert response.status_code == 200
    assert is_fragment(response)
    text = text_of(response)
    assert "This absence hits 1 tour:" in text
    assert tour.company.name in text
    # an absence that ends before the tour starts hits nothing
    before = client.get(
        f"/guides/{guide.id}/absences/check",
        headers=HTMX,
        query_string={
            "absence-first_day": day.isoformat(),
            "absence-last_day": day.isoformat(),
            "absence-start_time": "07:00",
            "absence-end_time": "10:00",
        },
    )
    assert text_of(before) == ""
    # half-filled, garbage or reversed input answers with an empty preview, not an error
    for query in (
        {"absence-first_day": day.isoformat()},
        {"absence-first_day": "x", "absence-last_day": "y"},
        {"absence-first_day": day.isoformat(), "absence-last_day": (day - timedelta(days=3)).isoformat()},
        {},
    ):
        empty = client.get(f"/guides/{guide.id}/absences/check", headers=HTMX, query_string=query)
        assert empty.status_code == 200
        assert text_of(empty) == ""


def test_every_date_and_time_of_the_absence_form_asks_for_the_preview_again(client, login, guide):
    """Changing the times changes which tours an absence hits: they ask for the preview, as the days do."""
    login(guide)
    html = client.get(f"/guides/{guide.id}/hours").get_data(as_text=True)
    check = f"/guides/{guide.id}/absences/check"
    for name in ("first_day", "last_day", "start_time", "end_time"):
        field = re.search(rf'<input[^>]*\bname="absence-{name}"[^>]*>', html).group(0)
        assert f'hx-get="{check}"' in field and 'hx-trigger="change"' in field, field
        assert 'hx-target="#absence-preview"' in field, field
        included = re.search(r'hx-include="([^"]*)"', field).group(1)
        assert "#absence-start_time" in included and "#absence-end_time" in included, field
    reason = re.search(r'<(?:select|input)[^>]*\bname="absence-reason"[^>]*>', html).group(0)
    assert "hx-get" not in reason  # the reason changes no tour


def test_absence_check_ignores_cancelled_tours_and_tours_of_other_guides(
    client, login, guide, make_user, city, make_tour, booked
):
    day = booked["day"]
    other = make_user(Role.GUIDE, city=city, language="en")
    make_tour(other, local(day, 14))
    db.session.get(Tour, booked["tour"].id).status = "cancelled"
    db.session.commit()
    login(guide)
    response = client.get(
        f"/guides/{guide.id}/absences/check",
        headers=HTMX,
        query_string={"absence-first_day": day.isoformat(), "absence-last_day": day.isoformat()},
    )
    assert text_of(response) == ""


def test_saving_an_absence_over_a_tour_hands_it_to_another_free_guide(
    client, login, guide, make_user, city, booked
):
    colleague = make_user(Role.GUIDE, city=city, language="en", name="Carl Colleague")
    add_window(colleague, 2, time(8), time(18))
    busy = make_user(Role.GUIDE, city=city, language="en", name="Bea Busy")  # no window that Wednesday
    add_window(busy, 3, time(8), time(18))
    login(guide)
    day = booked["day"].isoformat()
    response = client.post(
        f"/guides/{guide.id}/absences",
        data=absence_data(first_day=day, last_day=day, reason="illness"),
        headers=HTMX,
    )
    assert response.status_code == 200
    text = section(response, "absences")
    assert "1 tour was affected:" in text
    assert "handed to another guide" in text
    db.session.expire_all()
    tour = db.session.get(Tour, booked["tour"].id)
    assert (tour.status, tour.guide_id) == ("confirmed", colleague.id)
    assert tour.sequence == 1
    actions = (
        db.session.execute(select(AuditEntry.action).where(AuditEntry.object_type == "tour")).scalars().all()
    )
    assert actions == ["tour_released_absence"]


def test_saving_an_absence_over_a_tour_nobody_else_can_take_flags_it(
    client, login, guide, make_user, city, booked
):
    colleague = make_user(Role.GUIDE, city=city, language="en")
    add_window(colleague, 2, time(11), time(18))  # starts too late for the 10:00 tour
    login(guide)
    day = booked["day"].isoformat()
    response = client.post(
        f"/guides/{guide.id}/absences", data=absence_data(first_day=day, last_day=day), headers=HTMX
    )
    assert response.status_code == 200
    assert "needs a new guide" in section(response, "absences")
    db.session.expire_all()
    tour = db.session.get(Tour, booked["tour"].id)
    assert (tour.status, tour.guide_id) == ("needs_guide", None)
    # the absence itself is saved
    assert [a.first_day for a in absences_of(guide)] == [booked["day"]]


def test_an_absence_that_misses_the_tour_leaves_it_alone(client, login, guide, make_user, city, booked):
    login(guide)
    day = booked["day"].isoformat()
    response = client.post(
        f"/guides/{guide.id}/absences",
        headers=HTMX,
        data=absence_data(first_day=day, last_day=day, start_time="12:15", end_time="17:00"),
    )
    assert response.status_code == 200
    assert "affected" not in section(response, "absences")
    db.session.expire_all()
    tour = db.session.get(Tour, booked["tour"].id)
    assert (tour.status, tour.guide_id) == ("confirmed", guide.id)


def test_plain_form_absence_over_a_tour_releases_it_too(client, login, guide, make_user, city, booked):
    colleague = make_user(Role.GUIDE, city=city, language="en")
    add_window(colleague, 2, time(9), time(17))
    login(guide)
    day = booked["day"].isoformat()
    response = client.post(
        f"/guides/{guide.id}/absences", data=absence_data(first_day=day, last_day=day), headers=EN
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(Tour, booked["tour"].id).guide_id == colleague.id


def test_plain_form_absence_over_a_tour_tells_what_happened_to_it(
    client, login, guide, make_user, city, booked
):
    login(guide)
    day = booked["day"].isoformat()
    response = client.post(
        f"/guides/{guide.id}/absences", data=absence_data(first_day=day, last_day=day), headers=EN
    )
    page = client.get(response.headers["Location"], headers=EN)
    assert "needs a new guide" in text_of(page)


def test_coordinator_entering_an_absence_releases_the_guides_tour(
    client, login, coordinator, guide, make_user, city, booked
):
    colleague = make_user(Role.GUIDE, city=city, language="en")
    add_window(colleague, 2, time(9), time(17))
    login(coordinator)
    day = booked["day"].isoformat()
    check = client.get(
        f"/guides/{guide.id}/absences/check",
        headers=HTMX,
        query_string={"absence-first_day": day, "absence-last_day": day},
    )
    assert "This absence hits 1 tour:" in text_of(check)
    response = client.post(
        f"/guides/{guide.id}/absences", data=absence_data(first_day=day, last_day=day), headers=HTMX
    )
    assert "handed to another guide" in section(response, "absences")
    db.session.expire_all()
    assert db.session.get(Tour, booked["tour"].id).guide_id == colleague.id
    entry = db.session.execute(
        select(AuditEntry).where(AuditEntry.action == "tour_released_absence")
    ).scalar_one()
    assert entry.actor_id == coordinator.id


def test_an_absence_saved_while_another_request_writes_is_saved_too_on_sqlite(
    app, client, login, guide, backend, monkeypatch
):
    """SQLite: a request that read before it writes must not find the database changed by another writer in
    between (SQLite refuses such a write at once: "database is locked", a 500). A POST holds the write lock
    from its first statement, so the other writer waits instead."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database")
    import sqlite3

    from tourbook import guides

    login(guide)
    path = db.engine.url.database
    other_writer: list[str] = []
    real_enter_absence = guides.enter_absence

    def enter_absence_after_someone_else_wrote(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        # Between the request's first read (the signed-in user) and its write, someone else writes.
        with sqlite3.connect(path, timeout=0.2) as other:
            try:
                other.execute("UPDATE cities SET name = name")
                other_writer.append("wrote")
            except sqlite3.OperationalError as error:
                other_writer.append(str(error))
        return real_enter_absence(*args, **kwargs)

    monkeypatch.setattr(guides, "enter_absence", enter_absence_after_someone_else_wrote)
    first = date.today() + timedelta(days=50)
    data = absence_data(first_day=first.isoformat(), last_day=first.isoformat(), reason="other")
    response = client.post(f"/guides/{guide.id}/absences", data=data, headers=EN)

    assert response.status_code == 303
    assert len(absences_of(guide)) == 1
    assert other_writer == ["database is locked"]  # it waited for this request (and here gave up at once)


def test_ids_no_database_can_hold_are_not_found(client, login, coordinator, guide, city):
    """PostgreSQL refuses an integer beyond its range with an error, SQLite one beyond 64 bits: such an id
    exists nowhere, so the page is not found (it was a 500)."""
    login(coordinator)
    for big in (2**31, 2**63, 10**20):
        assert client.get(f"/guides/{big}/hours").status_code == 404
        assert client.get(f"/guides/{big}/absences/check").status_code == 404
        assert client.post(f"/guides/{big}/windows", data=window_data()).status_code == 404
        assert client.post(f"/guides/{guide.id}/windows/{big}/delete").status_code == 404
        assert client.post(f"/guides/{guide.id}/absences/{big}/delete").status_code == 404
        assert client.post(f"/c/{city.slug}/messages/{big}/retry").status_code == 404
    assert windows_of(guide) == []


def test_a_file_where_a_date_or_time_is_expected_is_no_date_or_time(client, login, guide):
    """Browsers never send one, but a hand-made post could: the form says the field is missing (before, the
    validators or the page showing the form again failed on the file)."""
    login(guide)
    upload = (io.BytesIO(b"%PDF-1.7"), "cv.pdf", "application/pdf")
    response = client.post(f"/guides/{guide.id}/windows", data={**window_data(), "window-start": upload},
                           headers=EN)
    assert response.status_code == 422
    assert "Please enter a time, e.g. 09:00." in section(response, "windows")
    upload = (io.BytesIO(b"%PDF-1.7"), "cv.pdf", "application/pdf")
    response = client.post(f"/guides/{guide.id}/absences", data={**absence_data(), "absence-first_day": upload},
                           headers=EN)
    assert response.status_code == 422 and absences_of(guide) == []
