"""Flask extensions, created unbound and initialised in :func:`tourbook.create_app`."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class _RouteLimiter(Limiter):
    """Flask-Limiter looks at every request in a before_request hook, for default, application, blueprint,
    meta and storage-fallback limits (about 0.25 ms of CPU each time). Tourbook sets none of those: each of
    its limits decorates a view, and the decorator checks it when the view is called. So the hook does its
    work only where such a limit exists (tests/test_tour_access.py and test_auth.py show both)."""

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        manager = self.limit_manager
        if in_middleware and not (manager._application_limits or manager._default_limits
                                  or manager._blueprint_limits or manager._endpoint_hints or self._meta_limits
                                  or self._in_memory_fallback):
            return
        super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = _RouteLimiter(key_func=get_remote_address)
