"""A city's people and companies: guides, enrolled companies and their HR staff (coordinators and the admin),
and the city's coordinators (the admin only)."""

from __future__ import annotations

from flask import Blueprint, flash, g, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError, OperationalError

from .access import city_for, company_for, managed_user_for, roles_required, valid_slug
from .auth import create_password_link
from .database import folded
from .extensions import db
from .forms import AccountForm, CompanyForm
from .htmx import redirect_to, render
from .models import City, Company, Role, User, company_cities, record
from .services import release_tours_of_deactivated_guide

bp = Blueprint("accounts", __name__, url_prefix="/c/<slug>")

MANAGERS = (Role.ADMIN, Role.COORDINATOR)


@bp.get("/")
@roles_required(*MANAGERS)
def city_home(slug: str):
    city = city_for(current_user, slug)
    guides = db.session.execute(
        select(func.count()).select_from(User).where(User.city_id == city.id, User.role == Role.GUIDE)
    ).scalar_one()
    coordinators = db.session.execute(
        select(func.count()).select_from(User).where(User.city_id == city.id, User.role == Role.COORDINATOR)
    ).scalar_one() if current_user.role == Role.ADMIN else None
    resets = _reset_requests(city)
    from .models import utcnow
    from .overview import city_overview

    return render(
        "accounts/city_home.html", city=city, guide_count=guides, company_count=len(city.companies),
        coordinator_count=coordinators,
        reset_requests=resets, now=utcnow(), **city_overview(db.session, city, utcnow()),
    )


def _reset_requests(city: City) -> list[User]:
    """Accounts of this city whose owners asked for a new password."""
    company_ids = select(company_cities.c.company_id).where(company_cities.c.city_id == city.id)
    roles = [Role.GUIDE, Role.HR] + ([Role.COORDINATOR] if current_user.role == Role.ADMIN else [])
    return list(
        db.session.execute(
            select(User)
            .where(
                User.reset_requested_at.is_not(None),
                User.role.in_(roles),
                or_(User.city_id == city.id, User.company_id.in_(company_ids)),
            )
            .order_by(User.reset_requested_at)
        ).scalars()
    )


def _search_text(value: str | None) -> str:
    """What to search for: printable characters only, at most 100."""
    return "".join(ch for ch in (value or "") if ch.isprintable()).strip()[:100]


def _people(city: City, role: Role, company: Company | None = None) -> list[User]:
    query = select(User).where(User.role == role).order_by(User.name)
    query = query.where(User.company_id == company.id) if company else query.where(User.city_id == city.id)
    people = list(db.session.execute(query).scalars())
    q = folded(_search_text(request.args.get("q")).casefold())
    if q:  # a city's people fit in memory; Python compares all scripts alike on every database, accents aside
        people = [p for p in people if q in folded(p.name.casefold()) or q in folded(p.email.casefold())]
    return people


@bp.get("/guides")
@roles_required(*MANAGERS)
def guides(slug: str):
    city = city_for(current_user, slug)
    return render(
        "accounts/people.html", "accounts/_people_table.html", city=city, people=_people(city, Role.GUIDE),
        role=Role.GUIDE, q=request.args.get("q", ""),
    )


@bp.get("/coordinators")
@roles_required(Role.ADMIN)
def coordinators(slug: str):
    city = city_for(current_user, slug)
    return render(
        "accounts/people.html", "accounts/_people_table.html", city=city,
        people=_people(city, Role.COORDINATOR), role=Role.COORDINATOR, q=request.args.get("q", ""),
    )


def _email_taken(form: AccountForm, user: User | None) -> bool:
    clash = db.session.execute(select(User.id).where(User.email == form.email.data)).scalar_one_or_none()
    if clash is not None and (user is None or clash != user.id):
        form.email.errors.append(_("An account with this email already exists."))
        return True
    return False


def _create_account(city: City, role: Role, company: Company | None, back_url: str):
    form = AccountForm()
    if form.validate_on_submit() and not _email_taken(form, None):
        user = User(
            name=form.name.data, email=form.email.data, language=form.language.data, active=True, role=role,
            city_id=city.id if role in (Role.GUIDE, Role.COORDINATOR) else None,
            company_id=company.id if company else None,
        )
        db.session.add(user)
        try:
            db.session.flush()
        except IntegrityError:  # created by someone else in the same second
            db.session.rollback()
            form.email.errors.append(_("An account with this email already exists."))
        else:
            record(db.session, current_user, "account_created", user, city_id=city.id, role=role)
            link = create_password_link(current_user, user, "invite")
            db.session.commit()
            # The link is shown only now; an htmx form swaps it in where the form was.
            return render("accounts/link.html", "accounts/_link.html", city=city, person=user, link=link,
                          purpose="invite", back_url=back_url)
    return render(
        "accounts/account_form.html", "accounts/_account_form.html", status=422 if form.errors else 200,
        form=form, city=city, role=role, company=company, person=None, back_url=back_url,
    )


@bp.route("/guides/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new_guide(slug: str):
    city = city_for(current_user, slug)
    return _create_account(city, Role.GUIDE, None, url_for("accounts.guides", slug=city.slug))


@bp.route("/coordinators/new", methods=["GET", "POST"])
@roles_required(Role.ADMIN)
def new_coordinator(slug: str):
    city = city_for(current_user, slug)
    return _create_account(city, Role.COORDINATOR, None, url_for("accounts.coordinators", slug=city.slug))


@bp.route("/companies/<int:company_id>/hr/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new_hr(slug: str, company_id: int):
    city = city_for(current_user, slug)
    company = company_for(current_user, city, company_id)
    return _create_account(
        city, Role.HR, company, url_for("accounts.company", slug=city.slug, company_id=company.id)
    )


def _back_url(city: City, person: User) -> str:
    if person.role == Role.HR:
        return url_for("accounts.company", slug=city.slug, company_id=person.company_id)
    if person.role == Role.COORDINATOR:
        return url_for("accounts.coordinators", slug=city.slug)
    return url_for("accounts.guides", slug=city.slug)


@bp.route("/people/<int:user_id>", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def person(slug: str, user_id: int):
    city = city_for(current_user, slug)
    target = managed_user_for(current_user, city, user_id)
    form = AccountForm(obj=target)
    if form.validate_on_submit() and not _email_taken(form, target):
        was_active = target.active
        released = []
        try:
            if target.role == Role.GUIDE and was_active and not form.active.data:
                # Their tours first (locked), then the account; none stays with a guide who is gone.
                released = release_tours_of_deactivated_guide(db.session, current_user, target)
            form.populate_obj(target)
            if was_active and not target.active:
                from .security import end_all_sessions

                end_all_sessions(target)
            record(db.session, current_user, "account_updated", target, city_id=city.id, active=target.active)
            db.session.commit()
        except IntegrityError:  # the address taken by another account at this moment
            db.session.rollback()
            form.email.errors.append(_("An account with this email already exists."))
        except OperationalError:  # PostgreSQL ended a deadlock with another change of these tours: nothing saved
            db.session.rollback()
            form.active.errors.append(_("This was being changed at the same moment. Please try again."))
        else:
            if target.id == current_user.id:
                g.user_language = target.language
            flash(_("The account of %(name)s is saved.", name=target.name), "success")
            handed = sum(item["outcome"] == "reassigned" for item in released)
            if handed:
                flash(ngettext("%(num)d tour of %(name)s was handed to another guide.",
                               "%(num)d tours of %(name)s were handed to other guides.", handed, name=target.name),
                      "info")
            if len(released) - handed:
                flash(ngettext("%(num)d tour of %(name)s needs a new guide.",
                               "%(num)d tours of %(name)s need a new guide.", len(released) - handed,
                               name=target.name), "warning")
            return redirect_to(_back_url(city, target))
    return render(
        "accounts/account_form.html", "accounts/_account_form.html", status=422 if form.errors else 200,
        form=form, city=city, role=Role(target.role), company=target.company, person=target,
        back_url=_back_url(city, target),
    )


@bp.post("/people/<int:user_id>/link")
@roles_required(*MANAGERS)
def password_link(slug: str, user_id: int):
    city = city_for(current_user, slug)
    target = managed_user_for(current_user, city, user_id)
    if not target.active:
        flash(_("The account of %(name)s is deactivated. Activate it first.", name=target.name), "error")
        return redirect_to(url_for("accounts.person", slug=city.slug, user_id=target.id))
    purpose = "reset" if target.password_hash else "invite"
    link = create_password_link(current_user, target, purpose)
    target.reset_requested_at = None
    db.session.commit()
    return render("accounts/link.html", city=city, person=target, link=link, purpose=purpose,
                  back_url=_back_url(city, target))


# --- companies ------------------------------------------------------------------------------------


@bp.get("/companies")
@roles_required(*MANAGERS)
def companies(slug: str):
    city = city_for(current_user, slug)
    hr_counts = dict(
        db.session.execute(
            select(User.company_id, func.count()).where(User.role == Role.HR).group_by(User.company_id)
        ).all()
    )
    return render("accounts/companies.html", city=city, companies=city.companies, hr_counts=hr_counts)


def _company_name_taken(form: CompanyForm, company: Company | None) -> bool:
    # Compared in Python: SQLite's lower() knows only ASCII, so "ÄRZTE GMBH" would pass as a new company.
    wanted = form.name.data.casefold()
    clashes = [
        company_id for company_id, name in db.session.execute(select(Company.id, Company.name))
        if name.casefold() == wanted and (company is None or company_id != company.id)
    ]
    if clashes:
        form.name.errors.append(
            _("A company with this name already takes part. The regional admin can enrol it with your city.")
        )
        return True
    return False


@bp.route("/companies/new", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def new_company(slug: str):
    city = city_for(current_user, slug)
    form = CompanyForm()
    if form.validate_on_submit() and not _company_name_taken(form, None):
        company = Company(name=form.name.data, address=form.address.data)
        company.cities.append(city)
        db.session.add(company)
        try:
            record(db.session, current_user, "company_created", company, city_id=city.id)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            form.name.errors.append(_("A company with this name already takes part."))
        else:
            flash(_("%(name)s is enrolled with %(city)s.", name=company.name, city=city.name), "success")
            return redirect_to(url_for("accounts.company", slug=city.slug, company_id=company.id))
    return render(
        "accounts/company_form.html", "accounts/_company_form.html", status=422 if form.errors else 200,
        form=form, city=city, company=None,
    )


@bp.route("/companies/<int:company_id>", methods=["GET", "POST"])
@roles_required(*MANAGERS)
def company(slug: str, company_id: int):
    city = city_for(current_user, slug)
    company = company_for(current_user, city, company_id)
    form = CompanyForm(obj=company)
    if form.validate_on_submit() and not _company_name_taken(form, company):
        form.populate_obj(company)
        record(db.session, current_user, "company_updated", company, city_id=city.id)
        db.session.commit()
        flash(_("%(name)s is saved.", name=company.name), "success")
        return redirect_to(url_for("accounts.company", slug=city.slug, company_id=company.id))
    return render(
        "accounts/company.html", "accounts/_company_form.html", status=422 if form.errors else 200,
        form=form, city=city, company=company, people=_people(city, Role.HR, company),
    )


@bp.route("/companies/<int:company_id>/enrolment", methods=["POST"])
@roles_required(Role.ADMIN)
def enrol(slug: str, company_id: int):
    """The admin enrols an existing company with a further city (by the target city's slug)."""
    city = city_for(current_user, slug)
    company = company_for(current_user, city, company_id)
    target_slug = request.form.get("city") or ""
    target = None
    if valid_slug(target_slug):
        target = db.session.execute(select(City).where(City.slug == target_slug)).scalar_one_or_none()
    if target is None:
        flash(_("Please choose a city."), "error")
    elif target not in company.cities:
        company.cities.append(target)
        record(db.session, current_user, "company_enrolled", company, city_id=target.id)
        db.session.commit()
        flash(_("%(name)s is enrolled with %(city)s.", name=company.name, city=target.name), "success")
    return redirect_to(url_for("accounts.company", slug=city.slug, company_id=company.id))
