"""Every state-changing route refuses a request without a valid CSRF token; htmx sends it in a header."""

from __future__ import annotations

import re

import pytest
from conftest import TEST_PASSWORD
from flask import Flask, url_for
from helpers_foundation import (  # noqa: F401 - fixtures
    HTMX,
    english_client,
    english_make_user,
    fresh_request_globals,
    new_client,
    password_link_for,
    sign_in,
    snapshot,
    text_of,
)
from sqlalchemy import select

from tourbook.extensions import db
from tourbook.models import Company, Role

EXPIRED = "The form has expired"

# What a browser would plausibly send to any of the forms: enough that, with a token, the requests would
# change something.
FORM = {
    "email": "new.person@example.org",
    "password": "a long enough passphrase",
    "confirm": "a long enough passphrase",
    "name": "Neue Person",
    "language": "en",
    "active": "y",
    "slug": "neustadt",
    "timezone": "Europe/Berlin",
    "address": "Neue Straße 1, 57072 Siegen",
    "city": "olpe",
    "form": "profile",
    "profile-name": "Umbenannt",
    "profile-language": "en",
    "reason": "no time",
}


@pytest.fixture
def admin_browser(app: Flask, client, make_user, make_city, make_company):  # noqa: ANN001, ANN201
    city = make_city(name="Siegen", slug="siegen")
    make_city(name="Olpe", slug="olpe")
    company = make_company(cities=[city])
    admin = make_user(Role.ADMIN)
    guide = make_user(Role.GUIDE, city=city)
    token = password_link_for(app, admin, guide).rsplit("/", 1)[1]
    sign_in(client, admin.email, TEST_PASSWORD)
    client.values = {
        "slug": city.slug,
        "company_id": company.id,
        "user_id": guide.id,
        "guide_id": guide.id,
        "token": token,
    }
    return client


def post_routes(app: Flask, values: dict) -> list[str]:
    """Every URL of the application that accepts POST, its parameters filled with plausible values."""
    urls = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if "POST" not in rule.methods:
                continue
            args = {}
            for name in rule.arguments:
                converter = type(rule._converters[name]).__name__
                if name in values:
                    args[name] = values[name]
                elif converter == "IntegerConverter":
                    args[name] = 1
                elif name == "day":
                    args[name] = "2030-01-07"
                else:
                    args[name] = "x"
            urls.append(url_for(rule.endpoint, **args))
    return sorted(urls)


def test_there_are_state_changing_routes_to_check(app: Flask):
    urls = post_routes(app, {"slug": "siegen", "token": "t"})
    for expected in ("/login", "/logout", "/account", "/admin/cities/new", "/c/siegen/companies/new"):
        assert expected in urls


KEPT = "It was not saved yet; what you entered is kept: send it again."


def signing_in(url: str) -> bool:
    """Signing in and out and the password forms: what they ask is simply asked again."""
    return url in ("/login", "/logout", "/account", "/password/forgot") or url.startswith("/password/set/")


def test_every_state_changing_route_refuses_a_request_without_token(app: Flask, admin_browser):
    before = snapshot(app)
    for url in post_routes(app, admin_browser.values):
        response = admin_browser.post(url, data=FORM, csrf=False, headers={"Sec-Fetch-Site": "same-origin"})
        assert response.status_code == 400, url
        assert EXPIRED in text_of(response), url
        if signing_in(url):
            assert "Please go back, reload the page and send it again." in text_of(response), url
        else:  # the form comes back to be sent again, with what was typed and a valid token
            assert KEPT in text_of(response), url
            page = response.get_data(as_text=True)
            assert f'<form method="post" action="{url}"' in page, url
            assert '<input type="hidden" name="email" value="new.person@example.org">' in page, url
    assert snapshot(app) == before
    # still signed in: the refused logout did nothing
    assert admin_browser.get("/account").status_code == 200


def test_a_token_of_another_session_is_refused(app: Flask, admin_browser):
    stranger_token = new_client(app).csrf_token()
    before = snapshot(app)
    for url in post_routes(app, admin_browser.values):
        as_field = admin_browser.post(url, data={**FORM, "csrf_token": stranger_token})
        assert as_field.status_code == 400, url
        as_header = admin_browser.post(
            url, data=FORM, csrf=False, headers={**HTMX, "X-CSRFToken": stranger_token, "Sec-Fetch-Site": "same-origin"}
        )
        if signing_in(url):
            assert as_header.status_code == 400, url
        else:  # htmx swaps no 400: the page to send it again replaces the whole page
            assert as_header.status_code == 200 and as_header.headers["HX-Retarget"] == "body", url
            assert KEPT in text_of(as_header), url
    assert snapshot(app) == before


def test_sign_in_without_token_does_not_sign_in(app: Flask, client, make_user):
    hr = make_user(Role.HR)
    response = client.post("/login", data={"email": hr.email, "password": TEST_PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert EXPIRED in text_of(response)
    assert client.get("/account").status_code == 302


def test_htmx_request_with_the_token_in_its_header_is_accepted(app: Flask, admin_browser):
    page = admin_browser.get("/c/siegen/companies/new").get_data(as_text=True)
    header = re.search(r"""<body hx-headers='\{"X-CSRFToken": "([^"]+)"\}'>""", page)
    assert header, "the token travels in a header set once on <body>"
    response = admin_browser.post(
        "/c/siegen/companies/new",
        data={"name": "Header GmbH", "address": "Weg 1, 57072 Siegen"},
        csrf=False,
        headers={**HTMX, "X-CSRFToken": header.group(1)},
    )
    assert response.status_code == 204
    company = db.session.execute(select(Company).where(Company.name == "Header GmbH")).scalar_one()
    assert response.headers["HX-Redirect"] == f"/c/siegen/companies/{company.id}"


def test_every_form_carries_the_token_as_a_field_too(admin_browser):
    """Without JavaScript the header is not sent: the forms post the token themselves."""
    for path in (
        "/c/siegen/companies/new",
        "/c/siegen/guides/new",
        "/admin/cities/new",
        "/account",
        f"/c/siegen/people/{admin_browser.values['user_id']}",
    ):
        page = admin_browser.get(path).get_data(as_text=True)
        forms = re.findall(r'<form method="post".*?</form>', page, re.S)
        assert forms, path
        for form in forms:
            assert re.search(r'<input[^>]*name="([a-z]+-)?csrf_token"[^>]*value="[^"]+"', form), (
                path,
                form[:200],
            )
