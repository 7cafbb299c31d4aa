"""The regional admin manages cities and their coordinators, and enrols companies with further cities."""

from __future__ import annotations

import pytest
from conftest import TEST_PASSWORD
from flask import Flask
from helpers_foundation import (  # noqa: F401 - fixtures
    english_client,
    english_make_user,
    fresh_request_globals,
    input_value,
    link_on_page,
    new_client,
    path_of,
    sign_in,
    text_of,
)
from sqlalchemy import select

from tourbook.extensions import db
from tourbook.models import AuditEntry, City, Role, User


@pytest.fixture
def admin(client, make_user):  # noqa: ANN001, ANN201
    user = make_user(Role.ADMIN, name="Anna Admin")
    sign_in(client, user.email, TEST_PASSWORD)
    return user


def test_admin_creates_a_city_with_the_default_booking_rules(client, admin):
    form = client.get("/admin/cities/new")
    assert input_value(form, "timezone") == "Europe/Berlin"
    response = client.post(
        "/admin/cities/new",
        data={
            "name": "Arnsberg",
            "slug": "Arnsberg",
            "timezone": "Europe/Berlin",
            "office_phone": "+49 2931 123-0",
            "office_email": "Touren@Arnsberg.example",
        },
        follow_redirects=True,
    )
    assert response.request.path == "/c/arnsberg/"
    assert "The city Arnsberg was added." in text_of(response)
    assert "Partner tours in Arnsberg" in text_of(response)
    city = db.session.execute(select(City).where(City.slug == "arnsberg")).scalar_one()
    assert city.office_email == "touren@arnsberg.example"
    # PRODUCT.md's defaults
    assert (
        city.lead_time_hours,
        city.horizon_days,
        city.min_duration_minutes,
        city.max_duration_minutes,
        city.buffer_minutes,
        city.holiday_country,
        city.holiday_subdivision,
        city.erase_after_days,
    ) == (24, 120, 60, 240, 15, "DE", "NW", 30)
    cities = text_of(client.get("/admin/cities"))
    assert "Arnsberg" in cities and "+49 2931 123-0" in cities
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "city_created")).scalar_one()
    assert (entry.actor_id, entry.object_id) == (admin.id, city.id)


def test_admin_edits_a_city(client, admin, make_city):
    make_city(name="Olpe", slug="olpe")
    response = client.post(
        "/admin/cities/olpe/edit",
        data={
            "name": "Olpe (Biggesee)",
            "slug": "olpe",
            "timezone": "Europe/Berlin",
            "office_phone": "+49 2761 83-1",
        },
        follow_redirects=True,
    )
    assert "The city is saved." in text_of(response)
    assert "Partner tours in Olpe (Biggesee)" in text_of(response)
    # a new slug moves the city's pages
    client.post(
        "/admin/cities/olpe/edit", data={"name": "Olpe", "slug": "olpe-biggesee", "timezone": "Europe/Berlin"}
    )
    assert client.get("/c/olpe/").status_code == 404
    assert "Partner tours in Olpe" in text_of(client.get("/c/olpe-biggesee/"))


def test_admin_creates_a_coordinator_who_manages_the_new_city(app: Flask, client, admin, make_city):
    city = make_city(name="Meschede", slug="meschede")
    people = text_of(client.get("/c/meschede/coordinators"))
    assert "Coordinators of Meschede" in people and "No accounts found." in people
    assert "0 coordinators" in text_of(client.get("/c/meschede/?lang=en"))
    response = client.post(
        "/c/meschede/coordinators/new",
        data={"name": "Mira Meschede", "email": "mira@meschede.example", "language": "en"},
    )
    assert "The account of Mira Meschede is ready." in text_of(response)
    coordinator = db.session.execute(select(User).where(User.email == "mira@meschede.example")).scalar_one()
    assert (coordinator.role, coordinator.city_id) == ("coordinator", city.id)
    assert "Mira Meschede" in text_of(client.get("/c/meschede/coordinators"))
    assert "1 coordinator" in text_of(client.get("/c/meschede/?lang=en"))  # the card on the city's page counts them

    browser = new_client(app)
    link = path_of(link_on_page(response))
    browser.post(link, data={"password": "meschede rules the valley", "confirm": "meschede rules the valley"})
    sign_in(browser, "mira@meschede.example", "meschede rules the valley")
    start = browser.get("/", follow_redirects=True)
    assert start.request.path == "/c/meschede/"
    assert "Partner tours in Meschede" in text_of(start)
    # the new coordinator may not add coordinators themselves
    assert browser.get("/c/meschede/coordinators/new").status_code == 403


def test_admin_sees_a_coordinators_request_for_a_new_password(
    app: Flask, client, admin, make_user, make_city
):
    city = make_city(name="Brilon", slug="brilon")
    coordinator = make_user(Role.COORDINATOR, city=city, name="Bruno Brilon")
    new_client(app).post("/password/forgot", data={"email": coordinator.email})
    page = text_of(client.get("/c/brilon/"))
    assert "Asked for a new password" in page and "Bruno Brilon" in page
    response = client.post(f"/c/brilon/people/{coordinator.id}/link")
    assert "Password link for Bruno Brilon" in text_of(response)
    assert "The account of" not in text_of(response)  # not a new account: no "is ready"
    link = path_of(link_on_page(response))
    browser = new_client(app)
    browser.post(link, data={"password": "a fresh start for bruno", "confirm": "a fresh start for bruno"})
    sign_in(browser, coordinator.email, "a fresh start for bruno")


def test_admin_enrols_a_company_with_a_further_city(
    app: Flask, client, admin, make_city, make_company, make_user
):
    siegen, olpe = make_city(name="Siegen", slug="siegen"), make_city(name="Olpe", slug="olpe")
    make_city(name="Attendorn", slug="attendorn")
    company = make_company(cities=[siegen], name="Biggesee Logistik GmbH")
    hr = make_user(Role.HR, company=company)
    olpe_coordinator = make_user(Role.COORDINATOR, city=olpe)

    page = client.get(f"/c/siegen/companies/{company.id}")
    options = page.get_data(as_text=True).split('id="enrol-city"')[1].split("</select>")[0]
    assert "Olpe" in options and "Attendorn" in options and "Siegen" not in options

    response = client.post(
        f"/c/siegen/companies/{company.id}/enrolment", data={"city": "olpe"}, follow_redirects=True
    )
    assert "Biggesee Logistik GmbH is enrolled with Olpe." in text_of(response)
    assert "Enrolled with: Olpe, Siegen" in text_of(response)
    # Olpe's coordinator now manages the company and its HR account
    browser = new_client(app)
    sign_in(browser, olpe_coordinator.email, TEST_PASSWORD)
    assert "Biggesee Logistik GmbH" in text_of(browser.get("/c/olpe/companies"))
    assert browser.get(f"/c/olpe/people/{hr.id}").status_code == 200
    # enrolling twice changes nothing
    client.post(f"/c/siegen/companies/{company.id}/enrolment", data={"city": "olpe"})
    db.session.refresh(company)
    assert [c.slug for c in company.cities] == ["olpe", "siegen"]


def test_cities_list_counts_guides(client, admin, make_city, make_user):
    city = make_city(name="Kreuztal", slug="kreuztal")
    make_user(Role.GUIDE, city=city)
    make_user(Role.GUIDE, city=city)
    make_user(Role.GUIDE)
    row = client.get("/admin/cities").get_data(as_text=True).split("Kreuztal</a>")[1].split("</tr>")[0]
    assert ">2<" in row.replace(" ", "")
