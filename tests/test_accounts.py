"""A coordinator manages their city's guides, the companies enrolled with the city and their HR staff."""

from __future__ import annotations

import re

import pytest
from conftest import TEST_PASSWORD
from factories_tours import MORNINGS_ONLY, bookable_day, local, make_guide_fixture, make_tour_fixture  # noqa: F401
from flask import Flask
from helpers_concurrency import held_a_second_at, in_another_connection
from helpers_foundation import (  # noqa: F401 - fixtures
    HTMX,
    english_client,
    english_make_user,
    fresh_request_globals,
    input_value,
    is_signed_in,
    link_on_page,
    new_client,
    path_of,
    sign_in,
    text_of,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tourbook.demo import DEMO_PASSWORD
from tourbook.extensions import db
from tourbook.models import (
    Absence,
    AuditEntry,
    Company,
    LoginSession,
    OutboxMessage,
    PasswordToken,
    Role,
    Tour,
    User,
)

NEW_PASSWORD = "my own passphrase for touring"


@pytest.fixture
def coordinator(app: Flask, client, make_city, make_user):  # noqa: ANN001, ANN201
    city = make_city(name="Siegen", slug="siegen")
    user = make_user(Role.COORDINATOR, city=city, name="Clara Koordination")
    sign_in(client, user.email, TEST_PASSWORD)
    return user


def set_password_with(app: Flask, link: str, password: str = NEW_PASSWORD):  # noqa: ANN201
    browser = new_client(app)
    page = browser.get(path_of(link))
    assert page.status_code == 200
    response = browser.post(path_of(link), data={"password": password, "confirm": password})
    assert response.status_code == 303
    return browser


def test_coordinator_creates_a_guide_who_sets_a_password_and_signs_in(app: Flask, client, coordinator):
    form = client.get("/c/siegen/guides/new")
    assert "New guide" in text_of(form)
    response = client.post(
        "/c/siegen/guides/new",
        data={"name": "Gustav Gästeführer", "email": "Gustav@Example.org", "language": "de"},
    )
    assert response.status_code == 200
    page = text_of(response)
    assert "The account of Gustav Gästeführer is ready." in page
    assert "It works once, for 7 days, and is shown only now." in page
    link = link_on_page(response)
    assert link.startswith("http://localhost/password/set/")

    guide = db.session.execute(select(User).where(User.email == "gustav@example.org")).scalar_one()
    assert (guide.role, guide.city_id, guide.password_hash, guide.active) == (
        "guide",
        coordinator.city_id,
        None,
        True,
    )
    # the list shows the new guide as invited; the link is not shown again anywhere
    listing = client.get("/c/siegen/guides")
    assert "Gustav Gästeführer" in text_of(listing)
    assert "invited, no password yet" in text_of(listing)
    token = link.rsplit("/", 1)[1]
    for path in ("/c/siegen/guides", f"/c/siegen/people/{guide.id}", "/c/siegen/"):
        assert token not in client.get(path).get_data(as_text=True)
    stored = db.session.execute(
        select(PasswordToken.token_hash).where(PasswordToken.user_id == guide.id)
    ).scalar_one()
    assert token not in stored

    browser = set_password_with(app, link)
    sign_in(browser, "gustav@example.org", NEW_PASSWORD)
    assert is_signed_in(browser)
    assert "invited, no password yet" not in text_of(client.get("/c/siegen/guides"))
    who = db.session.execute(
        select(AuditEntry.actor_id).where(
            AuditEntry.action == "account_created", AuditEntry.object_id == guide.id
        )
    ).scalar_one()
    assert who == coordinator.id


def test_new_account_by_htmx_swaps_the_link_in_where_the_form_was(app: Flask, client, coordinator):
    response = client.post(
        "/c/siegen/guides/new",
        data={"name": "Hilde", "email": "hilde@example.org", "language": "en"},
        headers=HTMX,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" not in html and "<header" not in html
    assert "The account of Hilde is ready." in text_of(response)
    set_password_with(app, link_on_page(response))


def test_coordinator_enrols_a_company_and_creates_its_hr_account(app: Flask, client, coordinator):
    response = client.post(
        "/c/siegen/companies/new",
        data={"name": "Walzwerk Eiserfeld GmbH", "address": "Eiserfelder Str. 1, 57080 Siegen"},
        follow_redirects=True,
    )
    assert "Walzwerk Eiserfeld GmbH is enrolled with Siegen." in text_of(response)
    company = db.session.execute(
        select(Company).where(Company.name == "Walzwerk Eiserfeld GmbH")
    ).scalar_one()
    assert response.request.path == f"/c/siegen/companies/{company.id}"
    assert "Enrolled with: Siegen" in text_of(response)
    assert "Walzwerk Eiserfeld GmbH" in text_of(client.get("/c/siegen/companies"))

    created = client.post(
        f"/c/siegen/companies/{company.id}/hr/new",
        data={"name": "Petra Personal", "email": "petra@walzwerk.example", "language": "en"},
    )
    assert "The account of Petra Personal is ready." in text_of(created)
    hr = db.session.execute(select(User).where(User.email == "petra@walzwerk.example")).scalar_one()
    assert (hr.role, hr.company_id, hr.city_id) == ("hr", company.id, None)
    company_page = text_of(client.get(f"/c/siegen/companies/{company.id}"))
    assert "Petra Personal" in company_page
    assert "petra@walzwerk.example" in company_page

    browser = set_password_with(app, link_on_page(created))
    sign_in(browser, "petra@walzwerk.example", NEW_PASSWORD)
    start = browser.get("/", follow_redirects=True)
    assert start.status_code == 200
    assert "Walzwerk Eiserfeld GmbH" in text_of(start)


def test_coordinator_edits_a_company(client, coordinator, make_company):
    company = make_company(cities=[coordinator.city], name="Alte Firma AG")
    response = client.post(
        f"/c/siegen/companies/{company.id}",
        data={"name": "Neue Firma AG", "address": "Am Markt 1\n57072 Siegen"},
        follow_redirects=True,
    )
    assert "Neue Firma AG is saved." in text_of(response)
    assert input_value(response, "address") == "Am Markt 1\n57072 Siegen"
    db.session.refresh(company)
    assert company.name == "Neue Firma AG"


def test_deactivating_an_account_ends_its_sessions_and_blocks_sign_in(
    app: Flask, client, coordinator, make_user
):
    guide = make_user(Role.GUIDE, city=coordinator.city, name="Paula Pause")
    phone = new_client(app)
    sign_in(phone, guide.email, TEST_PASSWORD)
    assert is_signed_in(phone)

    page = client.get(f"/c/siegen/people/{guide.id}").get_data(as_text=True)
    assert re.search(r'<input[^>]*\bchecked\b[^>]*id="active"|<input[^>]*id="active"[^>]*\bchecked\b', page)
    response = client.post(
        f"/c/siegen/people/{guide.id}",
        data={"name": "Paula Pause", "email": guide.email, "language": "en"},
        follow_redirects=True,
    )  # the unchecked box is not sent
    assert "The account of Paula Pause is saved." in text_of(response)
    assert "deactivated" in text_of(client.get("/c/siegen/guides"))
    assert not is_signed_in(phone)
    assert db.session.execute(select(LoginSession).where(LoginSession.user_id == guide.id)).first() is None
    refused = new_client(app).post("/login", data={"email": guide.email, "password": TEST_PASSWORD})
    assert refused.status_code == 422
    # no password link for a deactivated account
    link = client.post(f"/c/siegen/people/{guide.id}/link", follow_redirects=True)
    assert "The account of Paula Pause is deactivated. Activate it first." in text_of(link)
    assert "password-link" not in link.get_data(as_text=True)

    client.post(
        f"/c/siegen/people/{guide.id}",
        data={"name": "Paula Pause", "email": guide.email, "language": "en", "active": "y"},
    )
    sign_in(new_client(app), guide.email, TEST_PASSWORD)


def test_deactivating_a_guide_hands_their_tours_to_come_on_or_flags_them(
    client, coordinator, make_guide, make_tour
):
    """No tour stays with a guide who is gone: each goes to a free guide who speaks the language, or needs one
    (the coordinator's start page lists it); a tour that took place stays as it was."""
    city = coordinator.city
    leaving = make_guide(city, name="Paula Pause")
    make_guide(city, windows=MORNINGS_ONLY, name="Moritz Morgen")
    day = bookable_day()
    morning = make_tour(leaving, local(day, 9))
    afternoon = make_tour(leaving, local(day, 15))
    past = make_tour(leaving, local(bookable_day(days=-14), 9), status="done")

    response = client.post(f"/c/siegen/people/{leaving.id}", follow_redirects=True,
                           data={"name": "Paula Pause", "email": leaving.email, "language": "en"})

    page = text_of(response)
    assert "The account of Paula Pause is saved." in page
    assert "1 tour of Paula Pause was handed to another guide." in page
    assert "1 tour of Paula Pause needs a new guide." in page
    db.session.expire_all()
    assert db.session.get(Tour, morning.id).guide.name == "Moritz Morgen"
    assert (db.session.get(Tour, afternoon.id).status, db.session.get(Tour, afternoon.id).guide_id) == (
        "needs_guide", None)
    assert db.session.get(Tour, past.id).guide_id == leaving.id
    # The coordinator who deactivated the guide is not mailed about the tour they see on the page.
    assert db.session.execute(select(OutboxMessage.recipient).where(
        OutboxMessage.kind == "coordinator_needs_guide")).scalars().all() == []
    assert "1 tour needs a guide" in text_of(client.get("/c/siegen/"))


def test_an_address_taken_at_the_same_moment_is_said_so_and_nothing_is_saved(
    client, coordinator, make_guide, make_tour, make_user, monkeypatch
):
    """Another account took the address between the check and the save (the database refuses it): the form
    says so, keeps what was typed, and the deactivation with its tours is undone too."""
    from tourbook import accounts

    guide = make_guide(coordinator.city, name="Paula Pause")
    tour = make_tour(guide, local(bookable_day(), 9))
    taken = make_user(Role.GUIDE, city=coordinator.city, email="taken@example.org")
    monkeypatch.setattr(accounts, "_email_taken", lambda form, user: False)  # the check passed just before
    response = client.post(f"/c/siegen/people/{guide.id}",
                           data={"name": "Paula Neu", "email": taken.email, "language": "en"})
    assert response.status_code == 422
    assert "An account with this email already exists." in text_of(response)
    assert input_value(response, "name") == "Paula Neu"
    db.session.expire_all()
    assert (db.session.get(User, guide.id).active, db.session.get(Tour, tour.id).guide_id) == (True, guide.id)


def test_a_booking_of_the_guide_at_the_moment_of_the_deactivation_is_handed_on_too(
    app, backend, client, coordinator, make_guide, make_user, make_company, monkeypatch
):
    """PostgreSQL: a booking holds the guide (its new tour written, not committed) while the coordinator
    deactivates them: behind the guide's lock the deactivation reads the guide's tours again and hands that one
    on as well."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises whole transactions")
    from tourbook import services
    from tourbook.models import City
    from tourbook.services import PartnerDetails, book_tour

    city = coordinator.city
    leaving = make_guide(city, name="Anna Alpha")
    company = make_company(cities=[city])
    hr = make_user(Role.HR, company=company)
    day = bookable_day()
    ids = {"guide": leaving.id, "hr": hr.id, "city": city.id, "company": company.id}
    # The booking holds the guide's row and its new tour, written and not committed.
    written = held_a_second_at(monkeypatch, services, "record", "booking", after=True)

    def booking(other: Session) -> None:
        book_tour(other, other.get(User, ids["hr"]), other.get(City, ids["city"]), other.get(Company, ids["company"]),
                  local(day, 9), local(day, 11), PartnerDetails(first_name="Alex"))

    with in_another_connection(app, "booking", booking, request=True) as errors:
        assert written.wait(10)
        response = client.post(f"/c/siegen/people/{ids['guide']}", follow_redirects=True,
                               data={"name": "Anna Alpha", "email": leaving.email, "language": "en"})
    assert errors == {}
    assert "1 tour of Anna Alpha needs a new guide." in text_of(response)
    db.session.expire_all()
    assert db.session.get(User, ids["guide"]).active is False
    assert db.session.execute(select(Tour.status, Tour.guide_id)).all() == [("needs_guide", None)]


def test_a_deactivation_that_meets_a_deadlock_says_try_again_and_saves_nothing(
    app, backend, client, coordinator, make_guide, make_tour, monkeypatch
):
    """PostgreSQL: the coordinator deactivates Anna (her tour would go to Bert) while Bert's absence is
    entered (his tour would go to Anna): each holds one guide and waits for the other, and PostgreSQL ends one.
    The absence is tried again; the account form says to try again, nothing of it saved (it was a 500)."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises whole transactions")
    import threading
    import time as clock

    from tourbook import services
    from tourbook.services import enter_absence

    city = coordinator.city
    anna, bert = make_guide(city, name="Anna Alpha"), make_guide(city, name="Bert Beta")
    day = bookable_day()
    make_tour(anna, local(day, 9))
    make_tour(bert, local(day, 15))
    anna_id, anna_email, bert_id = anna.id, anna.email, bert.id
    barrier = threading.Barrier(2, timeout=10)
    real_lock = services._lock_a_free_guide
    passes = {"left": 2}

    def lock_when_both_hold_their_guide(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if passes["left"]:
            passes["left"] -= 1
            barrier.wait()
            if threading.current_thread().name == "absence":
                clock.sleep(0.3)  # the deactivation waits first
        return real_lock(*args, **kwargs)

    monkeypatch.setattr(services, "_lock_a_free_guide", lock_when_both_hold_their_guide)

    def absence(other: Session) -> None:
        me = other.get(User, bert_id)
        enter_absence(other, me, me, day, day, None, None, "illness")

    with in_another_connection(app, "absence", absence, request=True) as errors:
        response = client.post(f"/c/siegen/people/{anna_id}",
                               data={"name": "Anna Alpha", "email": anna_email, "language": "en"})
    assert errors == {}
    db.session.expire_all()
    if response.status_code == 422:
        assert "This was being changed at the same moment. Please try again." in text_of(response)
        assert db.session.get(User, anna_id).active is True
    else:  # PostgreSQL ended the absence's transaction instead, which was tried again
        assert response.status_code == 303 and db.session.get(User, anna_id).active is False
    assert db.session.execute(select(func.count()).select_from(Absence)).scalar() == 1


def test_guides_can_be_found_by_name_or_email(client, coordinator, make_user):
    make_user(Role.GUIDE, city=coordinator.city, name="Anna Arnold", email="anna@example.org")
    make_user(Role.GUIDE, city=coordinator.city, name="Bernd Bauer", email="bb@example.org")
    make_user(Role.GUIDE, city=coordinator.city, name="Özlem Çelik", email="oc@example.org")
    make_user(Role.GUIDE, name="Anna Anderswo")  # another city
    found = text_of(client.get("/c/siegen/guides?q=ANNA"))
    assert "Anna Arnold" in found
    assert "Bernd Bauer" not in found and "Anna Anderswo" not in found
    assert "Bernd Bauer" in text_of(client.get("/c/siegen/guides?q=bb@"))
    assert "Özlem Çelik" in text_of(client.get("/c/siegen/guides?q=%C3%96ZLEM"))  # ÖZLEM: not only ASCII
    assert "Özlem Çelik" in text_of(client.get("/c/siegen/guides?q=ozlem celik"))  # accents need not be typed
    everyone = text_of(client.get("/c/siegen/guides"))
    assert "Anna Arnold" in everyone and "Bernd Bauer" in everyone and "Anna Anderswo" not in everyone
    assert "Guides in Siegen" in everyone


def test_city_page_counts_guides_and_companies(client, coordinator, make_user, make_company, make_city):
    make_user(Role.GUIDE, city=coordinator.city)
    make_user(Role.GUIDE, city=coordinator.city)
    make_user(Role.GUIDE)
    make_company(cities=[coordinator.city])
    page = text_of(client.get("/c/siegen/"))
    assert "Partner tours in Siegen" in page
    assert "2 guides" in page
    assert "1 company enrolled" in page


def test_coordinator_of_olpe_cannot_see_siegens_companies_or_guides(client, demo):
    sign_in(client, "coordinator.olpe@demo.example", DEMO_PASSWORD)
    siegen_company = db.session.execute(
        select(Company).where(Company.name == "Rothaar Software KG")
    ).scalar_one()
    siegen_guide = db.session.execute(select(User).where(User.email == "guide3@demo.example")).scalar_one()
    siegen_hr = db.session.execute(select(User).where(User.email == "hr@demo.example")).scalar_one()
    for path in (
        "/c/siegen/",
        "/c/siegen/guides",
        "/c/siegen/companies",
        f"/c/siegen/companies/{siegen_company.id}",
        f"/c/olpe/companies/{siegen_company.id}",
        f"/c/olpe/people/{siegen_guide.id}",
        f"/c/olpe/people/{siegen_hr.id}",
        f"/c/siegen/people/{siegen_guide.id}",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Emily Carter" not in text_of(response) and "Rothaar" not in text_of(response)
    own = text_of(client.get("/c/olpe/companies"))  # the demo accounts speak German: only data is checked
    for name in ("Rothaar Software KG", "Hüttenwerk Siegerland GmbH", "Medizintechnik Weidenau AG"):
        assert name not in own
    assert "Emily Carter" not in text_of(client.get("/c/olpe/guides"))


def test_coordinator_of_siegen_sees_the_demo_region(client, demo):
    sign_in(client, "coordinator@demo.example", DEMO_PASSWORD)
    guides = text_of(client.get("/c/siegen/guides"))
    for name in ("Gisela Gästeführerin", "Hakan Yılmaz", "Emily Carter", "Paul Dubois"):
        assert name in guides
    companies = text_of(client.get("/c/siegen/companies"))
    for name in ("Hüttenwerk Siegerland GmbH", "Medizintechnik Weidenau AG", "Rothaar Software KG"):
        assert name in companies
