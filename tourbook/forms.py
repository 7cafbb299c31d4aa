"""WTForms for accounts, cities and companies. Messages are lazily translated."""

from __future__ import annotations

import re
from zoneinfo import available_timezones

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from .models import LANGUAGES

# wtforms 3.3 deprecates (value, label) tuples (an error under the test suite's warning filter).
LANGUAGE_CHOICES = [SelectChoice("de", _l("German")), SelectChoice("en", _l("English"))]
assert [c.value for c in LANGUAGE_CHOICES] == list(LANGUAGES)

REQUEST_KEY = re.compile(r"[A-Za-z0-9_-]{16,32}")

# A value that is none of the boxes offered (wtforms' own message, in English only, repeats what was sent).
NOT_A_CHOICE = _l("Not a valid choice.")


def _distinct(values: list | None) -> list | None:
    """A box ticked twice (a replayed or hand-made request) counts once: the codes are stored joined, in a
    column of the length that all of them take once."""
    return list(dict.fromkeys(values)) if values else values


# One validator for every email field (validators keep no state): the house style's message.
_EMAIL = Email(check_deliverability=False, message=_l("Please enter an email address like name@example.org."))
MIN_PASSWORD = 12


def select_choices(pairs) -> list[SelectChoice]:  # noqa: ANN001
    """(value, label) pairs as wtforms 3.3 wants them; the pair lists stay for dict() look-ups."""
    return [SelectChoice(value, label) for value, label in pairs]


class Stripped:
    """Strip surrounding whitespace from text input."""

    @staticmethod
    def strip(value: str | None) -> str | None:
        return value.strip() if isinstance(value, str) else value


def _lower(value: str | None) -> str | None:
    return value.strip().lower() if isinstance(value, str) else value


_no_control = Regexp(
    r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$", message=_l("Contains characters that are not allowed.")
)
# One-line fields: no control characters at all (tabs and line breaks included).
_one_line = Regexp(r"^[^\x00-\x1f\x7f]*\Z", message=_l("Contains characters that are not allowed."))


class TextForm(FlaskForm):
    """The base of every form (none takes a file). A file sent where text is expected counts as missing; it
    would otherwise reach the validators, or the page that shows the form again, as a file object and fail
    them with an exception."""

    class Meta:
        def wrap_formdata(self, form, formdata):  # noqa: ANN001, ANN202
            data = super().wrap_formdata(form, formdata)
            return request.form if isinstance(data, CombinedMultiDict) else data


class LoginForm(TextForm):
    email = EmailField(_l("Email"), filters=[_lower], validators=[DataRequired(), Length(max=254), _one_line])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class ForgotPasswordForm(TextForm):
    email = EmailField(
        _l("Email"), filters=[_lower],
        validators=[DataRequired(), Length(max=254), _EMAIL],
    )


class SetPasswordForm(TextForm):
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


class ProfileForm(TextForm):
    name = StringField(
        _l("Name"), filters=[Stripped.strip], validators=[DataRequired(), Length(max=120), _one_line]
    )
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)


class AccountForm(TextForm):
    """A new or edited account of a guide, an HR user or a coordinator."""

    name = StringField(
        _l("Name"), filters=[Stripped.strip], validators=[DataRequired(), Length(max=120), _one_line]
    )
    email = EmailField(
        _l("Email"), filters=[_lower],
        validators=[DataRequired(), Length(max=254), _EMAIL],
    )
    language = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)
    active = BooleanField(_l("Account is active"), default=True)


def _valid_timezone(form: FlaskForm, field: StringField) -> None:
    if field.data not in available_timezones():
        raise ValidationError(_l("Unknown time zone, e.g. Europe/Berlin."))


class CityForm(TextForm):
    name = StringField(
        _l("Name"), filters=[Stripped.strip], validators=[DataRequired(), Length(max=120), _one_line]
    )
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
        _l("Time zone"), filters=[Stripped.strip], default="Europe/Berlin",
        validators=[DataRequired(), _valid_timezone],
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
        validators=[Optional(), Length(max=254), _EMAIL],
    )


class CompanyForm(TextForm):
    name = StringField(
        _l("Name"), filters=[Stripped.strip], validators=[DataRequired(), Length(max=160), _one_line]
    )
    address = TextAreaField(
        _l("Address"),
        filters=[Stripped.strip],
        description=_l("Street, postcode and town: the default meeting point for tours."),
        validators=[DataRequired(), Length(max=300), _no_control],
    )


def slugify(text: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
    return re.sub(r"[^a-z0-9]+", "-", text.lower().translate(table)).strip("-")


# --- guides' hours --------------------------------------------------------------------------------

WEEKDAY_CHOICES = [
    (0, _l("Monday")), (1, _l("Tuesday")), (2, _l("Wednesday")), (3, _l("Thursday")),
    (4, _l("Friday")), (5, _l("Saturday")), (6, _l("Sunday")),
]
GUIDE_LANGUAGE_CHOICES = [
    ("de", _l("German")), ("en", _l("English")), ("fr", _l("French")), ("es", _l("Spanish")),
    ("it", _l("Italian")), ("nl", _l("Dutch")), ("pl", _l("Polish")), ("tr", _l("Turkish")),
    ("ru", _l("Russian")), ("uk", _l("Ukrainian")), ("ar", _l("Arabic")),
]
ABSENCE_REASON_CHOICES = [
    ("holiday", _l("Holiday")), ("illness", _l("Illness")), ("training", _l("Training")), ("other", _l("Other")),
]


class WindowForm(TextForm):
    weekday = SelectField(_l("Weekday"), choices=select_choices(WEEKDAY_CHOICES), coerce=int)
    start = TimeField(_l("From"), validators=[DataRequired(message=_l("Please enter a time, e.g. 09:00."))],
                      render_kw={"step": 900, "min": "06:00", "max": "22:00"})
    end = TimeField(_l("Until"), validators=[DataRequired(message=_l("Please enter a time, e.g. 12:00."))],
                    render_kw={"step": 900, "min": "06:00", "max": "22:00"})
    valid_from = DateField(_l("Valid from"), validators=[Optional()])
    valid_until = DateField(_l("Valid until"), validators=[Optional()])


class AbsenceForm(TextForm):
    first_day = DateField(_l("First day"), validators=[DataRequired(message=_l("Please enter a date."))])
    last_day = DateField(_l("Last day"), validators=[DataRequired(message=_l("Please enter a date."))])
    # Optional times: what is no time would get wtforms' own message, which wtforms has in English only.
    start_time = TimeField(_l("From (time on the first day)"), validators=[Optional()], render_kw={"step": 900},
                           invalid_value_message=_l("Please enter a time, e.g. 09:00."))
    end_time = TimeField(_l("Until (time on the last day)"), validators=[Optional()], render_kw={"step": 900},
                         invalid_value_message=_l("Please enter a time, e.g. 12:00."))
    reason = SelectField(_l("Reason"), choices=select_choices(ABSENCE_REASON_CHOICES))


class GuideProfileForm(TextForm):
    languages = SelectMultipleField(
        _l("Languages you guide in"), choices=select_choices(GUIDE_LANGUAGE_CHOICES),
        validators=[DataRequired(message=_l("Choose at least one language."))], filters=[_distinct],
        invalid_choice_message=NOT_A_CHOICE,
        option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False),
    )
    daily_limit = IntegerField(
        _l("Tours per day at most"),
        validators=[InputRequired(message=_l("Please enter a number.")),
                    NumberRange(min=0, max=20, message=_l("Between 0 and 20."))],
    )
    weekly_limit = IntegerField(
        _l("Tours per week at most"),
        validators=[InputRequired(message=_l("Please enter a number.")),
                    NumberRange(min=0, max=100, message=_l("Between 0 and 100."))],
    )


# --- tours ----------------------------------------------------------------------------------------

INTEREST_CHOICES = [
    ("housing", _l("Housing")), ("schools", _l("Schools & childcare")), ("sports", _l("Sports & clubs")),
    ("culture", _l("Culture & leisure")), ("shopping", _l("Shopping & old town")), ("nature", _l("Nature")),
    ("work", _l("Work for the partner")),
]
PARTNER_LANGUAGE_CHOICES = LANGUAGE_CHOICES
MEETING_POINT_CHOICES = [
    ("company", _l("The company's address")), ("station", _l("The main station")), ("city_hall", _l("City hall")),
]
_phone = Regexp(r"^\+?[0-9 ()/-]{3,40}$", message=_l("A phone number, e.g. +49 171 1234567."))


class WhenForm(TextForm):
    """Date and interview slot (local time of the city)."""

    day = DateField(_l("Interview date"), validators=[DataRequired(message=_l("Please enter a date."))])
    start = TimeField(_l("Start"), validators=[DataRequired(message=_l("Please enter a time, e.g. 09:00."))],
                      render_kw={"step": 900})
    end = TimeField(_l("End"), validators=[DataRequired(message=_l("Please enter a time, e.g. 11:00."))],
                    render_kw={"step": 900})


class AvailabilityForm(WhenForm):
    """The question beside the booking form (a GET while the form changes): only what it needs."""

    class Meta:
        csrf = False

    city = SelectField(_l("City"), coerce=int, validate_choice=False)
    language = SelectField(_l("Language of the tour"), choices=PARTNER_LANGUAGE_CHOICES)


class TourForm(WhenForm):
    city = SelectField(_l("City"), coerce=int, validate_choice=True)
    first_name = StringField(_l("Partner's first name"), filters=[Stripped.strip],
                             validators=[DataRequired(message=_l("Please enter the partner's first name.")),
                                         Length(max=80), _no_control])
    last_name = StringField(_l("Last name"), filters=[Stripped.strip],
                            validators=[Optional(), Length(max=80), _no_control])
    email = EmailField(_l("Email"), filters=[_lower],
                       validators=[Optional(), Length(max=254), _EMAIL])
    phone = StringField(_l("Phone"), filters=[Stripped.strip], validators=[Optional(), Length(max=40), _phone])
    language = SelectField(_l("Language of the tour"), choices=PARTNER_LANGUAGE_CHOICES)
    interests = SelectMultipleField(_l("Interests"), choices=select_choices(INTEREST_CHOICES), validators=[Optional()],
                                    filters=[_distinct], invalid_choice_message=NOT_A_CHOICE,
                                    option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))
    people = IntegerField(_l("People coming (children too)"), default=1,
                          validators=[InputRequired(message=_l("Please enter a number.")),
                                      NumberRange(min=1, max=20, message=_l("Between 1 and 20."))])
    accessibility_needs = TextAreaField(_l("Accessibility needs"), filters=[Stripped.strip],
                                        validators=[Optional(), Length(max=1000), _no_control])
    guide_note = TextAreaField(_l("Note for the guide"), filters=[Stripped.strip],
                               validators=[Optional(), Length(max=1000), _no_control])
    meeting_point = SelectField(_l("Meeting point"), choices=select_choices(MEETING_POINT_CHOICES))
    consent = BooleanField(
        _l("The partner has agreed that these details may be passed on to the city for the tour."),
        validators=[DataRequired(message=_l("Please confirm the partner's consent."))],
    )
    # This form's own key (tours.new gives each new form one): sent twice, it books one tour. Anything else
    # than a key of that shape counts as none.
    request_key = HiddenField(filters=[lambda v: v if v and REQUEST_KEY.fullmatch(v) else None])


class RescheduleForm(WhenForm):
    pass


class ReasonForm(TextForm):
    reason = TextAreaField(_l("Reason"), filters=[Stripped.strip],
                           validators=[DataRequired(message=_l("Please give a reason.")), Length(max=500), _no_control])


class AssignForm(ReasonForm):
    guide = SelectField(_l("Guide"), coerce=int, validate_choice=True)


class WishesForm(TextForm):
    interests = SelectMultipleField(_l("What interests you?"), choices=select_choices(INTEREST_CHOICES),
                                    validators=[Optional()], filters=[_distinct],
                                    invalid_choice_message=NOT_A_CHOICE,
                                    option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))
    language = SelectField(_l("Language of the tour"), choices=PARTNER_LANGUAGE_CHOICES)
    people = IntegerField(_l("People coming (children too)"),
                          validators=[InputRequired(message=_l("Please enter a number.")),
                                      NumberRange(min=1, max=20, message=_l("Between 1 and 20."))])


class PartnerCancelForm(TextForm):
    reason = TextAreaField(_l("Would you tell us why?"), filters=[Stripped.strip],
                           validators=[Optional(), Length(max=500), _no_control])


RATING_CHOICES = [
    ("5", _l("5 – very good")), ("4", _l("4 – good")), ("3", _l("3 – all right")),
    ("2", _l("2 – not so good")), ("1", _l("1 – poor")),
]


class FeedbackForm(TextForm):
    rating = RadioField(_l("How was your tour?"), choices=select_choices(RATING_CHOICES),
                        validators=[InputRequired(message=_l("Please choose a rating."))])
    comment = TextAreaField(_l("Anything you want to tell us?"), filters=[Stripped.strip],
                            validators=[Optional(), Length(max=1000), _no_control])


HOLIDAY_REGIONS = [
    ("BW", "Baden-Württemberg"), ("BY", "Bayern"), ("BE", "Berlin"), ("BB", "Brandenburg"), ("HB", "Bremen"),
    ("HH", "Hamburg"), ("HE", "Hessen"), ("MV", "Mecklenburg-Vorpommern"), ("NI", "Niedersachsen"),
    ("NW", "Nordrhein-Westfalen"), ("RP", "Rheinland-Pfalz"), ("SL", "Saarland"), ("SN", "Sachsen"),
    ("ST", "Sachsen-Anhalt"), ("SH", "Schleswig-Holstein"), ("TH", "Thüringen"),
]


def _number(label, low: int, high: int, description=None) -> IntegerField:  # noqa: ANN001
    return IntegerField(label, description=description, validators=[
        InputRequired(message=_l("Please enter a number.")),
        NumberRange(min=low, max=high, message=_l("Between %(min)d and %(max)d.", min=low, max=high)),
    ])


class CitySettingsForm(TextForm):
    lead_time_hours = _number(_l("Lead time (hours)"), 0, 720, _l("Tours are booked at least this long ahead."))
    horizon_days = _number(_l("Horizon (days)"), 1, 730, _l("Tours are booked at most this far ahead."))
    min_duration_minutes = _number(_l("Shortest tour (minutes)"), 15, 720)
    max_duration_minutes = _number(_l("Longest tour (minutes)"), 15, 720)
    buffer_minutes = _number(_l("Buffer between a guide's tours (minutes)"), 0, 240)
    holiday_subdivision = SelectField(_l("Public holidays of"), choices=select_choices(HOLIDAY_REGIONS))
    office_phone = StringField(_l("Office phone"), filters=[Stripped.strip],
                               validators=[Optional(), Length(max=40), _phone])
    office_email = EmailField(_l("Office email"), filters=[_lower],
                              validators=[Optional(), Length(max=254), _EMAIL])
    partner_link_days = _number(_l("Partner link works after the tour (days)"), 0, 365)
    erase_after_days = _number(_l("Erase partner data after the tour (days)"), 1, 365)
    privacy_text_de = TextAreaField(_l("Privacy notice in German"), filters=[Stripped.strip],
                                    description=_l("Leave empty to use the standard text."),
                                    validators=[Optional(), Length(max=20000), _no_control])
    privacy_text_en = TextAreaField(_l("Privacy notice in English"), filters=[Stripped.strip],
                                    description=_l("Leave empty to use the standard text."),
                                    validators=[Optional(), Length(max=20000), _no_control])

    def validate_max_duration_minutes(self, field: IntegerField) -> None:
        if self.min_duration_minutes.data is not None and field.data is not None \
                and field.data < self.min_duration_minutes.data:
            raise ValidationError(_l("The longest tour must not be shorter than the shortest."))


class AuditFilterForm(TextForm):
    class Meta:
        csrf = False

    object = SelectField(_l("Object"), choices=select_choices([("", _l("All")), ("tour", _l("Tours")),
                                                                ("user", _l("Accounts")),
                                                ("city", _l("Cities")), ("company", _l("Companies")),
                                                ("absence", _l("Absences")), ("availabilitywindow", _l("Windows"))]),
                         validate_choice=False)
    object_id = IntegerField(_l("Object number"), validators=[Optional(), NumberRange(min=1, max=2**31 - 1)])
    person = StringField(_l("Person (email)"), filters=[_lower], validators=[Optional(), Length(max=254)])
    day_from = DateField(_l("From"), validators=[Optional()])
    day_to = DateField(_l("Until"), validators=[Optional()])
