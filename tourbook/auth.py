"""Signing in and out, one-time password links, changing one's password and settings."""

from __future__ import annotations

import unicodedata
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, make_response, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select, update
from werkzeug.exceptions import HTTPException

from .database import end_transaction_keeping_what_was_read
from .extensions import db, limiter, login_manager
from .forms import ChangePasswordForm, ForgotPasswordForm, LoginForm, ProfileForm, SetPasswordForm
from .htmx import as_whole_page, redirect_to, render
from .models import PasswordToken, User, record, utcnow
from .security import (
    check_password,
    end_all_sessions,
    end_login_session,
    end_other_sessions,
    hash_password,
    new_token,
    start_login_session,
    token_hash,
)

bp = Blueprint("auth", __name__)


def _failed(response) -> bool:  # noqa: ANN001
    return response.status_code >= 400


def _account_key() -> str:
    return "login-account:" + (request.form.get("email") or "").strip().lower()[:254]


def _safe_next(target: str | None) -> str | None:
    """A path on this site to go to after signing in, or None. Browsers drop tabs and newlines from URLs and
    read a backslash as a slash, so ``/\t/evil.example`` would leave the site: such targets are refused."""
    if not target or not target.startswith("/") or "\\" in target:
        return None
    if any(unicodedata.category(ch)[0] in "CZ" and ch != " " for ch in target):
        return None
    parts = urlsplit(target)
    if target.startswith("//") or parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"], methods=["POST"], deduct_when=_failed)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], methods=["POST"], key_func=_account_key,
    deduct_when=_failed,
)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.execute(select(User).where(User.email == form.email.data)).scalar_one_or_none()
        end_transaction_keeping_what_was_read()  # SQLite: no write lock held while the password is checked
        if check_password(user, form.password.data) and user is not None and user.active:
            start_login_session(user)
            record(db.session, user, "login", user)
            db.session.commit()
            if kept := _kept_form():
                target, fields = kept
                return render("auth/send_again.html", target=target, fields=fields, form_name=_form_name(target),
                              title=_("You are signed in again"),
                              message=_("The form you sent before has not been saved yet: send it now."))
            return redirect_to(_safe_next(request.args.get("next")) or url_for("main.index"))
        form.password.errors.append(_("Email or password is wrong, or the account is not active."))
        db.session.commit()  # a rehash or nothing
    status = 422 if form.errors else 200
    return render("auth/login.html", "auth/_login_form.html", status=status, form=form, kept=_kept_form())


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        record(db.session, current_user, "logout", current_user)
    signed_out = _("You are signed out.")  # in the language of the pages just read, which signing out forgets
    end_login_session()
    db.session.commit()
    flash(signed_out, "success")
    return redirect_to(url_for("auth.login"))


def _valid_token(token: str) -> PasswordToken | None:
    row = db.session.execute(
        select(PasswordToken).where(PasswordToken.token_hash == token_hash(token))
    ).scalar_one_or_none()
    if row is None or row.used_at is not None or row.expires_at < utcnow() or not row.user.active:
        return None
    return row


@bp.route("/password/set/<token>", methods=["GET", "POST"])
@limiter.limit("30/10 minutes", methods=["POST"])
def set_password(token: str):
    row = _valid_token(token)
    if row is None:
        return _not_stored(render("auth/link_invalid.html", status=404))
    form = SetPasswordForm()
    if form.validate_on_submit():
        # Claim the link in the database: of two requests with one link at once, only one sets a password.
        claimed = db.session.execute(
            update(PasswordToken)
            .where(PasswordToken.id == row.id, PasswordToken.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed != 1:
            db.session.rollback()
            return _not_stored(render("auth/link_invalid.html", status=404))
        user = row.user
        user.password_hash = hash_password(form.password.data)
        user.password_changed_at = utcnow()
        user.reset_requested_at = None
        end_all_sessions(user)
        record(db.session, user, "password_set", user, city_id=user.city_id, purpose=row.purpose)
        db.session.commit()
        flash(_("Your password is set. Please sign in."), "success")
        return redirect_to(url_for("auth.login"))
    return _not_stored(render(
        "auth/set_password.html", "auth/_set_password_form.html", status=422 if form.errors else 200,
        form=form, token=token, account=row.user,
    ))


def _not_stored(response):  # noqa: ANN001, ANN202
    """Pages reached by a secret link stay out of caches (signed-out visitors get no no-store otherwise)."""
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("10/10 minutes", methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        user = db.session.execute(select(User).where(User.email == form.email.data)).scalar_one_or_none()
        if user is not None and user.active:
            user.reset_requested_at = utcnow()
            record(db.session, None, "password_reset_requested", user, city_id=user.city_id)
            create_password_link(None, user, "reset")  # mailed to the account's address only
            db.session.commit()
        # The same answer whether or not the account exists.
        return render("auth/forgot_sent.html", "auth/_forgot_sent.html")
    return render(
        "auth/forgot.html", "auth/_forgot_form.html", status=422 if form.errors else 200, form=form
    )


def create_password_link(actor: User | None, user: User, purpose: str) -> str:
    """A fresh one-time link for ``user``, also sent to them by mail; earlier unused links stop working."""
    for old in db.session.execute(
        select(PasswordToken).where(PasswordToken.user_id == user.id, PasswordToken.used_at.is_(None))
    ).scalars():
        old.used_at = utcnow()
    token = new_token()
    lifetime: timedelta = current_app.config["PASSWORD_LINK_LIFETIME"]
    db.session.add(
        PasswordToken(
            token_hash=token_hash(token), user_id=user.id, purpose=purpose,
            created_by_id=actor.id if actor else None,
            expires_at=utcnow() + lifetime,
        )
    )
    record(db.session, actor, f"password_link_{purpose}", user, city_id=user.city_id)
    from .mail import external_url, queue_password_link

    link = external_url("auth.set_password", token=token)
    queue_password_link(db.session, user, link, purpose)
    return link


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    user: User = current_user._get_current_object()
    profile = ProfileForm(obj=user, prefix="profile")
    password = ChangePasswordForm(prefix="pw")
    which = request.form.get("form")
    if which == "profile" and profile.validate_on_submit():
        user.name = profile.name.data
        user.language = profile.language.data
        g.user_language = user.language
        session.pop("lang", None)  # the saved setting now decides
        record(db.session, user, "profile_updated", user, city_id=user.city_id)
        db.session.commit()
        flash(_("Your settings are saved."), "success")
        return redirect_to(url_for("auth.account"))
    if which == "password" and password.validate_on_submit():
        if not check_password(user, password.current.data):
            password.current.errors.append(_("This is not your current password."))
        else:
            user.password_hash = hash_password(password.password.data)
            user.password_changed_at = utcnow()
            end_other_sessions(user)
            # A new session id for this browser too.
            end_login_session()
            start_login_session(user)
            record(db.session, user, "password_changed", user, city_id=user.city_id)
            db.session.commit()
            flash(_("Your password is changed. Other devices are signed out."), "success")
            return redirect_to(url_for("auth.account"))
    failed = (which == "profile" and profile.errors) or (which == "password" and password.errors)
    fragment = {"profile": "auth/_profile_form.html", "password": "auth/_password_form.html"}.get(which or "")
    return render(
        "auth/account.html", fragment, status=422 if failed else 200, profile=profile, password=password
    )


@login_manager.unauthorized_handler
def _unauthorized():
    """Signed-out visitors go to the login page; an htmx request is told to navigate there. A form sent after
    the sign-in ended is kept through signing in again (sign_in_keeping_the_form), and a live answer inside a
    page (the availability beside the booking form) leaves the page as it is: navigating away would lose
    what was typed, and sending the form will ask for the sign-in."""
    if keeps_the_form():
        return sign_in_keeping_the_form()
    htmx = request.headers.get("HX-Request") == "true"
    # The page htmx asks from (its path and query; only a path of this site is ever a target).
    page = _safe_next(urlsplit(request.headers.get("HX-Current-URL", ""))._replace(scheme="", netloc="").geturl()
                      ) if htmx else None
    # Only a live GET is left unanswered: a click that posts (removing a window, say) goes to the sign-in.
    if request.method == "GET" and page and urlsplit(page).path != request.path:
        return make_response("", 204)
    here = request.full_path.rstrip("?") if request.method == "GET" else None
    target = url_for("auth.login", next=page or here)
    if htmx:
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    flash(_("Please sign in to continue."), "info")
    return redirect(target)


# --- a form sent when the sign-in had ended ------------------------------------------------------
# Its fields travel in the page (hidden fields of the sign-in form, then of a form that sends them again), not
# in the session or the database: nothing is stored, and the user decides to send it once signed in.


def keeps_the_form() -> bool:
    """Whether what this request sent is kept when the sign-in or the form has expired: a form with fields, sent
    from a page of this site. Signing in and the password forms are simply asked again: a password is never
    written into a page."""
    return request.method == "POST" and request.blueprint != "auth" and bool(sent_fields()) and from_this_site()


def from_this_site() -> bool:
    """Whether the browser says the request came from a page of this site. Only such a form is kept: one that
    another site sent (a forged request) must not come back as "your form, send it again"."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    return request.headers.get("Origin") == request.host_url.rstrip("/")


def sent_fields() -> list[tuple[str, str]]:
    """The fields of the form this request sent, in order (without its CSRF token)."""
    return [(name, value) for name, value in request.form.items(multi=True) if name != "csrf_token"]


def _kept_form() -> tuple[str, list[tuple[str, str]]] | None:
    """The form the sign-in form carries along (``kept_*`` fields), when its target is a path of this site."""
    target = _safe_next(request.form.get("kept_target"))
    names, values = request.form.getlist("kept_name"), request.form.getlist("kept_value")
    if not target or len(names) != len(values):
        return None
    return target, list(zip(names, values, strict=True))


def _kept_page(response):  # noqa: ANN001, ANN202
    """A page holding a kept form: the whole page (the reschedule form's live check takes only
    "#availability > *" of its answers: nothing of a sign-in page), and never stored (what was typed)."""
    response = as_whole_page(response)
    response.headers["Cache-Control"] = "no-store"
    return response


def sign_in_keeping_the_form():  # noqa: ANN201
    """The sign-in page for a form sent while signed out, carrying the form's fields along."""
    fields = sent_fields()
    flash(_("Your sign-in had ended, so the form was not saved yet. Sign in again: what you entered is kept, "
            "and you can then send it."), "info")
    kept = (request.full_path.rstrip("?"), fields)
    return _kept_page(render("auth/login.html", status=401, form=LoginForm(formdata=None), kept=kept))


# The forms people spend time on, by the name their page gives them: the page that sends one again says which.
_FORM_NAMES = {
    "tours.new": lambda: _("Book a tour"),
    "tours.reschedule": lambda: _("Change the time"),
    "tours.cancel": lambda: _("Cancel the tour"),
    "tours.decline": lambda: _("Decline the tour"),
    "partner.cancel": lambda: _("Cancel the tour"),
    "guides.new_absence": lambda: _("Add an absence"),
}


def _form_name(target: str) -> str | None:
    try:
        adapter = current_app.url_map.bind_to_environ(request.environ)
        endpoint, _values = adapter.match(urlsplit(target).path, method="POST")
    except HTTPException:
        return None
    name = _FORM_NAMES.get(endpoint)
    return name() if name else None


def send_again(title: str, message: str):  # noqa: ANN201
    """A page that sends the form again (with a valid CSRF token), for a signed-in user whose form expired."""
    fields = sent_fields()
    target = request.full_path.rstrip("?")
    return _kept_page(render("auth/send_again.html", status=400, target=target, fields=fields, title=title,
                                 message=message, form_name=_form_name(target),
                                 partner=request.blueprint == "partner"))
