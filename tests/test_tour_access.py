"""Who may do what with a tour: every route of the tours and partner blueprints against every role.

The table says what each role gets for each tour route, opened for one upcoming tour of company A in city
A with guide A: the page (200), 403 (the role may never do this), 404 (the tour is not theirs: its
existence is not revealed) or the login wall. A POST with an empty form by a role that may act is refused
as bad input (422, or 409 for a result), never as a permission problem, and changes nothing; a POST by a
role that may not is refused like the page. Partner routes answer 404 for an unknown token and 410 some
days after the tour. A route that is not in the table fails ``test_every_tour_route_is_in_the_table``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from factories_tours import bookable_day, local, make_guide_fixture, make_tour_fixture  # noqa: F401
from flask import Flask, url_for
from helpers_foundation import (  # noqa: F401 - fixtures
    english_client,
    english_make_user,
    fresh_request_globals,
    new_client,
    text_of,
)
from sqlalchemy import select

from tourbook.extensions import db
from tourbook.models import AuditEntry, Role, Tour

ROLES = ("anonymous", "admin", "hr_a", "hr_b", "coordinator_a", "coordinator_b", "guide_a", "guide_other",
         "guide_b")
LOGIN = "login"

EVERY_ROLE = dict.fromkeys(ROLES, 200) | {"anonymous": LOGIN}
HR_ONLY = dict.fromkeys(ROLES, 403) | {"anonymous": LOGIN, "hr_a": 200, "hr_b": 200}
# Those who see the tour; the others do not learn that it exists.
SEES = {"anonymous": LOGIN, "admin": 200, "hr_a": 200, "hr_b": 404, "coordinator_a": 200,
        "coordinator_b": 404, "guide_a": 200, "guide_other": 404, "guide_b": 404}
# HR of the company, the city's coordinator and the admin change bookings; guides never do.
CHANGES = SEES | {"guide_a": 403, "guide_other": 403, "guide_b": 403}
GUIDE_OF_THE_TOUR = dict.fromkeys(ROLES, 403) | {"anonymous": LOGIN, "guide_a": 200, "guide_other": 404,
                                                  "guide_b": 404}
ASSIGNS = dict.fromkeys(ROLES, 403) | {"anonymous": LOGIN, "admin": 200, "coordinator_a": 200,
                                       "coordinator_b": 404}

TABLE: dict[str, dict[str, object]] = {
    "tours.index": EVERY_ROLE,
    "tours.new": HR_ONLY,
    "tours.availability": HR_ONLY,
    "tours.show": SEES,
    "tours.ics": SEES,
    "tours.reschedule": CHANGES,
    "tours.cancel": CHANGES,
    "tours.decline": GUIDE_OF_THE_TOUR,
    "tours.outcome": GUIDE_OF_THE_TOUR,
    "tours.assign": ASSIGNS,
    "tours.keep_guide": ASSIGNS,
}


@dataclass
class World:
    users: dict
    tour: Tour
    started: Tour
    expired: Tour


@pytest.fixture
def world(make_city, make_company, make_user, make_guide, make_tour) -> World:
    a, b = make_city(name="Siegen"), make_city(name="Olpe")
    company_a = make_company(cities=[a], name="Company A GmbH")
    company_b = make_company(cities=[a, b], name="Company B GmbH")  # same city, another company
    guide_a = make_guide(a, name="Gina Guide")
    users = {
        "admin": make_user(Role.ADMIN),
        "hr_a": make_user(Role.HR, company=company_a),
        "hr_b": make_user(Role.HR, company=company_b),
        "coordinator_a": make_user(Role.COORDINATOR, city=a),
        "coordinator_b": make_user(Role.COORDINATOR, city=b),
        "guide_a": guide_a,
        "guide_other": make_guide(a, name="Otto Other"),
        "guide_b": make_guide(b, name="Bea Olpe"),
    }
    now = datetime.now(UTC)
    tour = make_tour(guide_a, local(bookable_day(days=6), 10), company=company_a,
                     booked_by_id=users["hr_a"].id, partner_first_name="Secretname",
                     partner_email="secret@example.org")
    started = make_tour(guide_a, now - timedelta(hours=1), company=company_a, booked_by_id=users["hr_a"].id)
    expired = make_tour(guide_a, now - timedelta(days=a.partner_link_days + 1), company=company_a,
                        partner_language="en")
    return World(users=users, tour=tour, started=started, expired=expired)


def tour_rules(app: Flask) -> list:
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith(("tours.", "partner."))]


def url_of(app: Flask, rule, **values: object) -> str:  # noqa: ANN001
    with app.test_request_context():
        return url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})


def signed_in(app: Flask, world: World, role: str):  # noqa: ANN201
    browser = new_client(app)
    if role != "anonymous":
        from conftest import TEST_PASSWORD

        response = browser.post("/login", data={"email": world.users[role].email, "password": TEST_PASSWORD})
        assert response.status_code == 303
    return browser


def state_of(tour: Tour) -> tuple:
    db.session.expire_all()
    current = db.session.get(Tour, tour.id)
    return current.status, current.guide_id, current.sequence, current.starts_at


def check(response, expected: object, what: str) -> None:  # noqa: ANN001
    assert response.status_code != 500, what
    if expected == LOGIN:
        assert response.status_code == 302, what
        assert response.headers["Location"].startswith("/login"), what
        return
    assert response.status_code == expected, f"{what}: {response.status_code}"
    body = text_of(response)
    if expected == 404:
        assert "Page not found" in body, what
        assert "Secretname" not in body and "Gina" not in body, what
    elif expected == 403:
        assert "Not allowed" in body, what


def test_every_tour_route_is_in_the_table(app: Flask):
    endpoints = {r.endpoint for r in tour_rules(app) if r.endpoint.startswith("tours.")}
    assert endpoints - TABLE.keys() == set(), "new tour routes: add them to the access table"
    assert TABLE.keys() - endpoints == set(), "routes in the table that no longer exist"
    for expected in TABLE.values():
        assert set(expected) == set(ROLES)
    partner = {r.endpoint for r in tour_rules(app) if r.endpoint.startswith("partner.")}
    assert partner == set(PARTNER_ROUTES), "new partner routes: add them to PARTNER_ROUTES"


@pytest.mark.parametrize("role", ROLES)
def test_role_gets_what_the_table_says_for_every_tour_route(app: Flask, world: World, role: str):
    browser = signed_in(app, world, role)
    before = state_of(world.tour)
    for rule in tour_rules(app):
        if not rule.endpoint.startswith("tours."):
            continue
        expected = TABLE[rule.endpoint][role]
        url = url_of(app, rule, tour_id=world.tour.id)
        if "GET" in rule.methods:
            check(browser.get(url), expected, f"{role} GET {url}")
        if "POST" in rule.methods:
            response = browser.post(url, data={})
            if expected == 200:  # may act: the empty form is refused as bad input
                assert response.status_code in (409, 422), f"{role} POST {url}: {response.status_code}"
            else:
                check(response, expected, f"{role} POST {url}")
        assert state_of(world.tour) == before, f"{role} {rule.endpoint} changed the tour"


@pytest.mark.parametrize("role", ["hr_b", "coordinator_b", "guide_other", "guide_b"])
def test_forbidden_posts_with_good_data_change_nothing(app: Flask, world: World, role: str):
    """A well-formed change by someone who may not make it is refused like the page, and nothing moves."""
    browser = signed_in(app, world, role)
    before = state_of(world.tour)
    entries = db.session.execute(select(AuditEntry.id)).all()
    tour_id = world.tour.id
    day = bookable_day(days=8).isoformat()
    posts = {
        f"/tours/{tour_id}/reschedule": {"day": day, "start": "14:00", "end": "16:00"},
        f"/tours/{tour_id}/cancel": {"reason": "not mine"},
        f"/tours/{tour_id}/decline": {"reason": "not mine"},
        f"/tours/{world.started.id}/outcome": {"outcome": "no_show"},
        f"/tours/{tour_id}/assign": {"assign-guide": str(world.users["guide_other"].id),
                                     "assign-reason": "x"},
        f"/tours/{tour_id}/keep-guide": {},
    }
    world.tour.partner_language = "fr"  # which guide A does not speak: keeping them would be possible
    db.session.commit()
    for url, data in posts.items():
        endpoint = "tours." + url.rsplit("/", 1)[1].replace("-", "_")
        response = browser.post(url, data=data)
        assert response.status_code in (403, 404), f"{role} {url}: {response.status_code}"
        assert response.status_code == TABLE[endpoint][role]
    assert state_of(world.tour) == before and not world.tour.language_accepted
    assert state_of(world.started)[0] == "confirmed"
    assert db.session.execute(select(AuditEntry.id)).all() == entries


RIGHTFUL_POSTS = [
    ("hr_a", "reschedule"), ("coordinator_a", "reschedule"), ("admin", "reschedule"),
    ("hr_a", "cancel"), ("coordinator_a", "cancel"), ("admin", "cancel"),
    ("guide_a", "decline"), ("guide_a", "outcome"), ("coordinator_a", "assign"), ("admin", "assign"),
]


@pytest.mark.parametrize(("role", "action"), RIGHTFUL_POSTS)
def test_the_rightful_roles_change_the_tour(app: Flask, world: World, role: str, action: str):
    browser = signed_in(app, world, role)
    tour = world.started if action == "outcome" else world.tour
    data = {
        "reschedule": {"day": bookable_day(days=8).isoformat(), "start": "14:00", "end": "16:00"},
        "cancel": {"reason": "interview moved"},
        "decline": {"reason": "ill"},
        "outcome": {"outcome": "done"},
        "assign": {"assign-guide": str(world.users["guide_other"].id), "assign-reason": "swap"},
    }[action]
    before = state_of(tour)
    response = browser.post(f"/tours/{tour.id}/{action}", data=data)
    assert response.status_code == 303, text_of(response)[:600]
    after = state_of(tour)
    assert after != before and after[2] == before[2] + 1  # the sequence went up


def test_hr_books_for_their_company_in_an_enrolled_city_only(app: Flask, world: World, make_city):
    browser = signed_in(app, world, "hr_b")
    olpe = db.session.execute(select(Tour.city_id).where(Tour.id == world.tour.id)).scalar_one()
    not_enrolled = make_city(name="Arnsberg")
    form = {"day": bookable_day(days=8).isoformat(), "start": "10:00", "end": "12:00", "language": "de",
            "first_name": "Ana", "people": "1", "meeting_point": "company", "consent": "y"}
    refused = browser.post("/tours/new", data={**form, "city": str(not_enrolled.id)})
    assert refused.status_code == 422
    booked = browser.post("/tours/new", data={**form, "city": str(olpe)})
    assert booked.status_code == 303
    tour = db.session.execute(select(Tour).where(Tour.partner_first_name == "Ana")).scalar_one()
    assert tour.company_id == world.users["hr_b"].company_id and tour.booked_by_id == world.users["hr_b"].id


@pytest.mark.parametrize("role", ["admin", "hr_a"])
def test_an_unknown_tour_is_not_found_for_anyone(app: Flask, world: World, role: str):
    browser = signed_in(app, world, role)
    for tour_id in (999_999, 2**31, 2**63):  # beyond the database's integers too: 404, not 500
        for rule in tour_rules(app):
            if "tour_id" not in rule.arguments:
                continue
            url = url_of(app, rule, tour_id=tour_id)
            response = browser.get(url) if "GET" in rule.methods else browser.post(url, data={})
            expected = 403 if TABLE[rule.endpoint][role] == 403 else 404
            check(response, expected, f"{role} {url}")


def test_an_htmx_request_at_the_login_wall_is_told_to_navigate(app: Flask, world: World):
    browser = new_client(app)
    response = browser.get(f"/tours/{world.tour.id}", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_a_guide_loses_access_when_the_tour_goes_to_another(app: Flask, world: World):
    from tourbook.services import assign_tour

    browser = signed_in(app, world, "guide_a")
    assert browser.get(f"/tours/{world.tour.id}").status_code == 200
    with app.test_request_context():
        assign_tour(db.session, world.users["coordinator_a"], world.tour, world.users["guide_other"].id,
                    "swap")
    assert browser.get(f"/tours/{world.tour.id}").status_code == 404
    assert browser.get(f"/tours/{world.tour.id}/tour.ics").status_code == 404
    assert signed_in(app, world, "guide_other").get(f"/tours/{world.tour.id}").status_code == 200


# --- partner routes ----------------------------------------------------------------------------------------

# endpoint -> (method, form data a partner would send)
PARTNER_ROUTES = {
    "partner.page": ("GET", None),
    "partner.ics": ("GET", None),
    "partner.cancel": ("GET", None),
    "partner.wishes": ("POST", {"interests": ["nature"], "language": "en", "people": "2"}),
    "partner.feedback": ("POST", {"feedback-rating": "5", "feedback-comment": "Lovely"}),
}


def partner_request(browser, app: Flask, endpoint: str, token: str):  # noqa: ANN001, ANN201
    rule = next(r for r in tour_rules(app) if r.endpoint == endpoint)
    method, data = PARTNER_ROUTES[endpoint]
    url = url_of(app, rule, token=token)
    return url, (browser.post(url, data=data) if method == "POST" else browser.get(url))


@pytest.mark.parametrize("role", ["anonymous", "admin", "hr_a"])
def test_an_unknown_partner_token_is_not_found_on_every_partner_route(app: Flask, world: World, role: str):
    browser = signed_in(app, world, role)
    for token in ("unknown-token-" + "x" * 20, world.tour.token[:-2], "a" * 65, "bad token", "\x00"):
        for endpoint in PARTNER_ROUTES:
            url, response = partner_request(browser, app, endpoint, token)
            assert response.status_code == 404, f"{role} {url}: {response.status_code}"
            assert "Secretname" not in response.get_data(as_text=True)
        assert browser.post(f"/t/{token}/cancel", data={"reason": "x"}).status_code == 404
    assert state_of(world.tour)[0] == "confirmed"
    # A partner has no account: the page says what to do with the link, not "to the start page" (a sign-in).
    page = browser.get(f"/t/unknown-token-{'x' * 20}/", headers={"Accept-Language": "en"})
    text = " ".join(re.sub(r"<[^>]+>", " ", page.get_data(as_text=True)).split())
    assert "This link does not work" in text and "ask the company that invited you" in text
    assert "To the start page" not in text
    assert page.headers["Referrer-Policy"] == "no-referrer" and "noindex" in page.headers["X-Robots-Tag"]


@pytest.mark.parametrize("role", ["anonymous", "hr_a"])
def test_an_expired_partner_link_answers_410_on_every_partner_route(app: Flask, world: World, role: str):
    browser = signed_in(app, world, role)
    before = state_of(world.expired)
    for endpoint in PARTNER_ROUTES:
        url, response = partner_request(browser, app, endpoint, world.expired.token)
        assert response.status_code == 410, f"{url}: {response.status_code}"
        assert "This link has expired" in text_of(response)
        assert response.headers["Referrer-Policy"] == "no-referrer"
    assert browser.post(f"/t/{world.expired.token}/cancel", data={"reason": "x"}).status_code == 410
    assert state_of(world.expired) == before


def test_the_partner_link_opens_every_partner_route_without_an_account(app: Flask, world: World):
    browser = new_client(app)
    token = world.tour.token
    for endpoint, (method, _data) in PARTNER_ROUTES.items():
        url, response = partner_request(browser, app, endpoint, token)
        assert response.status_code == (200 if method == "GET" else 303), f"{url}: {response.status_code}"
        assert response.headers["Referrer-Policy"] == "no-referrer"
    cancelled = browser.post(f"/t/{token}/cancel", data={"reason": ""})
    assert cancelled.status_code == 303
    assert state_of(world.tour)[0] == "cancelled"


def test_a_partner_token_opens_only_its_own_tour(app: Flask, world: World):
    browser = new_client(app)
    page = text_of(browser.get(f"/t/{world.started.token}/?lang=en"))
    assert "Secretname" not in page
    assert browser.get(f"/tours/{world.tour.id}").status_code == 302  # the office pages need an account


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True}])
def test_the_token_routes_are_rate_limited_and_the_rest_is_not(app: Flask, world: World):
    """Partner links and calendar feeds are reached by token alone: a scanner trying tokens (or a
    misbehaving calendar) is stopped per address, whether the tokens it tries exist or not. The office's pages
    behind a login have no such limit (Flask-Limiter's per-request hook is skipped for them)."""
    from tourbook.feeds import ensure_feed_token
    from tourbook.partner import PARTNER_LIMIT

    per_minute = int(PARTNER_LIMIT.split("/")[0])
    scanner = new_client(app)
    answers = [scanner.get(f"/t/{world.tour.token if n % 2 else 'guess' + str(n)}/",
                           environ_base={"REMOTE_ADDR": "10.0.0.66"}).status_code for n in range(per_minute)]
    assert set(answers) == {200, 404}
    stopped = scanner.get(f"/t/{world.tour.token}/", environ_base={"REMOTE_ADDR": "10.0.0.66"})
    assert stopped.status_code == 429 and "Too many attempts" in text_of(stopped)
    assert scanner.get(f"/t/{world.tour.token}/", environ_base={"REMOTE_ADDR": "10.0.0.67"}).status_code == 200

    feed = f"/feeds/{ensure_feed_token(world.users['guide_a'])}.ics"
    db.session.commit()
    calendar = new_client(app)
    assert {calendar.get(feed, environ_base={"REMOTE_ADDR": "10.0.0.70"}).status_code for _ in range(120)} == {200}
    assert calendar.get(feed, environ_base={"REMOTE_ADDR": "10.0.0.70"}).status_code == 429

    office = signed_in(app, world, "hr_a")
    assert {office.get("/tours/").status_code for _ in range(130)} == {200}


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True}])
def test_the_limiters_per_request_hook_does_nothing_where_no_limit_applies(app: Flask, world: World, monkeypatch):
    """Flask-Limiter's before_request hook looks for default, application and blueprint limits, which Tourbook
    does not set: its work is skipped (about 0.25 ms a request); the decorated views still check theirs."""
    from flask_limiter import Limiter

    evaluated: list[bool] = []
    original = Limiter._check_request_limit

    def counting(self, callable_name=None, in_middleware=True):  # noqa: ANN001, ANN202
        evaluated.append(in_middleware)
        return original(self, callable_name=callable_name, in_middleware=in_middleware)

    monkeypatch.setattr(Limiter, "_check_request_limit", counting)
    office = signed_in(app, world, "hr_a")
    evaluated.clear()
    assert office.get("/tours/").status_code == 200
    assert evaluated == []
    assert new_client(app).get(f"/t/{world.tour.token}/").status_code == 200
    assert evaluated == [False]  # the partner page's own limit, checked by its decorator
