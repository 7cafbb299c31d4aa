"""A form sent when the sign-in had ended, or when the form itself had expired, loses nothing: the sign-in page
carries its fields along and, once signed in, a page sends them again with one button (nothing is stored on
the server, and nothing is saved until the user sends it). A live answer inside a page (the availability beside
the booking form) does not navigate away from what was typed."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
from conftest import TEST_PASSWORD
from factories_tours import bookable_day, make_guide_fixture, make_tour_fixture  # noqa: F401 - fixtures
from flask import Flask
from helpers_foundation import text_of
from sqlalchemy import select, update
from werkzeug.datastructures import MultiDict

from tourbook.extensions import db
from tourbook.models import Absence, AvailabilityWindow, City, Company, LoginSession, Role, Tour, User, utcnow


@pytest.fixture
def city(make_city: Callable[..., City]) -> City:
    return make_city(name="Siegen", slug="siegen")


@pytest.fixture
def company(make_company: Callable[..., Company], city: City) -> Company:
    return make_company(cities=[city], name="Hüttenwerk GmbH", address="Hüttenstraße 12, 57072 Siegen")


@pytest.fixture
def hr(make_user: Callable[..., User], company: Company) -> User:
    return make_user(Role.HR, company=company, name="Hanna Personal", language="en")


@pytest.fixture
def guide(make_guide: Callable[..., User], city: City) -> User:
    return make_guide(city, name="Gisela Guide", languages=("de", "en"))


SAME_SITE = {"Sec-Fetch-Site": "same-origin"}  # what a browser says of a form sent from a page of this site


def booking(city: City, token: str, **fields: object) -> dict:
    day = bookable_day(days=10).isoformat()
    return {"csrf_token": token, "city": str(city.id), "day": day, "start": "10:00", "end": "12:00",
            "language": "en", "first_name": "Mira", "last_name": "Okafor", "people": "3",
            "interests": ["housing", "schools"], "guide_note": "Likes football,\nand \"quotes\" <too>",
            "meeting_point": "company", "consent": "y", **fields}


def token_on(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def form_fields(page: str, action: str | None = None) -> list[tuple[str, str]]:
    """The hidden fields of the page's form (the one posting to ``action``), in order, as a browser sends them."""
    forms = re.findall(r'<form method="post" action="([^"]*)".*?</form>', page, re.S)
    body = next(m.group(0) for m in re.finditer(r'<form method="post" action="([^"]*)".*?</form>', page, re.S)
                if action is None or unescape(m.group(1)) == action) if forms else ""
    return [(unescape(n), unescape(v)) for n, v in
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', body)]


def send(client, url: str, fields: list[tuple[str, str]]):  # noqa: ANN001, ANN201
    """Post the fields as a browser does: in order, a name as often as it comes (the token among them)."""
    return client.post(url, data=MultiDict(fields), csrf=False)


def end_the_sign_in(app: Flask, user: User) -> None:
    """The sign-in ends while the page is open (idle longer than allowed)."""
    ago = utcnow() - app.config["SESSION_IDLE_TIMEOUT"] - timedelta(minutes=1)
    db.session.execute(update(LoginSession).where(LoginSession.user_id == user.id).values(last_seen_at=ago))
    db.session.commit()


def tours() -> list[Tour]:
    db.session.expire_all()
    return list(db.session.execute(select(Tour)).scalars())


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_booking_sent_after_the_sign_in_ended_is_kept_and_sent_after_signing_in(
        app: Flask, client, login, hr: User, guide: User, city: City, htmx: bool):
    login(hr)
    token = token_on(client.get("/tours/new").get_data(as_text=True))
    end_the_sign_in(app, hr)
    headers = {**SAME_SITE, "HX-Request": "true", "HX-Current-URL": "http://localhost/tours/new"} if htmx \
        else SAME_SITE

    sent = client.post("/tours/new", data=MultiDict(booking(city, token)), headers=headers, csrf=False)
    page = sent.get_data(as_text=True)
    # In the language the user was reading (their account's), not the default German of a signed-out page.
    assert ("Your sign-in had ended, so the form was not saved yet. Sign in again: what you entered is kept, "
            "and you can then send it.") in text_of(sent)
    assert tours() == []
    if htmx:  # the whole page becomes the sign-in page (htmx would not swap a 401, nor into the form's place)
        assert sent.status_code == 200
        assert (sent.headers["HX-Retarget"], sent.headers["HX-Reswap"]) == ("body", "innerHTML")
    else:
        assert sent.status_code == 401
    assert sent.headers["Cache-Control"] == "no-store"
    assert 'hx-post="/login' not in page, "the sign-in with a kept form is a plain post: its answer is a page"
    kept = form_fields(page, "/login")
    assert ("kept_target", "/tours/new") in kept
    assert ("kept_value", "Likes football,\nand \"quotes\" <too>") in kept
    assert not any(value == token for _name, value in kept), "the old token is not carried along"

    # A wrong password first: the form stays kept.
    wrong = send(client, "/login", [*kept, ("csrf_token", token_on(page)), ("email", hr.email),
                                    ("password", "wrong wrong wrong")])
    assert wrong.status_code == 422
    assert form_fields(wrong.get_data(as_text=True), "/login") == [f for f in kept if f[0] != "csrf_token"]

    signed = send(client, "/login", [*kept, ("csrf_token", token_on(wrong.get_data(as_text=True))),
                                     ("email", hr.email), ("password", TEST_PASSWORD)])
    assert signed.status_code == 200
    assert "You are signed in again The form you sent before has not been saved yet: send it now." \
        in text_of(signed)
    assert tours() == [], "nothing is saved before the user sends it"
    again = form_fields(signed.get_data(as_text=True), "/tours/new")
    assert ("first_name", "Mira") in again and ("interests", "housing") in again and ("interests", "schools") in again

    booked = send(client, "/tours/new", again)
    assert booked.status_code == 303
    (tour,) = tours()
    assert (tour.partner_first_name, tour.interest_list, tour.guide_note, tour.guide_id) == (
        "Mira", ["housing", "schools"], "Likes football,\nand \"quotes\" <too>", guide.id)


@pytest.mark.parametrize("origin", [{"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}, {}],
                         ids=["cross-site", "other-origin", "unknown"])
def test_a_form_another_site_sent_is_not_offered_back(app: Flask, client, login, hr: User, guide: User,
                                                      city: City, origin: dict):
    """A forged request must not come back as "your form, send it again": only a page of this site's is kept."""
    for signed_in in (False, True):
        if signed_in:
            login(hr)
        forged = client.post("/tours/new", data=booking(city, "forged"), headers=origin)
        assert forged.status_code == 400  # the page that says the form expired, and nothing of the form
        page = forged.get_data(as_text=True)
        assert "Mira" not in page and 'name="kept_' not in page and 'name="first_name"' not in page
    assert tours() == []


def test_the_kept_form_goes_only_to_a_path_of_this_site(app: Flask, client, hr: User):
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={
        "csrf_token": token_on(page), "email": hr.email, "password": TEST_PASSWORD,
        "kept_target": "//evil.example/steal", "kept_name": "first_name", "kept_value": "Mira"})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_a_signed_in_users_expired_form_is_kept_and_can_be_sent_again(
        app: Flask, client, login, hr: User, guide: User, city: City):
    login(hr)
    # The token of a session that is no more (signed in again in another tab, say).
    expired = client.post("/tours/new", data=booking(city, "stale-token"), headers=SAME_SITE)
    assert expired.status_code == 400
    assert ("The form has expired For your security, forms expire. It was not saved yet; what you entered is kept: "
            "send it again.") in text_of(expired)
    assert tours() == []
    again = form_fields(expired.get_data(as_text=True), "/tours/new")
    assert ("csrf_token", "stale-token") not in again and ("guide_note", "Likes football,\nand \"quotes\" <too>") \
        in again
    assert send(client, "/tours/new", again).status_code == 303
    assert [t.partner_first_name for t in tours()] == ["Mira"]


def test_a_form_sent_without_a_session_at_all_asks_for_the_sign_in_and_keeps_it(
        app: Flask, client, hr: User, guide: User, city: City):
    """The browser lost its cookie (closed and opened again): the token cannot match, and nobody is signed in."""
    response = client.post("/tours/new", data=booking(city, "token-of-a-lost-cookie"),
                           headers={"Origin": "http://localhost"})  # a browser without Sec-Fetch-Site
    assert response.status_code == 401
    assert "Melden Sie sich erneut an: Ihre Eingaben bleiben erhalten" in text_of(response)
    assert ("kept_value", "Mira") in form_fields(response.get_data(as_text=True), "/login")


def test_the_partners_expired_form_can_be_sent_again_without_any_sign_in(
        app: Flask, make_tour: Callable[..., Tour], guide: User, company: Company):
    tour = make_tour(guide, datetime.now(UTC) + timedelta(days=10), company=company)
    browser = app.test_client()
    expired = browser.post(f"/t/{tour.token}/wishes", headers=SAME_SITE, data={
        "csrf_token": "stale", "interests": ["culture"], "language": "en", "people": "4"})
    assert expired.status_code == 400 and "Ihre Eingaben sind erhalten: Senden Sie es erneut ab." in text_of(expired)
    again = form_fields(expired.get_data(as_text=True), f"/t/{tour.token}/wishes")
    assert send(browser, f"/t/{tour.token}/wishes", again).status_code == 303
    db.session.expire_all()
    assert db.session.get(Tour, tour.id).people == 4


def test_a_live_answer_after_the_sign_in_ended_leaves_the_page_as_typed(app: Flask, client, login, hr: User,
                                                                        city: City):
    login(hr)
    end_the_sign_in(app, hr)
    live = client.get("/tours/availability", query_string={"city": city.id, "day": "2030-01-07"},
                      headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/tours/new"})
    assert live.status_code == 204 and "HX-Redirect" not in live.headers
    # A search that replaces the page's list is a navigation: to the sign-in, and back to the page (not to
    # the fragment's address) after it.
    search = client.get("/tours/?q=mira", headers={"HX-Request": "true",
                                                   "HX-Current-URL": "http://localhost/tours/?when=past"})
    assert search.status_code == 401
    assert search.headers["HX-Redirect"] == "/login?next=/tours/?when%3Dpast"


# --- after review: prefixed forms, a click that posts nothing typed, the partner's language, password forms,
# the live check of the reschedule form ----------------------------------------------------------------


def htmx_on(page: str) -> dict:
    return {**SAME_SITE, "HX-Request": "true", "HX-Current-URL": f"http://localhost{page}"}


def windows(guide: User) -> int:
    db.session.expire_all()
    return len(list(db.session.execute(select(AvailabilityWindow).where(AvailabilityWindow.guide_id == guide.id)
                                        ).scalars()))


def absences(guide: User) -> int:
    db.session.expire_all()
    return len(list(db.session.execute(select(Absence).where(Absence.guide_id == guide.id)).scalars()))


ABSENCE = {"absence-first_day": "2030-03-04", "absence-last_day": "2030-03-05", "absence-reason": "holiday"}


def test_a_prefixed_forms_expired_form_is_sent_again(app: Flask, client, login, guide: User):
    """A prefixed form (absence-…) carries its own old absence-csrf_token along: the fresh csrf_token of the page
    passes the check of the request, and the form's own check is then skipped (Flask-WTF's g.csrf_valid)."""
    login(guide)
    hours = f"/guides/{guide.id}/hours"
    page = client.get(hours).get_data(as_text=True)
    assert 'name="absence-csrf_token"' in page
    expired = client.post(f"/guides/{guide.id}/absences", headers=SAME_SITE, csrf=False,
                          data={"absence-csrf_token": "stale", **ABSENCE})
    assert expired.status_code == 400
    again = form_fields(expired.get_data(as_text=True), f"/guides/{guide.id}/absences")
    resent = send(client, f"/guides/{guide.id}/absences", again)
    assert resent.status_code == 303
    assert absences(guide) == 1


def test_a_prefixed_form_kept_through_the_sign_in_is_sent(app: Flask, client, login, guide: User):
    login(guide)
    page = client.get(f"/guides/{guide.id}/hours").get_data(as_text=True)
    prefixed = __import__("re").search(r'name="absence-csrf_token"[^>]*value="([^"]+)"', page).group(1)
    end_the_sign_in(app, guide)
    sent = client.post(f"/guides/{guide.id}/absences", headers=SAME_SITE, csrf=False,
                       data={"absence-csrf_token": prefixed, **ABSENCE})
    assert sent.status_code == 401
    login_page = sent.get_data(as_text=True)
    kept = form_fields(login_page, "/login")
    signed = send(client, "/login", [*kept, ("csrf_token", token_on(login_page)), ("email", guide.email),
                                     ("password", TEST_PASSWORD)])
    again = form_fields(signed.get_data(as_text=True), f"/guides/{guide.id}/absences")
    resent = send(client, f"/guides/{guide.id}/absences", again)
    assert resent.status_code == 303
    assert absences(guide) == 1


def test_a_click_that_posts_nothing_typed_goes_to_the_sign_in(app: Flask, client, login, guide: User):
    """"Remove" on a window (htmx, only the token) after the sign-in ended: to the sign-in and back to the page
    (a 204 would leave the click without any answer)."""
    login(guide)
    window_id = db.session.execute(select(AvailabilityWindow.id).where(AvailabilityWindow.guide_id == guide.id)
                                   ).scalars().first()
    token = token_on(client.get(f"/guides/{guide.id}/hours").get_data(as_text=True))
    end_the_sign_in(app, guide)
    response = client.post(f"/guides/{guide.id}/windows/{window_id}/delete", data={"csrf_token": token},
                           headers=htmx_on(f"/guides/{guide.id}/hours"), csrf=False)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == f"/login?next=/guides/{guide.id}/hours"
    assert windows(guide) == 7


def test_the_partners_expired_form_comes_back_in_the_partners_language(
        app: Flask, make_tour: Callable[..., Tour], guide: User, company: Company):
    tour = make_tour(guide, datetime.now(UTC) + timedelta(days=10), company=company, partner_language="en")
    browser = app.test_client()
    page = browser.get(f"/t/{tour.token}/").get_data(as_text=True)
    assert '<html lang="en">' in page
    expired = browser.post(f"/t/{tour.token}/wishes", headers=SAME_SITE, data={
        "csrf_token": "stale", "interests": ["culture"], "language": "en", "people": "4"})
    body = expired.get_data(as_text=True)
    assert (expired.headers["Referrer-Policy"], expired.headers["X-Robots-Tag"]) == ("no-referrer", "noindex, nofollow")
    assert '<html lang="en">' in body and "send it again" in text_of(expired)
    assert 'href="/"' not in body.split("<main")[1].split("</main>")[0], "no way to a sign-in for a partner"


def test_a_password_form_sent_after_the_sign_in_ended_is_not_kept(app: Flask, client, login, hr: User):
    """As after an expired form: the password forms are asked again; no password is written into a page."""
    login(hr)
    token = token_on(client.get("/account").get_data(as_text=True))
    end_the_sign_in(app, hr)
    sent = client.post("/account", headers=SAME_SITE, csrf=False, data={
        "pw-csrf_token": token, "form": "password", "pw-current": "my-old-secret-passphrase",
        "pw-password": "my new secret passphrase", "pw-confirm": "my new secret passphrase"})
    assert sent.status_code == 302 and sent.headers["Location"].startswith("/login")
    assert "secret passphrase" not in sent.get_data(as_text=True)


def test_the_whole_page_answer_drops_the_elements_hx_select(app: Flask, client, login, hr: User, guide: User,
                                                         city: City, make_tour: Callable[..., Tour]):
    """The reschedule form's live check (hx-post on change, hx-select="#availability > *") after the sign-in
    ended is answered with the sign-in keeping the form, for the whole body: without HX-Reselect htmx would
    apply the element's hx-select to it and swap nothing into the body (an empty page)."""
    tour = make_tour(guide, datetime.now(UTC) + timedelta(days=10), company=hr.company)
    login(hr)
    token = token_on(client.get(f"/tours/{tour.id}/reschedule").get_data(as_text=True))
    end_the_sign_in(app, hr)
    r = client.post(f"/tours/{tour.id}/reschedule", csrf=False, headers=htmx_on(f"/tours/{tour.id}/reschedule"),
                    data={"csrf_token": token, "day": "2030-01-07", "start": "10:00", "end": "12:00", "check": "1"})
    assert (r.headers["HX-Retarget"], r.headers["HX-Reselect"]) == ("body", "unset")
    assert ("kept_name", "check") in form_fields(r.get_data(as_text=True), "/login")
