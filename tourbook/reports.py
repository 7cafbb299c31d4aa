"""How the programme is doing: numbers for a period, as accessible SVG charts with tables, and CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, make_response, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.orm import Session

from .access import roles_required
from .charts import Series, bar_chart, column_chart
from .extensions import db
from .forms import INTEREST_CHOICES
from .htmx import render
from .models import INTERESTS, City, Company, Role, Tour, User

bp = Blueprint("reports", __name__, url_prefix="/reports")

HELD = ("done",)


@dataclass
class Section:
    key: str
    title: str
    description: str
    rows: list[tuple[str, float]]
    kind: str = "bar"  # or "column"
    unit: str = ""

    @property
    def series(self) -> Series:
        return Series(tuple(r[0] for r in self.rows), tuple(r[1] for r in self.rows))


@dataclass
class Report:
    start: date
    end: date  # inclusive
    sections: list[Section] = field(default_factory=list)
    totals: dict[str, float] = field(default_factory=dict)


def _hours_expr(dialect: str):  # noqa: ANN202
    if dialect == "postgresql":
        return func.extract("epoch", Tour.ends_at - Tour.starts_at) / 3600.0
    return (func.julianday(Tour.ends_at) - func.julianday(Tour.starts_at)) * 24.0


def _month_expr(dialect: str, tz: str):  # noqa: ANN202
    if dialect == "postgresql":
        return func.to_char(func.timezone(tz, Tour.starts_at), "YYYY-MM")
    return func.strftime("%Y-%m", Tour.starts_at)  # stored as UTC; tours never run around midnight


def build_report(session: Session, city_ids: list[int], start: date, end: date, tz: str = "Europe/Berlin") -> Report:
    """All numbers for tours starting between ``start`` and ``end`` (inclusive, local dates)."""
    zone = ZoneInfo(tz)
    begin = datetime.combine(start, time(), zone)
    finish = datetime.combine(end + timedelta(days=1), time(), zone)
    dialect = session.get_bind().dialect.name
    scope = [Tour.city_id.in_(city_ids), Tour.starts_at >= begin, Tour.starts_at < finish]
    not_cancelled = Tour.status != "cancelled"
    report = Report(start, end)

    # Totals in one pass.
    interest_columns = [
        func.sum(case((Tour.interests.like(f"%{code}%") & not_cancelled, 1), else_=0)).label(code) for code in INTERESTS
    ]
    row = session.execute(
        select(
            func.count().label("all"),
            func.sum(case((not_cancelled, 1), else_=0)).label("booked"),
            func.sum(case((Tour.status == "cancelled", 1), else_=0)).label("cancelled"),
            func.sum(case((Tour.status == "no_show", 1), else_=0)).label("no_show"),
            func.sum(case((Tour.status == "done", 1), else_=0)).label("done"),
            func.sum(case((Tour.status == "done", Tour.people), else_=0)).label("people"),
            func.avg(cast(Tour.feedback_rating, Float)).label("rating"),
            func.count(Tour.feedback_rating).label("ratings"),
            *interest_columns,
        ).where(*scope)
    ).one()._mapping
    report.totals = {
        "booked": row["booked"] or 0, "cancelled": row["cancelled"] or 0, "no_show": row["no_show"] or 0,
        "done": row["done"] or 0, "people": row["people"] or 0,
        "rating": round(float(row["rating"]), 2) if row["rating"] is not None else 0.0,
        "ratings": row["ratings"] or 0,
    }

    month = _month_expr(dialect, tz).label("m")
    months = dict(session.execute(select(month, func.count()).where(*scope, not_cancelled).group_by(month)).all())
    month_rows = []
    cursor = date(start.year, start.month, 1)
    while cursor <= end:
        key = cursor.strftime("%Y-%m")
        month_rows.append((cursor.strftime("%m/%Y"), float(months.get(key, 0))))
        cursor = date(cursor.year + (cursor.month == 12), cursor.month % 12 + 1, 1)
    report.sections.append(Section("months", _("Tours per month"),
                                   _("Booked tours (without cancelled ones) per month of the period."),
                                   month_rows, kind="column"))

    companies = session.execute(
        select(Company.name, func.count()).select_from(Tour).join(Company, Company.id == Tour.company_id)
        .where(*scope, not_cancelled).group_by(Company.name).order_by(func.count().desc(), Company.name)
    ).all()
    report.sections.append(Section("companies", _("Tours per company"),
                                   _("Booked tours (without cancelled ones) per company."),
                                   [(name, float(n)) for name, n in companies]))

    who = dict(session.execute(
        select(Tour.cancelled_by, func.count()).where(*scope, Tour.status == "cancelled").group_by(Tour.cancelled_by)
    ).all())
    labels = {"hr": _("by HR"), "partner": _("by the partner"), "coordinator": _("by the coordinator")}
    report.sections.append(Section("cancellations", _("Cancellations and who cancelled"),
                                   _("Cancelled tours by who cancelled them."),
                                   [(labels[k], float(who.get(k, 0))) for k in ("hr", "partner", "coordinator")]))

    report.sections.append(Section("outcomes", _("Tours held and no-shows"),
                                   _("Tours marked as held, and tours the partner did not come to."),
                                   [(_("held"), float(report.totals["done"])),
                                    (_("partner did not come"), float(report.totals["no_show"]))]))

    from .main import language_label

    languages = session.execute(
        select(Tour.partner_language, func.count()).where(*scope, not_cancelled)
        .group_by(Tour.partner_language).order_by(func.count().desc())
    ).all()
    report.sections.append(Section("languages", _("Languages of the tours"), _("Booked tours per language."),
                                   [(language_label(code), float(n)) for code, n in languages]))

    interest_labels = dict(INTEREST_CHOICES)
    report.sections.append(Section("interests", _("Interests of the partners"),
                                   _("How many booked tours named each interest."),
                                   sorted(((str(interest_labels[c]), float(row[c] or 0)) for c in INTERESTS),
                                          key=lambda r: -r[1])))

    ratings = dict(session.execute(
        select(Tour.feedback_rating, func.count()).where(*scope, Tour.feedback_rating.is_not(None))
        .group_by(Tour.feedback_rating)
    ).all())
    report.sections.append(Section("ratings", _("Partner feedback"),
                                   _("How many partners gave each rating, from 5 (very good) to 1 (poor)."),
                                   [(str(r), float(ratings.get(r, 0))) for r in (5, 4, 3, 2, 1)]))

    hours = session.execute(
        select(User.name, func.sum(_hours_expr(dialect))).select_from(Tour).join(User, User.id == Tour.guide_id)
        .where(*scope, Tour.status.in_(HELD)).group_by(User.name).order_by(User.name)
    ).all()
    report.sections.append(Section("guide_hours", _("Guide hours"), _("Hours of held tours per guide."),
                                   [(name, round(float(h or 0), 1)) for name, h in hours], unit="h"))
    return report


def report_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "label", "value"])
    for key, value in report.totals.items():
        writer.writerow(["totals", key, value])
    for section in report.sections:
        for label, value in section.rows:
            writer.writerow([section.key, label, _num(value)])
    return out.getvalue()


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


# --- views ----------------------------------------------------------------------------------------


def _period() -> tuple[date, date, list[str]]:
    errors = []
    today = date.today()
    # The last twelve months, this one included.
    default_start = date(today.year - 1, today.month, 1) + timedelta(days=32)
    default_start = default_start.replace(day=1)
    try:
        start = date.fromisoformat(request.args.get("from") or default_start.isoformat())
    except ValueError:
        start, errors = default_start, [*errors, _("The start date is not a date.")]
    try:
        end = date.fromisoformat(request.args.get("to") or today.isoformat())
    except ValueError:
        end, errors = today, [*errors, _("The end date is not a date.")]
    if end < start:
        errors.append(_("The period must not end before it starts."))
        start, end = end, start
    if (end - start).days > 3 * 366:
        errors.append(_("Please choose at most three years."))
        start = end - timedelta(days=3 * 366)
    return start, end, errors


def _scope() -> tuple[list[int], City | None, list[City]]:
    cities = db.session.execute(select(City).order_by(City.name)).scalars().all()
    if current_user.role == Role.COORDINATOR:
        own = db.session.get(City, current_user.city_id)
        return [own.id], own, [own]
    slug = request.args.get("city") or ""
    if slug:
        chosen = next((c for c in cities if c.slug == slug), None)
        if chosen is None:
            abort(404)
        return [chosen.id], chosen, cities
    return [c.id for c in cities], None, cities


@bp.get("/")
@roles_required(Role.COORDINATOR, Role.ADMIN)
def index():
    ids, city, cities = _scope()
    start, end, errors = _period()
    report = build_report(db.session, ids, start, end, city.timezone if city else "Europe/Berlin")
    charts = {
        s.key: (column_chart if s.kind == "column" else bar_chart)(f"chart-{s.key}", s.title, s.description, s.series)
        for s in report.sections
    }
    return render("reports/index.html", "reports/_report.html", report=report, charts=charts, city=city,
                  cities=cities, errors=errors, fmt=_num)


@bp.get("/report.csv")
@roles_required(Role.COORDINATOR, Role.ADMIN)
def download():
    ids, city, _cities = _scope()
    start, end, _errors = _period()
    report = build_report(db.session, ids, start, end, city.timezone if city else "Europe/Berlin")
    response = make_response(report_csv(report))
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    name = f"tourbook-{city.slug if city else 'all'}-{start.isoformat()}-{end.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
