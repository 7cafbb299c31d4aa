"""Flask commands: accounts and the demo region. (`flask --app tourbook db upgrade` comes from Flask-Migrate.)"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from .extensions import db
from .models import ROLES, City, Company, Role, User, record

user_cli = AppGroup("user", help="Manage accounts.")


@user_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--city", "city_slug", help="Slug of the city (coordinators and guides).")
@click.option("--company", "company_name", help="Name of the company (HR staff).")
@click.option("--name", help="Display name (defaults to the part of the email before @).")
@click.option("--language", type=click.Choice(["de", "en"]), default="de", show_default=True)
def create_user(email: str, role: str, city_slug: str | None, company_name: str | None, name: str | None,
                language: str) -> None:
    """Create an account. The password is read from a prompt, or from standard input when it is not a terminal."""
    from .forms import MIN_PASSWORD
    from .security import hash_password

    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise click.BadParameter("not an email address", param_hint="EMAIL")
    if db.session.execute(select(User).where(User.email == email)).scalar_one_or_none():
        raise click.ClickException(f"an account {email} exists already")
    city = company = None
    if role in (Role.COORDINATOR, Role.GUIDE):
        if not city_slug:
            raise click.UsageError(f"--city is required for the role {role}")
        city = db.session.execute(select(City).where(City.slug == city_slug)).scalar_one_or_none()
        if city is None:
            raise click.ClickException(f"no city with the slug {city_slug!r}")
    if role == Role.HR:
        if not company_name:
            raise click.UsageError("--company is required for the role hr")
        company = db.session.execute(select(Company).where(Company.name == company_name)).scalar_one_or_none()
        if company is None:
            raise click.ClickException(f"no company named {company_name!r}")
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < MIN_PASSWORD:
        raise click.ClickException(f"the password needs at least {MIN_PASSWORD} characters")
    user = User(
        email=email, name=name or email.split("@")[0], role=role, city=city, company=company, language=language,
        password_hash=hash_password(password), active=True,
    )
    db.session.add(user)
    record(db.session, None, "account_created", user, city_id=city.id if city else None, via="cli")
    db.session.commit()
    click.echo(f"created {role} {email}")


@click.command("demo")
def demo() -> None:
    """Load the demo region (idempotent). Refuses to touch a database with non-demo data."""
    from .demo import NotADemoDatabase, load_demo

    try:
        summary = load_demo(db.session)
    except NotADemoDatabase as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(summary)


@click.command("feed-url")
@click.argument("email")
@click.option("--rotate", is_flag=True, help="Make a new URL; the old one stops working at once.")
def feed_url_command(email: str, rotate: bool) -> None:
    """Print the calendar feed URL of a guide or coordinator (set TOURBOOK_PUBLIC_URL for the right host)."""
    from flask import current_app

    from .feeds import feed_url, rotate_feed_token

    user = db.session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()
    if user is None or user.role not in (Role.GUIDE, Role.COORDINATOR):
        raise click.ClickException(f"no guide or coordinator with the email {email}")
    if rotate:
        rotate_feed_token(db.session, None, user)
    base = current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000"
    with current_app.test_request_context(base_url=base):
        url = feed_url(user)
    db.session.commit()
    click.echo(url)


outbox_cli = AppGroup("outbox", help="The mail outbox.")


@outbox_cli.command("send")
@click.option("--loop", is_flag=True, help="Keep running: send, wait, repeat (and run the daily jobs).")
@click.option("--interval", type=float, default=None, help="Seconds between runs with --loop.")
def outbox_send(loop: bool, interval: float | None) -> None:
    """Queue tomorrow's reminders and send what is due (once, or with --loop forever)."""
    from flask import current_app

    from .mail import run_worker

    base = current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000"
    with current_app.test_request_context(base_url=base):
        run_worker(db.session, loop=loop, interval=interval or current_app.config["OUTBOX_INTERVAL_SECONDS"],
                   daily_jobs=DAILY_JOBS)


@click.command("purge")
def purge() -> None:
    """Erase partners' personal data the city's number of days after their tour (safe to run twice)."""
    from .privacy import purge_partner_data

    totals = purge_partner_data(db.session)
    click.echo("erased: " + (", ".join(f"{slug} {n}" for slug, n in totals.items()) or "nothing due"))


def _daily_purge(session) -> None:  # noqa: ANN001
    from .privacy import purge_partner_data

    purge_partner_data(session)


def _daily_feedback_requests(session) -> None:  # noqa: ANN001
    from .feedback import queue_feedback_requests

    queue_feedback_requests(session)


# Jobs the worker's --loop runs once a day: callables taking the session.
DAILY_JOBS: list = [_daily_purge, _daily_feedback_requests]


def init_app(app: Flask) -> None:
    app.cli.add_command(outbox_cli)
    app.cli.add_command(purge)
    app.cli.add_command(user_cli)
    app.cli.add_command(demo)
    app.cli.add_command(feed_url_command)
