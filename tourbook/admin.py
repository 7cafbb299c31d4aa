"""The regional admin: cities."""

from __future__ import annotations

from flask import Blueprint, flash, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from .access import city_for, roles_required
from .extensions import db
from .forms import CityForm
from .htmx import redirect_to, render
from .models import City, Role, User, record

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/cities")
@roles_required(Role.ADMIN)
def cities():
    counts = dict(
        db.session.execute(
            select(User.city_id, func.count()).where(User.role == Role.GUIDE).group_by(User.city_id)
        ).all()
    )
    rows = db.session.execute(select(City).order_by(City.name)).scalars().all()
    return render("admin/cities.html", cities=rows, guide_counts=counts)


def _unique_city_errors(form: CityForm, city: City | None) -> bool:
    """Names and slugs are unique; names regardless of case ("Olpe" and "OLPE" would be one city twice)."""
    rows = db.session.execute(select(City.id, City.name, City.slug)).all()
    others = [row for row in rows if city is None or row.id != city.id]
    ok = True
    for field, taken in (
        (form.name, {row.name.casefold() for row in others}),
        (form.slug, {row.slug for row in others}),
    ):
        if (field.data or "").casefold() in taken:
            field.errors.append(_("Another city already uses this."))
            ok = False
    return ok


@bp.route("/cities/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_city():
    form = CityForm()
    if form.validate_on_submit() and _unique_city_errors(form, None):
        city = City()
        form.populate_obj(city)
        db.session.add(city)
        record(db.session, current_user, "city_created", city, city_id=None, name=city.name)
        db.session.commit()
        flash(_("The city %(name)s was added.", name=city.name), "success")
        return redirect_to(url_for("accounts.city_home", slug=city.slug))
    return render(
        "admin/city_form.html", "admin/_city_form.html", status=422 if form.errors else 200, form=form,
        city=None,
    )


@bp.route("/cities/<slug>/edit", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def edit_city(slug: str):
    city = city_for(current_user, slug)
    form = CityForm(obj=city)
    if form.validate_on_submit() and _unique_city_errors(form, city):
        form.populate_obj(city)
        record(db.session, current_user, "city_updated", city, city_id=city.id)
        db.session.commit()
        flash(_("The city is saved."), "success")
        return redirect_to(url_for("accounts.city_home", slug=city.slug))
    return render(
        "admin/city_form.html", "admin/_city_form.html", status=422 if form.errors else 200, form=form,
        city=city,
    )
