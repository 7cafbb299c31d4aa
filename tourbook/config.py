"""Default configuration. An installation overrides it in ``instance/config.py`` and with
``TOURBOOK_*`` environment variables (see the README)."""

from datetime import timedelta

DEV_SECRET_KEY = "dev-only-not-secret"  # noqa: S105 - refused outside development, see create_app


class Defaults:
    SECRET_KEY = DEV_SECRET_KEY
    # Filled in by create_app with the instance folder when not configured.
    SQLALCHEMY_DATABASE_URI: str | None = None
    # No pool_pre_ping: database.py checks a pooled PostgreSQL connection without a round trip.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}

    # Sessions: cookie only carries a random session id; the server keeps the record.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # switched on automatically for HTTPS requests, see security.py
    SESSION_COOKIE_NAME = "tourbook_session"
    SESSION_IDLE_TIMEOUT = timedelta(minutes=60)
    SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=12)
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # The cookie lives as long as the absolute timeout from the sign-in; the idle timeout is kept on the
    # server (LoginSession.last_seen_at). Signing and sending the cookie anew on every request buys nothing.
    SESSION_REFRESH_EACH_REQUEST = False

    # One-time links to set a password.
    PASSWORD_LINK_LIFETIME = timedelta(days=7)
    # argon2id; the defaults of argon2-cffi (t=3, m=64 MiB, p=4) exceed OWASP's minimum.
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    ARGON2_PARALLELISM = 4

    # Rate limits (Flask-Limiter). memory:// for one process; redis://… for several.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_ENABLED = True
    LOGIN_LIMIT_PER_ADDRESS = "20/10 minutes"
    LOGIN_LIMIT_PER_ACCOUNT = "5/10 minutes"

    BABEL_DEFAULT_LOCALE = "de"
    BABEL_DEFAULT_TIMEZONE = "Europe/Berlin"
    LANGUAGES = ("de", "en")

    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    WTF_CSRF_SSL_STRICT = True

    # Public base URL for links shown to users (partner links, feeds); derived from the request if unset.
    PUBLIC_URL: str | None = None
    HSTS_MAX_AGE = 63072000

    # Mail: smtp://user:pass@host:587?starttls=1 (or smtps://…:465). Unset: mail is written to the log.
    MAIL_URL: str | None = None
    MAIL_FROM_ADDRESS = "tourbook@localhost"
    MAIL_FROM_NAME = "Tourbook"
    OUTBOX_INTERVAL_SECONDS = 30
