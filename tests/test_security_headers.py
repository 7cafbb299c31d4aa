"""HTTP security headers, cookies, caching, and the self-hosted htmx."""

from __future__ import annotations

import re

import pytest
from conftest import TEST_PASSWORD
from flask import Flask
from helpers_foundation import (  # noqa: F401 - fixtures
    HTMX,
    english_client,
    english_make_user,
    fresh_request_globals,
    sign_in,
    text_of,
)

from tourbook.models import Role

HTTPS = {"base_url": "https://localhost"}
ONE_YEAR = 365 * 24 * 3600


def csp_of(response) -> dict[str, list[str]]:  # noqa: ANN001
    policy = {}
    for directive in response.headers["Content-Security-Policy"].split(";"):
        name, *values = directive.split()
        policy[name] = values
    return policy


@pytest.fixture
def coordinator(make_city, make_user):  # noqa: ANN001, ANN201
    return make_user(Role.COORDINATOR, city=make_city(slug="siegen"))


def test_pages_forbid_inline_scripts_framing_and_sniffing(client, coordinator):
    pages = [client.get("/login"), client.get("/nowhere")]
    sign_in(client, coordinator.email, TEST_PASSWORD)
    pages += [
        client.get("/c/siegen/"),
        client.get("/account"),
        client.get("/admin/cities"),
        client.post("/account", data={"form": "profile"}, headers=HTMX),
    ]
    for response in pages:
        csp = csp_of(response)
        assert csp["default-src"] == ["'self'"]
        assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no hosts
        assert "'unsafe-inline'" not in csp["style-src"]
        assert csp["frame-ancestors"] == ["'none'"]
        assert csp["object-src"] == ["'none'"]
        assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] in (
            "same-origin",
            "no-referrer",
            "strict-origin-when-cross-origin",
        )
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "Strict-Transport-Security" not in response.headers  # plain http


def test_pages_hold_nothing_the_policy_would_block(client, coordinator):
    """No inline scripts or styles, nothing from other hosts: the CSP would block them and break the page."""
    paths = ["/login", "/password/forgot"]
    sign_in(client, coordinator.email, TEST_PASSWORD)
    paths += ["/c/siegen/", "/c/siegen/guides", "/c/siegen/guides/new", "/c/siegen/companies/new", "/account"]
    for path in paths:
        html = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html and not re.search(r"\sstyle=", html), path
        assert not re.search(r"\son[a-z]+=", html), f"{path}: inline event handler"
        for url in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert not re.match(r"^(https?:)?//", url), f"{path}: {url}"


def test_htmx_is_served_by_the_app_in_a_pinned_version(client):
    html = client.get("/login").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', html)
    htmx = [s for s in scripts if "htmx" in s]
    assert htmx == ["/static/vendor/htmx/htmx-2.0.11.min.js"]
    response = client.get(htmx[0])
    assert response.status_code == 200
    assert response.mimetype in ("text/javascript", "application/javascript")
    assert 'version:"2.0.11"' in response.get_data(as_text=True)
    response.close()


def test_https_responses_carry_hsts(client, coordinator):
    responses = [client.get("/login", **HTTPS), client.get("/nowhere", **HTTPS)]
    # also when the request is refused before the view runs (a form without CSRF token)
    responses.append(client.post("/login", data={}, csrf=False, **HTTPS))
    for response in responses:
        hsts = response.headers["Strict-Transport-Security"]
        max_age = int(re.search(r"max-age=(\d+)", hsts).group(1))
        assert max_age >= ONE_YEAR
        assert "includeSubDomains" in hsts


def session_cookie(app: Flask, response) -> str:  # noqa: ANN001
    name = app.config["SESSION_COOKIE_NAME"]
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "=")]
    assert cookies, "no session cookie set"
    return cookies[-1]


def test_session_cookie_is_httponly_lax_and_secure_on_https(app: Flask, client, coordinator):
    plain = session_cookie(app, client.get("/login"))
    assert "HttpOnly" in plain and "SameSite=Lax" in plain
    assert "Secure" not in plain
    secure_client = app.test_client()
    page = secure_client.get("/login", **HTTPS)
    cookie = session_cookie(app, page)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
    signed_in = secure_client.post(
        "/login",
        data={"email": coordinator.email, "password": TEST_PASSWORD, "csrf_token": token},
        headers={"Referer": "https://localhost/login"},
        **HTTPS,
    )
    assert signed_in.status_code == 303
    cookie = session_cookie(app, signed_in)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_pages_behind_the_login_are_not_stored(client, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    for path in ("/c/siegen/", "/c/siegen/guides", "/account", "/admin/cities", "/c/olpe/"):
        response = client.get(path)
        assert "no-store" in response.headers.get("Cache-Control", ""), path
    fragment = client.get("/c/siegen/guides?q=x", headers=HTMX)
    assert "no-store" in fragment.headers["Cache-Control"]
    # the vendored files stay cacheable
    static = client.get("/static/tourbook.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")
    static.close()


def test_responses_vary_on_hx_request(client, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    full = client.get("/c/siegen/guides")
    fragment = client.get("/c/siegen/guides", headers=HTMX)
    assert "<html" in full.get_data(as_text=True) and "<html" not in fragment.get_data(as_text=True)
    for response in (full, fragment, client.get("/login"), client.post("/account", data={"form": "profile"})):
        vary = [v.strip() for v in ",".join(response.headers.getlist("Vary")).split(",")]
        assert vary.count("HX-Request") == 1, vary


def test_boosted_navigation_and_history_restore_get_full_pages(client, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    for extra in ({"HX-Boosted": "true"}, {"HX-History-Restore-Request": "true"}):
        response = client.get("/c/siegen/guides", headers={**HTMX, **extra})
        assert "<html" in response.get_data(as_text=True)


def test_set_password_pages_are_not_stored(app: Flask, client, make_user):
    from helpers_foundation import password_link_for

    admin = make_user(Role.ADMIN)
    guide = make_user(Role.GUIDE, password_hash=None)
    link = password_link_for(app, admin, guide)
    for response in (client.get(link), client.get("/password/set/not-a-valid-token")):
        assert "no-store" in response.headers["Cache-Control"]


def test_language_switch_link_stays_on_this_site(client):
    """A page reached as //evil.example/x (a 404) must not offer a link to evil.example."""
    response = client.get("/", environ_overrides={"PATH_INFO": "//evil.example/x"})
    assert response.status_code == 404
    links = re.findall(r'href="([^"]*lang=[^"]*)"', response.get_data(as_text=True))
    assert links
    for link in links:
        assert link.startswith("/") and not link.startswith("//"), link
