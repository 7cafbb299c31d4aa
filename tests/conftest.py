"""Fixtures in the Flask tutorial's style: app, client, runner, login, and factories with sensible defaults.

The database-facing fixtures run each test on SQLite and, when TOURBOOK_TEST_DATABASE_URL is set, on
PostgreSQL as well. The schema comes from the migrations (built once per run), not from create_all."""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask, g, request_started
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from tourbook import create_app
from tourbook.extensions import db, limiter
from tourbook.models import City, Company, Role, User


def _per_worker_database(url: str | None) -> str | None:
    """Under pytest-xdist every worker gets a database of its own (created on first use), since the suite
    rebuilds and truncates its schema."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not url or not worker:
        return url
    from sqlalchemy.engine import make_url

    base = make_url(url)
    own = base.set(database=f"{base.database}_{worker}")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": own.database}).first():
            conn.execute(text(f'CREATE DATABASE "{own.database}"'))
    admin.dispose()
    return own.render_as_string(hide_password=False)


PG_URL = _per_worker_database(os.environ.get("TOURBOOK_TEST_DATABASE_URL"))
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
TEST_PASSWORD = "correct horse battery staple"

BASE_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "RATELIMIT_ENABLED": False,
    # Fast hashing in tests; production strength is tested in test_auth.
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST": 8,
    "ARGON2_PARALLELISM": 1,
    "SERVER_NAME": None,
}

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


class TourbookClient(FlaskClient):
    """A test client whose form posts carry the CSRF token like a browser's would (unless csrf=False)."""

    def csrf_token(self) -> str:
        page = self.get("/password/forgot").get_data(as_text=True)
        match = _CSRF.search(page)
        assert match, "no CSRF token on the page"
        return match.group(1) or match.group(2)

    def post(self, *args, csrf: bool = True, **kwargs):  # noqa: ANN002, ANN003, ANN201
        data = kwargs.get("data")
        if csrf and (data is None or isinstance(data, dict)) and not kwargs.get("json"):
            data = dict(data or {})
            if not any(k.endswith("csrf_token") for k in data):
                data["csrf_token"] = self.csrf_token()
            kwargs["data"] = data
        return super().post(*args, **kwargs)


def _migrated_sqlite_template(tmp_root: Path) -> Path:
    path = tmp_root / "template.sqlite"
    if not path.exists():
        app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
        from flask_migrate import upgrade

        with app.app_context():
            upgrade()
            db.engine.dispose()
    return path


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _migrated_sqlite_template(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def postgres_url() -> str | None:
    """Recreate the PostgreSQL test schema from the migrations once per run."""
    if not PG_URL:
        return None
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": PG_URL})
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
        db.engine.dispose()
    return PG_URL


def _truncate_postgres(app: Flask) -> None:
    with app.app_context():
        tables = ", ".join(
            f'"{t.name}"' for t in db.metadata.sorted_tables
        )
        db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        db.session.commit()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def app_config() -> dict:
    """Override in a test module to change the configuration of `app`."""
    return {}


@pytest.fixture
def app(backend: str, tmp_path: Path, sqlite_template: Path, postgres_url: str | None, app_config: dict
        ) -> Iterator[Flask]:
    if backend == "sqlite":
        path = tmp_path / "tourbook.sqlite"
        shutil.copy(sqlite_template, path)
        uri = f"sqlite:///{path}"
    else:
        uri = postgres_url
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": uri, **app_config})
    app.test_client_class = TourbookClient
    if backend == "postgresql":
        _truncate_postgres(app)
    if app.config["RATELIMIT_ENABLED"]:
        limiter.reset()

    # The test keeps one app context open, which Flask reuses for every request of the test client:
    # each request must still start with an empty `g`, as it would in a server.
    def fresh_g(sender, **extra):  # noqa: ANN001, ANN003, ANN202
        g.__dict__.clear()

    request_started.connect(fresh_g, app)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()
    request_started.disconnect(fresh_g, app)


@pytest.fixture
def client(app: Flask) -> TourbookClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask):  # noqa: ANN201
    return app.test_cli_runner()


_seq = itertools.count(1)


@pytest.fixture
def make_city(app: Flask) -> Callable[..., City]:
    def make(**kwargs) -> City:  # noqa: ANN003
        n = next(_seq)
        kwargs.setdefault("name", f"Stadt {n}")
        kwargs.setdefault("slug", f"stadt-{n}")
        kwargs.setdefault("office_phone", "+49 271 404-0")
        kwargs.setdefault("office_email", f"office{n}@city.example")
        city = City(**kwargs)
        db.session.add(city)
        db.session.commit()
        return city

    return make


@pytest.fixture
def make_company(app: Flask, make_city: Callable[..., City]) -> Callable[..., Company]:
    def make(cities: list[City] | None = None, **kwargs) -> Company:  # noqa: ANN003
        n = next(_seq)
        kwargs.setdefault("name", f"Firma {n} GmbH")
        kwargs.setdefault("address", f"Hauptstraße {n}, 57072 Siegen")
        company = Company(**kwargs)
        company.cities.extend(cities if cities is not None else [make_city()])
        db.session.add(company)
        db.session.commit()
        return company

    return make


@pytest.fixture
def make_user(app: Flask, make_city: Callable[..., City], make_company: Callable[..., Company]
              ) -> Callable[..., User]:
    from tourbook.security import hash_password

    hashed = hash_password(TEST_PASSWORD)

    def make(role: str = Role.HR, **kwargs) -> User:  # noqa: ANN003
        n = next(_seq)
        kwargs.setdefault("email", f"{role}{n}@example.org")
        kwargs.setdefault("name", f"Test {role.title()} {n}")
        kwargs.setdefault("language", "de")
        kwargs.setdefault("active", True)
        if "password" in kwargs:
            kwargs["password_hash"] = hash_password(kwargs.pop("password"))
        else:
            kwargs.setdefault("password_hash", hashed)
        if role in (Role.COORDINATOR, Role.GUIDE) and "city" not in kwargs and "city_id" not in kwargs:
            kwargs["city"] = make_city()
        if role == Role.HR and "company" not in kwargs and "company_id" not in kwargs:
            kwargs["company"] = make_company()
        user = User(role=role, **kwargs)
        db.session.add(user)
        db.session.commit()
        return user

    return make


@pytest.fixture
def login(client: TourbookClient) -> Callable[..., object]:
    """Sign the test client in; returns the response of the login post."""

    def do(user: User | str, password: str = TEST_PASSWORD):  # noqa: ANN202
        email = user if isinstance(user, str) else user.email
        response = client.post("/login", data={"email": email, "password": password})
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
        return response

    return do


@pytest.fixture
def demo(app: Flask) -> None:
    from tourbook.demo import load_demo

    load_demo(db.session)
