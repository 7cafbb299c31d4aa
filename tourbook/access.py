"""Authorization: one function per object kind. Each returns the object the user may act on, or aborts
with 404 (the object is not theirs: its existence is not revealed) / 403 (their role may never do this)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user, login_required
from sqlalchemy import exists, select

from .extensions import db
from .models import City, Company, Role, User, company_cities

# Addresses can carry anything; only well-formed slugs and ids that fit the database's integers are looked up
# (PostgreSQL refuses NUL characters and integers beyond 32 bits with an error, not an empty result).
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_ID = 2**31 - 1


def valid_slug(slug: str) -> bool:
    return len(slug) <= 60 and SLUG.fullmatch(slug) is not None


def _valid_id(object_id: int) -> bool:
    """An id the database can hold (PostgreSQL refuses a larger integer with an error): others exist nowhere."""
    return 0 < object_id <= MAX_ID


def by_id(model: type, object_id: int):  # noqa: ANN201
    """The row of ``model`` with the id from the address, or None (also for an id no database can hold)."""
    return db.session.get(model, object_id) if _valid_id(object_id) else None


def roles_required(*roles: Role) -> Callable:
    """Sign-in required; other roles get 403."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def city_for(user: User, slug: str) -> City:
    """A city the user manages: the admin all, a coordinator their own."""
    if not valid_slug(slug):
        abort(404)
    city = db.session.execute(select(City).where(City.slug == slug)).scalar_one_or_none()
    if city is None:
        abort(404)
    if user.role == Role.ADMIN:
        return city
    if user.role == Role.COORDINATOR and user.city_id == city.id:
        return city
    abort(404)


def company_for(user: User, city: City, company_id: int) -> Company:
    """A company enrolled with a city the user manages."""
    company = by_id(Company, company_id)
    if company is None:
        abort(404)
    enrolled = db.session.execute(
        select(
            exists().where(company_cities.c.company_id == company_id, company_cities.c.city_id == city.id)
        )
    ).scalar()
    if not enrolled:
        abort(404)
    return company


def managed_user_for(user: User, city: City, user_id: int) -> User:
    """An account the user manages within a city: its guides, and the HR staff of its companies.
    The admin also manages the city's coordinators."""
    target = by_id(User, user_id)
    if target is None:
        abort(404)
    if target.role == Role.GUIDE and target.city_id == city.id:
        return target
    if target.role == Role.COORDINATOR and target.city_id == city.id and user.role == Role.ADMIN:
        return target
    if target.role == Role.HR and target.company_id is not None:
        company_for(user, city, target.company_id)
        return target
    abort(404)


def guide_for(user: User, guide_id: int) -> User:
    """A guide whose hours the user may keep: the guide themself, their city's coordinator, the admin."""
    guide = by_id(User, guide_id)
    if guide is None or guide.role != Role.GUIDE:
        abort(404)
    if user.role == Role.ADMIN or user.id == guide.id:
        return guide
    if user.role == Role.COORDINATOR and user.city_id == guide.city_id:
        return guide
    abort(404)


def tour_for(user: User, tour_id: int):  # noqa: ANN201
    """A tour the user may see: the admin all, a coordinator their city's, HR their company's, a guide
    their own."""
    from .models import Tour

    tour = by_id(Tour, tour_id)
    if tour is None:
        abort(404)
    allowed = (
        user.role == Role.ADMIN
        or (user.role == Role.COORDINATOR and tour.city_id == user.city_id)
        or (user.role == Role.HR and tour.company_id == user.company_id)
        or (user.role == Role.GUIDE and tour.guide_id == user.id)
    )
    if not allowed:
        abort(404)
    return tour
