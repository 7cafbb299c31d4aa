"""Tourbook: partner tours for job applicants' partners, run by the cities of Südwestfalen."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from .config import DEV_SECRET_KEY, Defaults

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the application: defaults → instance/config.py → TOURBOOK_* environment → test_config."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("TOURBOOK_INSTANCE_PATH", str(PROJECT_ROOT / "instance")),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.from_object(Defaults)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("TOURBOOK")
    if test_config:
        app.config.update(test_config)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(Path(app.instance_path) / "tourbook.sqlite")
    _refuse_insecure_production(app)

    from . import cli, database, demo_hours, i18n, security  # noqa: F401 - demo_hours registers its demo step
    from .extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    database.init_app(app)  # after db: its teardown runs before Flask-SQLAlchemy's
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    i18n.init_app(app)
    security.init_app(app)
    cli.init_app(app)

    from . import (
        accounts,
        admin,
        audit,
        auth,
        feeds,
        guides,
        main,
        messages,
        partner,
        privacy,
        reports,
        settings,
        tours,
    )

    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(guides.bp)
    app.register_blueprint(guides.week_bp)
    app.register_blueprint(tours.bp)
    app.register_blueprint(partner.bp)
    app.register_blueprint(feeds.bp)
    app.register_blueprint(messages.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(settings.bp)
    app.register_blueprint(audit.bp)
    return app


def _refuse_insecure_production(app: Flask) -> None:
    production = not (app.debug or app.testing or os.environ.get("FLASK_DEBUG") == "1")
    if production and app.config["SECRET_KEY"] in (DEV_SECRET_KEY, "", None):
        raise RuntimeError(
            "Refusing to start in production with the development secret key: "
            "set TOURBOOK_SECRET_KEY (or SECRET_KEY in instance/config.py)."
        )
