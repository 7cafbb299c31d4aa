"""Flask commands: `user create`, `demo`; and the health check that tells whether the database answers."""

from __future__ import annotations

import pytest
from conftest import BASE_CONFIG, TEST_PASSWORD
from flask import Flask
from helpers_foundation import (  # noqa: F401 - fixtures
    english_client,
    english_make_user,
    fresh_request_globals,
    sign_in,
    text_of,
)
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from tourbook import create_app
from tourbook.demo import DEMO_PASSWORD
from tourbook.extensions import db
from tourbook.models import City, Company, Role, Tour, User, utcnow

PASSWORD = "a long enough passphrase"


def count(model) -> int:  # noqa: ANN001
    db.session.expire_all()
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


# --- user create ----------------------------------------------------------------------------------


def test_user_create_reads_the_password_from_stdin_and_the_account_can_sign_in(runner, client, make_city):
    city = make_city(slug="siegen")
    result = runner.invoke(
        args=[
            "user",
            "create",
            " Neue.Guide@Example.org ",
            "--role",
            "guide",
            "--city",
            "siegen",
            "--name",
            "Neue Guide",
            "--language",
            "en",
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "created guide neue.guide@example.org" in result.output
    assert PASSWORD not in result.output
    db.session.expire_all()
    user = db.session.execute(select(User).where(User.email == "neue.guide@example.org")).scalar_one()
    assert (user.role, user.city_id, user.name, user.language, user.active) == (
        "guide",
        city.id,
        "Neue Guide",
        "en",
        True,
    )
    assert user.password_hash.startswith("$argon2id$")
    sign_in(client, "neue.guide@example.org", PASSWORD)


def test_user_create_for_admin_and_hr(runner, make_company):
    company = make_company(name="Hüttenwerk GmbH")
    admin = runner.invoke(
        args=["user", "create", "chef@example.org", "--role", "admin"], input=PASSWORD + "\n"
    )
    assert admin.exit_code == 0, admin.output
    hr = runner.invoke(
        args=["user", "create", "hr@example.org", "--role", "hr", "--company", "Hüttenwerk GmbH"],
        input=PASSWORD + "\n",
    )
    assert hr.exit_code == 0, hr.output
    db.session.expire_all()
    created = db.session.execute(select(User).where(User.email == "hr@example.org")).scalar_one()
    assert (created.company_id, created.name) == (company.id, "hr")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["x@example.org", "--role", "guide"], PASSWORD, "--city is required for the role guide"),
        (["x@example.org", "--role", "coordinator"], PASSWORD, "--city is required for the role coordinator"),
        (["x@example.org", "--role", "hr"], PASSWORD, "--company is required for the role hr"),
        (["x@example.org", "--role", "boss"], PASSWORD, "Invalid value for '--role'"),
        (["x@example.org"], PASSWORD, "Missing option '--role'"),
        (
            ["x@example.org", "--role", "guide", "--city", "atlantis"],
            PASSWORD,
            "no city with the slug 'atlantis'",
        ),
        (
            ["x@example.org", "--role", "hr", "--company", "Nobody AG"],
            PASSWORD,
            "no company named 'Nobody AG'",
        ),
        (["not-an-email", "--role", "admin"], PASSWORD, "not an email address"),
        (["x@example.org", "--role", "admin"], "short", "the password needs at least 12 characters"),
        (["x@example.org", "--role", "admin"], "", "the password needs at least 12 characters"),
        (["taken@example.org", "--role", "admin"], PASSWORD, "an account taken@example.org exists already"),
        (
            ["x@example.org", "--role", "admin", "--language", "tlh"],
            PASSWORD,
            "Invalid value for '--language'",
        ),
    ],
)
def test_user_create_explains_what_is_missing_or_wrong(runner, make_user, args, stdin, message):
    make_user(Role.ADMIN, email="taken@example.org")
    before = count(User)
    result = runner.invoke(args=["user", "create", *args], input=stdin + "\n")
    assert result.exit_code != 0
    assert message in result.output
    assert count(User) == before


# --- demo -----------------------------------------------------------------------------------------


def test_demo_loads_the_region_once_and_its_accounts_sign_in(app: Flask, runner, client):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "demo region ready: created" in first.output
    counts = (count(City), count(Company), count(User))
    assert counts[0] == 2 and counts[1] == 3
    db.session.expire_all()
    guides = db.session.execute(select(User).where(User.role == Role.GUIDE)).scalars().all()
    assert len(guides) == 4 and {g.city.slug for g in guides} == {"siegen"}
    assert {c.cities[0].slug for c in db.session.execute(select(Company)).scalars()} == {"siegen"}

    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0, second.output
    assert "(nothing new)" in second.output
    assert (count(City), count(Company), count(User)) == counts

    for email in ("admin@demo.example", "coordinator@demo.example", "guide@demo.example", "hr@demo.example"):
        sign_in(client, email, DEMO_PASSWORD)
        client.post("/logout")

    # The coming tours have guides who speak the partner's language, but for one that the coordinator sees.
    upcoming = db.session.execute(select(Tour).where(Tour.status == "confirmed", Tour.starts_at > utcnow())
                                  ).scalars().all()
    assert len(upcoming) > 3 and [t.guide.email for t in upcoming if t.guide_lacks_language] == [
        "guide4@demo.example"]
    sign_in(client, "coordinator@demo.example", DEMO_PASSWORD)
    assert "1 Tour hat einen Guide, der die Sprache" in text_of(client.get("/c/siegen/"))


def test_demo_refuses_a_database_with_other_data(runner, make_user):
    make_user(Role.ADMIN, email="real.person@siegen.de")
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 1
    assert (
        "This database holds data that is not demo data (1 accounts, 0 cities, 0 companies)" in result.output
    )
    db.session.expire_all()
    assert db.session.execute(select(User).where(User.email.like("%@demo.example"))).first() is None
    assert count(City) == 0


def test_demo_refuses_a_database_with_another_city(runner, make_city):
    make_city(name="Arnsberg", slug="arnsberg")
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 1
    assert "1 cities" in result.output
    assert count(User) == 0


# --- health check ---------------------------------------------------------------------------------


def test_health_check_answers_when_the_database_does(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_health_check_says_503_when_the_database_is_unreachable(tmp_path):
    app = create_app(
        {**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/tourbook.sqlite"}
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "error", "database": "unreachable"}


def test_health_check_recovers_after_a_database_failure(app: Flask, client, monkeypatch, make_user):
    make_user(Role.GUIDE)

    def down(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    with monkeypatch.context() as patch:
        patch.setattr(db.session, "execute", down)
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "error"
    again = client.get("/healthz")
    assert again.status_code == 200
    sign_in(client, db.session.execute(select(User.email)).scalar_one(), TEST_PASSWORD)
