"""WTForms for accounts, cities and companies. Messages are lazily translated."""

from __future__ import annotations

import re
from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, Regexp, ValidationError

from .models import LANGUAGES

LANGUAGE_CHOICES = [("de", _l("German")), ("en", _l("English"))]
assert [c[0] for c in LANGUAGE_CHOICES] == list(LANGUAGES)

MIN_PASSWORD = 12


class Stripped:
    """Strip surrounding whitespace from text input."""

    @staticmethod
    def strip(value: str | None) -> str | None:
        return value.strip() if isinstance(value, str) else value


def _lower(value: str | None) -> str | None:
    return value.strip().lower() if isinstance(value, str) else value


_no_control = Regexp(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$", message=_l("Contains characters that are not allowed."))


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), filters=[_lower], validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(
        _l("Email"), filters=[_lower], validators=[DataRequired(), Length(max=254), Email(check_deliverability=False)]
    )


class SetPasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(),
            Length(min=MIN_PASSWORD, max=200, message=_l("Between 12 and 200 characters, please.")),
        ],
    )
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
    )


class ChangePasswordForm(SetPasswordForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])


class ProfileForm(FlaskForm):
    name = StringField(_l("Name"), filters=[Stripped.strip], validators=[DataRequired(), Length(max=120), _no_control])
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)


class AccountForm(FlaskForm):
    """A new or edited account of a guide, an HR user or a coordinator."""

    name = StringField(_l("Name"), filters=[Stripped.strip], validators=[DataRequired(), Length(max=120), _no_control])
    email = EmailField(
        _l("Email"), filters=[_lower], validators=[DataRequired(), Length(max=254), Email(check_deliverability=False)]
    )
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    active = BooleanField(_l("Account is active"), default=True)


def _valid_timezone(form: FlaskForm, field: StringField) -> None:
    if field.data not in available_timezones():
        raise ValidationError(_l("Unknown time zone, e.g. Europe/Berlin."))


class CityForm(FlaskForm):
    name = StringField(_l("Name"), filters=[Stripped.strip], validators=[DataRequired(), Length(max=120), _no_control])
    slug = StringField(
        _l("Short name in addresses"),
        filters=[_lower],
        validators=[
            DataRequired(),
            Length(max=60),
            Regexp(r"^[a-z0-9]+(-[a-z0-9]+)*$", message=_l("Lower-case letters, digits and hyphens only.")),
        ],
    )
    timezone = StringField(
        _l("Time zone"), filters=[Stripped.strip], default="Europe/Berlin", validators=[DataRequired(), _valid_timezone]
    )
    office_phone = StringField(
        _l("Office phone"),
        filters=[Stripped.strip],
        validators=[
            Optional(),
            Length(max=40),
            Regexp(r"^\+?[0-9 ()/-]{3,40}$", message=_l("A phone number, e.g. +49 271 404-0.")),
        ],
    )
    office_email = EmailField(
        _l("Office email"),
        filters=[_lower],
        validators=[Optional(), Length(max=254), Email(check_deliverability=False)],
    )


class CompanyForm(FlaskForm):
    name = StringField(_l("Name"), filters=[Stripped.strip], validators=[DataRequired(), Length(max=160), _no_control])
    address = TextAreaField(
        _l("Address"),
        filters=[Stripped.strip],
        description=_l("Street, postcode and town: the default meeting point for tours."),
        validators=[DataRequired(), Length(max=300), _no_control],
    )


def slugify(text: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
    return re.sub(r"[^a-z0-9]+", "-", text.lower().translate(table)).strip("-")
