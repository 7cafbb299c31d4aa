"""The coordinator's view of the city's mail: what failed, and sending it again."""

from __future__ import annotations

from flask import Blueprint, abort, flash, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from .access import by_id, city_for, roles_required
from .extensions import db
from .htmx import redirect_to, render
from .mail import retry_message, subject_of
from .models import OutboxMessage, Role, record

bp = Blueprint("messages", __name__, url_prefix="/c/<slug>/messages")


@bp.get("/")
@roles_required(Role.COORDINATOR, Role.ADMIN)
def index(slug: str):
    city = city_for(current_user, slug)
    failed = db.session.execute(
        select(OutboxMessage).where(OutboxMessage.city_id == city.id, OutboxMessage.status == "failed")
        .order_by(OutboxMessage.created_at.desc()).limit(200)
    ).scalars().all()
    counts = dict(db.session.execute(
        select(OutboxMessage.status, func.count()).where(OutboxMessage.city_id == city.id)
        .group_by(OutboxMessage.status)
    ).all())
    subjects = {m.id: subject_of(db.session, m) for m in failed}
    return render("messages/index.html", city=city, failed=failed, subjects=subjects, counts=counts)


@bp.post("/<int:message_id>/retry")
@roles_required(Role.COORDINATOR, Role.ADMIN)
def retry(slug: str, message_id: int):
    city = city_for(current_user, slug)
    row = by_id(OutboxMessage, message_id)
    if row is None or row.city_id != city.id:
        abort(404)
    retry_message(db.session, row)
    record(db.session, current_user, "mail_retried", row, city_id=city.id)
    db.session.commit()
    flash(_("The message is sent again shortly."), "success")
    return redirect_to(url_for("messages.index", slug=city.slug))
