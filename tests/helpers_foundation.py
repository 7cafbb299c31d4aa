"""Shared helpers for the foundation's tests (accounts, roles, cities, companies, security).

Import the fixtures into a test module: ``from helpers_foundation import english_client, english_make_user,
fresh_request_globals  # noqa: F401``. They override conftest's ``client`` and ``make_user`` there."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import pytest
from flask import Flask, g, request_started
from sqlalchemy import select

from tourbook.extensions import db

EN = {"Accept-Language": "en"}
HTMX = {"HX-Request": "true", "Accept-Language": "en"}


@pytest.fixture(autouse=True)
def fresh_request_globals(app: Flask) -> Iterator[None]:
    """Give every request of the test client its own ``flask.g``, as a real server does.

    The ``app`` fixture keeps one application context pushed for the whole test, and Flask reuses it for
    the test client's requests, so ``g`` would be shared between them: Flask-Login would keep the first
    request's user (a second browser or a replayed cookie would be signed in as someone else), Flask-WTF
    its CSRF token, Flask-Babel its locale."""

    def clear(sender: Flask, **extra: object) -> None:
        g.__dict__.clear()

    request_started.connect(clear, app)
    yield
    request_started.disconnect(clear, app)


def text_of(response) -> str:  # noqa: ANN001
    """The page's text as a user reads it: tags removed, entities decoded, whitespace collapsed."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def field_error(response, field_id: str) -> str:  # noqa: ANN001
    """The inline error shown under a form field ('' when there is none)."""
    html = response.get_data(as_text=True)
    match = re.search(rf'<p class="kern-error" id="{re.escape(field_id)}-error">(.*?)</p>', html, re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split()) if match else ""


def input_value(response, field_id: str) -> str | None:  # noqa: ANN001
    """The value a form field shows again (input value or textarea content), None when absent."""
    html = response.get_data(as_text=True)
    tag = re.search(rf'<(input|textarea)\b[^>]*\bid="{re.escape(field_id)}"[^>]*>', html)
    if tag is None:
        return None
    if tag.group(1) == "textarea":
        body = re.search(rf'id="{re.escape(field_id)}"[^>]*>(.*?)</textarea>', html, re.S)
        return unescape(body.group(1)).removeprefix("\r\n").removeprefix("\n") if body else None
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return unescape(value.group(1)) if value else ""


def link_on_page(response) -> str:  # noqa: ANN001
    """The one-time password link shown after creating an account or asking for a new link."""
    match = re.search(r'id="password-link"[^>]*value="([^"]+)"', response.get_data(as_text=True))
    if match is None:
        match = re.search(r'value="([^"]+)"[^>]*id="password-link"', response.get_data(as_text=True))
    assert match, "no password link on the page"
    return unescape(match.group(1))


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def snapshot(app: Flask) -> dict[str, list[tuple]]:
    """Every row of every table, to show that a refused request changed nothing (except when a signed-in
    browser was last seen, which any page view may note)."""
    db.session.expire_all()
    rows: dict[str, list[tuple]] = {}
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if c.name != "last_seen_at"]
        rows[table.name] = sorted(
            (tuple(map(repr, row)) for row in db.session.execute(select(*columns)).all()), key=repr
        )
    db.session.rollback()
    return rows


@pytest.fixture(name="client")
def english_client(client):  # noqa: ANN001, ANN201 - overrides conftest's client: an English-speaking browser
    """The test client with ``Accept-Language: en`` (German texts are not translated yet)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return client


@pytest.fixture(name="make_user")
def english_make_user(make_user):  # noqa: ANN001, ANN201 - overrides conftest's make_user: English accounts
    """conftest's factory, but accounts prefer English unless told otherwise."""

    def make(role: str = "hr", **kwargs):  # noqa: ANN003, ANN202
        kwargs.setdefault("language", "en")
        return make_user(role, **kwargs)

    return make


def new_client(app: Flask):  # noqa: ANN201
    """A second browser."""
    other = app.test_client()
    other.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return other


def sign_in(client, email: str, password: str):  # noqa: ANN001, ANN201
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 303, text_of(response)[:500]
    return response


def session_id(app: Flask, client) -> str | None:  # noqa: ANN001
    """The session id the browser's signed cookie carries (None when it has none)."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if cookie is None:
        return None
    return app.session_interface.get_signing_serializer(app).loads(cookie.value).get("sid")


def is_signed_in(client) -> bool:  # noqa: ANN001
    response = client.get("/account")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    return False


def password_link_for(app: Flask, actor, user, purpose: str = "invite") -> str:  # noqa: ANN001
    """Create a one-time password link as ``actor`` would; returns its path."""
    from tourbook.auth import create_password_link

    with app.test_request_context():
        link = create_password_link(actor, user, purpose)
        db.session.commit()
    return path_of(link)
