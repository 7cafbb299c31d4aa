"""Passwords, signed-in sessions, one-time tokens and the HTTP security headers."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app, g, has_request_context, request, session
from flask_login import current_user
from sqlalchemy import bindparam, delete, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import joinedload

from .database import end_transaction_keeping_what_was_read
from .extensions import db, login_manager
from .models import Company, LoginSession, User, utcnow

TOKEN_BYTES = 32  # 256 bits


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["ARGON2_TIME_COST"],
        memory_cost=cfg["ARGON2_MEMORY_COST"],
        parallelism=cfg["ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    return _hasher().hash(password)


# A hash to verify against when the account does not exist, so timing does not tell.
_DUMMY_HASH: dict[str, str] = {}


def check_password(user: User | None, password: str) -> bool:
    hasher = _hasher()
    if user is None or not user.password_hash:
        key = f"{hasher.time_cost}:{hasher.memory_cost}:{hasher.parallelism}"
        if key not in _DUMMY_HASH:
            _DUMMY_HASH[key] = hasher.hash("dummy-password")
        with contextlib.suppress(VerificationError):
            hasher.verify(_DUMMY_HASH[key], password)
        return False
    try:
        hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return True


# --- signed-in sessions ---------------------------------------------------------------------------


def start_login_session(user: User) -> None:
    """Sign the browser in with a fresh session id (the old cookie content is dropped, except a language
    chosen with the switch: who chose English on the sign-in page reads on in English)."""
    from flask_login import login_user

    chosen = session.get("lang")
    session.clear()
    # Flask-WTF keeps this request's token in g: a page rendered after signing in (send the kept form again)
    # needs one of the new session.
    g.pop(current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)
    if chosen:
        session["lang"] = chosen
    token = new_token()
    db.session.add(LoginSession(token_hash=token_hash(token), user_id=user.id))
    session["sid"] = token
    session.permanent = True
    login_user(user)


def end_login_session() -> None:
    """Sign the browser out; a language chosen with the switch stays, as it does when signing in."""
    from flask_login import logout_user

    token = session.get("sid")
    if token:
        db.session.execute(delete(LoginSession).where(LoginSession.token_hash == token_hash(token)))
    chosen = session.get("lang")
    logout_user()
    session.clear()
    if chosen:
        session["lang"] = chosen


def end_other_sessions(user: User) -> None:
    """After a password change: every other browser of this user is signed out."""
    keep = token_hash(session.get("sid", ""))
    db.session.execute(
        delete(LoginSession).where(LoginSession.user_id == user.id, LoginSession.token_hash != keep)
    )


def end_all_sessions(user: User) -> None:
    db.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))


# The signed-in user of every request, with their sign-in, company (and its cities) and city in one query:
# the pages of every role read them, and each lazy load would be a round trip of its own.
_SIGNED_IN = (
    select(User, LoginSession.id, LoginSession.created_at, LoginSession.last_seen_at)
    .join(LoginSession, LoginSession.user_id == User.id)
    .options(joinedload(User.company).joinedload(Company.cities), joinedload(User.city))
    .where(LoginSession.token_hash == bindparam("token_hash"))
)


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    token = session.get("sid")
    if not token:
        return None
    row = db.session.execute(_SIGNED_IN, {"token_hash": token_hash(token)}).unique().first()
    if row is None or str(row[0].id) != user_id:
        return None
    user, session_id, created_at, last_seen_at = row
    now = utcnow()
    cfg = current_app.config
    if now - last_seen_at > cfg["SESSION_IDLE_TIMEOUT"] or now - created_at > cfg["SESSION_ABSOLUTE_TIMEOUT"]:
        if db.session.get_bind().dialect.name == "sqlite":
            end_transaction_keeping_what_was_read()  # the write begins a transaction: see last_seen_at below
        db.session.execute(delete(LoginSession).where(LoginSession.id == session_id))
        db.session.commit()
        session.clear()
        # The sign-in page that follows speaks the language the person was reading (a form they sent is kept
        # there: a switch of language would lose it).
        session["lang"] = g.user_language = user.language
        return None
    if not user.active:
        return None
    g.user_language = user.language  # for the locale, without loading the user again after a commit
    if now - last_seen_at > timedelta(minutes=1):  # keep writes rare
        if db.session.get_bind().dialect.name == "sqlite":
            # A write after a read in one transaction fails at once on SQLite when another connection wrote
            # in between; a transaction that begins with the write waits for the lock (busy timeout).
            end_transaction_keeping_what_was_read()
        db.session.execute(update(LoginSession).where(LoginSession.id == session_id).values(last_seen_at=now))
        db.session.commit()
    return user


# --- headers --------------------------------------------------------------------------------------

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _is_https() -> bool:
    return has_request_context() and request.is_secure


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):  # noqa: ANN001
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        # SQLAlchemy emits BEGIN itself (database._sqlite_begin), so that bookings can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
        from .database import sqlite_translate

        dbapi_connection.create_function("translate", 3, sqlite_translate, deterministic=True)


def init_app(app: Flask) -> None:
    install_log_redaction()
    app.logger.addFilter(RedactTokens())
    @app.after_request
    def _headers(response):  # noqa: ANN001, ANN202
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        # Asked of the request itself, not of a flag set by a before_request hook: a request refused before
        # the hooks ran (a missing CSRF token) still gets HSTS and a Secure cookie.
        if _is_https():
            hsts = f"max-age={app.config['HSTS_MAX_AGE']}; includeSubDomains"
            h.setdefault("Strict-Transport-Security", hsts)
        if current_user and current_user.is_authenticated and "Cache-Control" not in h:
            h["Cache-Control"] = "no-store"
        if request.headers.get("HX-Request") or response.mimetype == "text/html":
            response.vary.add("HX-Request")
        return response

    # Secure cookies behind HTTPS (directly or via a proxy that sets X-Forwarded-Proto and ProxyFix).
    from flask.sessions import SecureCookieSessionInterface

    class _Interface(SecureCookieSessionInterface):
        def get_cookie_secure(self, app):  # noqa: ANN001, ANN202
            return bool(app.config["SESSION_COOKIE_SECURE"] or _is_https())

    app.session_interface = _Interface()


# --- logs -----------------------------------------------------------------------------------------

_SECRET_PATHS = re.compile(r"(/feeds/|/t/|/password/set/)[A-Za-z0-9_\-]{8,}")


def redact(text: str) -> str:
    """Secret tokens in URLs (feeds, partner links, password links) never reach a log."""
    return _SECRET_PATHS.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install_log_redaction() -> None:
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error", "tourbook"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
