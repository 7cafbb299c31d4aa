"""Configuration: defaults → instance/config.py → TOURBOOK_* environment → test_config; production refuses
the development secret key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tourbook import create_app
from tourbook.config import DEV_SECRET_KEY, Defaults

INSTANCE_CONFIG = """
SECRET_KEY = "instance-secret-key-0123456789abcdef"
LOGIN_LIMIT_PER_ACCOUNT = "1/minute"        # only here
HSTS_MAX_AGE = 1                            # here and in the environment
PUBLIC_URL = "https://instance.example"     # here, in the environment and in test_config
"""


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An instance folder of its own (it does not exist yet: create_app makes it)."""
    folder = tmp_path / "instance"
    monkeypatch.setenv("TOURBOOK_INSTANCE_PATH", str(folder))
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    for key in (
        "SECRET_KEY",
        "HSTS_MAX_AGE",
        "PUBLIC_URL",
        "SQLALCHEMY_DATABASE_URI",
        "LOGIN_LIMIT_PER_ACCOUNT",
    ):
        monkeypatch.delenv(f"TOURBOOK_{key}", raising=False)
    return folder


def test_each_layer_overrides_the_one_before(instance: Path, monkeypatch: pytest.MonkeyPatch):
    instance.mkdir()
    (instance / "config.py").write_text(INSTANCE_CONFIG)
    monkeypatch.setenv("TOURBOOK_HSTS_MAX_AGE", "2")
    monkeypatch.setenv("TOURBOOK_PUBLIC_URL", "https://env.example")
    monkeypatch.setenv("TOURBOOK_MAIL_FROM_NAME", "Tourbook Siegen")
    app = create_app({"TESTING": True, "PUBLIC_URL": "https://test.example"})
    config = app.config
    assert app.instance_path == str(instance)
    assert config["LOGIN_LIMIT_PER_ADDRESS"] == Defaults.LOGIN_LIMIT_PER_ADDRESS  # default
    assert config["LOGIN_LIMIT_PER_ACCOUNT"] == "1/minute"  # instance over default
    assert config["SECRET_KEY"] == "instance-secret-key-0123456789abcdef"
    assert config["HSTS_MAX_AGE"] == 2  # environment over instance, parsed as JSON
    assert config["MAIL_FROM_NAME"] == "Tourbook Siegen"  # environment over default, a plain string
    assert config["PUBLIC_URL"] == "https://test.example"  # test_config over everything


def test_the_database_lives_in_the_instance_folder_unless_configured(instance: Path, monkeypatch):
    app = create_app({"TESTING": True})
    assert instance.is_dir()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'tourbook.sqlite'}"
    monkeypatch.setenv(
        "TOURBOOK_SQLALCHEMY_DATABASE_URI", "postgresql+psycopg://tourbook@db.example/tourbook"
    )
    app = create_app({"TESTING": True})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://tourbook@db.example/tourbook"


def test_defaults_are_safe(instance: Path):
    app = create_app({"TESTING": True})
    config = app.config
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert config["RATELIMIT_ENABLED"] is True
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["BABEL_DEFAULT_LOCALE"] == "de"
    assert config["SESSION_IDLE_TIMEOUT"] < config["SESSION_ABSOLUTE_TIMEOUT"]


@pytest.mark.parametrize("key", [DEV_SECRET_KEY, "", None])
def test_production_refuses_the_development_secret_key(instance: Path, key):
    overrides = {} if key == DEV_SECRET_KEY else {"SECRET_KEY": key}
    with pytest.raises(RuntimeError, match="Refusing to start in production with the development secret key"):
        create_app(overrides)


def test_production_starts_with_a_secret_key_from_the_instance_or_the_environment(
    instance: Path, monkeypatch
):
    monkeypatch.setenv("TOURBOOK_SECRET_KEY", "environment-secret-key-0123456789")
    assert create_app().config["SECRET_KEY"] == "environment-secret-key-0123456789"
    monkeypatch.delenv("TOURBOOK_SECRET_KEY")
    (instance / "config.py").write_text(INSTANCE_CONFIG)
    app = create_app()
    assert not app.testing and not app.debug
    assert app.config["SECRET_KEY"] == "instance-secret-key-0123456789abcdef"


def test_development_mode_may_use_the_development_key(instance: Path, monkeypatch):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    assert create_app().config["SECRET_KEY"] == DEV_SECRET_KEY
