"""A city's settings, kept by its coordinator: booking rules, holidays, office contact, data protection."""

from __future__ import annotations

from flask import Blueprint, flash, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .access import city_for, roles_required
from .extensions import db
from .forms import CitySettingsForm
from .htmx import redirect_to, render
from .models import Role, record

bp = Blueprint("settings", __name__, url_prefix="/c/<slug>/settings")

FIELDS = ("lead_time_hours", "horizon_days", "min_duration_minutes", "max_duration_minutes", "buffer_minutes",
          "holiday_subdivision", "office_phone", "office_email", "partner_link_days", "erase_after_days",
          "privacy_text_de", "privacy_text_en")


@bp.route("/", methods=["GET", "POST"])
@roles_required(Role.COORDINATOR, Role.ADMIN)
def city_settings(slug: str):
    city = city_for(current_user, slug)
    form = CitySettingsForm(obj=city)
    if form.validate_on_submit():
        changes = {}
        for name in FIELDS:
            value = getattr(form, name).data
            if value is None and name.startswith(("office_", "privacy_")):
                value = ""
            if getattr(city, name) != value:
                changes[name] = value if not name.startswith("privacy_") else "(text)"
                setattr(city, name, value)
        record(db.session, current_user, "city_settings_updated", city, city_id=city.id, **changes)
        db.session.commit()
        flash(_("The settings of %(city)s are saved.", city=city.name), "success")
        return redirect_to(url_for("settings.city_settings", slug=city.slug))
    return render("settings/city.html", "settings/_form.html", status=422 if form.errors else 200,
                  form=form, city=city)
