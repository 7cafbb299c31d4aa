"""The coordinator's start page, the city settings form, the audit log, the partner's feedback, the privacy
notice and the accessibility statement."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import TEST_PASSWORD
from helpers_foundation import (  # noqa: F401 - fixtures
    HTMX,
    english_client,
    english_make_user,
    field_error,
    fresh_request_globals,
    input_value,
    sign_in,
    text_of,
)
from sqlalchemy import select, text

from tourbook.extensions import db
from tourbook.models import AuditEntry, City, OutboxMessage, Role, Tour, utcnow
from tourbook.privacy import purge_partner_data

BERLIN = ZoneInfo("Europe/Berlin")
SAVED = "city_settings_updated"
_n = iter(range(1, 100_000))


@pytest.fixture
def siegen(make_city):
    return make_city(name="Siegen", slug="siegen", office_email="touren@siegen.example",
                     office_phone="+49 271 404-0")


@pytest.fixture
def olpe(make_city):
    return make_city(name="Olpe", slug="olpe", office_email="touren@olpe.example",
                     office_phone="+49 2761 83-0")


@pytest.fixture
def company(siegen, olpe, make_company):
    return make_company(cities=[siegen, olpe], name="Alpha GmbH")


@pytest.fixture
def coordinator(siegen, make_user):
    return make_user(Role.COORDINATOR, city=siegen, name="Clara Koordination", email="clara@siegen.example")


@pytest.fixture
def guide(siegen, make_user):
    return make_user(Role.GUIDE, city=siegen, name="Gisela Guide", weekly_limit=6)


@pytest.fixture
def add_tour(company, guide):
    def make(start: datetime, minutes: int = 120, status: str = "confirmed", city: City | None = None,
             **fields):
        n = next(_n)
        end = start + timedelta(minutes=minutes)
        fields.setdefault("partner_first_name", f"Fiona{n}")
        fields.setdefault("partner_language", "en")
        fields.setdefault("guide_id", guide.id if status != "needs_guide" else None)
        tour = Tour(
            uid=f"dash-{n}", token=f"dash-token-{n:06d}-{'y' * 24}",
            city_id=city.id if city else guide.city_id, company_id=company.id, booked_by_id=None,
            status=status, starts_at=start, ends_at=end,
            blocked_until=end + timedelta(minutes=15), consent_at=start - timedelta(days=10), sequence=0,
            created_at=start - timedelta(days=10), updated_at=start - timedelta(days=10), **fields,
        )
        db.session.add(tour)
        db.session.commit()
        return tour

    return make


def local_now() -> datetime:
    return utcnow().astimezone(BERLIN)


def at_days(days: int, hour: int = 10) -> datetime:
    """``hour`` o'clock in Siegen, ``days`` from today."""
    return datetime.combine(local_now().date() + timedelta(days=days), time(hour), BERLIN)


def section_text(response, heading_id: str) -> str:
    html = response.get_data(as_text=True)
    match = re.search(rf'<section aria-labelledby="{heading_id}".*?</section>', html, re.S)
    assert match, f"no section {heading_id}"
    from html import unescape

    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(0))).split())


# --- the coordinator's start page -----------------------------------------------------------------------


def test_dashboard_shows_what_needs_attention(client, coordinator, add_tour, siegen, olpe):
    soon = add_tour(at_days(3), status="needs_guide")
    later = add_tour(at_days(40), status="needs_guide")
    add_tour(at_days(5, 9), status="needs_guide", city=olpe)  # another city's
    unmarked = add_tour(at_days(-3, 9))
    add_tour(at_days(-1, 9))  # yesterday: the guide still has time to mark it
    add_tour(at_days(-4, 9), status="done")
    for city, status in ((siegen, "failed"), (siegen, "failed"), (siegen, "sent"), (siegen, "pending"),
                         (olpe, "failed")):
        db.session.add(OutboxMessage(dedupe_key=f"k{next(_n)}", kind="guide_booked", recipient="g@x.example",
                                     subject="s", body_text="b", body_html="b", city_id=city.id,
                                     status=status))
    db.session.commit()

    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.get("/c/siegen/")
    assert response.status_code == 200
    attention = section_text(response, "attention-heading")
    assert "2 tours need a guide" in attention
    html = response.get_data(as_text=True)
    assert f'href="/tours/{soon.id}"' in html and f'href="/tours/{later.id}"' in html
    # with the partner's language, which decides whom to assign
    assert re.search(rf'<a class="kern-link" href="/tours/{soon.id}">[^<]* · partner speaks English</a>', html)
    assert "1 tour is not marked as held or missed" in attention
    assert re.search(rf'<a class="kern-link" href="/tours/{unmarked.id}">[^<]*· Gisela Guide</a>', html)
    assert "2 emails could not be sent" in attention
    assert "1 held tour has no feedback from the partner yet." in attention
    assert "Nothing at the moment." not in attention


def test_dashboard_with_nothing_to_do_says_so(client, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.get("/c/siegen/")
    assert "Nothing at the moment." in section_text(response, "attention-heading")
    assert "No tours in the next two weeks." in section_text(response, "upcoming-heading")


def test_dashboard_lists_the_next_two_weeks(client, coordinator, add_tour, olpe):
    next_week = add_tour(at_days(7))
    cancelled = add_tour(at_days(8), status="cancelled", cancelled_by="hr")
    far = add_tour(at_days(20))
    other_city = add_tour(at_days(6), city=olpe)
    sign_in(client, coordinator.email, TEST_PASSWORD)
    html = client.get("/c/siegen/").get_data(as_text=True)
    upcoming = re.search(r'<section aria-labelledby="upcoming-heading">.*?</section>', html, re.S).group(0)
    assert f'/tours/{next_week.id}"' in upcoming
    for absent in (cancelled, far, other_city):
        assert f'/tours/{absent.id}"' not in upcoming


def test_dashboard_shows_the_guides_load_this_month(client, coordinator, guide, add_tour, make_user, siegen):
    idle = make_user(Role.GUIDE, city=siegen, name="Ida Idle", weekly_limit=3)
    make_user(Role.GUIDE, city=siegen, name="Otto Gone", active=False)
    first = local_now().date().replace(day=1)
    for day in (1, 2, 3):  # the first days of this month
        add_tour(datetime.combine(first + timedelta(days=day), time(10), BERLIN))
    add_tour(datetime.combine(first + timedelta(days=4), time(10), BERLIN), status="cancelled",
             cancelled_by="hr")
    add_tour(datetime.combine(first - timedelta(days=2), time(10), BERLIN), status="done")  # last month
    sign_in(client, coordinator.email, TEST_PASSWORD)
    load = section_text(client.get("/c/siegen/"), "load-heading")
    import calendar

    days = calendar.monthrange(first.year, first.month)[1]
    capacity = round(6 * days / 7)
    share = round(100 * 3 / capacity)
    assert f"Gisela Guide 3 {capacity} (6/week) {share} % {share} %" in load
    assert f"Ida Idle 0 {round(3 * days / 7)} (3/week) 0 % 0 %" in load
    assert "Otto Gone" not in load
    assert idle.name in load


@pytest.mark.parametrize(("role", "status"), [(Role.HR, 403), (Role.GUIDE, 403)])
def test_dashboard_is_for_managers(client, siegen, make_user, role, status):
    kwargs = {"city": siegen} if role == Role.GUIDE else {}
    user = make_user(role, **kwargs)
    sign_in(client, user.email, TEST_PASSWORD)
    assert client.get("/c/siegen/").status_code == status


def test_dashboard_of_another_city_is_not_found(client, coordinator, olpe, make_user):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    assert client.get("/c/olpe/").status_code == 404


# --- city settings --------------------------------------------------------------------------------------

GOOD = {
    "lead_time_hours": "48", "horizon_days": "90", "min_duration_minutes": "90",
    "max_duration_minutes": "180", "buffer_minutes": "30", "holiday_subdivision": "HE",
    "office_phone": "+49 271 404-1234",
    "office_email": "Partnertouren@Siegen.example", "partner_link_days": "10", "erase_after_days": "21",
    "privacy_text_de": "Unser eigener Hinweis.", "privacy_text_en": "Our own notice.",
}


def test_settings_form_shows_the_citys_rules(client, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.get("/c/siegen/settings/")
    assert response.status_code == 200
    assert input_value(response, "lead_time_hours") == "24"
    assert input_value(response, "erase_after_days") == "30"
    assert input_value(response, "office_email") == "touren@siegen.example"
    assert '<option selected value="NW">' in response.get_data(as_text=True)


def test_good_settings_are_saved_and_audited(client, coordinator, siegen):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.post("/c/siegen/settings/", data=GOOD)
    assert response.status_code == 303
    assert response.headers["Location"] == "/c/siegen/settings/"
    db.session.expire_all()
    city = db.session.get(City, siegen.id)
    assert (city.lead_time_hours, city.horizon_days, city.min_duration_minutes, city.max_duration_minutes,
            city.buffer_minutes, city.holiday_subdivision, city.partner_link_days, city.erase_after_days) == (
        48, 90, 90, 180, 30, "HE", 10, 21)
    assert city.office_email == "partnertouren@siegen.example"
    assert city.office_phone == "+49 271 404-1234"
    assert (city.privacy_text_de, city.privacy_text_en) == ("Unser eigener Hinweis.", "Our own notice.")
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == SAVED)).scalar_one()
    assert entry.actor_id == coordinator.id and entry.city_id == siegen.id and entry.object_id == siegen.id
    assert entry.details["lead_time_hours"] == 48 and entry.details["erase_after_days"] == 21
    assert entry.details["privacy_text_en"] == "(text)"
    page = client.get("/c/siegen/settings/")
    assert "The settings of Siegen are saved." in text_of(page)
    assert input_value(page, "lead_time_hours") == "48"


def test_settings_saved_through_htmx_redirect_the_page(client, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.post("/c/siegen/settings/", data=GOOD, headers=HTMX)
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == "/c/siegen/settings/"


def test_empty_contact_and_privacy_texts_are_allowed(client, coordinator, siegen):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    data = {**GOOD, "office_phone": "", "office_email": "", "privacy_text_de": "", "privacy_text_en": "  "}
    assert client.post("/c/siegen/settings/", data=data).status_code == 303
    db.session.expire_all()
    city = db.session.get(City, siegen.id)
    assert city.office_phone == city.office_email == city.privacy_text_de == city.privacy_text_en == ""


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"min_duration_minutes": "200", "max_duration_minutes": "120"}, "max_duration_minutes",
     "The longest tour must not be shorter than the shortest."),
    ({"buffer_minutes": "-5"}, "buffer_minutes", "Between 0 and 240."),
    ({"lead_time_hours": "twelve"}, "lead_time_hours", "Not a valid integer value."),
    ({"lead_time_hours": ""}, "lead_time_hours", "Please enter a number."),
    ({"horizon_days": "99999999999999999999999999"}, "horizon_days", "Between 1 and 730."),
    ({"horizon_days": "9" * 5000}, "horizon_days", "Not a valid integer value."),
    ({"erase_after_days": "0"}, "erase_after_days", "Between 1 and 365."),
    ({"erase_after_days": "3.5"}, "erase_after_days", "Not a valid integer value."),
    ({"partner_link_days": "400"}, "partner_link_days", "Between 0 and 365."),
    ({"min_duration_minutes": "10"}, "min_duration_minutes", "Between 15 and 720."),
    ({"holiday_subdivision": "XX"}, "holiday_subdivision", "Not a valid choice."),
    ({"office_email": "not an address"}, "office_email", "Please enter an email address like name@example.org."),
    ({"office_phone": "call me"}, "office_phone", "A phone number, e.g. +49 171 1234567."),
    ({"privacy_text_en": "x" * 20001}, "privacy_text_en", "Field cannot be longer than 20000 characters."),
    ({"privacy_text_en": "We\x00store"}, "privacy_text_en", "Contains characters that are not allowed."),  # PG: 500
    ({"privacy_text_en": "We\x1b[31mstore"}, "privacy_text_en", "Contains characters that are not allowed."),
])
def test_bad_settings_are_refused_with_messages_and_kept(client, coordinator, siegen, changes, field,
                                                         message):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    data = {**GOOD, **changes}
    response = client.post("/c/siegen/settings/", data=data)
    assert response.status_code == 422
    assert message in field_error(response, field)
    assert "Please correct the marked fields." in text_of(response)
    # what was entered is shown again, the good fields and the bad one
    assert input_value(response, "office_phone") == data["office_phone"]
    assert input_value(response, "privacy_text_de") == data["privacy_text_de"]
    if field not in ("holiday_subdivision", "privacy_text_en") and len(data[field]) < 100:
        assert input_value(response, field) == data[field]
    # nothing saved
    db.session.expire_all()
    city = db.session.get(City, siegen.id)
    assert (city.lead_time_hours, city.office_phone, city.privacy_text_de) == (24, "+49 271 404-0", "")
    assert db.session.execute(select(AuditEntry).where(AuditEntry.action == SAVED)).first() is None


def test_bad_settings_through_htmx_return_the_form_only(client, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.post("/c/siegen/settings/", data={**GOOD, "buffer_minutes": "-1"}, headers=HTMX)
    assert response.status_code == 422
    body = response.get_data(as_text=True).strip()
    assert body.startswith("<form") and body.endswith("</form>")
    assert "HX-Request" in response.headers.get("Vary", "")
    assert 'aria-invalid="true"' in body


def test_settings_form_needs_the_csrf_token(client, coordinator, siegen):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    client.application.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/c/siegen/settings/", data={**GOOD, "csrf_token": "forged"})
    assert response.status_code in (400, 422)
    db.session.expire_all()
    assert db.session.get(City, siegen.id).lead_time_hours == 24


def test_admin_may_change_any_citys_settings(client, siegen, make_user):
    admin = make_user(Role.ADMIN)
    sign_in(client, admin.email, TEST_PASSWORD)
    assert client.get("/c/siegen/settings/").status_code == 200
    assert client.post("/c/siegen/settings/", data=GOOD).status_code == 303


@pytest.mark.parametrize("method", ["get", "post"])
def test_settings_of_another_city_are_not_found(client, coordinator, olpe, method):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = getattr(client, method)("/c/olpe/settings/", **({"data": GOOD} if method == "post" else {}))
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(City, olpe.id).lead_time_hours == 24


@pytest.mark.parametrize("role", [Role.HR, Role.GUIDE])
@pytest.mark.parametrize("method", ["get", "post"])
def test_hr_staff_and_guides_may_not_change_settings(client, siegen, make_user, role, method):
    user = make_user(role, **({"city": siegen} if role == Role.GUIDE else {}))
    sign_in(client, user.email, TEST_PASSWORD)
    response = getattr(client, method)("/c/siegen/settings/", **({"data": GOOD} if method == "post" else {}))
    assert response.status_code == 403


def test_settings_need_signing_in(client, siegen):
    response = client.get("/c/siegen/settings/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- the audit log --------------------------------------------------------------------------------------


def entry(city: City | None, action: str, object_type: str, object_id: int, actor: str, at: datetime) -> None:
    db.session.add(AuditEntry(at=at, actor_id=None, actor_label=actor, action=action, object_type=object_type,
                              object_id=object_id, city_id=city.id if city else None,
                              details={"n": object_id}))


@pytest.fixture
def log(siegen, olpe):
    """Entries on three days of March 2030 (local time in Siegen)."""
    march = lambda day, hour: datetime(2030, 3, day, hour, tzinfo=BERLIN)  # noqa: E731
    entry(siegen, "tour_booked", "tour", 11, "hr@alpha.example", march(1, 9))
    entry(siegen, "tour_cancelled", "tour", 11, "hr@alpha.example", march(2, 0, ) + timedelta(minutes=30))
    entry(siegen, "tour_booked", "tour", 12, "Other.HR@alpha.example", march(2, 23))
    entry(siegen, "account_created", "user", 7, "clara@siegen.example", march(3, 12))
    entry(olpe, "tour_booked", "tour", 99, "olpe-hr@beta.example", march(2, 10))
    entry(None, "city_created", "city", 5, "admin@region.example", march(1, 8))
    db.session.commit()


def audit_rows(response) -> list[str]:
    html = response.get_data(as_text=True)
    body = re.search(r'<tbody class="kern-table__body">(.*?)</tbody>', html, re.S).group(1)
    rows = re.findall(r"<tr.*?</tr>", body, re.S)
    from html import unescape

    texts = [" ".join(unescape(re.sub(r"<[^>]+>", " ", r)).split()) for r in rows]
    return [t for t in texts if t != "No entries found."]


def test_coordinator_sees_only_their_citys_entries(client, coordinator, log):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.get("/audit/")
    assert response.status_code == 200
    rows = audit_rows(response)
    assert len(rows) == 4, rows  # Siegen's four; not Olpe's, not the region's
    everything = " ".join(rows)
    assert "olpe-hr@beta.example" not in everything
    assert "admin@region.example" not in everything
    assert "Tour #11" in everything and "Account #7" in everything
    assert "Audit log – Siegen" in text_of(response)
    # another city's slug changes nothing
    assert audit_rows(client.get("/audit/", query_string={"city": "olpe"})) == rows


def test_audit_details_name_the_guides_and_say_the_codes_in_words(client, coordinator, siegen, make_user):
    greta = make_user(Role.GUIDE, city=siegen, name="Greta Guide")
    paul = make_user(Role.GUIDE, city=siegen, name="Paul Partout")
    db.session.add(AuditEntry(
        at=datetime(2030, 3, 1, 9, tzinfo=BERLIN), actor_id=None, actor_label="system", action="tour_declined",
        object_type="tour", object_id=41, city_id=siegen.id,
        details={"reason": "Doctor's appointment", "previous_guide_id": greta.id, "guide_id": paul.id,
                 "outcome": "reassigned"}))
    db.session.add(AuditEntry(
        at=datetime(2030, 3, 1, 10, tzinfo=BERLIN), actor_id=None, actor_label="system", action="tour_rescheduled",
        object_type="tour", object_id=41, city_id=siegen.id,
        details={"starts_at": "2030-03-05T09:00:00+00:00", "guide_id": None, "weekday": 1, "by": "partner"}))
    db.session.commit()
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.get("/audit/", headers={"Accept-Language": "en"})
    declined, moved = audit_rows(response)[::-1]
    assert ("Reason: Doctor's appointment; Previous guide: Greta Guide; Guide: Paul Partout; "
            "Result: handed to another guide") in declined
    assert "Start: 05/03/2030, 10:00; Guide: –; Weekday: Tuesday; Cancelled: by the partner" in moved
    assert 'href="/tours/41"' in response.get_data(as_text=True)  # the tour's entries lead to the tour


def test_audit_filters_by_object_person_and_day(client, coordinator, log):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    tours = audit_rows(client.get("/audit/", query_string={"object": "tour"}))
    assert len(tours) == 3 and all("Tour #" in r for r in tours)
    one = audit_rows(client.get("/audit/", query_string={"object": "tour", "object_id": "11"}))
    assert len(one) == 2 and all("Tour #11" in r for r in one)
    # newest first
    assert "Tour cancelled" in one[0] and "Tour booked" in one[1]
    person = audit_rows(client.get("/audit/", query_string={"person": "OTHER.hr"}))
    assert len(person) == 1 and "Tour #12" in person[0]
    # days are Siegen's days: 00:30 and 23:00 on 2 March both belong to it
    day = audit_rows(client.get("/audit/", query_string={"day_from": "2030-03-02", "day_to": "2030-03-02"}))
    assert len(day) == 2 and {"Tour #11", "Tour #12"} == {re.search(r"Tour #\d+", r).group(0) for r in day}
    since = audit_rows(client.get("/audit/", query_string={"day_from": "2030-03-03"}))
    assert len(since) == 1 and "Account #7" in since[0]
    none = audit_rows(client.get("/audit/", query_string={"person": "%"}))
    assert none == [], "a % is searched for, not a wildcard"


def test_audit_person_filter_ignores_accents_as_the_other_searches_do(client, coordinator, siegen, log):
    entry(siegen, "tour_booked", "tour", 13, "Zoë.Çelik@alpha.example", datetime(2030, 3, 4, 9, tzinfo=BERLIN))
    db.session.commit()
    sign_in(client, coordinator.email, TEST_PASSWORD)
    for typed in ("zoe.celik", "ZOË.ÇELIK", "zoë"):
        found = audit_rows(client.get("/audit/", query_string={"person": typed}))
        assert len(found) == 1 and "Tour #13" in found[0], typed


@pytest.mark.parametrize("query", [
    {"day_from": "0001-01-01"}, {"day_to": "9999-12-31"}, {"day_from": "2030-02-30"},
    {"object_id": "abc"}, {"object_id": "99999999999999"}, {"page": "x"}, {"page": "-3"},
    {"person": "a\x00b"}, {"object": "x" * 500}, {"object": "tour\x00"},
])
def test_odd_audit_filters_never_fail(client, coordinator, log, query):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.get("/audit/", query_string=query)
    assert response.status_code in (200, 422)
    assert "Audit log" in text_of(response)
    assert client.get("/audit/", query_string=query, headers=HTMX).status_code in (200, 422)


def test_a_date_out_of_range_is_explained(client, coordinator, log):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.get("/audit/", query_string={"day_from": "0001-01-01"})
    assert "Please choose a date between" in field_error(response, "day_from")


def test_admin_sees_every_city_and_can_choose_one(client, log, make_user):
    admin = make_user(Role.ADMIN)
    sign_in(client, admin.email, TEST_PASSWORD)
    everything = " ".join(audit_rows(client.get("/audit/")))
    assert "olpe-hr@beta.example" in everything and "admin@region.example" in everything
    olpe = audit_rows(client.get("/audit/", query_string={"city": "olpe"}))
    assert len(olpe) == 1 and "olpe-hr@beta.example" in olpe[0]
    assert client.get("/audit/", query_string={"city": "atlantis"}).status_code == 404


def test_htmx_filter_returns_the_entries_only(client, coordinator, log):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.get("/audit/", query_string={"object": "user"}, headers=HTMX)
    body = response.get_data(as_text=True).strip()
    assert body.startswith('<div id="entries"') and "<form" not in body
    assert "HX-Request" in response.headers.get("Vary", "")


def test_the_entries_scroll_in_a_labelled_region_the_keyboard_reaches(client, coordinator, log):
    """On a phone the table is wider than the screen and scrolls in its box: the box is in the tab order and
    named, for keyboard and screen reader users, in full page and fragment alike, in either language."""
    sign_in(client, coordinator.email, TEST_PASSWORD)
    for query, label in (({}, "Entries of the audit log"), ({"lang": "de"}, "Einträge des Änderungsprotokolls")):
        for headers in ({}, HTMX):
            html = client.get("/audit/", query_string=query, headers=headers).get_data(as_text=True)
            box = re.search(r'<div id="entries"[^>]*>', html).group(0)
            assert 'role="region"' in box and 'tabindex="0"' in box, box
            assert f'aria-label="{label}"' in box, box


def test_audit_log_is_read_only_and_for_managers(client, siegen, make_user, log):
    assert client.get("/audit/").status_code == 302
    for role in (Role.HR, Role.GUIDE):
        user = make_user(role, **({"city": siegen} if role == Role.GUIDE else {}))
        other = client.application.test_client()
        other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
        sign_in(other, user.email, TEST_PASSWORD)
        assert other.get("/audit/").status_code == 403
    coordinator = make_user(Role.COORDINATOR, city=siegen)
    sign_in(client, coordinator.email, TEST_PASSWORD)
    assert client.post("/audit/", data={}).status_code == 405


# --- partner feedback -----------------------------------------------------------------------------------


def feedback_section(response) -> str:
    match = re.search(r'<section id="feedback".*?</section>', response.get_data(as_text=True), re.S)
    return match.group(0) if match else ""


def reload(tour: Tour) -> Tour:
    db.session.expire_all()
    return db.session.get(Tour, tour.id)


def test_feedback_form_appears_only_after_the_tour(client, add_tour):
    future = add_tour(at_days(3))
    assert feedback_section(client.get(f"/t/{future.token}/")) == ""
    response = client.post(f"/t/{future.token}/feedback", data={"feedback-rating": "5"})
    assert response.status_code in (303, 422)
    assert reload(future).feedback_rating is None

    past = add_tour(at_days(-1), status="done")
    section = feedback_section(client.get(f"/t/{past.token}/"))
    assert "How was your tour?" in section and 'name="feedback-rating"' in section
    cancelled = add_tour(at_days(-1), status="cancelled", cancelled_by="partner")
    assert feedback_section(client.get(f"/t/{cancelled.token}/")) == ""


def test_partner_gives_feedback_once(client, add_tour):
    tour = add_tour(at_days(-1), status="done")
    response = client.post(f"/t/{tour.token}/feedback",
                           data={"feedback-rating": "4", "feedback-comment": "  Lovely old town!  "})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("#feedback")
    saved = reload(tour)
    assert (saved.feedback_rating, saved.feedback_comment) == (4, "Lovely old town!")
    assert saved.feedback_at is not None
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "tour_feedback")).scalar_one()
    assert entry.details == {"rating": 4}, "the comment is personal data and stays out of the log"

    changed = {"feedback-rating": "1", "feedback-comment": "Changed"}
    again = client.post(f"/t/{tour.token}/feedback", data=changed)
    assert again.status_code == 303
    saved = reload(tour)
    assert (saved.feedback_rating, saved.feedback_comment) == (4, "Lovely old town!")
    page = client.get(f"/t/{tour.token}/")
    assert "Thank you for your feedback!" in text_of(page)
    assert 'name="feedback-rating"' not in page.get_data(as_text=True)


@pytest.mark.parametrize(("data", "message"), [
    ({"feedback-comment": "no rating"}, "Please choose a rating."),
    ({"feedback-rating": "6"}, "Not a valid choice."),
    ({"feedback-rating": "0"}, "Not a valid choice."),
    ({"feedback-rating": "-1"}, "Not a valid choice."),
    ({"feedback-rating": "five"}, "Not a valid choice."),
])
def test_feedback_needs_a_rating_from_one_to_five(client, add_tour, data, message):
    tour = add_tour(at_days(-1), status="done")
    response = client.post(f"/t/{tour.token}/feedback", data=data)
    assert response.status_code == 422
    assert message in text_of(response)
    if "feedback-comment" in data:
        assert "no rating" in feedback_section(response), "the comment is kept"
    assert reload(tour).feedback_rating is None


def test_the_error_summary_puts_no_colon_after_a_question(client, add_tour):
    """The summary names the field by its label and then the error; after a question mark it adds no colon
    ('How was your tour?: Please choose a rating.' read oddly)."""
    tour = add_tour(at_days(-1), status="done")
    for lang, expected in (("en", "How was your tour? Please choose a rating."),
                           ("de", "Wie war Ihre Tour? Bitte wählen Sie eine Bewertung.")):
        response = client.post(f"/t/{tour.token}/feedback?lang={lang}", data={"feedback-comment": "x"})
        summary = re.search(r'<ul class="error-summary">(.*?)</ul>', response.get_data(as_text=True), re.S).group(1)
        assert re.sub(r"<[^>]+>", "", summary).strip() == expected


def test_feedback_comment_is_erased_by_the_purge_and_the_rating_stays(client, add_tour):
    tour = add_tour(at_days(-1), status="done")
    feedback = {"feedback-rating": "5", "feedback-comment": "Ask for Fiona"}
    assert client.post(f"/t/{tour.token}/feedback", data=feedback).status_code == 303
    purge_partner_data(db.session, now=utcnow() + timedelta(days=31))
    row = db.session.execute(text("SELECT feedback_rating, feedback_comment FROM tours WHERE id = :id"),
                             {"id": tour.id}).one()
    assert tuple(row) == (5, None)


def test_the_day_after_the_tour_the_partner_is_asked_for_feedback_once(app, add_tour):
    from tourbook.feedback import queue_feedback_requests

    tour = add_tour(at_days(-1, 9), status="done", partner_email="fiona@mail.example")
    add_tour(at_days(-1, 13), status="done")  # no email: nobody to ask
    add_tour(at_days(-1, 16), status="cancelled", cancelled_by="hr", partner_email="c@mail.example")
    now = utcnow()
    with app.test_request_context(base_url="https://tourbook.example"):
        assert queue_feedback_requests(db.session, now=now) == 1
        assert queue_feedback_requests(db.session, now=now) == 0
    asked = select(OutboxMessage).where(OutboxMessage.kind == "partner_feedback")
    message = db.session.execute(asked).scalar_one()
    assert message.recipient == "fiona@mail.example" and message.tour_id == tour.id
    assert f"/t/{tour.token}/#feedback" in message.body_text


def test_no_feedback_request_when_the_partner_link_has_expired(app, siegen, add_tour):
    from tourbook.feedback import queue_feedback_requests

    siegen.partner_link_days = 0
    db.session.commit()
    add_tour(at_days(-1, 9), status="done", partner_email="fiona@mail.example")
    with app.test_request_context(base_url="https://tourbook.example"):
        assert queue_feedback_requests(db.session) == 0


# --- privacy notice and accessibility statement ---------------------------------------------------------


def test_privacy_notice_shows_the_default_in_english_and_german(client, siegen):
    english = client.get("/privacy/siegen?lang=en")
    assert english.status_code == 200
    page = text_of(english)
    assert "Privacy notice for partner tours in Siegen" in page
    assert "Who is responsible" in page and "Your rights" in page
    assert "30 days after the tour" in page
    assert "touren@siegen.example" in page
    german = client.get("/privacy/siegen?lang=de")
    assert german.status_code == 200
    assert '<html lang="de"' in german.get_data(as_text=True)
    assert "touren@siegen.example" in text_of(german)
    assert 'id="privacy-default"' in german.get_data(as_text=True)
    assert german.get_data(as_text=True).count('<h2 class="kern-heading-medium">') == 5


def test_privacy_notice_shows_the_citys_own_text_in_each_language(client, siegen):
    siegen.privacy_text_de = "Die Stadt Siegen erklärt:\n\nAbsatz zwei <script>alert(1)</script>"
    siegen.privacy_text_en = "The city of Siegen explains."
    db.session.commit()
    german = client.get("/privacy/siegen?lang=de")
    html = german.get_data(as_text=True)
    assert "<p>Die Stadt Siegen erklärt:</p>" in html
    assert "<p>Absatz zwei &lt;script&gt;alert(1)&lt;/script&gt;</p>" in html
    assert "The city of Siegen explains." not in html
    assert 'id="privacy-default"' not in html
    english = text_of(client.get("/privacy/siegen?lang=en"))
    assert "The city of Siegen explains." in english and "Die Stadt" not in english
    assert "Who is responsible" not in english


def test_privacy_notice_in_english_falls_back_to_the_default_when_only_german_is_set(client, siegen):
    siegen.privacy_text_de = "Nur deutsch."
    db.session.commit()
    page = text_of(client.get("/privacy/siegen?lang=en"))
    assert "Who is responsible" in page and "Nur deutsch." not in page


def test_privacy_pages_list_cities_and_refuse_unknown_ones(client, siegen, olpe):
    index = client.get("/privacy?lang=en")
    assert 'href="/privacy/siegen"' in index.get_data(as_text=True)
    assert 'href="/privacy/olpe"' in index.get_data(as_text=True)
    assert client.get("/privacy/atlantis").status_code == 404
    assert client.get("/privacy/" + "x" * 500).status_code == 404
    assert client.get("/privacy/a%00b").status_code == 404
    footer = client.get("/login").get_data(as_text=True)
    assert 'href="/privacy"' in footer and 'href="/accessibility"' in footer


def test_partner_page_links_the_citys_privacy_notice(client, add_tour):
    tour = add_tour(at_days(3))
    assert 'href="/privacy/siegen' in client.get(f"/t/{tour.token}/").get_data(as_text=True)


def test_accessibility_statement_names_a_feedback_contact(client, siegen, olpe, make_city):
    make_city(name="Nowhere", slug="nowhere", office_email="", office_phone="")
    response = client.get("/accessibility?lang=en")
    assert response.status_code == 200
    page = text_of(response)
    assert "Accessibility statement" in page and "Feedback and contact" in page
    html = response.get_data(as_text=True)
    assert 'href="mailto:touren@siegen.example"' in html and "+49 271 404-0" in page
    assert 'href="mailto:touren@olpe.example"' in html
    assert "Nowhere" not in page
    assert "WCAG 2.1" in page and "BITV 2.0" in page
    assert client.get("/accessibility?lang=de").status_code == 200


def test_every_action_the_code_records_has_a_name_in_the_log():
    """The log shows each entry's action by name; one missing from ACTIONS would show as a bare code."""
    from tourbook import PROJECT_ROOT
    from tourbook.audit import ACTIONS

    recorded = set()
    for path in (PROJECT_ROOT / "tourbook").glob("*.py"):
        recorded |= set(re.findall(r'\brecord\(\s*[\w.]+,\s*[^,]+,\s*"(\w+)"', path.read_text()))
    assert {"tour_booked", "tour_language_accepted", "partner_data_erased"} <= recorded  # the pattern finds them
    assert recorded - ACTIONS.keys() == set()
