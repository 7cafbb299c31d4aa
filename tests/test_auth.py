"""Signing in and out, sessions, rate limits, one-time password links, forgot password, password hashing."""

from __future__ import annotations

import re
import socket
import uuid
from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from conftest import TEST_PASSWORD
from helpers_foundation import (  # noqa: F401 - fixtures
    HTMX,
    english_client,
    english_make_user,
    fresh_request_globals,
    is_signed_in,
    link_on_page,
    new_client,
    password_link_for,
    path_of,
    session_id,
    sign_in,
    text_of,
)
from sqlalchemy import func, select, update

from tourbook import create_app
from tourbook.config import Defaults
from tourbook.extensions import db
from tourbook.models import LoginSession, PasswordToken, Role, User, utcnow
from tourbook.security import hash_password

WRONG = "Email or password is wrong, or the account is not active."
NEW_PASSWORD = "a brand new passphrase for tours"


def sessions_of(user: User) -> int:
    db.session.expire_all()
    return db.session.execute(select(func.count()).where(LoginSession.user_id == user.id)).scalar_one()


# --- signing in -----------------------------------------------------------------------------------


def test_guide_signs_in_and_is_known_by_name(client, make_user):
    guide = make_user(Role.GUIDE, name="Greta Gruber", email="greta@example.org")
    response = client.post("/login", data={"email": guide.email, "password": TEST_PASSWORD})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    assert client.get("/", follow_redirects=True).status_code == 200
    account = text_of(client.get("/account"))
    assert "greta@example.org · Guide" in account
    assert 'value="Greta Gruber"' in client.get("/account").get_data(as_text=True)
    assert sessions_of(guide) == 1


def test_the_language_chosen_on_the_sign_in_page_stays_after_signing_in(client, make_user):
    """A German account signing in on the sign-in page switched to English reads on in English; without the
    switch, the account's language applies."""
    guide = make_user(Role.GUIDE, language="de", email="greta@example.org")
    assert '<html lang="en">' in client.get("/login?lang=en").get_data(as_text=True)
    assert client.post("/login", data={"email": guide.email, "password": TEST_PASSWORD}).status_code == 303
    page = client.get("/account")
    assert '<html lang="en">' in page.get_data(as_text=True)

    other = new_client(client.application)
    other.post("/login", data={"email": guide.email, "password": TEST_PASSWORD})
    assert '<html lang="de">' in other.get("/account").get_data(as_text=True)


def test_email_is_matched_without_regard_to_case_and_spaces(client, make_user):
    make_user(Role.GUIDE, email="greta@example.org")
    sign_in(client, "  Greta@Example.ORG ", TEST_PASSWORD)
    assert is_signed_in(client)


@pytest.mark.parametrize(
    "case", ["wrong password", "unknown email", "inactive account", "invited, no password"]
)
def test_refused_sign_in_says_so_and_keeps_the_email(client, make_user, case):
    user = make_user(Role.HR, email="hanna@example.org")
    email, password = "hanna@example.org", TEST_PASSWORD
    if case == "wrong password":
        password = "not the password at all"
    elif case == "unknown email":
        email = "nobody@example.org"
    elif case == "inactive account":
        user.active = False
    else:
        user.password_hash = None
    db.session.commit()
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 422
    page = text_of(response)
    assert WRONG in page
    assert f'value="{email}"' in response.get_data(as_text=True)
    assert password not in response.get_data(as_text=True)
    assert not is_signed_in(client)
    assert sessions_of(user) == 0


def test_htmx_sign_in_answers_with_a_redirect_header_or_the_form_fragment(client, make_user):
    hr = make_user(Role.HR)
    wrong = client.post("/login", data={"email": hr.email, "password": "nope nope nope"}, headers=HTMX)
    assert wrong.status_code == 422
    assert "<html" not in wrong.get_data(as_text=True)
    assert WRONG in text_of(wrong)
    right = client.post(
        "/login?next=/account", data={"email": hr.email, "password": TEST_PASSWORD}, headers=HTMX
    )
    assert right.status_code == 204
    assert right.headers["HX-Redirect"] == "/account"


def test_signed_in_user_opening_the_login_page_goes_to_their_start_page(client, make_user, login):
    login(make_user(Role.GUIDE))
    response = client.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_signing_out_is_not_possible_with_a_link(client, make_user, login):
    login(make_user(Role.GUIDE))
    assert client.get("/logout").status_code == 405
    assert is_signed_in(client)


# --- sessions -------------------------------------------------------------------------------------


def test_signing_in_replaces_a_session_id_planted_before(app, client, make_user):
    """Session fixation: an id the browser carried before signing in is never the signed-in one."""
    guide = make_user(Role.GUIDE)
    client.get("/login")
    serializer = app.session_interface.get_signing_serializer(app)
    planted = "planted-by-someone-else"
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], serializer.dumps({"sid": planted}))
    sign_in(client, guide.email, TEST_PASSWORD)
    first = session_id(app, client)
    assert first and first != planted
    client.post("/logout")
    sign_in(client, guide.email, TEST_PASSWORD)
    second = session_id(app, client)
    assert second and second not in (first, planted)
    # The stored record holds only a hash of the id.
    stored = db.session.execute(
        select(LoginSession.token_hash).where(LoginSession.user_id == guide.id)
    ).scalar_one()
    assert second not in stored


def test_logout_ends_the_session_on_the_server(app, client, make_user, login):
    guide = make_user(Role.GUIDE)
    login(guide)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    response = client.post("/logout", follow_redirects=True)
    assert "You are signed out." in text_of(response)
    assert response.request.path == "/login"
    assert sessions_of(guide) == 0
    # Someone who kept a copy of the cookie is signed out too.
    replay = new_client(app)
    replay.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    assert not is_signed_in(replay)
    assert replay.get("/home").headers["Location"].startswith("/login")


@pytest.mark.parametrize(("switched_to", "account", "message"), [
    ("en", "de", "You are signed out."),
    ("de", "en", "Sie sind abgemeldet."),
], ids=["english", "german"])
def test_signing_out_says_so_in_the_language_the_user_was_reading(client, make_user, switched_to, account, message):
    """Browser and account ask for one language, the switch chose the other: the message, and the sign-in
    page it is on, come in the language of the pages the user was reading."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = account
    user = make_user(Role.GUIDE, language=account)
    client.get(f"/login?lang={switched_to}")
    sign_in(client, user.email, TEST_PASSWORD)
    assert f'<html lang="{switched_to}">' in client.get("/account").get_data(as_text=True)

    response = client.post("/logout", follow_redirects=True)

    assert response.request.path == "/login"
    assert message in text_of(response)
    assert f'<html lang="{switched_to}">' in response.get_data(as_text=True)


def test_signing_out_says_so_in_the_language_of_the_account(client, make_user):
    """No switch: the account's English, not the browser's German, was what the user read."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    user = make_user(Role.GUIDE, language="en")
    sign_in(client, user.email, TEST_PASSWORD)
    assert "You are signed out." in text_of(client.post("/logout", follow_redirects=True))


def test_password_change_signs_out_other_browsers_and_keeps_this_one(app, client, make_user, login):
    guide = make_user(Role.GUIDE)
    login(guide)
    laptop_sid = session_id(app, client)
    phone = new_client(app)
    sign_in(phone, guide.email, TEST_PASSWORD)
    assert is_signed_in(phone)
    assert sessions_of(guide) == 2

    response = client.post(
        "/account",
        data={
            "form": "password",
            "pw-current": TEST_PASSWORD,
            "pw-password": NEW_PASSWORD,
            "pw-confirm": NEW_PASSWORD,
        },
        follow_redirects=True,
    )
    assert response.request.path == "/account"
    assert "Your password is changed. Other devices are signed out." in text_of(response)
    assert is_signed_in(client)
    assert session_id(app, client) != laptop_sid  # a new id for this browser too
    assert not is_signed_in(phone)
    assert sessions_of(guide) == 1
    # the old password is gone, the new one works
    other = new_client(app)
    assert other.post("/login", data={"email": guide.email, "password": TEST_PASSWORD}).status_code == 422
    sign_in(other, guide.email, NEW_PASSWORD)


def test_password_change_needs_the_current_password(client, make_user, login):
    guide = make_user(Role.GUIDE)
    login(guide)
    response = client.post(
        "/account",
        data={
            "form": "password",
            "pw-current": "this is not it at all",
            "pw-password": NEW_PASSWORD,
            "pw-confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 422
    assert "This is not your current password." in text_of(response)
    client.post("/logout")
    sign_in(client, guide.email, TEST_PASSWORD)


@pytest.mark.parametrize("which", ["idle", "absolute"])
def test_session_ends_after_its_lifetime(app, client, make_user, login, which):
    guide = make_user(Role.GUIDE)
    login(guide)
    idle, absolute = app.config["SESSION_IDLE_TIMEOUT"], app.config["SESSION_ABSOLUTE_TIMEOUT"]
    now = utcnow()

    def age(created: timedelta, seen: timedelta) -> None:
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.user_id == guide.id)
            .values(created_at=now - created, last_seen_at=now - seen)
        )
        db.session.commit()

    # Just inside the limit the browser is still signed in (and the visit counts as activity) ...
    if which == "idle":
        age(idle, idle - timedelta(minutes=2))
    else:
        age(absolute - timedelta(minutes=2), timedelta(minutes=5))
    assert is_signed_in(client)
    db.session.expire_all()
    seen = db.session.execute(
        select(LoginSession.last_seen_at).where(LoginSession.user_id == guide.id)
    ).scalar_one()
    assert now - timedelta(seconds=5) < seen <= utcnow()
    # ... just beyond it, it is not, and the record is gone.
    if which == "idle":
        age(idle + timedelta(minutes=1), idle + timedelta(minutes=1))
    else:
        age(absolute + timedelta(minutes=1), timedelta(seconds=10))
    response = client.get("/home")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert sessions_of(guide) == 0


def test_deactivated_account_is_signed_out_at_once(client, make_user, login):
    guide = make_user(Role.GUIDE)
    login(guide)
    guide.active = False
    db.session.commit()
    assert not is_signed_in(client)


# --- rate limits ----------------------------------------------------------------------------------

LIMITED = {
    "RATELIMIT_ENABLED": True,
    "LOGIN_LIMIT_PER_ACCOUNT": "3/10 minutes",
    "LOGIN_LIMIT_PER_ADDRESS": "100/10 minutes",
}


def _attempt(client, email: str, password: str, address: str):  # noqa: ANN001, ANN202
    return client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address, "HTTP_ACCEPT_LANGUAGE": "en"},
    )


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    "app_config",
    [
        pytest.param(LIMITED, id="memory"),
        pytest.param(
            {
                **LIMITED,
                "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379",
                "RATELIMIT_KEY_PREFIX": f"tourbook-test-{uuid.uuid4().hex}",
            },
            id="redis",
            marks=pytest.mark.skipif(not _redis_up(), reason="Redis is not reachable on 127.0.0.1:6379"),
        ),
    ],
)
def test_failed_sign_ins_are_limited_per_account(app, client, make_user):
    target, other = make_user(Role.HR), make_user(Role.HR)
    for n in range(3):  # from ever new addresses: the account's own limit counts
        assert _attempt(client, target.email, "guessing wrong again", f"10.0.0.{n}").status_code == 422
    blocked = _attempt(client, target.email.upper(), TEST_PASSWORD, "10.0.1.1")
    assert blocked.status_code == 429
    assert "Too many attempts" in text_of(blocked)
    assert not is_signed_in(client)
    # other accounts are not affected, from the same addresses
    assert _attempt(client, other.email, TEST_PASSWORD, "10.0.0.1").status_code == 303
    if app.config["RATELIMIT_STORAGE_URI"].startswith("redis"):
        # the counts live in Redis, where every worker process sees them
        import redis

        server = redis.Redis.from_url(app.config["RATELIMIT_STORAGE_URI"])
        keys = server.keys("*" + app.config["RATELIMIT_KEY_PREFIX"] + "*")
        assert any(target.email.encode() in key for key in keys), keys
        server.delete(*keys)


@pytest.mark.parametrize(
    "app_config",
    [
        {
            "RATELIMIT_ENABLED": True,
            "LOGIN_LIMIT_PER_ACCOUNT": "100/10 minutes",
            "LOGIN_LIMIT_PER_ADDRESS": "3/10 minutes",
        }
    ],
)
def test_failed_sign_ins_are_limited_per_address(client, make_user):
    hr = make_user(Role.HR)
    for n in range(3):
        assert _attempt(client, f"guess{n}@example.org", "guessing wrong", "10.0.0.7").status_code == 422
    blocked = _attempt(client, hr.email, TEST_PASSWORD, "10.0.0.7")
    assert blocked.status_code == 429
    assert "Too many attempts" in text_of(blocked)
    assert _attempt(client, hr.email, TEST_PASSWORD, "10.0.0.8").status_code == 303


@pytest.mark.parametrize("app_config", [LIMITED])
def test_successful_sign_ins_do_not_use_up_the_limit(client, make_user):
    hr = make_user(Role.HR)
    for _ in range(5):
        assert _attempt(client, hr.email, TEST_PASSWORD, "10.0.0.9").status_code == 303
        client.post("/logout")


# --- one-time password links ----------------------------------------------------------------------


def test_password_link_works_once(app, client, make_user):
    coordinator = make_user(Role.COORDINATOR)
    guide = make_user(Role.GUIDE, city=coordinator.city, password_hash=None, email="new.guide@example.org")
    link = password_link_for(app, coordinator, guide)
    page = client.get(link)
    assert page.status_code == 200
    assert "Set your password" in text_of(page)
    assert "new.guide@example.org" in text_of(page)
    response = client.post(
        link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}, follow_redirects=True
    )
    assert response.request.path == "/login"
    assert "Your password is set. Please sign in." in text_of(response)
    sign_in(client, guide.email, NEW_PASSWORD)
    client.post("/logout")
    again = client.get(link)
    assert again.status_code == 404
    assert "This link no longer works" in text_of(again)
    reuse = client.post(
        link, data={"password": "yet another passphrase", "confirm": "yet another passphrase"}
    )
    assert reuse.status_code == 404
    sign_in(client, guide.email, NEW_PASSWORD)


def test_password_link_expires(app, client, make_user):
    coordinator = make_user(Role.COORDINATOR)
    guide = make_user(Role.GUIDE, city=coordinator.city, password_hash=None)
    link = password_link_for(app, coordinator, guide)
    token = db.session.execute(select(PasswordToken).where(PasswordToken.user_id == guide.id)).scalar_one()
    lifetime = app.config["PASSWORD_LINK_LIFETIME"]
    assert utcnow() + lifetime - timedelta(minutes=1) < token.expires_at <= utcnow() + lifetime
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    response = client.get(link)
    assert response.status_code == 404
    assert "This link no longer works" in text_of(response)


def test_a_new_password_link_stops_the_earlier_ones(app, client, make_user):
    coordinator = make_user(Role.COORDINATOR)
    guide = make_user(Role.GUIDE, city=coordinator.city, password_hash=None)
    first = password_link_for(app, coordinator, guide)
    second = password_link_for(app, coordinator, guide, purpose="reset")
    assert first != second
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200


def test_password_link_of_a_deactivated_account_does_not_work(app, client, make_user):
    coordinator = make_user(Role.COORDINATOR)
    guide = make_user(Role.GUIDE, city=coordinator.city, password_hash=None)
    link = password_link_for(app, coordinator, guide)
    guide.active = False
    db.session.commit()
    assert client.get(link).status_code == 404


def test_password_link_token_is_long_and_random(app, make_user):
    coordinator = make_user(Role.COORDINATOR)
    guide = make_user(Role.GUIDE, city=coordinator.city)
    tokens = {password_link_for(app, coordinator, guide).rsplit("/", 1)[1] for _ in range(5)}
    assert len(tokens) == 5
    assert all(len(t) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", t) for t in tokens)  # ≥ 256 bits


def test_setting_a_password_ends_the_accounts_sessions(app, client, make_user, login):
    coordinator = make_user(Role.COORDINATOR)
    guide = make_user(Role.GUIDE, city=coordinator.city)
    login(guide)
    link = password_link_for(app, coordinator, guide, purpose="reset")
    other = new_client(app)
    other.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert not is_signed_in(client)


def test_set_password_form_explains_what_is_wrong(app, client, make_user):
    coordinator = make_user(Role.COORDINATOR)
    guide = make_user(Role.GUIDE, city=coordinator.city, password_hash=None)
    link = password_link_for(app, coordinator, guide)
    short = client.post(link, data={"password": "too short", "confirm": "too short"})
    assert short.status_code == 422
    assert "Between 12 and 200 characters, please." in text_of(short)
    differ = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD + "!"})
    assert differ.status_code == 422
    assert "The two passwords differ." in text_of(differ)
    # the link still works after mistakes
    assert client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 303


# --- forgot password ------------------------------------------------------------------------------


def test_forgot_password_answers_the_same_for_unknown_emails(client, make_user):
    guide = make_user(Role.GUIDE)
    known = client.post("/password/forgot", data={"email": guide.email})
    unknown = client.post("/password/forgot", data={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    assert "Request received" in text_of(known)
    assert text_of(known) == text_of(unknown)
    db.session.refresh(guide)
    assert guide.reset_requested_at is not None


def test_forgot_password_by_htmx_swaps_in_only_the_answer(client, make_user):
    response = client.post("/password/forgot", data={"email": "nobody@example.org"}, headers=HTMX)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<header" not in body
    assert "Request received" in text_of(response)


def test_coordinator_sees_the_request_and_gives_a_new_link(app, client, make_user, login):
    coordinator = make_user(Role.COORDINATOR)
    guide = make_user(Role.GUIDE, city=coordinator.city, name="Vergessene Vera")
    other_city_guide = make_user(Role.GUIDE, name="Fremde Frieda")
    anonymous = new_client(app)
    for person in (guide, other_city_guide):
        anonymous.post("/password/forgot", data={"email": person.email})

    login(coordinator)
    home = client.get(f"/c/{coordinator.city.slug}/")
    assert "Asked for a new password" in text_of(home)
    assert "Vergessene Vera" in text_of(home)
    assert "Fremde Frieda" not in text_of(home)

    response = client.post(f"/c/{coordinator.city.slug}/people/{guide.id}/link")
    assert response.status_code == 200
    link = path_of(link_on_page(response))
    assert "Asked for a new password" not in text_of(client.get(f"/c/{coordinator.city.slug}/"))

    anonymous.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    sign_in(anonymous, guide.email, NEW_PASSWORD)


# --- where to go after signing in -----------------------------------------------------------------


def test_login_wall_brings_the_user_back_to_the_page_they_wanted(client, make_user):
    guide = make_user(Role.GUIDE)
    wall = client.get("/account?tab=1")
    assert wall.status_code == 302
    login_url = wall.headers["Location"]
    assert login_url.startswith("/login?next=")
    page = client.get(login_url)
    assert "Please sign in to continue." in text_of(page)
    response = client.post(login_url, data={"email": guide.email, "password": TEST_PASSWORD})
    assert response.headers["Location"] == "/account?tab=1"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "https://evil.example/",
        "http:evil.example",
        "javascript:alert(1)",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\r\nSet-Cookie: x=1",
        "evil.example",
        "",
    ],
)
def test_sign_in_never_redirects_to_another_site(client, make_user, target):
    guide = make_user(Role.GUIDE)
    response = client.post(
        "/login", query_string={"next": target}, data={"email": guide.email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_htmx_request_to_a_page_behind_the_login_gets_a_redirect_header(client):
    response = client.get("/account", headers=HTMX)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/account"
    assert response.get_data(as_text=True) == ""


# --- password hashing -----------------------------------------------------------------------------


def _argon2_parameters(hashed: str) -> dict[str, int]:
    match = re.match(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$", hashed)
    assert match, hashed
    return dict(zip("mtp", map(int, match.groups()), strict=True))


def test_production_hashes_passwords_with_argon2id_at_owasp_strength(tmp_path):
    # OWASP Password Storage Cheat Sheet: argon2id with at least 19 MiB memory and 2 iterations
    # (or more memory and fewer iterations: 46 MiB/1, 12 MiB/3, 9 MiB/4, 7 MiB/5), parallelism 1 or more.
    owasp = [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)]
    m, t = Defaults.ARGON2_MEMORY_COST, Defaults.ARGON2_TIME_COST
    assert any(m >= om and t >= ot for om, ot in owasp)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x" * 32,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}",
        }
    )
    with app.app_context():
        hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert _argon2_parameters(hashed) == {"m": m, "t": t, "p": Defaults.ARGON2_PARALLELISM}
    assert "correct horse" not in hashed


@pytest.mark.parametrize(
    "app_config",
    [
        {
            key: getattr(Defaults, key)
            for key in ("ARGON2_TIME_COST", "ARGON2_MEMORY_COST", "ARGON2_PARALLELISM")
        }
    ],
)
def test_weaker_hashes_are_upgraded_when_the_user_signs_in(app, client, make_user):
    weak_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(TEST_PASSWORD)
    assert _argon2_parameters(weak_hash)["m"] < Defaults.ARGON2_MEMORY_COST
    user = make_user(Role.GUIDE, password_hash=weak_hash)
    sign_in(client, user.email, TEST_PASSWORD)
    db.session.refresh(user)
    assert _argon2_parameters(user.password_hash)["m"] == Defaults.ARGON2_MEMORY_COST


def test_signing_in_on_sqlite_holds_no_write_lock_while_the_password_is_checked(app, client, make_user, backend,
                                                                               monkeypatch):
    """Checking a password takes up to a second: others must be able to write meanwhile."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL locks rows")
    import sqlite3

    from tourbook import auth

    user = make_user()
    seen: list[str] = []
    real = auth.check_password

    def probing(candidate, password):  # noqa: ANN001, ANN202
        other = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            seen.append("free")
        except sqlite3.OperationalError as error:
            seen.append(str(error))
        finally:
            other.close()
        return real(candidate, password)

    monkeypatch.setattr(auth, "check_password", probing)
    assert client.post("/login", data={"email": user.email, "password": "wrong password"}).status_code == 422
    assert client.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 303
    assert seen == ["free", "free"]


def someone_writes_after_the_read(monkeypatch, other_id: int) -> None:  # noqa: ANN001
    """SQLite: when the request looks up its sign-in, it has read; then another connection writes."""
    import sqlite3

    from tourbook import security

    real = security.token_hash

    def hash_then_another_writes(token):  # noqa: ANN001, ANN202
        hashed = real(token)
        security.db.session.execute(select(func.count()).select_from(User))  # this request has read
        with sqlite3.connect(db.engine.url.database, timeout=5) as other:
            other.execute("UPDATE users SET name = name || '.' WHERE id = ?", (other_id,))  # another writes
        return hashed

    monkeypatch.setattr(security, "token_hash", hash_then_another_writes)


def test_a_page_seen_after_a_minute_while_another_request_writes_is_shown_on_sqlite(app, make_user, backend,
                                                                                    monkeypatch):
    """The visit's time is written in a transaction of its own: after a read, SQLite refuses a write at once
    when another connection wrote meanwhile (it was a 500)."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL locks rows")


    user, other_user = make_user(), make_user()
    browser = app.test_client()
    assert browser.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 303
    db.session.execute(update(LoginSession).values(last_seen_at=utcnow() - timedelta(minutes=2)))
    db.session.commit()
    someone_writes_after_the_read(monkeypatch, other_user.id)
    assert browser.get("/account").status_code == 200
    monkeypatch.undo()
    db.session.expire_all()
    assert db.session.execute(select(LoginSession.last_seen_at)).scalar_one() > utcnow() - timedelta(minutes=1)


@pytest.mark.parametrize("timeout", ["idle", "absolute"])
def test_a_sign_in_that_timed_out_while_another_request_writes_leads_to_the_login_on_sqlite(
    app, make_user, backend, monkeypatch, timeout
):
    """The timed-out sign-in is deleted in a transaction of its own: after a read, SQLite refuses a write at
    once when another connection wrote meanwhile (it was a 500)."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL locks rows")


    user, other_id = make_user(), make_user().id
    browser = new_client(app)
    assert browser.post("/login", data={"email": user.email, "password": TEST_PASSWORD}).status_code == 303
    column = LoginSession.last_seen_at if timeout == "idle" else LoginSession.created_at
    db.session.execute(update(LoginSession).values({column: utcnow() - timedelta(days=1)}))
    db.session.commit()
    someone_writes_after_the_read(monkeypatch, other_id)
    response = browser.get("/account")
    monkeypatch.undo()

    assert response.status_code == 302 and path_of(response.headers["Location"]).startswith("/login")
    assert "Please sign in to continue." in text_of(browser.get(response.headers["Location"]))
    assert sessions_of(user) == 0
