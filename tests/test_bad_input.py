"""Bad input for every form of the foundation: empty, too long, control characters, wrong types,
duplicates. The answer is always 422 with the error at the field and the typed values kept (never a 500);
for htmx only the form fragment. Names in any script are welcome."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pytest
from conftest import TEST_PASSWORD
from flask import Flask
from helpers_foundation import (  # noqa: F401 - fixtures
    HTMX,
    english_client,
    english_make_user,
    field_error,
    fresh_request_globals,
    input_value,
    new_client,
    password_link_for,
    sign_in,
    text_of,
)
from sqlalchemy import select

from tourbook.extensions import db
from tourbook.models import City, Company, Role, User

REQUIRED = "This field is required."
NOT_ALLOWED = "Contains characters that are not allowed."
LONG = "x" * 5000


@dataclass
class Form:
    """One form: where it is, who fills it in, and what a good submission looks like."""

    name: str
    who: str  # "anonymous" or "admin"
    url: str
    valid: dict[str, str]
    texts: list[str]  # the text fields (their names are also their HTML ids)
    secrets: list[str] = field(default_factory=list)  # password fields: never shown again
    selects: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    fixed: dict[str, str] = field(default_factory=dict)  # hidden fields that say which form it is
    edits: bool = False  # edits a stored object: a field left out keeps its stored value


@dataclass
class World:
    city: City
    other_city: City
    company: Company
    other_company: Company
    admin: User
    guide: User
    invited: User
    token: str
    browsers: dict

    def forms(self) -> list[Form]:
        s, c = self.city.slug, self.company.id
        account = dict(name="Neue Person", email="neue.person@example.org", language="en")
        city = dict(
            name="Neustadt",
            slug="neustadt",
            timezone="Europe/Berlin",
            office_phone="+49 271 1",
            office_email="touren@neustadt.example",
        )
        company = dict(name="Neue Firma GmbH", address="Neue Straße 1\r\n57072 Siegen")
        return [
            Form(
                "login",
                "anonymous",
                "/login",
                dict(email=self.guide.email, password=TEST_PASSWORD),
                ["email"],
                secrets=["password"],
            ),
            Form(
                "forgot password",
                "anonymous",
                "/password/forgot",
                dict(email=self.guide.email),
                ["email"],
                emails=["email"],
            ),
            Form(
                "set password",
                "anonymous",
                f"/password/set/{self.token}",
                dict(password="a long enough passphrase", confirm="a long enough passphrase"),
                [],
                secrets=["password", "confirm"],
            ),
            Form(
                "profile",
                "admin",
                "/account",
                {"profile-name": "Anna Admin", "profile-language": "en"},
                ["profile-name"],
                selects=["profile-language"],
                fixed={"form": "profile"},
                edits=True,
            ),
            Form(
                "password change",
                "admin",
                "/account",
                {
                    "pw-current": TEST_PASSWORD,
                    "pw-password": "a long enough passphrase",
                    "pw-confirm": "a long enough passphrase",
                },
                [],
                secrets=["pw-current", "pw-password", "pw-confirm"],
                fixed={"form": "password"},
            ),
            Form(
                "new city",
                "admin",
                "/admin/cities/new",
                city,
                ["name", "slug", "timezone", "office_phone", "office_email"],
                emails=["office_email"],
            ),
            Form(
                "edit city",
                "admin",
                f"/admin/cities/{s}/edit",
                dict(city, name="Siegen", slug=s),
                ["name", "slug", "timezone", "office_phone", "office_email"],
                emails=["office_email"],
                edits=True,
            ),
            Form(
                "new guide",
                "admin",
                f"/c/{s}/guides/new",
                account,
                ["name", "email"],
                selects=["language"],
                emails=["email"],
            ),
            Form(
                "new coordinator",
                "admin",
                f"/c/{s}/coordinators/new",
                account,
                ["name", "email"],
                selects=["language"],
                emails=["email"],
            ),
            Form(
                "new HR account",
                "admin",
                f"/c/{s}/companies/{c}/hr/new",
                account,
                ["name", "email"],
                selects=["language"],
                emails=["email"],
            ),
            Form(
                "edit account",
                "admin",
                f"/c/{s}/people/{self.guide.id}",
                dict(account, email=self.guide.email, active="y"),
                ["name", "email"],
                selects=["language"],
                emails=["email"],
                edits=True,
            ),
            Form("new company", "admin", f"/c/{s}/companies/new", company, ["name", "address"]),
            Form(
                "edit company",
                "admin",
                f"/c/{s}/companies/{c}",
                dict(company, name=self.company.name),
                ["name", "address"],
                edits=True,
            ),
        ]

    def send(self, form: Form, data: dict, headers: dict | None = None):  # noqa: ANN201
        return self.browsers[form.who].post(form.url, data={**data, **form.fixed}, headers=headers)


@pytest.fixture
def world(app: Flask, make_city, make_company, make_user) -> World:
    city, other_city = make_city(name="Siegen", slug="siegen"), make_city(name="Olpe", slug="olpe")
    company = make_company(cities=[city], name="Hüttenwerk GmbH")
    make_company(cities=[other_city], name="Ärztehaus am Markt")
    other_company = make_company(cities=[other_city], name="Olper Brauerei KG")
    admin = make_user(Role.ADMIN, email="admin@example.org")
    guide = make_user(Role.GUIDE, city=city, email="gisela@example.org", name="Gisela Guide")
    invited = make_user(Role.GUIDE, city=city, email="invited@example.org", password_hash=None)
    token = password_link_for(app, admin, invited).rsplit("/", 1)[1]
    browsers = {"anonymous": new_client(app), "admin": new_client(app)}
    sign_in(browsers["admin"], admin.email, TEST_PASSWORD)
    return World(city, other_city, company, other_company, admin, guide, invited, token, browsers)


def refused(response, what: str) -> str:  # noqa: ANN001
    assert response.status_code == 422, (what, response.status_code, text_of(response)[:300])
    page = text_of(response)
    assert "Please correct the marked fields." in page, what
    return page


def test_every_form_has_a_case_here(app: Flask, world: World):
    """A new form (a POST route of these blueprints that is not in the list) must be added above."""
    posting = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if "POST" in rule.methods
        and "GET" in rule.methods
        and rule.endpoint.split(".")[0] in ("auth", "admin", "accounts")
    }
    covered = {
        "/login",
        "/password/forgot",
        "/password/set/<token>",
        "/account",
        "/admin/cities/new",
        "/admin/cities/<slug>/edit",
        "/c/<slug>/guides/new",
        "/c/<slug>/coordinators/new",
        "/c/<slug>/companies/<int:company_id>/hr/new",
        "/c/<slug>/people/<int:user_id>",
        "/c/<slug>/companies/new",
        "/c/<slug>/companies/<int:company_id>",
    }
    assert posting == covered


def test_empty_forms_say_which_fields_are_required(world: World):
    for form in world.forms():
        response = world.send(form, dict.fromkeys(form.valid, ""))
        refused(response, form.name)
        first = (form.texts + form.secrets)[0]
        assert field_error(response, first) == REQUIRED, form.name
        assert 'aria-invalid="true"' in response.get_data(as_text=True), form.name


def test_whitespace_only_is_empty(world: World):
    for form in world.forms():
        if not form.texts:
            continue
        response = world.send(form, {**form.valid, form.texts[0]: "   \t  "})
        refused(response, form.name)
        assert field_error(response, form.texts[0]), form.name


def test_too_long_input_is_refused_and_shown_again(world: World):
    for form in world.forms():
        for name in form.texts + form.secrets:
            response = world.send(form, {**form.valid, name: LONG})
            refused(response, f"{form.name}: {name}")
            assert field_error(response, name), f"{form.name}: {name}"
            if name in form.secrets:
                assert LONG not in response.get_data(as_text=True), "passwords are never sent back"
            else:
                assert input_value(response, name) == LONG, f"{form.name}: {name}"
            # the other fields keep what was typed
            for other in form.texts:
                if other != name:
                    assert input_value(response, other) == form.valid[other], f"{form.name}: {other}"


@pytest.mark.parametrize("bad", ["\x00", "\x07", "\x1b[31m", "\x7f"])
def test_control_characters_are_refused(world: World, bad: str):
    for form in world.forms():
        for name in form.texts + form.secrets[:1]:
            value = f"Anna{bad}Berg"
            response = world.send(form, {**form.valid, name: value})
            if name in form.secrets and form.name != "login":
                # a password may hold any character (it is only hashed); it must not break anything
                assert response.status_code in (303, 422), f"{form.name}: {name}"
                continue
            refused(response, f"{form.name}: {name}")
            assert field_error(response, name) or form.name == "login", f"{form.name}: {name}"


def test_line_breaks_are_refused_in_one_line_fields_and_kept_in_addresses(world: World):
    for form in world.forms():
        for name in form.texts:
            response = world.send(form, {**form.valid, name: "Anna\nBerg"})
            if name == "address":
                assert response.status_code == 303, form.name
            else:
                refused(response, f"{form.name}: {name}")
    company = db.session.execute(select(Company).where(Company.name == "Neue Firma GmbH")).scalar_one()
    assert company.address == "Anna\nBerg"


def test_wrong_types_are_refused_with_a_message(world: World):
    for form in world.forms():
        for name in form.selects:
            response = world.send(form, {**form.valid, name: "klingonisch"})
            refused(response, form.name)
            assert field_error(response, name) == "Not a valid choice.", form.name
        for name in form.emails:
            response = world.send(form, {**form.valid, name: "not an email"})
            refused(response, form.name)
            assert field_error(response, name) == "Please enter an email address like name@example.org.", form.name
            assert input_value(response, name) == "not an email"
        # a file where text is expected is no text at all (a form that edits something keeps what is stored)
        name = (form.texts + form.secrets)[0]
        upload = (io.BytesIO(b"%PDF-1.7"), "cv.pdf", "application/pdf")
        response = world.send(form, {**form.valid, name: upload})
        if form.edits:
            assert response.status_code == 303, form.name
            assert "cv.pdf" not in text_of(world.browsers[form.who].get(form.url)), form.name
        else:
            refused(response, form.name)
            assert field_error(response, name) == REQUIRED, form.name


def test_city_fields_explain_their_format(world: World):
    form = next(f for f in world.forms() if f.name == "new city")
    for name, value, message in [
        ("slug", "Neu Stadt", "Lower-case letters, digits and hyphens only."),
        ("slug", "neu--stadt", "Lower-case letters, digits and hyphens only."),
        ("timezone", "Mars/Olympus_Mons", "Unknown time zone, e.g. Europe/Berlin."),
        ("office_phone", "call us maybe", "A phone number, e.g. +49 271 404-0."),
    ]:
        response = world.send(form, {**form.valid, name: value})
        refused(response, name)
        assert field_error(response, name) == message
        assert input_value(response, name) == (value.lower() if name == "slug" else value)


def test_repeated_fields_use_the_first_value_and_never_fail(world: World):
    for form in world.forms():
        name = (form.texts + form.secrets)[0]
        browser = world.browsers[form.who]
        data = {**form.valid, **form.fixed, name: [form.valid[name], LONG]}
        response = browser.post(form.url, data=data)
        assert response.status_code in (200, 303, 422), form.name


def test_htmx_gets_only_the_form_fragment_with_the_errors(world: World):
    for form in world.forms():
        response = world.send(form, dict.fromkeys(form.valid, ""), headers=HTMX)
        refused(response, form.name)
        html = response.get_data(as_text=True)
        assert "<html" not in html and "<header" not in html and "<nav" not in html, form.name
        assert html.lstrip().startswith("<form") and html.rstrip().endswith("</form>"), form.name
        assert 'role="alert"' in html, "the error summary is announced"
        assert response.headers["Vary"].count("HX-Request") >= 1
        full = world.send(form, dict.fromkeys(form.valid, ""))
        assert "<html" in full.get_data(as_text=True), form.name


NAMES = [
    "Zoë Ørsted-Łukasiewicz 🙂",  # Latin with diacritics and an emoji
    "مريم الحسن",  # Arabic, right to left
    "שרה לוי",  # Hebrew
    "Jose\u0301 Nin\u0303o",  # combining accents (not normalised away)
    "Ἀθηνᾶ 山田 太郎",  # Greek, CJK
    "A" * 120,  # exactly the longest allowed
]


@pytest.mark.parametrize("name", NAMES)
def test_names_in_any_script_are_accepted_and_kept_exactly(world: World, name: str):
    admin = world.browsers["admin"]
    s = world.city.slug
    # profile
    assert (
        admin.post(
            "/account", data={"form": "profile", "profile-name": name, "profile-language": "en"}
        ).status_code
        == 303
    )
    # a guide's account
    created = admin.post(
        f"/c/{s}/guides/new", data={"name": name, "email": "unicode@example.org", "language": "de"}
    )
    assert created.status_code == 200
    assert name in text_of(created)
    guide = db.session.execute(select(User).where(User.email == "unicode@example.org")).scalar_one()
    # a company
    company_name = name[:160]
    assert (
        admin.post(f"/c/{s}/companies/new", data={"name": company_name, "address": name}).status_code == 303
    )
    # a city
    assert (
        admin.post(
            "/admin/cities/new", data={"name": name, "slug": "unicode", "timezone": "Europe/Berlin"}
        ).status_code
        == 303
    )
    db.session.expire_all()
    assert db.session.get(User, world.admin.id).name == name
    assert db.session.get(User, guide.id).name == name
    assert (
        db.session.execute(select(Company.address).where(Company.name == company_name)).scalar_one() == name
    )
    assert db.session.execute(select(City.name).where(City.slug == "unicode")).scalar_one() == name
    # and they are shown as they are
    assert name in text_of(admin.get(f"/c/{s}/guides"))
    assert name in text_of(admin.get("/admin/cities"))


def test_duplicates_are_refused_at_the_field(world: World):
    admin = world.browsers["admin"]
    s = world.city.slug
    taken = "An account with this email already exists."
    for url in (
        f"/c/{s}/guides/new",
        f"/c/{s}/coordinators/new",
        f"/c/{s}/companies/{world.company.id}/hr/new",
    ):
        response = admin.post(
            url, data={"name": "Zweite Gisela", "email": " GISELA@Example.org ", "language": "de"}
        )
        refused(response, url)
        assert field_error(response, "email") == taken
        assert input_value(response, "name") == "Zweite Gisela"
    response = admin.post(
        f"/c/{s}/people/{world.invited.id}",
        data={"name": "Invited", "email": world.guide.email, "language": "de", "active": "y"},
    )
    refused(response, "edit account")
    assert field_error(response, "email") == taken

    for data, name in [
        ({"name": "Neustadt", "slug": "olpe"}, "slug"),
        ({"name": "Olpe", "slug": "olpe-2"}, "name"),
    ]:
        response = admin.post("/admin/cities/new", data={**data, "timezone": "Europe/Berlin"})
        refused(response, name)
        assert field_error(response, name) == "Another city already uses this."
    response = admin.post(
        f"/admin/cities/{s}/edit", data={"name": "Siegen", "slug": "olpe", "timezone": "UTC"}
    )
    refused(response, "edit city")
    assert field_error(response, "slug") == "Another city already uses this."

    response = admin.post("/admin/cities/new", data={"name": "OLPE", "slug": "olpe-3", "timezone": "UTC"})
    assert field_error(response, "name") == "Another city already uses this."
    for url, name in [
        (f"/c/{s}/companies/new", "ÄRZTEHAUS AM MARKT"),
        (f"/c/{s}/companies/new", "olper brauerei kg"),
        (f"/c/{s}/companies/{world.company.id}", "OLPER BRAUEREI KG"),
    ]:
        response = admin.post(url, data={"name": name, "address": "Weg 1, 57462 Olpe"})
        refused(response, url)
        assert "A company with this name already takes part." in field_error(response, "name")
        assert input_value(response, "name") == name
    db.session.expire_all()
    assert db.session.execute(select(City.slug).where(City.id == world.city.id)).scalar_one() == s
    assert db.session.get(Company, world.company.id).name == "Hüttenwerk GmbH"


def test_saving_an_account_without_changing_its_email_is_no_duplicate(world: World):
    admin = world.browsers["admin"]
    response = admin.post(
        f"/c/{world.city.slug}/people/{world.guide.id}",
        data={"name": "Gisela G.", "email": world.guide.email.upper(), "language": "de", "active": "y"},
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert db.session.get(User, world.guide.id).name == "Gisela G."


@pytest.mark.parametrize(
    "path",
    [
        "/c/nowhere/",
        "/c/%00/",
        "/c/Siegen/",
        "/c/" + "a" * 5000 + "/",
        "/c/siegen/companies/abc",
        "/c/siegen/companies/99999999999999999999999",
        "/c/siegen/companies/-1",
        "/c/siegen/people/0",
        "/c/siegen/people/99999999999999999999999",
        "/c/siegen/people/99999999999999999999/link",
        "/admin/cities/%00/edit",
        "/admin/cities/%F0%9F%99%82/edit",
        "/password/set/%00",
        "/password/set/" + "a" * 5000,
        "/c/siegen/companies/99999999999999999999999/enrolment",
    ],
)
def test_odd_addresses_are_not_found_never_an_error(world: World, path: str):
    admin = world.browsers["admin"]
    response = admin.post(path, data={}) if path.endswith(("/link", "/enrolment")) else admin.get(path)
    assert response.status_code in (404, 405), path
    assert "Page not found" in text_of(response) or "This link no longer works" in text_of(response)


@pytest.mark.parametrize(
    "query", ["q=%00", "q=" + "%25_" * 2000, "q=%F0%9F%99%82", "lang=xx", "lang=%00", "q=a&q=b", "next=%00"]
)
def test_odd_query_strings_are_harmless(world: World, query: str):
    admin = world.browsers["admin"]
    for path in (f"/c/{world.city.slug}/guides", f"/c/{world.city.slug}/coordinators", "/login", "/account"):
        response = admin.get(f"{path}?{query}")
        assert response.status_code in (200, 302), (path, query)


def test_search_treats_wildcards_as_text(world: World):
    admin = world.browsers["admin"]
    everyone = text_of(admin.get(f"/c/{world.city.slug}/guides?q=%25"))
    assert "Gisela Guide" not in everyone
    assert "No accounts found." in everyone
    assert "Gisela Guide" in text_of(admin.get(f"/c/{world.city.slug}/guides?q=gisela"))
    fragment = admin.get(f"/c/{world.city.slug}/guides?q=GISELA", headers=HTMX)
    assert "<html" not in fragment.get_data(as_text=True)
    assert "Gisela Guide" in text_of(fragment)


def test_enrolment_with_an_odd_city_is_refused_politely(world: World):
    admin = world.browsers["admin"]
    url = f"/c/{world.city.slug}/companies/{world.company.id}/enrolment"
    for city in ("", "\x00", "x" * 5000, "nowhere"):
        response = admin.post(url, data={"city": city}, follow_redirects=True)
        assert response.status_code == 200
        assert "Please choose a city." in text_of(response)
    db.session.expire_all()
    assert [c.slug for c in db.session.get(Company, world.company.id).cities] == [world.city.slug]
