"""Every role against every route of the foundation's blueprints (main, auth, admin, accounts).

The table says what each role gets for each route, opened with the objects of city A: a page (200), a
redirect to a given place, the login wall, 403 (the role may never do this) or 404 (the object is not
theirs). A route that is not in the table fails `test_every_route_is_in_the_table`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from conftest import TEST_PASSWORD
from flask import Flask, url_for
from helpers_foundation import (  # noqa: F401 - fixtures
    english_client,
    english_make_user,
    fresh_request_globals,
    new_client,
    password_link_for,
    sign_in,
    text_of,
)

from tourbook.models import Role

BLUEPRINTS = ("main", "auth", "admin", "accounts")
ROLES = ("anonymous", "admin", "coordinator_a", "coordinator_b", "guide", "hr")

LOGIN = "login"  # redirected to the sign-in page


def to(path: str) -> tuple[str, str]:
    """Redirected to ``path`` ({a} and {b} stand for the cities' slugs)."""
    return ("redirect", path)


# Who may open the pages of a city: the admin, and its own coordinator; another city's coordinator
# does not learn that the object exists; guides and HR staff may never.
CITY_PAGE = dict(anonymous=LOGIN, admin=200, coordinator_a=200, coordinator_b=404, guide=403, hr=403)
ADMIN_ONLY = dict(anonymous=LOGIN, admin=200, coordinator_a=403, coordinator_b=403, guide=403, hr=403)
ADMIN_IN_CITY = dict(ADMIN_ONLY)
EVERYONE = dict.fromkeys(ROLES, 200)
START_PAGES = dict(
    admin=to("/admin/cities"),
    coordinator_a=to("/c/{a}/"),
    coordinator_b=to("/c/{b}/"),
    guide=to("/tours/"),
    hr=to("/tours/"),
)
SIGNED_IN = dict(EVERYONE, anonymous=LOGIN)

TABLE: dict[str, dict[str, object]] = {
    "main.index": dict(START_PAGES, anonymous=to("/login")),
    "main.home": dict(START_PAGES, anonymous=LOGIN),
    "main.healthz": EVERYONE,
    "auth.login": dict(dict.fromkeys(ROLES, to("/")), anonymous=200),
    "auth.logout": dict.fromkeys(ROLES, to("/login")),
    "auth.set_password": EVERYONE,
    "auth.forgot_password": EVERYONE,
    "auth.account": SIGNED_IN,
    "admin.cities": ADMIN_ONLY,
    "admin.new_city": ADMIN_ONLY,
    "admin.edit_city": ADMIN_ONLY,
    "accounts.city_home": CITY_PAGE,
    "accounts.guides": CITY_PAGE,
    "accounts.new_guide": CITY_PAGE,
    "accounts.coordinators": ADMIN_IN_CITY,
    "accounts.new_coordinator": ADMIN_IN_CITY,
    "accounts.person": CITY_PAGE,
    "accounts.password_link": CITY_PAGE,
    "accounts.companies": CITY_PAGE,
    "accounts.new_company": CITY_PAGE,
    "accounts.company": CITY_PAGE,
    "accounts.new_hr": CITY_PAGE,
    "accounts.enrol": dict(ADMIN_IN_CITY, admin=to("/c/{a}/companies/{company_id}")),
}


@dataclass
class World:
    a: object
    b: object
    company_a: object
    company_b: object
    guide_a: object
    guide_b: object
    hr_a: object
    hr_b: object
    coordinator_a: object
    coordinator_b: object
    users: dict
    token: str


@pytest.fixture
def world(app: Flask, make_city, make_company, make_user) -> World:
    a, b = make_city(name="Siegen", slug="siegen"), make_city(name="Olpe", slug="olpe")
    company_a, company_b = make_company(cities=[a]), make_company(cities=[b])
    users = {
        "admin": make_user(Role.ADMIN),
        "coordinator_a": make_user(Role.COORDINATOR, city=a),
        "coordinator_b": make_user(Role.COORDINATOR, city=b),
        "guide": make_user(Role.GUIDE, city=a),
        "hr": make_user(Role.HR, company=company_a),
    }
    guide_a = make_user(Role.GUIDE, city=a, name="Target Guide A")
    link = password_link_for(app, users["admin"], guide_a)
    return World(
        a=a,
        b=b,
        company_a=company_a,
        company_b=company_b,
        guide_a=guide_a,
        guide_b=make_user(Role.GUIDE, city=b),
        hr_a=make_user(Role.HR, company=company_a),
        hr_b=make_user(Role.HR, company=company_b),
        coordinator_a=users["coordinator_a"],
        coordinator_b=users["coordinator_b"],
        users=users,
        token=link.rsplit("/", 1)[1],
    )


def foundation_rules(app: Flask) -> list:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint.split(".")[0] in BLUEPRINTS]


def method_of(rule) -> str:  # noqa: ANN001
    return "GET" if "GET" in rule.methods else "POST"


def url_of(app: Flask, rule, world: World, **override: object) -> str:  # noqa: ANN001
    values = {
        "slug": world.a.slug,
        "company_id": world.company_a.id,
        "user_id": world.guide_a.id,
        "token": world.token,
        **override,
    }
    with app.test_request_context():
        return url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})


def browser_of(app: Flask, client, world: World, role: str):  # noqa: ANN001, ANN201
    if role != "anonymous":
        sign_in(client, world.users[role].email, TEST_PASSWORD)
    return client


def check(response, expected: object, world: World, what: str, hidden: tuple = ()) -> None:  # noqa: ANN001
    """Compare a response with the table; ``hidden``: names a 404 page must not reveal."""
    body = text_of(response)
    assert response.status_code != 500, what
    if expected == LOGIN:
        assert response.status_code == 302, what
        assert response.headers["Location"].startswith("/login"), what
    elif isinstance(expected, tuple):
        assert response.status_code in (302, 303), what
        place = expected[1].format(a=world.a.slug, b=world.b.slug, company_id=world.company_a.id)
        assert response.headers["Location"] == place, what
    else:
        assert response.status_code == expected, what
        if expected == 403:
            assert "Not allowed" in body, what
        elif expected == 404:
            assert "Page not found" in body, what
            for secret in hidden:
                assert secret not in body, what


def test_every_route_is_in_the_table(app: Flask):
    endpoints = {rule.endpoint for rule in foundation_rules(app)}
    assert endpoints - TABLE.keys() == set(), "new routes: add them to the access table"
    assert TABLE.keys() - endpoints == set(), "routes in the table that no longer exist"
    for expected in TABLE.values():
        assert set(expected) == set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_role_gets_what_the_table_says_for_every_route(app: Flask, client, world: World, role: str):
    browser = browser_of(app, client, world, role)
    # A new password link ends the one in the table's URL, and signing out ends the test.
    last = {"accounts.password_link": 1, "auth.logout": 2}
    hidden = (world.guide_a.name, world.guide_a.email, world.company_a.name, world.a.name)
    for rule in sorted(foundation_rules(app), key=lambda r: last.get(r.endpoint, 0)):
        method = method_of(rule)
        url = url_of(app, rule, world)
        response = browser.post(url, data={}) if method == "POST" else browser.get(url)
        check(response, TABLE[rule.endpoint][role], world, f"{role} {method} {url}", hidden)


@pytest.mark.parametrize("role", ["anonymous", "coordinator_b", "guide", "hr"])
def test_forms_are_protected_like_their_pages(app: Flask, client, world: World, role: str):
    """Posting to a page that shows a form is refused the same way as opening it."""
    browser = browser_of(app, client, world, role)
    for rule in foundation_rules(app):
        if not {"GET", "POST"} <= rule.methods:
            continue
        expected = TABLE[rule.endpoint][role]
        if expected == 200 or isinstance(expected, tuple):
            continue
        url = url_of(app, rule, world)
        response = browser.post(url, data={"name": "Intruder", "email": "intruder@example.org"})
        check(response, expected, world, f"{role} POST {url}", (world.guide_a.name, world.company_a.name))
        assert "Intruder" not in text_of(response)


CROSS_CITY = [
    ("accounts.company", "company_b"),
    ("accounts.new_hr", "company_b"),
    ("accounts.person", "guide_b"),
    ("accounts.person", "hr_b"),
    ("accounts.person", "coordinator_b"),
    ("accounts.password_link", "guide_b"),
    ("accounts.password_link", "hr_b"),
]


@pytest.mark.parametrize("role", ["admin", "coordinator_a"])
def test_objects_of_another_city_are_not_found_through_ones_own_city(
    app: Flask, client, world: World, role: str
):
    browser = browser_of(app, client, world, role)
    rules = {rule.endpoint: rule for rule in foundation_rules(app)}
    for endpoint, name in CROSS_CITY:
        rule, obj = rules[endpoint], getattr(world, name)
        key = "company_id" if name.startswith("company") else "user_id"
        url = url_of(app, rule, world, **{key: obj.id})
        response = browser.post(url, data={}) if method_of(rule) == "POST" else browser.get(url)
        check(response, 404, world, f"{role} {url}", (obj.name,))


@pytest.mark.parametrize(
    ("target", "admin", "coordinator_a"),
    [("guide_a", 200, 200), ("hr_a", 200, 200), ("coordinator_a", 200, 404), ("admin", 404, 404)],
)
def test_who_manages_which_account(app: Flask, world: World, target: str, admin: int, coordinator_a: int):
    """Coordinators manage their city's guides and HR staff; only the admin manages coordinators;
    nobody edits the admin's account through a city."""
    person = world.users["admin"] if target == "admin" else getattr(world, target)
    for role, expected in (("admin", admin), ("coordinator_a", coordinator_a)):
        browser = browser_of(app, new_client(app), world, role)
        response = browser.get(f"/c/{world.a.slug}/people/{person.id}")
        assert response.status_code == expected, (role, target)
        if expected == 200:
            assert person.email in response.get_data(as_text=True)


def test_an_hr_account_of_a_company_enrolled_in_both_cities_is_managed_by_both(
    app: Flask, world: World, make_user
):
    world.company_b.cities.append(world.a)
    from tourbook.extensions import db

    db.session.commit()
    for role, slug in (("coordinator_a", world.a.slug), ("coordinator_b", world.b.slug)):
        browser = browser_of(app, new_client(app), world, role)
        assert browser.get(f"/c/{slug}/people/{world.hr_b.id}").status_code == 200
        assert browser.get(f"/c/{slug}/companies/{world.company_b.id}").status_code == 200
